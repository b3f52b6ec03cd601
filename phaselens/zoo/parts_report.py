"""What a parts model (``zoo:parts``) relies on, measured on fresh `phaselens.data.ProceduralParts` items.

Besides the accuracy (overall and per class), two checks that the model reads
the parts the classes are defined by, and nothing else:

- distractor: the accuracy on the items that show the star and on those that
  do not, and on the same items drawn with the star forced in, then forced out
  (every other pixel equal): it should not move;
- erasure: each item again with one of its two defining parts replaced by
  background. The part left over defines two or three classes, and nothing in
  the image tells them apart any more, so a model that uses both parts should
  fall to chance among them: its prediction should stay inside that set
  (``in_set`` near 1) and hit the true class about ``1 / len(set)`` of the time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data import NUM_PARTS_CLASSES, PART_CLASSES, PARTS_CLASS_NAMES, PARTS_CLASS_PARTS, make_parts_batch, sample_parts

Classifier = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Top-1 class of ``model`` (taking [0, 1] images) for each image.

    Shape:
        - x: (N, 3, H, W); output: (N,) int64.
    """
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def per_class(preds: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy per parts class (label order)."""
    correct = (preds == y).float()
    counts = torch.bincount(y, minlength=NUM_PARTS_CLASSES).clamp_min(1)
    return (torch.zeros(NUM_PARTS_CLASSES).index_add_(0, y, correct) / counts).tolist()


def erased_batch(n: int, seed: int, which: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items 0..n-1 with defining part ``which`` (0 or 1, in `PARTS_CLASS_PARTS` order) erased.

    Returns:
        images, labels, and for each item the set of classes the part left over
        defines, as a (n, NUM_PARTS_CLASSES) bool table.
    """
    images = np.empty((n, 3, size, size), dtype=np.float32)
    labels = torch.arange(n, dtype=torch.int64) % NUM_PARTS_CLASSES
    allowed = torch.zeros(n, NUM_PARTS_CLASSES, dtype=torch.bool)
    for i in range(n):
        parts = PARTS_CLASS_PARTS[PARTS_CLASS_NAMES[int(labels[i])]]
        images[i] = sample_parts(seed, i, size, erase=(parts[which],))[0]
        allowed[i, list(PART_CLASSES[parts[1 - which]])] = True
    return torch.from_numpy(images), labels, allowed


def parts_report(model: Classifier, n: int, seed: int, size: int = 64) -> dict[str, object]:
    """Accuracy of ``model`` on ``n`` fresh parts items of ``seed``, by class, distractor and erasure.

    Returns:
        ``accuracy`` and ``per_class`` on the items as drawn; ``shown`` and
        ``not_shown`` on those of them that show the star and that do not;
        ``with_distractor`` and ``without_distractor`` on the same items with the
        star forced in or out; ``erased``: accuracy with one defining part erased, ``in_set``: the
        share of those predictions among the classes the remaining part defines,
        ``chance``: the accuracy of a uniform guess in that set;
        ``erased_per_class``: accuracy with a part erased, per class.
    """
    x, y = make_parts_batch(n, size, seed)
    preds = predict(model, x)
    report: dict[str, object] = {
        "n": n,
        "seed": seed,
        "accuracy": float((preds == y).float().mean()),
        "per_class": per_class(preds, y),
    }
    for key, flag in (("with_distractor", True), ("without_distractor", False)):
        xd, yd = make_parts_batch(n, size, seed, distractor=flag)
        correct = predict(model, xd) == yd
        report[key] = float(correct.float().mean())
        if flag:  # an item shows the star iff it equals its forced-in version
            shown = (xd == x).flatten(1).all(1)
            report["shown"] = float((preds == y)[shown].float().mean())
            report["not_shown"] = float((preds == y)[~shown].float().mean())
            report["share_shown"] = float(shown.float().mean())
    hits, inside, chance, labels = [], [], [], []
    for which in (0, 1):
        xe, ye, allowed = erased_batch(n, seed, which, size)
        pe = predict(model, xe)
        hits.append(pe == ye)
        inside.append(allowed[torch.arange(n), pe])
        chance.append(1.0 / allowed.sum(1).float())
        labels.append(ye)
    hit = torch.cat(hits).float()
    report["erased"] = float(hit.mean())
    report["in_set"] = float(torch.cat(inside).float().mean())
    report["chance"] = float(torch.cat(chance).mean())
    report["erased_per_class"] = per_class(torch.where(hit.bool(), torch.cat(labels), -1), torch.cat(labels))
    return report


def format_report(name: str, r: dict[str, object]) -> str:
    """The report as printed by ``python -m phaselens.zoo.train --model parts``."""

    def classes(values: object) -> str:
        return ", ".join(f"{c} {v:.3f}" for c, v in zip(PARTS_CLASS_NAMES, values))  # type: ignore[call-overload]

    return "\n".join(
        [
            f"{name:6s} test acc {r['accuracy']:.4f} on {r['n']} parts images (seed {r['seed']})",
            f"       per class: {classes(r['per_class'])}",
            f"       distractor shown ({r['share_shown']:.3f} of the items) {r['shown']:.4f}, not shown "
            f"{r['not_shown']:.4f}; forced in {r['with_distractor']:.4f}, forced out {r['without_distractor']:.4f}",
            f"       one defining part erased: acc {r['erased']:.4f} (chance among the classes of the part left "
            f"{r['chance']:.4f}), prediction among those classes {r['in_set']:.4f}",
            f"       erased, per class: {classes(r['erased_per_class'])}",
        ]
    )

"""Benchmark outputs: a long CSV, a Markdown table (mean ± std over seeds), a bar chart PNG.

Aggregation: for each (model, method, mask, seed) the scores are averaged over
the evaluators other than the model itself; then mean and sample std (n - 1)
over seeds. ``self top-1`` is the model's own top-1 accuracy on its whole
visualizations (a sanity check, not transferability).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from .run import NATURAL, SCORES

CSV_FIELDS = ("model", "method", "seed", "evaluator", "self_eval", "masked", "n", *SCORES)
LABELS = dict(
    plausibility="plausibility ↑",
    margin="margin ↑",
    rank_accuracy="rank acc ↑",
    fid="FID ↓",
    transfer="transfer ↑",
    self_top1="self top-1",
)
PLOT_LABELS = dict(
    plausibility="plausibility (higher is better)",
    fid="FID (lower is better)",
    transfer="transferability (higher is better)",
)
COLOURS = {"maco": (214, 96, 44), "fourier": (52, 110, 196), "pixel": (120, 120, 120), NATURAL: (70, 160, 90)}
OTHER_COLOURS = [(150, 80, 170), (200, 160, 40), (40, 170, 170)]


def to_csv(rows: Sequence[dict]) -> str:
    """One line per (model, method, seed, evaluator, mask)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {k: (f"{v:.6g}" if isinstance(v, float) else int(v) if isinstance(v, bool) else v) for k, v in r.items()}
        )
    return buf.getvalue()


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def _std(xs: Sequence[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    if len(xs) < 2:
        return float("nan")
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Mean and std over seeds of the evaluator-averaged scores (evaluators other than the model).

    Returns one dict per (model, method, masked) in first-seen order with, for each
    score, ``score`` (mean), ``score_std`` and ``seeds``; plus ``self_top1`` from the
    model's own evaluation.
    """
    per_seed: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    self_seed: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        key = (r["model"], r["method"], r["masked"], r["seed"])
        if r["self_eval"]:
            self_seed[key].append(r["transfer"])
        else:
            for s in SCORES:
                per_seed[key][s].append(r[s])
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:  # keep first-seen order of groups
        groups[(r["model"], r["method"], r["masked"])]
    for (model, method, masked, _seed), scores in per_seed.items():
        for s, vals in scores.items():
            groups[(model, method, masked)][s].append(_mean(vals))
    for (model, method, masked, _seed), vals in self_seed.items():
        groups[(model, method, masked)]["self_top1"].append(_mean(vals))
    out = []
    for (model, method, masked), scores in groups.items():
        row = dict(model=model, method=method, masked=masked)
        for s in (*SCORES, "self_top1"):
            vals = scores.get(s, [])
            row[s], row[f"{s}_std"] = _mean(vals), _std(vals)
        row["seeds"] = max((len(v) for v in scores.values()), default=0)
        out.append(row)
    return out


def overall(summary: Sequence[dict]) -> list[dict]:
    """Each method's scores averaged over models (mean of model means; std across models)."""
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in summary:
        for s in (*SCORES, "self_top1"):
            groups[(r["method"], r["masked"])][s].append(r[s])
    out = []
    for (method, masked), scores in groups.items():
        row = dict(model="all", method=method, masked=masked)
        for s, vals in scores.items():
            row[s], row[f"{s}_std"] = _mean(vals), _std(vals)
        row["seeds"] = len(scores["transfer"])
        out.append(row)
    return out


def _cell(mean: float, std: float, digits: int) -> str:
    if math.isnan(mean):
        return "—"
    text = f"{mean:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {std:.{digits}f}"


DIGITS = dict(plausibility=3, margin=3, rank_accuracy=2, fid=2, transfer=2, self_top1=2)


def markdown_table(
    summary: Sequence[dict], columns: Sequence[str] = (*SCORES, "self_top1"), by_model: bool = True
) -> str:
    """A Markdown table: one line per (model, method), one column per score, for one mask setting."""
    head = (["model"] if by_model else []) + ["method"] + [LABELS[c] for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary:
        cells = ([f"`{r['model']}`"] if by_model else []) + [r["method"]]
        cells += [_cell(r[c], r[f"{c}_std"], DIGITS[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(summary: Sequence[dict], title: str = "", notes: Sequence[str] = ()) -> str:
    """The full Markdown: an overall table, then per-model tables, without and with the mask."""
    parts = ([f"# {title}", ""] if title else []) + [*notes, ""]
    for masked in (False, True):
        label = "with the transparency mask (image · α + grey · (1 − α))" if masked else "without mask"
        rows = [r for r in summary if r["masked"] == masked]
        parts += [
            f"## All models, {label}",
            "",
            "Mean over models of each model's score; ± is the std across models.",
            "",
            markdown_table(overall(rows), by_model=False),
            "",
            f"## Per model, {label}",
            "",
            "Scores averaged over the evaluators other than the model; ± is the std over seeds.",
            "",
            markdown_table(rows),
            "",
        ]
    return "\n".join(parts).lstrip("\n")


# --------------------------------------------------------------------------- #
# Bar chart (drawn with Pillow: no plotting dependency)
# --------------------------------------------------------------------------- #

PANEL_W, PANEL_H, PAD = 330, 240, 44
PLOT_SCORES = ("plausibility", "fid", "transfer")


def _font(size: int):
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 has one fixed size
        return ImageFont.load_default()


def _colour(method: str, methods: list[str]) -> tuple[int, int, int]:
    if method in COLOURS:
        return COLOURS[method]
    return OTHER_COLOURS[methods.index(method) % len(OTHER_COLOURS)]


def bar_chart(summary: Sequence[dict], title: str = "") -> Image.Image:
    """Panels of grouped bars: rows = no mask / mask, columns = `PLOT_SCORES`; a bar per
    method within each model group, with a ± std (over seeds) whisker."""
    models = list(dict.fromkeys(r["model"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    width = PAD + len(PLOT_SCORES) * (PANEL_W + PAD)
    height = 2 * PAD + 2 * (PANEL_H + PAD) + 30
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    small, big = _font(11), _font(14)
    d.text((PAD, 10), title, fill="black", font=big)
    d.text(
        (PAD, 32),
        "groups: the visualized model; each score averaged over the other models (evaluators); "
        "whiskers: std over seeds",
        fill=(80, 80, 80),
        font=small,
    )
    x = PAD  # legend
    for m in methods:
        d.rectangle([x, height - 24, x + 12, height - 12], fill=_colour(m, methods))
        d.text((x + 16, height - 26), m, fill="black", font=small)
        x += 24 + int(d.textlength(m, font=small))
    for row, masked in enumerate((False, True)):
        rows = {(r["model"], r["method"]): r for r in summary if r["masked"] == masked}
        for col, score in enumerate(PLOT_SCORES):
            x0 = PAD + col * (PANEL_W + PAD)
            y0 = 2 * PAD + row * (PANEL_H + PAD)
            _panel(
                d,
                rows,
                models,
                methods,
                score,
                (x0, y0),
                f"{PLOT_LABELS[score]}, {'mask' if masked else 'no mask'}",
                small,
            )
    return img


def _panel(
    d: ImageDraw.ImageDraw,
    rows: dict,
    models: list[str],
    methods: list[str],
    score: str,
    origin: tuple[int, int],
    title: str,
    font,
) -> None:
    x0, y0 = origin
    plot_top, plot_bottom = y0 + 24, y0 + PANEL_H - 22
    vals = [
        r[score] + (0 if math.isnan(r[f"{score}_std"]) else r[f"{score}_std"])
        for r in rows.values()
        if not math.isnan(r[score])
    ]
    top = max([v for v in vals] + [1e-9])
    top = 1.0 if score in ("transfer", "rank_accuracy") else _nice(top)
    lo = min([0.0] + [r[score] for r in rows.values() if not math.isnan(r[score])])
    span = (top - lo) or 1.0
    y_of = lambda v: plot_bottom - (v - lo) / span * (plot_bottom - plot_top)  # noqa: E731
    d.text((x0, y0), title, fill="black", font=font)
    d.line([x0, plot_bottom, x0 + PANEL_W, plot_bottom], fill="black")
    d.line([x0, plot_top, x0, plot_bottom], fill="black")
    for v in (0.0, top / 2, top):  # round ticks from zero, whatever the lowest bar
        d.line([x0 - 3, y_of(v), x0 + PANEL_W, y_of(v)], fill=(225, 225, 225))
        label = f"{v:.3g}"
        d.text((x0 - 5 - d.textlength(label, font=font), y_of(v) - 6), label, fill=(90, 90, 90), font=font)
    group_w = PANEL_W / max(len(models), 1)
    bar_w = max(3, int(group_w * 0.8 / max(len(methods), 1)))
    for g, model in enumerate(models):
        gx = x0 + g * group_w + group_w * 0.1
        for b, method in enumerate(methods):
            r = rows.get((model, method))
            if r is None or math.isnan(r[score]):
                continue
            bx = gx + b * bar_w
            d.rectangle(
                [bx, min(y_of(r[score]), y_of(0)), bx + bar_w - 2, max(y_of(r[score]), y_of(0))],
                fill=_colour(method, methods),
            )
            std = r[f"{score}_std"]
            if not math.isnan(std):
                cx = bx + bar_w / 2 - 1
                d.line([cx, y_of(r[score] - std), cx, y_of(r[score] + std)], fill="black")
        label = model.split(":")[-1][:14]
        d.text(
            (x0 + g * group_w + group_w / 2 - d.textlength(label, font=font) / 2, plot_bottom + 4),
            label,
            fill="black",
            font=font,
        )


def _nice(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= v."""
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**exp >= v:
            return m * 10**exp
    return 10 ** (exp + 1)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()

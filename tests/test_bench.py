"""Benchmark scores on inputs with known answers, and `phaselens bench` end to end on tiny models."""

from __future__ import annotations

import csv
import math
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from phaselens.bench import metrics
from phaselens.bench.features import features, find_head
from phaselens.bench.run import BenchConfig, make_visualizations
from phaselens.cli import main
from phaselens.config import RunConfig
from phaselens.model import ImageModel, Preprocess
from phaselens.transfer import transfer_rate

pytest.importorskip("scipy")


# ----------------------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g)
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    values = [metrics.fid(x, x + shift) for shift in (0.1, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] > 0
    # A pure mean shift by s in every one of 6 dimensions adds |s|^2 * 6.
    assert values[-1] == pytest.approx(4.0 * 6, rel=1e-6)


def test_frechet_distance_of_known_gaussians():
    d = 5
    mu = np.zeros(d)
    # Tr(I + 4I - 2 * sqrt(4I)) = d (1 + 4 - 4) = d.
    assert metrics.frechet_distance(mu, np.eye(d), mu, 4 * np.eye(d)) == pytest.approx(d)
    # A singular covariance (rank 1) still gives a finite, non-negative value.
    v = np.ones((d, 1))
    assert math.isfinite(metrics.frechet_distance(mu, v @ v.T, mu, np.eye(d)))


def test_fid_in_a_pca_subspace_uses_only_the_kept_directions():
    g = torch.Generator().manual_seed(1)
    nat = torch.randn(500, 8, generator=g) * torch.tensor([5.0, 4, 3, 2, 0.1, 0.1, 0.1, 0.1])
    basis = metrics.pca_basis(nat, 4)
    assert basis[1].shape == (8, 4)
    shifted = nat.clone()
    shifted[:, 7] += 10.0  # a shift along a dropped direction is invisible
    assert metrics.fid(shifted, nat, basis) == pytest.approx(0.0, abs=1e-3)
    assert metrics.fid(shifted, nat) > 99.0


# ----------------------------------------------------------------------------- transferability


class Bucket(nn.Module):
    """Predicts the class encoded by an image's mean intensity (k / 10 + 0.05), or always 0."""

    def __init__(self, constant: bool = False) -> None:
        super().__init__()
        self.constant = constant
        self.head = nn.Linear(2, 10)

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        k = torch.zeros_like(m, dtype=torch.long) if self.constant else (m * 10).floor().long().clamp(0, 9)
        return torch.nn.functional.one_hot(k, 10).float() + 0 * self.head(torch.zeros(len(x), 2))


def _coded_images(per_class: int = 3) -> tuple[torch.Tensor, list[int]]:
    targets = [k for k in range(10) for _ in range(per_class)]
    images = torch.stack([torch.full((3, 16, 16), k / 10 + 0.05) for k in targets])
    return images, targets


def test_transferability_is_1_for_a_perfect_classifier_and_1_over_k_for_a_constant_one():
    images, targets = _coded_images()
    perfect = ImageModel(Bucket(), Preprocess(input_size=(16, 16)))
    constant = ImageModel(Bucket(constant=True), Preprocess(input_size=(16, 16)))
    from phaselens.transfer import classify

    assert metrics.transferability(classify(perfect, images), targets) == 1.0
    assert metrics.transferability(classify(constant, images), targets) == pytest.approx(1 / 10)
    assert transfer_rate(constant, images, targets) == pytest.approx(1 / 10)  # same as the library helper
    assert metrics.transferability(torch.tensor([1, 2, 3, 0]), [1, 2, 3, 4]) == 0.75


def test_transfer_at_a_view_sees_only_the_centre():
    # Class 7's intensity in the centre half of each side, black around it: the whole image
    # averages to a quarter of that (class 1), the centre view to class 7 itself.
    from phaselens.transfer import center_view, optimization_view

    images = torch.zeros(2, 3, 20, 21)
    images[..., 5:15, 5:16] = 0.75
    perfect = ImageModel(Bucket(), Preprocess(input_size=(16, 16)))
    assert center_view(images, 0.5).shape[-2:] == (10, 10)  # round(21 * 0.5) = 10, centred
    assert transfer_rate(perfect, images, [7, 7], view=0.5) == 1.0
    assert transfer_rate(perfect, images, [1, 1]) == 1.0
    assert optimization_view((0.5, 0.9)) == pytest.approx(0.7)
    from phaselens.errors import PhaseLensError

    with pytest.raises(PhaseLensError, match=r"view must be in \(0, 1\]"):
        center_view(images, 1.5)


# ----------------------------------------------------------------------------- plausibility


def _clusters(n_per: int, classes: int, dim: int, noise: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(123)) * 3
    labels = torch.arange(classes).repeat_interleave(n_per)
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g), labels


def test_plausibility_of_own_class_images_beats_other_classes():
    nat, labels = _clusters(20, 5, 16, 1.0, seed=0)
    vis, targets = _clusters(2, 5, 16, 1.0, seed=1)
    own = metrics.plausibility(vis, targets, nat, labels, 5)
    wrong = metrics.plausibility(vis, (targets + 1) % 5, nat, labels, 5)
    assert own["plausibility"] > wrong["plausibility"]
    assert own["rank_accuracy"] == 1.0 and own["margin"] > 0
    assert wrong["rank_accuracy"] == 0.0 and wrong["margin"] < 0


def test_class_similarity_exact_values():
    nat = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    s = metrics.class_similarity(torch.tensor([[1.0, 1.0]]), nat, labels, 3)
    assert s[0, 0].item() == pytest.approx(1 / math.sqrt(2))
    assert s[0, 1].item() == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(s[0, 2].item())  # class 2 has no natural images
    p = metrics.plausibility(torch.tensor([[1.0, 0.0]]), [0], nat, labels, 3)
    assert p == dict(plausibility=pytest.approx(1.0), margin=pytest.approx(1.0), rank_accuracy=1.0)


# ----------------------------------------------------------------------------- mask and features


def test_mask_with_alpha_one_leaves_the_image_unchanged_and_zero_gives_grey():
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(metrics.apply_mask(x, torch.ones(2, 1, 8, 8)), x)
    assert torch.allclose(metrics.apply_mask(x, torch.zeros(2, 1, 8, 8)), torch.full_like(x, 0.5))
    half = metrics.apply_mask(x, torch.full((2, 1, 8, 8), 0.5))
    assert torch.allclose(half, 0.5 * x + 0.25)


def test_penultimate_features_are_the_input_of_the_classifier(cnn, vit):
    assert find_head(cnn) == "head" and find_head(vit) == "head"
    x = torch.rand(3, 3, 32, 32)
    f = features(cnn, x)
    assert f.shape == (3, 16)
    with torch.no_grad():  # the head applied to the features gives the logits back
        assert torch.allclose(cnn.net.head(f), cnn(x), atol=1e-5)
    assert features(vit, x).shape == (3, 16)


# ----------------------------------------------------------------------------- runs and CLI

TINY = textwrap.dedent(
    """
    import torch
    from torch import nn
    from phaselens.model import ImageModel, Preprocess

    def _net(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, 10))

    def a():
        return ImageModel(_net(0), Preprocess((0.5,) * 3, (0.25,) * 3, (32, 32)), name="tiny-a")

    def b():
        return ImageModel(_net(1), Preprocess((0.5,) * 3, (0.25,) * 3, (32, 32)), name="tiny-b")
    """
)


@pytest.fixture
def tiny_specs(tmp_path):
    path = tmp_path / "tiny_models.py"
    path.write_text(TINY)
    return f"{path}:a", f"{path}:b"


def test_cached_visualizations_are_reused(tmp_path, cnn):
    cfg = BenchConfig(methods=("maco",), seeds=1, run=RunConfig(steps=2, image_size=24, crops=2))
    first = make_visualizations(cnn, "maco", [0, 1], cfg, cache=tmp_path)
    again = make_visualizations(cnn, "maco", [0, 1], cfg, cache=tmp_path)
    assert not first.cached and again.cached
    assert torch.allclose(first.images, again.images, atol=1e-6) and again.targets == [0, 1]
    other = make_visualizations(
        cnn, "maco", [0, 1], BenchConfig(seeds=1, run=RunConfig(steps=3, image_size=24, crops=2)), cache=tmp_path
    )
    assert not other.cached  # a different setting is never served from the cache
    with torch.no_grad():
        cnn.net.head.bias.add_(1.0)
    assert not make_visualizations(cnn, "maco", [0, 1], cfg, cache=tmp_path).cached  # nor other weights


def test_cli_end_to_end_writes_csv_markdown_and_png(tmp_path, tiny_specs, capsys):
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--models",
        ",".join(tiny_specs),
        "--methods",
        "maco",
        "--seeds",
        "2",
        "--steps",
        "2",
        "--size",
        "32",
        "--crops",
        "2",
        "--per-class",
        "3",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    for name in ("results.csv", "results.md", "results.png", "manifest.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    # 2 models x (maco + natural) x 2 evaluators x 2 masks x 2 seeds
    assert len(rows) == 2 * 2 * 2 * 2 * 2
    assert {r["method"] for r in rows} == {"maco", "natural"}
    for r in rows:
        assert 0 <= float(r["transfer"]) <= 1 and float(r["fid"]) >= 0 and r["n"] == "10"
    md = (out / "results.md").read_text()
    assert "FID" in md and "± " in md and "phaselens bench --models" in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "images").glob("*.png"))) == 2
    # Rerunning resumes from the cache and gives the same table.
    assert main(argv) == 0
    assert (out / "results.md").read_text().split("Run time")[0] == md.split("Run time")[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "maco,deepdream"], "unknown method 'deepdream'"),
        (["--models", "zoo:nope,zoo:cnn"], "'nope'"),
        (["--models", "no_such_module_xyz:build,zoo:cnn"], "no_such_module_xyz"),
        (["--steps", "0"], "--steps: must be >= 1"),
        (["--crop-size", "0.5"], "--crop-size"),
        (["--spectrum", "missing.npy"], "missing.npy"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_no_output(tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    assert main(["bench", "--quiet", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    # One line; usage errors add a second, saying where the options are.
    assert len(err.splitlines()) <= 2 and message in err and err.startswith("phaselens bench: error:")
    assert not out.exists()


def test_models_of_another_label_space_need_images(tmp_path, capsys):
    path = tmp_path / "five.py"
    path.write_text(TINY.replace("nn.Linear(8, 10)", "nn.Linear(8, 5)"))
    out = tmp_path / "never"
    assert main(["bench", "--models", f"{path}:a,{path}:b", "--quiet", "--out", str(out)]) == 2
    assert "--images" in capsys.readouterr().err and not out.exists()


def test_a_single_model_without_evaluators_is_refused(tmp_path, tiny_specs, capsys):
    out = tmp_path / "never"
    assert main(["bench", "--models", tiny_specs[0], "--quiet", "--out", str(out)]) == 2
    assert "evaluator" in capsys.readouterr().err and not out.exists()


def test_folder_classes_by_index_name_or_sorted_order():
    from phaselens.bench.data import folder_classes

    assert folder_classes(["3", "7"], None) == [3, 7]
    assert folder_classes(["Blue_Square", "red_disc"], ["red_disc", "blue_square"]) == [1, 0]
    assert folder_classes(["n01", "n02", "n03"], ["a", "b", "c"]) == [0, 1, 2]


def test_cli_with_an_image_folder(tmp_path, tiny_specs):
    from phaselens.bench.data import write_image_folder
    from phaselens.data import CLASS_NAMES, make_batch

    images, labels = make_batch(30, 32, seed=9)
    folder = tmp_path / "imagefolder"
    write_image_folder(images, labels, [f"{i}" for i in range(10)], folder)  # folders 0..9, 3 images each
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--models",
        ",".join(tiny_specs),
        "--methods",
        "pixel",
        "--seeds",
        "1",
        "--steps",
        "1",
        "--size",
        "32",
        "--crops",
        "1",
        "--images",
        str(folder),
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    manifest = (out / "manifest.json").read_text()
    assert "image folder" in manifest
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert {r["method"] for r in rows} == {"pixel", "natural"}  # 1 image per class held out, 2 as reference
    assert all(r["n"] == str(len(CLASS_NAMES)) for r in rows)

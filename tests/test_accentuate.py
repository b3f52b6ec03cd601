"""Feature accentuation and diversity: the parameterization starts at the image, the regularizer's
weight moves between free ascent and staying put, the image's own class changes it least, diversity
spreads the facets of a target at a small cost, and bad input is one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import phaselens as pl
import phaselens.lens
from phaselens.accentuate import SeededParam, accentuate
from phaselens.cli import main
from phaselens.data import make_batch
from phaselens.errors import PhaseLensError
from phaselens.features import LayerReader

FAST = dict(steps=24, crops=2)


@pytest.fixture(scope="module")
def cnn():
    return pl.load_model("zoo:cnn")


@pytest.fixture(scope="module")
def photos():
    images, labels = make_batch(6, 64, seed=11)
    return images, [int(v) for v in labels]


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x, y = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))


@pytest.mark.parametrize("precondition", [True, False])
def test_the_parameterization_is_the_image_before_any_step(photos, precondition):
    images = photos[0]
    param = SeededParam(images, precondition=precondition)
    assert param.delta.abs().sum() == 0
    assert torch.allclose(param(), images.clamp(1e-3, 1 - 1e-3), atol=2e-5)


def test_weight_zero_ascends_freely_and_a_huge_weight_stays_at_the_image(cnn, photos):
    images, labels = photos
    targets = [(c + 5) % 10 for c in labels]
    free = accentuate(cnn, images, pl.logit(targets), reg_weight=0.0, **FAST)
    held = accentuate(cnn, images, pl.logit(targets), reg_weight=1e5, **FAST)
    before = pl.evaluate(cnn, pl.logit(targets), images)
    gain_free = pl.evaluate(cnn, pl.logit(targets), free.images) - before
    gain_held = pl.evaluate(cnn, pl.logit(targets), held.images) - before
    assert (gain_free > 3.0).all() and (gain_held.abs() < 0.15 * gain_free).all()  # held: it barely moves
    # Held: what the model sees at the layer stays put (the pixels it is blind to may still drift a little).
    held_distance, free_distance = np.array(held.settings["reg_distance"]), np.array(free.settings["reg_distance"])
    assert held_distance.max() < 0.1 and held_distance.mean() < 0.2 * free_distance.mean()
    assert (correlation(held.images, images) > correlation(free.images, images)).all()
    assert float(correlation(held.images, images).mean()) > 0.9
    assert free.trace.shape == (24, 6) and float(free.transparency.sum()) > 0


def test_the_image_s_own_class_changes_it_least(cnn, photos):
    """In what the model sees (the activations the regularizer compares): accentuating an image's own
    class moves them less than accentuating any other class does, on average over the other nine."""
    images, labels = photos
    runs = [accentuate(cnn, images, pl.logit([(c + s) % 10 for c in labels]), **FAST) for s in range(10)]
    distance = torch.tensor([r.settings["reg_distance"] for r in runs])  # (shift, image); shift 0: own class
    assert (distance[0] < distance[1:].mean(dim=0)).all(), distance
    pixels = torch.stack([(r.images - images).pow(2).flatten(1).mean(1) for r in runs])
    assert float(pixels[0].mean()) < float(pixels[1:].mean())


def test_bad_input_to_the_api_is_refused(cnn, photos):
    images = photos[0]
    cases = [
        (images[:, :1], "channels"),
        (images * 2, r"\[0, 1\]"),
        (images[0], "(B, C, H, W)"),
        (images[:, :, :4, :4], "at least 8"),
    ]
    for bad, words in cases:
        with pytest.raises(PhaseLensError, match=words):
            accentuate(cnn, bad, pl.logit(1), steps=1)
    with pytest.raises(PhaseLensError, match="reg_weight"):
        accentuate(cnn, images, pl.logit(1), reg_weight=-1.0, steps=1)
    with pytest.raises(PhaseLensError, match="6 images but the objective has 2 targets"):
        accentuate(cnn, images, pl.logit([1, 2]), steps=1)
    with pytest.raises(PhaseLensError, match="no layer named"):
        accentuate(cnn, images, pl.logit(1), reg_layer="nope", steps=1)


def test_the_cli_writes_images_grid_and_manifest_and_refuses_bad_files(tmp_path, photos, capsys):
    images = photos[0]
    files = []
    for i in range(2):
        files.append(tmp_path / f"photo {i}.png")
        Image.fromarray((images[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(files[-1])
    (tmp_path / "notes.png").write_text("not an image")
    out = tmp_path / "acc"
    argv = ["accentuate", "--model", "zoo:cnn", "--image", *map(str, files), "--target", "class:7"]
    assert main([*argv, "--steps", "4", "--crops", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["target"] for i in manifest["images"]] == ["class:7", "class:7"]
    for item in manifest["images"]:
        assert item["score_after"] > item["score_before"]
        for key in ("original", "accentuated", "rgba"):
            assert (out / item[key]).is_file()
    with Image.open(out / "grid.png") as grid:
        assert grid.size[1] > 2 * 64
    bad = [
        (["--image", str(tmp_path / "notes.png"), "--target", "class:1"], "cannot read image"),
        (["--image", str(tmp_path / "missing.png"), "--target", "class:1"], "missing.png"),
        (["--image", *map(str, files), "--target", "class:1,2,3"], "3 targets for 2 images"),
    ]
    capsys.readouterr()
    for args, words in bad:
        code = main(["accentuate", "--model", "zoo:cnn", *args, "--steps", "1", "--out", str(tmp_path / "no")])
        err = capsys.readouterr().err
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "no").exists()


def gram_similarity(model, images: torch.Tensor, layer: str) -> float:
    """Mean pairwise cosine of the images' Gram matrices at `layer`: how alike they are in style."""
    reader = LayerReader(model, [layer], need_logits=False)
    with torch.no_grad():
        reader(torch.nn.functional.interpolate(images, size=model.input_size, mode="bilinear", antialias=True))
        maps = reader.context(len(images), 1).maps(layer).flatten(2)
    gram = torch.nn.functional.normalize((maps @ maps.transpose(1, 2)).flatten(1), dim=1)
    sim = gram @ gram.T
    n = len(images)
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def test_diversity_spreads_the_facets_of_a_target_at_a_small_cost(cnn):
    seeds = [0, 1, 2, 3]
    plain = pl.visualize(cnn, pl.logit([3] * 4), seed=seeds, steps=48, crops=2)
    spread = pl.visualize(cnn, pl.logit([3] * 4) + pl.diversity("layer2", 5.0), seed=seeds, steps=48, crops=2)
    assert gram_similarity(cnn, spread.images, "layer2") < gram_similarity(cnn, plain.images, "layer2") - 0.01
    # The class logit on crops at the scale of the optimization, with and without diversity:
    before, after = (pl.evaluate(cnn, pl.logit(3), r.images, crops=16).mean() for r in (plain, spread))
    assert float(after) < float(before)  # it costs some of the objective ...
    assert float(after) > 0.4 * float(before) > 0  # ... but not most of it


def test_diversity_scores_the_similarity_within_groups_only(cnn):
    images = make_batch(1, 64, seed=2)[0].repeat(4, 1, 1, 1)  # four equal images: similarity 1
    reader = LayerReader(cnn, ["layer2"], need_logits=False)
    with torch.no_grad():
        reader(images)
    ctx = reader.context(4, 1)
    assert torch.allclose(pl.diversity("layer2", 2.0)(ctx), torch.full((4,), -2.0), atol=1e-5)
    assert torch.allclose(pl.diversity("layer2", 2.0, group=1)(ctx), torch.zeros(4))
    assert pl.diversity("layer2", 2.0, group=2).description == "diversity(layer2, 2, group=2)"
    for bad in (dict(weight=-1.0), dict(weight=float("nan")), dict(group=0)):
        with pytest.raises(PhaseLensError):
            pl.diversity("layer2", **bad)


def test_visualize_and_lens_take_facets_and_diversity(tmp_path):
    out = tmp_path / "viz"
    fast = ["--steps", "2", "--size", "32", "--crops", "1"]
    argv = ["visualize", "--model", "zoo:cnn", "--target", "class:1", "--facets", "3", "--diversity", "5"]
    assert main([*argv, *fast, "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["name"] for i in manifest["images"]] == [f"class_0001_blue_square_facet{f}" for f in range(3)]
    assert "diversity(layer3, 5, group=3)" in manifest["settings"]["objective"]
    assert len(set(manifest["settings"]["seeds"])) == 3
    lens = tmp_path / "lens"
    base = ["lens", "--model", "zoo:cnn", "--target", "class:0-1", "--facets", "2", "--no-progress", *fast]
    assert main([*base, "--diversity", "5", "--out", str(lens)]) == 0
    settings = json.loads((lens / "lens.json").read_text())["settings"]
    assert settings["diversity"] == "diversity(layer3, 5, group=2)"
    assert main([*base, "--out", str(lens)]) == 2  # other settings in the same folder: refused


def test_lens_accentuates_each_class_in_its_top_natural_images(tmp_path, photos):
    images, labels = photos
    for i, (img, label) in enumerate(zip(images, labels)):
        (tmp_path / "imgs" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(
            tmp_path / "imgs" / str(label) / f"{i}.png"
        )
    out = tmp_path / "lens"
    fast = dict(steps=2, image_size=32, crops=1, progress=False)
    report = pl.lens.run_lens(
        pl.load_model("zoo:cnn"), out, "class:0-1", images=tmp_path / "imgs", top_k=3, accentuate=2, **fast
    )
    assert report.made == 2
    for name in report.names:
        section = json.loads((out / "targets" / name / "sections" / "60_accentuated.json").read_text())
        natural = json.loads((out / "targets" / name / "sections" / "50_natural.json").read_text())
        assert [i["file"] for i in section["items"]] == [i["file"] for i in natural["items"][:2]]
        assert all((out / "targets" / name / i["src"]).is_file() for i in section["items"])
    page = (out / "site" / "pages" / f"{report.names[0]}.js").read_text()
    assert '"id":"accentuated"' in page
    with pytest.raises(PhaseLensError, match="needs natural images"):
        pl.lens.run_lens(pl.load_model("zoo:cnn"), tmp_path / "x", "class:0", accentuate=2, **fast)

"""`run_concepts` / `phaselens concepts` end to end on the zoo: files, resume, scores, ground truth."""

from __future__ import annotations

import json

import pytest
import torch

from phaselens import load_model
from phaselens.cli import main
from phaselens.concepts.bank import ConceptBank
from phaselens.concepts.run import run_concepts

SMALL = dict(per_class=12, rank=4, steps=4, crops=2, image_size=32)
GROUND_TRUTH = ("recovery", "importance_truth", "distractor_share", "link_precision", "stability")


def test_parts_concepts_folder_is_complete_scored_and_resumes(tmp_path):
    model = load_model("zoo:parts")
    out = tmp_path / "c"
    report = run_concepts(model, out, "class:0-1", **SMALL)
    assert report.made == 2 and report.skipped == 0
    folder = out / "classes" / "class_0000_disc_and_stripes"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["rank"] == 4 and len(manifest["concepts"]) == 4
    for c in manifest["concepts"]:
        assert (folder / c["image"]).is_file() and (folder / c["rgba"]).is_file() and len(c["crops"]) == 10
        assert all((folder / k["src"]).is_file() for k in c["crops"])
    bank = ConceptBank.load(folder / "bank.safetensors")
    assert bank.class_id == 0 and bank.rank == 4 and bank.layer == "layer3"
    imp = json.loads((folder / "importance.json").read_text())
    assert len(imp["gradient_input"]["per_image"]) == 12 and len(imp["sobol"]["share"]) == 4
    strategy = json.loads((folder / "strategy.json").read_text())
    assert len(strategy["points"]) == 12 and len(strategy["dominant"]) == 12
    relations = json.loads((folder / "relations.json").read_text())
    assert len(relations["alignment"]["classes"][0]) == 5 and relations["alignment"]["classes"][0][0] in range(8)
    metrics = json.loads((out / "metrics.json").read_text())
    truth = metrics["ground_truth"]
    assert set(GROUND_TRUTH) <= set(truth) and truth["classes"] == 2
    for key in ("recovery", "importance_truth", "distractor_share", "stability"):
        assert 0.0 <= truth[key] <= 1.0
    assert truth["stability"] > 0.5  # two halves of the images find nearly the same concepts
    assert {"error", "sparsity", "deletion_auc", "insertion_auc", "mu_fidelity"} <= set(metrics["mean"])
    # Gradient x Input is exact at a pooled linear head: the insertion curve ends at the full logit.
    assert metrics["mean"]["mu_fidelity"] > 0.9
    before = {p: p.read_bytes() for p in folder.rglob("*.png")}
    again = run_concepts(model, out, "class:0-1", **SMALL)
    assert again.made == 0 and again.skipped == 2
    assert {p: p.read_bytes() for p in folder.rglob("*.png")} == before


def test_a_folder_refuses_other_settings(tmp_path):
    model = load_model("zoo:parts")
    run_concepts(model, tmp_path / "c", "class:0", concept_images=False, **SMALL)
    with pytest.raises(Exception, match="other settings"):
        run_concepts(model, tmp_path / "c", "class:0", concept_images=False, **(SMALL | dict(rank=3)))


@pytest.mark.parametrize("spec", ["zoo:cnn", "zoo:vit", "zoo:mixer"])
def test_the_shape_zoo_models_work_too(tmp_path, spec):
    report = run_concepts(load_model(spec), tmp_path / "c", "class:0-1", concept_images=False, **SMALL)
    assert report.made == 2 and report.metrics["ground_truth"] == {}
    assert report.metrics["mean"]["error"] < 1.0


def test_the_cli_prints_the_ground_truth(tmp_path, capsys):
    argv = ["concepts", "--model", "zoo:parts", "--target", "class:3", "--per-class", "10", "--rank", "3"]
    assert main([*argv, "--no-images", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "made 1" in out and "ground truth:" in out and "recovery" in out


def test_an_image_folder_is_read_lazily_and_classes_are_what_the_model_predicts(tmp_path):
    from PIL import Image

    from phaselens.concepts.images import class_images
    from phaselens.data import make_parts_batch
    from phaselens.io import to_uint8

    images, _labels = make_parts_batch(24, seed=77)
    for i, img in enumerate(images):
        folder = tmp_path / "imgs" / ("a" if i % 2 else "b")  # folder names say nothing of the class
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(img)).save(folder / f"{i}.png")
    model = load_model("zoo:parts")
    pool, picked = class_images(model, [0, 1], 3, images=tmp_path / "imgs")
    assert pool.images is None and len(pool) == 24  # nothing is held until taken
    taken = pool.take(picked[0])
    assert taken.shape == (3, 3, 64, 64) and (model(taken).argmax(dim=1) == 0).all()
    report = run_concepts(
        model, tmp_path / "c", "class:0-1", images=tmp_path / "imgs", per_class=3, rank=2, concept_images=False
    )
    assert report.made == 2 and report.metrics["ground_truth"] == {}


@pytest.mark.slow
def test_zoo_parts_concepts_meet_the_ground_truth(tmp_path):
    """The default settings (rank 10, positions: the model's own default) on every class."""
    report = run_concepts(load_model("zoo:parts"), tmp_path / "gt", concept_images=False)
    truth = report.metrics["ground_truth"]
    assert truth["classes"] == 8
    assert truth["recovery"] >= 0.9 and truth["importance_truth"] >= 0.9
    assert truth["distractor_share"] <= 0.05 and truth["stability"] >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "vit_tiny_patch16_224"])
def test_random_init_timm_models_through_the_cli_with_an_image_folder(tmp_path, name):
    """`phaselens concepts --model timm:NAME --weights FILE --images DIR` on the class the model predicts."""
    pytest.importorskip("timm")
    from PIL import Image
    from safetensors.torch import save_file

    from phaselens.data import make_parts_batch
    from phaselens.io import to_uint8

    images, _ = make_parts_batch(6, size=64, seed=5)
    for i, img in enumerate(images):
        (tmp_path / "imgs" / "x").mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(img)).save(tmp_path / "imgs" / "x" / f"{i}.png")
    torch.manual_seed(0)
    model = load_model(f"timm:{name}", pretrained=False, input_size=64)
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    spec = ["--model", f"timm:{name}", "--weights", str(tmp_path / "w.safetensors"), "--input-size", "64"]
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    top = int(torch.mode(predicted).values)
    argv = ["concepts", *spec, "--images", str(tmp_path / "imgs"), "--target", f"class:{top}"]
    argv += ["--per-class", "2", "--rank", "2", "--no-images", "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert len(metrics["classes"]) == 1 and metrics["mean"]["error"] < 1.0

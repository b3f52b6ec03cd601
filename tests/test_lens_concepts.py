"""`run_lens(..., concepts=...)`: the concepts of every class on its page, a light index, shards,
bad options refused before anything is made, and classes without images left without concepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phaselens import load_model
from phaselens.errors import PhaseLensError
from phaselens.lens import build_site, run_lens

FAST = dict(steps=4, crops=2, image_size=32, progress=False)
CONCEPTS = dict(rank=3, per_class=10)


def read_js(path: Path, var: str) -> dict:
    text = path.read_text()
    prefix = f"window.{var} = "
    assert text.startswith(prefix), text[:40]
    return json.loads(text[len(prefix) :].rstrip().rstrip(";"))


@pytest.fixture(scope="module")
def lens(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lens") / "out"
    report = run_lens(load_model("zoo:cnn"), out, "class:0-2", concepts=CONCEPTS, **FAST)
    assert report.made == 3 and report.no_concepts == {}
    return out


def test_each_class_page_holds_its_concepts(lens) -> None:
    index = read_js(lens / "site" / "data.js", "LENS_DATA")
    names = [t["name"] for t in index["targets"]]
    assert len(names) == 3
    for name in names:
        page = read_js(lens / "site" / "pages" / f"{name}.js", "LENS_PAGE")
        c = page["concepts"]
        manifest = json.loads((lens / "concepts" / "classes" / name / "manifest.json").read_text())
        assert c["rank"] == 3 and len(c["concepts"]) == 3 and c["images"] == manifest["images"] == 10
        shares = [k["share"] for k in c["concepts"]]
        assert shares == sorted(shares, reverse=True)  # cards most important first
        # Gradient x Input at zoo:cnn's linear head: concepts plus the remainder make the whole logit.
        assert c["method"] == "gradient_input" and abs(sum(shares) + c["remainder"] - 1) < 1e-4
        assert len(c["strategy"]["points"]) == 10 and len(c["strategy"]["thumbs"]) == 10
        assert (
            c["important"]
            == sum(k["important"] for k in c["concepts"])
            == index["targets"][names.index(name)]["concepts"]
        )
        assert np.asarray(c["similarity"]["matrix"]).shape == (3, 3) and len(c["similarity"]["layout"]) == 3
        assert [len(a["classes"]) for a in c["alignment"]] == [5, 5, 5]
        for a in c["alignment"]:  # classes of the site link to their pages, the others are labels
            assert all((k["name"] in names) == (k["index"] <= 2) for k in a["classes"])
        for s in c["similar"]:
            assert s["other"] in names and s["other"] != name
        site = lens / "site"
        files = [k["image"] for k in c["concepts"]] + [k["rgba"] for k in c["concepts"]]
        files += [f for k in c["concepts"] for f in k["crops"] + k["maps"]] + c["strategy"]["thumbs"]
        files += [s["image"] for s in c["similar"]]
        assert files and all((site / f).resolve().is_file() for f in files)
        assert len(c["concepts"][0]["crops"]) == 10 and len(c["concepts"][0]["maps"]) == 4


def test_the_index_holds_only_what_it_shows(lens) -> None:
    index = read_js(lens / "site" / "data.js", "LENS_DATA")
    for t in index["targets"]:
        assert set(t) == {"name", "key", "label", "kind", "index", "layer", "score", "dir", "thumb", "concepts"}
        page = read_js(lens / "site" / "pages" / f"{t['name']}.js", "LENS_PAGE")
        assert page["facets"][0]["trace"] and page["name"] == t["name"]
    per_target = len((lens / "site" / "data.js").read_bytes()) / len(index["targets"])
    assert per_target < 600, per_target  # 1000 classes: well under the 1.5 MB budget of the index


def test_a_rebuild_without_concepts_data_is_a_plain_lens(lens, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lens, copy)
    shutil.rmtree(copy / "concepts")
    build_site(copy)
    index = read_js(copy / "site" / "data.js", "LENS_DATA")
    assert all(t["concepts"] is None for t in index["targets"])
    page = read_js(copy / "site" / "pages" / f"{index['targets'][0]['name']}.js", "LENS_PAGE")
    assert page["concepts"] is None and page["facets"]


def test_bad_concept_options_are_refused_before_anything_is_made(tmp_path) -> None:
    model = load_model("zoo:cnn")
    cases = [
        (dict(rank=0), "rank"),
        (dict(layer="nope"), "no layer named 'nope'"),
        (dict(colour=3), "unknown concept options"),
    ]
    for options, words in cases:
        with pytest.raises(PhaseLensError, match=words):
            run_lens(model, tmp_path / "out", "class:0", concepts=options, **FAST)
        assert not (tmp_path / "out").exists()
    with pytest.raises(PhaseLensError, match="class targets"):
        run_lens(model, tmp_path / "out", "channel:layer2:0", concepts=True, **FAST)
    assert not (tmp_path / "out").exists()


def test_two_shards_share_the_classes_and_the_site_has_them_all(tmp_path) -> None:
    model = load_model("zoo:cnn")
    a = run_lens(model, tmp_path, "class:0-2", concepts=CONCEPTS, shard="0/2", site=False, **FAST)
    b = run_lens(model, tmp_path, "class:0-2", concepts=CONCEPTS, shard="1/2", **FAST)
    assert a.made + b.made == 3
    classes = sorted(p.parent.name for p in (tmp_path / "concepts" / "classes").glob("*/manifest.json"))
    assert len(classes) == 3
    metrics = json.loads((tmp_path / "concepts" / "metrics.json").read_text())
    assert sorted(metrics["classes"]) == classes  # the last shard to finish scored every class
    index = read_js(tmp_path / "site" / "data.js", "LENS_DATA")
    assert all(isinstance(t["concepts"], int) for t in index["targets"])


def test_classes_with_too_few_images_get_no_concepts_and_the_rest_do(tmp_path) -> None:
    """A folder whose images the model predicts as few classes: the others are reported, not fatal."""
    model = load_model("zoo:cnn")
    from phaselens.data import make_batch
    from phaselens.io import to_uint8

    images, labels = make_batch(60, 64, seed=3)
    for i, (img, label) in enumerate(zip(images, labels)):
        if int(label) in (0, 1):  # only two of the classes are in the folder
            folder = tmp_path / "imgs" / str(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_uint8(img)).save(folder / f"{i}.png")
    report = run_lens(
        model, tmp_path / "out", "class:0-2", images=tmp_path / "imgs", concepts=dict(rank=2, per_class=4), **FAST
    )
    assert "class_0002_green_triangle" in report.no_concepts
    index = read_js(tmp_path / "out" / "site" / "data.js", "LENS_DATA")
    by_name = {t["name"]: t["concepts"] for t in index["targets"]}
    assert by_name["class_0002_green_triangle"] is None
    assert isinstance(by_name["class_0000_red_disc"], int)

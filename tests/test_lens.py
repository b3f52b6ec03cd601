"""Lens generation in-process: targets and seeds, batching, resuming, locks, site data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lens_models import EVIL_NAME, tiny
from phaselens.errors import PhaseLensError
from phaselens.lens import Shard, build_site, expand_targets, parse_shard, run_lens, shard_from_env, store, target_seed
from phaselens.lens.batching import batch_from_probe
from phaselens.lens.site import collect
from phaselens.locks import ShardLock

# Tiny everywhere: 2 shared CPU cores.
FAST = dict(steps=4, image_size=24, crops=2, progress=False)


@pytest.fixture(scope="module")
def model():
    return tiny()


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def test_targets_and_seeds(model) -> None:
    targets = expand_targets("class:all", model)
    assert [t.key for t in targets] == [f"class:{i}" for i in range(6)]
    assert targets[2].label == EVIL_NAME and "<" not in targets[2].name
    assert [t.index for t in expand_targets([4, 1, 4], model)] == [4, 1]  # duplicates dropped
    channels = expand_targets("channel:conv2:all", model)
    assert len(channels) == 12 and channels[5].key == "channel:conv2:5" and channels[5].layer == "conv2"
    # A seed belongs to the target, not to its position in a list or batch.
    assert target_seed(0, "class:3") == target_seed(0, "class:3")
    assert (
        len(
            {
                target_seed(0, "class:3"),
                target_seed(1, "class:3"),
                target_seed(0, "class:4"),
                target_seed(0, "class:3", facet=1),
            }
        )
        == 4
    )
    assert 0 <= target_seed(7, "channel:conv2:5") < 2**53
    for bad in ("class:9", "channel:nope:1", "pixel:3", "class:"):
        with pytest.raises(PhaseLensError):
            expand_targets(bad, model)


def test_shards_from_environment() -> None:
    assert shard_from_env({}) == Shard(0, 1, 0)
    assert shard_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Shard(3, 4, 1)
    slurm = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0"}
    assert shard_from_env(slurm) == Shard(2, 3, 0)
    # torchrun inside a Slurm array task: ranks of task t come after those of task t - 1.
    assert shard_from_env(dict(slurm, RANK="1", WORLD_SIZE="2", LOCAL_RANK="1")) == Shard(5, 6, 1)
    assert parse_shard("1/4") == Shard(1, 4)
    owned = [[i for i in range(10) if Shard(r, 3).owns(i)] for r in range(3)]
    assert sorted(i for part in owned for i in part) == list(range(10))  # no gap, no overlap
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(PhaseLensError):
            parse_shard(bad)
    with pytest.raises(PhaseLensError):
        shard_from_env({"RANK": "two"})


def test_batch_from_probe() -> None:
    gib = 2**30
    # 100 MiB per image, 1 GiB fixed: 80% of 8 GiB holds 55 images, 27 targets of 2 facets.
    one, four = gib + 100 * 2**20, gib + 400 * 2**20
    assert batch_from_probe(8 * gib, one, four, facets=2, targets=1000) == 27
    assert batch_from_probe(400 * gib, one, four, facets=1, targets=1000) == 256
    assert batch_from_probe(gib // 2, one, four, facets=1, targets=1000) == 1
    assert batch_from_probe(40 * gib, one, four, facets=1, targets=5) == 5


def test_layout_and_batching_does_not_change_images(model, tmp_path) -> None:
    one = run_lens(model, tmp_path / "one", "class:0-2", batch=1, facets=2, site=False, **FAST)
    three = run_lens(model, tmp_path / "three", "class:0-2", batch=3, facets=2, **FAST)
    assert (one.made, three.made, three.total) == (3, 3, 3)
    for name in three.names:
        folder = tmp_path / "three" / "targets" / name
        assert {"image.png", "rgba.png", "facet_1.png", "facet_1_rgba.png", "thumb.jpg", "manifest.json"} <= {
            p.name for p in folder.iterdir()
        }
        m = json.loads((folder / "manifest.json").read_text())
        m1 = json.loads((tmp_path / "one" / "targets" / name / "manifest.json").read_text())
        assert [f["seed"] for f in m["facets"]] == [f["seed"] for f in m1["facets"]]
        assert m["settings"]["steps"] == 4 and len(m["facets"][0]["trace"]) == 4
        with Image.open(folder / "rgba.png") as rgba:
            assert rgba.mode == "RGBA" and rgba.size == (24, 24)
        # Same seeds, other batch-mates: equal up to float reordering in the convolutions.
        for f in ("image.png", "facet_1.png"):
            diff = np.abs(pixels(folder / f) - pixels(tmp_path / "one" / "targets" / name / f))
            assert diff.mean() < 3.0, (name, f, diff.mean())
    assert three.site == tmp_path / "three" / "site" / "index.html" and three.site.is_file()


def test_resume_redoes_only_what_is_incomplete(model, tmp_path) -> None:
    first = run_lens(model, tmp_path, "class:all", batch=4, site=False, **FAST)
    assert (first.made, first.skipped) == (6, 0)
    names = first.names
    kept = tmp_path / "targets" / names[0] / "image.png"
    stamp = kept.stat().st_mtime_ns
    # A run killed mid-target: manifest gone, a stray temporary file, a truncated image.
    (tmp_path / "targets" / names[4] / "manifest.json").unlink()
    (tmp_path / "targets" / names[4] / ".image.png.abc.tmp").write_bytes(b"half")
    (tmp_path / "targets" / names[5] / "rgba.png").unlink()  # manifest lists a missing file: not complete
    again = run_lens(model, tmp_path, "class:all", batch=4, site=False, **FAST)
    assert (again.made, again.skipped) == (2, 4)
    assert kept.stat().st_mtime_ns == stamp
    assert not list(tmp_path.rglob(".*.tmp"))
    assert all(store.read_complete(tmp_path, n) for n in names)
    # Growing the folder to more targets keeps the old ones.
    grown = run_lens(model, tmp_path, "class:all", batch=4, facets=1, site=False, **FAST)
    assert grown.made == 0


def test_a_failed_save_is_reported_and_its_batch_mates_are_kept(model, tmp_path) -> None:
    # Targets are saved on background threads; an error there must still stop the run.
    names = [t.name for t in expand_targets("class:0-2", model)]
    store.targets_dir(tmp_path).mkdir(parents=True)
    (store.targets_dir(tmp_path) / names[1]).write_text("not a folder")
    with pytest.raises(PhaseLensError, match=f"could not save target {names[1]}"):
        run_lens(model, tmp_path, "class:0-2", batch=3, site=False, **FAST)
    assert [store.read_complete(tmp_path, n) is not None for n in names] == [True, False, True]


def test_other_settings_are_refused(model, tmp_path) -> None:
    run_lens(model, tmp_path, "class:0", site=False, **FAST)
    with pytest.raises(PhaseLensError, match="steps=4 there but 5 now"):
        run_lens(model, tmp_path, "class:0", site=False, **dict(FAST, steps=5))
    for bad in (dict(facets=0), dict(batch=0)):
        with pytest.raises(PhaseLensError):
            run_lens(model, tmp_path, "class:0", site=False, **FAST, **bad)


def test_a_second_run_on_the_same_shard_is_refused(model, tmp_path) -> None:
    with ShardLock(tmp_path, Shard(0, 1)):
        with pytest.raises(PhaseLensError, match=r"already working on shard 0/1 .*pid \d+"):
            run_lens(model, tmp_path, "class:0", site=False, **FAST)
        # Another shard of the same job is not blocked.
        report = run_lens(model, tmp_path, "class:0-1", shard="1/2", site=False, **FAST)
        assert report.made == 1 and report.names[1] in [p.name for p in (tmp_path / "targets").iterdir()]
    assert run_lens(model, tmp_path, "class:0-1", site=False, **FAST).made == 1


def test_site_data_escapes_names(model, tmp_path) -> None:
    run_lens(model, tmp_path, "class:1-2", **FAST)
    text = (tmp_path / "site" / "data.js").read_text()
    assert text.startswith("window.LENS_DATA = ") and "<" not in text and ">" not in text and "&" not in text
    data = json.loads(text[len("window.LENS_DATA = ") :].rstrip().rstrip(";"))
    assert [t["label"] for t in data["targets"]] == ["green", EVIL_NAME]
    assert data["planned"] == 2 and data["targets"][0]["dir"] == "../targets/class_0001_green/"
    for page in ("index.html", "target.html", "lens.js", "lens.css"):
        assert (tmp_path / "site" / page).is_file()
    with pytest.raises(PhaseLensError, match="not a lens folder"):
        build_site(tmp_path / "nothing")


def test_natural_images_section(model, tmp_path) -> None:
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "images" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((20, 28, 3)) * 255).astype("uint8")).save(
                tmp_path / "images" / cls / f"{i}.png"
            )
    run_lens(model, tmp_path / "lens", "class:0-1", images=tmp_path / "images", top_k=4, **FAST)
    data = collect(tmp_path / "lens")
    section = data["targets"][0]["sections"][0]
    assert section["id"] == "natural" and len(section["items"]) == 4
    scores = [item["score"] for item in section["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all((tmp_path / "lens" / "site" / item["src"]).is_file() for item in section["items"])
    with pytest.raises(PhaseLensError, match="no such folder"):
        run_lens(model, tmp_path / "lens", "class:0-1", images=tmp_path / "missing", **FAST)

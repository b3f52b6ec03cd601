"""Bad input to every command: exit status 2, one short message, no traceback, nothing written.

A table of the cases a fuzzing pass found (resources that cannot fit, values the code cannot
represent, devices this torch cannot use, files that are not what their name says, output
places that cannot be folders, non-finite numbers), plus hypothesis drawing values for every
numeric flag. The commands run in-process, so an uncaught exception fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from phaselens.cli import main

FAST = ["--steps", "1", "--size", "32", "--crops", "1"]


@pytest.fixture
def place(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "text.pt").write_text("hello")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("no images here")
    names = {"text_pt": "text.pt", "empty_st": "empty.safetensors", "afile": "afile", "images": "images"}
    return {k: str(tmp_path / v) for k, v in names.items()} | {"out": str(tmp_path / "out")}


VISUALIZE = ["visualize", "--target", "class:0", *FAST, "--out", "{out}"]
LENS = ["lens", "--no-progress", *FAST, "--out", "{out}"]
BENCH = ["bench", "--quiet", *FAST, "--seeds", "1", "--out", "{out}"]
DEMO = ["demo", *FAST, "--out", "{out}"]
ACCENTUATE = ["accentuate", "--model", "zoo:cnn", "--image", "{text_pt}", "--target", "class:1", "--steps", "1"]
ACCENTUATE += ["--out", "{out}"]
CONCEPTS = ["concepts", "--model", "zoo:parts", "--per-class", "4", "--rank", "3", "--no-images", "--out", "{out}"]

CASES = [
    # resources that cannot fit: refused with an estimate, before allocating
    (VISUALIZE + ["--size", "100000"], "needs about"),
    (VISUALIZE + ["--crops", "100000"], "needs about"),
    (VISUALIZE + ["--input-size", "100000"], "input size must be"),
    (VISUALIZE + ["--input-size", "12000"], "needs"),
    (VISUALIZE + ["--steps", "99999999999"], "needs about"),
    (["visualize", "--target", "class:0-99999999999", *FAST, "--out", "{out}"], "out of range"),
    (["visualize", "--target", "channel:layer1:0-99999999999", *FAST, "--out", "{out}"], "out of range"),
    (["visualize", "--target", "neuron:layer1:4000", *FAST, "--out", "{out}"], "out of range"),
    (LENS + ["--target", "class:0-99999999999"], "out of range"),
    (LENS + ["--crops", "100000"], "needs about"),
    (DEMO + ["--size", "100000"], "needs about"),
    # values the code cannot represent
    (VISUALIZE + ["--seed", str(2**70)], "--seed"),
    (VISUALIZE + ["--seed", "-1"], "--seed"),
    (LENS + ["--seed", str(2**64)], "--seed"),
    # devices this torch cannot use
    (VISUALIZE + ["--device", "mps"], "device 'mps'"),
    (VISUALIZE + ["--device", "meta"], "device 'meta'"),
    (VISUALIZE + ["--device", "xla"], "device 'xla'"),
    (VISUALIZE + ["--device", "toaster"], "unknown device"),
    (["layers", "--device", "meta"], "device 'meta'"),
    (LENS + ["--device", "meta"], "device 'meta'"),
    (BENCH + ["--device", "xla"], "device 'xla'"),
    # model specs that are no model factory, and files that are not what their name says
    (VISUALIZE + ["--model", "os:system"], "not a model factory"),
    (VISUALIZE + ["--model", "json:loads"], "not a model factory"),
    (VISUALIZE + ["--model", "math:pi"], "not a callable"),
    (VISUALIZE + ["--model", "zoo:nope"], "valid names"),
    (VISUALIZE + ["--model", "{afile}:build"], "does not exist"),
    (VISUALIZE + ["--model", "{text_pt}"], "text.pt"),
    (["layers", "--model", "json:dumps"], "not a model factory"),
    (VISUALIZE + ["--weights", "{text_pt}"], "cannot read weights"),
    (VISUALIZE + ["--weights", "{empty_st}"], "cannot read"),
    (VISUALIZE + ["--weights", "/nonexistent.pt"], "does not exist"),
    (VISUALIZE + ["--spectrum", "{text_pt}"], "text.pt"),
    # non-finite or degenerate numbers
    (VISUALIZE + ["--mean", "nan,nan,nan"], "mean must be finite"),
    (VISUALIZE + ["--std", "inf,1,1"], "std must be finite"),
    (VISUALIZE + ["--std", "1e-30"], "std must be finite"),
    (VISUALIZE + ["--std", "0,1,1"], "std must be"),
    (VISUALIZE + ["--mean", "1,2"], "one value per channel"),
    (VISUALIZE + ["--lr", "nan"], "--lr"),
    (VISUALIZE + ["--lr", "0"], "--lr"),
    (VISUALIZE + ["--lr", "inf"], "--lr"),
    (VISUALIZE + ["--lr", "1e308"], "lr must be a number > 0 and at most"),  # overflowed inside torch
    (VISUALIZE + ["--ema", "1"], "ema must be a number in [0, 1)"),
    (VISUALIZE + ["--ema", "-0.5"], "--ema"),
    (VISUALIZE + ["--noise", "nan"], "--noise"),
    (VISUALIZE + ["--noise", "-1"], "--noise"),
    (VISUALIZE + ["--crop-size", "nan,1"], "crop size"),
    (VISUALIZE + ["--crop-size", "0,0.5"], "crop size"),
    (VISUALIZE + ["--steps", "0"], "--steps"),
    (VISUALIZE + ["--size", "7"], "--size"),
    (VISUALIZE + ["--input-size", "0"], "input size"),
    # other commands' own flags
    (LENS + ["--batch", "0"], "--batch"),
    (LENS + ["--facets", "0"], "--facets"),
    (LENS + ["--top-k", "0"], "--top-k"),
    (LENS + ["--shard", "3/2"], "shard"),
    (LENS + ["--shard", "x"], "shard"),
    (LENS + ["--images", "/nonexistent"], "nonexistent"),
    (LENS + ["--target", "pixel:3"], "unknown target"),
    (BENCH + ["--methods", "dream"], "unknown method"),
    (BENCH + ["--per-class", "1"], "--per-class"),
    (BENCH + ["--fid-dims", "0"], "--fid-dims"),
    (BENCH + ["--models", "zoo:cnn"], "evaluator"),
    (BENCH + ["--images", "/nonexistent"], "nonexistent"),
    (DEMO + ["--models", "zoo:nope"], "valid names"),
    (CONCEPTS + ["--rank", "0"], "--rank"),
    (CONCEPTS + ["--rank", "500"], "exceeds the 48 channels"),
    (CONCEPTS + ["--rank", "40", "--per-class", "2", "--on", "crops"], "fewer than rank 40"),
    (CONCEPTS + ["--layer", "nope"], "no layer named 'nope'"),
    (CONCEPTS + ["--images", "/nonexistent"], "nonexistent"),
    (CONCEPTS + ["--images", "{images}"], "no images"),
    (CONCEPTS + ["--target", "channel:layer3:0"], "class targets"),
    (CONCEPTS + ["--target", "class:99"], "out of range"),
    (CONCEPTS + ["--per-class", "1"], "--per-class"),
    (CONCEPTS + ["--model", "timm:resnet18", "--no-pretrained"], "procedural images"),
    (ACCENTUATE, "cannot read image"),
    (ACCENTUATE + ["--image", "/nonexistent.png"], "nonexistent.png"),
    (ACCENTUATE + ["--reg-weight", "-1"], "--reg-weight"),
    (ACCENTUATE + ["--target", "pixel:3"], "unknown target"),
    (LENS + ["--diversity", "-2"], "--diversity"),
    (VISUALIZE + ["--facets", "0"], "--facets"),
    (["spectrum", "build", "/nonexistent", "--out", "{out}.npy"], "nonexistent"),
    (["spectrum", "build", "{images}", "--out", "{out}.npy"], "no images"),
    (["spectrum", "build", "{images}", "--size", "100000", "--out", "{out}.npy"], "--size"),
    (["spectrum", "build", "{images}", "--workers", "0", "--out", "{out}.npy"], "--workers"),
    (["spectrum", "show", "default", "--size", "100000", "--out", "{out}.png"], "--size"),
    (["spectrum", "show", "{text_pt}", "--out", "{out}.png"], "text.pt"),
]

# Output places that cannot be a folder, for every command that writes one.
WRITERS = {
    "visualize": VISUALIZE,
    "lens": LENS,
    "bench": BENCH,
    "demo": DEMO,
    "concepts": CONCEPTS,
    "accentuate": ACCENTUATE,
}
PLACES = [("{afile}", "not a folder"), ("{afile}/sub", "is a file"), ("/dev/null", "not a folder")]
CASES += [(argv[:-1] + [out], words) for argv in WRITERS.values() for out, words in PLACES]
CASES += [(VISUALIZE[:-1] + ["/proc/phaselens-out"], "cannot use --out")]


def _run(argv: list[str], place: dict[str, str], capsys) -> tuple[int, str]:
    args = [a.format(**place) for a in argv]
    code = main(args)
    return code, capsys.readouterr().err.strip()


def _nothing_written(place: dict[str, str]) -> bool:
    out = Path(place["out"])
    siblings = {p.name for p in out.parent.iterdir()}
    return siblings == {"text.pt", "empty.safetensors", "afile", "images"} and Path(place["afile"]).read_text() == "x"


@pytest.mark.parametrize("argv, words", CASES, ids=[" ".join(a[:1] + a[-3:]) + f" [{w}]" for a, w in CASES])
def test_bad_input_is_one_clear_line(argv, words, place, capsys):
    code, err = _run(argv, place, capsys)
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) <= 2, err
    assert err.startswith("phaselens "), err
    assert words in err, err
    assert _nothing_written(place)


NUMERIC_FLAGS = ["--steps", "--size", "--crops", "--noise", "--lr", "--seed", "--crop-size", "--mean", "--std"]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "1e308", "1e-320", "0x10", "1,2", "1,2,3", "a,b", "-0"]),
    st.text(max_size=6),
)


def _slow_but_valid(flag: str, value: str) -> bool:
    """Valid values that would only make the run long (many steps, big images), not wrong."""
    limits = {"--steps": 4, "--crops": 64, "--size": 512}
    try:
        return flag in limits and int(value.strip()) > limits[flag]
    except ValueError:
        return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(NUMERIC_FLAGS), value=NUMBERS)
def test_any_value_of_a_numeric_flag_runs_or_is_refused_cleanly(flag, value, place, capsys, tmp_path_factory):
    assume(not _slow_but_valid(flag, value))
    out = tmp_path_factory.mktemp("fuzz") / "out"
    argv = ["visualize", "--target", "class:0", "--steps", "1", "--size", "24", "--crops", "1", "--out", str(out)]
    code = main([*argv, f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert code in (0, 1, 2), err
    if code == 1:  # a run that diverged (e.g. a huge --lr): one line naming the target and step
        assert "NaN or infinite at step" in err and "Traceback" not in err and not out.exists(), err
    elif code == 2:
        assert "Traceback" not in err and len(err.splitlines()) <= 2 and err.startswith("phaselens "), err
        assert not out.exists()
    else:
        assert (out / "manifest.json").is_file()

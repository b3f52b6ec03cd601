"""The CLI end to end on the embedded zoo: visualize, layers, demo, and mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from phaselens.cli import main

QUICK = ["--steps", "3", "--size", "48", "--crops", "2"]


def test_visualize_writes_images_transparency_grid_and_manifest(tmp_path, capsys):
    out = tmp_path / "viz"
    assert main(["visualize", "--target", "class:0-2", *QUICK, "--seed", "5", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["model"] == "zoo:cnn" and manifest["settings"]["seeds"] == [5, 5, 5]
    assert manifest["versions"]["phaselens"] and len(manifest["images"]) == 3
    for item in manifest["images"]:
        with Image.open(out / item["png"]) as png, Image.open(out / item["rgba"]) as rgba:
            assert png.size == (48, 48)
            assert rgba.mode == "RGBA" and rgba.getextrema()[3][1] == 255  # the alpha carries transparency
        assert isinstance(item["final_score"], float)
    assert [i["label"] for i in manifest["images"]] == ["red_disc", "blue_square", "green_triangle"]
    with Image.open(out / "grid.png") as grid:
        assert grid.size[0] > 48 * 2
    assert "wrote 3 visualizations" in capsys.readouterr().out


def test_gpu_speed_flags_are_accepted_and_amp_is_off_on_cpu(tmp_path):
    out = tmp_path / "amp"
    assert (
        main(
            [
                "visualize",
                "--target",
                "class:1",
                *QUICK,
                "--amp",
                "--channels-last",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "manifest.json").read_text())["settings"]["amp"] is False  # bf16 autocast is CUDA-only


@pytest.mark.parametrize(
    "target, count",
    [
        ("class:yellow_star", 1),
        ("class:all", 10),
        ("channel:layer2:0-1", 2),
        ("neuron:layer1.0.conv1:4", 1),
        ("channel:layer1.0.conv1:all", 32),
        ("class:3,3,1", 2),
    ],
)
def test_target_forms(tmp_path, target, count):
    out = tmp_path / "t"
    assert (
        main(
            [
                "visualize",
                "--model",
                "zoo:vit" if target == "class:all" else "zoo:cnn",
                "--target",
                target,
                "--steps",
                "1",
                "--size",
                "32",
                "--crops",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(json.loads((out / "manifest.json").read_text())["images"]) == count


def test_layers_lists_names_types_and_shapes(capsys):
    assert main(["layers", "--model", "zoo:vit"]) == 0
    out = capsys.readouterr().out
    assert "blocks.3" in out and "65x64" in out and "patch_embed.proj" in out and "Conv2d" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["visualize", "--target", "class:42", "--out", "{out}"], "class 42 is out of range"),
        (["visualize", "--target", "pixel:3", "--out", "{out}"], "unknown target 'pixel:3'"),
        (["visualize", "--target", "class:purple_cow", "--out", "{out}"], "unknown class 'purple_cow'"),
        (["visualize", "--target", "channel:layer9:0", "--out", "{out}"], "no layer named 'layer9'"),
        (["visualize", "--target", "channel:layer2:999", *QUICK, "--out", "{out}"], "channel 999 is out of range"),
        (["visualize", "--model", "zoo:alexnet", "--target", "class:0", "--out", "{out}"], "valid names: cnn, vit"),
        (["visualize", "--target", "class:0", "--steps", "0", "--out", "{out}"], "--steps: must be >= 1"),
        (["layers", "--model", "nosuchscheme:x"], "nosuchscheme"),
        (["visualize", "--target", "class:0", "--crop-size", "0.9,0.5", "--out", "{out}"], "0 < min <= max <= 1"),
        (["visualize", "--target", "class:0", "--crop-size", "half", "--out", "{out}"], "MIN,MAX fractions"),
    ],
)
def test_mistakes_give_one_line_exit_2_and_no_output(tmp_path, capsys, args, words):
    out = tmp_path / "never"
    assert main([a.replace("{out}", str(out)) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    # One line; usage errors add a second, saying where the options are.
    assert words in err and len(err.splitlines()) <= 2 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_console_script_runs_as_a_module(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "phaselens", "visualize", "--target", "class:nope", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown class" in proc.stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    # `phaselens layers | head -1` where head has already gone: the pipe is closed before the
    # command (still importing torch) writes a line.
    proc = subprocess.Popen(
        [sys.executable, "-m", "phaselens", "layers", "--model", "zoo:vit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_demo_builds_sites_and_reports_transferability(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2", "--size", "48", "--crops", "2"]) == 0
    printed = capsys.readouterr().out
    assert "transferability: zoo:cnn visualizations classified as their class by zoo:vit" in printed
    for name in ("zoo_cnn", "zoo_vit"):
        assert (out / name / "site" / "index.html").exists()
        assert len(list((out / name / "targets").glob("*/manifest.json"))) == 10
    page = (out / "index.html").read_text()
    assert "zoo_cnn/site/index.html" in page and "Transferability" in page


@pytest.mark.parametrize(
    "command",
    [
        ["visualize", "--target", "class:0", "--out", "{out}"],
        ["layers"],
        ["lens", "--target", "class:0", "--no-progress", "--out", "{out}"],
    ],
)
def test_every_model_command_refuses_a_missing_weight_file_the_same_way(tmp_path, capsys, command):
    out = tmp_path / "never"
    argv = [a.replace("{out}", str(out)) for a in command] + ["--model", "zoo:cnn", "--weights", "/nonexistent.pt"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "/nonexistent.pt" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_lens_builds_the_model_from_the_preprocessing_flags(tmp_path, capsys):
    out = tmp_path / "lens"
    argv = [
        "lens",
        "--model",
        "zoo:cnn",
        "--input-size",
        "48",
        "--mean",
        "0.4,0.4,0.4",
        "--std",
        "0.3,0.3,0.3",
        "--target",
        "class:0",
        "--steps",
        "2",
        "--size",
        "32",
        "--crops",
        "2",
        "--no-progress",
        "--no-site",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    settings = json.loads((out / "lens.json").read_text())["settings"]
    assert settings["input_size"] == [48, 48] and settings["mean"] == [0.4] * 3 and settings["std"] == [0.3] * 3
    assert main(["layers", "--model", "zoo:cnn", "--input-size", "48"]) == 0
    assert "input 3x48x48" in capsys.readouterr().out

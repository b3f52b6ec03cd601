"""Image files: one list of extensions, two ways to find files that agree, and decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from phaselens.errors import PhaseLensError
from phaselens.imagefiles import (
    EXTENSIONS,
    iter_images,
    list_images,
    load_image,
    load_square,
)


def test_one_sorted_list_of_lowercase_extensions() -> None:
    assert list(EXTENSIONS) == sorted(set(EXTENSIONS))
    assert all(e.startswith(".") and e == e.lower() for e in EXTENSIONS)
    # Everything either finder used to accept is still in the one list.
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"} <= set(EXTENSIONS)


def test_iter_images_and_list_images_find_the_same_files(tmp_path: Path) -> None:
    expected = set()
    for i, ext in enumerate(EXTENSIONS):
        for name in (f"img{i}{ext}", f"UPPER{i}{ext.upper()}"):
            path = tmp_path / f"class{i % 3}" / "nested" / name if i % 2 else tmp_path / f"class{i % 3}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")  # finding files does not decode them
            expected.add(path)
    (tmp_path / "class0" / "notes.txt").write_text("not an image")
    (tmp_path / "class1" / "photo.jpg.bak").write_bytes(b"")
    (tmp_path / "class2" / "raw.cr2").write_bytes(b"")
    (tmp_path / "class0" / "folder.png").mkdir()  # a folder with an image name is no file

    walked = list(iter_images(tmp_path))
    listed = list_images(tmp_path)
    assert set(walked) == expected and len(walked) == len(expected)
    assert {p for p, _ in listed} == expected and len(listed) == len(expected)
    assert [p for p, _ in listed] == sorted(expected)
    assert all(label == p.relative_to(tmp_path).parts[0] for p, label in listed)


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(PhaseLensError, match="no such folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("")
    with pytest.raises(PhaseLensError, match=r"no images found .*\.gif"):
        list_images(tmp_path)


def test_load_image_and_load_square(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "wide.png")
    rgb = load_image(tmp_path / "wide.png", (16, 20), 3)
    gray = load_image(tmp_path / "wide.png", (16, 20), 1)
    assert rgb.shape == (3, 16, 20) and gray.shape == (1, 16, 20) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    sq = load_square(tmp_path / "wide.png", 12)
    assert sq.shape == (12, 12, 3) and sq.dtype == np.float32
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(PhaseLensError, match="cannot read image"):
        load_image(tmp_path / "bad.png", (8, 8), 3)

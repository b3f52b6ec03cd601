"""Compose docs/demo_grid.jpg from a `phaselens demo` folder: per model, a row of class
visualizations and a row of the same with transparency (alpha over white).

Usage: python scripts/readme_figure.py phaselens-demo docs/demo_grid.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from phaselens.io import atomic_write_bytes, make_grid, to_uint8


def load(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255).permute(2, 0, 1)


def main(demo: str, out: str) -> None:
    rows = []
    for model in ("zoo_cnn", "zoo_vit"):
        folders = sorted((Path(demo) / model / "targets").iterdir())
        rows += [load(f / "image.png") for f in folders]
        for f in folders:
            rgba = load(f / "rgba.png")
            rows.append(rgba[:3] * rgba[3:] + (1 - rgba[3:]))  # over white
    import io

    buf = io.BytesIO()
    Image.fromarray(to_uint8(make_grid(torch.stack(rows), ncol=10, pad=3))).save(buf, "JPEG", quality=85)
    atomic_write_bytes(out, buf.getvalue())  # a JPEG keeps the README light


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Tiny random-init models shared by the tests: a CNN and a ViT-like token model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phaselens.model import ImageModel, Preprocess


class TinyCNN(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.act2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.head(self.pool(x).flatten(1))


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(x)


class TinyViT(nn.Module):
    """Patch embedding, a CLS token, two blocks; blocks output (B, 1 + 16, 16)."""

    num_prefix_tokens = 1

    def __init__(self, classes: int = 5, dim: int = 16) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 8, stride=8)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 17, dim) * 0.5)
        self.blocks = nn.Sequential(Block(dim), Block(dim))
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos
        return self.head(self.blocks(t)[:, 0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `gpu` is skipped where CUDA is absent, wherever it is written."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture
def cnn() -> ImageModel:
    torch.manual_seed(0)
    return ImageModel(TinyCNN(), Preprocess((0.5,) * 3, (0.25,) * 3, (32, 32)), [f"c{i}" for i in range(5)], "tiny-cnn")


@pytest.fixture
def vit() -> ImageModel:
    torch.manual_seed(0)
    return ImageModel(TinyViT(), Preprocess((0.5,) * 3, (0.25,) * 3, (32, 32)), name="tiny-vit")


@pytest.fixture
def gray_cnn() -> ImageModel:
    torch.manual_seed(0)
    return ImageModel(TinyCNN(channels=1), Preprocess((0.5,), (0.25,), (32, 32), channels=1), name="tiny-gray")

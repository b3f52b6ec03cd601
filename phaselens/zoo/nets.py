"""The zoo's small architectures, with plain dotted module names.

All take *normalized* images (N, 3, 64, 64) and return logits (N, 10), or
(N, 8) for ``PartsResNet`` (the parts classes);
wrap them with `phaselens.zoo.load` to get an `ImageModel` that takes [0, 1]
images. The layer names are meant to be typed by users of objectives, e.g.
``"layer2.0.conv1"``, ``"blocks.2"``, ``"head"``.

The module is a little longer than 300 lines: the zoo's architectures sit in
one file, so their layer names (which users type) can be read side by side.
"""

from __future__ import annotations

import torch
from torch import nn

# --------------------------------------------------------------------------- #
# cnn: a small residual network
# --------------------------------------------------------------------------- #


class ConvBN(nn.Module):
    """3x3 convolution, batch norm, ReLU.

    Shape:
        - Input: (N, C_in, H, W); Output: (N, C_out, H / stride, W / stride).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs and a (projected) skip, ReLU after the sum.

    Shape:
        - Input: (N, C_in, H, W); Output: (N, C_out, H / stride, W / stride).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        else:
            self.downsample = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class SmallResNet(nn.Module):
    """A residual CNN for 64 x 64 inputs: a stem and three stride-2 stages.

    Layers: ``stem`` (32 x 32) -> ``layer1`` (16 x 16) -> ``layer2`` (8 x 8)
    -> ``layer3`` (4 x 4) -> ``pool`` -> ``flatten`` -> ``head``. Each stage is
    a sequence of `BasicBlock` (``layer2.0.conv1``, ``layer2.0.relu`` ...).

    Shape:
        - Input: (N, 3, 64, 64) normalized; Output: (N, num_classes).
    """

    strides: tuple[int, int, int, int] = (2, 2, 2, 2)  # stem, layer1..3; a subclass may keep a finer grid

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4:
            raise ValueError(f"widths needs 4 entries (stem, layer1..3), got {widths}")
        s = self.strides
        self.stem = ConvBN(3, widths[0], stride=s[0])
        self.layer1 = nn.Sequential(BasicBlock(widths[0], widths[1], s[1]))
        self.layer2 = nn.Sequential(BasicBlock(widths[1], widths[2], s[2]))
        self.layer3 = nn.Sequential(BasicBlock(widths[2], widths[3], s[3]))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: start as identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.head(self.flatten(self.pool(x)))


class PartsResNet(SmallResNet):
    """`SmallResNet` for the parts data (`phaselens.data.ProceduralParts`): a 32 x 32 grid up to the pool.

    Layers as in `SmallResNet`, but only the stem has stride 2:
    ``stem`` (32 x 32) -> ``layer1`` -> ``layer2`` -> ``layer3`` (all 32 x 32; ``layer3`` is
    post-ReLU, the layer for concepts) -> ``pool`` -> ``flatten`` -> ``head``. A ``layer3`` cell sees
    27 x 27 pixels, about one part, and a part covers 8 x 8 to 14 x 14 cells, so concept maps can
    localize a part (the receptive field of the 16 x 16 grid of the first version was 47 pixels:
    every cell saw the neighbouring part too).

    Shape:
        - Input: (N, 3, 64, 64) normalized; Output: (N, num_classes).
    """

    strides = (2, 1, 1, 1)

    def __init__(self, num_classes: int = 8, widths: tuple[int, ...] = (16, 24, 32, 48)) -> None:
        super().__init__(num_classes, widths)


# --------------------------------------------------------------------------- #
# vit: a small vision transformer with a CLS token
# --------------------------------------------------------------------------- #


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens.

    Shape:
        - Input: (N, 3, H, W); Output: (N, (H / p) * (W / p), dim), row-major.
    """

    def __init__(self, patch: int, dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.patch_size = patch
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention.

    Shape:
        - Input and output: (N, T, dim).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class Mlp(nn.Module):
    """Two linear layers with a GELU between.

    Shape:
        - Input: (..., dim); Output: (..., out_dim or dim).
    """

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block.

    Shape:
        - Input and output: (N, T, dim), prefix (CLS) token first.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SmallViT(nn.Module):
    """A ViT: 8 x 8 patches, a CLS token, learned positions, pre-norm blocks.

    Layers: ``patch_embed`` -> (prepend ``cls_token``, add ``pos_embed``)
    -> ``blocks.0`` .. ``blocks.{depth-1}`` -> ``norm`` -> ``head`` on the CLS token.
    Every block outputs (N, 1 + 64, dim) with the CLS token first
    (``num_prefix_tokens = 1``; patch tokens row-major on an 8 x 8 grid).

    Shape:
        - Input: (N, 3, 64, 64) normalized; Output: (N, num_classes).
    """

    num_prefix_tokens = 1

    def __init__(
        self,
        num_classes: int = 10,
        img_size: int = 64,
        patch: int = 8,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        self.grid_size = (img_size // patch, img_size // patch)
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid_size[0] * self.grid_size[1], dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[:, 0])


# --------------------------------------------------------------------------- #
# mixer: an MLP-Mixer
# --------------------------------------------------------------------------- #


class MixerBlock(nn.Module):
    """Token-mixing MLP (across patches) then channel-mixing MLP (per patch).

    Shape:
        - Input and output: (N, T, dim).
    """

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mix = Mlp(tokens, token_hidden)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mix = Mlp(dim, channel_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mix(self.norm2(x))


class SmallMixer(nn.Module):
    """An MLP-Mixer: 8 x 8 patches, no attention, no prefix token.

    Layers: ``stem`` (patch embedding) -> ``blocks.0`` .. ``blocks.{depth-1}``
    -> ``norm`` -> mean over tokens -> ``head``. Every block outputs
    (N, 64, dim), tokens row-major on an 8 x 8 grid (``num_prefix_tokens = 0``).

    Shape:
        - Input: (N, 3, 64, 64) normalized; Output: (N, num_classes).
    """

    num_prefix_tokens = 0

    def __init__(
        self,
        num_classes: int = 10,
        img_size: int = 64,
        patch: int = 8,
        dim: int = 64,
        depth: int = 4,
        token_hidden: int = 64,
        channel_hidden: int = 128,
    ) -> None:
        super().__init__()
        self.grid_size = (img_size // patch, img_size // patch)
        tokens = self.grid_size[0] * self.grid_size[1]
        self.stem = PatchEmbed(patch, dim)
        self.blocks = nn.Sequential(*[MixerBlock(tokens, dim, token_hidden, channel_hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x).mean(1))


# The zoo's one list of models: `phaselens.zoo.NAMES` and the training recipes follow it.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "cnn": SmallResNet,
    "vit": SmallViT,
    "mixer": SmallMixer,
    "parts": PartsResNet,
}

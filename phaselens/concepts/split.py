"""Splitting a classifier f = h ∘ g at a layer, for concept explanations (CRAFT).

g maps [0, 1] images to (N, h, w, D) channels-last activations (CNN maps; the patch tokens of token layers
on their grid, prefix/CLS tokens kept in `Activations.prefix`); h maps them back to the logits exactly,
``h(g(x)) == model(x)``: the model runs on a grey dummy image with a hook that swaps the layer's output in,
which needs a *cut* (the rest reads only that output: checked). Where the rest is global average pooling +
a linear map (checked: h is affine and equals ``mean over positions @ Wᵀ + b``) h is that matmul.

Default layer: layers are tried from the end of the forward pass (timm's `feature_info` stages, then block
outputs, then other top-level layers); the first that can be split and whose positions reach the logits
wins. CNNs get their last stage (``layer3`` of zoo:cnn, ``layer4`` of a timm ResNet). A ViT whose head
reads only the CLS token after the last block gets the *input* of the last block (``blocks.2`` of zoo:vit,
``blocks.10`` of timm's): patch tokens after it change nothing. If h is not affine there, a later layer
with a pooling + linear h wins (the final ``norm`` of an MLP-Mixer): Gradient × Input is exact there.

The module is a little longer than 300 lines: the default-layer search runs the split's own checks on
every candidate, so the two live in one file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import PhaseLensError
from ..features.capture import StopForward, first_tensor, get_layer
from ..features.layout import Layout, cached_layouts, declared_channels
from ..features.probe import dry_run
from ..features.reader import spatial
from ..model import ImageModel, as_image_model, frozen, model_device_dtype

MAX_CANDIDATES = 32  # default-layer search: most layers tried, from the end
SEQUENCES = (nn.Sequential, nn.ModuleList)
_RTOL = 1e-4


@dataclass
class Activations:
    """Activations of a batch at the split layer: `maps` (N, h, w, D), one D-vector per position, and for a
    token layer with a CLS token its `prefix` tokens (N, P, D), which h needs (else None)."""

    maps: torch.Tensor
    prefix: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.maps.shape[0]

    def with_maps(self, maps: torch.Tensor) -> Activations:
        """The same prefix with other maps (e.g. a reconstruction); a prefix is repeated to k·N rows."""
        prefix = self.prefix
        if prefix is not None and maps.shape[0] != prefix.shape[0]:
            prefix = prefix.repeat_interleave(maps.shape[0] // prefix.shape[0], dim=0)
        return Activations(maps, prefix)


def _cut_error(model: ImageModel, layer: str, why: str) -> PhaseLensError:
    return PhaseLensError(f"layer {layer!r} of {model.name} cannot be split: {why}")


def _close(a: torch.Tensor, b: torch.Tensor, tol: float) -> bool:
    return a.shape == b.shape and bool(((a - b).abs() <= tol).all())


class Split:
    """f = h ∘ g at one layer of an `ImageModel`; make it with `split_model`.

    Attributes:
        model: the `ImageModel`; layer: the dotted layer name in ``model.net``; layout: its `Layout`.
        grid: (h, w) spatial grid; channels: D, the activation size per position.
        prefix_tokens: P, tokens before the patches (0 for maps).
        nonnegative: whether the activations were ≥ 0 on probe images (post-ReLU): NMF applies.
        head: (W (classes, D), b (classes,)) when h is global average pooling + a linear map, else None.
    """

    def __init__(self, model: ImageModel, layer: str, layout: Layout) -> None:
        self.model, self.layer, self.layout = model, layer, layout
        self._module = get_layer(model.net, layer)
        self.grid, self.channels, self.nonnegative = (1, 1), 0, False
        self.prefix_tokens = layout.prefix_tokens if layout.kind == "tokens" else 0
        self.head: tuple[torch.Tensor, torch.Tensor] | None = None
        self._batch1 = True  # h's dummy image runs as one image; the hook swaps in all N rows
        device, dtype = model_device_dtype(model)
        self._dummy = torch.full((1, model.channels, *model.input_size), 0.5, device=device, dtype=dtype)

    def __repr__(self) -> str:
        kind = "pool+linear" if self.head is not None else "generic"
        return f"Split({self.model.name}, layer={self.layer!r}, grid={self.grid}, D={self.channels}, h={kind})"

    @property
    def affine(self) -> bool:
        """Whether h is global average pooling + a linear head (the fast path)."""
        return self.head is not None

    def _native(self, A: Activations) -> torch.Tensor:
        """Maps back in the layer's own layout (channels first, last, or tokens with the prefix)."""
        maps = A.maps
        if self.layout.kind != "tokens":
            return maps.permute(0, 3, 1, 2).contiguous() if self.layout.kind == "nchw" else maps
        tokens = maps.reshape(maps.shape[0], -1, maps.shape[-1])
        if not self.prefix_tokens:
            return tokens
        if A.prefix is None or A.prefix.shape[0] != maps.shape[0]:
            why = f"{self.prefix_tokens} prefix (CLS) token(s): give h the Activations from g, or prefix= (N, P, D)"
            raise PhaseLensError(f"layer {self.layer!r} has {why}")
        return torch.cat([A.prefix.to(tokens), tokens], dim=1)

    def g(self, x: torch.Tensor) -> Activations:
        """Images (N, C, H, W) in [0, 1] to activations at the layer, differentiable; the pass stops there."""
        return self._run(x, need_logits=False)[0]

    def forward(self, x: torch.Tensor) -> tuple[Activations, torch.Tensor]:
        """One full pass: the activations and the model's logits (N, classes)."""
        A, logits = self._run(x, need_logits=True)
        assert logits is not None
        return A, logits

    def _run(self, x: torch.Tensor, need_logits: bool) -> tuple[Activations, torch.Tensor | None]:
        seen: list[torch.Tensor] = []

        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            seen.append(first_tensor(out))
            if not need_logits:
                raise StopForward

        logits = None
        with self._hooked(hook), contextlib.suppress(StopForward):
            logits = first_tensor(self.model(x))
        if not seen:
            raise _cut_error(self.model, self.layer, "it did not run in the forward pass")
        if need_logits and len(seen) > 1:
            raise _cut_error(self.model, self.layer, f"it runs {len(seen)} times per forward pass")
        t = seen[0].clone() if need_logits else seen[0]  # later in-place ops (ReLU(inplace)) must not touch it
        prefix = t[:, : self.prefix_tokens] if self.prefix_tokens else None
        return Activations(spatial(t, self.layout).permute(0, 2, 3, 1), prefix), logits

    def activations(self, x: torch.Tensor, batch: int = 64) -> Activations:
        """`g` without gradients, in batches of `batch` images moved to the model's device; contiguous maps."""
        parts = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                A = self.g(x[i : i + batch].to(self._dummy))
                parts.append((A.maps.contiguous(), A.prefix))
        prefix = [p for _, p in parts if p is not None]
        return Activations(torch.cat([m for m, _ in parts]), torch.cat(prefix) if prefix else None)

    def h(self, A: Activations | torch.Tensor, prefix: torch.Tensor | None = None, fast: bool = True) -> torch.Tensor:
        """Activations at the layer to logits, differentiable and exact: ``h(g(x)) == model(x)``.

        Args:
            A: `Activations` (from `g`, or `Activations.with_maps`), or bare maps (N, h, w, D).
            prefix: prefix tokens (N, P, D) for bare maps of a token layer with a CLS token.
            fast: use the pooling + linear head when there is one (`head`); False runs the network.

        Shape:
            - A: (N, h, w, D); output: (N, classes).
        """
        A = Activations(A, prefix) if isinstance(A, torch.Tensor) else A
        if A.maps.ndim != 4 or tuple(A.maps.shape[1:]) != (*self.grid, self.channels):
            raise PhaseLensError(
                f"h at {self.layer!r} takes maps (N, {self.grid[0]}, {self.grid[1]}, {self.channels}); "
                f"got {tuple(A.maps.shape)}"
            )
        if fast and self.head is not None:
            return A.maps.mean((1, 2)) @ self.head[0].to(A.maps).T + self.head[1].to(A.maps)
        return self._rest(self._native(A))

    def _rest(self, t: torch.Tensor, batch1: bool | None = None) -> torch.Tensor:
        """The network after the layer on a native-layout tensor (the hook swaps it in)."""
        one = self._batch1 if batch1 is None else batch1
        dummy = self._dummy if one else self._dummy.expand(t.shape[0], *self._dummy.shape[1:])
        with self._hooked(lambda _m, _i, _o: t):
            return first_tensor(self.model(dummy))

    @contextlib.contextmanager
    def _hooked(self, hook: Any) -> Iterator[None]:
        """The frozen model with a forward hook on the layer."""
        handle = self._module.register_forward_hook(hook)
        try:
            with frozen(self.model):
                yield
        finally:
            handle.remove()

    def _check(self) -> None:
        """On two random images: grid and channels, h(g(x)) == f(x), sensitivity, sign, the pooled head."""
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(2, *self._dummy.shape[1:], generator=gen).to(self._dummy)
        with torch.no_grad():
            A, logits = self.forward(x)
            self.grid, self.channels = (A.maps.shape[1], A.maps.shape[2]), A.maps.shape[3]
            tol = _RTOL * (1 + float(logits.abs().max()))
            ok = False
            with contextlib.suppress(Exception):  # the one-image dummy fails in some nets: full batch then
                ok = _close(self._rest(self._native(A), batch1=True), logits, tol)
            self._batch1 = ok
            if not ok and not _close(self._rest(self._native(A), batch1=False), logits, tol):
                why = "the rest of the network also reads earlier tensors (a skip connection around it)"
                raise _cut_error(self.model, self.layer, why + "; choose a block or stage output")
            noise = torch.randn(A.maps.shape, generator=gen).to(A.maps) * A.maps.std().clamp_min(1e-3)
            moved = self._rest(self._native(A.with_maps(A.maps + noise)))
            if not float((moved - logits).abs().max()) > 1e-6 * (1 + float(logits.abs().max())):
                why = "the logits do not depend on its positions (the head reads only the prefix/CLS token after it)"
                raise _cut_error(self.model, self.layer, why + "; use the input of the last block")
            self.nonnegative = bool((A.maps >= 0).all())
            if self.prefix_tokens == 0 and logits.ndim == 2:
                self.head = self._pooled_head(A.maps, tol, gen)

    def _pooled_head(self, maps: torch.Tensor, tol: float, gen: torch.Generator) -> tuple | None:
        """(W, b) with h(A) = mean_positions(A) @ Wᵀ + b exactly, or None when h is not of that form."""
        a, c = (torch.randn(2, *maps.shape[1:], generator=gen) * float(maps.abs().mean().clamp_min(1e-3))).to(maps)
        ya, yc, yac, y2a, y0 = self._rest(self._native(Activations(torch.stack([a, c, a + c, 2 * a, 0 * a]))))
        if not (_close(yac + y0, ya + yc, tol) and _close(y2a + y0, 2 * ya, tol)):
            return None  # not affine
        D, cols = maps.shape[-1], []
        for i in range(0, D, 64):  # a unit channel everywhere pools to 1, so h − b is W's column
            eye = torch.eye(D, dtype=maps.dtype, device=maps.device)[i : i + 64, None, None, :]
            cols.append(self._rest(self._native(Activations(eye.expand(-1, *maps.shape[1:])))))
        W = (torch.cat(cols) - y0).T.contiguous()
        pooled = torch.stack([a, c]).mean((1, 2)) @ W.T + y0
        return (W, y0.clone()) if _close(pooled, torch.stack([ya, yc]), tol) else None


def _layout(model: ImageModel, layer: str) -> Layout:
    """The layer's layout, or the one-line reason it cannot be split."""
    get_layer(model.net, layer)  # an unknown name fails with the closest names
    layout = cached_layouts(model, [layer]).get(layer)
    if layout is None:
        raise _cut_error(model, layer, "it did not run in the forward pass (or output no floating tensor)")
    if layout.kind == "vector":
        raise _cut_error(model, layer, "its output has no spatial or token layout; take a layer before pooling")
    if layout.kind == "unsupported" or (layout.kind == "tokens" and layout.grid is None):
        raise _cut_error(model, layer, layout.note or "its tokens do not fill a patch grid")
    return layout


def _candidates(model: ImageModel) -> tuple[list[str], dict[str, int]]:
    """Possible default layers, last first (feature_info stages, block outputs, other layers), and when each
    completes in the forward pass. Layers with the same output tensor count once: as the stage for maps
    (``layer3``, not ``layer3.0``), the block for tokens (``blocks.3``, not ``blocks``). Only top-level modules
    and children of sequences count: the insides of a block are bypassed by its skip connection."""
    order: list[tuple[str, int, tuple[int, ...]]] = []
    keep: list[torch.Tensor] = []  # alive until the end, so ids stay unique

    def post(name: str):
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                keep.append(out)
                order.append((name, id(out), tuple(out.shape)))

        return hook

    modules = dict(model.net.named_modules())
    dry_run(model, [(m, "post", post(n)) for n, m in modules.items() if n])
    layouts, shapes = cached_layouts(model, [n for n, _, _ in order]), {n: s for n, _, s in order}

    def usable(name: str) -> bool:
        lay, shape, parent = layouts.get(name), shapes[name], modules.get(name.rpartition(".")[0])
        if lay is None or lay.kind not in ("nchw", "nhwc", "tokens"):
            return False
        grid = lay.grid if lay.kind == "tokens" else shape[2:4] if lay.kind == "nchw" else shape[1:3]
        return grid is not None and grid[0] * grid[1] > 1 and ("." not in name or isinstance(parent, SEQUENCES))

    groups: dict[int, list[str]] = {}
    for name, tid, _ in order:
        groups.setdefault(tid, []).append(name)
    declared = [n for n in declared_channels(model.net) if n in shapes and usable(n)]
    blocks, leaves = [], []
    for names in groups.values():  # in order of first completion
        ok = [n for n in names if usable(n)]
        containers = [n for n in ok if next(modules[n].children(), None) is not None]
        if containers:  # the block, not the list of blocks, for tokens; the outermost (the stage) for maps
            blocks.append(containers[0] if layouts[ok[0]].kind == "tokens" else containers[-1])
        elif ok:
            leaves.append(ok[-1])
    rest = [n for n in blocks[::-1] + leaves[::-1] if n not in declared]
    return declared[::-1] + rest, {name: i for i, (name, _, _) in enumerate(order)}


def _make(model: ImageModel, layer: str) -> Split:
    split = Split(model, layer, _layout(model, layer))
    split._check()
    return split


def _default(model: ImageModel) -> Split:
    """The first candidate that can be split, or a later one where h is pooling + linear."""
    candidates, done = _candidates(model)
    found: Split | None = None
    for name in candidates[:MAX_CANDIDATES]:
        if found is not None and (found.affine or done[name] < done[found.layer]):
            continue  # past the first good block, only a later layer with an affine h can win
        with contextlib.suppress(PhaseLensError):
            split = _make(model, name)
            found = split if found is None or split.affine else found
    if found is None:
        raise PhaseLensError(
            f"found no layer of {model.name} to split by default (a block output with a spatial or token grid "
            "that reaches the logits); give layer= (list them with `phaselens layers`)"
        )
    return found


def split_model(model: nn.Module, layer: str | None = None) -> Split:
    """Split a classifier f = h ∘ g at `layer` (see the module docstring for the default).

    Args:
        model: an `ImageModel` (or a module `as_image_model` wraps).
        layer: dotted module name in ``model.net``; None picks the default layer.

    Returns:
        The `Split`, remembered on the model until its weights change (in-place updates count).

    Raises:
        PhaseLensError: unknown layer (with the closest names), or one that cannot be split: not run,
            run more than once, no spatial or token layout, bypassed by a skip connection, or with no
            influence of its spatial positions on the logits.

    Example:
        >>> import phaselens as pl
        >>> split = split_model(pl.load_model("zoo:cnn"))
        >>> split.layer, split.grid, split.channels, split.nonnegative, split.affine
        ('layer3', (4, 4), 128, True, True)
    """
    im = as_image_model(model)
    device, dtype = model_device_dtype(im)
    versions = sum(p._version for p in im.parameters())  # changes with every in-place weight update
    cache = im.__dict__.setdefault("_phaselens_splits", {})
    key = (layer, tuple(im.input_size), im.channels, str(device), str(dtype), versions)
    if key not in cache:
        cache[key] = _default(im) if layer is None else _make(im, layer)
        cache[(cache[key].layer,) + key[1:]] = cache[key]
    return cache[key]


__all__ = ["Activations", "Split", "split_model"]

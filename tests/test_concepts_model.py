"""The model-facing half of phaselens.concepts: split, bank, extract, importance, maps.

Exactness against the model itself (h(g(x)) == f(x) on the zoo and random-init timm models), against
planted answers (a toy model whose activations are the image colours and whose head is known), and against
finite differences (pixel-level maps through the NNLS solution).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

import phaselens as pl
from phaselens.concepts import (
    ConceptBank,
    concept_maps,
    crop_activations,
    crop_boxes,
    default_patch,
    extract,
    extract_many,
    importance,
    load_banks,
    save_banks,
    split_model,
    top_crops,
    transform,
)
from phaselens.data import make_batch
from phaselens.errors import PhaseLensError
from phaselens.model import ImageModel, Preprocess

DEFAULTS = {"cnn": "layer3", "vit": "blocks.2", "mixer": "norm"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small problems: with a second thread, waiting on a busy core costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def zoo() -> dict[str, ImageModel]:
    return {name: pl.load_model(f"zoo:{name}") for name in DEFAULTS}


@pytest.fixture(scope="module")
def shapes() -> tuple[torch.Tensor, torch.Tensor]:
    return make_batch(80)


@pytest.fixture(scope="module")
def timm_models() -> dict[str, ImageModel]:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return {
        name: pl.as_image_model(timm.create_model(name, pretrained=False)).eval()
        for name in ("resnet18", "vit_tiny_patch16_224")
    }


def toy(weights: list[list[float]], bias: list[float], side: int = 64, cell: int = 8) -> ImageModel:
    """Activations = the mean colour of each cell x cell block; logits = a known linear map of their mean."""
    head = nn.Linear(3, len(weights))
    with torch.no_grad():
        head.weight.copy_(torch.tensor(weights))
        head.bias.copy_(torch.tensor(bias))
    net = nn.Sequential(
        OrderedDict(feat=nn.AvgPool2d(cell), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), head=head)
    )
    return ImageModel(net, Preprocess((0.0,) * 3, (1.0,) * 3, (side, side)), name="toy").eval()


# --------------------------------------------------------------------------- split


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_h_of_g_is_the_zoo_model(zoo, shapes, name):
    model, x = zoo[name], shapes[0][:6]
    split = split_model(model)
    assert split.layer == DEFAULTS[name]
    with torch.no_grad():
        A = split.g(x)
        assert A.maps.shape == (6, *split.grid, split.channels)
        assert torch.allclose(split.h(A), model(x), atol=1e-5)
        assert torch.allclose(split.h(A, fast=False), model(x), atol=1e-5)


def test_h_of_g_is_the_timm_model(timm_models):
    expected = {"resnet18": ("layer4", (7, 7), 512, True, True), "vit_tiny_patch16_224": ("blocks.10", (14, 14), 192)}
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for name, model in timm_models.items():
        split = split_model(model)
        got = (split.layer, split.grid, split.channels, split.nonnegative, split.affine)
        assert got[: len(expected[name])] == expected[name], name
        with torch.no_grad():
            assert torch.allclose(split.h(split.g(x)), model(x), atol=1e-4), name
    assert split.prefix_tokens == 1 and not split.affine  # the ViT keeps its CLS token aside


def test_fast_and_generic_h_agree_on_any_activations(zoo, timm_models):
    gen = torch.Generator().manual_seed(0)
    for model in (zoo["cnn"], zoo["mixer"], timm_models["resnet18"]):
        split = split_model(model)
        assert split.affine
        A = torch.randn(3, *split.grid, split.channels, generator=gen).abs() * 2
        with torch.no_grad():
            assert torch.allclose(split.h(A), split.h(A, fast=False), atol=1e-4)
    net = zoo["cnn"].net  # the head in the layer's space: for the CNN, exactly its linear layer
    W, b = split_model(zoo["cnn"]).head
    assert torch.allclose(W, net.head.weight, atol=1e-5) and torch.allclose(b, net.head.bias, atol=1e-5)


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_default_layer_reaches_the_logits(zoo, shapes, name):
    split = split_model(zoo[name])
    with torch.no_grad():
        A = split.g(shapes[0][:4])
        moved = split.h(A.with_maps(A.maps + 0.5 * A.maps.std() * torch.randn_like(A.maps)), fast=False)
        assert (moved - split.h(A)).abs().max() > 1e-3


def test_the_last_vit_block_is_refused_its_input_is_the_default(zoo):
    with pytest.raises(PhaseLensError, match=r"blocks\.3.*do not depend on its positions.*input of the last block"):
        split_model(zoo["vit"], "blocks.3")
    assert split_model(zoo["vit"]).layer == "blocks.2"


def test_layers_that_cannot_be_split(zoo):
    cnn = zoo["cnn"]
    with pytest.raises(PhaseLensError, match="no layer named .layer3.0.conv. in SmallResNet; closest: .*conv1"):
        split_model(cnn, "layer3.0.conv")
    with pytest.raises(PhaseLensError, match="'head'.*no spatial or token layout"):
        split_model(cnn, "head")
    with pytest.raises(PhaseLensError, match="'layer3.0.conv1'.*skip connection"):
        split_model(cnn, "layer3.0.conv1")

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act, self.unused = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.act(self.act(self.conv(x))).mean((2, 3)))

    odd = ImageModel(Odd(), Preprocess(input_size=(16, 16))).eval()
    with pytest.raises(PhaseLensError, match="'unused'.*did not run"):
        split_model(odd, "unused")
    with pytest.raises(PhaseLensError, match="'act'.*runs 2 times"):
        split_model(odd, "act")
    for err in ("did not run", "runs 2 times"):  # one line each
        with pytest.raises(PhaseLensError, match=err) as info:
            split_model(odd, "unused" if err == "did not run" else "act")
        assert "\n" not in str(info.value)


def test_splits_are_remembered_until_the_weights_change():
    model = toy([[1.0, 0.0, 0.0]], [0.0])
    first = split_model(model)
    assert first.layer == "feat" and split_model(model) is first and split_model(model, "feat") is first
    with torch.no_grad():
        model.net.head.weight.mul_(2)
    renewed = split_model(model)
    assert renewed is not first and float(renewed.head[0][0, 0]) == pytest.approx(2.0)


# --------------------------------------------------------------------------- bank


def test_bank_round_trips_through_safetensors(tmp_path):
    bank = ConceptBank(
        torch.rand(4, 6), "layer3", 2, "pca", "positions", {"rank": 4, "patch": None}, {"error": 0.1}, torch.rand(6)
    )
    back = ConceptBank.load(bank.save(tmp_path / "b.safetensors"))
    assert torch.equal(back.W, bank.W) and torch.equal(back.mean, bank.mean) and back.rank == 4
    assert (back.layer, back.class_id, back.method, back.on) == ("layer3", 2, "pca", "positions")
    assert back.settings == bank.settings and back.metrics == bank.metrics
    many = load_banks(save_banks([bank, ConceptBank(torch.eye(2, 6), "layer3")], tmp_path / "all.safetensors"))
    assert [b.rank for b in many] == [4, 2] and many[1].mean is None and torch.equal(many[0].W, bank.W)
    with pytest.raises(PhaseLensError, match="use load_banks"):
        ConceptBank.load(tmp_path / "all.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(PhaseLensError, match="not a readable safetensors file"):
        ConceptBank.load(tmp_path / "bad.safetensors")
    with pytest.raises(PhaseLensError, match="method must be one of"):
        ConceptBank(torch.eye(2), "x", method="kmeans")


# --------------------------------------------------------------------------- extract


def test_crops_follow_craft(zoo, shapes):
    assert (default_patch(224), default_patch(64)) == (64, 18)
    for side in (64, 224):
        assert len(crop_boxes(1, side, side, default_patch(side))) == 16
    images, labels = shapes
    x = images[labels == 3][:5]
    bank = extract(zoo["cnn"], x, rank=6, class_id=3)
    assert bank.on == "crops" and bank.method == "nmf" and bank.metrics["rows"] == 5 * 16
    assert bank.settings["patch"] == 18 and bank.settings["stride"] == 14 and bank.W.shape == (6, 128)
    assert bool((bank.W >= 0).all()) and torch.allclose(bank.W.norm(dim=1), torch.ones(6))
    again = extract(zoo["cnn"], x, rank=6, class_id=3)
    assert torch.equal(again.W, bank.W)  # deterministic


def test_positions_and_auto_method(zoo, shapes):
    x = shapes[0][:4]
    bank = extract(zoo["vit"], x, rank=5, on="positions")
    assert bank.method == "semi_nmf" and bank.metrics["rows"] == 4 * 64 and bank.layer == "blocks.2"
    pca = extract(zoo["cnn"], x, rank=3, on="positions", method="pca")
    assert pca.mean is not None and pca.metrics["rows"] == 4 * 16


def test_many_classes_in_one_factorization_get_what_each_gets_alone(zoo, shapes):
    images, labels = shapes
    batches = [images[labels == c][: 3 + c] for c in (1, 2, 5)]
    banks = extract_many(zoo["cnn"], batches, [1, 2, 5], rank=4)
    for bank, x, c in zip(banks, batches, (1, 2, 5)):
        alone = extract(zoo["cnn"], x, rank=4, class_id=c)
        assert bank.class_id == c and bank.metrics["images"] == len(x)
        assert torch.allclose(bank.W, alone.W, atol=1e-4)


def test_crop_forwards_can_be_shared_by_extract_and_top_crops(zoo, shapes):
    x = shapes[0][:3]
    split = split_model(zoo["cnn"])
    crops = crop_activations(split, x)
    shared = extract_many(zoo["cnn"], [x], [None], rank=3, rows=[crops[0]])[0]
    assert torch.equal(shared.W, extract(zoo["cnn"], x, rank=3).W)
    fresh, boxes = top_crops(shared, zoo["cnn"], x, k=4)
    again, same_boxes = top_crops(shared, zoo["cnn"], x, k=4, crops=crops)
    assert torch.equal(fresh, again) and torch.equal(boxes, same_boxes) and fresh.shape == (3, 4)
    top = int(fresh[0, 0])  # the strongest crop of concept 0 has the largest coefficient of it
    assert float(shared.transform(crops[0])[top, 0]) == float(shared.transform(crops[0])[:, 0].max())


def test_extract_refuses_bad_input_in_one_line(zoo, shapes):
    cnn, x = zoo["cnn"], shapes[0][:2]
    cases = [
        (lambda: extract(cnn, x, rank=0), "rank must be an integer ≥ 1"),
        (lambda: extract(cnn, x, rank=40), "32 crops .* too few for rank 40"),
        (lambda: extract(cnn, x[:, :1]), r"\(N, 3, H, W\)"),
        (lambda: extract(cnn, x[0]), r"\(N, 3, H, W\)"),
        (lambda: extract(cnn, x * 2 - 1), r"must be in \[0, 1\]"),
        (lambda: extract(cnn, (x * 255).to(torch.uint8)), "must be float"),
        (lambda: extract(cnn, x[:, :, :32], on="positions"), "are 32x64 but zoo:cnn takes 64x64"),
        (lambda: extract(cnn, x, on="patches"), "on must be one of crops, positions"),
        (lambda: extract(cnn, x, method="ica"), "method must be auto or one of"),
        (lambda: extract_many(cnn, [], []), "empty list"),
        (lambda: extract_many(cnn, [x], [None], rows=[torch.rand(5, 7)]), r"rows must be one \(M_k, 128\) matrix"),
        (lambda: extract(cnn, x.numpy()), "must be a torch tensor"),
    ]
    for call, match in cases:
        with pytest.raises(PhaseLensError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- importance


def test_importance_ranks_known_contributions():
    """Concepts = colour channels, head weights 3, 1, 0.2: both methods rank red > green > blue."""
    model = toy([[3.0, 1.0, 0.2], [0.0, 0.0, 1.0]], [0.5, 0.0])
    x = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    bank = ConceptBank(torch.eye(3), "feat", class_id=0)
    gi = importance(bank, model, x)
    u = torch.nn.functional.avg_pool2d(x, 8).mean((2, 3))  # (N, 3) pooled coefficients
    assert torch.allclose(gi.per_image, u * torch.tensor([3.0, 1.0, 0.2]), atol=1e-5)
    assert torch.allclose(gi.bias, torch.full((12,), 0.5)) and torch.allclose(gi.residual, torch.zeros(12), atol=1e-5)
    sobol = importance(bank, model, x, method="sobol")
    for imp in (gi, sobol):
        assert imp.order().tolist() == [0, 1, 2] and imp.per_image.shape == (12, 3)
    assert float(sobol.share.sum()) == pytest.approx(1.0)
    assert torch.allclose(gi.share, gi.per_image.mean(0) / gi.logits.mean())


def test_gradient_input_is_exact_on_the_zoo_cnn(zoo, shapes):
    images, labels = shapes
    x = images[labels == 3][:6]
    bank = extract(zoo["cnn"], x, rank=5, class_id=3)
    imp = importance(bank, zoo["cnn"], x)
    with torch.no_grad():
        assert torch.allclose(imp.logits, zoo["cnn"](x)[:, 3], atol=1e-5)
    assert torch.allclose(imp.per_image.sum(1) + imp.bias, imp.recon_logits, atol=1e-4)
    assert torch.allclose(imp.residual, imp.logits - imp.recon_logits) and float(imp.residual.abs().max()) > 0
    assert float(1 - imp.share.sum()) == pytest.approx(float((imp.bias + imp.residual).mean() / imp.logits.mean()))


def test_generic_h_gives_the_fast_paths_importance(zoo, shapes):
    """The autograd and batched-Sobol paths (used for token models) agree with the closed forms."""
    x = shapes[0][:4]
    split = split_model(zoo["cnn"])
    generic = copy.copy(split)
    generic.head = None
    bank = extract(zoo["cnn"], x, rank=3, class_id=1, split=split)
    for method in ("gradient_input", "sobol"):
        fast = importance(bank, zoo["cnn"], x, method=method, split=split, n=8)
        slow = importance(bank, zoo["cnn"], x, method=method, split=generic, n=8, batch=3)
        assert torch.allclose(fast.per_image, slow.per_image, atol=1e-4), method


def test_importance_on_a_token_model_keeps_the_cls_token(zoo, shapes):
    x = shapes[0][:3]
    bank = extract(zoo["vit"], x, rank=3, class_id=2, on="positions")
    imp = importance(bank, zoo["vit"], x, method="sobol", n=8)
    assert imp.per_image.shape == (3, 3) and bool((imp.per_image >= 0).all())
    with pytest.raises(PhaseLensError, match="give importance"):
        importance(ConceptBank(bank.W, bank.layer), zoo["vit"], x)


# --------------------------------------------------------------------------- maps


def planted(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Blue images with a red 16 x 16 square at a random place on the 8 px grid."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 3, 64, 64)
    x[:, 2] = 1
    corners = []
    for i in range(n):
        y0, x0 = (int(v) * 8 for v in torch.randint(0, 7, (2,), generator=gen))
        x[i, :, y0 : y0 + 16, x0 : x0 + 16] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
        corners.append((y0, x0))
    return x, corners


def test_a_planted_concept_lands_where_it_was_planted():
    model = toy([[1.0, 0.0, 0.0]], [0.0])
    x, corners = planted()
    bank = extract(model, x, rank=2, on="positions", class_id=0)
    red = int(bank.W[:, 0].argmax())
    maps = concept_maps(bank, model, x)
    assert maps.shape == (6, 2, 64, 64) and bool((maps >= 0).all())
    for i, (y0, x0) in enumerate(corners):
        m = maps[i, red]
        inside = torch.zeros_like(m, dtype=torch.bool)
        inside[y0 : y0 + 16, x0 : x0 + 16] = True
        assert inside.flatten()[int(m.argmax())] and float(m[inside].mean()) > 10 * float(m[~inside].mean())
    indices, boxes = top_crops(bank, model, x, k=3)
    assert indices.shape == (2, 3) and boxes.shape == (6 * 16, 5)
    assert bool((bank.transform(torch.tensor([[1.0, 0, 0]]))[0, red] > 0).all())


def test_concept_maps_of_the_zoo_are_non_negative(zoo, shapes):
    x = shapes[0][:4]
    bank = extract(zoo["cnn"], x, rank=4)
    maps = concept_maps(bank, zoo["cnn"], x)
    assert maps.shape == (4, 4, 64, 64) and bool((maps >= 0).all()) and float(maps.max()) > 0
    pixel = concept_maps(bank, zoo["cnn"], x, pixel=True)
    assert pixel.shape == maps.shape and bool(pixel.isfinite().all())


def test_pixel_maps_match_finite_differences_through_nnls():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(feat=nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.Softplus(), nn.AvgPool2d(4))))
    net.append(nn.AdaptiveAvgPool2d(1)).append(nn.Flatten()).append(nn.Linear(5, 2))
    model = ImageModel(net.double(), Preprocess((0.0,) * 3, (1.0,) * 3, (8, 8)), name="tiny").eval()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bank = ConceptBank(torch.rand(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2)), "feat")
    split = split_model(model, "feat")
    pixel = concept_maps(bank, model, x, pixel=True, split=split)
    # Σ_positions u_c(x ± eps e_k) for every pixel-channel k at once, by the exact NNLS solver
    eps, k = 1e-6, x.numel()
    steps = torch.eye(k, dtype=torch.float64).reshape(k, *x.shape[1:]) * eps
    with torch.no_grad():
        totals = [transform(split.g(x + s * steps).maps, bank.W).sum((1, 2)) for s in (1, -1)]
    grad = ((totals[0] - totals[1]) / (2 * eps)).T.reshape(3, *x.shape[1:])  # (R, C, H, W)
    expected = (grad * x[0]).sum(1)  # Gradient × Input, summed over colour channels
    u = transform(split.g(x).maps, bank.W)
    assert bool((u == 0).any()) and bool((u > 0).any())  # a real active set: some coefficients at zero
    assert torch.allclose(pixel[0], expected, atol=1e-6)

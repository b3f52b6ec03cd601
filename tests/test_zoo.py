"""The model zoo: shipped weights load, classify fresh procedural images, and
unknown names fail clearly."""

from __future__ import annotations

import pytest
import torch

from phaselens import zoo
from phaselens.data import CLASS_NAMES, make_batch
from phaselens.errors import PhaseLensError
from phaselens.model import ImageModel

# Seed 2024 is neither the training (1), validation (2) nor report (3) seed.
FRESH_SEED = 2024
# The models of the ten shape classes; zoo:parts has its own classes (tests/test_parts.py).
SHAPE_MODELS = tuple(n for n in zoo.NAMES if zoo.class_names(n) == CLASS_NAMES)


@pytest.fixture(scope="module")
def fresh() -> tuple[torch.Tensor, torch.Tensor]:
    return make_batch(200, 64, seed=FRESH_SEED)


def test_names() -> None:
    assert zoo.NAMES[:2] == ("cnn", "vit")
    assert len(zoo.NAMES) >= 3 and len(set(zoo.NAMES)) == len(zoo.NAMES)
    for name in zoo.NAMES:
        assert zoo.weights_path(name).is_file(), name


def test_one_list_of_models() -> None:
    from phaselens.zoo.nets import ARCHITECTURES
    from phaselens.zoo.train import RECIPES

    assert tuple(ARCHITECTURES) == zoo.NAMES
    assert set(RECIPES) == set(zoo.NAMES)


def test_weights_are_small() -> None:
    total = sum(zoo.weights_path(n).stat().st_size for n in zoo.NAMES)
    assert total < 8e6


def test_shape_models() -> None:
    assert SHAPE_MODELS == ("cnn", "vit", "mixer") and set(zoo.NAMES) == {*SHAPE_MODELS, "parts"}


@pytest.mark.parametrize("name", SHAPE_MODELS)
def test_load_and_classify(name: str, fresh) -> None:
    torch.set_num_threads(1)
    model = zoo.load(name)
    assert isinstance(model, ImageModel)
    assert model.name == f"zoo:{name}"
    assert model.class_names == list(CLASS_NAMES)
    assert model.input_size == (64, 64) and model.channels == 3
    assert model.preprocess.source == "zoo"
    # Trained normalization, not the identity or a hand-tuned constant.
    assert all(0.3 < m < 0.7 for m in model.preprocess.mean)
    assert all(0.1 < s < 0.35 for s in model.preprocess.std)
    assert not model.training
    x, y = fresh
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (200, 10)
    assert torch.isfinite(logits).all()
    acc = float((logits.argmax(1) == y).float().mean())
    assert acc >= 0.9, f"{name}: accuracy {acc:.3f} on fresh images"
    # The net really depends on its input: shuffled labels would score ~0.1.
    assert float((logits.argmax(1) == y.roll(1)).float().mean()) < 0.3


def test_normalization_matters(fresh) -> None:
    # The net expects normalized input: skipping the normalization hurts.
    model = zoo.load("cnn")
    x, y = fresh
    with torch.no_grad():
        raw = model.net(x).argmax(1)
        normed = model(x).argmax(1)
    assert float((normed == y).float().mean()) > float((raw == y).float().mean())


def test_module_names() -> None:
    cnn = dict(zoo.load("cnn").net.named_modules())
    for layer in ("stem", "layer1", "layer2", "layer3", "layer2.0.conv1", "layer3.0.relu", "head"):
        assert layer in cnn, layer
    vit = zoo.load("vit").net
    names = dict(vit.named_modules())
    for layer in ("patch_embed", "blocks.0", "blocks.3", "blocks.2.attn", "blocks.2.mlp.fc1", "norm", "head"):
        assert layer in names, layer
    assert vit.num_prefix_tokens == 1
    mixer = dict(zoo.load("mixer").net.named_modules())
    for layer in ("stem", "blocks.0", "blocks.1.token_mix.fc1", "blocks.1.channel_mix.fc2", "head"):
        assert layer in mixer, layer


def test_vit_blocks_emit_cls_first() -> None:
    vit = zoo.load("vit").net
    seen: dict[str, torch.Tensor] = {}
    vit.blocks[2].register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    x = torch.randn(2, 3, 64, 64)
    vit(x)
    out = seen["out"]
    assert out.shape == (2, 1 + 64, vit.norm.normalized_shape[0])
    # The head reads the CLS token at position 0.
    tokens = vit.forward_features(x)
    assert torch.allclose(vit.head(tokens[:, 0]), vit(x), atol=1e-5)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(PhaseLensError) as err:
        zoo.load("resnet9000")
    message = str(err.value)
    assert "resnet9000" in message
    for name in zoo.NAMES:
        assert name in message


def test_prefix_and_case_are_accepted() -> None:
    assert zoo.load("zoo:CNN").name == "zoo:cnn"


def test_missing_weights_say_how_to_train(tmp_path) -> None:
    with pytest.raises(PhaseLensError, match="phaselens.zoo.train"):
        zoo.load("cnn", weights_dir=tmp_path)

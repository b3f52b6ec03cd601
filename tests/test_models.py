"""Model specs, sources and preprocessing (issue #4), on CPU with random weights.

No test touches the network: every test runs with HF_HUB_OFFLINE=1 and the
reachability probe replaced, and pretrained weights come from files the tests write.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from phaselens import PhaseLensError, channel, logit, neuron, visualize
from phaselens.features import Capture, cached_layouts, list_layers, spatial
from phaselens.models import Spec, load_model, network, parse_spec
from phaselens.models.adapt import override
from phaselens.models.checkpoint import load_weights

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

# Deterministic crops: with a random-init net and 4 steps, crop noise would hide the ascent.
RUN = dict(steps=4, image_size=64, crops=2, lr=0.5, crop_size=(0.8, 1.0), noise=0.0, crop_center_std=0.0)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Offline everywhere: no test may reach a download host."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PHASELENS_OFFLINE", "1")
    monkeypatch.setattr(network, "reachable", lambda url, timeout=0: False)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on 2 shared cores, spinning OpenMP threads slow these tiny runs 10-50x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def live_channels(model, layer: str, k: int = 2) -> list[int]:
    """The k channels of `layer` most active on a random image (dead ReLU channels cannot rise)."""
    torch.manual_seed(0)
    cap = Capture(model.net, [layer], need_output=False)
    with torch.no_grad():
        cap(model, torch.rand(1, model.channels, *model.input_size))
    maps = spatial(cap.outputs[layer], cached_layouts(model, [layer])[layer])
    return maps.mean(dim=(0, 2, 3)).topk(k).indices.tolist()


def assert_rises(result) -> None:
    first, last = result.trace[0], result.trace[-1]
    assert torch.all(last > first), f"{result.description}: {first.tolist()} -> {last.tolist()}"


# --------------------------------------------------------------------------- spec grammar


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("zoo:cnn", Spec("zoo", "cnn")),
        ("timm:resnet18", Spec("timm", "resnet18")),
        ("timm:vit_tiny_patch16_224.augreg_in21k", Spec("timm", "vit_tiny_patch16_224.augreg_in21k")),
        ("torchvision:resnet18", Spec("torchvision", "resnet18")),
        ("tv:swin_t", Spec("torchvision", "swin_t")),
        ("hf:google/vit-base-patch16-224", Spec("hf", "google/vit-base-patch16-224")),
        ("mypkg.models:build", Spec("module", "mypkg.models", "build")),
        ("nets/my_net.py:make", Spec("pyfile", "nets/my_net.py", "make")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_parse_spec_files_and_errors(tmp_path):
    f = tmp_path / "m.pt"
    f.write_bytes(b"x")
    assert parse_spec(str(f)) == Spec("file", str(f))
    with pytest.raises(PhaseLensError, match="does not exist"):
        parse_spec(str(tmp_path / "missing.pt2"))
    with pytest.raises(PhaseLensError, match="did you mean timm:resnet18"):
        parse_spec("resnet18")
    with pytest.raises(PhaseLensError, match="names no model"):
        parse_spec("timm:")


def test_core_import_loads_no_optional_library():
    # Every built-in source is registered, yet none of their libraries is imported.
    code = (
        "import phaselens, sys\n"
        "from phaselens.models import parse_spec, sources\n"
        "assert [s.name for s in sources()] == ['zoo', 'timm', 'torchvision', 'hf', 'file', 'module', 'pyfile']\n"
        "for spec in ('timm:resnet18', 'tv:resnet18', 'hf:org/name', 'zoo:cnn'):\n"
        "    parse_spec(spec)\n"
        "assert not {'timm', 'torchvision', 'transformers'} & set(sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(PhaseLensError, match=r"pip install 'phaselens\[hf\]'"):
        load_model("hf:some/repo", pretrained=False)


# --------------------------------------------------------------------------- the architecture matrix

# (spec, input size, a mid layer): ResNet, ConvNeXt, EfficientNet, MobileNet, RegNet, ViT, DeiT
# (2 prefix tokens), Swin (NHWC stages), hybrids (ResNet-stem ViT, LeViT, MobileViT, ConViT).
MATRIX = [
    ("timm:resnet18", 64, "layer3"),
    ("timm:convnext_atto", 64, "stages.2"),
    ("timm:efficientnet_b0", 64, "blocks.4"),
    ("timm:mobilenetv3_small_050", 64, "blocks.3"),
    ("timm:regnetx_002", 64, "s3"),
    ("timm:vit_tiny_patch16_224", 64, "blocks.6"),
    ("timm:deit_tiny_distilled_patch16_224", 64, "blocks.6"),
    ("timm:swin_tiny_patch4_window7_224", 64, "layers.2"),
    ("timm:vit_tiny_r_s16_p8_224", 96, "blocks.6"),
    ("timm:levit_128s", 64, "stages.1"),
    ("timm:mobilevit_xxs", 64, "stages.3"),
    ("timm:convit_tiny", 64, "blocks.10"),
    ("torchvision:resnet18", 64, "layer3"),
    ("torchvision:squeezenet1_1", 64, "features.9"),
    ("torchvision:regnet_y_400mf", 64, "trunk_output.block3"),
    ("torchvision:swin_t", 64, "features.5"),
]


@pytest.mark.parametrize("spec, size, layer", MATRIX, ids=[m[0] for m in MATRIX])
def test_matrix(spec, size, layer):
    torch.manual_seed(0)
    model = load_model(spec, pretrained=False, input_size=size)
    assert model.input_size == (size, size) and model.channels == 3
    assert len(model.class_names) == 1000 and model.class_index("goldfish") == 1
    rows = {r.name: r for r in list_layers(model)}
    assert layer in rows and rows[layer].shape, f"{layer} not listed with a shape"
    assert_rises(visualize(model, logit([1, 2]), seed=[0, 1], **RUN))
    assert_rises(visualize(model, channel(layer, live_channels(model, layer)), seed=[0, 1], **RUN))


# --------------------------------------------------------------------------- layouts: NHWC and tokens


def _ctx(outputs, layouts):
    from phaselens.features import Context

    return Context(outputs, None, 1, 1, None, layouts)


def test_swin_nhwc_found_when_shape_cannot_tell():
    # 16 channels on a 16 x 16 grid: (1, 16, 16, 16) reads either way; the dry run knows it is NHWC.
    from phaselens import ImageModel, Preprocess

    net = timm.create_model(
        "swin_tiny_patch4_window7_224",
        img_size=64,
        embed_dim=16,
        depths=(1, 1, 1, 1),
        num_heads=(1, 1, 1, 1),
        num_classes=4,
    )
    model = ImageModel(net, Preprocess(input_size=(64, 64)))
    lay = cached_layouts(model, ["patch_embed", "layers.0", "layers.1", "patch_embed.proj"])
    assert {k: v.kind for k, v in lay.items()} == {
        "patch_embed": "nhwc",
        "layers.0": "nhwc",
        "layers.1": "nhwc",
        "patch_embed.proj": "nchw",
    }
    out = torch.randn(1, 16, 16, 16)
    value = channel("layers.0", 3)(_ctx({"layers.0": out}, lay))
    assert torch.allclose(value, out[..., 3].mean())


def test_swin_non_square_input_and_window_layers():
    model = load_model("timm:swin_tiny_patch4_window7_224", pretrained=False, input_size=(64, 96))
    lay = cached_layouts(model, ["layers.1", "layers.0.blocks.0.attn"])
    assert lay["layers.1"].kind == "nhwc"
    assert lay["layers.0.blocks.0.attn"].kind == "unsupported"
    with pytest.raises(PhaseLensError, match="folded into the batch"):
        visualize(model, channel("layers.0.blocks.0.attn", 0), steps=1, image_size=48, crops=1)


def test_vit_registers_and_token_grid():
    # 4 registers + CLS before a 4 x 6 patch grid (a non-square input).
    from phaselens import as_image_model

    net = timm.create_model("vit_tiny_patch16_224", img_size=(64, 96), reg_tokens=4, depth=2, num_classes=5)
    model = override(as_image_model(net), input_size=(64, 96))
    lay = cached_layouts(model, ["blocks.1", "patch_embed"])
    assert (lay["blocks.1"].prefix_tokens, lay["blocks.1"].grid) == (5, (4, 6))
    assert (lay["patch_embed"].prefix_tokens, lay["patch_embed"].grid) == (0, (4, 6))
    tokens = torch.randn(1, 5 + 24, 8)
    ctx = _ctx({"blocks.1": tokens}, lay)
    patches = tokens[:, 5:]
    assert torch.allclose(channel("blocks.1", 2)(ctx), patches[..., 2].mean())
    assert torch.allclose(neuron("blocks.1", 2, x=5, y=1)(ctx), patches[0, 1 * 6 + 5, 2])
    # prefix_tokens=0 opts into averaging the CLS and register tokens too.
    assert torch.allclose(channel("blocks.1", 2, prefix_tokens=0)(ctx), tokens[..., 2].mean())
    assert_rises(visualize(model, neuron("blocks.1", 0, x=1, y=2), seed=0, **RUN))


# --------------------------------------------------------------------------- weights files


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("spec", ["timm:resnet10t", "torchvision:squeezenet1_1"])
@pytest.mark.parametrize("fmt", ["safetensors", "pth", "nested"])
def test_weights_file_loads(tmp_path, spec, fmt):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = load_model(spec, pretrained=False).net
    for p in source.parameters():
        p.data.normal_()  # far from any default initialization
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file(state, str(path))
    elif fmt == "pth":
        path = tmp_path / "w.pth"
        torch.save(state, path)
    else:  # a training checkpoint from DataParallel
        path = tmp_path / "ckpt.pth"
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model = load_model(spec, weights=path)
    assert _same_state(model.net, source)
    assert "weights: " in model.name


def test_weights_that_do_not_fit(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(num_classes=7).state_dict(), path)
    with pytest.raises(PhaseLensError, match="do not fit .*another shape"):
        load_model("torchvision:resnet18", weights=path)
    with pytest.raises(PhaseLensError, match="missing"):
        load_model("timm:resnet10t", weights=path)


MARKER = "pwned.txt"


def _pwn(path: str) -> dict:
    with open(path, "w") as f:
        f.write("arbitrary code ran")
    return {}


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return _pwn, (self.path,)


def test_tampered_pickle_is_refused(tmp_path):
    marker = tmp_path / MARKER
    path = tmp_path / "w.pth"
    state = dict(torchvision.models.squeezenet1_1().state_dict())
    state["extra"] = _Evil(str(marker))
    torch.save(state, path)
    with pytest.raises(PhaseLensError, match="refusing to load .*could run arbitrary code"):
        load_model("torchvision:squeezenet1_1", weights=path)
    assert not marker.exists()


def test_weights_file_as_model_names_the_fix(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(PhaseLensError, match="weights only.*--weights"):
        load_model(str(path))


# --------------------------------------------------------------------------- offline


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))


@pytest.mark.parametrize("spec", ["timm:resnet18", "torchvision:resnet18", "hf:google/vit-base-patch16-224"])
@pytest.mark.parametrize("how", ["declared", "unreachable"])
def test_offline_pretrained_fails_fast(spec, how, empty_caches, monkeypatch):
    if spec.startswith("hf:"):
        pytest.importorskip("transformers")
    if how == "unreachable":  # no offline variable, but the host does not answer
        for var in network.OFFLINE_VARS:
            monkeypatch.delenv(var, raising=False)
    start = time.monotonic()
    with pytest.raises(PhaseLensError) as info:
        load_model(spec)
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert msg.startswith(f"no pretrained weights for {spec}") and "\n" not in msg
    for way in ("cache", "--weights FILE", "--no-pretrained"):
        assert way in msg


# --------------------------------------------------------------------------- Hugging Face


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("hf_vit")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label={0: "cat", 1: "goldfish", 2: "tench"},
        label2id={"cat": 0, "goldfish": 1, "tench": 2},
    )
    transformers.ViTForImageClassification(config).save_pretrained(path)
    transformers.ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]
    ).save_pretrained(path)
    return path


def test_hf_local_dir(hf_dir):
    transformers = pytest.importorskip("transformers")
    model = load_model(f"hf:{hf_dir}")
    pre = model.preprocess
    assert (pre.mean, pre.std, pre.input_size, pre.channels) == ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3), (32, 32), 3)
    assert model.class_names == ["cat", "goldfish", "tench"] and model.class_index("goldfish") == 1
    saved = transformers.ViTForImageClassification.from_pretrained(hf_dir)
    assert _same_state(model.net, saved)
    rows = {r.name: r for r in list_layers(model)}
    layer = next(n for n in rows if n.endswith("layers.1") or n.endswith("layer.1"))
    assert rows[layer].shape == (17, 32)  # CLS + 4 x 4 patches, from a block returning a tuple or tensor
    assert cached_layouts(model, [layer])[layer].prefix_tokens == 1
    assert_rises(visualize(model, logit([1, 2]), seed=[0, 1], **{**RUN, "image_size": 48}))
    assert_rises(
        visualize(model, channel(layer, live_channels(model, layer)), seed=[0, 1], **{**RUN, "image_size": 48})
    )


def test_hf_sizes_and_random_init(hf_dir):
    random = load_model(f"hf:{hf_dir}", pretrained=False, input_size=48)
    assert random.input_size == (48, 48) and random.net.config.image_size == 48
    pretrained = load_model(f"hf:{hf_dir}", input_size=48, mean=0.5, std="0.5")
    assert pretrained.preprocess.mean == (0.5, 0.5, 0.5)
    assert pretrained(torch.rand(2, 3, 48, 48)).logits.shape == (2, 3)  # positions interpolated


def test_hf_missing_folder_is_not_a_download(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(PhaseLensError, match="no folder"):
        load_model(f"hf:{tmp_path / 'nope'}")


def test_hf_weights_file(hf_dir, tmp_path):
    from safetensors.torch import save_file

    source = load_model(f"hf:{hf_dir}", pretrained=False).net
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = load_model(f"hf:{hf_dir}", weights=tmp_path / "w.safetensors")
    assert _same_state(model.net, source)


# --------------------------------------------------------------------------- files and user code


class TinyNet(nn.Module):
    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))

    def forward(self, x):
        return self.head(self.features(x))


EXTRA = '{"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "input_size": 32, "class_names": ["a", "b", "c", "d"]}'


def test_torchscript_file(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(TinyNet().eval()), str(path), _extra_files={"phaselens.json": EXTRA})
    model = load_model(str(path))
    assert model.preprocess.mean == (0.5, 0.5, 0.5) and model.input_size == (32, 32)
    assert model.class_index("c") == 2
    assert visualize(model, logit(2), steps=2, image_size=32, crops=2).trace.shape == (2, 1)
    with pytest.raises(PhaseLensError, match="TorchScript"):
        list_layers(model)
    with pytest.raises(PhaseLensError, match="TorchScript"):
        visualize(model, channel("features.0", 1), steps=1, image_size=32, crops=1)


def test_export_file(tmp_path):
    net = TinyNet().eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(net, (torch.rand(2, 3, 40, 40),), dynamic_shapes={"x": {0: batch}})
    path = tmp_path / "net.pt2"
    torch.export.save(program, str(path))
    model = load_model(str(path))
    assert model.input_size == (40, 40)  # read from the traced input
    rows = {r.name: r.shape for r in list_layers(model)}
    assert rows["features.0"] == (8, 40, 40) and rows["features.2"] == (16, 19, 19)
    torch.manual_seed(0)
    assert_rises(visualize(model, channel("features.2", live_channels(model, "features.2")), seed=[0, 1], **RUN))

    fixed = tmp_path / "fixed.pt2"
    torch.export.save(torch.export.export(net, (torch.rand(1, 3, 40, 40),)), str(fixed))
    with pytest.raises(PhaseLensError, match="fixed batch"):
        load_model(str(fixed))


def test_module_and_file_callables(tmp_path, monkeypatch):
    pkg = tmp_path / "mynets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "zoo.py").write_text(
        "import torch.nn as nn\n"
        "def build(pretrained=True):\n"
        "    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
        "    net.pretrained_flag = pretrained\n"
        "    return net\n"
        "NET = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
        "NOT_A_MODEL = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_model("mynets.zoo:build", pretrained=False, input_size=32, mean=0.5, std=0.5)
    assert model.net.pretrained_flag is False and model.input_size == (32, 32)
    assert model.name == "mynets.zoo:build"
    assert load_model("mynets.zoo:NET").net[0].out_channels == 2
    with pytest.raises(PhaseLensError, match="has no attribute 'nope'"):
        load_model("mynets.zoo:nope")
    with pytest.raises(PhaseLensError, match="not a callable"):
        load_model("mynets.zoo:NOT_A_MODEL")
    script = tmp_path / "my_model.py"
    script.write_text("from mynets.zoo import build\n")  # neighbours import
    model = load_model(f"{script}:build")
    assert model.net.pretrained_flag is True


@pytest.fixture
def tiny_source():
    """A ``tiny:CLASSES`` source registered for one test: TinyNet with that many classes."""
    from phaselens.models import register_source, unregister_source

    calls = []

    def load(spec, options):
        calls.append((spec, options))
        net = TinyNet(int(spec.target))
        if options.weights is not None:
            load_weights(net, options.weights)
        return net  # a plain net: load_model wraps, freezes and names it

    source = register_source("tiny", load, aliases=("tn",), form="tiny:CLASSES")
    yield source, calls
    unregister_source("tiny")


def test_register_source(tiny_source, tmp_path):
    from safetensors.torch import save_file

    from phaselens.models import (
        SCHEMES,
        SPEC_FORMS,
        register_source,
        schemes,
        spec_forms,
    )

    source, calls = tiny_source
    assert parse_spec("tiny:5") == parse_spec("tn:5") == Spec("tiny", "5")
    assert schemes() == SCHEMES + ("tiny", "tn") and "tiny:CLASSES" in spec_forms()
    model = load_model("tiny:5", pretrained=False, input_size=32, channels=3, mean=0.5)
    assert model.name == "tiny:5" and model(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    assert model.input_size == (32, 32) and model.preprocess.mean == (0.5, 0.5, 0.5)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    spec, options = calls[-1]
    assert spec == Spec("tiny", "5")
    assert (options.pretrained, options.weights, options.input_size, options.channels) == (False, None, 32, 3)

    torch.manual_seed(3)
    trained = TinyNet(4)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = load_model("tn:4", weights=tmp_path / "w.safetensors")
    assert _same_state(loaded.net, trained) and loaded.name == "tiny:4 (weights: w.safetensors)"

    with pytest.raises(
        PhaseLensError, match=r"schemes: zoo, timm, torchvision, tv, hf, tiny, tn\).*tiny:CLASSES, a TorchScript"
    ):
        parse_spec("x:y:z")
    with pytest.raises(ValueError, match="already registered"):
        register_source("tv", source.load)
    with pytest.raises(ValueError, match="two or more"):
        register_source("t", source.load)
    assert register_source("tiny", source.load, replace=True).aliases == ()
    assert parse_spec("tn:build").kind == "module"  # the alias went with the replaced source
    assert spec_forms() != SPEC_FORMS


def test_unregistered_source_is_gone():
    from phaselens.models import (
        SPEC_FORMS,
        register_source,
        spec_forms,
        unregister_source,
    )

    register_source("gone", lambda spec, options: TinyNet())
    assert load_model("gone:x").name == "gone:x"
    unregister_source("gone")
    assert spec_forms() == SPEC_FORMS
    with pytest.raises(PhaseLensError, match="no scheme or importable module 'gone'"):
        load_model("gone:x")


def test_source_returning_no_module():
    from phaselens.models import register_source, unregister_source

    register_source("bad", lambda spec, options: 3)
    try:
        with pytest.raises(TypeError, match="'bad' model source returned a int"):
            load_model("bad:x")
    finally:
        unregister_source("bad")


# --------------------------------------------------------------------------- overrides and CLI


def test_overrides_and_bad_values():
    model = load_model("timm:resnet10t", pretrained=False, mean="0.1,0.2,0.3", std=[1, 2, 3], input_size="48x64")
    assert model.preprocess.mean == (0.1, 0.2, 0.3) and model.preprocess.std == (1.0, 2.0, 3.0)
    assert model.input_size == (48, 64) and "given" in model.preprocess.source
    gray = load_model("timm:resnet10t", pretrained=False, channels=1, input_size=32)
    assert gray.channels == 1 and len(gray.preprocess.mean) == 1
    assert gray(torch.rand(2, 1, 32, 32)).shape == (2, 1000)
    with pytest.raises(PhaseLensError, match="bad mean"):
        load_model("timm:resnet10t", pretrained=False, mean="a,b")
    with pytest.raises(PhaseLensError, match="one value per channel"):
        load_model("timm:resnet10t", pretrained=False, mean="0.1,0.2")
    with pytest.raises(PhaseLensError, match="did you mean.*resnet18"):
        load_model("timm:resnet1888", pretrained=False)
    with pytest.raises(PhaseLensError, match="did you mean.*resnet18"):
        load_model("torchvision:resnet1888", pretrained=False)


def _cli(args, capsys):
    from phaselens.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_layers_and_visualize(tmp_path, capsys):
    code, out, _ = _cli(["layers", "--model", "timm:resnet18", "--no-pretrained", "--filter", "layer4"], capsys)
    assert code == 0 and "layer4.1.conv2" in out and "512x7x7" in out
    code, out, _ = _cli(
        [
            "visualize",
            "--model",
            "timm:resnet18",
            "--no-pretrained",
            "--input-size",
            "48",
            "--target",
            "class:goldfish",
            "--steps",
            "2",
            "--size",
            "48",
            "--crops",
            "2",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 0 and (tmp_path / "o" / "class_0001_goldfish.png").is_file()


@pytest.mark.parametrize(
    "spec, words",
    [
        ("timmm:resnet18", "unknown model spec"),
        ("resnet18", "did you mean timm:resnet18"),
        ("timm:resnet1888", "unknown timm model"),
        ("torchvision:nope", "unknown torchvision"),
        ("timm:resnet18", "no pretrained weights"),
    ],
)
def test_cli_errors_are_one_line(spec, words, capsys, empty_caches):
    code, _, err = _cli(["layers", "--model", spec], capsys)
    assert code == 2 and words in err and err.strip().count("\n") == 0

"""Reading layers: every reader (optimization, evaluation, Lens scoring, target parsing) sees the same maps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phaselens import channel, neuron
from phaselens.features import LayerReader, StopForward, detect_layouts, dry_run, layer_outputs, list_layers
from phaselens.lens.natural import score_images
from phaselens.lens.plan import Target
from phaselens.model import ImageModel, Preprocess
from phaselens.render import evaluate
from phaselens.targets import parse_targets


class ToNHWC(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class ChannelsLastNet(nn.Module):
    """A conv, a permute to (N, H, W, C) and a LayerNorm: layer "2" is channels-last, and its
    shape (N, 32, 48, 6) alone reads as channels-first (H != W), so only the dry run can tell."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), ToNHWC(), nn.LayerNorm(6))
        self.head = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(1, 2)))


@pytest.fixture
def nhwc() -> ImageModel:
    torch.manual_seed(0)
    net = ChannelsLastNet()
    with torch.no_grad():  # give channel 3 a clear non-zero mean after the LayerNorm
        net.body[2].bias[3] = -1.1
    return ImageModel(net.body, Preprocess((0.5,) * 3, (0.25,) * 3, (32, 48)), name="nhwc")


def _true_channel_mean(model: ImageModel, images: torch.Tensor, c: int) -> torch.Tensor:
    with torch.no_grad():
        x = torch.nn.functional.interpolate(images, size=model.input_size, mode="bilinear", antialias=True)
        return model(x)[..., c].mean(dim=(1, 2))


def test_layouts_are_detected_for_the_channels_last_layer(nhwc):
    layouts = detect_layouts(nhwc, ["0", "2"])
    assert layouts["0"].kind == "nchw" and layouts["2"].kind == "nhwc"


def test_evaluate_reads_a_channels_last_layer_as_the_optimization_does(nhwc):
    images = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    got = evaluate(nhwc, channel("2", 3), images)
    want = _true_channel_mean(nhwc, images, 3)
    assert want.mean() < -0.5  # the bias makes the true mean clearly negative
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_lens_natural_scores_read_a_channels_last_layer_as_the_optimization_does(nhwc):
    images = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(2))
    targets = [
        Target("channel_2_0003", "channel:2:3", "channel 2:3", "channel", 3, "2"),
        Target("neuron_2_0001", "neuron:2:1", "neuron 2:1", "neuron", 1, "2"),
    ]
    scores = score_images(nhwc, targets, images)
    torch.testing.assert_close(scores[:, 0], _true_channel_mean(nhwc, images, 3), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        out = nhwc(images)
    torch.testing.assert_close(scores[:, 1], out[:, 16, 24, 1], atol=1e-5, rtol=1e-5)


def test_channel_all_counts_the_channels_of_a_channels_last_layer(nhwc):
    assert parse_targets("channel:2:all", nhwc).indices == list(range(6))


def test_a_reader_gives_every_objective_the_same_maps(nhwc):
    x = torch.rand(2, 3, 32, 48)
    reader = LayerReader(nhwc, ["2"], need_logits=False)
    reader(x)
    maps = reader.maps("2")
    assert maps.shape == (2, 6, 32, 48)
    ctx = reader.context(batch=2, crops=1)
    torch.testing.assert_close(neuron("2", 3)(ctx), maps[:, 3, 16, 24])


def test_one_dry_run_gives_outputs_of_every_layer_and_leaves_the_model_as_it_was(cnn):
    outputs = layer_outputs(cnn)
    assert set(outputs) == {"conv1", "act1", "conv2", "act2", "pool", "head"}
    assert outputs["conv2"].shape == (1, 16, 16, 16)
    rows = {r.name: r for r in list_layers(cnn)}
    assert rows["conv2"].shape == (16, 16, 16) and rows["head"].type == "Linear"
    cnn.train()
    seen = []
    dry_run(cnn, [(cnn.net.conv1, "post", lambda m, i, o: seen.append((m.training, o.requires_grad)))])
    assert seen == [(False, False)]  # frozen inside: eval mode, no weight gradients
    assert cnn.training and all(p.requires_grad for p in cnn.parameters())


def test_a_hook_can_stop_the_dry_run_early(cnn):
    called = []

    def stop(_m, _i, _o):
        raise StopForward

    assert dry_run(cnn, [(cnn.net.conv1, "post", stop), (cnn.net.head, "post", lambda *a: called.append(1))]) is None
    assert called == []


def test_declared_feature_info_decides_the_layout_before_guessing():
    """A module whose type says nothing, with a shape that reads as NCHW, declared NHWC by feature_info."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.stage = ToNHWC()
            self.feature_info = [dict(module="stage", num_chs=6, reduction=1)]

        def forward(self, x):
            return self.stage(self.stem(x)).mean(dim=(1, 2))

    model = ImageModel(Net(), Preprocess(input_size=(32, 48)))
    assert detect_layouts(model, ["stage"])["stage"].kind == "nhwc"

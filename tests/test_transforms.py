"""Crops follow the configured distributions and cut what they say they cut."""

from __future__ import annotations

import pytest
import torch

from phaselens.errors import PhaseLensError
from phaselens.rng import SeedGroups
from phaselens.transforms import CropConfig, augment, crop_resize, sample_boxes


def _draw(cfg: CropConfig, size=(512, 512), n=400):
    rng = SeedGroups([0])
    return torch.cat([sample_boxes(rng, cfg, size)[0] for _ in range(n)])


def test_crop_sizes_are_uniform_between_min_and_max():
    cfg = CropConfig(crops=8, size=(0.2, 0.5), center_std=0.1)
    side = _draw(cfg)[:, 2]
    assert float(side.min()) >= 0.2 and float(side.max()) <= 0.5
    # Uniform on [0.2, 0.5]: mean 0.35, std 0.3 / sqrt(12), and every tenth of the range used.
    assert float(side.mean()) == pytest.approx(0.35, abs=0.01)
    assert float(side.std()) == pytest.approx(0.3 / 12**0.5, rel=0.08)
    hist = torch.histc(side, bins=10, min=0.2, max=0.5)
    assert float(hist.min()) > 0.6 * len(side) / 10


def test_crop_centres_are_normal_around_the_image_centre():
    cfg = CropConfig(crops=8, size=(0.1, 0.1), center_std=0.12)
    boxes = _draw(cfg)
    for axis in (0, 1):
        c = boxes[:, axis]
        assert float(c.mean()) == pytest.approx(0.5, abs=0.01)
        assert float(c.std()) == pytest.approx(0.12, rel=0.1)
        assert float(c.min()) >= 0.0 and float(c.max()) <= 1.0  # the centre stays on the image


def test_large_crops_still_move_and_hang_over_the_edge():
    # Kept wholly inside, a crop of 0.8-1.0 could move by at most 0.1 of the side;
    # its centre now keeps the full spread, clamped only to the image.
    cfg = CropConfig(crops=8, size=(0.8, 1.0), center_std=0.15)
    boxes = _draw(cfg, n=200)
    for axis in (0, 1):
        c = boxes[:, axis]
        assert float(c.std()) == pytest.approx(0.15, rel=0.1)
        assert float(c.min()) >= 0.0 and float(c.max()) <= 1.0
    over = (boxes[:, 0] - boxes[:, 2] / 2 < 0) | (boxes[:, 0] + boxes[:, 2] / 2 > 1)
    assert float(over.float().mean()) > 0.5


def test_crop_beyond_the_edge_reads_the_image_mirrored():
    img = torch.arange(64.0).view(1, 1, 8, 8)
    # Centre on the left edge, side 0.5: pixel columns -2..1, read as 1, 0, 0, 1.
    out = crop_resize(img, torch.tensor([[[0.0, 0.5, 0.5]]]), (4, 4))
    torch.testing.assert_close(out[0, 0], img[0, 0, 2:6][:, [1, 0, 0, 1]])


def test_crop_resize_cuts_the_right_pixels():
    img = torch.arange(64.0).view(1, 1, 8, 8).repeat(2, 3, 1, 1)
    img[1] += 1000
    # Top-left quarter (centre (0.25, 0.25), side 0.5) at native resolution.
    boxes = torch.tensor([[[0.25, 0.25, 0.5], [0.75, 0.75, 0.5]]]).repeat(2, 1, 1)
    out = crop_resize(img, boxes, (4, 4))
    assert out.shape == (4, 3, 4, 4)
    torch.testing.assert_close(out[0, 0], img[0, 0, :4, :4])
    torch.testing.assert_close(out[1, 0], img[0, 0, 4:, 4:])
    torch.testing.assert_close(out[2, 0], img[1, 0, :4, :4])  # image-major order


def test_downscaling_is_antialiased():
    # A one-pixel checkerboard shrunk 4x must become flat grey, not an aliased pattern.
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    board = ((x + y) % 2).float().view(1, 1, 64, 64)
    out = crop_resize(board, torch.tensor([[[0.5, 0.5, 1.0]]]), (16, 16))
    torch.testing.assert_close(out, torch.full_like(out, 0.5), atol=1e-5, rtol=0)


def test_an_images_crops_do_not_depend_on_its_batch_mates():
    # With the configured largest side, the supersampling factor is fixed in advance:
    # a batch-mate's big crop must not change how this image's small crop is sampled.
    torch.manual_seed(0)
    img = torch.rand(2, 3, 64, 64)
    small = torch.tensor([[[0.5, 0.5, 0.3]]])
    alone = crop_resize(img[:1], small, (8, 8), max_side=0.9)
    mates = torch.cat([small, torch.tensor([[[0.5, 0.5, 0.9]]])])
    together = crop_resize(img, mates, (8, 8), max_side=0.9)
    torch.testing.assert_close(together[0], alone[0])
    # The drawn-boxes fallback shows the dependence the fixed factor removes.
    assert not torch.allclose(crop_resize(img, mates, (8, 8))[0], crop_resize(img[:1], small, (8, 8))[0])


def test_augment_gives_an_image_the_same_crops_alone_or_in_a_batch():
    # Downscaling crops (up to the whole 64 px image into 8 px): the supersampling factor
    # must come from the configuration, not from whichever batch-mate drew the largest box.
    torch.manual_seed(0)
    img = torch.rand(2, 3, 64, 64)
    cfg = CropConfig(crops=3, size=(0.3, 1.0), noise=0.0)
    # Seed 3 draws smaller boxes than seed 5, so the largest box of the batch is the mate's.
    largest = [float(sample_boxes(SeedGroups([s]), cfg, (64, 64))[0, :, 2].max()) for s in (3, 5)]
    assert largest[0] * 64 / 8 <= 5 < largest[1] * 64 / 8
    alone = augment(img[:1], SeedGroups([3]), cfg, (8, 8))
    together = augment(img, SeedGroups([3, 5]), cfg, (8, 8))
    torch.testing.assert_close(together[:3], alone)


def test_augment_adds_noise_of_the_configured_std_and_is_seeded():
    img = torch.full((1, 3, 64, 64), 0.5)
    cfg = CropConfig(crops=4, noise=0.2)
    a = augment(img, SeedGroups([5]), cfg, (32, 32))
    b = augment(img, SeedGroups([5]), cfg, (32, 32))
    torch.testing.assert_close(a, b)
    assert float((a - 0.5).std()) == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize("kwargs", [dict(size=(0.5, 0.2)), dict(size=(0.0, 0.2)), dict(crops=0), dict(noise=-1)])
def test_bad_crop_config_is_rejected(kwargs):
    with pytest.raises(PhaseLensError):
        CropConfig(**kwargs)

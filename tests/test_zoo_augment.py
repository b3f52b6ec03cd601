"""The zoo's training augmentations do what their docstrings say, and replay from a seed."""

from __future__ import annotations

import torch

from phaselens.zoo.augment import amplitude_swap, blur, contrast, flips, noise, train_augment


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    # Low-contrast images around mid-grey, so no augmentation below needs to clip.
    g = _gen(seed)
    x = torch.rand(n, 3, 8, 8, generator=g)
    x = torch.nn.functional.interpolate(x, size=32, mode="bilinear", align_corners=False)
    return 0.5 + 0.1 * (x - 0.5)


def test_amplitude_swap_keeps_own_phase_and_takes_a_batch_mates_magnitude() -> None:
    x = _smooth_images(4, seed=1)
    out = amplitude_swap(x, _gen(), p=1.0)
    assert float(out.min()) > 0.0 and float(out.max()) < 1.0  # no clipping, so the algebra is exact
    fx, fo = torch.fft.rfft2(x), torch.fft.rfft2(out)
    # Phase: the image's own (where both spectra are clear of float32 round-off).
    strong = (fx.abs() > 1e-2) & (fo.abs() > 1e-2)
    assert float(strong.float().mean()) > 0.5
    dphase = torch.angle(fo * fx.conj())[strong]
    assert float(dphase.abs().max()) < 1e-3
    # Magnitude: exactly that of one image of the batch, and the donors are a permutation.
    donors = [min(range(4), key=lambda j: float((fo[i].abs() - fx[j].abs()).abs().max())) for i in range(4)]
    for i, j in enumerate(donors):
        assert torch.allclose(fo[i].abs(), fx[j].abs(), atol=1e-3)
    assert sorted(donors) == [0, 1, 2, 3]


def test_amplitude_swap_probability_zero_and_single_image_are_identity() -> None:
    x = _smooth_images(6, seed=2)
    assert torch.equal(amplitude_swap(x, _gen(), p=0.0), x)
    one = x[:1]
    assert torch.allclose(amplitude_swap(one, _gen(), p=1.0), one, atol=1e-5)


def test_contrast_keeps_the_mean_and_scales_the_spread_within_range() -> None:
    x = _smooth_images(64, seed=3)
    out = contrast(x, _gen(), lo=0.6, hi=1.4)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)
    ratio = out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert float(ratio.min()) >= 0.6 - 1e-4 and float(ratio.max()) <= 1.4 + 1e-4
    assert float(ratio.max() - ratio.min()) > 0.4  # drawn per image, not one factor for all


def test_blur_keeps_flat_images_and_removes_fine_detail() -> None:
    flat = torch.full((3, 3, 16, 16), 0.3)
    assert torch.allclose(blur(flat, _gen()), flat, atol=1e-6)
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2).float().expand(8, 3, 16, 16)
    out = blur(checker, _gen(), max_sigma=1.5)
    assert out.shape == checker.shape
    assert torch.allclose(out.mean(dim=(1, 2, 3)), checker.mean(dim=(1, 2, 3)), atol=0.02)
    # A one-pixel checkerboard is the highest frequency: any sigma above ~0.5 px flattens it.
    assert float(out.std(dim=(1, 2, 3)).min()) < float(checker.std())


def test_noise_std_is_bounded_and_flips_only_mirror() -> None:
    x = torch.full((32, 3, 32, 32), 0.5)
    out = noise(x, _gen(), max_std=0.03)
    std = (out - x).std(dim=(1, 2, 3))
    assert float(std.max()) < 0.035 and float(std.mean()) > 0.005
    img = torch.rand(16, 3, 8, 8, generator=_gen(4))
    flipped = flips(img, _gen())
    for a, b in zip(img, flipped):
        assert any(torch.equal(b, c) for c in (a, a.flip(2), a.flip(1), a.flip(1).flip(2)))


def test_train_augment_replays_from_its_generator_and_stays_in_range() -> None:
    x = torch.rand(8, 3, 32, 32, generator=_gen(5))
    a, b = train_augment(x, _gen(7)), train_augment(x, _gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, train_augment(x, _gen(8)))
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0

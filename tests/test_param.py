"""Image parameterizations: MACO's magnitude is exact at every bin, every step."""

from __future__ import annotations

import pytest
import torch

from phaselens.errors import PhaseLensError
from phaselens.param import MEAN_COLOUR_STEP, MacoParam, antisymmetrize_phase, hermitian_columns, make_param
from phaselens.rng import SeedGroups

SIZES = [(32, 32), (32, 48), (33, 47), (17, 16), (16, 17), (9, 9)]


def _bins_exact(param: MacoParam) -> None:
    raw = param.raw()
    got = torch.fft.rfft2(raw).abs()
    target = param.magnitude.expand_as(got)
    # Every single bin, DC and Nyquist columns included.
    torch.testing.assert_close(got, target, rtol=1e-4, atol=1e-4 * float(target.max()))
    # After standardization: non-DC bins scale by 1/std; DC bins shift by the image mean
    # and then by the learned mean colour, the only thing that moves them.
    x = param.decorrelated()
    std = raw.flatten(1).std(dim=1).view(-1, 1)
    mean = raw.flatten(1).mean(dim=1).view(-1, 1)
    spec = torch.fft.rfft2(x)
    pixels = raw.shape[-1] * raw.shape[-2]
    scaled = torch.fft.rfft2(raw) / std[..., None, None]
    scaled[..., 0, 0] = (torch.fft.rfft2(raw)[..., 0, 0] - mean * pixels) / std
    scaled[..., 0, 0] += MEAN_COLOUR_STEP * param.mean_colour[..., 0, 0] * pixels
    torch.testing.assert_close(spec, scaled, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("size", SIZES)
def test_maco_magnitude_exact_at_every_bin_and_every_step(size):
    param = make_param("maco", SeedGroups([0, 1]), size, spectrum=None)
    opt = torch.optim.NAdam(param.parameters(), lr=1.0)
    weights = torch.randn(3, *size)
    for _ in range(4):
        _bins_exact(param)
        opt.zero_grad()
        (param() * weights).sum().backward()
        opt.step()
        assert param.phase.grad.abs().sum() > 0
        assert param.mean_colour.grad.abs().sum() > 0
    assert param.mean_colour.abs().min() > 0  # the mean colour moved, the magnitude did not
    _bins_exact(param)


def test_mean_colour_lets_ascent_change_the_average_colour():
    # With the DC bin fixed, phases alone barely move an image's mean colour; the
    # learned mean colour does (Horama gets this from a free DC phase).
    def red_after(steps: int, learn_colour: bool) -> float:
        param = make_param("maco", SeedGroups([0, 1]), (24, 24))
        param.mean_colour.requires_grad_(learn_colour)
        opt = torch.optim.NAdam([p for p in param.parameters() if p.requires_grad], lr=0.5)
        for _ in range(steps):
            opt.zero_grad()
            (-param()[:, 0].mean()).backward()
            opt.step()
        return float(param().detach()[:, 0].mean())

    start = red_after(0, True)
    frozen, free = red_after(50, False) - start, red_after(50, True) - start
    assert free > 0.1 and free > 3 * max(frozen, 0.0)


def test_phase_must_be_antisymmetric_or_irfft_changes_magnitude():
    # Why the parameterization antisymmetrizes: arbitrary phases in the Hermitian
    # columns are silently projected by irfft2, changing those magnitudes.
    h, w = 16, 16
    mag = torch.ones(1, h, w // 2 + 1)
    phase = torch.randn(1, h, w // 2 + 1)
    naive = torch.fft.rfft2(torch.fft.irfft2(torch.polar(mag, phase), s=(h, w))).abs()
    assert (naive[..., hermitian_columns(w)] - 1).abs().max() > 0.1
    fixed = antisymmetrize_phase(phase, w)
    exact = torch.fft.rfft2(torch.fft.irfft2(torch.polar(mag, fixed), s=(h, w))).abs()
    torch.testing.assert_close(exact, mag, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["maco", "fourier", "pixel"])
@pytest.mark.parametrize("size", [(24, 40), (23, 31)])
def test_images_in_unit_range_with_any_size(method, size):
    for channels in (1, 3):
        img = make_param(method, SeedGroups([3]), size, channels)().detach()
        assert img.shape == (1, channels, *size)
        assert float(img.min()) >= 0 and float(img.max()) <= 1


def test_fourier_scales_spectrum_by_inverse_frequency_power():
    p = make_param("fourier", SeedGroups([0]), (32, 32), decay=1.5)
    # Lowest non-DC frequency 1/32 -> scale 32^1.5; the DC is clamped to the same.
    assert float(p.scale[0, 1]) == pytest.approx(32**1.5, rel=1e-4)
    assert float(p.scale[0, 0]) == pytest.approx(32**1.5, rel=1e-4)
    assert float(p.scale[16, 16]) == pytest.approx((0.5 * 2**0.5) ** -1.5, rel=1e-4)


def test_bad_method_and_sizes_are_clear_errors():
    with pytest.raises(PhaseLensError, match="valid: maco, fourier, pixel"):
        make_param("lucid", SeedGroups([0]), (8, 8))
    with pytest.raises(PhaseLensError, match="at least 2 x 2"):
        make_param("maco", SeedGroups([0]), (1, 8))
    with pytest.raises(PhaseLensError, match="1 or 3 channels"):
        make_param("maco", SeedGroups([0]), (8, 8), channels=4)

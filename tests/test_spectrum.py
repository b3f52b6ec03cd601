"""The magnitude spectrum: the shipped default, files, building from images, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from phaselens.cli import main
from phaselens.color import COLOR_MATRIX
from phaselens.errors import PhaseLensError
from phaselens.fourier import symmetrize_magnitude
from phaselens.imagefiles import load_square
from phaselens.param import make_param
from phaselens.rng import SeedGroups
from phaselens.spectrum import (
    GridSpectrum,
    ParametricSpectrum,
    build_spectrum,
    default_spectrum,
    image_magnitude,
    load_spectrum,
    log_magnitude_correlation,
    native_size,
    save_spectrum,
)

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "imagenet_magnitude_spectrum.npy"
SIZES = [(2, 2), (3, 5), (17, 16), (33, 47), (64, 31), (224, 224), (512, 512)]
N = 32  # side of the generated test images


def mirrored(mag: torch.Tensor) -> torch.Tensor:
    """|X[-fy, -fx]| for the Hermitian columns, i.e. the rows negated."""
    h = mag.shape[-2]
    return mag[:, (-torch.arange(h)) % h]


def hermitian_cols(width: int) -> list[int]:
    return [0, width // 2] if width % 2 == 0 else [0]


# --- the shipped default ---------------------------------------------------


@pytest.mark.parametrize("h,w", SIZES)
def test_default_positive_finite_symmetric(h: int, w: int) -> None:
    mag = default_spectrum().magnitude(h, w)
    assert mag.shape == (3, h, w // 2 + 1) and mag.dtype == torch.float32
    assert torch.isfinite(mag).all() and (mag > 0).all()
    cols = hermitian_cols(w)
    assert torch.equal(mag[..., cols], mirrored(mag)[..., cols])
    # Power law: the lowest non-DC frequencies carry more than the highest.
    assert (mag[:, 0, 1] > mag[:, h // 2, w // 2]).all()


def test_default_one_channel_is_luminance_plane() -> None:
    s = default_spectrum()
    assert torch.equal(s.magnitude(24, 30, 1), s.magnitude(24, 30, 3)[:1])


def test_default_same_physical_frequency_same_ratio() -> None:
    """Sizes share frequencies (here k / 64 cycles/px): ratios between bins match exactly."""
    s = default_spectrum()
    small, big = s.magnitude(64, 64).double(), s.magnitude(128, 128).double()
    a = small[:, 1:32:3, 1:32:3] / small[:, 1, 1].view(3, 1, 1)
    b = big[:, 2:64:6, 2:64:6] / big[:, 2, 2].view(3, 1, 1)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=0)
    # Size scaling: non-DC bins grow as sqrt(H W), the DC as H W.
    torch.testing.assert_close(
        big[:, 2, 2] / small[:, 1, 1], torch.full((3,), 2.0, dtype=torch.float64), rtol=1e-5, atol=0
    )
    torch.testing.assert_close(
        big[:, 0, 0] / small[:, 0, 0], torch.full((3,), 4.0, dtype=torch.float64), rtol=1e-5, atol=0
    )


@pytest.mark.parametrize("h,w", [(32, 32), (33, 47), (64, 31), (17, 16)])
def test_maco_images_have_the_default_magnitude_exactly(h: int, w: int) -> None:
    target = image_magnitude(default_spectrum(), h, w)
    param = make_param("maco", SeedGroups([0]), (h, w))
    assert torch.equal(param.magnitude, target)  # already symmetric: MacoParam changes nothing
    mag = torch.fft.rfft2(param.raw().detach()).abs()[0]
    torch.testing.assert_close(mag, param.magnitude, rtol=1e-4, atol=1e-6 * float(target.max()))
    # In float64 every bin matches, down to the faintest corner of the roll-off.
    mag64 = torch.fft.rfft2(param.double().raw().detach()).abs()[0]
    torch.testing.assert_close(mag64, target.double(), rtol=1e-6, atol=1e-12 * float(target.max()))


def test_image_magnitude_resizes_the_native_grid() -> None:
    default = default_spectrum()
    assert native_size(default) == (512, 512)
    # At the native size the resize is the identity: the ImageNet default size is unchanged.
    assert torch.equal(image_magnitude(default, 512, 512), default.magnitude(512, 512))
    grid = GridSpectrum(torch.rand(3, 32, 17) + 0.5)
    assert native_size(grid) == (32, 32)
    assert torch.equal(image_magnitude(grid, 32, 32), grid.magnitude(32, 32))
    for h, w in [(64, 48), (33, 47), (17, 16), (600, 520)]:
        for spec in (default, grid):
            mag = image_magnitude(spec, h, w)
            assert mag.shape == (3, h, w // 2 + 1) and bool((mag > 0).all())
            # Hermitian columns symmetric: the exact |rfft2| of a real image.
            cols = [0] + ([w // 2] if w % 2 == 0 else [])
            torch.testing.assert_close(mag[:, :, cols], mag[:, :, cols].roll(-1, 1).flip(1), rtol=0, atol=0)
    # A constant grid stays constant at any size, up to the sqrt(H W) scale of non-DC bins.
    flat = image_magnitude(GridSpectrum(torch.ones(1, 32, 17)), 20, 13, 1)
    torch.testing.assert_close(flat, torch.full_like(flat, (20 * 13 / 32**2) ** 0.5))
    # Why we resize (docs/benchmark.md): at 64 px the antialias filter averages the DC
    # with its neighbours, so the mean carries less weight than on the fitted curve.
    resized, curve = image_magnitude(default, 64, 64), default.magnitude(64, 64)
    assert float(resized[0, 0, 0] / resized[0, 1:].mean()) < 0.7 * float(curve[0, 0, 0] / curve[0, 1:].mean())


@pytest.mark.parametrize("h,w", [(64, 64), (64, 48), (33, 47)])
def test_image_magnitude_equals_horamas(h: int, w: int, tmp_path: Path, monkeypatch) -> None:
    # Horama (the MACO authors' library) resizes its 512 grid; given ours, it must get our magnitude.
    maco_fv = pytest.importorskip("horama.maco_fv")
    default = default_spectrum()
    np.save(tmp_path / maco_fv.MACO_SPECTRUM_FILENAME, default.magnitude(512, 512).numpy())
    monkeypatch.chdir(tmp_path)  # where Horama looks for the file (it downloads it otherwise)
    theirs, _ = maco_fv.init_maco_buffer((h, w))
    theirs = symmetrize_magnitude(theirs, w) * (h * w / 512**2) ** 0.5
    torch.testing.assert_close(image_magnitude(default, h, w), theirs, rtol=1e-5, atol=0)


def test_default_close_to_reference() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"reference spectrum not available at {REFERENCE}")
    ref = torch.from_numpy(np.load(REFERENCE))
    s = default_spectrum()
    assert log_magnitude_correlation(s.magnitude(512, 512), ref) >= 0.99
    # Other sizes: the reference evaluated at the same physical frequencies.
    grid = GridSpectrum(ref)
    for size in (224, 1024):
        assert log_magnitude_correlation(s.magnitude(size, size), grid.magnitude(size, size)) >= 0.99


# --- files -----------------------------------------------------------------


def test_reference_layout_npy_loads(tmp_path: Path) -> None:
    grid = default_spectrum().magnitude(64, 64).numpy()
    np.save(tmp_path / "ref.npy", grid)
    s = load_spectrum(str(tmp_path / "ref.npy"))
    assert isinstance(s, GridSpectrum) and s.size == (64, 64)
    assert torch.equal(s.magnitude(64, 64), torch.from_numpy(grid))
    assert torch.equal(s.magnitude(64, 64, 1), torch.from_numpy(grid[:1]))
    # Other sizes, odd and non-square included: the same function of physical frequency.
    for h, w in [(128, 128), (48, 48), (45, 50)]:
        got, want = s.magnitude(h, w).double(), default_spectrum().magnitude(h, w).double()
        assert got.shape == want.shape and torch.isfinite(got).all() and (got > 0).all()
        cols = hermitian_cols(w)
        torch.testing.assert_close(got[..., cols], mirrored(got)[..., cols], rtol=1e-6, atol=0)
        torch.testing.assert_close(got[:, 0, 0], want[:, 0, 0], rtol=1e-5, atol=0)
        low = torch.zeros(h, w // 2 + 1, dtype=torch.bool)
        low[: h // 2, : w // 4] = True  # away from the roll-off the refit has no reason to differ
        low[0, 0] = False
        ratio = got[:, low] / want[:, low]
        assert float((ratio - 1).abs().max()) < 0.15, float((ratio - 1).abs().max())
        assert log_magnitude_correlation(got, want) > 0.999


def test_grid_variants_and_bad_grids(tmp_path: Path) -> None:
    plane = default_spectrum().magnitude(16, 16)[0].numpy()
    np.save(tmp_path / "plane.npy", plane)  # (H, W//2+1): one plane, used for every channel
    s = load_spectrum(tmp_path / "plane.npy")
    assert s.magnitude(16, 16).shape == (3, 16, 9)
    assert torch.equal(s.magnitude(16, 16)[2], torch.from_numpy(plane))
    for name, arr in [
        ("bad_shape.npy", np.ones((3, 16, 16))),
        ("two.npy", np.ones((2, 16, 9))),
        ("nan.npy", np.full((3, 16, 9), np.nan)),
        ("neg.npy", -np.ones((3, 16, 9))),
        ("complex.npy", np.ones((3, 16, 9), dtype=np.complex64)),
    ]:
        np.save(tmp_path / name, arr)
        with pytest.raises(PhaseLensError):
            load_spectrum(tmp_path / name)
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    (tmp_path / "spec.txt").write_text("")
    for name in ["junk.npy", "junk.json", "other.json", "spec.txt", "missing.npy"]:
        with pytest.raises(PhaseLensError):
            load_spectrum(tmp_path / name)
    with pytest.raises(PhaseLensError):
        load_spectrum(42)  # type: ignore[arg-type]


def test_json_round_trip(tmp_path: Path) -> None:
    save_spectrum(default_spectrum(), tmp_path / "d.json")
    back = load_spectrum(str(tmp_path / "d.json"))
    assert isinstance(back, ParametricSpectrum)
    assert torch.equal(back.magnitude(40, 27), default_spectrum().magnitude(40, 27))
    d = json.loads((tmp_path / "d.json").read_text())
    del d["channels"][1]["radial"]
    (tmp_path / "broken.json").write_text(json.dumps(d))
    with pytest.raises(PhaseLensError, match="malformed"):
        load_spectrum(tmp_path / "broken.json")
    assert not list(tmp_path.glob(".*tmp"))


# --- building from images --------------------------------------------------


def chosen_magnitude(n: int) -> torch.Tensor:
    """A known decorrelated-space magnitude: a different power law and anisotropy per channel, no DC."""
    fy = torch.fft.fftfreq(n, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(n, dtype=torch.float64).view(1, -1)
    f = torch.sqrt(fy**2 + fx**2).clamp_min(1.0 / n)
    theta = torch.atan2(fy, fx)
    mags = [
        s * f**-a * (1 + b * torch.cos(2 * theta)) for s, a, b in [(1.0, 1.2, 0.3), (0.5, 0.8, -0.2), (0.35, 1.0, 0.0)]
    ]
    mag = torch.stack(mags)
    mag[:, 0, 0] = 0
    return mag


def write_known_images(folder: Path, count: int, n: int = N, seed: int = 0) -> torch.Tensor:
    """PNGs whose decorrelated |rfft2| is s * chosen_magnitude(n) (random phases); returns that target."""
    gen = torch.Generator().manual_seed(seed)
    target = chosen_magnitude(n)
    decs = []
    for _ in range(count):
        phase = torch.fft.rfft2(torch.randn(3, n, n, generator=gen, dtype=torch.float64))
        decs.append(torch.fft.irfft2(target * phase / phase.abs(), s=(n, n)))
    rgb = torch.einsum("ij,bjhw->bihw", COLOR_MATRIX.double(), torch.stack(decs))
    s = 0.45 / float(rgb.abs().max())  # one scale for all images: the spectrum scales by s
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(0.5 + s * rgb):
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img_{i:03d}.png")
    return s * target


def test_build_recovers_known_magnitude(tmp_path: Path) -> None:
    target = write_known_images(tmp_path / "imgs", 24)
    spec = build_spectrum(tmp_path / "imgs", size=N, workers=1, progress=False)
    assert spec.info["images"] == 24 and spec.info["skipped"] == 0
    got = spec.magnitude(N, N).double()
    assert got.shape == (3, N, N // 2 + 1)
    keep = torch.ones(N, N // 2 + 1, dtype=torch.bool)
    keep[0, 0] = False
    ratio = got[:, keep] / target[:, keep]
    # 8-bit rounding is the only noise; the inverse colour matrix amplifies it in
    # channels 1 and 2 (row norms about 3.6 and 7.5 against 1.0 for channel 0).
    for c, tol in enumerate([0.01, 0.08, 0.25]):
        assert float(ratio[c].median()) == pytest.approx(1.0, abs=tol / 4)
        assert float((ratio[c] - 1).abs().quantile(0.95)) < tol
    assert log_magnitude_correlation(got, target + 1e-30) > 0.99
    # Channel ratios at low frequency come through too.
    torch.testing.assert_close(got[:, 1, 2] / got[0, 1, 2], target[:, 1, 2] / target[0, 1, 2], rtol=0.05, atol=0)


def test_build_mixed_folder_skips_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    (root / "a" / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(root / "rgb.jpg")
    Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(root / "a" / "gray.png")
    Image.fromarray(rng.integers(0, 255, (20, 20, 4), dtype=np.uint8)).save(root / "a" / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (33, 17, 3), dtype=np.uint8)).save(root / "a" / "b" / "small.webp")
    Image.fromarray(rng.integers(0, 255, (60, 60), dtype=np.uint8)).save(root / "a" / "b" / "GRAY.JPG")
    Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).convert("P").save(root / "palette.png")
    deep = rng.integers(0, 65535, (24, 24), dtype=np.uint16)
    Image.fromarray(deep).save(root / "a" / "deep16.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    good = (root / "rgb.jpg").read_bytes()
    (root / "a" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "notes.txt").write_text("ignored")
    (root / ".hidden.jpg").write_bytes(b"ignored, hidden")
    spec = build_spectrum(root, size=16, workers=2, progress=False)
    assert spec.info["images"] == 7
    assert spec.info["skipped"] == 2
    assert sorted(Path(s.split(":")[0]).name for s in spec.info["skipped_files"]) == ["corrupt.jpg", "truncated.jpg"]
    assert spec.grid.shape == (3, 16, 9) and torch.isfinite(spec.grid).all() and (spec.grid > 0).all()
    # 16-bit grayscale keeps its depth: scaled to [0, 1], not clipped at 255.
    with Image.open(root / "a" / "deep16.png") as im:
        assert im.mode.startswith("I")
    px = load_square(root / "a" / "deep16.png", 24)
    np.testing.assert_allclose(px[..., 0], deep / 65535.0, atol=1e-6)
    assert np.array_equal(px[..., 0], px[..., 2])


def test_build_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(PhaseLensError, match="does not exist"):
        build_spectrum(tmp_path / "nope", size=16, progress=False)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(PhaseLensError, match="not a folder"):
        build_spectrum(tmp_path / "file.png", size=16, progress=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(PhaseLensError, match="no images"):
        build_spectrum(tmp_path / "empty", size=16, progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(PhaseLensError, match="could be read"):
        build_spectrum(tmp_path / "bad", size=16, progress=False)
    with pytest.raises(PhaseLensError, match="size"):
        build_spectrum(tmp_path / "bad", size=4, progress=False)


# --- the CLI -----------------------------------------------------------------


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "imgs"
    write_known_images(folder, 8, seed=1)
    return folder


def test_cli_build_and_show(image_folder: Path, tmp_path: Path, capsys) -> None:
    npy, js, png = tmp_path / "s.npy", tmp_path / "s.json", tmp_path / "s.png"
    assert (
        main(["spectrum", "build", str(image_folder), "--size", str(N), "--out", str(npy), "--quiet", "--workers", "1"])
        == 0
    )
    assert "averaged 8 images" in capsys.readouterr().out
    grid = np.load(npy)
    assert grid.shape == (3, N, N // 2 + 1) and grid.dtype == np.float32
    assert main(["spectrum", "build", str(image_folder), "--size", "24", "--out", str(js), "--quiet"]) == 0
    assert isinstance(load_spectrum(js), ParametricSpectrum)
    for spec in (npy, js, "default"):
        assert main(["spectrum", "show", str(spec), "--out", str(png)]) == 0
        with Image.open(png) as im:
            assert im.mode == "RGB" and im.width > 3 * 200
    assert "slope" in capsys.readouterr().out
    # Built grids work wherever a spectrum is taken.
    p = make_param("maco", SeedGroups([0]), (20, 28), spectrum=str(npy))
    assert p().shape == (1, 3, 20, 28)
    assert not list(tmp_path.glob(".*tmp"))


def test_cli_bad_arguments_leave_nothing(image_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.npy"
    for argv in [
        ["spectrum", "build", str(image_folder), "--size", "4", "--out", str(out)],
        ["spectrum", "build", str(tmp_path / "missing"), "--out", str(out)],
        ["spectrum", "build", str(image_folder), "--out", str(tmp_path / "s.txt")],
        ["spectrum", "show", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "s.png")],
        ["spectrum", "show", "default", "--out", str(tmp_path / "s.jpg")],
    ]:
        assert main(argv) == 2
        assert "error" in capsys.readouterr().err
    # argparse's own checks return 2 too
    assert main(["spectrum", "build", str(image_folder), "--size", "big", "--out", str(out)]) == 2
    assert list(tmp_path.iterdir()) == []

"""Tests for opening scenes, band choice, scaling, validity, windowed reads and resampling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from glacierfront.errors import GlacierfrontError
from glacierfront.io.raster import TRAIN_STATS, VALID_FLOOR, open_scene, stats_shape

PIXEL_M = 10.0
ORIGIN = Affine(PIXEL_M, 0, -1_500_000, 0, -PIXEL_M, 500_000)  # polar stereographic, 10 m pixels


def write_tif(
    path: Path,
    data: np.ndarray,
    crs: str | None = "EPSG:3031",
    nodata: float | None = None,
    transform: Affine = ORIGIN,
) -> Path:
    data = data if data.ndim == 3 else data[None]
    profile = dict(driver="GTiff", count=data.shape[0], height=data.shape[1], width=data.shape[2])
    with rasterio.open(
        path, "w", dtype=data.dtype, crs=crs, transform=transform, nodata=nodata, **profile
    ) as dst:
        dst.write(data)
    return path


def read_all(scene) -> tuple[np.ndarray, np.ndarray]:
    return scene.read_window(0, 0, scene.height, scene.width)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- opening and georeferencing -------------------------------------------------------------------------


def test_uint8_scene_is_divided_by_255_and_reports_its_geometry(tmp_path, rng) -> None:
    data = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    with open_scene(write_tif(tmp_path / "u8.tif", data)) as scene:
        assert (scene.width, scene.height) == (40, 30)
        assert scene.crs.to_epsg() == 3031 and scene.dtype == "uint8" and scene.nodata is None
        assert scene.resolution == (PIXEL_M, PIXEL_M) and scene.transform == ORIGIN
        assert scene.metres_per_pixel() == (PIXEL_M, PIXEL_M)
        image, valid = read_all(scene)
    assert image.shape == (1, 30, 40) and image.dtype == np.float32
    np.testing.assert_allclose(image[0], data / 255.0, atol=1e-7)
    assert valid.all()
    assert scene.dataset.closed


def test_missing_file_is_reported_with_its_name(tmp_path) -> None:
    with pytest.raises(GlacierfrontError, match=r"nope\.tif: file not found"):
        open_scene(tmp_path / "nope.tif")


def test_text_file_named_tif_is_not_a_raster(tmp_path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("these are field notes, not pixels\n")
    with pytest.raises(GlacierfrontError, match=r"notes\.tif: not a raster"):
        open_scene(path)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_scene_without_crs_is_refused_unless_pixel_coords_allowed(tmp_path) -> None:
    path = write_tif(
        tmp_path / "plain.tif", np.zeros((8, 8), np.uint8), crs=None, transform=Affine.identity()
    )
    with pytest.raises(
        GlacierfrontError, match=r"plain\.tif: has no coordinate reference system.*--allow-pixel"
    ):
        open_scene(path)
    with open_scene(path, allow_pixel_coords=True) as scene:
        assert scene.crs is None and scene.metres_per_pixel() is None
        assert read_all(scene)[1].all()


def test_geographic_scene_metres_per_pixel_uses_centre_latitude(tmp_path) -> None:
    deg = 0.001
    transform = Affine(deg, 0, -45.0, 0, -deg, 60.0 + 50 * deg)  # centre at 60 N
    path = write_tif(
        tmp_path / "geo.tif", np.zeros((100, 100), np.uint8), crs="EPSG:4326", transform=transform
    )
    with open_scene(path) as scene:
        x_m, y_m = scene.metres_per_pixel()
    assert y_m == pytest.approx(111.41, rel=2e-3)  # a degree of latitude at 60 N is ~111.41 km
    assert x_m / y_m == pytest.approx(math.cos(math.radians(60)), rel=5e-3)


# -- bands ----------------------------------------------------------------------------------------------


@pytest.fixture
def rgb_path(tmp_path, rng) -> tuple[Path, np.ndarray]:
    data = rng.integers(0, 256, (3, 12, 16), dtype=np.uint8)
    return write_tif(tmp_path / "rgb.tif", data), data


def test_multiband_without_band_choice_says_what_to_pass(rgb_path) -> None:
    path, _ = rgb_path
    with pytest.raises(GlacierfrontError, match=r"rgb\.tif: has 3 bands.*--band N \(1\.\.3\).*--bands 1,2,3"):
        open_scene(path)


def test_band_picks_one_band_one_based(rgb_path) -> None:
    path, data = rgb_path
    with open_scene(path, band=2) as scene:
        np.testing.assert_allclose(read_all(scene)[0][0], data[1] / 255.0, atol=1e-7)


def test_three_bands_reduce_by_rec601_luma(rgb_path) -> None:
    path, data = rgb_path
    with open_scene(path, bands=[1, 2, 3]) as scene:
        expected = (0.299 * data[0] + 0.587 * data[1] + 0.114 * data[2]) / 255.0
        np.testing.assert_allclose(read_all(scene)[0][0], expected, atol=1e-6)


def test_two_bands_reduce_by_plain_mean(rgb_path) -> None:
    path, data = rgb_path
    with open_scene(path, bands=[3, 1]) as scene:
        expected = (data[2].astype(float) + data[0]) / 2 / 255.0
        np.testing.assert_allclose(read_all(scene)[0][0], expected, atol=1e-6)


@pytest.mark.parametrize(("band", "bands"), [(4, None), (0, None), (None, [1, 5])])
def test_band_out_of_range_names_the_valid_range(rgb_path, band, bands) -> None:
    path, _ = rgb_path
    with pytest.raises(
        GlacierfrontError, match=r"rgb\.tif: band -?\d+ is out of range; this file has bands 1\.\.3"
    ):
        open_scene(path, band=band, bands=bands)


def test_band_and_bands_together_is_an_error(rgb_path) -> None:
    path, _ = rgb_path
    with pytest.raises(GlacierfrontError, match="either --band or --bands"):
        open_scene(path, band=1, bands=[1, 2])


# -- scaling and validity -------------------------------------------------------------------------------


def test_uint16_scene_gets_0_5_to_99_5_percentile_stretch(tmp_path, rng) -> None:
    data = rng.integers(0, 5000, (60, 70)).astype(np.uint16)
    data[0, :5] = 65000  # bright outliers (0.12 % of the pixels) must not squash the stretch
    low, high = np.percentile(data, [0.5, 99.5])
    with open_scene(write_tif(tmp_path / "u16.tif", data)) as scene:
        assert (scene.scale_low, scene.scale_high) == pytest.approx((low, high))
        assert scene.conversion is None and scene.scaling_note.startswith("uint16 taken as amplitude")
        image, valid = read_all(scene)
    np.testing.assert_allclose(image[0], np.clip((data - low) / (high - low), VALID_FLOOR, 1), atol=1e-6)
    assert image[0, 0, 0] == 1.0 and valid.all()


def test_float_db_scene_with_nodata_and_nan_is_converted_to_amplitude(tmp_path, rng) -> None:
    data = rng.uniform(-40, 10, (50, 50)).astype(np.float32)
    data[10:20, 10:20] = -9999.0
    data[30, 30] = np.nan
    path = write_tif(tmp_path / "db.tif", data, nodata=-9999.0)
    keep = (data != -9999.0) & np.isfinite(data)
    amplitude = 10.0 ** (data.astype(np.float64) / 20.0)
    low, high = np.percentile(amplitude[keep], [0.5, 99.5])
    with open_scene(path) as scene:
        assert scene.nodata == -9999.0 and scene.dtype == "float32" and scene.conversion == "db"
        # The stretch ignores nodata: otherwise 10^(-9999/20) = 0 would be the low end.
        assert (scene.scale_low, scene.scale_high) == pytest.approx((low, high), rel=1e-5)
        image, valid = read_all(scene)
    np.testing.assert_array_equal(valid, keep)
    assert (image[0][~keep] == 0).all() and np.isfinite(image).all()
    expected = np.clip((amplitude[keep] - low) / (high - low), VALID_FLOOR, 1)
    np.testing.assert_allclose(image[0][keep], expected, atol=1e-5)


def test_uint8_nodata_zero_is_invalid(tmp_path) -> None:
    data = np.full((6, 6), 200, np.uint8)
    data[:, :2] = 0
    with open_scene(write_tif(tmp_path / "nd.tif", data, nodata=0)) as scene:
        valid = read_all(scene)[1]
    assert not valid[:, :2].any() and valid[:, 2:].all()


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_percentile_statistics_come_from_a_decimated_read(tmp_path, monkeypatch, dtype) -> None:
    assert stats_shape(20_000, 5_000) == (1000, 250)
    assert stats_shape(300, 200) == (300, 200)
    data = np.arange(3000 * 20).reshape(3000, 20).astype(dtype)
    path = write_tif(tmp_path / "tall.tif", data)
    shapes = []
    real_read = rasterio.io.DatasetReader.read

    def spy(self, *args, **kwargs):
        shapes.append(kwargs.get("out_shape"))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    open_scene(path).close()
    # One read serves both the dB check (floats) and the stretch.
    assert shapes == [(1, 1000, 6)]


@pytest.mark.parametrize(
    ("scaling", "raw", "expected"),
    [
        ("uint8", [0, 51, 255, 1000], [0, 0.2, 1, 1]),
        ("minmax:100,300", [0, 150, 300, 1000], [VALID_FLOOR, 0.25, 1, 1]),
        ("none", [0, 0.5, 1, 3], [VALID_FLOOR, 0.5, 1, 1]),
    ],
)
def test_explicit_scaling_overrides(tmp_path, scaling, raw, expected) -> None:
    data = np.array([raw], dtype=np.float32)
    with open_scene(write_tif(tmp_path / "s.tif", data), scaling=scaling) as scene:
        np.testing.assert_allclose(read_all(scene)[0][0, 0], expected, atol=1e-6)


def test_percentile_scaling_takes_custom_percentiles(tmp_path) -> None:
    data = np.arange(101, dtype=np.float32).reshape(1, 101)
    with open_scene(write_tif(tmp_path / "p.tif", data), scaling="percentile:10,90") as scene:
        assert (scene.scale_low, scene.scale_high) == pytest.approx((10, 90))


@pytest.mark.parametrize(
    "scaling",
    [
        "gamma",
        "minmax:5",
        "minmax:3,1",
        "percentile:0,150",
        "none:2",
        "minmax",
        "db+",
        "db+gamma",
        "log+percentile",
        "gain:42",
        "gain:high",
    ],
)
def test_bad_scaling_spec_is_a_one_line_error_naming_the_file(tmp_path, scaling) -> None:
    path = write_tif(tmp_path / "bad.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(GlacierfrontError, match=r"bad\.tif: .*--scaling") as info:
        open_scene(path, scaling=scaling)
    assert "\n" not in str(info.value)


def test_all_nodata_scene_cannot_be_stretched(tmp_path) -> None:
    path = write_tif(tmp_path / "empty.tif", np.full((5, 5), -1, np.int16), nodata=-1)
    with pytest.raises(GlacierfrontError, match=r"empty\.tif: no valid pixels"):
        open_scene(path)


# -- what the values are: amplitude, dB, power --------------------------------------------------------


@pytest.fixture
def amplitude(rng) -> np.ndarray:
    """SAR-like amplitude: a long bright tail, calibrated so that dB values are mostly negative; a NaN hole."""
    amp = (rng.gamma(2.0, 0.05, (80, 90)) + 1e-3).astype(np.float32)
    amp[:6, :7] = np.nan
    return amp


def read_scaled(path: Path, scaling: str = "auto") -> tuple[np.ndarray, np.ndarray, str | None, str]:
    with open_scene(path, scaling=scaling) as scene:
        image, valid = read_all(scene)
        return image[0], valid, scene.conversion, scene.scaling_note


@pytest.mark.parametrize(
    "to_db",
    [lambda a: 20 * np.log10(a), lambda a: 10 * np.log10(a.astype(np.float64) ** 2)],
    ids=["amplitude dB", "power dB"],
)
def test_db_scene_reads_as_the_amplitude_scene(tmp_path, amplitude, to_db) -> None:
    amp_image, amp_valid, amp_conv, _ = read_scaled(write_tif(tmp_path / "amp.tif", amplitude))
    db = to_db(amplitude).astype(np.float32)
    assert np.nanmedian(db) < 0
    db_path = write_tif(tmp_path / "db.tif", db)
    image, valid, conversion, note = read_scaled(db_path)
    assert amp_conv is None and conversion == "db"
    assert note.startswith("float32 dB detected") and "\n" not in note
    np.testing.assert_array_equal(valid, amp_valid)
    assert not valid[:6, :7].any() and (image[:6, :7] == 0).all()
    np.testing.assert_allclose(image, amp_image, atol=1e-4)
    # Not vacuous: a stretch of the dB values themselves (what auto did before) is far from it.
    raw_db, *_ = read_scaled(db_path, "percentile:0.5,99.5")
    assert np.abs(raw_db - amp_image)[valid].mean() > 0.1


def test_float_amplitude_is_not_taken_for_db(tmp_path, amplitude) -> None:
    # Mostly nodata (tagged -9999) and a few slightly negative, noise-subtracted values: still amplitude.
    data = np.nan_to_num(amplitude, nan=0.01)
    data[:, :50] = -9999.0
    data[60:, 60:65] = -0.002
    image, valid, conversion, note = read_scaled(write_tif(tmp_path / "amp.tif", data, nodata=-9999.0))
    assert conversion is None and note.startswith("float32 taken as amplitude")
    keep = data != -9999.0
    np.testing.assert_array_equal(valid, keep)
    low, high = np.percentile(data[keep].astype(np.float64), [0.5, 99.5])
    np.testing.assert_allclose(
        image[keep], np.clip((data[keep] - low) / (high - low), VALID_FLOOR, 1), atol=1e-5
    )


def test_uint16_amplitude_does_not_depend_on_the_dn_scale(tmp_path, rng) -> None:
    v = rng.integers(1, 256, (70, 60)).astype(np.uint16)
    v[:, :4] = 0
    full, valid_full, *_ = read_scaled(write_tif(tmp_path / "full.tif", v * 257, nodata=0))
    low_range, valid_low, *_ = read_scaled(write_tif(tmp_path / "dn.tif", v * 40, nodata=0))
    from_float, *_ = read_scaled(write_tif(tmp_path / "amp.tif", v.astype(np.float32) / 255 * 0.37, nodata=0))
    np.testing.assert_array_equal(valid_full, v > 0)
    np.testing.assert_array_equal(valid_low, v > 0)
    np.testing.assert_allclose(low_range, full, atol=1e-5)
    np.testing.assert_allclose(from_float, full, atol=1e-5)


def test_positive_db_is_not_detected_but_db_mode_converts_it(tmp_path, amplitude) -> None:
    dn_db = (20 * np.log10(amplitude * 1000)).astype(np.float32)  # dB of raw DN: mostly positive
    path = write_tif(tmp_path / "dndb.tif", dn_db)
    assert read_scaled(path)[2] is None
    image, _, conversion, note = read_scaled(path, "db")
    amp_image, *_ = read_scaled(write_tif(tmp_path / "amp.tif", amplitude))
    assert conversion == "db" and "--scaling db" in note
    np.testing.assert_allclose(image, amp_image, atol=1e-4)


def test_power_mode_takes_the_square_root(tmp_path, amplitude) -> None:
    power = write_tif(tmp_path / "pow.tif", amplitude**2)
    amp_image, *_ = read_scaled(write_tif(tmp_path / "amp.tif", amplitude))
    image, _, conversion, _ = read_scaled(power, "power")
    assert conversion == "power"
    np.testing.assert_allclose(image, amp_image, atol=1e-4)
    # Power is not told apart from amplitude by auto: it stays what it is, squared contrast and all.
    assert read_scaled(power)[2] is None


@pytest.mark.parametrize(
    ("scaling", "convert", "low_high"),
    [
        ("percentile", None, lambda x: np.percentile(x, [2, 98])),  # explicit: the dB values as they are
        ("amplitude+percentile:1,99", None, lambda x: np.percentile(x, [1, 99])),
        ("db+percentile:1,99", "db", lambda x: np.percentile(10 ** (x / 20), [1, 99])),
        ("db+minmax:0,0.5", "db", lambda x: (0.0, 0.5)),
        ("db+gain:99", "db", lambda x: (0.0, np.percentile(10 ** (x / 20), 99) / TRAIN_STATS["99"])),
        ("minmax:-30,0", None, lambda x: (-30.0, 0.0)),
    ],
)
def test_explicit_modes_on_db_data_are_honoured(tmp_path, amplitude, scaling, convert, low_high) -> None:
    db = (20 * np.log10(amplitude)).astype(np.float32)
    image, valid, conversion, _ = read_scaled(write_tif(tmp_path / "db.tif", db), scaling)
    x = db.astype(np.float64)
    low, high = low_high(x[valid])
    values = 10 ** (x / 20) if convert == "db" else x
    assert conversion == convert
    np.testing.assert_allclose(
        image[valid], np.clip((values[valid] - low) / (high - low), VALID_FLOOR, 1), atol=1e-5
    )


@pytest.mark.parametrize("stat", ["mean", "99.5", "95"])
def test_gain_puts_the_statistic_where_the_training_data_have_it(tmp_path, amplitude, stat) -> None:
    path = write_tif(tmp_path / "amp.tif", amplitude)
    with open_scene(path, scaling=f"gain:{stat}") as scene:
        image, ok = read_all(scene)
        np.testing.assert_array_equal(ok, np.isfinite(amplitude))
        x = amplitude[ok].astype(np.float64)
        value = x.mean() if stat == "mean" else np.percentile(x, float(stat))
        assert scene.scale_low == 0.0
        assert scene.scale_high == pytest.approx(value / TRAIN_STATS[stat], rel=1e-6)
    np.testing.assert_allclose(
        image[0][ok], np.clip(x / (value / TRAIN_STATS[stat]), VALID_FLOOR, 1), atol=1e-5
    )


def test_gain_needs_a_positive_statistic(tmp_path) -> None:
    path = write_tif(tmp_path / "neg.tif", np.full((8, 8), -3.0, np.float32))
    with pytest.raises(GlacierfrontError, match=r"neg\.tif: --scaling 'amplitude\+gain'.*not positive"):
        open_scene(path, scaling="amplitude+gain")


def test_integer_data_is_never_taken_for_db(tmp_path, rng) -> None:
    data = rng.integers(-3000, 100, (40, 40)).astype(np.int16)
    image, valid, conversion, note = read_scaled(write_tif(tmp_path / "i16.tif", data))
    assert conversion is None and note.startswith("int16 taken as amplitude") and valid.all()
    assert 0.4 < image.mean() < 0.6  # a stretch of the values as they are


# -- windows --------------------------------------------------------------------------------------------


def test_read_window_pads_outside_the_scene_as_invalid(tmp_path, rng) -> None:
    data = rng.integers(1, 256, (10, 12), dtype=np.uint8)
    with open_scene(write_tif(tmp_path / "w.tif", data)) as scene:
        image, valid = scene.read_window(-3, 5, 20, 20)
        outside_image, outside_valid = scene.read_window(50, 50, 4, 4)
    assert image.shape == (1, 20, 20) and valid.shape == (20, 20)
    np.testing.assert_array_equal(valid[3:13, :7], True)
    assert valid.sum() == 10 * 7
    np.testing.assert_allclose(image[0, 3:13, :7], data[:, 5:] / 255.0, atol=1e-7)
    assert (image[0][~valid] == 0).all()
    assert not outside_valid.any() and not outside_image.any()


# -- resampling -----------------------------------------------------------------------------------------


@pytest.fixture
def ramp_path(tmp_path) -> Path:
    rows, cols = np.mgrid[0:100, 0:80].astype(np.float32)
    return write_tif(tmp_path / "ramp.tif", (2 * cols + 3 * rows).astype(np.float32))


def test_resampled_grid_geometry_maps_back_to_the_scene(ramp_path) -> None:
    with open_scene(ramp_path, scaling="minmax:0,500", target_resolution=20.0) as scene:
        assert (scene.width, scene.height) == (40, 50)
        assert scene.source_width == 80 and scene.source_height == 100
        assert scene.scale_factor == (0.5, 0.5) and scene.resolution == (20.0, 20.0)
        assert scene.metres_per_pixel() == (20.0, 20.0)
        # Same origin and same far corner: the grid covers exactly the scene.
        assert scene.resampled_transform @ (0, 0) == ORIGIN @ (0, 0)
        assert scene.resampled_transform @ (40, 50) == pytest.approx(ORIGIN @ (80, 100))


def test_resampled_read_interpolates_at_output_pixel_centres(ramp_path) -> None:
    with open_scene(ramp_path, scaling="minmax:0,500", target_resolution=20.0) as scene:
        image, valid = read_all(scene)
    assert image.shape == (1, 50, 40) and valid.all()
    # Output pixel (r, c) has its centre at source pixel coordinate 2 * (r + 0.5) - 0.5.
    centre_rows = 2 * (np.arange(50) + 0.5) - 0.5
    centre_cols = 2 * (np.arange(40) + 0.5) - 0.5
    expected = (2 * centre_cols[None, :] + 3 * centre_rows[:, None]) / 500.0
    np.testing.assert_allclose(image[0, 2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-3)


def test_resampled_window_equals_the_same_slice_of_the_whole_grid(ramp_path) -> None:
    with open_scene(ramp_path, scaling="minmax:0,500", target_resolution=23.0) as scene:
        whole, _ = read_all(scene)
        window, window_valid = scene.read_window(7, 11, 16, 16)
        edge, edge_valid = scene.read_window(scene.height - 5, scene.width - 6, 16, 16)
    np.testing.assert_allclose(window, whole[:, 7:23, 11:27], atol=1e-6)
    np.testing.assert_allclose(edge[:, :5, :6], whole[:, -5:, -6:], atol=1e-6)
    assert window_valid.all() and edge_valid.sum() == 5 * 6


def test_resampling_keeps_nodata_invalid_and_out_of_valid_values(tmp_path) -> None:
    data = np.full((60, 60), 5.0, np.float32)
    data[20:40, 20:40] = -1.0
    path = write_tif(tmp_path / "hole.tif", data, nodata=-1.0)
    with open_scene(path, scaling="minmax:0,10", target_resolution=20.0) as scene:
        image, valid = read_all(scene)
    # GDAL's nodata-aware bilinear may fill the hole's rim from valid neighbours, never its inside.
    assert not valid[11:19, 11:19].any()
    assert valid[:5].all() and valid[:, :5].all()  # far from it
    np.testing.assert_allclose(image[0][valid], 0.5, atol=1e-6)  # no nodata bled into valid pixels


def test_non_positive_target_resolution_is_an_error(ramp_path) -> None:
    with pytest.raises(GlacierfrontError, match=r"ramp\.tif: target resolution must be positive"):
        open_scene(ramp_path, target_resolution=0.0)


def test_complex_slc_scene_is_read_as_its_amplitude(tmp_path, rng) -> None:
    amplitude = rng.uniform(0.1, 1.0, (12, 16))
    phase = rng.uniform(-np.pi, np.pi, (12, 16))
    write_tif(tmp_path / "amp.tif", amplitude.astype(np.float32))
    write_tif(tmp_path / "slc.tif", (amplitude * np.exp(1j * phase)).astype(np.complex64))
    with open_scene(tmp_path / "amp.tif") as a, open_scene(tmp_path / "slc.tif") as c:
        np.testing.assert_allclose(read_all(c)[0], read_all(a)[0], atol=1e-5)
        assert "amplitude |z|" in c.scaling_note


def test_a_stretch_never_makes_a_valid_pixel_look_like_no_data(tmp_path) -> None:
    # Calm water is the darkest part of a scene: a 0.5-99.5 stretch sends it to 0, which the model learned as
    # no data. Valid pixels keep at least VALID_FLOOR; 8-bit data /255 keep the training data's own 0.
    data = np.linspace(100, 20000, 200 * 200).reshape(200, 200).astype(np.uint16)
    with open_scene(write_tif(tmp_path / "dark.tif", data)) as scene:
        image, ok = read_all(scene)
    assert ok.all() and image[0].min() == pytest.approx(VALID_FLOOR)
    eight = np.zeros((64, 64), np.uint8)
    eight[:, 32:] = 200
    with open_scene(write_tif(tmp_path / "u8.tif", eight)) as scene:
        assert read_all(scene)[0][0].min() == 0.0

"""Issue 12: scenes in degrees processed on square metric pixels, whole-scene reductions done in bands, the
quicklook read decimated, and --nodata for files that do not declare their no-data value."""

from __future__ import annotations

import math
from typing import ClassVar

import fiona
import numpy as np
import pytest
import rasterio
from affine import Affine
from fakes import GLACIER, OCEAN, ROCK, glacier_scene, threshold_model
from PIL import Image
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds

import glacierfront.predict.scene as predict_module
from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.raster import open_scene
from glacierfront.model.backend import load_backend
from glacierfront.predict import PredictOptions, fraction_true, open_for_model, predict_scene
from glacierfront.predict.quicklook import render_quicklook

# A 300 x 400 scene of 0.001 degree pixels whose top-left corner is at 50 W, 70.3 N: pixels of about
# 38 m (x) by 111 m (y); glacier left of column 220 (50 W + 0.22 degrees), ocean right of it.
LON0, LAT0, DEG = -50.0, 70.3, 0.001
FRONT_LON = LON0 + 220 * DEG


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture(scope="module")
def model_60m(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model60") / "m60.onnx", resolution_m=60.0)


@pytest.fixture
def geo_scene(tmp_path):
    # No rock: the bilinear seam between rock (230) and ocean (40) reads as glacier (150) to the threshold
    # fake, which would add a front along it that a real model would not see.
    return glacier_scene(
        tmp_path / "geo_2021-08-01.tif", res=DEG, crs="EPSG:4326", origin=(LON0, LAT0), rock_rows=0
    )


def lon_metres(lat: float) -> float:
    """Metres per degree of longitude at ``lat`` on the WGS 84 ellipsoid: N(lat) cos(lat) pi / 180."""
    phi = math.radians(lat)
    return 6_378_137.0 / math.sqrt(1 - 0.00669438 * math.sin(phi) ** 2) * math.cos(phi) * math.pi / 180


# -- A: degrees are processed on square metric pixels, lines come back in degrees ------------------------


def test_geographic_scene_gives_its_front_in_degrees_from_square_metric_pixels(model, geo_scene, tmp_path):
    look = tmp_path / "look.png"
    zones = tmp_path / "zones.tif"
    result = predict_scene(
        geo_scene, load_backend(model), PredictOptions(tile=128, resolution_m=60.0), zones, look
    )
    assert result.crs.to_epsg() == 4326  # lines in the scene's CRS
    assert result.grid_crs.to_epsg() == 32622  # processed in the UTM zone of 49.8 W
    assert result.resolution_m == pytest.approx(60.0) and result.resampled
    assert (result.transform.a, result.transform.e) == (60.0, -60.0)
    assert len(result.lines) == 1
    xy = np.asarray(result.lines[0].geometry.coords)
    # Within 1.5 grid pixels of 60 m of the true front, along its whole length (30 km of latitude).
    assert np.all(np.abs(xy[:, 0] - FRONT_LON) <= 1.5 * 60 / lon_metres(70.15))
    assert xy[:, 1].min() == pytest.approx(LAT0 - 300 * DEG, abs=1.5 * 60 / 111_000)
    assert xy[:, 1].max() == pytest.approx(LAT0, abs=1.5 * 60 / 111_000)
    assert result.lines[0].length_m == pytest.approx(300 * DEG * 111_550, rel=0.01)
    with rasterio.open(zones) as z:
        assert z.crs.to_epsg() == 32622 and z.res == (60.0, 60.0)
        assert z.transform == result.transform
    # The quicklook draws the line where the front is on its own grid: red pixels at the front's column.
    x, y = warp_transform("EPSG:4326", result.grid_crs, [FRONT_LON], [LAT0 - 150 * DEG])
    col, row = ~result.transform @ (x[0], y[0])
    rgb = np.asarray(Image.open(look).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    zoom = max(1, 768 // max(result.shape))
    assert red[int(row * zoom)].any()
    assert np.median(np.nonzero(red[int(row * zoom)])[0]) == pytest.approx(col * zoom, abs=3 * zoom)


def test_resolution_60_on_a_degree_scene_gives_60_by_60_m_pixels(model, geo_scene, tmp_path, capsys):
    out, zones = tmp_path / "f.gpkg", tmp_path / "z.tif"
    argv = ["predict", str(geo_scene), "-o", str(out), "-m", str(model), "--zones", str(zones)]
    assert main([*argv, "--resolution", "60", "--tile", "128"]) == 0
    with rasterio.open(zones) as z:
        assert z.res == (60.0, 60.0) and z.crs.to_epsg() == 32622
    with fiona.open(out) as layer:
        assert layer.crs.to_epsg() == 4326
        [feature] = list(layer)
    lons = np.asarray(feature.geometry.coordinates)[:, 0]
    assert np.all(np.abs(lons - FRONT_LON) <= 1.5 * 60 / lon_metres(70.15))
    err = capsys.readouterr().err
    assert (
        "37.9 x 111.6 m degree pixels resampled to square 60.0 m pixels in EPSG:32622 (--resolution)" in err
    )


def test_resampled_grid_sizes_round_rather_than_floor(tmp_path) -> None:
    path = tmp_path / "p.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=80,
        height=80,
        count=1,
        dtype="uint8",
        crs="EPSG:3413",
        transform=from_origin(0, 0, 10, 10),
    ) as dst:
        dst.write(np.full((1, 80, 80), 100, np.uint8))
    with open_scene(path, target_resolution=23.0) as scene:
        assert (scene.width, scene.height) == (35, 35)  # 800 m / 23 m = 34.8: 35 px, not 34
    # A metric grid over a degree scene: its footprint's extent in metres, rounded to whole pixels.
    geo = glacier_scene(tmp_path / "g.tif", res=DEG, crs="EPSG:4326", origin=(LON0, LAT0))
    left, bottom, right, top = transform_bounds("EPSG:4326", "EPSG:32622", LON0, LAT0 - 0.3, LON0 + 0.4, LAT0)
    rounding_up = [s for s in np.arange(40.0, 80.0, 0.5) if ((right - left) / s) % 1 > 0.6]
    spacing = float(rounding_up[0])
    with open_scene(geo, target_resolution=spacing, metric_grid=True) as scene:
        assert scene.width == math.ceil((right - left) / spacing)
        assert scene.height == round((top - bottom) / spacing)
        assert scene.resolution == (spacing, spacing)


def test_resampled_geographic_scene_uses_the_centre_latitude(model, tmp_path) -> None:
    # 3 degrees of latitude (73.5..76.5 N) of pixels 0.004 degrees wide: at the centre (75 N) they are
    # 115 m wide, at the top 104 m and at the bottom 126 m.
    path = tmp_path / "tall.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=200,
        height=300,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=Affine(0.004, 0, 20.0, 0, -0.01, 76.5),
    ) as dst:
        dst.write(np.full((1, 300, 200), GLACIER, np.uint8))
    expected = 0.004 * lon_metres(75.0)
    scene, choice = open_for_model(path, load_backend(model), PredictOptions(resolution_m="native"))
    with scene:
        assert choice.native_m == pytest.approx(expected, rel=3e-3)
        assert scene.resolution == pytest.approx((expected, expected), rel=3e-3)
        assert scene.metres_per_pixel() == pytest.approx((expected, expected), rel=3e-3)
        assert scene.crs.to_epsg() == 32634  # the UTM zone of 20.2 E, north
        assert scene.source_crs.to_epsg() == 4326 and scene.resampled


def test_degree_scene_with_a_model_resolution_is_resampled_to_it_in_metres(model_60m, geo_scene) -> None:
    scene, choice = open_for_model(geo_scene, load_backend(model_60m), PredictOptions())
    with scene:
        assert choice.target_m == 60.0
        assert scene.resolution == (60.0, 60.0)
        assert scene.metres_per_pixel() == (60.0, 60.0)
        assert not scene.crs.is_geographic and scene.source_crs.to_epsg() == 4326
        image, valid = scene.read_window(0, 0, scene.height, scene.width)
    # The grid covers the footprint (in UTM, its bounding box) in whole 60 m pixels.
    left, bottom, right, top = transform_bounds("EPSG:4326", scene.crs, LON0, LAT0 - 0.3, LON0 + 0.4, LAT0)
    assert scene.width == round((right - left) / 60) and scene.height == round((top - bottom) / 60)
    assert 0.9 < valid.mean() < 1.0  # the corners outside the slightly rotated footprint are invalid
    assert set(np.round(image[0][valid] * 255).astype(int)) <= set(range(OCEAN, GLACIER + 1))


# -- B: memory stays flat ---------------------------------------------------------------------------------


class RowBands:
    """A (H, W) mask that can only be sliced in row bands; records the bands asked for."""

    def __init__(self, mask: np.ndarray) -> None:
        self._mask = mask
        self.shape, self.size = mask.shape, mask.size
        self.bands: list[int] = []

    def __getitem__(self, key):
        assert isinstance(key, slice), f"whole-array access {key!r}"
        part = self._mask[key]
        self.bands.append(part.shape[0])
        return part


def test_valid_fraction_is_counted_band_by_band() -> None:
    mask = np.zeros((2500, 30), bool)
    mask[:700] = True
    bands = RowBands(mask)
    assert fraction_true(bands) == pytest.approx(700 / 2500)
    assert bands.bands == [1024, 1024, 452]


class Tracked(np.memmap):
    """A memory map that records reductions (sum, mean, count_nonzero, ...) over more rows than a band."""

    reductions: ClassVar[list[str]] = []
    limit = 64

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "reduce" and any(isinstance(x, Tracked) and x.shape[0] > self.limit for x in inputs):
            Tracked.reductions.append(f"{ufunc.__name__}.reduce")
        plain = tuple(x.view(np.ndarray) if isinstance(x, Tracked) else x for x in inputs)
        return getattr(ufunc, method)(*plain, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in {"count_nonzero", "sum", "mean", "any", "all"} and any(
            isinstance(x, Tracked) and x.shape[0] > self.limit for x in args
        ):
            Tracked.reductions.append(func.__name__)
        return super().__array_function__(func, types, args, kwargs)


def test_predict_never_reduces_the_whole_valid_map_at_once(model, tmp_path, monkeypatch) -> None:
    real = predict_module.scratch_array

    def tracked(folder, name, dtype, shape):
        array = real(folder, name, dtype, shape)
        return array.view(Tracked) if name == "valid" else array

    monkeypatch.setattr(predict_module, "scratch_array", tracked)
    monkeypatch.setattr(predict_module, "BAND_ROWS", Tracked.limit)
    monkeypatch.setattr(Tracked, "reductions", [])
    path = glacier_scene(tmp_path / "s.tif", nodata_cols=40)
    result = predict_scene(path, load_backend(model), PredictOptions(tile=128))
    assert result.valid_fraction == pytest.approx(360 / 400)
    assert Tracked.reductions == []


def test_quicklook_reads_a_decimated_view_not_the_full_scene(tmp_path, monkeypatch) -> None:
    path = glacier_scene(tmp_path / "big.tif", height=1200, width=1600, front_col=800, rock_rows=200)
    reads: list[int] = []
    original = rasterio.io.DatasetReader.read

    def counting_read(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        reads.append(out.size)
        return out

    with open_scene(path) as scene:
        zones = np.zeros((scene.height, scene.width), np.uint8)
        valid = np.zeros((scene.height, scene.width), bool)  # drawn as the grey at half brightness
        monkeypatch.setattr(rasterio.io.DatasetReader, "read", counting_read)
        look = render_quicklook(tmp_path / "look.png", scene, zones, valid, [], max_side_px=200)
    # A 200 x 150 picture: one read of its own size, not 1600 x 1200 pixels.
    assert reads and sum(reads) <= 200 * 150
    picture = np.asarray(Image.open(look).convert("L")).astype(int)
    zoom = 768 // 200
    # Scene rows and columns -> picture pixels: decimated by 8, then enlarged by the zoom.
    at = lambda row, col: picture[row * zoom // 8, col * zoom // 8]  # noqa: E731
    assert at(100, 400) > at(600, 400) > at(600, 1200)  # rock brighter than glacier brighter than ocean
    assert abs(at(100, 400) - round(ROCK * 0.5)) <= 1 and abs(at(600, 1200) - round(OCEAN * 0.5)) <= 1


# -- C: --nodata ------------------------------------------------------------------------------------------


def framed_scene(path, nodata=None, border=20):
    """The glacier scene with a 0 frame ``border`` px wide all round, the file declaring ``nodata``."""
    plain = glacier_scene(path.with_name("plain.tif"))
    with rasterio.open(plain) as src:
        data, profile = src.read(1), src.profile
    data[:border], data[-border:], data[:, :border], data[:, -border:] = 0, 0, 0, 0
    profile.update(nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_undeclared_zero_border_makes_a_spurious_front_unless_nodata_0(model, tmp_path, capsys) -> None:
    path = framed_scene(tmp_path / "framed.tif", nodata=255)  # declares a nodata value it never uses
    backend = load_backend(model)
    plain = predict_scene(path, backend, PredictOptions(tile=128))
    # The 0 frame reads as ocean: fronts along the glacier's left and bottom borders as well.
    assert sum(line.length_m for line in plain.lines) > 1.5 * 230 * 20.0
    flagged = predict_scene(path, backend, PredictOptions(tile=128, nodata=0))
    [line] = flagged.lines
    xy = np.asarray(line.geometry.coords)
    np.testing.assert_allclose(xy[:, 0], -200_000.0 + 220 * 20.0)
    # rows 50..280: the frame is not front (ground metres: a bit over the 4600 map metres at 72 N)
    assert 230 * 20.0 < line.length_m < 230 * 20.0 * 1.01
    assert flagged.valid_fraction == pytest.approx(260 * 360 / (300 * 400))
    zones = tmp_path / "z.tif"
    argv = ["predict", str(path), "-o", str(tmp_path / "f.gpkg"), "-m", str(model), "--zones", str(zones)]
    assert main([*argv, "--nodata", "0", "--tile", "128"]) == 0
    with rasterio.open(zones) as z:
        data = z.read(1)
    assert (data[:20] == 255).all() and (data[:, :20] == 255).all()  # zones: nodata in the frame
    assert data[100, 100] == 2 and data[100, 300] == 3
    assert "pixels of 0 are nodata (--nodata, replacing the file's own nodata 255)" in capsys.readouterr().err


def test_nodata_override_leaves_the_value_out_of_statistics_and_resampling(tmp_path) -> None:
    data = np.full((60, 80), 1000, np.uint16)
    data[:, 40:] = 2000
    data[:10], data[:, :10] = 0, 0
    data[30, 60] = 7  # the file's own nodata: a value like any other once --nodata replaces it
    path = tmp_path / "u16.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=80,
        height=60,
        count=1,
        dtype="uint16",
        crs="EPSG:3413",
        transform=from_origin(0, 0, 10, 10),
        nodata=7,
    ) as dst:
        dst.write(data, 1)
    with open_scene(path) as scene:
        assert scene.scale_low == 0  # the 0s are data: they set the bottom of the stretch
    with open_scene(path, nodata=0) as scene:
        assert scene.nodata == 0 and (scene.scale_low, scene.scale_high) == (1000, 2000)
        assert scene.scaling_note.startswith("pixels of 0 are nodata (--nodata, replacing the file's own")
        _, valid = scene.read_window(0, 0, 60, 80)
    np.testing.assert_array_equal(valid, data != 0)
    with open_scene(path, nodata=0, scaling="minmax:0,2000", target_resolution=23.0) as scene:
        image, valid = scene.read_window(0, 0, scene.height, scene.width)
    # Resampled around the 0s as GDAL resamples around nodata: the frame stays invalid and no 0 is
    # blended into a valid pixel (1000 reads 0.5; a blend with 0 would read less).
    assert not valid[:3].any() and not valid[:, :3].any() and valid[6:, 6:].all()
    assert image[0][valid].min() == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(GlacierfrontError, match=r"u16\.tif: --nodata -1 cannot occur in its uint16 values"):
        open_scene(path, nodata=-1)

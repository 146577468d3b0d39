"""predict: a georeferenced scene in, the known calving front out, and every bad input handled."""

from __future__ import annotations

import fiona
import numpy as np
import pytest
import rasterio
from fakes import glacier_scene, threshold_model

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.vector_files import read_lines
from glacierfront.model.backend import load_backend
from glacierfront.model.export import restamp_onnx
from glacierfront.predict import PredictOptions, choose_scale, predict_scene
from glacierfront.predict.segment import segment_array

RES = 20.0
X0, Y0 = -200_000.0, -2_000_000.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture
def scene(tmp_path):
    return glacier_scene(tmp_path / "scene_2020-07-01.tif")


def test_front_found_where_glacier_meets_ocean(model, scene):
    result = predict_scene(scene, load_backend(model), PredictOptions(tile=128, overlap=32))
    assert len(result.lines) == 1
    line = result.lines[0].geometry
    xs = np.asarray(line.coords)[:, 0]
    np.testing.assert_allclose(xs, X0 + 220 * RES)  # the edge between columns 219 and 220
    ys = sorted(np.asarray(line.coords)[:, 1])
    np.testing.assert_allclose([ys[0], ys[-1]], [Y0 - 300 * RES, Y0 - 50 * RES])
    # Ground metres: at about 72 N, beyond EPSG:3413's true-scale 70 N, a map metre is a bit less than one.
    assert 250 * RES < result.lines[0].length_m < 250 * RES * 1.01
    assert 0.5 < result.lines[0].confidence <= 1.0
    assert result.attributes["date"] == "2020-07-01"
    assert result.crs.to_epsg() == 3413


def test_tiled_zones_equal_untiled_zones(model):
    rng = np.random.default_rng(0)
    image = rng.random((150, 170)).astype(np.float32)
    backend = load_backend(model)
    whole, conf_whole = segment_array(image, backend, tile=192, overlap=0)
    tiled, conf_tiled = segment_array(image, backend, tile=64, overlap=24, batch_size=3)
    np.testing.assert_array_equal(tiled, whole)
    np.testing.assert_allclose(conf_tiled, conf_whole, atol=1 / 255)


def test_nodata_is_never_front(model, tmp_path):
    # Glacier from the nodata strip edge: a front must not appear along the nodata boundary.
    path = glacier_scene(tmp_path / "nd.tif", nodata_cols=60)
    result = predict_scene(path, load_backend(model), PredictOptions(tile=128))
    assert len(result.lines) == 1
    assert np.allclose(np.asarray(result.lines[0].geometry.coords)[:, 0], X0 + 220 * RES)
    assert 0.8 < result.valid_fraction < 0.9


def test_resampled_to_model_resolution_maps_back(tmp_path, scene):
    coarse = threshold_model(tmp_path / "coarse.onnx", resolution_m=40.0)
    result = predict_scene(scene, load_backend(coarse), PredictOptions(tile=128))
    assert result.shape == (150, 200)
    assert result.resolution_m == pytest.approx(40.0)
    assert result.native_resolution_m == pytest.approx(RES) and result.resampled
    xs = np.asarray(result.lines[0].geometry.coords)[:, 0]
    assert np.all(np.abs(xs - (X0 + 220 * RES)) <= 40.0)


def test_geographic_scene_gives_lengths_in_metres(model, tmp_path):
    # No rock rows: resampling would blend rock and ocean into a seam the threshold fake calls glacier.
    path = glacier_scene(tmp_path / "geo.tif", res=0.001, crs="EPSG:4326", origin=(-50.0, 69.2), rock_rows=0)
    result = predict_scene(path, load_backend(model), PredictOptions(tile=128, min_length_m=10))
    assert len(result.lines) == 1
    # 300 rows of 0.001 degrees of latitude at 69 N: about 111.55 km a degree on the ellipsoid.
    assert result.lines[0].length_m == pytest.approx(300 * 0.001 * 111_550, rel=0.01)


def test_cli_writes_vectors_zones_and_quicklook(model, scene, tmp_path):
    out, zones, look = tmp_path / "fronts.gpkg", tmp_path / "zones.tif", tmp_path / "look.png"
    rc = main(
        [
            "predict",
            str(scene),
            "-o",
            str(out),
            "-m",
            str(model),
            "--zones",
            str(zones),
            "--quicklook",
            str(look),
            "--tile",
            "128",
            "-q",
        ]
    )
    assert rc == 0
    with fiona.open(out) as layer:
        assert layer.crs.to_epsg() == 3413
        feats = list(layer)
    assert len(feats) == 1
    props = feats[0].properties
    assert props["scene"] == "scene_2020-07-01" and props["model"] == "threshold.onnx"
    assert len(props["model_sha"]) == 64 and 5000 < props["length_m"] < 5050  # ground metres
    with rasterio.open(zones) as z, rasterio.open(scene) as s:
        assert z.transform == s.transform and z.crs == s.crs
        data = z.read(1)
        assert z.colormap(1)[3][:3] == (25, 60, 140)
    assert data[100, 219] == 2 and data[100, 220] == 3 and data[10, 10] == 1
    assert look.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fronts.gpkg",
        "look.png",
        "scene_2020-07-01.tif",
        "zones.tif",
    ]


@pytest.mark.parametrize("suffix", [".shp", ".geojson"])
def test_cli_formats_from_suffix(model, scene, tmp_path, suffix):
    out = tmp_path / f"fronts{suffix}"
    assert main(["predict", str(scene), "-o", str(out), "-m", str(model), "-q"]) == 0
    records, crs = read_lines(out)
    assert len(records) == 1 and crs is not None


def test_several_scenes_to_folder_and_failures_reported(model, tmp_path, capsys):
    a = glacier_scene(tmp_path / "a.tif")
    b = glacier_scene(tmp_path / "b.tif", front_col=150)
    bad = tmp_path / "c.tif"
    bad.write_text("not a raster")
    rc = main(["predict", str(a), str(bad), str(b), "-o", str(tmp_path / "out"), "-m", str(model), "-q"])
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.gpkg", "b.gpkg"]
    err = capsys.readouterr().err
    assert "c.tif: not a raster" in err


def test_several_scenes_into_one_layer_with_scene_field(model, tmp_path):
    a = glacier_scene(tmp_path / "a.tif")
    b = glacier_scene(tmp_path / "b.tif", front_col=150)
    out = tmp_path / "all.gpkg"
    assert main(["predict", str(a), str(b), "-o", str(out), "-m", str(model), "-q"]) == 0
    records, _ = read_lines(out)
    assert sorted(props["scene"] for _, props in records) == ["a", "b"]


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_an_all_nodata_scene_fails_the_same_whatever_its_type(model, tmp_path, capsys, dtype):
    path = glacier_scene(tmp_path / "empty.tif", nodata_cols=400, dtype=dtype)
    if dtype == "float32":  # a float scene's nodata is NaN, not a declared value
        with rasterio.open(path, "r+") as dst:
            dst.nodata = None
            dst.write(np.full((dst.height, dst.width), np.nan, np.float32), 1)
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model)]) == 1
    err = capsys.readouterr().err
    assert "empty.tif: no valid pixels (all nodata or NaN)" in err and not out.exists()


def test_scene_without_crs_needs_flag_then_gives_pixel_coordinates(model, tmp_path, capsys):
    path = glacier_scene(tmp_path / "nocrs.tif", crs=None)
    out = tmp_path / "f.geojson"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), "-q"]) == 1
    assert "no coordinate reference system" in capsys.readouterr().err
    assert not out.exists()
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), "-q", "--allow-pixel-coords"]) == 0
    records, _ = read_lines(out)
    assert np.allclose(np.asarray(records[0][0].coords)[:, 0], 220)
    # Pixels are not metres: length_m stays empty rather than hold a pixel count.
    assert records[0][1]["length_m"] is None


def test_scene_smaller_than_a_tile_still_works(model, tmp_path):
    path = glacier_scene(tmp_path / "small.tif", height=60, width=90, front_col=40, rock_rows=10)
    result = predict_scene(path, load_backend(model), PredictOptions(tile=512, min_length_m=100))
    assert result.tiles == 1 and len(result.lines) == 1


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda p: p, [], "file not found"),
        (lambda p: (p.write_text("hello"), p)[1], [], "not a raster"),
        (lambda p: glacier_scene(p, height=20, width=20, rock_rows=5, front_col=10), [], "too small"),
        (lambda p: glacier_scene(p), ["--band", "2"], "band 2 is out of range"),
        (lambda p: glacier_scene(p), ["--tile", "100"], "multiple of 32"),
        (lambda p: glacier_scene(p), ["--resolution", "foo"], "--resolution foo: give a pixel spacing"),
        (lambda p: glacier_scene(p), ["--resolution", "0"], "--resolution 0: give a pixel spacing"),
        (lambda p: glacier_scene(p), ["--resolution", "-20"], "--resolution -20: give a pixel spacing"),
        (lambda p: glacier_scene(p), ["--resolution", "nan"], "--resolution nan: give a pixel spacing"),
    ],
    ids=["missing", "not-raster", "tiny", "bad-band", "bad-tile", "res-foo", "res-0", "res-neg", "res-nan"],
)
def test_bad_input_one_line_error_nothing_written(model, tmp_path, capsys, make, extra, message):
    scene = make(tmp_path / "in.tif")
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(scene), "-o", str(out), "-m", str(model), "-q", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    if (
        not extra or extra[0] != "--resolution"
    ):  # an error about a scene names it; option errors name the option
        assert "in.tif" in err
    assert not out.exists()


def test_output_under_a_file_is_refused(model, scene, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["predict", str(scene), "-o", str(blocker / "f.gpkg"), "-m", str(model), "-q"]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_model_bands_must_match(tmp_path, scene, capsys):
    three = threshold_model(tmp_path / "rgb.onnx", in_channels=3)
    assert main(["predict", str(scene), "-o", str(tmp_path / "f.gpkg"), "-m", str(three), "-q"]) == 1
    assert "expects 3 input bands" in capsys.readouterr().err


def test_aoi_in_another_crs_limits_the_front(model, scene, tmp_path):
    import fiona
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping, shape

    # The upper half of the front only (rows 50..175), written in EPSG:4326.
    poly = box(X0 + 200 * RES, Y0 - 175 * RES, X0 + 240 * RES, Y0 - 40 * RES)
    geo = transform_geom("EPSG:3413", "EPSG:4326", mapping(poly))
    aoi = tmp_path / "aoi.geojson"
    schema = {"geometry": "Polygon", "properties": {}}
    with fiona.open(aoi, "w", driver="GeoJSON", crs="EPSG:4326", schema=schema) as dst:
        dst.write({"geometry": geo, "properties": {}})
    result = predict_scene(scene, load_backend(model), PredictOptions(tile=128, aoi=aoi))
    assert len(result.lines) == 1
    ys = np.asarray(result.lines[0].geometry.coords)[:, 1]
    assert ys.min() >= Y0 - 176 * RES and ys.max() <= Y0 - 50 * RES
    assert shape(geo).is_valid


def test_aoi_without_polygons_is_an_error(model, scene, tmp_path, capsys):
    from shapely.geometry import LineString

    from glacierfront.io.vector_files import write_lines

    lines = write_lines(tmp_path / "lines.gpkg", [(LineString([(0, 0), (1, 1)]), {})], "EPSG:3413", {})
    assert (
        main(
            [
                "predict",
                str(scene),
                "-o",
                str(tmp_path / "f.gpkg"),
                "-m",
                str(model),
                "--aoi",
                str(lines),
                "-q",
            ]
        )
        == 1
    )
    assert "holds no polygons" in capsys.readouterr().err


# -- scale: predict processes at the model's training spacing unless told otherwise -------------------------


@pytest.fixture(scope="module")
def model_40m(tmp_path_factory):
    """The threshold model stating a 40 m training spacing, tolerating 30..60 m."""
    folder = tmp_path_factory.mktemp("model40")
    plain = threshold_model(folder / "plain.onnx")
    return restamp_onnx(
        plain, folder / "m40.onnx", {"resolution_m": 40.0, "resolution_range_m": [30.0, 60.0]}
    )


def zones_shape(path):
    with rasterio.open(path) as z:
        return z.height, z.width


def predict_cli(scene, model, tmp_path, *extra):
    zones = tmp_path / "zones.tif"
    rc = main(
        [
            "predict",
            str(scene),
            "-o",
            str(tmp_path / "f.gpkg"),
            "-m",
            str(model),
            "--zones",
            str(zones),
            *extra,
        ]
    )
    return rc, zones_shape(zones)


def test_default_resamples_to_the_models_spacing_and_says_so(model_40m, scene, tmp_path, capsys):
    rc, shape = predict_cli(scene, model_40m, tmp_path)
    assert rc == 0 and shape == (150, 200)  # 300 x 400 px of 20 m processed at 40 m
    err = capsys.readouterr().err
    line = (
        "scene_2020-07-01.tif: 20.0 m pixels resampled to 40.0 m (the model's training scale); "
        "--resolution native to keep the grid"
    )
    assert line in err.splitlines()
    assert "warning" not in err
    records, _ = read_lines(tmp_path / "f.gpkg")
    assert records[0][1]["pixel_m"] == pytest.approx(40.0)


def test_resolution_native_keeps_the_grid_and_warns_out_of_range(model_40m, scene, tmp_path, capsys):
    rc, shape = predict_cli(scene, model_40m, tmp_path, "--resolution", "native", "-q")
    assert rc == 0 and shape == (300, 400)
    err = capsys.readouterr().err
    assert "resampled" not in err
    # 20 m is outside the model's 30..60 m: said even with --quiet, with what to do.
    [warning] = err.splitlines()
    assert warning.startswith("scene_2020-07-01.tif: processed at its own 20.0 m pixels, outside the 30-60 m")
    assert "leave out --resolution native to resample to 40 m" in warning


def test_resolution_in_metres_resamples_there(model_40m, scene, tmp_path, capsys):
    rc, shape = predict_cli(scene, model_40m, tmp_path, "--resolution", "45")
    assert rc == 0 and shape == (133, 178)  # round(300 * 20 / 45), round(400 * 20 / 45)
    err = capsys.readouterr().err
    assert "scene_2020-07-01.tif: 20.0 m pixels resampled to 45.0 m (--resolution)" in err
    assert "warning" not in err and "outside" not in err
    result = predict_scene(scene, load_backend(model_40m), PredictOptions(resolution_m=45.0))
    assert result.shape == (133, 178) and result.resampled
    assert result.resolution_m == pytest.approx(45.0, rel=0.01)


def test_resolution_outside_the_models_range_warns(model_40m, scene, tmp_path, capsys):
    rc, shape = predict_cli(scene, model_40m, tmp_path, "--resolution", "100", "-q")
    assert rc == 0 and shape == (60, 80)
    err = capsys.readouterr().err
    assert "scene_2020-07-01.tif: --resolution 100 m is outside the 30-60 m the model was trained for" in err


def test_model_without_a_stated_spacing_keeps_the_grid_and_warns_once(model, tmp_path, capsys):
    a, b = glacier_scene(tmp_path / "a.tif"), glacier_scene(tmp_path / "b.tif")
    assert main(["predict", str(a), str(b), "-o", str(tmp_path / "out"), "-m", str(model), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("the model states no training pixel spacing") == 1
    assert "glacierfront export --resolution-m M" in err
    result = predict_scene(a, load_backend(model), PredictOptions())
    assert result.shape == (300, 400) and not result.resampled


def test_scene_at_the_models_spacing_is_not_resampled(model_40m, tmp_path, capsys):
    path = glacier_scene(tmp_path / "s40.tif", res=40.0)
    result = predict_scene(path, load_backend(model_40m), PredictOptions())
    assert result.shape == (300, 400) and not result.resampled
    assert result.scale.note is None and result.scale.warning is None


def test_scene_without_crs_cannot_be_resampled_said_once(model_40m, tmp_path, capsys):
    a = glacier_scene(tmp_path / "a.tif", crs=None)
    b = glacier_scene(tmp_path / "b.tif", crs=None)
    out = tmp_path / "out"
    assert (
        main(["predict", str(a), str(b), "-o", str(out), "-m", str(model_40m), "--allow-pixel-coords", "-q"])
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("no CRS (pixel coordinates): nothing can be resampled") == 1
    assert "resample the files to about 40 m pixels beforehand" in err
    result = predict_scene(a, load_backend(model_40m), PredictOptions(allow_pixel_coords=True))
    assert result.shape == (300, 400) and not result.resampled and result.resolution_m is None


@pytest.mark.parametrize(
    ("native", "requested", "model_m", "span", "target", "note", "warning"),
    [
        (30.0, None, 60.0, (30.0, 120.0), 60.0, "30.0 m pixels resampled to 60.0 m (the model's", None),
        (30.0, "native", 60.0, (45.0, 80.0), None, None, "leave out --resolution native"),
        (30.0, "native", 60.0, (30.0, 120.0), None, None, None),
        (30.0, 45.0, 60.0, (45.0, 80.0), 45.0, "resampled to 45.0 m (--resolution)", None),
        (30.0, 200.0, 60.0, (45.0, 80.0), 200.0, "resampled to 200.0 m", "--resolution 200 m is outside"),
        (60.3, None, 60.0, None, None, None, None),  # within 1 %: kept
        (20.0, "native", 60.0, None, None, None, "outside the 40-90 m"),  # no range: 1.5x either way
        (20.0, None, None, (45.0, 80.0), None, None, "pass --resolution M in 45..80"),
        (20.0, None, None, None, None, None, "states no training pixel spacing"),
        (20.0, 45.0, None, None, 45.0, "resampled to 45.0 m", None),
        (None, None, 60.0, (45.0, 80.0), None, None, "no CRS"),
    ],
)
def test_choose_scale(native, requested, model_m, span, target, note, warning):
    choice = choose_scale(native, requested, model_m, span)
    assert choice.target_m == target
    assert (choice.note is None) == (note is None) and (note is None or note in choice.note)
    assert (choice.warning is None) == (warning is None) and (warning is None or warning in choice.warning)


def test_malformed_scale_metadata_is_an_error(tmp_path, scene):
    bad = threshold_model(tmp_path / "bad.onnx", resolution_m=-5.0)
    with pytest.raises(
        GlacierfrontError, match="bad.onnx: metadata resolution_m -5.0 is not a positive number"
    ):
        predict_scene(scene, load_backend(bad), PredictOptions())


# --- test-time augmentation, ensembles, the ocean rule --------------------------------------------------


def _positional_backend(weights: tuple[float, float, float], seed: int = 0):
    """A fake model that is NOT equivariant: logit k = a_k * pixel + b_k * row + c_k * column of its input."""
    from pathlib import Path

    from glacierfront.model.backend import Backend
    from glacierfront.model.config import CISNetConfig

    coef = np.random.default_rng(seed).normal(size=(4, 3)) * np.asarray(weights)

    def run(x: np.ndarray) -> np.ndarray:
        rows, cols = np.indices(x.shape[-2:], dtype=np.float32)
        terms = np.stack(
            [x[:, 0], np.broadcast_to(rows, x[:, 0].shape), np.broadcast_to(cols, x[:, 0].shape)]
        )
        return np.einsum("kt,tnhw->nkhw", coef, terms).astype(np.float32)

    meta = {"normalization": {"mean": 0.0, "std": 1.0}, "tile_size": 64}
    return Backend("fake", Path(f"positional{seed}.onnx"), CISNetConfig(), meta, "cpu", run), coef


def _hand_tta(image: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The TTA average written out per pixel: under each flip/rotation, pixel (r, c) is seen by the model at
    another position; average the softmax of the logits it gets there (the orbit of the position)."""
    h, w = image.shape
    out = np.zeros((4, h, w))
    for r in range(h):
        for c in range(w):
            orbit = [(r, c), (r, w - 1 - c), (h - 1 - r, c), (h - 1 - r, w - 1 - c)]
            if h == w:
                n = h - 1
                orbit += [(c, r), (n - c, n - r), (n - c, r), (c, n - r)]
            for i, j in orbit:
                logits = coef @ np.array([image[r, c], i, j])
                out[:, r, c] += np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            out[:, r, c] /= len(orbit)
    return out


@pytest.mark.parametrize("shape", [(6, 6), (5, 7)])
@pytest.mark.parametrize("call_pixels", [None, 100])  # all transforms in one model call, or one per call
def test_tta_averages_the_flips_and_rotations_mapped_back(shape, call_pixels, monkeypatch):
    if call_pixels is not None:
        monkeypatch.setattr("glacierfront.model.backend.TTA_CALL_PIXELS", call_pixels)
    backend, coef = _positional_backend((1.0, 0.7, -0.4))
    images = np.random.default_rng(1).random((2, 1, *shape)).astype(np.float32)
    backend.tta = True
    got = backend.predict(images)
    assert got.shape == (2, 4, *shape)
    for n in range(2):
        np.testing.assert_allclose(got[n], _hand_tta(images[n, 0], coef), rtol=1e-5, atol=1e-6)
    backend.tta = False
    assert not np.allclose(backend.predict(images), got, atol=1e-3)  # the fake really is position-dependent


def test_tta_of_an_equivariant_model_gives_the_same_zones(model):
    image = np.random.default_rng(2).random((150, 170)).astype(np.float32)
    plain, tta = load_backend(model), load_backend(model, tta=True)
    assert tta.tta and not plain.tta
    zones, conf = segment_array(image, plain, tile=64, overlap=16)
    zones_tta, conf_tta = segment_array(image, tta, tile=64, overlap=16)
    np.testing.assert_array_equal(zones_tta, zones)
    np.testing.assert_allclose(conf_tta, conf, atol=1 / 255)
    tiles = image[None, None, :40, :56]  # not square: the four flips only
    np.testing.assert_allclose(tta.predict(tiles), plain.predict(tiles), atol=1e-6)


def test_ensemble_averages_the_models_probabilities(model):
    from glacierfront.model.backend import ensemble_backend

    (a, _), (b, _) = _positional_backend((1.0, 0.5, 0.5), 0), _positional_backend((1.0, 0.5, 0.5), 1)
    images = np.random.default_rng(3).random((2, 1, 8, 8)).astype(np.float32)
    both = ensemble_backend([a, b])
    np.testing.assert_allclose(both.predict(images), (a.predict(images) + b.predict(images)) / 2, atol=1e-6)
    assert both.label == "positional0.onnx+positional1.onnx"
    with_tta = ensemble_backend([a, b], tta=True)
    a.tta = b.tta = True
    np.testing.assert_allclose(
        with_tta.predict(images), (a.predict(images) + b.predict(images)) / 2, atol=1e-6
    )
    # Several paths to load_backend make an ensemble; the same model twice gives that model.
    twice, once = load_backend([model, model]), load_backend(model)
    np.testing.assert_allclose(twice.predict(images), once.predict(images), atol=1e-6)
    assert twice.label == "threshold.onnx+threshold.onnx" and len(twice.sha256) == 64


def test_ensemble_refuses_models_that_disagree(tmp_path, model):
    two_bands = threshold_model(tmp_path / "rgb.onnx", in_channels=2)
    with pytest.raises(GlacierfrontError, match="input bands"):
        load_backend([model, two_bands])
    coarse = threshold_model(tmp_path / "coarse.onnx", resolution_m=40.0)
    with pytest.raises(GlacierfrontError, match="training pixel spacing"):
        load_backend([model, coarse])


def test_predict_edge_ocean_rule_drops_a_lake_larger_than_the_ocean(model, tmp_path):
    from fakes import OCEAN as DARK

    path = glacier_scene(tmp_path / "lake.tif", front_col=380)  # real ocean: 20 x 250 px on the right edge
    with rasterio.open(path, "r+") as dst:
        image = dst.read(1)
        image[120:220, 100:200] = DARK  # a 100 x 100 px lake on the ice: CaFFe's largest ocean piece
        dst.write(image, 1)
    assert PredictOptions().ocean_rule == "largest"
    largest = predict_scene(path, load_backend(model), PredictOptions(tile=128))
    xs = np.concatenate([np.asarray(line.geometry.coords)[:, 0] for line in largest.lines])
    assert xs.max() <= X0 + 200 * RES  # the lake's outline; the real front is lost
    edge = predict_scene(path, load_backend(model), PredictOptions(tile=128, ocean_rule="edge"))
    assert len(edge.lines) == 1
    np.testing.assert_allclose(np.asarray(edge.lines[0].geometry.coords)[:, 0], X0 + 380 * RES)


def test_cli_passes_tta_and_ocean_rule_to_the_model_and_post_processing(
    model, scene, tmp_path, monkeypatch, capsys
):
    from glacierfront.batch import worker as predict_cli  # the batch loop loads the model and runs scenes

    seen = {}
    real_load, real_predict = predict_cli.load_backend, predict_cli.predict_scene
    monkeypatch.setattr(predict_cli, "_BACKENDS", {})  # models loaded by earlier tests

    def load(path, device="auto", tta=False, threads=None):
        seen["tta"] = tta
        return real_load(path, device, tta=tta, threads=threads)

    def run(path, backend, options, *args, **kwargs):
        seen["ocean_rule"], seen["backend_tta"] = options.ocean_rule, backend.tta
        return real_predict(path, backend, options, *args, **kwargs)

    monkeypatch.setattr(predict_cli, "load_backend", load)
    monkeypatch.setattr(predict_cli, "predict_scene", run)
    out = tmp_path / "f.gpkg"
    args = ["predict", str(scene), "-o", str(out), "-m", str(model), "-q", "--tta", "--ocean-rule", "edge"]
    assert main(args) == 0
    assert seen == {"tta": True, "ocean_rule": "edge", "backend_tta": True}
    assert main(["predict", str(scene), "-o", str(out), "-m", str(model), "-q", "--overwrite"]) == 0
    assert seen == {"tta": False, "ocean_rule": "largest", "backend_tta": False}
    capsys.readouterr()
    assert main(["predict", str(scene), "-o", str(out), "-m", str(model), "--ocean-rule", "wide"]) == 1
    assert "wide" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--zones", "--quicklook", "-o"])
def test_an_output_that_is_an_input_is_refused_before_any_work(model, scene, tmp_path, capsys, flag):
    aoi = tmp_path / "aoi.gpkg"
    with fiona.open(
        aoi, "w", driver="GPKG", crs="EPSG:3413", schema={"geometry": "Polygon", "properties": {}}
    ) as dst:
        dst.write({"geometry": {"type": "Polygon", "coordinates": [[(X0, Y0), (X0 + 1e4, Y0), (X0 + 1e4, Y0 - 1e4), (X0, Y0)]]}, "properties": {}})  # fmt: skip
    before = {p: p.read_bytes() for p in (scene, aoi)}
    target = aoi if flag == "-o" else scene
    args = ["predict", str(scene), "-m", str(model), "--aoi", str(aoi), "-o", str(tmp_path / "f.gpkg")]
    args = [*args[:-2], "-o", str(target)] if flag == "-o" else [*args, flag, str(target)]
    assert main(args) == 1
    err = capsys.readouterr().err
    # A quicklook over the .tif scene is now stopped one check earlier, by its suffix: refused all the same.
    expected = "name the file" if flag == "--quicklook" else "is one of this command's inputs"
    assert expected in err and len(err.strip().splitlines()) == 1
    assert all(p.read_bytes() == data for p, data in before.items())


def test_export_refuses_to_replace_the_checkpoint_it_reads(atto_checkpoint, tmp_path, capsys):
    import shutil

    run = tmp_path / "last.pt"
    shutil.copy(atto_checkpoint[0], run)
    data = run.read_bytes()
    assert main(["export", str(run), "-o", str(run)]) == 1
    assert "lose its training state" in capsys.readouterr().err and run.read_bytes() == data


def test_sigterm_mid_scene_cleans_up_and_exits_143(model, scene, tmp_path, monkeypatch, capsys):
    import os
    import signal
    import tempfile

    import glacierfront.batch.worker as predict_cli_module  # where the batch loop runs a scene

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real = predict_cli_module.predict_scene

    def killed_midway(path, backend, options, zones, quicklook, on_start, on_tiles):
        def tiles(n):
            on_tiles(n)
            os.kill(os.getpid(), signal.SIGTERM)  # what kill, timeout, SLURM and docker stop send

        return real(path, backend, options, zones, quicklook, on_start, tiles)

    monkeypatch.setattr(predict_cli_module, "predict_scene", killed_midway)
    out = tmp_path / "out"
    out.mkdir()
    args = ["predict", str(scene), "-m", str(model), "-o", str(out / "f.gpkg"), "--zones", str(out / "z.tif"),
            "--tile", "128"]  # fmt: skip
    assert main(args) == 143
    assert "terminated" in capsys.readouterr().err
    assert list(out.iterdir()) == [] and list(scratch.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not None  # the handler was put back


def test_absurd_resolution_and_tile_zero_are_refused_before_work(model, scene, tmp_path, capsys):
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(scene), "-m", str(model), "-o", str(out), "--resolution", "1"]) == 1
    err = capsys.readouterr().err
    assert "would make a" in err and "over 16x the pixels" in err and not out.exists()
    # 10 m on 20 m pixels is 4x the pixels: allowed.
    assert main(["predict", str(scene), "-m", str(model), "-o", str(out), "--resolution", "10", "-q"]) == 0
    assert main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "g.gpkg"), "--tile", "0"]) == 1
    assert "--tile 0" in capsys.readouterr().err


def test_a_wrong_aoi_fails_before_the_model_runs(model, scene, tmp_path, capsys, monkeypatch):
    from shapely.geometry import LineString

    import glacierfront.batch.worker as predict_cli_module  # where the batch loop runs a scene
    from glacierfront.io.vector_files import write_lines

    ran = []
    monkeypatch.setattr(predict_cli_module, "predict_scene", lambda *a, **k: ran.append(a))
    lines = write_lines(tmp_path / "lines.gpkg", [(LineString([(0, 0), (1, 1)]), {})], "EPSG:3413", {})
    args = [
        "predict",
        str(scene),
        str(scene),
        "-o",
        str(tmp_path / "out"),
        "-m",
        str(model),
        "--aoi",
        str(lines),
    ]
    assert main(args) == 1
    assert "holds no polygons" in capsys.readouterr().err and ran == []


def test_an_aoi_with_an_undefined_srs_is_one_line_before_any_work(
    model, scene, tmp_path, capsys, monkeypatch
):
    # What ogr2ogr makes of a .shp without .prj: a GeoPackage whose SRS is GDAL's "Undefined geographic SRS".
    import sqlite3

    import glacierfront.batch.worker as predict_cli_module  # where the batch loop runs a scene

    ran = []
    monkeypatch.setattr(predict_cli_module, "predict_scene", lambda *a, **k: ran.append(a))
    aoi = tmp_path / "aoi.gpkg"
    with fiona.open(aoi, "w", driver="GPKG", schema={"geometry": "Polygon", "properties": {}}) as dst:
        dst.write({"geometry": {"type": "Polygon", "coordinates": [[(X0, Y0), (X0 + 1e4, Y0), (X0 + 1e4, Y0 - 1e4), (X0, Y0)]]}, "properties": {}})  # fmt: skip
    with sqlite3.connect(aoi) as db:
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = 0")
        db.execute("UPDATE gpkg_contents SET srs_id = 0")
    with fiona.open(aoi) as src:
        assert "Undefined geographic SRS" in src.crs_wkt  # the file really is what the issue describes
    args = ["predict", str(scene), "-o", str(tmp_path / "f.gpkg"), "-m", str(model), "--aoi", str(aoi)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "has no CRS" in err and "ogr2ogr -a_srs" in err and len(err.strip().splitlines()) == 1
    assert ran == [] and not (tmp_path / "f.gpkg").exists()


def test_info_on_a_run_folder_says_to_pick_a_file_in_it(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 1
    assert "is a folder; give a model file in it" in capsys.readouterr().err


def test_a_truncated_geotiff_fails_alone_and_the_batch_goes_on(model, tmp_path, capsys):
    good = glacier_scene(tmp_path / "good.tif")
    with rasterio.open(good) as src:
        profile, data = src.profile, src.read()
    profile.update(tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    whole = tmp_path / "whole.tif"
    with rasterio.open(whole, "w", **profile) as dst:
        dst.write(data)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])  # header intact, tiles missing
    out = tmp_path / "out"
    assert main(["predict", str(cut), str(good), "-o", str(out), "-m", str(model), "-q"]) == 1
    err = capsys.readouterr().err
    assert "cut.tif" in err and "internal error" not in err
    assert (out / "good.gpkg").exists() and not (out / "cut.gpkg").exists()


@pytest.mark.parametrize(("flag", "name"), [("--zones", "z.png"), ("--quicklook", "q.jpg")])
def test_an_output_suffix_of_another_format_is_refused(model, scene, tmp_path, capsys, flag, name):
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(scene), "-m", str(model), "-o", str(out), flag, str(tmp_path / name)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{flag} " in err and "name the file" in err and not out.exists() and not (tmp_path / name).exists()
    )


def test_the_same_scene_twice_is_refused_before_work(model, scene, tmp_path, capsys):
    out = tmp_path / "all.gpkg"
    again = tmp_path / "." / scene.name
    assert main(["predict", str(scene), str(again), "-m", str(model), "-o", str(out)]) == 1
    assert "given twice" in capsys.readouterr().err and not out.exists()


def test_a_missing_front_stays_on_stderr_with_quiet(model, tmp_path, capsys):
    path = glacier_scene(tmp_path / "allice.tif", front_col=400)  # glacier to the right edge: no ocean
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), "-q"]) == 0
    assert "allice.tif: no calving front found" in capsys.readouterr().err
    assert read_lines(out)[0] == []


def test_a_second_writer_of_one_new_file_fails_instead_of_dropping_the_first(
    model, tmp_path, monkeypatch, capsys
):
    """Two predict runs to the same new -o: the one that writes second gets exit 1 and the first one's
    lines stay in the file (before, both exited 0 and one scene's lines were lost)."""
    import glacierfront.batch.worker as predict_cli_module  # where the batch loop runs a scene

    first = glacier_scene(tmp_path / "first_2020-07-01.tif")
    second = glacier_scene(tmp_path / "second_2020-07-02.tif")
    out = tmp_path / "same.gpkg"
    real = predict_cli_module.predict_scene

    def other_run_finishes_meanwhile(path, *args):
        result = real(path, *args)
        monkeypatch.setattr(predict_cli_module, "predict_scene", real)  # the other run: a plain one
        assert main(["predict", str(first), "-m", str(model), "-o", str(out), "--quiet"]) == 0
        return result

    monkeypatch.setattr(predict_cli_module, "predict_scene", other_run_finishes_meanwhile)
    assert main(["predict", str(second), "-m", str(model), "-o", str(out), "--quiet"]) == 1
    assert "another process wrote it" in capsys.readouterr().err
    assert {rec["scene"] for _, rec in read_lines(out)[0]} == {"first_2020-07-01"}


def _write_aoi(path, polygon, crs="EPSG:3413"):
    schema = {"geometry": "Polygon", "properties": {}}
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=schema) as dst:
        dst.write({"geometry": polygon, "properties": {}})
    return path


def test_an_aoi_far_from_the_scene_is_the_users_error_not_a_missing_front(
    model, scene, tmp_path, capsys, monkeypatch
):
    from shapely.geometry import box, mapping

    import glacierfront.predict.segment as segment_module

    far = _write_aoi(tmp_path / "far.gpkg", mapping(box(X0 + 2e6, Y0, X0 + 2e6 + 5000, Y0 + 5000)))
    ran = []
    monkeypatch.setattr("glacierfront.predict.scene.segment", lambda *a, **k: ran.append(a))  # no inference
    assert segment_module  # the real one stays importable
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(scene), "-m", str(model), "-o", str(out), "--aoi", str(far), "-q"]) == 1
    err = capsys.readouterr().err
    assert "none of its polygons overlaps the scene" in err and "km away" in err
    assert "no calving front" not in err and ran == [] and not out.exists()


@pytest.mark.parametrize(
    "polygon, crs, message",
    [
        # a bow tie: self-intersecting
        ({"type": "Polygon", "coordinates": [[(X0, Y0), (X0 + 4000, Y0 - 4000), (X0 + 4000, Y0), (X0, Y0 - 4000), (X0, Y0)]]},
         "EPSG:3413", "is not valid (Self-intersection"),
        # metres labelled EPSG:4326
        ({"type": "Polygon", "coordinates": [[(X0, Y0), (X0 + 4000, Y0), (X0 + 4000, Y0 - 4000), (X0, Y0)]]},
         "EPSG:4326", "says degrees"),
    ],
)  # fmt: skip
def test_a_bad_aoi_is_one_line_before_the_model_loads(
    model, scene, tmp_path, capsys, monkeypatch, polygon, crs, message
):
    aoi = _write_aoi(tmp_path / "aoi.gpkg", polygon, crs)

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the AOI was checked")

    monkeypatch.setattr("glacierfront.cli.predict.cached_backend", refuse)
    assert (
        main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "--aoi", str(aoi)])
        == 1
    )
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "internal error" not in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--min-length", "nan"], "--min-length nan: give a length in metres"),
        (["--min-length", "-5"], "--min-length -5: give a length in metres"),
        (["--scaling", "bogus"], "--scaling 'bogus': unknown"),
        (["--scaling", "minmax:0,inf"], "finite numbers"),
        (["--scaling", "percentile:2,200"], "0..100"),
        (["--scaling", "gain:42"], "gain takes one of"),
    ],
)
def test_option_values_are_checked_before_the_model_loads(
    model, scene, tmp_path, capsys, monkeypatch, extra, message
):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("glacierfront.cli.predict.cached_backend", refuse)
    assert main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_missing_scene_is_refused_before_the_model_loads(model, scene, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the scenes were checked")

    monkeypatch.setattr("glacierfront.cli.predict.cached_backend", refuse)
    gone = tmp_path / "typo.tif"
    assert main(["predict", str(scene), str(gone), "-m", str(model), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{gone}: file not found" in err and err.count("\n") == 1 and not (tmp_path / "out").exists()

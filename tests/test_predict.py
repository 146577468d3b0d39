"""predict: a georeferenced scene in, the known calving front out, and every bad input handled."""

from __future__ import annotations

import fiona
import numpy as np
import pytest
import rasterio
from fakes import glacier_scene, threshold_model

from glacierfront.cli import main
from glacierfront.inference import load_backend
from glacierfront.io.vectors import read_lines
from glacierfront.predict import PredictOptions, predict_scene
from glacierfront.segment import segment_array

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
    assert result.lines[0].length_m == pytest.approx(250 * RES)
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
    xs = np.asarray(result.lines[0].geometry.coords)[:, 0]
    assert np.all(np.abs(xs - (X0 + 220 * RES)) <= 40.0)


def test_geographic_scene_gives_lengths_in_metres(model, tmp_path):
    path = glacier_scene(tmp_path / "geo.tif", res=0.001, crs="EPSG:4326", origin=(-50.0, 69.2))
    result = predict_scene(path, load_backend(model), PredictOptions(tile=128, min_length_m=10))
    assert len(result.lines) == 1
    # 250 rows of 0.001 degrees of latitude is about 27.6 km.
    assert result.lines[0].length_m == pytest.approx(250 * 0.001 * 110_540, rel=0.01)


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
    assert len(props["model_sha256"]) == 64 and props["length_m"] == pytest.approx(5000)
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


def test_nodata_only_scene_writes_empty_layer_with_message(model, tmp_path, capsys):
    path = glacier_scene(tmp_path / "empty.tif", nodata_cols=400)
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model)]) == 0
    assert read_lines(out)[0] == []
    assert "no valid pixels" in capsys.readouterr().err


def test_scene_without_crs_needs_flag_then_gives_pixel_coordinates(model, tmp_path, capsys):
    path = glacier_scene(tmp_path / "nocrs.tif", crs=None)
    out = tmp_path / "f.geojson"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), "-q"]) == 1
    assert "no coordinate reference system" in capsys.readouterr().err
    assert not out.exists()
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), "-q", "--allow-pixel-coords"]) == 0
    records, _ = read_lines(out)
    assert np.allclose(np.asarray(records[0][0].coords)[:, 0], 220)


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
    ],
    ids=["missing", "not-raster", "tiny", "bad-band", "bad-tile"],
)
def test_bad_input_one_line_error_nothing_written(model, tmp_path, capsys, make, extra, message):
    scene = make(tmp_path / "in.tif")
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(scene), "-o", str(out), "-m", str(model), "-q", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
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

    from glacierfront.io.vectors import write_lines

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

"""Where predict writes: existing outputs, GeoPackage layers, formats, output CRS, and failed writes."""

from __future__ import annotations

import errno

import fiona
import numpy as np
import pytest
from fakes import glacier_scene, threshold_model
from shapely.geometry import LineString

from glacierfront.cli import main
from glacierfront.io import vector_files
from glacierfront.io.vector_files import read_lines, write_lines

X0, Y0, RES = -200_000.0, -2_000_000.0, 20.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture
def scene(tmp_path):
    return glacier_scene(tmp_path / "scene_2020-07-01.tif")


@pytest.fixture
def no_model_run(monkeypatch):
    """Fail the test if the model is ever loaded: the checks under test must come before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded: the check came after the work had started")

    monkeypatch.setattr("glacierfront.cli.predict.cached_backend", refuse)
    monkeypatch.setattr("glacierfront.batch.worker.cached_backend", refuse)


def _predict(scene, model, out, *extra):
    return main(["predict", str(scene), "-m", str(model), "-o", str(out), "-q", *extra])


def _layer(path, name, n=1):
    lines = [(LineString([(X0, Y0 - i), (X0 + 100, Y0 - i)]), {"note": f"{name}{i}"}) for i in range(n)]
    return write_lines(path, lines, "EPSG:3413", {"note": "str"}, layer=name)


@pytest.mark.parametrize("name", ["f.gpkg", "f.shp", "f.geojson"])
def test_an_existing_vector_file_is_replaced_only_with_overwrite(model, scene, tmp_path, capsys, name):
    out = tmp_path / name
    assert _predict(scene, model, out) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert _predict(scene, model, out) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert _predict(scene, model, out, "--overwrite") == 0
    assert len(read_lines(out)[0]) == 1


@pytest.mark.parametrize("flag", ["--zones", "--quicklook"])
def test_an_existing_raster_output_is_refused_before_any_work(
    model, scene, tmp_path, capsys, no_model_run, flag
):
    target = tmp_path / ("z.tif" if flag == "--zones" else "q.png")
    target.write_bytes(b"precious")
    assert _predict(scene, model, tmp_path / "f.gpkg", flag, str(target)) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"precious" and not (tmp_path / "f.gpkg").exists()


def test_a_folder_output_refuses_a_scene_file_that_exists_before_any_work(
    model, scene, tmp_path, capsys, no_model_run
):
    out = tmp_path / "fronts"
    out.mkdir()
    (out / f"{scene.stem}.geojson").write_text("{}")
    assert _predict(scene, model, f"{out}/", "-f", "GeoJSON") == 1
    assert f"{scene.stem}.geojson: exists; pass --overwrite" in capsys.readouterr().err


def test_predict_writes_its_own_geopackage_layer_and_keeps_the_others(model, scene, tmp_path, capsys):
    out = tmp_path / "project.gpkg"
    _layer(out, "glacier_outlines", n=3)
    _layer(out, "fronts_2019", n=2)
    assert _predict(scene, model, out) == 0
    assert sorted(fiona.listlayers(out)) == ["fronts", "fronts_2019", "glacier_outlines"]
    assert len(read_lines(out, layer="glacier_outlines")[0]) == 3
    # Its own layer again: refused without --overwrite, then only that layer is replaced.
    assert _predict(scene, model, out) == 1
    assert "already holds layer 'fronts'" in capsys.readouterr().err
    assert _predict(scene, model, out, "--layer", "fronts_2020") == 0
    assert _predict(scene, model, out, "--overwrite") == 0
    assert sorted(fiona.listlayers(out)) == ["fronts", "fronts_2019", "fronts_2020", "glacier_outlines"]
    assert len(read_lines(out, layer="fronts_2019")[0]) == 2
    assert len(read_lines(out, layer="fronts")[0]) == 1


def test_layer_is_refused_for_a_format_without_layers(model, scene, tmp_path, capsys, no_model_run):
    assert _predict(scene, model, tmp_path / "f.shp", "--layer", "x") == 1
    assert "only a GeoPackage" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp"), ("geojson", ".geojson")]
)
def test_format_takes_gdal_driver_names_for_a_folder(model, scene, tmp_path, fmt, suffix):
    out = tmp_path / "fronts"
    assert _predict(scene, model, f"{out}/", "-f", fmt) == 0
    assert (out / f"{scene.stem}{suffix}").exists()


def test_a_format_that_contradicts_the_file_name_is_refused(model, scene, tmp_path, capsys, no_model_run):
    assert _predict(scene, model, tmp_path / "f.gpkg", "--format", "GeoJSON") == 1
    err = capsys.readouterr().err
    assert "GPKG file by its name, but --format says GeoJSON" in err


def test_an_output_in_a_missing_folder_is_refused_before_any_work(
    model, scene, tmp_path, capsys, no_model_run
):
    assert _predict(scene, model, tmp_path / "missing" / "f.gpkg") == 1
    assert "no such folder; create it first" in capsys.readouterr().err
    assert _predict(scene, model, tmp_path / "f.gpkg", "--zones", tmp_path / "no" / "z.tif") == 1
    assert "no such folder" in capsys.readouterr().err


def test_an_output_where_no_file_can_be_made_is_one_line_before_any_work(model, scene, capsys, no_model_run):
    # /proc passes a permission check as root but refuses every new file.
    assert _predict(scene, model, "/proc/f.gpkg") == 1
    err = capsys.readouterr().err
    assert "cannot write there" in err and len(err.strip().splitlines()) == 1


def test_scenes_in_several_crs_are_refused_before_any_work(model, tmp_path, capsys, no_model_run):
    a = glacier_scene(tmp_path / "a.tif", crs="EPSG:32622", origin=(500_000.0, 7_700_000.0))
    b = glacier_scene(tmp_path / "b.tif", crs="EPSG:32623", origin=(500_000.0, 7_700_000.0))
    rc = main(["predict", str(a), str(b), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "-q"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "2 CRSs" in err and "--dst-crs" in err


def test_dst_crs_puts_scenes_of_several_crs_in_one_file(model, tmp_path):
    a = glacier_scene(tmp_path / "a.tif", crs="EPSG:32622", origin=(500_000.0, 7_700_000.0))
    b = glacier_scene(tmp_path / "b.tif", crs="EPSG:32623", origin=(500_000.0, 7_700_000.0))
    out = tmp_path / "f.gpkg"
    rc = main(["predict", str(a), str(b), "-m", str(model), "-o", str(out), "-q", "--dst-crs", "EPSG:3413"])
    assert rc == 0
    records, crs = read_lines(out)
    assert "3413" in crs or "Polar_Stereographic" in crs
    # Each scene's front lands where it is on the ground: b is one UTM zone (6 degrees) east of a.
    xs = {props["scene"]: np.asarray(geom.coords)[:, 0].mean() for geom, props in records}
    ys = {props["scene"]: np.asarray(geom.coords)[:, 1].mean() for geom, props in records}
    distance = np.hypot(xs["a"] - xs["b"], ys["a"] - ys["b"])
    assert 150_000 < distance < 300_000  # 6 degrees of longitude at 69 N is about 240 km
    # The ground length is that of the scene's own grid, not of the reprojected line.
    assert all(props["length_m"] == pytest.approx(250 * RES, rel=0.01) for _, props in records)


def test_geojson_is_written_in_wgs84_unless_asked_otherwise(model, scene, tmp_path):
    out = tmp_path / "f.geojson"
    assert _predict(scene, model, out) == 0
    records, _ = read_lines(out)
    lon, lat = np.asarray(records[0][0].coords).mean(axis=0)
    assert -180 <= lon <= 180 and 60 < lat < 90
    kept = tmp_path / "kept.geojson"
    assert _predict(scene, model, kept, "--dst-crs", "EPSG:3413") == 0
    x, _ = np.asarray(read_lines(kept)[0][0][0].coords).mean(axis=0)
    assert x == pytest.approx(X0 + 220 * RES)


def test_a_failed_write_is_one_line_and_keeps_the_previous_file(model, scene, tmp_path, capsys, monkeypatch):
    out = tmp_path / "f.gpkg"
    assert _predict(scene, model, out) == 0
    before = out.read_bytes()
    capsys.readouterr()
    real_open = fiona.open

    class FullDisk:
        def __init__(self, sink):
            self.sink = sink

        def __enter__(self):
            self.sink.__enter__()
            return self

        def __exit__(self, *exc):
            return self.sink.__exit__(*exc)

        def write(self, record):
            self.sink.write(record)
            raise OSError(errno.ENOSPC, "No space left on device")

    def opening(path, mode="r", **kwargs):
        sink = real_open(path, mode, **kwargs)
        return FullDisk(sink) if mode == "w" else sink

    monkeypatch.setattr(vector_files.fiona, "open", opening)
    assert _predict(scene, model, out, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "writing failed (No space left on device); the previous file is kept" in err
    assert [line for line in err.splitlines() if "error" in line] == [
        line for line in err.splitlines() if "f.gpkg" in line
    ]
    assert "internal error" not in err and "Traceback" not in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.gpkg", "scene_2020-07-01.tif"]


def test_a_full_disk_during_the_quicklook_is_a_one_line_scene_failure(
    model, scene, tmp_path, capsys, monkeypatch
):
    from PIL import Image

    look = tmp_path / "look.png"
    look.write_bytes(b"yesterday's quicklook")
    real_save = Image.Image.save

    def fills_the_disk(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        with open(fp, "r+b") as fh:
            fh.truncate(100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fills_the_disk)
    assert _predict(scene, model, tmp_path / "f.gpkg", "--quicklook", look, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "look.png: writing failed (No space left on device); the previous file is kept" in err
    assert "internal error" not in err and "Traceback" not in err
    assert look.read_bytes() == b"yesterday's quicklook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["look.png", "scene_2020-07-01.tif"]

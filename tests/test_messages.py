"""Errors that say what is wrong: each case once reported a misleading message (issue 25, item 11)."""

from __future__ import annotations

import fiona
import onnx
import pytest
import torch
from fakes import glacier_scene, threshold_model
from shapely.geometry import LineString, box, mapping

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io import vector_files
from glacierfront.model.encoder import ConvNeXtV2Encoder
from glacierfront.model.weights import load_encoder_weights
from glacierfront.series import read_fronts


def test_damaged_config_metadata_in_an_onnx_model_is_called_damaged(tmp_path, capsys):
    path = threshold_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "config":
            prop.value = '{"encoder": "atto", "in_ch'
    onnx.save(model, str(path))
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "newer glacierfront" not in err and err.count("\n") == 1


class Pickled:
    """Any Python object: what torch.save stores as pickled code."""


def test_pickled_encoder_weights_are_refused_in_one_line_without_torch_advice(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"model": Pickled()}, path)
    with pytest.raises(GlacierfrontError) as caught:
        load_encoder_weights(ConvNeXtV2Encoder("atto"), path)
    message = str(caught.value)
    assert "pickled code" in message and "weights_only" not in message and "\n" not in message


def test_polygons_given_as_finetune_fronts_do_not_point_to_an_evaluate_flag(tmp_path, capsys):
    scene = glacier_scene(tmp_path / "S1A_20200104T101500.tif")
    polygons = tmp_path / "fronts.gpkg"
    with fiona.open(polygons, "w", driver="GPKG", crs="EPSG:3413",
                    schema={"geometry": "Polygon", "properties": {"date": "str"}}) as dst:  # fmt: skip
        dst.write(
            {
                "geometry": mapping(box(-196000, -2004000, -195000, -2003000)),
                "properties": {"date": "2020-01-04"},
            }
        )
    args = ["finetune", "--scenes", str(scene), "--fronts", str(polygons), "--glacier-side", "W",
            "-o", str(tmp_path / "m.onnx")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "holds polygons, not front lines" in err and "--boundary" not in err


def _dated(path, date):
    schema = {"geometry": "LineString", "properties": {"date": "str"}}
    with fiona.open(path, "w", driver="GPKG", crs="EPSG:3413", schema=schema) as dst:
        dst.write({"geometry": mapping(LineString([(0, 0), (1000, 0)])), "properties": {"date": date}})
    return path


def test_old_map_dates_are_dates_and_far_future_ones_are_called_future(tmp_path):
    fronts = read_fronts([_dated(tmp_path / "lia.gpkg", "1850-01-01")])
    assert fronts[0].date.isoformat() == "1850-01-01"
    with pytest.raises(GlacierfrontError, match="2999-01-01, in the future"):
        read_fronts([_dated(tmp_path / "typo.gpkg", "2999-01-01")])


def test_a_full_disk_while_replacing_a_geopackage_says_the_disk_is_full(tmp_path, monkeypatch):
    target = vector_files.write_lines(
        tmp_path / "f.gpkg", [(LineString([(0, 0), (1, 1)]), {})], "EPSG:3413", {}
    )
    before = target.read_bytes()

    def refuse(*args, **kwargs):  # what GDAL says when the layer's delete fails for want of space
        raise fiona.errors.DriverError("Layer fronts already exists, CreateLayer failed. Use OVERWRITE=YES")

    class Usage:
        free = 0

    monkeypatch.setattr(vector_files.fiona, "open", refuse)
    monkeypatch.setattr(vector_files.shutil, "disk_usage", lambda path: Usage())
    with pytest.raises(GlacierfrontError, match=r"no space left on the device\); the previous file is kept"):
        vector_files.write_lines(target, [(LineString([(0, 0), (2, 2)]), {})], "EPSG:3413", {})
    assert target.read_bytes() == before


def test_series_names_the_plot_when_the_plot_cannot_be_written(tmp_path, capsys):
    fronts = _dated(tmp_path / "f.gpkg", "2020-01-01")
    boxes = _aoi(tmp_path / "box.gpkg", polygon=box(-500, -300, 1500, 300))
    args = ["series", str(fronts), "--box", str(boxes), "--upstream", "W", "-o", str(tmp_path / "s.csv"),
            "--plot", "/proc/p.png"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("glacierfront: error: --plot /proc") and "cannot write there" in err
    assert not (tmp_path / "s.csv").exists()


# --- issue 25, item 16: what a new user is not told -------------------------------------------------------


def test_a_sar_model_on_a_landsat_scene_says_so(tmp_path, capsys):
    model = threshold_model(tmp_path / "sar.onnx")  # its metadata names no optical sensor: a SAR model
    scene = glacier_scene(tmp_path / "LE07_L1TP_009011_20000805_20170210_01_T1_B2.tif")
    assert main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "LE07 is an optical sensor but sar.onnx was trained on SAR images; use --model optical" in err
    s1 = glacier_scene(tmp_path / "S1A_IW_GRDH_1SDH_20200105T101010.tif")
    assert main(["predict", str(s1), "-m", str(model), "-o", str(tmp_path / "g.gpkg"), "-q"]) == 0
    assert "sensor" not in capsys.readouterr().err


def _aoi(path, props=None, schema=None, polygon=None, crs="EPSG:3413"):
    """A one-polygon layer: by default a 10 x 6 km box around the fake scenes (EPSG:3413)."""
    polygon = polygon if polygon is not None else box(-200_000, -2_006_000, -190_000, -2_000_000)
    with fiona.open(path, "w", driver="GPKG", crs=crs,
                    schema={"geometry": "Polygon", "properties": schema or {}}) as dst:  # fmt: skip
        dst.write({"geometry": mapping(polygon), "properties": props or {}})
    return path


def test_an_aoi_name_field_is_not_taken_for_a_glacier_id(tmp_path):
    from glacierfront.io.aoi import read_aoi_polygons

    named = _aoi(tmp_path / "a.gpkg", {"name": "CaFFe bounding box"}, {"name": "str"})
    assert read_aoi_polygons(named)[1][0][1] is None
    tagged = _aoi(
        tmp_path / "b.gpkg", {"name": "box", "glacier_id": "JAC"}, {"name": "str", "glacier_id": "str"}
    )
    assert read_aoi_polygons(tagged)[1][0][1] == "JAC"


def test_an_upstream_flag_that_contradicts_the_box_field_is_refused(tmp_path, capsys):
    model = threshold_model(tmp_path / "m.onnx")
    scene = glacier_scene(tmp_path / "s_2020-07-01.tif")
    boxes = _aoi(tmp_path / "box.gpkg", {"upstream": "W"}, {"upstream": "str"})
    args = ["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "--aoi", str(boxes)]
    assert main([*args, "--upstream", "E"]) == 1
    err = capsys.readouterr().err
    assert "'upstream' field says 270 deg (W) but --upstream says 90 deg (E)" in err


def test_a_plain_png_gets_no_rasterio_warning(tmp_path, capfd):
    import numpy as np
    from PIL import Image

    picture = np.zeros((200, 300), np.uint8)
    picture[:, :150], picture[:, 150:] = 200, 40
    Image.fromarray(picture).save(tmp_path / "x.png")
    model = threshold_model(tmp_path / "m.onnx")
    args = ["predict", str(tmp_path / "x.png"), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "-q",
            "--allow-pixel-coords"]  # fmt: skip
    assert main(args) == 0
    err = capfd.readouterr().err
    assert "NotGeoreferencedWarning" not in err and "site-packages" not in err


def test_a_scene_that_fails_after_its_zones_were_written_leaves_no_zones(tmp_path, monkeypatch, capsys):
    """Issue 25, item 13: its vector write fails (here: the disk refuses), so its new zone map goes too."""
    from glacierfront.batch import worker

    model = threshold_model(tmp_path / "m.onnx")
    scene = glacier_scene(tmp_path / "s_2020-07-01.tif")

    def refuse(*args, **kwargs):
        raise GlacierfrontError("f.gpkg: writing failed (no space left on the device)")

    monkeypatch.setattr(worker, "write_lines", refuse)
    out, zones = tmp_path / "out", tmp_path / "zones"
    args = ["predict", str(scene), "-m", str(model), "-o", f"{out}/", "--zones", f"{zones}/", "-q"]
    assert main(args) == 1
    assert "no space left" in capsys.readouterr().err
    assert list(zones.iterdir()) == [] and list(out.glob("*.gpkg")) == []


def test_a_series_box_in_metres_labelled_degrees_is_one_line(tmp_path, capsys):
    fronts = _dated(tmp_path / "f.gpkg", "2020-01-01")
    boxes = _aoi(tmp_path / "box.gpkg", crs="EPSG:4326")  # metres labelled degrees
    assert main(["series", str(fronts), "--box", str(boxes), "--upstream", "W"]) == 1
    err = capsys.readouterr().err
    assert "says degrees" in err and err.count("\n") == 1 and "internal error" not in err

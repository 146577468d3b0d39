"""Shipped models by name (catalog, `models`), band choice by a model's band names, and AOIs in another CRS."""

from __future__ import annotations

import json
from pathlib import Path

import fiona
import numpy as np
import pytest
import rasterio
from fakes import glacier_scene, threshold_model
from rasterio.transform import from_origin

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.raster import VALID_FLOOR, open_scene
from glacierfront.io.vector_files import read_lines
from glacierfront.model.backend import load_backend
from glacierfront.model.catalog import resolve_model
from glacierfront.model.export import restamp_onnx
from glacierfront.model.info import describe_model
from glacierfront.predict import PredictOptions, predict_scene

FRONT_COL, RES = 220, 20.0
SAMPLE_CHIPS = Path(__file__).parent / "data" / "frontlines_sample" / "images"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture(scope="module")
def green_model(tmp_path_factory, model):
    """The threshold model stamped as an optical model that asks for a green band."""
    return restamp_onnx(
        model,
        tmp_path_factory.mktemp("green") / "green.onnx",
        {"band_names": ["green", "B3", "B03"], "sensors": "optical test"},
    )


def stack(tmp_path, descriptions, glacier_band):
    """A multi-band UTM scene whose band ``glacier_band`` (1-based) holds the glacier scene, others noise."""
    single = glacier_scene(tmp_path / "single.tif", crs="EPSG:32622", origin=(530_000.0, 7_680_000.0))
    with rasterio.open(single) as src:
        image, profile = src.read(1), src.profile
    noise = np.random.default_rng(0).integers(1, 255, image.shape, dtype=np.uint8)
    profile.update(count=len(descriptions))
    path = tmp_path / "stack.tif"
    with rasterio.open(path, "w", **profile) as dst:
        for band, text in enumerate(descriptions, start=1):
            dst.write(image if band == glacier_band else noise, band)
            if text is not None:
                dst.set_band_description(band, text)
    return path


def front_columns(result) -> np.ndarray:
    x0 = 530_000.0
    xs = np.concatenate([np.asarray(line.geometry.coords)[:, 0] for line in result.lines])
    return (xs - x0) / RES


def test_a_band_described_as_the_models_band_is_read_and_said(tmp_path, green_model):
    path = stack(tmp_path, ["B2", "SR_B3", "B4"], glacier_band=2)
    result = predict_scene(path, load_backend(green_model), PredictOptions(tile=128))
    assert result.lines and np.all(np.abs(front_columns(result) - FRONT_COL) <= 1.5)
    assert "band 2 ('SR_B3'" in result.scaling_note


def test_the_first_band_name_the_model_lists_wins(tmp_path):
    path = stack(tmp_path, ["B03", "green"], glacier_band=2)
    with open_scene(path, band_names=["green", "B03"]) as scene:
        assert scene.indexes == (2,)
    with open_scene(path, band_names=["B03", "green"]) as scene:
        assert scene.indexes == (1,)


def test_undescribed_multiband_scene_asks_for_the_models_band(tmp_path, green_model, capsys):
    path = stack(tmp_path, [None, None, None], glacier_band=2)
    with pytest.raises(GlacierfrontError, match="none is described as green, B3, B03.*--band N"):
        predict_scene(path, load_backend(green_model), PredictOptions(tile=128))
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(green_model), "--band", "2"]) == 0


def test_explicit_band_overrides_the_models_band_names(tmp_path, green_model):
    path = stack(tmp_path, ["B2", "B3", "B4"], glacier_band=1)
    result = predict_scene(path, load_backend(green_model), PredictOptions(tile=128, band=1))
    assert np.all(np.abs(front_columns(result) - FRONT_COL) <= 1.5)
    assert "asks for" not in result.scaling_note


def test_aoi_in_polar_stereographic_over_a_utm_scene_is_reprojected(tmp_path, model):
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping

    scene = glacier_scene(tmp_path / "utm.tif", crs="EPSG:32622", origin=(530_000.0, 7_680_000.0))
    x0, y0 = 530_000.0, 7_680_000.0
    # Rows 100..200 of the front only, drawn in the scene's UTM and stored in EPSG:3413.
    poly = box(x0 + 200 * RES, y0 - 200 * RES, x0 + 240 * RES, y0 - 100 * RES)
    aoi = tmp_path / "aoi.gpkg"
    with fiona.open(
        aoi, "w", driver="GPKG", crs="EPSG:3413", schema={"geometry": "Polygon", "properties": {}}
    ) as dst:
        dst.write({"geometry": transform_geom("EPSG:32622", "EPSG:3413", mapping(poly)), "properties": {}})
    result = predict_scene(scene, load_backend(model), PredictOptions(tile=128, aoi=aoi))
    ys = np.concatenate([np.asarray(line.geometry.coords)[:, 1] for line in result.lines])
    rows = (y0 - ys) / RES
    assert rows.min() >= 99 and rows.max() <= 201 and rows.max() - rows.min() > 80


# -- models by name -----------------------------------------------------------------------------------


def write_catalog(folder, model):
    import shutil

    shutil.copy(model, folder / "sar.onnx")
    shutil.copy(model, folder / "opt.onnx")
    (folder / "catalog.json").write_text(
        json.dumps(
            {
                "default": "sar",
                "models": {
                    "sar": {"file": "sar.onnx", "sensors": "SAR", "card": "README.md"},
                    "optical": {"file": "opt.onnx", "sensors": "optical", "card": "optical.md"},
                },
            }
        )
    )


def test_names_resolve_to_catalog_files_and_paths_stay_paths(tmp_path, model):
    write_catalog(tmp_path, model)
    assert resolve_model("optical", tmp_path) == tmp_path / "opt.onnx"
    assert resolve_model(None, tmp_path) == tmp_path / "sar.onnx"
    assert resolve_model(str(model), tmp_path) == model
    with pytest.raises(GlacierfrontError, match="shipped: sar, optical"):
        resolve_model("radar", tmp_path)
    (tmp_path / "opt.onnx").unlink()
    with pytest.raises(GlacierfrontError, match="'optical'.*missing"):
        resolve_model("optical", tmp_path)


def test_predict_takes_a_shipped_models_name(tmp_path, model, monkeypatch, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    write_catalog(folder, model)
    monkeypatch.setattr("glacierfront.model.backend.MODELS_DIR", folder)
    scene = glacier_scene(tmp_path / "s.tif")
    assert main(["predict", str(scene), "-o", str(tmp_path / "f.gpkg"), "--model", "optical"]) == 0
    assert "opt.onnx" in capsys.readouterr().err
    assert main(["predict", str(scene), "-o", str(tmp_path / "g.gpkg"), "--model", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "no shipped model of that name" in err and len(err.strip().splitlines()) == 1


def test_models_command_lists_names_sensors_and_bands(tmp_path, green_model, monkeypatch, capsys):
    write_catalog(tmp_path, green_model)
    monkeypatch.setattr("glacierfront.model.backend.MODELS_DIR", tmp_path)
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sar"]["default"] and not rows["optical"]["default"]
    assert rows["optical"]["band_names"] == ["green", "B3", "B03"]
    assert rows["optical"]["sensors"] == "optical test"  # the model's own stamp wins over the catalog's text


def test_export_stamps_sensors_and_band_names(tmp_path, model):
    out = tmp_path / "stamped.onnx"
    assert (
        main(["export", str(model), "-o", str(out), "--sensors", "optical", "--band-names", "green,B3"]) == 0
    )
    facts = describe_model(out)
    assert facts["sensors"] == "optical" and facts["band_names"] == ["green", "B3"]
    assert main(["export", str(model), "-o", str(out), "--band-names", " , "]) == 1


def test_uint16_and_float_reflectance_of_one_chip_read_alike(tmp_path):
    """Landsat DN (uint16) and surface reflectance (float 0..1) of one chip give the model the same input."""
    from PIL import Image

    chip = np.asarray(Image.open(sorted(SAMPLE_CHIPS.glob("*.png"))[0]), dtype=np.float64)
    reads = []
    for name, data in (
        ("dn.tif", (chip * 40 + 7000).astype(np.uint16)),
        ("sr.tif", (chip / 255 * 0.6 + 0.02)),
    ):
        profile = dict(driver="GTiff", width=chip.shape[1], height=chip.shape[0], count=1, dtype=data.dtype.name,
                       crs="EPSG:32622", transform=from_origin(530_000, 7_680_000, 30, 30))  # fmt: skip
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(data.astype(data.dtype), 1)
        with open_scene(tmp_path / name) as scene:
            image, valid = scene.read_window(0, 0, scene.height, scene.width)
            assert valid.all() and "percentile" in scene.scaling_note
            reads.append(image[0])
    np.testing.assert_allclose(reads[0], reads[1], atol=2e-3)
    assert reads[0].min() == pytest.approx(VALID_FLOOR) and reads[0].max() == 1  # valid pixels are never 0


@pytest.mark.parametrize("flag", ["--band", "-b", "--bidx"])
def test_band_takes_the_rio_spellings_too(tmp_path, model, flag):
    path = stack(tmp_path, [None, None, None], glacier_band=2)
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), flag, "2", "-q"]) == 0
    assert out.exists()


@pytest.mark.parametrize("flag", ["--mean-bands", "--bands"])
def test_mean_bands_averages_the_bands_named(tmp_path, model, flag):
    path = stack(tmp_path, [None, None], glacier_band=2)
    with rasterio.open(path, "r+") as dst:  # band 1 becomes a second copy of the glacier scene
        dst.write(dst.read(2), 1)
    out = tmp_path / "f.gpkg"
    assert main(["predict", str(path), "-o", str(out), "-m", str(model), flag, "1,2", "-q"]) == 0
    records, _ = read_lines(out)
    assert len(records) == 1

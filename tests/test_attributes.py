"""The fields front lines are filed under: glacier id, dates, image id and the quality flags."""

from __future__ import annotations

import fiona
import numpy as np
import pytest
import rasterio
from fakes import GLACIER, OCEAN, ROCK, threshold_model
from rasterio.transform import from_origin

from glacierfront.cli import main
from glacierfront.io.acquisition import decimal_year
from glacierfront.io.vector_files import read_lines
from glacierfront.model.backend import load_backend
from glacierfront.predict import LINE_SCHEMA, PredictOptions, predict_scene
from glacierfront.predict.attributes import QUALITY_FLAGS

X0, Y0, RES = -200_000.0, -2_000_000.0, 20.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


def fjord_scene(path, fronts=((60, 240, 220),), glacier=GLACIER, ocean=OCEAN, nodata_rows=None):
    """Rock everywhere but fjords; in each (row0, row1, col) fjord, glacier left of ``col`` and ocean right
    of it up to the open sea, so the front runs from row0 to row1 with rock at both ends: inside the data."""
    img = np.full((300, 400), ROCK, np.uint8)
    img[:, 300:] = ocean  # one open sea the fjords open onto, so "largest ocean" keeps every fjord's water
    for row0, row1, col in fronts:
        img[row0:row1, 20:col] = glacier
        img[row0:row1, col:300] = ocean
    profile = dict(driver="GTiff", width=400, height=300, count=1, dtype="uint8", nodata=0)
    profile.update(crs="EPSG:3413", transform=from_origin(X0, Y0, RES, RES))
    if nodata_rows is not None:
        img[nodata_rows[0] : nodata_rows[1], :] = 0
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img, 1)
    return path


def predict(path, model, **options):
    return predict_scene(
        path, load_backend(model), PredictOptions(tile=128, resolution_m="native", **options)
    )


def quality_of(result):
    return [props["quality"] for _, props in result.records()]


def test_decimal_year_is_noon_of_the_date():
    assert decimal_year("2013-01-01") == pytest.approx(2013 + 0.5 / 365, abs=1e-5)
    assert decimal_year("2020-12-31") == pytest.approx(2020 + 365.5 / 366, abs=1e-5)  # a leap year
    assert decimal_year(None) is None


def test_a_whole_front_inside_the_data_is_ok(model, tmp_path):
    result = predict(fjord_scene(tmp_path / "S1A_IW_GRDH_1SDH_20210704T000000.tif"), model)
    (_, props), *rest = result.records()
    assert rest == [] and props["quality"] == "ok"
    assert props["date"] == "2021-07-04" and props["dec_year"] == pytest.approx(2021 + 184.5 / 365, abs=1e-5)
    assert props["image_id"] == "S1A_IW_GRDH_1SDH_20210704T000000" and props["sensor"] == "S1A"


def test_a_front_cut_by_nodata_or_the_scene_edge_says_so(model, tmp_path):
    cut = predict(fjord_scene(tmp_path / "cut.tif", nodata_rows=(200, 300)), model)
    assert quality_of(cut) == ["touches_nodata"]
    edge = predict(fjord_scene(tmp_path / "edge.tif", fronts=((60, 300, 220),)), model)
    assert quality_of(edge) == ["touches_nodata"]


def test_a_front_the_model_hesitates_on_is_low_confidence(model, tmp_path):
    # Glacier and ocean a few grey levels either side of the middle: both classes nearly equally likely.
    path = fjord_scene(tmp_path / "dim.tif", glacier=100, ocean=90)
    result = predict(path, model)
    assert result.lines and result.lines[0].confidence < 0.75
    assert quality_of(result) == ["low_confidence"]


def test_aoi_polygons_name_the_glacier_of_each_front_and_flag_their_cut(model, tmp_path):
    path = fjord_scene(tmp_path / "two.tif", fronts=((30, 120, 200), (170, 280, 250)))
    aoi = tmp_path / "glaciers.gpkg"
    schema = {"geometry": "Polygon", "properties": {"glacier": "str"}}
    with fiona.open(aoi, "w", driver="GPKG", crs="EPSG:3413", schema=schema) as dst:
        for name, (row0, row1) in (("Upper Glacier", (10, 140)), ("Lower Glacier", (200, 290))):
            # The lower polygon starts inside the lower fjord's front (row 170): the AOI cuts that front.
            y0, y1 = Y0 - row0 * RES, Y0 - row1 * RES
            ring = [(X0, y0), (X0 + 400 * RES, y0), (X0 + 400 * RES, y1), (X0, y1), (X0, y0)]
            dst.write(
                {"geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"glacier": name}}
            )
    result = predict(path, model, aoi=aoi)
    tagged = sorted((props["glacier_id"], props["quality"]) for _, props in result.records())
    assert tagged == [
        ("Lower Glacier", "touches_aoi_edge+fragmented"),
        ("Upper Glacier", "fragmented"),
    ]
    # --glacier-id wins over the AOI's names.
    named = predict(path, model, aoi=aoi, glacier_id="RGI60-05.01234")
    assert {props["glacier_id"] for _, props in named.records()} == {"RGI60-05.01234"}


def test_every_field_survives_a_shapefile_whole(model, tmp_path):
    assert all(len(name) <= 10 for name in LINE_SCHEMA)
    out = tmp_path / "fronts.shp"
    path = fjord_scene(tmp_path / "JAC_2013-09-08_TSX_6_1_005.tif")
    args = ["predict", str(path), "-o", str(out), "-m", str(model), "--glacier-id", "JAC", "-q"]
    assert main([*args, "--resolution", "native"]) == 0
    (_, props), *_ = read_lines(out)[0]
    assert set(props) == set(LINE_SCHEMA)
    assert props["glacier_id"] == "JAC" and props["pixel_m"] == pytest.approx(RES)
    assert props["quality"] in ("ok", *QUALITY_FLAGS) and len(props["model_sha"]) == 64

"""Fronts constrained by a glacier box: the best ice-to-water crossing, not the largest ocean piece."""

from __future__ import annotations

import fiona
import numpy as np
import pytest
import rasterio
from fakes import GLACIER, OCEAN, ROCK, threshold_model
from rasterio.transform import from_origin
from shapely.geometry import box as rectangle
from shapely.geometry import mapping

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.model.backend import load_backend
from glacierfront.predict import PredictOptions, predict_scene
from glacierfront.predict.fronts_box import best_cuts

RES = 20.0
X0, Y0 = -200_000.0, -2_000_000.0
H, W = 200, 300
FRONT = 250


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx", tile_size=128)


def write_scene(path, img):
    profile = dict(
        driver="GTiff",
        width=img.shape[1],
        height=img.shape[0],
        count=1,
        dtype="uint8",
        crs="EPSG:3413",
        transform=from_origin(X0, Y0, RES, RES),
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img.astype(np.uint8), 1)
    return path


def write_box(path, cols, rows, upstream="W"):
    poly = rectangle(X0 + cols[0] * RES, Y0 - rows[1] * RES, X0 + cols[1] * RES, Y0 - rows[0] * RES)
    props = {"glacier_id": "str"} | ({"upstream": "str"} if upstream is not None else {})
    with fiona.open(
        path, "w", driver="GPKG", crs="EPSG:3413", schema={"geometry": "Polygon", "properties": props}
    ) as dst:
        values = {"glacier_id": "G1"} | ({"upstream": upstream} if upstream is not None else {})
        dst.write({"geometry": mapping(poly), "properties": values})
    return path


def test_best_cuts_follow_a_slanted_front():
    n_across, n_along = 40, 60
    truth = (20 + np.arange(n_across) // 2).astype(int)  # a front slanted at about 27 degrees
    s = np.arange(n_along)[None, :]
    m = np.where(s >= truth[:, None], 0.8, -0.8).astype(np.float32)
    assert np.array_equal(best_cuts(m), truth)


def test_best_cuts_stay_continuous_across_a_noisy_column():
    m = np.where(np.arange(50)[None, :] >= 25, 0.9, -0.9).repeat(30, axis=0).astype(np.float32)
    m[15] = np.where(np.arange(50) >= 5, 0.9, -0.9)  # one column says the front is 20 px away
    cuts = best_cuts(m)
    assert np.abs(np.diff(cuts)).max() <= 3
    assert abs(int(cuts[15]) - 25) <= 3


def melange_scene(tmp_path):
    """Glacier left of column 250, open water right of it; far up the glacier a dark patch larger than the
    open water (a lake, or ice the model calls ocean), which CaFFe's rule takes as the ocean."""
    img = np.full((H, W), GLACIER, np.float32)
    img[:, FRONT:] = OCEAN  # 50 x 200 px of open water
    img[10:190, 40:100] = OCEAN  # 60 x 180 px of "ocean" on the glacier
    return write_scene(tmp_path / "melange_2020-07-01.tif", img)


def front_cols(lines):
    xs = np.concatenate([np.asarray(line.geometry.coords)[:, 0] for line in lines])
    return (xs - X0) / RES


def test_box_rule_finds_the_crossing_where_the_caffe_rule_takes_the_largest_ocean(model, tmp_path):
    scene = melange_scene(tmp_path)
    aoi = write_box(tmp_path / "box.gpkg", (0, W), (0, H), upstream="W")
    backend = load_backend(model)
    caffe = predict_scene(scene, backend, PredictOptions(aoi=aoi, front_rule="caffe"))
    box = predict_scene(scene, backend, PredictOptions(aoi=aoi, front_rule="box"))
    assert len(box.lines) == 1
    cols = front_cols(box.lines)
    assert np.all(np.abs(cols - FRONT) <= 1.0)
    ys = (Y0 - np.asarray(box.lines[0].geometry.coords)[:, 1]) / RES
    assert ys.max() - ys.min() >= H - 4  # one line from side to side
    assert box.line_attributes[0]["glacier_id"] == "G1"
    assert "touches_aoi_edge" not in box.line_attributes[0]["quality"]
    # CaFFe's rule keeps the largest ocean piece, the patch on the glacier: its front is not the front.
    assert np.median(np.abs(front_cols(caffe.lines) - FRONT)) > 10


def test_box_line_is_cut_off_through_rock(model, tmp_path):
    img = np.full((H, W), GLACIER, np.float32)
    img[:, 150:] = OCEAN
    img[:40] = ROCK  # a fjord wall across the top of the box
    scene = write_scene(tmp_path / "rock_2020-07-01.tif", img)
    aoi = write_box(tmp_path / "box.gpkg", (0, W), (0, H), upstream="W")
    result = predict_scene(scene, load_backend(model), PredictOptions(aoi=aoi))
    rows = (Y0 - np.asarray(result.lines[0].geometry.coords)[:, 1]) / RES
    assert rows.min() >= 38  # not drawn straight through the rock
    assert np.all(np.abs(front_cols(result.lines) - 150) <= 1.0)


def test_upstream_option_or_field_chooses_the_box_rule(model, tmp_path):
    from glacierfront.predict import uses_box

    scene = melange_scene(tmp_path)
    without = write_box(tmp_path / "plain.gpkg", (0, W), (0, H), upstream=None)
    with_field = write_box(tmp_path / "field.gpkg", (0, W), (0, H), upstream="W")
    assert not uses_box(PredictOptions(aoi=without))
    assert uses_box(PredictOptions(aoi=without, upstream="W"))
    assert uses_box(PredictOptions(aoi=with_field))
    assert not uses_box(PredictOptions(aoi=with_field, front_rule="caffe"))
    with pytest.raises(GlacierfrontError, match="upstream"):
        uses_box(PredictOptions(aoi=without, front_rule="box"))
    with pytest.raises(GlacierfrontError, match="--aoi"):
        uses_box(PredictOptions(front_rule="box"))
    # The wrong upstream end: glacier is west, the box says east: no crossing has glacier upstream of water.
    result = predict_scene(scene, load_backend(model), PredictOptions(aoi=without, upstream="E"))
    assert result.lines == [] or np.median(np.abs(front_cols(result.lines) - FRONT)) > 10


def test_cli_box_rule_needs_an_upstream_end(model, tmp_path, capsys):
    scene = melange_scene(tmp_path)
    aoi = write_box(tmp_path / "plain.gpkg", (0, W), (0, H), upstream=None)
    out = tmp_path / "fronts.gpkg"

    def predict(*extra: str) -> int:
        return main(["predict", str(scene), "-o", str(out), "--model", str(model), "--aoi", str(aoi), *extra])

    code = predict("--front-rule", "box")
    err = capsys.readouterr().err
    assert code != 0 and "upstream" in err and "Traceback" not in err
    assert not out.exists()
    assert predict("--upstream", "west-ish") != 0 and "compass" in capsys.readouterr().err
    assert predict("--upstream", "W") == 0
    assert "best ice-to-water crossing" in capsys.readouterr().err
    with fiona.open(out) as src:
        assert len(src) == 1


def test_summary_line_names_the_quality_flags(model, tmp_path):
    scene = melange_scene(tmp_path)
    aoi = write_box(tmp_path / "box.gpkg", (0, W), (0, H), upstream="W")
    result = predict_scene(scene, load_backend(model), PredictOptions(aoi=aoi))
    assert result.summary().startswith("1 front line, ") and result.summary().endswith("; quality: ok")
    result.line_attributes[0]["quality"] = "low_confidence+touches_nodata"
    assert result.summary().endswith("; quality: low_confidence+touches_nodata")


def test_a_crossing_the_model_supports_over_under_half_the_box_is_flagged(model, tmp_path):
    img = np.full((H, W), GLACIER, np.float32)
    img[:, 150:] = OCEAN
    backend = load_backend(model)
    aoi = write_box(tmp_path / "box.gpkg", (0, W), (0, H), upstream="W")
    qualities = {}
    for rock_rows in (40, 140):  # a fjord wall over 20% and 70% of the box's width
        scene_img = img.copy()
        scene_img[:rock_rows] = ROCK
        scene = write_scene(tmp_path / f"rock{rock_rows}_2020-07-01.tif", scene_img)
        result = predict_scene(scene, backend, PredictOptions(aoi=aoi))
        assert len(result.lines) == 1
        qualities[rock_rows] = (result.line_attributes[0]["quality"], result.summary(), result.warnings)
    assert "partial_crossing" not in qualities[40][0]
    quality, summary, warnings = qualities[140]
    assert "partial_crossing" in quality.split("+") and summary.endswith(quality)
    assert any("over only" in w and "of the box's width" in w for w in warnings)
    assert not any("over only" in w for w in qualities[40][2])


def test_a_model_that_reads_the_water_as_glacier_still_finds_the_drop_and_flags_it(model, tmp_path):
    # Downstream of col 150 a surface the threshold model calls glacier, less surely than the glacier itself
    # (as models do with the melange of a glacier they never saw): no column has water downstream.
    img = np.full((H, W), GLACIER, np.float32)
    img[:, 150:] = 105
    scene = write_scene(tmp_path / "melange-as-glacier_2020-07-01.tif", img)
    aoi = write_box(tmp_path / "box.gpkg", (0, W), (0, H), upstream="W")
    result = predict_scene(scene, load_backend(model), PredictOptions(aoi=aoi))
    assert len(result.lines) == 1
    assert np.all(np.abs(front_cols(result.lines) - 150) <= 1.0)
    flags = result.line_attributes[0]["quality"].split("+")
    assert "partial_crossing" in flags and "low_confidence" in flags
    assert any("over only 0%" in w for w in result.warnings)

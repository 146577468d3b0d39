"""`glacierfront evaluate`: vector-mode MDE in metres across CRSs, matching, CaFFe mode, outputs, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import fiona
import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.warp import transform_geom
from shapely.geometry import LineString, mapping, shape

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate import CaffeOptions, csv_rows, evaluate_caffe, evaluate_vectors, local_metric_crs
from glacierfront.evaluate.metrics import densify
from glacierfront.io.caffe import list_split, read_png, zones_from_png_values, zones_to_png_values
from glacierfront.io.vector_files import write_lines
from glacierfront.model.backend import Backend
from glacierfront.model.config import CISNetConfig

SAMPLE = Path(__file__).parent / "data" / "caffe256_sample"
# Svalbard-like place in UTM 33N: projected metres, far enough north for a visible lon/lat distortion.
UTM33N = "EPSG:32633"
X0, Y0 = 500_000.0, 8_700_000.0
# evaluate measures on the ground, and on UTM's central meridian a ground metre is 0.9996 map metres.
GROUND = 1 / 0.9996
SCHEMA = {"scene": "str", "date": "str"}


def hline(y_m: float, x0_m: float = X0, length_m: float = 2000.0, steps: int = 20) -> LineString:
    xs = np.linspace(x0_m, x0_m + length_m, steps + 1)
    return LineString([(x, Y0 + y_m) for x in xs])


def layer(path: Path, lines: list[tuple[LineString, dict]], crs: str | None = UTM33N) -> Path:
    records = [(geom, {"scene": "", "date": "", **props}) for geom, props in lines]
    return write_lines(path, records, crs, SCHEMA)


def to_crs(geom: LineString, src: str, dst: str) -> LineString:
    return shape(transform_geom(src, dst, mapping(geom)))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    """The error is one line, the last on stderr (a model line may precede it), and no traceback."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("glacierfront: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    assert len(lines) == 1 or lines[0].startswith("model "), err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# --- vector mode: distances -------------------------------------------------------------------------


def test_mde_of_a_line_with_itself_is_zero(tmp_path):
    wiggle = LineString([(X0 + 10 * i, Y0 + 30 * np.sin(i / 7)) for i in range(200)])
    path = layer(tmp_path / "a.gpkg", [(wiggle, {"scene": "s1"})])
    result = evaluate_vectors(path, path)
    assert result["mde"] == 0.0 and result["hd95"] == 0.0
    assert result["n_evaluated"] == 1 and result["n_points"] > 0


@pytest.mark.parametrize("gap_m", [3.0, 25.0, 140.0])
def test_parallel_lines_gap_apart_give_the_gap(tmp_path, gap_m):
    pred = layer(tmp_path / "pred.gpkg", [(hline(gap_m), {"scene": "s1"})])
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "s1"})])
    result = evaluate_vectors(pred, ref, spacing_m=2.0)
    assert result["mde"] == pytest.approx(gap_m * GROUND, rel=1e-6)
    assert result["median"] == pytest.approx(gap_m * GROUND) and result["hd95"] == pytest.approx(
        gap_m * GROUND
    )
    assert result["units"] == "m" and result["work_crs"] == [UTM33N]


@pytest.mark.parametrize("pred_crs", [UTM33N, "EPSG:3413"])
def test_reference_in_wgs84_gives_same_mde_as_in_projected_crs(tmp_path, pred_crs):
    wiggle = to_crs(
        LineString([(X0 + 20 * i, Y0 + 80 * np.sin(i / 9)) for i in range(150)]), UTM33N, pred_crs
    )
    shifted = LineString([(x + 15, y + 40) for x, y in wiggle.coords])
    pred = layer(tmp_path / "pred.gpkg", [(shifted, {"scene": "s"})], crs=pred_crs)
    same_crs_ref = layer(tmp_path / "ref_same.gpkg", [(wiggle, {"scene": "s"})], crs=pred_crs)
    geo_ref = layer(
        tmp_path / "ref_wgs84.gpkg", [(to_crs(wiggle, pred_crs, "EPSG:4326"), {"scene": "s"})], "EPSG:4326"
    )
    baseline = evaluate_vectors(pred, same_crs_ref, spacing_m=1.0)["mde"]
    across = evaluate_vectors(pred, geo_ref, spacing_m=1.0)
    assert across["mde"] == pytest.approx(baseline, rel=0.01)
    assert across["work_crs"] == [CRS.from_user_input(pred_crs).to_string()]


def test_geographic_prediction_is_measured_in_a_local_metric_crs(tmp_path):
    # Near Jakobshavn (69 N), in polar stereographic north, whose scale is true at 70 N.
    ref_geom = LineString([(-190_000.0 + 10 * i, -2_270_000.0) for i in range(301)])
    pred_geom = LineString([(x, y + 50.0) for x, y in ref_geom.coords])
    pred_wgs84 = to_crs(pred_geom, "EPSG:3413", "EPSG:4326")
    pred = layer(tmp_path / "pred.geojson", [(pred_wgs84, {"scene": "s"})], "EPSG:4326")
    ref = layer(tmp_path / "ref.gpkg", [(ref_geom, {"scene": "s"})], "EPSG:3413")
    result = evaluate_vectors(pred, ref, spacing_m=1.0)
    assert result["work_crs"] == ["EPSG:3413"]
    assert result["mde"] == pytest.approx(50.0, rel=0.01)


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(-50.0, 69.2, 3413), (-62.0, -64.9, 3031), (15.0, 46.0, 32633), (-70.0, -45.0, 32719)],
)
def test_local_metric_crs_by_latitude_and_longitude(lon, lat, epsg):
    assert local_metric_crs(lon, lat) == CRS.from_epsg(epsg)


def test_default_spacing_is_at_most_five_metres_and_follows_resolution_field(tmp_path):
    pred = layer(tmp_path / "pred.gpkg", [(hline(10.0, steps=2), {"scene": "s"})])
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0, steps=2), {"scene": "s"})])
    assert evaluate_vectors(pred, ref)["per_scene"]["s"]["spacing_m"] == 5.0
    records = [(hline(10.0), {"scene": "s", "resolution_m": 8.0})]
    hinted = write_lines(tmp_path / "hinted.gpkg", records, UTM33N, {"scene": "str", "resolution_m": "float"})
    assert evaluate_vectors(hinted, ref)["per_scene"]["s"]["spacing_m"] == 2.0


def test_densify_matches_shapely_interpolation():
    import shapely
    from shapely.geometry import MultiLineString

    parts = [
        LineString([(0, 0), (0, 0), (3, 4), (10, 4.5), (10, 4.5), (12, 9)]),
        LineString([(5, 5), (7, 9)]),
        LineString([(1, 1), (1.2, 1)]),  # shorter than one step: just its two ends
    ]
    geom = MultiLineString(parts)
    for spacing in (0.3, 0.7, 2.5, 50.0):
        expected = []
        for part in parts:
            n = max(1, int(np.ceil(part.length / spacing)))
            pts = shapely.line_interpolate_point(part, np.linspace(0.0, part.length, n + 1))
            expected.append(shapely.get_coordinates(pts))
        np.testing.assert_allclose(densify(geom, spacing), np.concatenate(expected), atol=1e-9)


# --- vector mode: matching ------------------------------------------------------------------------------


def test_match_by_scene_pairs_lines_and_counts_missing_prediction_as_no_front(tmp_path):
    ref = layer(
        tmp_path / "ref.gpkg",
        [(hline(0.0), {"scene": "A"}), (hline(500.0), {"scene": "B"}), (hline(900.0), {"scene": "C"})],
    )
    # Prediction of A is 10 m off, of B 30 m off, C has none; Z has no reference.
    pred = layer(
        tmp_path / "pred.gpkg",
        [(hline(530.0), {"scene": "B"}), (hline(10.0), {"scene": "A"}), (hline(-400.0), {"scene": "Z"})],
    )
    result = evaluate_vectors(pred, ref, match="scene", spacing_m=2.0)
    assert result["per_scene"]["A"]["mde"] == pytest.approx(10.0 * GROUND)
    assert result["per_scene"]["B"]["mde"] == pytest.approx(30.0 * GROUND)
    assert result["per_scene"]["C"]["status"] == "no_pred_front" and result["per_scene"]["C"]["mde"] is None
    assert (result["n_scenes"], result["n_evaluated"], result["n_no_front"]) == (3, 2, 1)
    assert result["no_front_scenes"] == ["C"]
    assert result["mde"] == pytest.approx(
        20.0 * GROUND
    )  # (10 + 30) / 2 over equal point counts: C not averaged in
    assert result["unmatched_pred_scenes"] == ["Z"] and result["n_pred_unmatched"] == 1


def test_a_folder_of_per_scene_files_is_read_whole(tmp_path, capsys):
    # predict's folder output: one Shapefile per scene, one of them in lon/lat rather than UTM.
    folder = tmp_path / "fronts"
    folder.mkdir()
    layer(folder / "A.shp", [(hline(10.0), {"scene": "A"})])
    write_lines(
        folder / "B.shp",
        [(to_crs(hline(530.0), UTM33N, "EPSG:4326"), {"scene": "B", "date": ""})],
        "EPSG:4326",
        SCHEMA,
    )
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"}), (hline(500.0), {"scene": "B"})])
    code, out, _ = run_cli(capsys, "evaluate", folder, "--ref", ref, "--spacing", "2", "--json")
    result = json.loads(out)
    assert code == 0 and (result["n_evaluated"], result["n_no_front"]) == (2, 0)
    assert result["per_scene"]["B"]["mde"] == pytest.approx(30.0 * GROUND, rel=1e-4)


def test_a_reference_inside_the_predicted_folder_is_not_scored_as_a_prediction(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    layer(folder / "A.gpkg", [(hline(10.0), {"scene": "A"})])
    ref = layer(folder / "reference.gpkg", [(hline(0.0), {"scene": "A"})])
    code, out, _ = run_cli(capsys, "evaluate", folder, "--ref", ref, "--spacing", "2", "--json")
    assert code == 0 and json.loads(out)["mde"] == pytest.approx(10.0 * GROUND)


def test_a_multi_layer_file_needs_layer_and_layer_picks_it(tmp_path, capsys):
    both = tmp_path / "project.gpkg"
    write_lines(both, [(hline(10.0), {"scene": "A", "date": ""})], UTM33N, SCHEMA, layer="fronts")
    write_lines(both, [(hline(0.0), {"scene": "A", "date": ""})], UTM33N, SCHEMA, layer="reference")
    code, _, err = run_cli(capsys, "evaluate", both, "--ref", both, "--spacing", "2")
    assert code == 1
    assert_one_line_error(err, "holds 2 layers", "choose one with --layer")
    args = ["evaluate", both, "--ref", both, "--layer", "fronts", "--ref-layer", "reference", "--json"]
    code, out, _ = run_cli(capsys, *args, "--spacing", "2")
    assert code == 0 and json.loads(out)["mde"] == pytest.approx(10.0 * GROUND)
    code, _, err = run_cli(
        capsys, "evaluate", both, "--ref", both, "--layer", "nope", "--ref-layer", "reference"
    )
    assert code == 1
    assert_one_line_error(err, "no layer 'nope'", "fronts, reference")


def test_match_by_date_accepts_date_and_datetime_spellings(tmp_path):
    ref = layer(
        tmp_path / "ref.gpkg", [(hline(0.0), {"date": "2021-07-04"}), (hline(800.0), {"date": "2021-08-01"})]
    )
    pred = layer(
        tmp_path / "pred.gpkg",
        [(hline(20.0), {"date": "2021-07-04T10:22:00"}), (hline(805.0), {"date": "20210801"})],
    )
    result = evaluate_vectors(pred, ref, match="date", spacing_m=2.0)
    assert result["per_scene"]["2021-07-04"]["mde"] == pytest.approx(20.0 * GROUND)
    assert result["per_scene"]["2021-08-01"]["mde"] == pytest.approx(5.0 * GROUND)
    assert result["n_no_front"] == 0


def test_match_all_pools_every_line_into_one_pair(tmp_path):
    ref = layer(
        tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"}), (hline(0.0, x0_m=X0 + 5000), {"scene": "B"})]
    )
    pred = layer(
        tmp_path / "pred.gpkg", [(hline(7.0), {"scene": "x"}), (hline(7.0, x0_m=X0 + 5000), {"scene": "y"})]
    )
    result = evaluate_vectors(pred, ref, match="all", spacing_m=2.0)
    assert list(result["per_scene"]) == ["all"]
    assert result["mde"] == pytest.approx(7.0 * GROUND)


# --- vector mode: CLI output and bad input ---------------------------------------------------------------


VECTOR_KEYS = {
    "mode", "pred", "ref", "match", "spacing_m", "units", "work_crs", "n_scenes", "n_evaluated", "n_no_front",
    "n_points", "mde", "median", "hd95", "mean_of_scene_means", "no_front_scenes", "per_scene",
    "n_pred_unmatched", "unmatched_pred_scenes", "far_apart_scenes",
}  # fmt: skip
SCENE_KEYS = {"status", "mde", "median", "hd95", "n_points", "spacing_m"}


def test_vector_json_keys_are_stable_and_stdout_is_pure_json(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"}), (hline(300.0), {"scene": "B"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(12.0), {"scene": "A"})])
    code, out, _ = run_cli(capsys, "evaluate", pred, "--ref", ref, "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == VECTOR_KEYS
    assert all(set(row) == SCENE_KEYS for row in result["per_scene"].values())
    assert result["mde"] == pytest.approx(12.0, abs=0.01)
    assert result["per_scene"]["B"]["status"] == "no_pred_front"


def test_vector_csv_is_long_rows_of_numbers(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(4.0), {"scene": "A"})])
    code, out, _ = run_cli(capsys, "evaluate", pred, "--ref", ref, "--csv", "--spacing", "1")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert set(rows[0]) == {"source", "group", "key", "metric", "value"}
    by_metric = {(r["group"], r["key"], r["metric"]): r["value"] for r in rows}
    assert float(by_metric[("all", "all", "mde")]) == pytest.approx(4.0 * GROUND)
    assert by_metric[("scene", "A", "no_front")] == "0"


def test_vector_table_goes_to_stdout_and_flags_scene_without_prediction(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"}), (hline(300.0), {"scene": "B"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(12.0), {"scene": "A"})])
    code, out, _ = run_cli(capsys, "evaluate", pred, "--ref", ref)
    assert code == 0
    assert "no front" in out and "MDE" in out and "12.00" in out


def write_layer(path: Path, geometry_type: str, geoms: list, crs: str | None = UTM33N) -> Path:
    schema = {"geometry": geometry_type, "properties": {"scene": "str"}}
    with fiona.open(path, "w", driver="GPKG", schema=schema, crs=crs) as sink:
        for geom in geoms:
            sink.write({"geometry": mapping(geom), "properties": {"scene": "A"}})
    return path


def test_polygons_are_refused_unless_boundary_is_asked_for(tmp_path, capsys):
    square = hline(0.0).buffer(100.0, cap_style="flat")
    poly = write_layer(tmp_path / "poly.gpkg", "Polygon", [square])
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", poly, "--ref", ref)
    assert code == 1
    assert_one_line_error(err, "poly.gpkg", "polygons", "--boundary")
    code, out, _ = run_cli(capsys, "evaluate", poly, "--ref", ref, "--boundary", "--json")
    assert code == 0 and json.loads(out)["n_evaluated"] == 1


def test_points_where_lines_are_expected_give_one_line_error(tmp_path, capsys):
    from shapely.geometry import Point

    points = write_layer(tmp_path / "points.gpkg", "Point", [Point(X0, Y0)])
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", ref, "--ref", points)
    assert code == 1
    assert_one_line_error(err, "points.gpkg", "Point")


def test_empty_reference_layer_gives_one_line_error(tmp_path, capsys):
    # An empty PREDICTION is a result (no front: see test_an_empty_prediction_is_counted_as_no_front_not_refused).
    empty = layer(tmp_path / "empty.gpkg", [])
    pred = layer(tmp_path / "pred.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", pred, "--ref", empty)
    assert code == 1
    assert_one_line_error(err, "empty.gpkg", "no line features")


def test_crs_missing_on_one_side_gives_one_line_error(tmp_path, capsys):
    bare = layer(tmp_path / "bare.gpkg", [(hline(0.0), {"scene": "A"})], crs=None)
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", ref, "--ref", bare)
    assert code == 1
    assert_one_line_error(err, "bare.gpkg", "no CRS")


def test_both_layers_without_crs_are_compared_in_layer_units(tmp_path):
    pred = layer(tmp_path / "pred.gpkg", [(LineString([(0, 3), (100, 3)]), {"scene": "A"})], crs=None)
    ref = layer(tmp_path / "ref.gpkg", [(LineString([(0, 0), (100, 0)]), {"scene": "A"})], crs=None)
    result = evaluate_vectors(pred, ref)
    assert result["units"] == "layer units" and result["mde"] == pytest.approx(3.0)


def test_no_matching_scenes_gives_one_line_error(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(0.0), {"scene": "B"})])
    code, _, err = run_cli(capsys, "evaluate", pred, "--ref", ref, "--match", "scene")
    assert code == 1
    assert_one_line_error(err, "pred.gpkg", "no 'scene' value matches", "--match all")


def test_missing_match_field_suggests_another_match(tmp_path, capsys):
    ref = write_lines(tmp_path / "ref.gpkg", [(hline(0.0), {"date": "2020-01-01"})], UTM33N, {"date": "str"})
    pred = layer(tmp_path / "pred.gpkg", [(hline(0.0), {"scene": "A", "date": "2020-01-01"})])
    code, _, err = run_cli(capsys, "evaluate", pred, "--ref", ref)
    assert code == 1
    assert_one_line_error(err, "ref.gpkg", "no 'scene' field", "--match date")


def test_all_scenes_without_prediction_means_nothing_evaluated_and_exit_1(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    pred = layer(tmp_path / "pred.gpkg", [(LineString(), {"scene": "A"})])
    code, out, err = run_cli(capsys, "evaluate", pred, "--ref", ref, "--json")
    assert code == 1
    assert json.loads(out)["n_no_front"] == 1  # the result is still printed for pipelines
    assert_one_line_error(err, "no scene could be evaluated")


def test_empty_reference_line_is_flagged_not_averaged(tmp_path):
    wgs84 = to_crs(hline(0.0), UTM33N, "EPSG:4326")
    ref = layer(tmp_path / "ref.gpkg", [(wgs84, {"scene": "A"}), (LineString(), {"scene": "B"})], "EPSG:4326")
    pred = layer(tmp_path / "pred.gpkg", [(wgs84, {"scene": "A"}), (wgs84, {"scene": "B"})], "EPSG:4326")
    result = evaluate_vectors(pred, ref)
    assert result["per_scene"]["B"]["status"] == "no_ref_front"
    assert (result["n_evaluated"], result["n_no_front"]) == (1, 1)


def test_coordinates_outside_the_declared_crs_give_one_line_error(tmp_path, capsys):
    # Projected metres mislabelled as lon/lat: latitude 8.7 million degrees.
    wrong = layer(tmp_path / "wrong.gpkg", [(hline(0.0), {"scene": "A"})], "EPSG:4326")
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", ref, "--ref", wrong)
    assert code == 1
    assert_one_line_error(err, "cannot reproject", "EPSG:4326")


def test_mixing_vector_and_caffe_options_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, "evaluate", "pred.gpkg", "--data", SAMPLE)
    assert code == 1
    assert_one_line_error(err, "PRED", "not used with --data")
    code, _, err = run_cli(capsys, "evaluate", "pred.gpkg", "--ref", "ref.gpkg", "--floor")
    assert code == 1
    assert_one_line_error(err, "--floor", "not used without --data")
    code, _, err = run_cli(capsys, "evaluate")
    assert code == 1
    assert_one_line_error(err, "--ref", "--data")


def test_missing_vector_file_gives_one_line_error(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "nope.gpkg", "--ref", ref)
    assert code == 1
    assert_one_line_error(err, "nope.gpkg")


# --- CaFFe mode -----------------------------------------------------------------------------------------


def make_backend(run) -> Backend:
    return Backend("fake", Path("fake.onnx"), CISNetConfig(), {"tile_size": 256}, "cpu", run)


def perfect_backend(split: str = "train", turned: bool = False) -> Backend:
    """A fake model that recognises each sample image and returns its label zones as confident logits.

    ``turned``: it also recognises the images flipped and rotated (with the labels turned alike), so it is
    an exactly equivariant model for test-time augmentation.
    """
    labels = {}
    for item in list_split(SAMPLE, split):
        image, zones = read_png(item.image), zones_from_png_values(read_png(item.zones))
        for flip in (False, True) if turned else (False,):
            for turns in range(4) if turned else (0,):
                pair = [np.rot90(a[:, ::-1] if flip else a, turns) for a in (image, zones)]
                labels[np.ascontiguousarray(pair[0]).tobytes()] = pair[1]
    backend = make_backend(None)

    def run(x: np.ndarray) -> np.ndarray:
        images = np.rint((x[:, 0] * backend.std + backend.mean) * 255).astype(np.uint8)
        zones = np.stack([labels[img.tobytes()] for img in images])
        return 10.0 * np.eye(4, dtype=np.float32)[zones].transpose(0, 3, 1, 2)

    backend._run = run
    return backend


def all_glacier_backend() -> Backend:
    def run(x: np.ndarray) -> np.ndarray:
        logits = np.zeros((x.shape[0], 4, *x.shape[2:]), np.float32)
        logits[:, 2] = 1.0
        return logits

    return make_backend(run)


@pytest.fixture
def patched_model(monkeypatch):
    """Make `--model anything` load the given fake backend in the CLI; returns the (path, tta) of each load."""
    calls: list[tuple[Path, bool]] = []

    def install(backend: Backend) -> list[tuple[Path, bool]]:
        def load(path, device, tta=False):
            calls.append((Path(path), tta))
            backend.tta = tta
            return backend

        monkeypatch.setattr("glacierfront.cli.evaluate.load_backend", load)
        return calls

    return install


PIXEL_OPTIONS = CaffeOptions(split="train", pixels=True, floor=True)


def test_perfect_model_scores_the_floor_below_two_pixels():
    result = evaluate_caffe(SAMPLE, perfect_backend(), options=PIXEL_OPTIONS)
    prediction, floor = result["prediction"], result["floor"]
    assert prediction["mde_px"] == pytest.approx(floor["mde_px"], abs=1e-12)
    assert prediction["mde_px"] < 2.0
    assert floor["mde_px"] == pytest.approx(1.59, abs=0.01)  # the sample README's label floor
    assert prediction["n_no_front"] == 0 and prediction["mde_m"] is None
    assert prediction["zones"]["mean"]["iou"] == pytest.approx(1.0)
    assert set(prediction["breakdowns"]) >= {"glacier", "season", "satellite", "resolution_m"}
    assert set(prediction["breakdowns"]["glacier"]) == {"Crane", "JAC", "SI"}


def test_metres_mode_scales_each_image_by_its_resolution_and_uses_750_m_minimum():
    pixels = evaluate_caffe(
        SAMPLE, options=CaffeOptions(split="train", floor=True, pixels=True, min_length_px=2)
    )
    metres = evaluate_caffe(SAMPLE, options=CaffeOptions(split="train", floor=True, min_length_px=2))
    per_px, per_m = pixels["floor"]["per_image"], metres["floor"]["per_image"]
    assert per_m["SI_2006-11-21_ERS_20_3_109"]["mde_m"] == pytest.approx(
        20 * per_px["SI_2006-11-21_ERS_20_3_109"]["mde_px"]
    )
    assert metres["units"] == "m" and metres["floor"]["mde_m"] is not None
    # Without an explicit pixel length, 750 m / 7 m = 107 px drops Crane's whole (resized) front.
    default = evaluate_caffe(SAMPLE, options=CaffeOptions(split="train", floor=True))
    assert (
        default["min_length_m"] == 750.0
        and "Crane_2010-12-14_TSX_7_1_034" in default["floor"]["no_front_images"]
    )


def test_glaciers_option_selects_images(capsys):
    code, out, _ = run_cli(capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--floor", "--pixels",
                           "--glaciers", "SI,Crane", "--json")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["n_images"] == 2 and result["glaciers"] == ["Crane", "SI"]


def test_cli_perfect_model_equals_floor_and_stdout_is_json(capsys, patched_model):
    patched_model(perfect_backend())
    code, out, _ = run_cli(
        capsys,
        "evaluate",
        "--data",
        SAMPLE,
        "--split",
        "train",
        "--model",
        "fake.onnx",
        "--pixels",
        "--floor",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["source"] == "model" and result["model"] == "fake.onnx"
    assert result["prediction"]["mde_px"] == pytest.approx(result["floor"]["mde_px"])


def test_pred_dir_reads_caffe_zone_masks_and_class_id_masks(tmp_path, capsys):
    for item in list_split(SAMPLE, "train"):
        ids = zones_from_png_values(read_png(item.zones))
        from PIL import Image

        if item.name.startswith("SI"):
            Image.fromarray(ids).save(tmp_path / f"{item.name}_pred.png")  # class ids 0..3
        else:
            Image.fromarray(zones_to_png_values(ids)).save(tmp_path / f"{item.name}_zones.png")
    code, out, _ = run_cli(
        capsys,
        "evaluate",
        "--data",
        SAMPLE,
        "--split",
        "train",
        "--pred-dir",
        tmp_path,
        "--pixels",
        "--floor",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["source"] == "pred_dir"
    assert result["prediction"]["mde_px"] == pytest.approx(result["floor"]["mde_px"])
    assert result["prediction"]["zones"]["mean"]["f1"] == pytest.approx(1.0)


def test_pred_dir_missing_a_mask_gives_one_line_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--pred-dir", tmp_path)
    assert code == 1
    assert_one_line_error(err, "--pred-dir", "no prediction for 3 of 3 images", "_zones.png")


def test_save_dir_writes_caffe_named_pngs_that_pred_dir_reads_back(tmp_path, capsys, patched_model):
    patched_model(perfect_backend())
    out_dir = tmp_path / "saved"
    base = ("evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--json")
    code, out, _ = run_cli(capsys, *base, "--model", "fake.onnx", "--save-dir", out_dir)
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert len(names) == 6 and all(n.endswith(("_zones.png", "_front.png")) for n in names)
    front = read_png(out_dir / "JAC_2011-03-10_TSX_6_1_005_front.png")
    assert set(np.unique(front)) <= {0, 255} and front.any()
    assert set(np.unique(read_png(out_dir / "JAC_2011-03-10_TSX_6_1_005_zones.png"))) <= {0, 64, 127, 254}
    code, again, _ = run_cli(capsys, *base, "--pred-dir", out_dir)
    assert code == 0
    assert json.loads(again)["prediction"]["mde_px"] == pytest.approx(json.loads(out)["prediction"]["mde_px"])


CAFFE_KEYS = {
    "mode", "data_dir", "split", "glaciers", "n_images", "n_with_bbox", "units", "min_length_px", "min_length_m",
    "ocean_rule", "tta", "source", "model", "pred_dir", "prediction", "floor",
}  # fmt: skip
MDE_KEYS = {
    "n_images", "n_evaluated", "n_no_front", "n_distances", "mde_px", "median_px", "mde_m", "median_m",
    "mean_of_image_means_px", "no_front_images", "per_image", "breakdowns",
}  # fmt: skip


def test_caffe_json_keys_are_stable(capsys, patched_model):
    patched_model(perfect_backend())
    args = ("evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--json")
    code, out, _ = run_cli(capsys, *args, "--model", "fake.onnx", "--floor")
    assert code == 0
    result = json.loads(out)
    assert set(result) == CAFFE_KEYS
    assert set(result["prediction"]) == MDE_KEYS | {"zones"}
    assert set(result["floor"]) == MDE_KEYS
    assert set(result["prediction"]["zones"]) == {"n_images", "per_class", "mean"}
    code, out, _ = run_cli(capsys, *args, "--floor")
    floor_only = json.loads(out)
    assert set(floor_only) == CAFFE_KEYS and floor_only["prediction"] is None and floor_only["source"] is None


def test_caffe_csv_and_table_outputs(capsys, patched_model):
    patched_model(perfect_backend())
    args = ("evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--model", "fake.onnx", "--floor")
    code, out, _ = run_cli(capsys, *args, "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    sources = {r["source"] for r in rows}
    assert sources == {"prediction", "floor"}
    assert any(r["group"] == "zones" and r["key"] == "ocean" and r["metric"] == "iou" for r in rows)
    assert any(r["group"] == "glacier" and r["key"] == "JAC" and r["metric"] == "mde_px" for r in rows)
    code, out, _ = run_cli(capsys, *args, "--quiet")
    assert code == 0
    assert "floor (labels)" in out and "fake.onnx" in out and "zone scores" in out


def test_model_finding_no_front_anywhere_exits_1(capsys, patched_model):
    patched_model(all_glacier_backend())
    code, out, err = run_cli(
        capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--model", "fake.onnx", "--pixels", "--json"
    )
    assert code == 1
    assert json.loads(out)["prediction"]["n_no_front"] == 3
    assert_one_line_error(err, "no image could be evaluated")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--data", "{tmp}/missing", "--floor"), ("missing", "not found")),
        (("--data", "{tmp}", "--floor"), ("not a CaFFe folder",)),
        (("--data", str(SAMPLE), "--split", "train", "--floor", "--tta"), ("--tta", "--floor alone")),
        (("--data", str(SAMPLE), "--pred-dir", "{tmp}", "--tta"), ("--tta", "--pred-dir")),
        (("--data", str(SAMPLE), "--floor", "--ocean-rule", "biggest"), ("--ocean-rule", "largest, edge")),
        (("--data", str(SAMPLE), "--split", "train", "--glaciers", "COL", "--floor"), ("COL",)),
        (("--data", str(SAMPLE), "--split", "val", "--floor"), ("'val'",)),
        (("--data", str(SAMPLE), "--split", "train", "--floor", "--save-dir", "{tmp}/s"), ("--save-dir",)),
        (("--data", str(SAMPLE), "--floor", "--json", "--csv"), ("--json", "--csv")),
    ],
)
def test_bad_caffe_input_gives_one_line_error(tmp_path, capsys, args, fragments):
    code, _, err = run_cli(capsys, "evaluate", *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert code == 1
    assert_one_line_error(err, *fragments)


def test_untrained_checkpoint_runs_end_to_end_through_the_cli(atto_checkpoint, capsys):
    code, out, err = run_cli(
        capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--model", atto_checkpoint[0], "--pixels",
        "--device", "cpu", "--json",
    )  # fmt: skip
    result = json.loads(out)
    # An untrained model may find no front at all (exit 1, said on stderr); either way every image was run.
    assert code in (0, 1) and (code == 0) == (result["prediction"]["n_evaluated"] > 0)
    assert result["prediction"]["zones"]["n_images"] == 3 and result["model"] == "atto.pt"
    assert "model atto.pt" in err


def test_library_refuses_model_and_pred_dir_together(tmp_path):
    with pytest.raises(GlacierfrontError, match="not both"):
        evaluate_caffe(SAMPLE, perfect_backend(), tmp_path, CaffeOptions(split="train"))


def test_csv_rows_cover_every_vector_scene(tmp_path):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"}), (hline(200.0), {"scene": "B"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(2.0), {"scene": "A"})])
    rows = csv_rows(evaluate_vectors(pred, ref))
    assert {(g, k) for _, g, k, _, _ in rows} == {("all", "all"), ("scene", "A"), ("scene", "B")}


# --- which model, test-time augmentation, ocean rule -----------------------------------------------------


def test_without_model_or_pred_dir_the_default_model_runs(capsys, patched_model):
    from glacierfront.model.backend import default_model_path

    calls = patched_model(perfect_backend())
    code, out, err = run_cli(capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--json")
    assert code == 0
    assert calls == [(default_model_path(), False)]
    assert "default model" in err and str(default_model_path()) in err
    result = json.loads(out)
    assert (
        result["source"] == "model" and result["prediction"]["n_evaluated"] == 3 and result["floor"] is None
    )


def test_floor_alone_scores_labels_without_loading_a_model(capsys, patched_model):
    calls = patched_model(perfect_backend())
    code, out, _ = run_cli(capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--floor", "--pixels", "--json")  # fmt: skip
    assert code == 0 and calls == []
    result = json.loads(out)
    assert result["prediction"] is None and result["floor"]["n_evaluated"] == 3


def test_missing_default_model_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("glacierfront.model.backend.MODELS_DIR", tmp_path)
    code, _, err = run_cli(capsys, "evaluate", "--data", SAMPLE, "--split", "train", "--pixels")
    assert code == 1
    assert_one_line_error(err, "no default model", "--model")


def test_tta_reaches_the_backend_and_is_reported(capsys, patched_model):
    calls = patched_model(perfect_backend(turned=True))
    args = ("evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--model", "fake.onnx")
    code, out, err = run_cli(capsys, *args, "--tta", "--floor", "--json")
    assert code == 0 and calls == [(Path("fake.onnx"), True)]
    result = json.loads(out)
    assert result["tta"] is True and result["ocean_rule"] == "largest"
    # The perfect model is position-free, so averaging its 8 flips and rotations changes nothing.
    assert result["prediction"]["mde_px"] == pytest.approx(result["floor"]["mde_px"], abs=1e-12)
    assert "test-time augmentation" in err
    code, out, _ = run_cli(capsys, *args, "--tta", "--quiet")
    assert code == 0 and "test-time augmentation" in out and "ocean rule: largest (CaFFe's)" in out


def _labels_with_a_plateau_blob(folder: Path) -> Path:
    """Saved predictions: the label zones, but JAC gets an ocean blob on its ice, larger than its real ocean
    and touching no edge, so CaFFe's largest-piece rule keeps the blob and loses the real front."""
    from PIL import Image

    for item in list_split(SAMPLE, "train"):
        zones = zones_from_png_values(read_png(item.zones))
        if item.name.startswith("JAC"):
            real_ocean = int((zones == 3).sum())
            assert (zones[1:134, 122:255] == 2).all() and real_ocean < 133 * 133
            zones[1:134, 122:255] = 3
        Image.fromarray(zones).save(folder / f"{item.name}_pred.png")
    return folder


def test_edge_ocean_rule_recovers_the_front_a_plateau_blob_hides(tmp_path, capsys):
    preds = _labels_with_a_plateau_blob(tmp_path)
    args = (
        "evaluate",
        "--data",
        SAMPLE,
        "--split",
        "train",
        "--pred-dir",
        preds,
        "--pixels",
        "--floor",
        "--json",
    )
    code, out, _ = run_cli(capsys, *args)
    largest = json.loads(out)
    assert code == 0 and largest["ocean_rule"] == "largest"
    jac = "JAC_2011-03-10_TSX_6_1_005"
    assert (
        largest["prediction"]["per_image"][jac]["mde_px"] > 10 * largest["floor"]["per_image"][jac]["mde_px"]
    )
    code, out, _ = run_cli(capsys, *args, "--ocean-rule", "edge")
    edge = json.loads(out)
    assert code == 0 and edge["ocean_rule"] == "edge"
    # On labels the edge rule changes nothing here, and the blob is dropped: the prediction is the floor again.
    assert edge["floor"]["mde_px"] == pytest.approx(largest["floor"]["mde_px"], abs=1e-12)
    assert edge["prediction"]["mde_px"] == pytest.approx(edge["floor"]["mde_px"], abs=1e-12)


def test_tta_and_ocean_rule_are_refused_in_vector_mode(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "s1"})])
    for extra in (("--tta",), ("--ocean-rule", "edge")):
        code, _, err = run_cli(capsys, "evaluate", ref, "--ref", ref, *extra)
        assert code == 1
        assert_one_line_error(err, extra[0], "vector mode")


def test_a_spacing_that_would_need_billions_of_samples_is_refused(tmp_path, capsys):
    from shapely.geometry import LineString

    line = LineString([(0, 0), (10_000, 0)])
    pred = layer(tmp_path / "p.gpkg", [(line, {"scene": "s"})], UTM33N)
    ref = layer(tmp_path / "r.gpkg", [(line, {"scene": "s"})], UTM33N)
    assert main(["evaluate", str(pred), "--ref", str(ref), "--spacing", "1e-4"]) == 1
    err = capsys.readouterr().err
    assert "use a larger --spacing" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("match", ["scene", "all"])
def test_an_empty_prediction_is_counted_as_no_front_not_refused(tmp_path, capsys, match):
    from shapely.geometry import LineString

    empty = layer(tmp_path / "p.gpkg", [], UTM33N)
    ref = layer(tmp_path / "r.gpkg", [(LineString([(0, 0), (1000, 0)]), {"scene": "s"})], UTM33N)
    assert main(["evaluate", str(empty), "--ref", str(ref), "--match", match, "--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["n_scenes"] == 1 and result["n_no_front"] == 1 and result["mde"] is None
    assert "no predicted front" in captured.err


def test_caffe_table_says_when_images_have_no_bounding_box(tmp_path, capsys):
    import shutil

    data = tmp_path / "nobox"
    shutil.copytree(SAMPLE, data)
    args = ("evaluate", "--data", data, "--split", "train", "--pixels", "--floor", "--quiet")
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "bounding boxes for" not in out
    shutil.rmtree(data / "bounding_boxes")
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "bounding boxes for 0 of 3 images" in " ".join(out.split())


def test_a_size_mismatch_names_the_file_its_size_and_the_label_it_should_match(tmp_path, capsys):
    import shutil

    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    front = data / "fronts" / "train" / "JAC_2011-03-10_TSX_6_1_005_front.png"
    Image.fromarray(np.zeros((200, 300), np.uint8)).save(front)
    code, _, err = run_cli(
        capsys, "evaluate", "--data", data, "--split", "train", "--pixels", "--floor", "-q"
    )
    assert code == 1
    assert_one_line_error(
        err,
        "JAC_2011-03-10_TSX_6_1_005_front.png: the front mask is 300 x 200 px",
        "zone label JAC_2011-03-10_TSX_6_1_005_zones.png is 256 x 256 px",
    )


def test_layers_thousands_of_km_apart_get_a_warning_not_just_a_number(tmp_path, capsys):
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0), {"scene": "A"})])
    # The same coordinates stamped with the wrong CRS: the line lands in another hemisphere.
    wrong = layer(tmp_path / "wrong.gpkg", [(hline(10.0), {"scene": "A"})], crs="EPSG:3031")
    code, out, err = run_cli(capsys, "evaluate", wrong, "--ref", ref, "--json", "-q")
    assert code == 0 and json.loads(out)["far_apart_scenes"] == ["A"]
    assert "over 50 km apart" in err and "CRS" in err
    right = layer(tmp_path / "right.gpkg", [(hline(10.0), {"scene": "A"})])
    code, out, err = run_cli(capsys, "evaluate", right, "--ref", ref, "--json")
    assert code == 0 and json.loads(out)["far_apart_scenes"] == [] and "apart" not in err


def test_a_short_prediction_is_scored_in_both_directions(tmp_path):
    # The prediction covers the first half of the reference exactly: prediction -> reference is all zeros,
    # reference -> prediction grows from 0 to 1000 m along the uncovered half. The MDE pools both lists.
    ref = layer(tmp_path / "ref.gpkg", [(hline(0.0, length_m=2000.0), {"scene": "s"})])
    pred = layer(tmp_path / "pred.gpkg", [(hline(0.0, length_m=1000.0), {"scene": "s"})])
    result = evaluate_vectors(pred, ref, spacing_m=2.0)
    ref_points = np.linspace(0.0, 2000.0, 1001)
    pred_points = np.linspace(0.0, 1000.0, 501)
    to_pred = np.clip(ref_points - 1000.0, 0.0, None)
    expected = to_pred.sum() / (ref_points.size + pred_points.size) * GROUND
    # (spacing is in ground metres, so a point or two more than this map-metre count)
    assert result["n_points"] == pytest.approx(ref_points.size + pred_points.size, abs=3)
    assert result["mde"] == pytest.approx(expected, rel=2e-3)
    # Neither one-way figure: 0 (prediction -> reference) or the reference -> prediction mean.
    assert result["mde"] < 0.9 * to_pred.mean() * GROUND


def test_a_zero_length_reference_line_is_refused_not_scored(tmp_path, capsys):
    pred = layer(tmp_path / "pred.gpkg", [(hline(0.0), {"scene": "s1"})])
    point = LineString([(X0 + 7000, Y0), (X0 + 7000, Y0)])
    ref = layer(tmp_path / "ref.gpkg", [(point, {"scene": "s1"})])
    code, out, err = run_cli(capsys, "evaluate", pred, "--ref", ref)
    assert code == 1 and out == ""
    assert_one_line_error(err, "s1", "zero length")


@pytest.mark.parametrize("value", ["nan", "inf", "-2", "0"])
def test_a_spacing_that_is_not_a_positive_number_is_one_line(tmp_path, capsys, value):
    path = layer(tmp_path / "a.gpkg", [(hline(0.0), {"scene": "s1"})])
    code, _, err = run_cli(capsys, "evaluate", path, "--ref", path, "--spacing", value)
    assert code in (1, 2) and "internal error" not in err and "Traceback" not in err

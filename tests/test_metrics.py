"""Front distances, pooled MDE with breakdowns, zone scores, and vector-mode line distances."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString, MultiLineString

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.metrics import (
    MDEAccumulator,
    ZoneAccumulator,
    densify,
    front_distances,
    line_distances,
    summarize,
    zone_scores,
)


def _row_front(row: int, shape: tuple[int, int] = (40, 30), cols: slice = slice(5, 25)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[row, cols] = True
    return mask


def test_mde_of_front_with_itself_is_zero():
    front = _row_front(10)
    front[11:20, 7] = True
    distances = front_distances(front, front)
    assert distances is not None and distances.size == 2 * front.sum()
    assert distances.max() == 0.0


@pytest.mark.parametrize("gap_px", [1, 3, 7])
def test_parallel_pixel_fronts_gap_px_apart_give_gap_px(gap_px):
    distances = front_distances(_row_front(10), _row_front(10 + gap_px))
    np.testing.assert_allclose(distances, gap_px)
    assert distances.size == 2 * 20


def test_front_distances_are_both_ways():
    # A short prediction lying on a long reference: pred->ref is all 0, ref->pred grows along the reference.
    pred = _row_front(5, cols=slice(0, 1))
    ref = _row_front(5, cols=slice(0, 4))
    np.testing.assert_allclose(front_distances(pred, ref), [0.0, 0.0, 1.0, 2.0, 3.0])


def test_front_distances_is_none_when_either_front_is_empty():
    empty = np.zeros((40, 30), dtype=bool)
    assert front_distances(empty, _row_front(3)) is None
    assert front_distances(_row_front(3), empty) is None


def test_front_distances_rejects_shape_mismatch():
    with pytest.raises(GlacierfrontError, match="shape"):
        front_distances(np.zeros((3, 3), bool), np.zeros((3, 4), bool))


def test_pooled_mde_weighs_distances_not_images():
    acc = MDEAccumulator()
    acc.add("COL_2011-11-13_TDX_7_1_092", np.full(2, 1.0), resolution_m=7.0)
    acc.add("Mapple_2011-06-01_TSX_7_1_034", np.full(8, 6.0), resolution_m=7.0)
    result = acc.result()
    assert result["mde_px"] == pytest.approx((2 * 1.0 + 8 * 6.0) / 10)  # 5.0: pooled
    assert result["mean_of_image_means_px"] == pytest.approx((1.0 + 6.0) / 2)  # 3.5: not the MDE
    assert result["mde_m"] == pytest.approx(5.0 * 7.0)
    assert result["n_distances"] == 10
    assert result["per_image"]["COL_2011-11-13_TDX_7_1_092"] == {
        "mde_px": 1.0,
        "mde_m": 7.0,
        "n_distances": 2,
    }


def test_pooled_mde_in_metres_uses_each_images_resolution():
    acc = MDEAccumulator()
    acc.add("a", np.array([1.0]), resolution_m=20.0)
    acc.add("b", np.array([1.0, 1.0, 1.0]), resolution_m=6.0)
    result = acc.result()
    assert result["mde_px"] == pytest.approx(1.0)
    assert result["mde_m"] == pytest.approx((20.0 + 3 * 6.0) / 4)


def test_image_without_predicted_front_is_counted_not_averaged():
    acc = MDEAccumulator()
    acc.add("COL_2011-11-13_TDX_7_1_092", np.array([2.0, 4.0]))
    acc.add("COL_2011-12-13_TDX_7_1_092", None)
    acc.add("COL_2012-01-13_TDX_7_1_092", front_distances(np.zeros((4, 4), bool), _row_front(1, (4, 4))))
    result = acc.result()
    assert result["mde_px"] == pytest.approx(3.0)
    assert result["n_images"] == 3 and result["n_evaluated"] == 1 and result["n_no_front"] == 2
    assert result["no_front_images"] == ["COL_2011-12-13_TDX_7_1_092", "COL_2012-01-13_TDX_7_1_092"]
    assert result["mde_m"] is None  # resolution not given: metres unknown


def test_mde_breakdowns_group_by_glacier_season_satellite_and_resolution():
    acc = MDEAccumulator()
    acc.add("COL_2011-11-13_TDX_7_1_092", np.array([1.0]))  # COL winter
    acc.add("COL_2011-06-13_TSX_7_1_092", np.array([3.0, 3.0]))  # COL summer
    acc.add("Mapple_2008-06-01_ERS_20_2_061", np.array([10.0]))  # southern hemisphere: June is winter
    acc.add("Mapple_2008-12-01_ERS_20_2_061", None)
    acc.add("not-a-caffe-name", np.array([100.0]))  # overall figures only
    breakdowns = acc.result()["breakdowns"]
    assert set(breakdowns) == {
        "glacier",
        "season",
        "satellite",
        "resolution_m",
        "glacier_season",
        "glacier_satellite",
        "glacier_resolution_m",
    }
    assert breakdowns["glacier"]["COL"]["mde_px"] == pytest.approx(7.0 / 3)
    assert breakdowns["glacier"]["Mapple"]["n_no_front"] == 1
    assert breakdowns["season"]["winter"]["mde_px"] == pytest.approx(5.5)
    assert breakdowns["season"]["summer"]["n_no_front"] == 1
    assert breakdowns["resolution_m"]["20"]["n_images"] == 2
    assert breakdowns["glacier_season"]["COL/summer"]["mde_px"] == pytest.approx(3.0)
    assert breakdowns["glacier_satellite"]["Mapple/ERS"]["n_evaluated"] == 1


def test_mde_accumulator_rejects_duplicate_image():
    acc = MDEAccumulator()
    acc.add("a", None)
    with pytest.raises(GlacierfrontError, match="twice"):
        acc.add("a", np.array([1.0]))


def test_mde_of_empty_accumulator_is_none():
    result = MDEAccumulator().result()
    assert result["mde_px"] is None and result["n_images"] == 0


def test_zone_scores_match_hand_counted_confusion():
    ref = np.array([[0, 1, 2, 3], [3, 3, 2, 2]])
    pred = np.array([[0, 1, 3, 3], [3, 3, 2, 1]])
    scores = zone_scores(pred, ref)
    # Ocean: 3 true positives, 1 false positive (a glacier pixel), no misses.
    assert scores["precision"][3] == pytest.approx(3 / 4)
    assert scores["recall"][3] == pytest.approx(1.0)
    assert scores["f1"][3] == pytest.approx(2 * 3 / (2 * 3 + 1))
    assert scores["iou"][3] == pytest.approx(3 / 4)
    # Glacier: 1 hit out of 3 reference pixels.
    assert scores["recall"][2] == pytest.approx(1 / 3) and scores["precision"][2] == pytest.approx(1.0)


def test_zone_scores_class_absent_everywhere_is_nan_and_one_sided_absence_is_zero():
    ref = np.array([[1, 1, 2, 2]])
    pred = np.array([[1, 3, 2, 2]])
    scores = zone_scores(pred, ref)
    assert np.isnan(scores["f1"][0]) and np.isnan(scores["iou"][0])  # NA: in neither
    assert scores["recall"][3] == 0.0 and scores["precision"][3] == 0.0 and scores["iou"][3] == 0.0


def test_zone_accumulator_averages_images_and_mean_includes_na():
    acc = ZoneAccumulator()
    perfect = np.array([[0, 1, 2, 3]])
    acc.add(perfect, perfect)
    half_wrong = np.array([[0, 0, 2, 3]])  # rock predicted as NA
    acc.add(half_wrong, perfect)
    result = acc.result()
    assert result["n_images"] == 2
    assert result["per_class"]["na"]["iou"] == pytest.approx((1.0 + 0.5) / 2)
    assert result["per_class"]["rock"]["iou"] == pytest.approx((1.0 + 0.0) / 2)
    assert result["mean"]["iou"] == pytest.approx((0.75 + 0.5 + 1.0 + 1.0) / 4)


def test_zone_accumulator_skips_class_absent_from_an_image():
    acc = ZoneAccumulator()
    acc.add(np.array([[1, 2]]), np.array([[1, 2]]))  # no NA, no ocean: those classes are not scored here
    acc.add(np.array([[0, 3]]), np.array([[0, 0]]))
    result = acc.result()
    assert result["per_class"]["ocean"]["precision"] == 0.0
    assert result["per_class"]["rock"]["f1"] == 1.0
    assert result["per_class"]["na"]["recall"] == pytest.approx(0.5)


def test_zone_scores_reject_out_of_range_class():
    with pytest.raises(GlacierfrontError, match="0..3"):
        zone_scores(np.array([[4]]), np.array([[0]]))


def test_densify_includes_ends_and_never_exceeds_spacing():
    points = densify(LineString([(0, 0), (10, 0)]), spacing_m=3.0)
    assert points[0].tolist() == [0, 0] and points[-1].tolist() == [10, 0]
    assert np.diff(points[:, 0]).max() <= 3.0 and len(points) == 5


def test_densify_samples_every_part_of_a_multiline():
    multi = MultiLineString([[(0, 0), (4, 0)], [(0, 10), (0, 12)]])
    points = densify(multi, spacing_m=1.0)
    assert len(points) == 5 + 3


def test_densify_rejects_polygons_and_bad_spacing():
    with pytest.raises(GlacierfrontError, match="spacing_m"):
        densify(LineString([(0, 0), (1, 0)]), spacing_m=0)
    with pytest.raises(GlacierfrontError, match="lines"):
        densify(LineString([(0, 0), (1, 0), (1, 1)]).buffer(1), spacing_m=1)


@pytest.mark.parametrize("gap_m", [0.5, 50.0, 1234.0])
def test_parallel_lines_gap_m_apart_give_gap_m(gap_m):
    pred = LineString([(0, 0), (1000, 0)])
    ref = LineString([(0, gap_m), (1000, gap_m)])
    distances = line_distances(pred, ref, spacing_m=10.0)
    np.testing.assert_allclose(distances, gap_m)
    assert summarize([distances])["mde"] == pytest.approx(gap_m)


def test_line_distances_of_line_with_itself_is_zero():
    line = LineString([(0, 0), (300, 40), (500, -20)])
    assert line_distances(line, line, spacing_m=5.0).max() == pytest.approx(0.0, abs=1e-9)


def test_line_distances_none_for_empty_line():
    assert line_distances(LineString(), LineString([(0, 0), (1, 0)]), spacing_m=1.0) is None


def test_line_distances_scale_to_long_fronts_without_pair_matrix():
    # 200 000 points a side: an all-pairs matrix would need 320 GB, the KD-tree a few MB.
    pred = LineString([(0, 0), (200_000, 0)])
    ref = LineString([(0, 2), (200_000, 2)])
    distances = line_distances(pred, ref, spacing_m=1.0)
    assert distances.size == 2 * 200_001
    np.testing.assert_allclose(distances, 2.0)


def test_summarize_pools_lines_and_reports_hd95():
    summary = summarize([np.arange(0.0, 51.0), None, np.arange(51.0, 101.0)])
    assert summary["n_points"] == 101 and summary["n_evaluated"] == 2 and summary["n_no_front"] == 1
    assert summary["mde"] == pytest.approx(50.0)
    assert summary["median"] == pytest.approx(50.0)
    assert summary["hd95"] == pytest.approx(95.0)


def test_summarize_without_any_front_gives_none():
    summary = summarize([None, None])
    assert summary["mde"] is None and summary["hd95"] is None and summary["n_no_front"] == 2

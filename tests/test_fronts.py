"""CaFFe post-processing: zones -> front pixels on hand-made masks, and on real caffe256 labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.metrics import MDEAccumulator, front_distances
from glacierfront.io.caffe import list_split, read_bbox, read_png, zones_from_png_values
from glacierfront.predict.fronts import (
    GLACIER,
    NA,
    OCEAN,
    ROCK,
    clip_to_bbox,
    data_edge,
    extract_front,
    front_pixels,
    min_length_px_for,
    postprocess_zones,
    remove_short_fronts,
)

SAMPLE_DIR = Path(__file__).parent / "data" / "caffe256_sample"


def _glacier_meets_ocean(rows: int = 6, cols: int = 8, split_col: int = 4) -> np.ndarray:
    zones = np.full((rows, cols), GLACIER, dtype=np.uint8)
    zones[:, split_col:] = OCEAN
    return zones


def test_front_lies_on_ocean_side_of_glacier_ocean_edge():
    front = front_pixels(_glacier_meets_ocean())
    expected = np.zeros((6, 8), dtype=bool)
    expected[:, 4] = True
    np.testing.assert_array_equal(front, expected)


@pytest.mark.parametrize("land", [ROCK, NA])
def test_front_ignores_ocean_rock_and_ocean_na_edges(land):
    zones = _glacier_meets_ocean()
    zones[:, :4] = land
    assert not front_pixels(zones).any()


def test_front_ignores_glacier_rock_edges():
    zones = np.full((5, 6), GLACIER, dtype=np.uint8)
    zones[:, 3:] = ROCK
    assert not front_pixels(zones).any()


def test_front_uses_four_neighbours_not_diagonals():
    zones = np.full((3, 3), OCEAN, dtype=np.uint8)
    zones[0, 0] = GLACIER
    front = front_pixels(zones)
    assert front[0, 1] and front[1, 0] and not front[1, 1]


def test_postprocess_fills_iceberg_holes_in_ocean():
    zones = _glacier_meets_ocean(10, 12, 4)
    zones[4:6, 8:10] = GLACIER  # an iceberg: a small non-ocean piece inside the ocean
    out = postprocess_zones(zones)
    assert (out[4:6, 8:10] == OCEAN).all()
    expected = np.zeros((10, 12), dtype=bool)
    expected[:, 4] = True
    np.testing.assert_array_equal(front_pixels(out), expected)


def test_postprocess_turns_detached_ocean_blob_into_glacier():
    zones = _glacier_meets_ocean(10, 12, 8)
    zones[3:5, 2:4] = OCEAN  # a lake inside the glacier: not connected to the open ocean
    out = postprocess_zones(zones)
    assert (out[3:5, 2:4] == GLACIER).all()
    assert (out[:, 8:] == OCEAN).all()
    assert not front_pixels(out)[:, :8].any()


def test_postprocess_connects_ocean_diagonally():
    # Two ocean squares touching at one corner form one 8-connected piece, so neither becomes glacier.
    zones = np.full((6, 6), GLACIER, dtype=np.uint8)
    zones[:3, :3] = OCEAN
    zones[3:, 3:] = OCEAN
    np.testing.assert_array_equal(postprocess_zones(zones), zones)


def test_postprocess_leaves_zones_without_ocean_alone():
    zones = np.full((4, 4), GLACIER, dtype=np.uint8)
    zones[:, :2] = ROCK
    np.testing.assert_array_equal(postprocess_zones(zones), zones)


def test_remove_short_fronts_drops_pieces_of_at_most_min_length():
    mask = np.zeros((5, 20), dtype=bool)
    mask[0, 0:3] = True  # 3 px: exactly the minimum, removed ("at most")
    mask[2, 5:9] = True  # 4 px: kept
    mask[4, 12] = mask[3, 13] = mask[4, 14] = mask[3, 15] = (
        True  # 4 px joined only diagonally: one piece, kept
    )
    out = remove_short_fronts(mask, min_length_px=3)
    assert not out[0].any()
    assert out[2, 5:9].all() and out[3:, 12:16].sum() == 4


def test_remove_short_fronts_accepts_fractional_length():
    mask = np.zeros((3, 200), dtype=bool)
    mask[1, :107] = True
    assert not remove_short_fronts(mask, min_length_px_for(7.0)).any()  # 750 / 7 = 107.1 px
    mask[1, :108] = True
    assert remove_short_fronts(mask, min_length_px_for(7.0)).sum() == 108


def test_clip_to_bbox_keeps_half_open_box():
    mask = np.ones((6, 6), dtype=bool)
    out = clip_to_bbox(mask, (1, 3, 2, 5))
    assert out.sum() == 2 * 3 and out[1:3, 2:5].all()
    assert clip_to_bbox(mask, (-4, 100, 4, 100)).sum() == 6 * 2


def test_extract_front_removes_short_pieces_before_clipping():
    zones = _glacier_meets_ocean(20, 8, 4)
    # The 20 px front is long enough; the box keeps only 5 px of it, which must survive.
    front = extract_front(zones, min_length_px=10, bbox=(0, 5, 0, 8))
    assert front.sum() == 5 and front[:5, 4].all()


def test_extract_front_drops_short_fronts_and_keeps_long_ones():
    zones = np.full((20, 20), ROCK, dtype=np.uint8)
    zones[:, 10:] = OCEAN
    zones[0:15, 0:10] = GLACIER  # a 15 px front along column 10
    zones[17:19, 8:10] = GLACIER  # a 2 px front, separated from the long one by ocean-rock edges
    zones[18:, 0:2] = OCEAN  # a detached ocean blob: becomes glacier, so no front there
    front = extract_front(zones, min_length_px=5)
    expected = np.zeros_like(front)
    expected[0:15, 10] = True
    np.testing.assert_array_equal(front, expected)
    assert front_pixels(postprocess_zones(zones))[17:19, 10].all()


def test_extract_front_never_marks_nodata_pixels():
    zones = _glacier_meets_ocean(10, 10, 5)
    nodata = np.zeros_like(zones, dtype=bool)
    nodata[:4, :] = True
    front = extract_front(zones, min_length_px=2, nodata_mask=nodata)
    assert not front[nodata].any()
    assert front[4:, 5].all() and front.sum() == 6


def test_nodata_patch_that_step_one_turns_into_ocean_is_not_front():
    # A nodata patch out in the ocean, where the model guessed glacier: NA, a detached non-ocean piece, so
    # step 1 makes it ocean along with everything around it, and the front is that of the patch-free scene.
    zones = _glacier_meets_ocean(12, 12, 4)
    zones[5:8, 8:10] = GLACIER
    nodata = np.zeros_like(zones, dtype=bool)
    nodata[5:8, 8:10] = True
    assert (postprocess_zones(np.where(nodata, NA, zones))[nodata] == OCEAN).all()
    front = extract_front(zones, min_length_px=2, nodata_mask=nodata)
    np.testing.assert_array_equal(front, extract_front(_glacier_meets_ocean(12, 12, 4), min_length_px=2))


@pytest.mark.parametrize("ocean_rule", ["largest", "edge"])
def test_no_zone_map_and_nodata_mask_put_front_on_nodata(ocean_rule):
    # Post-processing alone keeps fronts off nodata (extract_front masks nothing afterwards): random blobby
    # zone maps under random nodata masks, of every density.
    rng = np.random.default_rng(12)
    for _ in range(300):
        blocks = rng.integers(0, 4, (rng.integers(2, 8), rng.integers(2, 8))).astype(np.uint8)
        zones = np.kron(blocks, np.ones((2, 2), np.uint8))
        nodata = rng.random(zones.shape) < rng.uniform(0.0, 0.5)
        front = extract_front(zones, min_length_px=0, nodata_mask=nodata, ocean_rule=ocean_rule)
        assert not front[nodata].any()


def test_extract_front_rejects_non_integer_zones():
    with pytest.raises(GlacierfrontError, match="integer"):
        extract_front(np.zeros((4, 4), dtype=np.float32), min_length_px=2)


def test_label_zones_reproduce_label_fronts_on_real_caffe256_images():
    # Post-processing the LABEL zones should land close to the label fronts; caffe256's README measures a
    # floor of 1.53 px over all 482 images, and these three give about 1.59 px.
    accumulator = MDEAccumulator()
    no_box = MDEAccumulator()
    for item in list_split(SAMPLE_DIR, "train"):
        zones = zones_from_png_values(read_png(item.zones))
        reference = read_png(item.front) > 127
        bbox = read_bbox(item.bbox, zones.shape)
        accumulator.add(item.name, front_distances(extract_front(zones, 2, bbox=bbox), reference))
        no_box.add(item.name, front_distances(extract_front(zones, 2), reference))
    result = accumulator.result()
    assert result["n_evaluated"] == 3 and result["n_no_front"] == 0
    assert 1.0 < result["mde_px"] < 2.0
    assert all(image["mde_px"] < 3.0 for image in result["per_image"].values())
    # Without boxes, lateral ice cliffs count as front and the error grows several-fold.
    assert no_box.result()["mde_px"] > 2 * result["mde_px"]


# --- the "edge" ocean rule --------------------------------------------------------------------------------


def _plateau_blob_scene() -> np.ndarray:
    """Glacier everywhere; the real ocean is a 4-column strip on the right edge (30 x 4 = 120 px); a larger
    ocean blob (12 x 12 = 144 px) sits on the ice plateau and touches no edge."""
    zones = np.full((30, 40), GLACIER, dtype=np.uint8)
    zones[:, 36:] = OCEAN
    zones[8:20, 6:18] = OCEAN
    return zones


def test_largest_rule_lets_a_plateau_blob_win_as_caffe_does():
    zones = _plateau_blob_scene()
    out = postprocess_zones(zones, "largest")
    assert (out[8:20, 6:18] == OCEAN).all() and (out[:, 36:] == GLACIER).all()
    np.testing.assert_array_equal(out, postprocess_zones(zones))  # "largest" is the default


def test_edge_rule_keeps_the_ocean_on_the_scene_edge_and_drops_the_plateau_blob():
    zones = _plateau_blob_scene()
    out = postprocess_zones(zones, "edge")
    assert (out[:, 36:] == OCEAN).all() and (out[8:20, 6:18] == GLACIER).all()
    expected = np.zeros(zones.shape, dtype=bool)
    expected[:, 36] = True
    np.testing.assert_array_equal(extract_front(zones, 2, ocean_rule="edge"), expected)
    # With CaFFe's rule the real front is lost and the blob's outline is the "front".
    largest = extract_front(zones, 2, ocean_rule="largest")
    assert not largest[:, 30:].any() and largest[8:20, 6:18].sum() == 12 * 4 - 4


def test_edge_rule_keeps_every_piece_on_the_edge():
    zones = _plateau_blob_scene()
    zones[25:, :3] = OCEAN  # a second, small piece in the bottom-left corner
    out = postprocess_zones(zones, "edge")
    assert (out[25:, :3] == OCEAN).all() and (out[:, 36:] == OCEAN).all()
    assert (out[8:20, 6:18] == GLACIER).all()


def test_edge_rule_falls_back_to_the_largest_when_no_ocean_reaches_the_edge():
    zones = np.full((30, 40), GLACIER, dtype=np.uint8)
    zones[8:20, 6:18] = OCEAN
    zones[5:9, 25:30] = OCEAN
    out = postprocess_zones(zones, "edge")
    np.testing.assert_array_equal(out, postprocess_zones(zones, "largest"))
    assert (out[8:20, 6:18] == OCEAN).all() and (out[5:9, 25:30] == GLACIER).all()


@pytest.mark.parametrize("outside", ["nodata", "na"])
def test_edge_rule_counts_nodata_and_na_as_the_edge_of_the_data(outside):
    # The swath ends inside the raster: the open ocean meets nodata (or the NA class), not the raster border.
    zones = np.full((30, 40), GLACIER, dtype=np.uint8)
    zones[8:20, 6:18] = OCEAN  # the plateau blob, 144 px
    zones[10:20, 30:34] = OCEAN  # the real ocean, 40 px, ending where the data ends on its right
    nodata = np.zeros(zones.shape, dtype=bool)
    nodata[:, 34:] = True
    if outside == "na":
        zones[nodata] = NA
    front = extract_front(zones, 2, nodata_mask=nodata if outside == "nodata" else None, ocean_rule="edge")
    expected = np.zeros(zones.shape, dtype=bool)
    expected[10:20, 30] = True  # glacier to the left
    expected[10, 31:34] = expected[19, 31:34] = True  # glacier above and below
    np.testing.assert_array_equal(front, expected)
    # Where glacier (not the end of the data) surrounds that piece, the largest piece, the blob, is kept.
    zones[:, 34:] = GLACIER
    assert not extract_front(zones, 2, ocean_rule="edge")[:, 30:].any()


def test_data_edge_is_the_border_and_the_neighbours_of_nodata():
    nodata = np.zeros((7, 9), dtype=bool)
    nodata[3, 4] = True
    edge = data_edge(nodata)
    expected = np.zeros((7, 9), dtype=bool)
    expected[[0, -1], :] = expected[:, [0, -1]] = True
    expected[2:5, 3:6] = True
    np.testing.assert_array_equal(edge, expected)
    inner = data_edge(np.zeros((4, 5), bool), top=False, bottom=False)
    assert inner[:, [0, -1]].all() and not inner[:, 1:-1].any()


def test_unknown_ocean_rule_is_an_error():
    with pytest.raises(GlacierfrontError, match="ocean-rule"):
        extract_front(_plateau_blob_scene(), 2, ocean_rule="biggest")

"""The banded (memory-flat) post-processing gives exactly the in-memory CaFFe post-processing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from glacierfront.predict.fronts import extract_front_and_zones
from glacierfront.predict.fronts_banded import extract_front_banded


def blobby_zones(seed: int, shape=(97, 83)) -> np.ndarray:
    """Random smooth zone maps: many islands, holes and pieces, so every step of the rules has work."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 2.5)
    zones = np.digitize(field, np.quantile(field, [0.1, 0.3, 0.65])).astype(np.uint8)
    return zones


def nodata_of(kind: str, shape=(97, 83)) -> np.ndarray:
    """Valid-data masks: a strip on the left, or also a ragged patch inside that crosses band seams."""
    valid = np.ones(shape, bool)
    valid[:, :7] = False  # a nodata strip: NA for the rules, never front
    if kind == "patch":
        valid[40:47, 30:52] = False
        valid[47, 44] = False  # a one-row tail: its neighbours on both sides of a seam are data edge
    return valid


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("band", [1, 5, 16, 200])
@pytest.mark.parametrize(("ocean_rule", "nodata"), [("largest", "strip"), ("edge", "patch")])
def test_banded_equals_in_memory(tmp_path, seed, band, ocean_rule, nodata):
    zones = blobby_zones(seed)
    valid = nodata_of(nodata)
    expected_front, expected_zones = extract_front_and_zones(
        zones, 4.0, nodata_mask=~valid, ocean_rule=ocean_rule
    )
    pixels, processed = extract_front_banded(zones, valid, 4.0, tmp_path, band=band, ocean_rule=ocean_rule)
    np.testing.assert_array_equal(processed[valid], expected_zones[valid])
    got = np.zeros(zones.shape, bool)
    got[pixels.rows, pixels.cols] = True
    np.testing.assert_array_equal(got, expected_front)
    # Piece ids group pixels exactly as 8-connected components of the front do.
    labels, _ = ndimage.label(expected_front, structure=np.ones((3, 3)))
    pairs = set(zip(labels[pixels.rows, pixels.cols].tolist(), pixels.pieces.tolist()))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_allowed_mask_limits_the_front(tmp_path):
    zones = blobby_zones(3)
    valid = np.ones(zones.shape, bool)
    full, _ = extract_front_banded(zones, valid, 0.0, tmp_path, band=10)
    half, _ = extract_front_banded(
        zones,
        valid,
        0.0,
        tmp_path,
        allowed=lambda r0, r1: np.ones((r1 - r0, 83), bool) & (np.arange(83) < 40),
        band=10,
    )
    assert half.rows.size < full.rows.size and half.cols.max() < 40


def test_short_pieces_are_measured_before_the_aoi_clips_them(tmp_path):
    zones = np.full((20, 30), 3, np.uint8)
    zones[:, :10] = 2  # a 20-pixel front along column 10
    valid = np.ones(zones.shape, bool)
    inside = lambda r0, r1: np.arange(r0, r1)[:, None] < 5  # noqa: E731 - only the top 5 rows allowed
    pixels, _ = extract_front_banded(zones, valid, 10.0, tmp_path, allowed=inside, band=4)
    # The piece is 20 px long (> 10) so it survives, then the AOI keeps its top 5 pixels.
    assert sorted(pixels.rows.tolist()) == [0, 1, 2, 3, 4] and set(pixels.cols.tolist()) == {10}


def test_the_ocean_rules_differ_on_these_zone_maps():
    # Otherwise the comparison above could not tell the banded edge rule from the largest-piece rule.
    differ = 0
    for seed in range(6):
        zones, valid = blobby_zones(seed), nodata_of("patch")
        largest = extract_front_and_zones(zones, 4.0, nodata_mask=~valid, ocean_rule="largest")[1]
        edge = extract_front_and_zones(zones, 4.0, nodata_mask=~valid, ocean_rule="edge")[1]
        differ += int((largest != edge).any())
    assert differ >= 3


@pytest.mark.parametrize("band", [3, 7, 100])
def test_banded_edge_rule_drops_a_plateau_blob_larger_than_the_real_ocean(tmp_path, band):
    zones = np.full((30, 40), 2, np.uint8)  # glacier
    zones[:, 36:] = 3  # the real ocean on the right edge, 120 px
    zones[8:20, 6:18] = 3  # a plateau blob, 144 px, touching no edge
    valid = np.ones(zones.shape, bool)
    edge, _ = extract_front_banded(zones, valid, 2.0, tmp_path, band=band, ocean_rule="edge")
    assert set(edge.cols.tolist()) == {36} and edge.rows.size == 30
    largest, _ = extract_front_banded(zones, valid, 2.0, tmp_path, band=band, ocean_rule="largest")
    assert largest.cols.max() < 18 and largest.rows.size == 44


def test_banded_rejects_an_unknown_ocean_rule(tmp_path):
    from glacierfront.errors import GlacierfrontError

    with pytest.raises(GlacierfrontError, match="ocean-rule"):
        extract_front_banded(blobby_zones(0), nodata_of("strip"), 4.0, tmp_path, ocean_rule="widest")

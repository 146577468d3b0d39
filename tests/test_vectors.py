"""Front pixels -> lines: placement on pixel edges, merging, simplification, lengths; acquisition metadata."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from reference import front_lines

from glacierfront.io.acquisition import acquisition
from glacierfront.predict.vectorise import length_m


def test_straight_front_becomes_one_line_on_the_pixel_edge():
    zones = np.full((10, 12), 3)
    zones[:, :5] = 2
    front = np.zeros(zones.shape, bool)
    front[:, 5] = True
    (line,) = front_lines(front, zones, Affine(10, 0, 1000, 0, -10, 5000))
    assert list(line.geometry.coords) == [(1050.0, 5000.0), (1050.0, 4900.0)] or list(
        line.geometry.coords
    ) == [
        (1050.0, 4900.0),
        (1050.0, 5000.0),
    ]
    assert line.length_m == pytest.approx(100.0) and line.n_pixels == 10


def test_staircase_front_is_continuous_and_simplified_within_half_a_pixel():
    n = 40
    zones = np.full((n, n), 3)
    for r in range(n):
        zones[r, : r + 1] = 2  # glacier below the diagonal: a staircase front
    front = np.zeros(zones.shape, bool)
    for r in range(n - 1):
        front[r, r + 1] = True
    lines = front_lines(front, zones)
    assert len(lines) == 1
    raw = front_lines(front, zones, simplify_px=0)[0].geometry
    simplified = lines[0].geometry
    assert len(simplified.coords) < len(raw.coords) / 5
    assert simplified.hausdorff_distance(raw) <= 0.5 + 1e-9


def test_separate_pieces_give_separate_lines_with_their_confidence():
    zones = np.full((20, 20), 3)
    zones[:8, :5] = 2
    zones[12:, :5] = 2
    front = np.zeros(zones.shape, bool)
    front[:8, 5] = True
    front[12:, 5] = True
    conf = np.zeros(zones.shape)
    conf[:8, 5] = 0.9
    conf[12:, 5] = 0.6
    lines = sorted(front_lines(front, zones, confidence=conf), key=lambda line: line.confidence)
    assert [round(line.confidence, 3) for line in lines] == [0.6, 0.9]


def test_geographic_length_uses_latitude():
    from shapely.geometry import LineString

    east = LineString([(10.0, 60.0), (11.0, 60.0)])
    assert length_m(east, geographic=True) == pytest.approx(111_320 * 0.5, rel=1e-3)
    assert length_m(LineString([(0, 0), (3, 4)]), geographic=False, unit_m=0.3048) == pytest.approx(
        5 * 0.3048
    )


@pytest.mark.parametrize(
    ("stem", "tags", "expected"),
    [
        ("Crane_2002-11-09_ERS_20_2_061", {}, {"date": "2002-11-09", "sensor": "ERS"}),
        ("S1A_IW_GRDH_1SDH_20230105T101010_20230105T101035_046", {}, {"date": "2023-01-05", "sensor": "S1A"}),
        ("LC08_L1TP_008011_20210704_20210713_02_T1", {}, {"date": "2021-07-04", "sensor": "LC08"}),
        (
            "scene",
            {"TIFFTAG_DATETIME": "2019:08:01 12:00:00", "SENSOR": "TSX"},
            {"date": "2019-08-01", "sensor": "TSX"},
        ),
        ("scene", {}, {"date": None, "sensor": None}),
        ("run_20231399", {}, {"date": None, "sensor": None}),  # not a real date
    ],
)
def test_acquisition_from_names_and_tags(stem, tags, expected):
    assert acquisition(stem, tags) == expected


@pytest.mark.parametrize("seed", range(4))
def test_smoothing_stays_within_half_a_pixel_on_irregular_fronts(seed):
    from scipy import ndimage

    from glacierfront.predict.fronts import extract_front_and_zones

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(60, 60)), 3)
    zones = np.where(field > 0, 2, 3)
    front, processed = extract_front_and_zones(zones, 0.0)
    raw = front_lines(front, processed, simplify_px=0)
    smooth = front_lines(front, processed, simplify_px=0.5)
    assert len(raw) == len(smooth) > 0
    for a, b in zip(sorted(raw, key=lambda x: x.n_pixels), sorted(smooth, key=lambda x: x.n_pixels)):
        assert b.geometry.hausdorff_distance(a.geometry) <= 0.5 + 1e-9

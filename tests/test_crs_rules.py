"""One home per rule: the local metric CRS rule and the one reprojection of geometries (io/crs.py), and the
--scaling spec parser (io/intensity.py) that check_scaling and every Scene share."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform, transform_geom
from shapely.geometry import LineString, MultiLineString, box, mapping, shape

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate import local_metric_crs as evaluate_crs
from glacierfront.io.crs import DENSIFY_PARTS, local_metric_crs, reproject, utm_zone
from glacierfront.io.intensity import VALID_FLOOR, IntensityMap, check_scaling, parse_scaling


# -- the local metric CRS ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lon", "lat", "ups", "nsidc"),
    [
        (-49.8, 70.0, 32622, 3413),  # Jakobshavn: a raster's metric grid stays in UTM, evaluate goes polar
        (-62.0, -64.9, 32720, 3031),
        (15.0, 46.0, 32633, 32633),  # mid-latitudes: the same UTM zone either way
        (-70.0, -45.0, 32719, 32719),
        (10.0, 84.0, 32661, 3413),  # UTM ends at 84 N ...
        (10.0, 83.99, 32632, 3413),
        (10.0, -80.0, 32732, 3031),  # ... and below 80 S
        (10.0, -80.01, 32761, 3031),
        (20.0, 59.99, 32634, 32634),
        (20.0, -60.0, 32734, 3031),
    ],
)
def test_one_rule_two_polar_choices(lon, lat, ups, nsidc):
    assert local_metric_crs(lon, lat) == CRS.from_epsg(ups)
    assert local_metric_crs(lon, lat, polar="nsidc") == CRS.from_epsg(nsidc)
    assert evaluate_crs(lon, lat) == CRS.from_epsg(nsidc)


@pytest.mark.parametrize(
    ("lon", "zone"), [(-180.0, 1), (180.0, 1), (-177.0, 1), (179.9, 60), (0.0, 31), (540.0, 1)]
)
def test_utm_zone_wraps_any_longitude(lon, zone):
    assert utm_zone(lon) == zone


def test_an_unknown_polar_choice_is_refused():
    with pytest.raises(ValueError, match="polar"):
        local_metric_crs(0.0, 0.0, polar="lambert")


# -- the one reprojection ---------------------------------------------------------------------------------
def _jagged(x0: float, y0: float, step: float, seed: int) -> LineString:
    rng = np.random.default_rng(seed)
    return LineString(
        np.column_stack(
            [x0 + np.cumsum(rng.normal(size=30)) * step, y0 + np.cumsum(rng.normal(size=30)) * step]
        )
    )


@pytest.mark.parametrize(
    ("src", "dst", "x0", "y0", "step"),
    [
        ("EPSG:4326", "EPSG:3413", -50.0, 69.0, 0.01),
        ("EPSG:32622", "EPSG:3413", 530_000.0, 7_680_000.0, 300.0),
        ("EPSG:3031", "EPSG:4326", -2_400_000.0, 1_300_000.0, 300.0),
        ("EPSG:3413", "EPSG:4326", -190_000.0, -2_270_000.0, 300.0),
    ],
)
def test_reproject_gives_the_numbers_transform_geom_gives(src, dst, x0, y0, step):
    geoms = [_jagged(x0, y0, step, seed) for seed in range(5)] + [box(x0, y0, x0 + 20 * step, y0 + 20 * step)]
    moved = reproject(geoms, src, dst)
    for geom, got in zip(geoms, moved, strict=True):
        want = shape(transform_geom(src, dst, mapping(geom)))
        assert got.geom_type == want.geom_type
        assert np.array_equal(shapely.get_coordinates(got), shapely.get_coordinates(want))


def test_into_lon_lat_a_line_across_the_antimeridian_is_cut():
    # UTM zone 60 N straddles 180 E: a line from 179.5 E to 179.5 W.
    xs, ys = transform("EPSG:4326", "EPSG:32660", [179.5, -179.5], [65.0, 65.0])
    (moved,) = reproject([LineString(zip(xs, ys))], "EPSG:32660", "EPSG:4326")
    assert isinstance(moved, MultiLineString) and len(moved.geoms) == 2
    assert max(abs(x) for x, _ in shapely.get_coordinates(moved)) == pytest.approx(180.0)


def test_none_and_empty_geometries_pass_and_the_same_crs_is_left_alone():
    line = LineString([(0.0, 0.0), (1000.0, 0.0)])
    moved = reproject([None, LineString(), line], "EPSG:32633", "EPSG:4326")
    assert moved[0] is None and moved[1].is_empty and not moved[2].is_empty
    assert reproject([line], "EPSG:32633", CRS.from_epsg(32633))[0] is line


def test_densify_splits_before_moving_and_z_is_dropped():
    line = LineString([(400_000.0, 7_000_000.0, 5.0), (410_000.0, 7_000_000.0, 5.0)])
    (dense,) = reproject([line], "EPSG:32633", "EPSG:4326", densify=True)
    assert len(dense.coords) == DENSIFY_PARTS + 1 and not dense.has_z
    (plain,) = reproject([line], "EPSG:32633", "EPSG:3413")
    assert len(plain.coords) == 2 and not plain.has_z


def test_coordinates_outside_the_crs_give_one_line_error():
    wrong = LineString([(530_000.0, 7_680_000.0), (531_000.0, 7_680_000.0)])  # metres labelled lon/lat
    with pytest.raises(GlacierfrontError, match=r"cannot reproject .*EPSG:4326.*declared CRS") as info:
        reproject([wrong], "EPSG:4326", "EPSG:3413")
    assert len(str(info.value).splitlines()) == 1


# -- the --scaling parser ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "word", "mode", "pair", "stat"),
    [
        ("auto", None, "auto", None, None),
        ("db", "db", "percentile", (0.5, 99.5), None),
        ("percentile", None, "percentile", (2.0, 98.0), None),
        ("power+percentile:1,99", "power", "percentile", (1.0, 99.0), None),
        ("minmax:0,1000", None, "minmax", (0.0, 1000.0), None),
        ("gain", None, "gain", None, "99.5"),
        ("amplitude+gain:99.50", "amplitude", "gain", None, "99.5"),
        ("gain:mean", None, "gain", None, "mean"),
        ("db+auto", "db", "auto", None, None),  # passes the early check; each scene refuses it
    ],
)
def test_parse_scaling(spec, word, mode, pair, stat):
    parsed = parse_scaling(spec)
    assert (parsed.word, parsed.mode, parsed.pair, parsed.stat) == (word, mode, pair, stat)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("db+", "--scaling 'db+' needs a mapping after '+', e.g. db+percentile"),
        ("foo+bar", "--scaling 'foo+bar': unknown conversion 'foo'; use db+, power+ or amplitude+"),
        ("minmax:a,b", "--scaling: cannot read numbers in --scaling 'minmax:a,b'; write e.g. minmax:0,1000"),
        ("percentile:5,101", "--scaling 'percentile:5,101': percentiles must lie in 0..100"),
        ("gain:42", "--scaling 'gain:42': gain takes one of mean, 50, 90, 95, 98, 99, 99.5, 99.9"),
        ("nonsense", "--scaling 'nonsense': unknown; use auto, uint8, percentile[:L,H], gain[:P|mean]"),
    ],
)
def test_check_scaling_messages_stay_as_the_cli_prints_them(spec, message):
    with pytest.raises(GlacierfrontError) as info:
        check_scaling(spec)
    assert str(info.value).startswith(message)


def test_an_eight_bit_map_keeps_zero_and_a_stretch_keeps_the_floor():
    assert IntensityMap(None, 0.0, 255.0, "").floor == 0.0
    stretch = IntensityMap("db", 0.0, 1.0, "")  # dB -> amplitude first, then 0..1 -> 0..1
    assert stretch.floor == VALID_FLOOR
    assert stretch.apply(np.array([-400.0, -20.0, 50.0])) == pytest.approx([VALID_FLOOR, 0.1, 1.0])

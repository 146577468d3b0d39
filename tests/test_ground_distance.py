"""Ground metres, not map metres: vector-mode MDE and front lengths against geodesics on WGS84.

The truth here is built with Vincenty's direct and inverse formulae on the WGS84 ellipsoid, written out in
this file and independent of ``glacierfront.geodesy`` (which measures chords in Earth-centred coordinates).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform, transform_geom
from reference import front_lines
from shapely.geometry import LineString, Point, mapping, shape

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate import evaluate_vectors
from glacierfront.io.vector_files import write_lines
from glacierfront.predict.vectorise import length_m

A = 6_378_137.0
F = 1 / 298.257223563
B = A * (1 - F)
GAP_M = 50.0
FRONT_M = 2000.0
STEP_M = 20.0  # vertex spacing of the test lines
SPACING_M = 0.5  # sampling: overestimates a 50 m gap by well under 1e-5 relative
TOLERANCE = 1e-4  # relative; map metres are off by 3.4e-2 (3413, 61 N) down to 8.6e-4 (UTM, 5 N)


def _series(u2: float) -> tuple[float, float]:
    big_a = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)))
    big_b = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)))
    return big_a, big_b


def _delta_sigma(big_b: float, sigma: float, cos_2sm: float) -> float:
    return (
        big_b
        * math.sin(sigma)
        * (
            cos_2sm
            + big_b
            / 4
            * (
                math.cos(sigma) * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * math.sin(sigma) ** 2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )


def vincenty_direct(lat: float, lon: float, azimuth: float, s: float) -> tuple[float, float, float]:
    """Point ``s`` metres from (lat, lon) along the geodesic leaving at ``azimuth`` (degrees from north):
    its latitude, longitude and forward azimuth there, in degrees."""
    alpha1 = math.radians(azimuth)
    u1 = math.atan((1 - F) * math.tan(math.radians(lat)))
    sigma1 = math.atan2(math.tan(u1), math.cos(alpha1))
    sin_alpha = math.cos(u1) * math.sin(alpha1)
    cos2_alpha = 1 - sin_alpha**2
    big_a, big_b = _series(cos2_alpha * (A**2 - B**2) / B**2)
    sigma = s / (B * big_a)
    for _ in range(100):
        cos_2sm = math.cos(2 * sigma1 + sigma)
        new = s / (B * big_a) + _delta_sigma(big_b, sigma, cos_2sm)
        done = abs(new - sigma) < 1e-14
        sigma = new
        if done:
            break
    cos_2sm = math.cos(2 * sigma1 + sigma)
    across = math.sin(u1) * math.sin(sigma) - math.cos(u1) * math.cos(sigma) * math.cos(alpha1)
    lat2 = math.atan2(
        math.sin(u1) * math.cos(sigma) + math.cos(u1) * math.sin(sigma) * math.cos(alpha1),
        (1 - F) * math.hypot(sin_alpha, across),
    )
    lam = math.atan2(
        math.sin(sigma) * math.sin(alpha1),
        math.cos(u1) * math.cos(sigma) - math.sin(u1) * math.sin(sigma) * math.cos(alpha1),
    )
    c = F / 16 * cos2_alpha * (4 + F * (4 - 3 * cos2_alpha))
    big_l = lam - (1 - c) * F * sin_alpha * (
        sigma + c * math.sin(sigma) * (cos_2sm + c * math.cos(sigma) * (-1 + 2 * cos_2sm**2))
    )
    return math.degrees(lat2), lon + math.degrees(big_l), math.degrees(math.atan2(sin_alpha, -across))


def vincenty_inverse(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres between two points (not nearly antipodal) on WGS84."""
    u1 = math.atan((1 - F) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - F) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    for _ in range(200):
        sin_sigma = math.hypot(
            math.cos(u2) * math.sin(lam),
            math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * math.cos(lam),
        )
        if sin_sigma == 0:
            return 0.0
        cos_sigma = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * math.cos(lam)
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = math.cos(u1) * math.cos(u2) * math.sin(lam) / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * math.sin(u1) * math.sin(u2) / cos2_alpha if cos2_alpha else 0.0
        c = F / 16 * cos2_alpha * (4 + F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-14:
            break
    big_a, big_b = _series(cos2_alpha * (A**2 - B**2) / B**2)
    return B * big_a * (sigma - _delta_sigma(big_b, sigma, cos_2sm))


def parallel_fronts(lat: float, lon: float) -> tuple[LineString, LineString]:
    """A reference front: a geodesic heading east from (lat, lon), FRONT_M long, vertices every STEP_M;
    and a prediction: each vertex moved GAP_M across it (to its left), along the geodesic perpendicular.
    Every predicted vertex is then GAP_M from the reference line, and every reference vertex GAP_M from the
    prediction, on the ground. Both in lon/lat."""
    ref, pred = [], []
    for s in np.arange(0.0, FRONT_M + STEP_M / 2, STEP_M):
        lat_s, lon_s, heading = vincenty_direct(lat, lon, 90.0, float(s))
        lat_p, lon_p, _ = vincenty_direct(lat_s, lon_s, heading - 90.0, GAP_M)
        ref.append((lon_s, lat_s))
        pred.append((lon_p, lat_p))
    return LineString(pred), LineString(ref)


def to_crs(geom: LineString, crs: str) -> LineString:
    return geom if crs == "EPSG:4326" else shape(transform_geom("EPSG:4326", crs, mapping(geom)))


def write(path: Path, geoms: list[tuple[LineString, str]], crs: str) -> Path:
    records = [(to_crs(geom, crs), {"scene": scene}) for geom, scene in geoms]
    return write_lines(path, records, crs, {"scene": "str"})


def map_gap_ratio(pred: LineString, ref: LineString, crs: str) -> float:
    """The gap as the map of ``crs`` shows it, over the ground gap: what the old measurement gave."""
    pred_map, ref_map = to_crs(pred, crs), to_crs(ref, crs)
    middle = Point(ref_map.coords[len(ref_map.coords) // 2])
    return pred_map.distance(middle) / GAP_M


def evaluate_json(capsys, pred: Path, ref: Path, *extra: str) -> dict:
    code = main(["evaluate", str(pred), "--ref", str(ref), "--json", "--spacing", str(SPACING_M), *extra])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_the_reference_construction_is_a_true_geodesic_gap():
    pred, ref = parallel_fronts(61.0, -45.0)
    for (lon_p, lat_p), (lon_r, lat_r) in zip(pred.coords, ref.coords):
        assert vincenty_inverse(lat_r, lon_r, lat_p, lon_p) == pytest.approx(GAP_M, rel=1e-9)
    (lon0, lat0), (lon1, lat1) = ref.coords[0], ref.coords[-1]
    assert vincenty_inverse(lat0, lon0, lat1, lon1) == pytest.approx(FRONT_M, rel=1e-9)


@pytest.mark.parametrize(
    ("crs", "lat", "lon", "work_crs"),
    [
        ("EPSG:3413", 61.0, -45.0, "EPSG:3413"),  # map distances 1.034x the ground
        ("EPSG:3031", -65.0, -62.0, "EPSG:3031"),  # 1.019x
        ("EPSG:32633", 5.0, 17.9, "EPSG:32633"),  # UTM near a zone edge: 1.0009x
        ("EPSG:4326", 5.0, 17.9, "EPSG:32633"),  # lon/lat, matched up in the local UTM zone
    ],
)
def test_mde_is_the_geodesic_gap_not_the_map_gap(tmp_path, capsys, crs, lat, lon, work_crs):
    pred, ref = parallel_fronts(lat, lon)
    old_ratio = map_gap_ratio(pred, ref, work_crs)
    assert abs(old_ratio - 1) > 5 * TOLERANCE  # the map really is off here: this case can tell them apart
    result = evaluate_json(
        capsys,
        write(tmp_path / "pred.gpkg", [(pred, "s")], crs),
        write(tmp_path / "ref.gpkg", [(ref, "s")], crs),
    )
    assert result["work_crs"] == [work_crs] and result["units"] == "m"
    assert result["mde"] == pytest.approx(GAP_M, rel=TOLERANCE)
    assert result["median"] == pytest.approx(GAP_M, rel=TOLERANCE)


def test_every_place_is_measured_at_its_own_scale_when_scenes_are_pooled(tmp_path):
    # 61 N (map 1.034x the ground) and 79 N (0.979x) in one pair: no single scale or centre fits both.
    south, north = parallel_fronts(61.0, -45.0), parallel_fronts(79.0, -30.0)
    pred = write(tmp_path / "pred.gpkg", [(south[0], "a"), (north[0], "b")], "EPSG:3413")
    ref = write(tmp_path / "ref.gpkg", [(south[1], "a"), (north[1], "b")], "EPSG:3413")
    result = evaluate_vectors(pred, ref, match="all", spacing_m=SPACING_M)
    assert result["mde"] == pytest.approx(GAP_M, rel=TOLERANCE)
    assert result["hd95"] == pytest.approx(GAP_M, rel=TOLERANCE)


def test_spacing_is_in_ground_metres(tmp_path):
    pred, ref = parallel_fronts(61.0, -45.0)
    result = evaluate_vectors(
        write(tmp_path / "pred.gpkg", [(pred, "s")], "EPSG:3413"),
        write(tmp_path / "ref.gpkg", [(ref, "s")], "EPSG:3413"),
        spacing_m=SPACING_M,
    )
    # Each 2000 m line gives 4001 samples at 0.5 m on the ground; on the map (2068 m) it would be 4137.
    assert abs(result["n_points"] - 2 * (FRONT_M / SPACING_M + 1)) <= 2


def test_a_long_straight_map_segment_is_followed_on_the_ground(tmp_path):
    # One straight Web Mercator segment at 80 N (25 km of map, 4.3 km of ground) bows about 2 m off the
    # chord between its ends on the ground: the same line with a vertex every 10 m must measure ~0 from it.
    import shapely

    (x0,), (y0,) = transform("EPSG:4326", "EPSG:3857", [10.0], [80.0])
    straight = LineString([(x0, y0), (x0 + 25_000.0, y0)])
    schema = {"scene": "str"}
    pred = write_lines(tmp_path / "pred.gpkg", [(straight, {"scene": "s"})], "EPSG:3857", schema)
    dense = shapely.segmentize(straight, 10.0)
    ref = write_lines(tmp_path / "ref.gpkg", [(dense, {"scene": "s"})], "EPSG:3857", schema)
    result = evaluate_vectors(pred, ref, spacing_m=1.0)
    assert result["hd95"] < 0.01


def test_lines_outside_the_crs_domain_give_a_one_line_error(tmp_path, capsys):
    far = LineString([(5e7, 0.0), (5e7 + 100, 0.0)])
    path = write_lines(tmp_path / "far.gpkg", [(far, {"scene": "s"})], "EPSG:32633", {"scene": "str"})
    assert main(["evaluate", str(path), "--ref", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "declared CRS" in err and "Traceback" not in err
    with pytest.raises(GlacierfrontError):
        evaluate_vectors(path, path)


# --- lengths of predicted lines ------------------------------------------------------------------------


def test_length_in_polar_stereographic_is_the_ground_length():
    _, ref = parallel_fronts(61.0, -45.0)
    line = to_crs(ref, "EPSG:3413")
    assert line.length / FRONT_M == pytest.approx(1.034, abs=1e-3)  # what map metres say
    assert length_m(line, geographic=False, crs=CRS.from_epsg(3413)) == pytest.approx(FRONT_M, rel=1e-6)


def test_traced_front_lines_get_ground_lengths_in_the_scene_crs():
    # A 100-pixel straight front of 10 m pixels in EPSG:3413 at about 61 N.
    (x0,), (y0,) = transform("EPSG:4326", "EPSG:3413", [-45.0], [61.0])
    zones = np.full((100, 12), 3)
    zones[:, :5] = 2
    front = np.zeros(zones.shape, bool)
    front[:, 5] = True
    (line,) = front_lines(front, zones, Affine(10, 0, x0, 0, -10, y0), crs=CRS.from_epsg(3413))
    lons, lats = transform("EPSG:3413", "EPSG:4326", *np.asarray(line.geometry.coords).T)
    truth = vincenty_inverse(lats[0], lons[0], lats[-1], lons[-1])
    assert line.geometry.length == pytest.approx(1000.0)  # map metres
    assert truth == pytest.approx(1000.0 / 1.034, rel=1e-3)
    assert line.length_m == pytest.approx(truth, rel=1e-6)


def test_lengths_in_degrees_are_on_the_ellipsoid():
    wgs84 = CRS.from_epsg(4326)
    along_parallel = LineString([(10.0, 60.0), (11.0, 60.0)])
    phi = math.radians(60.0)
    parallel_arc = A / math.sqrt(1 - F * (2 - F) * math.sin(phi) ** 2) * math.cos(phi) * math.radians(1.0)
    assert length_m(along_parallel, geographic=True, crs=wgs84) == pytest.approx(parallel_arc, rel=1e-6)
    along_meridian = LineString([(-50.0, 69.2), (-50.0, 69.45)])
    meridian_arc = vincenty_inverse(69.2, -50.0, 69.45, -50.0)
    assert length_m(along_meridian, geographic=True, crs=wgs84) == pytest.approx(meridian_arc, rel=1e-6)

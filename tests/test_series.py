"""glacierfront series: terminus positions by the box method and centre-lines, on synthetic fronts with
known areas, in mixed CRSs, with dates from fields and file names, and the CLI's outputs and errors."""

from __future__ import annotations

import csv
import io
import json
import math

import fiona
import numpy as np
import pytest
from fiona.crs import CRS
from rasterio.warp import transform
from scipy.integrate import quad
from shapely.geometry import LineString, Polygon, box, mapping

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.series import (
    COLUMNS,
    DUPLICATE_DATE,
    FRAGMENT,
    MISS,
    NARROW_CUT,
    OK,
    PARTIAL,
    box_series,
    centreline_series,
    decimal_year,
    read_boxes,
    read_centrelines,
    read_fronts,
    true_area_m2,
)

# A Lambert azimuthal equal-area frame centred at 70 N 50 W: map metres are ground metres (to 1e-7 here),
# so a box drawn in it has exactly the areas and widths it is drawn with.
LOCAL = "+proj=laea +lat_0=70 +lon_0=-50 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
WGS84_A = 6_378_137.0
WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)

# A 10 km x 2 km box along x (east), and a front across it at x = 1000 with a 600 m triangular tongue
# pointing east: the box's western part up to the front is 6000 x 2000 + 400 x 600 / 2 = 12.12 km^2.
BOX = box(-5000, -1000, 5000, 1000)
FRONT = LineString([(1000, -1500), (1000, -200), (1600, 0), (1000, 200), (1000, 1500)])
WEST_AREA_M2 = 6000 * 2000 + 0.5 * 400 * 600


def shifted(line: LineString, dx: float) -> LineString:
    return LineString([(x + dx, y) for x, y in line.coords])


def write_layer(path, geoms, crs=LOCAL, props=None, kind="LineString"):
    props = props or [{} for _ in geoms]
    fields = {k: "str" for p in props for k in p}
    with fiona.open(
        path, "w", driver={".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}[path.suffix],
        crs=CRS.from_user_input(crs), schema={"geometry": kind, "properties": fields},
    ) as sink:  # fmt: skip
        for geom, p in zip(geoms, props):
            sink.write({"geometry": mapping(geom), "properties": {k: p.get(k) for k in fields}})
    return path


def write_box(path, geoms=(BOX,), crs=LOCAL, props=None):
    return write_layer(path, list(geoms), crs, props or [{"glacier_id": "G1"}], kind="Polygon")


def write_fronts(folder, shifts, line=FRONT, crs=LOCAL):
    """One file per front, dated by its name (front_YYYYMMDD.gpkg), moved east by each shift."""
    folder.mkdir(exist_ok=True)
    for i, dx in enumerate(shifts):
        write_layer(folder / f"front_2020{i + 1:02d}15.gpkg", [shifted(line, dx)], crs)
    return folder


def run_cli(args, capsys):
    code = main(["series", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def cell_area_m2(lon0, lon1, lat0, lat1):
    """Area of a lon/lat cell on the WGS84 ellipsoid by numerical integration of M N cos(lat)."""

    def band(lat_deg):
        phi = math.radians(lat_deg)
        w = 1 - WGS84_E2 * math.sin(phi) ** 2
        meridian = WGS84_A * (1 - WGS84_E2) / w**1.5
        normal = WGS84_A / w**0.5
        return meridian * normal * math.cos(phi) * math.pi / 180

    return quad(band, lat0, lat1, epsabs=0, epsrel=1e-12)[0] * math.radians(lon1 - lon0)


# --- the box method on known areas -------------------------------------------------------------------


def test_known_area_and_a_front_moved_d_metres_moves_the_position_d(tmp_path):
    fronts = read_fronts([write_fronts(tmp_path / "f", [0.0, 150.0, -320.0, 37.5])])
    boxes = read_boxes(write_box(tmp_path / "box.gpkg"))
    series = box_series(fronts, boxes, upstream="W")
    first = series.rows[0]
    assert first.quality == OK and first.coverage == pytest.approx(1.0)
    assert first.area_km2 * 1e6 == pytest.approx(WEST_AREA_M2, rel=1e-7)
    assert first.width_m == pytest.approx(2000.0, rel=1e-7)
    assert first.position_m == pytest.approx(WEST_AREA_M2 / 2000.0, rel=1e-7)
    # Moved east (downstream, away from the glacier) = advance = positive.
    assert [r.change_m for r in series.rows] == pytest.approx([0.0, 150.0, -320.0, 37.5], abs=1e-3)
    assert [r.change_km2 for r in series.rows] == pytest.approx([0.0, 0.3, -0.64, 0.075], abs=1e-8)


def test_upstream_decides_the_end_and_the_sign(tmp_path):
    fronts = read_fronts([write_fronts(tmp_path / "f", [0.0, 150.0])])
    boxes = read_boxes(write_box(tmp_path / "box.gpkg"))
    series = box_series(fronts, boxes, upstream="E")  # the glacier lies east: moving east is retreat
    assert series.rows[0].area_km2 * 1e6 == pytest.approx(20e6 - WEST_AREA_M2, rel=1e-7)
    assert series.rows[1].change_m == pytest.approx(-150.0, abs=1e-3)
    assert series.glaciers[0].upstream_bearing_deg == pytest.approx(90.0, abs=1e-3)


def test_upstream_must_be_given_and_along_the_box(tmp_path):
    fronts = read_fronts([write_fronts(tmp_path / "f", [0.0])])
    boxes = read_boxes(write_box(tmp_path / "box.gpkg"))
    with pytest.raises(GlacierfrontError, match="which end is upstream"):
        box_series(fronts, boxes)
    with pytest.raises(GlacierfrontError, match="runs across the box"):
        box_series(fronts, boxes, upstream="N")
    # The box layer's own field is used without --upstream.
    own = read_boxes(write_box(tmp_path / "own.gpkg", props=[{"glacier_id": "G1", "upstream": "275"}]))
    assert box_series(fronts, own).rows[0].area_km2 * 1e6 == pytest.approx(WEST_AREA_M2, rel=1e-7)


# --- true areas at high latitude and mixed CRSs --------------------------------------------------------


def test_equal_area_of_a_lat_lon_cell_at_76_north():
    cell = box(-50.0, 76.0, -49.0, 77.0)
    exact = cell_area_m2(-50.0, -49.0, 76.0, 77.0)
    assert true_area_m2(cell, "EPSG:4326") == pytest.approx(exact, rel=1e-6)
    # The same cell drawn in polar stereographic north (its edges followed densely): same true area,
    # while the map's own area is off by percents.
    lons = np.concatenate([np.linspace(-50, -49, 400), np.full(400, -49.0), np.linspace(-49, -50, 400),
                           np.full(400, -50.0)])  # fmt: skip
    lats = np.concatenate([np.full(400, 76.0), np.linspace(76, 77, 400), np.full(400, 77.0),
                           np.linspace(77, 76, 400)])  # fmt: skip
    xs, ys = transform("EPSG:4326", "EPSG:3413", lons, lats)
    in_3413 = Polygon(zip(xs, ys))
    assert true_area_m2(in_3413, "EPSG:3413") == pytest.approx(exact, rel=1e-5)
    assert abs(in_3413.area / exact - 1) > 0.03


def parallel_in_3413(lat, lon0=-60.3, lon1=-59.7, n=300):
    xs, ys = transform("EPSG:4326", "EPSG:3413", np.linspace(lon0, lon1, n), np.full(n, lat))
    return LineString(zip(xs, ys))


def test_box_in_lonlat_and_fronts_in_polar_stereographic(tmp_path):
    # A box between two meridians at 76 N, 33 km long; the glacier lies south. Fronts along parallels,
    # drawn in EPSG:3413, dated by a 'date' field: the upstream area is the exact ellipsoidal cell area.
    cell = box(-60.1, 76.0, -59.9, 76.3)
    boxes = read_boxes(write_box(tmp_path / "box.geojson", [cell], "EPSG:4326", [{"name": "Lonlat"}]))
    lats = [76.10, 76.12, 76.05]
    fronts_path = write_layer(
        tmp_path / "fronts.gpkg",
        [parallel_in_3413(lat) for lat in lats],
        "EPSG:3413",
        [{"date": d} for d in ("2019-04-01", "2019-08-01", "2019-12-01")],
    )
    series = box_series(read_fronts([fronts_path]), boxes, upstream="S")
    assert [r.quality for r in series.rows] == [OK] * 3
    for row, lat in zip(series.rows, lats):
        assert row.area_km2 * 1e6 == pytest.approx(cell_area_m2(-60.1, -59.9, 76.0, lat), rel=1e-5)
        assert row.change_m * row.width_m == pytest.approx(row.change_km2 * 1e6, rel=1e-9)
    glacier = series.glaciers[0]
    assert glacier.glacier_id == "Lonlat"
    assert glacier.area_km2 * 1e6 == pytest.approx(cell_area_m2(-60.1, -59.9, 76.0, 76.3), rel=1e-5)
    # The mean width: the cell's area over its length (about 33.5 km of meridian), 5.3 km at 76.15 N.
    assert glacier.width_m == pytest.approx(glacier.area_km2 * 1e6 / glacier.length_m)
    assert 5200 < glacier.width_m < 5450 and 33000 < glacier.length_m < 34000
    # Advance between 76.10 and 76.12 N: 0.02 degree of latitude, about 2.23 km northward.
    assert series.rows[1].change_m == pytest.approx(2233, rel=0.01)


# --- joining, gaps and misses --------------------------------------------------------------------------


def test_pieces_of_one_front_are_joined(tmp_path):
    a = LineString(list(FRONT.coords)[:3])
    b = LineString(list(FRONT.coords)[2:])
    path = write_layer(tmp_path / "pieces_20200115.gpkg", [b, a])
    boxes = read_boxes(write_box(tmp_path / "box.gpkg"))
    fronts = read_fronts([path])
    assert len(fronts) == 1 and len(fronts[0].pieces) == 2
    (row,) = box_series(fronts, boxes, upstream="W").rows
    assert row.quality == OK
    assert row.area_km2 * 1e6 == pytest.approx(WEST_AREA_M2, rel=1e-7)


def test_a_front_crossing_the_box_several_times_counts_glacier_by_parity(tmp_path):
    # Across each stretch of front, glacier and sea alternate. "island": glacier to x = 1000, sea to 1500,
    # glacier again to 2000. "bay": the front leaves through the box's north side and comes back in,
    # cutting a 2000 x 500 m bay of sea out of the glacier part.
    island = LineString(
        [(1000, -1500), (1000, 1500), (1500, 1500), (1500, -1500), (2000, -1500), (2000, 1500)]
    )
    bay = LineString([(2000, -1500), (2000, 1500), (0, 1500), (0, 500), (-2000, 500), (-2000, 1500)])
    write_layer(tmp_path / "island_20200101.gpkg", [island])
    write_layer(tmp_path / "bay_20200201.gpkg", [bay])
    fronts = read_fronts([tmp_path / "island_20200101.gpkg", tmp_path / "bay_20200201.gpkg"])
    rows = box_series(fronts, read_boxes(write_box(tmp_path / "box.gpkg")), upstream="W").rows
    assert [r.quality for r in rows] == [OK, OK]
    assert [r.area_km2 for r in rows] == pytest.approx([6.0 * 2 + 0.5 * 2, 7.0 * 2 - 2.0 * 0.5], rel=1e-7)


def test_a_front_with_gaps_is_an_estimate_flagged_partial(tmp_path):
    straight = LineString([(2000, -1500), (2000, 1500)])
    pieces = [LineString([(2000, -1500), (2000, -300)]), LineString([(2000, 100), (2000, 700)])]
    (tmp_path / "f").mkdir()
    write_layer(tmp_path / "f" / "whole_20200115.gpkg", [straight])
    write_layer(tmp_path / "f" / "gappy_20200215.gpkg", pieces)
    write_layer(tmp_path / "f" / "stub_20200315.gpkg", [LineString([(2000, -1500), (2000, -700)])])
    series = box_series(read_fronts([tmp_path / "f"]), read_boxes(write_box(tmp_path / "b.gpkg")), "W")
    whole, gappy, stub = series.rows
    assert (whole.quality, gappy.quality, stub.quality) == (OK, PARTIAL, FRAGMENT)
    # Lines span 700 + 600 of the 2000 m: the gaps are bridged straight, so the estimate is exact here.
    assert gappy.coverage == pytest.approx(0.65)
    assert gappy.change_m == pytest.approx(0.0, abs=1e-6)
    # 300 m of 2000 is too little to say where the front is.
    assert stub.coverage == pytest.approx(0.15) and stub.position_m is None


def test_a_front_that_misses_is_flagged_and_a_box_many_miss_is_an_error(tmp_path):
    boxes = read_boxes(write_box(tmp_path / "box.gpkg"))
    folder = write_fronts(tmp_path / "f", [0.0, 100.0, 8000.0])  # the third lies past the box's end
    series = box_series(read_fronts([folder]), boxes, upstream="W")
    assert [r.quality for r in series.rows] == [OK, OK, MISS]
    assert series.rows[2].change_m is None and series.rows[2].area_km2 is None
    write_layer(folder / "front_20201215.gpkg", [shifted(FRONT, -9000.0)])
    with pytest.raises(GlacierfrontError, match="2 of 4 fronts miss it"):
        box_series(read_fronts([folder]), boxes, upstream="W")


def test_fronts_go_to_the_box_of_their_glacier(tmp_path):
    # Two boxes, glacier A's to the north and B's to the south, each with its own upstream field.
    north, south = box(-5000, 3000, 5000, 5000), box(-5000, -5000, 5000, -3000)
    boxes = read_boxes(
        write_box(
            tmp_path / "boxes.gpkg",
            [north, south],
            props=[{"glacier_id": "A", "upstream": "W"}, {"glacier_id": "B", "upstream": "E"}],
        )
    )
    long_front = LineString([(0, -6000), (0, 6000)])  # no glacier id: measured in both boxes it meets
    only_b = LineString([(1000, -6000), (1000, 6000)])  # meets both, but its glacier_id says B
    path = write_layer(
        tmp_path / "fronts.gpkg",
        [long_front, only_b],
        props=[{"date": "2021-01-01"}, {"date": "2021-02-01", "glacier_id": "b"}],
    )
    series = box_series(read_fronts([path]), boxes)
    got = [(r.glacier_id, r.date.isoformat(), round(r.position_m)) for r in series.rows]
    assert got == [("A", "2021-01-01", 5000), ("B", "2021-01-01", 5000), ("B", "2021-02-01", 4000)]
    assert series.rows[2].change_m == pytest.approx(-1000.0, abs=1e-3)  # glacier B lies east: retreat
    assert all(r.note is None for r in series.rows)  # one date on two glaciers is no duplicate


# --- dates ------------------------------------------------------------------------------------------------


def test_dates_from_fields_and_from_file_names(tmp_path):
    folder = tmp_path / "db"
    (folder / "sub").mkdir(parents=True)
    write_layer(folder / "calfin.gpkg", [FRONT], props=[{"Date": "2015/07/04", "Satellite": "Landsat-8"}])
    write_layer(folder / "sub" / "S1A_IW_GRDH_1SDH_20160102T101010.gpkg", [FRONT])  # GeoJSON would be degrees
    write_layer(folder / "sub" / "JAC_2017-03-05_TSX_6_1_005.gpkg", [FRONT], props=[{"date": ""}])
    write_layer(folder / "timed.gpkg", [FRONT], props=[{"DATE": "2018-11-30T10:22:00", "image_id": "L8"}])
    fronts = read_fronts([folder])
    assert [f.date.isoformat() for f in fronts] == ["2015-07-04", "2016-01-02", "2017-03-05", "2018-11-30"]
    assert [f.sensor for f in fronts] == ["Landsat-8", "S1A", "TSX", None]
    assert fronts[2].glacier_id == "JAC" and fronts[3].image_id == "L8"
    assert decimal_year(fronts[0].date) == pytest.approx(2015 + (184 + 0.5) / 365)


def test_a_line_without_a_date_is_an_error_naming_its_file(tmp_path, capsys):
    write_fronts(tmp_path / "f", [0.0])
    write_layer(tmp_path / "f" / "nodate.gpkg", [FRONT])
    write_box(tmp_path / "box.gpkg")
    out = tmp_path / "s.csv"
    code, _, err = run_cli(
        [tmp_path / "f", "--box", tmp_path / "box.gpkg", "--upstream", "W", "-o", out], capsys
    )
    assert code == 1 and "nodate.gpkg: line 0 has no date" in err and len(err.splitlines()) == 1
    assert not out.exists()
    write_layer(tmp_path / "f" / "nodate.gpkg", [FRONT], props=[{"date": "last summer"}])
    code, _, err = run_cli([tmp_path / "f", "--box", tmp_path / "box.gpkg", "--upstream", "W"], capsys)
    assert code == 1 and "'last summer', which is not a date" in err


# --- centre-lines -----------------------------------------------------------------------------------------


def test_centreline_distance_along_the_line(tmp_path):
    # The line is drawn from the glacier (x = -5000) towards the sea; the front's tongue tip lies on it.
    line = write_layer(tmp_path / "line.gpkg", [LineString([(-5000, 0), (5000, 0)])], props=[{"name": "C"}])
    fronts = read_fronts([write_fronts(tmp_path / "f", [0.0, 250.0, -100.0])])
    series = centreline_series(fronts, read_centrelines(line))
    assert [r.position_m for r in series.rows] == pytest.approx([6600.0, 6850.0, 6500.0], abs=1e-3)
    assert [r.change_m for r in series.rows] == pytest.approx([0.0, 250.0, -100.0], abs=1e-3)
    # An upstream direction turns the line round: its east end becomes the start.
    turned = centreline_series(fronts, read_centrelines(line), upstream="E")
    assert turned.rows[1].change_m == pytest.approx(-250.0, abs=1e-3)


def test_centreline_counts_glacier_between_several_crossings(tmp_path):
    line = write_layer(tmp_path / "line.gpkg", [LineString([(-5000, 0), (5000, 0)])])
    zigzag = LineString([(1000, -500), (1000, 500), (2000, 500), (2000, -500), (3000, -500), (3000, 500)])
    fronts = read_fronts([write_layer(tmp_path / "z_20200101.gpkg", [zigzag])])
    (row,) = centreline_series(fronts, read_centrelines(line)).rows
    assert row.quality == OK
    assert row.position_m == pytest.approx(6000.0 + 1000.0, abs=1e-6)  # to 1000, then 2000..3000


# --- the command line -------------------------------------------------------------------------------------


def test_cli_csv_json_and_plot(tmp_path, capsys):
    folder = write_fronts(tmp_path / "f", [0.0, 120.0, -80.0])
    write_box(tmp_path / "box.gpkg", props=[{"glacier_id": "G1", "upstream": "W"}])
    out, png = tmp_path / "s.csv", tmp_path / "s.png"
    code, stdout, err = run_cli([folder, "--box", tmp_path / "box.gpkg", "-o", out, "--plot", png], capsys)
    assert code == 0, err
    assert stdout == "" and "G1: 3 fronts (3 ok)" in err and "wrote" in err
    rows = rows_of(out.read_text())
    assert list(rows[0]) == list(COLUMNS)
    assert [float(r["change_m"]) for r in rows] == pytest.approx([0.0, 120.0, -80.0], abs=0.01)
    assert (
        rows[0]["source"].endswith("front_20200115.gpkg") and rows[0]["decimal_year"] == "2020.03962"
    )  # leap year
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-12:]
    from PIL import Image

    with Image.open(png) as image:
        assert image.width > 400 and image.height > 200
    # --json prints JSON on stdout (and with no -o, nothing is written).
    code, stdout, _ = run_cli([folder, "--box", tmp_path / "box.gpkg", "--json", "-q"], capsys)
    doc = json.loads(stdout)
    assert code == 0 and doc["method"] == "box" and doc["glaciers"][0]["width_m"] == pytest.approx(2000.0)
    assert [r["change_m"] for r in doc["rows"]] == pytest.approx([0.0, 120.0, -80.0], abs=0.01)


def test_cli_refuses_to_replace_or_destroy_and_reports_bad_input(tmp_path, capsys):
    folder = write_fronts(tmp_path / "f", [0.0, 50.0])
    box_path = write_box(tmp_path / "box.gpkg")
    out = tmp_path / "s.csv"
    out.write_text("keep")
    common = [folder, "--box", box_path, "--upstream", "W"]
    code, _, err = run_cli([*common, "-o", out], capsys)
    assert code == 1 and "exists; pass --overwrite" in err and out.read_text() == "keep"
    assert run_cli([*common, "-o", out, "--overwrite"], capsys)[0] == 0 and out.read_text() != "keep"
    code, _, err = run_cli([*common, "-o", tmp_path / "s.gpkg"], capsys)
    assert code == 1 and "write a .csv or .json file" in err
    victim = write_layer(tmp_path / "victim.json", [FRONT], props=[{"date": "2020-01-01"}])
    before = victim.read_bytes()
    code, _, err = run_cli([folder, victim, "--box", box_path, "--upstream", "W", "-o", victim], capsys)
    assert code == 1 and "is one of this command's inputs" in err and victim.read_bytes() == before
    lines = write_layer(tmp_path / "lines.gpkg", [FRONT])
    for args, message in [
        ([folder, "--box", lines, "--upstream", "W"], "holds a LineString; a box is one polygon"),
        ([folder, "--box", tmp_path / "nope.gpkg", "--upstream", "W"], "nope.gpkg: no such file"),
        ([tmp_path / "missing", "--box", box_path, "--upstream", "W"], "missing: no such file or folder"),
        ([folder, "--box", box_path, "--upstream", "up"], "give a compass direction"),
        ([folder, "--box", box_path, "--centreline", lines], "give either --box"),
        (
            [box_path, "--box", box_path, "--upstream", "W", "-o", tmp_path / "x.csv"],
            "holds polygons, not front lines; give line layers",
        ),
    ]:
        code, _, err = run_cli(args, capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "x.csv").exists()


# --- boxes with holes or narrow parts, files never joined, duplicate dates --------------------------------


def test_a_box_with_a_hole_is_refused_before_any_front_is_read(tmp_path, capsys):
    # A hole where the front crosses: the upstream area moves by the shift times the width less the hole, so
    # today's area / width would report a quarter of each change, flagged ok. Refused, with what to do.
    holed = Polygon(BOX.exterior.coords, [box(500, -750, 2000, 750).exterior.coords])
    boxes = read_boxes(write_box(tmp_path / "holed.gpkg", [holed]))
    fronts = read_fronts([write_fronts(tmp_path / "f", [0.0, 100.0])])
    with pytest.raises(GlacierfrontError, match=r"has 1 hole\(s\).*fill them"):
        box_series(fronts, boxes, upstream="W")
    write_layer(tmp_path / "f" / "nodate.gpkg", [FRONT])  # would fail when read: the box is checked first
    out = tmp_path / "s.csv"
    code, _, err = run_cli(
        [tmp_path / "f", "--box", tmp_path / "holed.gpkg", "--upstream", "W", "-o", out], capsys
    )
    assert code == 1 and "holed.gpkg): has 1 hole(s)" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_front_that_cuts_only_a_narrow_part_of_the_box_is_not_ok(tmp_path, capsys):
    # A 2000 m wide box with a neck 800 m wide (x = 500..1500) and one 300 m wide (x = 2500..3500). A front
    # across the neck cuts the box, but its area moves by shift x 800, not x the mean width: never ok.
    necked = Polygon(
        [(-5000, -1000), (500, -1000), (500, -400), (1500, -400), (1500, -1000), (2500, -1000), (2500, -150),
         (3500, -150), (3500, -1000), (5000, -1000), (5000, 1000), (3500, 1000), (3500, 150), (2500, 150),
         (2500, 1000), (1500, 1000), (1500, 400), (500, 400), (500, 1000), (-5000, 1000)]
    )  # fmt: skip
    box_path = write_box(tmp_path / "necked.gpkg", [necked], props=[{"glacier_id": "N", "upstream": "W"}])
    straight = LineString([(0, -1500), (0, 1500)])
    folder = tmp_path / "f"
    folder.mkdir()
    for date, x in (("20200115", -2000.0), ("20200215", 1000.0), ("20200315", 3000.0)):
        write_layer(folder / f"front_{date}.gpkg", [shifted(straight, x)])
    wide, neck, needle = box_series(read_fronts([folder]), read_boxes(box_path)).rows
    assert (wide.quality, wide.note, wide.coverage) == (OK, None, pytest.approx(1.0))
    assert (neck.quality, neck.note, neck.coverage) == (PARTIAL, NARROW_CUT, pytest.approx(0.4))
    assert neck.change_m is not None  # an estimate, kept
    assert (needle.quality, needle.position_m, needle.coverage) == (FRAGMENT, None, pytest.approx(0.15))
    code, stdout, err = run_cli([folder, "--box", box_path], capsys)
    assert code == 0 and [(r["quality"], r["note"]) for r in rows_of(stdout)] == [
        (OK, ""), (PARTIAL, NARROW_CUT), (FRAGMENT, "")
    ]  # fmt: skip
    assert "note: box N: 1 front(s) cut it where their lines span under 90% of its width" in err


def test_the_same_scene_in_two_folders_is_two_rows_never_one_front(tmp_path):
    # Two files with the same name and scene field, +100 m and +500 m: joined, they made one front of
    # neither position (+366 m, partial). Fronts of different files are never merged.
    root = tmp_path / "db"
    name = "JAC_2020-02-15_TSX_6_1_005"
    write_layer(tmp_path / "ref_2020-01-15.gpkg", [FRONT], props=[{"scene": "ref"}])
    for sub, dx in (("a", 100.0), ("b", 500.0)):
        (root / sub).mkdir(parents=True)
        write_layer(root / sub / f"{name}.gpkg", [shifted(FRONT, dx)], props=[{"scene": name}])
    fronts = read_fronts([tmp_path / "ref_2020-01-15.gpkg", root])
    assert len(fronts) == 3 and all(len(f.sources) == 1 for f in fronts)
    series = box_series(fronts, read_boxes(write_box(tmp_path / "box.gpkg")), upstream="W")
    first, a, b = series.rows
    assert [r.quality for r in series.rows] == [OK, OK, OK]
    assert [r.change_m for r in (a, b)] == pytest.approx([100.0, 500.0], abs=1e-3)
    assert (first.note, a.note, b.note) == (None, DUPLICATE_DATE, DUPLICATE_DATE)
    assert a.source.endswith("a/" + name + ".gpkg") and b.source.endswith("b/" + name + ".gpkg")
    assert any("1 date(s) with several fronts (e.g. 2020-02-15:" in n for n in series.notes)


def test_rows_of_one_glacier_on_the_same_date_are_flagged_in_the_output(tmp_path, capsys):
    folder = write_fronts(tmp_path / "f", [0.0, 50.0])
    write_layer(folder / "other_2020-02-15.gpkg", [shifted(FRONT, 80.0)])  # a second front of 2020-02-15
    box_path = write_box(tmp_path / "box.gpkg", props=[{"glacier_id": "G1", "upstream": "W"}])
    out = tmp_path / "s.csv"
    code, _, err = run_cli([folder, "--box", box_path, "-o", out], capsys)
    assert code == 0, err
    rows = rows_of(out.read_text())
    assert list(rows[0]) == list(COLUMNS) and "note" in COLUMNS
    assert [(r["date"], r["note"]) for r in rows] == [
        ("2020-01-15", ""), ("2020-02-15", DUPLICATE_DATE), ("2020-02-15", DUPLICATE_DATE)
    ]  # fmt: skip
    assert "note: box G1: 1 date(s) with several fronts (e.g. 2020-02-15:" in err
    code, stdout, _ = run_cli([folder, "--box", box_path, "--json", "-q"], capsys)
    doc = json.loads(stdout)
    assert [r["note"] for r in doc["rows"]] == [None, DUPLICATE_DATE, DUPLICATE_DATE]
    assert any(DUPLICATE_DATE in n for n in doc["notes"])
    # Centre-line rows are flagged alike.
    line = write_layer(tmp_path / "line.gpkg", [LineString([(-5000, 0), (5000, 0)])])
    notes = [r.note for r in centreline_series(read_fronts([folder]), read_centrelines(line)).rows]
    assert notes == [None, DUPLICATE_DATE, DUPLICATE_DATE]

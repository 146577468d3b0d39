"""One home per rule: the commands that read the same thing read it the same way.

Series, finetune, predict (``acquisition``) and evaluate each read dates, field aliases and directions; these
tests run each command's own reading path on the same input and ask for the same answer, so a second copy
of a rule that drifts from the first fails here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fiona
import pytest
from fiona.crs import CRS
from shapely.geometry import LineString, box, mapping

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.vector import Layer, match_pairs
from glacierfront.geo.frame import _compass_name, parse_upstream
from glacierfront.geo.reference import read_boxes
from glacierfront.io.acquisition import acquisition
from glacierfront.io.aoi import read_aoi_polygons
from glacierfront.series.read import read_front_lines
from glacierfront.train import finetune_data as fd

CRS_3413 = "EPSG:3413"
LINE = LineString([(-195_000, -2_004_000), (-195_000, -2_003_000)])
BOX = box(-196_000, -2_005_000, -194_000, -2_002_000)


def write_layer(path: Path, props: dict, geom=LINE, kind: str = "LineString") -> Path:
    fields = {k: "str" for k in props}
    schema = {"geometry": kind, "properties": fields}
    with fiona.open(path, "w", driver="GPKG", crs=CRS.from_user_input(CRS_3413), schema=schema) as sink:
        sink.write({"geometry": mapping(geom), "properties": props})
    return path


def series_and_finetune_dates(path: Path, refused: str) -> tuple[dt.date | None, dt.date | None]:
    """The date series and finetune read for the one line of ``path``; series refuses a line without one
    with ``refused`` (finetune leaves it undated)."""
    try:
        series = read_front_lines(path)[0][0]["date"]
    except GlacierfrontError as err:
        assert refused in str(err)
        series = None
    return series, fd.read_fronts(path)[0][0].date


# -- dates in file names ------------------------------------------------------------------------------------
NAME_DATES = [
    ("S1A_IW_GRDH_1SDH_20160102T101010", "2016-01-02"),
    ("S1A_IW_GRDH_1SDH_20230105T101010_20230105T101035_046", "2023-01-05"),
    ("LC08_L1TP_009011_20150704_20170226_01_T1", "2015-07-04"),
    ("S2A_MSIL1C_20170105T013442_N0204_R031_T53NMJ_20170105T013443", "2017-01-05"),
    ("JAC_2017-03-05_TSX_6_1_005", "2017-03-05"),
    ("front_2019-07-01", "2019-07-01"),
    ("front_20190701", "2019-07-01"),
    ("S1A_20200104T101500", "2020-01-04"),
    # The first real date in the name, whichever way it is written (old finetune took a dashed one first).
    ("a_20150704_2016-01-02", "2015-07-04"),
    ("x_2016-0102", "2016-01-02"),
    ("run_20231399_2019-07-01", "2019-07-01"),
    # Only years 19xx and 20xx in a name: other digit runs are ids (old finetune took any year).
    ("map_18500101", None),
    ("tile_12340506", None),
    ("run_20231399", None),  # not a real date
    ("scene", None),
    ("front_2019-07-011", None),  # part of a longer number
]


@pytest.mark.parametrize(("name", "expected"), NAME_DATES)
def test_series_finetune_and_predict_take_the_same_date_from_a_file_name(tmp_path, name, expected):
    date = None if expected is None else dt.date.fromisoformat(expected)
    # predict (and the series' sensor) read names through acquisition.
    assert acquisition(name)["date"] == expected
    # series and finetune (--fronts): a line without a date field takes its file's date.
    path = write_layer(tmp_path / f"{name}.gpkg", {"note": "x"})
    assert series_and_finetune_dates(path, "has no date") == (date, date)
    # finetune: a scene of that name is matched to the lines of its date.
    dated = [fd.FrontLine(LINE, "line", None, dt.date(2019, 7, 1)), fd.FrontLine(LINE, "line", None, date)]
    matched = fd.match_lines(Path(f"{name}.tif"), dated)
    assert [m.date for m in matched] == ([] if date is None else [d.date for d in dated if d.date == date])


# -- dates in a date field ----------------------------------------------------------------------------------
FIELD_DATES = [
    ("2016-01-02", "2016-01-02"),
    ("20160102", "2016-01-02"),
    ("2016/01/02", "2016-01-02"),
    ("2016-01-02T10:10:10", "2016-01-02"),
    ("2016-01-02 10:10:10", "2016-01-02"),
    (" 2016-01-02 ", "2016-01-02"),
    ("1850-01-01", "1850-01-01"),  # maps of the Little Ice Age are fronts too: any four-digit year
    ("2021-13-01", None),
    ("202107041", None),
    ("last summer", None),
    ("acquired 2016-01-02", None),  # a date field holds a date, not a sentence or a scene name
    ("S1A_20160102T101010", None),
]


@pytest.mark.parametrize(("value", "expected"), FIELD_DATES)
def test_series_finetune_and_evaluate_read_the_same_date_from_a_date_field(tmp_path, value, expected):
    date = None if expected is None else dt.date.fromisoformat(expected)
    path = write_layer(tmp_path / "undated.gpkg", {"date": value})
    assert series_and_finetune_dates(path, "which is not a date") == (date, date)
    # evaluate --match date: the value names the day it is a date of, else it stands as written.
    pred = Layer(Path("pred.gpkg"), [(LINE, {"date": value})], None)
    ref = Layer(Path("ref.gpkg"), [(LINE, {"date": expected or value.strip()})], None)
    pairs, unmatched = match_pairs(pred, ref, match="date")
    assert [p.key for p in pairs] == [expected or value.strip()] and unmatched == []


def test_the_date_field_goes_by_the_same_names_in_series_and_finetune(tmp_path):
    path = write_layer(tmp_path / "undated.gpkg", {"ACQ_DATE": "2020-01-04"})
    assert read_front_lines(path)[0][0]["date"] == dt.date(2020, 1, 4)
    assert fd.read_fronts(path)[0][0].date == dt.date(2020, 1, 4)


# -- field aliases -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"glacier_id": "JAC"}, "JAC"),
        ({"GLACIER": "Helheim"}, "Helheim"),
        ({"Glac_ID": "KNS"}, "KNS"),
        ({"glacier_id": " ", "glacier": "Kanger"}, "Kanger"),
        ({"glacierid": "G7", "glacier": "other"}, "G7"),
        ({"note": "box"}, None),
    ],
)
def test_predict_aoi_and_series_box_take_the_same_glacier_id(tmp_path, props, expected):
    path = write_layer(tmp_path / "box.gpkg", props, BOX, "Polygon")
    assert read_aoi_polygons(path)[1][0][1] == expected
    box_ = read_boxes(path)[0]
    assert (box_.glacier_id if box_.named else None) == expected
    line = write_layer(tmp_path / "line.gpkg", {**props, "date": "2020-01-04"})
    assert read_front_lines(line)[0][0]["glacier_id"] == expected


# -- directions ---------------------------------------------------------------------------------------------
BEARINGS = [
    ("N", 0.0),
    ("E", 90.0),
    ("ene", 67.5),
    (" NNW ", 337.5),
    ("SSW", 202.5),
    ("95", 95.0),
    ("-90", 270.0),
    ("450", 90.0),
    ("95 deg", 95.0),
    ("95°", 95.0),
    ("12.5", 12.5),
]


@pytest.mark.parametrize(("text", "expected"), BEARINGS)
def test_series_and_finetune_read_the_same_bearing(text, expected):
    assert parse_upstream(text) == pytest.approx(expected)  # --upstream and a box's 'upstream' field
    assert fd.parse_bearing(text) == pytest.approx(expected)  # an --aoi polygon's 'upstream' field
    assert fd.parse_glacier_side(text).bearing_deg == pytest.approx(expected)  # --glacier-side


def test_series_and_finetune_read_the_same_upstream_field(tmp_path):
    path = write_layer(tmp_path / "aoi.gpkg", {"glacier_id": "G1", "Upstream": "wsw"}, BOX, "Polygon")
    assert parse_upstream(read_boxes(path)[0].upstream) == fd._read_aoi(path).upstream == 247.5


@pytest.mark.parametrize("text", ["up", "NNNE", "", "inf", "nan", "9O"])
def test_neither_command_takes_what_is_not_a_bearing(text):
    with pytest.raises(GlacierfrontError, match=r"^upstream "):
        parse_upstream(text)
    with pytest.raises(GlacierfrontError, match="not a direction"):
        fd.parse_bearing(text)
    with pytest.raises(GlacierfrontError, match="^--glacier-side "):
        fd.parse_glacier_side(text)


def test_each_command_keeps_its_own_words_for_a_wrong_direction():
    with pytest.raises(GlacierfrontError, match="give a compass direction into the glacier"):
        parse_upstream("up")
    with pytest.raises(GlacierfrontError, match=r"not a bearing; e\.g\. --upstream 95"):
        parse_upstream("inf")
    with pytest.raises(GlacierfrontError, match=r"'up': not a direction; give a compass point"):
        fd.parse_bearing("up")
    with pytest.raises(GlacierfrontError, match=r"'inf': not a direction; give a bearing in degrees"):
        fd.parse_bearing("inf")


POINTS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")


def test_the_sixteen_compass_points_name_themselves():
    for i, point in enumerate(POINTS):
        assert parse_upstream(point) == fd.parse_bearing(point) == i * 22.5
        assert _compass_name(parse_upstream(point)) == f"{i * 22.5:.0f} deg ({point})"


# -- the shared lookups themselves ---------------------------------------------------------------------------
def test_a_field_is_found_by_any_of_its_names_in_any_case_and_empty_values_are_passed_over():
    from glacierfront.io.fields import DATE_FIELDS, field_key, field_value

    props = {"DATE": " ", "Acq_Date": float("nan"), "ACQUISITION_DATE": None, "image_date": "2020-01-04"}
    assert field_value(props, DATE_FIELDS) == "2020-01-04"
    # The key is found whatever its value (evaluate tells a missing field from an empty one).
    assert field_key(props, DATE_FIELDS) == "DATE"
    assert field_key({"Pixel_M": None, "resolution_m": 10.0}, ("resolution_m", "pixel_m")) == "resolution_m"
    assert field_key({}, DATE_FIELDS) is None and field_value({}, DATE_FIELDS) is None


def test_a_name_date_and_a_field_date_are_two_rules():
    from glacierfront.io.acquisition import date_from_field, date_from_name

    # A field holds just a date, of any year; a name holds one anywhere, of the 1900s or 2000s.
    assert date_from_field("1850-01-01") == dt.date(1850, 1, 1) and date_from_name("map_18500101") is None
    assert date_from_name("S1A_20160102T101010") == dt.date(2016, 1, 2)
    assert date_from_field("S1A_20160102T101010") is None
    assert date_from_field(dt.datetime(2016, 1, 2, 10, 10)) == dt.date(2016, 1, 2)

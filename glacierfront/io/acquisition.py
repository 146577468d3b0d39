"""Acquisition date and sensor of a scene, from a CaFFe-style file name, other common names, or TIFF tags;
and the two date rules every command reads dates by: ``date_from_name`` (a file name) and
``date_from_field`` (a date field's value); ``decimal_year``, the date as predict and series write it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import CaffeName, parse_caffe_name

# Sentinel-1 product names (S1A_IW_GRDH_1SDH_20230105T...), Landsat (LC08_L1TP_..._20230105_...).
_SENTINEL1 = re.compile(r"^(S1[ABCD])_")
_LANDSAT = re.compile(r"^(L[COTEM]0\d)_")
# A date in a file name (or a TIFF tag): 8 digits or dashed, anywhere, not part of a longer number, with a
# year 19xx or 20xx (other digit runs in names are ids, orbits, tiles).
_NAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)-?([01]\d)-?([0-3]\d)(?!\d)")
# A date field's text: the value starts with the date, any four-digit year (maps of the 1850s are fronts
# too), 8 digits or separated by - or /, then nothing, a time (T or a space) or _.
_FIELD_DATE = re.compile(r"^\s*(\d{4})[-/]?([01]\d)[-/]?([0-3]\d)(?:$|[T\s_])")
_DATE_TAGS = ("ACQUISITION_DATE", "ACQUISITION_START_TIME", "DATE_ACQUIRED", "TIFFTAG_DATETIME", "DATETIME")
_SENSOR_TAGS = ("SENSOR", "SATELLITE", "MISSION", "PLATFORM", "SPACECRAFT_ID")


# Which kind of image a sensor name stands for (case-insensitive prefixes): predict warns when a scene's
# sensor and the model's training data differ in kind.
OPTICAL_SENSORS = (
    "LC0",
    "LO0",
    "LT0",
    "LE0",
    "LM0",
    "S2A",
    "S2B",
    "S2C",
    "LANDSAT",
    "SENTINEL-2",
    "SENTINEL2",
)
SAR_SENSORS = ("S1A", "S1B", "S1C", "S1D", "TSX", "TDX", "ERS", "ENVISAT", "ENV", "PALSAR", "ALOS", "RSAT",
               "RADARSAT", "SENTINEL-1", "SENTINEL1", "CSK", "ICEYE")  # fmt: skip


def sensor_kind(sensor: str | None) -> str | None:
    """ "optical", "sar" or None (unknown) for a sensor name as ``acquisition`` reports it."""
    name = (sensor or "").strip().upper()
    if not name:
        return None
    if name.startswith(OPTICAL_SENSORS):
        return "optical"
    if name.startswith(SAR_SENSORS):
        return "sar"
    return None


def _caffe(stem: str) -> CaffeName | None:
    try:
        return parse_caffe_name(stem)
    except GlacierfrontError:
        return None


def _first_date(text: str) -> dt.date | None:
    for match in _NAME_DATE.finditer(text.replace(":", "-")):
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
    return None


def date_from_name(stem: str) -> dt.date | None:
    """The acquisition date a file name (without its suffix) gives: a CaFFe name's date, else the first real
    date written YYYYMMDD or YYYY-MM-DD (also YYYYMMDDThhmmss) with a year 19xx or 20xx; None without one."""
    caffe = _caffe(stem)
    return caffe.date if caffe is not None else _first_date(stem)


def date_from_field(value: Any) -> dt.date | None:
    """A date from a field value: a date or datetime, or text such as 2013-09-08, 20130908,
    2013/09/08 or 2013-09-08T10:22:00 (any four-digit year); None when it is none of these."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _FIELD_DATE.match(str(value))
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def acquisition(stem: str, tags: dict[str, Any] | None = None) -> dict[str, str | None]:
    """{"date": ISO date or None, "sensor": name or None}; the file name wins over tags."""
    caffe = _caffe(stem)
    if caffe is not None:
        return {"date": caffe.date.isoformat(), "sensor": caffe.satellite}
    tags = {str(k).upper(): str(v) for k, v in (tags or {}).items()}
    sensor = None
    for pattern in (_SENTINEL1, _LANDSAT):
        if match := pattern.match(stem):
            sensor = match[1]
    if sensor is None:
        sensor = next((tags[k] for k in _SENSOR_TAGS if tags.get(k)), None)
    date = _first_date(stem)
    if date is None:
        date = next((d for k in _DATE_TAGS if k in tags and (d := _first_date(tags[k]))), None)
    return {"date": None if date is None else date.isoformat(), "sensor": sensor}


def decimal_year(date: str | dt.date | None) -> float | None:
    """'2013-09-08' (or a date) -> 2013.686: the year plus the fraction of it elapsed at noon of that day."""
    if not date:
        return None
    day = date if isinstance(date, dt.date) else dt.date.fromisoformat(date[:10])
    start = dt.date(day.year, 1, 1)
    days = (dt.date(day.year + 1, 1, 1) - start).days
    return round(day.year + ((day - start).days + 0.5) / days, 5)

"""Acquisition date and sensor of a scene, from a CaFFe-style file name, other common names, or TIFF tags."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import parse_caffe_name

# Sentinel-1 product names (S1A_IW_GRDH_1SDH_20230105T...), Landsat (LC08_L1TP_..._20230105_...), or any
# 8-digit or dashed date in a file name.
_SENTINEL1 = re.compile(r"^(S1[ABCD])_")
_LANDSAT = re.compile(r"^(L[COTEM]0\d)_")
_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)-?([01]\d)-?([0-3]\d)(?!\d)")
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


def _date_from(text: str) -> str | None:
    for match in _DATE.finditer(text.replace(":", "-")):
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            continue
    return None


def acquisition(stem: str, tags: dict[str, Any] | None = None) -> dict[str, str | None]:
    """{"date": ISO date or None, "sensor": name or None}; the file name wins over tags."""
    try:
        caffe = parse_caffe_name(stem)
        return {"date": caffe.date.isoformat(), "sensor": caffe.satellite}
    except GlacierfrontError:
        pass
    tags = {str(k).upper(): str(v) for k, v in (tags or {}).items()}
    sensor = None
    for pattern in (_SENTINEL1, _LANDSAT):
        if match := pattern.match(stem):
            sensor = match[1]
    if sensor is None:
        sensor = next((tags[k] for k in _SENSOR_TAGS if tags.get(k)), None)
    date = _date_from(stem)
    if date is None:
        date = next((d for k in _DATE_TAGS if k in tags and (d := _date_from(tags[k]))), None)
    return {"date": date, "sensor": sensor}

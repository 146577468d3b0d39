"""Feature fields by any of their names, and the directions they hold: one home for what every command reads.

A field is looked up by any case and by the names the front databases use (CALFIN, TermPicks, MEaSUREs, and
predict's own); the ``*_FIELDS`` tuples are those names, most usual first. Directions (an ``upstream`` field,
series' --upstream, finetune's --glacier-side) are compass points or bearings in degrees: ``parse_bearing``.
Dates are ``io.acquisition``'s (``date_from_name``, ``date_from_field``).

Ground floor: imports nothing of glacierfront but its errors, so any layer may use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from glacierfront.errors import GlacierfrontError

# -- field names --------------------------------------------------------------------------------------------
# The acquisition date of a front line.
DATE_FIELDS = ("date", "acq_date", "acquisition_date", "image_date")
# Fields a polygon or line names its glacier in: predict tags the fronts inside an AOI polygon with it,
# series matches fronts to boxes by it. A plain "name" field is not one: it holds text such as "CaFFe
# bounding box" as often as a glacier's name (a series box is still named by it: BOX_ID_FIELDS).
GLACIER_ID_FIELDS = ("glacier_id", "glacierid", "glac_id", "glacier")
BOX_ID_FIELDS = (*GLACIER_ID_FIELDS, "name")
# The scene file a line was traced on (its file name or stem): finetune pairs lines and scenes by it.
SCENE_FIELDS = ("scene",)
# An image's id, which groups the lines of one front (predict writes the scene's stem).
IMAGE_FIELDS = ("image_id", "imageid", "scene", "image")
SENSOR_FIELDS = ("sensor", "satellite", "platform", "mission")
QUALITY_FIELDS = ("quality", "quality_flag", "qualflag", "qual_flag")
# The direction from the front into the glacier (a compass point or bearing: ``parse_bearing``).
UPSTREAM_FIELDS = ("upstream",)
# A person's verdict on a line (``glacierfront review`` writes it): accepted, redrawn or rejected.
VERDICT_FIELDS = ("verdict",)
REJECTED, REDRAWN = "rejected", "redrawn"


def verdict_of(props: dict[str, Any]) -> str | None:
    """A line's review verdict in lower case (accepted, redrawn, rejected), None when it has none: series and
    finetune leave rejected lines out and prefer a scene's redrawn lines to its others."""
    value = field_value(props, VERDICT_FIELDS)
    text = str(value).strip().lower() if value is not None else ""
    return text or None


def field_key(props: dict[str, Any], names: Sequence[str]) -> str | None:
    """The key of ``props`` that is one of ``names`` in any case (the first of ``names`` present; Shapefile
    writers often upper-case field names), whatever its value; None when there is none."""
    keys = {str(k).lower(): k for k in reversed(list(props))}
    return next((keys[name] for name in names if name in keys), None)


def field_value(props: dict[str, Any], names: Sequence[str]) -> Any:
    """The first non-empty value of a field named like one of ``names`` (any case): None, NaN and blank text
    are empty, and the next name is tried."""
    lowered = {str(k).lower(): v for k, v in props.items()}
    for name in names:
        value = lowered.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if str(value).strip():
            return value
    return None


# -- directions ---------------------------------------------------------------------------------------------
# Compass points, clockwise from north, 22.5 degrees apart.
COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
_DEGREES = re.compile(r"\s*(DEG|°)$")


class NotABearing(GlacierfrontError):
    """A value ``parse_bearing`` cannot read; ``number`` is True when it was a number, but not a finite one.
    Each command may say it in its own words (series: --upstream; finetune: --glacier-side)."""

    def __init__(self, value: Any, number: bool) -> None:
        if number:
            how = "give a bearing in degrees, e.g. 95"
        else:
            how = "give a compass point (N, NE, E, ..., NNW) or a bearing in degrees"
        super().__init__(f"{value!r}: not a direction; {how}")
        self.value = value
        self.number = number


def parse_bearing(value: str | float) -> float:
    """A direction: a compass point (N, ENE, ..., any case) or a bearing in degrees clockwise from north
    (95, "95", "95 deg", "95°"), as degrees in [0, 360); anything else raises ``NotABearing``."""
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().upper()
        if text in COMPASS:
            return COMPASS.index(text) * 22.5
        try:
            number = float(_DEGREES.sub("", text))
        except ValueError:
            raise NotABearing(value, number=False) from None
    if not math.isfinite(number):
        raise NotABearing(value, number=True)
    return number % 360.0


def compass_point(bearing: float) -> str:
    """The compass point nearest to ``bearing`` (degrees)."""
    return min(COMPASS, key=lambda name: abs((COMPASS.index(name) * 22.5 - bearing + 180) % 360 - 180))

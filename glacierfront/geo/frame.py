"""A glacier box in its equal-area frame: which end is upstream, the box's axis, length and mean width.

Which end is upstream is never guessed: it is a compass direction (N, ENE, ...) or bearing in degrees,
from the box's own ``upstream`` field or the caller's ``upstream``, pointing from the front into the glacier.
The box's axis is the long side of its minimum rotated rectangle (for a box less than 1.5 times as long as
wide: the side nearest that direction), oriented towards it. ``series`` measures terminus positions in this
frame (the box method) and ``predict.fronts_box`` cuts a scene's front across it.

A box must have no holes (``check_box``): area over width is a mean position only when nothing is cut out.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from glacierfront.errors import GlacierfrontError
from glacierfront.geo.equal_area import centre_lonlat, equal_area_crs
from glacierfront.geo.reference import Reference
from glacierfront.io.crs import reproject
from glacierfront.io.fields import NotABearing, compass_point, parse_bearing

# A direction more than this far from the box's long axis says nothing about which end is upstream.
MAX_AXIS_ANGLE_DEG = 60.0
# A box less than this many times as long as wide has no clear long axis.
ELONGATED = 1.5


@dataclass
class Glacier:
    """What a glacier's positions were measured against."""

    glacier_id: str
    method: str
    upstream_bearing_deg: float  # the direction (true bearing at the centre) from the front into the glacier
    width_m: float | None = None  # box: its area / length
    length_m: float | None = None  # box: its long axis; centre-line: its ground length
    area_km2: float | None = None  # box: its whole area on the ellipsoid
    reference_date: dt.date | None = None  # the date change_* are measured from

    def as_dict(self) -> dict[str, Any]:
        return {
            "glacier_id": self.glacier_id,
            "method": self.method,
            "upstream_bearing_deg": round(self.upstream_bearing_deg, 1),
            "width_m": rounded(self.width_m, 2),
            "length_m": rounded(self.length_m, 2),
            "area_km2": rounded(self.area_km2, 6),
            "reference_date": self.reference_date.isoformat() if self.reference_date else None,
        }


def rounded(value: float | None, digits: int) -> float | None:
    """``value`` rounded to ``digits``, None for None."""
    return None if value is None else round(float(value), digits)


def parse_upstream(value: str | float | None) -> float | None:
    """A direction into the glacier: a compass point (N, NE, ENE, ...) or a bearing in degrees clockwise
    from north; the bearing in degrees, None for None."""
    if value is None:
        return None
    try:
        return parse_bearing(value)
    except NotABearing as err:
        if err.number:
            raise GlacierfrontError(f"upstream {value!r}: not a bearing; e.g. --upstream 95") from None
        raise GlacierfrontError(
            f"upstream {value!r}: give a compass direction into the glacier (N, NE, E, ..., NNW) "
            "or a bearing in degrees, e.g. --upstream E or --upstream 95"
        ) from None


def _compass_name(bearing: float) -> str:
    return f"{bearing:.0f} deg ({compass_point(bearing)})"


def _unit(bearing: float) -> np.ndarray:
    # In an azimuthal frame centred on the box, +y is true north at the centre.
    rad = math.radians(bearing)
    return np.array([math.sin(rad), math.cos(rad)])


def _bearing_of(vector: np.ndarray) -> float:
    return math.degrees(math.atan2(vector[0], vector[1])) % 360.0


def _upstream_of(ref: Reference, default: float | None, what: str) -> float:
    own = parse_upstream(ref.upstream) if ref.upstream is not None else None
    if own is not None and default is not None and abs((own - default + 180) % 360 - 180) > 22.5:
        # Neither silently wins: one of them is wrong, and which decides the sign of every change.
        raise GlacierfrontError(
            f"{what} {ref.glacier_id}: its 'upstream' field says {_compass_name(own)} but --upstream says "
            f"{_compass_name(default)}; correct the field or drop --upstream"
        )
    bearing = own if own is not None else default
    if bearing is None:
        raise GlacierfrontError(
            f"{what} {ref.glacier_id}: which end is upstream? Give --upstream with the compass direction "
            "from the front into the glacier (e.g. --upstream E), or an 'upstream' field in the layer"
        )
    return bearing


@dataclass
class BoxFrame:
    """A box in its equal-area frame: the polygon, the unit axis pointing upstream, the unit across
    vector, the long-axis length and the mean width (area / length), in metres."""

    glacier: Glacier
    crs: Any
    polygon: Any
    axis: np.ndarray
    across: np.ndarray
    length_m: float
    width_m: float
    area_m2: float

    def along(self, coords: np.ndarray) -> np.ndarray:
        return np.asarray(coords)[:, :2] @ self.axis

    def across_of(self, coords: np.ndarray) -> np.ndarray:
        return np.asarray(coords)[:, :2] @ self.across


def _holes(geom: Any) -> int:
    return sum(len(part.interiors) for part in getattr(geom, "geoms", [geom]) if hasattr(part, "interiors"))


def check_box(box: Reference) -> None:
    """Refuse a box with holes, with a one-line GlacierfrontError that says to fill them.

    The box method's position is the upstream part's area over the box's mean width: a front that moves
    ``d`` metres adds ``d x width`` to that area only if the box is whole across its width where the front
    crosses. Where a hole is (a nunatak or island left out, an inner ring drawn by mistake), the area moves by
    ``d`` times the width *less the hole*, so the change comes out too small (by about the hole's share of
    the width there), and the mean width (area / length) is too small as well.
    Filling the hole here, unasked, would decide what the glaciologist left out; measuring around it cannot
    be right. So a box with holes is refused, with what to do: fill the hole (the box method then measures
    the outline, as a rectilinear box does; a front that ends on an island inside crosses the box through
    its gaps and is flagged ``partial``) or draw the box beside the island."""
    count = _holes(box.geometry)
    if count:
        source = f" ({box.source})" if box.source else ""
        raise GlacierfrontError(
            f"box {box.glacier_id}{source}: has {count} hole(s); the box method needs a box without holes "
            "(area / width is a mean position only across a whole box): fill them (QGIS: Vector > Geometry "
            "Tools > Delete Holes; shapely: Polygon(box.exterior)) or draw the box beside the island"
        )


def box_frame(box: Reference, upstream: float | str | None = None) -> BoxFrame:
    """The box carried into an equal-area frame centred on it, with its axis oriented upstream."""
    bearing = _upstream_of(box, parse_upstream(upstream), "box")
    lon, lat = centre_lonlat(box.geometry, box.crs)
    crs = equal_area_crs(lon, lat)
    (polygon,) = reproject([box.geometry], box.crs, crs, densify=True)
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    rect = np.asarray(polygon.minimum_rotated_rectangle.exterior.coords)[:4]
    sides = [rect[1] - rect[0], rect[2] - rect[1]]
    lengths = [float(np.hypot(*s)) for s in sides]
    if min(lengths) <= 0:
        raise GlacierfrontError(f"box {box.glacier_id}: has no area; draw a polygon along the glacier")
    want = _unit(bearing)
    units = [s / n for s, n in zip(sides, lengths)]
    long = int(np.argmax(lengths))
    if max(lengths) < ELONGATED * min(lengths):
        long = int(np.argmax([abs(u @ want) for u in units]))
    axis = units[long] * (1.0 if units[long] @ want >= 0 else -1.0)
    angle = math.degrees(math.acos(min(1.0, abs(float(axis @ want)))))
    if angle > MAX_AXIS_ANGLE_DEG:
        raise GlacierfrontError(
            f"box {box.glacier_id}: upstream {_compass_name(bearing)} runs across the box, whose axis "
            f"points {_compass_name(_bearing_of(axis))} or {_compass_name(_bearing_of(-axis))}; "
            "give the direction from the front into the glacier along the box"
        )
    length = lengths[long]
    area = float(polygon.area)
    glacier = Glacier(
        glacier_id=box.glacier_id,
        method="box",
        upstream_bearing_deg=_bearing_of(axis),
        width_m=area / length,
        length_m=length,
        area_km2=area / 1e6,
    )
    return BoxFrame(glacier, crs, polygon, axis, np.array([-axis[1], axis[0]]), length, area / length, area)

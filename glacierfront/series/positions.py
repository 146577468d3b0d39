"""Terminus positions from a series of fronts: the rectilinear box method and a centre-line variant.

Box method (Moon & Joughin 2008): a polygon drawn along the glacier, long enough that every front crosses
it. Each front splits the box; the area of the upstream (glacier) part, on the ellipsoid, divided by the
box's mean width is the front's mean position along the box, measured from its upstream end. A front that
moves d metres downstream everywhere across the box adds d x width to that area, so the position grows by
d: positive change is advance.

Which end is upstream is never guessed: it is a compass direction (N, ENE, ...) or bearing in degrees,
from the box's own ``upstream`` field or the caller's ``upstream``, pointing from the front into the glacier.
The box's axis is the long side of its minimum rotated rectangle (for a box less than 1.5 times as long as
wide: the side nearest that direction), oriented towards it.

A box must have no holes (``check_box``): area over width is a mean position only when nothing is cut out.
The box's frame (upstream end, axis, length, mean width: ``box_frame``) and the boxes' reader live on the
ground floor, in ``glacierfront.geo``, where ``predict`` takes them too.

Quality flags: ``ok`` (the front itself cuts the box from side to side, its lines spanning at least
``OK_COVERAGE`` of the box's width), ``partial`` (an estimate: the front meets the box but leaves gaps, its
pieces joined in order across the box by straight segments and its ends carried straight across to the
box's sides; or it cuts the box only where the box is narrower than ``OK_COVERAGE`` of its full width, note
``narrow_cut``; ``coverage`` says how much of the width the lines span), ``fragment`` (it meets the box but
spans less than ``MIN_COVERAGE`` of its width, or no upstream/downstream split can be made of it), ``miss``
(it does not meet the box). Only ``ok`` and ``partial`` have positions.

Each row's ``note`` holds flags joined by ``+``, beside the quality: ``narrow_cut`` (above) and
``duplicate_date`` (another front of the same glacier has the same date: two files of one scene, or two
scenes of one day; each is its own row, never joined, and the series' notes name the files).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point
from shapely.ops import linemerge, split

from glacierfront.errors import GlacierfrontError
from glacierfront.geo.equal_area import centre_lonlat, equal_area_crs
from glacierfront.geo.frame import (
    BoxFrame,
    Glacier,
    _bearing_of,
    _compass_name,
    _unit,
    box_frame,
    check_box,
    parse_upstream,
)
from glacierfront.geo.frame import rounded as _round
from glacierfront.geo.reference import Reference
from glacierfront.io.acquisition import decimal_year
from glacierfront.io.crs import reproject
from glacierfront.series.read import Front

OK, PARTIAL, FRAGMENT, MISS = "ok", "partial", "fragment", "miss"
QUALITIES = (OK, PARTIAL, FRAGMENT, MISS)
# The columns of a series, in order (CSV header and JSON row keys).
COLUMNS = (
    "glacier_id",
    "date",
    "decimal_year",
    "method",
    "position_m",
    "area_km2",
    "change_km2",
    "change_m",
    "width_m",
    "coverage",
    "quality",
    "note",
    "sensor",
    "image_id",
    "source_quality",
    "source",
)
# A front that does not cut the box gets an estimate (partial) only when its lines span at least this
# fraction of the box's width; less is a fragment, without a position.
MIN_COVERAGE = 0.2
# A front that cuts the box is ``ok`` only when its lines span at least this fraction of the box's width: one
# that cuts it only across a narrow part (a neck or notch of the polygon) moves the upstream area by its shift
# times that part's width, not the box's mean width, so its position is an estimate (``partial``).
OK_COVERAGE = 0.9
# Row notes (the ``note`` column, joined by "+").
NARROW_CUT = "narrow_cut"
DUPLICATE_DATE = "duplicate_date"


@dataclass
class Row:
    """One front's terminus position (one row of the output)."""

    glacier_id: str
    date: dt.date
    method: str
    quality: str
    position_m: float | None = None  # from the box's upstream end (box) or the line's start (centre-line)
    area_km2: float | None = None  # the box's upstream (glacier) part, on the ellipsoid
    change_km2: float | None = None  # vs the glacier's reference date; + = advance
    change_m: float | None = None  # vs the glacier's reference date; + = advance
    width_m: float | None = None
    coverage: float | None = None  # fraction of the box's width the front's own lines span
    note: str | None = None  # flags joined by "+": NARROW_CUT, DUPLICATE_DATE
    sensor: str | None = None
    image_id: str | None = None
    source_quality: str | None = None
    source: str = ""

    @property
    def decimal_year(self) -> float:
        return decimal_year(self.date)

    def add_note(self, flag: str) -> None:
        """Add ``flag`` to the row's note (flags joined by "+", each once)."""
        flags = self.note.split("+") if self.note else []
        if flag not in flags:
            self.note = "+".join([*flags, flag])

    def as_dict(self) -> dict[str, Any]:
        """The row as the CSV/JSON columns (``COLUMNS``), rounded: areas to 1 m^2, lengths to 1 cm."""
        values = {
            "glacier_id": self.glacier_id,
            "date": self.date.isoformat(),
            "decimal_year": round(self.decimal_year, 5),
            "method": self.method,
            "position_m": _round(self.position_m, 2),
            "area_km2": _round(self.area_km2, 6),
            "change_km2": _round(self.change_km2, 6),
            "change_m": _round(self.change_m, 2),
            "width_m": _round(self.width_m, 2),
            "coverage": _round(self.coverage, 3),
            "quality": self.quality,
            "note": self.note,
            "sensor": self.sensor,
            "image_id": self.image_id,
            "source_quality": self.source_quality,
            "source": self.source,
        }
        return {k: values[k] for k in COLUMNS}


@dataclass
class Series:
    """A series of terminus positions: rows sorted by glacier and date, and each glacier's reference."""

    method: str
    rows: list[Row]
    glaciers: list[Glacier]
    notes: list[str] = field(default_factory=list)  # fronts left out, and why

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sign": "positive change = advance (the front moved downstream)",
            "glaciers": [g.as_dict() for g in self.glaciers],
            "rows": [r.as_dict() for r in self.rows],
            "notes": list(self.notes),
        }


def _line_parts(geom: Any) -> list[LineString]:
    """The non-empty line pieces of any geometry (points and polygons dropped)."""
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "LineString":
        return [geom] if geom.length > 0 else []
    if geom.geom_type == "LinearRing":
        return [LineString(geom.coords)]
    if hasattr(geom, "geoms"):
        return [part for g in geom.geoms for part in _line_parts(g)]
    return []


def _join(lines: Sequence[Any]) -> Any:
    """Pieces of one front as one (Multi)LineString: pieces that share ends are merged."""
    parts = [p for line in lines for p in _line_parts(line)]
    if not parts:
        return MultiLineString()
    union = shapely.union_all(parts)
    return linemerge(union) if union.geom_type == "MultiLineString" else union


def _neighbours(pieces: list[Any]) -> list[set[int]]:
    """For each piece of a split polygon, the pieces it shares an edge with (a stretch of the cutter).

    The pieces come from one noded set of lines, so a shared edge has the same two vertices in both: edges
    are compared by their end coordinates, which is linear in the vertex count (an overlay per pair of
    pieces is not)."""
    owners: dict[bytes, set[int]] = {}
    for index, piece in enumerate(pieces):
        for ring in (piece.exterior, *piece.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            ends = np.stack([xy[:-1], xy[1:]], axis=1)  # (edges, 2 ends, x/y)
            flip = (ends[:, 0, 0] > ends[:, 1, 0]) | (
                (ends[:, 0, 0] == ends[:, 1, 0]) & (ends[:, 0, 1] > ends[:, 1, 1])
            )
            ends[flip] = ends[flip][:, ::-1]
            for key in np.ascontiguousarray(ends.reshape(len(ends), 4)):
                owners.setdefault(key.tobytes(), set()).add(index)
    neighbours: list[set[int]] = [set() for _ in pieces]
    for shared in owners.values():
        for i in shared:
            neighbours[i] |= shared - {i}
    return neighbours


def _upstream_area(frame: BoxFrame, cutter: Any) -> float | None:
    """The area of the box's upstream part when ``cutter`` splits it into an upstream and a downstream
    part, else None. Pieces are coloured by the parity of the front crossings from the upstream end:
    across each stretch of front, glacier and sea alternate."""
    try:
        pieces = [p for p in split(frame.polygon, cutter).geoms if p.area > 0]
    except Exception:  # shapely refuses some degenerate cutters; they cut nothing
        return None
    if len(pieces) < 2:
        return None
    coords = [np.asarray(p.exterior.coords) for p in pieces]
    top = [float(frame.along(c).max()) for c in coords]
    bottom = [float(frame.along(c).min()) for c in coords]
    head = max(range(len(pieces)), key=lambda i: (top[i], pieces[i].area))
    foot = min(range(len(pieces)), key=lambda i: (bottom[i], -pieces[i].area))
    if head == foot:
        return None
    neighbours = _neighbours(pieces)
    colour = {head: 0}
    todo = [head]
    while todo:
        i = todo.pop()
        for j in neighbours[i]:
            if j not in colour:
                colour[j] = 1 - colour[i]
                todo.append(j)
    if colour.get(foot) != 1:
        return None
    return float(sum(p.area for i, p in enumerate(pieces) if colour.get(i) == 0))


def _coverage(frame: BoxFrame, inside: list[LineString]) -> float:
    """The fraction of the box's extent across its axis that the front's lines inside it span."""
    box_across = frame.across_of(np.asarray(frame.polygon.exterior.coords))
    extent = float(box_across.max() - box_across.min())
    spans = []
    for part in inside:
        a = frame.across_of(np.asarray(part.coords))
        spans.extend(zip(np.minimum(a[:-1], a[1:]), np.maximum(a[:-1], a[1:])))
    covered, reach = 0.0, -math.inf
    for lo, hi in sorted(spans):
        lo = max(lo, reach)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return min(1.0, covered / extent) if extent > 0 else 0.0


def _bridged(frame: BoxFrame, inside: list[LineString]) -> LineString:
    """The pieces inside the box in order across it, joined by straight segments, with both ends carried
    straight across the box (perpendicular to its axis) past its sides."""
    ordered = sorted(inside, key=lambda p: float(frame.across_of(np.asarray(p.coords)).mean()))
    chain = []
    for part in ordered:
        c = np.asarray(part.coords)[:, :2]
        a = frame.across_of(c)
        chain.append(c if a[0] <= a[-1] else c[::-1])
    points = np.concatenate(chain)
    reach = 2.0 * (frame.length_m + frame.width_m)
    return LineString(
        np.vstack([points[:1] - reach * frame.across, points, points[-1:] + reach * frame.across])
    )


def measure_in_box(frame: BoxFrame, front: Any) -> tuple[float | None, str, float | None]:
    """(upstream area m^2 or None, quality flag, coverage) of a front (a line geometry in the frame)."""
    area, quality, coverage, _ = _measure_box(frame, front)
    return area, quality, coverage


def _measure_box(frame: BoxFrame, front: Any) -> tuple[float | None, str, float | None, str | None]:
    """``measure_in_box`` and the row's note: a front that cuts the box is ``ok`` only when its lines span
    ``OK_COVERAGE`` of the box's width; below, it cuts a narrow part and is ``partial`` (note
    ``narrow_cut``), or below ``MIN_COVERAGE`` a fragment, like a front with gaps."""
    front = _join([front])
    inside = _line_parts(frame.polygon.intersection(front)) if not front.is_empty else []
    if not inside:
        return None, MISS, None, None
    coverage = _coverage(frame, inside)
    if coverage < MIN_COVERAGE:
        return None, FRAGMENT, coverage, None
    area = _upstream_area(frame, front)
    if area is not None:
        if coverage < OK_COVERAGE:
            return area, PARTIAL, coverage, NARROW_CUT
        return area, OK, coverage, None
    area = _upstream_area(frame, _bridged(frame, inside))
    if area is not None:
        return area, PARTIAL, coverage, None
    return None, FRAGMENT, coverage, None


def _in_frame(front: Front, crs: Any) -> Any | None:
    """The front's pieces joined in the frame ``crs``; None when PROJ cannot carry them there (a front on
    the far side of the Earth)."""
    moved = []
    by_crs: dict[Any, list[Any]] = {}
    for geom, src in front.pieces:
        by_crs.setdefault(src, []).append(geom)
    try:
        for src, geoms in by_crs.items():
            moved.extend(reproject(geoms, src, crs, densify=True))
    except GlacierfrontError:
        return None
    return _join(moved)


def _assign(
    fronts: Sequence[Front],
    refs: Sequence[Reference],
    meets: Callable[[int, int], bool],
    notes: list[str],
    what: str,
) -> dict[int, list[int]]:
    """Which fronts each reference (box or line) measures. A front goes to the reference of its glacier
    id when one has it, else to every reference it meets; with a single reference, a front that names no
    other glacier goes to it even if it misses. Fronts left out are told in ``notes``."""
    ids = {ref.glacier_id.lower(): i for i, ref in enumerate(refs) if ref.named}
    taken: dict[int, list[int]] = {i: [] for i in range(len(refs))}
    left: list[Front] = []
    for f, front in enumerate(fronts):
        own = (front.glacier_id or "").lower()
        if own in ids:
            taken[ids[own]].append(f)
            continue
        hits = [r for r in range(len(refs)) if meets(f, r)]
        if not hits and len(refs) == 1 and not (own and refs[0].named):
            hits = [0]
        if not hits:
            left.append(front)
        for r in hits:
            taken[r].append(f)
    if left:
        example = left[0]
        notes.append(
            f"{len(left)} front(s) meet no {what} and name no glacier of one; left out (e.g. {example.date} from {example.source}"
            f"{', glacier ' + example.glacier_id if example.glacier_id else ''})"
        )
    return taken


def _missed(ref: Reference, fronts: list[Front], rows: list[Row], what: str) -> None:
    missed = [(front, row) for front, row in zip(fronts, rows) if row.quality == MISS]
    if len(missed) >= 2:
        dates = ", ".join(f"{f.date} ({f.source})" for f, _ in missed[:3])
        more = f" and {len(missed) - 3} more" if len(missed) > 3 else ""
        raise GlacierfrontError(
            f"{what} {ref.glacier_id}: {len(missed)} of {len(fronts)} fronts miss it: {dates}{more}; "
            f"draw it {'longer or wider' if what == 'box' else 'longer'} so that every front crosses it"
        )


def _changes(glacier: Glacier, rows: list[Row]) -> None:
    """Changes vs the first date with an ``ok`` position (else the first with any position)."""
    measured = [r for r in rows if r.position_m is not None]
    reference = next((r for r in measured if r.quality == OK), measured[0] if measured else None)
    if reference is None:
        return
    glacier.reference_date = reference.date
    for row in measured:
        row.change_m = row.position_m - reference.position_m
        if row.area_km2 is not None and reference.area_km2 is not None:
            row.change_km2 = row.area_km2 - reference.area_km2


def _row(front: Front, glacier: Glacier, quality: str, **values: Any) -> Row:
    return Row(
        glacier_id=glacier.glacier_id,
        date=front.date,
        method=glacier.method,
        quality=quality,
        sensor=front.sensor,
        image_id=front.image_id,
        source_quality=front.source_quality,
        source=front.source,
        **values,
    )


def _say(report: Callable[[str], None] | None, text: str) -> None:
    if report is not None:
        report(text)


def _summary(glacier: Glacier, rows: list[Row]) -> str:
    counts = ", ".join(
        f"{sum(r.quality == q for r in rows)} {q}" for q in QUALITIES if any(r.quality == q for r in rows)
    )
    size = f"width {glacier.width_m:.0f} m, " if glacier.width_m is not None else ""
    last = next((r for r in reversed(rows) if r.change_m is not None), None)
    change = f"; {last.change_m:+.1f} m by {last.date} vs {glacier.reference_date}" if last else ""
    return (
        f"{glacier.glacier_id}: {len(rows)} fronts ({counts}); {size}upstream "
        f"{_compass_name(glacier.upstream_bearing_deg)}{change}"
    )


def box_series(
    fronts: Sequence[Front],
    boxes: Sequence[Reference],
    upstream: float | str | None = None,
    report: Callable[[str], None] | None = None,
    memo: dict[Any, Any] | None = None,
) -> Series:
    """Terminus positions of ``fronts`` by the box method, per box (glacier). ``upstream``: the direction
    from the front into the glacier for boxes without their own ``upstream`` field. ``report`` gets one
    summary line per glacier. A box with holes is refused (``check_box``). ``memo``: a dict kept by a
    caller that measures the same fronts again and again (``review``): each front's measurement in a box is
    looked up there by its geometry, so only new or changed fronts are measured."""
    if not boxes:
        raise GlacierfrontError("no box given: draw a polygon along the glacier")
    if not fronts:
        raise GlacierfrontError("no fronts given")
    for box in boxes:
        check_box(box)
    frames = [box_frame(box, upstream) for box in boxes]

    def measure(front: Front, frame: BoxFrame, geom: Any) -> Row:
        key = (frame.glacier.glacier_id, frame.polygon.wkb, geom.wkb)
        found = None if memo is None else memo.get(key)
        if found is None:
            found = _measure_box(frame, geom)
            if memo is not None:
                memo[key] = found
        area, quality, coverage, note = found
        return _row(
            front,
            frame.glacier,
            quality,
            position_m=None if area is None else area / frame.width_m,
            area_km2=None if area is None else area / 1e6,
            width_m=frame.width_m,
            coverage=coverage,
            note=note,
        )

    series = _series("box", "box", fronts, boxes, frames, lambda frame: frame.polygon, measure, report)
    _note_narrow(series, report)
    return series


def _note_narrow(series: Series, report: Callable[[str], None] | None) -> None:
    """One note per box whose fronts cut it only across a narrow part (rows flagged ``narrow_cut``)."""
    for glacier in series.glaciers:
        narrow = [
            r for r in series.rows if r.glacier_id == glacier.glacier_id and NARROW_CUT in (r.note or "")
        ]
        if narrow:
            note = (
                f"box {glacier.glacier_id}: {len(narrow)} front(s) cut it where their lines span under "
                f"{OK_COVERAGE:.0%} of its width (e.g. {narrow[0].date}, coverage {narrow[0].coverage:.2f}); "
                f"flagged {PARTIAL}, note {NARROW_CUT}: draw the box with parallel sides where the fronts cross"
            )
            series.notes.append(note)
            _say(report, f"note: {note}")


def _flag_duplicates(
    what: str, ref: Reference, fronts: list[Front], rows: list[Row], notes: list[str]
) -> None:
    """Flag ``duplicate_date`` on a glacier's rows that share a date (fronts of different files, or of
    different scenes of one day, are never joined), with one note naming an example's files."""
    by_date: dict[dt.date, list[int]] = {}
    for i, row in enumerate(rows):
        by_date.setdefault(row.date, []).append(i)
    shared = {date: group for date, group in by_date.items() if len(group) > 1}
    for group in shared.values():
        for i in group:
            rows[i].add_note(DUPLICATE_DATE)
    if shared:
        date, group = min(shared.items())
        files = ", ".join(fronts[i].source for i in group[:3]) + (" ..." if len(group) > 3 else "")
        notes.append(
            f"{what} {ref.glacier_id}: {len(shared)} date(s) with several fronts (e.g. {date}: {files}); "
            f"each is its own row, note {DUPLICATE_DATE}: keep the one you trust"
        )


def _series(
    method: str,
    what: str,
    fronts: Sequence[Front],
    refs: Sequence[Reference],
    frames: Sequence[Any],
    shape_of: Callable[[Any], Any],
    measure: Callable[[Front, Any, Any], Row],
    report: Callable[[str], None] | None,
) -> Series:
    """The part box and centre-line series share: carry each front into each reference's equal-area frame
    (once), give fronts to references (``_assign``), measure them there, flag misses and compute changes."""
    moved: dict[tuple[int, int], Any] = {}

    def in_frame(f: int, b: int) -> Any:
        if (f, b) not in moved:
            moved[f, b] = _in_frame(fronts[f], frames[b].crs)
        return moved[f, b]

    def meets(f: int, b: int) -> bool:
        geom = in_frame(f, b)
        return geom is not None and not geom.is_empty and shape_of(frames[b]).intersects(geom)

    notes: list[str] = []
    taken = _assign(fronts, refs, meets, notes, what)
    rows: list[Row] = []
    for b, (ref, frame) in enumerate(zip(refs, frames)):
        ref_rows = []
        for f in taken[b]:
            geom = in_frame(f, b)
            if geom is None:
                raise GlacierfrontError(
                    f"{fronts[f].source}: its lines cannot be carried to {what} {ref.glacier_id}'s frame; "
                    "are they really in the layer's declared CRS?"
                )
            ref_rows.append(measure(fronts[f], frame, geom))
        _missed(ref, [fronts[f] for f in taken[b]], ref_rows, what)
        _flag_duplicates(what, ref, [fronts[f] for f in taken[b]], ref_rows, notes)
        _changes(frame.glacier, ref_rows)
        if ref_rows:
            _say(report, _summary(frame.glacier, ref_rows))
        else:
            notes.append(f"{what} {ref.glacier_id}: no front meets it")
        rows.extend(ref_rows)
    if not rows:
        raise GlacierfrontError(f"no front meets any {what}; are they drawn where the fronts are?")
    for note in notes:
        _say(report, f"note: {note}")
    rows.sort(key=lambda r: (r.glacier_id.lower(), r.date, r.source))
    return Series(method, rows, [f.glacier for f in frames], notes)


@dataclass
class LineFrame:
    """A centre-line in its equal-area frame, oriented from its upstream end."""

    glacier: Glacier
    crs: Any
    line: LineString


def line_frame(ref: Reference, upstream: float | str | None = None) -> LineFrame:
    """The centre-line in an equal-area frame centred on it, starting at its upstream end: its first
    vertex, or with an upstream direction (the line's own field or ``upstream``), the end that lies
    further that way."""
    own = parse_upstream(ref.upstream) if ref.upstream is not None else None
    bearing = own if own is not None else parse_upstream(upstream)
    lon, lat = centre_lonlat(ref.geometry, ref.crs)
    crs = equal_area_crs(lon, lat)
    (line,) = reproject([ref.geometry], ref.crs, crs, densify=True)
    coords = np.asarray(line.coords)[:, :2]
    if bearing is not None and (coords[-1] - coords[0]) @ _unit(bearing) > 0:
        line = LineString(coords[::-1])
        coords = coords[::-1]
    if line.length <= 0:
        raise GlacierfrontError(f"centre-line {ref.glacier_id}: has no length; draw it along the glacier")
    glacier = Glacier(
        glacier_id=ref.glacier_id,
        method="centreline",
        upstream_bearing_deg=_bearing_of(coords[0] - coords[-1]),
        length_m=float(line.length),
    )
    return LineFrame(glacier, crs, line)


def measure_on_line(frame: LineFrame, front: Any) -> tuple[float | None, str]:
    """(position along the line in metres or None, quality) of a front (a line geometry in the frame).

    With an odd number of crossings the position is the length of glacier along the line from its start
    (1 crossing: the distance to it; 3: d1 + d3 - d2), ``ok``; an even number is ``partial`` and gives
    the first crossing; none is ``miss``."""
    hits = frame.line.intersection(front)
    points: list[Any] = []
    for geom in getattr(hits, "geoms", [hits]):
        if geom.is_empty:
            continue
        points.append(geom if geom.geom_type == "Point" else geom.centroid)
    distances = sorted({round(frame.line.project(Point(p.x, p.y)), 6) for p in points})
    if not distances:
        return None, MISS
    if len(distances) % 2 == 0:
        return distances[0], PARTIAL
    return float(
        distances[0] + sum(distances[i + 1] - distances[i] for i in range(1, len(distances) - 1, 2))
    ), OK


def centreline_series(
    fronts: Sequence[Front],
    lines: Sequence[Reference],
    upstream: float | str | None = None,
    report: Callable[[str], None] | None = None,
) -> Series:
    """Terminus positions of ``fronts`` along centre-lines: where each front crosses its glacier's line,
    as the distance (ground metres) from the line's upstream end; change_m + = advance."""
    if not lines:
        raise GlacierfrontError("no centre-line given: draw a line along the glacier")
    if not fronts:
        raise GlacierfrontError("no fronts given")
    frames = [line_frame(line, upstream) for line in lines]

    def measure(front: Front, frame: LineFrame, geom: Any) -> Row:
        position, quality = measure_on_line(frame, geom)
        return _row(front, frame.glacier, quality, position_m=position)

    return _series(
        "centreline", "centre-line", fronts, lines, frames, lambda frame: frame.line, measure, report
    )

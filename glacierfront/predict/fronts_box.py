"""Zones -> front inside a glacier box: the best ice-to-water crossing of the box, one line from side to side.

A glaciologist defines a glacier once: a box (or fjord polygon) drawn along it and which end is upstream,
the same box ``series`` measures terminus positions in. Given one, the front is not "whatever ocean piece is
largest" (CaFFe's rule, which on a real scene can pick the outline of open water inside the melange): it is
the cut across the box that best splits it into glacier upstream and water (ocean or melange) downstream.

The box is sampled on the processing grid in its own frame: ``s`` along its axis (towards the upstream end),
``t`` across it, one pixel apart. Each sample carries the model's margin ``m = P(glacier) - P(ocean) - P(NA)``
(rock: about 0, it votes for neither side; NA on pixels that hold data is what the model calls the darkest
surfaces, calm open water, which it learned as no data: it counts as water; outside the polygon or the data:
exactly 0). In every across column the cut at ``k`` scores ``sum(m[s >= k]) - sum(m[s < k])``; a Viterbi
pass picks one cut per column, neighbouring cuts at most ``MAX_STEP_PX`` apart (each pixel of step costing
``STEP_COST``), so the front is one continuous line across the box. The line is kept from the first to the
last column whose cut the model supports (glacier just upstream, water just downstream): through rock at the
fjord walls, where nothing separates glacier from water, it is cut off rather than drawn straight.

Where that crossing is supported over less than ``attributes.MIN_COVERAGE`` of the box's width (or nowhere),
the cut is made again on the margin centred on each across column's mean: the largest drop of the margin,
whatever the model's bias. On glaciers it never saw, a model reads every surface as somewhat more glacier
(the real-scene protocol: half the ocean pixels called glacier), so that no column has water downstream
although the margin still drops at the front. Centred per column, not over the box, so that a column of rock
(about 0 throughout) stays level and pulls the line nowhere. That line is kept where the band just upstream
has a mean margin at least ``MIN_DROP`` above the band just downstream, and, unless the model separates
glacier from water along it after all, it is flagged ``partial_crossing``: a guess to check, not a front.

Its ``confidence`` is how cleanly the band of ``BAND_PX`` pixels either side of the line splits: the mean of
``(1 + m)/2`` upstream and ``(1 - m)/2`` downstream (0.5: no split, 1: the model is sure of both sides), so the
same ``low_confidence`` flag applies as for CaFFe-rule lines (always read from the uncentred margin). Its
``coverage`` is the share of the box's columns where the model separates glacier from water at the cut (a
positive band upstream, a negative one downstream); under ``attributes.MIN_COVERAGE`` the line is flagged
``partial_crossing``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.warp import transform as warp_transform
from scipy import ndimage
from shapely.geometry import LineString

from glacierfront.errors import GlacierfrontError
from glacierfront.geo.frame import box_frame
from glacierfront.geo.reference import Reference
from glacierfront.io.crs import reproject
from glacierfront.predict.attributes import MIN_COVERAGE
from glacierfront.predict.vectorise import FrontLine, length_m, map_geometry

# A neighbouring column's cut moves at most this many pixels: fronts up to about 70 degrees oblique to the box.
MAX_STEP_PX = 3
# Cost of each pixel of step between neighbouring cuts, in margin units (a margin sample is -1..1): enough to
# make a straight cut win over a ragged one where the evidence is level, too little to hold a front straight.
STEP_COST = 0.05
# Pixels either side of the cut that say whether the model supports it, and that the confidence is read over.
BAND_PX = 6
# A column supports the cut when the band upstream of it has a mean margin at least this much higher than the
# band downstream (margin units, -1..1): a drop the model sees, not the noise of one surface on both sides.
MIN_DROP = 0.2
# Stored margins are int8: P(glacier) - P(ocean) - P(NA) times this.
MARGIN_SCALE = 127.0
# Front rules: "caffe" (largest ocean piece, CaFFe's post-processing) or "box" (the best crossing of a box).
FRONT_RULES = ("auto", "caffe", "box")


def check_front_rule(rule: str) -> str:
    if rule not in FRONT_RULES:
        raise GlacierfrontError(f"--front-rule {rule!r}: choose one of {', '.join(FRONT_RULES)}")
    return rule


@dataclass
class BoxGrid:
    """A box sampled on a pixel grid: sample (j, i) sits at ``origin + (s0 + i + 0.5) axis + (t0 + j + 0.5)
    across`` in (col, row) pixel coordinates; ``axis`` points upstream."""

    glacier_id: str
    axis: np.ndarray  # unit (col, row) vector, upstream
    across: np.ndarray  # unit (col, row) vector, perpendicular
    s0: float
    t0: float
    n_along: int
    n_across: int
    polygon_px: Any  # the box polygon in (col, row) pixel coordinates

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(cols, rows) of every sample, shape (n_across, n_along)."""
        s = self.s0 + np.arange(self.n_along) + 0.5
        t = self.t0 + np.arange(self.n_across) + 0.5
        cols = t[:, None] * self.across[0] + s[None, :] * self.axis[0]
        rows = t[:, None] * self.across[1] + s[None, :] * self.axis[1]
        return cols, rows

    def to_pixels(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(N, 2) (col, row) of frame positions (s, t), in samples from the grid's start."""
        s = self.s0 + np.asarray(s, float)
        t = self.t0 + np.asarray(t, float)
        return np.column_stack([t * self.across[0] + s * self.axis[0], t * self.across[1] + s * self.axis[1]])


def box_grid(box: Reference, transform: Affine, crs: Any, upstream: float | str | None = None) -> BoxGrid:
    """The box (any CRS) in the frame of its upstream axis (series' rule: ``geo.frame.box_frame``),
    sampled on the pixel grid of ``transform`` in ``crs``."""
    if crs is None:
        raise GlacierfrontError(
            "a glacier box needs a georeferenced scene; this one has no CRS (use --front-rule caffe)"
        )
    frame = box_frame(box, upstream)
    centre = frame.polygon.centroid
    step = max(frame.length_m / 10.0, 1.0)
    ends = np.array(
        [[centre.x, centre.y], [centre.x + step * frame.axis[0], centre.y + step * frame.axis[1]]]
    )
    xs, ys = warp_transform(frame.crs, crs, ends[:, 0], ends[:, 1])
    (polygon,) = reproject([frame.polygon], frame.crs, crs, densify=True)
    polygon_px = map_geometry(polygon, ~transform)
    ends_px = np.asarray(
        shapely.get_coordinates(map_geometry(LineString(np.column_stack([xs, ys])), ~transform))
    )
    axis = ends_px[1] - ends_px[0]
    norm = float(np.hypot(*axis))
    if not norm > 0:
        raise GlacierfrontError(f"box {box.glacier_id}: its axis cannot be placed on the scene's grid")
    axis = axis / norm
    # Perpendicular in pixel space; its sign does not matter (columns are only ever neighbours).
    across = np.array([-axis[1], axis[0]])
    ring = np.asarray(shapely.get_coordinates(polygon_px))
    s = ring @ axis
    t = ring @ across
    s0, t0 = math.floor(s.min()), math.floor(t.min())
    n_along, n_across = math.ceil(s.max()) - s0, math.ceil(t.max()) - t0
    if n_along < 2 or n_across < 2:
        raise GlacierfrontError(
            f"box {box.glacier_id}: under 2 pixels long or wide on the processing grid; draw a larger box"
        )
    return BoxGrid(
        box.glacier_id, axis, across, float(s0), float(t0), int(n_along), int(n_across), polygon_px
    )


def sample_box(grid: BoxGrid, margin: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(margin, inside) on the box samples: margin in -1..1 (0 outside the box or the data), inside True
    where a sample is in the polygon and on valid data. Reads only the window around the box."""
    cols, rows = grid.points()
    height, width = margin.shape
    r0 = max(int(np.floor(rows.min())) - 1, 0)
    r1 = min(int(np.ceil(rows.max())) + 2, height)
    c0 = max(int(np.floor(cols.min())) - 1, 0)
    c1 = min(int(np.ceil(cols.max())) + 2, width)
    shape = cols.shape
    if r1 <= r0 or c1 <= c0:
        return np.zeros(shape, np.float32), np.zeros(shape, bool)
    window = np.asarray(margin[r0:r1, c0:c1], np.float32) / MARGIN_SCALE
    ok = np.asarray(valid[r0:r1, c0:c1], bool)
    # Pixel (r, c) covers [c, c + 1) x [r, r + 1): its centre is at (c + 0.5, r + 0.5).
    coords = [rows.ravel() - 0.5 - r0, cols.ravel() - 0.5 - c0]
    values = ndimage.map_coordinates(window, coords, order=1, mode="constant", cval=0.0).reshape(shape)
    rr, cc = np.floor(rows).astype(int) - r0, np.floor(cols).astype(int) - c0
    on_grid = (rr >= 0) & (cc >= 0) & (rr < r1 - r0) & (cc < c1 - c0)
    good = np.zeros(shape, bool)
    good[on_grid] = ok[rr[on_grid], cc[on_grid]]
    inside = good & shapely.contains_xy(grid.polygon_px, cols, rows)
    return np.where(inside, values, 0.0).astype(np.float32), inside


def best_cuts(m: np.ndarray, max_step: int = MAX_STEP_PX, step_cost: float = STEP_COST) -> np.ndarray:
    """One cut per across column (T,), each in 0..S: samples below it are water, from it on glacier.

    Maximises sum over columns of ``sum(m[t, k:]) - sum(m[t, :k])`` minus ``step_cost`` per pixel of change
    between neighbouring cuts, with no change above ``max_step`` (Viterbi over columns).
    """
    n_across, n_along = m.shape
    csum = np.concatenate([np.zeros((n_across, 1)), np.cumsum(m, axis=1, dtype=np.float64)], axis=1)
    score = csum[:, -1:] - 2.0 * csum  # (T, S + 1)
    best = score[0].copy()
    came = np.zeros((n_across, n_along + 1), np.int32)
    index = np.arange(n_along + 1)
    for t in range(1, n_across):
        candidates = np.full((2 * max_step + 1, n_along + 1), -np.inf)
        for j, d in enumerate(range(-max_step, max_step + 1)):
            source = index + d
            ok = (source >= 0) & (source <= n_along)
            candidates[j, ok] = best[source[ok]] - step_cost * abs(d)
        pick = np.argmax(candidates, axis=0)
        came[t] = index + pick - max_step
        best = candidates[pick, index] + score[t]
    cuts = np.zeros(n_across, np.int64)
    cuts[-1] = int(np.argmax(best))
    for t in range(n_across - 1, 0, -1):
        cuts[t - 1] = came[t, cuts[t]]
    return cuts


def _band_means(m: np.ndarray, inside: np.ndarray, cuts: np.ndarray, band: int) -> tuple[np.ndarray, ...]:
    """Per column: mean margin in the band just upstream and just downstream of the cut, and the mean
    side-consistent probability over both bands (nan where a band holds no sample)."""
    n_across, n_along = m.shape
    offsets = np.arange(band)
    up_idx = np.clip(cuts[:, None] + offsets[None, :], 0, n_along - 1)
    down_idx = np.clip(cuts[:, None] - 1 - offsets[None, :], 0, n_along - 1)
    rows = np.arange(n_across)[:, None]
    up_ok = inside[rows, up_idx] & (cuts[:, None] + offsets[None, :] < n_along)
    down_ok = inside[rows, down_idx] & (cuts[:, None] - 1 - offsets[None, :] >= 0)
    up_m, down_m = m[rows, up_idx], m[rows, down_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        up = np.where(up_ok, up_m, 0).sum(1) / up_ok.sum(1)
        down = np.where(down_ok, down_m, 0).sum(1) / down_ok.sum(1)
        agree = (
            np.where(up_ok, (1 + up_m) / 2, 0).sum(1) + np.where(down_ok, (1 - down_m) / 2, 0).sum(1)
        ) / (up_ok.sum(1) + down_ok.sum(1))
    return up, down, agree


@dataclass
class BoxFront:
    """The crossing found in one box: its line on the pixel grid ((col, row) coordinates), confidence,
    and the share of the box's width where the model separates glacier from water at it (0: no line)."""

    glacier_id: str
    line_px: LineString | None
    confidence: float
    coverage: float
    n_columns: int


def find_box_front(grid: BoxGrid, margin: np.ndarray, valid: np.ndarray, band: int = BAND_PX) -> BoxFront:
    """The best ice-to-water crossing of the box (see the module docstring): the model's own crossing where
    it separates glacier from water over at least ``MIN_COVERAGE`` of the box's width, else the largest drop
    of its column-centred margin."""
    m, inside = sample_box(grid, margin, valid)
    columns = inside.any(axis=1)
    if not columns.any():
        return BoxFront(grid.glacier_id, None, math.nan, 0.0, 0)
    found = _crossing(grid, m, inside, best_cuts(m), band, relative=False)
    if found.line_px is not None and found.coverage >= MIN_COVERAGE:
        return found
    column_mean = m.sum(axis=1, keepdims=True) / np.maximum(inside.sum(axis=1, keepdims=True), 1)
    centred = _crossing(
        grid, m, inside, best_cuts(np.where(inside, m - column_mean, 0.0)), band, relative=True
    )
    return centred if centred.line_px is not None else found


def _crossing(
    grid: BoxGrid, m: np.ndarray, inside: np.ndarray, cuts: np.ndarray, band: int, relative: bool
) -> BoxFront:
    """The line through ``cuts``, kept from the first to the last column that supports it: glacier just
    upstream and water just downstream, or (``relative``) a drop of at least ``MIN_DROP`` across the cut."""
    columns = inside.any(axis=1)
    up, down, agree = _band_means(m, inside, cuts, band)
    first = np.argmax(inside, axis=1)
    last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
    # The cut must fall strictly inside the column's samples.
    within = columns & (cuts > first) & (cuts <= last)
    separated = within & (up > 0) & (down < 0)
    supported = within & (up - down > MIN_DROP) if relative else separated
    if supported.sum() < 2:
        return BoxFront(grid.glacier_id, None, math.nan, 0.0, int(supported.sum()))
    keep = np.arange(np.argmax(supported), inside.shape[0] - np.argmax(supported[::-1]))
    keep = keep[columns[keep]]
    xy = grid.to_pixels(cuts[keep].astype(float), keep + 0.5)
    line = LineString(xy).simplify(0.5)
    clipped = line.intersection(grid.polygon_px.buffer(0.5))
    if clipped.is_empty:
        return BoxFront(grid.glacier_id, None, math.nan, 0.0, 0)
    if clipped.geom_type == "MultiLineString":
        clipped = max(clipped.geoms, key=lambda g: g.length)
    elif clipped.geom_type != "LineString":
        parts = [g for g in getattr(clipped, "geoms", []) if g.geom_type == "LineString"]
        if not parts:
            return BoxFront(grid.glacier_id, None, math.nan, 0.0, 0)
        clipped = max(parts, key=lambda g: g.length)
    confidence = float(np.nanmean(agree[keep])) if np.isfinite(agree[keep]).any() else math.nan
    coverage = float(separated.sum() / columns.sum())
    return BoxFront(grid.glacier_id, clipped, confidence, coverage, int(keep.size))


def box_front_lines(
    boxes: list[Reference],
    margin: np.ndarray,
    valid: np.ndarray,
    transform: Affine,
    crs: Any,
    upstream: float | str | None,
    min_length_px: float,
) -> tuple[list[FrontLine], list[BoxFront]]:
    """One front line per box (none where no crossing is supported or it is under ``min_length_px``), in
    the grid's CRS, and what was found in each box."""
    geographic = crs is not None and crs.is_geographic
    unit_m = 1.0 if crs is None or geographic else crs.linear_units_factor[1]
    lines, found = [], []
    for box in boxes:
        result = find_box_front(box_grid(box, transform, crs, upstream), margin, valid)
        found.append(result)
        if result.line_px is None or result.line_px.length <= min_length_px:
            continue
        mapped = map_geometry(result.line_px, transform)
        lines.append(
            FrontLine(
                mapped,
                length_m(mapped, geographic, unit_m, crs=crs),
                result.confidence,
                result.n_columns,
                result.coverage,
            )
        )
    return lines, found

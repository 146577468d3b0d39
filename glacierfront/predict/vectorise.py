"""Front pixels -> calving-front LineStrings in map coordinates, with per-line attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import LineString, MultiLineString

from glacierfront.geodesy import ground_lengths_m, on_ellipsoid


@dataclass
class FrontLine:
    geometry: LineString  # in the scene CRS (or pixel coordinates without one)
    length_m: float  # ground metres when the scene CRS was given, else the estimate of `length_m` without it
    confidence: float  # mean model confidence of the front pixels the line was traced from
    n_pixels: int
    # Box rule only (fronts_box): the share of the box's width over which the model supports the crossing.
    coverage: float | None = None


# Pixel-edge of each glacier-neighbour code bit: (code bit, edge start corner, edge end corner), corners
# relative to the front pixel's top-left corner in (col, row).
_EDGE_OF_BIT = ((1, (1, 0), (1, 1)), (2, (0, 0), (0, 1)), (4, (0, 1), (1, 1)), (8, (0, 0), (1, 0)))


def _segments(rows: np.ndarray, cols: np.ndarray, codes: np.ndarray, pieces: np.ndarray):
    """Pixel-edge segments (K, 2, 2) in (col, row) corner coordinates between front and glacier pixels,
    and the front piece of each. The front line lies on these edges: between last glacier and first ocean."""
    segs, labs = [], []
    for bit, a, b in _EDGE_OF_BIT:
        on = (codes & bit) > 0
        r, c = rows[on], cols[on]
        start = np.stack([c + a[0], r + a[1]], axis=1)
        end = np.stack([c + b[0], r + b[1]], axis=1)
        segs.append(np.stack([start, end], axis=1))
        labs.append(pieces[on])
    return np.concatenate(segs).astype(float), np.concatenate(labs)


def length_m(line: LineString, geographic: bool, unit_m: float = 1.0, crs: CRS | None = None) -> float:
    """Line length in metres.

    With ``crs`` (the line's CRS, geographic or projected): ground metres, the length on the WGS84
    ellipsoid whatever the projection's scale (``glacierfront.geodesy``); ``geographic`` and ``unit_m`` are
    then not used. Without it, an estimate: map metres (map units x ``unit_m``) for projected coordinates,
    which in polar stereographic differ from the ground by up to a few per cent (x1.034 in EPSG:3413 at
    61 N); for degrees, an equirectangular sum per segment, within about 1 % at high latitudes.
    """
    if on_ellipsoid(crs):
        assert crs is not None
        return ground_lengths_m([line], crs)[0]
    if not geographic:
        return float(line.length * unit_m)
    xy = np.asarray(line.coords)
    lat = np.radians((xy[1:, 1] + xy[:-1, 1]) / 2)
    dx = np.diff(xy[:, 0]) * 111_320.0 * np.cos(lat)
    dy = np.diff(xy[:, 1]) * 110_540.0
    return float(np.hypot(dx, dy).sum())


def lines_from_pixels(
    rows: np.ndarray,
    cols: np.ndarray,
    codes: np.ndarray,
    pieces: np.ndarray,
    confidence: np.ndarray | None,
    transform: Affine = Affine.identity(),
    simplify_px: float = 0.5,
    geographic: bool = False,
    unit_m: float = 1.0,
    crs: CRS | None = None,
) -> list[FrontLine]:
    """Lines from sparse front pixels: edge segments merged per 8-connected piece, simplified in pixel
    units (the line stays within ``simplify_px`` of the pixel edges), then mapped through ``transform``.

    ``length_m`` is in ground metres when ``crs`` (the CRS ``transform`` maps into) is given, all lines
    carried onto the ellipsoid at once; without it, the map-metre or degree estimate of ``length_m``.
    """
    if rows.size == 0:
        return []
    piece_ids, piece_of = np.unique(pieces, return_inverse=True)
    n_pixels = np.bincount(piece_of)
    conf = (
        np.bincount(piece_of, weights=confidence) / n_pixels
        if confidence is not None
        else np.full(piece_ids.size, math.nan)
    )
    segs, seg_piece = _segments(rows, cols, codes, piece_of)
    order = np.argsort(seg_piece, kind="stable")
    segs, seg_piece = segs[order], seg_piece[order]
    bounds = np.searchsorted(seg_piece, np.arange(piece_ids.size + 1))
    out: list[FrontLine] = []
    ground = on_ellipsoid(crs)
    for k in range(piece_ids.size):
        piece = segs[bounds[k] : bounds[k + 1]]
        if len(piece) == 0:
            continue
        merged = shapely.line_merge(MultiLineString(list(piece)))
        for part in getattr(merged, "geoms", [merged]):
            part = smooth_and_simplify(part, simplify_px)
            mapped = map_geometry(part, transform)
            line_length = math.nan if ground else length_m(mapped, geographic, unit_m)
            out.append(FrontLine(mapped, line_length, float(conf[k]), int(n_pixels[k])))
    if ground and out:
        assert crs is not None
        for line, ground_m in zip(out, ground_lengths_m([line.geometry for line in out], crs)):
            line.length_m = ground_m
    return out


# Cutting the corners of a pixel-edge path through its edge midpoints moves it by at most this much.
_MIDPOINT_SHIFT_PX = math.sqrt(2) / 4


def smooth_and_simplify(line: LineString, max_shift_px: float) -> LineString:
    """Light smoothing, then Douglas-Peucker, keeping the result within ``max_shift_px`` of ``line``.

    Pixel-edge lines are staircases; joining the midpoints of their edges removes the stairs (a diagonal
    front becomes straight) and moves the line by at most sqrt(2)/4 px. What is left of the allowance goes
    to the simplification. Below that allowance only simplification is done.
    """
    if max_shift_px <= 0:
        return line
    if max_shift_px < _MIDPOINT_SHIFT_PX or len(line.coords) < 3:
        return line.simplify(max_shift_px, preserve_topology=False)
    xy = np.asarray(line.coords)
    mids = (xy[1:] + xy[:-1]) / 2
    if line.is_ring:
        smooth = np.vstack([mids, mids[:1]])
    else:
        smooth = np.vstack([xy[:1], mids, xy[-1:]])
    return LineString(smooth).simplify(max_shift_px - _MIDPOINT_SHIFT_PX, preserve_topology=False)


def map_geometry(geometry: Any, transform: Affine) -> Any:
    """A shapely geometry with every vertex mapped through an affine ``transform`` (e.g. pixel (col, row) to
    map coordinates, or back with ``~transform``)."""
    return shapely.transform(geometry, lambda xy: _apply(transform, xy))


def _apply(transform: Affine, xy: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    x, y = xy[:, 0], xy[:, 1]
    return np.stack([a * x + b * y + c, d * x + e * y + f], axis=1)

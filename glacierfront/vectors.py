"""Front pixels -> calving-front LineStrings in map coordinates, with per-line attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import LineString, MultiLineString

GLACIER = 2


@dataclass
class FrontLine:
    geometry: LineString  # in the scene CRS (or pixel coordinates without one)
    length_m: float
    confidence: float  # mean model confidence of the front pixels the line was traced from
    n_pixels: int


def _edges(front: np.ndarray, zones: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-edge segments between each front (ocean) pixel and its 4-neighbour glacier pixels.

    Returns segments (K, 2, 2) in pixel-corner coordinates (col, row) and the front piece label of each.
    The front line lies on these shared edges: exactly between the last glacier and the first ocean pixel.
    """
    glacier = zones == GLACIER
    segs, labs = [], []
    h, w = front.shape
    # (neighbour offset, edge start corner, edge end corner) relative to the front pixel's top-left corner.
    for (dr, dc), a, b in (
        ((0, 1), (1, 0), (1, 1)),
        ((0, -1), (0, 0), (0, 1)),
        ((1, 0), (0, 1), (1, 1)),
        ((-1, 0), (0, 0), (1, 0)),
    ):
        shifted = np.zeros_like(glacier)
        src = glacier[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)]
        shifted[max(-dr, 0) : h + min(-dr, 0), max(-dc, 0) : w + min(-dc, 0)] = src
        rows, cols = np.nonzero(front & shifted)
        if rows.size == 0:
            continue
        start = np.stack([cols + a[0], rows + a[1]], axis=1)
        end = np.stack([cols + b[0], rows + b[1]], axis=1)
        segs.append(np.stack([start, end], axis=1))
        labs.append(labels[rows, cols])
    if not segs:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=int)
    return np.concatenate(segs).astype(float), np.concatenate(labs)


def length_m(line: LineString, geographic: bool, unit_m: float = 1.0) -> float:
    """Line length in metres; for degrees, an equirectangular sum per segment (ample for fronts of km)."""
    if not geographic:
        return float(line.length * unit_m)
    xy = np.asarray(line.coords)
    lat = np.radians((xy[1:, 1] + xy[:-1, 1]) / 2)
    dx = np.diff(xy[:, 0]) * 111_320.0 * np.cos(lat)
    dy = np.diff(xy[:, 1]) * 110_540.0
    return float(np.hypot(dx, dy).sum())


def front_lines(
    front: np.ndarray,
    zones: np.ndarray,
    transform: Affine = Affine.identity(),
    confidence: np.ndarray | None = None,
    simplify_px: float = 0.5,
    geographic: bool = False,
    unit_m: float = 1.0,
) -> list[FrontLine]:
    """Trace the glacier-ocean edges of ``front`` pixels into continuous lines.

    Edge segments are merged per 8-connected front piece, simplified in pixel units (the line stays within
    ``simplify_px`` of the pixel edges) and then mapped through ``transform`` into map coordinates.
    """
    labels, count = ndimage.label(front, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    segs, seg_labels = _edges(front, zones, labels)
    pixels = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    conf = (
        ndimage.mean(confidence, labels, index=np.arange(1, count + 1))
        if confidence is not None
        else np.full(count, math.nan)
    )
    order = np.argsort(seg_labels, kind="stable")
    segs, seg_labels = segs[order], seg_labels[order]
    bounds = np.searchsorted(seg_labels, np.arange(1, count + 2))
    out: list[FrontLine] = []
    for lab in range(1, count + 1):
        piece = segs[bounds[lab - 1] : bounds[lab]]
        if len(piece) == 0:
            continue
        merged = shapely.line_merge(MultiLineString(list(piece)))
        parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
        for part in parts:
            if simplify_px > 0:
                part = part.simplify(simplify_px, preserve_topology=False)
            mapped = shapely.transform(part, lambda xy: _apply(transform, xy))
            out.append(
                FrontLine(
                    mapped,
                    length_m(mapped, geographic, unit_m),
                    float(conf[lab - 1]),
                    int(pixels[lab - 1]),
                )
            )
    return out


def _apply(transform: Affine, xy: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    x, y = xy[:, 0], xy[:, 1]
    return np.stack([a * x + b * y + c, d * x + e * y + f], axis=1)

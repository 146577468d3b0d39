"""Plain reference forms of library pieces, kept for the tests only: glacierfront itself never calls them.

tile_grid    the tile grid flattened (the library walks it tile-row by tile-row: ``tiling.tile_rows``)
stitch       ``tiling.BandStitcher`` fed one tile at a time, a callback per finished band
front_lines  ``vectorise.lines_from_pixels`` from dense in-memory front and zone arrays
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from glacierfront.predict.fronts import front_codes
from glacierfront.predict.tiling import BandStitcher, tile_rows
from glacierfront.predict.vectorise import FrontLine, lines_from_pixels


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Top-left corners (row0, col0) of tile x tile tiles with stride tile - overlap, in row-major order."""
    return [(row0, col0) for row0, cols in tile_rows(height, width, tile, overlap) for col0 in cols]


def stitch(
    height: int,
    width: int,
    tile: int,
    overlap: int,
    tiles: Iterable[tuple[int, int, np.ndarray]],
    num_classes: int,
    on_band: Callable[[int, np.ndarray], None],
    weights: np.ndarray | None = None,
) -> None:
    """Stitch (row0, col0, values) tiles given tile-row by tile-row; call on_band(row0, probs) per band."""
    stitcher = BandStitcher(height, width, tile, overlap, num_classes, weights)
    for row0, col0, values in tiles:
        for band in stitcher.add(row0, col0, values):
            on_band(band.row0, band.probs)
    stitcher.close()


def front_lines(
    front: np.ndarray,
    zones: np.ndarray,
    transform: Affine = Affine.identity(),
    confidence: np.ndarray | None = None,
    simplify_px: float = 0.5,
    geographic: bool = False,
    unit_m: float = 1.0,
    crs: CRS | None = None,
) -> list[FrontLine]:
    """Trace the glacier-ocean edges of ``front`` pixels (in-memory arrays) into continuous lines; lengths
    as in ``lines_from_pixels``."""
    labels, _ = ndimage.label(front, structure=np.ones((3, 3), dtype=bool))
    rows, cols = np.nonzero(front)
    codes = front_codes(front, zones)[rows, cols]
    conf = None if confidence is None else np.asarray(confidence)[rows, cols]
    return lines_from_pixels(
        rows, cols, codes, labels[rows, cols], conf, transform, simplify_px, geographic, unit_m, crs
    )

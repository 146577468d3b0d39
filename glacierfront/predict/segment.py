"""Tiles -> model -> stitched zones: run a backend over a whole grid in overlapping tiles, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.scratch import release
from glacierfront.model.backend import Backend
from glacierfront.predict.tiling import BandStitcher, tile_rows
from glacierfront.zones import GLACIER, NA, OCEAN

MIN_SCENE_PX = 32

ReadWindow = Callable[[int, int, int, int], tuple[np.ndarray, np.ndarray]]


def segment(
    read_window: ReadWindow,
    height: int,
    width: int,
    backend: Backend,
    tile: int,
    overlap: int,
    batch_size: int,
    zones: np.ndarray,
    confidence: np.ndarray,
    valid: np.ndarray,
    on_tiles: Callable[[int], None] | None = None,
    margin: np.ndarray | None = None,
) -> int:
    """Fill ``zones`` (class ids), ``confidence`` (max probability x 255) and ``valid`` for a whole grid,
    and ``margin`` when given (int8: (P(glacier) - P(ocean) - P(NA)) x 127, what a glacier box's front is cut
    on: on valid pixels "no data" is the model's word for the darkest surfaces, calm open water).

    The outputs may be memory maps: the stitcher hands back finished row bands, so nothing but one tile-row
    of probabilities is ever held in memory. Returns the number of tiles run.
    """
    num_classes = backend.config.num_classes
    stitcher = BandStitcher(height, width, tile, overlap, num_classes)
    # Tiles with no valid pixel skip the model: they are certainly NA.
    na_tile = np.zeros((num_classes, tile, tile), dtype=np.float32)
    na_tile[NA] = 1.0
    count = 0
    for row0, cols in tile_rows(height, width, tile, overlap):
        for start in range(0, len(cols), batch_size):
            batch = cols[start : start + batch_size]
            reads = [read_window(row0, col0, tile, tile) for col0 in batch]
            for col0, (_, ok) in zip(batch, reads):
                rows, cols_ = min(tile, height - row0), min(tile, width - col0)
                valid[row0 : row0 + rows, col0 : col0 + cols_] = ok[:rows, :cols_]
            probs = np.broadcast_to(na_tile, (len(batch), *na_tile.shape)).copy()
            has_data = np.array([ok.any() for _, ok in reads])
            if has_data.any():
                images = np.stack([img for (img, _), keep in zip(reads, has_data) if keep])
                probs[has_data] = backend.predict(images)
            for band in stitcher.add_batch([(row0, c) for c in batch], probs):
                # A few rows at a time: argmax/max temporaries of a whole band are several times its size.
                for r in range(0, band.probs.shape[1], 32):
                    block = band.probs[:, r : r + 32]
                    out = slice(band.row0 + r, band.row0 + r + block.shape[1])
                    zones[out] = block.argmax(axis=0)
                    confidence[out] = np.rint(block.max(axis=0) * 255)
                    if margin is not None:
                        margin[out] = np.rint((block[GLACIER] - block[OCEAN] - block[NA]) * 127)
                release(zones, confidence, valid, *(() if margin is None else (margin,)))
            count += len(batch)
            if on_tiles:
                on_tiles(len(batch))
    stitcher.close()
    return count


def tiling_for(
    backend: Backend, tile: int | None, overlap: int | None, height: int, width: int
) -> tuple[int, int]:
    """Tile and overlap in pixels: the options, else the model's recommended tile and an eighth of it.

    The tile is a maximum: it shrinks (in steps of 32, the model's stride) to the smallest size that
    covers the scene with the same number of tiles, so no model time goes into tiles that mostly overlap
    their neighbours or hang past the edge.
    """
    if min(height, width) < MIN_SCENE_PX:
        raise GlacierfrontError(
            f"scene is {width} x {height} px on the grid it is processed at: too small to hold a calving front "
            f"(need {MIN_SCENE_PX} px a side)"
        )
    tile = backend.tile_size if tile is None else tile
    if tile < 32 or tile % 32:
        raise GlacierfrontError(f"--tile {tile}: must be a multiple of 32 and at least 32")
    overlap = tile // 8 if overlap is None else overlap
    if not 0 <= overlap < tile:
        raise GlacierfrontError(f"--overlap {overlap}: must be at least 0 and smaller than the tile ({tile})")
    fitted = 32
    for size in (height, width):
        count = max(1, -(-(size - overlap) // (tile - overlap)))
        fitted = max(fitted, -(-(size + (count - 1) * overlap) // count))
    fitted = min(tile, -(-fitted // 32) * 32)
    return fitted, min(overlap, fitted // 2)


def default_batch(tile: int) -> int:
    """About one megapixel per model call: large enough to keep the cores busy, small enough for RAM."""
    return max(1, (1 << 20) // (tile * tile))


def segment_array(
    image: np.ndarray,
    backend: Backend,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Zones and confidence (0..1) for an in-memory (H, W) image already scaled to [0, 1] (e.g. a CaFFe PNG / 255).

    Same tiling and stitching as for scenes; ``valid`` (default: all) marks pixels with data.
    """
    height, width = image.shape
    tile, overlap = tiling_for(backend, tile, overlap, height, width)
    ok_all = np.ones((height, width), bool) if valid is None else np.asarray(valid, bool)

    def read(row0: int, col0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((1, h, w), np.float32)
        ok = np.zeros((h, w), bool)
        part = image[row0 : row0 + h, col0 : col0 + w]
        out[0, : part.shape[0], : part.shape[1]] = part
        ok[: part.shape[0], : part.shape[1]] = ok_all[row0 : row0 + h, col0 : col0 + w]
        out[0][~ok] = 0.0
        return out, ok

    zones = np.zeros((height, width), np.uint8)
    conf = np.zeros((height, width), np.uint8)
    seen = np.zeros((height, width), bool)
    segment(read, height, width, backend, tile, overlap, batch_size or default_batch(tile), zones, conf, seen)
    return zones, conf.astype(np.float32) / 255.0

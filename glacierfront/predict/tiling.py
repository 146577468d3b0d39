"""Cut a scene into overlapping tiles and stitch per-tile predictions back seamlessly in bounded memory.

The predict loop this serves::

    stitcher = BandStitcher(height, width, tile, overlap, num_classes)
    for row0, cols in tile_rows(height, width, tile, overlap):
        for batch in batches of cols:            # any batch size, any order within the tile-row
            probs = model(read tiles (row0, col0) for col0 in batch)
            for band in stitcher.add_batch([(row0, c) for c in batch], probs):
                write(band.row0, band.probs)     # rows no later tile touches, final
    stitcher.close()                             # raises if a tile is missing

Tiles of one tile-row must all arrive before any tile of the next; that is what keeps the buffers at
one tile-row (num_classes x tile x width floats) however tall the scene is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

WEIGHT_FLOOR = 1e-3


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]  # one tile that runs past the edge; the reader pads it
    # The last tile sits flush with the edge instead of overhanging, so no pixel is predicted from padding.
    return [*range(0, size - tile, stride), size - tile]


def _check(tile: int, overlap: int) -> None:
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")


def tile_rows(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, list[int]]]:
    """The tile grid grouped by tile-row: [(row0, [col0, ...]), ...], top to bottom, left to right."""
    _check(tile, overlap)
    cols = _starts(width, tile, tile - overlap)
    return [(row0, list(cols)) for row0 in _starts(height, tile, tile - overlap)]


def gaussian_weights(tile: int, sigma: float | None = None, floor: float = WEIGHT_FLOOR) -> np.ndarray:
    """A (tile, tile) float32 Gaussian centred on the tile, peak 1, never below ``floor``.

    Down-weighting tile borders hides the context-starved edge predictions of a CNN where tiles overlap;
    the floor keeps a weight on scene-edge pixels that only one tile's border covers.
    """
    sigma = tile / 8 if sigma is None else sigma
    offsets = np.arange(tile) - (tile - 1) / 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    weights = np.outer(g, g)
    weights /= weights.max()  # even tiles have no centre pixel; make the peak exactly 1 anyway
    return np.maximum(weights, floor).astype(np.float32)


class Band(NamedTuple):
    """Finished rows row0..row0+len: class values (num_classes, rows, width), weighted mean of tiles."""

    row0: int
    probs: np.ndarray


class BandStitcher:
    """Accumulate weighted per-tile class values tile-row by tile-row; hand back rows as they finish.

    Values may be probabilities or logits; the stitcher only takes their weighted mean per pixel, in
    float32. Tiles overhanging the scene (scenes smaller than a tile) are cropped.
    """

    def __init__(
        self,
        height: int,
        width: int,
        tile: int,
        overlap: int,
        num_classes: int,
        weights: np.ndarray | None = None,
    ) -> None:
        self.height, self.width, self.tile, self.num_classes = height, width, tile, num_classes
        self._rows = tile_rows(height, width, tile, overlap)
        self._cols = set(self._rows[0][1])
        self.weights = gaussian_weights(tile) if weights is None else np.asarray(weights, dtype=np.float32)
        if self.weights.shape != (tile, tile) or not (self.weights > 0).all():
            raise ValueError(f"weights must be a positive ({tile}, {tile}) array, got {self.weights.shape}")
        # The buffers always start at the current tile-row's first row and hold one tile of rows.
        buffer_rows = min(tile, height)
        self._sum = np.zeros((num_classes, buffer_rows, width), dtype=np.float32)
        self._weight_sum = np.zeros((buffer_rows, width), dtype=np.float32)
        self._index = 0  # current tile-row
        self._seen: set[int] = set()

    @property
    def buffer_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of the accumulation buffers (for checking the memory bound)."""
        return self._sum.shape, self._weight_sum.shape

    @property
    def done(self) -> bool:
        return self._index == len(self._rows)

    def add(self, row0: int, col0: int, values: np.ndarray) -> list[Band]:
        """Add one tile's (num_classes, tile, tile) values; return the bands this tile finished."""
        if self.done:
            raise ValueError(f"tile ({row0}, {col0}) arrived after the last tile-row was finished")
        current = self._rows[self._index][0]
        if row0 != current:
            raise ValueError(
                f"tile ({row0}, {col0}) is not in the current tile-row {current}: "
                f"finish tile-rows in order (missing cols {sorted(self._cols - self._seen)})"
            )
        if col0 not in self._cols or col0 in self._seen:
            raise ValueError(f"tile ({row0}, {col0}) is not on the tile grid or was added twice")
        if values.shape != (self.num_classes, self.tile, self.tile):
            raise ValueError(
                f"tile values must be {(self.num_classes, self.tile, self.tile)}, got {values.shape}"
            )
        rows, cols = min(self.tile, self.height - row0), min(self.tile, self.width - col0)
        w = self.weights[:rows, :cols]
        self._sum[:, :rows, col0 : col0 + cols] += values[:, :rows, :cols] * w
        self._weight_sum[:rows, col0 : col0 + cols] += w
        self._seen.add(col0)
        if len(self._seen) < len(self._cols):
            return []
        return [self._emit()]

    def add_batch(self, positions: Sequence[tuple[int, int]], values: np.ndarray) -> list[Band]:
        """Add a batch: positions [(row0, col0), ...] and values (N, num_classes, tile, tile)."""
        if len(positions) != len(values):
            raise ValueError(f"{len(positions)} positions but {len(values)} tiles of values")
        bands: list[Band] = []
        for (row0, col0), tile_values in zip(positions, values, strict=True):
            bands.extend(self.add(row0, col0, tile_values))
        return bands

    def _emit(self) -> Band:
        """The current tile-row is complete: hand back rows up to the next tile-row and shift the buffers."""
        row0 = self._rows[self._index][0]
        self._index += 1
        end = self._rows[self._index][0] if not self.done else self.height
        n = end - row0
        band = Band(row0, self._sum[:, :n] / self._weight_sum[:n])
        # Rows the next tile-row overlaps keep their partial sums; numpy copies overlapping slices safely.
        self._sum[:, : self._sum.shape[1] - n] = self._sum[:, n:]
        self._sum[:, self._sum.shape[1] - n :] = 0
        self._weight_sum[: self._weight_sum.shape[0] - n] = self._weight_sum[n:]
        self._weight_sum[self._weight_sum.shape[0] - n :] = 0
        self._seen = set()
        return band

    def close(self) -> None:
        """Check every tile arrived; a missing one would silently leave rows unwritten."""
        if not self.done:
            row0, cols = self._rows[self._index]
            missing = sorted(set(cols) - self._seen)
            raise ValueError(f"stitching incomplete: tile-row {row0} is missing cols {missing}")

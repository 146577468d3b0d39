"""Tests for tile grids, Gaussian weights and the bounded-memory band stitcher."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import rasterio
from affine import Affine
from reference import stitch, tile_grid

from glacierfront.io.raster import open_scene
from glacierfront.predict.tiling import BandStitcher, gaussian_weights, tile_rows

NUM_CLASSES = 4


def pixel_model(x: np.ndarray) -> np.ndarray:
    """A deterministic per-pixel 'model': softmax of [x, 1-x, x^2, 0.5]; (..., h, w) -> (..., 4, h, w)."""
    logits = np.stack([x, 1 - x, x**2, np.full_like(x, 0.5)], axis=-3)
    e = np.exp(logits - logits.max(axis=-3, keepdims=True))
    return (e / e.sum(axis=-3, keepdims=True)).astype(np.float32)


def padded_tile(scene: np.ndarray, row0: int, col0: int, tile: int) -> np.ndarray:
    out = np.zeros((tile, tile), dtype=scene.dtype)
    part = scene[row0 : row0 + tile, col0 : col0 + tile]
    out[: part.shape[0], : part.shape[1]] = part
    return out


def stitch_tiled(scene: np.ndarray, tile: int, overlap: int, seed: int = 0, batch: int = 3) -> np.ndarray:
    """Run pixel_model tile by tile, batches in shuffled order within each tile-row, and stitch."""
    height, width = scene.shape
    rng = np.random.default_rng(seed)
    out = np.full((NUM_CLASSES, height, width), np.nan, dtype=np.float32)
    written = np.zeros((height, width), dtype=int)
    stitcher = BandStitcher(height, width, tile, overlap, NUM_CLASSES)
    for row0, cols in tile_rows(height, width, tile, overlap):
        cols = list(rng.permutation(cols))
        for i in range(0, len(cols), batch):
            positions = [(row0, int(c)) for c in cols[i : i + batch]]
            x = np.stack([padded_tile(scene, r, c, tile) for r, c in positions])
            for band in stitcher.add_batch(positions, pixel_model(x)):
                rows = band.probs.shape[1]
                out[:, band.row0 : band.row0 + rows] = band.probs
                written[band.row0 : band.row0 + rows] += 1
    stitcher.close()
    assert (written == 1).all(), "every row must be emitted exactly once"
    return out


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [
        (100, 130, 32, 8),  # sizes not a multiple of the stride
        (97, 61, 40, 15),
        (70, 33, 16, 0),  # no overlap
        (129, 90, 48, 40),  # heavy overlap: up to 36 tiles per pixel
        (64, 64, 64, 16),  # exactly one tile
        (20, 25, 64, 16),  # scene smaller than one tile
        (5, 300, 32, 8),  # a single short tile-row
    ],
)
def test_tiled_prediction_equals_untiled(height: int, width: int, tile: int, overlap: int) -> None:
    scene = np.random.default_rng(height * width).random((height, width)).astype(np.float32)
    stitched = stitch_tiled(scene, tile, overlap)
    np.testing.assert_allclose(stitched, pixel_model(scene), atol=1e-5, rtol=0)


def test_stitching_averages_disagreeing_tiles_by_weight() -> None:
    # Two tiles overlapping by 2 columns, one predicting 0 and one 1: the overlap gets their weighted mean.
    weights = np.ones((4, 4), dtype=np.float32)
    weights[:, 2:] = 3.0  # the left tile trusts its right half three times more
    bands: list[tuple[int, np.ndarray]] = []
    tiles = [(0, 0, np.zeros((1, 4, 4), np.float32)), (0, 2, np.ones((1, 4, 4), np.float32))]
    stitch(4, 6, 4, 2, tiles, 1, lambda row0, probs: bands.append((row0, probs)), weights=weights)
    (row0, probs), *rest = bands
    assert row0 == 0 and not rest
    # cols 2, 3: left tile weight 3 (value 0), right tile weight 1 (value 1) -> 0.25
    np.testing.assert_allclose(probs[0, 0], [0, 0, 0.25, 0.25, 1, 1])


def test_stitcher_memory_is_one_tile_row_for_a_tall_scene() -> None:
    height, width, tile, overlap = 6000, 96, 64, 16
    bound_floats = tile * width * NUM_CLASSES
    scene_bytes = NUM_CLASSES * height * width * 4
    largest_band = 0

    def on_band(row0: int, probs: np.ndarray) -> None:
        nonlocal largest_band
        largest_band = max(largest_band, probs.size)

    # Tile values are made before tracing starts so the trace measures the stitcher, not the "model".
    rows, cols = np.mgrid[0:tile, 0:tile]
    fake_probs = pixel_model(np.sin(rows * 0.1 + cols * 0.2).astype(np.float32))
    tiles = ((row0, col0, fake_probs) for row0, col0 in tile_grid(height, width, tile, overlap))

    tracemalloc.start()
    try:
        stitcher = BandStitcher(height, width, tile, overlap, NUM_CLASSES)
        assert all(np.prod(shape) <= bound_floats for shape in stitcher.buffer_shapes)
        del stitcher
        stitch(height, width, tile, overlap, tiles, NUM_CLASSES, on_band)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0 < largest_band <= bound_floats
    # Holding the scene would take ~9 MB; a tile-row of buffers plus a few tiles stays far below.
    assert peak_bytes < 4 * bound_floats * 4 < scene_bytes / 20


def test_tile_from_next_tile_row_before_current_is_complete_is_refused() -> None:
    stitcher = BandStitcher(100, 100, 40, 10, 1)
    stitcher.add(0, 0, np.zeros((1, 40, 40), np.float32))
    with pytest.raises(ValueError, match="missing cols"):
        stitcher.add(30, 0, np.zeros((1, 40, 40), np.float32))


def test_duplicate_or_off_grid_tile_is_refused() -> None:
    stitcher = BandStitcher(100, 100, 40, 10, 1)
    stitcher.add(0, 0, np.zeros((1, 40, 40), np.float32))
    with pytest.raises(ValueError, match="added twice"):
        stitcher.add(0, 0, np.zeros((1, 40, 40), np.float32))
    with pytest.raises(ValueError, match="not on the tile grid"):
        stitcher.add(0, 5, np.zeros((1, 40, 40), np.float32))


def test_close_reports_missing_tiles() -> None:
    stitcher = BandStitcher(100, 100, 40, 10, 1)
    stitcher.add(0, 0, np.zeros((1, 40, 40), np.float32))
    with pytest.raises(ValueError, match=r"tile-row 0 is missing cols \[30, 60\]"):
        stitcher.close()


def test_tile_grid_last_tile_is_flush_with_the_edge() -> None:
    grid = tile_grid(100, 70, 32, 8)
    rows = sorted({r for r, _ in grid})
    cols = sorted({c for _, c in grid})
    assert rows == [0, 24, 48, 68]
    assert cols == [0, 24, 38]
    assert grid == [(r, c) for r in rows for c in cols]  # row-major


def test_tile_grid_covers_every_pixel() -> None:
    height, width, tile = 77, 123, 20
    covered = np.zeros((height, width), dtype=int)
    for row0, col0 in tile_grid(height, width, tile, 7):
        covered[row0 : row0 + tile, col0 : col0 + tile] += 1
    assert covered.min() >= 1


def test_scene_smaller_than_a_tile_gets_one_tile() -> None:
    assert tile_grid(10, 300, 64, 16)[:2] == [(0, 0), (0, 48)]
    assert tile_grid(10, 12, 64, 16) == [(0, 0)]


@pytest.mark.parametrize(("tile", "overlap"), [(32, 32), (32, -1), (0, 0)])
def test_tile_grid_rejects_bad_overlap(tile: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        tile_grid(100, 100, tile, overlap)


@pytest.mark.parametrize("tile", [31, 32])
def test_gaussian_weights_peak_one_floor_positive_symmetric(tile: int) -> None:
    w = gaussian_weights(tile)
    assert w.shape == (tile, tile) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0)
    assert w.min() > 0 and w[0, 0] == pytest.approx(1e-3)  # sigma tile/8 puts corners under the floor
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    np.testing.assert_array_equal(w, w.T)
    assert w[tile // 2, tile // 2] > w[tile // 2, 0]


def test_scene_tiles_read_at_edges_stitch_to_the_whole_read(tmp_path) -> None:
    height, width, tile, overlap = 53, 75, 32, 12
    data = np.random.default_rng(1).integers(0, 256, (height, width), dtype=np.uint8)
    path = tmp_path / "scene.tif"
    profile = dict(driver="GTiff", height=height, width=width, count=1, dtype="uint8", crs="EPSG:3031")
    with rasterio.open(path, "w", transform=Affine(10, 0, 0, 0, -10, 0), **profile) as dst:
        dst.write(data, 1)
    bands = {}
    with open_scene(path) as scene:
        whole, _ = scene.read_window(0, 0, height, width)
        tiles = (
            (r, c, pixel_model(scene.read_window(r, c, tile, tile)[0][0]))
            for r, c in tile_grid(height, width, tile, overlap)
        )
        stitch(height, width, tile, overlap, tiles, NUM_CLASSES, bands.__setitem__)
    stitched = np.concatenate([bands[k] for k in sorted(bands)], axis=1)
    np.testing.assert_allclose(stitched, pixel_model(whole[0]), atol=1e-5, rtol=0)


# --- blending that a per-pixel model cannot see: the output depends on the position within the tile ------


def tile_position_probs(tile: int) -> np.ndarray:
    """(4, tile, tile) probabilities that depend only on where a pixel sits in its tile, never on the image.

    Class 1 always wins (0.5..0.9), so a stitched pixel's top class is 1 and its top probability is the blend
    of the tiles' class-1 values: that blend is what the tests check. The value rises across the tile and
    alternates from pixel to pixel, so tiles shifted by any number of pixels disagree where they overlap.
    """
    ramp = np.arange(tile, dtype=np.float64) / (tile - 1)
    rows, cols = np.indices((tile, tile))
    p1 = 0.5 + 0.05 * (ramp[None, :] + ramp[:, None]) + 0.15 * (rows % 2 + cols % 2)
    rest = (1 - p1) / 3
    return np.stack([rest, p1, rest, rest]).astype(np.float32)


def expected_blend(
    height: int, width: int, tile: int, row_starts: list[int], col_starts: list[int], gaussian: bool
) -> np.ndarray:
    """Class-1 value of the stitched scene, accumulated here by hand: Gaussian (sigma tile/8, peak 1, floor
    1e-3, written out again rather than taken from glacierfront) or uniform tile weights."""
    offsets = np.arange(tile) - (tile - 1) / 2
    g = np.exp(-(offsets**2) / (2 * (tile / 8) ** 2))
    weights = np.maximum(np.outer(g, g) / g.max() ** 2, 1e-3) if gaussian else np.ones((tile, tile))
    values = tile_position_probs(tile)[1].astype(np.float64)
    total, norm = np.zeros((height, width)), np.zeros((height, width))
    for row0 in row_starts:
        for col0 in col_starts:
            rows, cols = min(tile, height - row0), min(tile, width - col0)
            total[row0 : row0 + rows, col0 : col0 + cols] += (weights * values)[:rows, :cols]
            norm[row0 : row0 + rows, col0 : col0 + cols] += weights[:rows, :cols]
    return total / norm


def tile_position_backend(tile: int):
    """A fake Backend whose probabilities are ``tile_position_probs`` for every tile it is given."""
    from pathlib import Path

    from glacierfront.model.backend import Backend
    from glacierfront.model.config import CISNetConfig

    def run(x: np.ndarray) -> np.ndarray:
        assert x.shape[-2:] == (tile, tile)
        return np.log(np.broadcast_to(tile_position_probs(tile), (x.shape[0], 4, tile, tile))).copy()

    meta = {"normalization": {"mean": 0.0, "std": 1.0}, "tile_size": tile}
    return Backend("fake", Path("tile_position.onnx"), CISNetConfig(), meta, "cpu", run)


# (height, width, row starts, col starts) for tile 64, overlap 16 (stride 48, the last tile flush with the
# edge); 65 x 65 is one pixel more than a tile each way: its second tiles start at 1 and overlap by 63 px.
BLEND_CASES = [(112, 160, [0, 48], [0, 48, 96]), (65, 65, [0, 1], [0, 1])]


@pytest.mark.parametrize(("height", "width", "row_starts", "col_starts"), BLEND_CASES)
def test_stitcher_blends_overlapping_tiles_with_gaussian_weights(
    height, width, row_starts, col_starts
) -> None:
    tile, overlap = 64, 16
    assert tile_rows(height, width, tile, overlap) == [(r, col_starts) for r in row_starts]
    out = np.full((NUM_CLASSES, height, width), np.nan, np.float32)
    values = tile_position_probs(tile)

    def on_band(row0: int, probs: np.ndarray) -> None:
        out[:, row0 : row0 + probs.shape[1]] = probs

    tiles = ((r, c, values) for r, c in tile_grid(height, width, tile, overlap))
    stitch(height, width, tile, overlap, tiles, NUM_CLASSES, on_band)
    gaussian = expected_blend(height, width, tile, row_starts, col_starts, gaussian=True)
    uniform = expected_blend(height, width, tile, row_starts, col_starts, gaussian=False)
    assert np.abs(gaussian - uniform).max() > 0.02  # the two blends really differ on this layout
    np.testing.assert_allclose(out[1], gaussian, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("height", "width", "row_starts", "col_starts"), BLEND_CASES)
def test_segment_blends_overlapping_tiles_with_gaussian_weights(
    height, width, row_starts, col_starts
) -> None:
    from glacierfront.predict.segment import segment_array

    image = np.random.default_rng(5).random((height, width)).astype(np.float32)
    zones, confidence = segment_array(image, tile_position_backend(64), tile=64, overlap=16, batch_size=2)
    gaussian = expected_blend(height, width, 64, row_starts, col_starts, gaussian=True)
    uniform = expected_blend(height, width, 64, row_starts, col_starts, gaussian=False)
    assert (zones == 1).all()
    # Confidence is stored as round(255 p): within half a step of the Gaussian blend, and far from the uniform
    # blend where tiles overlap.
    np.testing.assert_allclose(confidence, gaussian, atol=0.5 / 255 + 1e-6, rtol=0)
    assert np.abs(confidence - uniform).max() > 4 / 255


def test_scene_one_pixel_wider_and_taller_than_the_tile_is_segmented(tmp_path) -> None:
    from fakes import glacier_scene, threshold_model

    from glacierfront.model.backend import load_backend
    from glacierfront.predict.fronts import GLACIER, OCEAN, ROCK
    from glacierfront.predict.segment import segment, segment_array, tiling_for

    tile = 64
    size = tile + 1
    path = glacier_scene(tmp_path / "scene.tif", height=size, width=size, front_col=40, rock_rows=10)
    backend = load_backend(threshold_model(tmp_path / "threshold.onnx", tile_size=tile))
    assert tiling_for(backend, None, None, size, size) == (tile, tile // 8)
    expected = np.full((size, size), OCEAN, np.uint8)
    expected[:, :40] = GLACIER
    expected[:10] = ROCK
    zones = np.zeros((size, size), np.uint8)
    confidence = np.zeros((size, size), np.uint8)
    valid = np.zeros((size, size), bool)
    with open_scene(path) as scene:
        assert (scene.height, scene.width) == (size, size)
        count = segment(scene.read_window, size, size, backend, tile, tile // 8, 3, zones, confidence, valid)
        image = scene.read_window(0, 0, size, size)[0][0]
    assert count == 4  # tiles at rows and cols 0 and 1
    assert valid.all()
    np.testing.assert_array_equal(zones, expected)
    array_zones, _ = segment_array(image, backend)
    np.testing.assert_array_equal(array_zones, expected)

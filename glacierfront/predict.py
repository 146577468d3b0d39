"""A scene in, calving-front lines out: tile, run the model, stitch, post-process (CaFFe), vectorise."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from glacierfront.errors import GlacierfrontError
from glacierfront.fronts import MIN_FRONT_LENGTH_M, NA
from glacierfront.fronts_banded import extract_front_banded
from glacierfront.inference import Backend
from glacierfront.io.acquisition import acquisition
from glacierfront.io.raster import Scene, open_scene
from glacierfront.io.scratch import release, scratch_array
from glacierfront.tiling import BandStitcher, tile_rows
from glacierfront.vectors import FrontLine, lines_from_pixels

# Without georeferencing, lengths are in pixels: CaFFe's pixel-grid rule of 2 px stands in for 750 m.
PIXEL_MIN_LENGTH_PX = 2.0
MIN_SCENE_PX = 32
GDAL_CACHE_MB = 64

ReadWindow = Callable[[int, int, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class PredictOptions:
    """How to read, tile and post-process a scene. None means: take it from the model's metadata."""

    tile: int | None = None
    overlap: int | None = None  # default: an eighth of the tile
    batch_size: int | None = None  # default: about 1 Mpx per model call
    band: int | None = None
    bands: tuple[int, ...] | None = None
    scaling: str = "auto"
    allow_pixel_coords: bool = False
    resolution_m: float | None = None  # resample to this spacing; default: the model's training spacing
    min_length_m: float = MIN_FRONT_LENGTH_M
    aoi: Path | None = None
    simplify_px: float = 0.5


@dataclass
class SceneResult:
    scene: str
    path: Path
    lines: list[FrontLine]
    attributes: dict[str, Any]  # per-scene fields every line of the scene carries
    crs: Any
    transform: Any
    shape: tuple[int, int]
    resolution_m: float | None
    tiles: int
    seconds: float
    valid_fraction: float
    warnings: list[str] = field(default_factory=list)

    def records(self) -> list[tuple[Any, dict[str, Any]]]:
        """(geometry, properties) per line, ready for ``io.vectors.write_lines``."""
        return [
            (
                line.geometry,
                {
                    **self.attributes,
                    "length_m": round(line.length_m, 2),
                    "confidence": round(line.confidence, 4),
                },
            )
            for line in self.lines
        ]


LINE_SCHEMA = {
    "scene": "str",
    "date": "str",
    "sensor": "str",
    "model": "str",
    "model_sha256": "str",
    "length_m": "float",
    "confidence": "float",
}


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
) -> int:
    """Fill ``zones`` (class ids), ``confidence`` (max probability x 255) and ``valid`` for a whole grid.

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
                rows = band.probs.shape[1]
                zones[band.row0 : band.row0 + rows] = band.probs.argmax(axis=0)
                confidence[band.row0 : band.row0 + rows] = np.rint(band.probs.max(axis=0) * 255)
                release(zones, confidence, valid)
            count += len(batch)
            if on_tiles:
                on_tiles(len(batch))
    stitcher.close()
    return count


def tiling_for(backend: Backend, options: PredictOptions, height: int, width: int) -> tuple[int, int]:
    """Tile and overlap in pixels: the options, else the model's recommended tile and an eighth of it.

    The tile is a maximum: it shrinks (in steps of 32, the model's stride) to the smallest size that
    covers the scene with the same number of tiles, so no model time goes into tiles that mostly overlap
    their neighbours or hang past the edge.
    """
    if min(height, width) < MIN_SCENE_PX:
        raise GlacierfrontError(
            f"scene is {width} x {height} px: too small to hold a calving front (need {MIN_SCENE_PX} px a side)"
        )
    tile = options.tile or backend.tile_size
    if tile < 32 or tile % 32:
        raise GlacierfrontError(f"--tile {tile}: must be a multiple of 32 and at least 32")
    overlap = tile // 8 if options.overlap is None else options.overlap
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


def open_for_model(path: Path, backend: Backend, options: PredictOptions) -> Scene:
    """Open a scene on the grid the model wants: resampled to its training spacing when one is known."""
    if backend.in_channels != 1:
        raise GlacierfrontError(
            f"{backend.path.name} expects {backend.in_channels} input bands, but glacierfront reads scenes as "
            "one channel (--band N, or --bands reduced to luminance); use a single-band model"
        )
    kwargs = dict(
        band=options.band,
        bands=options.bands,
        scaling=options.scaling,
        allow_pixel_coords=options.allow_pixel_coords,
    )
    scene = open_scene(path, **kwargs)
    target_m = options.resolution_m or backend.metadata.get("resolution_m")
    mpp = scene.metres_per_pixel()
    if not target_m or mpp is None:
        return scene
    if target_m <= 0:
        raise GlacierfrontError(f"--resolution {target_m}: must be a positive number of metres")
    # Scale the map-unit spacing by the metre ratio, so degrees and feet work as well as metres.
    target_units = scene.source_resolution[0] * target_m / mpp[0]
    scene.close()
    return open_scene(path, target_resolution=target_units, **kwargs)


class AoiMask:
    """The AOI polygons (any CRS) rasterised band by band on the scene's read grid: True where a front may be."""

    def __init__(self, aoi: Path, scene: Scene) -> None:
        import fiona
        from rasterio.warp import transform_geom

        try:
            with fiona.open(aoi) as src:
                src_crs = src.crs_wkt or None
                geoms = [dict(f.geometry) for f in src if f.geometry is not None]
        except (fiona.errors.FionaError, OSError) as err:
            raise GlacierfrontError(f"{aoi}: cannot read the AOI polygons ({err})") from None
        geoms = [g for g in geoms if g["type"] in ("Polygon", "MultiPolygon")]
        if not geoms:
            raise GlacierfrontError(f"{aoi}: holds no polygons; --aoi needs a polygon layer")
        if scene.crs is not None:
            if src_crs is None:
                raise GlacierfrontError(
                    f"{aoi}: has no CRS; give the AOI a CRS so it can be matched to the scene"
                )
            geoms = [transform_geom(src_crs, scene.crs, g) for g in geoms]
        self.geoms = geoms
        self.width = scene.width
        self.transform = scene.resampled_transform

    def __call__(self, row0: int, row1: int) -> np.ndarray:
        from affine import Affine
        from rasterio.features import rasterize

        band_transform = self.transform @ Affine.translation(0, row0)
        return rasterize(
            self.geoms, out_shape=(row1 - row0, self.width), transform=band_transform, fill=0, default_value=1
        ).astype(bool)


def predict_scene(
    path: str | Path,
    backend: Backend,
    options: PredictOptions | None = None,
    zones_path: str | Path | None = None,
    quicklook_path: str | Path | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_tiles: Callable[[int], None] | None = None,
) -> SceneResult:
    """Extract the calving front of one scene. ``on_start(tiles, pixels)`` and ``on_tiles(n)`` report progress."""
    options = options or PredictOptions()
    # GDAL's block cache defaults to 5% of RAM and fills as a big scene is read: cap it so RAM stays flat.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _predict_scene(Path(path), backend, options, zones_path, quicklook_path, on_start, on_tiles)


def _predict_scene(path, backend, options, zones_path, quicklook_path, on_start, on_tiles) -> SceneResult:
    started = time.perf_counter()
    with (
        open_for_model(path, backend, options) as scene,
        tempfile.TemporaryDirectory(prefix="glacierfront-") as tmp,
    ):
        height, width = scene.height, scene.width
        tile, overlap = tiling_for(backend, options, height, width)
        # Whole-scene results live in memory maps: RAM stays flat however large the scene is.
        zones = scratch_array(Path(tmp), "zones", np.uint8, (height, width))
        conf = scratch_array(Path(tmp), "conf", np.uint8, (height, width))
        valid = scratch_array(Path(tmp), "valid", bool, (height, width))
        grid = tile_rows(height, width, tile, overlap)
        if on_start:
            on_start(sum(len(cols) for _, cols in grid), height * width)
        tiles = segment(
            scene.read_window,
            height,
            width,
            backend,
            tile,
            overlap,
            options.batch_size or default_batch(tile),
            zones,
            conf,
            valid,
            on_tiles,
        )
        valid_fraction = float(valid.mean())
        warnings = []
        mpp = scene.metres_per_pixel()
        resolution_m = None if mpp is None else float(np.mean(mpp))
        min_length_px = PIXEL_MIN_LENGTH_PX if resolution_m is None else options.min_length_m / resolution_m
        lines: list[FrontLine] = []
        if valid_fraction == 0:
            warnings.append("no valid pixels (all nodata): no front")
        else:
            allowed = AoiMask(options.aoi, scene) if options.aoi is not None else None
            pixels, _ = extract_front_banded(zones, valid, min_length_px, Path(tmp), allowed)
            geographic = scene.crs is not None and scene.crs.is_geographic
            unit_m = scene.crs.linear_units_factor[1] if scene.crs is not None and not geographic else 1.0
            lines = lines_from_pixels(
                pixels.rows,
                pixels.cols,
                pixels.codes,
                pixels.pieces,
                conf[pixels.rows, pixels.cols] / 255.0,
                scene.resampled_transform,
                simplify_px=options.simplify_px,
                geographic=geographic,
                unit_m=unit_m,
            )
            if not lines:
                warnings.append("no calving front found (no glacier-ocean boundary after post-processing)")
        attributes = {
            "scene": path.stem,
            **acquisition(path.stem, scene.dataset.tags()),
            "model": backend.path.name,
            "model_sha256": backend.sha256,
        }
        if zones_path is not None:
            from glacierfront.io.zonemap import NODATA, write_zones

            for r0 in range(0, height, 1024):  # in bands: a whole-scene ~valid would cost a scene of RAM
                np.copyto(zones[r0 : r0 + 1024], NODATA, where=~valid[r0 : r0 + 1024])
                release(zones, valid)
            write_zones(zones_path, zones, scene.resampled_transform, scene.crs)
        if quicklook_path is not None:
            from glacierfront.quicklook import render_quicklook

            render_quicklook(quicklook_path, scene, zones, valid, lines, title=path.name)
        return SceneResult(
            scene=path.stem,
            path=path,
            lines=lines,
            attributes=attributes,
            crs=scene.crs,
            transform=scene.resampled_transform,
            shape=(height, width),
            resolution_m=resolution_m,
            tiles=tiles,
            seconds=time.perf_counter() - started,
            valid_fraction=valid_fraction,
            warnings=warnings,
        )


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
    tile, overlap = tiling_for(backend, PredictOptions(tile=tile, overlap=overlap), height, width)
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

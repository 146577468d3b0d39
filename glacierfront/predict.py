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
from glacierfront.fronts import MIN_FRONT_LENGTH_M
from glacierfront.fronts_banded import extract_front_banded
from glacierfront.inference import Backend
from glacierfront.io.acquisition import acquisition
from glacierfront.io.aoi import AoiMask
from glacierfront.io.raster import Scene, open_scene
from glacierfront.io.scratch import release, scratch_array
from glacierfront.segment import default_batch, segment, tiling_for
from glacierfront.tiling import tile_rows
from glacierfront.vectors import FrontLine, lines_from_pixels

# Without georeferencing, lengths are in pixels: CaFFe's pixel-grid rule of 2 px stands in for 750 m.
PIXEL_MIN_LENGTH_PX = 2.0
GDAL_CACHE_MB = 64


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
    "resolution_m": "float",  # pixel spacing the front was traced at; evaluate samples lines from it
    "length_m": "float",
    "confidence": "float",
}


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
        tile, overlap = tiling_for(backend, options.tile, options.overlap, height, width)
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
            "resolution_m": None if resolution_m is None else round(resolution_m, 3),
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

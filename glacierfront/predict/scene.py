"""A scene in, calving-front lines out: read, tile, run the model, stitch, post-process (CaFFe), vectorise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.warp import transform as warp_transform

from glacierfront.errors import GlacierfrontError
from glacierfront.io.acquisition import acquisition, decimal_year, sensor_kind
from glacierfront.io.aoi import AoiMask
from glacierfront.io.scratch import release, scratch_array, scratch_folder
from glacierfront.model.backend import Backend
from glacierfront.predict.attributes import MIN_COVERAGE, LineAttributes, lines_and_quality
from glacierfront.predict.fronts_banded import extract_front_banded
from glacierfront.predict.options import PredictOptions
from glacierfront.predict.scale import ScaleChoice, open_for_model
from glacierfront.predict.segment import default_batch, segment, tiling_for
from glacierfront.predict.tiling import tile_rows
from glacierfront.predict.vectorise import FrontLine, length_m, lines_from_pixels

# Without georeferencing, lengths are in pixels: CaFFe's pixel-grid rule of 2 px stands in for 750 m.
PIXEL_MIN_LENGTH_PX = 2.0
GDAL_CACHE_MB = 64
# Rows per band when a whole-scene memory map is reduced (e.g. the valid fraction): RAM stays one band.
BAND_ROWS = 1024


def glacier_boxes(options: PredictOptions) -> list | None:
    """The AOI's glacier boxes (``geo.reference``'s reader, series' too: ids, upstream fields, one polygon
    each) when fronts are cut across them (``fronts_box``), None for CaFFe's rule. Reads the AOI's fields, so a box rule asked for
    without an upstream end fails here, before any work."""
    from glacierfront.geo.reference import read_boxes
    from glacierfront.predict.fronts_box import check_front_rule

    rule = check_front_rule(options.front_rule)
    if rule == "caffe":
        return None
    if options.aoi is None:
        if rule == "box":
            raise GlacierfrontError("--front-rule box: give the glacier's box as --aoi (with --upstream)")
        return None
    boxes = read_boxes(options.aoi)
    known = all(box.upstream is not None for box in boxes) or options.upstream is not None
    if rule == "box" and not known:
        raise GlacierfrontError(
            f"--front-rule box: which end of the box is upstream? Give --upstream (e.g. --upstream E) or an "
            f"'upstream' field in {options.aoi}"
        )
    return boxes if known else None


def uses_box(options: PredictOptions) -> bool:
    """Whether fronts are cut across the AOI boxes rather than by CaFFe's rule (see ``glacier_boxes``)."""
    return glacier_boxes(options) is not None


@dataclass
class SceneResult:
    scene: str
    path: Path
    lines: list[FrontLine]
    attributes: dict[str, Any]  # per-scene fields every line of the scene carries
    crs: Any  # the scene's CRS, which the lines are in
    transform: Any  # of the processed grid, in grid_crs
    shape: tuple[int, int]  # the processed grid (rows, cols)
    resolution_m: float | None  # pixel spacing (m) of the processed grid; None without a CRS
    tiles: int
    seconds: float
    valid_fraction: float
    warnings: list[str] = field(default_factory=list)
    native_resolution_m: float | None = None  # the scene file's own pixel spacing (m)
    resampled: bool = False  # processed on a resampled grid rather than the file's own
    scale: ScaleChoice | None = None  # how the processing spacing was chosen, and what to tell the user
    scaling_note: str = ""  # how the values were mapped to the model's input (io.raster.Scene.scaling_note)
    grid_crs: Any = None  # CRS of the processed grid (and zone map): a metric one for a scene in degrees
    line_attributes: list[dict[str, Any]] = field(default_factory=list)  # per line: glacier_id, quality

    def records(self) -> list[tuple[Any, dict[str, Any]]]:
        """(geometry, properties) per line, ready for ``io.vector_files.write_lines``."""
        return [
            (
                line.geometry,
                {
                    **self.attributes,
                    **(self.line_attributes[i] if i < len(self.line_attributes) else {}),
                    # Pixel coordinates (no CRS) have no metres: the field stays empty rather than lie.
                    "length_m": None if self.crs is None else round(line.length_m, 2),
                    "confidence": round(line.confidence, 4),
                },
            )
            for i, line in enumerate(self.lines)
        ]

    def records_in(self, target_crs: Any) -> tuple[Any, list[tuple[Any, dict[str, Any]]]]:
        """(CRS, records) with the lines moved to ``target_crs`` when one is set; pixel coordinates stay."""
        if target_crs is None or self.crs is None:
            return self.crs, self.records()
        from glacierfront.io.vector_files import reproject_records

        return target_crs, reproject_records(self.records(), self.crs, target_crs)

    def quality_flags(self) -> list[str]:
        """The quality flags any of the scene's lines carries (``attributes``), sorted; empty when all are ok."""
        return sorted(
            {f for a in self.line_attributes for f in a.get("quality", "ok").split("+") if f != "ok"}
        )

    def summary(self) -> str:
        """'1 front line, 26.47 km, 256 x 256 px in 0.2 s; quality: low_confidence': the line predict prints
        per scene, so a doubtful front reads so (``attributes.lines_and_quality``)."""
        total = sum(line.length_m for line in self.lines)
        length = f"{total:.0f} px (pixel coordinates)" if self.crs is None else f"{total / 1000:.2f} km"
        size = f"{self.shape[1]} x {self.shape[0]} px in {self.seconds:.1f} s"
        return lines_and_quality(len(self.lines), f"{length}, {size}", self.quality_flags())


def trained_on(backend: Backend) -> str:
    """ "optical" or "sar": what kind of images a model was trained on, from its metadata (``sensors``, else
    ``training_data``); a model that says neither is taken as SAR, as every model before optical was."""
    text = f"{backend.metadata.get('sensors') or ''} {backend.metadata.get('training_data') or ''}".lower()
    return "optical" if "optical" in text or "landsat" in text else "sar"


def sensor_mismatch(sensor: str | None, backend: Backend) -> str | None:
    """A warning when the scene's sensor (from its name or tags) is of another kind than the model's
    training images: a SAR model on a Landsat scene draws fronts of a glacier it cannot see."""
    kind, trained = sensor_kind(sensor), trained_on(backend)
    if kind is None or kind == trained:
        return None
    other = "optical" if kind == "optical" else "sar"
    return (
        f"{sensor} is an {'optical' if kind == 'optical' else 'SAR'} sensor but {backend.path.name} was trained "
        f"on {'optical' if trained == 'optical' else 'SAR'} images; use --model {other}"
    )


def fraction_true(mask: np.ndarray, band_rows: int | None = None) -> float:
    """The fraction of True in a whole-scene (H, W) memory map, counted band by band (``BAND_ROWS``) and
    each band's pages handed back: a whole-array ``mask.mean()`` would make the scene resident in RAM."""
    band_rows = band_rows or BAND_ROWS
    height = mask.shape[0]
    if mask.size == 0:
        return 0.0
    count = 0
    for r0 in range(0, height, band_rows):
        count += int(np.count_nonzero(mask[r0 : r0 + band_rows]))
        release(mask)
    return count / mask.size


def to_crs(lines: list[FrontLine], src_crs: Any, dst_crs: Any) -> list[FrontLine]:
    """Lines moved from ``src_crs`` to ``dst_crs``, their length measured again there (degrees: on the
    ground, as ``vectorise.length_m`` measures geographic lines)."""
    geographic = dst_crs.is_geographic
    unit_m = 1.0 if geographic else dst_crs.linear_units_factor[1]

    def move(xy: np.ndarray) -> np.ndarray:
        xs, ys = warp_transform(src_crs, dst_crs, xy[:, 0], xy[:, 1])
        return np.column_stack([xs, ys])

    out = []
    for line in lines:
        geometry = shapely.transform(line.geometry, move)
        measured = length_m(geometry, geographic, unit_m, crs=dst_crs)
        out.append(replace(line, geometry=geometry, length_m=measured))
    return out


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


def _caffe_lines(scene, options, zones, valid, conf, min_length_px, allowed, tmp) -> list[FrontLine]:
    """CaFFe's rule: the largest ocean piece's edge against glacier, clipped to the AOI, as lines."""
    pixels, _ = extract_front_banded(
        zones, valid, min_length_px, Path(tmp), allowed, ocean_rule=options.ocean_rule
    )
    geographic = scene.crs is not None and scene.crs.is_geographic
    unit_m = scene.crs.linear_units_factor[1] if scene.crs is not None and not geographic else 1.0
    return lines_from_pixels(
        pixels.rows,
        pixels.cols,
        pixels.codes,
        pixels.pieces,
        conf[pixels.rows, pixels.cols] / 255.0,
        scene.resampled_transform,
        simplify_px=options.simplify_px,
        geographic=geographic,
        unit_m=unit_m,
        crs=scene.crs,  # ground lengths, whatever the projection's scale
    )


def _box_lines(scene, options, boxes, margin, valid, min_length_px, warnings: list[str]) -> list[FrontLine]:
    """The best ice-to-water crossing of each glacier box (fronts_box), as lines; says what it could not find."""
    from glacierfront.predict.fronts_box import box_front_lines

    lines, found = box_front_lines(
        boxes, margin, valid, scene.resampled_transform, scene.crs, options.upstream, min_length_px
    )
    for box in found:
        if box.line_px is None:
            warnings.append(
                f"box {box.glacier_id}: no ice-to-water crossing found (nowhere in the box does the model see "
                "less glacier downstream than upstream)"
            )
        elif box.coverage < MIN_COVERAGE:
            warnings.append(
                f"box {box.glacier_id}: the model separates glacier from water over only {box.coverage:.0%} "
                "of the box's width (quality partial_crossing); check the front"
            )
    return lines


@dataclass
class _SceneWork:
    """What one scene's run works on: the tiling, the whole-scene memory maps and the AOI's rules."""

    tile: int
    overlap: int
    zones: np.ndarray  # (H, W) uint8 memory map: the model's zones, then the zone map written
    conf: np.ndarray  # (H, W) uint8 memory map: the model's confidence, 0..255
    valid: np.ndarray  # (H, W) bool memory map: pixels with data
    boxes: list | None  # the AOI's glacier boxes when fronts are cut across them (``glacier_boxes``)
    allowed: AoiMask | None
    margin: np.ndarray | None  # (H, W) int8 memory map of the model's margin, for the box rule only

    @property
    def box_rule(self) -> bool:
        return self.boxes is not None


def _prepare(scene, backend: Backend, options: PredictOptions, tmp: Path) -> _SceneWork:
    """The tiling and scratch arrays of a scene, and the AOI checks that must fail before any inference."""
    height, width = scene.height, scene.width
    tile, overlap = tiling_for(backend, options.tile, options.overlap, height, width)
    # Whole-scene results live in memory maps: RAM stays flat however large the scene is.
    zones = scratch_array(tmp, "zones", np.uint8, (height, width))
    conf = scratch_array(tmp, "conf", np.uint8, (height, width))
    valid = scratch_array(tmp, "valid", bool, (height, width))
    boxes = glacier_boxes(options)
    # Before any inference: an AOI that misses the scene fails now.
    allowed = AoiMask(options.aoi, scene) if options.aoi is not None else None
    margin = scratch_array(tmp, "margin", np.int8, (height, width)) if boxes is not None else None
    return _SceneWork(tile, overlap, zones, conf, valid, boxes, allowed, margin)


def _run_model(scene, backend: Backend, options: PredictOptions, work: _SceneWork, on_start, on_tiles) -> int:
    """Tile the scene and segment it into ``work``'s memory maps; returns the number of tiles."""
    height, width = scene.height, scene.width
    grid = tile_rows(height, width, work.tile, work.overlap)
    if on_start:
        on_start(sum(len(cols) for _, cols in grid), height * width)
    return segment(
        scene.read_window,
        height,
        width,
        backend,
        work.tile,
        work.overlap,
        options.batch_size or default_batch(work.tile),
        work.zones,
        work.conf,
        work.valid,
        on_tiles,
        work.margin,
    )


def _resolution_m(scene) -> float | None:
    """The processed grid's pixel spacing in metres (mean of both axes); None without a CRS."""
    mpp = scene.metres_per_pixel()
    return None if mpp is None else float(np.mean(mpp))


def _scene_lines(scene, options, work: _SceneWork, min_length_px: float, tmp, warnings: list[str]):
    """(lines in the grid's CRS, lines in the scene's CRS, each line's attributes) by the front rule."""
    if work.box_rule:
        grid_lines = _box_lines(scene, options, work.boxes, work.margin, work.valid, min_length_px, warnings)
    else:
        grid_lines = _caffe_lines(
            scene, options, work.zones, work.valid, work.conf, min_length_px, work.allowed, tmp
        )
    allowed = work.allowed
    describe = LineAttributes(
        work.valid,
        scene.resampled_transform,
        allowed.geoms if allowed is not None else None,
        allowed.glacier_ids if allowed is not None else None,
        options.glacier_id,
        per_box=work.box_rule,
    )
    line_attributes = describe.for_lines(grid_lines)
    # A geographic scene was processed on a metric grid: its lines go back to the scene's CRS.
    lines = to_crs(grid_lines, scene.crs, scene.source_crs) if scene.reprojected else grid_lines
    if not lines:
        warnings.append("no calving front found (no glacier-ocean boundary after post-processing)")
    return grid_lines, lines, line_attributes


def _scene_attributes(path: Path, scene, backend: Backend, options, resolution_m, warnings) -> dict[str, Any]:
    """The per-scene fields of every line (``LINE_SCHEMA``); warns of a sensor the model was not trained on."""
    when = acquisition(path.stem, scene.dataset.tags())
    mismatch = sensor_mismatch(when["sensor"], backend)
    if mismatch:
        warnings.append(mismatch)
    return {
        "scene": path.stem,
        "glacier_id": options.glacier_id,
        **when,
        "dec_year": decimal_year(when["date"]),
        "image_id": path.stem,
        "model": backend.path.name,
        "model_sha": backend.sha256,
        "pixel_m": None if resolution_m is None else round(resolution_m, 3),
    }


def _write_zone_map(zones_path, scene, work: _SceneWork) -> None:
    """The zone map as GeoTIFF, nodata where the scene has none; ``work.zones`` is marked in place."""
    from glacierfront.io.zonemap import NODATA, write_zones

    zones, valid = work.zones, work.valid
    for r0 in range(0, scene.height, 1024):  # in bands: a whole-scene ~valid would cost a scene of RAM
        np.copyto(zones[r0 : r0 + 1024], NODATA, where=~valid[r0 : r0 + 1024])
        release(zones, valid)
    write_zones(zones_path, zones, scene.resampled_transform, scene.crs)


def _write_quicklook(quicklook_path, scene, work: _SceneWork, grid_lines, title, line_attributes) -> None:
    """The quicklook PNG: the scene, its zones, the lines (grid CRS) with their quality, the AOI."""
    from glacierfront.predict.quicklook import render_quicklook

    render_quicklook(
        quicklook_path, scene, work.zones, work.valid, grid_lines, title=title,
        aoi=work.allowed.geoms if work.allowed is not None else None,
        quality=[a.get("quality", "ok") for a in line_attributes],
    )  # fmt: skip


def _predict_scene(path, backend, options, zones_path, quicklook_path, on_start, on_tiles) -> SceneResult:
    started = time.perf_counter()
    scene, scale = open_for_model(path, backend, options)
    with scene, scratch_folder() as tmp:
        work = _prepare(scene, backend, options, Path(tmp))
        tiles = _run_model(scene, backend, options, work, on_start, on_tiles)
        valid_fraction = fraction_true(work.valid)
        warnings = [scale.warning] if scale.warning and not scale.warn_once else []
        resolution_m = _resolution_m(scene)
        min_length_px = PIXEL_MIN_LENGTH_PX if resolution_m is None else options.min_length_m / resolution_m
        if valid_fraction == 0:
            # The same failure, and exit code, as a float scene that is all NaN (io.raster's statistics read).
            raise GlacierfrontError(f"{path}: no valid pixels (all nodata or NaN); check the file")
        grid_lines, lines, line_attributes = _scene_lines(scene, options, work, min_length_px, tmp, warnings)
        attributes = _scene_attributes(path, scene, backend, options, resolution_m, warnings)
        if zones_path is not None:
            _write_zone_map(zones_path, scene, work)
        if quicklook_path is not None:
            _write_quicklook(quicklook_path, scene, work, grid_lines, path.name, line_attributes)
        return SceneResult(
            scene=path.stem,
            path=path,
            lines=lines,
            attributes=attributes,
            crs=scene.source_crs,
            transform=scene.resampled_transform,
            shape=(scene.height, scene.width),
            resolution_m=resolution_m,
            tiles=tiles,
            seconds=time.perf_counter() - started,
            valid_fraction=valid_fraction,
            warnings=warnings,
            native_resolution_m=scale.native_m,
            resampled=scene.resampled,
            scale=scale,
            scaling_note=scene.scaling_note,
            grid_crs=scene.crs,
            line_attributes=line_attributes,
        )

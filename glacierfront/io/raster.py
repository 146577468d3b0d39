"""Open a GeoTIFF scene and read scaled, masked windows of it without ever loading the whole scene.

Bands
    Single-band files need nothing. ``band=N`` picks band N (1-based, like GDAL). ``bands=[a, b, ...]``
    reduces several bands to one channel: Rec.601 luma (0.299, 0.587, 0.114) for exactly three bands
    taken as R, G, B; the plain mean for any other count. Without either, a multi-band file is read at
    the band whose description names a band the model asks for (its ``band_names``, e.g. "green" or "B3"
    for the optical model); where none does, or the model names none, it is an error.

Scaling to [0, 1]
    ``scaling`` is a --scaling spec ("auto", "percentile:0.5,99.5", "db+gain", ...): ``glacierfront.io.intensity``
    reads it, measures what it needs on one decimated read of the valid pixels, and gives the map every read
    applies; ``Scene.scaling_note`` says what it did, in one line. See that module for the modes.

Validity
    A pixel is invalid where any chosen band is masked (``read_masks``: nodata value, alpha band or
    internal mask), where a value is NaN/inf, and outside the scene (read_window pads). Invalid pixels
    read as 0 in the image, so no NaN reaches the model.
    ``nodata=V`` declares a nodata value the file lacks (CaFFe-style 0 borders): pixels equal to V in any
    chosen band are invalid, in the statistics as in every read, and resampling treats them as GDAL treats
    a file's own nodata. It replaces the file's own nodata value, if it has one (``scaling_note`` says so);
    an alpha band or internal mask still counts.

Resampling
    ``target_resolution`` (scene map units per pixel) puts read_window on a grid of about that spacing:
    the grid has round(size * source_res / target) pixels per axis so it covers the scene exactly, which
    moves the spacing by under half a pixel over the whole scene. Windows are read from the matching
    fractional source window with GDAL's nodata-aware bilinear resampling: a resampled pixel is valid
    where any valid source pixel contributes, and its value comes from valid source pixels only.
    ``Scene.resampled_transform`` maps grid pixels back to the map.

Geographic scenes (``metric_grid=True``)
    Degrees are not pixels a model can use: at 70 N a 0.001 degree pixel is 38 m wide and 111 m tall. With
    ``metric_grid`` a scene in a geographic CRS is read on a grid of square pixels in metres instead: in
    the WGS 84 UTM zone of the scene centre (UPS north/south beyond UTM's 80 S..84 N; the rule is
    ``io.crs.local_metric_crs``), through a GDAL WarpedVRT with the same nodata-aware bilinear resampling,
    so read_window works as on any grid. UTM is conformal and within 0.1 % of true scale for a few hundred
    km from its central meridian at any latitude (polar stereographic EPSG:3413/3031 is 2-4 % off between
    60 and 90 degrees), and its EPSG code travels with the zone map. The spacing is ``target_resolution`` in metres, or without one the
    scene's finer axis in metres at its centre latitude (nothing is lost along either axis). The grid is
    the scene's footprint rounded to whole pixels, centred on it; grid pixels outside the footprint are
    invalid. ``Scene.crs`` is then the grid's CRS and ``Scene.source_crs`` the file's, in which callers
    should write their results.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from glacierfront.errors import GlacierfrontError
from glacierfront.io.crs import local_metric_crs
from glacierfront.io.intensity import TRAIN_STATS as TRAIN_STATS
from glacierfront.io.intensity import VALID_FLOOR as VALID_FLOOR
from glacierfront.io.intensity import IntensityMap, resolve_scaling
from glacierfront.io.intensity import check_scaling as check_scaling

# TRAIN_STATS, VALID_FLOOR and check_scaling live in io/intensity.py, re-exported here ("as" themselves) for
# the modules and tests that import them from io.raster.
REC601_WEIGHTS = (0.299, 0.587, 0.114)
STATS_MAX_SIDE_PX = 1024


def stats_shape(height: int, width: int, max_side_px: int = STATS_MAX_SIDE_PX) -> tuple[int, int]:
    """Shape of the decimated read used for percentile statistics: at most ``max_side_px`` a side."""
    step = max(1, math.ceil(max(height, width) / max_side_px))
    return max(1, height // step), max(1, width // step)


def band_weights(count: int) -> np.ndarray:
    """Weights that reduce ``count`` bands to one luminance channel (Rec.601 for 3, else the mean)."""
    if count == 3:
        return np.asarray(REC601_WEIGHTS, dtype=np.float64)
    return np.full(count, 1.0 / count)


def grid_size(extent: float, spacing: float) -> int:
    """Pixels of ``spacing`` across ``extent``: rounded to the nearest, so the grid is never short by most of
    a pixel (80 px of 10 m at 23 m is 35 px, not 34)."""
    return max(1, round(extent / spacing))


def _degrees_to_metres(res_x: float, res_y: float, lat: float) -> tuple[float, float]:
    """(x, y) metres of a (res_x, res_y) degree pixel at latitude ``lat`` (WGS 84 series)."""
    phi = math.radians(lat)
    m_per_deg_lat = 111_132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_per_deg_lon = 111_412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return res_x * abs(m_per_deg_lon), res_y * m_per_deg_lat


def _check_nodata(path: Path, value: float, dtype: str) -> None:
    kind = np.dtype(dtype).kind
    if kind in "iu":
        info = np.iinfo(dtype)
        if not (float(value).is_integer() and info.min <= value <= info.max):
            raise GlacierfrontError(
                f"{path}: --nodata {value:g} cannot occur in its {dtype} values; give a value they can hold "
                f"(a whole number in {info.min}..{info.max}), e.g. 0"
            )


class Scene:
    """An open raster scene: georeferencing, band choice, scaling, and windowed reads.

    ``width``/``height``/``resolution``/``crs``/``resampled_transform`` describe the grid read_window
    works in (the resampled or metric one when asked for); ``source_*`` and ``transform`` describe the
    file itself. ``resampled`` says whether the grid differs from the file's.
    """

    def __init__(
        self,
        path: Path,
        dataset: rasterio.io.DatasetReader,
        indexes: tuple[int, ...],
        scaling: str,
        target_resolution: float | None,
        nodata: float | None = None,
        metric_grid: bool = False,
        per_image: bool = False,
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.indexes = indexes
        self.weights = band_weights(len(indexes))
        self._init_source(nodata)
        if target_resolution is not None and not target_resolution > 0:
            raise GlacierfrontError(f"{path}: target resolution must be positive, got {target_resolution}")
        # Reads go to _reader: the file, or a WarpedVRT of it where GDAL must warp (a metric grid for a
        # geographic scene) or must know the caller's nodata to resample around it.
        self._reader: rasterio.io.DatasetReaderBase = dataset
        self._init_grid(target_resolution, metric_grid)
        self.scaling = scaling
        self._sample: np.ndarray | None = None
        try:
            self.intensity: IntensityMap = resolve_scaling(
                scaling, self.dtype, path, self._valid_sample, per_image
            )
        except BaseException:
            if self._reader is not dataset:
                self._reader.close()
            raise
        # The map's parts: conversion (None or "db"/"power", applied before the linear map),
        # scale_low/scale_high (the values that map to 0 and 1 after it), valid_floor (the least a valid
        # pixel is given), scaling_note (the whole mapping in one line, for logs).
        self.conversion: str | None = self.intensity.conversion
        self.scale_low, self.scale_high = self.intensity.low, self.intensity.high
        self.valid_floor = self.intensity.floor
        self.scaling_note: str = self.intensity.note
        if nodata is not None:
            had = (
                "" if self.file_nodata is None else f", replacing the file's own nodata {self.file_nodata:g}"
            )
            self.scaling_note = f"pixels of {nodata:g} are nodata (--nodata{had}); {self.scaling_note}"

    def _init_source(self, nodata: float | None) -> None:
        """The file's own grid, its value type and the nodata value taken."""
        dataset = self.dataset
        self.source_crs: CRS | None = dataset.crs
        self.crs: CRS | None = dataset.crs
        self.transform: Affine = dataset.transform
        self.source_width: int = dataset.width
        self.source_height: int = dataset.height
        self.source_resolution: tuple[float, float] = tuple(dataset.res)
        self.dtype: str = dataset.dtypes[self.indexes[0] - 1]
        # nodata: the value taken as no data; nodata_override: the caller's, which replaces the file's.
        self.file_nodata: float | None = dataset.nodatavals[self.indexes[0] - 1]
        self.nodata_override = nodata
        self.nodata: float | None = self.file_nodata if nodata is None else nodata
        if nodata is not None:
            _check_nodata(self.path, nodata, self.dtype)

    def _init_grid(self, target_resolution: float | None, metric_grid: bool) -> None:
        """The grid read_window works in: the file's, resampled to ``target_resolution``, or metric."""
        self.reprojected = metric_grid and self.crs is not None and self.crs.is_geographic
        if self.reprojected:
            self._init_metric_reader(target_resolution or min(self._source_metres_per_pixel()))
        elif target_resolution is None:
            self.width, self.height = self.source_width, self.source_height
        else:
            res_x, res_y = self.source_resolution
            self.width = grid_size(self.source_width * res_x, target_resolution)
            self.height = grid_size(self.source_height * res_y, target_resolution)
        # Output pixels per source pixel, per axis (x, y); exactly 1.0 without resampling.
        self.scale_factor: tuple[float, float] = (
            self.width / self.source_width,
            self.height / self.source_height,
        )
        # Grid pixels per reader pixel: read_window's fractional windows when not (1, 1).
        self._read_scale = (1.0, 1.0) if self.reprojected else self.scale_factor
        if not self.reprojected:
            self.resampled_transform: Affine = self.transform @ Affine.scale(
                1 / self.scale_factor[0], 1 / self.scale_factor[1]
            )
            self.resolution: tuple[float, float] = (
                self.source_resolution[0] / self.scale_factor[0],
                self.source_resolution[1] / self.scale_factor[1],
            )
            nodata = self.nodata_override
            if nodata is not None and self._read_scale != (1.0, 1.0):
                self._reader = WarpedVRT(self.dataset, src_nodata=nodata, nodata=nodata)
        self.resampled: bool = self.reprojected or self.scale_factor != (1.0, 1.0)

    def _init_metric_reader(self, spacing: float) -> None:
        """Square ``spacing`` m pixels in the local metric CRS, read through a warping VRT."""
        self.crs, self.resampled_transform, self.width, self.height = self._metric_grid(spacing)
        nodata = self.nodata_override
        self._reader = WarpedVRT(
            self.dataset,
            crs=self.crs,
            transform=self.resampled_transform,
            width=self.width,
            height=self.height,
            resampling=Resampling.bilinear,
            add_alpha=True,  # grid pixels outside the scene's footprint: invalid
            **({} if nodata is None else {"src_nodata": nodata}),
        )
        self.resolution = (spacing, spacing)

    # -- lifetime -------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._reader is not self.dataset:
            self._reader.close()
        self.dataset.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- geometry -------------------------------------------------------------------------------------
    def centre_lon_lat(self) -> tuple[float, float]:
        """The scene centre in the file's geographic CRS (x, y): degrees of longitude and latitude."""
        x, y = self.transform @ (self.source_width / 2, self.source_height / 2)
        return x, y

    def metres_per_pixel(self) -> tuple[float, float] | None:
        """Approximate (x, y) pixel size in metres of the read grid; None for pixel-coordinate scenes.

        For a geographic CRS, degrees are converted at the latitude of the scene centre, which is good to
        well under 1 % across a single scene.
        """
        if self.crs is None:
            return None
        res_x, res_y = self.resolution
        if self.crs.is_geographic:
            return _degrees_to_metres(res_x, res_y, self.centre_lon_lat()[1])
        unit_m = self.crs.linear_units_factor[1]
        return res_x * unit_m, res_y * unit_m

    def _source_metres_per_pixel(self) -> tuple[float, float]:
        """(x, y) size in metres of the file's own pixels, for a geographic file."""
        return _degrees_to_metres(*self.source_resolution, self.centre_lon_lat()[1])

    def _metric_grid(self, spacing: float) -> tuple[CRS, Affine, int, int]:
        """(CRS, transform, width, height) of square ``spacing`` m pixels over the scene's footprint."""
        crs = local_metric_crs(*self.centre_lon_lat(), polar="ups")
        left, bottom, right, top = transform_bounds(
            self.source_crs, crs, *self.dataset.bounds, densify_pts=21
        )
        width, height = grid_size(right - left, spacing), grid_size(top - bottom, spacing)
        x0 = (left + right - width * spacing) / 2
        y0 = (top + bottom + height * spacing) / 2
        return crs, Affine(spacing, 0.0, x0, 0.0, -spacing, y0), width, height

    # -- scaling --------------------------------------------------------------------------------------
    def _valid_sample(self) -> np.ndarray:
        """Valid luminance values (1-D, float64, not converted) of one decimated read, read once and kept."""
        if self._sample is None:
            shape = stats_shape(self.source_height, self.source_width)
            # Nearest decimation keeps real pixel values (no blending across nodata edges).
            raw = self.dataset.read(self.indexes, out_shape=(len(self.indexes), *shape), out_dtype="float64")
            masks = self.dataset.read_masks(self.indexes, out_shape=(len(self.indexes), *shape))
            lum = np.tensordot(self.weights, raw, axes=1)
            valid = self._valid(self.dataset, raw, masks) & np.isfinite(lum)
            if not valid.any():
                raise GlacierfrontError(f"{self.path}: no valid pixels (all nodata or NaN); check the file")
            self._sample = lum[valid]
        return self._sample

    # -- reading --------------------------------------------------------------------------------------
    def _valid(self, reader: rasterio.io.DatasetReaderBase, raw: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Valid pixels of a read of ``reader``: every chosen band unmasked and, with a nodata override, not
        equal to it (then a mask that only stands for the file's own nodata value does not count)."""
        if self.nodata_override is None:
            return np.all(masks > 0, axis=0)
        keep = [
            k for k, b in enumerate(self.indexes) if MaskFlags.nodata not in reader.mask_flag_enums[b - 1]
        ]
        return np.all(masks[keep] > 0, axis=0) & np.all(raw != self.nodata_override, axis=0)

    def _read(self, window: Window, shape: tuple[int, int], resampling: Resampling | None) -> tuple:
        """(scaled float32 (h, w), valid bool (h, w)) of a reader window, resampled to ``shape`` if asked."""
        kwargs = {}
        if resampling is not None:
            kwargs = dict(out_shape=(len(self.indexes), *shape), resampling=resampling)
        raw = self._reader.read(self.indexes, window=window, out_dtype="float64", **kwargs)
        masks = self._reader.read_masks(self.indexes, window=window, **kwargs)
        lum = np.tensordot(self.weights, raw, axes=1)
        ok = self._valid(self._reader, raw, masks) & np.isfinite(lum)
        return np.where(ok, self.intensity.apply(lum), 0.0).astype(np.float32), ok

    def read_window(self, row0: int, col0: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Read rows row0..row0+height, cols col0..col0+width of the read grid, any part outside the scene.

        Returns (image float32 (1, height, width) scaled to [0, 1], valid bool (height, width)).
        """
        image = np.zeros((1, height, width), dtype=np.float32)
        valid = np.zeros((height, width), dtype=bool)
        r0, r1 = max(row0, 0), min(row0 + height, self.height)
        c0, c1 = max(col0, 0), min(col0 + width, self.width)
        if r1 <= r0 or c1 <= c0:
            return image, valid
        sx, sy = self._read_scale
        if (sx, sy) == (1.0, 1.0):
            window, resampling = Window(c0, r0, c1 - c0, r1 - r0), None
        else:
            # Fractional source window: GDAL reads the kernel margin beyond it, so a window equals the
            # same slice of a whole-grid read and tiles stitch without seams.
            window = Window(c0 / sx, r0 / sy, (c1 - c0) / sx, (r1 - r0) / sy)
            resampling = Resampling.bilinear
        scaled, ok = self._read(window, (r1 - r0, c1 - c0), resampling)
        image[0, r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = scaled
        valid[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = ok
        return image, valid

    def read_decimated(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole read grid shrunk to (height, width) in one decimated read (nearest: GDAL uses the
        file's overviews when it has them), scaled as read_window scales; for pictures, never the full grid.

        Returns (image float32 (1, height, width), valid bool (height, width)).
        """
        window = Window(0, 0, self._reader.width, self._reader.height)
        scaled, ok = self._read(window, (height, width), Resampling.nearest)
        return scaled[None], ok


def band_by_name(descriptions: Sequence[str | None], band_names: Sequence[str]) -> int | None:
    """The 1-based band whose description matches the first of ``band_names`` that any band carries
    (case-insensitive; a description matches a name exactly or ends with "_" + name, as "SR_B3")."""
    described = [(i + 1, (d or "").strip().lower()) for i, d in enumerate(descriptions)]
    for name in band_names:
        name = name.strip().lower()
        for index, text in described:
            if text and (text == name or text.endswith("_" + name)):
                return index
    return None


def _choose_bands(
    path: Path,
    count: int,
    band: int | None,
    bands: Sequence[int] | None,
    descriptions: Sequence[str | None] = (),
    band_names: Sequence[str] | None = None,
) -> tuple[tuple[int, ...], str]:
    """The band indexes to read and a note on how they were chosen ("" when the user chose them)."""
    if band is not None and bands is not None:
        raise GlacierfrontError(f"{path}: pass either --band or --bands, not both")
    chosen = (band,) if band is not None else tuple(bands) if bands is not None else None
    if chosen is None:
        if count == 1:
            return (1,), ""
        if band_names:
            picked = band_by_name(descriptions, band_names)
            if picked is not None:
                return (picked,), f"band {picked} ({descriptions[picked - 1]!r}, a band the model asks for)"
            raise GlacierfrontError(
                f"{path}: has {count} bands and none is described as {', '.join(band_names)}, the band(s) the "
                f"model expects; pick it with --band N (1..{count})"
            )
        raise GlacierfrontError(
            f"{path}: has {count} bands; pick one with --band N (1..{count}) "
            f"or combine several into luminance with --bands 1,2,3"
        )
    if not chosen:
        raise GlacierfrontError(f"{path}: --bands is empty; list band numbers, e.g. --bands 1,2,3")
    for b in chosen:
        if not 1 <= b <= count:
            raise GlacierfrontError(f"{path}: band {b} is out of range; this file has bands 1..{count}")
    return chosen, ""


def open_scene(
    path: str | Path,
    band: int | None = None,
    bands: Sequence[int] | None = None,
    scaling: str = "auto",
    allow_pixel_coords: bool = False,
    target_resolution: float | None = None,
    band_names: Sequence[str] | None = None,
    nodata: float | None = None,
    metric_grid: bool = False,
    per_image: bool = False,
) -> Scene:
    """Open a raster scene for windowed reading; close it with ``close()`` or use it as a context manager.

    See the module docstring for band choice, scaling modes, validity, resampling, ``nodata`` and
    ``metric_grid``. ``per_image``: the model stretches every image (``io.intensity.per_image_model``), so
    "auto" scaling stretches 8-bit scenes too. ``band_names`` (a model's ``band_names`` metadata): without --band/--bands, a
    multi-band file's band whose description is one of these is read, and ``Scene.scaling_note`` says so.
    """
    path = Path(path)
    if not path.exists():
        raise GlacierfrontError(f"{path}: file not found; check the path")
    try:
        with warnings.catch_warnings():
            # A file without georeferencing is reported below as a clear error (or allowed on request).
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
            complex_values = np.dtype(dataset.dtypes[0]).kind == "c"
            if complex_values:
                # Complex (SLC) data: GDAL's derived amplitude |z|, not the real part a plain read would keep.
                dataset.close()
                dataset = rasterio.open(f"DERIVED_SUBDATASET:AMPLITUDE:{path}")
    except RasterioIOError:
        raise GlacierfrontError(f"{path}: not a raster GDAL can read; pass a GeoTIFF scene") from None
    try:
        if dataset.crs is None and not allow_pixel_coords:
            raise GlacierfrontError(
                f"{path}: has no coordinate reference system; georeference it, "
                f"or pass --allow-pixel-coords to work in pixel coordinates"
            )
        indexes, band_note = _choose_bands(path, dataset.count, band, bands, dataset.descriptions, band_names)
        scene = Scene(path, dataset, indexes, scaling, target_resolution, nodata, metric_grid, per_image)
        if band_note:
            scene.scaling_note = f"{band_note}; {scene.scaling_note}"
        if complex_values:
            scene.scaling_note = f"complex (SLC) values read as amplitude |z|; {scene.scaling_note}"
        return scene
    except BaseException:
        dataset.close()
        raise

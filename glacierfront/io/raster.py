"""Open a GeoTIFF scene and read scaled, masked windows of it without ever loading the whole scene.

Bands
    Single-band files need nothing. ``band=N`` picks band N (1-based, like GDAL). ``bands=[a, b, ...]``
    reduces several bands to one channel: Rec.601 luma (0.299, 0.587, 0.114) for exactly three bands
    taken as R, G, B; the plain mean for any other count. Without either, a multi-band file is read at
    the band whose description names a band the model asks for (its ``band_names``, e.g. "green" or "B3"
    for the optical model); where none does, or the model names none, it is an error.

Scaling to [0, 1] (the model was trained on caffe256: 8-bit SAR amplitude / 255, 0 = no data)
    "auto" decides what the values are, then maps them; ``Scene.scaling_note`` says what it did, in one line.
      uint8                            /255: the training data's own encoding.
      float whose valid median is < 0  dB (amplitude and power are never negative): converted to amplitude
                                       10^(x/20), then as amplitude. Amplitude dB (20 log10 A) and power dB
                                       (10 log10 A^2) are the same number, so both come out as amplitude.
      anything else (uint16, integers, float amplitude)   amplitude: "percentile:0.5,99.5".
    Measured with ``.venv/bin/python benchmarks/intensity_bench.py --speckle`` (the shipped model on its 48
    validation images written as GeoTIFFs; pooled MDE in px of the 256 grid): 8-bit /255 3.85; uint16 (v*257,
    v*40, v*40+1000) and float amplitude 3.86 (the former 2-98 stretch 3.87); float dB 3.86 (a stretch of
    the dB values, the former auto: 8.06); single-look speckled amplitude or dB 4.28 (2-98 4.39, min-max
    4.86). A pure gain ("gain:99.5") ties it without an offset (3.84) but gives 4.21 on v*40+1000.
    Not detected, so say it: linear power such as sigma0 (taken as amplitude: 4.41; "power": 3.86), dB whose
    values are mostly positive, e.g. dB of raw DN (taken as amplitude: 8.70; "db": 3.86), and dB coded in
    integers (convert it first).

Explicit modes
    A mapping, optionally after a word that says what the values are ("db+percentile:1,99"):
    "db" / "power" / "amplitude"  dB -> 10^(x/20), power -> sqrt(max(x, 0)), amplitude unchanged; alone,
                      each takes auto's amplitude mapping. Mappings then apply to the converted values.
                      The conversion follows band reduction and resampling (dB is averaged as dB).
    "uint8"           divide by 255.
    "percentile"      linear stretch of the 2nd..98th percentile of the valid pixels to 0..1;
    "percentile:L,H"  the same with the Lth..Hth percentile. Percentiles and gains come from one decimated
                      read of the scene (at most 1024 px a side; GDAL uses overviews when the file has
                      them), so every window gets the same map and the full array is never in memory.
    "gain[:P|mean]"   x / g, with g putting the Pth percentile (default 99.5; or the mean) of the valid
                      pixels where it lies in the training data (``TRAIN_STATS``); 0 stays 0.
    "minmax:A,B"      linear A..B -> 0..1.
    "none"            values are already in 0..1.
    Every mode clips to [0, 1]; every mode but an 8-bit /255 clips valid pixels to at least ``VALID_FLOOR``
    (1/255, the darkest valid 8-bit value): the model learned exact 0 as no data, and a stretch that sends the
    darkest 0.5 % of a scene (calm open water) to 0 made it call the fjord "no data" (HMB basemap: the whole
    fjord NA, no front in the box).

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
    the WGS 84 UTM zone of the scene centre (UPS north/south beyond UTM's 80 S..84 N), through a GDAL
    WarpedVRT with the same nodata-aware bilinear resampling, so read_window works as on any grid. UTM is
    conformal and within 0.1 % of true scale for a few hundred km from its central meridian at any
    latitude (polar stereographic EPSG:3413/3031 is 2-4 % off between 60 and 90 degrees), and its EPSG
    code travels with the zone map. The spacing is ``target_resolution`` in metres, or without one the
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

REC601_WEIGHTS = (0.299, 0.587, 0.114)
DEFAULT_PERCENTILES = (2.0, 98.0)
STATS_MAX_SIDE_PX = 1024

# The model's training input: caffe256 8-bit amplitude / 255. For each of its 482 images, a statistic of the
# valid pixels (8-bit value > 0) divided by 255; the constant is the median of that statistic over the images.
# Measured with:  .venv/bin/python benchmarks/intensity_bench.py --train-stats
TRAIN_STATS = {
    "mean": 0.3105,
    "50": 0.2510,
    "90": 0.6686,
    "95": 0.8078,
    "98": 0.8980,
    "99": 0.9373,
    "99.5": 0.9686,
    "99.9": 1.0,
}
# What auto does with amplitude-like data (uint16, integers, non-negative floats, dB after conversion):
# the mapping that measured best in benchmarks/intensity_bench.py across plain, offset and speckled data.
AMPLITUDE_MAPPING = "percentile:0.5,99.5"
# Lowest value a valid pixel is given by a stretch (not by /255 of 8-bit data, which keeps the training data's
# own 0 = no data): the darkest valid value of the 8-bit training data.
VALID_FLOOR = 1.0 / 255.0
# Conversions to amplitude a --scaling spec may start with ("db+percentile", "power+gain:99.5", ...).
CONVERSIONS = ("db", "power", "amplitude")
MAPPINGS_HELP = "auto, uint8, percentile[:L,H], gain[:P|mean], minmax:A,B or none, optionally after db+, power+ or amplitude+"


def db_to_amplitude(values: np.ndarray) -> np.ndarray:
    """Decibels -> linear amplitude: 10^(dB/20). Amplitude dB (20 log10 A) and power dB (10 log10 A^2) are
    the same number, so this is right for both."""
    with np.errstate(over="ignore"):
        return np.power(10.0, values / 20.0)


def power_to_amplitude(values: np.ndarray) -> np.ndarray:
    """Linear power (e.g. sigma0) -> amplitude: the square root; negative power (noise-subtracted) is 0."""
    return np.sqrt(np.maximum(values, 0.0))


_CONVERT = {"db": db_to_amplitude, "power": power_to_amplitude, "amplitude": None}


def stats_shape(height: int, width: int, max_side_px: int = STATS_MAX_SIDE_PX) -> tuple[int, int]:
    """Shape of the decimated read used for percentile statistics: at most ``max_side_px`` a side."""
    step = max(1, math.ceil(max(height, width) / max_side_px))
    return max(1, height // step), max(1, width // step)


def band_weights(count: int) -> np.ndarray:
    """Weights that reduce ``count`` bands to one luminance channel (Rec.601 for 3, else the mean)."""
    if count == 3:
        return np.asarray(REC601_WEIGHTS, dtype=np.float64)
    return np.full(count, 1.0 / count)


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone of a point in degrees; UPS north or south beyond UTM's 80 S..84 N."""
    if lat >= 84.0:
        return CRS.from_epsg(32661)
    if lat < -80.0:
        return CRS.from_epsg(32761)
    lon = (lon + 180.0) % 360.0 - 180.0
    zone = min(int((lon + 180.0) // 6) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


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


def check_scaling(spec: str) -> None:
    """A --scaling spec checked before any work, as far as it can be without data: the words and numbers.
    What the data then gives (e.g. a gain on an all-zero scene) is checked per scene by ``Scene``."""
    if spec == "auto":
        return
    head, plus, rest = spec.partition("+")
    if head in CONVERSIONS:
        if plus and not rest:
            raise GlacierfrontError(f"--scaling {spec!r} needs a mapping after '+', e.g. {head}+percentile")
        mapping = rest or AMPLITUDE_MAPPING
    elif plus:
        raise GlacierfrontError(
            f"--scaling {spec!r}: unknown conversion {head!r}; use db+, power+ or amplitude+"
        )
    else:
        mapping = spec
    mode, _, args = mapping.partition(":")
    if mode in ("uint8", "none", "auto") and not args:
        return
    if (mode == "minmax" and args) or (mode == "percentile" and args):
        low, high = _parse_pair("--scaling", mapping, spec)
        if mode == "percentile" and not 0 <= low < high <= 100:
            raise GlacierfrontError(f"--scaling {spec!r}: percentiles must lie in 0..100")
        return
    if mode == "percentile":
        return
    if mode == "gain":
        try:
            key = "mean" if args in ("", "mean") else f"{float(args):g}"
        except ValueError:
            key = args
        if args and key not in TRAIN_STATS:
            raise GlacierfrontError(f"--scaling {spec!r}: gain takes one of {', '.join(TRAIN_STATS)}")
        return
    raise GlacierfrontError(f"--scaling {spec!r}: unknown; use {MAPPINGS_HELP}")


def _parse_pair(path: Path | str, mapping: str, spec: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in mapping.partition(":")[2].split(","))
    except ValueError:
        raise GlacierfrontError(
            f"{path}: cannot read numbers in --scaling {spec!r}; write e.g. minmax:0,1000"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise GlacierfrontError(f"{path}: --scaling {spec!r} needs finite numbers, e.g. minmax:0,1000")
    if not high > low:
        raise GlacierfrontError(f"{path}: --scaling {spec!r} needs the second number above the first")
    return low, high


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
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.indexes = indexes
        self.weights = band_weights(len(indexes))
        self.source_crs: CRS | None = dataset.crs
        self.crs: CRS | None = dataset.crs
        self.transform: Affine = dataset.transform
        self.source_width: int = dataset.width
        self.source_height: int = dataset.height
        self.source_resolution: tuple[float, float] = tuple(dataset.res)
        self.dtype: str = dataset.dtypes[indexes[0] - 1]
        # nodata: the value taken as no data; nodata_override: the caller's, which replaces the file's.
        self.file_nodata: float | None = dataset.nodatavals[indexes[0] - 1]
        self.nodata_override = nodata
        self.nodata: float | None = self.file_nodata if nodata is None else nodata
        if nodata is not None:
            _check_nodata(path, nodata, self.dtype)
        if target_resolution is not None and not target_resolution > 0:
            raise GlacierfrontError(f"{path}: target resolution must be positive, got {target_resolution}")
        # Reads go to _reader: the file, or a WarpedVRT of it where GDAL must warp (a metric grid for a
        # geographic scene) or must know the caller's nodata to resample around it.
        self._reader: rasterio.io.DatasetReaderBase = dataset
        self.reprojected = metric_grid and self.crs is not None and self.crs.is_geographic
        if self.reprojected:
            spacing = target_resolution or min(self._source_metres_per_pixel())
            self.crs, self.resampled_transform, self.width, self.height = self._metric_grid(spacing)
            self._reader = WarpedVRT(
                dataset,
                crs=self.crs,
                transform=self.resampled_transform,
                width=self.width,
                height=self.height,
                resampling=Resampling.bilinear,
                add_alpha=True,  # grid pixels outside the scene's footprint: invalid
                **({} if nodata is None else {"src_nodata": nodata}),
            )
            self.resolution: tuple[float, float] = (spacing, spacing)
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
            self.resolution = (
                self.source_resolution[0] / self.scale_factor[0],
                self.source_resolution[1] / self.scale_factor[1],
            )
            if nodata is not None and self._read_scale != (1.0, 1.0):
                self._reader = WarpedVRT(dataset, src_nodata=nodata, nodata=nodata)
        self.resampled: bool = self.reprojected or self.scale_factor != (1.0, 1.0)
        self.scaling = scaling
        self._sample: np.ndarray | None = None
        # conversion: None or "db"/"power" (applied before the linear map); scale_low/high: the values that
        # map to 0 and 1 after it; scaling_note: the whole mapping in one line, for logs.
        self.conversion: str | None = None
        try:
            self.scale_low, self.scale_high, self.scaling_note = self._resolve_scaling(scaling)
            eight_bit = (self.scale_low, self.scale_high) == (0.0, 255.0)
            self.valid_floor = 0.0 if eight_bit else VALID_FLOOR
        except BaseException:
            if self._reader is not dataset:
                self._reader.close()
            raise
        if nodata is not None:
            had = (
                "" if self.file_nodata is None else f", replacing the file's own nodata {self.file_nodata:g}"
            )
            self.scaling_note = f"pixels of {nodata:g} are nodata (--nodata{had}); {self.scaling_note}"

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
        crs = utm_crs(*self.centre_lon_lat())
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

    def _converted_sample(self) -> np.ndarray:
        convert = _CONVERT.get(self.conversion or "amplitude")
        sample = self._valid_sample()
        return sample if convert is None else convert(sample)

    def _resolve_scaling(self, scaling: str) -> tuple[float, float, str]:
        """(low, high, note) for a --scaling spec; sets ``self.conversion``."""
        if scaling == "auto":
            return self._auto_scaling()
        head, plus, rest = scaling.partition("+")
        if head in CONVERSIONS:
            if plus and not rest:
                raise GlacierfrontError(
                    f"{self.path}: --scaling {scaling!r} needs a mapping after '+', e.g. {head}+percentile"
                )
            self.conversion = None if head == "amplitude" else head
            mapping = rest or AMPLITUDE_MAPPING
            low, high, how = self._mapping_range(mapping, scaling)
            taken = {
                "db": "dB, converted to amplitude 10^(x/20)",
                "power": "power, converted to amplitude sqrt(x)",
            }
            return low, high, f"{self.dtype} {taken.get(head, 'amplitude')} (--scaling {scaling}), then {how}"
        if plus:
            raise GlacierfrontError(
                f"{self.path}: unknown conversion {head!r} in --scaling {scaling!r}; use db+, power+ or amplitude+"
            )
        low, high, how = self._mapping_range(scaling, scaling)
        return low, high, f"{self.dtype} (--scaling {scaling}): {how}"

    def _auto_scaling(self) -> tuple[float, float, str]:
        if self.dtype == "uint8":
            return 0.0, 255.0, "uint8: divided by 255 (as the training data)"
        start = f"{self.dtype} taken as amplitude"
        if np.dtype(self.dtype).kind == "f":
            median = float(np.median(self._valid_sample()))
            if median < 0:  # amplitude and power are never negative: float data that mostly is, is dB
                self.conversion = "db"
                start = f"{self.dtype} dB detected (median {median:.1f}): converted to amplitude 10^(x/20)"
        low, high, how = self._mapping_range(AMPLITUDE_MAPPING, "auto")
        return low, high, f"{start}, then {how}"

    def _mapping_range(self, mapping: str, spec: str) -> tuple[float, float, str]:
        """(low, high, description) of a mapping applied after ``self.conversion``; ``spec`` for messages."""
        mode, _, args = mapping.partition(":")
        if mode == "uint8" and not args:
            return 0.0, 255.0, "divided by 255"
        if mode == "none" and not args:
            return 0.0, 1.0, "taken as 0..1"
        if mode == "minmax" and args:
            low, high = _parse_pair(self.path, mapping, spec)
            return low, high, f"{low:g}..{high:g} -> 0..1"
        if mode == "percentile":
            p_low, p_high = _parse_pair(self.path, mapping, spec) if args else DEFAULT_PERCENTILES
            if not 0 <= p_low < p_high <= 100:
                raise GlacierfrontError(f"{self.path}: percentiles in --scaling {spec!r} must lie in 0..100")
            low, high = np.percentile(self._converted_sample(), [p_low, p_high])
            if not high > low:  # a flat scene: keep the map defined; every pixel lands on 0
                high = low + 1.0
            return (
                float(low),
                float(high),
                f"{p_low:g}-{p_high:g} percentile stretch ({low:.4g}..{high:.4g} -> 0..1)",
            )
        if mode == "gain":
            return self._gain_range(args or "99.5", spec)
        raise GlacierfrontError(f"{self.path}: unknown --scaling {spec!r}; use {MAPPINGS_HELP}")

    def _gain_range(self, stat: str, spec: str) -> tuple[float, float, str]:
        """A pure gain: the valid pixels' statistic (a percentile, or the mean) lands where the training data's
        does, and 0 stays 0."""
        try:
            key = "mean" if stat == "mean" else f"{float(stat):g}"
        except ValueError:
            key = stat
        if key not in TRAIN_STATS:
            raise GlacierfrontError(
                f"{self.path}: --scaling {spec!r}: gain takes one of {', '.join(TRAIN_STATS)} "
                "(the training-data statistics it matches)"
            )
        sample = self._converted_sample()
        value = float(sample.mean()) if key == "mean" else float(np.percentile(sample, float(key)))
        if not (np.isfinite(value) and value > 0):
            raise GlacierfrontError(
                f"{self.path}: --scaling {spec!r}: the {key} of the valid pixels is {value:g}, not positive; "
                "a gain cannot map it, use percentile"
            )
        what = "mean" if key == "mean" else f"{key}th percentile"
        high = value / TRAIN_STATS[key]
        return (
            0.0,
            high,
            f"gain x / {high:.4g} ({what} {value:.4g} -> {TRAIN_STATS[key]:g} as in the training data)",
        )

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
        if self.conversion is not None:
            lum = _CONVERT[self.conversion](lum)
        scaled = np.clip((lum - self.scale_low) / (self.scale_high - self.scale_low), self.valid_floor, 1.0)
        return np.where(ok, scaled, 0.0).astype(np.float32), ok

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
) -> Scene:
    """Open a raster scene for windowed reading; close it with ``close()`` or use it as a context manager.

    See the module docstring for band choice, scaling modes, validity, resampling, ``nodata`` and
    ``metric_grid``. ``band_names`` (a model's ``band_names`` metadata): without --band/--bands, a
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
        scene = Scene(path, dataset, indexes, scaling, target_resolution, nodata, metric_grid)
        if band_note:
            scene.scaling_note = f"{band_note}; {scene.scaling_note}"
        if complex_values:
            scene.scaling_note = f"complex (SLC) values read as amplitude |z|; {scene.scaling_note}"
        return scene
    except BaseException:
        dataset.close()
        raise

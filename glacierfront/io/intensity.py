"""Intensity mapping: how a scene's values become the model's input in [0, 1] (``--scaling``).

The model was trained on caffe256: 8-bit SAR amplitude / 255, 0 = no data. ``parse_scaling`` reads a spec
(words and numbers, before any data); ``resolve_scaling`` decides, from one decimated sample of the scene's
valid values, the ``IntensityMap`` that ``io.raster.Scene`` applies to every window it reads.

Scaling to [0, 1]
    "auto" decides what the values are, then maps them; ``Scene.scaling_note`` says what it did, in one line.
      uint8                            /255: the training data's own encoding.
      float whose valid median is < 0  dB (amplitude and power are never negative): converted to amplitude
                                       10^(x/20), then as amplitude. Amplitude dB (20 log10 A) and power dB
                                       (10 log10 A^2) are the same number, so both come out as amplitude.
      anything else (uint16, integers, float amplitude)   amplitude: "percentile:0.5,99.5".
      For a model trained with ``--per-image-norm`` (``per_image_model``) uint8 is stretched that way too.
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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError

DEFAULT_PERCENTILES = (2.0, 98.0)
DEFAULT_GAIN_STAT = "99.5"
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
# A model trained with per-image normalisation (``train --per-image-norm``) saw every image stretched by its own
# valid pixels' AMPLITUDE_MAPPING percentiles, 8-bit ones too: its metadata's normalization.input_scale says so,
# and "auto" then stretches 8-bit scenes as well instead of dividing them by 255.
PER_IMAGE_SCALE = "per-image 0.5-99.5 percentile stretch of the valid pixels"
# Conversions to amplitude a --scaling spec may start with ("db+percentile", "power+gain:99.5", ...).
CONVERSIONS = ("db", "power", "amplitude")
MAPPINGS_HELP = "auto, uint8, percentile[:L,H], gain[:P|mean], minmax:A,B or none, optionally after db+, power+ or amplitude+"
# How the note names what an explicit conversion word took the values for.
_TAKEN = {"db": "dB, converted to amplitude 10^(x/20)", "power": "power, converted to amplitude sqrt(x)"}


def db_to_amplitude(values: np.ndarray) -> np.ndarray:
    """Decibels -> linear amplitude: 10^(dB/20). Amplitude dB (20 log10 A) and power dB (10 log10 A^2) are
    the same number, so this is right for both."""
    with np.errstate(over="ignore"):
        return np.power(10.0, values / 20.0)


def power_to_amplitude(values: np.ndarray) -> np.ndarray:
    """Linear power (e.g. sigma0) -> amplitude: the square root; negative power (noise-subtracted) is 0."""
    return np.sqrt(np.maximum(values, 0.0))


CONVERT = {"db": db_to_amplitude, "power": power_to_amplitude, "amplitude": None}


@dataclass(frozen=True)
class ScalingSpec:
    """A --scaling spec as written: the conversion word (None without one), the mapping's mode ("auto",
    "uint8", "none", "minmax", "percentile" or "gain") and its numbers: minmax's or the percentiles' pair,
    gain's ``TRAIN_STATS`` key."""

    text: str
    word: str | None
    mode: str
    pair: tuple[float, float] | None = None
    stat: str | None = None


def _gain_key(stat: str) -> str:
    try:
        return "mean" if stat == "mean" else f"{float(stat):g}"
    except ValueError:
        return stat


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


def _split(spec: str, at: str) -> tuple[str | None, str]:
    """(conversion word or None, mapping) of a spec other than "auto"; ``at`` starts each message."""
    head, plus, rest = spec.partition("+")
    if head in CONVERSIONS:
        if plus and not rest:
            raise GlacierfrontError(
                f"{at}--scaling {spec!r} needs a mapping after '+', e.g. {head}+percentile"
            )
        return head, rest or AMPLITUDE_MAPPING
    if plus:
        raise GlacierfrontError(
            f"{at}--scaling {spec!r}: unknown conversion {head!r}; use db+, power+ or amplitude+"
        )
    return None, spec


def parse_scaling(spec: str, where: Path | str | None = None) -> ScalingSpec:
    """A --scaling spec read and checked as far as it can be without data: the words and numbers.
    Messages start with ``where`` (a file) when given. What the data then gives (e.g. a gain on an all-zero
    scene) is checked by ``resolve_scaling``."""
    if spec == "auto":
        return ScalingSpec(spec, None, "auto")
    at = f"{where}: " if where else ""
    word, mapping = _split(spec, at)
    mode, _, args = mapping.partition(":")
    if mode in ("uint8", "none", "auto") and not args:
        return ScalingSpec(spec, word, mode)
    if mode in ("minmax", "percentile") and args:
        low, high = _parse_pair(where or "--scaling", mapping, spec)
        if mode == "percentile" and not 0 <= low < high <= 100:
            raise GlacierfrontError(f"{at}--scaling {spec!r}: percentiles must lie in 0..100")
        return ScalingSpec(spec, word, mode, pair=(low, high))
    if mode == "percentile":
        return ScalingSpec(spec, word, mode, pair=DEFAULT_PERCENTILES)
    if mode == "gain":
        key = _gain_key(args or DEFAULT_GAIN_STAT)
        if key not in TRAIN_STATS:
            raise GlacierfrontError(f"{at}--scaling {spec!r}: gain takes one of {', '.join(TRAIN_STATS)}")
        return ScalingSpec(spec, word, mode, stat=key)
    raise GlacierfrontError(f"{at}--scaling {spec!r}: unknown; use {MAPPINGS_HELP}")


def check_scaling(spec: str) -> None:
    """A --scaling spec checked before any work, as far as it can be without data: the words and numbers.
    What the data then gives (e.g. a gain on an all-zero scene) is checked per scene by ``Scene``."""
    parse_scaling(spec)


@dataclass(frozen=True)
class IntensityMap:
    """One scene's map to the model's input: ``conversion`` (None, "db" or "power") to amplitude, then
    ``low``..``high`` -> 0..1, clipped to [``floor``, 1]; ``note`` says it in one line, for logs."""

    conversion: str | None
    low: float
    high: float
    note: str

    @property
    def floor(self) -> float:
        """0 for an 8-bit /255 map (the training data's own 0 = no data), else ``VALID_FLOOR``."""
        return 0.0 if (self.low, self.high) == (0.0, 255.0) else VALID_FLOOR

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Valid values (float64, after band reduction) mapped to [floor, 1]."""
        if self.conversion is not None:
            values = CONVERT[self.conversion](values)
        return np.clip((values - self.low) / (self.high - self.low), self.floor, 1.0)


def per_image_model(metadata: dict) -> bool:
    """Whether a model's metadata says it was trained on per-image stretched input (``PER_IMAGE_SCALE``)."""
    normalization = metadata.get("normalization") or {}
    return isinstance(normalization, dict) and normalization.get("input_scale") == PER_IMAGE_SCALE


def percentile_range(values: np.ndarray, p_low: float, p_high: float) -> tuple[float, float]:
    """The (low, high) percentiles of valid values; a flat image keeps the map defined (high = low + 1)."""
    low, high = np.percentile(values, [p_low, p_high])
    if not high > low:  # a flat scene: every pixel lands on the floor
        high = low + 1.0
    return float(low), float(high)


def stretch_per_image(image01: np.ndarray) -> np.ndarray:
    """An image in [0, 1] (0 = no data) stretched as "auto" stretches a scene for a per-image model: its valid
    pixels' AMPLITUDE_MAPPING percentiles to 0..1, clipped to [VALID_FLOOR, 1]; no data stays 0. Training
    (``--per-image-norm``) and chip evaluation of such a model use it, so they see what predict gives it."""
    valid = image01 > 0
    out = np.zeros(image01.shape, np.float32)
    if not valid.any():
        return out
    p_low, p_high = parse_scaling(AMPLITUDE_MAPPING).pair
    low, high = percentile_range(image01[valid].astype(np.float64), p_low, p_high)
    out[valid] = np.clip((image01[valid] - low) / (high - low), VALID_FLOOR, 1.0)
    return out


def resolve_scaling(
    spec: str, dtype: str, path: Path | str, sample: Callable[[], np.ndarray], per_image: bool = False
) -> IntensityMap:
    """The ``IntensityMap`` of a --scaling spec for a scene of ``dtype`` values; ``sample()`` gives its valid
    values (1-D float64, before any conversion) and is called only when the map needs data. ``per_image``:
    the model wants every scene stretched (``per_image_model``), so "auto" stretches 8-bit data too."""
    parsed = parse_scaling(spec, path)
    if parsed.mode == "auto" and parsed.word is None:
        return _auto(dtype, path, sample, per_image)
    conversion = None if parsed.word in (None, "amplitude") else parsed.word
    low, high, how = _mapping_range(parsed, conversion, path, sample)
    if parsed.word is None:
        note = f"{dtype} (--scaling {spec}): {how}"
    else:
        note = f"{dtype} {_TAKEN.get(parsed.word, 'amplitude')} (--scaling {spec}), then {how}"
    return IntensityMap(conversion, low, high, note)


def _auto(
    dtype: str, path: Path | str, sample: Callable[[], np.ndarray], per_image: bool = False
) -> IntensityMap:
    if dtype == "uint8" and not per_image:
        return IntensityMap(None, 0.0, 255.0, "uint8: divided by 255 (as the training data)")
    start, conversion = f"{dtype} taken as amplitude", None
    if per_image:
        start += " (the model was trained on per-image stretched input)"
    if np.dtype(dtype).kind == "f":
        median = float(np.median(sample()))
        if median < 0:  # amplitude and power are never negative: float data that mostly is, is dB
            conversion = "db"
            start = f"{dtype} dB detected (median {median:.1f}): converted to amplitude 10^(x/20)"
    amplitude = parse_scaling(AMPLITUDE_MAPPING)
    low, high, how = _mapping_range(amplitude, conversion, path, sample)
    return IntensityMap(conversion, low, high, f"{start}, then {how}")


def _mapping_range(
    parsed: ScalingSpec, conversion: str | None, path: Path | str, sample: Callable[[], np.ndarray]
) -> tuple[float, float, str]:
    """(low, high, description) of the spec's mapping, applied after ``conversion``."""
    if parsed.mode == "uint8":
        return 0.0, 255.0, "divided by 255"
    if parsed.mode == "none":
        return 0.0, 1.0, "taken as 0..1"
    if parsed.mode == "minmax":
        low, high = parsed.pair
        return low, high, f"{low:g}..{high:g} -> 0..1"
    if parsed.mode == "auto":  # "db+auto" passes check_scaling but names no mapping: refused per scene
        raise GlacierfrontError(f"{path}: unknown --scaling {parsed.text!r}; use {MAPPINGS_HELP}")
    values = _converted(sample(), conversion)
    if parsed.mode == "percentile":
        p_low, p_high = parsed.pair
        low, high = percentile_range(values, p_low, p_high)
        return (
            low,
            high,
            f"{p_low:g}-{p_high:g} percentile stretch ({low:.4g}..{high:.4g} -> 0..1)",
        )
    return _gain_range(parsed, values, path)


def _converted(values: np.ndarray, conversion: str | None) -> np.ndarray:
    convert = CONVERT.get(conversion or "amplitude")
    return values if convert is None else convert(values)


def _gain_range(parsed: ScalingSpec, values: np.ndarray, path: Path | str) -> tuple[float, float, str]:
    """A pure gain: the valid pixels' statistic (a percentile, or the mean) lands where the training data's
    does, and 0 stays 0."""
    key = parsed.stat
    value = float(values.mean()) if key == "mean" else float(np.percentile(values, float(key)))
    if not (np.isfinite(value) and value > 0):
        raise GlacierfrontError(
            f"{path}: --scaling {parsed.text!r}: the {key} of the valid pixels is {value:g}, not positive; "
            "a gain cannot map it, use percentile"
        )
    what = "mean" if key == "mean" else f"{key}th percentile"
    high = value / TRAIN_STATS[key]
    return (
        0.0,
        high,
        f"gain x / {high:.4g} ({what} {value:.4g} -> {TRAIN_STATS[key]:g} as in the training data)",
    )

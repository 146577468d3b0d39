"""Read: a scene opened on the grid the model wants, and the choice of that grid's pixel spacing.

The spacing comes from the scene's own, ``--resolution`` and the model's training scale (its metadata's
``resolution_m`` and ``resolution_range_m``); a choice likely wrong for the model carries a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.intensity import per_image_model
from glacierfront.io.raster import Scene, open_scene
from glacierfront.model.backend import Backend
from glacierfront.model.scale import read_scale
from glacierfront.predict.options import PredictOptions

# --resolution native: keep each scene's own grid.
NATIVE = "native"
# A scene within 1 % of the target spacing is kept on its grid: resampling it would change nothing.
SAME_SCALE = 0.01
# A model that states resolution_m but no resolution_range_m is taken to tolerate 1.5x either way.
DEFAULT_SCALE_TOLERANCE = 1.5


@dataclass(frozen=True)
class ScaleChoice:
    """The spacing a scene is processed at, and what the user should hear about it.

    ``target_m`` None means the scene's native grid. ``note`` says what was done and how to change it;
    ``warning`` says the spacing is likely wrong for the model and what to do. ``warn_once`` marks a
    warning about the model or the run rather than this scene: a caller with many scenes says it once.
    """

    native_m: float | None
    target_m: float | None
    note: str | None = None
    warning: str | None = None
    warn_once: bool = False

    @property
    def processed_m(self) -> float | None:
        return self.native_m if self.target_m is None else self.target_m


# Resampling a scene finer than this many times its own pixel count is refused: it is almost surely a wrong
# --resolution (0.1 m on a 60 m scene asks for 360,000x the pixels), not a wish.
MAX_UPSAMPLE = 16


def check_resolution(value: float | str | None) -> float | str | None:
    """A valid ``PredictOptions.resolution_m``: None, "native", or a positive number of metres (text is parsed)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == NATIVE:
            return NATIVE
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise GlacierfrontError(
            f"--resolution {value}: give a pixel spacing in metres (e.g. 60) or native (the scene's own grid)"
        )
    return number


def choose_scale(
    native_m: float | None,
    requested: float | str | None,
    model_m: float | None,
    model_range: tuple[float, float] | None,
) -> ScaleChoice:
    """Decide the processing spacing of a scene from its own spacing, the request and the model's scale.

    ``requested``: None (the model's ``resolution_m``, else native), "native", or metres. ``native_m`` is
    None for a scene without a CRS, which cannot be resampled. A spacing outside ``model_range`` (or 1.5x
    either way of ``model_m`` when the model states no range) gets a warning saying what to do.
    """
    requested = check_resolution(requested)
    if native_m is None:
        return _no_crs_choice(requested, model_m)
    if model_range is None and model_m is not None:
        model_range = (model_m / DEFAULT_SCALE_TOLERANCE, model_m * DEFAULT_SCALE_TOLERANCE)
    target = _target_spacing(native_m, requested, model_m)
    note = None if target is None else _resample_note(native_m, target, requested)
    processed = native_m if target is None else target
    if model_range is None:
        if isinstance(requested, float):
            return ScaleChoice(native_m, target, note)
        warning = (
            "the model states no training pixel spacing (metadata resolution_m), so scenes are processed "
            "on their own grid and fronts can be kilometres off if that differs from the training data's: "
            "pass --resolution M, or stamp the model with `glacierfront export --resolution-m M`"
        )
        return ScaleChoice(native_m, target, note, warning, warn_once=True)
    lo, hi = model_range
    if lo * (1 - SAME_SCALE) <= processed <= hi * (1 + SAME_SCALE):
        return ScaleChoice(native_m, target, note)
    return ScaleChoice(native_m, target, note, _off_scale_warning(native_m, requested, model_m, lo, hi))


def _no_crs_choice(requested: float | str | None, model_m: float | None) -> ScaleChoice:
    """A scene without a CRS: kept on its own grid, with a (once per run) warning on how to resample it."""
    text = "no CRS (pixel coordinates): nothing can be resampled, so scenes are processed on their own grid"
    wanted = requested if isinstance(requested, float) else model_m
    if wanted:
        text += f"; resample the files to about {wanted:g} m pixels beforehand (e.g. gdalwarp -tr)"
    return ScaleChoice(None, None, warning=text, warn_once=True)


def _target_spacing(native_m: float, requested: float | str | None, model_m: float | None) -> float | None:
    """The spacing to resample to (--resolution, else the model's), None to keep the scene's own grid."""
    if isinstance(requested, float):
        target = requested
    elif requested is None and model_m is not None:
        target = model_m
    else:
        target = None
    if target is not None and abs(native_m / target - 1) <= SAME_SCALE:
        target = None  # already there
    return target


def _resample_note(native_m: float, target: float, requested: float | str | None) -> str:
    """What resampling was done and why, and how to keep the grid instead."""
    why = "(--resolution)" if isinstance(requested, float) else "(the model's training scale)"
    return f"{native_m:.1f} m pixels resampled to {target:.1f} m {why}; --resolution native to keep the grid"


def _off_scale_warning(
    native_m: float, requested: float | str | None, model_m: float | None, lo: float, hi: float
) -> str:
    """The warning for a processing spacing outside the model's lo..hi m, and what to pass instead."""
    trained = f"outside the {lo:g}-{hi:g} m the model was trained for, so fronts may be far off"
    fix = f"in {lo:g}..{hi:g}" if model_m is None else f"in {lo:g}..{hi:g} (the model's own is {model_m:g} m)"
    if isinstance(requested, float):
        warning = f"--resolution {requested:g} m is {trained}; pass --resolution M {fix}"
        if model_m is not None:
            warning += " or leave --resolution out"
    else:
        warning = f"processed at its own {native_m:.1f} m pixels, {trained}; "
        if requested == NATIVE and model_m is not None:
            warning += f"leave out --resolution native to resample to {model_m:g} m"
        else:
            warning += f"pass --resolution M {fix}"
    return warning


def model_scale(backend: Backend) -> tuple[float | None, tuple[float, float] | None]:
    """The model's training spacing and tolerated range from its metadata (None where not stated)."""
    return read_scale(backend.metadata, backend.path.name)


def open_for_model(path: Path, backend: Backend, options: PredictOptions) -> tuple[Scene, ScaleChoice]:
    """Open a scene on the grid the model wants (see ``choose_scale``); also returns the choice made."""
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
        band_names=backend.metadata.get("band_names"),
        nodata=options.nodata,
        per_image=per_image_model(backend.metadata),
    )
    requested = check_resolution(options.resolution_m)
    model_m, model_range = model_scale(backend)
    scene = open_scene(path, **kwargs)
    try:
        mpp = scene.metres_per_pixel()
        geographic = scene.crs is not None and scene.crs.is_geographic
        # Degree pixels are not square on the ground (48 x 134 m at 70 N): their native spacing is the finer
        # axis, which keeps every detail once they are resampled to square metric pixels.
        native_m = None if mpp is None else float(min(mpp) if geographic else np.mean(mpp))
        choice = choose_scale(native_m, requested, model_m, model_range)
    except BaseException:
        scene.close()
        raise
    if choice.target_m is None and not geographic:
        return scene, choice
    target_m = choice.processed_m
    # Scale the map-unit spacing by the metre ratio, so feet work as well as metres.
    target_units = scene.source_resolution[0] * target_m / mpp[0]
    native_px = scene.source_width * scene.source_height
    grid_px = native_px * mpp[0] * mpp[1] / target_m**2
    scene.close()
    if grid_px > MAX_UPSAMPLE * native_px:
        fix = "pass a coarser --resolution M" if choice.target_m is None else "or pass --resolution native"
        raise GlacierfrontError(
            f"{path}: processing at {target_m:g} m would make a {grid_px:.3g} px grid from "
            f"{native_px:.3g} px of {float(np.mean(mpp)):.3g} m (over {MAX_UPSAMPLE}x the pixels); "
            f"check --resolution, {fix}"
        )
    if not geographic:
        return open_scene(path, target_resolution=target_units, **kwargs), choice
    # Degrees: square target_m pixels in the UTM zone of the scene centre (io.raster, metric_grid); the
    # lines go back to the scene's CRS in predict_scene.
    scene = open_scene(path, target_resolution=target_m, metric_grid=True, **kwargs)
    if choice.target_m is None:
        why = "(its finer axis; --resolution M to choose)"
    else:
        why = "(--resolution)" if isinstance(requested, float) else "(the model's training scale)"
    note = (
        f"{mpp[0]:.1f} x {mpp[1]:.1f} m degree pixels resampled to square {target_m:.1f} m pixels in "
        f"{scene.crs.to_string()} {why}; lines are written in the scene's {scene.source_crs.to_string()}"
    )
    return scene, replace(choice, note=note)

"""How a scene is read, tiled and post-processed: the options of ``predict_scene``, checked when made."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from glacierfront.errors import GlacierfrontError
from glacierfront.predict.fronts import MIN_FRONT_LENGTH_M


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
    # Spacing (m) to process at: a number, NATIVE ("native") for the scene's own grid, or None for the
    # model's training spacing (metadata resolution_m; the native grid when the model states none).
    # A scene in degrees is always processed on square metric pixels (see open_for_model).
    resolution_m: float | str | None = None
    # A pixel value that means no data (e.g. CaFFe-style 0 borders), replacing the file's own if it has one.
    nodata: float | None = None
    min_length_m: float = MIN_FRONT_LENGTH_M
    aoi: Path | None = None
    simplify_px: float = 0.5
    # Which ocean pieces stay ocean: "largest" (CaFFe) or "edge" (those reaching the edge of the data).
    ocean_rule: str = "largest"
    # The glacier every line is filed under; None: the AOI polygon's glacier_id/name field, if any.
    glacier_id: str | None = None
    # Direction from the front into the glacier (compass point or bearing) for AOI boxes without their own
    # ``upstream`` field.
    upstream: str | None = None
    # "auto": the best crossing of each AOI box when every box knows its upstream end (its field or
    # ``upstream``), else CaFFe's rule; "caffe" or "box" to choose (see fronts_box).
    front_rule: str = "auto"

    def __post_init__(self) -> None:
        """What can be checked without a scene is checked when the options are made: before any work."""
        from glacierfront.io.intensity import check_scaling

        check_scaling(self.scaling)
        if not (math.isfinite(self.min_length_m) and self.min_length_m >= 0):
            raise GlacierfrontError(
                f"--min-length {self.min_length_m:g}: give a length in metres, 0 or more (default "
                f"{MIN_FRONT_LENGTH_M:g})"
            )

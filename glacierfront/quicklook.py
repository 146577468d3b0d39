"""A quicklook PNG for a person: the scene in grey, zones tinted over it, the calving front in red."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from glacierfront.io.atomic import atomic_path
from glacierfront.io.raster import Scene
from glacierfront.io.zonemap import ZONE_COLOURS
from glacierfront.vectorise import FrontLine

MAX_SIDE_PX = 1600
MIN_SIDE_PX = 768
ZONE_ALPHA = 0.35
FRONT_RGB = (230, 30, 30)


def render_quicklook(
    path: str | Path,
    scene: Scene,
    zones: np.ndarray,
    valid: np.ndarray,
    lines: list[FrontLine],
    title: str = "",
    max_side_px: int = MAX_SIDE_PX,
) -> Path:
    """Draw a decimated view (at most ``max_side_px`` a side) and write it atomically as PNG.

    ``lines`` are in the CRS of the scene's read grid (``scene.crs``, ``scene.resampled_transform``).
    """
    height, width = zones.shape
    step = max(1, math.ceil(max(height, width) / max_side_px))
    small_zones = np.asarray(zones[::step, ::step])
    small_valid = np.asarray(valid[::step, ::step])
    h, w = small_zones.shape
    # One decimated read of the scene on the same grid, scaled exactly as the model saw it: only the
    # picture's pixels are read (from the file's overviews when it has them), never the full grid.
    grey = scene.read_decimated(h, w)[0][0]
    rgb = np.repeat((grey * 255)[..., None], 3, axis=2)
    palette = np.zeros((256, 3), dtype=np.float32)
    for cls, colour in ZONE_COLOURS.items():
        palette[cls] = colour[:3]
    tint = palette[small_zones]
    blend = np.where(small_valid[..., None], (1 - ZONE_ALPHA) * rgb + ZONE_ALPHA * tint, rgb * 0.5)
    img = Image.fromarray(np.clip(blend, 0, 255).astype(np.uint8), mode="RGB")
    # Small scenes are enlarged (whole pixels, no smoothing) so the picture and its legend stay readable.
    zoom = max(1, MIN_SIDE_PX // max(h, w))
    if zoom > 1:
        img = img.resize((w * zoom, h * zoom), Image.NEAREST)
        h, w = h * zoom, w * zoom
    draw = ImageDraw.Draw(img)
    inverse = ~scene.resampled_transform
    for line in lines:
        xy = [inverse @ pt for pt in line.geometry.coords]
        draw.line(
            [(x * zoom / step, y * zoom / step) for x, y in xy],
            fill=FRONT_RGB,
            width=max(2, min(h, w) // 300),
        )
    legend = f"{title}  front: red ({len(lines)} lines)  rock: brown  glacier: white  ocean: blue"
    draw.rectangle([0, 0, min(w, 8 + 6 * len(legend)), 14], fill=(0, 0, 0))
    draw.text((4, 2), legend, fill=(255, 255, 255))
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return path

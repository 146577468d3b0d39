"""The page's picture of a scene and the grid its lines are drawn on.

The map on the page works in the scene's pixels (column, row of its full grid); the server carries every
line there and back with the scene's affine transform, so a line drawn on the page is saved in the scene's
CRS exactly. A scene whose GeoTIFF is not found gets a grid of its own around its lines (and the box), in the
lines' CRS, so that it can still be reviewed and redrawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from PIL import Image
from rasterio.crs import CRS

from glacierfront.errors import GlacierfrontError
from glacierfront.io.crs import reproject

PICTURE_MAX_SIDE_PX = 1024  # the decimated picture's longest side
FALLBACK_SIDE_PX = 1000  # a grid made around the lines of a scene without its image


@dataclass(frozen=True)
class Grid:
    """A scene's pixel grid: pixel (col, row) -> map (x, y) by ``transform``, in ``crs``."""

    transform: Affine
    crs: Any  # WKT
    width: int
    height: int
    has_image: bool

    def to_pixels(self, geoms: list[Any], crs: Any) -> list[Any]:
        """Geometries in ``crs`` -> this grid's (col, row) coordinates (None stays None)."""
        moved = reproject(geoms, crs, self.crs) if crs is not None else geoms
        inverse = ~self.transform
        return [None if g is None else _affine(g, inverse) for g in moved]

    def from_pixels(self, geom: Any) -> Any:
        """A (col, row) geometry -> the grid's CRS."""
        return _affine(geom, self.transform)

    def as_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "has_image": self.has_image}


def _affine(geom: Any, transform: Affine) -> Any:
    a, b, c, d, e, f = transform[:6]
    return shapely.transform(geom, lambda xy: np.column_stack((a * xy[:, 0] + b * xy[:, 1] + c,
                                                                 d * xy[:, 0] + e * xy[:, 1] + f)))  # fmt: skip


def image_grid(path: Path) -> Grid:
    """The grid of a scene's GeoTIFF (its native pixels)."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise GlacierfrontError(f"{path}: has no CRS; the review needs georeferenced scenes")
            return Grid(src.transform, src.crs.to_wkt(), src.width, src.height, True)
    except rasterio.errors.RasterioIOError:
        raise GlacierfrontError(f"{path}: not a raster GDAL can read") from None


def fallback_grid(geoms: list[Any], crs: Any) -> Grid:
    """A square-pixel grid over ``geoms`` (in ``crs``), padded by a fifth on each side."""
    shown = [g for g in geoms if g is not None and not g.is_empty]
    if not shown:
        return Grid(Affine.identity(), crs, FALLBACK_SIDE_PX, FALLBACK_SIDE_PX, False)
    x0, y0, x1, y1 = shapely.total_bounds(shown)
    span = max(x1 - x0, y1 - y0, 1e-9) * 1.4
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    size = span / FALLBACK_SIDE_PX
    transform = Affine(size, 0, cx - span / 2, 0, -size, cy + span / 2)
    return Grid(transform, CRS.from_user_input(crs).to_wkt(), FALLBACK_SIDE_PX, FALLBACK_SIDE_PX, False)


def picture_png(path: Path, max_side: int = PICTURE_MAX_SIDE_PX) -> bytes:
    """The scene decimated to at most ``max_side`` px (one read, from overviews where the file has them),
    scaled as predict scales it, as a grey PNG with nodata transparent."""
    from glacierfront.io.raster import open_scene

    with open_scene(path) as scene:
        factor = max(scene.width, scene.height) / max_side
        h, w = (scene.height, scene.width) if factor <= 1 else (
            max(1, round(scene.height / factor)), max(1, round(scene.width / factor)))  # fmt: skip
        image, valid = scene.read_decimated(h, w)
    grey = np.clip(np.nan_to_num(image[0]) * 255, 0, 255).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.where(valid, 255, 0).astype(np.uint8)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()

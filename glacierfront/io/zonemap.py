"""Zone maps as GeoTIFF: tiled, compressed uint8 with a colour table, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp

from glacierfront.io.atomic import atomic_path
from glacierfront.zones import ZONE_CLASS_NAMES, ZONE_COLOURS

# The band's "classes" tag: "0 na, 1 rock, 2 glacier, 3 ocean".
CLASSES_TAG = ", ".join(f"{k} {name}" for k, name in enumerate(ZONE_CLASS_NAMES))
NODATA = 255  # pixels outside the scene's valid area; class 0 (NA) is a class, not nodata


def write_zones(
    path: str | Path, zones: np.ndarray, transform: Any, crs: Any | None, band_rows: int = 1024
) -> Path:
    """Write a (H, W) class-id array (a memory map is fine: it is copied band by band)."""
    height, width = zones.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    if width < 256 or height < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    path = Path(path)
    with atomic_path(path, suffix=".tif") as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for row0 in range(0, height, band_rows):
            rows = min(band_rows, height - row0)
            window = rasterio.windows.Window(0, row0, width, rows)
            dst.write(np.asarray(zones[row0 : row0 + rows], dtype=np.uint8), 1, window=window)
        dst.write_colormap(1, ZONE_COLOURS)
        dst.colorinterp = [ColorInterp.palette]
        dst.update_tags(1, classes=CLASSES_TAG, nodata_value=str(NODATA))
    return path

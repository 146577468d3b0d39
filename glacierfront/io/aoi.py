"""Areas of interest: polygons (any CRS) rasterised band by band on a scene's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.raster import Scene

# The placeholders GDAL's GeoPackage driver writes for a layer without a CRS (e.g. ogr2ogr from a .shp
# without .prj): they look like CRSs but say nothing about where the polygons are.
UNDEFINED_SRS = ('"Undefined geographic SRS"', '"Undefined cartesian SRS"')


def read_aoi(aoi: Path) -> tuple[str | None, list[dict]]:
    """(CRS WKT or None, polygon geometries) of an AOI file; an unreadable file or one without polygons is an
    error. Called before any work, so a wrong --aoi fails fast."""
    import fiona

    try:
        with fiona.open(aoi) as src:
            src_crs = src.crs_wkt or None
            geoms = [dict(f.geometry) for f in src if f.geometry is not None]
    except (fiona.errors.FionaError, OSError) as err:
        raise GlacierfrontError(f"{aoi}: cannot read the AOI polygons ({err})") from None
    if src_crs is not None and any(name in src_crs for name in UNDEFINED_SRS):
        src_crs = None  # a placeholder, not a CRS: treated as none, so the user is asked to set one
    geoms = [g for g in geoms if g["type"] in ("Polygon", "MultiPolygon")]
    if not geoms:
        raise GlacierfrontError(f"{aoi}: holds no polygons; --aoi needs a polygon layer")
    return src_crs, geoms


class AoiMask:
    """The AOI polygons (any CRS) rasterised band by band on the scene's read grid: True where a front may be."""

    def __init__(self, aoi: Path, scene: Scene) -> None:
        from rasterio.warp import transform_geom

        src_crs, geoms = read_aoi(aoi)
        if scene.crs is not None:
            if src_crs is None:
                raise GlacierfrontError(
                    f"{aoi}: has no CRS; give the AOI a CRS so it can be matched to the scene"
                )
            try:
                geoms = [transform_geom(src_crs, scene.crs, g) for g in geoms]
            except Exception as err:  # rasterio and PROJ raise several types for coordinates they cannot move
                raise GlacierfrontError(
                    f"{aoi}: its polygons cannot be brought into the scene's CRS ({err}); check the AOI's CRS"
                ) from None
        self.geoms = geoms
        self.width = scene.width
        self.transform = scene.resampled_transform

    def __call__(self, row0: int, row1: int) -> np.ndarray:
        from affine import Affine
        from rasterio.features import rasterize

        band_transform = self.transform @ Affine.translation(0, row0)
        return rasterize(
            self.geoms, out_shape=(row1 - row0, self.width), transform=band_transform, fill=0, default_value=1
        ).astype(bool)

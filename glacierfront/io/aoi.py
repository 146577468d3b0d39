"""Areas of interest: polygons (any CRS) rasterised band by band on a scene's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.fields import GLACIER_ID_FIELDS, field_value
from glacierfront.io.raster import Scene
from glacierfront.io.vector_files import check_geometries

# The placeholders GDAL's GeoPackage driver writes for a layer without a CRS (e.g. ogr2ogr from a .shp
# without .prj): they look like CRSs but say nothing about where the polygons are.
UNDEFINED_SRS = ('"Undefined geographic SRS"', '"Undefined cartesian SRS"')


def read_aoi(aoi: Path) -> tuple[str | None, list[dict]]:
    """(CRS WKT or None, polygon geometries) of an AOI file; an unreadable file or one without polygons is an
    error. Called before any work, so a wrong --aoi fails fast."""
    src_crs, polygons = read_aoi_polygons(aoi)
    return src_crs, [geom for geom, _ in polygons]


def read_aoi_polygons(aoi: Path) -> tuple[str | None, list[tuple[dict, str | None]]]:
    """Like ``read_aoi``, with each polygon's glacier id (a ``GLACIER_ID_FIELDS`` field, else None)."""
    import fiona

    try:
        with fiona.open(aoi) as src:
            src_crs = src.crs_wkt or None
            features = [
                (dict(f.geometry), _glacier_id(dict(f.properties))) for f in src if f.geometry is not None
            ]
    except (fiona.errors.FionaError, OSError) as err:
        raise GlacierfrontError(f"{aoi}: cannot read the AOI polygons ({err})") from None
    if src_crs is not None and any(name in src_crs for name in UNDEFINED_SRS):
        src_crs = None  # a placeholder, not a CRS: treated as none, so the user is asked to set one
    polygons = [(g, gid) for g, gid in features if g["type"] in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise GlacierfrontError(f"{aoi}: holds no polygons; --aoi needs a polygon layer")
    check_geometries([g for g, _ in polygons], src_crs, f"--aoi {aoi}")
    return src_crs, polygons


def _glacier_id(props: dict) -> str | None:
    value = field_value(props, GLACIER_ID_FIELDS)
    return None if value is None else str(value).strip()


class AoiMask:
    """The AOI polygons (any CRS) rasterised band by band on the scene's read grid: True where a front may be."""

    def __init__(self, aoi: Path, scene: Scene) -> None:
        from shapely.geometry import mapping, shape

        from glacierfront.io.crs import reproject

        src_crs, polygons = read_aoi_polygons(aoi)
        geoms = [geom for geom, _ in polygons]
        if scene.crs is not None:
            if src_crs is None:
                raise GlacierfrontError(
                    f"{aoi}: has no CRS; give the AOI a CRS so it can be matched to the scene"
                )
            try:
                geoms = [mapping(g) for g in reproject([shape(g) for g in geoms], src_crs, scene.crs)]
            except GlacierfrontError as err:
                raise GlacierfrontError(
                    f"{aoi}: its polygons cannot be brought into the scene's CRS ({err}); check the AOI's CRS"
                ) from None
        self.geoms = geoms
        self.glacier_ids = [gid for _, gid in polygons]  # per polygon, None where it names no glacier
        self.width = scene.width
        self.transform = scene.resampled_transform
        self._check_overlap(aoi, scene)

    def _check_overlap(self, aoi: Path, scene: Scene) -> None:
        """An AOI that misses the scene is the user's to fix (a wrong file or CRS), not a front the model
        missed: refused before any inference, with how far away it is."""
        from shapely.geometry import box, shape

        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (scene.width, scene.height)
        frame = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        polygons = [shape(g) for g in self.geoms]
        if any(p.intersects(frame) for p in polygons):
            return
        gap = min(p.distance(frame) for p in polygons)
        units = "km" if scene.crs is not None and scene.crs.is_projected else "CRS units"
        far = f"{gap / 1000:.0f} km" if units == "km" else f"{gap:.3g} {units}"
        raise GlacierfrontError(
            f"--aoi {aoi}: none of its polygons overlaps the scene (the nearest is {far} away); "
            "check that the AOI is for this scene and that its CRS is right"
        )

    def __call__(self, row0: int, row1: int) -> np.ndarray:
        from affine import Affine
        from rasterio.features import rasterize

        band_transform = self.transform @ Affine.translation(0, row0)
        return rasterize(
            self.geoms, out_shape=(row1 - row0, self.width), transform=band_transform, fill=0, default_value=1
        ).astype(bool)

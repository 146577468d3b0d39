"""Coordinate reference systems: the one reprojection of vector geometries and the one local metric CRS rule.

Reprojection (``reproject``)
    The one way shapely geometries move between CRSs: a list of geometries, the source and target CRS (a
    CRS, WKT, PROJ string or 'EPSG:n'), optionally densified first. Into a projected CRS all vertices go
    through PROJ in one call (rasterio.warp.transform); into a geographic CRS through OGR
    (rasterio.warp.transform_geom), which cuts lines and polygons that cross the antimeridian, as a lon/lat
    layer needs. Both are PROJ underneath and give the same numbers to the last bit; only the cut
    differs. Geometries come out 2-D (the tool's lines and polygons are 2-D), None and empty ones as they
    went in. A vertex PROJ cannot place is a one-line ``GlacierfrontError``.

Local metric CRS (``local_metric_crs``)
    One rule: the WGS 84 UTM zone of the place (zone from the longitude, north or south from the latitude),
    and beyond a polar latitude a polar stereographic CRS. Which polar CRS, from which latitude, is the
    caller's ``polar`` choice, since the two uses want different things and their outputs are pinned:
    ``"ups"`` (the default)   UTM up to its own limits, 84 N and 80 S, UPS (EPSG:32661 / 32761) beyond: the
                              grid a geographic scene is resampled onto (``io.raster``, ``metric_grid``).
                              UTM is within 0.1 % of true scale a few hundred km from its central meridian at
                              any latitude, where polar stereographic is 2-4 % off between 60 and 90 degrees;
                              pixels are then nearly ground metres.
    ``"nsidc"``               NSIDC's polar stereographic (EPSG:3413 / 3031) poleward of 60 degrees: the CRS
                              in which a geographic prediction is matched up with its reference
                              (``evaluate.vector``), and named in its ``work_crs``. Distances are measured on
                              the ellipsoid, not in this CRS, so its scale does not enter them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform, transform_geom
from shapely.geometry import mapping, shape

from glacierfront.errors import GlacierfrontError, first_line

LONLAT = CRS.from_epsg(4326)
# Pieces per bounding-box diagonal when a geometry is densified before reprojection: a straight map segment
# of 1/500 of the extent bows from its chord by far less than a millimetre in an equal-area frame.
DENSIFY_PARTS = 500
# UTM's own extent (UPS beyond), and NSIDC's polar stereographic latitude for ``polar="nsidc"``.
UTM_NORTH_LIMIT = 84.0
UTM_SOUTH_LIMIT = -80.0
UPS_NORTH, UPS_SOUTH = 32661, 32761
NSIDC_LATITUDE = 60.0
NSIDC_NORTH, NSIDC_SOUTH = 3413, 3031
POLAR_CHOICES = ("ups", "nsidc")


def as_crs(crs: Any) -> CRS:
    """A rasterio CRS from a CRS, WKT, PROJ string or 'EPSG:n'; a one-line error for anything else."""
    if isinstance(crs, CRS):
        return crs
    if crs is None:
        raise GlacierfrontError("a layer without a CRS: set its CRS (e.g. ogr2ogr -a_srs EPSG:3413)")
    try:
        return CRS.from_user_input(crs)
    except Exception as err:  # rasterio raises CRSError; anything else is as bad
        raise GlacierfrontError(f"not a CRS: {str(err).splitlines()[0]}") from None


def utm_zone(lon: float) -> int:
    """The UTM zone (1..60) of a longitude in degrees, any longitude (180 E is zone 1, as 180 W)."""
    return int((lon + 180.0) // 6.0) % 60 + 1


def local_metric_crs(lon: float, lat: float, polar: str = "ups") -> CRS:
    """A metric CRS for a place in degrees: its WGS 84 UTM zone, or beyond the ``polar`` choice's latitude
    its polar stereographic CRS (module docstring): ``"ups"`` UPS beyond 84 N / 80 S, ``"nsidc"`` EPSG:3413
    / 3031 from 60 degrees on."""
    if polar == "ups":
        if lat >= UTM_NORTH_LIMIT:
            return CRS.from_epsg(UPS_NORTH)
        if lat < UTM_SOUTH_LIMIT:
            return CRS.from_epsg(UPS_SOUTH)
    elif polar == "nsidc":
        if lat >= NSIDC_LATITUDE:
            return CRS.from_epsg(NSIDC_NORTH)
        if lat <= -NSIDC_LATITUDE:
            return CRS.from_epsg(NSIDC_SOUTH)
    else:
        raise ValueError(f"polar must be one of {POLAR_CHOICES}, got {polar!r}")
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + utm_zone(lon))


def densified(geom: Any, parts: int = DENSIFY_PARTS) -> Any:
    """``geom`` with extra vertices so that no segment is longer than 1/``parts`` of its extent."""
    x0, y0, x1, y1 = geom.bounds
    diagonal = float(np.hypot(x1 - x0, y1 - y0))
    if not np.isfinite(diagonal) or diagonal == 0:
        return geom
    return shapely.segmentize(geom, diagonal / parts)


def reproject(geoms: Sequence[Any], src: Any, dst: Any, densify: bool = False) -> list[Any]:
    """Shapely geometries from ``src`` to ``dst`` (module docstring), with ``densify`` first split in their
    own CRS so that no segment is longer than 1/``DENSIFY_PARTS`` of their extent (a straight edge in
    ``src`` is a curve in ``dst``). Same CRS: the geometries as they are (densified when asked)."""
    src, dst = as_crs(src), as_crs(dst)
    geoms = [densified(g) if densify and g is not None else g for g in geoms]
    if src == dst:
        return geoms
    try:
        moved = _by_ogr(geoms, src, dst) if dst.is_geographic else _by_vertex(geoms, src, dst)
    except Exception as err:  # PROJ errors arrive as several rasterio/GDAL types
        raise _cannot(src, dst, first_line(err)) from None
    if not np.isfinite(shapely.get_coordinates([g for g in moved if g is not None])).all():
        raise _cannot(src, dst, f"some fall outside the valid area of {src.to_string()}")
    return moved


def _cannot(src: CRS, dst: CRS, reason: str) -> GlacierfrontError:
    return GlacierfrontError(
        f"cannot reproject coordinates from {src.to_string()} to {dst.to_string()} ({reason}); "
        "are they really in the layer's declared CRS?"
    )


def _by_vertex(geoms: list[Any], src: CRS, dst: CRS) -> list[Any]:
    def move(xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return xy
        xs, ys = transform(src, dst, xy[:, 0], xy[:, 1])
        return np.column_stack([xs, ys])

    return list(shapely.transform(np.asarray(geoms, dtype=object), move))


def _by_ogr(geoms: list[Any], src: CRS, dst: CRS) -> list[Any]:
    # OGR cannot build an empty geometry: None and empty ones are kept as they are.
    todo = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    moved = list(geoms)
    if todo:
        for i, geom in zip(todo, transform_geom(src, dst, [mapping(geoms[i]) for i in todo])):
            moved[i] = shapely.force_2d(shape(geom))
    return moved

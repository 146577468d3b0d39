"""True (ellipsoidal) areas and ground distances near one place: a Lambert azimuthal equal-area frame.

A map projection's own areas are off by the square of its scale factor: polar stereographic north
(EPSG:3413, true scale at 70 N) gives areas about 4 % too small at 76 N, and a lon/lat "area" is in
square degrees. Here geometries are carried into a Lambert azimuthal equal-area (LAEA) projection on the
WGS84 ellipsoid, centred on the place measured, built from a PROJ string through rasterio (pyproj is not
needed). LAEA keeps areas exactly (PROJ's ellipsoidal form goes through the authalic latitude), and its
distances are true to cos(c / 2) radially and 1 / cos(c / 2) across, c the angle from the centre: within
8 ppm (0.4 m over 50 km) for anything within 50 km of the centre.

Straight edges in the source CRS are curves in the frame (a box drawn in lon/lat follows meridians and
parallels), so every geometry is split into short pieces in its own CRS before it is carried over.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform

from glacierfront.errors import GlacierfrontError

LONLAT = CRS.from_epsg(4326)
# Pieces per bounding-box diagonal when a geometry is split before reprojection: a straight map segment of
# 1/500 of the extent bows from its chord by far less than a millimetre in the frame.
DENSIFY_PARTS = 500


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


def equal_area_crs(lon: float, lat: float) -> CRS:
    """A Lambert azimuthal equal-area CRS on WGS84 centred on (lon, lat) degrees, in metres."""
    return CRS.from_string(
        f"+proj=laea +lat_0={lat:.9f} +lon_0={lon:.9f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )


def densify(geom: Any, parts: int = DENSIFY_PARTS) -> Any:
    """``geom`` with extra vertices so that no segment is longer than 1/``parts`` of its extent."""
    x0, y0, x1, y1 = geom.bounds
    diagonal = float(np.hypot(x1 - x0, y1 - y0))
    if not np.isfinite(diagonal) or diagonal == 0:
        return geom
    return shapely.segmentize(geom, diagonal / parts)


def reproject(geoms: list[Any], src: Any, dst: Any, dense: bool = True) -> list[Any]:
    """Shapely geometries from ``src`` to ``dst`` (all vertices in one PROJ call), densified first.

    Raises GlacierfrontError when PROJ cannot place a vertex (coordinates outside the CRS's domain).
    """
    src, dst = as_crs(src), as_crs(dst)
    if dense:
        geoms = [densify(g) for g in geoms]
    if src == dst:
        return list(geoms)

    def move(xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return xy
        try:
            xs, ys = transform(src, dst, xy[:, 0], xy[:, 1])
        except Exception as err:  # PROJ errors arrive as several rasterio/GDAL types
            raise GlacierfrontError(
                f"cannot carry coordinates from {src.to_string()} to {dst.to_string()} "
                f"({str(err).splitlines()[0]}); are they really in the layer's declared CRS?"
            ) from None
        out = np.column_stack([xs, ys])
        if not np.isfinite(out).all():
            raise GlacierfrontError(
                f"some coordinates fall outside the valid area of {src.to_string()}; "
                "are they really in the layer's declared CRS?"
            )
        return out

    return list(shapely.transform(np.asarray(geoms, dtype=object), move))


def centre_lonlat(geom: Any, crs: Any) -> tuple[float, float]:
    """Longitude and latitude (degrees) of the centre of ``geom``'s bounding box, ``geom`` in ``crs``."""
    x0, y0, x1, y1 = geom.bounds
    (lon,), (lat,) = transform(as_crs(crs), LONLAT, [(x0 + x1) / 2], [(y0 + y1) / 2])
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise GlacierfrontError(f"a geometry outside the valid area of {as_crs(crs).to_string()}")
    return float(lon), float(lat)


def true_area_m2(geom: Any, crs: Any) -> float:
    """The area on the WGS84 ellipsoid (square metres) of a polygon given in ``crs``: its area in an
    equal-area frame centred on it, its edges followed as drawn in ``crs``."""
    lon, lat = centre_lonlat(geom, crs)
    (moved,) = reproject([geom], crs, equal_area_crs(lon, lat))
    return float(moved.area)

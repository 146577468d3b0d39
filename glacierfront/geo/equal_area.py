"""True (ellipsoidal) areas and ground distances near one place: a Lambert azimuthal equal-area frame.

A map projection's own areas are off by the square of its scale factor: polar stereographic north
(EPSG:3413, true scale at 70 N) gives areas about 4 % too small at 76 N, and a lon/lat "area" is in
square degrees. Here geometries are carried into a Lambert azimuthal equal-area (LAEA) projection on the
WGS84 ellipsoid, centred on the place measured, built from a PROJ string through rasterio (pyproj is not
needed). LAEA keeps areas exactly (PROJ's ellipsoidal form goes through the authalic latitude), and its
distances are true to cos(c / 2) radially and 1 / cos(c / 2) across, c the angle from the centre: within
8 ppm (0.4 m over 50 km) for anything within 50 km of the centre.

Straight edges in the source CRS are curves in the frame (a box drawn in lon/lat follows meridians and
parallels), so every geometry is split into short pieces in its own CRS before it is carried over
(``glacierfront.io.crs.reproject`` with ``densify``, the one reprojection of geometries).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import transform

from glacierfront.errors import GlacierfrontError
from glacierfront.io.crs import LONLAT, as_crs
from glacierfront.io.crs import reproject as crs_reproject


def equal_area_crs(lon: float, lat: float) -> CRS:
    """A Lambert azimuthal equal-area CRS on WGS84 centred on (lon, lat) degrees, in metres."""
    return CRS.from_string(
        f"+proj=laea +lat_0={lat:.9f} +lon_0={lon:.9f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )


def reproject(geoms: list[Any], src: Any, dst: Any, dense: bool = True) -> list[Any]:
    """``io.crs.reproject``, densified unless ``dense`` is False: the name series and fronts_box import."""
    return crs_reproject(geoms, src, dst, densify=dense)


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
    (moved,) = crs_reproject([geom], crs, equal_area_crs(lon, lat), densify=True)
    return float(moved.area)

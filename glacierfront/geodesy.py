"""Ground metres for lines in any CRS: distances and lengths on the WGS84 ellipsoid, not on the map.

A projected CRS measures *map* (grid) metres: a ground distance times the projection's point scale factor.
That factor is 1.034 in polar stereographic north (EPSG:3413) at 61 N, 1.019 in EPSG:3031 at 65 S, 0.979
in EPSG:3413 at 79 N and 0.9996 to about 1.001 across a UTM zone. Ground metres are what a front moved.

Here a line is carried onto the ellipsoid: its vertices go to longitude/latitude (PROJ, through rasterio),
then to Earth-centred Cartesian coordinates (ECEF, metres) on the WGS84 ellipsoid. Between two points
there, the straight (chord) distance equals the geodesic distance to within (d / R)^2 / 24: 4e-9 relative
at 2 km, 1e-7 at 10 km. Lines are split first so that no piece is longer than ``MAX_SEGMENT_M`` on the
ground, so a straight map segment, which is curved on the ground, is followed to about a millimetre.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform

from glacierfront.errors import GlacierfrontError

WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)
# Longest ground step between two vertices carried to the ellipsoid: a straight map segment this long
# bows from the chord between its ends by about 0.05 mm in polar stereographic at 60 degrees latitude,
# 1 mm in Web Mercator at 80 degrees (step^2 / 8 times the ground curvature of a straight map line).
MAX_SEGMENT_M = 100.0
_LONLAT = CRS.from_epsg(4326)


def on_ellipsoid(crs: CRS | None) -> bool:
    """Whether ground metres can be had for ``crs``: a geographic or projected CRS (not a local one)."""
    return crs is not None and bool(crs.is_geographic or crs.is_projected)


def ecef(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """Earth-centred (x, y, z) metres, (N, 3), of longitudes/latitudes in degrees on the WGS84 ellipsoid."""
    lon, lat = np.radians(np.asarray(lon_deg, float)), np.radians(np.asarray(lat_deg, float))
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    prime_vertical = WGS84_A / np.sqrt(1.0 - _E2 * sin_lat**2)
    return np.column_stack(
        [
            prime_vertical * cos_lat * np.cos(lon),
            prime_vertical * cos_lat * np.sin(lon),
            prime_vertical * (1.0 - _E2) * sin_lat,
        ]
    )


def _to_ecef(xy: np.ndarray, crs: CRS) -> np.ndarray:
    if len(xy) == 0:
        return np.empty((0, 3))
    if crs == _LONLAT:
        lon, lat = xy[:, 0], xy[:, 1]
    else:
        try:
            lon, lat = (np.asarray(v, float) for v in transform(crs, _LONLAT, xy[:, 0], xy[:, 1]))
        except Exception as err:  # PROJ errors come as several rasterio/GDAL types
            raise GlacierfrontError(
                f"cannot place lines in {crs.to_string()} on the ellipsoid ({str(err).splitlines()[0]}); "
                "are the coordinates really in the layer's declared CRS?"
            ) from None
    if not (np.isfinite(lon).all() and np.isfinite(lat).all() and (np.abs(lat) <= 90.0).all()):
        raise GlacierfrontError(
            f"some line vertices fall outside the valid area of {crs.to_string()}; "
            "are the coordinates really in the layer's declared CRS?"
        )
    return ecef(lon, lat)


def _line_parts(geom: Any) -> list[Any]:
    if geom is None or geom.is_empty:
        return []
    parts = []
    for part in getattr(geom, "geoms", [geom]):
        if part.geom_type not in ("LineString", "LinearRing"):
            raise GlacierfrontError(f"front geometries must be lines, got {part.geom_type}")
        if not part.is_empty:
            parts.append(part)
    return parts


def _paths(parts: list[Any], crs: CRS) -> list[np.ndarray]:
    coords = [shapely.get_coordinates(part) for part in parts]
    if not coords:
        return []
    xyz = _to_ecef(np.concatenate(coords), crs)
    return np.split(xyz, np.cumsum([len(c) for c in coords])[:-1])


def _steps(path: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(path, axis=0), axis=1)


def ground_paths(geom: Any, crs: CRS) -> list[np.ndarray]:
    """Each part of a (Multi)LineString in ``crs`` as an (N, 3) ECEF path in metres on the WGS84 ellipsoid,
    with no step longer than ``MAX_SEGMENT_M`` on the ground. Empty parts are dropped."""
    parts = _line_parts(geom)
    paths = _paths(parts, crs)
    longest, ground_per_unit = 0.0, 0.0
    for part, path in zip(parts, paths):
        if len(path) < 2:
            continue
        ground = _steps(path)
        on_map = np.hypot(*np.diff(shapely.get_coordinates(part), axis=0).T)
        longest = max(longest, float(ground.max()))
        moved = on_map > 0
        if moved.any():
            ground_per_unit = max(ground_per_unit, float((ground[moved] / on_map[moved]).max()))
    if longest <= MAX_SEGMENT_M:
        return paths
    # Split on the map, where the segments are straight, then carry the new vertices too.
    step_map = MAX_SEGMENT_M / ground_per_unit
    return _paths([shapely.segmentize(part, step_map) for part in parts], crs)


def path_length_m(path: np.ndarray) -> float:
    """Ground length in metres of an ECEF path from ``ground_paths``."""
    return float(_steps(path).sum()) if len(path) > 1 else 0.0


def sample_paths(paths: list[np.ndarray], spacing_m: float) -> np.ndarray:
    """Points every ``spacing_m`` ground metres along each ECEF path, ends included; (N, 3).

    Equal steps per path, never longer than ``spacing_m``, landing exactly on both ends (as
    ``glacierfront.evaluate.metrics.densify`` does on the map).
    """
    if spacing_m <= 0:
        raise GlacierfrontError(f"spacing_m must be > 0, got {spacing_m}")
    chunks = []
    for path in paths:
        steps = _steps(path)
        keep = np.concatenate([[True], steps > 0])  # repeated vertices would give np.interp a flat knot
        path, along = path[keep], np.concatenate([[0.0], np.cumsum(steps[steps > 0])])
        at = np.linspace(0.0, along[-1], max(1, int(np.ceil(along[-1] / spacing_m))) + 1)
        chunks.append(np.column_stack([np.interp(at, along, path[:, i]) for i in range(3)]))
    return np.concatenate(chunks) if chunks else np.empty((0, 3))


def ground_lengths_m(geoms: list[Any], crs: CRS) -> list[float]:
    """Ground length in metres of each (Multi)LineString in ``crs``: its length on the WGS84 ellipsoid,
    whatever the projection's scale. All vertices are carried in one PROJ call."""
    parts = [_line_parts(geom) for geom in geoms]
    owner = [i for i, geom_parts in enumerate(parts) for _ in geom_parts]
    lengths = [0.0] * len(geoms)
    flat = [part for geom_parts in parts for part in geom_parts]
    if not flat:
        return lengths
    for i, path in zip(owner, ground_paths(shapely.MultiLineString(flat), crs)):
        lengths[i] += path_length_m(path)
    return lengths

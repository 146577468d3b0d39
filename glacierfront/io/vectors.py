"""Vector layers: write calving-front lines (GeoPackage, Shapefile, GeoJSON) atomically, and read line layers."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import fiona
from fiona.crs import CRS
from shapely.geometry import mapping, shape

from glacierfront.errors import GlacierfrontError

DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON"}
# Sidecar files a Shapefile may consist of; all are moved into place together.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def driver_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise GlacierfrontError(f"{path}: unknown vector format {suffix!r}; use .gpkg, .shp or .geojson")
    return DRIVERS[suffix]


def _fiona_type(value: Any) -> str:
    if isinstance(value, (bool, int)):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def write_lines(
    path: str | Path,
    records: list[tuple[Any, dict[str, Any]]],
    crs: Any | None,
    schema_properties: dict[str, str] | None = None,
    layer: str = "fronts",
) -> Path:
    """Write (geometry, properties) records as a LineString layer; an empty list writes an empty layer.

    The file appears only when complete: it is written in a temporary folder beside the target and moved.
    """
    path = Path(path)
    driver = driver_for(path)
    if schema_properties is None:
        first = records[0][1] if records else {}
        schema_properties = {k: _fiona_type(v) for k, v in first.items()}
    schema = {"geometry": "LineString", "properties": schema_properties}
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise GlacierfrontError(f"{path}: cannot write to folder {folder} (missing or not writable)")
    fiona_crs = CRS.from_user_input(crs) if crs is not None else None
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=folder))
    try:
        tmp = tmpdir / path.name
        kwargs = {"layer": layer} if driver == "GPKG" else {}
        with fiona.open(tmp, "w", driver=driver, schema=schema, crs=fiona_crs, **kwargs) as sink:
            for geom, props in records:
                sink.write({"geometry": mapping(geom), "properties": props})
        if driver == "ESRI Shapefile":
            for part in SHAPEFILE_PARTS:
                src = tmp.with_suffix(part)
                if src.exists():
                    os.replace(src, path.with_suffix(part))
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def read_lines(path: str | Path, boundary: bool = False) -> tuple[list[tuple[Any, dict[str, Any]]], Any]:
    """Read a line layer: (geometry, properties) records and the layer CRS (a rasterio-compatible WKT or None).

    Polygons are refused unless ``boundary`` is set, then their boundaries are used; points are refused.
    """
    path = Path(path)
    if not path.exists():
        raise GlacierfrontError(f"{path}: no such file")
    try:
        with fiona.open(path) as src:
            crs_wkt = src.crs_wkt or None
            records = [(shape(f.geometry), dict(f.properties)) for f in src if f.geometry is not None]
    except fiona.errors.FionaError as err:
        raise GlacierfrontError(f"{path}: not a readable vector layer ({err})") from None
    lines = []
    for geom, props in records:
        kind = geom.geom_type
        if kind in ("LineString", "MultiLineString"):
            lines.append((geom, props))
        elif kind in ("Polygon", "MultiPolygon"):
            if not boundary:
                raise GlacierfrontError(
                    f"{path}: holds polygons, not lines; pass --boundary to use their outlines as fronts"
                )
            lines.append((geom.boundary, props))
        else:
            raise GlacierfrontError(f"{path}: holds {kind} geometries; calving fronts must be lines")
    return lines, crs_wkt

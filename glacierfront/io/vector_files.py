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

from glacierfront.errors import GlacierfrontError, first_line

GPKG = "GPKG"
DRIVERS = {".gpkg": GPKG, ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON"}
# The layer predict writes in a GeoPackage (its other layers are kept).
DEFAULT_LAYER = "fronts"
# Sidecar files a Shapefile may consist of; all are moved into place together.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def driver_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise GlacierfrontError(f"{path}: unknown vector format {suffix!r}; use .gpkg, .shp or .geojson")
    return DRIVERS[suffix]


def _parts(path: Path) -> list[Path]:
    """The files a vector output consists of: a Shapefile's sidecars, else the file itself."""
    if driver_for(path) == "ESRI Shapefile":
        return [path.with_suffix(part) for part in SHAPEFILE_PARTS]
    return [path]


def what_would_be_replaced(path: str | Path, layer: str = DEFAULT_LAYER) -> str | None:
    """What writing ``path`` (a GeoPackage: its ``layer``) would destroy, in words; None if nothing.

    A GeoPackage that lacks the layer only gains one, so nothing is lost.
    """
    path = Path(path)
    if driver_for(path) == GPKG and path.is_file():
        layers = _gpkg_layers(path)
        if layers is None:
            return "exists and is not a GeoPackage"
        return f"already holds layer {layer!r}" if layer in layers else None
    if any(part.exists() for part in _parts(path)):
        return "exists"
    return None


def _gpkg_layers(path: Path) -> list[str] | None:
    try:
        return list(fiona.listlayers(path))
    except Exception:  # fiona and GDAL raise several unrelated types for a file that is not a GeoPackage
        return None


def reproject_records(
    records: list[tuple[Any, dict[str, Any]]], src_crs: Any, dst_crs: Any
) -> list[tuple[Any, dict[str, Any]]]:
    """The records' geometries moved from ``src_crs`` to ``dst_crs`` (properties unchanged)."""
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import transform_geom

    src, dst = RioCRS.from_user_input(src_crs), RioCRS.from_user_input(dst_crs)
    if src == dst:
        return records
    return [(shape(transform_geom(src, dst, mapping(geom))), props) for geom, props in records]


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
    layer: str = DEFAULT_LAYER,
) -> Path:
    """Write (geometry, properties) records as a LineString layer; an empty list writes an empty layer.

    The file appears only when complete: it is written in a temporary folder beside the target and moved.
    A GeoPackage that exists keeps its other layers: it is copied there first and only ``layer`` is
    (re)written in the copy. A failed write (disk full, a folder that refuses files) is a one-line error
    and leaves the previous file as it was.
    """
    path = Path(path)
    driver = driver_for(path)
    if schema_properties is None:
        first = records[0][1] if records else {}
        schema_properties = {k: _fiona_type(v) for k, v in first.items()}
    schema = {"geometry": "LineString", "properties": schema_properties}
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GlacierfrontError(f"{path}: folder {folder} does not exist; create it first")
    fiona_crs = CRS.from_user_input(crs) if crs is not None else None
    kept = "; the previous file is kept" if any(part.exists() for part in _parts(path)) else ""
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=folder))
    except OSError as err:
        raise GlacierfrontError(f"{path}: cannot write in {folder} ({err.strerror})") from None
    try:
        tmp = tmpdir / path.name
        kwargs = {}
        if driver == GPKG:
            kwargs["layer"] = layer
            if path.is_file() and _gpkg_layers(path) is not None:
                shutil.copyfile(path, tmp)
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
    except GlacierfrontError:
        raise
    except Exception as err:  # disk full, quota, I/O error: fiona, GDAL and the OS raise unrelated types
        reason = err.strerror if isinstance(err, OSError) and err.strerror else first_line(err)
        raise GlacierfrontError(f"{path}: writing failed ({reason}){kept}") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def read_lines(
    path: str | Path,
    boundary: bool = False,
    layer: str | None = None,
    exclude: tuple[str | Path, ...] = (),
) -> tuple[list[tuple[Any, dict[str, Any]]], Any]:
    """Read a line layer: (geometry, properties) records and the layer CRS (a rasterio-compatible WKT or None).

    ``path`` may be a folder (predict's one-file-per-scene output): every vector file in it is read (the
    ``exclude`` files left out) and their lines are brought into the first file's CRS. A file with several
    layers needs ``layer``; a single-layer file is read whatever its layer's name, unless ``layer`` names
    another. Polygons are refused unless ``boundary`` is set, then their boundaries are used; points are
    refused.
    """
    path = Path(path)
    if not path.exists():
        raise GlacierfrontError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_folder(path, boundary, layer, exclude)
    return _read_file(path, boundary, layer)


def _read_folder(
    folder: Path, boundary: bool, layer: str | None, exclude: tuple[str | Path, ...]
) -> tuple[list[tuple[Any, dict[str, Any]]], Any]:
    skip = {os.path.realpath(p) for p in exclude}
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in DRIVERS and os.path.realpath(p) not in skip
    )
    if not files:
        raise GlacierfrontError(f"{folder}: a folder without vector files (.gpkg, .shp, .geojson) to read")
    records: list[tuple[Any, dict[str, Any]]] = []
    crs_wkt = None
    for i, file in enumerate(files):
        if layer is not None and driver_for(file) == GPKG and layer not in (_gpkg_layers(file) or [layer]):
            continue  # --layer picks that layer out of each GeoPackage that holds it
        found, wkt = _read_file(file, boundary, layer if driver_for(file) == GPKG else None)
        if i == 0 or crs_wkt is None:
            crs_wkt = crs_wkt or wkt
        elif wkt is not None and wkt != crs_wkt:
            found = reproject_records(found, wkt, crs_wkt)
        records.extend(found)
    return records, crs_wkt


def _read_file(path: Path, boundary: bool, layer: str | None) -> tuple[list[tuple[Any, dict[str, Any]]], Any]:
    try:
        layers = list(fiona.listlayers(path))
    except Exception as err:
        raise GlacierfrontError(f"{path}: not a readable vector layer ({first_line(err)})") from None
    if layer is not None and layer not in layers and (len(layers) > 1 or driver_for(path) == GPKG):
        raise GlacierfrontError(f"{path}: no layer {layer!r}; it holds {', '.join(layers)}")
    if layer is None and len(layers) > 1:
        raise GlacierfrontError(
            f"{path}: holds {len(layers)} layers ({', '.join(layers)}); choose one with --layer"
        )
    records, crs_wkt = read_features(path, layer if layer in layers else layers[0])
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


def read_features(path: Path, layer: str, name: str | None = None) -> tuple[list[tuple[Any, dict]], Any]:
    """(shapely geometry, properties) of every feature of ``layer`` in ``path`` that has a geometry, and the
    layer's CRS WKT (None without one); an unreadable layer is a one-line error naming ``name`` (default: the
    path)."""
    try:
        with fiona.open(path, layer=layer) as src:
            crs_wkt = src.crs_wkt or None
            records = [(shape(f.geometry), dict(f.properties)) for f in src if f.geometry is not None]
    except Exception as err:
        raise GlacierfrontError(f"{name or path}: not a readable vector layer ({first_line(err)})") from None
    return records, crs_wkt

"""Vector layers: write calving-front lines (GeoPackage, Shapefile, GeoJSON) atomically, and read line layers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
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


class PolygonsNotLines(GlacierfrontError):
    """A layer read as lines holds polygons; each command words what to do (evaluate: --boundary)."""


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
    """The records' geometries moved from ``src_crs`` to ``dst_crs`` (``io.crs.reproject``; properties
    unchanged)."""
    from glacierfront.io.crs import reproject

    moved = reproject([geom for geom, _ in records], src_crs, dst_crs)
    return [(geom, props) for geom, (_, props) in zip(moved, records, strict=True)]


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
    replace: bool = True,
) -> Path:
    """Write (geometry, properties) records as a LineString layer; an empty list writes an empty layer.

    The file appears only when complete: it is written in a temporary folder beside the target and moved.
    A GeoPackage that exists keeps its other layers: it is copied there first and only ``layer`` is
    (re)written in the copy. A failed write (disk full, a folder that refuses files) is a one-line error
    and leaves the previous file as it was.

    Writers of one folder take turns (an advisory lock on the folder), so two processes never copy, write
    and move the same file at once. ``replace=False`` (predict without --overwrite) refuses, under that lock,
    a file or layer that another process wrote since this one checked its outputs: the second writer fails
    with a clear error instead of silently dropping the first one's lines.
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
    with _folder_lock(folder):
        if not replace:
            found = what_would_be_replaced(path, layer)
            if found:
                raise GlacierfrontError(
                    f"{path}: {found}: another process wrote it while this one ran, and this run's lines were "
                    "not written over it; give each run its own -o (or a folder), or pass --overwrite"
                )
        _write_layer(path, driver, records, schema, fiona_crs, layer)
    return path


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (flock on the folder itself: no lock file is left behind);
    where a file system cannot lock, writing goes on unlocked."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_layer(path: Path, driver: str, records, schema, fiona_crs, layer: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
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
        if _nearly_full(folder):  # GDAL words a full disk as whatever step failed ("Layer ... exists")
            reason = "no space left on the device"
        raise GlacierfrontError(f"{path}: writing failed ({reason}){kept}") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


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
                raise PolygonsNotLines(
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


def check_geometries(geoms: list[Any], crs: Any, what: str) -> None:
    """The one check of vector input before any work: every vertex a finite number, coordinates that fit
    the layer's CRS (degrees within +-180 / +-90 when it says geographic: metres labelled EPSG:4326 are the
    usual mistake) and polygons that are valid (not self-intersecting). ``geoms``: shapely geometries or
    GeoJSON-like dicts; ``crs``: WKT, a rasterio/fiona CRS or None; ``what`` names the input in the error."""
    import numpy as np
    import shapely
    from rasterio.crs import CRS as RioCRS

    shapes = [shape(g) if isinstance(g, dict) else g for g in geoms]
    for i, geom in enumerate(shapes, 1):
        coords = shapely.get_coordinates(geom)
        if coords.size and not np.isfinite(coords).all():
            raise GlacierfrontError(
                f"{what}: feature {i} has a vertex that is not a number (NaN or inf); fix it"
            )
    if crs is not None and shapes:
        try:
            geographic = RioCRS.from_user_input(crs).is_geographic
        except Exception:  # an odd CRS text: the reprojection that follows says what is wrong with it
            geographic = False
        if geographic:
            x0, y0, x1, y1 = shapely.total_bounds(shapes)
            if min(x0, y0) < -360 or x1 > 360 or max(abs(y0), abs(y1)) > 90:
                raise GlacierfrontError(
                    f"{what}: its CRS says degrees (longitude, latitude) but its coordinates reach "
                    f"{x0:.0f}..{x1:.0f}, {y0:.0f}..{y1:.0f}: metres with a wrong CRS? assign the real one "
                    "(e.g. ogr2ogr -a_srs EPSG:3413 fixed.gpkg in.gpkg)"
                )
    for i, geom in enumerate(shapes, 1):
        if geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            raise GlacierfrontError(
                f"{what}: polygon {i} is not valid ({reason}); fix it (e.g. ogr2ogr -makevalid fixed.gpkg in.gpkg)"
            )


def feature_properties(
    path: str | Path, layer: str | None = None
) -> tuple[str | None, Any, list[tuple[Any, dict]]]:
    """(layer read, CRS WKT or None, [(feature id, properties)]) of the features of one layer that have a
    geometry, without reading the geometries: for listing many files fast (``glacierfront review``).

    ``layer``: the layer to read; default ``fronts`` when the file holds it, else its only (first) layer.
    A GeoPackage is read as the SQLite file it is (about ten times faster than opening it through GDAL, which
    counts for hundreds of files); anything else through fiona."""
    path = Path(path)
    if driver_for(path) == GPKG:
        try:
            return _gpkg_properties(path, layer)
        except sqlite3.Error:
            pass  # not a GeoPackage SQLite can read as one: GDAL says what is wrong below
    try:
        layers = fiona.listlayers(path)
        name = layer or (DEFAULT_LAYER if DEFAULT_LAYER in layers else layers[0])
        with fiona.open(path, layer=name) as src:
            return (
                name,
                src.crs_wkt or None,
                [(f.id, dict(f.properties)) for f in src if f.geometry is not None],
            )
    except Exception as err:
        raise GlacierfrontError(f"{path}: not a readable vector layer ({first_line(err)})") from None


def _gpkg_properties(path: Path, layer: str | None) -> tuple[str, Any, list[tuple[Any, dict]]]:
    uri = f"file:{path.resolve()}?mode=ro&immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        tables = [r[0] for r in db.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY rowid")]  # fmt: skip
        if not tables:
            raise sqlite3.DatabaseError("no feature table")
        name = layer or (DEFAULT_LAYER if DEFAULT_LAYER in tables else tables[0])
        if name not in tables:
            raise GlacierfrontError(f"{path}: no layer {name!r}; it holds {', '.join(tables)}")
        geom_column, srs = db.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (name,)
        ).fetchone()
        found = db.execute("SELECT definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (srs,)).fetchone()
        crs = found[0] if found and found[0] not in (None, "", "undefined") else None
        columns = [r[1] for r in db.execute(f'PRAGMA table_info("{name}")')]
        fid = next((r[1] for r in db.execute(f'PRAGMA table_info("{name}")') if r[5]), "fid")
        fields = [c for c in columns if c not in (fid, geom_column)]
        quoted = ", ".join(f'"{c}"' for c in [fid, *fields])
        rows = db.execute(f'SELECT {quoted} FROM "{name}" WHERE "{geom_column}" IS NOT NULL ORDER BY "{fid}"')
        return name, crs, [(str(r[0]), dict(zip(fields, r[1:]))) for r in rows]

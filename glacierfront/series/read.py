"""Reading a series: front lines with their dates from files or folders (the boxes and centre-lines are
read by ``glacierfront.geo.reference``).

A front line's fields are looked up by any case and by the names the front databases use (CALFIN,
TermPicks, MEaSUREs, and predict's own): see the ``*_FIELDS`` tuples of ``io.fields``. Dates are read by
``io.acquisition``'s two rules: ``date_from_field`` for a date field, ``date_from_name`` for a file name.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fiona

from glacierfront.errors import GlacierfrontError
from glacierfront.geo.reference import field_text
from glacierfront.io.acquisition import acquisition, date_from_field, date_from_name
from glacierfront.io.caffe import parse_caffe_name
from glacierfront.io.fields import (
    DATE_FIELDS,
    GLACIER_ID_FIELDS,
    IMAGE_FIELDS,
    QUALITY_FIELDS,
    REJECTED,
    SENSOR_FIELDS,
    field_value,
    verdict_of,
)
from glacierfront.io.vector_files import (
    DEFAULT_LAYER,
    PolygonsNotLines,
    check_geometries,
    read_lines,
)

# The files a folder of fronts is searched for (recursively; hidden files and folders are skipped).
FRONT_SUFFIXES = (".gpkg", ".shp", ".geojson")
# A date field's value (any four-digit year: maps of the 1850s are fronts too); file names are read by the
# stricter io.acquisition.date_from_name.
parse_date = date_from_field


@dataclass
class Front:
    """One front: the lines of one file with one glacier, date and image id, joined (fronts of different
    files are never joined). ``pieces`` are (geometry, CRS) pairs, in the CRS of the file they came from."""

    date: dt.date
    pieces: list[tuple[Any, Any]]
    sources: list[str]
    glacier_id: str | None = None
    sensor: str | None = None
    image_id: str | None = None
    source_quality: str | None = None

    @property
    def source(self) -> str:
        return ";".join(self.sources)


def find_front_files(paths: Sequence[str | Path], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """The vector files named by ``paths``: files as given, folders searched recursively for .gpkg, .shp
    and .geojson files (hidden ones skipped), the ``exclude`` files left out. Each file is listed once."""
    skip = {os.path.realpath(p) for p in exclude}
    found: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise GlacierfrontError(f"{path}: no such file or folder")
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in FRONT_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files = [p for p in files if os.path.realpath(p) not in skip]
            if not files:
                raise GlacierfrontError(f"{path}: a folder without front files (.gpkg, .shp, .geojson)")
        else:
            files = [path]
        for file in files:
            key = os.path.realpath(file)
            if key not in seen:
                seen.add(key)
                found.append(file)
    return found


def _front_layer(path: Path, layer: str | None) -> str | None:
    """The layer to read: ``layer``, else predict's ``fronts`` layer of a GeoPackage that holds several."""
    if layer is not None or path.suffix.lower() != ".gpkg":
        return layer
    try:
        layers = list(fiona.listlayers(path))
    except Exception:
        return None  # read_lines says what is wrong with the file
    return DEFAULT_LAYER if len(layers) > 1 and DEFAULT_LAYER in layers else None


def read_front_lines(path: str | Path, layer: str | None = None) -> tuple[list[dict[str, Any]], Any]:
    """The lines of one vector file as dicts (geometry, date, glacier_id, sensor, image_id,
    source_quality, source) and the file's CRS. A line's date is its date field, else the YYYYMMDD or
    YYYY-MM-DD in the file name; a line without either is an error naming the file."""
    path = Path(path)
    try:
        records, crs = read_lines(path, layer=_front_layer(path, layer))
    except PolygonsNotLines:
        raise GlacierfrontError(
            f"{path}: holds polygons, not front lines; give line layers as fronts (the box goes in --box)"
        ) from None
    if crs is None and records:
        raise GlacierfrontError(f"{path}: its layer has no CRS; set one (e.g. ogr2ogr -a_srs EPSG:3413)")
    check_geometries([geom for geom, _ in records], crs, str(path))
    named = acquisition(path.stem)
    try:
        named_glacier = parse_caffe_name(path.stem).glacier
    except GlacierfrontError:
        named_glacier = None
    name_date = date_from_name(path.stem)
    lines = []
    for index, (geom, props) in enumerate(records):
        if verdict_of(props) == REJECTED:
            continue  # a reviewer rejected it (glacierfront review)
        value = field_value(props, DATE_FIELDS)
        date = date_from_field(value) if value is not None else None
        if value is not None and date is None:
            raise GlacierfrontError(
                f"{path}: line {index} has date {str(value)!r}, which is not a date; write YYYY-MM-DD"
            )
        if date is not None and date > dt.date.today() + dt.timedelta(days=366):
            raise GlacierfrontError(
                f"{path}: line {index} has date {date.isoformat()}, in the future; a typo in its year?"
            )
        date = date or name_date
        if date is None:
            raise GlacierfrontError(
                f"{path}: line {index} has no date; give it a 'date' field (YYYY-MM-DD) "
                "or put YYYYMMDD or YYYY-MM-DD in the file name"
            )
        lines.append(
            {
                "geometry": geom,
                "date": date,
                "glacier_id": field_text(field_value(props, GLACIER_ID_FIELDS)) or named_glacier,
                "sensor": field_text(field_value(props, SENSOR_FIELDS)) or named["sensor"],
                "image_id": field_text(field_value(props, IMAGE_FIELDS)),
                "source_quality": field_text(field_value(props, QUALITY_FIELDS)),
                "source": str(path),
            }
        )
    return lines, crs


def read_fronts(
    paths: Sequence[str | Path], layer: str | None = None, exclude: Iterable[str | Path] = ()
) -> list[Front]:
    """Fronts from vector files or folders (see ``find_front_files``), in any CRS, sorted by date.

    The lines of one file with the same glacier, date and image id are the pieces of one front and are
    joined into one ``Front``. Lines of different files never are, even with the same scene name or date:
    two files of one scene (a copy in another folder, a second digitisation) are two fronts, each its own
    row, and the series flags rows that share a date (``positions.DUPLICATE_DATE``).
    """
    groups: dict[tuple[str, dt.date, str, str], Front] = {}
    for path in find_front_files(paths, exclude):
        lines, crs = read_front_lines(path, layer)
        for line in lines:
            glacier = (line["glacier_id"] or "").lower()
            key = (glacier, line["date"], line["image_id"] or "", os.path.realpath(path))
            front = groups.get(key)
            if front is None:
                front = groups[key] = Front(
                    date=line["date"],
                    pieces=[],
                    sources=[],
                    glacier_id=line["glacier_id"],
                    sensor=line["sensor"],
                    image_id=line["image_id"],
                    source_quality=line["source_quality"],
                )
            front.pieces.append((line["geometry"], crs))
            if line["source"] not in front.sources:
                front.sources.append(line["source"])
    return sorted(groups.values(), key=lambda f: (f.date, f.glacier_id or "", f.source, f.image_id or ""))

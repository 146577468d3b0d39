"""A glacier's reference geometry: its box (polygon) or centre-line, read from a vector file in any CRS.

One feature per glacier: the glacier id from a glacier_id, glacier or name field (else the file name), and
the box's own direction into the glacier from an ``upstream`` field (``io.fields``). ``series`` measures
terminus positions against these, and ``predict`` cuts a scene's front across a box (``fronts_box``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiona

from glacierfront.errors import GlacierfrontError, first_line
from glacierfront.io.fields import BOX_ID_FIELDS, UPSTREAM_FIELDS, field_value
from glacierfront.io.vector_files import check_geometries, read_features


@dataclass
class Reference:
    """A box (polygon) or centre-line (line) of one glacier, in ``crs``. ``upstream`` is the box's own
    direction into the glacier (a compass point or bearing) when its layer has an ``upstream`` field;
    ``named`` says whether ``glacier_id`` came from a field (not made up from the file name)."""

    glacier_id: str
    geometry: Any
    crs: Any
    upstream: str | None = None
    named: bool = True
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def field_text(value: Any) -> str | None:
    """A field's value as stripped text (a whole float as an integer), None for None or blank."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _one_layer(path: Path, layer: str | None, flag: str) -> str:
    try:
        layers = list(fiona.listlayers(path))
    except Exception as err:
        raise GlacierfrontError(f"{flag} {path}: not a readable vector layer ({first_line(err)})") from None
    if layer is not None:
        if layer not in layers:
            raise GlacierfrontError(f"{flag} {path}: no layer {layer!r}; it holds {', '.join(layers)}")
        return layer
    if len(layers) > 1:
        raise GlacierfrontError(
            f"{flag} {path}: holds {len(layers)} layers ({', '.join(layers)}); choose one with {flag}-layer"
        )
    return layers[0]


def _read_features(path: Path, layer: str | None, flag: str) -> tuple[list[tuple[Any, dict]], Any]:
    if not path.exists():
        raise GlacierfrontError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise GlacierfrontError(f"{flag} {path}: a folder; give one vector file (.gpkg, .shp, .geojson)")
    features, crs = read_features(path, _one_layer(path, layer, flag), f"{flag} {path}")
    if features and crs is None:
        raise GlacierfrontError(
            f"{flag} {path}: its layer has no CRS; set one (e.g. ogr2ogr -a_srs EPSG:3413)"
        )
    check_geometries([geom for geom, _ in features], crs, f"{flag} {path}")
    return features, crs


def _references(path: Path, features: list[tuple[Any, dict]], crs: Any, flag: str) -> list[Reference]:
    refs = []
    for index, (geom, props) in enumerate(features):
        glacier = field_text(field_value(props, BOX_ID_FIELDS))
        refs.append(
            Reference(
                glacier_id=glacier or (path.stem if len(features) == 1 else f"{path.stem}-{index + 1}"),
                geometry=geom,
                crs=crs,
                upstream=field_text(field_value(props, UPSTREAM_FIELDS)),
                named=glacier is not None,
                source=str(path),
            )
        )
    ids = [r.glacier_id.lower() for r in refs]
    if dup := next((r.glacier_id for r, i in zip(refs, ids) if ids.count(i) > 1), None):
        raise GlacierfrontError(f"{flag} {path}: several features have glacier id {dup!r}; give each its own")
    return refs


def read_boxes(path: str | Path, layer: str | None = None) -> list[Reference]:
    """The box polygons of a vector file (any CRS), one per glacier: glacier id from a glacier_id,
    glacier or name field (else the file name). A box must be one valid polygon."""
    path = Path(path)
    features, crs = _read_features(path, layer, "--box")
    boxes = []
    for geom, props in features:
        if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        if geom.geom_type != "Polygon":
            raise GlacierfrontError(
                f"--box {path}: holds a {geom.geom_type}; a box is one polygon drawn along the glacier"
            )
        if not geom.is_valid:
            raise GlacierfrontError(f"--box {path}: a box is not a valid polygon ({_why_invalid(geom)})")
        boxes.append((geom, props))
    if not boxes:
        raise GlacierfrontError(f"--box {path}: holds no polygon; draw a box along the glacier")
    return _references(path, boxes, crs, "--box")


def read_centrelines(path: str | Path, layer: str | None = None) -> list[Reference]:
    """The centre-lines of a vector file (any CRS), one per glacier, each a single line drawn from the
    glacier (upstream) towards the sea unless an upstream direction says otherwise."""
    from shapely.ops import linemerge

    path = Path(path)
    features, crs = _read_features(path, layer, "--centreline")
    lines = []
    for geom, props in features:
        if geom.geom_type == "MultiLineString":
            geom = linemerge(geom)
        if geom.geom_type != "LineString":
            raise GlacierfrontError(
                f"--centreline {path}: holds a {geom.geom_type}; a centre-line is one unbroken line"
            )
        lines.append((geom, props))
    if not lines:
        raise GlacierfrontError(f"--centreline {path}: holds no line; draw one along the glacier")
    return _references(path, lines, crs, "--centreline")


def _why_invalid(geom: Any) -> str:
    from shapely.validation import explain_validity

    return explain_validity(geom)

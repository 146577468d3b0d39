"""Vector-mode evaluation: predicted vs reference front lines (any CRS), pooled mean distance error in metres.

Metres here are ground metres: distances on the WGS84 ellipsoid (``glacierfront.geodesy``), not map metres
of the working CRS, which in polar stereographic are up to a few per cent longer or shorter than the ground.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from scipy.spatial import cKDTree
from shapely.geometry import MultiLineString

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.metrics import densify
from glacierfront.geodesy import ground_paths, on_ellipsoid, path_length_m, sample_paths
from glacierfront.io.acquisition import date_from_field
from glacierfront.io.crs import local_metric_crs as crs_rule
from glacierfront.io.crs import reproject
from glacierfront.io.fields import field_key
from glacierfront.io.vector_files import read_lines

MATCH_MODES = ("scene", "date", "all")
# Without --spacing: a quarter of the scene resolution (feature field `resolution_m`), else a quarter of the
# median vertex spacing of the two lines, never coarser than 5 m. Sampling overestimates a distance by at
# most half the spacing (and by about spacing^2 / 8d at distance d), so this keeps the error far below a pixel.
SPACING_FRACTION = 0.25
MAX_AUTO_SPACING_M = 5.0
# predict's field with the pixel spacing a line was traced at; older files have resolution_m (or, in a
# Shapefile, the truncated resolution).
RESOLUTION_FIELDS = ("pixel_m", "resolution_m", "resolution")
NO_CRS_UNITS = "layer units"
# A pair whose MDE is beyond this is almost certainly two different places (a layer with a wrong CRS, or
# scenes matched wrongly), not a poor prediction: no calving front moves that far between two images.
FAR_APART_M = 50_000.0


@dataclass
class Layer:
    """One line layer as read from disk: (geometry, properties) records and its CRS (None if it has none)."""

    path: Path
    records: list[tuple[Any, dict[str, Any]]]
    crs: CRS | None


@dataclass
class Pair:
    """The lines of one scene (or date, or the whole layer): predicted geometry is None when nothing matched."""

    key: str
    pred: Any | None
    ref: Any
    resolution_m: float | None = None


def read_layer(
    path: str | Path,
    boundary: bool = False,
    allow_empty: bool = False,
    layer: str | None = None,
    exclude: tuple[str | Path, ...] = (),
) -> Layer:
    """Read a front layer (a file, or a folder of files: see ``io.vector_files.read_lines`` for ``layer`` and
    ``exclude``); an empty layer is an error (nothing to compare) unless ``allow_empty``: a prediction
    without any front (what predict writes when it finds none) is a result, not a mistake."""
    path = Path(path)
    records, crs_wkt = read_lines(path, boundary=boundary, layer=layer, exclude=exclude)
    if not records and not allow_empty:
        raise GlacierfrontError(f"{path}: holds no line features; nothing to evaluate")
    return Layer(path, records, CRS.from_user_input(crs_wkt) if crs_wkt else None)


def _same(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _field(props: dict[str, Any], name: str) -> str | None:
    # Shapefile writers often upper-case field names; accept any case.
    return field_key(props, (name,))


def _normalise_key(value: Any, field: str) -> str:
    text = str(value).strip()
    if field == "date" and (day := date_from_field(text)) is not None:
        # "2021-07-04", "20210704", "2021/07/04" and "2021-07-04T10:22:00" all name the same day.
        return day.isoformat()
    return text


def _group(layer: Layer, field: str, other_fields: Iterable[str]) -> dict[str, list[tuple[Any, dict]]]:
    groups: dict[str, list[tuple[Any, dict]]] = {}
    for index, (geom, props) in enumerate(layer.records):
        key_name = _field(props, field)
        if key_name is None:
            present = [f for f in other_fields if _field(props, f)]
            hint = f"use --match {present[0]} or --match all" if present else "use --match all"
            raise GlacierfrontError(f"{layer.path}: has no '{field}' field to match on; {hint}")
        value = props[key_name]
        if value is None or str(value).strip() == "":
            raise GlacierfrontError(
                f"{layer.path}: feature {index} has an empty '{field}' field; fill it in or use --match all"
            )
        groups.setdefault(_normalise_key(value, field), []).append((geom, props))
    return groups


def _merge(records: list[tuple[Any, dict]]) -> Any:
    # A plain collection of the parts, not a union: a union would node crossing lines and move vertices.
    parts = []
    for geom, _ in records:
        parts.extend(getattr(geom, "geoms", [geom]))
    return MultiLineString([p for p in parts if not p.is_empty])


def _resolution_hint(records: list[tuple[Any, dict]]) -> float | None:
    values = []
    for _, props in records:
        name = field_key(props, RESOLUTION_FIELDS)
        try:
            value = float(props[name]) if name is not None and props[name] is not None else None
        except (TypeError, ValueError):
            value = None
        if value is not None and value > 0:
            values.append(value)
    return min(values) if values else None


def match_pairs(pred: Layer, ref: Layer, match: str = "scene") -> tuple[list[Pair], list[str]]:
    """Pair reference and predicted lines by ``match``; returns the pairs (one per reference key) and the
    predicted keys with no reference. A reference key with no prediction gets ``pred=None`` (no front)."""
    if match not in MATCH_MODES:
        raise GlacierfrontError(f"--match {match!r}: choose one of {', '.join(MATCH_MODES)}")
    if match == "all":
        records = pred.records + ref.records
        merged = _merge(pred.records) if pred.records else None
        return [Pair("all", merged, _merge(ref.records), _resolution_hint(records))], []
    others = [m for m in MATCH_MODES if m not in (match, "all")]
    pred_groups = _group(pred, match, others) if pred.records else {}
    ref_groups = _group(ref, match, others)
    common = sorted(set(pred_groups) & set(ref_groups))
    if not common and pred.records:
        raise GlacierfrontError(
            f"{pred.path}: no '{match}' value matches one in {ref.path} "
            f"(predicted: {_few(pred_groups)}; reference: {_few(ref_groups)}); check the values or use --match all"
        )
    pairs = []
    for key in sorted(ref_groups):
        pred_records = pred_groups.get(key)
        hint = _resolution_hint((pred_records or []) + ref_groups[key])
        pairs.append(Pair(key, _merge(pred_records) if pred_records else None, _merge(ref_groups[key]), hint))
    return pairs, sorted(set(pred_groups) - set(ref_groups))


def _few(keys: Iterable[str], limit: int = 3) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def local_metric_crs(lon: float, lat: float) -> CRS:
    """A metric CRS for a place: polar stereographic (EPSG:3413 / 3031) beyond 60 degrees, else its UTM zone
    (``io.crs.local_metric_crs``'s "nsidc" choice).

    Its units are map metres, which differ from ground metres by the projection's scale (up to a few per
    cent in polar stereographic); distances are not measured in it but on the ellipsoid.
    """
    return crs_rule(lon, lat, polar="nsidc")


def _reproject(geom: Any, src: CRS, dst: CRS) -> Any:
    (moved,) = reproject([geom], src, dst)
    return moved


def to_metric(pair: Pair, pred_crs: CRS | None, ref_crs: CRS | None) -> tuple[Pair, float, CRS | None]:
    """Bring a pair into one working CRS: PRED's own CRS when projected (REF is reprojected to it), a local
    metric CRS when PRED is geographic. Returns the pair, map metres per CRS unit (1.0 without any CRS) and
    the working CRS (None without any). Distances are then measured in ground metres on the ellipsoid
    (``pair_distances_m`` with ``crs``), not in this CRS's map metres."""
    if pred_crs is None and ref_crs is None:
        return pair, 1.0, None
    assert pred_crs is not None and ref_crs is not None  # the caller refuses a CRS on one side only
    if pred_crs.is_geographic:
        # Choose the projection from where the lines lie (the reference, else the prediction), in lon/lat.
        ref_geo = _reproject(pair.ref, ref_crs, pred_crs)
        where = next((g for g in (ref_geo, pair.pred) if g is not None and not g.is_empty), None)
        if where is None:
            return pair, 1.0, None  # both sides empty: nothing to measure, no CRS needed
        minx, miny, maxx, maxy = where.bounds
        work = local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
        moved = Pair(pair.key, _reproject(pair.pred, pred_crs, work), _reproject(ref_geo, pred_crs, work))
    else:
        work = pred_crs
        moved = Pair(pair.key, pair.pred, _reproject(pair.ref, ref_crs, pred_crs))
    moved.resolution_m = pair.resolution_m
    unit_m = float(work.linear_units_factor[1])
    return moved, unit_m, work


def auto_spacing_m(pred_geom: Any, ref_geom: Any, unit_m: float, resolution_m: float | None) -> float:
    """Default sampling step in metres: resolution / 4, else median vertex spacing / 4, at most 5 m.

    A rule of thumb, so the vertex spacing is taken in map metres (within a few per cent of the ground).
    """
    if resolution_m is not None:
        return SPACING_FRACTION * resolution_m
    steps = []
    for geom in (pred_geom, ref_geom):
        for part in getattr(geom, "geoms", [geom]):
            coords = shapely.get_coordinates(part)
            if len(coords) > 1:
                steps.append(np.hypot(*np.diff(coords, axis=0).T))
    lengths = np.concatenate(steps) if steps else np.empty(0)
    lengths = lengths[lengths > 0]
    if lengths.size == 0:
        return MAX_AUTO_SPACING_M
    return float(min(MAX_AUTO_SPACING_M, SPACING_FRACTION * np.median(lengths) * unit_m))


# Sample points per scene pair, both lines together: about 1 GB of coordinates and KD-tree; beyond it a
# --spacing is almost surely a typo (1e-4 m on a 10 km front is 2e8 points).
MAX_SAMPLES = 20_000_000


def _check_samples(length_m: float, spacing_m: float) -> None:
    samples = length_m / spacing_m
    if samples > MAX_SAMPLES:
        raise GlacierfrontError(
            f"--spacing {spacing_m:g} m: {samples:.3g} sample points along {samples * spacing_m / 1000:.3g} km of "
            f"lines (at most {MAX_SAMPLES:.0e}); use a larger --spacing, e.g. {spacing_m * samples / MAX_SAMPLES:.2g} m"
        )


def pair_distances_m(
    pred_geom: Any, ref_geom: Any, spacing_m: float, unit_m: float = 1.0, crs: CRS | None = None
) -> np.ndarray | None:
    """Both-way nearest-neighbour distances in metres between two lines in one CRS (None: a side is empty).

    With ``crs`` (geographic or projected), distances are ground metres: both lines are carried onto the
    WGS84 ellipsoid and sampled every ``spacing_m`` ground metres, and each distance is geodesic (see
    ``glacierfront.geodesy``), whatever the projection's scale. Without it, they are map units times
    ``unit_m`` (layer units when neither layer has a CRS), sampled every ``spacing_m / unit_m`` map units.

    Predicted->reference distances come first. Memory is linear in the number of samples: one KD-tree per
    side, never a pairwise matrix.
    """
    if pred_geom is None:
        return None
    if on_ellipsoid(crs):
        assert crs is not None
        pred_paths, ref_paths = ground_paths(pred_geom, crs), ground_paths(ref_geom, crs)
        _check_samples(sum(path_length_m(p) for p in pred_paths + ref_paths), spacing_m)
        pred_points, ref_points = sample_paths(pred_paths, spacing_m), sample_paths(ref_paths, spacing_m)
        scale = 1.0
    else:
        _check_samples(sum(g.length for g in (pred_geom, ref_geom) if g is not None) * unit_m, spacing_m)
        pred_points, ref_points = (
            densify(pred_geom, spacing_m / unit_m),
            densify(ref_geom, spacing_m / unit_m),
        )
        scale = unit_m
    if len(pred_points) == 0 or len(ref_points) == 0:
        return None
    pred_to_ref, _ = cKDTree(ref_points).query(pred_points, k=1, workers=-1)
    ref_to_pred, _ = cKDTree(pred_points).query(ref_points, k=1, workers=-1)
    return np.concatenate([pred_to_ref, ref_to_pred]) * scale


def _scene_row(distances: np.ndarray | None, status: str, spacing_m: float) -> dict[str, Any]:
    have = distances is not None
    return {
        "status": status,
        "mde": float(distances.mean()) if have else None,
        "median": float(np.median(distances)) if have else None,
        "hd95": float(np.percentile(distances, 95)) if have else None,
        "n_points": int(distances.size) if have else 0,
        "spacing_m": spacing_m,
    }


def evaluate_pairs(
    pairs: list[Pair], pred_crs: CRS | None, ref_crs: CRS | None, spacing_m: float | None = None
) -> dict[str, Any]:
    """Distances for every pair, pooled: MDE (mean of all distances of all pairs), median, HD95, counts.

    With CRSs, distances and ``spacing_m`` are ground metres on the WGS84 ellipsoid; ``work_crs`` names the
    CRS(s) the pairs were brought together in, not one whose map metres were measured.
    """
    if (pred_crs is None) != (ref_crs is None):
        side = "predicted" if pred_crs is None else "reference"
        raise GlacierfrontError(
            f"the {side} layer has no CRS; assign one (e.g. ogr2ogr -a_srs) to compare the two"
        )
    if spacing_m is not None and not (np.isfinite(spacing_m) and spacing_m > 0):
        raise GlacierfrontError(f"--spacing {spacing_m}: must be a positive number of metres")
    per_scene: dict[str, dict[str, Any]] = {}
    chunks: list[np.ndarray] = []
    work_crs: set[str | None] = set()
    for pair in pairs:
        if pair.ref is not None and not pair.ref.is_empty and pair.ref.length == 0:
            # One point, not a line: every distance would be to that point (thousands of metres, scored
            # as if meant).
            raise GlacierfrontError(
                f"--ref: the reference line of {pair.key} has zero length (all its vertices are one point); "
                "fix or remove it"
            )
        moved, unit_m, work = to_metric(pair, pred_crs, ref_crs)
        work_crs.add(None if work is None else work.to_string())
        step_m = spacing_m or auto_spacing_m(moved.pred, moved.ref, unit_m, moved.resolution_m)
        distances = pair_distances_m(moved.pred, moved.ref, step_m, unit_m, work)
        if distances is None:
            status = "no_pred_front" if moved.pred is None or moved.pred.is_empty else "no_ref_front"
        else:
            status = "ok"
            chunks.append(distances)
        per_scene[pair.key] = _scene_row(distances, status, step_m)
    pooled = np.concatenate(chunks) if chunks else np.empty(0)
    have = pooled.size > 0
    return {
        "units": "m" if pred_crs is not None else NO_CRS_UNITS,
        "work_crs": sorted(c for c in work_crs if c),
        "n_scenes": len(pairs),
        "n_evaluated": len(chunks),
        "n_no_front": len(pairs) - len(chunks),
        # In metres only: without a CRS the units are unknown.
        "far_apart_scenes": [
            key
            for key, row in per_scene.items()
            if pred_crs is not None and row["mde"] is not None and row["mde"] > FAR_APART_M
        ],
        "n_points": int(pooled.size),
        "mde": float(pooled.mean()) if have else None,
        "median": float(np.median(pooled)) if have else None,
        "hd95": float(np.percentile(pooled, 95)) if have else None,
        "mean_of_scene_means": float(np.mean([c.mean() for c in chunks])) if have else None,
        "no_front_scenes": sorted(k for k, row in per_scene.items() if row["status"] != "ok"),
        "per_scene": per_scene,
    }


def evaluate_vectors(
    pred_path: str | Path,
    ref_path: str | Path,
    match: str = "scene",
    spacing_m: float | None = None,
    boundary: bool = False,
    layer: str | None = None,
    ref_layer: str | None = None,
) -> dict[str, Any]:
    """Compare a predicted front layer with a reference layer: the whole vector-mode evaluation.

    Either may be a folder of files (predict's one file per scene); a reference file inside the predicted
    folder is left out of the prediction. ``layer``/``ref_layer`` pick a layer of a multi-layer file.

    REF is reprojected to PRED's CRS; a geographic PRED is first projected to a local metric CRS. Distances
    are ground metres, geodesic on the WGS84 ellipsoid, not map metres of either CRS (or layer units when
    neither layer has a CRS). A reference scene without a predicted front is counted in ``n_no_front`` and
    left out of every mean.
    """
    if Path(pred_path).is_dir() and Path(ref_path).is_dir() and _same(pred_path, ref_path):
        raise GlacierfrontError(
            f"{pred_path}: given as both PRED and --ref; it would be scored against itself"
        )
    ref = read_layer(ref_path, boundary, layer=ref_layer)
    pred = read_layer(pred_path, boundary, allow_empty=True, layer=layer, exclude=(ref_path,))
    if pred.records and (pred.crs is None) != (ref.crs is None):
        missing = pred if pred.crs is None else ref
        raise GlacierfrontError(
            f"{missing.path}: has no CRS while the other layer has one; assign its CRS (e.g. ogr2ogr -a_srs EPSG:XXXX)"
        )
    pairs, unmatched = match_pairs(pred, ref, match)
    result = evaluate_pairs(pairs, pred.crs, ref.crs, spacing_m)
    return {
        "mode": "vector",
        "pred": str(pred.path),
        "ref": str(ref.path),
        "match": match,
        "spacing_m": spacing_m,
        **result,
        "n_pred_unmatched": len(unmatched),
        "unmatched_pred_scenes": unmatched,
    }

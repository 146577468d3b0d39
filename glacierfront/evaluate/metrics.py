"""Front and zone metrics: CaFFe's pooled mean distance error (pixels or metres) and per-class zone scores."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import parse_caffe_name, season
from glacierfront.zones import IGNORE_ZONE, NUM_ZONE_CLASSES, ZONE_CLASS_NAMES


def _both_way_distances(pred_points: np.ndarray, ref_points: np.ndarray) -> np.ndarray:
    # A KD-tree per side keeps memory linear in the number of points; an all-pairs matrix would not fit for
    # long fronts on full-resolution scenes.
    pred_to_ref, _ = cKDTree(ref_points).query(pred_points, k=1)
    ref_to_pred, _ = cKDTree(pred_points).query(ref_points, k=1)
    return np.concatenate([pred_to_ref, ref_to_pred]).astype(np.float64)


def front_distances(pred_mask: np.ndarray, ref_mask: np.ndarray) -> np.ndarray | None:
    """Distances in pixels from each predicted front pixel to the nearest reference pixel, then the reverse.

    Returns the two lists concatenated (predicted->reference first), or None when either mask is empty:
    CaFFe leaves such an image out of the MDE and counts it as "no front".
    """
    pred_mask, ref_mask = np.asarray(pred_mask, dtype=bool), np.asarray(ref_mask, dtype=bool)
    if pred_mask.shape != ref_mask.shape:
        raise GlacierfrontError(
            f"predicted front shape {pred_mask.shape} differs from reference {ref_mask.shape}"
        )
    pred_points, ref_points = np.argwhere(pred_mask), np.argwhere(ref_mask)
    if len(pred_points) == 0 or len(ref_points) == 0:
        return None
    return _both_way_distances(pred_points, ref_points)


def _pooled(chunks: list[np.ndarray]) -> tuple[float | None, float | None, int]:
    if not chunks:
        return None, None, 0
    pooled = np.concatenate(chunks)
    return float(pooled.mean()), float(np.median(pooled)), int(pooled.size)


class MDEAccumulator:
    """Collects per-image front distances and reports CaFFe's pooled MDE with its breakdowns.

    Pooled MDE = mean over ALL distances of ALL images together, so an image with a long front weighs more
    than one with a short front; the mean of per-image means is reported beside it, but is not the MDE.
    Images without a predicted (or reference) front are counted in ``n_no_front`` and left out of every mean.
    Metres need each image's ``resolution_m``; pass None when it is unknown (e.g. resized caffe256 data,
    whose name still carries the original resolution) and the metre figures become None.
    """

    def __init__(self) -> None:
        self._px: dict[str, np.ndarray] = {}
        self._resolution_m: dict[str, float | None] = {}
        self._no_front: list[str] = []

    def add(self, image_name: str, distances: np.ndarray | None, resolution_m: float | None = None) -> None:
        """Record one image's distances in pixels (None or empty: no front)."""
        if image_name in self._px or image_name in self._no_front:
            raise GlacierfrontError(f"{image_name}: image added twice to the MDE; image names must be unique")
        if resolution_m is not None and resolution_m <= 0:
            raise GlacierfrontError(f"{image_name}: resolution_m must be > 0, got {resolution_m}")
        if distances is None or len(distances) == 0:
            self._no_front.append(image_name)
            return
        self._px[image_name] = np.asarray(distances, dtype=np.float64).ravel()
        self._resolution_m[image_name] = resolution_m

    def _summary(self, names: list[str], no_front: list[str]) -> dict[str, Any]:
        px = [self._px[n] for n in names]
        mde_px, median_px, n_distances = _pooled(px)
        known_m = bool(names) and all(self._resolution_m[n] is not None for n in names)
        mde_m, median_m, _ = (
            _pooled([self._px[n] * self._resolution_m[n] for n in names]) if known_m else (None,) * 3
        )
        return {
            "n_images": len(names) + len(no_front),
            "n_evaluated": len(names),
            "n_no_front": len(no_front),
            "n_distances": n_distances,
            "mde_px": mde_px,
            "median_px": median_px,
            "mde_m": mde_m,
            "median_m": median_m,
            "mean_of_image_means_px": float(np.mean([d.mean() for d in px])) if px else None,
        }

    def distances_px(self) -> np.ndarray:
        """Every recorded distance of every image, in pixels, in one array (for pooling evaluations)."""
        return np.concatenate([self._px[n] for n in sorted(self._px)]) if self._px else np.zeros(0)

    def result(self) -> dict[str, Any]:
        """Return the overall summary, per-image means, no-front names and breakdowns as a plain dict."""
        out = self._summary(sorted(self._px), self._no_front)
        out["no_front_images"] = sorted(self._no_front)
        out["per_image"] = {
            name: {
                "mde_px": float(self._px[name].mean()),
                "mde_m": (
                    float(self._px[name].mean() * res)
                    if (res := self._resolution_m[name]) is not None
                    else None
                ),
                "n_distances": int(self._px[name].size),
            }
            for name in sorted(self._px)
        }
        out["breakdowns"] = self._breakdowns()
        return out

    def _breakdowns(self) -> dict[str, dict[str, dict[str, Any]]]:
        # Images whose names are not CaFFe names count in the overall figures only.
        groups: dict[str, dict[str, tuple[list[str], list[str]]]] = defaultdict(
            lambda: defaultdict(lambda: ([], []))
        )
        for name in sorted(self._px) + sorted(self._no_front):
            try:
                parsed = parse_caffe_name(name)
            except GlacierfrontError:
                continue
            keys = {
                "glacier": parsed.glacier,
                "season": season(parsed),
                "satellite": parsed.satellite,
                "resolution_m": f"{parsed.resolution_m:g}",
            }
            for field in ("season", "satellite", "resolution_m"):
                keys[f"glacier_{field}"] = f"{parsed.glacier}/{keys[field]}"
            slot = 0 if name in self._px else 1
            for field, value in keys.items():
                groups[field][value][slot].append(name)
        return {
            field: {value: self._summary(*members) for value, members in sorted(by_value.items())}
            for field, by_value in sorted(groups.items())
        }


def zone_scores(pred: np.ndarray, ref: np.ndarray, num_classes: int = 4) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and IoU of one image, each an array of ``num_classes`` floats.

    A class absent from both prediction and reference gets NaN everywhere (nothing to score; averages skip it).
    Reference pixels equal to ``IGNORE_ZONE`` (weak labels) are left out.
    Otherwise an undefined ratio counts as 0: a class predicted but absent from the reference has recall 0,
    a class in the reference but never predicted has precision 0.
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise GlacierfrontError(f"predicted zones shape {pred.shape} differs from reference {ref.shape}")
    scored = ref != IGNORE_ZONE  # weak labels: pixels the reference says nothing about are not scored
    if not scored.all():
        pred, ref = pred[scored], ref[scored]
    for label, arr in (("predicted", pred), ("reference", ref)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise GlacierfrontError(
                f"{label} zones hold ids {arr.min()}..{arr.max()}, expected 0..{num_classes - 1}"
            )
    # One bincount gives the whole confusion matrix (rows: reference, columns: prediction).
    flat = ref.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    confusion = np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    tp = np.diag(confusion).astype(np.float64)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), 0.0)
    absent = (tp + fp + fn) == 0
    scores = {"precision": precision, "recall": recall, "f1": f1, "iou": iou}
    for values in scores.values():
        values[absent] = np.nan
    return scores


class ZoneAccumulator:
    """Averages per-image zone scores over images (CaFFe: per image first, then the mean over images).

    ``result()["mean"]`` is the mean over all classes INCLUDING NA, as CaFFe reports it; a class that is
    absent from an image in both prediction and reference is skipped for that image.
    """

    def __init__(
        self, num_classes: int = NUM_ZONE_CLASSES, class_names: tuple[str, ...] = ZONE_CLASS_NAMES
    ) -> None:
        if len(class_names) != num_classes:
            raise GlacierfrontError(f"{len(class_names)} class names given for {num_classes} classes")
        self.num_classes, self.class_names = num_classes, class_names
        self._scores: list[dict[str, np.ndarray]] = []

    def add(self, pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
        """Score one image, remember it, and return its scores."""
        scores = zone_scores(pred, ref, self.num_classes)
        self._scores.append(scores)
        return scores

    def result(self) -> dict[str, Any]:
        """Return ``{"n_images", "per_class": {class: {metric: mean}}, "mean": {metric: mean over classes}}``."""
        out: dict[str, Any] = {"n_images": len(self._scores), "per_class": {}, "mean": {}}
        for metric in ("precision", "recall", "f1", "iou"):
            stacked = np.array([s[metric] for s in self._scores]).reshape(-1, self.num_classes)
            scored = ~np.isnan(stacked)
            # nansum / count rather than nanmean: avoids a warning for a class never present in any image.
            per_class = np.where(
                scored.any(axis=0), np.nansum(stacked, axis=0) / np.maximum(scored.sum(0), 1), np.nan
            )
            for name, value in zip(self.class_names, per_class, strict=True):
                out["per_class"].setdefault(name, {})[metric] = None if np.isnan(value) else float(value)
            present = per_class[~np.isnan(per_class)]
            out["mean"][metric] = float(present.mean()) if present.size else None
        return out


def densify(geom: Any, spacing_m: float) -> np.ndarray:
    """Sample a (Multi)LineString every ``spacing_m`` map units along each part, ends included; (N, 2).

    Equal steps per part, never longer than ``spacing_m``, landing exactly on both ends. Samples are located
    by interpolating over the cumulative vertex distances: O(N log V), where shapely's per-point
    interpolation walks from the line start each time (O(N x V), minutes on a 10^5-vertex front).
    """
    import shapely

    if spacing_m <= 0:
        raise GlacierfrontError(f"spacing_m must be > 0, got {spacing_m}")
    if geom is None or geom.is_empty:
        return np.empty((0, 2))
    chunks = []
    for part in getattr(geom, "geoms", [geom]):
        if part.geom_type not in ("LineString", "LinearRing"):
            raise GlacierfrontError(f"front geometries must be lines, got {part.geom_type}")
        coords = shapely.get_coordinates(part)
        if len(coords) == 0:
            continue
        steps = np.hypot(*np.diff(coords, axis=0).T)
        keep = np.concatenate([[True], steps > 0])  # repeated vertices would give np.interp a flat knot
        coords, along = coords[keep], np.concatenate([[0.0], np.cumsum(steps[steps > 0])])
        n_steps = max(1, int(np.ceil(along[-1] / spacing_m)))
        at = np.linspace(0.0, along[-1], n_steps + 1)
        chunks.append(
            np.column_stack([np.interp(at, along, coords[:, 0]), np.interp(at, along, coords[:, 1])])
        )
    return np.concatenate(chunks) if chunks else np.empty((0, 2))


def line_distances(pred_geom: Any, ref_geom: Any, spacing_m: float) -> np.ndarray | None:
    """Both-way nearest-neighbour distances between two densified front lines, in map units (metres).

    Returns None when either line is empty (a "no front" image). Sampling overestimates a distance by at most
    half the spacing, so keep ``spacing_m`` at or below the pixel size.
    """
    pred_points, ref_points = densify(pred_geom, spacing_m), densify(ref_geom, spacing_m)
    if len(pred_points) == 0 or len(ref_points) == 0:
        return None
    return _both_way_distances(pred_points, ref_points)


def summarize(distances_list: list[np.ndarray | None]) -> dict[str, Any]:
    """Pool per-line distances: mean (pooled MDE), median, HD95, counts; None entries count as no front.

    HD95 here is the 95th percentile of the pooled both-way distances of all lines together (not the per-image
    maximum of the two directed 95th percentiles some papers use).
    """
    chunks = [np.asarray(d, dtype=np.float64).ravel() for d in distances_list if d is not None and len(d)]
    pooled = np.concatenate(chunks) if chunks else np.empty(0)
    return {
        "mde": float(pooled.mean()) if pooled.size else None,
        "median": float(np.median(pooled)) if pooled.size else None,
        "hd95": float(np.percentile(pooled, 95)) if pooled.size else None,
        "n_points": int(pooled.size),
        "n_evaluated": len(chunks),
        "n_no_front": len(distances_list) - len(chunks),
    }

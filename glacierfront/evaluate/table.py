"""The flat (CSV) form of an evaluation result, and whether anything was evaluated at all."""

from __future__ import annotations

import csv
from typing import Any, TextIO

__all__ = ["CSV_COLUMNS", "csv_rows", "nothing_evaluated", "write_csv"]

# Long ("tidy") rows: one number per row, so every mode, breakdown and metric fits the same five columns.
CSV_COLUMNS = ("source", "group", "key", "metric", "value")

_VECTOR_SUMMARY = (
    "n_scenes",
    "n_evaluated",
    "n_no_front",
    "n_pred_unmatched",
    "n_points",
    "mde",
    "median",
    "hd95",
    "mean_of_scene_means",
)
_VECTOR_SCENE = ("mde", "median", "hd95", "n_points", "spacing_m")
_CAFFE_SUMMARY = (
    "n_images",
    "n_evaluated",
    "n_no_front",
    "n_distances",
    "mde_px",
    "median_px",
    "mde_m",
    "median_m",
    "mean_of_image_means_px",
)
_CAFFE_IMAGE = ("mde_px", "mde_m", "n_distances")

Row = tuple[str, str, str, str, Any]


def _vector_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [("prediction", "all", "all", m, result[m]) for m in _VECTOR_SUMMARY]
    for key, scene in result["per_scene"].items():
        rows += [("prediction", result["match"], key, m, scene[m]) for m in _VECTOR_SCENE]
        rows.append(("prediction", result["match"], key, "no_front", int(scene["status"] != "ok")))
    return rows


def _mde_rows(source: str, mde: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [(source, "all", "all", m, mde[m]) for m in _CAFFE_SUMMARY]
    for field, groups in mde["breakdowns"].items():
        for value, summary in groups.items():
            rows += [(source, field, value, m, summary[m]) for m in _CAFFE_SUMMARY]
    for name, image in mde["per_image"].items():
        rows += [(source, "image", name, m, image[m]) for m in _CAFFE_IMAGE]
        rows.append((source, "image", name, "no_front", 0))
    rows += [(source, "image", name, "no_front", 1) for name in mde["no_front_images"]]
    return rows


def _caffe_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if (prediction := result["prediction"]) is not None:
        rows += _mde_rows("prediction", prediction)
        zones = prediction["zones"]
        for name, scores in [*zones["per_class"].items(), ("mean", zones["mean"])]:
            rows += [("prediction", "zones", name, metric, value) for metric, value in scores.items()]
    if result["floor"] is not None:
        rows += _mde_rows("floor", result["floor"])
    return rows


def csv_rows(result: dict[str, Any]) -> list[Row]:
    """Flatten an evaluation result to (source, group, key, metric, value) rows; value None means missing."""
    return _vector_rows(result) if result["mode"] == "vector" else _caffe_rows(result)


def write_csv(result: dict[str, Any], stream: TextIO) -> None:
    """Write ``csv_rows(result)`` with a header; missing values are empty cells."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for *keys, value in csv_rows(result):
        writer.writerow([*keys, "" if value is None else value])


def nothing_evaluated(result: dict[str, Any]) -> str | None:
    """Why no distance could be measured at all (the CLI then exits non-zero), or None if something was."""
    if result["mode"] == "vector":
        if result["n_evaluated"] == 0:
            return (
                f"no scene could be evaluated: {result['n_no_front']} of {result['n_scenes']} "
                f"reference scene(s) have no predicted front (or an empty reference line)"
            )
        return None
    for source, what in (("prediction", "predicted"), ("floor", "label-derived (--floor)")):
        part = result[source]
        if part is not None and part["n_evaluated"] == 0:
            return f"no image could be evaluated: none of the {part['n_images']} images has a {what} front"
    return None

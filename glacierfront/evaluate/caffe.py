"""CaFFe-mode evaluation: zones from a model or saved masks over a CaFFe split, scored as CaFFe does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.metrics import MDEAccumulator, ZoneAccumulator, front_distances
from glacierfront.io.atomic import atomic_path
from glacierfront.io.caffe import (
    CaffeItem,
    CaffeSplit,
    list_split,
    parse_caffe_name,
    read_bbox,
    read_png,
    read_zones,
    split_train_val,
    zones_from_png_values,
    zones_to_png_values,
)
from glacierfront.io.intensity import per_image_model, stretch_per_image
from glacierfront.io.run_config import read_run_config
from glacierfront.model.backend import Backend
from glacierfront.predict.fronts import MIN_FRONT_LENGTH_M, check_ocean_rule, extract_front, min_length_px_for
from glacierfront.zones import IGNORE_ZONE, OCEAN, ROCK

# CaFFe's pixel-grid rule for resized data (caffe256): fronts of at most 2 px are noise.
PIXEL_MIN_LENGTH_PX = 2.0
# Saved prediction masks a --pred-dir may hold, tried in this order.
PRED_SUFFIXES = ("_zones.png", "_pred.png")


@dataclass
class CaffeOptions:
    """What to evaluate and how. ``min_length_px`` None: 2 px with ``pixels``, else 750 m / resolution."""

    split: str = "test"
    glaciers: tuple[str, ...] | None = None
    pixels: bool = False
    min_length_px: float | None = None
    floor: bool = False
    save_dir: Path | None = None
    tile: int | None = None
    overlap: int | None = None
    batch_size: int | None = None
    # A training run's config: score only the validation images that run held out (same split and seed).
    holdout: dict[str, Any] | None = None
    # Which ocean pieces stay ocean, for predictions and --floor alike: "largest" is CaFFe's official rule.
    ocean_rule: str = "largest"


def holdout_config(path: str | Path) -> dict[str, Any]:
    """The training config behind --holdout: a run folder, its config.json, or a model file whose metadata
    carries ``train_config`` (checkpoints and ONNX exports written by ``glacierfront train`` do). Either way
    the table as stored: only its split fields are used (split, glaciers, val_fraction, seed, val_glaciers)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json":
        return read_run_config(path)
    from glacierfront.model.info import describe_model

    meta = describe_model(path)["metadata"]
    if "train_config" not in meta:
        raise GlacierfrontError(
            f"--holdout {path}: the model's metadata has no training config to take the split from"
        )
    return meta["train_config"]


def _items(data_dir: str | Path, options: CaffeOptions):
    """The CaFFe split, or with ``holdout`` the validation images of that training run."""
    if options.holdout is None:
        split = list_split(data_dir, options.split, options.glaciers)
        return split, list(split)
    cfg = options.holdout
    split = list_split(data_dir, cfg.get("split", "train"), cfg.get("glaciers"))
    _, val = split_train_val(
        list(split), cfg.get("val_fraction", 0.1), cfg.get("seed", 0), cfg.get("val_glaciers")
    )
    if options.glaciers is not None:
        val = [it for it in val if parse_caffe_name(it.name).glacier in options.glaciers]
    return split, val


def find_predictions(pred_dir: Path, names: list[str]) -> dict[str, Path]:
    """Map each image name to its saved zone mask in ``pred_dir``; every image must have one."""
    if not pred_dir.is_dir():
        raise GlacierfrontError(f"--pred-dir {pred_dir}: folder not found")
    found: dict[str, Path] = {}
    missing = []
    for name in names:
        path = next((p for s in PRED_SUFFIXES if (p := pred_dir / f"{name}{s}").is_file()), None)
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        # Scoring only the images that happen to be there would flatter the model: refuse instead.
        raise GlacierfrontError(
            f"--pred-dir {pred_dir}: no prediction for {len(missing)} of {len(names)} images "
            f"(e.g. {missing[0]}); expected <name>_zones.png or <name>_pred.png"
        )
    return found


def read_pred_zones(path: Path) -> np.ndarray:
    """Read a saved zone mask: CaFFe grey values (0/64/127/254) or class ids 0..3, told apart by the maximum."""
    values = read_png(path)
    # Grey values of any non-NA class exceed 3, so a mask whose maximum is at most 3 holds class ids.
    if values.max(initial=0) <= 3:
        return values.astype(np.uint8)
    return zones_from_png_values(values)


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(tmp, format="PNG")


def _check_shape(path: Path, array: np.ndarray, label: Path, expected: tuple[int, ...], what: str) -> None:
    """``path`` (holding ``what``) must be on the grid of the zone label ``label``, whose shape is ``expected``."""
    if array.shape != expected:
        raise GlacierfrontError(
            f"{path}: {what} is {array.shape[1]} x {array.shape[0]} px but its zone label {label.name} is "
            f"{expected[1]} x {expected[0]} px; both must be on one grid"
        )


def _min_length_px(options: CaffeOptions, resolution_m: float) -> float:
    if options.min_length_px is not None:
        return options.min_length_px
    return PIXEL_MIN_LENGTH_PX if options.pixels else min_length_px_for(resolution_m)


def evaluate_caffe(
    data_dir: str | Path,
    backend: Backend | None = None,
    pred_dir: str | Path | None = None,
    options: CaffeOptions | None = None,
    on_start: Callable[[int], None] | None = None,
    on_image: Callable[[str], None] | None = None,
    keep: dict[str, MDEAccumulator] | None = None,
) -> dict[str, Any]:
    """Score zones from ``backend`` (run on every image) or ``pred_dir`` (saved masks) on a CaFFe split.

    ``keep``, a dict, receives the "prediction" and "floor" accumulators, for callers that pool several
    evaluations into one MDE (cross-validation).

    Returns the pooled MDE (both directions, all images in one list) with no-front count, per-image means
    and breakdowns, zone scores, and with ``options.floor`` the same post-processing applied to the label
    zone masks (the best any zone model can score). Predicted fronts are clipped to the bounding boxes when
    the data has them; labels are not. ``on_start(n_images)`` and ``on_image(name)`` report progress.
    """
    options = options or CaffeOptions()
    _check_request(backend, pred_dir, options)
    split, items = _items(data_dir, options)
    saved = find_predictions(Path(pred_dir), [it.name for it in items]) if pred_dir is not None else None
    if options.save_dir is not None:
        _make_save_dir(options.save_dir)
    predicting = backend is not None or saved is not None
    pred_mde, zone_acc, floor_mde = MDEAccumulator(), ZoneAccumulator(), MDEAccumulator()
    if keep is not None:
        keep.update(prediction=pred_mde, floor=floor_mde)
    if on_start:
        on_start(len(items))
    for item in items:
        _evaluate_item(item, options, backend, saved, pred_mde if predicting else None, zone_acc, floor_mde)
        if on_image:
            on_image(item.name)
    prediction = None
    if predicting:
        prediction = pred_mde.result()
        prediction["zones"] = zone_acc.result()
    return _report(split, items, options, backend, saved, pred_dir, prediction, floor_mde)


def _check_request(backend: Backend | None, pred_dir: str | Path | None, options: CaffeOptions) -> None:
    """Refuse contradictory or empty requests before any data is read."""
    if backend is not None and pred_dir is not None:
        raise GlacierfrontError("give either a model or --pred-dir, not both")
    if backend is None and pred_dir is None and not options.floor:
        raise GlacierfrontError("nothing to evaluate: give --model MODEL, --pred-dir DIR or --floor")
    if options.save_dir is not None and backend is None and pred_dir is None:
        raise GlacierfrontError("--save-dir writes predictions: give --model MODEL or --pred-dir DIR too")
    if options.min_length_px is not None and options.min_length_px < 0:
        raise GlacierfrontError(f"--min-length-px {options.min_length_px}: must be >= 0")
    check_ocean_rule(options.ocean_rule)


def _make_save_dir(save_dir: Path) -> None:
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GlacierfrontError(f"--save-dir {save_dir}: cannot create it ({err.strerror})") from None


def _report(
    split: CaffeSplit,
    items: list[CaffeItem],
    options: CaffeOptions,
    backend: Backend | None,
    saved: dict[str, Path] | None,
    pred_dir: str | Path | None,
    prediction: dict[str, Any] | None,
    floor_mde: MDEAccumulator,
) -> dict[str, Any]:
    """The result of ``evaluate_caffe``: what was scored, with which rules, and the scores."""
    return {
        "mode": "caffe",
        "data_dir": str(split.data_dir),
        "split": options.split
        if options.holdout is None
        else f"validation of {options.holdout.get('split', 'train')}",
        "glaciers": split.glaciers if options.glaciers is None else sorted(set(options.glaciers)),
        "n_images": len(items),
        "n_with_bbox": sum(it.bbox is not None for it in items),
        "units": "px" if options.pixels else "m",
        "min_length_px": options.min_length_px
        if options.min_length_px is not None
        else (PIXEL_MIN_LENGTH_PX if options.pixels else None),
        "min_length_m": None if options.pixels or options.min_length_px is not None else MIN_FRONT_LENGTH_M,
        "ocean_rule": options.ocean_rule,
        "tta": backend.tta if backend is not None else False,
        "source": "model" if backend is not None else ("pred_dir" if saved is not None else None),
        "model": backend.label if backend is not None else None,
        "pred_dir": str(pred_dir) if pred_dir is not None else None,
        "prediction": prediction,
        "floor": floor_mde.result() if options.floor else None,
    }


def _evaluate_item(
    item: CaffeItem,
    options: CaffeOptions,
    backend: Backend | None,
    saved: dict[str, Path] | None,
    pred_mde: MDEAccumulator | None,
    zone_acc: ZoneAccumulator,
    floor_mde: MDEAccumulator,
) -> None:
    resolution_m = parse_caffe_name(item.name).resolution_m
    label_zones = read_zones(item.zones)
    label_front = read_png(item.front) > 127
    _check_shape(item.front, label_front, item.zones, label_zones.shape, "the front mask")
    bbox = read_bbox(item.bbox, label_zones.shape) if item.bbox is not None else None
    min_length_px = _min_length_px(options, resolution_m)
    # Pixel mode: no metre figures (the grid was resized, the name's resolution is not this grid's).
    metres = None if options.pixels else resolution_m
    if pred_mde is not None:
        if backend is not None:
            from glacierfront.predict.segment import segment_array

            image = read_png(item.image)
            _check_shape(item.image, image, item.zones, label_zones.shape, "the SAR image")
            image01 = image.astype(np.float32) / 255.0
            if per_image_model(backend.metadata):  # as predict's "auto" gives such a model every scene
                image01 = stretch_per_image(image01)
            zones, _ = segment_array(image01, backend, options.tile, options.overlap, options.batch_size)
        else:
            assert saved is not None
            zones = read_pred_zones(saved[item.name])
            _check_shape(saved[item.name], zones, item.zones, label_zones.shape, "the predicted zone mask")
        front = extract_front(zones, min_length_px, bbox=bbox, ocean_rule=options.ocean_rule)
        pred_mde.add(item.name, front_distances(front, label_front), metres)
        zone_acc.add(zones, label_zones)
        if options.save_dir is not None:
            _save_png(options.save_dir / f"{item.name}_zones.png", zones_to_png_values(zones))
            _save_png(options.save_dir / f"{item.name}_front.png", front.astype(np.uint8) * 255)
    if options.floor:
        floor_front = extract_front(
            _complete_weak(label_zones, label_front), min_length_px, bbox=bbox, ocean_rule=options.ocean_rule
        )
        floor_mde.add(item.name, front_distances(floor_front, label_front), metres)


def _complete_weak(zones: np.ndarray, front: np.ndarray) -> np.ndarray:
    """The zone map behind the floor of a weak label (front-line data): the drawn line is the ocean edge and
    the pixels the label says nothing about are rock, which borders neither glacier nor ocean as a front.
    Zone masks without ignored pixels (CaFFe's) come back unchanged."""
    ignored = zones == IGNORE_ZONE
    if not ignored.any():
        return zones
    out = np.where(ignored, ROCK, zones).astype(np.uint8)
    out[front & ignored] = OCEAN
    return out


def score_model(items: list[CaffeItem], backend: Backend, options: CaffeOptions) -> dict[str, Any]:
    """Pooled front MDE (MDEAccumulator result) plus ``zones`` scores of ``backend`` on given CaFFe items.

    The same per-image scoring as ``evaluate_caffe``, for callers that hold their own item list (training
    validation scores the live model on its validation split every epoch).
    """
    pred_mde, zone_acc, unused_floor = MDEAccumulator(), ZoneAccumulator(), MDEAccumulator()
    for item in items:
        _evaluate_item(item, options, backend, None, pred_mde, zone_acc, unused_floor)
    result = pred_mde.result()
    result["zones"] = zone_acc.result()
    return result

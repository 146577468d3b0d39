"""Leave-one-glacier-out (LOGO) cross-validation: one training run per held-out glacier, one table.

A random split of CaFFe shares near-duplicate acquisitions of the same glacier between training and
validation and so measures memory. Here every fold trains on all glaciers but one and is scored on that one,
with CaFFe's own post-processing and front error (pixels of the image grid, bounding boxes, 2 px minimum
front length), next to the label floor of the same images.

Folds live in ``OUT/<glacier>/`` as ordinary training runs: an interrupted fold continues from its
``last.pt``, a finished one is only scored. The fold model scored is ``last.pt`` (the end of the fixed
budget): ``best.pt`` is chosen on the held-out glacier's own validation score, which would leak it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.atomic import atomic_path
from glacierfront.io.caffe import list_split, parse_caffe_name
from glacierfront.train.config import TrainConfig

# Options that may differ between folds or invocations without changing the recipe (epochs: a fold can be
# trained on to a larger budget, as with train --resume --epochs).
_NOT_RECIPE = {"out", "val_glaciers", "data", "workers", "device", "extra", "val_fraction", "glaciers",
               "patience", "epochs", "val_every"}  # fmt: skip


@dataclass
class FoldScore:
    """One held-out glacier's scores; ``distances`` keep the pooled median exact."""

    glacier: str
    n_images: int
    n_no_front: int
    mde_px: float | None
    median_px: float | None
    miou: float | None
    ocean_iou: float | None
    floor_mde_px: float | None
    floor_no_front: int
    distances: np.ndarray
    floor_distances: np.ndarray
    no_front_images: list[str]


def glaciers_in(data: str | Path, split: str = "train") -> list[str]:
    """Every glacier of a CaFFe split, sorted."""
    return sorted({parse_caffe_name(item.name).glacier for item in list_split(data, split, None)})


def fold_config(base: TrainConfig, out: Path, glacier: str) -> TrainConfig:
    """The training config of the fold that holds out ``glacier``."""
    return replace(base, out=str(out / glacier), val_glaciers=[glacier], glaciers=None, extra={})


def recipe_differences(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """Names of the options (learning recipe only) in which two configs differ."""
    a, b = saved.to_dict(), wanted.to_dict()
    return sorted(k for k in a if k not in _NOT_RECIPE and a.get(k) != b.get(k))


def completed_epochs(run: Path) -> int:
    """Epochs a run folder has finished, read from its metrics.csv (0 when there is none)."""
    metrics = run / "metrics.csv"
    if not metrics.is_file():
        return 0
    with open(metrics, newline="") as fh:
        epochs = [int(row["epoch"]) for row in csv.DictReader(fh) if row.get("epoch")]
    return max(epochs, default=0)


def fold_state(config: TrainConfig) -> str:
    """'new', 'partial' (resume it) or 'done' for one fold's run folder; refuses a different recipe."""
    run = Path(config.out)
    if not (run / "last.pt").is_file():
        return "new"
    saved = TrainConfig.load(run / "config.json")
    differ = recipe_differences(saved, config)
    if differ:
        raise GlacierfrontError(
            f"{run} was trained with other options ({', '.join(differ)}); "
            "use another --out folder for another recipe"
        )
    finished = completed_epochs(run)
    return "done" if finished >= config.epochs or _stopped_early(run, saved) else "partial"


def _stopped_early(run: Path, saved: TrainConfig) -> bool:
    """True when the run's patience ran out (its last epochs brought no better validation mIoU)."""
    metrics = run / "metrics.csv"
    with open(metrics, newline="") as fh:
        mious = [float(r["val_miou"]) for r in csv.DictReader(fh) if r.get("val_miou")]
    if len(mious) <= saved.patience:
        return False
    best_at = int(np.argmax(mious))
    return len(mious) - 1 - best_at >= saved.patience


def train_fold(
    config: TrainConfig, on_epoch: Callable[[dict[str, Any]], None] | None = None, quiet: bool = True
) -> Path:
    """Train (or continue) one fold; returns its last.pt."""
    from glacierfront.train.loop import Trainer

    config.check_out()
    state = fold_state(config)
    if state != "done":
        resume = state == "partial"
        if resume:  # the saved config is the truth for a resumed run (same recipe, checked above)
            saved = TrainConfig.load(Path(config.out) / "config.json")
            saved.out, saved.epochs, saved.workers = config.out, config.epochs, config.workers
            config = saved
        trainer = Trainer(config, resume=resume, quiet=quiet)
        try:
            trainer.fit(None, on_epoch)
        finally:
            trainer.close()
    return Path(config.out) / "last.pt"


def score_fold(
    run: Path,
    backend,
    glacier: str,
    options: dict[str, Any] | None = None,
) -> FoldScore:
    """Score ``backend`` on the images the fold in ``run`` held out, with the label floor beside it."""
    from glacierfront.evaluate.caffe import CaffeOptions, evaluate_caffe

    holdout = TrainConfig.load(run / "config.json").to_dict()
    caffe = CaffeOptions(pixels=True, floor=True, holdout=holdout, **(options or {}))
    keep: dict[str, Any] = {}
    result = evaluate_caffe(holdout["data"], backend, None, caffe, keep=keep)
    pred, floor = result["prediction"], result["floor"]
    ocean = pred["zones"]["per_class"]["ocean"]["iou"]
    return FoldScore(
        glacier=glacier,
        n_images=pred["n_images"],
        n_no_front=pred["n_no_front"],
        mde_px=pred["mde_px"],
        median_px=pred["median_px"],
        miou=pred["zones"]["mean"]["iou"],
        ocean_iou=ocean,
        floor_mde_px=floor["mde_px"],
        floor_no_front=floor["n_no_front"],
        distances=keep["prediction"].distances_px(),
        floor_distances=keep["floor"].distances_px(),
        no_front_images=list(pred["no_front_images"]),
    )


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None


def pooled(scores: Sequence[FoldScore]) -> dict[str, Any]:
    """All held-out images of all folds in one pool: CaFFe's pooled MDE over every distance."""
    dist = np.concatenate([s.distances for s in scores]) if scores else np.zeros(0)
    floor = np.concatenate([s.floor_distances for s in scores]) if scores else np.zeros(0)
    n = sum(s.n_images for s in scores)

    def weighted(field: str) -> float | None:
        pairs = [(getattr(s, field), s.n_images) for s in scores if getattr(s, field) is not None]
        return sum(v * k for v, k in pairs) / sum(k for _, k in pairs) if pairs else None

    return {
        "glacier": "pooled",
        "n_images": n,
        "n_no_front": sum(s.n_no_front for s in scores),
        "mde_px": _mean(dist),
        "median_px": _median(dist),
        "miou": weighted("miou"),
        "ocean_iou": weighted("ocean_iou"),
        "floor_mde_px": _mean(floor),
        "floor_no_front": sum(s.floor_no_front for s in scores),
    }


def rows(scores: Sequence[FoldScore]) -> list[dict[str, Any]]:
    """Table rows: one per held-out glacier, then the pool; MDE / floor ratio and no-front share added."""
    out = []
    for s in scores:
        row = {k: getattr(s, k) for k in ("glacier", "n_images", "n_no_front", "mde_px", "median_px", "miou",
                                         "ocean_iou", "floor_mde_px", "floor_no_front")}  # fmt: skip
        out.append(row)
    out.append(pooled(scores))
    for row in out:
        mde, floor = row["mde_px"], row["floor_mde_px"]
        row["ratio_to_floor"] = mde / floor if mde is not None and floor else None
        row["no_front_share"] = row["n_no_front"] / row["n_images"] if row["n_images"] else None
    return out


def markdown(table: list[dict[str, Any]], title: str = "") -> str:
    """The LOGO table as markdown."""

    def num(v: Any, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    lines = [f"**{title}**", ""] if title else []
    lines += [
        "| held-out glacier | images | MDE (px) | median (px) | no front | mIoU | ocean IoU | floor MDE (px) "
        "| MDE / floor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        lines.append(
            f"| {r['glacier']} | {r['n_images']} | {num(r['mde_px'])} | {num(r['median_px'])} | "
            f"{r['n_no_front']} ({100 * (r['no_front_share'] or 0):.0f}%) | {num(r['miou'], 3)} | "
            f"{num(r['ocean_iou'], 3)} | {num(r['floor_mde_px'])} | {num(r['ratio_to_floor'], 1)} |"
        )
    return "\n".join(lines) + "\n"


def write_table(table: list[dict[str, Any]], out: Path, name: str, title: str, extra: dict[str, Any]) -> Path:
    """Write ``name``.json (rows and settings) and ``name``.md beside the folds; returns the .md path."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{name}.json") as tmp:
        tmp.write_text(json.dumps({"rows": table, **extra}, indent=2) + "\n")
    md = out / f"{name}.md"
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(table, title))
    return md

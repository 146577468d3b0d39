"""Few-shot curve: how many labelled images make an unseen glacier a seen one (issue 15).

For each caffe256 glacier G, start from the leave-one-glacier-out model that never saw it
(``BASES/G/last.pt``, as ``glacierfront crossval`` made them), fine-tune it with ``glacierfront finetune``'s
library call on k of G's images (spread evenly over its dates, or the k earliest: --pick), and score it CaFFe-exactly (pixels of the 256 grid, bounding boxes, 2 px
minimum front length, label floor beside it) on all of G's other images: a temporary CaFFe folder holding only
them, so the k training images can never be scored. k = 0 scores the base model on all of G's images and
reproduces the LOGO table.

Every cell (glacier, k, labels, pick, recipe variant) is one JSON file in OUT/cells/, written when the cell is done: run it again to
resume, glacier by glacier if you like; --table only pools the cells there into OUT/fewshot.md.

    python benchmarks/fewshot.py --data ../shared/data/caffe256 --bases /work/runs/logo-base \\
        --out /work/runs/fewshot --glaciers JAC --k 5 --pick spread
    python benchmarks/fewshot.py --out /work/runs/fewshot --table

Labels: "zones" (the zone masks) or "fronts" (weak labels from the front masks, glacier side given as one
compass direction per glacier, read off its earliest image: what a user states once, see GLACIER_SIDES).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from glacierfront.evaluate.caffe import CaffeOptions, evaluate_caffe
from glacierfront.io.atomic import atomic_path
from glacierfront.io.caffe import list_split, parse_caffe_name
from glacierfront.model.backend import load_backend
from glacierfront.train import finetune as ft
from glacierfront.train import finetune_data as fd

# From each glacier's front towards its glacier on its earliest caffe256 image, to the nearest compass point
# (north = the top of the image): the one fact the front-line-only labels need.
GLACIER_SIDES = {"Crane": "SSW", "DBE": "WNW", "JAC": "ENE", "SI": "SW"}
# The FrontLearning chips (optical, imported with `glacierfront import-fronts`) are rotated so that the glacier
# lies below its front in every chip.
OPTICAL_SIDES = {"Jakobshavn": "below", "Kangerlussuaq": "below", "Sverdrup": "below"}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def images_of(data: Path, glacier: str) -> list[str]:
    """The glacier's images, earliest first (CaFFe names start with the glacier and the date)."""
    names = [item.name for item in list_split(data, "train", [glacier])]
    return sorted(names, key=lambda n: (parse_caffe_name(n).date, n))


def score(model: Path, folder: Path, device: str) -> dict:
    backend = load_backend(model, device)
    result = evaluate_caffe(folder, backend, None, CaffeOptions(split="train", pixels=True, floor=True))
    keep = {}
    for source in ("prediction", "floor"):
        part = result[source]
        keep[source] = {
            "n_images": part["n_images"],
            "n_no_front": part["n_no_front"],
            "mde_px": part["mde_px"],
            "median_px": part["median_px"],
            "no_front_images": part["no_front_images"],
            # per image: mean distance and count, so any subset of images can be pooled exactly later
            "per_image": {n: [v["mde_px"], v["n_distances"]] for n, v in part["per_image"].items()},
        }
    keep["prediction"]["miou"] = result["prediction"]["zones"]["mean"]["iou"]
    return keep


def pick(names: list[str], k: int, how: str) -> list[str]:
    """The k training images: spread evenly over the dates (the first and the last among them; k = 1 is the
    first), or the k earliest. On caffe256 the earliest images of DBE, SI and Crane are all ERS scenes of one
    or two winters, unlike the rest: docs/finetune.md shows what that does to a fine-tune."""
    if how == "earliest" or k == 0:
        return names[:k]
    return [names[i] for i in sorted({round(v) for v in np.linspace(0, len(names) - 1, k)})]


def run_cell(args, glacier: str, k: int, labels: str) -> dict:
    names = images_of(args.data, glacier)
    train = pick(names, k, args.pick)
    held = [n for n in names if n not in train]
    base = args.bases / glacier / "last.pt"
    cell = {
        "glacier": glacier,
        "k": k,
        "labels": _label(labels, k, args.pick, args.variant),
        "base": str(base),
        "train": train,
    }
    with tempfile.TemporaryDirectory(prefix=f"fewshot-{glacier}-{k}-") as tmp:
        tmp = Path(tmp)
        evaluation = fd.caffe_subset(args.data, tmp / "eval", names=held, labels="zones")
        assert not set(evaluation.names) & set(train), "a training image would be scored"
        if k == 0:
            model, timing = base, {}
        else:
            side = fd.parse_glacier_side({**GLACIER_SIDES, **OPTICAL_SIDES}[glacier])
            prepared = fd.caffe_subset(
                args.data, tmp / "train", names=train, labels=labels, glacier_side=side
            )
            options = ft.FinetuneOptions(
                steps=args.steps, batch_size=args.batch_size, lr_max=args.lr_max, lr_min=args.lr_min,
                freeze_encoder=args.freeze_encoder, seed=args.seed, device=args.device,
                scale_aug=args.scale_aug, intensity_aug=args.intensity_aug,
            )  # fmt: skip
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            result = ft.finetune(
                prepared, ft.resolve_base(base), tmp / "model.onnx", options, f"caffe256 {glacier} first {k}",
                on_step=None if args.quiet else _progress, work=tmp / "run",
            )  # fmt: skip
            with open(tmp / "run" / "metrics.csv") as fh:
                cell["metrics"] = fh.read()
            timing = {
                "wall_s": time.perf_counter() - wall0,
                "cpu_s": cpu_seconds() - cpu0,
                "steps": result.steps,
                "train_miou": result.train_miou,
                "kept": result.kept,
                "threads": _threads(),
            }
            model = result.checkpoint
            cell["recipe"] = vars(options)
        cell.update(timing=timing, **score(model, tmp / "eval", args.device))
    return cell


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _progress(step: int, total: int, loss: float) -> None:
    if step % 10 == 0 or step == total:
        print(f"    step {step}/{total} loss {loss:.4f}", file=sys.stderr, flush=True)


def _label(labels: str, k: int, how: str, variant: str = "") -> str:
    if k == 0:
        return "-"
    return ", ".join([labels, how] + ([variant] if variant else []))


def cell_path(out: Path, glacier: str, k: int, labels: str, how: str = "earliest", variant: str = "") -> Path:
    suffix = "" if k == 0 else ("" if how == "earliest" else f"-{how}") + (f"-{variant}" if variant else "")
    return out / "cells" / f"{glacier}-k{k}-{labels if k else 'base'}{suffix}.json"


# -- table ----------------------------------------------------------------------------------------------------
def pooled(cells: list[dict], source: str, only: dict[str, set[str]] | None = None) -> dict:
    """Pooled MDE over the cells' images (optionally only the names in ``only[glacier]``)."""
    total = count = n_images = no_front = 0
    for cell in cells:
        part = cell[source]
        wanted = None if only is None else only[cell["glacier"]]
        for name, (mde, n) in part["per_image"].items():
            if wanted is None or name in wanted:
                total += mde * n
                count += n
                n_images += 1
        for name in part["no_front_images"]:
            if wanted is None or name in wanted:
                no_front += 1
                n_images += 1
    return {"mde_px": total / count if count else None, "n_images": n_images, "n_no_front": no_front}


def table(out: Path) -> str:
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    if not cells:
        raise SystemExit(f"{out / 'cells'}: no cells yet")
    glaciers = sorted({c["glacier"] for c in cells})
    rows = sorted({(c["k"], c["labels"]) for c in cells})
    lines = [
        "| k | labels | steps | glacier | images scored | MDE (px) | no front | floor MDE (px) | MDE / floor "
        "| base MDE, same images | fine-tune wall min | fine-tune CPU min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    base_cells = {c["glacier"]: c for c in cells if c["k"] == 0}
    for k, labels in rows:
        group = [c for c in cells if c["k"] == k and c["labels"] == labels]
        for cell in sorted(group, key=lambda c: c["glacier"]) + ([None] if len(group) > 1 else []):
            part = group if cell is None else [cell]
            name = "pooled" if cell is None else cell["glacier"]
            pred, floor = pooled(part, "prediction"), pooled(part, "floor")
            scored = {c["glacier"]: set(c["prediction"]["per_image"]) | set(c["prediction"]["no_front_images"])
                      for c in part}  # fmt: skip
            bases = [base_cells[g] for g in scored if g in base_cells]
            same = pooled(bases, "prediction", scored)["mde_px"] if len(bases) == len(scored) else None
            wall = [c["timing"]["wall_s"] / 60 for c in part if c["timing"]]
            cpu = [c["timing"]["cpu_s"] / 60 for c in part if c["timing"]]
            ratio = pred["mde_px"] / floor["mde_px"] if pred["mde_px"] and floor["mde_px"] else None
            share = 100 * pred["n_no_front"] / pred["n_images"] if pred["n_images"] else 0
            steps = sorted({str(c["timing"]["steps"]) for c in part if c["timing"]}) or ["-"]
            lines.append(
                f"| {k} | {labels} | {'/'.join(steps)} | {name} | {pred['n_images']} | {_num(pred['mde_px'])} | "
                f"{pred['n_no_front']} ({share:.1f}%) | {_num(floor['mde_px'])} | {_num(ratio, 1)} | {_num(same)} | "
                f"{_num(max(wall) if wall else None, 1)} | {_num(max(cpu) if cpu else None, 1)} |"
            )
    text = "\n".join(lines) + "\n"
    text += (
        "\nFine-tune minutes: the longest cell of the row (wall clock; CPU = user + system of all threads).\n"
    )
    with atomic_path(out / "fewshot.md") as tmp:
        tmp.write_text(text)
    print(f"glaciers: {', '.join(glaciers)}", file=sys.stderr)
    return text


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/caffe256"))
    parser.add_argument("--bases", type=Path, default=Path("/work/runs/logo-base"))
    parser.add_argument("--out", type=Path, default=Path("/work/runs/fewshot"))
    parser.add_argument("--glaciers", default=",".join(GLACIER_SIDES))
    parser.add_argument("--k", default="0,1,3,5", help="comma-separated numbers of training images")
    parser.add_argument("--labels", default="zones", help="zones, fronts or zones,fronts")
    parser.add_argument(
        "--pick",
        default="spread",
        choices=("earliest", "spread"),
        help="which k images train the model: spread evenly over the glacier's dates (first and last included), "
        "or its k earliest",
    )
    parser.add_argument("--steps", type=int, default=ft.DEFAULT_STEPS)
    parser.add_argument("--batch-size", type=int, default=ft.DEFAULT_BATCH)
    parser.add_argument("--lr-max", type=float, default=ft.DEFAULT_LR_MAX)
    parser.add_argument("--lr-min", type=float, default=ft.DEFAULT_LR_MIN)
    parser.add_argument(
        "--train-encoder",
        dest="freeze_encoder",
        action="store_false",
        help="train all weights (default: not the encoder)",
    )
    parser.add_argument(
        "--scale-aug", type=lambda v: [float(x) for x in v.split(",")], default=None, help="zoom LO,HI"
    )
    parser.add_argument("--intensity-aug", action="store_true")
    parser.add_argument(
        "--variant", default="", help="a name for a recipe other than the default, kept in the cells' labels"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--table", action="store_true", help="only pool the finished cells into OUT/fewshot.md"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not args.table:
        (args.out / "cells").mkdir(parents=True, exist_ok=True)
        for glacier in args.glaciers.split(","):
            for k in (int(v) for v in args.k.split(",")):
                for labels in ["zones"] if k == 0 else args.labels.split(","):
                    path = cell_path(args.out, glacier, k, labels, args.pick, args.variant)
                    if path.is_file():
                        print(f"{path.name}: done, skipped", file=sys.stderr)
                        continue
                    print(f"{glacier} k={k} {labels} (pid {os.getpid()})", file=sys.stderr, flush=True)
                    cell = run_cell(args, glacier, k, labels)
                    pred, t = cell["prediction"], cell["timing"]
                    print(
                        f"  MDE {_num(pred['mde_px'])} px, no front {pred['n_no_front']}/{pred['n_images']}, "
                        f"floor {_num(cell['floor']['mde_px'])} px"
                        + (f", {t['wall_s'] / 60:.1f} min wall, {t['cpu_s'] / 60:.1f} CPU min" if t else ""),
                        file=sys.stderr,
                        flush=True,
                    )
                    with atomic_path(path) as tmp:
                        tmp.write_text(json.dumps(cell, indent=1) + "\n")
    print(table(args.out))


if __name__ == "__main__":
    main()

"""Held-out scores averaged over a LOGO run's validation checkpoints, not only its last one.

One fold's held-out MDE jumps from checkpoint to checkpoint (e.g. 23 px at one epoch, 50 px four epochs later on
the same glacier), so a recipe compared on each fold's last.pt alone is compared on luck. Every fold validates on
its held-out glacier every few epochs (its metrics.csv); this averages those scores over the checkpoints from
``--from-epoch`` on, per glacier, then weights the glaciers by their image count (an approximation of the pooled
MDE, which pools distances, not images).

    python3 benchmarks/logo_curves.py docs/results/gpu-logo/{plain,aug,int,plain-ema,aug-ema} --from-epoch 8

``--by-epoch`` prints one folder's folds epoch by epoch instead, with the learning rate each epoch ended at: the
cyclic schedule has a peak and a trough every cycle, and this tells the phase a fold stopped at from its length
(the longer-schedule section of docs/realscene.md):

    python3 benchmarks/logo_curves.py docs/results/logo5-e12 --by-epoch
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def validated_epochs(metrics: Path) -> list[dict]:
    """The rows of a fold's metrics.csv whose epoch was validated on the held-out glacier."""
    with open(metrics, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["val_mde_px"]]


def recipe_row(folder: Path, from_epoch: int) -> dict:
    """Mean held-out MDE and no-front count over the checkpoints of every fold in ``folder``."""
    counts = {r["glacier"]: r["n_images"] for r in json.loads((folder / "logo.json").read_text())["rows"]}
    counts.pop("pooled", None)
    per, checkpoints = {}, set()
    for glacier in sorted(counts):
        rows = [
            r for r in validated_epochs(folder / glacier / "metrics.csv") if int(r["epoch"]) >= from_epoch
        ]
        if not rows:
            raise SystemExit(f"{folder / glacier}: no validated epoch from {from_epoch} on")
        checkpoints.add(tuple(int(r["epoch"]) for r in rows))
        per[glacier] = (
            sum(float(r["val_mde_px"]) for r in rows) / len(rows),
            sum(int(r["val_no_front"]) for r in rows) / len(rows),
        )
    total = sum(counts.values())
    return {
        "recipe": folder.name,
        "epochs": sorted(checkpoints)[0] if len(checkpoints) == 1 else "differ",
        "mde_px": sum(per[g][0] * counts[g] for g in per) / total,
        "no_front": sum(per[g][1] for g in per),
        "images": total,
        "per_glacier": per,
    }


def epoch_rows(folder: Path) -> tuple[list[str], list[dict]]:
    """The folds of ``folder`` (sub-folders with a metrics.csv) and, per validated epoch, the learning rate and
    each fold's held-out mIoU, MDE and no-front count, plus their means over the folds."""
    glaciers = sorted(d.name for d in folder.iterdir() if (d / "metrics.csv").is_file())
    if not glaciers:
        raise SystemExit(f"{folder}: no <glacier>/metrics.csv")
    by_epoch: dict[int, dict] = {}
    for glacier in glaciers:
        for r in validated_epochs(folder / glacier / "metrics.csv"):
            row = by_epoch.setdefault(int(r["epoch"]), {"epoch": int(r["epoch"]), "lr": float(r["lr"])})
            row[glacier] = (float(r["val_miou"]), float(r["val_mde_px"]), int(r["val_no_front"]))
    rows = []
    for epoch in sorted(by_epoch):
        row = by_epoch[epoch]
        scores = [row[g] for g in glaciers if g in row]
        row["n_folds"] = len(scores)
        row["mean"] = tuple(sum(s[i] for s in scores) / len(scores) for i in range(3))
        rows.append(row)
    return glaciers, rows


def print_by_epoch(folder: Path) -> None:
    glaciers, rows = epoch_rows(folder)
    print(f"Held-out scores of {folder.name} by epoch (mIoU / MDE px / no front; the mean over the folds)\n")
    print("| epoch | lr | folds | mean mIoU | mean MDE (px) | mean no front | " + " | ".join(glaciers) + " |")
    print("| --- " * (6 + len(glaciers)) + "|")
    for r in rows:
        miou, mde, nf = r["mean"]
        cells = " | ".join(f"{r[g][0]:.3f} / {r[g][1]:.2f} / {r[g][2]}" if g in r else "-" for g in glaciers)
        print(
            f"| {r['epoch']} | {r['lr']:g} | {r['n_folds']} | {miou:.3f} | {mde:.2f} | {nf:.1f} | {cells} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "folders", nargs="+", type=Path, help="LOGO recipe folders (logo.json + <glacier>/metrics.csv)"
    )
    ap.add_argument("--from-epoch", type=int, default=8)
    ap.add_argument("--by-epoch", action="store_true", help="one folder's folds epoch by epoch")
    args = ap.parse_args()
    if args.by_epoch:
        for folder in args.folders:
            print_by_epoch(folder)
        return
    rows = [recipe_row(f, args.from_epoch) for f in args.folders]
    glaciers = sorted(rows[0]["per_glacier"])
    print(f"Held-out scores averaged over the validation checkpoints from epoch {args.from_epoch} on\n")
    print("| recipe | checkpoints (epochs) | mean MDE (px, image-weighted) | mean no-front images | "
          + " | ".join(f"{g} MDE / no front" for g in glaciers) + " |")  # fmt: skip
    print("| --- " * (4 + len(glaciers)) + "|")
    for r in rows:
        epochs = r["epochs"] if r["epochs"] == "differ" else ", ".join(map(str, r["epochs"]))
        cells = " | ".join(f"{r['per_glacier'][g][0]:.1f} / {r['per_glacier'][g][1]:.1f}" for g in glaciers)
        print(
            f"| {r['recipe']} | {epochs} | {r['mde_px']:.2f} | {r['no_front']:.1f} of {r['images']} | {cells} |"
        )


if __name__ == "__main__":
    main()

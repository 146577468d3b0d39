"""Held-out scores averaged over a LOGO run's validation checkpoints, not only its last one.

One fold's held-out MDE jumps from checkpoint to checkpoint (e.g. 23 px at one epoch, 50 px four epochs later on
the same glacier), so a recipe compared on each fold's last.pt alone is compared on luck. Every fold validates on
its held-out glacier every few epochs (its metrics.csv); this averages those scores over the checkpoints from
``--from-epoch`` on, per glacier, then weights the glaciers by their image count (an approximation of the pooled
MDE, which pools distances, not images).

    python3 benchmarks/logo_curves.py docs/results/gpu-logo/{plain,aug,int,plain-ema,aug-ema} --from-epoch 8
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def recipe_row(folder: Path, from_epoch: int) -> dict:
    """Mean held-out MDE and no-front count over the checkpoints of every fold in ``folder``."""
    counts = {r["glacier"]: r["n_images"] for r in json.loads((folder / "logo.json").read_text())["rows"]}
    counts.pop("pooled", None)
    per, checkpoints = {}, set()
    for glacier in sorted(counts):
        with open(folder / glacier / "metrics.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["val_mde_px"] and int(r["epoch"]) >= from_epoch]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "folders", nargs="+", type=Path, help="LOGO recipe folders (logo.json + <glacier>/metrics.csv)"
    )
    ap.add_argument("--from-epoch", type=int, default=8)
    args = ap.parse_args()
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

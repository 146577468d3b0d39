"""Train on a machine whose Python lacks the GIS stack (rasterio, fiona, shapely), e.g. a lent GPU machine.

`glacierfront train` imports every command, and predict needs rasterio; training itself does not. This script
builds the same TrainConfig the CLI builds from its defaults (augmented recipe: zoom 0.5-2x, intensity
augmentation) and runs the same Trainer, then writes an inference-only copy of best.pt (fp16 weights, small
enough to copy back) beside it.

    python3 benchmarks/train_on_device.py --data caffe256 --out runs/gpu-atto --encoder atto --epochs 60
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glacierfront.train.config import TrainConfig
from glacierfront.train.loop import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoder", default="atto")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=None, help="cap steps per epoch (a smoke test)")
    ap.add_argument(
        "--no-aug", action="store_true", help="the old recipe: no zoom, no intensity augmentation"
    )
    args = ap.parse_args()
    config = TrainConfig(
        data=args.data,
        out=args.out,
        encoder=args.encoder,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        workers=args.workers,
        seed=args.seed,
        scale_aug=None if args.no_aug else [0.5, 2.0],
        intensity_aug=not args.no_aug,
        max_steps_per_epoch=args.max_steps,
    )
    started = time.perf_counter()
    trainer = Trainer(config, quiet=True)
    print(
        f"{args.encoder}: {len(trainer.train_items)} train / {len(trainer.val_items)} val images on {trainer.device}"
    )

    def on_epoch(row: dict) -> None:
        keys = ("epoch", "train_loss", "val_miou", "val_mde_px", "val_no_front", "samples_per_s", "seconds")
        print(" ".join(f"{k}={row.get(k)}" for k in keys), flush=True)

    try:
        trainer.fit(on_epoch=on_epoch)
    finally:  # also after SIGTERM (a time limit): the trainer has saved last.pt, best.pt is the best so far
        trainer.close()
        print(f"wall {time.perf_counter() - started:.1f} s", flush=True)
        small_copy(Path(args.out) / "best.pt", Path(args.out) / "best-fp16.pt")


def small_copy(src: Path, dst: Path) -> None:
    """best.pt without optimiser/RNG state and with fp16 weights: about half the inference-only size."""
    import torch

    if not src.is_file():
        return
    payload = torch.load(src, map_location="cpu", weights_only=False)
    payload.pop("training", None)
    payload["state_dict"] = {
        k: v.half() if v.is_floating_point() else v for k, v in payload["state_dict"].items()
    }
    torch.save(payload, dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

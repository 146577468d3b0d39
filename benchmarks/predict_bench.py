"""predict throughput (Mpx/s) and peak RSS on synthetic GeoTIFF scenes, each run in a fresh process.

$ .venv/bin/python benchmarks/predict_bench.py --sizes 2000 4000 [--model M.onnx|M.pt] [--tile 512 --overlap 128]
    [--batch-size 4] [--json out.json]

Without --model, an untrained atto CISNet is exported to ONNX (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window


def make_scene(path: Path, size: int, block_rows: int = 1024) -> Path:
    """A speckled glacier/ocean/rock scene written in row blocks (never whole in memory)."""
    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="uint8",
        crs="EPSG:3413",
        transform=from_origin(-200_000, -2_000_000, 20, 20),
        tiled=True,
        compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, block_rows):
            rows = min(block_rows, size - r0)
            base = np.full((rows, size), 40.0, np.float32)
            base[:, : int(size * 0.55)] = 150
            top = max(0, min(rows, size // 6 - r0))
            base[:top] = 230
            img = np.clip(base * rng.gamma(4.0, 0.25, size=(rows, size)), 0, 255).astype(np.uint8)
            dst.write(img, 1, window=Window(0, r0, size, rows))
    return path


def child(args: argparse.Namespace) -> None:
    from glacierfront.inference import load_backend
    from glacierfront.predict import PredictOptions, predict_scene

    backend = load_backend(args.model, args.device)
    opts = PredictOptions(tile=args.tile, overlap=args.overlap, batch_size=args.batch_size)
    start = time.perf_counter()
    result = predict_scene(args.scene, backend, opts)
    seconds = time.perf_counter() - start
    h, w = result.shape
    print(
        json.dumps(
            {
                "seconds": seconds,
                "mpx_s": h * w / seconds / 1e6,
                "tiles": result.tiles,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "backend": backend.name,
                "device": backend.device,
                "lines": len(result.lines),
            }
        )
    )


def default_model(folder: Path) -> Path:
    from glacierfront.model import CISNet, CISNetConfig, save_checkpoint
    from glacierfront.model.export import export_onnx

    ckpt = save_checkpoint(folder / "atto.pt", CISNet(CISNetConfig(encoder="atto")))
    return export_onnx(ckpt, folder / "atto.onnx")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tile", type=int)
    parser.add_argument("--overlap", type=int)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or default_model(Path(tmp))
        for size in args.sizes:
            scene = make_scene(Path(tmp) / f"scene_{size}.tif", size)
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--scene",
                str(scene),
                "--model",
                str(model),
                "--device",
                args.device,
                "--batch-size",
                str(args.batch_size),
            ]
            cmd += ["--tile", str(args.tile)] if args.tile else []
            cmd += ["--overlap", str(args.overlap)] if args.overlap is not None else []
            out = (
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            rows.append({"size": size, "model": Path(model).name, **json.loads(out)})
            scene.unlink()
    print(f"{'scene':>13} {'backend':>12} {'tiles':>6} {'seconds':>8} {'Mpx/s':>7} {'peak RSS':>9}")
    for r in rows:
        print(
            f"{r['size']:>6} x {r['size']:<6} {r['backend']:>12} {r['tiles']:>6} {r['seconds']:8.1f} "
            f"{r['mpx_s']:7.2f} {r['peak_rss_mb']:7.0f}MB"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

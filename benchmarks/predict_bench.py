"""predict throughput (Mpx/s) and peak RSS on synthetic GeoTIFF scenes, each setting in a fresh process.

$ .venv/bin/python benchmarks/predict_bench.py --sizes 2000 8000 [--checkpoint M.pt] [--settings default torch caffe]
    [--json out.json]

Settings (same model, exported to ONNX for the ONNX Runtime rows):
  default   ONNX Runtime CPU, the model's tile (or --tile) and a quarter... whatever predict uses by default
  torch     torch eager CPU with predict's default tiling
  caffe     the CaFFe-style reference: torch eager, 256 px tiles, 128 px overlap, batch 1, fp32
Also prints the model's FLOPs per tile and the fraction of this machine's measured matmul peak reached.
Without --checkpoint, an untrained atto CISNet is used (speed does not depend on the weights).
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

SETTINGS = {
    "default": {"model": "onnx"},
    "torch": {"model": "pt"},
    "caffe": {"model": "pt", "tile": 256, "overlap": 128, "batch_size": 1},
}


def make_scene(path: Path, size: int, block_rows: int = 1024) -> Path:
    """A speckled glacier/ocean/rock scene written in row blocks (never whole in memory)."""
    rng = np.random.default_rng(0)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:3413",
                   transform=from_origin(-200_000, -2_000_000, 20, 20), tiled=True, compress="deflate")  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, block_rows):
            rows = min(block_rows, size - r0)
            base = np.full((rows, size), 40.0, np.float32)
            base[:, : int(size * 0.55)] = 150
            base[: max(0, min(rows, size // 6 - r0))] = 230
            img = np.clip(base * rng.gamma(4.0, 0.25, size=(rows, size)), 0, 255).astype(np.uint8)
            dst.write(img, 1, window=Window(0, r0, size, rows))
    return path


def child(args: argparse.Namespace) -> None:
    from glacierfront.model.backend import load_backend
    from glacierfront.predict import PredictOptions, predict_scene

    try:
        from glacierfront.predict.segment import default_batch, tiling_for
    except ImportError:  # an older glacierfront on PYTHONPATH, for before/after tables
        default_batch = tiling_for = None

    setting = json.loads(args.setting)
    backend = load_backend(args.model, "cpu")
    # "native": the bench measures throughput on the grid it writes, whatever spacing the model states
    opts = PredictOptions(tile=setting.get("tile"), overlap=setting.get("overlap"), resolution_m="native")
    if "batch_size" in setting:
        opts.batch_size = setting["batch_size"]
    start = time.perf_counter()
    result = predict_scene(args.scene, backend, opts)
    seconds = time.perf_counter() - start
    h, w = result.shape
    if tiling_for is None:
        tile, overlap, batch = opts.tile or backend.tile_size, opts.overlap, opts.batch_size
    else:
        tile, overlap = tiling_for(backend, opts.tile, opts.overlap, h, w)
        batch = opts.batch_size or default_batch(tile)
    print(json.dumps({"seconds": seconds, "mpx_s": h * w / seconds / 1e6, "tiles": result.tiles,
                      "tile": tile, "overlap": overlap, "batch": batch,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "backend": backend.name, "lines": len(result.lines)}))  # fmt: skip


def flops_per_pixel(checkpoint: Path, tile: int = 512) -> float:
    """Multiply-adds x 2 of one forward pass (convolutions and linear layers), per input pixel."""
    import torch

    from glacierfront.model import load_model

    model = load_model(checkpoint)
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2 * output.numel() * k
        elif isinstance(module, torch.nn.Linear):
            total[0] += 2 * output.numel() * module.in_features

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 1, tile, tile))
    return total[0] / tile**2


def machine_peak_gflops() -> float:
    """fp32 matmul rate of this machine with torch (all threads): the practical compute ceiling."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from glacierfront.model import CISNet, CISNetConfig, save_checkpoint
    from glacierfront.model.export import export_onnx

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or save_checkpoint(Path(tmp) / "atto.pt", CISNet(CISNetConfig(encoder="atto")))
        models = {"pt": ckpt, "onnx": export_onnx(ckpt, Path(tmp) / "model.onnx")}
        for size in args.sizes:
            scene = make_scene(Path(tmp) / f"scene_{size}.tif", size)
            for name in args.settings:
                setting = SETTINGS[name]
                cmd = [sys.executable, __file__, "--child", "--scene", str(scene),
                       "--model", str(models[setting["model"]]), "--setting", json.dumps(setting)]  # fmt: skip
                out = (
                    subprocess.run(cmd, check=True, capture_output=True, text=True)
                    .stdout.strip()
                    .splitlines()[-1]
                )
                rows.append({"size": size, "setting": name, **json.loads(out)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            scene.unlink()
        flops = flops_per_pixel(ckpt)
    peak = machine_peak_gflops()
    print(f"model: {flops / 1e3:.1f} kFLOP/px ({flops * 512**2 / 1e9:.1f} GFLOP per 512 px tile); "
          f"machine fp32 matmul peak {peak:.1f} GFLOP/s")  # fmt: skip
    print(f"{'scene':>13} {'setting':>8} {'backend':>12} {'tile':>5} {'batch':>5} {'tiles':>6} {'seconds':>8} "
          f"{'Mpx/s':>7} {'x caffe':>8} {'% peak':>7} {'peak RSS':>9}")  # fmt: skip
    for r in rows:
        ref = next((c for c in rows if c["size"] == r["size"] and c["setting"] == "caffe"), None)
        r["ratio_vs_caffe"] = r["mpx_s"] / ref["mpx_s"] if ref else None
        # Useful work only (each scene pixel once), so overlap and padding count against the fraction.
        r["fraction_of_peak"] = r["mpx_s"] * 1e6 * flops / (peak * 1e9)
        ratio = f"{r['ratio_vs_caffe']:.2f}" if ref else "-"
        print(f"{r['size']:>6} x {r['size']:<6} {r['setting']:>8} {r['backend']:>12} {r['tile']:>5} {r['batch']:>5} "
              f"{r['tiles']:>6} {r['seconds']:8.1f} {r['mpx_s']:7.2f} {ratio:>8} {100 * r['fraction_of_peak']:6.1f}% "
              f"{r['peak_rss_mb']:7.0f}MB")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"flops_per_px": flops, "peak_gflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

"""Does predict get the scale right by itself? A sample scene at 1x, 2x and 4x finer pixels, scored in metres.

$ .venv/bin/python benchmarks/scale_bench.py [--model M.onnx|M.pt] [--resolution-m 60] [--resolution-range 30,120]
    [--factors 1 2 4] [--sample glacierfront/data/sample_optical] [--json out.json]

The bundled sample (glacierfront/data/sample: one caffe256 image placed at a nominal 60 m) is written again
with 2x and 4x finer pixels (rasterio, bilinear upsampling, same extent) to a temporary folder. Each copy goes
through `predict_scene` with its AOI, once with default options (resample to the model's training spacing)
and once with --resolution native (the grid of the file, i.e. the behaviour before predict resampled), and
the fronts are scored against the reference front with the vector evaluation (`evaluate_vectors`, match all).

--resolution-m / --resolution-range simulate a model whose metadata states its scale: the model is copied to
the temporary folder and the keys are stamped into the copy with glacierfront's export code (`restamp_onnx`
for .onnx, `export_checkpoint` for .pt); the model file given is never changed. Without them the model's own
metadata is used as it is.

Target: with default options, the 2x and 4x MDE within 1.5x of the 1x MDE.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.enums import Resampling

from glacierfront.data import SAMPLE_DIR
from glacierfront.evaluate import evaluate_vectors
from glacierfront.io.vector_files import write_lines
from glacierfront.model.backend import default_model_path, load_backend
from glacierfront.model.export import export_checkpoint, restamp_onnx, scale_metadata
from glacierfront.model.info import model_kind
from glacierfront.predict import LINE_SCHEMA, NATIVE, PredictOptions, model_scale, predict_scene

TARGET_RATIO = 1.5


def finer_copy(src: Path, out: Path, factor: float) -> Path:
    """``src`` with ``factor`` times finer pixels over the same extent, bilinear (a factor below 1: coarser)."""
    if factor == 1:
        return Path(shutil.copy(src, out))
    with rasterio.open(src) as ds:
        height, width = round(ds.height * factor), round(ds.width * factor)
        data = ds.read(out_shape=(ds.count, height, width), resampling=Resampling.bilinear)
        profile = ds.profile
        scale = ds.transform.scale(ds.width / width, ds.height / height)
        profile.update(width=width, height=height, transform=ds.transform * scale)
        tags = ds.tags()
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(**tags)
    return out


def stamped_model(model: Path, folder: Path, stamp: dict) -> Path:
    """A copy of ``model`` in ``folder`` with ``stamp`` in its metadata (the original is left alone)."""
    copy = folder / model.name
    if model_kind(model) == "onnx":
        return restamp_onnx(model, copy, stamp)
    return export_checkpoint(model, copy, stamp)


def run(scene: Path, backend, options: PredictOptions, out: Path, reference: Path) -> dict:
    start = time.perf_counter()
    result = predict_scene(scene, backend, options)
    seconds = time.perf_counter() - start
    row = {
        "pixel_m": result.native_resolution_m,
        "processing_m": result.resolution_m,
        "resampled": result.resampled,
        "grid": list(result.shape),
        "lines": len(result.lines),
        "seconds": seconds,
        "mde_m": None,
        "median_m": None,
        "no_front": 1,
    }
    if result.lines:
        write_lines(out, result.records(), result.crs, LINE_SCHEMA)
        score = evaluate_vectors(out, reference, match="all")
        row.update(mde_m=score["mde"], median_m=score["median"], no_front=score["n_no_front"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    parser.add_argument("--resolution-m", type=float, help="stamp this training spacing (m) into a copy")
    parser.add_argument("--resolution-range", help="stamp LO,HI (m) into a copy")
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--sample", type=Path, default=SAMPLE_DIR,
        help="sample folder: one .tif, reference_front.gpkg, aoi.gpkg (default: the SAR sample; "
        "glacierfront/data/sample_optical for the optical one)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    model = args.model or default_model_path()
    scenes = sorted(args.sample.glob("*.tif"))
    if len(scenes) != 1:
        parser.error(f"--sample {args.sample}: expected exactly one .tif, found {len(scenes)}")
    source = scenes[0]
    stamp = scale_metadata(args.resolution_m, args.resolution_range)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        tmp = Path(tmp)
        if stamp:
            model = stamped_model(model, tmp, stamp)
        backend = load_backend(model, "cpu")
        model_m, model_range = model_scale(backend)
        print(
            f"model {model.name}: resolution_m {model_m}, resolution_range_m {model_range}"
            + (f" (stamped into a temporary copy: {stamp})" if stamp else " (as in the file)"),
            file=sys.stderr,
        )
        for factor in args.factors:
            folder = tmp / f"x{factor}"
            folder.mkdir()
            scene = finer_copy(source, folder / source.name, factor)
            for mode, resolution in (("default", None), ("--resolution native", NATIVE)):
                options = PredictOptions(aoi=args.sample / "aoi.gpkg", resolution_m=resolution)
                out = folder / f"{mode.strip('-').replace(' ', '_')}.gpkg"
                reference = args.sample / "reference_front.gpkg"
                rows.append(
                    {"options": mode, "factor": factor, **run(scene, backend, options, out, reference)}
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    print(
        "| options | finer | pixel size (m) | processed at (m) | grid (px) | MDE (m) | median (m) | no front | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["options"] != "default", r["factor"])):
        print(f"| {r['options']} | {r['factor']}x | {cell(r['pixel_m'], '.1f')} | {cell(r['processing_m'], '.1f')} "
              f"| {r['grid'][1]} x {r['grid'][0]} | {cell(r['mde_m'], '.1f')} | {cell(r['median_m'], '.1f')} "
              f"| {r['no_front']} | {r['seconds']:.1f} |")  # fmt: skip
    base = next((r["mde_m"] for r in rows if r["options"] == "default" and r["factor"] == 1), None)
    checks = [r for r in rows if r["options"] == "default" and r["factor"] != 1]
    if base is not None and checks:
        met = all(r["mde_m"] is not None and r["mde_m"] <= TARGET_RATIO * base for r in checks)
        ratios = ", ".join(f"{r['factor']}x {cell(r['mde_m'] and r['mde_m'] / base, '.2f')}" for r in checks)
        print(
            f"\ntarget (default options, MDE within {TARGET_RATIO}x of 1x): {'met' if met else 'NOT met'} ({ratios})"
        )
    if args.json:
        args.json.write_text(json.dumps({"model": str(model.name), "stamp": stamp, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

"""Which intensity mapping serves each input encoding: front MDE of the model when CaFFe images arrive as GeoTIFFs.

$ .venv/bin/python benchmarks/intensity_bench.py --json intensity.json
$ .venv/bin/python benchmarks/intensity_bench.py --holdout /work/runs/logo-base/JAC --model /work/runs/logo-base/JAC/last.pt
$ .venv/bin/python benchmarks/intensity_bench.py --train-stats      # the TRAIN_STATS constants in io/raster.py

The model was trained on caffe256's 8-bit amplitude PNGs divided by 255 (0 = no data). Each image (by default
the 48 validation images the shipped model held out, the split `glacierfront evaluate --holdout` uses) is
written as single-band GeoTIFFs (EPSG:3413, 60 m pixels) in the encodings a user may have, all derived from
the 8-bit value v, read back with ``open_scene(path, scaling=MODE)`` and ``read_window`` over the whole image,
run through the model (``segment_array`` with the scene's valid mask) and scored as ``evaluate_caffe`` does:
CaFFe post-processing, fronts of at most 2 px dropped, clipped to the bounding box, pooled MDE in px of the
256 grid, no-front count, zone mIoU (NA included). ``input err`` is the mean |model input - reference| over
valid pixels, where the reference is v/255 (what the model saw in training) or, for the single-look
encodings, the speckled amplitude in the same units.

Encodings (nodata: the tag 0 for integers, NaN for floats):
  uint8 v; uint16 v*257 (full range); uint16 v*40 (a low-range DN); uint16 v*40+1000 (a DN with an
  additive offset); float32 amplitude a = v/255 * 0.37;
  float32 dB 20 log10(a) (= 10 log10(a^2), so power dB is the same file); float32 dB of the DN v*40 (all
  values positive); float32 power a^2. With --speckle also single-look versions: amplitude times sqrt of an
  exponential variate (seeded per image) as uint8, float32 amplitude and float32 dB.

Modes: "auto" (what io/raster.py does now), "auto before" (uint8 /255, everything else a 2-98 percentile
stretch: auto as it was before this benchmark), percentile stretches, gains that put a statistic of the
valid pixels where the training data have it (``gain:P``, io/raster.TRAIN_STATS), and for dB / power data
the same after converting to amplitude (``db+...``, ``power+...``). Two modes that give the same model input
(to 1e-5) share one model run; the table says how many runs were shared.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from glacierfront.evaluate.caffe import PIXEL_MIN_LENGTH_PX, CaffeOptions, _items, holdout_config
from glacierfront.evaluate.metrics import MDEAccumulator, ZoneAccumulator, front_distances
from glacierfront.io.caffe import list_split, read_bbox, read_png, zones_from_png_values
from glacierfront.io.raster import TRAIN_STATS, open_scene
from glacierfront.model.backend import load_backend
from glacierfront.predict.fronts import extract_front
from glacierfront.predict.segment import segment_array

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "cisnet-atto-caffe256.onnx"
DEFAULT_HOLDOUT = ROOT / "models" / "cisnet-atto-caffe256.pt"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caffe256"
AMPLITUDE_GAIN = 0.37  # arbitrary calibration of the float amplitude: a = v/255 * 0.37 (dB mostly -30..-9)
DN_FACTOR = 40  # the low-range uint16: v * 40 (at most 10200 of 65535)
DN_OFFSET = 1000  # and the same with an additive offset (a dark floor that is not zero)
PIXEL_M = 60.0
CRS = "EPSG:3413"
SAME_INPUT = 1e-5  # model inputs closer than this everywhere share one model run

# Mappings compared on amplitude-like data; dB and power data get them after their conversion.
MAPPINGS = (
    "percentile:2,98",
    "percentile:1,99",
    "percentile:0.5,99.5",
    "percentile:0,100",
    "gain:mean",
    "gain:99",
    "gain:99.5",
    "gain:99.9",
)
AUTO_BEFORE = "auto before"


@dataclass
class Encoding:
    """One way of storing the image: a name, its family (which modes apply), and how to make it."""

    key: str
    label: str
    family: str  # "uint8", "amplitude", "db", "power"
    speckled: bool = False


ENCODINGS = (
    Encoding("u8", "uint8 v", "uint8"),
    Encoding("u16", "uint16 v*257", "amplitude"),
    Encoding("u16dn", f"uint16 v*{DN_FACTOR}", "amplitude"),
    Encoding("u16off", f"uint16 v*{DN_FACTOR}+{DN_OFFSET}", "amplitude"),
    Encoding("amp", f"float32 amplitude v/255*{AMPLITUDE_GAIN}", "amplitude"),
    Encoding("db", "float32 dB 20log10(amplitude)", "db"),
    Encoding("dbdn", f"float32 dB of DN 20log10(v*{DN_FACTOR})", "db"),
    Encoding("pow", "float32 power amplitude^2", "power"),
)
SPECKLE_ENCODINGS = (
    Encoding("u8-1l", "uint8 single-look", "uint8", True),
    Encoding("amp-1l", "float32 amplitude single-look", "amplitude", True),
    Encoding("db-1l", "float32 dB single-look", "db", True),
)


def modes_for(family: str) -> list[str]:
    if family == "uint8":
        return ["auto", AUTO_BEFORE, *MAPPINGS]
    if family == "amplitude":
        return ["auto", AUTO_BEFORE, *MAPPINGS]
    if family == "db":
        raw = ["percentile:1,99", "percentile:0.5,99.5"]
        return ["auto", AUTO_BEFORE, *raw, *(f"db+{m}" for m in MAPPINGS)]
    return ["auto", AUTO_BEFORE, "gain:99.5", *(f"power+{m}" for m in MAPPINGS)]


def encode(enc: Encoding, v: np.ndarray, speckle: np.ndarray | None) -> tuple[np.ndarray, float, np.ndarray]:
    """(array to write, nodata value, reference model input in [0, 1]) of one encoding of the 8-bit image."""
    valid = v > 0
    amp = v.astype(np.float64) / 255.0  # the training input
    if enc.speckled:
        assert speckle is not None
        amp = amp * speckle
    reference = np.clip(amp, 0.0, 1.0)
    nan = np.float32(np.nan)
    if enc.key in ("u8", "u8-1l"):
        out = np.where(valid, np.clip(np.rint(amp * 255), 1, 255), 0).astype(np.uint8)
        return out, 0, out / 255.0
    if enc.key == "u16":
        return (v.astype(np.uint16) * 257), 0, reference
    if enc.key == "u16dn":
        return (v.astype(np.uint16) * DN_FACTOR), 0, reference
    if enc.key == "u16off":
        return np.where(valid, v.astype(np.uint16) * DN_FACTOR + DN_OFFSET, 0).astype(np.uint16), 0, reference
    with np.errstate(divide="ignore"):
        if enc.key in ("amp", "amp-1l"):
            data = amp * AMPLITUDE_GAIN
        elif enc.key in ("db", "db-1l"):
            data = 20 * np.log10(amp * AMPLITUDE_GAIN)
        elif enc.key == "dbdn":
            data = 20 * np.log10(v.astype(np.float64) * DN_FACTOR)
        elif enc.key == "pow":
            data = (amp * AMPLITUDE_GAIN) ** 2
        else:
            raise ValueError(enc.key)
    # A speckled pixel can be 0 (log10 -> -inf): keep it, it is a valid if dark pixel, as in real data.
    data = np.where(valid, np.maximum(data, -200.0), nan).astype(np.float32)
    return data, float("nan"), reference


def write_geotiff(path: Path, data: np.ndarray, nodata: float) -> Path:
    profile = dict(
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=CRS,
        transform=from_origin(-200_000.0, -2_000_000.0, PIXEL_M, PIXEL_M),
        nodata=nodata,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@dataclass
class Cell:
    """Scores of one (encoding, mode) pair over all images."""

    mde: MDEAccumulator = field(default_factory=MDEAccumulator)
    zones: ZoneAccumulator = field(default_factory=ZoneAccumulator)
    input_err: list[float] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    detected_db: int = 0
    shared_runs: int = 0


def train_stats(data_dir: Path) -> dict[str, float]:
    """Per image over valid pixels (v > 0) of v/255: mean and percentiles; the median over all images."""
    per_image: dict[str, list[float]] = {k: [] for k in TRAIN_STATS}
    items = list(list_split(data_dir, "train", None))
    for item in items:
        v = read_png(item.image)
        x = v[v > 0] / 255.0
        for key in per_image:
            per_image[key].append(float(x.mean() if key == "mean" else np.percentile(x, float(key))))
    print(f"{len(items)} images in {data_dir}; median over images of each statistic of valid v/255:")
    out = {k: round(float(np.median(vals)), 4) for k, vals in per_image.items()}
    spread = {k: round(float(np.std(np.log(vals))), 3) for k, vals in per_image.items()}
    print("TRAIN_STATS =", json.dumps(out))
    print("spread across images, std of log(statistic):", json.dumps(spread))
    return out


def run(args: argparse.Namespace) -> dict:
    backend = load_backend(args.model, "cpu")
    cfg = holdout_config(args.holdout)
    _, items = _items(args.data, CaffeOptions(holdout=cfg))
    if args.limit:
        items = items[: args.limit]
    encodings = list(ENCODINGS) + (list(SPECKLE_ENCODINGS) if args.speckle else [])
    if args.encodings:
        wanted = set(args.encodings.split(","))
        encodings = [e for e in encodings if e.key in wanted]
    cells: dict[tuple[str, str], Cell] = {}
    model_runs = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="intensity-bench-") as tmp:
        for n, item in enumerate(items, 1):
            v = read_png(item.image)
            label_zones = zones_from_png_values(read_png(item.zones))
            label_front = read_png(item.front) > 127
            bbox = read_bbox(item.bbox, label_zones.shape) if item.bbox is not None else None
            rng = np.random.default_rng(zlib.crc32(item.name.encode()))  # the same speckle every run
            speckle = np.sqrt(rng.exponential(1.0, v.shape))
            cache: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
            for enc in encodings:
                data, nodata, reference = encode(enc, v, speckle)
                path = write_geotiff(Path(tmp) / f"{enc.key}.tif", data, nodata)
                for mode in modes_for(enc.family):
                    scaling = mode
                    if mode == AUTO_BEFORE:
                        scaling = "uint8" if data.dtype == np.uint8 else "percentile:2,98"
                    with open_scene(path, scaling=scaling) as scene:
                        image, valid = scene.read_window(0, 0, scene.height, scene.width)
                        note, conversion = scene.scaling_note, scene.conversion
                    cell = cells.setdefault((enc.key, mode), Cell())
                    if mode == "auto":
                        # Numbers differ per image; the kind of note is what matters.
                        kind = note.split(":")[0].split("(")[0].strip()
                        cell.notes[kind] = cell.notes.get(kind, 0) + 1
                        cell.detected_db += conversion == "db"
                    x = image[0]
                    cell.input_err.append(float(np.abs(x[valid] - reference[valid]).mean()))
                    hit = next(
                        (
                            (z, f)
                            for img, ok, z, f in cache
                            if np.array_equal(ok, valid) and np.abs(img - x).max() <= SAME_INPUT
                        ),
                        None,
                    )
                    if hit is not None:
                        zones, front = hit
                        cell.shared_runs += 1
                    else:
                        zones, _ = segment_array(x, backend, valid=valid)
                        front = extract_front(zones, PIXEL_MIN_LENGTH_PX, bbox=bbox)
                        cache.append((x, valid, zones, front))
                        model_runs += 1
                    cell.mde.add(item.name, front_distances(front, label_front))
                    cell.zones.add(zones, label_zones)
            elapsed = time.perf_counter() - started
            print(
                f"[{n}/{len(items)}] {item.name} ({model_runs} model runs, {elapsed:.0f} s)", file=sys.stderr
            )
    rows = []
    for enc in encodings:
        for mode in modes_for(enc.family):
            cell = cells[(enc.key, mode)]
            result = cell.mde.result()
            rows.append(
                {
                    "encoding": enc.label,
                    "encoding_key": enc.key,
                    "mode": mode,
                    "mde_px": result["mde_px"],
                    "median_px": result["median_px"],
                    "n_no_front": result["n_no_front"],
                    "miou": cell.zones.result()["mean"]["iou"],
                    "input_err": float(np.mean(cell.input_err)),
                    "shared_runs": cell.shared_runs,
                    "auto_notes": cell.notes or None,
                    "auto_detected_db": cell.detected_db if mode == "auto" else None,
                }
            )
    return {
        "model": str(args.model),
        "holdout": str(args.holdout),
        "data": str(args.data),
        "n_images": len(items),
        "model_runs": model_runs,
        "seconds": round(time.perf_counter() - started, 1),
        "train_stats": TRAIN_STATS,
        "rows": rows,
    }


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(report: dict) -> None:
    print(
        f"{report['n_images']} images, model {Path(report['model']).name}, holdout {report['holdout']}; "
        f"{report['model_runs']} model runs in {report['seconds']:.0f} s\n"
    )
    print("| encoding | mode | MDE (px) | median (px) | no front | mIoU | input err |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in report["rows"]:
        print(
            f"| {row['encoding']} | {row['mode']} | {_fmt(row['mde_px'], 2)} | {_fmt(row['median_px'], 2)} | "
            f"{row['n_no_front']} | {_fmt(row['miou'], 3)} | {_fmt(row['input_err'], 4)} |"
        )
    print("\nWhat auto chose (kind of scaling note: images):")
    for row in report["rows"]:
        if row["mode"] == "auto":
            notes = "; ".join(f"{k}: {n}" for k, n in row["auto_notes"].items())
            print(f"- {row['encoding']}: {notes}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Example: " + __doc__.split("\n")[2].lstrip("$ ")
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="caffe256 folder (default: %(default)s)"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model file (default: %(default)s)")
    parser.add_argument(
        "--holdout",
        type=Path,
        default=DEFAULT_HOLDOUT,
        help="run folder or model whose training config names the validation images (default: %(default)s)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N images")
    parser.add_argument("--speckle", action="store_true", help="add single-look speckled encodings")
    parser.add_argument(
        "--encodings",
        help="comma-separated subset of: " + ",".join(e.key for e in ENCODINGS + SPECKLE_ENCODINGS),
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--train-stats", action="store_true", help="measure the training-data statistics behind the gains"
    )
    args = parser.parse_args(argv)
    if args.train_stats:
        train_stats(args.data)
        return 0
    report = run(args)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

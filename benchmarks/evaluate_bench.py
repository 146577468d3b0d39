"""Vector-mode evaluation cost: time and peak memory for front pairs of 1e4 .. 1e6 sample points per line.

$ .venv/bin/python benchmarks/evaluate_bench.py [--sizes 10000,100000,200000,1000000] [--json out.json]

Each size runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own. Two stages per size:
"core" = densify both lines at 1 m + two KD-tree queries + pooled mean/median/HD95 (the in-memory work);
"file" = the whole `evaluate_vectors` on two GeoPackages, REF in EPSG:4326 (reading and reprojection too).
Peak memory is given two ways: tracemalloc (Python and numpy allocations, a separate traced run) and
the growth of the process's maximum RSS over the stage (includes the KD-trees' C++ nodes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rasterio.warp import transform_geom
from shapely.geometry import LineString, mapping, shape

# Imported up front so that neither the timings nor the RSS growth include loading the libraries.
from glacierfront.evaluate.vector import evaluate_vectors, pair_distances_m
from glacierfront.io.vector_files import write_lines

SIZES = (10_000, 100_000, 200_000, 1_000_000)
SPACING_M = 1.0
CRS = "EPSG:3413"  # polar stereographic north: a 1000 km front still lies in Greenland
GAP_M = 25.0


def front_pair(points: int) -> tuple[LineString, LineString]:
    """A wavy reference ``points`` metres long (so ``points`` samples at 1 m) and a prediction 25 m off with
    its own small wiggle."""

    def wave(x_extent_m: float) -> np.ndarray:
        x = np.linspace(0.0, x_extent_m, max(2, int(x_extent_m / 10.0)) + 1) - 1_000_000.0  # ~10 m vertices
        return np.column_stack([x, -2_000_000.0 + 150.0 * np.sin(x / 1500.0)])

    # The wave is longer than its x extent: shrink the extent once so the arc length is ``points`` metres.
    first = LineString(wave(points))
    ref = LineString(wave(points * points / first.length))
    coords = np.asarray(ref.coords)
    pred = LineString(
        coords + np.column_stack([np.zeros(len(coords)), GAP_M + 3.0 * np.sin(coords[:, 0] / 97.0)])
    )
    return pred, ref


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _core(pred: LineString, ref: LineString) -> dict:
    distances = pair_distances_m(pred, ref, SPACING_M)
    return {
        "n_points": int(distances.size),
        "mde_m": float(distances.mean()),
        "median_m": float(np.median(distances)),
        "hd95_m": float(np.percentile(distances, 95)),
    }


def _file_stage(pred: LineString, ref: LineString, folder: Path):
    ref_wgs84 = shape(transform_geom(CRS, "EPSG:4326", mapping(ref)))
    pred_path = write_lines(folder / "pred.gpkg", [(pred, {"scene": "s"})], CRS)
    ref_path = write_lines(folder / "ref.gpkg", [(ref_wgs84, {"scene": "s"})], "EPSG:4326")

    def run() -> dict:
        result = evaluate_vectors(pred_path, ref_path, match="scene", spacing_m=SPACING_M)
        return {"n_points": result["n_points"], "mde_m": result["mde"], "median_m": result["median"],
                "hd95_m": result["hd95"]}  # fmt: skip

    return run


def measure_one(points: int, stage: str) -> dict:
    """Run one stage for one size in this process: seconds, RSS growth and tracemalloc peak."""
    pred, ref = front_pair(points)
    with tempfile.TemporaryDirectory() as tmp:
        run = (lambda: _core(pred, ref)) if stage == "core" else _file_stage(pred, ref, Path(tmp))
        rss_before = _maxrss_mib()
        started = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - started
        rss_growth = _maxrss_mib() - rss_before
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "points_per_line": points,
        "stage": stage,
        **out,
        "seconds": seconds,
        "tracemalloc_peak_mib": peak / 2**20,
        "maxrss_growth_mib": rss_growth,
        "maxrss_mib": _maxrss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="points per line, comma-separated")
    parser.add_argument("--stages", default="core,file", help="core, file or both")
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--one", nargs=2, metavar=("POINTS", "STAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(int(args.one[0]), args.one[1])))
        return
    rows = []
    for points in (int(s) for s in args.sizes.split(",")):
        for stage in args.stages.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(points), stage],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    header = f"{'points/line':>11} {'stage':>5} {'distances':>10} {'MDE m':>7} {'seconds':>8} {'tracemalloc MiB':>16} {'maxRSS +MiB':>12}"
    print(header)
    for r in rows:
        print(
            f"{r['points_per_line']:>11,} {r['stage']:>5} {r['n_points']:>10,} {r['mde_m']:7.2f} "
            f"{r['seconds']:8.3f} {r['tracemalloc_peak_mib']:16.1f} {r['maxrss_growth_mib']:12.1f}"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

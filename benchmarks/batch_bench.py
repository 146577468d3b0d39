"""Batch predict: the in-process loop against Dask LocalClusters, scenes/s and peak RSS per process.

$ .venv/bin/python benchmarks/batch_bench.py [--scenes 24] [--size 1500] [--workers 1 2] [--repeat 1]
    [--model models/cisnet-atto-caffe256.onnx] [--json out.json]

Each setting runs the real command line (`glacierfront predict SCENES -o DIR/ -q [--workers N]`) in a fresh
process on the same synthetic scenes: speckled rock/glacier/ocean GeoTIFFs at the model's training spacing
(60 m for the shipped SAR model, so nothing is resampled). Reported per setting: wall time of the whole
command (model load and, for Dask, the cluster's start included), scenes/s, CPU seconds of the command and
its workers (less sensitive than wall time to other load on the machine), the time a LocalCluster takes
to start and stop alone, and the peak RSS of the client and of the largest worker process (sampled every
0.1 s with psutil). In-process, ONNX Runtime uses its default threads (every physical core); --workers N
gives each worker cores // N threads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "glacierfront"]


def write_scene(path: Path, size: int, res: float, seed: int) -> Path:
    """Rock on top, glacier left, ocean right, with multiplicative speckle; front position varies by seed."""
    rng = np.random.default_rng(seed)
    base = np.full((size, size), 40.0, np.float32)
    base[:, : int(size * rng.uniform(0.4, 0.6))] = 150
    base[: size // 6] = 230
    img = np.clip(base * rng.gamma(4.0, 0.25, size=base.shape), 0, 255).astype(np.uint8)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:3413",
                   transform=from_origin(-200_000, -2_000_000, res, res), tiled=True, compress="deflate")  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img, 1)
    return path


class RssSampler(threading.Thread):
    """Peak RSS of a process and of each of its descendants, sampled until ``stop``."""

    def __init__(self, pid: int, every_s: float = 0.1):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.peaks: dict[int, tuple[str, int]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    kind = "client" if proc.pid == self.root.pid else _kind(proc)
                except psutil.Error:
                    continue
                if rss > self.peaks.get(proc.pid, ("", 0))[1]:
                    self.peaks[proc.pid] = (kind, rss)
            self.done.wait(self.every_s)

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        out: dict[str, float] = {}
        for kind, rss in self.peaks.values():
            out[kind] = max(out.get(kind, 0.0), rss / 2**20)
        return out


def _kind(proc: psutil.Process) -> str:
    """A worker process runs the spawn entry point; others (the resource tracker) are left out."""
    cmd = " ".join(proc.cmdline())
    return "worker" if "spawn_main" in cmd else "other"


def run(args: list[str]) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, CPU seconds (user + system of the command and every process it waited for: its
    workers) and peak RSS by kind of process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    sampler = RssSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    peaks = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:3])}...: exit {proc.returncode}\n{err}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, peaks


def cluster_start_s(workers: int) -> float:
    code = (
        "import time; t = time.perf_counter()\n"
        "from glacierfront.batch.dask_run import connect\n"
        f"with connect({workers}) as c: c.client.wait_for_workers({workers})\n"
        "print(time.perf_counter() - t)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--size", type=int, default=1500, help="pixels a side")
    parser.add_argument(
        "--res", type=float, default=60.0, help="pixel spacing (m); the model's own by default"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--model", default=str(ROOT / "models" / "cisnet-atto-caffe256.onnx"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        scenes = [
            str(write_scene(tmp / f"scene_{i:03d}.tif", args.size, args.res, i)) for i in range(args.scenes)
        ]
        settings = [("in-process", [])] + [(f"--workers {n}", ["--workers", str(n)]) for n in args.workers]
        for repeat in range(args.repeat):
            for name, extra in settings:
                out = tmp / f"out_{repeat}_{len(rows)}"
                seconds, cpu, peaks = run(
                    ["predict", *scenes, "-m", args.model, "-o", f"{out}/", "-q", *extra]
                )
                start = cluster_start_s(int(extra[1])) if extra else 0.0
                rows.append(
                    {
                        "round": repeat,
                        "setting": name,
                        "seconds": round(seconds, 1),
                        "scenes_per_s": round(args.scenes / seconds, 3),
                        "cpu_s": round(cpu, 1),
                        "cluster_start_s": round(start, 1),
                        "client_rss_mib": round(peaks.get("client", 0)),
                        "worker_rss_mib": round(peaks.get("worker", 0)) if extra else None,
                    }
                )
                print(rows[-1], flush=True)
    print(
        f"\n{args.scenes} scenes of {args.size} px at {args.res:g} m, {cores} cores, {Path(args.model).name}"
    )
    print(
        "| setting | wall s | scenes/s | wall vs in-process | CPU s | CPU vs in-process "
        "| LocalCluster start s | client peak RSS MiB | worker peak RSS MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        # Each setting against the in-process run of its own round (--repeat).
        base = next(b for b in rows if b["round"] == r["round"] and b["setting"] == "in-process")
        ratio = cpu_ratio = "-"
        if r["setting"] != "in-process":
            ratio = f"{r['seconds'] / base['seconds'] - 1:+.0%}"
            cpu_ratio = f"{r['cpu_s'] / base['cpu_s'] - 1:+.0%}"
        worker = "-" if r["worker_rss_mib"] is None else r["worker_rss_mib"]
        print(f"| {r['setting']} | {r['seconds']} | {r['scenes_per_s']} | {ratio} | {r['cpu_s']} | {cpu_ratio} "
              f"| {r['cluster_start_s'] or '-'} | {r['client_rss_mib']} | {worker} |")  # fmt: skip
    if args.repeat > 1:  # medians of the per-round ratios: adjacent runs share the machine's load best
        print()
        for name, _ in settings[1:]:
            pairs = [(r, next(b for b in rows if b["round"] == r["round"] and b["setting"] == "in-process"))
                     for r in rows if r["setting"] == name]  # fmt: skip
            wall = statistics.median(r["seconds"] / b["seconds"] - 1 for r, b in pairs)
            cpu = statistics.median(r["cpu_s"] / b["cpu_s"] - 1 for r, b in pairs)
            print(
                f"{name}: median over {len(pairs)} rounds: wall {wall:+.0%}, CPU {cpu:+.0%} against in-process"
            )
    if args.json:
        args.json.write_text(json.dumps({"cores": cores, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

"""How fast the review page opens and moves, and how its server's memory grows with the run.

    .venv/bin/python benchmarks/review_bench.py --scenes 50,200,800

For each size N: a run of N scenes (the 8 bundled sample-series scenes and their predicted fronts, copied
under N distinct dates, with a manifest) is reviewed by a real `glacierfront review` process. Measured:
- open: from starting the process to the scene list answered (`/api/run`), and, in headless Chromium when it
  is installed, to the page ready (list drawn, first scene and its picture shown);
- move: one scene to the next, over the HTTP API (`/api/scene/i` + its picture) and, in the browser, from the
  `j` key to the next scene drawn with its picture loaded (median and 95th percentile over the run);
- verdict: `a` to the verdict written to both files and the next scene shown (browser);
- memory: the server's resident memory after every scene was opened once (VmRSS).
Targets (issue 26): open < 2 s and move < 300 ms at N = 200, memory flat in N.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import fiona
from shapely.geometry import shape

from glacierfront.data import SAMPLE_SERIES_DIR
from glacierfront.io.vector_files import write_lines
from glacierfront.predict.schema import LINE_SCHEMA


def predicted_sample(folder: Path) -> Path:
    out = folder / "sample-run"
    scenes = sorted(map(str, SAMPLE_SERIES_DIR.glob("*.tif")))
    subprocess.run(
        [sys.executable, "-m", "glacierfront", "predict", *scenes, "-o", f"{out}/", "-q"], check=True
    )
    return out


def make_run(sample: Path, folder: Path, n: int) -> Path:
    """N scenes: the sample's scenes in turn, each copied under its own date (one day apart)."""
    run = folder / f"run-{n}"
    scenes_dir = folder / f"scenes-{n}"
    run.mkdir()
    scenes_dir.mkdir()
    sources = sorted(SAMPLE_SERIES_DIR.glob("*.tif"))
    rows = ["scene,status,lines,seconds,worker,error"]
    start = dt.date(2000, 1, 1)
    for i in range(n):
        src = sources[i % len(sources)]
        date = (start + dt.timedelta(days=i)).isoformat()
        stem = f"JAC_{date}_TSX_6_1_005"
        scene = scenes_dir / f"{stem}.tif"
        os.link(src, scene) if hasattr(os, "link") else shutil.copy(src, scene)
        with fiona.open(sample / f"{src.stem}.gpkg") as lines:
            records = [(shape(f.geometry), {**dict(f.properties), "scene": stem, "image_id": stem, "date": date})
                       for f in lines]  # fmt: skip
            crs = lines.crs_wkt
        write_lines(run / f"{stem}.gpkg", records, crs, LINE_SCHEMA)
        rows.append(f"{scene},ok,{len(records)},0.1,local,")
    (run / "manifest.csv").write_text("\n".join(rows) + "\n")
    return run


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def start_server(run: Path) -> tuple[subprocess.Popen, str, float]:
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "glacierfront", "review", str(run)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1)
    get(url + "api/run")
    return proc, url, time.perf_counter() - began


def http_moves(url: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        t = time.perf_counter()
        get(url + f"api/scene/{i}")
        get(url + f"api/scene/{i}/picture.png")
        times.append(time.perf_counter() - t)
    return times


def browser_figures(url: str, began: float, moves: int) -> dict[str, float] | None:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return None
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,900"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    shown = ("const i = document.querySelector('img.scene-picture'); "
             "return document.body.dataset.scene === arguments[0] && i && i.complete && i.naturalWidth > 0;")  # fmt: skip
    try:
        t = time.perf_counter()
        driver.get(url)
        while not driver.execute_script("return document.body.dataset.ready === '1'"):
            time.sleep(0.005)
        first = driver.execute_script("return String(state.current)")
        while not driver.execute_script(shown, first):
            time.sleep(0.005)
        page = time.perf_counter() - t

        def after_key(key: str) -> float:
            """Seconds from pressing ``key`` to the next scene drawn with its picture loaded."""
            target = driver.execute_script("return String(neighbour(+1))")
            t = time.perf_counter()
            ActionChains(driver).send_keys(key).perform()
            while not driver.execute_script(shown, target):
                time.sleep(0.002)
            return time.perf_counter() - t

        times = [after_key("j") for _ in range(moves)]
        verdicts = [after_key("a") for _ in range(10)]
    finally:
        driver.quit()
    return {"page_s": page, "move_median_ms": statistics.median(times) * 1000,
            "move_p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1000,
            "verdict_median_ms": statistics.median(verdicts) * 1000}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", default="50,200,800", help="run sizes, comma-separated")
    parser.add_argument("--moves", type=int, default=40, help="browser moves to time per size")
    args = parser.parse_args()
    print(
        "| scenes | open: list (s) | open: page ready (s) | move, HTTP median / p95 (ms) | move, browser median / p95 (ms) | verdict + move (ms) | server RSS after all scenes (MB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        sample = predicted_sample(Path(tmp))
        for n in (int(v) for v in args.scenes.split(",")):
            run = make_run(sample, Path(tmp), n)
            proc, url, opened = start_server(run)
            try:
                browser = browser_figures(url, opened, min(args.moves, n - 1))
                moves = http_moves(url, n)
                memory = rss_mb(proc.pid)
            finally:
                proc.kill()
                proc.wait()
            http = f"{statistics.median(moves) * 1000:.0f} / {sorted(moves)[int(0.95 * (n - 1))] * 1000:.0f}"
            if browser:
                page = f"{opened + browser['page_s']:.2f}"
                move = f"{browser['move_median_ms']:.0f} / {browser['move_p95_ms']:.0f}"
                verdict = f"{browser['verdict_median_ms']:.0f}"
            else:
                page = move = verdict = "no chromium"
            print(f"| {n} | {opened:.2f} | {page} | {http} | {move} | {verdict} | {memory:.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""Fine-tune from GeoTIFFs and front lines, end to end, with the commands a user types (issue 15).

A glacier the base model never saw is given k labelled scenes as a user would have them: georeferenced
GeoTIFFs and one file of front lines. Here they are caffe256 images of that glacier placed in one nominal
georeference (``glacierfront.data.build_sample``: EPSG:3413, 60 m, centre near the real front, as the bundled
sample scene is placed). The placement is nominal: caffe256 crops of one glacier need not share a frame (JAC's
come from two TerraSAR-X frames, 005 and 027), so every scene's lines are made from its own label in its own
placement, and each test scene is scored against its own lines.
Then, as shell commands:

    glacierfront finetune --scenes TRAIN/*.tif --fronts train_fronts.gpkg --aoi train_aoi.gpkg \\
        --glacier-side SIDE --model BASE -o OUT/finetuned.onnx
    glacierfront predict TEST.tif --model M --aoi TEST_aoi.gpkg -o OUT/pred-M/TEST.gpkg   (every test scene)
    glacierfront evaluate OUT/pred-M --ref test_fronts.gpkg --match scene --json

for M = the base model and the fine-tuned one, on test scenes of the same glacier that were not trained on
(the bundled sample scene among them for JAC). Distances are ground metres on the nominal 60 m grid.

    python benchmarks/finetune_e2e.py --glacier JAC --bases /work/runs/logo-base --out /work/runs/e2e
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import fiona
import numpy as np
import shapely
from shapely.geometry import box, mapping

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fewshot import GLACIER_SIDES, images_of, pick

from glacierfront.io.vector_files import read_lines, write_lines

# Where each glacier's scenes are placed (nominal: scene centre near the real front, degrees).
PLACES = {"JAC": (-49.93, 69.17), "Crane": (-62.3, -65.3), "DBE": (-58.1, -61.95), "SI": (-58.5, -66.0)}
CRS = "EPSG:3413"
# The CLI of the Python running this script (its virtual environment's), else the one on PATH.
_BESIDE = Path(sys.executable).parent / "glacierfront"
CLI = str(_BESIDE) if _BESIDE.is_file() else "glacierfront"


def run(cmd: list[str], log: Path) -> float:
    """Run one CLI command, append its output to ``log``, return its wall time; stop on failure."""
    started = time.perf_counter()
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode not in (0,):
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - started


def build(data: Path, names: list[str], folder: Path, glacier: str, log: Path) -> list[Path]:
    lon, lat = PLACES[glacier]
    scenes = []
    for name in names:
        out = folder / name
        if not (out / f"{name}.tif").is_file():
            run([sys.executable, "-m", "glacierfront.data.build_sample", "--caffe", str(data), "--name", name,
                 "--lon", str(lon), "--lat", str(lat), "--spacing", "60", "--out", str(out)], log)  # fmt: skip
        scenes.append(out / f"{name}.tif")
    return scenes


def reference_lines(scenes: list[Path]) -> list[tuple[object, dict]]:
    """Every scene's reference lines (build_sample's reference_front.gpkg), each part tagged with a 'scene'
    field: what finetune and evaluate match lines to scenes by."""
    records = []
    for scene in scenes:
        lines, _ = read_lines(scene.parent / "reference_front.gpkg")
        for geom, _props in lines:
            records += [(part, {"scene": scene.stem}) for part in getattr(geom, "geoms", [geom])]
    return records


def union_aoi(lines: list[tuple[object, dict]], path: Path, margin_m: float, glacier: str) -> None:
    """One AOI box around the lines (plus a margin): where the fine-tune's labels may lie. Its name is the
    glacier's (finetune names the training images after it)."""
    x0, y0, x1, y1 = shapely.unary_union([geom for geom, _ in lines]).bounds
    schema = {"geometry": "Polygon", "properties": {"name": "str"}}
    with fiona.open(path, "w", driver="GPKG", crs=CRS, schema=schema) as dst:
        poly = box(x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m)
        dst.write({"geometry": mapping(poly), "properties": {"name": glacier}})


def score(model: str, tests: list[Path], out: Path, log: Path, ref: Path) -> dict:
    pred = out / f"pred-{Path(model).stem}"
    pred.mkdir(parents=True, exist_ok=True)
    seconds = 0.0
    for scene in tests:
        seconds += run([CLI, "predict", str(scene), "--model", model, "--aoi",
                        str(scene.parent / "aoi.gpkg"), "-o", str(pred / f"{scene.stem}.gpkg"), "--overwrite",
                        "-q"], log)  # fmt: skip
    report = out / f"evaluate-{Path(model).stem}.json"
    with open(report, "w") as fh, open(log, "a") as err:
        done = subprocess.run([CLI, "evaluate", str(pred), "--ref", str(ref), "--match", "scene",
                               "--json"], stdout=fh, stderr=err)  # fmt: skip
    result = json.loads(report.read_text())
    result["predict_seconds"] = seconds
    result["exit"] = done.returncode
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/caffe256"))
    parser.add_argument("--bases", type=Path, default=Path("/work/runs/logo-base"))
    parser.add_argument("--out", type=Path, default=Path("/work/runs/e2e"))
    parser.add_argument("--glacier", default="JAC", choices=sorted(PLACES))
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--pick", default="spread", choices=("earliest", "spread"))
    parser.add_argument("--tests", type=int, default=12, help="test scenes, spread over the other dates")
    parser.add_argument("--extra", default="", help="more finetune options, e.g. '--steps 300'")
    args = parser.parse_args()

    out = args.out / args.glacier
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    names = images_of(args.data, args.glacier)
    train = pick(names, args.k, args.pick)
    rest = [n for n in names if n not in train]
    spots = np.linspace(0, len(rest) - 1, args.tests).round().astype(int)
    tests = [rest[i] for i in sorted(set(spots.tolist()))]
    if args.glacier == "JAC" and "JAC_2013-09-08_TSX_6_1_005" not in tests + train:
        tests.append("JAC_2013-09-08_TSX_6_1_005")  # the bundled sample scene
    train_scenes = build(args.data, train, out / "train", args.glacier, log)
    test_scenes = build(args.data, tests, out / "test", args.glacier, log)
    train_lines = reference_lines(train_scenes)
    write_lines(out / "train_fronts.gpkg", train_lines, CRS, {"scene": "str"})
    write_lines(out / "test_fronts.gpkg", reference_lines(test_scenes), CRS, {"scene": "str"})
    union_aoi(train_lines, out / "train_aoi.gpkg", margin_m=16 * 60, glacier=args.glacier)

    base = str(args.bases / args.glacier / "last.pt")
    model = out / "finetuned.onnx"
    cmd = [CLI, "finetune", "--scenes", *map(str, train_scenes), "--fronts",
           str(out / "train_fronts.gpkg"), "--aoi", str(out / "train_aoi.gpkg"), "--glacier-side",
           GLACIER_SIDES[args.glacier], "--model", base, "-o", str(model), "--overwrite", "-q",
           *args.extra.split()]  # fmt: skip
    finetune_s = run(cmd, log)
    rows = {}
    for label, m in (("base (never saw the glacier)", base), ("fine-tuned", str(model))):
        rows[label] = score(m, test_scenes, out, log, out / "test_fronts.gpkg")
    summary = {
        "glacier": args.glacier, "k": args.k, "pick": args.pick, "train": train, "tests": tests,
        "finetune_command": " ".join(cmd), "finetune_wall_s": finetune_s,
        "results": {k: {key: v.get(key) for key in ("mde", "median", "n_scenes", "n_no_front",
                                                    "no_front_scenes", "predict_seconds", "exit")}
                    for k, v in rows.items()},
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

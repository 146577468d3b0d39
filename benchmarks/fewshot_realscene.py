"""Few-shot fine-tuning judged on the real-scene protocol (issue 23): k scenes of an unseen glacier -> the rest.

For a glacier G, start from the leave-one-glacier-out model that never saw it (FOLDS/G/last.pt), write k of its
images (spread over its dates) as a user's files (``realscene.write_case``: GeoTIFF, front line, glacier box with
its ``upstream`` field), fine-tune with ``glacierfront finetune --scenes ... --fronts ... --aoi BOXES`` (the
library call; by default a front line then labels the whole box: glacier upstream, water downstream), and run
the real-scene protocol on N other images of G (never a training one). k = 0 is the base model.

    python benchmarks/fewshot_realscene.py --folds /work/runs/logo5-base --glacier Jorum --k 0,1,3,5 \\
        --per-glacier 20 --out docs/results/fewshot-realscene-Jorum

Each training scene is placed at its own origin (100 km apart), so that one box file holds every scene's box
without the boxes overlapping.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from glacierfront.evaluate import realscene as rs
from glacierfront.io.vector_files import read_lines, write_lines
from glacierfront.model.backend import load_backend
from glacierfront.train import finetune as ft
from glacierfront.train import finetune_data as fd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caffe256"
SPACING_M = 100_000.0


def training_files(chips, folder: Path) -> tuple[list[Path], Path, Path]:
    """(scenes, fronts layer, boxes layer) of the training chips, each scene at its own origin."""
    import fiona

    scenes, fronts, boxes, box_crs = [], [], [], None
    for i, chip in enumerate(chips):
        origin = (rs.ORIGIN[0] + i * SPACING_M, rs.ORIGIN[1])
        files = rs.write_case(rs.framings(chip, ["whole"])[0], folder, origin)
        if files is None:
            continue
        scenes.append(files["scene"])
        records, _ = read_lines(files["ref"])
        fronts += [(geom, {"scene": files["scene"].stem}) for geom, _ in records]
        with fiona.open(files["box"]) as src:
            box_crs = src.crs
            boxes += [(f.geometry, dict(f.properties)) for f in src]
    front_path = write_lines(folder / "fronts.gpkg", fronts, rs.CRS)
    box_path = folder / "boxes.gpkg"
    schema = {"geometry": "Polygon", "properties": {"glacier_id": "str", "upstream": "str"}}
    with fiona.open(box_path, "w", driver="GPKG", crs=box_crs, schema=schema) as dst:
        for geometry, props in boxes:
            dst.write({"geometry": geometry, "properties": props})
    return scenes, front_path, box_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=Path, required=True)
    parser.add_argument("--glacier", required=True)
    parser.add_argument("--k", default="0,1,3,5")
    parser.add_argument("--per-glacier", type=int, default=20, help="images scored (never a training one)")
    parser.add_argument("--steps", type=int, default=ft.DEFAULT_STEPS)
    parser.add_argument("--label-depth", type=float, default=None, help="m (default: the whole box)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    chips = rs.read_caffe_chips(args.data, [args.glacier])
    base = args.folds / args.glacier / "last.pt"
    rows = []
    for k in (int(v) for v in args.k.split(",")):
        train = rs.spread(chips, k) if k else []
        names = {c.name for c in train}
        rest = rs.spread([c for c in chips if c.name not in names], args.per_glacier or None)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"fewshot-rs-{k}-") as tmp:
            tmp = Path(tmp)
            model = base
            if k:
                (tmp / "scenes").mkdir()
                scenes, fronts, boxes = training_files(train, tmp / "scenes")
                depth = fd.label_depth_m(args.label_depth, boxes)
                prepared = fd.scenes_to_caffe(
                    scenes, fronts, tmp / "caffe", base, fd.SceneOptions(aoi=boxes, depth_m=depth, nodata=0.0)
                )
                result = ft.finetune(
                    prepared,
                    ft.resolve_base(base),
                    tmp / "model.onnx",
                    ft.FinetuneOptions(steps=args.steps),
                    f"{args.glacier}: {k} real-scene files",
                    work=tmp / "run",
                )
                model = result.checkpoint
            results = rs.run_protocol(
                [(load_backend(model), rest)], floor=False, report=lambda text: print(text, file=sys.stderr)
            )
        for row in rs.summarise(results["model"]):
            rows.append(
                {"k": k, "train": sorted(names), "seconds": round(time.perf_counter() - started), **row}
            )
        print(f"k={k} done", file=sys.stderr)
    lines = [
        f"### Few-shot on the real-scene protocol: {args.glacier}, base {base}, {args.steps} steps",
        "",
        "| k | rule | framing | cases | MDE (px) | no front |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mde = "-" if r["mde_px"] is None else f"{r['mde_px']:.2f}"
        lines.append(f"| {r['k']} | {r['rule']} | {r['family']} | {r['cases']} | {mde} | {r['no_front']} |")
    text = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(text)


if __name__ == "__main__":
    main()

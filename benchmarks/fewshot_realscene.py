"""Few-shot fine-tuning judged on the real-scene protocol (issue 23): k scenes of an unseen glacier -> the rest.

For a glacier G, start from the leave-one-glacier-out model that never saw it (FOLDS/G/last.pt), write k of its
images (spread over its dates) as a user's files (``realscene.write_case``: GeoTIFF, front line, glacier box with
its ``upstream`` field), fine-tune with ``glacierfront finetune --scenes ... --fronts ... --aoi BOXES`` (the
library call; by default a front line then labels the whole box: glacier upstream, water downstream), and run
the real-scene protocol on N other images of G (never a training one). k = 0 is the base model.

    python benchmarks/fewshot_realscene.py --folds /work/runs/logo5-base --glacier Jorum --k 0,1,3,5 \\
        --per-glacier 20 --out docs/results/fewshot-realscene-Jorum
    python benchmarks/fewshot_realscene.py --combine docs/results/fewshot-realscene-*-e12.json \\
        --out docs/results/fewshot-realscene-e12   # one table over the glaciers run

The fine-tune recipe is finetune's default unless ``--scale-aug``, ``--intensity-aug``, ``--view-aug``, ``--train-encoder`` or
``--steps`` say otherwise; each row stores it (``recipe``), and ``--combine`` gives each recipe its own rows.
``--combine ... --family crop`` tables one framing family instead of all of them pooled.

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

from glacierfront.cli.options import parse_scale_aug
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


def combine(paths: list[Path], family: str = "pooled") -> str:
    """One table over several glaciers' runs (their OUT.json): per k, rule and recipe, each glacier's MDE on
    one framing family (default: all pooled) and all glaciers together (the mean over every case with a
    front, so each case weighs the same)."""
    runs = {}
    for path in paths:
        rows = json.loads(path.read_text())
        # Runs before the glacier was stored name it in their training images (CaFFe names start with it).
        named = [
            r.get("glacier") or r["train"][0].split("_")[0] for r in rows if r.get("glacier") or r["train"]
        ]
        glacier = named[0] if named else path.stem
        runs.setdefault(glacier, []).extend(r for r in rows if r["family"] == family)
    glaciers = sorted(runs)
    # k = 0 is the base model whatever the recipe: one row for it.
    keys = sorted(
        {(r["k"], r["rule"], recipe_of(r)) for rows in runs.values() for r in rows},
        key=lambda key: (rs.RULES.index(key[1]), key[0], key[2]),
    )
    lines = [
        f"### Few-shot on the real-scene protocol, {len(glaciers)} glaciers"
        + ("" if family == "pooled" else f", framing {family}")
        + ": MDE (px) / no front",
        "",
        "| rule | k | recipe | " + " | ".join(glaciers) + " | all |",
        "| --- | --- | --- | " + " | ".join("---" for _ in glaciers) + " | --- |",
    ]
    for k, rule, recipe in keys:
        cells, total, scored, missing = [], 0.0, 0, 0
        for g in glaciers:
            row = next(
                (r for r in runs[g] if r["k"] == k and r["rule"] == rule and recipe_of(r) == recipe), None
            )
            if row is None:
                cells.append("-")
                continue
            n = row["cases"] - row["no_front"]
            missing += row["no_front"]
            if row["mde_px"] is not None:
                total += row["mde_px"] * n
                scored += n
            cells.append(f"{row['mde_px']:.2f} / {row['no_front']}" if row["mde_px"] is not None else "-")
        pooled = f"**{total / scored:.2f}** / {missing}" if scored else "-"
        lines.append(f"| {rule} | {k} | {recipe} | " + " | ".join(cells) + f" | {pooled} |")
    return "\n".join(lines) + "\n"


def recipe_text(options: ft.FinetuneOptions) -> str:
    """The fine-tune recipe in words, e.g. '300 steps, frozen encoder, zoom 0.5-2'."""
    parts = [f"{options.steps} steps", "frozen encoder" if options.freeze_encoder else "all weights"]
    if options.scale_aug:
        parts.append(f"zoom {options.scale_aug[0]:g}-{options.scale_aug[1]:g}")
    if options.intensity_aug:
        parts.append("intensity aug")
    if options.view_aug:
        parts.append("partial views")
    return ", ".join(parts)


def recipe_of(row: dict) -> str:
    """A stored row's recipe; '-' for k = 0 (no fine-tune). Rows written before recipes were stored used the
    default recipe of their time."""
    if row["k"] == 0:
        return "-"
    return row.get("recipe") or recipe_text(ft.FinetuneOptions(steps=ft.DEFAULT_STEPS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=Path)
    parser.add_argument("--glacier")
    parser.add_argument(
        "--combine", type=Path, nargs="+", help="runs' OUT.json: write one table over their glaciers to --out"
    )
    parser.add_argument("--family", default="pooled", help="--combine: one framing family (whole, crop, ...)")
    parser.add_argument("--k", default="0,1,3,5")
    parser.add_argument("--per-glacier", type=int, default=20, help="images scored (never a training one)")
    parser.add_argument("--steps", type=int, default=ft.DEFAULT_STEPS)
    parser.add_argument("--label-depth", type=float, default=None, help="m (default: the whole box)")
    parser.add_argument("--scale-aug", default="off", help="finetune's --scale-aug LO,HI (default off)")
    parser.add_argument("--intensity-aug", action="store_true", help="finetune's --intensity-aug")
    parser.add_argument("--train-encoder", action="store_true", help="finetune's --train-encoder")
    parser.add_argument("--view-aug", action="store_true", help="finetune's --view-aug")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.combine:
        text = combine(args.combine, args.family)
        args.out.with_suffix(".md").write_text(text)
        print(text)
        return
    if args.folds is None or args.glacier is None:
        parser.error("--folds and --glacier are needed (or --combine)")
    chips = rs.read_caffe_chips(args.data, [args.glacier])
    base = args.folds / args.glacier / "last.pt"
    options = ft.FinetuneOptions(
        steps=args.steps,
        scale_aug=parse_scale_aug(args.scale_aug),
        intensity_aug=args.intensity_aug,
        view_aug=args.view_aug,
        freeze_encoder=not args.train_encoder,
    )
    recipe = recipe_text(options)
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
                    options,
                    f"{args.glacier}: {k} real-scene files",
                    work=tmp / "run",
                )
                model = result.checkpoint
            results = rs.run_protocol(
                [(load_backend(model), rest)], floor=False, report=lambda text: print(text, file=sys.stderr)
            )
        for row in rs.summarise(results["model"]):
            rows.append(
                {
                    "glacier": args.glacier,
                    "k": k,
                    "train": sorted(names),
                    "recipe": recipe if k else "-",
                    "seconds": round(time.perf_counter() - started),
                    **row,
                }
            )
        print(f"k={k} done", file=sys.stderr)
    lines = [
        f"### Few-shot on the real-scene protocol: {args.glacier}, base {base}, {recipe}",
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

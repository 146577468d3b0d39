"""The real-scene protocol (glacierfront/evaluate/realscene.py): models judged through predict -> evaluate.

$ .venv/bin/python benchmarks/realscene.py --folds /work/runs/logo5-base --out docs/results/realscene-base
$ .venv/bin/python benchmarks/realscene.py --model models/cisnet-atto-caffe256.onnx --glaciers Jorum --out x
$ .venv/bin/python benchmarks/realscene.py --hmb ../shared/data/hmb --model optical --out docs/results/hmb-optical

--folds: a crossval folder (FOLDS/<glacier>/last.pt): each glacier's images run through the model that never
saw it (leave one glacier out). --model: one model for every glacier in --glaciers. --per-glacier N takes N
images spread over each glacier's dates (all: 0). Writes OUT.md and OUT.json and prints the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from glacierfront.evaluate import realscene as rs
from glacierfront.inference import load_backend, model_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caffe256"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=Path, help="crossval folder: FOLDS/<glacier>/last.pt")
    parser.add_argument("--model", help="one model for every glacier (a path or a catalog name)")
    parser.add_argument("--glaciers", help="comma-separated glaciers (default: every fold / every glacier)")
    parser.add_argument(
        "--per-glacier", type=int, default=20, help="images per glacier, spread over dates (0: all)"
    )
    parser.add_argument("--rules", default=",".join(rs.RULES))
    parser.add_argument("--families", default=",".join(rs.FAMILIES))
    parser.add_argument("--no-floor", action="store_true", help="skip the label floor")
    parser.add_argument("--hmb", type=Path, help="run the HMB basemap protocol instead (needs --model)")
    parser.add_argument("--out", type=Path, required=True, help="OUT.md and OUT.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.hmb:
        from glacierfront.evaluate.hmb import run_hmb

        text = run_hmb(args.hmb, load_backend(model_path(args.model)), args.out)
        print(text)
        return
    wanted = args.glaciers.split(",") if args.glaciers else None
    pairs = []
    if args.folds:
        glaciers = wanted or sorted(p.name for p in args.folds.iterdir() if (p / "last.pt").is_file())
        for glacier in glaciers:
            chips = rs.spread(rs.read_caffe_chips(args.data, [glacier]), args.per_glacier or None)
            pairs.append((load_backend(args.folds / glacier / "last.pt"), chips))
        label = f"leave-one-glacier-out folds of {args.folds.name}"
    else:
        backend = load_backend(model_path(args.model))
        chips = rs.read_caffe_chips(args.data, wanted)
        by_glacier = {}
        for chip in chips:
            by_glacier.setdefault(chip.glacier, []).append(chip)
        for _, group in sorted(by_glacier.items()):
            pairs.append((backend, rs.spread(group, args.per_glacier or None)))
        label = f"{backend.label} on {', '.join(sorted(by_glacier))}"
    results = rs.run_protocol(
        pairs,
        args.rules.split(","),
        args.families.split(","),
        floor=not args.no_floor,
        report=lambda text: print(text, file=sys.stderr),
    )
    settings = {
        "data": str(args.data),
        "folds": str(args.folds) if args.folds else None,
        "model": args.model,
        "per_glacier": args.per_glacier,
        "pixel_m": rs.PIXEL_M,
        "seconds": round(time.perf_counter() - started, 1),
    }
    n_images = sum(len(c) for _, c in pairs)
    title = f"Real-scene protocol: {label}, {n_images} images"
    print(rs.write_report(args.out, title, results, settings))


if __name__ == "__main__":
    main()

"""The real-scene protocol (glacierfront/evaluate/realscene.py): models judged through predict -> evaluate.

$ .venv/bin/python benchmarks/realscene.py --folds /work/runs/logo5-base --out docs/results/realscene-base
$ .venv/bin/python benchmarks/realscene.py --model models/cisnet-atto-caffe256.onnx --glaciers Jorum --out x
$ .venv/bin/python benchmarks/realscene.py --from-json docs/results/realscene-logo5-base.json --glaciers Jorum --out x
$ .venv/bin/python benchmarks/realscene.py --from-json docs/results/realscene-logo5-e12-fallback.json \\
      --against docs/results/realscene-logo5-e12.json --out docs/results/realscene-logo5-e12-fallback-vs-e12
$ .venv/bin/python benchmarks/realscene.py --hmb ../shared/data/hmb --model sar,sar-general,optical --out docs/results/hmb

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
from glacierfront.model.backend import load_backend, model_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "caffe256"


def draw(backend, chip, path: Path, framings=("whole", "crop1", "rot90", "float-dB")) -> None:
    """One column per framing: the scene with the label front (cyan), the predicted zones and both rules'
    lines (red: CaFFe rule with the box as AOI, yellow: box rule; dashed: the box)."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import rasterio
    from matplotlib.colors import ListedColormap

    from glacierfront.io.vector_files import read_lines
    from glacierfront.predict import PredictOptions, predict_scene
    from glacierfront.predict.vectorise import map_geometry

    colours = ListedColormap(["#000000", "#8c6d46", "#f2f2f2", "#3a6fb0"])
    cases = [c for c in rs.framings(chip) if c.framing in framings]
    fig, axes = plt.subplots(2, len(cases), figsize=(3.2 * len(cases), 6.6), squeeze=False)
    inverse = ~rs.transform_for()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for j, case in enumerate(cases):
            files = rs.write_case(case, folder)
            if files is None:
                continue
            shown = np.nan_to_num(case.image.astype(float), nan=0.0)
            axes[0, j].imshow(shown, cmap="gray")
            zones_path = folder / "zones.tif"
            lines = {}
            for rule, colour in (("caffe", "r"), ("box", "y")):
                result = predict_scene(
                    files["scene"],
                    backend,
                    PredictOptions(aoi=files["box"], front_rule=rule, nodata=case.nodata or None),
                    zones_path=zones_path if rule == "caffe" else None,
                )
                lines[colour] = [map_geometry(ln.geometry, inverse) for ln in result.lines]
            with rasterio.open(zones_path) as src:
                zones = src.read(1)
            axes[1, j].imshow(
                np.where(zones > 3, 0, zones), cmap=colours, vmin=0, vmax=3, interpolation="nearest"
            )
            rows, cols = np.nonzero(case.front)
            ((box_geom, _),) = read_lines(files["box"], boundary=True)[0]
            box_px = map_geometry(box_geom, inverse)
            for ax in axes[:, j]:
                ax.plot(cols, rows, "c.", ms=1)
                for colour, geoms in lines.items():
                    for g in geoms:
                        for part in getattr(g, "geoms", [g]):
                            x, y = part.xy
                            ax.plot(x, y, colour, lw=1.5)
                for part in getattr(box_px, "geoms", [box_px]):
                    x, y = part.xy
                    ax.plot(x, y, "y--", lw=0.8)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[0, j].set_title(case.framing, fontsize=9)
    axes[1, 0].set_ylabel("zones: NA black, rock brown, glacier white, ocean blue", fontsize=7)
    fig.suptitle(
        f"{chip.name} ({backend.label}); cyan: label front, red: CaFFe rule, yellow: box rule", fontsize=8
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def compare(before: list, after: list, good_px: float = rs.GOOD_PX) -> str:
    """Case by case, per rule, what changed between two runs of the same cases (their outcomes): lines the
    same, lines moved, fronts gained and lost, and the error on the cases both runs scored."""
    import numpy as np

    def mean(values):
        return f"{np.mean(values):.2f} px" if values else "-"

    old = {(o.chip, o.framing, o.rule): o.mde_px for o in before}
    new = {(o.chip, o.framing, o.rule): o.mde_px for o in after}
    lines = []
    for rule in [r for r in rs.RULES if any(k[2] == r for k in new)]:
        keys = [k for k in new if k[2] == rule and k in old]
        both = [k for k in keys if old[k] is not None and new[k] is not None]
        same = [k for k in both if abs(old[k] - new[k]) < 1e-6]
        moved = [k for k in both if abs(old[k] - new[k]) >= 1e-6]
        gained = [k for k in keys if old[k] is None and new[k] is not None]
        lost = [k for k in keys if old[k] is not None and new[k] is None]
        lines.append(
            f"{rule} rule, {len(keys)} cases in both runs: {len(same)} lines the same ({mean([new[k] for k in same])}); "
            f"{len(moved)} moved, {mean([old[k] for k in moved])} -> {mean([new[k] for k in moved])}; "
            f"{len(gained)} gained a front ({mean([new[k] for k in gained])}, "
            f"{sum(new[k] <= good_px for k in gained)} within {good_px:g} px); {len(lost)} lost one; "
            f"on the {len(both) + len(lost)} cases the first run scored: "
            f"{mean([old[k] for k in both + lost])} -> {mean([new[k] for k in both])} "
            f"(of them {len(lost)} now without a front)"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=Path, help="crossval folder: FOLDS/<glacier>/last.pt")
    parser.add_argument(
        "--model",
        help="one model for every glacier (a path or a catalog name; --hmb: several, comma-separated; A+B: their ensemble)",
    )
    parser.add_argument("--glaciers", help="comma-separated glaciers (default: every fold / every glacier)")
    parser.add_argument(
        "--per-glacier", type=int, default=20, help="images per glacier, spread over dates (0: all)"
    )
    parser.add_argument("--rules", default=",".join(rs.RULES))
    parser.add_argument("--families", default=",".join(rs.FAMILIES))
    parser.add_argument("--no-floor", action="store_true", help="skip the label floor")
    parser.add_argument(
        "--from-json", type=Path, help="summarise a report's JSON again (with --glaciers: some only)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="with --from-json: compare it case by case with this earlier report's JSON",
    )
    parser.add_argument("--hmb", type=Path, help="run the HMB basemap protocol instead (needs --model)")
    parser.add_argument(
        "--tta",
        action="store_true",
        help="predict with --tta: 8 flips/rotations per tile (8x the model time)",
    )
    parser.add_argument("--out", type=Path, required=True, help="OUT.md and OUT.json")
    parser.add_argument(
        "--pictures", type=Path, help="also draw the first image of each glacier's framings here"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tta_note = ", --tta" if args.tta else ""
    if args.from_json:
        results = rs.read_results(args.from_json, args.glaciers.split(",") if args.glaciers else None)
        title = f"{args.from_json.stem}" + (f", {args.glaciers} only" if args.glaciers else "")
        text = rs.write_report(args.out, title, results, {"from": str(args.from_json)})
        if args.against:
            before = rs.read_results(args.against, args.glaciers.split(",") if args.glaciers else None)
            text += f"\nCase by case against {args.against.name}:\n\n" + compare(
                before["model"], results["model"]
            )
            args.out.with_suffix(".md").write_text(text)
        print(text)
        return
    if args.hmb:
        import json

        from glacierfront.evaluate import hmb

        rows = []
        for name in args.model.split(","):
            members = [model_path(m) for m in name.split("+")]
            # A fold's last.pt is named by its folder (logo5-base/JAC), an ensemble by its members.
            label = "+".join(
                f"{m.parent.parent.name}/{m.parent.name}" if m.name == "last.pt" else m.name for m in members
            )
            rows += hmb.score_hmb(
                args.hmb, load_backend(members if len(members) > 1 else members[0], tta=args.tta), label
            )
        title = f"### Harald Moltke Brae basemap (30 m Landsat), 2021-09-27 front{tta_note}"
        text = f"{title}\n\n" + hmb.markdown(rows)
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
        print(text)
        return
    wanted = args.glaciers.split(",") if args.glaciers else None
    pairs = []
    if args.folds:
        glaciers = wanted or sorted(p.name for p in args.folds.iterdir() if (p / "last.pt").is_file())
        for glacier in glaciers:
            chips = rs.spread(rs.read_caffe_chips(args.data, [glacier]), args.per_glacier or None)
            pairs.append((load_backend(args.folds / glacier / "last.pt", tta=args.tta), chips))
        label = f"leave-one-glacier-out folds of {args.folds.name}{tta_note}"
    else:
        backend = load_backend(model_path(args.model), tta=args.tta)
        chips = rs.read_caffe_chips(args.data, wanted)
        by_glacier = {}
        for chip in chips:
            by_glacier.setdefault(chip.glacier, []).append(chip)
        for _, group in sorted(by_glacier.items()):
            pairs.append((backend, rs.spread(group, args.per_glacier or None)))
        label = f"{backend.label} on {', '.join(sorted(by_glacier))}{tta_note}"
    results = rs.run_protocol(
        pairs,
        args.rules.split(","),
        args.families.split(","),
        floor=not args.no_floor,
        report=lambda text: print(text, file=sys.stderr),
    )
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
        for backend, chips in pairs:
            draw(backend, chips[0], args.pictures / f"{chips[0].name}.png")
    settings = {
        "data": str(args.data),
        "folds": str(args.folds) if args.folds else None,
        "model": args.model,
        "per_glacier": args.per_glacier,
        "tta": args.tta,
        "pixel_m": rs.PIXEL_M,
        "seconds": round(time.perf_counter() - started, 1),
    }
    n_images = sum(len(c) for _, c in pairs)
    title = f"Real-scene protocol: {label}, {n_images} images"
    print(rs.write_report(args.out, title, results, settings))


if __name__ == "__main__":
    main()

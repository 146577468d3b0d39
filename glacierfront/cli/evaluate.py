"""`glacierfront evaluate`: score predicted calving fronts against references (vector layers or a CaFFe split)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.model.backend import load_backend

if TYPE_CHECKING:
    from glacierfront.evaluate import CaffeOptions


def evaluate(
    pred: Path | None = typer.Argument(
        None, metavar="PRED", help="Predicted front lines (.gpkg/.shp/.geojson). Omit with --data."
    ),
    ref: Path | None = typer.Option(None, "--ref", help="Reference front lines, in any CRS (vector mode)."),
    layer: str | None = typer.Option(
        None, "--layer", help="Layer of PRED to read when it holds several (e.g. a GeoPackage's fronts)."
    ),
    ref_layer: str | None = typer.Option(
        None, "--ref-layer", help="Layer of --ref to read when it holds several."
    ),
    match: str | None = typer.Option(
        None,
        "--match",
        help="Pair lines by 'scene' field, 'date' field, or 'all' as one pair. Default: scene.",
    ),
    spacing: float | None = typer.Option(
        None,
        "--spacing",
        callback=opt.number_check("--spacing", unit="metres", example="2"),
        help="Sample lines every this many metres. Default: resolution_m / 4 when the layers carry that "
        "field, else a quarter of the median vertex spacing, at most 5 m.",
    ),
    boundary: bool = typer.Option(False, "--boundary", help="Accept polygons: use their outlines as fronts."),
    data: Path | None = typer.Option(
        None, "--data", help="CaFFe folder (data_raw layout): evaluate a split."
    ),
    split: str | None = typer.Option(None, "--split", help="CaFFe split: test (default) or train."),
    glaciers: str | None = typer.Option(None, "--glaciers", help="Only these glaciers, e.g. SI,Crane."),
    holdout: Path | None = typer.Option(
        None,
        "--holdout",
        help="Score only the validation images a training run held out: its run folder, config.json, "
        "or a model file that glacierfront train wrote.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model (.onnx or .pt, or a shipped model's name: sar, sar-general, optical) to run over the split. "
        "Default: the shipped SAR model, except with "
        "--pred-dir, or with --floor alone (then only the labels are scored).",
    ),
    pred_dir: Path | None = typer.Option(
        None, "--pred-dir", help="Saved zone masks (<name>_zones.png or <name>_pred.png) instead of a model."
    ),
    save_dir: Path | None = typer.Option(
        None, "--save-dir", help="Write predicted <name>_zones.png and <name>_front.png here."
    ),
    floor: bool = typer.Option(
        False,
        "--floor",
        help="Also score the label zone masks (post-processing floor: the best any model can do).",
    ),
    pixels: bool = typer.Option(
        False, "--pixels", help="Distances in pixels (resized data such as caffe256); min front length in px."
    ),
    min_length_px: float | None = typer.Option(
        None,
        "--min-length-px",
        callback=opt.number_check("--min-length-px", unit="px", example="2", zero=True),
        help="Drop front pieces of at most this many px. Default: 2 with --pixels, else 750 m / resolution.",
    ),
    ocean_rule: str | None = opt.ocean_rule_option(None),
    tta: bool = opt.TTA,
    device: str = opt.DEVICE,
    batch_size: int | None = opt.BATCH_SIZE,
    tile: int | None = opt.TILE,
    overlap: int | None = opt.OVERLAP,
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout (numbers only, stable keys)."),
    as_csv: bool = typer.Option(
        False, "--csv", help="Print CSV rows source,group,key,metric,value on stdout."
    ),
    quiet: bool = opt.QUIET,
) -> None:
    """Measure the mean distance error (MDE) between predicted and reference calving fronts.

    \b
    Vector mode: lines in any CRS, distances in ground metres, pooled over all scenes. PRED may be a
    folder (predict's one file per scene: every vector file in it is read); a file with several layers
    needs --layer.
    $ glacierfront evaluate pred.gpkg --ref reference.shp --match scene
    $ glacierfront evaluate pred.gpkg --ref front.geojson --match all --json
    CaFFe mode: run a model (or read saved masks) over a CaFFe split, scored as CaFFe does.
    $ glacierfront evaluate --data data_raw --split test --model cisnet.onnx --floor
    $ glacierfront evaluate --data caffe256 --split train --pred-dir preds/ --pixels --csv
    $ glacierfront evaluate --data caffe256 --floor --pixels     # labels only
    Without --model: --pred-dir's masks; --floor alone: labels only; else the shipped model.

    MDE: the mean of all distances (both directions) of all scenes pooled in one list.
    Scenes without a predicted front are counted as "no front", never averaged.
    The exit code is 1 when nothing could be scored.
    """
    from glacierfront.evaluate import (
        CaffeOptions,
        evaluate_vectors,
        holdout_config,
        nothing_evaluated,
        write_csv,
    )
    from glacierfront.evaluate.vector import FAR_APART_M

    if as_json and as_csv:
        raise GlacierfrontError("--json and --csv both given: choose one output format")
    if data is not None:
        _refuse(
            "with --data (CaFFe mode)",
            PRED=pred,
            **{
                "--ref": ref,
                "--match": match,
                "--spacing": spacing,
                "--layer": layer,
                "--ref-layer": ref_layer,
            },
        )
        if boundary:
            raise GlacierfrontError("--boundary is for vector mode; drop it with --data")
        options = CaffeOptions(
            split=split or "test",
            glaciers=_glacier_list(glaciers),
            pixels=pixels,
            min_length_px=min_length_px,
            floor=floor,
            save_dir=save_dir,
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            holdout=holdout_config(holdout) if holdout is not None else None,
            ocean_rule=ocean_rule or "largest",
        )
        result = _run_caffe(data, model, pred_dir, options, device, tta, quiet)
    else:
        caffe_only = {
            "--split": split,
            "--glaciers": glaciers,
            "--model": model,
            "--pred-dir": pred_dir,
            "--holdout": holdout,
        }
        caffe_only |= {"--save-dir": save_dir, "--min-length-px": min_length_px, "--tile": tile}
        caffe_only |= {"--overlap": overlap, "--floor": floor or None, "--pixels": pixels or None}
        caffe_only |= {"--ocean-rule": ocean_rule, "--tta": tta or None}
        _refuse("without --data (vector mode)", **caffe_only)
        if pred is None or ref is None:
            raise GlacierfrontError(
                "give PRED and --ref REF (vector mode), or --data CAFFE_DIR (CaFFe mode); see --help"
            )
        result = evaluate_vectors(pred, ref, match or "scene", spacing, boundary, layer, ref_layer)
    if as_json:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
    elif as_csv:
        write_csv(result, sys.stdout)
    else:
        _print_tables(result)
    far = result.get("far_apart_scenes") or []
    if far:
        shown = ", ".join(far[:3]) + (f" and {len(far) - 3} more" if len(far) > 3 else "")
        print(
            f"glacierfront: warning: predicted and reference fronts of {shown} are over "
            f"{FAR_APART_M / 1000:.0f} km apart: not a poor prediction but two different places; check the "
            "layers' CRSs (and --match)",
            file=sys.stderr,
        )
    if (reason := nothing_evaluated(result)) is not None:
        raise GlacierfrontError(reason)


def _refuse(context: str, **given: Any) -> None:
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise GlacierfrontError(
            f"{', '.join(named)}: not used {context}; drop it or switch mode (see --help)"
        )


def _glacier_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise GlacierfrontError("--glaciers is empty: give glacier names, e.g. SI,Crane")
    return names


def _run_caffe(
    data: Path,
    model: str | Path | None,
    pred_dir: Path | None,
    options: CaffeOptions,
    device: str,
    tta: bool,
    quiet: bool,
) -> dict[str, Any]:
    from glacierfront.evaluate import evaluate_caffe
    from glacierfront.io.caffe import list_split

    if model is not None and pred_dir is not None:
        raise GlacierfrontError("--model and --pred-dir both given: evaluate one source at a time")
    if tta and pred_dir is not None:
        raise GlacierfrontError("--tta averages a model's predictions: it does not apply to --pred-dir masks")
    labels_only = model is None and pred_dir is None and options.floor
    if tta and labels_only:
        raise GlacierfrontError(
            "--tta averages a model's predictions, but --floor alone scores only the labels: add --model"
        )
    if not data.is_dir():
        raise GlacierfrontError(f"--data {data}: folder not found; pass the CaFFe data_raw folder")
    # List the split first: a wrong folder is reported before a model is loaded.
    if options.holdout is None:
        list_split(data, options.split, options.glaciers)
    default = model is None and pred_dir is None and not labels_only
    if default:
        model = opt.model_path(None)
    backend = load_backend(opt.model_path(model), device, tta=tta) if model is not None else None
    console = opt.console(quiet)
    if backend is not None:
        notes = [f"on {backend.device}"]
        if default:
            notes.append(f"(the default model, {model})")
        if tta:
            notes.append("with 8-fold test-time augmentation")
        console.print(
            escape(f"model {backend.label} ({backend.config.encoder}) {' '.join(notes)}"), highlight=False
        )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # No bar where stderr is not a terminal (logs, pipelines): it would only leave blank lines behind.
    with Progress(
        *columns, console=console, disable=quiet or not console.is_terminal, transient=True
    ) as progress:
        task = progress.add_task(f"evaluating {options.split}", total=None)
        return evaluate_caffe(
            data,
            backend,
            pred_dir,
            options,
            on_start=lambda total: progress.update(task, total=total),
            on_image=lambda _name: progress.advance(task),
        )


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_tables(result: dict[str, Any]) -> None:
    console = opt.console(stderr=False)
    if result["mode"] == "vector":
        _vector_tables(console, result)
    else:
        _caffe_tables(console, result)


def _vector_tables(console: Console, result: dict[str, Any]) -> None:
    unit = result["units"]
    summary = Table(
        title=escape(f"{Path(result['pred']).name} vs {Path(result['ref']).name} (match {result['match']})")
    )
    summary.add_column("", style="bold")
    summary.add_column("value", justify="right")
    counts = {
        "scenes": "n_scenes",
        "evaluated": "n_evaluated",
        "no predicted front": "n_no_front",
        "predictions without reference": "n_pred_unmatched",
        "points (both lines)": "n_points",
    }
    for label, key in counts.items():
        summary.add_row(label, str(result[key]))
    for label, key in {
        "MDE": "mde",
        "median": "median",
        "HD95": "hd95",
        "mean of scene means": "mean_of_scene_means",
    }.items():
        summary.add_row(f"{label} ({unit})", _num(result[key]))
    opt.print_table(summary, console)
    per_scene = Table(title=f"per {result['match']}")
    per_scene.add_column(result["match"])
    for name in ("points", f"MDE ({unit})", f"median ({unit})", f"HD95 ({unit})", "spacing (m)"):
        per_scene.add_column(name, justify="right")
    per_scene.add_column("status")
    labels = {"ok": "", "no_pred_front": "[red]no front[/]", "no_ref_front": "[red]empty ref[/]"}
    for key, row in result["per_scene"].items():
        per_scene.add_row(
            escape(key),
            str(row["n_points"]),
            *(_num(row[k]) for k in ("mde", "median", "hd95", "spacing_m")),
            labels[row["status"]],
        )
    opt.print_table(per_scene, console)
    if result["unmatched_pred_scenes"]:
        console.print(
            escape(f"predictions without a reference (ignored): {', '.join(result['unmatched_pred_scenes'])}")
        )


def _caffe_tables(console: Console, result: dict[str, Any]) -> None:
    unit = result["units"]
    key = f"mde_{unit}"
    median_key = f"median_{unit}"
    sources = [(s, result[s]) for s in ("prediction", "floor") if result[s] is not None]
    title = escape(f"CaFFe {result['split']}: {result['n_images']} images ({', '.join(result['glaciers'])})")
    rule = result["ocean_rule"]
    caption = f"ocean rule: {rule}" + (" (CaFFe's)" if rule == "largest" else " (not CaFFe's)")
    if result["tta"]:
        caption += "; test-time augmentation: 8 flips/rotations"
    boxed, total = result["n_with_bbox"], result["n_images"]
    if boxed < total:
        # CaFFe clips predicted fronts to each image's bounding box: without one the metric is not CaFFe's.
        caption += f"; bounding boxes for {boxed} of {total} images (fronts of the others not clipped: not CaFFe's metric)"
    summary = Table(title=title, caption=caption)
    for name in ("", "images", "evaluated", "no front", f"MDE ({unit})", f"median ({unit})"):
        summary.add_column(name, justify="right" if name else "left")
    for source, part in sources:
        label = result["model"] or result["pred_dir"] if source == "prediction" else "floor (labels)"
        summary.add_row(
            escape(str(label)),
            str(part["n_images"]),
            str(part["n_evaluated"]),
            str(part["n_no_front"]),
            _num(part[key]),
            _num(part[median_key]),
        )
    opt.print_table(summary, console)
    breakdown = Table(title=f"MDE ({unit}) by group")
    breakdown.add_column("group")
    breakdown.add_column("value")
    for source, _ in sources:
        breakdown.add_column(f"{source} MDE", justify="right")
        breakdown.add_column(f"{source} no front", justify="right")
    first = sources[0][1]["breakdowns"]
    for field in ("glacier", "season", "satellite", "resolution_m"):
        values = list(first.get(field, {}))
        if field == "resolution_m":
            values.sort(key=float)  # numerically: 6, 7, 20 rather than 20, 6, 7
        for value in values:
            cells = []
            for _, part in sources:
                group = part["breakdowns"][field][value]
                cells += [_num(group[key]), str(group["n_no_front"])]
            breakdown.add_row(field, escape(str(value)), *cells)
    opt.print_table(breakdown, console)
    if result["prediction"] is not None:
        zones = result["prediction"]["zones"]
        table = Table(title=f"zone scores (mean over {zones['n_images']} images)")
        for name in ("class", "precision", "recall", "F1", "IoU"):
            table.add_column(name, justify="right" if name != "class" else "left")
        for name, scores in [*zones["per_class"].items(), ("mean", zones["mean"])]:
            table.add_row(escape(name), *(_num(scores[m], 3) for m in ("precision", "recall", "f1", "iou")))
        opt.print_table(table, console)

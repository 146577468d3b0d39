"""`glacierfront finetune`: adapt a model to one's own glacier from a few labelled scenes."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError, StoppedBySignal
from glacierfront.train import finetune as ft
from glacierfront.train import finetune_data as fd


def finetune(
    more_scenes: list[Path] | None = typer.Argument(
        None, metavar="SCENES", help="More scenes: `--scenes a.tif b.tif` reads both."
    ),
    out: Path = typer.Option(
        ..., "-o", "--out", help="The fine-tuned model to write (.onnx); its .pt and .md go beside it."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="CaFFe-layout folder (sar_images/, zones/ and/or fronts/): train on its images."
    ),
    scenes: list[Path] | None = typer.Option(
        None, "--scenes", help="Georeferenced scenes (GeoTIFF); repeat the option or list several after it."
    ),
    fronts: Path | None = typer.Option(
        None,
        "--fronts",
        help="Front lines of the scenes (file or folder, any CRS), matched by a 'scene' field, else by date "
        "(a 'date' field, or the date in the file's name) to the date in each scene's file name.",
    ),
    aoi: Path | None = typer.Option(
        None,
        "--aoi",
        help="Polygon(s) around the glacier front: labels only inside; lines outside are skipped with a "
        "warning. An 'upstream' field (N, ENE, 95 ...) says where the glacier is.",
    ),
    glacier_side: str | None = typer.Option(
        None,
        "--glacier-side",
        help="Where the glacier lies from the fronts: X,Y (a point on the glacier, in the fronts' CRS; LON,LAT "
        "also taken), or a direction from the front into the glacier: N, ENE, ..., a bearing in degrees; for "
        "--data images: N = up, or below/above.",
    ),
    labels: str = typer.Option(
        "auto",
        "--labels",
        help="--data: zones (the zone masks), fronts (weak labels from the front masks) or auto.",
    ),
    label_depth: float | None = typer.Option(
        None,
        "--label-depth",
        help="--scenes: label at most this many metres either side of the front (0: no limit). Default: "
        "with --aoi the whole box (glacier upstream of the line, water downstream), else 3000.",
    ),
    glaciers: str | None = typer.Option(None, "--glaciers", help="--data: only these glaciers, e.g. JAC."),
    glacier: str | None = typer.Option(
        None,
        "--glacier",
        help="--scenes: glacier name for the image names (default: the AOI's glacier_id/name).",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Base model: a shipped name (sar, sar-general, optical) or a checkpoint (.pt). Default: sar.",
    ),
    steps: int | None = typer.Option(
        None, "--steps", help=f"Optimiser steps (default {ft.DEFAULT_STEPS}); or give --epochs."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Passes over the training images instead of --steps."
    ),
    batch_size: int = typer.Option(ft.DEFAULT_BATCH, "--batch-size", help="Pairs per step."),
    patch: int = typer.Option(ft.DEFAULT_PATCH, "--patch", help="Training patch in px (multiple of 32)."),
    lr_max: float = typer.Option(
        ft.DEFAULT_LR_MAX, "--lr-max", help="Learning rate at the start (cosine decay)."
    ),
    lr_min: float = typer.Option(ft.DEFAULT_LR_MIN, "--lr-min", help="Learning rate at the end."),
    freeze_encoder: bool = typer.Option(
        True,
        "--freeze-encoder/--train-encoder",
        help="Train the decoder, bottleneck and heads on the base model's encoder (default: as good on "
        "unseen images and twice as fast), or all weights.",
    ),
    scale_aug: str = opt.scale_aug_option("off"),
    intensity_aug: bool = opt.intensity_aug_option(False),
    view_aug: bool = opt.view_aug_option(False),
    band: int | None = typer.Option(None, "--band", help="--scenes: band to read from multi-band files."),
    scaling: str = typer.Option("auto", "--scaling", help="--scenes: how values become 0..1 (as predict)."),
    nodata: float | None = typer.Option(None, "--nodata", help="--scenes: pixel value meaning no data."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = opt.DEVICE,
    overwrite: bool = opt.OVERWRITE,
    quiet: bool = opt.QUIET,
) -> None:
    """Fine-tune a model on a few labelled scenes of your glacier: an unseen glacier becomes a seen one.

    \b
    From georeferenced scenes and front lines (weak labels: glacier on one side of each line, ocean on the
    other, every other pixel ignored; scenes resampled to the base model's pixel spacing first):
    $ glacierfront finetune --scenes s1/*.tif --fronts fronts.gpkg --aoi box.gpkg --glacier-side E -o my.onnx
    From a CaFFe-layout folder (zone masks, or fronts only with --labels fronts --glacier-side below):
    $ glacierfront finetune --data my_caffe/ -o my.onnx --steps 300

    \b
    Writes OUT.onnx, OUT.pt, the card OUT.md and their sums in SHA256SUMS. Ctrl-C stops after the current
    step and writes the best state so far. Then: glacierfront predict SCENE.tif --model OUT.onnx

    \b
    Give 5 or more scenes spread over the seasons, years and sensors you will predict: fine-tuned on the
    scenes of one season and sensor, or on one scene, a model lost the front on most other scenes of its
    glacier (docs/finetune.md).
    """
    scenes = [*(scenes or []), *(more_scenes or [])]
    ft.check_outputs(out, overwrite, [*ft.model_files(model), *scenes, fronts, aoi])
    if (data is None) == (not scenes):
        raise GlacierfrontError("give --data CAFFE_DIR, or --scenes SCENE.tif ... with --fronts FRONTS")
    if data is not None:
        given = {"--fronts": fronts, "--aoi": aoi, "--glacier": glacier, "--band": band, "--nodata": nodata}
        named = [k for k, v in given.items() if v is not None]
        if named:
            raise GlacierfrontError(f"{', '.join(named)}: for --scenes; drop it with --data")
    elif fronts is None:
        raise GlacierfrontError("--scenes needs --fronts FRONTS (the front lines drawn on them)")
    side = fd.parse_glacier_side(glacier_side)
    options = ft.FinetuneOptions(steps=steps, epochs=epochs, batch_size=batch_size, patch=patch, lr_max=lr_max,
                                 lr_min=lr_min, freeze_encoder=freeze_encoder, seed=seed, device=device,
                                 scale_aug=opt.parse_scale_aug(scale_aug), intensity_aug=intensity_aug,
                                 view_aug=view_aug)  # fmt: skip
    ft.plan(2, options)  # --steps/--epochs checked before any work
    console = opt.console(quiet)

    def warn(message: str) -> None:  # also with --quiet: a warning is a result
        print(f"glacierfront: warning: {message}", file=sys.stderr)

    base = ft.resolve_base(model)
    with tempfile.TemporaryDirectory(prefix="glacierfront-finetune-data-") as tmp:
        folder = Path(tmp) / "data"
        if data is not None:
            prepared = fd.caffe_subset(
                data, folder, labels=labels, glacier_side=side, glaciers=opt.parse_names(glaciers)
            )
            note = str(data)
        else:
            scene_options = fd.SceneOptions(
                glacier_side=side, aoi=aoi, depth_m=fd.label_depth_m(label_depth, aoi), glacier=glacier, scaling=scaling,
                band=band, nodata=nodata,
            )  # fmt: skip

            prepared = fd.scenes_to_caffe(scenes, fronts, folder, base.checkpoint, scene_options, warn)
            note = f"{len(prepared.names)} scene(s) with fronts from {fronts.name}"
        few = ft.too_few_warning(len(prepared.names))
        if few:
            warn(few)
        console.print(
            f"fine-tuning {base.name} on {len(prepared.names)} image(s) ({prepared.labels})", highlight=False
        )
        columns = (
            TextColumn("step"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, disable=quiet) as progress:
            task = progress.add_task("finetune", total=None, loss=0.0)

            def on_step(step: int, total: int, loss: float) -> None:
                progress.update(task, completed=step, total=total, loss=loss)

            result = ft.finetune(prepared, base, out, options, note, on_step)
    console.print(
        f"wrote {result.onnx}, {result.checkpoint.name}, {result.card.name} ({result.steps} steps, "
        f"{result.seconds / 60:.1f} min; kept {result.kept})",
        highlight=False,
    )
    if result.interrupted:
        raise StoppedBySignal(
            f"interrupted at step {result.steps} of {result.planned_steps}; {result.onnx} holds {result.kept}",
            result.signum or signal.SIGINT,
        )
    typer.echo(str(result.onnx))

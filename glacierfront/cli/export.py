"""`glacierfront export`: a checkpoint to an ONNX model for fast inference."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.model.export import (
    DEFAULT_OPSET,
    MAX_OPSET,
    MIN_OPSET,
    check_opset,
    export_checkpoint,
    export_onnx,
    restamp_onnx,
    scale_metadata,
    usage_metadata,
)
from glacierfront.model.info import model_kind


def export(
    checkpoint: Path = typer.Argument(
        ..., help="glacierfront checkpoint (.pt) to export, or an .onnx model to re-stamp its metadata."
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="ONNX file to write (.onnx), or .pt for an inference-only checkpoint."
    ),
    opset: int = typer.Option(
        DEFAULT_OPSET, help=f"ONNX opset version ({MIN_OPSET} to {MAX_OPSET}, what this torch can write)."
    ),
    overwrite: bool = opt.OVERWRITE,
    resolution_m: float | None = typer.Option(
        None,
        "--resolution-m",
        help="Pixel spacing (m) the model was trained at; predict resamples scenes to it by default. "
        "Overrides the checkpoint's.",
    ),
    resolution_range: str | None = typer.Option(
        None,
        "--resolution-range",
        help="LO,HI: pixel spacings (m) the model works at, e.g. 30,120; predict warns outside it. "
        "Overrides the checkpoint's.",
    ),
    sensors: str | None = typer.Option(
        None,
        "--sensors",
        help="What the model is for, shown by info and models, e.g. 'optical: Landsat 5-9'.",
    ),
    band_names: str | None = typer.Option(
        None,
        "--band-names",
        help="Band descriptions predict picks by itself from a multi-band scene, in order, e.g. green,B3,B03.",
    ),
) -> None:
    """Export a checkpoint to ONNX (or to an inference-only .pt) for fast inference.

    Example: glacierfront export run/best.pt -o models/cisnet.onnx --resolution-m 60 --resolution-range 30,120

    ONNX holds the segmentation path only (the change branch is training-only); batch, height and width
    are dynamic, and the model's config, classes, normalisation, tile size, training scale and the
    checkpoint's sha256 go into the metadata. With -o NAME.pt the checkpoint is copied without optimiser
    and RNG state. Given an .onnx model and -o NAME.onnx, only the metadata is rewritten (e.g. to stamp
    --resolution-m into an existing export); the graph is copied unchanged, and -o may be the model itself.
    Any other existing -o is replaced only with --overwrite.
    """
    stamp = {**scale_metadata(resolution_m, resolution_range), **usage_metadata(sensors, band_names)}
    suffix = output.suffix.lower()
    if suffix not in (".pt", ".onnx"):
        raise GlacierfrontError(f"-o {output}: write .onnx (ONNX model) or .pt (inference-only checkpoint)")
    if suffix == ".pt" and output.exists() and output.resolve() == checkpoint.resolve():
        raise GlacierfrontError(
            f"-o {output}: is the checkpoint being exported; an inference-only copy would replace it and lose its "
            "training state: choose another output"
        )
    in_place = output.exists() and output.resolve() == checkpoint.resolve()
    if output.exists() and not overwrite and not in_place:
        raise GlacierfrontError(f"-o {output}: exists; pass --overwrite to replace it")
    check_opset(opset)
    if model_kind(checkpoint) == "onnx":
        if suffix != ".onnx":
            raise GlacierfrontError(
                f"{checkpoint}: an ONNX model can only be re-stamped to another .onnx; export the .pt checkpoint"
            )
        path = restamp_onnx(checkpoint, output, stamp)
    elif suffix == ".pt":
        path = export_checkpoint(checkpoint, output, stamp)
    else:
        path = export_onnx(checkpoint, output, opset=opset, stamp=stamp)
    typer.echo(str(path))

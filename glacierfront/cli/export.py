"""`glacierfront export`: a checkpoint to an ONNX model for fast inference."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierfront.errors import GlacierfrontError
from glacierfront.model.export import DEFAULT_OPSET, export_checkpoint, export_onnx


def export(
    checkpoint: Path = typer.Argument(..., help="glacierfront checkpoint (.pt) to export."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="ONNX file to write (.onnx), or .pt for an inference-only checkpoint."
    ),
    opset: int = typer.Option(DEFAULT_OPSET, help="ONNX opset version (17 or newer)."),
) -> None:
    """Export a checkpoint to ONNX (or to an inference-only .pt) for fast inference.

    Example: glacierfront export run/best.pt -o models/cisnet.onnx

    ONNX holds the segmentation path only (the change branch is training-only); batch, height and width
    are dynamic, and the model's config, classes, normalisation, tile size and the checkpoint's sha256
    go into the metadata. With -o NAME.pt the checkpoint is copied without optimiser and RNG state.
    """
    suffix = output.suffix.lower()
    if suffix == ".pt":
        path = export_checkpoint(checkpoint, output)
    elif suffix == ".onnx":
        path = export_onnx(checkpoint, output, opset=opset)
    else:
        raise GlacierfrontError(f"-o {output}: write .onnx (ONNX model) or .pt (inference-only checkpoint)")
    typer.echo(str(path))

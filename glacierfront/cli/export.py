"""`glacierfront export`: a checkpoint to an ONNX model for fast inference."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierfront.model.export import DEFAULT_OPSET, export_onnx


def export(
    checkpoint: Path = typer.Argument(..., help="glacierfront checkpoint (.pt) to export."),
    output: Path = typer.Option(..., "-o", "--output", help="ONNX file to write (.onnx)."),
    opset: int = typer.Option(DEFAULT_OPSET, help="ONNX opset version (17 or newer)."),
) -> None:
    """Export the segmentation path of a checkpoint to ONNX.

    \b
    $ glacierfront export run/best.pt -o models/cisnet.onnx
    The change branch is training-only and left out; batch, height and width are dynamic, and the
    model's config, classes, normalisation, tile size and the checkpoint's sha256 go into the metadata.
    """
    path = export_onnx(checkpoint, output, opset=opset)
    typer.echo(str(path))

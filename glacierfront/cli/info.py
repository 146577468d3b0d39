"""`glacierfront info`: what a model file holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from glacierfront.model.info import describe_model


def info(
    model: Path = typer.Argument(..., help="Model file: a checkpoint (.pt) or an ONNX export (.onnx)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a model's config, classes, normalisation, training data and checksum.

    \b
    $ glacierfront info models/cisnet-atto-caffe256.onnx
    $ glacierfront info run/best.pt --json | jq .config
    """
    facts = describe_model(model)
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    table = Table(title=str(model), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, "-" if value is None else str(value))
    Console().print(table)

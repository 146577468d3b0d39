"""`glacierfront info`: what a model file holds."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from glacierfront.cli import options as opt
from glacierfront.model.info import describe_model


def info(
    model: str = typer.Argument(
        ...,
        help="Model file (a checkpoint .pt or an ONNX export .onnx) or a shipped model's name (sar, sar-general, optical).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a model's config, classes, normalisation, training scale, training data and checksum.

    \b
    $ glacierfront info models/cisnet-atto-caffe256.onnx
    $ glacierfront info optical
    $ glacierfront info run/best.pt --json | jq .config
    """
    from glacierfront.model.backend import model_path

    facts = describe_model(model_path(model))
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    from glacierfront.predict.scale import DEFAULT_SCALE_TOLERANCE

    table = Table(title=escape(str(model)), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in facts.items():
        if key == "resolution_m" and value is None:
            value = "- (not stated: predict keeps each scene's own grid; see export --resolution-m)"
        elif key == "resolution_range_m" and value is None and facts.get("resolution_m") is not None:
            value = f"- (not stated: predict takes {DEFAULT_SCALE_TOLERANCE:g}x either way of resolution_m)"
        elif key == "resolution_range_m" and _pair(value):
            value = f"{value[0]:g}..{value[1]:g}"
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, escape("-" if value is None else str(value)))
    opt.print_table(table)


def _pair(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)

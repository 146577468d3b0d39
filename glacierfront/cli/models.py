"""`glacierfront models`: the shipped models by name, with what they are for."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from glacierfront.cli import options as opt


def models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the shipped models: the names --model takes, their sensors, pixel spacing and card.

    \b
    $ glacierfront models
    $ glacierfront predict scene.tif --model optical -o fronts.gpkg
    """
    from glacierfront.model.backend import MODELS_DIR
    from glacierfront.model.catalog import read_catalog
    from glacierfront.model.info import describe_model

    rows = []
    for entry in read_catalog(MODELS_DIR):
        facts = describe_model(entry.path) if entry.path.is_file() else {}
        rows.append(
            {
                "name": entry.name,
                "default": entry.default,
                "file": str(entry.path),
                "sensors": facts.get("sensors") or entry.sensors,
                "band_names": facts.get("band_names"),
                "resolution_m": facts.get("resolution_m"),
                "resolution_range_m": facts.get("resolution_range_m"),
                "training_data": facts.get("training_data"),
                "card": entry.card,
                "missing": not entry.path.is_file(),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=escape(f"shipped models ({MODELS_DIR})"))
    for column in ("name", "sensors", "spacing (m)", "bands picked by name", "file", "card"):
        table.add_column(column)
    for row in rows:
        spacing = "-" if row["resolution_m"] is None else f"{row['resolution_m']:g}"
        if row["resolution_range_m"]:
            low, high = row["resolution_range_m"]
            spacing += f" ({low:g}..{high:g})"
        name = row["name"] + (" (default)" if row["default"] else "")
        file = row["file"].rsplit("/", 1)[-1] + (" MISSING" if row["missing"] else "")
        cells = (name, row["sensors"], spacing, ", ".join(row["band_names"] or []) or "-", file, row["card"])
        table.add_row(*(escape(str(cell)) for cell in cells))
    opt.print_table(table)

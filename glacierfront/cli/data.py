"""`glacierfront import-fronts`: front-line data (images + drawn fronts) as CaFFe-layout training data."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import typer

from glacierfront.io.frontlines import GLACIER_SIDES, import_frontlines
from glacierfront.predict.outputs import check_writable


def import_fronts(
    source: Path = typer.Argument(..., help="Folder with images/<stem>.png and fronts/<stem>_front.png."),
    out: Path = typer.Argument(..., help="New folder to write the CaFFe-layout copy to."),
    glacier: str | None = typer.Option(
        None,
        "--glacier",
        help="Glacier name for every chip (default: from the Landsat path/row of each name).",
    ),
    glacier_side: str = typer.Option(
        "below",
        "--glacier-side",
        help=f"Where the glacier lies from the front in the chips: {', '.join(GLACIER_SIDES)}.",
    ),
) -> None:
    """Turn front-line labels into weak zone labels that train, crossval and evaluate read.

    In every column the front crosses, ocean lies on one side of it and glacier on the other; every other
    pixel is marked ignored (transparent in the zone PNG) and left out of losses and scores.

    \b
    $ glacierfront import-fronts frontlearning/ optical/
    $ glacierfront crossval --data optical/ --out runs/logo-optical --epochs 30
    """
    # Before any work: the new folder is written beside itself and renamed, so its parent must take files.
    check_writable(out.parent, f"OUT {out}: its folder", create=True)
    chips = import_frontlines(source, out, glacier, glacier_side)
    counts = Counter(chip.glacier for chip in chips)
    listed = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
    print(
        f"wrote {len(chips)} chips to {out} ({listed}); names.csv maps them to their sources", file=sys.stderr
    )

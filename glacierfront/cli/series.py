"""`glacierfront series`: terminus position change from a series of fronts (box or centre-line method)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import typer

from glacierfront.errors import GlacierfrontError
from glacierfront.io.atomic import atomic_path

OUTPUT_SUFFIXES = (".csv", ".json")


def _check_output(flag: str, path: Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    if path.suffix.lower() not in suffixes:
        raise GlacierfrontError(f"{flag} {path}: write a {' or '.join(suffixes)} file, not {path.suffix!r}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GlacierfrontError(f"{flag} {path}: folder {folder} does not exist; create it first")
    if path.is_dir():
        raise GlacierfrontError(f"{flag} {path}: a folder; give a file name")
    from glacierfront.predict.outputs import check_writable

    check_writable(folder, flag)  # a probe file: /proc, a read-only mount or a full quota fail here
    if path.exists() and not overwrite:
        raise GlacierfrontError(f"{flag} {path}: exists; pass --overwrite to replace it")


def series(
    fronts: list[Path] = typer.Argument(
        ...,
        metavar="FRONTS...",
        help="Front lines: vector files, or folders searched recursively for .gpkg/.shp/.geojson; any CRS.",
    ),
    box: Path | None = typer.Option(
        None, "--box", help="Polygon(s) drawn along the glacier, any CRS; several with a glacier_id field."
    ),
    centreline: Path | None = typer.Option(
        None,
        "--centreline",
        "--centerline",
        help="Instead of --box: line(s) along the glacier, drawn from the glacier towards the sea.",
    ),
    upstream: str | None = typer.Option(
        None,
        "--upstream",
        help="Direction from the front into the glacier: a compass point (N, ENE, ...) or a bearing in "
        "degrees. Needed for a box whose layer has no 'upstream' field.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the series here: .csv, or .json. Default: CSV on stdout."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Also write a PNG of change_m against time, one panel per glacier."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the series as JSON on stdout."),
    layer: str | None = typer.Option(
        None,
        "--layer",
        help="Layer of the front files to read (default: 'fronts' in a GeoPackage of several).",
    ),
    box_layer: str | None = typer.Option(
        None, "--box-layer", help="Layer of --box to read when it holds several."
    ),
    centreline_layer: str | None = typer.Option(
        None, "--centreline-layer", help="Layer of --centreline to read when it holds several."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace -o and --plot if they exist."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary lines on stderr."),
) -> None:
    """Terminus position change from a series of calving fronts (box method).

    Each front splits the box (Moon & Joughin 2008); the true area of the
    upstream part (on the ellipsoid, not the map) over the box width is the
    front's mean position along the box. change_m is measured from each
    glacier's first date whose front crosses the box (quality ok);
    positive = advance. A front's date is its 'date' field, else the
    YYYYMMDD or YYYY-MM-DD in its file name. Quality: ok; partial (gaps,
    or a cut across a narrow part: an estimate); fragment or miss (no
    position). Fronts of different files are never joined: rows sharing a
    date get note duplicate_date. A box with holes is refused. Fronts
    must run past the box's sides (predict them with a larger --aoi than
    the box): one clipped at its edge is partial. See docs/series.md.

    \b
    $ glacierfront series fronts/ --box box.gpkg --upstream E -o s.csv
    $ glacierfront series fronts/ --box box.gpkg -o s.json --plot s.png
    $ glacierfront series calfin/Jakobshavn.shp --box boxes.gpkg --json
    $ glacierfront series fronts/ --centreline flowline.gpkg -o series.csv

    Without -o the CSV goes to stdout; --json prints JSON there instead
    (also with -o). Summary lines go to stderr. A box layer may hold one
    box per glacier (glacier_id and upstream fields): fronts are matched by
    their glacier_id field, else to the boxes they meet.
    """
    from glacierfront.series import (
        box_series,
        centreline_series,
        check_box,
        parse_upstream,
        read_boxes,
        read_centrelines,
        read_fronts,
        to_csv,
        to_json,
    )
    from glacierfront.series.plot import check_matplotlib, render
    from glacierfront.series.read import find_front_files

    # Everything a user can get wrong is checked before any work.
    if (box is None) == (centreline is None):
        raise GlacierfrontError("give either --box (a polygon along the glacier) or --centreline (a line)")
    parse_upstream(upstream)
    reference = box if box is not None else centreline
    flag = "--box" if box is not None else "--centreline"
    inputs = {os.path.realpath(p): p for p in [*fronts, reference]}
    for name, path in (("-o", output), ("--plot", plot)):
        if path is not None and os.path.realpath(path) in inputs:
            raise GlacierfrontError(
                f"{name} {path}: is one of this command's inputs ({inputs[os.path.realpath(path)]}); "
                "writing it would destroy it: choose another output"
            )
    if output is not None:
        _check_output("-o", output, OUTPUT_SUFFIXES, overwrite)
    if plot is not None:
        _check_output("--plot", plot, (".png",), overwrite)
        check_matplotlib()
    if not reference.is_file():
        raise GlacierfrontError(f"{flag} {reference}: no such file")
    # Folders are searched for vector files, so neither output (.csv, .json, .png) can be among them.
    files = find_front_files(fronts, exclude=[reference])

    refs = read_boxes(box, box_layer) if box is not None else read_centrelines(centreline, centreline_layer)
    if box is not None:
        for ref in refs:
            check_box(ref)  # a box with holes is refused before the fronts are read
    found = read_fronts(files, layer=layer)
    say = None if quiet else (lambda text: print(text, file=sys.stderr))
    if say:
        say(f"read {len(found)} fronts from {len(files)} files")
    measure = box_series if box is not None else centreline_series
    result = measure(found, refs, upstream=upstream, report=say)

    # Both files are written beside their targets and moved into place only when both are complete.
    with contextlib.ExitStack() as stack:
        if output is not None:
            tmp = stack.enter_context(atomic_path(output))
            text = to_json(result) if output.suffix.lower() == ".json" else to_csv(result)
            tmp.write_text(text, encoding="utf-8")
        if plot is not None:
            tmp = stack.enter_context(atomic_path(plot, suffix=".png"))
            render(result).savefig(tmp, format="png")
    if as_json:
        sys.stdout.write(to_json(result))
    elif output is None:
        sys.stdout.write(to_csv(result))
    if say:
        wrote = [str(p) for p in (output, plot) if p is not None]
        if wrote:
            say(f"wrote {' and '.join(wrote)} ({len(result.rows)} rows)")

"""`glacierfront review`: accept, reject or redraw a run's fronts in the browser."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from glacierfront.errors import GlacierfrontError


def _reviewer(value: str | None) -> str:
    if value is not None:
        if not value.strip() or any(ch in value for ch in "\r\n"):
            raise GlacierfrontError("--reviewer: give a name on one line")
        return value.strip()
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return "unknown"


def review(
    run: Path = typer.Argument(
        ...,
        metavar="RUN",
        help="A predict output folder with its manifest.csv, or front lines (a file or folder) with --scenes.",
    ),
    scenes: list[Path] | None = typer.Option(
        None,
        "--scenes",
        help="The scenes (GeoTIFF) of RUN's lines; repeat the option, or give a list after it.",
    ),
    more_scenes: list[Path] | None = typer.Argument(None, metavar="[SCENES]...", hidden=True),
    box: Path | None = typer.Option(
        None,
        "--box",
        "--aoi",
        help="The glacier's box or AOI polygon: drawn on the scenes; the series uses it.",
    ),
    upstream: str | None = typer.Option(
        None,
        "--upstream",
        help="Direction from the front into the glacier (N, ENE, 95 ...) for a box without it.",
    ),
    box_layer: str | None = typer.Option(None, "--box-layer", help="Layer of --box to read."),
    reference: Path | None = typer.Option(
        None, "--ref", help="Reference front lines to draw too, matched to scenes by a scene field or date."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for review.gpkg and review.csv. Default: RUN (or the folder of a RUN file).",
    ),
    layer: str | None = typer.Option(None, "--layer", help="Layer of RUN's files to read (default: fronts)."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="Name written with each verdict (default: you)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on. Anything but 127.0.0.1 lets other machines in."
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port to listen on (default: a free one)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
) -> None:
    """Review a run's fronts in the browser: accept, reject or redraw each; verdicts go to RUN/review.gpkg.

    \b
    $ glacierfront predict scenes/*.tif -o run/ --manifest run/manifest.csv --aoi box.gpkg
    $ glacierfront review run/ --box box.gpkg
    review: http://127.0.0.1:53117/  (Ctrl-C to stop)
    $ glacierfront series run/review.gpkg --box box.gpkg -o series.csv
    $ glacierfront finetune --scenes scenes/*.tif --fronts run/review.gpkg --aoi box.gpkg -o my.onnx

    \b
    Keys: j/k next/previous, a accept, r reject, e edit the line, d draw a new one, Enter save, Esc cancel,
    u undo. Every verdict is written at once, atomically, to review.gpkg (accepted and redrawn lines, with
    predict's fields plus verdict, reviewed_at, reviewer) and review.csv (every verdict); a restart resumes.
    The server listens on 127.0.0.1 only, unless --host says otherwise. See docs/review.md.
    """
    from glacierfront.review.run import open_run
    from glacierfront.review.server import ReviewServer
    from glacierfront.review.session import Extras, ReviewSession

    name = _reviewer(reviewer)
    given = [*(scenes or []), *(more_scenes or [])]
    if out is not None and not out.is_dir():
        raise GlacierfrontError(f"--out {out}: not a folder; create it first")
    if run.is_file() and not given:
        raise GlacierfrontError(f"{run}: a line file; give its scenes: review {run} --scenes SCENE.tif ...")
    for path, flag in ((box, "--box"), (reference, "--ref")):
        if path is not None and not path.exists():
            raise GlacierfrontError(f"{flag} {path}: no such file")
    found = open_run(run, given, out, layer)
    from glacierfront.predict.outputs import check_writable

    check_writable(found.folder, "review.gpkg in")
    session = ReviewSession(found, name, Extras(box, box_layer, upstream, reference))
    try:
        server = ReviewServer(session, host, port)
    except OSError as err:
        raise GlacierfrontError(f"--port {port}: cannot listen on {host}:{port} ({err.strerror})") from None
    counts = session.store.counts()
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"{len(found.scenes)} scenes; {sum(counts.values())} reviewed already ({counts['accepted']} accepted, "
        f"{counts['rejected']} rejected, {counts['redrawn']} redrawn); verdicts go to {session.store.csv_path} "
        f"and {session.store.gpkg_path}")  # fmt: skip
    for note in found.notes:
        say(f"note: {note}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"WARNING: listening on {host}: anyone who can reach this machine can read these scenes and "
            "change the verdicts; there is no login. Use the default 127.0.0.1 unless you mean it.")  # fmt: skip
    print(f"review: {server.url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    say(f"review stopped; verdicts in {session.store.csv_path}")

"""The `glacierfront` command line: a thin layer of Typer commands over the library."""

from __future__ import annotations

import signal
import sys

import typer

from glacierfront import __version__
from glacierfront.cli import crossval as crossval_cmd
from glacierfront.cli import data as data_cmd
from glacierfront.cli import evaluate as evaluate_cmd
from glacierfront.cli import export as export_cmd
from glacierfront.cli import finetune as finetune_cmd
from glacierfront.cli import info as info_cmd
from glacierfront.cli import models as models_cmd
from glacierfront.cli import predict as predict_cmd
from glacierfront.cli import review as review_cmd
from glacierfront.cli import series as series_cmd
from glacierfront.cli import train as train_cmd
from glacierfront.errors import GlacierfrontError, StoppedBySignal

app = typer.Typer(
    name="glacierfront",
    help="Extract glacier calving fronts from satellite scenes with CISNet.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help and usage errors as plain click text: rich markup would read 'glacierfront[dask]' as a tag and drop
    # it, and rich's boxes wrap at 80 columns in a pipe or a log.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"glacierfront {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Extract glacier calving fronts from satellite scenes with CISNet."""


def _command(name: str, function) -> None:
    # The docstring's first line whole in `glacierfront --help` (click alone cuts it to fit one line).
    first = (function.__doc__ or "").strip().splitlines()[0]
    app.command(name, short_help=first)(function)


_command("predict", predict_cmd.predict)
_command("train", train_cmd.train)
_command("export", export_cmd.export)
_command("info", info_cmd.info)
_command("models", models_cmd.models)
_command("evaluate", evaluate_cmd.evaluate)
_command("crossval", crossval_cmd.crossval)
_command("finetune", finetune_cmd.finetune)
_command("import-fronts", data_cmd.import_fronts)
_command("series", series_cmd.series)
_command("review", review_cmd.review)


_STATE = {"terminated": False}


def _on_sigterm(signum, frame) -> None:
    """SIGTERM (kill, timeout, SLURM, docker stop) is raised as Ctrl-C, so the same clean-up runs. Click turns
    the interrupt into its own exit; the flag tells main it was SIGTERM."""
    _STATE["terminated"] = True
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors become one line on stderr and exit code 1, never a traceback.

    Ctrl-C exits 130 and SIGTERM 143, both after the clean-up of an interrupted run (temporary outputs and
    scratch files removed; training saves last.pt first, with its own handler).
    """
    _STATE["terminated"] = False
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): leave its signals alone
        return _main(argv)
    try:
        code = _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if _STATE["terminated"] and code != 0:
        print("glacierfront: terminated (SIGTERM); partial outputs removed", file=sys.stderr)
        return 143
    return code


def _main(argv: list[str] | None) -> int:
    try:
        # Standalone mode lets click report usage errors its own way (exit 2) and raise SystemExit.
        app(args=argv, prog_name="glacierfront", standalone_mode=True)
    except SystemExit as done:
        code = done.code
        code = code if isinstance(code, int) else (0 if code is None else 1)
        if code == 130 and not _STATE["terminated"]:  # Typer turns Ctrl-C into exit 130, silently
            print("glacierfront: interrupted; partial outputs removed", file=sys.stderr)
        return code
    except StoppedBySignal as err:  # training stopped cleanly and said where its state is
        print(f"glacierfront: {err}", file=sys.stderr)
        return 128 + err.signum
    except GlacierfrontError as err:
        print(f"glacierfront: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if not _STATE["terminated"]:
            print("glacierfront: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not a user error: still one line, with where to report it
        print(
            f"glacierfront: internal error: {type(err).__name__}: {err} (please report this)", file=sys.stderr
        )
        return 3
    return 0

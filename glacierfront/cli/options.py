"""Options shared by several commands, so the same flag means the same thing everywhere."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from glacierfront.errors import GlacierfrontError

# Where output is not a terminal (a pipe, a file, a log) it is written as rio and GDAL write it: plain lines
# that are never wrapped or cut. Rich needs a width all the same; this one no line reaches.
PLAIN_WIDTH = 100_000

MODEL = typer.Option(
    None,
    "--model",
    "-m",
    help="Model file (.onnx or .pt) or a shipped model's name: sar, sar-general, optical (glacierfront models). "
    "Default: sar.",
)
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
BATCH_SIZE = typer.Option(None, "--batch-size", min=1, help="Tiles per model call. Default: about 1 Mpx.")
TILE = typer.Option(
    None,
    "--tile",
    help="Largest tile in px (multiple of 32); shrinks to fit the scene. Default: the model's.",
)
OVERLAP = typer.Option(None, "--overlap", help="Tile overlap in px. Default: an eighth of the tile.")
# rio's convention: an output that exists is replaced only when asked (checked before any work).
OVERWRITE = typer.Option(
    False, "--overwrite", help="Replace outputs that exist; without it they are refused."
)
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or summary.")
TTA = typer.Option(
    False,
    "--tta",
    help="Test-time augmentation: average each tile's probabilities over its 8 flips and rotations "
    "(8x the model time).",
)

# train's recipe defaults: together they helped on held-out glaciers (docs/robustness.md); crossval and
# finetune default to off, so a comparison or a fine-tune switches each one on by name.
DEFAULT_EMA = "0.998"
DEFAULT_SCALE_AUG = "0.5,2"


def scale_aug_option(default: str) -> typer.models.OptionInfo:
    """--scale-aug LO,HI or off: random zoom, so the model sees other pixel spacings."""
    text = "Random zoom range LO,HI (crops when enlarged, no-data padding when shrunk); 'off' for none."
    return typer.Option(default, "--scale-aug", help=text)


def intensity_aug_option(default: bool) -> typer.models.OptionInfo:
    """--intensity-aug/--no-intensity-aug: random changes of the input values."""
    text = "Gamma, dB-like curve, blur and 1..16-look speckle."
    return typer.Option(default, "--intensity-aug/--no-intensity-aug", help=text)


def view_aug_option(default: bool) -> typer.models.OptionInfo:
    """--view-aug/--no-view-aug: partial views of the training chips."""
    text = "Partial views: half the patches keep only a random 35-100 % window, the rest no data."
    return typer.Option(default, "--view-aug/--no-view-aug", help=text)


def per_image_norm_option(default: bool) -> typer.models.OptionInfo:
    """--per-image-norm/--no-per-image-norm: every image stretched by its own valid pixels."""
    text = (
        "Stretch every training image by its own valid pixels' 0.5-99.5 percentiles; the model says so in its "
        "metadata and predict then stretches every scene, 8-bit ones too."
    )
    return typer.Option(default, "--per-image-norm/--no-per-image-norm", help=text)


def ema_option(default: str) -> typer.models.OptionInfo:
    """--ema DECAY or off: a moving average of the weights is what training validates and saves."""
    text = (
        "Keep a moving average of the weights (decay per step; 0.998: about 500 steps), validate and save it."
    )
    return typer.Option(default, "--ema", help=text + " 'off' for none.")


def _check_ocean_rule(value: str | None) -> str | None:
    from glacierfront.predict.fronts import check_ocean_rule

    return None if value is None else check_ocean_rule(value)


def ocean_rule_option(default: str | None = "largest", shown: str = "largest") -> typer.models.OptionInfo:
    """--ocean-rule, checked as it is parsed (before a model is loaded). ``default`` None lets a command
    tell an unset flag from a set one; ``shown`` is the default the help names."""
    return typer.Option(
        default,
        "--ocean-rule",
        callback=_check_ocean_rule,
        help="Which ocean pieces stay ocean: largest (CaFFe: the largest 8-connected piece) or edge "
        "(every piece that reaches the scene's border, nodata or the NA class; the largest if none does). "
        f"Default: {shown}.",
    )


OCEAN_RULE = ocean_rule_option()


def parse_names(value: str | None) -> list[str] | None:
    """'SI, Crane' -> ['SI', 'Crane']; None or empty -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_scale_aug(value: str | None) -> list[float] | None:
    """--scale-aug 'LO,HI' -> [LO, HI]; 'off' (or None) -> None. TrainConfig checks the numbers."""
    if value is None or value.strip().lower() == "off":
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise GlacierfrontError(f"--scale-aug {value!r}: write two numbers LO,HI, e.g. 0.5,2") from None


def parse_ema(value: str | None) -> float | None:
    """--ema '0.998' -> 0.998; 'off' (or None) -> None. TrainConfig checks the range."""
    if value is None or value.strip().lower() == "off":
        return None
    try:
        return float(value)
    except ValueError:
        raise GlacierfrontError(f"--ema {value!r}: give a decay such as 0.998, or off") from None


def parse_bands(value: str | None) -> tuple[int, ...] | None:
    """'1,2,3' -> (1, 2, 3)."""
    if value is None:
        return None
    try:
        bands = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise GlacierfrontError(
            f"--bands {value!r}: give band numbers separated by commas, e.g. 1,2,3"
        ) from None
    if not bands:
        raise GlacierfrontError("--bands is empty: give band numbers, e.g. 1,2,3")
    return bands


def model_path(value: str | Path | None) -> Path:
    from glacierfront.model.backend import model_path as resolve

    return resolve(value)


def data_value(folders: list[Path]) -> str | list[str]:
    """Repeated --data: one folder as a string (as older configs hold it), several as a list."""
    return str(folders[0]) if len(folders) == 1 else [str(f) for f in folders]


def console(quiet: bool = False, *, stderr: bool = True) -> Console:
    """The Console a command talks through: stderr (notes, summaries, progress) or stdout (tables).

    On a terminal it is rich's own. Anywhere else every line is written whole: no wrapping at 80 columns,
    nothing cut, no colour or highlighting, so a log holds one line per record and grep finds it.
    """
    if Console(stderr=stderr).is_terminal:
        return Console(stderr=stderr, quiet=quiet)
    return Console(
        stderr=stderr, quiet=quiet, soft_wrap=True, width=PLAIN_WIDTH, no_color=True, highlight=False
    )


def print_table(table: Table, out: Console | None = None) -> None:
    """A rich Table on ``out`` (default: stdout): drawn as a table on a terminal, else as plain text for a
    pipeline: '# title', the header row (when shown), one tab-separated row per record and '# caption',
    every cell in full and on one line."""
    out = out or console(stderr=False)
    if out.is_terminal:
        out.print(table)
        return
    lines = []
    if table.title:
        lines.append(f"# {_plain(table.title)}")
    columns = table.columns
    if table.show_header:
        lines.append("\t".join(_plain(c.header) for c in columns))
    for row in zip(*(list(c.cells) for c in columns)):
        lines.append("\t".join(_plain(cell) for cell in row))
    if table.caption:
        lines.append(f"# {_plain(table.caption)}")
    out.file.write("".join(f"{line}\n" for line in lines))
    out.file.flush()


def _plain(cell) -> str:
    """A table cell as the text it shows (markup taken as rich takes it), on one line without tabs."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return " ".join(text.replace("\t", " ").splitlines())


def number_check(
    flag: str, *, example: str, unit: str = "", zero: bool = False
) -> Callable[[float | None], float | None]:
    """A callback for a float option: nan, inf, a negative number (and 0 unless ``zero``) is a one-line
    error saying what to give, before any work; None (the option not given) passes."""

    def check(value: float | None) -> float | None:
        if value is None or (math.isfinite(value) and (value > 0 or (zero and value == 0))):
            return value
        wanted = ("0 or a positive number" if zero else "a positive number") + (f" of {unit}" if unit else "")
        raise GlacierfrontError(f"{flag} {value:g}: give {wanted}, e.g. {example}")

    return check

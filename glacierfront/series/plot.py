"""A series as a PNG: terminus change against time, one panel per glacier (matplotlib, Agg backend).

matplotlib is imported here only, so the rest of the package works without it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.geo.frame import Glacier
from glacierfront.io.atomic import atomic_path
from glacierfront.series.positions import FRAGMENT, MISS, OK, PARTIAL, Row, Series

# Marker colours by season, as month groups (the legend names the months, so it reads in both hemispheres).
SEASONS = (
    ("Dec-Feb", (12, 1, 2), "#2f6db5"),
    ("Mar-May", (3, 4, 5), "#5aa05a"),
    ("Jun-Aug", (6, 7, 8), "#f2b701"),
    ("Sep-Nov", (9, 10, 11), "#8e5ea2"),
)


def check_matplotlib() -> None:
    """A one-line error when matplotlib is missing (call before any work when a plot is asked for)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise GlacierfrontError("--plot needs matplotlib: pip install matplotlib") from None


def _season_colour(date: dt.date) -> str:
    return next(colour for _, months, colour in SEASONS if date.month in months)


def render(series: Series) -> Any:
    """A matplotlib Figure of change_m against time, one panel per glacier: ok fronts as filled dots
    coloured by season and joined by a line, partial fronts (estimates) as open diamonds, fronts without a
    position (miss, fragment) as red crosses on the panel's bottom edge."""
    check_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    glaciers = [g for g in series.glaciers if any(r.glacier_id == g.glacier_id for r in series.rows)]
    fig = Figure(figsize=(8.0, 1.0 + 2.6 * max(1, len(glaciers))), dpi=110, layout="constrained")
    axes = fig.subplots(max(1, len(glaciers)), 1, sharex=True, squeeze=False)[:, 0]
    unit = "box" if series.method == "box" else "centre-line"
    for ax, glacier in zip(axes, glaciers):
        _draw_panel(ax, glacier, [r for r in series.rows if r.glacier_id == glacier.glacier_id], unit)
    axes[-1].set_xlabel("date")
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(f"Terminus position change ({unit} method)", fontsize=11)
    return fig


def _draw_panel(ax: Any, glacier: Glacier, rows: list[Row], unit: str) -> None:
    """One glacier's panel: its rows as markers by quality, with title, label and grid."""
    good = [r for r in rows if r.quality == OK and r.change_m is not None]
    partial = [r for r in rows if r.quality == PARTIAL and r.change_m is not None]
    lost = [r for r in rows if r.change_m is None]
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=1)
    if good:
        _draw_good(ax, good)
    if partial:
        ax.scatter(
            [r.date for r in partial],
            [r.change_m for r in partial],
            marker="D",
            s=30,
            facecolors="none",
            edgecolors="crimson",
            linewidths=1.2,
            zorder=4,
        )
    if lost:
        ax.scatter(
            [r.date for r in lost],
            [0.03] * len(lost),
            marker="x",
            color="red",
            s=40,
            transform=ax.get_xaxis_transform(),
            zorder=4,
            clip_on=False,
        )
    width = f", width {glacier.width_m / 1000:.2f} km" if glacier.width_m else ""
    since = f", vs {glacier.reference_date}" if glacier.reference_date else ""
    ax.set_title(f"{glacier.glacier_id} ({unit}{width}{since})", fontsize=10, loc="left")
    ax.set_ylabel("change (m)\n+ advance, - retreat", fontsize=9)
    ax.grid(True, color="0.9", lw=0.6)


def _draw_good(ax: Any, good: list[Row]) -> None:
    """The ok fronts: a line through them and dots coloured by season."""
    ax.plot([r.date for r in good], [r.change_m for r in good], color="0.35", lw=1.0, zorder=2)
    ax.scatter(
        [r.date for r in good],
        [r.change_m for r in good],
        c=[_season_colour(r.date) for r in good],
        s=28,
        edgecolors="black",
        linewidths=0.4,
        zorder=3,
    )


def _legend_handles() -> list:
    """Legend entries: one dot per season, then the partial and no-position markers."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", markerfacecolor=colour, markeredgecolor="black", label=name)
        for name, _, colour in SEASONS
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="D",
            ls="",
            markerfacecolor="none",
            markeredgecolor="crimson",
            label=f"{PARTIAL}: gaps or narrow cut (estimate)",
        ),
        Line2D([], [], marker="x", ls="", color="red", label=f"{MISS} / {FRAGMENT}: no position"),
    ]
    return handles


def plot_series(series: Series, path: str | Path) -> Path:
    """Write the plot of ``series`` as a PNG at ``path``, atomically."""
    path = Path(path)
    fig = render(series)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path

"""Terminus position series from many fronts: the box method (Moon & Joughin 2008) and centre-lines.

    from glacierfront.series import read_fronts, read_boxes, box_series, write_series, plot_series

    fronts = read_fronts(["fronts/"])                  # files or folders, any CRS; dates from fields or names
    series = box_series(fronts, read_boxes("box.gpkg"), upstream="E")
    write_series(series, "series.csv")                 # or .json
    plot_series(series, "series.png")                  # needs matplotlib

Positions are in ground metres from the box's upstream end (its upstream part's area on the ellipsoid
divided by its mean width) or along a centre-line from its upstream end; ``change_m`` is measured from
each glacier's first ``ok`` date, positive = advance. Fronts of different files are never joined; rows that
share a date are flagged in their ``note``. See docs/series.md.
"""

from glacierfront.geo.equal_area import equal_area_crs, reproject, true_area_m2
from glacierfront.geo.frame import BoxFrame, Glacier, box_frame, check_box, parse_upstream
from glacierfront.geo.reference import Reference, read_boxes, read_centrelines
from glacierfront.io.acquisition import decimal_year
from glacierfront.series.output import to_csv, to_json, write_series
from glacierfront.series.plot import plot_series, render
from glacierfront.series.positions import (
    COLUMNS,
    DUPLICATE_DATE,
    FRAGMENT,
    MIN_COVERAGE,
    MISS,
    NARROW_CUT,
    OK,
    OK_COVERAGE,
    PARTIAL,
    QUALITIES,
    LineFrame,
    Row,
    Series,
    box_series,
    centreline_series,
    line_frame,
    measure_in_box,
    measure_on_line,
)
from glacierfront.series.read import (
    Front,
    find_front_files,
    parse_date,
    read_front_lines,
    read_fronts,
)

__all__ = [
    "COLUMNS",
    "DUPLICATE_DATE",
    "FRAGMENT",
    "MIN_COVERAGE",
    "MISS",
    "NARROW_CUT",
    "OK",
    "OK_COVERAGE",
    "PARTIAL",
    "QUALITIES",
    "BoxFrame",
    "Front",
    "Glacier",
    "LineFrame",
    "Reference",
    "Row",
    "Series",
    "box_frame",
    "box_series",
    "centreline_series",
    "check_box",
    "decimal_year",
    "equal_area_crs",
    "find_front_files",
    "line_frame",
    "measure_in_box",
    "measure_on_line",
    "parse_date",
    "parse_upstream",
    "plot_series",
    "read_boxes",
    "read_centrelines",
    "read_front_lines",
    "read_fronts",
    "render",
    "reproject",
    "to_csv",
    "to_json",
    "true_area_m2",
    "write_series",
]

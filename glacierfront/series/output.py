"""A series as CSV or JSON text, and written atomically (the file appears only when complete)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from glacierfront.io.atomic import atomic_path
from glacierfront.series.positions import COLUMNS, Series


def to_csv(series: Series) -> str:
    """The rows as CSV text: a header of ``COLUMNS``, empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in series.rows:
        writer.writerow({k: "" if v is None else v for k, v in row.as_dict().items()})
    return buffer.getvalue()


def to_json(series: Series) -> str:
    """The series as JSON: method, sign convention, each glacier's reference, the rows (null for missing
    values) and notes."""
    return json.dumps(series.as_dict(), indent=2) + "\n"


def write_series(series: Series, path: str | Path) -> Path:
    """Write ``series`` to ``path``: JSON for a .json name, else CSV; atomically."""
    path = Path(path)
    text = to_json(series) if path.suffix.lower() == ".json" else to_csv(series)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

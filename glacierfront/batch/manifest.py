"""The batch manifest: a CSV log with one row per scene and run, appended as each scene finishes.

Columns: scene (the path or GDAL URL as run), status (ok, no_front, failed, skipped), lines (front lines
found), seconds (on the worker), worker (who ran it), error (one line, failed scenes only). A file is never
rewritten, only appended to, so the rows of an interrupted run stay; a scene's state is its last row other
than ``skipped`` (a skipped row only says that a later run found it done). The one exception: a row cut off
by a writer that was killed mid-row is dropped when the next run opens the file, so that run's first row
starts on a line of its own and every row is whole again for any CSV reader.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

from glacierfront.errors import GlacierfrontError

if TYPE_CHECKING:
    from glacierfront.batch.job import SceneOutcome
    from glacierfront.batch.sources import SceneSource
    from glacierfront.predict.outputs import OutputPlan

FIELDS = ("scene", "status", "lines", "seconds", "worker", "error")
STATUSES = ("ok", "no_front", "failed", "skipped")
DONE = ("ok", "no_front")
DEFAULT_NAME = "manifest.csv"


def read_states(path: Path) -> dict[str, str]:
    """scene -> its last status other than ``skipped``; empty if the file does not exist. Rows that are not
    whole (a run killed mid-write) are ignored."""
    path = Path(path)
    if not path.is_file():
        return {}
    states: dict[str, str] = {}
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return {}
        _check_header(path, header)
        for row in reader:
            if len(row) != len(FIELDS) or row[1] not in STATUSES:
                continue
            if row[1] != "skipped":
                states[row[0]] = row[1]
    return states


def _check_header(path: Path, header: list[str]) -> None:
    if tuple(header) != FIELDS:
        raise GlacierfrontError(
            f"--manifest {path}: not a glacierfront manifest (its columns are not {','.join(FIELDS)}); "
            "give another file"
        )


def outputs_of(plan: OutputPlan, stem: str) -> list[Path]:
    """The files a scene's run writes in folder mode."""
    return [
        p for p in (plan.vector_for(stem), plan.zones_for(stem), plan.quicklook_for(stem)) if p is not None
    ]


def done_sources(sources: list[SceneSource], plan: OutputPlan, manifest: Path) -> set[str]:
    """--skip-existing: the scenes (uris) whose last manifest row says ok or no_front and whose outputs all
    exist. Anything else runs again."""
    states = read_states(manifest)
    return {
        s.uri
        for s in sources
        if states.get(s.uri) in DONE and all(p.exists() for p in outputs_of(plan, s.stem))
    }


def _whole_rows_end(data: bytes) -> int:
    """The offset just past the last whole row of CSV text: its last newline outside a quoted field.

    Our writer quotes minimally and doubles quotes inside a field, so a newline is outside quotes exactly
    when the quotes before it are even in number."""
    if data.endswith(b"\n") and data.count(b'"') % 2 == 0:
        return len(data)
    end = start = quotes = 0
    while (newline := data.find(b"\n", start)) >= 0:
        quotes += data.count(b'"', start, newline)
        if quotes % 2 == 0:
            end = newline + 1
        start = newline + 1
    return end


def _drop_cut_row(path: Path) -> None:
    """Cut a manifest back to its last whole row (its writer was killed mid-row), after checking that it is a
    manifest; a header cut short is dropped too. A file that is not a manifest is refused, never touched."""
    with open(path, "rb") as fh:
        data = fh.read()
    end = _whole_rows_end(data)
    if end == len(data):
        return
    if end > 0 or not (",".join(FIELDS) + "\n").encode().startswith(data):
        first = data.split(b"\n", 1)[0].decode(errors="replace")
        _check_header(path, next(csv.reader([first]), []))
    try:
        os.truncate(path, end)
    except OSError as err:
        raise GlacierfrontError(f"--manifest {path}: cannot write it ({err.strerror})") from None


class ManifestWriter:
    """Appends rows, one per finished scene, each flushed to disk at once; the caller is the only writer.

    A row left cut short by a killed writer is dropped first (see ``_drop_cut_row``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise GlacierfrontError(f"--manifest {path}: a folder; give a .csv file")
        if self.path.is_file() and self.path.stat().st_size > 0:
            _drop_cut_row(self.path)
        if self.path.is_file() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as fh:
                _check_header(self.path, next(csv.reader(fh), []))
        try:
            self._fh = open(self.path, "a", newline="")  # noqa: SIM115  # open for the run, closed by close()
        except OSError as err:
            raise GlacierfrontError(f"--manifest {path}: cannot write it ({err.strerror})") from None
        self._csv = csv.writer(self._fh, lineterminator="\n")
        if self._fh.tell() == 0:
            self._csv.writerow(FIELDS)
            self._flush()

    def write(self, outcome: SceneOutcome) -> None:
        seconds = "" if outcome.status == "skipped" else f"{outcome.seconds:.2f}"
        lines = "" if outcome.status in ("skipped", "failed") else str(outcome.lines)
        error = " ".join(outcome.error.split())
        self._csv.writerow((outcome.source, outcome.status, lines, seconds, outcome.worker, error))
        self._flush()

    def _flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Verdicts are data: RUN/review.csv and RUN/review.gpkg, both rewritten at once on every change.

``review.csv`` is the record: one row per scene ever judged, its latest state (``verdict`` accepted,
rejected, redrawn, or empty once undone), ``reviewed_at`` (UTC), ``reviewer``, ``revision`` (how many times
that scene's verdict changed) and, for a redrawn front, its line as WKT in ``crs`` (the scene's CRS).
``review.gpkg`` (layer ``fronts``) holds the lines a series or a fine-tune should use: the accepted fronts as
predict wrote them and the redrawn ones, with predict's fields plus ``verdict``, ``reviewed_at`` and
``reviewer``, in the CRS of the run's lines (a redrawn line in another scene CRS is carried there; the CSV
keeps it as drawn).

Every change writes both files beside their targets and renames them into place, the GeoPackage first, so a
process killed at any moment leaves each file whole: the previous version or the new one. The CSV is what a
restart reads; the GeoPackage is rebuilt from it then, which also heals a kill between the two renames.
A change names the revision of the verdict it replaces; when another tab changed that scene in between, the
change still wins (last writer wins per scene) and the answer carries a warning naming what it replaced.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely

from glacierfront.errors import GlacierfrontError
from glacierfront.geodesy import ground_lengths_m
from glacierfront.io.atomic import atomic_path
from glacierfront.io.crs import as_crs, reproject
from glacierfront.io.vector_files import write_lines
from glacierfront.predict.schema import LINE_SCHEMA
from glacierfront.review.run import REVIEW_STEM, ReviewRun, SceneEntry, scene_lines

VERDICTS = ("accepted", "rejected", "redrawn")
KEPT = ("accepted", "redrawn")  # the verdicts whose lines go to review.gpkg
CSV_FIELDS = ("scene", "verdict", "reviewed_at", "reviewer", "revision", "crs", "geometry_wkt")
REVIEW_SCHEMA = {**LINE_SCHEMA, "verdict": "str", "reviewed_at": "str", "reviewer": "str"}


@dataclass
class Verdict:
    scene: str
    verdict: str  # one of VERDICTS, or "" (undone)
    reviewed_at: str
    reviewer: str
    revision: int
    crs: str | None = None  # of ``geometry``
    geometry: Any | None = None  # the redrawn line, in its scene's CRS

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reviewed_at": self.reviewed_at, "reviewer": self.reviewer,
                "revision": self.revision}  # fmt: skip

    def row(self) -> tuple[str, ...]:
        wkt = "" if self.geometry is None else shapely.to_wkt(self.geometry, rounding_precision=-1)
        return (
            self.scene,
            self.verdict,
            self.reviewed_at,
            self.reviewer,
            str(self.revision),
            self.crs or "",
            wkt,
        )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read_verdicts(path) -> dict[str, Verdict]:
    """scene -> its verdict, from a review.csv (empty when there is none)."""
    if not path.is_file():
        return {}
    found: dict[str, Verdict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        if tuple(next(reader, ())) != CSV_FIELDS:
            raise GlacierfrontError(f"{path}: not a glacierfront review file (its columns are not "
                                    f"{','.join(CSV_FIELDS)}); move it away or give another --out")  # fmt: skip
        for number, row in enumerate(reader, start=2):
            if len(row) != len(CSV_FIELDS) or row[1] not in ("", *VERDICTS):
                raise GlacierfrontError(f"{path}: line {number} is not a verdict row; fix or remove it")
            geometry = shapely.from_wkt(row[6]) if row[6] else None
            found[row[0]] = Verdict(
                row[0], row[1], row[2], row[3], int(row[4] or 0), row[5] or None, geometry
            )
    return found


class VerdictStore:
    """The verdicts of one run, in memory and on disk; ``set`` returns once both files are written."""

    def __init__(self, run: ReviewRun, reviewer: str, lines: Callable[[SceneEntry], tuple] = scene_lines):
        """``lines``: how a scene's predicted lines are read (``ReviewSession`` passes its cache)."""
        self.run = run
        self._read_lines = lines
        self.reviewer = reviewer
        self.csv_path = run.folder / f"{REVIEW_STEM}.csv"
        self.gpkg_path = run.folder / f"{REVIEW_STEM}.gpkg"
        self._lock = threading.Lock()
        self._hold = _hold_folder(run.folder)
        _remove_stale_temporaries(run.folder)
        self._entries = run.by_name()
        self.verdicts = read_verdicts(self.csv_path)
        self._lines: dict[str, list[tuple[Any, dict[str, Any]]]] = {}  # review.gpkg's records per scene
        for name, verdict in self.verdicts.items():
            self._lines[name] = self._records(verdict)
        if self.verdicts:
            self._write_gpkg()

    def get(self, name: str) -> Verdict | None:
        return self.verdicts.get(name)

    def counts(self) -> dict[str, int]:
        kinds = [v.verdict for v in self.verdicts.values()]
        return {k: kinds.count(k) for k in VERDICTS}

    def set(self, name: str, verdict: str, seen_revision: int | None = None, geometry: Any | None = None,
            crs: Any | None = None) -> tuple[Verdict, str | None]:  # fmt: skip
        """Record ``verdict`` ("" undoes) for scene ``name``; a redrawn one with its ``geometry`` in
        ``crs``. Returns the new verdict and a warning when it replaced a change made since
        ``seen_revision`` (another tab)."""
        if name not in self._entries:
            raise GlacierfrontError(f"no scene {name!r} in this run")
        if verdict not in ("", *VERDICTS):
            raise GlacierfrontError(f"verdict {verdict!r}: give one of {', '.join(VERDICTS)}")
        if verdict == "redrawn" and (geometry is None or geometry.is_empty):
            raise GlacierfrontError("a redrawn front needs its line")
        with self._lock:
            old = self.verdicts.get(name)
            current = old.revision if old else 0
            warning = None
            if seen_revision is not None and seen_revision != current and old is not None:
                warning = (f"{name}: its verdict was changed meanwhile (to {old.verdict or 'none'} by "
                           f"{old.reviewer} at {old.reviewed_at}, maybe in another tab); yours replaced it")  # fmt: skip
            kept = geometry if verdict == "redrawn" else None
            new = Verdict(
                name, verdict, _now(), self.reviewer, current + 1, _crs_text(crs) if kept else None, kept
            )
            lines = dict(self._lines)
            lines[name] = self._records(new)
            verdicts = {**self.verdicts, name: new}
            self._write(verdicts, lines)
            self.verdicts, self._lines = verdicts, lines
            return new, warning

    def _records(self, verdict: Verdict) -> list[tuple[Any, dict[str, Any]]]:
        """The review.gpkg records of one verdict, in the run's CRS."""
        if verdict.verdict not in KEPT:
            return []
        entry = self._entries.get(verdict.scene)
        stamp = {"verdict": verdict.verdict, "reviewed_at": verdict.reviewed_at, "reviewer": verdict.reviewer}
        predicted, crs = self._read_lines(entry) if entry is not None else ([], None)
        if verdict.verdict == "accepted":
            moved = reproject([g for g, _ in predicted], crs, self.run.crs) if predicted else []
            return [(g, {**_fields(props), **stamp}) for g, (_, props) in zip(moved, predicted)]
        base = _fields(predicted[0][1]) if predicted else _scene_fields(entry, verdict.scene)
        (line,) = reproject([verdict.geometry], verdict.crs, self.run.crs)
        length = sum(ground_lengths_m([verdict.geometry], as_crs(verdict.crs)))
        props = {**base, "quality": "redrawn", "confidence": None, "length_m": round(length, 2), **stamp}
        return [(line, props)]

    def _write(self, verdicts: dict[str, Verdict], lines: dict[str, list]) -> None:
        self._write_gpkg(lines)
        with atomic_path(self.csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(CSV_FIELDS)
            writer.writerows(v.row() for v in verdicts.values())
            fh.flush()
            _fsync(fh)

    def _write_gpkg(self, lines: dict[str, list] | None = None) -> None:
        lines = self._lines if lines is None else lines
        records = [rec for name in sorted(lines) for rec in lines[name]]
        write_lines(self.gpkg_path, records, self.run.crs, REVIEW_SCHEMA, "fronts", replace=True)


def _hold_folder(folder: Path):
    """Hold RUN/.review.lock while this process reviews the run, so that a second ``review`` of it (another
    process; tabs of one server are fine) is refused instead of writing over the first one's verdicts."""
    try:
        handle = open(folder / f".{REVIEW_STEM}.lock", "a+")  # noqa: SIM115  # held for the process
    except OSError as err:
        raise GlacierfrontError(f"{folder}: cannot write the review files there ({err.strerror})") from None
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise GlacierfrontError(
            f"{folder}: another glacierfront review is running on this run; use its page (open it in more tabs) "
            "or stop it first"
        ) from None
    return handle


def _remove_stale_temporaries(folder: Path) -> None:
    """What a review process killed mid-save left: its half-written review files beside the real ones."""
    for path in folder.glob(f".{REVIEW_STEM}.*"):
        if path.name == f".{REVIEW_STEM}.lock":
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _crs_text(crs: Any) -> str:
    """A CRS as its authority code where it has one (EPSG:3413), else as WKT."""
    parsed = as_crs(crs)
    code = parsed.to_epsg()
    return f"EPSG:{code}" if code else parsed.to_wkt()


def _fsync(fh) -> None:
    os.fsync(fh.fileno())


def _fields(props: dict[str, Any]) -> dict[str, Any]:
    return {k: props.get(k) for k in LINE_SCHEMA}


def _scene_fields(entry: SceneEntry | None, name: str) -> dict[str, Any]:
    """predict's fields for a scene predict found no line in (a front drawn from scratch)."""
    from glacierfront.io.acquisition import acquisition, decimal_year

    fields = dict.fromkeys(LINE_SCHEMA)
    when = acquisition(name)
    date = entry.date if entry is not None and entry.date else when["date"]
    fields.update(
        scene=name, image_id=name, date=date, sensor=(entry.sensor if entry else None) or when["sensor"]
    )
    fields["dec_year"] = decimal_year(date)
    return fields

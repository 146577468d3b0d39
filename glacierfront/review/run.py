"""What a review looks at: the scenes of a predict run, each with its front lines and its GeoTIFF.

A run is a predict output folder (one line file per scene, ``manifest.csv`` naming the scenes as they were
run), or a line file or folder of any origin with the scenes given (``FRONTS --scenes SCENES``). Lines are
matched to scenes by their ``scene`` field, else by the name of the file that holds them. Only what the
scene list shows is kept in memory (date, sensor, quality, confidence, length); lines are read again from
their file when a scene is opened, so the server's memory does not grow with the run's lines.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiona
from shapely.geometry import shape

from glacierfront.batch.manifest import DEFAULT_NAME as MANIFEST_NAME
from glacierfront.batch.manifest import FIELDS as MANIFEST_FIELDS
from glacierfront.batch.sources import scene_source
from glacierfront.errors import GlacierfrontError, first_line
from glacierfront.io.acquisition import acquisition
from glacierfront.io.fields import SCENE_FIELDS, field_value
from glacierfront.io.vector_files import DRIVERS, feature_properties

REVIEW_STEM = "review"  # RUN/review.gpkg and RUN/review.csv: the verdicts (review.verdicts)
TAKEN_FILES = {f"{REVIEW_STEM}.gpkg", f"{REVIEW_STEM}.csv", MANIFEST_NAME}


@dataclass
class SceneEntry:
    """One scene of the run: where its lines and its image are, and what the scene list shows."""

    index: int
    name: str  # the scene's file name without suffix, as predict's `scene` field
    image: Path | None  # its GeoTIFF, when found
    lines_file: Path | None  # the vector file holding its lines
    layer: str | None
    fids: list[Any] = field(default_factory=list)  # its features in lines_file
    date: str | None = None
    sensor: str | None = None
    quality: str | None = None
    confidence: float | None = None
    length_m: float | None = None
    status: str = "ok"  # ok, no_front (no lines), failed (manifest)

    def summary(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "date": self.date,
            "sensor": self.sensor,
            "quality": self.quality,
            "confidence": self.confidence,
            "length_m": self.length_m,
            "status": self.status,
            "has_image": self.image is not None,
        }


@dataclass
class ReviewRun:
    folder: Path  # where review.gpkg and review.csv go
    scenes: list[SceneEntry]
    crs: Any  # the CRS review.gpkg is written in: the first scene's lines'
    notes: list[str] = field(default_factory=list)

    def by_name(self) -> dict[str, SceneEntry]:
        return {s.name: s for s in self.scenes}


def _line_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and p.suffix.lower() in DRIVERS
        and not p.name.startswith(".")
        and p.name.lower() not in TAKEN_FILES
    )


def _manifest_scenes(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """stem -> scene (path or URL as run) and stem -> its last status, from RUN/manifest.csv."""
    path = folder / MANIFEST_NAME
    scenes: dict[str, str] = {}
    states: dict[str, str] = {}
    if not path.is_file():
        return scenes, states
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        if tuple(next(reader, ())) != MANIFEST_FIELDS:
            raise GlacierfrontError(f"{path}: not a glacierfront manifest; give the scenes with --scenes")
        for row in reader:
            if len(row) != len(MANIFEST_FIELDS) or row[1] == "skipped":
                continue
            stem = scene_source(row[0]).stem
            scenes[stem] = row[0]
            states[stem] = row[1]
    return scenes, states


def _local_scene(value: str, folder: Path) -> Path | None:
    """A manifest's scene as a local file: as written (relative to here), else relative to the run folder or
    its parent; None for a URL or a file that is not there any more."""
    path = Path(value)
    if "://" in value or value.startswith("/vsi"):
        return None
    for candidate in (path, folder / path, folder.parent / path):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _number(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _add_lines(entry: SceneEntry, path: Path, layer: str | None, fid: Any, props: dict[str, Any]) -> None:
    entry.lines_file, entry.layer = path, layer
    entry.fids.append(fid)
    entry.date = entry.date or (str(props["date"]) if props.get("date") else None)
    entry.sensor = entry.sensor or props.get("sensor")
    quality = props.get("quality")
    if quality and quality != "ok":
        flags = set((entry.quality or "").split("+")) - {"", "ok"}
        entry.quality = "+".join(sorted(flags | set(str(quality).split("+"))))
    elif entry.quality is None:
        entry.quality = quality
    conf = _number(props.get("confidence"))
    if conf is not None:
        entry.confidence = conf if entry.confidence is None else min(entry.confidence, conf)
    length = _number(props.get("length_m"))
    if length is not None:
        entry.length_m = (entry.length_m or 0.0) + length


def open_run(
    run: Path, scenes: Sequence[Path] = (), out: Path | None = None, layer: str | None = None
) -> ReviewRun:
    """The scenes of ``run`` (a predict output folder, or line files with ``scenes``), in date order.

    Verdicts go to ``out``, by default the run folder (or the folder of a single line file)."""
    run = Path(run)
    if not run.exists():
        raise GlacierfrontError(f"{run}: no such file or folder")
    folder = run if run.is_dir() else run.parent
    named, states = _manifest_scenes(folder) if run.is_dir() else ({}, {})
    if run.is_dir() and not named and not scenes:
        raise GlacierfrontError(
            f"{run}: has no {MANIFEST_NAME} naming its scenes; give them: review FRONTS --scenes SCENE.tif ..."
        )
    entries: dict[str, SceneEntry] = {}

    def entry(name: str) -> SceneEntry:
        if name not in entries:
            entries[name] = SceneEntry(index=-1, name=name, image=None, lines_file=None, layer=None)
        return entries[name]

    for stem, value in named.items():
        entry(stem).image = _local_scene(value, folder)
        if states.get(stem) in ("failed", "no_front"):
            entry(stem).status = states[stem]
    for path in map(Path, scenes):
        if not path.is_file():
            raise GlacierfrontError(f"--scenes {path}: no such file")
        entry(path.stem).image = path.resolve()
    crs = None
    for path in _line_files(run):
        file_layer, file_crs, features = feature_properties(path, layer)
        for fid, props in features:
            name = field_value(props, SCENE_FIELDS) or path.stem
            _add_lines(entry(str(name).strip()), path, file_layer, fid, props)
            crs = crs or file_crs
    if not entries:
        raise GlacierfrontError(f"{run}: holds no front lines and names no scenes")
    if crs is None:
        raise GlacierfrontError(f"{run}: its lines have no CRS; set one (e.g. ogr2ogr -a_srs EPSG:3413)")
    for e in entries.values():
        if e.date is None:
            e.date = acquisition(e.name)["date"]
        if e.sensor is None:
            e.sensor = acquisition(e.name)["sensor"]
        if not e.fids and e.status == "ok":
            e.status = "no_front"
    ordered = sorted(entries.values(), key=lambda e: (e.date or "", e.name))
    for i, e in enumerate(ordered):
        e.index = i
    missing = sum(e.image is None for e in ordered)
    notes = [f"{missing} of {len(ordered)} scenes not found on disk: their lines are drawn without the image"]
    return ReviewRun(Path(out) if out is not None else folder, ordered, crs, notes if missing else [])


def scene_lines(entry: SceneEntry) -> tuple[list[tuple[Any, dict[str, Any]]], Any]:
    """The (geometry, properties) lines of one scene, read again from their file, and their CRS WKT."""
    if entry.lines_file is None:
        return [], None
    wanted = set(map(str, entry.fids))
    try:
        with fiona.open(entry.lines_file, layer=entry.layer) as src:
            crs = src.crs_wkt or None
            found = [
                (shape(f.geometry), dict(f.properties)) for f in src if str(f.id) in wanted and f.geometry
            ]
    except Exception as err:
        raise GlacierfrontError(f"{entry.lines_file}: not readable any more ({first_line(err)})") from None
    return found, crs

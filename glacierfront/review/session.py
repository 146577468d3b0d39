"""One review session: the run, its verdicts, the glacier's box and reference lines, and what the page asks.

Everything the page shows goes through here in the scene's pixel grid (``imagery.Grid``); the web layer
(``review.server``) only turns requests into these calls and their answers into JSON.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import LineString, MultiLineString

from glacierfront.errors import GlacierfrontError
from glacierfront.review.imagery import Grid, fallback_grid, image_grid, picture_png
from glacierfront.review.run import ReviewRun, SceneEntry, scene_lines
from glacierfront.review.verdicts import VerdictStore

PICTURE_CACHE = 16  # decimated pictures kept (the scenes around the one shown): memory flat in the run
MAX_VERTICES = 100_000  # a redrawn line longer than this is refused: nobody draws that by hand


@dataclass
class Extras:
    """What the user gave beside the run: the glacier's box (with its upstream end) and reference lines."""

    box: Path | None = None
    box_layer: str | None = None
    upstream: str | None = None
    reference: Path | None = None


def _coords(geom: Any) -> list[list[list[float]]]:
    """A line or polygon geometry as lists of (col, row) parts: lines' parts, polygons' exterior rings."""
    if geom is None or geom.is_empty:
        return []
    parts = getattr(geom, "geoms", [geom])
    out = []
    for part in parts:
        ring = part.exterior if part.geom_type == "Polygon" else part
        out.append(np.round(np.asarray(ring.coords)[:, :2], 3).tolist())
    return out


def parse_drawn(parts: Any) -> Any:
    """The page's drawn line ([[[col, row], ...], ...] parts) as a shapely geometry in pixels; one clear
    error for anything else."""
    if not isinstance(parts, list) or not parts:
        raise GlacierfrontError("a redrawn front needs at least one line of two vertices")
    lines = []
    total = 0
    for part in parts:
        if not isinstance(part, list) or len(part) < 2:
            raise GlacierfrontError("each line of a redrawn front needs two vertices or more")
        try:
            xy = np.asarray(part, dtype=float)
        except (TypeError, ValueError):
            raise GlacierfrontError("a vertex of the redrawn front is not a pair of numbers") from None
        if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
            raise GlacierfrontError("a vertex of the redrawn front is not a pair of finite numbers")
        total += len(xy)
        lines.append(LineString(xy))
    if total > MAX_VERTICES:
        raise GlacierfrontError(f"a redrawn front of {total} vertices; at most {MAX_VERTICES}")
    return lines[0] if len(lines) == 1 else MultiLineString(lines)


class ReviewSession:
    def __init__(self, run: ReviewRun, reviewer: str, extras: Extras | None = None):
        self.run = run
        self.extras = extras or Extras()
        self.boxes = self._read_boxes()
        self.references = self._read_references()
        self._pictures: OrderedDict[int, bytes] = OrderedDict()
        self._picture_lock = threading.Lock()
        self._series_memo: dict[Any, Any] = {}
        self._grids: dict[int, Grid] = {}
        self._lines: dict[int, tuple[list, Any]] = {}  # predicted lines, read once (a few kB a scene)
        self.store = VerdictStore(run, reviewer, self.lines)

    def lines(self, entry: SceneEntry) -> tuple[list, Any]:
        if entry.index not in self._lines:
            self._lines[entry.index] = scene_lines(entry)
        return self._lines[entry.index]

    # -- inputs ------------------------------------------------------------------------------------------
    def _read_boxes(self):
        if self.extras.box is None:
            return []
        from glacierfront.geo.frame import check_box, parse_upstream
        from glacierfront.geo.reference import read_boxes

        parse_upstream(self.extras.upstream)
        boxes = read_boxes(self.extras.box, self.extras.box_layer)
        for box in boxes:
            check_box(box)
        return boxes

    def _read_references(self):
        if self.extras.reference is None:
            return None
        from glacierfront.train.finetune_data import read_fronts

        return read_fronts(self.extras.reference)

    def scene(self, index: int) -> SceneEntry:
        if not 0 <= index < len(self.run.scenes):
            raise KeyError(index)
        return self.run.scenes[index]

    def grid(self, entry: SceneEntry) -> Grid:
        if entry.index not in self._grids:
            if entry.image is not None:
                grid = image_grid(entry.image)
            else:
                lines, crs = self.lines(entry)
                grid = fallback_grid([g for g, _ in lines], crs or self.run.crs)
            self._grids[entry.index] = grid
        return self._grids[entry.index]

    # -- what the page reads -------------------------------------------------------------------------------
    def listing(self) -> dict[str, Any]:
        scenes = []
        for entry in self.run.scenes:
            verdict = self.store.get(entry.name)
            scenes.append({**entry.summary(), "verdict": verdict.verdict if verdict else "",
                           "revision": verdict.revision if verdict else 0})  # fmt: skip
        return {
            "run": str(self.run.folder),
            "reviewer": self.store.reviewer,
            "scenes": scenes,
            "has_box": bool(self.boxes),
            "notes": self.run.notes,
            "files": [str(self.store.gpkg_path), str(self.store.csv_path)],
        }

    def detail(self, index: int) -> dict[str, Any]:
        entry = self.scene(index)
        lines, crs = self.lines(entry)
        grid = self.grid(entry)
        verdict = self.store.get(entry.name)
        drawn = []
        if verdict is not None and verdict.geometry is not None:
            (drawn,) = [_coords(g) for g in grid.to_pixels([verdict.geometry], verdict.crs)]
        predicted = [_coords(g) for g in grid.to_pixels([g for g, _ in lines], crs)] if lines else []
        boxes = grid.to_pixels([b.geometry for b in self.boxes], self.boxes[0].crs) if self.boxes else []
        return {
            **entry.summary(),
            "verdict": verdict.as_dict() if verdict else {"verdict": "", "revision": 0},
            "grid": grid.as_dict(),
            "predicted": [part for parts in predicted for part in parts],
            "redrawn": drawn,
            "boxes": [part for b in boxes for part in _coords(b)],
            "reference": self._reference_parts(entry, grid),
        }

    def _reference_parts(self, entry: SceneEntry, grid: Grid) -> list:
        if self.references is None:
            return []
        from glacierfront.train.finetune_data import match_lines

        lines, crs = self.references
        matched = match_lines(Path(entry.name + ".tif"), lines)
        moved = grid.to_pixels([ln.geometry for ln in matched], crs) if matched else []
        return [part for g in moved for part in _coords(g)]

    def picture(self, index: int) -> bytes | None:
        entry = self.scene(index)
        if entry.image is None:
            return None
        with self._picture_lock:
            if index in self._pictures:
                self._pictures.move_to_end(index)
                return self._pictures[index]
        png = picture_png(entry.image)
        with self._picture_lock:
            self._pictures[index] = png
            while len(self._pictures) > PICTURE_CACHE:
                self._pictures.popitem(last=False)
        return png

    # -- what the page writes ------------------------------------------------------------------------------
    def judge(self, index: int, verdict: str, revision: int | None, drawn: Any = None) -> dict[str, Any]:
        entry = self.scene(index)
        geometry = crs = None
        if verdict == "redrawn":
            grid = self.grid(entry)
            geometry, crs = grid.from_pixels(parse_drawn(drawn)), grid.crs
        new, warning = self.store.set(entry.name, verdict, revision, geometry, crs)
        return {"verdict": new.as_dict(), "warning": warning, "counts": self.store.counts()}

    # -- the series -------------------------------------------------------------------------------------
    def series(self) -> dict[str, Any]:
        """The box series of every front not rejected: redrawn lines where drawn, else predicted ones."""
        if not self.boxes:
            return {"rows": [], "error": "no --box given: the series needs the glacier's box"}
        from glacierfront.series import Front, box_series

        fronts = []
        for entry in self.run.scenes:
            verdict = self.store.get(entry.name)
            kind = verdict.verdict if verdict else ""
            if kind == "rejected" or not entry.date:
                continue
            if kind == "redrawn":
                pieces = [(verdict.geometry, verdict.crs)]
            else:
                lines, crs = self.lines(entry)
                pieces = [(g, crs) for g, _ in lines]
            if pieces:
                fronts.append(Front(date=dt.date.fromisoformat(entry.date[:10]), pieces=pieces,
                                    sources=[entry.name], image_id=entry.name, sensor=entry.sensor,
                                    source_quality=kind or "unreviewed"))  # fmt: skip
        if not fronts:
            return {"rows": [], "error": "every front is rejected or missing"}
        try:
            result = box_series(fronts, self.boxes, upstream=self.extras.upstream, memo=self._series_memo)
        except GlacierfrontError as err:
            return {"rows": [], "error": str(err)}
        index = {e.name: e.index for e in self.run.scenes}
        rows = [{"index": index.get(r.image_id), "date": r.date.isoformat(), "decimal_year": r.decimal_year,
                 "change_m": r.change_m, "position_m": r.position_m, "quality": r.quality,
                 "verdict": r.source_quality, "glacier_id": r.glacier_id} for r in result.rows]  # fmt: skip
        return {"rows": rows, "error": None}

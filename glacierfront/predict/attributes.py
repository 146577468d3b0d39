"""The fields a front line is filed under: glacier id and a quality flag (see README's table); its decimal
year is ``io.acquisition.decimal_year``.

Quality is ``ok`` or one or more of these flags joined by ``+`` (e.g. ``touches_nodata+fragmented``):

- ``low_confidence``: the model's mean confidence along the line is below ``LOW_CONFIDENCE``;
- ``touches_nodata``: the line reaches no-data pixels or the edge of the scene, so it may be cut short there;
- ``touches_aoi_edge``: the line reaches the edge of the ``--aoi`` polygon, so the AOI may have cut it short;
- ``fragmented``: the scene's front came out in more than one line;
- ``partial_crossing`` (box rule): the model separates glacier from water over less than
  ``MIN_COVERAGE`` of the box's width; the rest of the line crosses what it could not tell apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import shape

QUALITY_FLAGS = ("low_confidence", "touches_nodata", "touches_aoi_edge", "fragmented", "partial_crossing")
# Mean max-probability along a line below which it is flagged: halfway between a pixel the model cannot
# decide on between two classes (0.5) and certainty (1.0).
LOW_CONFIDENCE = 0.75
# Box rule: below this share of the box's width where the model supports the crossing (glacier just upstream,
# water just downstream), a line is flagged partial_crossing and predict says so on stderr.
MIN_COVERAGE = 0.5
# A line within this many pixels of the AOI's boundary touches it (the front is traced on pixel edges).
AOI_EDGE_PX = 1.5


def lines_and_quality(n_lines: int, length: str | None, flags: Sequence[str]) -> str:
    """How a scene's result reads in one line, wherever it is shown (predict's summary, the quicklook):
    '1 front line, 26.45 km; quality: ok' or '2 front lines, 9.11 km; quality: low_confidence+fragmented'.
    The flags are written as the ``quality`` field holds them."""
    text = f"{n_lines} front line{'' if n_lines == 1 else 's'}" + (f", {length}" if length else "")
    return f"{text}; quality: {'+'.join(flags) if flags else 'ok'}"


class LineAttributes:
    """Per-line glacier id and quality of one scene's lines, from the lines on the processing grid.

    ``valid`` is the grid's valid-pixel map (may be a memory map: only pixels near the lines are read);
    ``aoi_geoms``/``aoi_ids`` are the AOI polygons in the grid's CRS and their glacier ids.
    """

    def __init__(
        self,
        valid: np.ndarray,
        transform: Affine,
        aoi_geoms: list[dict] | None = None,
        aoi_ids: list[str | None] | None = None,
        glacier_id: str | None = None,
        per_box: bool = False,
    ) -> None:
        self.valid = valid
        # Box-rule lines (fronts_box) run from side to side of their box, one per box: reaching the box's edge
        # and several lines for several boxes are what is asked for, not flags.
        self.per_box = per_box
        self.transform = transform
        self.pixel = float(np.hypot(transform.a, transform.b))
        self.polygons = [shape(g) for g in aoi_geoms] if aoi_geoms else []
        self.ids = list(aoi_ids or [None] * len(self.polygons))
        self.glacier_id = glacier_id
        boundaries = [p.boundary for p in self.polygons]
        self.aoi_edge = shapely.union_all(boundaries) if boundaries else None

    def for_lines(self, lines: list[Any]) -> list[dict[str, Any]]:
        """{"glacier_id", "quality"} for each of ``lines`` (``vectorise.FrontLine`` on the grid)."""
        return [
            {"glacier_id": self._glacier(line.geometry), "quality": self._quality(line, len(lines))}
            for line in lines
        ]

    def _glacier(self, geometry: Any) -> str | None:
        """--glacier-id wins; else the AOI polygon holding most of the line."""
        if self.glacier_id is not None or not self.polygons:
            return self.glacier_id
        overlap = [geometry.intersection(p).length for p in self.polygons]
        best = int(np.argmax(overlap))
        return self.ids[best] if overlap[best] > 0 else None

    def _quality(self, line: Any, n_lines: int) -> str:
        flags = []
        if line.confidence < LOW_CONFIDENCE:
            flags.append("low_confidence")
        if self._touches_nodata(line.geometry):
            flags.append("touches_nodata")
        near_edge = (
            self.aoi_edge is not None and line.geometry.distance(self.aoi_edge) <= AOI_EDGE_PX * self.pixel
        )
        if near_edge and not self.per_box:
            flags.append("touches_aoi_edge")
        if n_lines > 1 and not self.per_box:
            flags.append("fragmented")
        if line.coverage is not None and line.coverage < MIN_COVERAGE:
            flags.append("partial_crossing")
        return "+".join(flags) or "ok"

    def _touches_nodata(self, geometry: Any) -> bool:
        """Any invalid pixel, or the grid's edge, in the 2 x 2 pixels around any point of the line (points a
        pixel apart along it; the line runs on pixel corners and edges)."""
        height, width = self.valid.shape
        inverse = ~self.transform
        step = max(self.pixel, 1e-12)
        for part in getattr(geometry, "geoms", [geometry]):
            count = max(2, int(np.ceil(part.length / step)) + 1)
            xy = shapely.get_coordinates(
                shapely.line_interpolate_point(part, np.linspace(0.0, part.length, count))
            )
            a, b, c, d, e, f = tuple(inverse)[:6]
            cols = a * xy[:, 0] + b * xy[:, 1] + c
            rows = d * xy[:, 0] + e * xy[:, 1] + f
            r = np.round(rows).astype(int)
            c = np.round(cols).astype(int)
            if (r <= 0).any() or (c <= 0).any() or (r >= height).any() or (c >= width).any():
                return True
            for dr in (-1, 0):
                for dc in (-1, 0):
                    if not self.valid[r + dr, c + dc].all():
                        return True
        return False

"""A model's stated scale: the ``resolution_m`` and ``resolution_range_m`` keys of its metadata, checked.

Below both ``model.export`` (which checks a stamp before writing it) and ``model.info`` / ``predict`` (which
read it back), so neither has to import the other for it.
"""

from __future__ import annotations

import math
from typing import Any

from glacierfront.errors import GlacierfrontError


def read_scale(metadata: dict[str, Any], source: str) -> tuple[float | None, tuple[float, float] | None]:
    """The model's stated scale: ``resolution_m`` and ``resolution_range_m`` (either may be absent: None).

    Files written before these keys existed simply have neither. A value that is present but not a positive
    number, or a range that is not [lo, hi] with 0 < lo <= hi (and around resolution_m), is an error naming
    ``source``.
    """
    nominal = metadata.get("resolution_m")
    span = metadata.get("resolution_range_m")
    if nominal is not None:
        if not _positive(nominal):
            raise GlacierfrontError(
                f"{source}: metadata resolution_m {nominal!r} is not a positive number of metres"
            )
        nominal = float(nominal)
    if span is not None:
        if not (isinstance(span, (list, tuple)) and len(span) == 2 and all(_positive(v) for v in span)):
            raise GlacierfrontError(
                f"{source}: metadata resolution_range_m {span!r} is not [lo, hi] in metres"
            )
        span = (float(span[0]), float(span[1]))
        if span[0] > span[1]:
            raise GlacierfrontError(f"{source}: metadata resolution_range_m {list(span)}: lo is above hi")
        if nominal is not None and not span[0] <= nominal <= span[1]:
            raise GlacierfrontError(
                f"{source}: metadata resolution_m {nominal:g} lies outside resolution_range_m {list(span)}"
            )
    return nominal, span


def _positive(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )

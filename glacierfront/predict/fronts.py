"""Zones -> calving front: CaFFe's official post-processing on class-id arrays (0 NA, 1 rock, 2 glacier, 3 ocean)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from glacierfront.errors import GlacierfrontError
from glacierfront.zones import GLACIER, NA, OCEAN, ROCK  # noqa: F401  (the class ids are part of this module's API)

# CaFFe's shortest kept front piece, in metres; divide by the scene's resolution_m to get pixels.
MIN_FRONT_LENGTH_M = 750.0

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)

# Which ocean pieces step 2 keeps. "largest": CaFFe's rule, the largest 8-connected piece. "edge": every piece
# that reaches the edge of the data (the raster border, a nodata pixel, or the NA class: CaFFe's "no
# information", mostly outside the swath), or the largest when none does; open water runs out of the scene,
# while a lake or a misclassified patch on the ice plateau does not.
OCEAN_RULES = ("largest", "edge")


def check_ocean_rule(rule: str) -> str:
    if rule not in OCEAN_RULES:
        raise GlacierfrontError(f"--ocean-rule {rule!r}: choose one of {', '.join(OCEAN_RULES)}")
    return rule


def _check_zones(zones: np.ndarray) -> np.ndarray:
    zones = np.asarray(zones)
    if zones.ndim != 2:
        raise GlacierfrontError(f"zones must be a 2-D class-id array, got shape {zones.shape}")
    if not np.issubdtype(zones.dtype, np.integer):
        raise GlacierfrontError(f"zones must hold integer class ids 0..3, got dtype {zones.dtype}")
    return zones


def _largest_component_only(mask: np.ndarray) -> np.ndarray:
    """Return the largest 8-connected component of ``mask`` (all False if the mask is empty)."""
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # background
    # argmax takes the first of equal sizes, i.e. the component met first in raster order: deterministic.
    return labels == int(np.argmax(sizes))


def data_edge(nodata: np.ndarray, top: bool = True, bottom: bool = True) -> np.ndarray:
    """Pixels at the edge of the data: the left and right columns, the top and bottom rows (when ``top`` /
    ``bottom``: a band of a larger grid passes False where its first / last row is not the grid's), and
    ``nodata`` pixels (no data, or the NA class) with their 8-neighbours. The ``edge`` ocean rule keeps the
    ocean pieces that touch it."""
    nodata = np.asarray(nodata, dtype=bool)
    edge = np.zeros(nodata.shape, dtype=bool)
    edge[:, 0] = edge[:, -1] = True
    if top:
        edge[0] = True
    if bottom:
        edge[-1] = True
    if nodata.any():
        edge |= ndimage.binary_dilation(nodata, structure=_EIGHT_CONNECTED)
    return edge


def _ocean_to_keep(zones: np.ndarray, rule: str, nodata: np.ndarray | None) -> np.ndarray:
    ocean = zones == OCEAN
    if rule == "largest":
        return _largest_component_only(ocean)
    labels, _ = ndimage.label(ocean, structure=_EIGHT_CONNECTED)
    outside = zones == NA
    if nodata is not None:
        outside |= nodata
    edge = data_edge(outside)
    touching = np.unique(labels[edge & ocean])
    if touching.size == 0:
        return _largest_component_only(ocean)
    keep = np.zeros(int(labels.max()) + 1, dtype=bool)
    keep[touching] = True
    return keep[labels]


def postprocess_zones(
    zones: np.ndarray, ocean_rule: str = "largest", nodata_mask: np.ndarray | None = None
) -> np.ndarray:
    """Apply CaFFe steps 1-2: fill non-ocean islands with ocean, then turn detached ocean blobs into glacier.

    Step 1: every 8-connected non-ocean piece except the largest becomes ocean (icebergs, mélange holes).
    Step 2, ``ocean_rule="largest"`` (CaFFe): only the largest 8-connected ocean piece stays ocean; other
    ocean blobs become glacier. ``"edge"``: every ocean piece touching the edge of the data stays ocean (the
    raster border, NA pixels and, with ``nodata_mask``, nodata pixels: see ``data_edge``), or the largest if
    none does.
    """
    zones = _check_zones(zones)
    check_ocean_rule(ocean_rule)
    out = zones.copy()
    non_ocean = out != OCEAN
    out[non_ocean & ~_largest_component_only(non_ocean)] = OCEAN
    keep = _ocean_to_keep(out, ocean_rule, nodata_mask)
    out[(out == OCEAN) & ~keep] = GLACIER
    return out


def front_codes(front: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """For each ``front`` pixel, which 4-neighbours are glacier: bit 0 right, 1 left, 2 below, 3 above.

    Shifted copies instead of a convolution: four boolean ORs, no float temporaries on large scenes.
    """
    glacier = zones == GLACIER
    code = np.zeros(glacier.shape, np.uint8)
    code[:, :-1] |= glacier[:, 1:] * np.uint8(1)
    code[:, 1:] |= glacier[:, :-1] * np.uint8(2)
    code[:-1, :] |= glacier[1:, :] * np.uint8(4)
    code[1:, :] |= glacier[:-1, :] * np.uint8(8)
    return np.where(front, code, 0).astype(np.uint8)


def front_pixels(zones: np.ndarray) -> np.ndarray:
    """Return the boolean mask of ocean pixels with a 4-neighbour that is glacier (CaFFe step 3).

    Ocean-rock, ocean-NA and glacier-rock edges are not calving front. The front lies on the ocean side.
    """
    zones = _check_zones(zones)
    return front_codes(zones == OCEAN, zones) > 0


def remove_short_fronts(mask: np.ndarray, min_length_px: float) -> np.ndarray:
    """Delete 8-connected front pieces of at most ``min_length_px`` pixels (CaFFe step 4).

    CaFFe measures a piece's length as its pixel count and uses 750 m / resolution_m, which need not be whole.
    """
    if min_length_px < 0:
        raise GlacierfrontError(f"min_length_px must be >= 0, got {min_length_px}")
    mask = np.asarray(mask, dtype=bool)
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if count == 0:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    keep = sizes > min_length_px
    keep[0] = False
    return keep[labels]


def min_length_px_for(resolution_m: float, min_length_m: float = MIN_FRONT_LENGTH_M) -> float:
    """Convert CaFFe's minimum front length (750 m) into pixels of a scene with ``resolution_m`` m/px."""
    if resolution_m <= 0:
        raise GlacierfrontError(f"resolution_m must be > 0, got {resolution_m}")
    return min_length_m / resolution_m


def clip_to_bbox(mask: np.ndarray, bbox: tuple[int, int, int, int] | None) -> np.ndarray:
    """Zero every pixel outside the half-open box ``(row0, row1, col0, col1)`` (CaFFe step 5).

    The box is clamped to the mask, so a box reaching past the image edge keeps what overlaps.
    """
    mask = np.asarray(mask, dtype=bool)
    if bbox is None:
        return mask.copy()
    rows, cols = mask.shape[:2]
    row0, row1, col0, col1 = (int(v) for v in bbox)
    row0, row1 = min(max(row0, 0), rows), min(max(row1, 0), rows)
    col0, col1 = min(max(col0, 0), cols), min(max(col1, 0), cols)
    out = np.zeros_like(mask)
    out[row0:row1, col0:col1] = mask[row0:row1, col0:col1]
    return out


def extract_front(
    zones: np.ndarray,
    min_length_px: float,
    bbox: tuple[int, int, int, int] | None = None,
    nodata_mask: np.ndarray | None = None,
    ocean_rule: str = "largest",
) -> np.ndarray:
    """Run CaFFe's full post-processing on predicted zones and return the boolean front mask.

    ``nodata_mask`` marks pixels without data (outside the swath, padding): they are treated as NA before
    post-processing, so a model's guess there cannot create a glacier-ocean edge, and are never front.
    ``ocean_rule``: which ocean pieces stay ocean, "largest" (CaFFe) or "edge" (see ``postprocess_zones``).
    """
    return extract_front_and_zones(zones, min_length_px, bbox, nodata_mask, ocean_rule)[0]


def extract_front_and_zones(
    zones: np.ndarray,
    min_length_px: float,
    bbox: tuple[int, int, int, int] | None = None,
    nodata_mask: np.ndarray | None = None,
    ocean_rule: str = "largest",
) -> tuple[np.ndarray, np.ndarray]:
    """``extract_front`` that also returns the post-processed zones the front was found in
    (the vectoriser needs them to know on which side of each front pixel the glacier lies)."""
    zones = _check_zones(zones)
    if nodata_mask is not None:
        nodata_mask = np.asarray(nodata_mask, dtype=bool)
        if nodata_mask.shape != zones.shape:
            raise GlacierfrontError(
                f"nodata_mask shape {nodata_mask.shape} differs from zones shape {zones.shape}"
            )
        zones = np.where(nodata_mask, np.asarray(NA, dtype=zones.dtype), zones)
    processed = postprocess_zones(zones, ocean_rule, nodata_mask)
    # No nodata pixel can be front, so none is masked out here. Nodata is NA, so it stays NA (not ocean)
    # unless step 1 turns its whole 8-connected non-ocean piece into ocean; then all its 8-neighbours are
    # ocean, one ocean piece that step 2 keeps or turns into glacier as a whole, so no 4-neighbour is glacier.
    front = front_pixels(processed)
    front = remove_short_fronts(front, min_length_px)
    return clip_to_bbox(front, bbox), processed

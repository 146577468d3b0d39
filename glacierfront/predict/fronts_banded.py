"""CaFFe post-processing of a whole scene in row bands: RAM stays flat however large the scene is.

The same rules as ``fronts.extract_front`` (holes filled, largest ocean kept, or with the "edge" ocean rule
the ocean pieces reaching the edge of the data, front = ocean next to glacier, short pieces dropped), but
connected components are found band by band: each band is labelled on its own, labels touching across a
band seam are joined in a graph, and the graph's components are the scene's components. Whole-scene arrays
live in memory-mapped files in a scratch folder; what is returned is sparse (the front pixels only), which
grows with front length, not with scene area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from glacierfront.io.scratch import release, scratch_array
from glacierfront.predict.fronts import check_ocean_rule, data_edge, front_codes
from glacierfront.zones import GLACIER, NA, OCEAN

_EIGHT = np.ones((3, 3), dtype=bool)
BAND_PIXELS = 4_000_000  # about 4 Mpx per band: a few tens of MB of temporaries whatever the width

Mask = Callable[[int, int], np.ndarray]  # (row0, row1) -> bool (rows, width)


@dataclass
class FrontPixels:
    """The post-processed front as sparse pixels: position, glacier-neighbour code and piece id."""

    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray  # bit 0: glacier to the right, 1: left, 2: below, 3: above
    pieces: np.ndarray  # 8-connected front piece of each pixel (ids are arbitrary but shared per piece)


def band_rows_for(width: int) -> int:
    return max(16, BAND_PIXELS // max(width, 1))


def _components(
    mask: Mask, height: int, width: int, labels: np.ndarray, band: int, mapped: tuple[np.ndarray, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a banded mask. Fills ``labels`` (H, W) with provisional labels and returns
    (component of each provisional label (index 0 = background), pixel count of each component)."""
    offset, sizes, seams_a, seams_b = 0, [np.zeros(1, np.int64)], [], []
    previous = None
    for r0 in range(0, height, band):
        r1 = min(r0 + band, height)
        local, n = ndimage.label(mask(r0, r1), structure=_EIGHT)
        sizes.append(np.bincount(local.ravel(), minlength=n + 1)[1:])
        lab = np.where(local > 0, local + offset, 0).astype(np.int32)
        labels[r0:r1] = lab
        release(labels, *mapped)
        if previous is not None:
            # Pixels on both sides of the seam touch when their columns differ by at most one.
            for shift in (-1, 0, 1):
                top = previous[max(shift, 0) : width + min(shift, 0)]
                bottom = lab[0, max(-shift, 0) : width + min(-shift, 0)]
                both = (top > 0) & (bottom > 0)
                seams_a.append(top[both])
                seams_b.append(bottom[both])
        previous = lab[-1].copy()
        offset += n
    a = np.concatenate(seams_a) if seams_a else np.zeros(0, np.int32)
    b = np.concatenate(seams_b) if seams_b else np.zeros(0, np.int32)
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(offset + 1, offset + 1))
    # Components are numbered by their lowest provisional label, i.e. their first pixel in raster order,
    # so ties in size break as in the in-memory version.
    _, component = connected_components(graph, directed=False)
    comp_sizes = np.bincount(component, weights=np.concatenate(sizes), minlength=component.max() + 1)
    comp_sizes[component[0]] = -1  # background is never "the largest piece"
    return component, comp_sizes


def _largest(component: np.ndarray, comp_sizes: np.ndarray) -> int:
    return int(np.argmax(comp_sizes)) if comp_sizes.max() > 0 else -1


def _ocean_to_keep(
    rule: str,
    comp: np.ndarray,
    sizes: np.ndarray,
    out: np.ndarray,
    valid: np.ndarray,
    labels: np.ndarray,
    band: int,
    mapped: tuple[np.ndarray, ...],
) -> np.ndarray:
    """Which ocean components stay ocean (a boolean per component): the largest, or with the "edge" rule
    those with a pixel on the edge of the data (``fronts.data_edge`` of nodata and NA), else the largest."""
    keep = np.zeros(sizes.size, dtype=bool)
    largest = _largest(comp, sizes)
    if rule == "edge":
        height = out.shape[0]
        for r0 in range(0, height, band):
            r1 = min(r0 + band, height)
            # One halo row above and below: a nodata pixel just across the band seam marks its neighbours.
            top, bottom = max(r0 - 1, 0), min(r1 + 1, height)
            outside = ~np.asarray(valid[top:bottom]) | (out[top:bottom] == NA)
            edge = data_edge(outside, top=r0 == 0, bottom=r1 == height)
            edge = edge[r0 - top : r0 - top + (r1 - r0)] & (out[r0:r1] == OCEAN)
            keep[comp[labels[r0:r1][edge]]] = True
            release(*mapped)
        if keep.any():
            return keep
    if largest >= 0:
        keep[largest] = True
    return keep


def extract_front_banded(
    zones: np.ndarray,
    valid: np.ndarray,
    min_length_px: float,
    scratch: Path,
    allowed: Mask | None = None,
    band: int | None = None,
    ocean_rule: str = "largest",
) -> tuple[FrontPixels, np.ndarray]:
    """Post-process ``zones`` (H, W uint8, may be a memory map) where ``valid``; returns the front pixels and
    the post-processed zones (a memory map in ``scratch``). ``allowed(row0, row1)`` limits where a front may be.
    ``ocean_rule``: "largest" (CaFFe) or "edge", as in ``fronts.postprocess_zones`` with ``~valid`` as nodata.
    """
    check_ocean_rule(ocean_rule)
    height, width = zones.shape
    band = band or band_rows_for(width)
    labels = scratch_array(scratch, "labels", np.int32, (height, width))
    out = scratch_array(scratch, "processed", np.uint8, (height, width))
    everything = (zones, valid, labels, out)
    _fill_small_land(zones, valid, labels, out, band, everything)
    _drop_small_ocean(ocean_rule, valid, labels, out, band, everything)
    return _front_pixels(out, valid, labels, min_length_px, allowed, band, everything), out


def _with_nodata(zones: np.ndarray, valid: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows r0..r1 of ``zones`` with NA where not ``valid`` (a fresh band, safe to change)."""
    return np.where(valid[r0:r1], zones[r0:r1], NA).astype(np.uint8)


def _fill_small_land(
    zones: np.ndarray,
    valid: np.ndarray,
    labels: np.ndarray,
    out: np.ndarray,
    band: int,
    mapped: tuple[np.ndarray, ...],
) -> None:
    """Step 1, into ``out``: every non-ocean piece but the largest becomes ocean."""
    height, width = zones.shape
    comp, sizes = _components(
        lambda r0, r1: _with_nodata(zones, valid, r0, r1) != OCEAN, height, width, labels, band, mapped
    )
    keep = _largest(comp, sizes)
    for r0 in range(0, height, band):
        z = _with_nodata(zones, valid, r0, r0 + band)
        z[(z != OCEAN) & (comp[labels[r0 : r0 + band]] != keep)] = OCEAN
        out[r0 : r0 + band] = z
        release(*mapped)


def _drop_small_ocean(
    rule: str,
    valid: np.ndarray,
    labels: np.ndarray,
    out: np.ndarray,
    band: int,
    mapped: tuple[np.ndarray, ...],
) -> None:
    """Step 2, in ``out``: only the largest ocean piece (or those on the data's edge) stays ocean; other
    blobs become glacier."""
    height, width = out.shape
    comp, sizes = _components(lambda r0, r1: out[r0:r1] == OCEAN, height, width, labels, band, mapped)
    keep_ocean = _ocean_to_keep(rule, comp, sizes, out, valid, labels, band, mapped)
    for r0 in range(0, height, band):
        z = out[r0 : r0 + band]
        z[(z == OCEAN) & ~keep_ocean[comp[labels[r0 : r0 + band]]]] = GLACIER
        release(*mapped)


def _front_pixels(
    out: np.ndarray,
    valid: np.ndarray,
    labels: np.ndarray,
    min_length_px: float,
    allowed: Mask | None,
    band: int,
    mapped: tuple[np.ndarray, ...],
) -> FrontPixels:
    """Step 3: ocean pixels with a glacier 4-neighbour, never on nodata; step 4 drops short pieces; then the
    AOI clips what is left (CaFFe's order: length first, bounding box last)."""
    height, width = out.shape

    def front_band(r0: int, r1: int) -> np.ndarray:
        return _front_and_codes(out, r0, r1)[0] & valid[r0:r1]

    comp, sizes = _components(front_band, height, width, labels, band, mapped)
    rows, cols, codes, pieces = [], [], [], []
    for r0 in range(0, height, band):
        r1 = min(r0 + band, height)
        _, code = _front_and_codes(out, r0, r1)
        lab = labels[r0:r1]
        kept = (lab > 0) & (sizes[comp[lab]] > min_length_px)
        if allowed is not None:
            kept &= allowed(r0, r1)
        rr, cc = np.nonzero(kept)
        rows.append(rr + r0)
        cols.append(cc)
        codes.append(code[rr, cc])
        pieces.append(comp[lab[rr, cc]])
        release(*mapped)
    return FrontPixels(*(np.concatenate(x) if x else np.zeros(0, int) for x in (rows, cols, codes, pieces)))


def _front_and_codes(zones: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Front mask and glacier-neighbour codes of rows r0..r1, reading one halo row above and below."""
    top, bottom = max(r0 - 1, 0), min(r1 + 1, zones.shape[0])
    block = np.asarray(zones[top:bottom])
    code = front_codes(block == OCEAN, block)[r0 - top : r0 - top + (r1 - r0)]
    return code > 0, code

"""Front-line datasets (images + hand-drawn fronts, no zone masks) turned into CaFFe-layout training data.

Such data (e.g. the FrontLearning Landsat chips) labels only the calving front. A zone model learns from it
through weak zone labels made from the line: in every column the line crosses, ocean above its topmost pixel
and glacier below its bottommost one; every other pixel (the line itself, what lies between its ends in a
column, and all columns it does not cross) is ignored (``IGNORE_ZONE``, transparent in the PNG). That needs the
chips oriented with the glacier on one known side of the front (FrontLearning: glacier below, flowing up).

``import_frontlines`` writes a CaFFe-layout folder (``sar_images/train``, ``zones/train``, ``fronts/train``:
CaFFe's folder names, whatever the sensor, and ``bounding_boxes``: the front's extent plus 16 px, as caffe256
made its boxes, so predicted fronts are clipped to the front's surroundings when scored, as in CaFFe) that
``train``, ``crossval`` and ``evaluate --data`` read as they read CaFFe. Scores on it are in pixels of the
chip grid (``--pixels``), as for caffe256.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import clamp_bbox, parse_caffe_name, read_png, write_zones
from glacierfront.zones import GLACIER, IGNORE_ZONE, OCEAN

# The three glaciers of the FrontLearning chips, by the WRS-2 path/row of their Landsat scenes (its README).
FRONTLEARNING_GLACIERS = {
    **dict.fromkeys(("020007", "021006", "021007", "022006", "023006", "024006"), "Sverdrup"),
    **dict.fromkeys(("008011", "009011", "010011"), "Jakobshavn"),
    **dict.fromkeys(("229012", "230012", "231012"), "Kangerlussuaq"),
}
GLACIER_SIDES = ("below", "above")
# Landsat Collection 1/2 product id, optionally followed by a band: LE07_L1TP_020007_20020520_20170130_01_T1_B2
_LANDSAT_RE = re.compile(
    r"^(?P<sensor>L[CETMO]0\d)_(?P<level>[A-Z0-9]{4})_(?P<pathrow>\d{6})_(?P<date>\d{8})_\d{8}_\d{2}_[A-Z0-9]{2}"
    r"(?:_(?P<band>B\d+))?$"
)
# Bounding boxes for scoring, as caffe256 made them: the labelled front's extent plus this margin.
BOX_MARGIN_PX = 16
# Native pixel spacing of a Landsat band, for the name's resolution field (the chips themselves are resampled).
_PANCHROMATIC_M, _MULTISPECTRAL_M = 15, 30


def weak_zones(front: np.ndarray, glacier_side: str = "below") -> np.ndarray:
    """Weak zone ids from a front-line mask: ocean/glacier on either side of the line in the columns it
    crosses, ``IGNORE_ZONE`` everywhere else (the line itself included)."""
    if glacier_side not in GLACIER_SIDES:
        raise GlacierfrontError(f"glacier side {glacier_side!r}: choose one of {', '.join(GLACIER_SIDES)}")
    return weak_zones_along(front, (1.0, 0.0) if glacier_side == "below" else (-1.0, 0.0))


def weak_zones_along(
    front: np.ndarray,
    upstream: Sequence[float],
    region: np.ndarray | None = None,
    depth_px: float | None = None,
) -> np.ndarray:
    """Weak zone ids from a front mask, glacier towards ``upstream`` (a (row, col) vector, from the front
    into the glacier), ``IGNORE_ZONE`` elsewhere. See the module docstring.

    The image is cut into strips along ``upstream`` of width |n_row| + |n_col| (n: the unit normal), the
    width of a pixel seen across the strips: an 8-connected line then leaves no strip between its ends
    uncrossed. ``weak_zones`` is the case of an upstream straight down or up the image.
    """
    front = np.asarray(front, dtype=bool)
    zones = np.full(front.shape, IGNORE_ZONE, dtype=np.uint8)
    if not front.any():
        return zones
    up = np.asarray(upstream, dtype=np.float64)
    norm = float(np.hypot(*up))
    if not norm > 1e-9:
        raise GlacierfrontError("weak labels: the glacier side has no direction from the front")
    up = up / norm
    normal = np.array([-up[1], up[0]])
    width = abs(normal[0]) + abs(normal[1])
    rows, cols = np.indices(front.shape, dtype=np.float64)
    along = rows * up[0] + cols * up[1]  # grows into the glacier
    strip = np.floor((rows * normal[0] + cols * normal[1]) / width + 0.5).astype(np.int64)
    strip -= strip.min()
    n_strips = int(strip.max()) + 1
    lo = np.full(n_strips, np.inf)
    hi = np.full(n_strips, -np.inf)
    np.minimum.at(lo, strip[front], along[front])
    np.maximum.at(hi, strip[front], along[front])
    crossed = np.isfinite(lo)[strip]
    glacier = crossed & (along > hi[strip])
    ocean = crossed & (along < lo[strip])
    if depth_px is not None:
        glacier &= along - hi[strip] <= depth_px
        ocean &= lo[strip] - along <= depth_px
    if region is not None:
        glacier &= region
        ocean &= region
    zones[glacier] = GLACIER
    zones[ocean] = OCEAN
    return zones


def front_box(front: np.ndarray, margin: int = BOX_MARGIN_PX) -> tuple[int, int, int, int]:
    """The front's extent plus ``margin`` px, clamped to the image: (row0, row1, col0, col1), half-open."""
    rows, cols = np.nonzero(front)
    box = (
        int(rows.min()) - margin,
        int(rows.max()) + 1 + margin,
        int(cols.min()) - margin,
        int(cols.max()) + 1 + margin,
    )
    return clamp_bbox(box, front.shape)


def write_bbox(path: Path, box: tuple[int, int, int, int]) -> None:
    """Write a box in CaFFe's bounding-box format (see ``io.caffe.read_bbox``: "upper" is the larger row)."""
    row0, row1, col0, col1 = box
    corners = [(col0, row1), (col0, row0), (col1, row0), (col1, row1)]
    path.write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in corners))


@dataclass(frozen=True)
class ImportedChip:
    source: str  # the source file's stem
    name: str  # its CaFFe-style name in the output folder
    glacier: str


def caffe_name_for(stem: str, glacier: str | None = None) -> tuple[str, str]:
    """(CaFFe-style name, glacier) for a chip stem: a CaFFe name is kept; a Landsat product id becomes
    ``<glacier>_<date>_<sensor>_<native m>_0_<path/row>`` (quality 0: not graded)."""
    try:
        parsed = parse_caffe_name(stem)
    except GlacierfrontError:
        parsed = None
    if parsed is not None:
        return stem, glacier or parsed.glacier
    match = _LANDSAT_RE.match(stem)
    if match is None:
        raise GlacierfrontError(
            f"{stem}: name is neither a Landsat product id (e.g. LE07_L1TP_020007_20020520_20170130_01_T1_B2) "
            "nor a CaFFe name (Glacier_YYYY-MM-DD_Satellite_Resolution_Quality_Orbit); rename the chip"
        )
    pathrow = match["pathrow"]
    glacier = glacier or FRONTLEARNING_GLACIERS.get(pathrow)
    if glacier is None:
        raise GlacierfrontError(
            f"{stem}: path/row {pathrow} is not one of the FrontLearning glaciers; pass --glacier NAME"
        )
    if not re.fullmatch(r"[A-Za-z0-9-]+", glacier):
        raise GlacierfrontError(f"--glacier {glacier!r}: use letters, digits and '-' only")
    date = match["date"]
    spacing = _PANCHROMATIC_M if match["band"] == "B8" else _MULTISPECTRAL_M
    return f"{glacier}_{date[:4]}-{date[4:6]}-{date[6:]}_{match['sensor']}_{spacing}_0_{pathrow}", glacier


def _front_file(fronts: Path, stem: str) -> Path:
    for candidate in (fronts / f"{stem}_front.png", fronts / f"{stem}.png"):
        if candidate.is_file():
            return candidate
    raise GlacierfrontError(f"{fronts}: no front for image {stem} (expected {stem}_front.png)")


def import_frontlines(
    src: str | Path, out: str | Path, glacier: str | None = None, glacier_side: str = "below"
) -> list[ImportedChip]:
    """Convert ``src/images/*.png`` + ``src/fronts/<stem>_front.png`` into a CaFFe-layout folder ``out``.

    ``out`` is written in a temporary folder beside it and renamed at the end: it is either complete or
    absent. A ``LICENSE`` and ``README.md`` of ``src`` are copied along (the licence travels with the data),
    and ``names.csv`` maps every new name to its source file.
    """
    src, out = Path(src), Path(out)
    images_dir, fronts_dir = src / "images", src / "fronts"
    if not images_dir.is_dir() or not fronts_dir.is_dir():
        raise GlacierfrontError(
            f"{src}: expected images/ and fronts/ folders (images/<stem>.png, fronts/<stem>_front.png)"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GlacierfrontError(f"{out}: already exists; give a new folder")
    images = sorted(images_dir.glob("*.png"))
    if not images:
        raise GlacierfrontError(f"{images_dir}: no .png images")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        chips = _write_layout(images, fronts_dir, work, glacier, glacier_side)
        for extra in ("LICENSE", "README.md"):
            if (src / extra).is_file():
                shutil.copy2(src / extra, work / extra)
        with open(work / "names.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "glacier", "source"])
            writer.writerows((c.name, c.glacier, c.source) for c in chips)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return chips


def _write_layout(
    images: list[Path], fronts_dir: Path, work: Path, glacier: str | None, glacier_side: str
) -> list[ImportedChip]:
    from PIL import Image

    for sub in ("sar_images", "zones", "fronts"):
        (work / sub / "train").mkdir(parents=True)
    (work / "bounding_boxes").mkdir()
    chips: list[ImportedChip] = []
    seen: dict[str, str] = {}
    for image_path in images:
        name, chip_glacier = caffe_name_for(image_path.stem, glacier)
        if name in seen:
            raise GlacierfrontError(
                f"{image_path.stem} and {seen[name]} get the same name {name}; rename one"
            )
        seen[name] = image_path.stem
        image = read_png(image_path)
        front = read_png(_front_file(fronts_dir, image_path.stem)) > 127
        if front.shape != image.shape:
            raise GlacierfrontError(f"{image_path}: its front mask is not on the image's grid")
        if not front.any():
            raise GlacierfrontError(f"{image_path}: its front mask is empty; drop the chip or draw its front")
        Image.fromarray(image).save(work / "sar_images" / "train" / f"{name}.png")
        Image.fromarray(front.astype(np.uint8) * 255).save(work / "fronts" / "train" / f"{name}_front.png")
        write_zones(work / "zones" / "train" / f"{name}_zones.png", weak_zones(front, glacier_side))
        write_bbox(work / "bounding_boxes" / f"{name}_bbox.txt", front_box(front))
        chips.append(ImportedChip(image_path.stem, name, chip_glacier))
    return chips


def front_mask_to_lines(mask: np.ndarray):
    """Join the centres of 8-neighbouring pixels of the (skeletonised) labelled front into lines, in pixel
    (col, row) coordinates; an empty geometry where the mask holds no line."""
    import shapely
    from shapely.geometry import MultiLineString
    from skimage.morphology import skeletonize

    skel = skeletonize(np.asarray(mask, bool))
    rows, cols = np.nonzero(skel)
    on = set(zip(rows.tolist(), cols.tolist()))
    segments = []
    for r, c in on:
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            if (r + dr, c + dc) in on:
                # Skip a diagonal where a 4-neighbour path exists already: avoids little triangles.
                if dr and dc and ((r + dr, c) in on or (r, c + dc) in on):
                    continue
                segments.append([(c + 0.5, r + 0.5), (c + dc + 0.5, r + dr + 0.5)])
    return shapely.line_merge(MultiLineString(segments))

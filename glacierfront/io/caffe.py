"""CaFFe dataset helpers: image names, seasons, bounding boxes, zone PNG values, split listings and the
train/validation split of a training run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from glacierfront.errors import GlacierfrontError

# The zone classes live in glacierfront.zones; these names stay importable from here.
from glacierfront.zones import (  # noqa: F401
    GLACIER,
    IGNORE_ZONE,
    NA,
    OCEAN,
    ROCK,
    ZONE_CLASS_NAMES,
    ZONE_PNG_VALUES,
)

# Glaciers north of the equator; every other CaFFe glacier is on the Antarctic Peninsula.
NORTHERN_GLACIERS = frozenset({"COL", "JAC"})

# Suffixes CaFFe (and its derivatives) append to an image stem for label and box files.
_NAME_SUFFIXES = ("_zones", "_front", "_bbox", "_pred")
_EXTENSIONS = (".png", ".txt", ".tif", ".tiff", ".jpg", ".jpeg", ".npy")
_NAME_RE = re.compile(
    r"^(?P<glacier>[A-Za-z0-9-]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<satellite>[A-Za-z0-9]+)"
    r"_(?P<resolution>\d+(?:\.\d+)?)_(?P<quality>\d+)_(?P<orbit>[A-Za-z0-9]+)$"
)
_NAME_HELP = "expected Glacier_YYYY-MM-DD_Satellite_Resolution_Quality_Orbit, e.g. COL_2011-11-13_TDX_7_1_092"


@dataclass(frozen=True)
class CaffeName:
    """The fields encoded in a CaFFe image name; ``stem`` is the name without suffix or extension."""

    glacier: str
    date: dt.date
    satellite: str
    resolution_m: float
    quality: int
    orbit: str
    stem: str


def _strip_name(name: str | Path) -> str:
    stem = Path(name).name
    # Only known extensions are stripped: a fractional resolution ("_6.5_") also looks like a suffix.
    while stem.lower().endswith(_EXTENSIONS):
        stem = stem[: stem.rindex(".")]
    for suffix in _NAME_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def parse_caffe_name(name: str | Path) -> CaffeName:
    """Parse a CaFFe image, zones, front or bbox file name (a bare name or a path)."""
    stem = _strip_name(name)
    match = _NAME_RE.match(stem)
    if match is None:
        raise GlacierfrontError(f"{name}: not a CaFFe image name; {_NAME_HELP}")
    try:
        date = dt.date.fromisoformat(match["date"])
    except ValueError:
        raise GlacierfrontError(
            f"{name}: invalid date {match['date']!r} in CaFFe name; {_NAME_HELP}"
        ) from None
    return CaffeName(
        glacier=match["glacier"],
        date=date,
        satellite=match["satellite"],
        resolution_m=float(match["resolution"]),
        quality=int(match["quality"]),
        orbit=match["orbit"],
        stem=stem,
    )


def season(name: str | Path | CaffeName) -> str:
    """Return "winter" or "summer" for an image, using CaFFe's hemisphere-aware month rule."""
    parsed = name if isinstance(name, CaffeName) else parse_caffe_name(name)
    month = parsed.date.month
    if parsed.glacier in NORTHERN_GLACIERS:
        return "winter" if month <= 3 or month >= 9 else "summer"
    return "winter" if 4 <= month <= 8 else "summer"


def read_bbox(path: str | Path, shape: tuple[int, ...] | None = None) -> tuple[int, int, int, int]:
    """Read a CaFFe bounding box as ``(row0, row1, col0, col1)``, half-open, optionally clamped to ``shape``.

    The file holds a header line, then ``x,y`` corners in the order left-upper, left-lower, right-lower,
    right-upper. CaFFe's "upper" corners carry the LARGER row index, so the kept rows are
    [y of right-lower, y of left-upper) and the kept columns [x of left-upper, x of right-lower).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GlacierfrontError(
            f"{path}: cannot read bounding box ({exc.strerror}); check the path"
        ) from None
    corners: list[tuple[float, float]] = []
    lines = [(no, line.strip()) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for index, (line_no, line) in enumerate(lines):
        try:
            x, y = (float(p) for p in line.split(","))
        except ValueError:
            if index > 0:
                raise GlacierfrontError(
                    f"{path}: line {line_no} {line!r} is not an 'x,y' pair; "
                    "a CaFFe box file is a header line then four x,y corners"
                ) from None
            continue  # the header line
        corners.append((x, y))
    if len(corners) != 4:
        raise GlacierfrontError(
            f"{path}: found {len(corners)} corners, expected 4 (left-upper, left-lower, right-lower, right-upper)"
        )
    left_upper, _left_lower, right_lower, _right_upper = corners
    row0, row1 = round(right_lower[1]), round(left_upper[1])
    col0, col1 = round(left_upper[0]), round(right_lower[0])
    if row1 < row0 or col1 < col0:
        raise GlacierfrontError(
            f"{path}: corners are out of CaFFe order (rows {row0}..{row1}, cols {col0}..{col1}); "
            "expected left-upper, left-lower, right-lower, right-upper with 'upper' at the larger row"
        )
    if shape is not None:
        return clamp_bbox((row0, row1, col0, col1), shape)
    return row0, row1, col0, col1


def clamp_bbox(bbox: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Clamp a ``(row0, row1, col0, col1)`` box to an image of ``shape`` (rows, cols, ...)."""
    rows, cols = int(shape[0]), int(shape[1])
    row0, row1, col0, col1 = bbox
    row0, row1 = min(max(row0, 0), rows), min(max(row1, 0), rows)
    col0, col1 = min(max(col0, 0), cols), min(max(col1, 0), cols)
    return row0, max(row0, row1), col0, max(col0, col1)


def zones_from_png_values(arr: np.ndarray) -> np.ndarray:
    """Map CaFFe zone grey values (0/64/127/254) to class ids 0..3, snapping any value to the nearest one.

    Snapping tolerates resampled or re-encoded masks (e.g. 255 for ocean, 126 at a ragged edge).
    """
    values = np.asarray(arr)
    # Midpoints between the four grey values split 0..255 into four bins.
    edges = (ZONE_PNG_VALUES[:-1].astype(np.float64) + ZONE_PNG_VALUES[1:]) / 2
    return np.digitize(values, edges).astype(np.uint8)


def zones_to_png_values(ids: np.ndarray) -> np.ndarray:
    """Map class ids 0..3 to CaFFe zone grey values; raise on any other id."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() > 3):
        raise GlacierfrontError(
            f"zone class ids must be 0..3 (NA, rock, glacier, ocean); got {ids.min()}..{ids.max()}"
        )
    return ZONE_PNG_VALUES[ids.astype(np.intp)]


def _decode(path: str | Path, to_array) -> np.ndarray:
    """Open an image file and turn it into an array with ``to_array(img)``; one error for every failure."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise GlacierfrontError(f"{path}: file not found; check the path")
    try:
        with Image.open(path) as img:
            return to_array(img)
    except (UnidentifiedImageError, OSError) as exc:
        raise GlacierfrontError(f"{path}: cannot read as an image ({exc}); is it a valid PNG?") from None


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG as a 2-D greyscale uint8 array."""
    return _decode(
        path, lambda img: np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.uint8).copy()
    )


def read_zones(path: str | Path) -> np.ndarray:
    """Read a zone label PNG as class ids 0..3, with ``IGNORE_ZONE`` where the PNG is transparent.

    CaFFe's own masks are plain grey (no pixel ignored). Weak labels (``glacierfront import-fronts``) carry
    an alpha channel: alpha 0 marks the pixels the label says nothing about.
    """

    def grey_and_alpha(img) -> tuple[np.ndarray, np.ndarray | None]:
        if img.mode in ("LA", "RGBA", "PA") or "transparency" in img.info:
            grey_alpha = np.asarray(img.convert("LA"), dtype=np.uint8)
            return grey_alpha[..., 0], grey_alpha[..., 1]
        return np.asarray(img.convert("L"), dtype=np.uint8), None

    grey, alpha = _decode(path, grey_and_alpha)
    zones = zones_from_png_values(grey)
    if alpha is not None:
        zones[alpha < 128] = IGNORE_ZONE
    return zones


def write_zones(path: str | Path, ids: np.ndarray) -> None:
    """Write class ids 0..3 as a CaFFe zone PNG (atomically); ``IGNORE_ZONE`` pixels become transparent."""
    from PIL import Image

    from glacierfront.io.atomic import atomic_path

    ids = np.asarray(ids)
    ignored = ids == IGNORE_ZONE
    grey = zones_to_png_values(np.where(ignored, 0, ids))
    with atomic_path(Path(path)) as tmp:
        if ignored.any():
            alpha = np.where(ignored, 0, 255).astype(np.uint8)
            Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA").save(tmp, format="PNG")
        else:
            Image.fromarray(np.ascontiguousarray(grey)).save(tmp, format="PNG")


@dataclass(frozen=True)
class CaffeItem:
    """The files of one CaFFe image; ``bbox`` is None when the dataset has no box for it."""

    name: str
    image: Path
    zones: Path
    front: Path
    bbox: Path | None


@dataclass(frozen=True)
class CaffeSplit:
    """One split of a CaFFe folder: its items sorted by name."""

    data_dir: Path
    split: str
    items: tuple[CaffeItem, ...]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    @property
    def glaciers(self) -> list[str]:
        return sorted({parse_caffe_name(item.name).glacier for item in self.items})


def _resolve_root(data_dir: Path, split: str) -> Path:
    # Accept both the unpacked archive root (containing data_raw/) and data_raw itself.
    for root in (data_dir, data_dir / "data_raw"):
        if (root / "sar_images" / split).is_dir():
            return root
    raise GlacierfrontError(
        f"{data_dir}: not a CaFFe folder for split {split!r}: expected sar_images/{split}/, zones/{split}/, "
        f"fronts/{split}/ and bounding_boxes/ inside it (or inside its data_raw/)"
    )


def _find_bbox(name: str, bbox_names: list[str], bbox_dir: Path) -> Path | None:
    # Box files are "<name>_bbox.txt", "<name>.txt" or other suffixes; the stem prefix identifies the image.
    import bisect

    start = bisect.bisect_left(bbox_names, name)
    for candidate in bbox_names[start:]:
        if not candidate.startswith(name):
            break
        if candidate[len(name) : len(name) + 1] in ("_", "."):
            return bbox_dir / candidate
    return None


def data_folders(data: str | Path | Sequence[str | Path]) -> list[Path]:
    """One data folder or several (joint training, e.g. SAR + optical) as a list of paths."""
    if isinstance(data, (str, Path)):
        return [Path(data)]
    return [Path(d) for d in data]


def data_label(data: str | Path | Sequence[str | Path]) -> str:
    """Short name of one or several data folders, for model metadata: "caffe256" or "caffe256+optical"."""
    return "+".join(p.name for p in data_folders(data))


def list_split(
    data_dir: str | Path | Sequence[str | Path], split: str = "train", glaciers: Iterable[str] | None = None
) -> CaffeSplit:
    """List the image, zones, front and bbox files of one split of a CaFFe-layout folder, sorted by name.

    Several folders (joint training on SAR and optical data) give one split of all their items; names
    must not repeat across them, and ``data_dir`` of the result is the first folder's root.
    """
    folders = data_folders(data_dir)
    if len(folders) > 1:
        parts = [list_split(folder, split, None) for folder in folders]
        items = sorted((it for part in parts for it in part.items), key=lambda it: it.name)
        names = [it.name for it in items]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise GlacierfrontError(f"image {dup} is in more than one --data folder; give each image once")
        if glaciers is not None:
            wanted = set(glaciers)
            available = {parse_caffe_name(it.name).glacier for it in items}
            if missing := wanted - available:
                raise GlacierfrontError(
                    f"no {split} images of glacier(s) {', '.join(sorted(missing))} in the --data folders; "
                    f"available: {', '.join(sorted(available))}"
                )
            items = [it for it in items if parse_caffe_name(it.name).glacier in wanted]
        return CaffeSplit(data_dir=parts[0].data_dir, split=split, items=tuple(items))
    data_dir = folders[0]
    if split not in ("train", "test"):
        raise GlacierfrontError(f"split must be 'train' or 'test', got {split!r}")
    if not data_dir.is_dir():
        raise GlacierfrontError(f"{data_dir}: data folder not found; pass the CaFFe data_raw folder")
    root = _resolve_root(data_dir, split)
    wanted = set(glaciers) if glaciers is not None else None
    bbox_dir = root / "bounding_boxes"
    bbox_names = sorted(p.name for p in bbox_dir.glob("*.txt")) if bbox_dir.is_dir() else []
    items: list[CaffeItem] = []
    seen_glaciers: set[str] = set()
    for image in sorted((root / "sar_images" / split).glob("*.png")):
        parsed = parse_caffe_name(image)
        seen_glaciers.add(parsed.glacier)
        if wanted is not None and parsed.glacier not in wanted:
            continue
        zones = root / "zones" / split / f"{parsed.stem}_zones.png"
        front = root / "fronts" / split / f"{parsed.stem}_front.png"
        for label in (zones, front):
            if not label.is_file():
                raise GlacierfrontError(
                    f"{image}: label file {label} is missing; the CaFFe folder is incomplete"
                )
        items.append(
            CaffeItem(parsed.stem, image, zones, front, _find_bbox(parsed.stem, bbox_names, bbox_dir))
        )
    if wanted is not None and (missing := wanted - seen_glaciers):
        raise GlacierfrontError(
            f"{data_dir}: no {split} images of glacier(s) {', '.join(sorted(missing))}; "
            f"available: {', '.join(sorted(seen_glaciers)) or 'none'}"
        )
    if not items:
        raise GlacierfrontError(f"{root / 'sar_images' / split}: no CaFFe .png images found")
    return CaffeSplit(data_dir=root, split=split, items=tuple(items))


class _Named(Protocol):
    name: str


_Item = TypeVar("_Item", bound=_Named)


def split_train_val(
    items: Iterable[_Item],
    val_fraction: float = 0.1,
    seed: int = 0,
    val_glaciers: Iterable[str] | None = None,
) -> tuple[list[_Item], list[_Item]]:
    """Split training items into (train, val), both sorted by name; the same inputs give the same split.

    Without ``val_glaciers``, ``round(val_fraction * n)`` items of the name-sorted list are drawn with a
    fixed-seed generator (CaFFe has no official validation split; its baseline does the same). With
    ``val_glaciers``, every image of those glaciers is held out and ``val_fraction`` is not used. Training
    draws its validation images so, and ``evaluate --holdout`` draws them again from a run's config.
    """
    ordered = sorted(items, key=lambda item: item.name)
    if val_glaciers is not None:
        held = set(val_glaciers)
        glacier_of = {item.name: parse_caffe_name(item.name).glacier for item in ordered}
        missing = held - set(glacier_of.values())
        if missing:
            raise GlacierfrontError(
                f"--val-glaciers: no training images of {', '.join(sorted(missing))}; "
                f"available: {', '.join(sorted(set(glacier_of.values())))}"
            )
        val = [item for item in ordered if glacier_of[item.name] in held]
        train = [item for item in ordered if glacier_of[item.name] not in held]
    else:
        if not 0.0 <= val_fraction < 1.0:
            raise GlacierfrontError(f"--val-fraction must be in [0, 1), got {val_fraction}")
        n_val = round(val_fraction * len(ordered))
        picked = set(np.random.default_rng(seed).permutation(len(ordered))[:n_val].tolist())
        val = [item for k, item in enumerate(ordered) if k in picked]
        train = [item for k, item in enumerate(ordered) if k not in picked]
    if not train:
        raise GlacierfrontError("the validation split takes every training image; hold out fewer images")
    return train, val

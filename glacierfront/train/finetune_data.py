"""Training data for `glacierfront finetune`: a temporary CaFFe-layout folder the ordinary Trainer reads.

Two sources:

* ``caffe_subset``: images of a CaFFe-layout folder (all, or the names given), with their zone labels or with
  weak labels made from their front masks (``labels="fronts"``);
* ``scenes_to_caffe``: georeferenced scenes and front lines in any CRS. Each scene is read on the base model's
  grid (the same resampling predict does), cropped around its front, and written as an 8-bit PNG with a weak
  zone label made from its lines.

Weak labels (``io.frontlines.weak_zones_along``, which ``weak_zones`` uses straight down the image) follow any flow direction: seen along
the direction from the front into the glacier ("upstream"), every strip of the image that the front crosses
is glacier upstream of the front's most upstream pixel in that strip and ocean downstream of its most
downstream one; everything else (the line, what lies between its ends in a strip, strips it does not cross,
pixels outside the AOI, nodata, and pixels farther than ``depth_px`` from the front) is ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.acquisition import date_from_field, date_from_name
from glacierfront.io.caffe import (
    parse_caffe_name,
    read_png,
    write_zones,
)
from glacierfront.io.fields import (
    DATE_FIELDS,
    REDRAWN,
    REJECTED,
    SCENE_FIELDS,
    UPSTREAM_FIELDS,
    field_value,
    parse_bearing,
    verdict_of,
)
from glacierfront.io.frontlines import front_box, weak_zones_along, write_bbox

# A crop is at least this big (the training patch), and reaches this far beyond the labelled pixels.
MIN_CROP_PX = 256
CROP_MARGIN_PX = 32


# -- directions -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlacierSide:
    """Where the glacier lies from the front: a true bearing (degrees, from the front into the glacier) or a
    point on the glacier (x, y in ``crs``; ``crs`` None: the fronts' own CRS, or pixels for image data)."""

    bearing_deg: float | None = None
    point: tuple[float, float] | None = None
    crs: str | None = None
    text: str = ""


def parse_glacier_side(value: str | None) -> GlacierSide | None:
    """--glacier-side: "X,Y" (a point on the glacier in the fronts' CRS; a LON,LAT pair is also taken, see
    ``point_in``), or a direction from the front into the glacier: a compass point or bearing ("E", "95"),
    and for image data "below"/"above" (import-fronts' words: S/N in the image)."""
    if value is None:
        return None
    text = value.strip()
    words = {"below": 180.0, "above": 0.0}
    if text.lower() in words:
        return GlacierSide(bearing_deg=words[text.lower()], text=text)
    if "," in text:
        try:
            x, y = (float(v) for v in text.split(","))
        except ValueError:
            raise GlacierfrontError(
                f"--glacier-side {value!r}: give X,Y (a point on the glacier), e.g. -185000,-2105000, "
                "or a direction into the glacier, e.g. E or 95"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise GlacierfrontError(f"--glacier-side {value!r}: coordinates must be finite numbers")
        return GlacierSide(point=(x, y), text=text)
    try:
        return GlacierSide(bearing_deg=parse_bearing(text), text=text)
    except GlacierfrontError:
        raise GlacierfrontError(
            f"--glacier-side {value!r}: give X,Y (a point on the glacier in the fronts' CRS, or LON,LAT), or "
            "a direction from the front into the glacier: N, NE, E, ..., a bearing in degrees, below or above"
        ) from None


def image_direction(bearing_deg: float) -> np.ndarray:
    """Unit (row, col) step of a bearing in an image with north up (rows grow southwards)."""
    rad = math.radians(bearing_deg)
    return np.array([-math.cos(rad), math.sin(rad)])


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.hypot(*vector))
    if not norm > 1e-9:
        raise GlacierfrontError(
            f"{what}: the glacier-side point lies on the front itself; pick one up-glacier"
        )
    return np.asarray(vector, dtype=np.float64) / norm


# -- CaFFe-layout output -----------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A CaFFe-layout folder ready for training, and what went into it (for the model card and metadata)."""

    folder: Path
    names: list[str]  # CaFFe names of the training images (duplicates for pairing left out)
    sources: list[str]  # where each came from (image name or scene file)
    labels: str  # "zones" or "weak labels from front lines"
    warnings: list[str] = field(default_factory=list)


def _layout(root: Path) -> None:
    for sub in ("sar_images/train", "zones/train", "fronts/train"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "bounding_boxes").mkdir(exist_ok=True)


def _link(src: Path, dst: Path) -> None:
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:  # a file system without symbolic links
        shutil.copyfile(src, dst)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(path)


def pair_partner(root: Path, names: list[str]) -> None:
    """CISNet trains on pairs of images: a single image gets a copy of itself (another name) to pair with."""
    if len(names) != 1:
        return
    name = names[0]
    copy = f"{name}dup"
    parse_caffe_name(copy)  # still a CaFFe name (the orbit field takes letters)
    for sub, suffix in (("sar_images/train", ""), ("zones/train", "_zones"), ("fronts/train", "_front")):
        src = root / sub / f"{name}{suffix}.png"
        shutil.copyfile(src, root / sub / f"{copy}{suffix}.png")
    box = root / "bounding_boxes" / f"{name}_bbox.txt"
    if box.is_file():
        shutil.copyfile(box, root / "bounding_boxes" / f"{copy}_bbox.txt")


def _image_list(data: Path, split: str) -> tuple[Path, list[Path]]:
    """(root, image PNGs) of a CaFFe-layout folder whose labels may be zones, fronts or both."""
    for root in (data, data / "data_raw"):
        if (root / "sar_images" / split).is_dir():
            images = sorted((root / "sar_images" / split).glob("*.png"))
            if not images:
                raise GlacierfrontError(f"{root / 'sar_images' / split}: no .png images")
            return root, images
    raise GlacierfrontError(
        f"--data {data}: not a CaFFe-layout folder: expected sar_images/{split}/ with zones/{split}/ "
        f"and/or fronts/{split}/ beside it"
    )


def caffe_subset(
    data: str | Path,
    out: str | Path,
    names: Sequence[str] | None = None,
    labels: str = "auto",
    glacier_side: GlacierSide | None = None,
    split: str = "train",
    glaciers: Sequence[str] | None = None,
) -> Prepared:
    """Link images of a CaFFe-layout ``data`` folder (``names``, else all; ``glaciers`` to filter) into
    ``out`` with their labels: "zones" (the zone masks), "fronts" (weak labels from the front masks; needs
    ``glacier_side``: a direction, N = the top of the image, or a point X,Y in pixels) or "auto" (zones
    where the folder has them, else fronts)."""
    if labels not in ("auto", "zones", "fronts"):
        raise GlacierfrontError(f"--labels {labels!r}: choose auto, zones or fronts")
    data, out = Path(data), Path(out)
    root, chosen = _choose_images(data, split, names, glaciers)
    _layout(out)
    used = "zones"
    written: list[str] = []
    for image in chosen:
        name = parse_caffe_name(image).stem
        if _link_image(root, split, image, name, out, labels, glacier_side) == "fronts":
            used = "weak labels from front lines"
        written.append(name)
    pair_partner(out, written)
    return Prepared(out, written, [str(p) for p in chosen], used)


def _choose_images(
    data: Path, split: str, names: Sequence[str] | None, glaciers: Sequence[str] | None
) -> tuple[Path, list[Path]]:
    """The folder's root and the images of ``split`` to use: ``names`` (all must exist), else all, then
    those of ``glaciers``."""
    root, images = _image_list(data, split)
    by_name = {p.stem: p for p in images}
    if names is not None:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise GlacierfrontError(f"--data {data}: no image {missing[0]} in sar_images/{split}/")
        chosen = [by_name[n] for n in names]
    else:
        chosen = images
    if glaciers is not None:
        wanted = set(glaciers)
        chosen = [p for p in chosen if parse_caffe_name(p).glacier in wanted]
        if not chosen:
            raise GlacierfrontError(f"--data {data}: no images of glacier(s) {', '.join(sorted(wanted))}")
    return root, chosen


def _link_image(
    root: Path, split: str, image: Path, name: str, out: Path, labels: str, glacier_side: GlacierSide | None
) -> str:
    """Link one image, its front mask, its zone label (or write a weak one) and its bounding box (or write
    one around the front) into ``out``; returns the label kind used, "zones" or "fronts"."""
    zones = root / "zones" / split / f"{name}_zones.png"
    front = root / "fronts" / split / f"{name}_front.png"
    if not front.is_file():
        raise GlacierfrontError(f"{image}: no front mask {front}; every image needs one")
    mode = labels if labels != "auto" else ("zones" if zones.is_file() else "fronts")
    _link(image, out / "sar_images/train" / f"{name}.png")
    _link(front, out / "fronts/train" / f"{name}_front.png")
    mask = read_png(front) > 127
    if mode == "zones":
        if not zones.is_file():
            raise GlacierfrontError(f"{image}: no zone mask {zones}; use --labels fronts")
        _link(zones, out / "zones/train" / f"{name}_zones.png")
    else:
        _write_weak_zones(out / "zones/train" / f"{name}_zones.png", front, mask, glacier_side)
    box = root / "bounding_boxes" / f"{name}_bbox.txt"
    if box.is_file():
        _link(box, out / "bounding_boxes" / f"{name}_bbox.txt")
    elif mask.any():
        write_bbox(out / "bounding_boxes" / f"{name}_bbox.txt", front_box(mask))
    return mode


def _write_weak_zones(path: Path, front: Path, mask: np.ndarray, glacier_side: GlacierSide | None) -> None:
    """Write the weak zone label made from the front mask ``mask`` (read from ``front``)."""
    if glacier_side is None:
        raise GlacierfrontError(
            "weak labels from front lines need to know where the glacier is: pass --glacier-side "
            "(a direction in the image, N = up: N, E, below, 95 ...; or a point COL,ROW in pixels)"
        )
    if not mask.any():
        raise GlacierfrontError(f"{front}: empty front mask; drop the image or draw its front")
    write_zones(path, weak_zones_along(mask, _image_upstream(mask, glacier_side)))


def _image_upstream(front: np.ndarray, side: GlacierSide) -> np.ndarray:
    """The upstream (row, col) direction in an image without a CRS: a direction with north up, or from the
    front's centre to a point given as COL,ROW pixels."""
    if side.bearing_deg is not None:
        return image_direction(side.bearing_deg)
    rows, cols = np.nonzero(front)
    col, row = side.point
    return _unit(np.array([row - rows.mean(), col - cols.mean()]), f"--glacier-side {side.text}")


# -- georeferenced scenes ------------------------------------------------------------------------------------
def _line_date(props: dict[str, Any]) -> dt.date | None:
    value = field_value(props, DATE_FIELDS)
    return None if value is None else date_from_field(value)


@dataclass
class FrontLine:
    geometry: Any  # shapely line in the fronts' CRS
    label: str  # how to name it in messages: "line 3 of fronts.gpkg (date 2020-01-04)"
    scene: str | None
    date: dt.date | None
    verdict: str | None = None  # a review's verdict (io.fields.verdict_of): redrawn lines come first


def read_fronts(path: str | Path, layer: str | None = None) -> tuple[list[FrontLine], str | None]:
    """Front lines from a file or a folder (one file per scene or date: then a line without a scene or date
    field takes the date in its file's name), each with its scene name and date when known."""
    from glacierfront.io.vector_files import (
        DRIVERS,
        PolygonsNotLines,
        check_geometries,
        read_lines,
        reproject_records,
    )

    path = Path(path)
    if not path.exists():
        raise GlacierfrontError(f"--fronts {path}: no such file or folder")
    files = (
        sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DRIVERS)
        if path.is_dir()
        else [path]
    )
    if not files:
        raise GlacierfrontError(f"--fronts {path}: a folder without vector files (.gpkg, .shp, .geojson)")
    lines: list[FrontLine] = []
    crs = None
    for file in files:
        try:
            records, file_crs = read_lines(file, layer=layer)
        except PolygonsNotLines:
            raise GlacierfrontError(
                f"--fronts {file}: holds polygons, not front lines; give line layers (a box goes in --aoi)"
            ) from None
        check_geometries([geom for geom, _ in records], file_crs, f"--fronts {file}")
        if crs is None:
            crs = file_crs
        elif file_crs is not None and file_crs != crs:
            records = reproject_records(records, file_crs, crs)
        for k, (geom, props) in enumerate(records, start=1):
            verdict = verdict_of(props)
            if verdict == REJECTED:
                continue  # a reviewer rejected it (glacierfront review)
            scene = field_value(props, SCENE_FIELDS)
            date = _line_date(props)
            if date is None and scene is None:
                date = date_from_name(file.stem)
            label = (
                f"line {k} of {file.name}"
                + (f" (date {date})" if date else "")
                + (f" (scene {scene})" if scene else "")
            )
            lines.append(FrontLine(geom, label, None if scene is None else str(scene).strip(), date, verdict))
    if not lines:
        raise GlacierfrontError(f"--fronts {path}: holds no lines")
    return lines, crs


def match_lines(scene: Path, lines: Sequence[FrontLine]) -> list[FrontLine]:
    """The lines of one scene: those whose scene field names it (file name or stem), else those of its date;
    of these, only the redrawn ones when a reviewer redrew the front (``glacierfront review``)."""
    named = [ln for ln in lines if ln.scene is not None and ln.scene in (scene.name, scene.stem)]
    if not named:
        date = date_from_name(scene.stem)
        named = [] if date is None else [ln for ln in lines if ln.scene is None and ln.date == date]
    redrawn = [ln for ln in named if ln.verdict == REDRAWN]
    return redrawn or named


@dataclass
class SceneOptions:
    glacier_side: GlacierSide | None = None
    aoi: Path | None = None
    depth_m: float | None = 3000.0
    glacier: str | None = None
    scaling: str = "auto"
    band: int | None = None
    nodata: float | None = None


# Labels reach this far either side of a front line without an --aoi box; with one they fill the box.
DEFAULT_LABEL_DEPTH_M = 3000.0


def label_depth_m(requested: float | None, aoi: Path | None) -> float | None:
    """The label depth (m) of --label-depth: None (no limit) for 0, or by default with an AOI box (a front
    line labels the whole box: glacier upstream, water downstream), else ``DEFAULT_LABEL_DEPTH_M``."""
    if requested is None:
        return None if aoi is not None else DEFAULT_LABEL_DEPTH_M
    if requested < 0:
        raise GlacierfrontError(f"--label-depth {requested:g}: give metres >= 0 (0: no limit)")
    return requested or None


def scenes_to_caffe(
    scenes: Sequence[str | Path],
    fronts: str | Path,
    out: str | Path,
    base_model: str | Path,
    options: SceneOptions | None = None,
    warn: Callable[[str], None] | None = None,
) -> Prepared:
    """Write georeferenced ``scenes`` with weak labels from ``fronts`` into a CaFFe-layout folder ``out``.

    Each scene is read on the grid predict would use for ``base_model`` (its ``resolution_m``), cropped to
    its labelled front plus a margin. A scene without a matching line, and a line outside the AOI, are
    skipped with a warning (``warn``); no scene left is an error.
    """
    from glacierfront.model.backend import load_backend
    from glacierfront.predict import PredictOptions, open_for_model

    options = options or SceneOptions()
    warn = warn or (lambda message: None)
    out = Path(out)
    lines, fronts_crs = read_fronts(fronts)
    aoi = _read_aoi(options.aoi) if options.aoi is not None else None
    glacier = _glacier_name(options.glacier or (aoi.glacier if aoi else None))
    backend = load_backend(base_model, "cpu")
    read = PredictOptions(scaling=options.scaling, band=options.band, nodata=options.nodata)
    _layout(out)
    prepared = Prepared(out, [], [], "weak labels from front lines")
    used: set[int] = set()  # ids of the lines some scene took
    for index, scene_path in enumerate(Path(s) for s in scenes):
        matched = match_lines(scene_path, lines)
        if not matched:
            prepared.warnings.append(
                f"{scene_path.name}: no front line matches it (by a 'scene' field or its date "
                f"{date_from_name(scene_path.stem) or 'unknown: none in the file name'}); skipped"
            )
            continue
        scene, _choice = open_for_model(scene_path, backend, read)
        try:
            name = _write_scene(
                scene, scene_path, matched, fronts_crs, aoi, glacier, index, out, options, prepared
            )
        finally:
            scene.close()
        if name is not None:
            prepared.names.append(name)
            prepared.sources.append(str(scene_path))
            used.update(id(ln) for ln in matched)
    unused = [ln.label for ln in lines if id(ln) not in used]
    if unused:
        more = f" and {len(unused) - 1} more" if len(unused) > 1 else ""
        prepared.warnings.append(f"{unused[0]}{more}: no scene given for it; not used")
    for message in prepared.warnings:
        warn(message)
    if not prepared.names:
        raise GlacierfrontError(
            "no scene could be labelled: "
            + ("; ".join(prepared.warnings) if prepared.warnings else "no scenes given")
        )
    pair_partner(out, prepared.names)
    return prepared


@dataclass
class _Aoi:
    geoms: list[dict]
    crs: str | None
    upstream: float | None
    glacier: str | None
    path: Path


def _read_aoi(path: Path) -> _Aoi:
    import fiona

    from glacierfront.io.aoi import read_aoi_polygons

    crs, polygons = read_aoi_polygons(path)
    upstream = None
    try:
        with fiona.open(path) as src:
            for feature in src:
                value = field_value(dict(feature.properties), UPSTREAM_FIELDS)
                if value is not None:
                    upstream = parse_bearing(value)
                    break
    except (fiona.errors.FionaError, OSError) as err:
        raise GlacierfrontError(f"--aoi {path}: cannot read it ({err})") from None
    if crs is None:
        raise GlacierfrontError(f"--aoi {path}: has no CRS; give it one so it can be matched to the scenes")
    glacier = next((gid for _, gid in polygons if gid), None)
    return _Aoi([g for g, _ in polygons], crs, upstream, glacier, path)


def _glacier_name(value: str | None) -> str:
    name = re.sub(r"[^A-Za-z0-9-]+", "-", value or "glacier").strip("-") or "glacier"
    return name


def _write_scene(scene, scene_path: Path, matched, fronts_crs, aoi, glacier, index, out, options, prepared):
    """Crop, label and write one scene; returns its CaFFe name, or None (with a warning) when nothing is left."""
    from affine import Affine

    lines = _scene_lines(scene, scene_path, matched, fronts_crs, aoi, prepared)
    if lines is None:
        return None
    geoms, region_geoms = lines
    res = float(np.mean(scene.metres_per_pixel()))
    depth_px = None if options.depth_m is None else options.depth_m / res
    window = _crop_window(scene, geoms, region_geoms, depth_px)
    if window is None:
        prepared.warnings.append(f"{scene_path.name}: its front lines lie outside the scene; skipped")
        return None
    row0, row1, col0, col1 = window
    image, valid = scene.read_window(row0, col0, row1 - row0, col1 - col0)
    transform = scene.resampled_transform @ Affine.translation(col0, row0)
    shape_ = (row1 - row0, col1 - col0)
    front = _burn(geoms, shape_, transform) & valid
    if not front.any():
        prepared.warnings.append(f"{scene_path.name}: its front lines fall on no valid pixel; skipped")
        return None
    region = valid
    if region_geoms is not None:
        region = region & _burn(region_geoms, shape_, transform)
    upstream = _scene_upstream(front, transform, scene.crs, fronts_crs, options.glacier_side, aoi, scene_path)
    zones = weak_zones_along(front, upstream, region, depth_px)
    date = (
        date_from_name(scene_path.stem)
        or next((ln.date for ln in matched if ln.date), None)
        or dt.date(2000, 1, 1)
    )
    name = f"{glacier}_{date.isoformat()}_SCENE_{res:g}_0_{index:03d}"
    parse_caffe_name(name)
    _write_png(out / "sar_images/train" / f"{name}.png", np.round(image[0] * 255))
    _write_png(out / "fronts/train" / f"{name}_front.png", front.astype(np.uint8) * 255)
    write_zones(out / "zones/train" / f"{name}_zones.png", zones)
    write_bbox(out / "bounding_boxes" / f"{name}_bbox.txt", front_box(front))
    return name


def _scene_lines(scene, scene_path: Path, matched, fronts_crs, aoi, prepared):
    """The scene's front lines in its CRS (clipped to the AOI, if any) and the AOI polygons in its CRS (None
    without one); None (with warnings) when no line lies inside the AOI."""
    from shapely.geometry import shape

    from glacierfront.io.crs import reproject

    if scene.crs is None:
        raise GlacierfrontError(f"{scene_path}: has no CRS; fine-tuning needs georeferenced scenes")
    if fronts_crs is None:
        raise GlacierfrontError(
            "--fronts: the layer has no CRS; give it one so it can be matched to the scenes"
        )
    geoms = reproject([ln.geometry for ln in matched], fronts_crs, scene.crs)
    if aoi is None:
        return geoms, None
    region_geoms = reproject([shape(g) for g in aoi.geoms], aoi.crs, scene.crs)
    from shapely.ops import unary_union

    area = unary_union(region_geoms)
    kept = []
    for geom, ln in zip(geoms, matched, strict=True):
        inside = geom.intersection(area)
        if inside.is_empty or inside.length == 0:
            prepared.warnings.append(f"{ln.label} lies outside the AOI {aoi.path.name}; skipped")
        else:
            kept.append(inside)
    if not kept:
        prepared.warnings.append(f"{scene_path.name}: none of its front lines lies inside the AOI; skipped")
        return None
    return kept, region_geoms


def _crop_window(scene, geoms, region_geoms, depth_px: float | None) -> tuple[int, int, int, int] | None:
    """The crop (row0, row1, col0, col1) on the scene grid around the lines (and the whole AOI when labels
    fill it), reaching the label depth plus a margin, at least MIN_CROP_PX; None when nothing is inside."""
    inverse = ~scene.resampled_transform
    xs, ys = [], []
    for geom in geoms:
        for part in getattr(geom, "geoms", [geom]):
            for x, y in part.coords:
                col, row = inverse @ (x, y)
                xs.append(col)
                ys.append(row)
    if region_geoms is not None and depth_px is None:
        # Labels fill the box: the crop holds all of it (within the scene).
        for geom in region_geoms:
            for x, y in np.asarray(
                geom.exterior.coords if geom.geom_type == "Polygon" else geom.convex_hull.exterior.coords
            ):
                col, row = inverse @ (x, y)
                xs.append(col)
                ys.append(row)
    reach = CROP_MARGIN_PX + (
        math.ceil(depth_px) if depth_px is not None else 0 if region_geoms is not None else MIN_CROP_PX // 2
    )
    row0, row1 = math.floor(min(ys)) - reach, math.ceil(max(ys)) + reach
    col0, col1 = math.floor(min(xs)) - reach, math.ceil(max(xs)) + reach
    row0, row1 = _widen(row0, row1, scene.height)
    col0, col1 = _widen(col0, col1, scene.width)
    if row1 <= row0 or col1 <= col0:
        return None
    return row0, row1, col0, col1


def _burn(geoms, shape_: tuple[int, int], transform) -> np.ndarray:
    """A boolean mask of the pixels ``geoms`` touch on the grid of ``transform``."""
    from rasterio.features import rasterize
    from shapely.geometry import mapping

    burnt = rasterize(
        [mapping(g) for g in geoms], out_shape=shape_, transform=transform, fill=0, default_value=1
    )
    return burnt.astype(bool)


def _widen(lo: int, hi: int, size: int) -> tuple[int, int]:
    """Clamp [lo, hi) to [0, size) and widen it to MIN_CROP_PX where the scene allows."""
    lo, hi = max(lo, 0), min(hi, size)
    missing = MIN_CROP_PX - (hi - lo)
    if missing > 0:
        lo = max(0, lo - missing // 2)
        hi = min(size, lo + MIN_CROP_PX)
        lo = max(0, hi - MIN_CROP_PX)
    return lo, hi


def _scene_upstream(front, transform, scene_crs, fronts_crs, side, aoi, scene_path) -> np.ndarray:
    """(row, col) direction from the front into the glacier on a scene crop: from --glacier-side (a point or
    a true bearing), else the AOI's 'upstream' field."""
    from rasterio.warp import transform as move

    if side is None and (aoi is None or aoi.upstream is None):
        raise GlacierfrontError(
            "which side of the fronts is the glacier? Pass --glacier-side X,Y (a point on the glacier, in the "
            "fronts' CRS, or LON,LAT) or a direction from the front into the glacier (N, ENE, 95 ...), or give "
            "the --aoi polygon an 'upstream' field"
        )
    rows, cols = np.nonzero(front)
    centre_rc = np.array([rows.mean() + 0.5, cols.mean() + 0.5])
    cx, cy = transform @ (centre_rc[1], centre_rc[0])
    if side is not None and side.point is not None:
        px, py = point_in(side, fronts_crs, scene_crs)
        col, row = ~transform @ (px, py)
        away_m = math.hypot(px - cx, py - cy)  # the scene grid is metric (open_for_model)
        if not away_m <= MAX_GLACIER_SIDE_M:
            raise GlacierfrontError(
                f"--glacier-side {side.text}: {away_m / 1000:.0f} km from the front of {scene_path.name}; give "
                "a point on the glacier near its front (in the fronts' CRS, or LON,LAT) or a direction (E, 95 ...)"
            )
        return _unit(np.array([row, col]) - centre_rc, f"{scene_path.name}: --glacier-side {side.text}")
    bearing = side.bearing_deg if side is not None else aoi.upstream
    # A short step along the true bearing from the front's centre, on the sphere, then into the scene grid.
    (lon,), (lat,) = move(scene_crs, "EPSG:4326", [cx], [cy])
    step = 500.0 / 6_371_000.0
    lat2 = lat + math.degrees(step * math.cos(math.radians(bearing)))
    lon2 = lon + math.degrees(step * math.sin(math.radians(bearing)) / max(math.cos(math.radians(lat)), 1e-6))
    (x2,), (y2,) = move("EPSG:4326", scene_crs, [lon2], [lat2])
    col2, row2 = ~transform @ (x2, y2)
    return _unit(np.array([row2, col2]) - centre_rc, f"{scene_path.name}: glacier side {bearing:g} degrees")


# Farthest a --glacier-side point may lie from a scene's front: a point on the glacier is within a few tens
# of km of its front; one thousands of km away is a point in the wrong CRS or a typo.
MAX_GLACIER_SIDE_M = 100_000.0


def point_in(side: GlacierSide, fronts_crs: Any, scene_crs: Any) -> tuple[float, float]:
    """A --glacier-side point in the scene's CRS. X,Y are in the fronts' CRS; where that CRS is projected and
    the pair lies within longitude/latitude range, it is taken as LON,LAT (a projected point within 180 m of
    the projection's origin is never on a glacier: the pole, or a UTM easting of 0)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform as move

    x, y = side.point
    source = CRS.from_user_input(fronts_crs)
    if not source.is_geographic and abs(x) <= 180 and abs(y) <= 90:
        source = CRS.from_epsg(4326)
    if source.is_geographic and not (abs(x) <= 360 and abs(y) <= 90):
        raise GlacierfrontError(
            f"--glacier-side {side.text}: not a longitude, latitude (the fronts' CRS is geographic); give LON,LAT "
            "of a point on the glacier, or a direction (E, 95 ...)"
        )
    try:
        (px,), (py,) = move(source, scene_crs, [x], [y])
    except Exception as err:  # PROJ refuses a point it cannot project (rasterio raises several types)
        raise GlacierfrontError(
            f"--glacier-side {side.text}: cannot be placed in the scene's CRS ({err})"
        ) from None
    return px, py

"""The real-scene protocol: judge a model the way a user runs it, GeoTIFF -> ``predict`` -> lines -> ``evaluate``.

Chip scores (``evaluate --data``) feed the model a glacier-centred 256 x 256 array and score CaFFe's front
pixels. A user hands ``predict`` a georeferenced scene framed, oriented and encoded their own way. Here each
image is written as such a scene, in several framings, and run through the product path: ``predict_scene``
(the function ``glacierfront predict`` calls, with its reading, scaling, tiling and front rules), the lines
written to a GeoPackage and scored by ``evaluate_vectors`` (what ``glacierfront evaluate`` runs) against the
labelled front as a line layer. Distances come back in ground metres; the chips are written with
``PIXEL_M`` metre pixels, so metres / ``PIXEL_M`` are pixels of the 256 grid, comparable with chip scores.

Framings (families):

- ``whole``: the chip as it is;
- ``crop``: ``CROPS`` windows covering 35-80 % of the chip (area drawn uniformly, aspect 0.6-1.6) placed
  at random where they hold the whole labelled front if they can (else as much of it as they can);
- ``rotate``: the chip turned by 90, 180 and 270 degrees (a glacier flowing another way);
- ``encoding``: the chip as float32 dB (20 log10 of the amplitude, NaN as no data) and as uint16 (v x 257,
  0 as no data).

Each scene comes with the glacier's box, as a glaciologist draws it once per glacier: a rectangle aligned
with the flow direction (the compass point, of N/E/S/W in the scene, from the labelled ocean towards the
labelled glacier around the front), as wide as the labelled front's extent across the flow plus
``BOX_MARGIN_PX`` either side, and as long as the scene along it, so that it says where the fjord is but not
where along it the front stands; its ``upstream`` field names the direction. Two front rules are scored on
the same scenes: ``caffe`` (CaFFe's largest-ocean rule, fronts clipped to the box as ``--aoi``) and ``box``
(``fronts_box``: the best ice-to-water crossing of the box).

The floor is the same protocol with the label zones in place of the model (``label_backend``): what the
zone -> front conversion alone costs at each framing.
"""

from __future__ import annotations

import json
import math
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.zones import GLACIER, NA, OCEAN, ZONE_TITLES

PIXEL_M = 60.0  # nominal pixel spacing the chips are written at (the shipped SAR model's training scale)
CRS = "EPSG:32620"  # UTM 20N: chips are placed at its central meridian, where its scale factor is 0.9996
ORIGIN = (470_000.0, 8_520_000.0)
BOX_MARGIN_PX = 8
CROPS = 2
CROP_AREA = (0.35, 0.80)
FAMILIES = ("whole", "crop", "rotate", "encoding")
RULES = ("caffe", "box")
# The target for an unseen glacier's front, px of the 256 grid: a line within it is a good line.
GOOD_PX = 10.0
COMPASS_OF_STEP = {(0, -1): "N", (1, 0): "E", (0, 1): "S", (-1, 0): "W"}  # (dcol, drow) -> compass


@dataclass
class Chip:
    """One labelled image: 8-bit amplitude (0 = no data), zone ids and the front mask, on one grid."""

    name: str
    glacier: str
    image: np.ndarray
    zones: np.ndarray
    front: np.ndarray


@dataclass
class Case:
    """One framing of a chip, as a user's scene would arrive."""

    chip: str
    glacier: str
    family: str
    framing: str
    image: np.ndarray  # uint8, uint16 or float32
    zones: np.ndarray
    front: np.ndarray
    nodata: float | None


def read_caffe_chips(data: Path, glaciers: Iterable[str] | None = None) -> list[Chip]:
    """The images of a CaFFe-layout folder as chips (names sorted)."""
    from glacierfront.io.caffe import list_split, parse_caffe_name, read_png, read_zones

    chips = []
    for item in list_split(data, "train", glaciers):
        chips.append(
            Chip(
                name=item.name,
                glacier=parse_caffe_name(item.name).glacier,
                image=read_png(item.image).astype(np.uint8),
                zones=read_zones(item.zones).astype(np.uint8),
                front=read_png(item.front) > 0,
            )
        )
    return chips


def spread(chips: Sequence[Chip], count: int | None) -> list[Chip]:
    """``count`` chips spread evenly over the (date-sorted) list; all when count is None or larger."""
    if count is None or count >= len(chips):
        return list(chips)
    index = np.unique(np.linspace(0, len(chips) - 1, count).round().astype(int))
    return [chips[i] for i in index]


def _rng(name: str, salt: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))


def crop_window(front: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of a window covering 35-80 % of the grid that holds the front if it can."""
    height, width = front.shape
    area = rng.uniform(*CROP_AREA) * height * width
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
    h = int(min(height, max(32, round(math.sqrt(area / aspect)))))
    w = int(min(width, max(32, round(area / h))))
    rows, cols = np.nonzero(front)
    if rows.size == 0:
        r0, c0 = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        return r0, r0 + h, c0, c0 + w

    def place(lo: int, hi: int, size: int, total: int) -> int:
        # Start positions that keep [lo, hi] inside; where the window is smaller, centre it on the front.
        first, last = max(0, hi + 1 - size), min(lo, total - size)
        if first <= last:
            return int(rng.integers(first, last + 1))
        return int(min(max((lo + hi + 1 - size) // 2, 0), total - size))

    r0 = place(int(rows.min()), int(rows.max()), h, height)
    c0 = place(int(cols.min()), int(cols.max()), w, width)
    return r0, r0 + h, c0, c0 + w


def framings(chip: Chip, families: Sequence[str] = FAMILIES) -> list[Case]:
    """Every framing of ``chip`` in ``families`` (see the module docstring)."""
    cases = []

    def add(family, framing, image, zones, front, nodata=0.0):
        cases.append(Case(chip.name, chip.glacier, family, framing, image, zones, front, nodata))

    if "whole" in families:
        add("whole", "whole", chip.image, chip.zones, chip.front)
    if "crop" in families:
        rng = _rng(chip.name, "crop")
        for k in range(CROPS):
            r0, r1, c0, c1 = crop_window(chip.front, rng)
            window = (slice(r0, r1), slice(c0, c1))
            add("crop", f"crop{k + 1}", chip.image[window], chip.zones[window], chip.front[window])
    if "rotate" in families:
        for turns in (1, 2, 3):
            add(
                "rotate",
                f"rot{90 * turns}",
                *(np.rot90(a, turns).copy() for a in (chip.image, chip.zones, chip.front)),
            )
    if "encoding" in families:
        amplitude = chip.image.astype(np.float32) / 255.0
        with np.errstate(divide="ignore"):
            db = np.where(chip.image > 0, 20.0 * np.log10(amplitude), np.nan).astype(np.float32)
        add("encoding", "float-dB", db, chip.zones, chip.front, nodata=math.nan)
        add("encoding", "uint16", chip.image.astype(np.uint16) * 257, chip.zones, chip.front)
    return cases


def flow_direction(zones: np.ndarray, front: np.ndarray) -> tuple[int, int] | None:
    """(dcol, drow) of N/E/S/W nearest the direction from the labelled ocean to the labelled glacier
    around the front (within 16 px of it); None when the labels hold no glacier or no ocean there."""
    from scipy import ndimage

    near = ndimage.binary_dilation(front, iterations=16) if front.any() else np.ones(front.shape, bool)
    rows, cols = np.indices(zones.shape)
    glacier, ocean = near & (zones == GLACIER), near & (zones == OCEAN)
    if not glacier.any() or not ocean.any():
        return None
    dc = cols[glacier].mean() - cols[ocean].mean()
    dr = rows[glacier].mean() - rows[ocean].mean()
    if abs(dc) >= abs(dr):
        return (1 if dc > 0 else -1, 0)
    return (0, 1 if dr > 0 else -1)


def box_pixels(zones: np.ndarray, front: np.ndarray) -> tuple[tuple[float, float, float, float], str] | None:
    """The glacier box in pixel edges (col0, row0, col1, row1) and its upstream compass point, or None."""
    step = flow_direction(zones, front)
    rows, cols = np.nonzero(front)
    if step is None or rows.size == 0:
        return None
    height, width = zones.shape
    if step[0] != 0:  # flow along the columns: the box spans every column, the front's rows
        r0, r1 = max(rows.min() - BOX_MARGIN_PX, 0), min(rows.max() + 1 + BOX_MARGIN_PX, height)
        return (0.0, float(r0), float(width), float(r1)), COMPASS_OF_STEP[step]
    c0, c1 = max(cols.min() - BOX_MARGIN_PX, 0), min(cols.max() + 1 + BOX_MARGIN_PX, width)
    return (float(c0), 0.0, float(c1), float(height)), COMPASS_OF_STEP[step]


def transform_for(origin: tuple[float, float] = ORIGIN, pixel_m: float = PIXEL_M):
    from rasterio.transform import from_origin

    return from_origin(origin[0], origin[1], pixel_m, pixel_m)


def front_lines_of(front: np.ndarray, transform) -> Any:
    """The labelled front as lines through its pixel centres, in map coordinates (None: no line)."""
    from glacierfront.io.frontlines import front_mask_to_lines
    from glacierfront.predict.vectorise import map_geometry

    lines = front_mask_to_lines(front)
    return None if lines.is_empty else map_geometry(lines, transform)


def write_case(case: Case, folder: Path, origin: tuple[float, float] = ORIGIN) -> dict[str, Path] | None:
    """The case as a user's files: scene GeoTIFF, reference front and glacier box (GeoPackages).
    None when its labels give no front or no box (nothing to score)."""
    import rasterio
    from shapely.geometry import box as rectangle
    from shapely.geometry import mapping

    from glacierfront.io.vector_files import write_lines
    from glacierfront.predict.vectorise import map_geometry

    found = box_pixels(case.zones, case.front)
    transform = transform_for(origin)
    reference = front_lines_of(case.front, transform)
    if found is None or reference is None:
        return None
    stem = f"{case.chip}__{case.framing}"
    scene = folder / f"{stem}.tif"
    height, width = case.image.shape
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype=case.image.dtype.name,
        crs=CRS,
        transform=transform,
        nodata=case.nodata,
    )
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(case.image, 1)
    ref = folder / f"{stem}_ref.gpkg"
    write_lines(ref, [(part, {"scene": stem}) for part in getattr(reference, "geoms", [reference])], CRS)
    (c0, r0, c1, r1), upstream = found
    polygon = map_geometry(rectangle(c0, r0, c1, r1), transform)
    box = folder / f"{stem}_aoi.gpkg"
    import fiona

    schema = {"geometry": "Polygon", "properties": {"glacier_id": "str", "upstream": "str"}}
    with fiona.open(box, "w", driver="GPKG", crs=CRS, schema=schema) as dst:
        dst.write(
            {"geometry": mapping(polygon), "properties": {"glacier_id": case.glacier, "upstream": upstream}}
        )
    return {"scene": scene, "ref": ref, "box": box}


def label_backend(like: Any) -> tuple[Any, Callable[[np.ndarray], None]]:
    """A backend that answers with the label zones of the scene being run (set with the returned setter):
    the protocol's floor. The scene must be one tile at the grid's origin (chips are: they are never
    resampled, and the tile is fitted to them)."""
    from glacierfront.model.backend import Backend

    held: dict[str, np.ndarray] = {}

    def run(x: np.ndarray) -> np.ndarray:
        zones = held["zones"]
        n, _, h, w = x.shape
        logits = np.full((n, like.config.num_classes, h, w), -30.0, np.float32)
        padded = np.full((h, w), NA, np.int64)
        padded[: zones.shape[0], : zones.shape[1]] = zones[:h, :w]
        for k in range(like.config.num_classes):
            logits[:, k][:, padded == k] = 30.0
        return logits

    backend = Backend(
        name="labels", path=Path("labels"), config=like.config, metadata=dict(like.metadata), _run=run
    )
    backend._sha256 = "labels"

    def set_zones(zones: np.ndarray) -> None:
        held["zones"] = np.where(zones > 3, NA, zones)  # ignore labels (255) count as no information

    return backend, set_zones


@dataclass
class Outcome:
    chip: str
    glacier: str
    family: str
    framing: str
    rule: str
    mde_px: float | None  # mean distance of this case (None: no front)
    quality: str = ""
    confidence: float | None = None
    # Pixels by (label class, predicted class), NA/rock/glacier/ocean: on the first rule's row only (the
    # zones do not depend on the rule). Ignore-labelled pixels are left out.
    confusion: list[list[int]] | None = None
    # Box rule: the MDE against the labels' own best crossing of the box (None without a floor run or a line).
    mde_crossing_px: float | None = None
    # Box rule: the share of the box's width where the model supports the crossing (None: no line).
    coverage: float | None = None


def confusion_of(label: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """4 x 4 pixel counts, rows the label class, columns the predicted class (labels > 3 left out)."""
    keep = label <= 3
    # The zone map marks pixels without data 255: they are class NA, not the last class.
    guess = np.where(predicted > 3, NA, predicted).astype(np.int64)
    pairs = label[keep].astype(np.int64) * 4 + guess[keep]
    return np.bincount(pairs, minlength=16).reshape(4, 4).tolist()


def predict_and_score(
    scene: Path, backend: Any, options: Any, ref: Path, pred: Path, zones_path: Path | None = None
) -> tuple[Any, list, dict[str, Any]]:
    """The product path for one scene: ``predict_scene``, its lines written to ``pred`` (GeoPackage), and
    ``evaluate_vectors`` of them against ``ref`` (all lines of both as one front). Returns (the scene's
    result, its line records, the evaluation)."""
    from glacierfront.evaluate.vector import evaluate_vectors
    from glacierfront.io.vector_files import write_lines
    from glacierfront.predict import LINE_SCHEMA, predict_scene

    result = predict_scene(scene, backend, options, zones_path=zones_path)
    records = result.records()
    write_lines(pred, records, result.crs, LINE_SCHEMA)
    return result, records, evaluate_vectors(pred, ref, match="all")


def run_case(
    case: Case,
    backend: Any,
    rules: Sequence[str],
    folder: Path,
    set_zones=None,
    tag: str = "model",
    crossing: Path | None = None,
) -> list[Outcome]:
    """Predict and evaluate one case under each front rule, through the product path. Lines are written to
    ``<scene>_<tag>-<rule>.gpkg``; ``crossing``: the labels' own box-rule line, which the box rule's line is
    also scored against (``mde_crossing_px``: the labelled front without its lateral parts)."""
    from glacierfront.evaluate.vector import evaluate_vectors
    from glacierfront.predict import PredictOptions

    files = write_case(case, folder)
    if files is None:
        return []
    if set_zones is not None:
        set_zones(case.zones)
    out = []
    for rule in rules:
        options = PredictOptions(
            aoi=files["box"], front_rule=rule, nodata=case.nodata if case.nodata == 0 else None
        )
        zones_path = folder / f"{files['scene'].stem}_zones.tif" if not out else None
        pred = folder / f"{files['scene'].stem}_{tag}-{rule}.gpkg"
        result, records, scored = predict_and_score(
            files["scene"], backend, options, files["ref"], pred, zones_path
        )
        confusion = None
        if zones_path is not None:
            import rasterio

            with rasterio.open(zones_path) as src:
                confusion = confusion_of(case.zones, src.read(1))
        mde = None if scored["mde"] is None else scored["mde"] / PIXEL_M
        crossing_px = None
        if rule == "box" and crossing is not None and crossing.is_file() and records:
            against = evaluate_vectors(pred, crossing, match="all")
            crossing_px = None if against["mde"] is None else against["mde"] / PIXEL_M
        out.append(
            Outcome(
                case.chip,
                case.glacier,
                case.family,
                case.framing,
                rule,
                mde,
                "+".join(result.quality_flags()) or ("ok" if records else "none"),
                float(np.mean([r[1]["confidence"] for r in records])) if records else None,
                confusion,
                crossing_px,
                _mean([ln.coverage for ln in result.lines if ln.coverage is not None]),
            )
        )
    return out


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def run_protocol(
    chips_by_model: Sequence[tuple[Any, Sequence[Chip]]],
    rules: Sequence[str] = RULES,
    families: Sequence[str] = FAMILIES,
    floor: bool = True,
    report: Callable[[str], None] | None = None,
) -> dict[str, list[Outcome]]:
    """Run every (backend, chips) pair over the framings; {"model": outcomes, "floor": outcomes}."""
    results: dict[str, list[Outcome]] = {"model": [], "floor": []}
    with tempfile.TemporaryDirectory(prefix="glacierfront-realscene-") as tmp:
        folder = Path(tmp)
        for backend, chips in chips_by_model:
            labels, set_zones = label_backend(backend) if floor else (None, None)
            for i, chip in enumerate(chips):
                for case in framings(chip, families):
                    crossing = None
                    if labels is not None:
                        floor_rows = run_case(case, labels, rules, folder, set_zones, tag="labels")
                        results["floor"] += floor_rows
                        if any(o.rule == "box" and o.mde_px is not None for o in floor_rows):
                            crossing = folder / f"{case.chip}__{case.framing}_labels-box.gpkg"
                    results["model"] += run_case(case, backend, rules, folder, crossing=crossing)
                for path in folder.iterdir():
                    path.unlink()
                if report:
                    report(f"{chip.glacier} {i + 1}/{len(chips)} {chip.name}")
    return results


def summarise(outcomes: Sequence[Outcome], floor: Sequence[Outcome] = ()) -> list[dict[str, Any]]:
    """One row per (rule, family), plus each rule pooled over all families: MDE of all case means (px),
    median, cases without a front, and the floor's MDE of the same cases."""
    rows = []
    rules = sorted({o.rule for o in outcomes}, key=lambda r: RULES.index(r) if r in RULES else 9)
    floor_of = {(o.chip, o.framing, o.rule): o for o in floor}
    for rule in rules:
        for family in [*FAMILIES, "pooled"]:
            chosen = [o for o in outcomes if o.rule == rule and (family == "pooled" or o.family == family)]
            if not chosen:
                continue
            scored = [o.mde_px for o in chosen if o.mde_px is not None]
            floors = [
                floor_of[(o.chip, o.framing, o.rule)].mde_px
                for o in chosen
                if (o.chip, o.framing, o.rule) in floor_of
                and floor_of[(o.chip, o.framing, o.rule)].mde_px is not None
            ]
            flagged = [o for o in chosen if o.mde_px is not None and "low_confidence" in o.quality]
            crossing = [o.mde_crossing_px for o in chosen if o.mde_crossing_px is not None]
            rows.append(
                {
                    "rule": rule,
                    "family": family,
                    "cases": len(chosen),
                    "mde_px": float(np.mean(scored)) if scored else None,
                    "median_px": float(np.median(scored)) if scored else None,
                    "no_front": len(chosen) - len(scored),
                    "no_front_pct": 100.0 * (len(chosen) - len(scored)) / len(chosen),
                    "floor_px": float(np.mean(floors)) if floors else None,
                    "low_confidence": len(flagged),
                    "crossing_px": float(np.mean(crossing)) if crossing else None,
                }
            )
    return rows


def confusion_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Per framing family: the share of each label class's pixels predicted as each class (row-normalised)."""
    rows = []
    for family in [*FAMILIES, "pooled"]:
        mats = [
            np.asarray(o.confusion)
            for o in outcomes
            if o.confusion is not None and (family == "pooled" or o.family == family)
        ]
        if not mats:
            continue
        total = np.sum(mats, axis=0).astype(float)
        share = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
        for k, name in enumerate(ZONE_TITLES):
            if total[k].sum() == 0:
                continue
            rows.append(
                {
                    "family": family,
                    "label": name,
                    **{f"as_{n}": float(share[k, j]) for j, n in enumerate(ZONE_TITLES)},
                }
            )
    return rows


def flag_rows(outcomes: Sequence[Outcome], good_px: float = GOOD_PX) -> list[dict[str, Any]]:
    """Does a wrong front look wrong? Per rule, the cases with a front grouped by their quality: ``ok`` (no
    flag), any flag, and each flag alone (a case in several). Count, MDE (px) and how many are within
    ``good_px`` of the labels (the issue's target)."""
    rows = []
    for rule in sorted({o.rule for o in outcomes}, key=lambda r: RULES.index(r) if r in RULES else 9):
        scored = [o for o in outcomes if o.rule == rule and o.mde_px is not None]
        flags = sorted({f for o in scored for f in o.quality.split("+") if f not in ("ok", "none")})
        groups = [("ok", [o for o in scored if o.quality == "ok"])]
        groups.append(("any flag", [o for o in scored if o.quality != "ok"]))
        groups += [(f, [o for o in scored if f in o.quality.split("+")]) for f in flags]
        for name, chosen in groups:
            rows.append(
                {
                    "rule": rule,
                    "quality": name,
                    "cases": len(chosen),
                    "mde_px": _mean([o.mde_px for o in chosen]),
                    "good": sum(o.mde_px <= good_px for o in chosen),
                }
            )
    return rows


def markdown(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    def num(v, digits=2):
        return "-" if v is None else f"{v:.{digits}f}"

    lines = [f"### {title}", ""] if title else []
    lines += [
        "| rule | framing | cases | MDE (px) | median | no front | floor (px) | vs labels' crossing (px) | low_confidence |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['rule']} | {r['family']} | {r['cases']} | {num(r['mde_px'])} | {num(r['median_px'])} | "
            f"{r['no_front']} ({r['no_front_pct']:.0f}%) | {num(r['floor_px'])} | {num(r.get('crossing_px'))} | "
            f"{r['low_confidence']} |"
        )
    return "\n".join(lines) + "\n"


def per_glacier(outcomes: Sequence[Outcome], rule: str) -> dict[str, dict[str, Any]]:
    out = {}
    for glacier in sorted({o.glacier for o in outcomes}):
        chosen = [o for o in outcomes if o.glacier == glacier and o.rule == rule]
        scored = [o.mde_px for o in chosen if o.mde_px is not None]
        out[glacier] = {
            "cases": len(chosen),
            "mde_px": float(np.mean(scored)) if scored else None,
            "no_front": len(chosen) - len(scored),
        }
    return out


def read_results(path: Path, glaciers: Iterable[str] | None = None) -> dict[str, list[Outcome]]:
    """The outcomes a report's JSON holds (``write_report``), optionally of some glaciers only."""
    data = json.loads(Path(path).read_text())
    wanted = set(glaciers) if glaciers else None
    return {
        key: [Outcome(**row) for row in data.get(field, []) if wanted is None or row["glacier"] in wanted]
        for key, field in (("model", "cases"), ("floor", "floor_cases"))
    }


def write_report(path: Path, title: str, results: dict[str, list[Outcome]], settings: dict[str, Any]) -> str:
    rows = summarise(results["model"], results["floor"])
    text = markdown(rows, title)
    for rule in sorted({o.rule for o in results["model"]}):
        glaciers = per_glacier(results["model"], rule)
        text += (
            f"\n{rule} rule by glacier (all framings): "
            + ", ".join(
                f"{g} {v['mde_px']:.2f} px ({v['no_front']}/{v['cases']} no front)"
                if v["mde_px"] is not None
                else f"{g} - ({v['no_front']}/{v['cases']} no front)"
                for g, v in glaciers.items()
            )
            + "\n"
        )
    flagged = flag_rows(results["model"])
    if flagged:
        text += (
            f"\nDoes a wrong front look wrong? Cases with a front by their quality flags (within {GOOD_PX:g} px:"
            " the target):\n\n| rule | quality | cases | MDE (px) | within target |\n| --- | --- | --- | --- | --- |\n"
        )
        for r in flagged:
            mde = "-" if r["mde_px"] is None else f"{r['mde_px']:.2f}"
            text += f"| {r['rule']} | {r['quality']} | {r['cases']} | {mde} | {r['good']} |\n"
    confusion = confusion_rows(results["model"])
    if confusion:
        text += "\nZone confusion (share of each label class's pixels predicted as each class):\n\n"
        text += "| framing | label | as NA | as rock | as glacier | as ocean |\n| --- | --- | --- | --- | --- | --- |\n"
        for r in confusion:
            text += (
                f"| {r['family']} | {r['label']} | "
                + " | ".join(f"{r['as_' + n]:.2f}" for n in ZONE_TITLES)
                + " |\n"
            )
    path.with_suffix(".md").write_text(text)
    cases = [vars(o) for o in results["model"]]
    floor_cases = [vars(o) for o in results["floor"]]
    path.with_suffix(".json").write_text(
        json.dumps(
            {"title": title, "settings": settings, "rows": rows, "cases": cases, "floor_cases": floor_cases},
            indent=1,
        )
    )
    return text

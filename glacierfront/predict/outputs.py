"""Where predict writes: one vector file for all scenes, or a folder with one file per scene, plus rasters.

The overwrite rule (as rio's): an existing output is replaced only with ``--overwrite``, checked before any
work. A GeoPackage is a container: predict writes or replaces its own layer (``--layer``, default
``fronts``) and leaves the file's other layers alone; only replacing that layer needs ``--overwrite``. An
output that is one of the command's inputs is always refused, ``--overwrite`` or not.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.vector_files import DEFAULT_LAYER, DRIVERS, GPKG, driver_for, what_would_be_replaced

# -f/--format: the short names and GDAL's driver names (any case), as the suffix a folder's files get.
FORMATS = {
    "gpkg": ".gpkg",
    "shp": ".shp",
    "geojson": ".geojson",
    "esri shapefile": ".shp",
    "shapefile": ".shp",
    "json": ".geojson",
}


def _is_dir_target(path: Path) -> bool:
    return path.is_dir() or str(path).endswith(("/", os.sep)) or path.suffix == ""


def check_writable(folder: Path, what: str, create: bool = False) -> None:
    """The folder exists (or, with ``create``, its nearest existing parent does) and a file can really be
    made there: a probe file is created and removed, since permission bits say nothing about /proc, a
    read-only mount or a full quota."""
    existing = folder
    while create and not existing.exists():
        existing = existing.parent
    if not existing.exists():
        raise GlacierfrontError(f"{what} {folder}: cannot write there: no such folder; create it first")
    if not existing.is_dir():
        raise GlacierfrontError(f"{what} {folder}: cannot write there: a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".glacierfront-probe-", dir=existing)
    except OSError as err:
        raise GlacierfrontError(f"{what} {folder}: cannot write there ({err.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def parse_format(value: str | None) -> str | None:
    """-f/--format: 'gpkg', 'GPKG', 'ESRI Shapefile', 'GeoJSON', ... -> the suffix ('.gpkg'); None stays None."""
    if value is None:
        return None
    key = value.strip().lower().lstrip(".")
    if key not in FORMATS:
        raise GlacierfrontError(
            f"--format {value}: use GPKG, ESRI Shapefile or GeoJSON (or gpkg, shp, geojson)"
        )
    return FORMATS[key]


@dataclass
class OutputPlan:
    """Resolved output paths; ``folder`` mode writes one vector file per scene."""

    vector: Path
    folder: bool
    fmt: str
    zones: Path | None
    zones_folder: bool
    quicklook: Path | None
    quicklook_folder: bool
    layer: str = DEFAULT_LAYER
    overwrite: bool = False  # --overwrite: the writers may replace what another process wrote meanwhile

    def vector_for(self, stem: str) -> Path:
        return self.vector / f"{stem}{self.fmt}" if self.folder else self.vector

    def zones_for(self, stem: str) -> Path | None:
        if self.zones is None:
            return None
        return self.zones / f"{stem}_zones.tif" if self.zones_folder else self.zones

    def quicklook_for(self, stem: str) -> Path | None:
        if self.quicklook is None:
            return None
        return self.quicklook / f"{stem}_quicklook.png" if self.quicklook_folder else self.quicklook

    def make_folders(self) -> None:
        for path, folder in ((self.vector, self.folder), (self.zones, self.zones_folder)):
            if path is not None and folder:
                path.mkdir(parents=True, exist_ok=True)
        if self.quicklook is not None and self.quicklook_folder:
            self.quicklook.mkdir(parents=True, exist_ok=True)


def plan_outputs(
    scenes: list[Path],
    output: Path,
    zones: Path | None = None,
    quicklook: Path | None = None,
    fmt: str | None = None,
    inputs: list[Path] | None = None,
    overwrite: bool = False,
    layer: str | None = None,
) -> OutputPlan:
    """Check every output place before any work, so a bad path fails fast and nothing is half-written.

    ``fmt`` (a suffix such as '.gpkg', see ``parse_format``) is the format of a folder's files; given with
    a file output it must agree with the file's suffix. ``inputs`` (the scenes, the AOI, the model): an
    output that would land on one of them is refused. An output that exists is refused unless
    ``overwrite`` (for a GeoPackage: only when it already holds ``layer``).
    """
    folder, fmt = _check_vector_output(output, fmt, layer)
    _check_scene_names(scenes, folder)
    several = len(scenes) > 1
    plan = OutputPlan(output, folder, fmt, zones, False, quicklook, False, layer or DEFAULT_LAYER, overwrite)
    if zones is not None:
        plan.zones_folder = _check_raster_output("--zones", zones, several)
    if quicklook is not None:
        plan.quicklook_folder = _check_raster_output("--quicklook", quicklook, several)
    refuse_inputs_as_outputs(plan, scenes, [*scenes, *(inputs or [])])
    if not overwrite:
        refuse_to_replace(plan, scenes)
    return plan


def _parent_or_here(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _check_vector_output(output: Path, fmt: str | None, layer: str | None) -> tuple[bool, str]:
    """-o (with --format and --layer) checked and its place probed: (a folder of files?, their suffix)."""
    if fmt is not None and fmt not in DRIVERS:
        fmt = parse_format(fmt)
    folder = _is_dir_target(output)
    if not folder:
        if output.suffix.lower() not in DRIVERS:
            raise GlacierfrontError(
                f"-o {output}: unknown vector format {output.suffix!r}; use .gpkg, .shp or .geojson"
            )
        if fmt is not None and DRIVERS[fmt] != driver_for(output):
            raise GlacierfrontError(
                f"-o {output}: a {driver_for(output)} file by its name, but --format says {DRIVERS[fmt]}; "
                "make them agree"
            )
    fmt = fmt or ".gpkg"
    if layer is not None and DRIVERS[output.suffix.lower() if not folder else fmt] != GPKG:
        raise GlacierfrontError(f"--layer {layer}: only a GeoPackage (.gpkg) holds named layers")
    check_writable(output if folder else _parent_or_here(output), "-o", folder)
    return folder, fmt


def _check_scene_names(scenes: list[Path], folder: bool) -> None:
    """No scene given twice, and (one file per scene in a folder) no two scenes sharing a file name."""
    seen: dict[str, Path] = {}
    for scene in scenes:
        key = _same_file_key(scene)
        if key in seen:
            raise GlacierfrontError(
                f"{scene}: given twice (also as {seen[key]}); its front would be written twice"
            )
        seen[key] = scene
    stems = [p.stem for p in scenes]
    if folder and len(set(stems)) < len(stems):
        raise GlacierfrontError("several scenes share a file name; their outputs would overwrite each other")


def _check_raster_output(name: str, path: Path, several: bool) -> bool:
    """--zones or --quicklook checked and its place probed; whether it is a folder (one file per scene)."""
    as_folder = several or path.is_dir() or path.suffix == ""
    if several and path.suffix:
        raise GlacierfrontError(f"{name} {path}: with several scenes, give a folder (one file per scene)")
    wanted = {"--zones": (".tif", ".tiff"), "--quicklook": (".png",)}[name]
    if not as_folder and path.suffix.lower() not in wanted:
        raise GlacierfrontError(
            f"{name} {path}: writes {' or '.join(wanted)} ({'GeoTIFF' if name == '--zones' else 'PNG'}), "
            f"not {path.suffix}; name the file {path.with_suffix(wanted[0]).name}"
        )
    check_writable(path if as_folder else _parent_or_here(path), name, as_folder)
    return as_folder


def refuse_to_replace(plan: OutputPlan, scenes: list[Path]) -> None:
    """Refuse, before any work, an output that exists (a GeoPackage: one that holds the layer to write)."""
    for scene in scenes:
        for flag, path in (("-o", plan.vector_for(scene.stem)), ("--zones", plan.zones_for(scene.stem)),
                           ("--quicklook", plan.quicklook_for(scene.stem))):  # fmt: skip
            if path is None:
                continue
            if flag == "-o":
                found = what_would_be_replaced(path, plan.layer)
            else:
                found = "exists" if path.exists() else None
            if found:
                hint = " or another --layer" if flag == "-o" and driver_for(path) == GPKG else ""
                raise GlacierfrontError(f"{flag} {path}: {found}; pass --overwrite to replace it{hint}")


def refuse_inputs_as_outputs(plan: OutputPlan, scenes: list[Path], inputs: list[Path]) -> None:
    """Refuse any planned output that is one of the command's input files (it would be destroyed)."""
    planned = []
    for scene in scenes:
        planned += [("-o", plan.vector_for(scene.stem)), ("--zones", plan.zones_for(scene.stem)),
                    ("--quicklook", plan.quicklook_for(scene.stem))]  # fmt: skip
    refuse_outputs_that_are_inputs(planned, inputs)


def refuse_outputs_that_are_inputs(outputs: list[tuple[str, Path | None]], inputs: list[Path | None]) -> None:
    """The one rule for every command: an output (flag, path) that is one of the inputs is refused, with or
    without --overwrite, since writing it would destroy what the command reads. Paths are compared after
    resolving links, so ``./m.onnx`` and ``/abs/m.onnx`` are one file."""
    taken = {_same_file_key(p): p for p in inputs if p is not None}
    for flag, path in outputs:
        if path is not None and _same_file_key(path) in taken:
            raise GlacierfrontError(
                f"{flag} {path}: is one of this command's inputs ({taken[_same_file_key(path)]}); "
                "writing it would destroy it: choose another output"
            )


def _same_file_key(path: Path) -> str:
    return os.path.realpath(path)


def output_crs(scenes: list[Path], plan: OutputPlan, dst_crs: str | None) -> Any | None:
    """The CRS the lines are written in, checked before any work; None keeps each scene's own CRS.

    ``dst_crs`` (--dst-crs) wins. Else GeoJSON is written in EPSG:4326, as RFC 7946 asks. Else one file
    for all scenes needs them all in one CRS: scenes in several are refused here, not after the inference.
    Scenes whose header cannot be read are left to fail on their own later.
    """
    from rasterio.crs import CRS as RioCRS
    from rasterio.errors import CRSError

    if dst_crs is not None:
        try:
            target = RioCRS.from_user_input(dst_crs)
        except CRSError as err:
            raise GlacierfrontError(f"--dst-crs {dst_crs}: not a CRS ({err}); e.g. EPSG:3413") from None
    elif DRIVERS[plan.fmt if plan.folder else plan.vector.suffix.lower()] == "GeoJSON":
        target = RioCRS.from_epsg(4326)
    else:
        target = None
    crss = {scene: _header_crs(scene) for scene in scenes}
    missing = [s for s, crs in crss.items() if crs is False]
    if dst_crs is not None and missing:
        raise GlacierfrontError(f"--dst-crs {dst_crs}: {missing[0]} has no CRS to reproject from")
    if target is None and not plan.folder:
        found = {crs.to_string(): scene for scene, crs in crss.items() if crs}
        if len(found) > 1:
            names = ", ".join(sorted(found)[:3])
            raise GlacierfrontError(
                f"-o {plan.vector}: the scenes are in {len(found)} CRSs ({names}); one file needs one: "
                "pass --dst-crs (e.g. EPSG:3413) or write to a folder"
            )
    return target


def _header_crs(scene: Path) -> Any:
    """The scene's CRS from its header; False without one, None if the header cannot be read."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", NotGeoreferencedWarning
            )  # a scene without one is said once, later
            with rasterio.open(scene) as src:
                return src.crs if src.crs else False
    except Exception:  # a missing or damaged scene fails later, alone, with its own message
        return None

"""Where predict writes: one vector file for all scenes, or a folder with one file per scene, plus rasters."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from glacierfront.errors import GlacierfrontError
from glacierfront.io.vectors import DRIVERS


def _is_dir_target(path: Path) -> bool:
    return path.is_dir() or str(path).endswith(("/", os.sep)) or path.suffix == ""


def _check_writable(folder: Path, what: str) -> None:
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise GlacierfrontError(f"{what} {folder}: cannot write there (not a writable folder)")


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
    fmt: str = ".gpkg",
    inputs: list[Path] | None = None,
) -> OutputPlan:
    """Check every output place before any work, so a bad path fails fast and nothing is half-written.

    ``inputs`` (the scenes, the AOI, the model): an output that would land on one of them is refused.
    """
    fmt = fmt if fmt.startswith(".") else f".{fmt}"
    if fmt not in DRIVERS:
        raise GlacierfrontError(f"--format {fmt}: use gpkg, shp or geojson")
    folder = _is_dir_target(output)
    if not folder and output.suffix.lower() not in DRIVERS:
        raise GlacierfrontError(
            f"-o {output}: unknown vector format {output.suffix!r}; use .gpkg, .shp or .geojson"
        )
    _check_writable(output if folder else (output.parent if str(output.parent) else Path(".")), "-o")
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
    several = len(scenes) > 1
    plan = OutputPlan(output, folder, fmt, zones, False, quicklook, False)
    for name, path in (("--zones", zones), ("--quicklook", quicklook)):
        if path is None:
            continue
        as_folder = several or path.is_dir() or path.suffix == ""
        if several and path.suffix:
            raise GlacierfrontError(f"{name} {path}: with several scenes, give a folder (one file per scene)")
        wanted = {"--zones": (".tif", ".tiff"), "--quicklook": (".png",)}[name]
        if not as_folder and path.suffix.lower() not in wanted:
            raise GlacierfrontError(
                f"{name} {path}: writes {' or '.join(wanted)} ({'GeoTIFF' if name == '--zones' else 'PNG'}), "
                f"not {path.suffix}; name the file {path.with_suffix(wanted[0]).name}"
            )
        _check_writable(path if as_folder else (path.parent if str(path.parent) else Path(".")), name)
        if name == "--zones":
            plan.zones_folder = as_folder
        else:
            plan.quicklook_folder = as_folder
    refuse_inputs_as_outputs(plan, scenes, [*scenes, *(inputs or [])])
    return plan


def refuse_inputs_as_outputs(plan: OutputPlan, scenes: list[Path], inputs: list[Path]) -> None:
    """Refuse any planned output that is one of the command's input files (it would be destroyed)."""
    taken = {_same_file_key(p): p for p in inputs if p is not None}
    for scene in scenes:
        for flag, path in (("-o", plan.vector_for(scene.stem)), ("--zones", plan.zones_for(scene.stem)),
                           ("--quicklook", plan.quicklook_for(scene.stem))):  # fmt: skip
            if path is not None and _same_file_key(path) in taken:
                raise GlacierfrontError(
                    f"{flag} {path}: is one of this command's inputs ({taken[_same_file_key(path)]}); "
                    "writing it would destroy it: choose another output"
                )


def _same_file_key(path: Path) -> str:
    return os.path.realpath(path)

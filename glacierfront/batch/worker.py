"""One scene's run, the same in-process and on a Dask worker: the cached model, the scene, its outputs."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rasterio.errors import RasterioError

from glacierfront.batch.job import BatchOptions, SceneOutcome
from glacierfront.batch.manifest import outputs_of
from glacierfront.batch.observer import SceneProgress
from glacierfront.batch.sources import SceneSource, read_failure, readable
from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import sha256_file
from glacierfront.io.vector_files import write_lines
from glacierfront.model.backend import Backend, load_backend
from glacierfront.predict import LINE_SCHEMA, predict_scene
from glacierfront.predict.outputs import OutputPlan

# Models loaded in this process, by (path, sha256, device, tta, threads): a worker loads a model once. The
# path is part of the key because the lines carry the model's file name.
_BACKENDS: dict[tuple[str, str, str, bool, int | None], Backend] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelRef:
    """A model as a worker finds it: its path (on a file system the workers share) and the sha256 the
    client read, which the worker checks once before it uses the file."""

    path: str
    sha256: str
    device: str = "auto"
    tta: bool = False
    threads: int | None = None


def model_ref(
    path: str | Path, device: str = "auto", tta: bool = False, threads: int | None = None
) -> ModelRef:
    path = Path(path)
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        raise GlacierfrontError(f"{path}: model file not found") from None
    except OSError as err:
        raise GlacierfrontError(f"{path}: cannot read the model ({err.strerror})") from None
    return ModelRef(os.path.abspath(path), digest, device, tta, threads)


def cached_backend(ref: ModelRef) -> Backend:
    """This process's backend for ``ref``, loaded (and its checksum verified) on first use."""
    key = (ref.path, ref.sha256, ref.device, ref.tta, ref.threads)
    with _LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = load_backend(ref.path, ref.device, tta=ref.tta, threads=ref.threads or None)
            if backend.sha256 != ref.sha256:
                raise GlacierfrontError(
                    f"{ref.path}: on this worker its sha256 is {backend.sha256[:12]}..., not the "
                    f"{ref.sha256[:12]}... the client read: give every worker the same model file"
                )
            _BACKENDS[key] = backend
    return backend


def scene_message(source: SceneSource, err: BaseException, local: Path | None = None) -> str:
    """A failure as one line that names the scene as given (never the temporary VRT of a URL)."""
    message = " ".join(str(err).split()) or type(err).__name__
    if local is not None and str(local) != source.uri:
        message = message.replace(str(local), source.uri)
    if source.name not in message and source.uri not in message:
        message = f"{source.uri}: {message}"
    return message


def run_scene(
    source: SceneSource,
    index: int,
    backend: Backend,
    options: BatchOptions,
    worker: str = "local",
    progress: SceneProgress | None = None,
) -> SceneOutcome:
    """Predict one scene and write its outputs as ``options.plan`` says; a failure becomes a failed outcome
    (``retryable`` unless it is a ``GlacierfrontError``), never an exception. ``progress`` hears of its
    tiles."""
    started = time.perf_counter()
    outcome = SceneOutcome(source.uri, source.stem, index, "failed", worker=worker)
    plan = options.plan
    local = None
    zones = plan.zones_for(source.stem) if plan is not None else None
    quicklook = plan.quicklook_for(source.stem) if plan is not None else None
    # Rasters this attempt creates: a scene that fails leaves none of its outputs behind.
    fresh = [p for p in (zones, quicklook) if p is not None and not p.exists()]
    try:
        with readable(source) as local:
            progress = progress or SceneProgress()
            result = predict_scene(
                local, backend, options.predict, zones, quicklook, progress.on_start, progress.on_tiles
            )
            crs, records = result.records_in(options.target_crs)
            if plan is not None and plan.folder:
                vector = write_lines(
                    plan.vector_for(source.stem), records, crs, LINE_SCHEMA, plan.layer, plan.overwrite
                )
                outcome.written.append(str(vector))
            else:
                outcome.records, outcome.crs = records, crs
            outcome.written += [str(p) for p in (zones, quicklook) if p is not None]
    except GlacierfrontError as err:
        outcome.error = scene_message(source, err, local)
    except RasterioError as err:
        # A damaged file (e.g. cut mid-data), or a read over the network that failed.
        outcome.error = scene_message(source, read_failure(source, err), local)
        outcome.retryable = True
    except Exception as err:  # out of memory, an I/O error, a bug: this scene fails, the batch goes on
        outcome.error = scene_message(source, f"{type(err).__name__}: {err}", local)
        outcome.retryable = True
    else:
        fresh = []
        outcome.status = "ok" if result.lines else "no_front"
        outcome.lines = len(result.lines)
        scale = result.scale
        if scale is not None and scale.warning and scale.warn_once:
            outcome.run_warning = scale.warning
        outcome.warnings = list(result.warnings)
        if scale is not None and scale.note:
            outcome.notes.append(scale.note)
        if result.scaling_note:
            outcome.notes.append(f"input {result.scaling_note}")
        outcome.summary = result.summary()
    for path in fresh:
        path.unlink(missing_ok=True)
    outcome.seconds = time.perf_counter() - started
    return outcome


def remove_partial_outputs(plan: OutputPlan, stems: set[str]) -> None:
    """Remove what interrupted writes of these scenes left in the output folders, once nothing writes there.

    A worker killed mid-write leaves its temporary file or folder, never a half output: ``io.atomic`` and
    ``io.vector_files.write_lines`` write beside the target as ``.<name>.<random>`` and then rename.
    """
    names: dict[Path, set[str]] = {}
    for stem in stems:
        for target in outputs_of(plan, stem):
            names.setdefault(target.parent, set()).add(target.name)
    for folder, wanted in names.items():
        try:
            entries = [e for e in os.listdir(folder) if e.startswith(".")]
        except OSError:
            continue
        for entry in entries:
            if any(entry.startswith(f".{name}.") for name in wanted):
                leftover = folder / entry
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)

"""What a batch run is told (``BatchOptions``) and what it reports per scene (``SceneOutcome``).

Both travel between the client and Dask workers, so they hold only plain, picklable values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glacierfront.predict import PredictOptions
from glacierfront.predict.outputs import OutputPlan


@dataclass
class BatchOptions:
    """How ``predict_many`` runs scenes and where their outputs go.

    ``plan``: a folder plan (``outputs.plan_outputs`` with a folder ``-o``): whoever runs a scene writes its
    fronts (and zones, quicklook when planned) there, each file atomically. A one-file plan or None: the
    lines come back in ``SceneOutcome.records`` for the caller to write (zones and quicklook, when planned,
    are still written by whoever runs the scene). ``target_crs``: the CRS lines are written or returned in
    (None: each scene's own). ``retries``: how often a scene whose failure may pass (an I/O or network
    error, not a ``GlacierfrontError`` verdict such as "no valid pixels") is run again. ``threads``: ONNX
    Runtime intra-op threads per scene run; None: ONNX Runtime's default in-process, and on a Dask worker
    its OMP_NUM_THREADS (see ``dask_run.task_threads``).
    """

    predict: PredictOptions = field(default_factory=PredictOptions)
    plan: OutputPlan | None = None
    target_crs: Any = None
    device: str = "auto"
    tta: bool = False
    retries: int = 1
    threads: int | None = None


@dataclass
class SceneOutcome:
    """One scene's result, as the manifest records it, plus what a caller shows or writes."""

    source: str  # the scene as run: a local path or a GDAL path (/vsicurl/..., /vsis3/...)
    scene: str  # its name: the outputs' and the lines' ``scene``
    index: int  # its position in the input list
    status: str  # ok, no_front, failed, skipped
    lines: int = 0
    seconds: float = 0.0
    worker: str = ""
    error: str = ""
    attempts: int = 0
    written: list[str] = field(default_factory=list)  # output files written for this scene
    records: list[tuple[Any, dict[str, Any]]] | None = None  # the lines, when not written (see BatchOptions)
    crs: Any = None  # the CRS of ``records``
    warnings: list[str] = field(default_factory=list)  # about this scene
    run_warning: str | None = None  # about the model or the run: a caller says it once
    notes: list[str] = field(default_factory=list)  # how the scene was read (resampling, scaling)
    summary: str = ""  # one line: lines found, length, size, time
    retryable: bool = False  # a failure that another attempt may not repeat
    fatal: bool = False  # a failure of the run itself (the model cannot load): stop the batch

    @property
    def failed(self) -> bool:
        return self.status == "failed"

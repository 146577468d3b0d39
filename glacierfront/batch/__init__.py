"""Many scenes at once: in this process, or on a Dask cluster (``pip install glacierfront[dask]``).

    from glacierfront.batch import BatchOptions, predict_many
    for outcome in predict_many(paths, "models/cisnet-atto-caffe256.onnx", BatchOptions(plan=plan), client):
        print(outcome.scene, outcome.status, outcome.error)

Without a client the scenes run one after another here and Dask is never imported. With a
``distributed.Client`` each scene is a task; every worker loads the model once (checking its sha256 against
the client's) and writes the scene's outputs itself, each file atomically. See docs/batch.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glacierfront.batch.job import BatchOptions, SceneOutcome
from glacierfront.batch.observer import BatchObserver, SceneProgress
from glacierfront.batch.sources import SceneSource, scene_source
from glacierfront.predict import PredictOptions

if TYPE_CHECKING:
    from glacierfront.batch.worker import ModelRef

__all__ = [
    "BatchObserver",
    "BatchOptions",
    "SceneOutcome",
    "SceneProgress",
    "SceneSource",
    "predict_many",
    "scene_source",
]


def predict_many(
    paths: Iterable[str | Path | SceneSource],
    model: str | Path | ModelRef,
    options: BatchOptions | PredictOptions | None = None,
    client: Any = None,
    observer: BatchObserver | None = None,
) -> Iterator[SceneOutcome]:
    """Predict every scene of ``paths`` (local files or GDAL URLs) with the model file ``model`` (or a
    ``worker.ModelRef`` of it, whose checksum is then not read again; device, TTA and threads come from
    ``options``).

    Yields one ``SceneOutcome`` per scene as it finishes: with a client in completion order, else in input
    order (``outcome.index`` is the position in ``paths``). A scene that fails is retried when another
    attempt may help (``BatchOptions.retries``) and then yielded as failed: it never stops the others. A
    model that cannot be loaded raises ``GlacierfrontError``. ``options``: a ``BatchOptions``, or just the
    ``PredictOptions`` (nothing is written then: the lines come back in ``outcome.records``). ``observer``
    hears of each scene's tiles (in this process) and of each finished scene (``batch.observer``).

    This is the one batch loop: ``glacierfront predict`` runs every scene through it, with or without Dask.
    """
    from glacierfront.batch.worker import ModelRef, cached_backend, model_ref, run_scene

    if not isinstance(options, BatchOptions):
        options = BatchOptions(predict=options or PredictOptions())
    sources = [p if isinstance(p, SceneSource) else scene_source(p) for p in paths]
    if isinstance(model, ModelRef):
        ref = ModelRef(model.path, model.sha256, options.device, options.tta, options.threads)
    else:
        ref = model_ref(model, options.device, options.tta, options.threads)
    observer = observer or BatchObserver()
    if client is not None:
        from glacierfront.batch.dask_run import run_on_client

        for outcome in run_on_client(sources, ref, options, client):
            observer.scene_done(outcome)
            yield outcome
        return
    backend = cached_backend(ref)
    for index, source in enumerate(sources):
        for attempt in range(1, options.retries + 2):
            with observer.scene(source, index) as progress:
                outcome = run_scene(source, index, backend, options, progress=progress)
            outcome.attempts = attempt
            if not (outcome.failed and outcome.retryable):
                break
        observer.scene_done(outcome)
        yield outcome

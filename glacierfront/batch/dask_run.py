"""Scenes on a Dask cluster: a task per scene, run by workers that keep the model loaded between tasks.

Only imported when a Dask client is used, so the rest of glacierfront runs without Dask installed.

Failures: a scene's own failure comes back as a failed ``SceneOutcome`` (the task never raises for it), and
the client submits it again up to ``retries`` times when another attempt may help. A worker that dies
mid-scene (killed, out of memory) is Dask's to handle: the scheduler runs the scene again on another worker,
up to ``distributed.scheduler.allowed-failures`` times, and then the scene is recorded as failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed, get_worker

from glacierfront.batch.job import BatchOptions, SceneOutcome
from glacierfront.batch.sources import SceneSource
from glacierfront.batch.worker import ModelRef, cached_backend, run_scene
from glacierfront.errors import GlacierfrontError

# Test hook: when this environment variable names a file that does not exist yet, the first task to see it
# creates the file (holding the scene's path) and ends its worker process at once, as a kill or the
# out-of-memory killer would. Only tests set it; it costs one getenv per task.
EXIT_ONCE_ENV = "GLACIERFRONT_TEST_EXIT_ONCE"
CONNECT_TIMEOUT_S = 30


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity: a SLURM job's or a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Connection:
    client: Client
    threads: int | None  # ONNX Runtime threads per task, when the client chose them (a LocalCluster)
    dashboard: str | None


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None) -> Iterator[Connection]:
    """A client on a new LocalCluster of ``workers`` processes, or on the cluster at ``scheduler``.

    A LocalCluster's workers run one scene at a time with cores // workers ONNX Runtime threads each (and
    as many OpenMP/BLAS threads), so that the workers together use every core once. They keep glibc's own
    malloc trimming rather than the MALLOC_TRIM_THRESHOLD_ Dask's nanny sets: handing every large array
    back to the system made the workers 15-20 % slower than the in-process loop (docs/batch.md).
    """
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise GlacierfrontError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({reason})"
            ) from None
        try:
            yield Connection(client, None, _dashboard(client))
        finally:
            client.close()
        return
    workers = workers or 1
    threads = max(1, available_cores() // workers)
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    spawn_env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    spawn_env.pop("MALLOC_TRIM_THRESHOLD_", None)  # an exported one still reaches the workers
    with (
        warnings.catch_warnings(),
        dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}),
        _workers_ignore_ctrl_c(),
    ):
        warnings.simplefilter("ignore")  # "port 8787 is in use, using another": the address is printed
        try:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                silence_logs=logging.ERROR,
                env=env,
            )
        except Exception as err:  # Dask reports a worker that would not start as a bare RuntimeError
            reason = " ".join(str(err).split()) or type(err).__name__
            raise GlacierfrontError(
                f"--workers {workers}: the local Dask cluster did not start ({reason})"
            ) from None
    try:
        client = Client(cluster)
        try:
            yield Connection(client, threads, _dashboard(client))
        finally:
            client.close()
    finally:
        cluster.close()


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Ctrl-C at a terminal reaches every process of the group: the worker processes spawned in this block
    ignore it (an ignored SIGINT stays ignored in a spawned Python), so only this process handles it and
    closes the cluster, instead of each worker printing its own traceback. Not in the main thread (an
    embedding program), signals are left alone."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def quiet_shutdown() -> None:
    """After Ctrl-C: the cluster's closing complaints (closed comms, cancelled tasks) are not the user's
    news; glacierfront says what happened in one line."""
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _dashboard(client: Client) -> str | None:
    """The dashboard's address, when the scheduler serves one (it needs bokeh)."""
    try:
        services = client.scheduler_info(n_workers=0).get("services", {})
    except Exception:
        return None
    if "dashboard" not in services:
        return None
    try:
        import bokeh  # noqa: F401  # without it the scheduler answers /status with "not found"
    except ImportError:
        return None
    return client.dashboard_link


def run_task(source: SceneSource, index: int, ref: ModelRef, options: BatchOptions) -> SceneOutcome:
    """One scene on a worker: the worker's cached model, then ``worker.run_scene``."""
    _exit_once_hook(source)
    worker = get_worker()
    if ref.threads is None:
        ref = replace(ref, threads=task_threads(worker))
    try:
        backend = cached_backend(ref)
    except GlacierfrontError as err:
        return SceneOutcome(source.uri, source.stem, index, "failed", worker=worker.address, error=str(err),
                            fatal=True)  # fmt: skip
    return run_scene(source, index, backend, options, worker.address)


def task_threads(worker) -> int:
    """ONNX Runtime threads for a task on a worker the client did not start: the worker's OMP_NUM_THREADS
    (Dask's nanny sets 1 unless ``distributed.nanny.pre-spawn-environ`` says otherwise: a task per worker
    thread is Dask's parallelism), else the cores it sees shared among its task threads."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    nthreads = getattr(getattr(worker, "state", worker), "nthreads", 1) or 1
    return max(1, available_cores() // nthreads)


def _exit_once_hook(source: SceneSource) -> None:
    marker = os.environ.get(EXIT_ONCE_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, source.uri.encode())
    os.close(fd)
    os._exit(70)


def run_on_client(
    sources: list[SceneSource], ref: ModelRef, options: BatchOptions, client: Client
) -> Iterator[SceneOutcome]:
    """Outcomes as scenes finish (not in input order); see the module docstring for failures."""
    run = uuid.uuid4().hex[:8]
    attempts: dict[str, tuple[int, int]] = {}  # future key -> (scene index, attempt)

    def submit(index: int, attempt: int):
        source = sources[index]
        key = f"glacierfront-{source.stem}-{run}-{index}-{attempt}"
        future = client.submit(run_task, source, index, ref, options, key=key, pure=False)
        attempts[future.key] = (index, attempt)
        return future

    pending = as_completed([submit(i, 1) for i in range(len(sources))])
    try:
        for future in pending:
            index, attempt = attempts.pop(future.key)
            source = sources[index]
            try:
                outcome = future.result()
            except KilledWorker:
                outcome = SceneOutcome(source.uri, source.stem, index, "failed", error=(
                    f"{source.uri}: the workers running it died each time (killed, or out of memory: "
                    "see the worker logs); give workers more memory or run it alone"))  # fmt: skip
            except Exception as err:
                if client.status != "running":
                    raise GlacierfrontError(
                        f"lost the Dask scheduler ({type(err).__name__}); finished scenes are in the "
                        "manifest: run again with --skip-existing to go on"
                    ) from None
                reason = " ".join(str(err).split()) or type(err).__name__
                outcome = SceneOutcome(source.uri, source.stem, index, "failed", retryable=True,
                                       error=f"{source.uri}: the task failed ({reason})")  # fmt: skip
            future.release()
            outcome.attempts = attempt
            if outcome.fatal:
                raise GlacierfrontError(outcome.error)
            if outcome.failed and outcome.retryable and attempt <= options.retries:
                pending.add(submit(index, attempt + 1))
                continue
            yield outcome
    finally:
        # Stopped early (an error, Ctrl-C, a caller that stopped iterating): the scenes not run are dropped.
        left = list(pending.futures)
        if left and client.status == "running":
            with contextlib.suppress(Exception):
                client.cancel(left)

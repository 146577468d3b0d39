"""`glacierfront predict`: GeoTIFF scenes in, calving-front lines out, in each scene's CRS."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rasterio.errors import RasterioError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from glacierfront.batch.job import BatchOptions, SceneOutcome
from glacierfront.batch.manifest import DEFAULT_NAME as MANIFEST_NAME
from glacierfront.batch.manifest import ManifestWriter, done_sources
from glacierfront.batch.sources import (
    SceneSource,
    read_failure,
    read_scene_list,
    readable,
    remote_env,
    scene_sources,
)
from glacierfront.batch.worker import model_ref, remove_partial_outputs, scene_message
from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.inference import load_backend
from glacierfront.io.vector_files import write_lines
from glacierfront.outputs import output_crs, parse_format, plan_outputs
from glacierfront.predict import (
    LINE_SCHEMA,
    PredictOptions,
    SceneResult,
    check_resolution,
    predict_scene,
    uses_box,
)


def predict(
    scenes: list[str] | None = typer.Argument(
        None,
        help="GeoTIFF scene(s): SAR amplitude/dB or optical; paths or GDAL URLs (/vsicurl/https://..., "
        "https://..., s3://...).",
    ),
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="Vector file (.gpkg/.shp/.geojson) for all scenes, or a folder: one file per scene.",
    ),
    model: str | None = opt.MODEL,
    device: str = opt.DEVICE,
    batch_size: int | None = opt.BATCH_SIZE,
    tile: int | None = opt.TILE,
    overlap: int | None = opt.OVERLAP,
    tta: bool = opt.TTA,
    ocean_rule: str = opt.ocean_rule_option(PredictOptions.ocean_rule, PredictOptions.ocean_rule),
    band: int | None = typer.Option(
        None, "--band", "-b", "--bidx", help="Band to use (1-based) in a multi-band file (rio: -b/--bidx)."
    ),
    bands: str | None = typer.Option(
        None,
        "--mean-bands",
        "--bands",
        help="Bands averaged into one channel (luminance weights for 3), e.g. 1,2,3.",
    ),
    scaling: str = typer.Option(
        "auto",
        "--scaling",
        help="auto (uint8 /255, else 2-98 percentile), uint8, percentile[:L,H], minmax:A,B, none.",
    ),
    resolution: str | None = typer.Option(
        None,
        "--resolution",
        help="Pixel spacing to process at: M metres, or native (the scene's own grid). Default: the "
        "model's training spacing (see glacierfront info), else native.",
    ),
    nodata: float | None = typer.Option(
        None,
        "--nodata",
        help="Pixel value that means no data, for files that do not declare it (e.g. 0 in CaFFe-style "
        "scenes); it replaces the file's own nodata value.",
    ),
    min_length: float = typer.Option(
        750.0, "--min-length", help="Drop front pieces of at most this length (m)."
    ),
    aoi: Path | None = typer.Option(
        None,
        "--aoi",
        help="Polygon file: fronts only inside it (any CRS). A polygon's glacier_id or name field tags the "
        "fronts inside it.",
    ),
    glacier_id: str | None = typer.Option(
        None, "--glacier-id", help="Glacier id every front line is filed under (default: from --aoi)."
    ),
    upstream: str | None = typer.Option(
        None,
        "--upstream",
        help="Direction from the front into the glacier (N, ENE, ... or degrees) for --aoi boxes without "
        "an 'upstream' field: the front becomes the best ice-to-water crossing of each box.",
    ),
    front_rule: str = typer.Option(
        "auto",
        "--front-rule",
        help="box: the best ice-to-water crossing of each --aoi box (needs its upstream end); caffe: "
        "CaFFe's largest-ocean rule clipped to --aoi; auto: box when the upstream end is known.",
    ),
    zones: Path | None = typer.Option(
        None, "--zones", help="Write the zone map GeoTIFF here (a folder for several)."
    ),
    quicklook: Path | None = typer.Option(
        None, "--quicklook", help="Write a quicklook PNG here (a folder for several)."
    ),
    fmt: str | None = typer.Option(
        None,
        "-f",
        "--format",
        help="Vector format: GPKG, ESRI Shapefile or GeoJSON (or gpkg, shp, geojson). Sets a folder's files "
        "(default gpkg); with a file it must agree with -o's suffix.",
    ),
    layer: str | None = typer.Option(
        None, "--layer", help="GeoPackage layer to write (default fronts); the file's other layers are kept."
    ),
    overwrite: bool = opt.OVERWRITE,
    dst_crs: str | None = typer.Option(
        None,
        "--dst-crs",
        help="Write lines in this CRS (e.g. EPSG:3413), so scenes in several CRSs fit one file. Default: "
        "the scenes' CRS; GeoJSON: EPSG:4326 (RFC 7946).",
    ),
    allow_pixel_coords: bool = typer.Option(
        False,
        "--allow-pixel-coords",
        help="Accept scenes without a CRS; lines are then in pixel coordinates.",
    ),
    from_list: Path | None = typer.Option(
        None,
        "--from-list",
        help="Text file of scenes, one path or URL a line (blank lines and # comments skipped), run after "
        "SCENES; relative paths are taken from the current folder.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Run the scenes on a local Dask cluster of N worker processes, which share the cores "
        "(needs glacierfront[dask]).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Run the scenes on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786); "
        "workers need the model and the output folders at the same paths.",
    ),
    retries: int = typer.Option(
        1,
        "--retries",
        min=0,
        help="Run a scene again this often after a failure that may pass (a read or network error) "
        "before it is recorded as failed.",
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="CSV file that gets a row per scene (scene, status, lines, seconds, worker, error), appended. "
        "Default with --workers, --scheduler or --skip-existing: manifest.csv in the -o folder.",
    ),
    skip_existing: bool = typer.Option(
        False,
        "--skip-existing",
        help="Skip the scenes whose outputs exist and whose last manifest row says ok or no_front: "
        "resumes an interrupted run (-o a folder). The other scenes' outputs still need --overwrite.",
    ),
    quiet: bool = opt.QUIET,
) -> None:
    """Extract calving fronts from GeoTIFF scenes.

    Example: glacierfront predict S1A_*.tif -o fronts/ --quicklook looks/ --zones zones/

    The scene is read in tiles (never whole), run through CISNet, stitched with Gaussian weights, and
    post-processed as in CaFFe (holes filled, largest ocean kept or with --ocean-rule edge every ocean piece
    reaching the scene's edge, front = ocean next to glacier, pieces of at most --min-length metres
    dropped). --tta averages 8 flips/rotations per tile (8x slower; on unseen glaciers it did not help). Lines carry scene, date, sensor, length_m, confidence and the
    model's name and checksum. A scene that fails is reported and skipped; the exit code is 1 if any did.

    Outputs: an existing file is replaced only with --overwrite; a GeoPackage keeps its other layers. An
    output that is one of the inputs is refused. Ctrl-C and SIGTERM remove partial outputs.

    Many scenes (docs/batch.md): --from-list FILE reads them from a file; --workers N runs them on a local
    Dask cluster, --scheduler ADDRESS on a running one. Each scene gets a manifest row; --skip-existing
    skips the scenes a previous run finished, so an interrupted run goes on where it stopped.

    Scale: the model only works near the pixel spacing it was trained at. Each scene is resampled to it
    (one line on stderr says so) unless --resolution says otherwise; a spacing outside the range the model
    states gets a warning, which --quiet does not hide.
    """
    console = Console(stderr=True, quiet=quiet)
    options = PredictOptions(
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        band=band,
        bands=opt.parse_bands(bands),
        scaling=scaling,
        allow_pixel_coords=allow_pixel_coords,
        resolution_m=check_resolution(resolution),
        nodata=nodata,
        min_length_m=min_length,
        aoi=aoi,
        ocean_rule=ocean_rule,
        glacier_id=glacier_id,
        upstream=upstream,
        front_rule=front_rule,
    )
    model_file = opt.model_path(model)
    if aoi is not None:
        from glacierfront.io.aoi import read_aoi

        aoi_crs, _ = read_aoi(aoi)  # a wrong --aoi fails now, not after every scene's inference
        if aoi_crs is None and not allow_pixel_coords:
            raise GlacierfrontError(
                f"--aoi {aoi}: has no CRS, so it cannot be matched to the scenes; assign one "
                "(e.g. ogr2ogr -a_srs EPSG:3413 fixed.gpkg aoi.gpkg)"
            )
    if upstream is not None:
        from glacierfront.series.positions import parse_upstream

        parse_upstream(upstream)
    if uses_box(options):  # reads the boxes now: a box without an upstream end fails before any work
        console.print(
            f"fronts: the best ice-to-water crossing of each box in {aoi} (--front-rule caffe for CaFFe's rule)",
            highlight=False,
        )
    if workers is not None and scheduler is not None:
        raise GlacierfrontError(
            "--workers starts a local Dask cluster and --scheduler uses a running one: give one"
        )
    if manifest is not None and manifest.suffix.lower() != ".csv":
        raise GlacierfrontError(f"--manifest {manifest}: the manifest is a CSV file: name it *.csv")
    sources = scene_sources([*(scenes or []), *(read_scene_list(from_list) if from_list else [])])
    if not sources:
        raise GlacierfrontError("no scenes: give scene files or URLs, or --from-list FILE")
    planning = dict(inputs=[p for p in (aoi, model_file) if p], layer=layer)
    todo, skipped = sources, []
    if skip_existing:
        # Skipped scenes are taken out before the overwrite rule is applied to the others.
        every = plan_outputs([s.plan_path for s in sources], output, zones, quicklook, parse_format(fmt),
                             overwrite=True, **planning)  # fmt: skip
        if not every.folder:
            raise GlacierfrontError(
                f"--skip-existing resumes a run that writes one file per scene: give -o a folder, not {output}"
            )
        finished = done_sources(sources, every, manifest or every.vector / MANIFEST_NAME)
        todo = [s for s in sources if s.uri not in finished]
        skipped = [s for s in sources if s.uri in finished]
    plan = plan_outputs(
        [s.plan_path for s in todo],
        output,
        zones,
        quicklook,
        parse_format(fmt),
        overwrite=overwrite,
        **planning,
    )
    # Headers are read only where the CRS check needs them (one file, or --dst-crs): 10,000 remote headers
    # would take a while.
    import rasterio

    with rasterio.Env(**remote_env()):
        target_crs = output_crs([s.uri for s in todo] if dst_crs or not plan.folder else [], plan, dst_crs)
    distributed = workers is not None or scheduler is not None
    if manifest is None and plan.folder and (distributed or skip_existing):
        manifest = plan.vector / MANIFEST_NAME
    if todo and not distributed:
        backend = load_backend(model_file, device, tta=tta)
        console.print(
            f"model {backend.label} ({backend.config.encoder}) on {backend.device}", highlight=False
        )
    elif todo:
        model_ref(model_file)  # a missing model fails here, before any folder is made; workers load it
    plan.make_folders()
    log = ManifestWriter(manifest) if manifest is not None else None
    try:
        for source in skipped:
            log.write(SceneOutcome(source.uri, source.stem, -1, "skipped"))
        if skipped:
            console.print(f"{len(skipped)} scene(s) skipped: finished in {manifest}", highlight=False)
        if not todo:
            return
        if distributed:
            failed = _predict_on_dask(
                todo, model_file, options, plan, target_crs, device, tta, retries, workers, scheduler, log,
                console, quiet,
            )  # fmt: skip
        else:
            failed = _predict_here(todo, backend, options, plan, target_crs, retries, log, console, quiet)
    finally:
        if log is not None:
            log.close()
    if failed:
        raise typer.Exit(1)


def _predict_here(todo, backend, options, plan, target_crs, retries, log, console, quiet) -> int:
    """The scenes one after another in this process (no Dask); returns how many failed."""
    done: list[SceneResult] = []
    failed = 0
    said: set[str] = set()  # warnings about the model or the run, said once
    rows: list[SceneOutcome] = []  # manifest rows of a one-file run, written once the file is

    def record(row: SceneOutcome) -> None:
        if plan.folder and log is not None:  # a scene's row comes once its outputs are all written
            log.write(row)
        else:
            rows.append(row)

    for index, source in enumerate(todo):
        started = time.perf_counter()
        try:
            result = _run_source(source, backend, options, plan, console, quiet, retries)
        except GlacierfrontError as err:
            failed += 1
            message = scene_message(source, err)  # every per-scene failure names its scene
            print(f"glacierfront: error: {message}", file=sys.stderr)
            seconds = time.perf_counter() - started
            record(SceneOutcome(source.uri, source.stem, index, "failed", 0, seconds, "local", message))
            continue
        done.append(result)
        # Warnings go to stderr as plain lines, never wrapped and not hidden by --quiet.
        scale = result.scale
        if scale is not None and scale.warning and scale.warn_once and scale.warning not in said:
            said.add(scale.warning)
            print(f"glacierfront: warning: {scale.warning}", file=sys.stderr)
        for warning in result.warnings:
            print(f"{source.name}: {warning}", file=sys.stderr)
        if plan.folder:
            crs, records = result.records_in(target_crs)
            typer.echo(str(write_lines(plan.vector_for(result.scene), records, crs, LINE_SCHEMA, plan.layer)))
        status = "ok" if result.lines else "no_front"
        record(SceneOutcome(source.uri, source.stem, index, status, len(result.lines),
                            time.perf_counter() - started, "local"))  # fmt: skip
    if not plan.folder and done:
        written = [r.records_in(target_crs) for r in done]
        records = [rec for _, recs in written for rec in recs]
        typer.echo(str(write_lines(plan.vector, records, written[0][0], LINE_SCHEMA, plan.layer)))
    for row in rows if log is not None else []:
        log.write(row)
    return failed


def _run_source(source: SceneSource, backend, options, plan, console: Console, quiet: bool, retries: int):
    """One scene of the in-process loop: a URL through a local VRT (``batch.sources.readable``); a read
    error is tried again ``retries`` times; every failure is a ``GlacierfrontError`` naming the scene."""
    attempt = 0
    while True:
        attempt += 1
        local = None
        try:
            with readable(source) as local:
                return _run_one(local, backend, options, plan, console, quiet, name=source.name)
        except RasterioError as err:
            # A damaged file (e.g. cut mid-data) or a failed read over the network: this scene fails, the
            # batch goes on.
            if attempt <= retries:
                continue
            raise GlacierfrontError(scene_message(source, read_failure(source, err), local)) from None
        except GlacierfrontError as err:
            raise GlacierfrontError(scene_message(source, err, local)) from None


def _predict_on_dask(
    todo, model_file, options, plan, target_crs, device, tta, retries, workers, scheduler, log, console, quiet
) -> int:
    """The scenes as tasks on Dask (``batch.predict_many``); returns how many failed. In folder mode the
    workers write the outputs; with one file the lines come back here and this process writes it."""
    flag = "--workers" if workers is not None else "--scheduler"
    try:
        from glacierfront.batch.dask_run import connect
    except ImportError:
        raise GlacierfrontError(
            f"{flag} runs the scenes on Dask, which is not installed: pip install 'glacierfront[dask]'"
        ) from None
    from glacierfront.batch import predict_many

    failed = 0
    said: set[str] = set()
    gathered: list[SceneOutcome] = []
    unfinished = {s.stem for s in todo}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("scenes, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with connect(workers, scheduler) as conn:
            where = f"Dask at {scheduler}"
            if workers is not None:
                where = f"{workers} local Dask worker(s), {conn.threads} ONNX Runtime thread(s) each"
            console.print(f"model {model_file.name}, {len(todo)} scenes on {where}", highlight=False)
            if conn.dashboard:
                console.print(f"Dask dashboard: {conn.dashboard}", highlight=False)
            run = BatchOptions(options, plan, target_crs, device, tta, retries, conn.threads)
            # stdout stays stdout (the files written), whatever the bar on stderr does.
            with Progress(*columns, console=console, disable=quiet, redirect_stdout=False) as progress:
                task = progress.add_task("predict", total=len(todo), failed=0)
                for outcome in predict_many(todo, model_file, run, conn.client):
                    unfinished.discard(outcome.scene)
                    failed += outcome.failed
                    progress.update(task, advance=1, failed=failed)
                    _report(outcome, plan, said, progress.console)
                    if plan.folder and log is not None:
                        log.write(outcome)
                    else:
                        gathered.append(outcome)
    except KeyboardInterrupt:
        if workers is not None:  # the local workers are gone: nothing writes any more
            remove_partial_outputs(plan, unfinished)
        raise
    if not plan.folder:
        found = sorted((o for o in gathered if not o.failed), key=lambda o: o.index)
        if found:
            records = [rec for o in found for rec in o.records]
            typer.echo(str(write_lines(plan.vector, records, found[0].crs, LINE_SCHEMA, plan.layer)))
        for outcome in gathered if log is not None else []:
            log.write(outcome)
    return failed


def _report(outcome: SceneOutcome, plan, said: set[str], console: Console) -> None:
    """What the in-process loop says about a scene, for one that ran on a worker."""
    if outcome.failed:
        print(f"glacierfront: error: {outcome.error}", file=sys.stderr)
        return
    if outcome.run_warning and outcome.run_warning not in said:
        said.add(outcome.run_warning)
        print(f"glacierfront: warning: {outcome.run_warning}", file=sys.stderr)
    name = SceneSource(outcome.source).name
    for warning in outcome.warnings:
        print(f"{name}: {warning}", file=sys.stderr)
    for note in outcome.notes:
        console.print(f"{name}: {note}", highlight=False, soft_wrap=True)
    console.print(f"{name}: {outcome.summary}", highlight=False)
    if plan.folder:
        typer.echo(outcome.written[0])


def _run_one(
    path: Path, backend, options, plan, console: Console, quiet: bool, name: str | None = None
) -> SceneResult:
    name = name or path.name
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task(name, total=None, rate="")
        state = {"pixels_per_tile": 0.0}

        def on_start(tiles: int, pixels: int) -> None:
            state["pixels_per_tile"] = pixels / max(tiles, 1)
            progress.update(task, total=tiles)

        def on_tiles(n: int) -> None:
            progress.advance(task, n)
            t = progress.tasks[task]
            if t.elapsed:
                progress.update(
                    task, rate=f"{t.completed * state['pixels_per_tile'] / t.elapsed / 1e6:.2f} Mpx/s"
                )

        result = predict_scene(
            path,
            backend,
            options,
            plan.zones_for(path.stem),
            plan.quicklook_for(path.stem),
            on_start,
            on_tiles,
        )
    if result.scale is not None and result.scale.note:
        console.print(f"{name}: {result.scale.note}", highlight=False, soft_wrap=True)
    if result.scaling_note:
        console.print(f"{name}: input {result.scaling_note}", highlight=False, soft_wrap=True)
    console.print(f"{name}: {result.summary()}", highlight=False)
    return result

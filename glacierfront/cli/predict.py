"""`glacierfront predict`: GeoTIFF scenes in, calving-front lines out, in each scene's CRS."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from glacierfront.batch import BatchObserver, SceneProgress, predict_many
from glacierfront.batch.job import BatchOptions, SceneOutcome
from glacierfront.batch.manifest import DEFAULT_NAME as MANIFEST_NAME
from glacierfront.batch.manifest import ManifestWriter, done_sources
from glacierfront.batch.record import record
from glacierfront.batch.sources import SceneSource, read_scene_list, remote_env, scene_sources
from glacierfront.batch.worker import cached_backend, model_ref, remove_partial_outputs
from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.predict import PredictOptions, check_resolution, uses_box
from glacierfront.predict.fronts import MIN_FRONT_LENGTH_M
from glacierfront.predict.outputs import output_crs, parse_format, plan_outputs


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
        help="How values become the model's 0..1: auto (uint8 /255; else a 0.5-99.5 percentile stretch of "
        "amplitude, float data with a negative median taken as dB and converted first), uint8, "
        "percentile[:L,H] (2-98 without L,H), gain[:P|mean], minmax:A,B or none; optionally after db+, power+ "
        "or amplitude+ to say what the values are (alone: that conversion, then auto's stretch), "
        "e.g. power+gain:99.5.",
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
        MIN_FRONT_LENGTH_M, "--min-length", help="Drop front pieces of at most this length (m)."
    ),
    aoi: Path | None = typer.Option(
        None,
        "--aoi",
        help="Polygon file: fronts only inside it (any CRS). A polygon's glacier_id (or glacier) field tags the "
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
    dropped). --tta averages 8 flips/rotations per tile (8x slower; on unseen glaciers it left fewer scenes without a front, docs/realscene.md). Lines carry scene, date, sensor, length_m, confidence and the
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
    console = opt.console(quiet)
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
        from glacierfront.geo.frame import parse_upstream

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
    missing = [s.uri for s in sources if not s.remote and not Path(s.uri).exists()]
    if missing:  # a typo is found before the model loads, not after hours of a batch
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise GlacierfrontError(f"{missing[0]}: file not found{more}; check the scene paths")
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
    run = BatchOptions(options, plan, target_crs, device, tta, retries)
    # The model's checksum is read once, here: a missing model fails before any folder is made.
    ref = model_ref(model_file, device, tta) if todo else None
    if todo and not distributed:
        backend = cached_backend(ref)  # predict_many finds it loaded
        console.print(
            f"model {backend.label} ({backend.config.encoder}) on {backend.device}", highlight=False
        )
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
            failed = _predict_on_dask(todo, ref, run, workers, scheduler, log, console, quiet)
        else:
            outcomes = predict_many(todo, ref, run, observer=_TileBars(console, quiet))
            failed = _record(outcomes, plan, log, console)
    finally:
        if log is not None:
            log.close()
    if failed:
        raise typer.Exit(1)


def _record(outcomes, plan, log: ManifestWriter | None, console: Console, advance=None) -> int:
    """Print what the batch loop yields (``batch.record`` writes the manifest and a one-file run's file);
    returns how many scenes failed."""
    failed = 0
    said: set[str] = set()  # warnings about the model or the run, said once
    for outcome in record(outcomes, plan, log, on_file=lambda path: typer.echo(str(path))):
        failed += outcome.failed
        if advance is not None:
            advance(failed)
        _report(outcome, plan, said, console)
    return failed


class _TileBars(BatchObserver):
    """A tile progress bar per scene on stderr (the in-process loop; nothing with --quiet)."""

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet

    @contextlib.contextmanager
    def scene(self, source: SceneSource, index: int):
        hidden = self.quiet or not self.console.is_terminal  # a log gets the summary lines, not bar frames
        with Progress(*self.columns, console=self.console, disable=hidden, transient=False) as progress:
            yield _TileBar(progress, progress.add_task(source.name, total=None, rate=""))


class _TileBar(SceneProgress):
    def __init__(self, progress: Progress, task) -> None:
        self.progress, self.task, self.pixels_per_tile = progress, task, 0.0

    def on_start(self, tiles: int, pixels: int) -> None:
        self.pixels_per_tile = pixels / max(tiles, 1)
        self.progress.update(self.task, total=tiles)

    def on_tiles(self, n: int) -> None:
        self.progress.advance(self.task, n)
        state = self.progress.tasks[self.task]
        if state.elapsed:
            rate = state.completed * self.pixels_per_tile / state.elapsed / 1e6
            self.progress.update(self.task, rate=f"{rate:.2f} Mpx/s")


def _predict_on_dask(todo, ref, run: BatchOptions, workers, scheduler, log, console, quiet) -> int:
    """The scenes as tasks on Dask (``batch.predict_many`` with a client); returns how many failed. In
    folder mode the workers write the outputs; with one file the lines come back here and this process
    writes it."""
    flag = "--workers" if workers is not None else "--scheduler"
    try:
        from glacierfront.batch.dask_run import connect
    except ImportError:
        raise GlacierfrontError(
            f"{flag} runs the scenes on Dask, which is not installed: pip install 'glacierfront[dask]'"
        ) from None
    plan = run.plan
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
            console.print(f"model {Path(ref.path).name}, {len(todo)} scenes on {where}", highlight=False)
            if conn.dashboard:
                console.print(f"Dask dashboard: {conn.dashboard}", highlight=False)
            run = dataclasses.replace(run, threads=conn.threads)
            # stdout stays stdout (the files written), whatever the bar on stderr does.
            with Progress(*columns, console=console, disable=quiet, redirect_stdout=False) as progress:
                task = progress.add_task("predict", total=len(todo), failed=0)

                def finished(outcomes):
                    for outcome in outcomes:
                        unfinished.discard(outcome.scene)
                        yield outcome

                def advance(failed: int) -> None:
                    progress.update(task, advance=1, failed=failed)

                outcomes = finished(predict_many(todo, ref, run, conn.client))
                return _record(outcomes, plan, log, progress.console, advance)
    except KeyboardInterrupt:
        from glacierfront.batch.dask_run import quiet_shutdown

        quiet_shutdown()
        if workers is not None:  # the local workers are gone: nothing writes any more
            remove_partial_outputs(plan, unfinished)
        raise


def _report(outcome: SceneOutcome, plan, said: set[str], console: Console) -> None:
    """What predict says about a finished scene, wherever it ran: errors and warnings as plain lines, the
    notes and the summary on the console, the file written on stdout."""
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

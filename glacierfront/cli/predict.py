"""`glacierfront predict`: GeoTIFF scenes in, calving-front lines out, in each scene's CRS."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rasterio.errors import RasterioError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.inference import load_backend
from glacierfront.io.vectors import reproject_records, write_lines
from glacierfront.outputs import output_crs, parse_format, plan_outputs
from glacierfront.predict import LINE_SCHEMA, PredictOptions, SceneResult, check_resolution, predict_scene


def predict(
    scenes: list[Path] = typer.Argument(..., help="GeoTIFF scene(s): SAR amplitude/dB or optical."),
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
    plan = plan_outputs(
        scenes,
        output,
        zones,
        quicklook,
        parse_format(fmt),
        inputs=[p for p in (aoi, model_file) if p],
        overwrite=overwrite,
        layer=layer,
    )
    target_crs = output_crs(scenes, plan, dst_crs)
    backend = load_backend(model_file, device, tta=tta)
    console.print(f"model {backend.label} ({backend.config.encoder}) on {backend.device}", highlight=False)
    plan.make_folders()
    done: list[SceneResult] = []
    failed = 0
    said: set[str] = set()  # warnings about the model or the run, said once
    for path in scenes:
        try:
            try:
                result = _run_one(path, backend, options, plan, console, quiet)
            except RasterioError as err:
                # A damaged file (e.g. cut mid-data): this scene fails, the batch goes on.
                raise GlacierfrontError(
                    f"{path}: reading it failed ({err}); the file is damaged or truncated: fetch it again"
                ) from None
        except GlacierfrontError as err:
            failed += 1
            message = str(err)
            if path.name not in message:  # every per-scene failure names its scene
                message = f"{path}: {message}"
            print(f"glacierfront: error: {message}", file=sys.stderr)
            continue
        done.append(result)
        # Warnings go to stderr as plain lines, never wrapped and not hidden by --quiet.
        scale = result.scale
        if scale is not None and scale.warning and scale.warn_once and scale.warning not in said:
            said.add(scale.warning)
            print(f"glacierfront: warning: {scale.warning}", file=sys.stderr)
        for warning in result.warnings:
            print(f"{path.name}: {warning}", file=sys.stderr)
        if plan.folder:
            crs, records = _in_crs(result, target_crs)
            typer.echo(str(write_lines(plan.vector_for(result.scene), records, crs, LINE_SCHEMA, plan.layer)))
    if not plan.folder and done:
        written = [_in_crs(r, target_crs) for r in done]
        records = [rec for _, recs in written for rec in recs]
        typer.echo(str(write_lines(plan.vector, records, written[0][0], LINE_SCHEMA, plan.layer)))
    if failed:
        raise typer.Exit(1)


def _in_crs(result: SceneResult, target_crs) -> tuple[object, list]:
    """A scene's CRS and records, moved to ``target_crs`` when one is set (pixel coordinates stay)."""
    if target_crs is None or result.crs is None:
        return result.crs, result.records()
    return target_crs, reproject_records(result.records(), result.crs, target_crs)


def _run_one(path: Path, backend, options, plan, console: Console, quiet: bool) -> SceneResult:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=quiet, transient=False) as progress:
        task = progress.add_task(path.name, total=None, rate="")
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
        console.print(f"{path.name}: {result.scale.note}", highlight=False, soft_wrap=True)
    if result.scaling_note:
        console.print(f"{path.name}: input {result.scaling_note}", highlight=False, soft_wrap=True)
    total = sum(line.length_m for line in result.lines)
    length = f"{total:.0f} px (pixel coordinates)" if result.crs is None else f"{total / 1000:.2f} km"
    console.print(
        f"{path.name}: {len(result.lines)} front line(s), {length}, "
        f"{result.shape[1]} x {result.shape[0]} px in {result.seconds:.1f} s",
        highlight=False,
    )
    return result

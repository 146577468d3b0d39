"""A scene in, calving-front lines out. One module per stage, in the order a scene flows through them:

    options        PredictOptions: how a scene is read, tiled and post-processed
    scale          read: the scene opened on the grid (pixel spacing) the model wants
    tiling         the tile grid, Gaussian weights, ``BandStitcher`` (finished row bands)
    (model)        the backends live in ``glacierfront.model.backend``: images in, zone probabilities out
    segment        stitch: tiles through the backend into the stitcher; zones and confidence per pixel
    fronts         zones -> front: CaFFe post-processing in memory (CaFFe images)
    fronts_banded  the same in row bands over memory-mapped scenes
    fronts_box     the best ice-to-water crossing of a glacier box with its upstream end
    vectorise      front -> vectors: pixel edges merged into lines in the scene's CRS
    attributes     each line's glacier id and quality flags
    quicklook      write: the quicklook PNG
    outputs        write: where a run's (or several scenes') outputs go
    scene          the driver: ``predict_scene``, one scene end to end

The names below load their module on first use, so ``glacierfront.predict.fronts`` (CaFFe scoring) stays
light: importing a stage does not import the driver and its GIS stack.
"""

from __future__ import annotations

from glacierfront.lazy import lazy_names

_EXPORTS = {
    "PredictOptions": "options",
    "NATIVE": "scale",
    "SAME_SCALE": "scale",
    "DEFAULT_SCALE_TOLERANCE": "scale",
    "MAX_UPSAMPLE": "scale",
    "ScaleChoice": "scale",
    "check_resolution": "scale",
    "choose_scale": "scale",
    "model_scale": "scale",
    "open_for_model": "scale",
    "BAND_ROWS": "scene",
    "GDAL_CACHE_MB": "scene",
    "LINE_SCHEMA": "schema",
    "PIXEL_MIN_LENGTH_PX": "scene",
    "SceneResult": "scene",
    "fraction_true": "scene",
    "glacier_boxes": "scene",
    "predict_scene": "scene",
    "sensor_mismatch": "scene",
    "to_crs": "scene",
    "trained_on": "scene",
    "uses_box": "scene",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names(__name__, _EXPORTS)

"""Test doubles with known answers: a per-pixel threshold model as a real ONNX file, and synthetic scenes.

The threshold model classifies each pixel by brightness alone (bright rock, mid-grey glacier, dark ocean),
so a synthetic scene built from those three levels has an exactly known zone map and calving front.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import rasterio
from onnx import TensorProto, helper
from rasterio.transform import from_origin

from glacierfront.model.config import SAR_MEAN, SAR_STD, CISNetConfig

# Scene brightness (8-bit) of each zone; the model's class centres sit on them.
ROCK, GLACIER, OCEAN = 230, 150, 40
CENTRES_8BIT = (-5000.0, ROCK, GLACIER, OCEAN)  # NA is never the nearest centre


def threshold_model(
    path: Path, tile_size: int = 128, resolution_m: float | None = None, in_channels: int = 1
) -> Path:
    """An ONNX model with glacierfront metadata whose logits are -(x - centre_k)^2 per pixel."""
    centres = np.array([(c / 255 - SAR_MEAN) / SAR_STD for c in CENTRES_8BIT], np.float32).reshape(1, 4, 1, 1)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["grey"], keepdims=1, axes=[1]),
        helper.make_node("Sub", ["grey", "centres"], ["diff"]),
        helper.make_node("Mul", ["diff", "diff"], ["sq"]),
        helper.make_node("Neg", ["sq"], ["zone_logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "threshold",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, ["batch", in_channels, "height", "width"]
            )
        ],
        [helper.make_tensor_value_info("zone_logits", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        [helper.make_tensor("centres", TensorProto.FLOAT, centres.shape, centres.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "config": CISNetConfig(in_channels=in_channels).to_dict(),
        "classes": ["na", "rock", "glacier", "ocean"],
        "normalization": {"mean": SAR_MEAN, "std": SAR_STD},
        "tile_size": tile_size,
        "resolution_m": resolution_m,
        "training_data": "none: brightness thresholds for tests",
    }
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(model, str(path))
    return path


def glacier_scene(
    path: Path,
    height: int = 300,
    width: int = 400,
    front_col: int = 220,
    rock_rows: int = 50,
    res: float = 20.0,
    crs: str | None = "EPSG:3413",
    origin: tuple[float, float] = (-200_000.0, -2_000_000.0),
    nodata_cols: int = 0,
    dtype: str = "uint8",
) -> Path:
    """Rock along the top, glacier left of ``front_col``, ocean right of it; optional nodata strip on the left.

    The calving front is the vertical pixel edge at column ``front_col`` from row ``rock_rows`` to the bottom.
    """
    img = np.full((height, width), OCEAN, np.float32)
    img[:, :front_col] = GLACIER
    img[:rock_rows, :] = ROCK
    kwargs = {}
    if nodata_cols:
        img[:, :nodata_cols] = 0
        kwargs["nodata"] = 0
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=dtype, **kwargs)
    if crs is not None:
        profile.update(crs=crs, transform=from_origin(origin[0], origin[1], res, res))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img.astype(dtype), 1)
    return path

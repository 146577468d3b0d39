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


def caffe_folder(
    root: Path,
    n_per_glacier: int = 3,
    size: int = 64,
    glaciers: tuple[str, ...] = ("Alpha", "Beta"),
    resolution: int = 7,
) -> Path:
    """A tiny CaFFe-layout folder of synthetic scenes: rock on top, glacier left, ocean right, a known front.

    Names follow CaFFe (Glacier_Date_Satellite_Resolution_Quality_Orbit); each image gets a bounding box.
    """
    from PIL import Image

    rng = np.random.default_rng(1)
    for sub in ("sar_images/train", "zones/train", "fronts/train", "bounding_boxes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for g, glacier in enumerate(glaciers):
        for k in range(n_per_glacier):
            name = f"{glacier}_20{10 + k:02d}-0{g + 1}-15_TSX_{resolution}_1_{k:03d}"
            col = int(rng.integers(size // 3, 2 * size // 3))
            rows = size // 5
            zones = np.full((size, size), 254, np.uint8)
            zones[:, :col] = 127
            zones[:rows] = 64
            image = np.where(zones == 254, OCEAN, np.where(zones == 127, GLACIER, ROCK)).astype(np.float32)
            image = np.clip(image * rng.gamma(8.0, 1 / 8.0, image.shape), 0, 255).astype(np.uint8)
            front = np.zeros((size, size), np.uint8)
            front[rows:, col] = 255
            Image.fromarray(image).save(root / "sar_images/train" / f"{name}.png")
            Image.fromarray(zones).save(root / "zones/train" / f"{name}_zones.png")
            Image.fromarray(front).save(root / "fronts/train" / f"{name}_front.png")
            # CaFFe box corners: left-upper (larger row), left-lower, right-lower, right-upper.
            lo, hi = max(col - 8, 0), min(col + 8, size - 1)
            box = f"x,y\n{lo},{size - 1}\n{lo},{rows}\n{hi},{rows}\n{hi},{size - 1}\n"
            (root / "bounding_boxes" / f"{name}_bbox.txt").write_text(box)
    return root

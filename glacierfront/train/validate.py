"""Validation during training: zone IoU and the CaFFe front error (pixels) of the live model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from glacierfront.evaluate.caffe import CaffeOptions, score_model
from glacierfront.model.backend import Backend
from glacierfront.model.checkpoint import normalization_metadata
from glacierfront.model.config import DEFAULT_TILE


def live_backend(
    model: torch.nn.Module,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    per_image: bool = False,
) -> Backend:
    """Wrap a model being trained as an inference backend, so validation tiles (and scales) exactly like
    predict."""

    def run(x: np.ndarray) -> np.ndarray:
        with (
            torch.inference_mode(),
            torch.autocast(
                device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
            ),
        ):
            return model(torch.from_numpy(x).to(device)).float().cpu().numpy()

    meta = {"tile_size": DEFAULT_TILE, "normalization": normalization_metadata(per_image)}
    return Backend("torch", Path("live"), model.config, meta, str(device), run)


def validate(
    model: torch.nn.Module,
    items: list[Any],
    device: torch.device,
    min_length_px: float,
    autocast_dtype: torch.dtype | None = None,
    batch_size: int | None = None,
    metres: bool = False,
    per_image: bool = False,
) -> dict[str, float | None]:
    """mIoU over the 4 zone classes (NA included, CaFFe's convention) and the pooled front MDE in pixels,
    scored exactly as ``glacierfront evaluate --pixels`` does."""
    was_training = model.training
    model.eval()
    backend = live_backend(model, device, autocast_dtype, per_image)
    # Metres need the true pixel spacing in the names (full CaFFe); resized data such as caffe256 uses px.
    options = CaffeOptions(
        pixels=not metres, min_length_px=None if metres else min_length_px, batch_size=batch_size
    )
    result = score_model(items, backend, options)
    model.train(was_training)
    return {
        "val_miou": result["zones"]["mean"]["iou"],
        "val_mde_px": result["mde_px"],
        "val_mde_m": result["mde_m"],
        "val_no_front": result["n_no_front"],
    }

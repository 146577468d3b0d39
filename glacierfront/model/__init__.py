"""CISNet: configuration, network parts, checkpoints and ONNX export.

Names are loaded on first use, so code that only reads configs or ONNX metadata (ONNX Runtime inference)
never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ENCODER_SIZES": "config",
    "ZONE_CLASSES": "config",
    "CISNetConfig": "config",
    "CISNet": "cisnet",
    "PairOutput": "cisnet",
    "Checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_encoder_weights": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"glacierfront.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'glacierfront.model' has no attribute {name!r}")

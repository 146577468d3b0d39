"""CISNet: configuration, network parts, checkpoints and ONNX export; the inference backends that run a
model file (``model.backend``: ONNX Runtime or torch).

Names are loaded on first use, so code that only reads configs or ONNX metadata (ONNX Runtime inference)
never imports torch.
"""

from __future__ import annotations

from glacierfront.lazy import lazy_names

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

__getattr__ = lazy_names(__name__, _EXPORTS)

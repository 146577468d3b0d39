"""CISNet: configuration, network parts, checkpoints and ONNX export."""

from glacierfront.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from glacierfront.model.cisnet import CISNet, PairOutput
from glacierfront.model.config import ENCODER_SIZES, ZONE_CLASSES, CISNetConfig
from glacierfront.model.weights import load_encoder_weights

__all__ = [
    "ENCODER_SIZES",
    "ZONE_CLASSES",
    "CISNet",
    "CISNetConfig",
    "Checkpoint",
    "PairOutput",
    "load_checkpoint",
    "load_encoder_weights",
    "save_checkpoint",
]

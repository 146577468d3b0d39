"""What a model file holds: one dictionary for a .pt checkpoint or an exported .onnx model."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import sha256_file, verify_listed_checksum
from glacierfront.model.export import read_onnx_metadata

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def model_kind(path: str | Path) -> str:
    """ "checkpoint" or "onnx", from the suffix, else from the content (checkpoints are zip archives)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    if suffix == ".onnx":
        return "onnx"
    if not path.is_file():
        raise GlacierfrontError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        return "checkpoint"
    raise GlacierfrontError(
        f"{path}: not a model file; expected a glacierfront checkpoint (.pt) or ONNX model (.onnx)"
    )


def describe_model(path: str | Path) -> dict[str, Any]:
    """Config, classes, normalisation, training data and checksum of a model file."""
    path = Path(path)
    kind = model_kind(path)
    if kind == "checkpoint":
        from glacierfront.model.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        meta = dict(ckpt.metadata)
        config = ckpt.config.to_dict()
        extra = {
            "parameters": int(sum(v.numel() for k, v in ckpt.state_dict.items() if _is_parameter(k))),
            "resumable": ckpt.training is not None,
        }
    else:
        meta = read_onnx_metadata(path)
        config = meta.pop("config")
        extra = {"source_sha256": meta.pop("source_sha256", None)}
    digest = sha256_file(path)
    return {
        "path": str(path),
        "kind": kind,
        "sha256": digest,
        "checksum_verified": verify_listed_checksum(path, digest),
        "size_bytes": path.stat().st_size,
        "config": config,
        "classes": meta.pop("classes", None),
        "normalization": meta.pop("normalization", None),
        "tile_size": meta.pop("tile_size", None),
        "resolution_m": meta.pop("resolution_m", None),
        "training_data": meta.pop("training_data", None),
        **extra,
        "metadata": meta,
    }


def _is_parameter(key: str) -> bool:
    # BatchNorm running statistics are buffers, not learnt parameters.
    return not key.endswith(("running_mean", "running_var", "num_batches_tracked"))

"""What a model file holds: one dictionary for a .pt checkpoint or an exported .onnx model."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePath
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import sha256_file, verify_listed_checksum
from glacierfront.model.export import read_onnx_metadata
from glacierfront.model.scale import read_scale  # noqa: F401  (kept importable from here)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
# What a fine-tuned model was adapted from and on what (glacierfront finetune): shown as rows of their own.
FINETUNE_KEYS = ("finetuned_from", "finetuned_on")
# Paths of the machine a model was trained on, as train and finetune stamp them: a run's config (its data, its
# run folder, the weights it started from) and the data a fine-tune read. Shown by their last part only.
TRAIN_CONFIG_PATH_KEYS = ("data", "out", "encoder_weights", "init_from")


def model_kind(path: str | Path) -> str:
    """ "checkpoint" or "onnx", from the suffix, else from the content (checkpoints are zip archives)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    if suffix == ".onnx":
        return "onnx"
    if path.is_dir():
        raise GlacierfrontError(
            f"{path}: is a folder; give a model file in it (a .pt checkpoint such as best.pt, or an .onnx)"
        )
    if not path.is_file():
        raise GlacierfrontError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        return "checkpoint"
    raise GlacierfrontError(
        f"{path}: not a model file; expected a glacierfront checkpoint (.pt) or ONNX model (.onnx)"
    )


def describe_model(path: str | Path, training_paths: bool = False) -> dict[str, Any]:
    """Config, classes, normalisation, training data and checksum of a model file.

    ``path`` is the file as given. Paths of the training machine in the metadata (``train_config``'s data,
    run folder and start weights; ``finetuned_on``'s data folder) are reduced to their last part, e.g.
    /work/runs/ship-ema -> ship-ema: they name nothing on this machine and say how another one is laid out.
    ``training_paths`` keeps them as stamped. Nothing reads them back: --holdout takes the split, the
    glaciers and the seed from ``train_config``, and the images from its own --data.
    """
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
    if not training_paths:
        meta = _without_training_paths(meta)
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
        "resolution_range_m": meta.pop("resolution_range_m", None),
        "training_data": meta.pop("training_data", None),
        "sensors": meta.pop("sensors", None),
        "band_names": meta.pop("band_names", None),
        **{key: meta.pop(key) for key in FINETUNE_KEYS if key in meta},
        **extra,
        "metadata": meta,
    }


def _without_training_paths(meta: dict[str, Any]) -> dict[str, Any]:
    meta = dict(meta)
    config = meta.get("train_config")
    if isinstance(config, dict):
        meta["train_config"] = {
            key: _last_part(value) if key in TRAIN_CONFIG_PATH_KEYS else value
            for key, value in config.items()
        }
    tuned = meta.get("finetuned_on")
    if isinstance(tuned, dict) and isinstance(tuned.get("data"), str) and _is_absolute(tuned["data"]):
        # A CaFFe folder's path; otherwise a note such as "3 scene(s) with fronts from fronts.gpkg".
        meta["finetuned_on"] = {**tuned, "data": _last_part(tuned["data"])}
    return meta


def _last_part(value: Any) -> Any:
    """'/work/runs/ship-ema' and '../data/caffe256/' -> 'ship-ema' and 'caffe256'; lists item by item."""
    if isinstance(value, list):
        return [_last_part(v) for v in value]
    if not isinstance(value, str) or not value:
        return value
    parts = PurePath(value.replace("\\", "/")).parts
    named = [part for part in parts if part not in ("/", "..", ".")]
    return named[-1] if named else value


def _is_absolute(value: str) -> bool:
    """A POSIX or Windows absolute path, whichever machine stamped it."""
    return value.startswith(("/", "\\")) or value[1:3] in (":/", ":\\")


def _is_parameter(key: str) -> bool:
    # BatchNorm running statistics are buffers, not learnt parameters.
    return not key.endswith(("running_mean", "running_var", "num_batches_tracked"))

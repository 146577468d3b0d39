"""glacierfront checkpoints: weights + config + metadata in one .pt that loads without running pickle code."""

from __future__ import annotations

import datetime as dt
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from glacierfront import __version__
from glacierfront.errors import GlacierfrontError, first_line
from glacierfront.io.atomic import atomic_path
from glacierfront.io.intensity import PER_IMAGE_SCALE
from glacierfront.model.cisnet import CISNet
from glacierfront.model.config import DEFAULT_TILE, SAR_MEAN, SAR_STD, CISNetConfig
from glacierfront.zones import ZONE_CLASS_NAMES

FORMAT = "glacierfront-checkpoint"
FORMAT_VERSION = 1


INPUT_SCALE_8BIT = "8-bit amplitude / 255"


def normalization_metadata(per_image: bool = False) -> dict[str, Any]:
    """How a model's input is made: [0, 1] as 8-bit / 255, or per-image stretched (``train --per-image-norm``,
    ``io.intensity.PER_IMAGE_SCALE``: predict and evaluate then stretch every image), then z-normalised."""
    scale = PER_IMAGE_SCALE if per_image else INPUT_SCALE_8BIT
    return {"mean": SAR_MEAN, "std": SAR_STD, "input_scale": scale}


def default_metadata(config: CISNetConfig) -> dict[str, Any]:
    """Metadata every model file carries; training adds to it."""
    return {
        "classes": list(ZONE_CLASS_NAMES[: config.num_classes]),
        "normalization": normalization_metadata(),
        "tile_size": DEFAULT_TILE,
        "resolution_m": None,  # nominal pixel spacing (m) of the training data; predict resamples to it
        "resolution_range_m": None,  # [lo, hi] spacings (m) the model is meant to work at
        "training_data": "untrained",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "glacierfront_version": __version__,
    }


@dataclass
class Checkpoint:
    """A checkpoint in memory. ``training`` holds optimiser/scheduler/RNG state for resuming, if any."""

    config: CISNetConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    source: str = "checkpoint"

    def build_model(self) -> CISNet:
        model = CISNet(self.config)
        expected = model.state_dict()
        # A checkpoint may omit the change head (saved for inference only); everything else must fit.
        missing = [k for k in expected if k not in self.state_dict and not k.startswith("change_head.")]
        unexpected = [k for k in self.state_dict if k not in expected]
        misshaped = [
            k for k in expected if k in self.state_dict and self.state_dict[k].shape != expected[k].shape
        ]
        if missing or unexpected or misshaped:
            raise GlacierfrontError(
                f"{self.source}: weights do not fit the config ({self.config.encoder} encoder): "
                f"{len(missing)} missing, {len(unexpected)} unexpected, {len(misshaped)} mis-shaped tensors, "
                f"e.g. {(missing + unexpected + misshaped)[0]}"
            )
        model.load_state_dict(self.state_dict, strict=False)
        model.eval()
        return model


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    metadata: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write model weights, its config and metadata to ``path`` atomically."""
    config: CISNetConfig = model.config
    meta = default_metadata(config)
    meta.update(metadata or {})
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": meta,
    }
    if training is not None:
        payload["training"] = training
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def refused_pickled_code(err: BaseException) -> bool:
    """Whether torch's weights-only loader refused a file because it holds pickled Python objects (code
    that would run on load), not because the file is damaged: torch names the global it would not load."""
    text = str(err)
    return "Unsupported global" in text or "GLOBAL " in text


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint; every way the file can be wrong ends in one GlacierfrontError naming it."""
    path = Path(path)
    if not path.exists():
        raise GlacierfrontError(f"{path}: no such file")
    if not path.is_file():
        raise GlacierfrontError(f"{path}: not a file")
    if not zipfile.is_zipfile(path):
        raise GlacierfrontError(
            f"{path}: not a PyTorch checkpoint (not a zip archive); truncated or wrong file?"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if refused_pickled_code(err):
            raise GlacierfrontError(
                f"{path}: refused: loading it would run pickled code; only weights-only checkpoints are accepted"
            ) from None
        raise GlacierfrontError(f"{path}: corrupt checkpoint ({first_line(err, 200)})") from None
    except Exception as err:
        raise GlacierfrontError(f"{path}: corrupt or truncated checkpoint ({first_line(err, 200)})") from None

    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GlacierfrontError(
            f"{path}: not a glacierfront checkpoint (a plain state dict? official ConvNeXt V2 weights go to "
            "`glacierfront train --encoder-weights`)"
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise GlacierfrontError(f"{path}: written by a newer glacierfront; upgrade to read it")
    try:
        config = CISNetConfig.from_dict(payload["config"])
    except GlacierfrontError as err:
        raise GlacierfrontError(f"{path}: {err}") from None
    except (KeyError, TypeError) as err:
        raise GlacierfrontError(f"{path}: checkpoint config is malformed ({err})") from None
    return Checkpoint(
        config, payload["state_dict"], payload.get("metadata", {}), payload.get("training"), source=str(path)
    )


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> CISNet:
    """Rebuild the model from a glacierfront checkpoint file alone (config + weights)."""
    return load_checkpoint(path, map_location=map_location).build_model()

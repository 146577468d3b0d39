"""Inference backends: ONNX Runtime (default) and torch, both taking [0, 1] images and giving zone probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import CHECKSUM_FILE, sha256_file, verify_listed_checksum
from glacierfront.model.config import DEFAULT_TILE, SAR_MEAN, SAR_STD, CISNetConfig
from glacierfront.model.info import model_kind

DEVICES = ("auto", "cpu", "cuda")
# The shipped default model lives in the repository's models/ folder, beside the package.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "cisnet-atto-caffe256.onnx"


def default_model_path() -> Path:
    path = MODELS_DIR / DEFAULT_MODEL
    if not path.is_file():
        raise GlacierfrontError(f"no default model at {path}; pass --model MODEL.onnx (or a .pt checkpoint)")
    return path


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


@dataclass
class Backend:
    """A loaded model. ``predict`` maps (N, C, h, w) float32 images in [0, 1] to (N, classes, h, w) probabilities."""

    name: str  # "onnxruntime" or "torch"
    path: Path
    config: CISNetConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"  # what actually runs it, e.g. "CPUExecutionProvider" or "cuda:0"
    _run: Any = None
    _sha256: str | None = None

    @property
    def mean(self) -> float:
        return float((self.metadata.get("normalization") or {}).get("mean", SAR_MEAN))

    @property
    def std(self) -> float:
        return float((self.metadata.get("normalization") or {}).get("std", SAR_STD))

    @property
    def tile_size(self) -> int:
        return int(self.metadata.get("tile_size") or DEFAULT_TILE)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    def predict(self, images: np.ndarray) -> np.ndarray:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise GlacierfrontError(
                f"{self.path.name} expects {self.in_channels} input band(s), got {images.shape[1]}; "
                "choose bands with --band / --bands"
            )
        x = ((images - self.mean) / self.std).astype(np.float32, copy=False)
        return softmax(self._run(x))


def load_backend(path: str | Path, device: str = "auto") -> Backend:
    """Open a model file: ONNX files run in ONNX Runtime, checkpoints (.pt) in torch."""
    if device not in DEVICES:
        raise GlacierfrontError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    path = Path(path)
    kind = model_kind(path)
    # Hash once: the same digest verifies a listed model and is reported as model_sha256 on every line.
    digest = sha256_file(path) if (path.parent / CHECKSUM_FILE).is_file() else None
    verify_listed_checksum(path, digest)
    backend = _onnx_backend(path, device) if kind == "onnx" else _torch_backend(path, device)
    backend._sha256 = digest
    return backend


def _onnx_backend(path: Path, device: str) -> Backend:
    import onnxruntime as ort

    from glacierfront.model.export import INPUT_NAME, read_onnx_metadata

    meta = read_onnx_metadata(path)
    config = CISNetConfig.from_dict(meta.pop("config"))
    available = ort.get_available_providers()
    wanted = ["CPUExecutionProvider"]
    if device in ("auto", "cuda"):
        wanted = [p for p in _gpu_providers() if p in available] + wanted
    # onnxruntime-gpu lists its CUDA providers even where CUDA libraries are absent and logs errors
    # when they fail to load; we fall back to the CPU quietly and report which provider runs.
    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    try:
        session = ort.InferenceSession(str(path), options, providers=wanted)
    except Exception as err:
        raise GlacierfrontError(
            f"{path}: ONNX Runtime cannot load this model ({str(err).splitlines()[0]})"
        ) from None
    used = session.get_providers()[0]
    if device == "cuda" and used == "CPUExecutionProvider":
        raise GlacierfrontError(
            "--device cuda: ONNX Runtime found no usable CUDA (CUDA/cuDNN libraries missing?); use --device cpu or auto"
        )

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {INPUT_NAME: x})[0]

    return Backend("onnxruntime", path, config, meta, used, run)


def _gpu_providers() -> list[str]:
    """GPU providers worth trying: TensorRT only where its runtime library is installed, since a
    failed TensorRT start prints a banner that no log level silences."""
    import ctypes.util

    providers = ["CUDAExecutionProvider"]
    if ctypes.util.find_library("nvinfer"):
        providers.insert(0, "TensorrtExecutionProvider")
    return providers


def _torch_backend(path: Path, device: str) -> Backend:
    import torch

    from glacierfront.model.checkpoint import load_checkpoint

    if device == "cuda" and not torch.cuda.is_available():
        raise GlacierfrontError("--device cuda: torch sees no CUDA GPU; use --device cpu or auto")
    dev = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
    ckpt = load_checkpoint(path)
    model = ckpt.build_model().to(dev).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x).to(dev)).float().cpu().numpy()

    return Backend("torch", path, ckpt.config, dict(ckpt.metadata), str(dev), run)

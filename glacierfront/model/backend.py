"""Inference backends: ONNX Runtime (default) and torch, both taking [0, 1] images and giving zone probabilities.

A backend can average over test-time augmentation (the 8 flips and rotations of each tile) and several
backends can be averaged as an ensemble; both average softmax probabilities.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import CHECKSUM_FILE, sha256_file, verify_listed_checksum
from glacierfront.model.config import DEFAULT_TILE, SAR_MEAN, SAR_STD, CISNetConfig
from glacierfront.model.info import model_kind

DEVICES = ("auto", "cpu", "cuda")
TTA_CALL_PIXELS = 1 << 20  # test-time augmentation stacks transforms of small batches into calls of this size
# The shipped default model lives in the repository's models/ folder, beside the package.
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = "cisnet-atto-caffe256.onnx"


def default_model_path() -> Path:
    path = MODELS_DIR / DEFAULT_MODEL
    if not path.is_file():
        raise GlacierfrontError(f"no default model at {path}; pass --model MODEL.onnx (or a .pt checkpoint)")
    return path


def model_path(value: str | Path | None) -> Path:
    """A --model value as a file: a path, a shipped model's name ("sar", "optical"), or None: the default."""
    if value is None:
        return default_model_path()
    from glacierfront.model.catalog import resolve_model

    return resolve_model(value, MODELS_DIR)


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
    # Test-time augmentation: average the probabilities of the dihedral transforms of each tile.
    tta: bool = False
    # Intra-op threads the runtime was given (ONNX Runtime's session options, torch's thread count); None:
    # the runtime's default.
    threads: int | None = None

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

    @property
    def label(self) -> str:
        """How results name the model: the file name (an ensemble joins its members' names with '+')."""
        return self.path.name

    def predict(self, images: np.ndarray) -> np.ndarray:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise GlacierfrontError(
                f"{self.label} expects {self.in_channels} input band(s), got {images.shape[1]}; "
                "choose bands with --band / --bands"
            )
        if not self.tta:
            return self._probabilities(images)
        n, _, height, width = images.shape
        transforms = list(dihedral_transforms(height == width))
        # Small batches (a CaFFe image is one tile) carry several transforms per model call, up to ~1 Mpx.
        per_call = max(1, TTA_CALL_PIXELS // (n * height * width))
        total = np.zeros((n, self.config.num_classes, height, width), np.float32)
        for start in range(0, len(transforms), per_call):
            group = transforms[start : start + per_call]
            probs = self._probabilities(np.concatenate([transform_tiles(images, *t) for t in group]))
            for k, (flip, turns) in enumerate(group):
                total += untransform_tiles(probs[k * n : (k + 1) * n], flip, turns)
        total /= len(transforms)
        return total

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax of one model pass, no augmentation."""
        x = ((images - self.mean) / self.std).astype(np.float32, copy=False)
        return softmax(self._run(x))


def dihedral_transforms(square: bool) -> Iterator[tuple[bool, int]]:
    """(flip, quarter turns) of the test-time augmentation: all 8 symmetries of a square tile, or for a
    non-square one the 4 that keep its shape (identity, both mirror flips, the half turn)."""
    for flip in (False, True):
        for turns in range(4) if square else (0, 2):
            yield flip, turns


def transform_tiles(tiles: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    """Mirror (N, C, H, W) tiles left-right if ``flip``, then turn them ``turns`` quarter turns."""
    if flip:
        tiles = tiles[..., ::-1]
    return np.rot90(tiles, turns, axes=(-2, -1))


def untransform_tiles(tiles: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    """The inverse of ``transform_tiles``: turn back, then undo the mirror."""
    tiles = np.rot90(tiles, -turns, axes=(-2, -1))
    return tiles[..., ::-1] if flip else tiles


@dataclass
class EnsembleBackend(Backend):
    """Several models with the same classes and input bands; ``predict`` averages their probabilities.

    Each member normalises its input with its own statistics. Tiling and metadata (tile size, training
    spacing) come from the first member.
    """

    members: list[Backend] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "+".join(m.label for m in self.members)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            joined = "\n".join(m.sha256 for m in self.members)
            self._sha256 = hashlib.sha256(joined.encode()).hexdigest()
        return self._sha256

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        total = self.members[0]._probabilities(images).astype(np.float32, copy=True)
        for member in self.members[1:]:
            total += member._probabilities(images)
        total /= len(self.members)
        return total


def ensemble_backend(backends: Sequence[Backend], tta: bool = False) -> Backend:
    """One backend averaging the softmax probabilities of ``backends`` (and, with ``tta``, of the 8 dihedral
    transforms of every tile). The models must agree on classes, input bands and training pixel spacing."""
    backends = list(backends)
    if not backends:
        raise GlacierfrontError("an ensemble needs at least one model")
    first = backends[0]
    if len(backends) == 1:
        return dataclasses.replace(first, tta=tta)
    for other in backends[1:]:
        for what, a, b in (
            ("zone classes", first.config.num_classes, other.config.num_classes),
            ("input bands", first.in_channels, other.in_channels),
            ("class names", first.metadata.get("classes"), other.metadata.get("classes")),
            (
                "training pixel spacing",
                first.metadata.get("resolution_m"),
                other.metadata.get("resolution_m"),
            ),
        ):
            if a != b:
                raise GlacierfrontError(
                    f"cannot average {first.label} and {other.label}: their {what} differ ({a} vs {b})"
                )
    return EnsembleBackend(
        "ensemble", first.path, first.config, dict(first.metadata), first.device, tta=tta, members=backends
    )


def load_backend(
    path: str | Path | Sequence[str | Path],
    device: str = "auto",
    tta: bool = False,
    threads: int | None = None,
) -> Backend:
    """Open a model file: ONNX files run in ONNX Runtime, checkpoints (.pt) in torch.

    ``tta``: average each tile's probabilities over its 8 flips and rotations (8 times the model time).
    Several paths give an ensemble averaging the models' probabilities (see ``ensemble_backend``).
    ``threads``: intra-op threads (None: the runtime's default, every core). An ONNX session gets them in its
    own options, with one inter-op thread; torch's count is process-wide, so a checkpoint sets it for the
    process. Processes that share a machine (Dask workers) give each its share of the cores.
    """
    if device not in DEVICES:
        raise GlacierfrontError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    if threads is not None and threads < 1:
        raise GlacierfrontError(f"threads {threads}: must be at least 1")
    if not isinstance(path, (str, Path)):
        return ensemble_backend([load_backend(p, device, threads=threads) for p in path], tta=tta)
    path = Path(path)
    kind = model_kind(path)
    # Hash once: the same digest verifies a listed model and is reported as model_sha256 on every line.
    digest = sha256_file(path) if (path.parent / CHECKSUM_FILE).is_file() else None
    verify_listed_checksum(path, digest)
    backend = (
        _onnx_backend(path, device, threads) if kind == "onnx" else _torch_backend(path, device, threads)
    )
    backend._sha256 = digest
    backend.tta = tta
    return backend


def _onnx_backend(path: Path, device: str, threads: int | None = None) -> Backend:
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
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
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

    backend = Backend("onnxruntime", path, config, meta, used, run)
    # What the session was really given, read back from it (0: ONNX Runtime's default).
    backend.threads = session.get_session_options().intra_op_num_threads or None
    return backend


def _gpu_providers() -> list[str]:
    """GPU providers worth trying: TensorRT only where its runtime library is installed, since a
    failed TensorRT start prints a banner that no log level silences."""
    import ctypes.util

    providers = ["CUDAExecutionProvider"]
    if ctypes.util.find_library("nvinfer"):
        providers.insert(0, "TensorrtExecutionProvider")
    return providers


def _torch_backend(path: Path, device: str, threads: int | None = None) -> Backend:
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

    backend = Backend("torch", path, ckpt.config, dict(ckpt.metadata), str(dev), run)
    if threads is not None:
        torch.set_num_threads(threads)
        backend.threads = torch.get_num_threads()
    return backend

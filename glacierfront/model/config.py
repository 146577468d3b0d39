"""The CISNet configuration: one typed record saved inside every checkpoint and ONNX file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.zones import NUM_ZONE_CLASSES
from glacierfront.zones import ZONE_CLASS_NAMES as ZONE_CLASSES  # noqa: F401  (kept importable from here)

# ConvNeXt V2 sizes as data: (blocks per stage, channels per stage).
ENCODER_SIZES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "atto": ((2, 2, 6, 2), (40, 80, 160, 320)),
    "femto": ((2, 2, 6, 2), (48, 96, 192, 384)),
    "pico": ((2, 2, 6, 2), (64, 128, 256, 512)),
    "nano": ((2, 2, 8, 2), (80, 160, 320, 640)),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
}

DECODER_KINDS = ("additive", "unet")

# z-normalisation of 8-bit SAR amplitude scaled to [0, 1], as the CISNet authors train.
SAR_MEAN = 0.3047
SAR_STD = 0.3219

# Recommended inference tile (px) written into model metadata: 512 keeps the stitcher's row buffer small.
DEFAULT_TILE = 512


@dataclass(frozen=True)
class CISNetConfig:
    """Everything needed to rebuild a CISNet from scratch.

    encoder: ConvNeXt V2 size (atto, femto, pico, nano, tiny, base).
    in_channels: input bands (1 for SAR amplitude).
    num_classes: zone classes (4 for CaFFe: NA, rock, glacier, ocean).
    decoder: "additive" (the paper's FPN-like U-ConvNeXtV2) or "unet" (concatenating skips).
    drop_path: stochastic-depth rate at the deepest encoder block (linearly increasing from 0).
    change_branch: build the training-only change-information head.
    """

    encoder: str = "atto"
    in_channels: int = 1
    num_classes: int = NUM_ZONE_CLASSES
    decoder: str = "additive"
    drop_path: float = 0.1
    change_branch: bool = True

    def __post_init__(self) -> None:
        if self.encoder not in ENCODER_SIZES:
            raise GlacierfrontError(
                f"unknown encoder size {self.encoder!r}: choose one of {', '.join(ENCODER_SIZES)}"
            )
        if self.decoder not in DECODER_KINDS:
            raise GlacierfrontError(
                f"unknown decoder kind {self.decoder!r}: choose one of {', '.join(DECODER_KINDS)}"
            )
        if self.in_channels < 1 or self.num_classes < 2:
            raise GlacierfrontError(
                f"in_channels must be >= 1 and num_classes >= 2 (got {self.in_channels}, {self.num_classes})"
            )
        if not 0.0 <= self.drop_path < 1.0:
            raise GlacierfrontError(f"drop_path must be in [0, 1), got {self.drop_path}")

    @property
    def depths(self) -> tuple[int, ...]:
        return ENCODER_SIZES[self.encoder][0]

    @property
    def widths(self) -> tuple[int, ...]:
        return ENCODER_SIZES[self.encoder][1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CISNetConfig:
        if not isinstance(data, dict):
            raise GlacierfrontError("model config is damaged (not a table of fields); export the model again")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GlacierfrontError(
                f"model config has unknown fields {unknown}: written by a newer glacierfront? Upgrade it."
            )
        return cls(**data)

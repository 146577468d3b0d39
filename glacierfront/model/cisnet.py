"""CISNet: ConvNeXt V2 encoder + ASPP + decoder + zone head, with the training-only change branch."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from glacierfront.model.bottleneck import ASPP
from glacierfront.model.config import CISNetConfig
from glacierfront.model.decoder import Decoder
from glacierfront.model.encoder import ConvNeXtV2Encoder
from glacierfront.model.heads import ChangeHead, SegmentationHead

# The coarsest encoder map is at stride 32: inputs are padded to a multiple of it.
STRIDE = 32


class PairOutput(NamedTuple):
    zones: torch.Tensor  # (B, classes, H, W) zone logits of the first image
    change_12: torch.Tensor  # (B, 2, H, W) change logits for the order (x1, x2)
    change_21: torch.Tensor  # (B, 2, H, W) change logits for the order (x2, x1)


class CISNet(nn.Module):
    """Zone segmentation network of CISNet (ISPRS J. 2025); see docs/model.md.

    ``model(x)`` gives zone logits for any H, W; ``model.forward_pair(x1, x2)`` also gives the change
    logits used as an auxiliary task while training.
    """

    def __init__(self, config: CISNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CISNetConfig()
        self.encoder = ConvNeXtV2Encoder(config.encoder, config.in_channels, config.drop_path)
        widths = config.widths
        self.bottleneck = ASPP(widths[3])
        self.decoder = Decoder(
            self.bottleneck.out_channels, (widths[2], widths[1], widths[0]), config.decoder
        )
        self.head = SegmentationHead(self.decoder.out_channels, config.num_classes)
        self.change_head = ChangeHead(self.bottleneck.out_channels) if config.change_branch else None

    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # Edge replication works for any size, even inputs smaller than the padding itself.
        return F.pad(x, (0, (-w) % STRIDE, 0, (-h) % STRIDE), mode="replicate")

    def _features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats = self.encoder(x)
        return feats, self.bottleneck(feats[3])

    def _zones(self, feats: list[torch.Tensor], bottleneck: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(bottleneck, [feats[2], feats[1], feats[0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zone logits (B, classes, H, W) for normalised input (B, in_channels, H, W)."""
        h, w = x.shape[-2:]
        feats, bottleneck = self._features(self._pad(x))
        return self._zones(feats, bottleneck)[..., :h, :w]

    def forward_pair(self, x1: torch.Tensor, x2: torch.Tensor) -> PairOutput:
        """Zone logits of x1 and change logits in both orders; x1 and x2 share one encoder pass."""
        if self.change_head is None:
            raise RuntimeError("this CISNet was built without the change branch (change_branch=False)")
        if x1.shape != x2.shape:
            raise ValueError(
                f"pair images must have the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}"
            )
        h, w = x1.shape[-2:]
        feats, bottleneck = self._features(self._pad(torch.cat([x1, x2], dim=0)))
        n = x1.shape[0]
        zones = self._zones([f[:n] for f in feats], bottleneck[:n])
        b1, b2 = bottleneck[:n], bottleneck[n:]
        return PairOutput(
            zones[..., :h, :w],
            self.change_head(b1, b2)[..., :h, :w],
            self.change_head(b2, b1)[..., :h, :w],
        )

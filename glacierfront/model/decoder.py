"""Segmentation decoders: the paper's additive-skip U-ConvNeXtV2 decoder and a concatenating UNet variant."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Decoder widths of the paper: 384 after the bottleneck, then one per upsampling step.
ENTRY_WIDTH = 384
STEP_WIDTHS = (192, 96, 48, 24)


def conv_bn_gelu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU())


def up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class AdditiveDecoder(nn.Module):
    """Bilinear x2, add the encoder skip (FPN-like), 3x3 conv + BN + GELU; four steps to stride 2.

    Skips whose width differs from the running decoder width get a 1x1 projection [ours]; for the
    tiny encoder (the authors' size) the widths match and no projection is built.
    """

    def __init__(self, bottleneck_channels: int, skip_channels: tuple[int, int, int]) -> None:
        super().__init__()
        self.entry = nn.Conv2d(bottleneck_channels, ENTRY_WIDTH, 1)
        running = (ENTRY_WIDTH, *STEP_WIDTHS[:2])  # widths the s16, s8, s4 skips are added to
        self.skip_proj = nn.ModuleList(
            [nn.Identity() if s == r else nn.Conv2d(s, r, 1) for s, r in zip(skip_channels, running)]
        )
        cins = (ENTRY_WIDTH, *STEP_WIDTHS[:-1])
        self.steps = nn.ModuleList([conv_bn_gelu(ci, co) for ci, co in zip(cins, STEP_WIDTHS)])
        self.out_channels = STEP_WIDTHS[-1]

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """skips: encoder maps at strides 16, 8, 4. Returns features at stride 2."""
        x = self.entry(bottleneck)
        for i, step in enumerate(self.steps):
            x = up2(x)
            if i < len(skips):
                x = x + self.skip_proj[i](skips[i])
            x = step(x)
        return x


class UNetDecoder(nn.Module):
    """The same steps with concatenated instead of added skips."""

    def __init__(self, bottleneck_channels: int, skip_channels: tuple[int, int, int]) -> None:
        super().__init__()
        self.entry = nn.Conv2d(bottleneck_channels, ENTRY_WIDTH, 1)
        cins = (ENTRY_WIDTH, *STEP_WIDTHS[:-1])
        extra = (*skip_channels, 0)
        self.steps = nn.ModuleList([conv_bn_gelu(ci + e, co) for ci, e, co in zip(cins, extra, STEP_WIDTHS)])
        self.out_channels = STEP_WIDTHS[-1]

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = self.entry(bottleneck)
        for i, step in enumerate(self.steps):
            x = up2(x)
            if i < len(skips):
                x = torch.cat([x, skips[i]], dim=1)
            x = step(x)
        return x


DECODERS = {"additive": AdditiveDecoder, "unet": UNetDecoder}

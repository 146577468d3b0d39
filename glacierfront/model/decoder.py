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


class Decoder(nn.Module):
    """Four steps of bilinear x2, merge the encoder skip (s16, s8, s4; none on the last), 3x3 conv + BN + GELU.

    ``kind="additive"`` (the paper's U-ConvNeXtV2): skips are added, FPN-like; a skip whose width differs
    from the running decoder width gets a 1x1 projection [ours] (for the tiny encoder, the authors' size,
    the widths match and none is built). ``kind="unet"``: skips are concatenated instead.
    """

    def __init__(
        self, bottleneck_channels: int, skip_channels: tuple[int, int, int], kind: str = "additive"
    ) -> None:
        super().__init__()
        self.additive = kind == "additive"
        self.entry = nn.Conv2d(bottleneck_channels, ENTRY_WIDTH, 1)
        cins = (ENTRY_WIDTH, *STEP_WIDTHS[:-1])  # also the widths the s16, s8, s4 skips meet
        if self.additive:
            self.skip_proj = nn.ModuleList(
                [nn.Identity() if s == r else nn.Conv2d(s, r, 1) for s, r in zip(skip_channels, cins)]
            )
            extra = (0, 0, 0, 0)
        else:
            extra = (*skip_channels, 0)
        self.steps = nn.ModuleList([conv_bn_gelu(ci + e, co) for ci, e, co in zip(cins, extra, STEP_WIDTHS)])
        self.out_channels = STEP_WIDTHS[-1]

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """skips: encoder maps at strides 16, 8, 4. Returns features at stride 2."""
        x = self.entry(bottleneck)
        for i, step in enumerate(self.steps):
            x = up2(x)
            if i < len(skips):
                x = x + self.skip_proj[i](skips[i]) if self.additive else torch.cat([x, skips[i]], dim=1)
            x = step(x)
        return x

"""Output heads: zone segmentation logits and the training-only change-information head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SegmentationHead(nn.Module):
    """Final bilinear x2 (stride 2 -> full resolution), then a 3x3 conv to class logits."""

    def __init__(self, cin: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


class DropConnect(nn.Module):
    """Per-sample drop with rescaling, in the EfficientNet "drop connect" sense, only while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
        return x * mask / keep


class ChangeHead(nn.Module):
    """Two concatenated bottleneck maps -> 4 x [3x3 conv 16, ReLU, BN, DropConnect 0.2] -> 3x3 conv 2 -> x32."""

    def __init__(self, bottleneck_channels: int, width: int = 16, depth: int = 4, drop: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 2 * bottleneck_channels
        for _ in range(depth):
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(width)]
            layers.append(DropConnect(drop))
            cin = width
        layers.append(nn.Conv2d(cin, 2, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        logits = self.body(torch.cat([a, b], dim=1))
        return F.interpolate(logits, scale_factor=32.0, mode="bilinear", align_corners=False)

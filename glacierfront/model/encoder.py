"""ConvNeXt V2 encoder: multi-scale features at strides 4, 8, 16 and 32 for any number of input bands."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glacierfront.model.config import ENCODER_SIZES


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW tensor (the ConvNeXt "channels_first" norm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalisation on channels-last input (B, H, W, C).

    gamma and beta start at zero, so a fresh GRN is the identity; their (1, 1, 1, C) shape matches the
    official checkpoints.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The spatial L2 norm is taken in fp32: squaring SAR features in fp16 overflows easily.
        g = torch.linalg.vector_norm(x.float(), ord=2, dim=(1, 2), keepdim=True)
        n = (g / (g.mean(dim=-1, keepdim=True) + self.eps)).to(x.dtype)
        return self.gamma * (x * n) + self.beta + x


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch for a random subset of samples while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """ConvNeXt V2 block: dw 7x7 -> LN -> Linear d->4d -> GELU -> GRN -> Linear 4d->d -> DropPath + residual."""

    def __init__(self, dim: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class ConvNeXtV2Encoder(nn.Module):
    """ConvNeXt V2 without its classifier head.

    Module names follow the official facebookresearch layout (``downsample_layers``, ``stages``) so that
    released checkpoints load with little remapping (see ``glacierfront.model.weights``).
    """

    def __init__(self, size: str = "atto", in_channels: int = 1, drop_path: float = 0.0) -> None:
        super().__init__()
        depths, widths = ENCODER_SIZES[size]
        self.size = size
        self.in_channels = in_channels
        self.widths = widths
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_channels, widths[0], 4, stride=4), LayerNorm2d(widths[0], eps=1e-6))]
        )
        for i in range(1, 4):
            self.downsample_layers.append(
                nn.Sequential(LayerNorm2d(widths[i - 1], eps=1e-6), nn.Conv2d(widths[i - 1], widths[i], 2, 2))
            )
        # Stochastic depth grows linearly from 0 at the first block to drop_path at the last.
        total = sum(depths)
        rates = [drop_path * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        start = 0
        for depth, width in zip(depths, widths):
            self.stages.append(nn.Sequential(*[Block(width, rates[start + j]) for j in range(depth)]))
            start += depth
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the four stage outputs (strides 4, 8, 16, 32)."""
        features = []
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
            features.append(x)
        return features

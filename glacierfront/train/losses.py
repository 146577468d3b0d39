"""CISNet training losses: CE + Dice for zones, CE for change, and the adaptive (uncertainty) joint weighting."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    # torch returns NaN when every pixel is ignored (e.g. an all-NA pair in "all-classes" mode): give 0.
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    num_classes: int | None = None,
    ignore_index: int = IGNORE_INDEX,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Multiclass soft Dice loss, 1 - mean Dice, from logits (B, C, H, W) and class ids (B, H, W).

    Dice is computed per class over the whole batch (all images' pixels pooled, which is stable when
    a class covers few pixels of one patch) and averaged over the classes PRESENT in the batch target.
    Absent classes are left out: their Dice is 0/0, and over-predicting them is already punished by the
    cross-entropy term and by the lowered Dice of the classes they steal pixels from.
    Pixels equal to ``ignore_index`` count for no class. Perfect prediction -> 0, all wrong -> 1.
    """
    classes = logits.shape[1]
    if num_classes is not None and num_classes != classes:
        raise ValueError(f"logits have {classes} classes but num_classes={num_classes}")
    valid = target != ignore_index
    probs = logits.softmax(dim=1) * valid.unsqueeze(1)
    onehot = F.one_hot(target.masked_fill(~valid, 0), classes).permute(0, 3, 1, 2).to(probs.dtype)
    onehot = onehot * valid.unsqueeze(1)
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    target_sum = onehot.sum(dims)
    denominator = probs.sum(dims) + target_sum
    dice = (2.0 * intersection + eps) / (denominator + eps)
    present = target_sum > 0
    if not present.any():
        return logits.sum() * 0.0
    return 1.0 - dice[present].mean()


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
    ce_weight: float = 0.5,
    dice_weight: float = 0.5,
) -> torch.Tensor:
    """Zone loss L_seg = 0.5 CE + 0.5 Dice (CISNet's weights by default)."""
    ce = _cross_entropy(logits, target, ignore_index)
    return ce_weight * ce + dice_weight * dice_loss(logits, target, ignore_index=ignore_index)


def change_loss(
    c12_logits: torch.Tensor,
    c21_logits: torch.Tensor,
    label12: torch.Tensor,
    label21: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Change loss L_chg = 0.5 CE(c12, label12) + 0.5 CE(c21, label21).

    With the symmetric XOR label label21 == label12; both are taken so an asymmetric label could be used.
    """
    return 0.5 * _cross_entropy(c12_logits, label12, ignore_index) + 0.5 * _cross_entropy(
        c21_logits, label21, ignore_index
    )


class AdaptiveJointLoss(nn.Module):
    """Uncertainty weighting of task losses (Liebel & Koerner 2018), as CISNet uses it.

    L = sum_i 0.5 / w_i^2 * L'_i + ln(1 + w_i^2) with L'_i = ``task_scale`` * L_i (0.5 in CISNet) and
    learnt w_i starting at 1. ln(1 + w^2) rather than Kendall's ln(w) keeps the regulariser positive, so
    the total cannot be driven below zero by growing w. The w_i must get no weight decay (see
    ``param_groups``): decay would pull them towards 0 and so inflate the task weights 0.5 / w^2.

    With ``num_tasks=1`` (no change branch) there is nothing to balance: the module has no parameters and
    returns the segmentation loss unchanged, so such runs train exactly on L_seg.
    """

    def __init__(
        self, num_tasks: int = 2, task_scale: float = 0.5, names: tuple[str, ...] | None = None
    ) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = num_tasks
        self.task_scale = task_scale
        self.names = names or (
            ("seg", "chg") if num_tasks == 2 else tuple(f"task{i}" for i in range(num_tasks))
        )
        self.weights = nn.Parameter(torch.ones(num_tasks)) if num_tasks > 1 else None

    def forward(self, *losses: torch.Tensor) -> torch.Tensor:
        """Joint loss of the raw task losses (L_seg, L_chg, ...), in the order of ``names``."""
        if len(losses) != self.num_tasks:
            raise ValueError(f"expected {self.num_tasks} task losses, got {len(losses)}")
        if self.weights is None:
            return losses[0]
        w2 = self.weights**2
        scaled = torch.stack(list(losses)) * self.task_scale
        return (0.5 / w2 * scaled + torch.log1p(w2)).sum()

    def log_values(self) -> dict[str, float]:
        """The current w_i and effective task weights 0.5 * scale / w_i^2, for the training log."""
        if self.weights is None:
            return {}
        values: dict[str, float] = {}
        for name, w in zip(self.names, self.weights.detach().cpu().tolist()):
            values[f"w_{name}"] = w
            values[f"weight_{name}"] = 0.5 * self.task_scale / max(w * w, 1e-12)
        return values


def param_groups(model: nn.Module, joint_loss: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: the model with ``weight_decay``, the joint-loss weights with none."""
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    loss_params = [p for p in joint_loss.parameters() if p.requires_grad]
    if loss_params:
        groups.append({"params": loss_params, "weight_decay": 0.0})
    return groups

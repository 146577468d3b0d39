"""Training losses: Dice, CE + Dice, change CE, adaptive joint weighting, and an overfitting smoke test."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from glacierfront.model import CISNet, CISNetConfig
from glacierfront.model.config import SAR_MEAN, SAR_STD
from glacierfront.train.data import IGNORE_INDEX, change_label
from glacierfront.train.losses import (
    AdaptiveJointLoss,
    change_loss,
    dice_loss,
    param_groups,
    segmentation_loss,
)


def confident_logits(target: torch.Tensor, classes: int = 4, scale: float = 30.0) -> torch.Tensor:
    return F.one_hot(target, classes).permute(0, 3, 1, 2).float() * scale


def random_target(seed: int = 0, shape=(2, 16, 16)) -> torch.Tensor:
    return torch.randint(0, 4, shape, generator=torch.Generator().manual_seed(seed))


def test_dice_of_perfect_prediction_is_zero():
    target = random_target()
    assert float(dice_loss(confident_logits(target), target, num_classes=4)) < 1e-4


def test_dice_of_wrong_prediction_is_one():
    target = random_target()
    wrong = (target + 1) % 4
    assert float(dice_loss(confident_logits(wrong), target, num_classes=4)) > 0.999


def test_dice_averages_over_present_classes_and_skips_ignored_pixels():
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 3
    logits = confident_logits(target)
    # Class 1 is predicted on pixels that are ignored: those pixels count for nothing.
    target_ignored = target.clone()
    target_ignored[0, 3] = IGNORE_INDEX
    logits[0, :, 3] = confident_logits(torch.ones(1, 1, 4, dtype=torch.long))[0, :, 0]
    assert float(dice_loss(logits, target_ignored)) < 1e-4
    # Half of class 3 predicted as class 0: Dice(0) = 2*8/(8+12) = 0.8, Dice(3) = 2*4/(4+8) = 2/3.
    half = target.clone()
    half[0, 1] = 0
    expected = 1 - (0.8 + 2 / 3) / 2
    assert float(dice_loss(confident_logits(half), target)) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError):
        dice_loss(logits, target, num_classes=3)


def test_segmentation_loss_is_half_ce_plus_half_dice():
    logits = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    target = random_target(shape=(2, 8, 8))
    target[0, 0] = IGNORE_INDEX
    expected = 0.5 * F.cross_entropy(logits, target) + 0.5 * dice_loss(logits, target)
    assert float(segmentation_loss(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    assert float(segmentation_loss(confident_logits(target.clamp(min=0)), target)) < 1e-4


def test_change_loss_averages_both_orders_and_survives_all_ignored():
    g = torch.Generator().manual_seed(2)
    c12, c21 = torch.randn(2, 2, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g)
    label = torch.randint(0, 2, (2, 8, 8), generator=g)
    expected = 0.5 * F.cross_entropy(c12, label) + 0.5 * F.cross_entropy(c21, label)
    assert float(change_loss(c12, c21, label, label)) == pytest.approx(float(expected), rel=1e-6)
    ignored = torch.full_like(label, IGNORE_INDEX)
    assert float(change_loss(c12, c21, ignored, ignored)) == 0.0


def test_adaptive_loss_matches_hand_computation_at_w_one():
    joint = AdaptiveJointLoss()
    seg, chg = torch.tensor(0.8), torch.tensor(0.3)
    # 0.5 / 1 * (0.5 * L) + ln(1 + 1), for each task
    expected = 0.25 * 0.8 + math.log(2) + 0.25 * 0.3 + math.log(2)
    assert joint(seg, chg).item() == pytest.approx(expected, rel=1e-6)
    assert joint.log_values() == {"w_seg": 1.0, "weight_seg": 0.25, "w_chg": 1.0, "weight_chg": 0.25}


def test_adaptive_loss_gradients_reach_the_weights():
    joint = AdaptiveJointLoss()
    seg, chg = torch.tensor(0.8, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    joint(seg, chg).backward()
    # d/dw [0.5 / w^2 * 0.5 L + ln(1 + w^2)] at w = 1 is -0.5 L + 1.
    assert joint.weights.grad.tolist() == pytest.approx([1 - 0.4, 1 - 1.5])
    assert seg.grad.item() == pytest.approx(0.25)


def test_single_task_adaptive_loss_is_plain_segmentation_loss():
    joint = AdaptiveJointLoss(num_tasks=1)
    assert list(joint.parameters()) == [] and joint.log_values() == {}
    assert float(joint(torch.tensor(0.7))) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        joint(torch.tensor(0.7), torch.tensor(0.1))


def test_param_groups_exempt_joint_weights_from_weight_decay():
    model = torch.nn.Linear(3, 2)
    joint = AdaptiveJointLoss()
    groups = param_groups(model, joint, weight_decay=0.05)
    assert groups[0]["weight_decay"] == 0.05 and len(groups[0]["params"]) == 2
    assert groups[1]["weight_decay"] == 0.0 and groups[1]["params"][0] is joint.weights
    torch.optim.AdamW(groups, lr=1e-3)  # accepted by a real optimizer
    assert len(param_groups(model, AdaptiveJointLoss(num_tasks=1), 0.05)) == 1


def synthetic_scenes(n: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Toy scenes: rock top-left, glacier left, ocean right of a front at a per-image column."""
    g = torch.Generator().manual_seed(0)
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images, zones = [], []
    for k in range(n):
        z = torch.full((size, size), 3, dtype=torch.long)
        z[cols < 16 + 10 * k] = 2
        z[(cols < 16 + 10 * k) & (rows < 20)] = 1
        amplitude = torch.tensor([0.0, 0.4, 0.7, 0.1])[z] + 0.05 * torch.randn(size, size, generator=g)
        images.append(((amplitude - SAR_MEAN) / SAR_STD)[None])
        zones.append(z)
    return torch.stack(images), torch.stack(zones)


def test_atto_cisnet_overfits_tiny_set_with_pair_losses():
    torch.manual_seed(0)
    images, zones = synthetic_scenes(4)
    partner = torch.tensor([1, 2, 3, 0])  # a derangement, as global random matching gives
    model = CISNet(CISNetConfig(encoder="atto", drop_path=0.0))
    joint = AdaptiveJointLoss()
    optimizer = torch.optim.Adam(param_groups(model, joint, 0.0), lr=2e-3)
    seg_history, chg_history, total_history = [], [], []
    for _ in range(40):
        out = model.forward_pair(images, images[partner])
        label = change_label(zones, zones[partner])
        seg = segmentation_loss(out.zones, zones)
        chg = change_loss(out.change_12, out.change_21, label, label)
        total = joint(seg, chg)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        seg_history.append(seg.item())
        chg_history.append(chg.item())
        total_history.append(total.item())
    assert seg_history[-1] < 0.2 * seg_history[0]
    assert sum(chg_history[-5:]) / 5 < chg_history[0]
    assert total_history[-1] < total_history[0]
    assert joint.weights.grad is not None and not torch.allclose(joint.weights.detach(), torch.ones(2))

"""Training CISNet: CaFFe patch data, global random image pairing, change labels and losses."""

from glacierfront.train.augment import NO_AUGMENT, AugmentConfig
from glacierfront.train.data import (
    IGNORE_INDEX,
    CaffePatches,
    PairDataset,
    PairSampler,
    change_label,
    pair_permutation,
    split_train_val,
)
from glacierfront.train.losses import (
    AdaptiveJointLoss,
    change_loss,
    dice_loss,
    param_groups,
    segmentation_loss,
)

__all__ = [
    "IGNORE_INDEX",
    "NO_AUGMENT",
    "AdaptiveJointLoss",
    "AugmentConfig",
    "CaffePatches",
    "PairDataset",
    "PairSampler",
    "change_label",
    "change_loss",
    "dice_loss",
    "pair_permutation",
    "param_groups",
    "segmentation_loss",
    "split_train_val",
]

"""Training data for CISNet: CaFFe patches, global random pairing and the change label.

The train/val split is ``io.caffe.split_train_val`` (evaluate --holdout draws it too, without torch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import (
    read_png,
    read_zones,
    split_train_val,  # noqa: F401  (kept importable from here)
)
from glacierfront.io.intensity import stretch_per_image
from glacierfront.model.config import SAR_MEAN, SAR_STD
from glacierfront.train.augment import AugmentConfig, zoom
from glacierfront.train.augment import augment as augment_patch
from glacierfront.zones import GLACIER, IGNORE_ZONE, NA

IGNORE_INDEX = -100  # torch's default ignore_index for cross-entropy
CHANGE_MODES = ("glacier", "all-classes")


class ImageItem(Protocol):
    """What the dataset needs of an item: CaffeItem satisfies it."""

    name: str
    image: object  # path to the 8-bit SAR PNG
    zones: object  # path to the zone PNG (0/64/127/254)


def normalise(image01: np.ndarray) -> torch.Tensor:
    """(H, W) float image in [0, 1] -> (1, H, W) float32 tensor z-normalised as the model expects."""
    return torch.from_numpy(((image01 - SAR_MEAN) / SAR_STD).astype(np.float32))[None]


class CaffePatches(Dataset):
    """Random ``patch`` x ``patch`` crops of CaFFe images with their zone ids 0..3.

    ``dataset[i]`` gives ``(image (1, P, P) float32 normalised, zones (P, P) int64)``. Images smaller than the
    patch are padded at the bottom/right with image value 0 and class NA. Decoded images of at most
    ``cache_pixels`` pixels are kept in memory (all of caffe256); larger ones are re-read per access.
    ``per_image``: each patch is stretched by its own valid pixels (``io.intensity.stretch_per_image``).

    Randomness (crop, augmentation) comes from a generator seeded by (seed, epoch, index, slot) only:
    a run is reproducible and resumable, and does not depend on the number of DataLoader workers (the
    worker id is deliberately not part of the seed). Call ``set_epoch`` before each epoch; with
    ``persistent_workers=True`` the workers keep the epoch they were started with, so do not use it.
    """

    def __init__(
        self,
        items: Sequence[ImageItem],
        patch: int = 256,
        augment: bool = False,
        augment_config: AugmentConfig | None = None,
        seed: int = 0,
        cache_pixels: int = 1024 * 1024,
        per_image: bool = False,
    ) -> None:
        if patch < 1:
            raise GlacierfrontError(f"--patch must be a positive number of pixels, got {patch}")
        if not items:
            raise GlacierfrontError("no training images given to the patch dataset")
        self.items = list(items)
        self.patch = patch
        self.augment = augment
        self.augment_config = augment_config or AugmentConfig()
        self.seed = seed
        self.per_image = per_image
        self.epoch = 0
        self.cache_pixels = cache_pixels
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded (uint8 image, uint8 zone ids) of one item, from the cache when it is there."""
        if index in self._cache:
            return self._cache[index]
        item = self.items[index]
        image = read_png(item.image)
        zones = read_zones(item.zones)
        if image.shape != zones.shape:
            raise GlacierfrontError(
                f"{item.zones}: zone mask is {zones.shape[1]}x{zones.shape[0]} px but its image is "
                f"{image.shape[1]}x{image.shape[0]} px; regenerate the label to the image grid"
            )
        if image.size <= self.cache_pixels:
            self._cache[index] = (image, zones)
        return image, zones

    def rng(self, index: int, slot: int = 0) -> np.random.Generator:
        """The generator of one draw; ``slot`` tells apart the two uses of an image within a pair epoch."""
        return np.random.default_rng([self.seed, self.epoch, index, slot])

    def sample(self, index: int, slot: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One (image, zones) patch of item ``index``; slot 0 = first image of a pair, 1 = partner."""
        image, zones = self.load(index)
        rng = self.rng(index, slot)
        cfg = self.augment_config
        if self.augment and cfg.zoom is not None and rng.random() < cfg.zoom_p:
            lo, hi = cfg.zoom
            factor = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            image01, zone_patch = zoom(image.astype(np.float32) / 255.0, zones, factor, self.patch, rng)
        else:
            image, zones = pad_to(image, zones, self.patch)
            row = int(rng.integers(image.shape[0] - self.patch + 1))
            col = int(rng.integers(image.shape[1] - self.patch + 1))
            window = (slice(row, row + self.patch), slice(col, col + self.patch))
            image01 = image[window].astype(np.float32) / 255.0
            zone_patch = zones[window]
        if self.augment:
            image01, zone_patch = augment_patch(image01, zone_patch, rng, cfg)
        if self.per_image:  # after augmentation: predict stretches the scene as it comes
            image01 = stretch_per_image(image01)
        return normalise(image01), zone_tensor(zone_patch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sample(index, slot=0)


def zone_tensor(zones: np.ndarray) -> torch.Tensor:
    """Zone ids as the int64 target of the losses: ``IGNORE_ZONE`` pixels become ``IGNORE_INDEX``."""
    target = torch.from_numpy(zones.astype(np.int64))
    return target.masked_fill(target == IGNORE_ZONE, IGNORE_INDEX)


def pad_to(image: np.ndarray, zones: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad at the bottom/right to at least ``size`` x ``size``: image value 0 (no data), class NA."""
    pad_rows, pad_cols = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if pad_rows == 0 and pad_cols == 0:
        return image, zones
    width = ((0, pad_rows), (0, pad_cols))
    return np.pad(image, width, constant_values=0), np.pad(zones, width, constant_values=NA)


def pair_permutation(n: int, epoch: int, seed: int = 0) -> np.ndarray:
    """The partner of every image for one epoch: a uniformly random derangement pi of range(n).

    pi is a permutation (every image is a partner exactly once) with pi[i] != i (never paired with
    itself). Drawn by rejection: about e ~ 2.7 tries on average, at most 1/2 rejected for n >= 2.
    """
    if n < 2:
        raise GlacierfrontError(f"pairing needs at least 2 training images, got {n}")
    rng = np.random.default_rng([seed, epoch, 0x9A12])  # the tag keeps it apart from augmentation seeds
    identity = np.arange(n)
    while True:
        pi = rng.permutation(n)
        if not np.any(pi == identity):
            return pi


class PairSampler(Sampler):
    """Yields ``(i, pi(i))`` index pairs over the whole training set, redrawn every epoch.

    The first elements come in a fresh random order each epoch (unless ``shuffle=False``), pi from
    ``pair_permutation``. For distributed training the epoch's list is split like torch's
    DistributedSampler: padded by wrapping to a multiple of ``num_replicas`` (or truncated with
    ``drop_last``), then rank r takes positions r, r + R, ...; every rank gets the same count and,
    padding aside, the shares are disjoint. All ranks must use the same seed and call ``set_epoch``.
    """

    def __init__(
        self,
        n: int,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if n < 2:
            raise GlacierfrontError(f"pairing needs at least 2 training images, got {n}")
        if num_replicas is None or rank is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            num_replicas = (
                num_replicas if num_replicas is not None else (dist.get_world_size() if ready else 1)
            )
            rank = rank if rank is not None else (dist.get_rank() if ready else 0)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.num_replicas, self.rank, self.drop_last = num_replicas, rank, drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_pairs(self) -> list[tuple[int, int]]:
        """All pairs of this epoch, before sharding (the same on every rank)."""
        pi = pair_permutation(self.n, self.epoch, self.seed)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 0x0D3E]).permutation(self.n)
        else:
            order = np.arange(self.n)
        return [(int(i), int(pi[i])) for i in order]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        pairs = self.epoch_pairs()
        if self.drop_last:
            pairs = pairs[: self.total_size]
        else:
            pairs = (pairs * math.ceil(self.total_size / len(pairs)))[: self.total_size]
        return iter(pairs[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples


class PairDataset(Dataset):
    """``dataset[(i, j)]`` -> ``((image_i, zones_i), (image_j, zones_j))``, each augmented independently.

    Index it with a ``PairSampler`` (``DataLoader(pairs, batch_size=16, sampler=PairSampler(len(pairs)))``);
    the default collate then gives ``((images1, zones1), (images2, zones2))`` batches.
    """

    def __init__(self, patches: CaffePatches) -> None:
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def set_epoch(self, epoch: int) -> None:
        self.patches.set_epoch(epoch)

    def __getitem__(self, key: tuple[int, int]):
        first, partner = key
        # Slot 1 for the partner: the same image drawn as a partner gets its own crop and augmentation.
        return self.patches.sample(first, slot=0), self.patches.sample(partner, slot=1)


def change_label(
    z1: torch.Tensor, z2: torch.Tensor, mode: str = "glacier", ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Per-pixel change label (int64, 0/1) between two zone maps on the same grid.

    "glacier" (the paper's): c = (z1 == glacier) XOR (z2 == glacier); NA is an ordinary non-glacier pixel.
    "all-classes" (ours): c = (z1 != z2) over all classes, with ``ignore_index`` where either map is NA.
    In both, a pixel ignored in either map (weak labels) is ``ignore_index``: its change is unknown.
    The label is symmetric, so it serves both orders (1, 2) and (2, 1).
    """
    if z1.shape != z2.shape:
        raise ValueError(f"zone maps must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    unknown = (z1 == ignore_index) | (z2 == ignore_index)
    if mode == "glacier":
        return ((z1 == GLACIER) ^ (z2 == GLACIER)).long().masked_fill(unknown, ignore_index)
    if mode == "all-classes":
        label = (z1 != z2).long()
        return label.masked_fill((z1 == NA) | (z2 == NA) | unknown, ignore_index)
    raise GlacierfrontError(f"unknown change label mode {mode!r}: choose one of {', '.join(CHANGE_MODES)}")

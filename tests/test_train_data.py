"""Training data: split, CaFFe patches, augmentation alignment, global random pairing and change labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import ZONE_PNG_VALUES, CaffeItem, list_split
from glacierfront.model.config import SAR_MEAN, SAR_STD
from glacierfront.train.augment import GEOMETRIC_ONLY, NO_AUGMENT, AugmentConfig, radiometric, zoom
from glacierfront.train.config import TrainConfig
from glacierfront.train.data import (
    IGNORE_INDEX,
    CaffePatches,
    PairDataset,
    PairSampler,
    change_label,
    pair_permutation,
    split_train_val,
)

SAMPLE = Path(__file__).parent / "data" / "caffe256_sample"


def raw_values(image: torch.Tensor) -> np.ndarray:
    """Undo the normalisation: back to the 8-bit values the patch was made of."""
    return np.rint((image[0].numpy() * SAR_STD + SAR_MEAN) * 255).astype(np.int64)


def fake_items(names: list[str]) -> list[CaffeItem]:
    return [
        CaffeItem(n, Path(f"{n}.png"), Path(f"{n}_zones.png"), Path(f"{n}_front.png"), None) for n in names
    ]


def write_item(root: Path, name: str, image: np.ndarray, zones: np.ndarray) -> CaffeItem:
    paths = {kind: root / f"{name}{suffix}.png" for kind, suffix in (("image", ""), ("zones", "_zones"))}
    Image.fromarray(image.astype(np.uint8)).save(paths["image"])
    Image.fromarray(ZONE_PNG_VALUES[zones]).save(paths["zones"])
    return CaffeItem(name, paths["image"], paths["zones"], root / f"{name}_front.png", None)


# --- split -------------------------------------------------------------------------------------------


NAMES = [f"{g}_2010-01-{d:02d}_TSX_7_1_001" for g in ("Crane", "DBE", "JAC") for d in range(1, 11)]


def test_split_is_deterministic_disjoint_and_ten_percent():
    shuffled = list(reversed(fake_items(NAMES)))
    train, val = split_train_val(shuffled, val_fraction=0.1, seed=3)
    train2, val2 = split_train_val(fake_items(NAMES), val_fraction=0.1, seed=3)
    assert [i.name for i in val] == [i.name for i in val2] and len(val) == 3
    assert [i.name for i in train] == [i.name for i in train2]
    assert {i.name for i in train} | {i.name for i in val} == set(NAMES)
    assert not {i.name for i in train} & {i.name for i in val}
    assert [i.name for i in train] == sorted(i.name for i in train)
    _, val_other = split_train_val(fake_items(NAMES), val_fraction=0.1, seed=4)
    assert {i.name for i in val_other} != {i.name for i in val}


def test_split_holds_out_whole_glaciers():
    train, val = split_train_val(fake_items(NAMES), val_glaciers=["JAC"])
    assert {i.name.split("_")[0] for i in val} == {"JAC"} and len(val) == 10
    assert {i.name.split("_")[0] for i in train} == {"Crane", "DBE"}
    with pytest.raises(GlacierfrontError, match="COL"):
        split_train_val(fake_items(NAMES), val_glaciers=["COL"])
    with pytest.raises(GlacierfrontError, match="every training image"):
        split_train_val(fake_items(NAMES), val_glaciers=["Crane", "DBE", "JAC"])


# --- patches -----------------------------------------------------------------------------------------


def test_sample_dataset_gives_normalised_patches_and_class_ids():
    items = list_split(SAMPLE, "train").items
    data = CaffePatches(items, patch=128, augment=True, seed=0)
    assert len(data) == 3
    seen: set[int] = set()
    for k in range(len(data)):
        image, zones = data[k]
        assert image.shape == (1, 128, 128) and image.dtype == torch.float32
        assert zones.shape == (128, 128) and zones.dtype == torch.int64
        assert (
            image.min() >= (0 - SAR_MEAN) / SAR_STD - 1e-5 and image.max() <= (1 - SAR_MEAN) / SAR_STD + 1e-5
        )
        seen |= set(torch.unique(zones).tolist())
    assert seen <= {0, 1, 2, 3}
    full_image, full_zones = CaffePatches(items, patch=256)[0]
    assert set(torch.unique(full_zones).tolist()) >= {1, 2, 3}
    assert abs(float(full_image.mean())) < 2.0  # z-normalised, not raw 0..255


def test_patches_are_reproducible_per_epoch_and_change_across_epochs():
    items = list_split(SAMPLE, "train").items
    a, b = (
        CaffePatches(items, patch=64, augment=True, seed=1),
        CaffePatches(items, patch=64, augment=True, seed=1),
    )
    assert torch.equal(a[2][0], b[2][0])
    a.set_epoch(1)
    assert not torch.equal(a[2][0], b[2][0])
    b.set_epoch(1)
    assert torch.equal(a[2][0], b[2][0])


def test_small_image_is_padded_with_na_and_zero(tmp_path):
    image = np.full((20, 30), 200, np.uint8)
    zones = np.full((20, 30), 2, np.uint8)
    item = write_item(tmp_path, "Crane_2010-01-01_TSX_7_1_001", image, zones)
    patch, labels = CaffePatches([item], patch=48, augment=False)[0]
    raw = raw_values(patch)
    assert raw.shape == (48, 48)
    assert (raw[:20, :30] == 200).all() and (labels[:20, :30] == 2).all()
    assert (raw[20:, :] == 0).all() and (raw[:, 30:] == 0).all()
    assert (labels[20:, :] == 0).all() and (labels[:, 30:] == 0).all()


def test_mismatched_label_size_names_the_file(tmp_path):
    item = write_item(tmp_path, "Crane_2010-01-01_TSX_7_1_001", np.zeros((8, 8)), np.zeros((8, 8), np.int64))
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(item.zones)
    with pytest.raises(GlacierfrontError, match="_zones.png"):
        CaffePatches([item], patch=8)[0]


def test_geometric_augmentation_keeps_labels_on_their_pixels(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(1, 256, size=(32, 32))
    zones = image % 4  # the label is a function of the pixel value: any misalignment breaks it
    item = write_item(tmp_path, "Crane_2010-01-01_TSX_7_1_001", image, zones)
    data = CaffePatches([item], patch=32, augment=True, augment_config=GEOMETRIC_ONLY)
    transformed = 0
    for epoch in range(12):
        data.set_epoch(epoch)
        patch, labels = data[0]
        raw = raw_values(patch)
        assert np.array_equal(raw % 4, labels.numpy())
        transformed += not np.array_equal(raw, image)
    assert transformed >= 6  # flips and rotations actually happened


def test_radiometric_augmentation_changes_image_only_within_range_and_keeps_nodata():
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    image[:8] = 0.0
    cfg = AugmentConfig(jitter_p=1.0, speckle_p=1.0)
    out = radiometric(image.copy(), np.random.default_rng(0), cfg)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert (out[:8] == 0).all()
    assert not np.allclose(out[8:], image[8:])
    assert np.array_equal(radiometric(image.copy(), np.random.default_rng(0), NO_AUGMENT), image)


def test_speckle_noise_has_mean_one():
    image = np.full((256, 256), 0.5, np.float32)
    cfg = AugmentConfig(jitter_p=0.0, speckle_p=1.0, speckle_looks=(8.0, 8.0))
    out = radiometric(image, np.random.default_rng(0), cfg)
    assert abs(out.mean() / 0.5 - 1.0) < 0.01
    assert abs(out.std() / 0.5 - (1 / 8) ** 0.5) < 0.02


# --- pairing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 7, 100])
def test_pairing_is_a_derangement_covering_every_image_once(n):
    for epoch in range(20):
        pi = pair_permutation(n, epoch, seed=0)
        assert sorted(pi.tolist()) == list(range(n))  # each image is a partner exactly once
        assert not np.any(pi == np.arange(n))  # never paired with itself


def test_pairing_changes_across_epochs_and_is_deterministic():
    assert np.array_equal(pair_permutation(50, 3, seed=7), pair_permutation(50, 3, seed=7))
    assert not np.array_equal(pair_permutation(50, 3, seed=7), pair_permutation(50, 4, seed=7))
    assert not np.array_equal(pair_permutation(50, 3, seed=7), pair_permutation(50, 3, seed=8))
    with pytest.raises(GlacierfrontError):
        pair_permutation(1, 0)


def test_sampler_epoch_pairs_use_every_image_once_first_and_once_as_partner():
    sampler = PairSampler(13, seed=2)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        pairs = list(sampler)
        assert len(pairs) == len(sampler) == 13
        assert sorted(i for i, _ in pairs) == list(range(13))
        assert sorted(j for _, j in pairs) == list(range(13))
        assert all(i != j for i, j in pairs)
        epochs.append(pairs)
    assert epochs[0] != epochs[1] != epochs[2]


@pytest.mark.parametrize("n, replicas", [(12, 4), (13, 4), (5, 3)])
def test_distributed_shards_are_equal_disjoint_and_cover_all(n, replicas):
    shards = []
    for rank in range(replicas):
        sampler = PairSampler(n, seed=5, num_replicas=replicas, rank=rank)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) == -(-n // replicas)
    firsts = [i for shard in shards for i, _ in shard]
    assert set(firsts) == set(range(n))
    assert len(firsts) - len(set(firsts)) == len(shards[0]) * replicas - n  # only the wrap padding repeats
    reference = PairSampler(n, seed=5)
    reference.set_epoch(2)
    partner = dict(reference)
    assert all(partner[i] == j for shard in shards for i, j in shard)  # all ranks agree on pi


def test_distributed_drop_last_shards_are_disjoint():
    shards = [list(PairSampler(13, num_replicas=4, rank=r, drop_last=True)) for r in range(4)]
    firsts = [i for shard in shards for i, _ in shard]
    assert len(firsts) == len(set(firsts)) == 12


def test_pair_dataset_returns_two_independently_augmented_patches():
    items = list_split(SAMPLE, "train").items
    pairs = PairDataset(CaffePatches(items, patch=64, augment=True, seed=0))
    loader = torch.utils.data.DataLoader(pairs, batch_size=2, sampler=PairSampler(len(pairs), seed=0))
    batches = list(loader)
    assert len(batches) == 2
    (img1, z1), (img2, z2) = batches[0]
    assert img1.shape == img2.shape == (2, 1, 64, 64) and z1.shape == z2.shape == (2, 64, 64)
    # The same image as first element and as a partner gets different crops/augmentations.
    (a, _), (b, _) = pairs[(0, 1)]
    (_, _), (c, _) = pairs[(2, 0)]
    patches = CaffePatches(items, patch=64, augment=True, seed=0)
    assert torch.equal(a, patches[0][0]) and torch.equal(b, patches.sample(1, slot=1)[0])
    assert not torch.equal(a, c)


# --- change label ------------------------------------------------------------------------------------


def test_glacier_change_label_is_xor_of_glacier_masks():
    z1 = torch.tensor([[0, 1, 2, 3], [2, 2, 2, 0]])
    z2 = torch.tensor([[2, 1, 2, 0], [3, 0, 2, 2]])
    expected = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 1]])
    assert torch.equal(change_label(z1, z2), expected)
    assert torch.equal(change_label(z2, z1), expected)
    assert change_label(z1, z2).dtype == torch.int64


def test_all_classes_change_label_ignores_na():
    z1 = torch.tensor([[0, 1, 2, 3], [2, 1, 3, 0]])
    z2 = torch.tensor([[2, 1, 2, 0], [3, 3, 3, 0]])
    expected = torch.tensor([[IGNORE_INDEX, 0, 0, IGNORE_INDEX], [1, 1, 0, IGNORE_INDEX]])
    assert torch.equal(change_label(z1, z2, mode="all-classes"), expected)
    with pytest.raises(GlacierfrontError, match="all-classes"):
        change_label(z1, z2, mode="everything")


# --- scale and intensity augmentation (issue 10) -------------------------------------------------------


def block_image(size: int = 64, block: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Constant blocks whose class is a function of their value: misaligned labels show at once."""
    rng = np.random.default_rng(3)
    values = rng.integers(1, 64, size=(size // block, size // block)) * 4 + rng.integers(
        0, 4, (size // block,) * 2
    )
    image = np.kron(values, np.ones((block, block), np.int64))
    return image, image % 4


@pytest.mark.parametrize("factor", [0.5, 0.7, 1.6, 2.0])
def test_zoom_keeps_labels_on_their_pixels(factor):
    image, zones = block_image()
    out, labels = zoom(image.astype(np.float32), zones.astype(np.uint8), factor, 64, np.random.default_rng(1))
    data = out > 0
    # Inside the blocks bilinear resampling returns the block's own value; only block edges blend.
    agree = np.rint(out[data]).astype(np.int64) % 4 == labels[data]
    assert agree.mean() > 0.6  # labels resampled on another grid agree on about a quarter of the pixels
    assert (labels[~data] == 0).all()  # padding is class NA and image 0


def test_zoom_changes_the_size_of_features():
    image = np.full((64, 64), 100.0, np.float32)
    zones = np.full((64, 64), 2, np.uint8)
    image[24:40, 24:40], zones[24:40, 24:40] = 200.0, 3  # a 16 px square
    _, big = zoom(image, zones, 2.0, 128, np.random.default_rng(0))
    _, small = zoom(image, zones, 0.5, 64, np.random.default_rng(0))
    assert (big == 3).sum() == pytest.approx(4 * 256, rel=0.1)
    assert (small == 3).sum() == pytest.approx(256 / 4, rel=0.2)
    assert (small == 0).mean() == pytest.approx(0.75, abs=0.02)  # a 32 px grid on a 64 px patch of no data


def test_zoomed_patches_come_from_the_dataset_when_scale_aug_is_on(tmp_path):
    image, zones = block_image()
    item = write_item(tmp_path, "Crane_2010-01-01_TSX_7_1_001", image, zones)
    cfg = AugmentConfig(flip_p=0.0, rotate=False, jitter_p=0.0, speckle_p=0.0, zoom=(0.5, 0.5), zoom_p=1.0)
    patch, labels = CaffePatches([item], patch=64, augment=True, augment_config=cfg)[0]
    padding = raw_values(patch) == 0  # the image has no zeros of its own: these are the padding
    assert padding.mean() == pytest.approx(0.75, abs=0.02)
    assert (labels.numpy()[padding] == 0).all()
    plain, _ = CaffePatches([item], patch=64, augment=True, augment_config=NO_AUGMENT)[0]
    assert np.array_equal(raw_values(plain), image)


def test_intensity_augmentation_stays_in_range_keeps_nodata_and_changes_the_image():
    image = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    image[:8] = 0.0
    for name in ("gamma_p", "log_p", "blur_p"):
        cfg = AugmentConfig(jitter_p=0.0, speckle_p=0.0, **{name: 1.0})
        out = radiometric(image.copy(), np.random.default_rng(5), cfg)
        assert out.min() >= 0.0 and out.max() <= 1.0, name
        assert (out[:8] == 0).all(), name
        assert not np.allclose(out[8:], image[8:], atol=1e-3), name


def test_switched_off_transforms_draw_no_random_numbers():
    # Older recipes (and runs resumed from them) must see exactly the random stream they saw before.
    image = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    radiometric(image.copy(), a, AugmentConfig())
    legacy = AugmentConfig(gamma_p=0.0, log_p=0.0, blur_p=0.0)
    radiometric(image.copy(), b, legacy)
    assert a.random() == b.random()
    c = np.random.default_rng(9)
    radiometric(image.copy(), c, AugmentConfig(gamma_p=0.5))
    assert c.random() != np.random.default_rng(9).random()


def test_train_config_turns_options_into_augmentation():
    plain = TrainConfig(data="d", out="o")
    assert plain.augment_config() == AugmentConfig()
    robust = TrainConfig(data="d", out="o", scale_aug=[0.5, 2], intensity_aug=True)
    aug = robust.augment_config()
    assert aug.zoom == (0.5, 2.0) and aug.gamma_p > 0 and aug.log_p > 0 and aug.speckle_looks[0] == 1.0
    with pytest.raises(GlacierfrontError, match="scale-aug"):
        TrainConfig(data="d", out="o", scale_aug=[2.0, 0.5])
    # A config.json written before these options existed reads back as the recipe it was trained with.
    legacy = {k: v for k, v in plain.to_dict().items() if k not in ("scale_aug", "intensity_aug")}
    assert TrainConfig.from_dict(legacy).augment_config() == AugmentConfig()

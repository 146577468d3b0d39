"""Front-line data: weak zone labels, the CaFFe-layout import, and ignored pixels in losses, labels and scores."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.evaluate.caffe import CaffeOptions, evaluate_caffe
from glacierfront.evaluate.metrics import ZoneAccumulator
from glacierfront.io.caffe import (
    GLACIER,
    IGNORE_ZONE,
    NA,
    OCEAN,
    ROCK,
    list_split,
    read_bbox,
    read_png,
    read_zones,
    write_zones,
)
from glacierfront.io.frontlines import caffe_name_for, import_frontlines, weak_zones
from glacierfront.train.augment import NO_AUGMENT
from glacierfront.train.data import IGNORE_INDEX, CaffePatches, change_label
from glacierfront.train.losses import segmentation_loss

SAMPLE = Path(__file__).parent / "data" / "frontlines_sample"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("optical") / "optical"
    import_frontlines(SAMPLE, out)
    return out


def test_weak_zones_label_only_the_columns_the_front_crosses():
    front = np.zeros((10, 8), bool)
    front[5, 2:5] = True  # a flat piece
    front[3:6, 5] = True  # a vertical piece: rows 3..5 in column 5
    zones = weak_zones(front)
    assert (zones[:5, 2:5] == OCEAN).all() and (zones[6:, 2:5] == GLACIER).all()
    assert (zones[:3, 5] == OCEAN).all() and (zones[6:, 5] == GLACIER).all()
    # The line itself, the rows between its ends and the columns it does not cross say nothing.
    assert (zones[front] == IGNORE_ZONE).all() and zones[4, 5] == IGNORE_ZONE
    assert (zones[:, [0, 1, 6, 7]] == IGNORE_ZONE).all()
    flipped = weak_zones(front, "above")
    assert (flipped[:5, 2:5] == GLACIER).all() and (flipped[6:, 2:5] == OCEAN).all()


def test_zone_png_keeps_ignored_pixels_transparent_and_plain_caffe_masks_ignore_nothing(tmp_path):
    ids = np.array([[NA, ROCK, GLACIER], [OCEAN, IGNORE_ZONE, GLACIER]], np.uint8)
    write_zones(tmp_path / "weak.png", ids)
    assert np.array_equal(read_zones(tmp_path / "weak.png"), ids)
    full = np.array([[NA, ROCK], [GLACIER, OCEAN]], np.uint8)
    write_zones(tmp_path / "full.png", full)
    assert np.array_equal(read_zones(tmp_path / "full.png"), full)


def test_import_writes_a_caffe_layout_with_glaciers_from_path_row_and_the_licence(imported):
    split = list_split(imported, "train")
    assert split.glaciers == ["Jakobshavn", "Kangerlussuaq", "Sverdrup"]
    assert len(split) == 6
    assert (imported / "LICENSE").read_text() == (SAMPLE / "LICENSE").read_text()
    with open(imported / "names.csv", newline="") as fh:
        rows = {r["source"]: r for r in csv.DictReader(fh)}
    pan = rows["LE07_L1TP_231012_20010726_20170204_01_T1_B8"]
    assert pan["name"] == "Kangerlussuaq_2001-07-26_LE07_15_0_231012" and pan["glacier"] == "Kangerlussuaq"
    zones = read_zones(split.items[0].zones)
    assert set(np.unique(zones)) == {GLACIER, OCEAN, IGNORE_ZONE}
    # Scoring boxes as caffe256 made them: the front's extent plus 16 px, in CaFFe's corner order.
    for item in split:
        front = read_png(item.front) > 127
        rows, cols = np.nonzero(front)
        row0, row1, col0, col1 = read_bbox(item.bbox, front.shape)
        assert row0 == max(rows.min() - 16, 0) and row1 == min(rows.max() + 17, front.shape[0])
        assert col0 == max(cols.min() - 16, 0) and col1 == min(cols.max() + 17, front.shape[1])


def test_import_refuses_unknown_names_and_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SAMPLE, src)
    first = sorted((SAMPLE / "images").glob("*.png"))[0]
    shutil.copy(first, src / "images" / "my_chip.png")
    shutil.copy(SAMPLE / "fronts" / f"{first.stem}_front.png", src / "fronts" / "my_chip_front.png")
    with pytest.raises(GlacierfrontError, match="neither a Landsat product id"):
        import_frontlines(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no temporary folder left behind
    with pytest.raises(GlacierfrontError, match="path/row 123456"):
        caffe_name_for("LC08_L1TP_123456_20200101_20200101_02_T1_B3")
    assert caffe_name_for("LC08_L1TP_123456_20200101_20200101_02_T1_B3", "Helheim")[0] == (
        "Helheim_2020-01-01_LC08_30_0_123456"
    )


def test_import_fronts_command_reports_and_errors_in_one_line(tmp_path, capsys):
    assert main(["import-fronts", str(SAMPLE), str(tmp_path / "o")]) == 0
    assert "wrote 6 chips" in capsys.readouterr().err
    assert main(["import-fronts", str(SAMPLE), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("glacierfront: error:") and "already exists" in err and "\n" not in err


def test_ignored_pixels_reach_the_loss_as_ignore_index_and_never_as_na(imported):
    items = list(list_split(imported, "train"))
    patches = CaffePatches(items, patch=256, augment=True, augment_config=NO_AUGMENT, seed=0)
    _image, target = patches[0]
    assert (target == IGNORE_INDEX).any()
    # 200 px wide chips are padded to 256 with NA: NA appears only in the padding, never where the label is silent.
    assert (target[:, :200] != NA).all()


def test_segmentation_loss_does_not_see_ignored_pixels():
    torch.manual_seed(0)
    target = torch.tensor([[[GLACIER, OCEAN], [IGNORE_INDEX, IGNORE_INDEX]]])
    logits = torch.randn(1, 4, 2, 2, requires_grad=True)
    loss = segmentation_loss(logits, target)
    loss.backward()
    assert torch.all(logits.grad[0, :, 1, :] == 0)
    changed = logits.detach().clone()
    changed[0, :, 1, :] += torch.randn(4, 2) * 10
    assert torch.isclose(segmentation_loss(changed, target), loss.detach())


def test_change_label_is_unknown_where_either_map_is_ignored():
    z1 = torch.tensor([[GLACIER, OCEAN, IGNORE_INDEX, GLACIER]])
    z2 = torch.tensor([[OCEAN, OCEAN, GLACIER, IGNORE_INDEX]])
    for mode in ("glacier", "all-classes"):
        label = change_label(z1, z2, mode)
        assert label.tolist() == [[1, 0, IGNORE_INDEX, IGNORE_INDEX]]


def test_zone_scores_leave_ignored_pixels_out():
    ref = np.array([[GLACIER, OCEAN, IGNORE_ZONE, IGNORE_ZONE]], np.uint8)
    pred = np.array([[GLACIER, OCEAN, ROCK, NA]], np.uint8)
    scores = ZoneAccumulator().add(pred, ref)
    assert scores["iou"][GLACIER] == 1 and scores["iou"][OCEAN] == 1
    assert np.isnan(scores["iou"][ROCK]) and np.isnan(scores["iou"][NA])


def test_floor_of_weak_labels_is_the_drawn_front_after_post_processing(imported):
    result = evaluate_caffe(imported, options=CaffeOptions(split="train", pixels=True, floor=True))
    floor = result["floor"]
    assert floor["n_no_front"] == 0
    assert floor["mde_px"] < 2.0


def test_several_data_folders_list_as_one_split_for_joint_training(imported):
    sar = Path(__file__).parent / "data" / "caffe256_sample"
    joint = list_split([sar, imported], "train")
    assert joint.glaciers == ["Crane", "JAC", "Jakobshavn", "Kangerlussuaq", "SI", "Sverdrup"]
    assert len(joint) == len(list_split(sar)) + len(list_split(imported))
    only = list_split([sar, imported], "train", ["Sverdrup", "JAC"])
    assert sorted({it.name.split("_")[0] for it in only}) == ["JAC", "Sverdrup"]
    with pytest.raises(GlacierfrontError, match="more than one --data folder"):
        list_split([imported, imported], "train")

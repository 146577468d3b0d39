"""CaFFe dataset helpers: names, seasons, bounding boxes, zone PNG values and split listings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import (
    CaffeName,
    list_split,
    parse_caffe_name,
    read_bbox,
    read_png,
    season,
    zones_from_png_values,
    zones_to_png_values,
)

SAMPLE_DIR = Path(__file__).parent / "data" / "caffe256_sample"


def test_parse_caffe_name_reads_every_field():
    parsed = parse_caffe_name("COL_2011-11-13_TDX_7_1_092.png")
    assert parsed == CaffeName(
        glacier="COL",
        date=dt.date(2011, 11, 13),
        satellite="TDX",
        resolution_m=7.0,
        quality=1,
        orbit="092",
        stem="COL_2011-11-13_TDX_7_1_092",
    )


@pytest.mark.parametrize(
    "name",
    [
        "Crane_2002-11-09_ERS_20_2_061",
        "/data/zones/train/Crane_2002-11-09_ERS_20_2_061_zones.png",
        Path("fronts/test/Crane_2002-11-09_ERS_20_2_061_front.png"),
        "bounding_boxes/Crane_2002-11-09_ERS_20_2_061_bbox.txt",
    ],
)
def test_parse_caffe_name_accepts_paths_and_label_suffixes(name):
    parsed = parse_caffe_name(name)
    assert parsed.stem == "Crane_2002-11-09_ERS_20_2_061"
    assert (parsed.glacier, parsed.satellite, parsed.resolution_m, parsed.quality, parsed.orbit) == (
        "Crane",
        "ERS",
        20.0,
        2,
        "061",
    )


def test_parse_caffe_name_keeps_fractional_resolution():
    assert parse_caffe_name("Mapple_2019-01-02_S1_6.5_3_038.png").resolution_m == 6.5


@pytest.mark.parametrize(
    "name",
    ["scene.png", "COL_2011-11-13_TDX_7_1.png", "COL_2011-13-40_TDX_7_1_092.png", "COL_20111113_TDX_7_1_092"],
)
def test_parse_caffe_name_rejects_non_caffe_names(name):
    with pytest.raises(GlacierfrontError, match="CaFFe"):
        parse_caffe_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("COL_2011-01-13_TDX_7_1_092", "winter"),
        ("COL_2011-03-31_TDX_7_1_092", "winter"),
        ("COL_2011-04-01_TDX_7_1_092", "summer"),
        ("JAC_2011-08-31_TSX_6_1_005", "summer"),
        ("JAC_2011-09-01_TSX_6_1_005", "winter"),
        ("JAC_2011-12-24_TSX_6_1_005", "winter"),
        ("Crane_2007-03-31_ENVISAT_20_3_467", "summer"),
        ("Crane_2007-04-01_ENVISAT_20_3_467", "winter"),
        ("Mapple_2008-08-31_TSX_7_1_034", "winter"),
        ("SI_2006-09-01_ERS_20_3_109", "summer"),
        ("DBE_2012-12-21_TSX_7_1_110", "summer"),
    ],
)
def test_season_follows_hemisphere_month_rule(name, expected):
    assert season(name) == expected
    assert season(parse_caffe_name(name)) == expected


def _write_bbox(path: Path, corners: list[tuple[int, int]], header: str = "x,y") -> Path:
    path.write_text("\n".join([header, *(f"{x},{y}" for x, y in corners)]) + "\n")
    return path


def test_read_bbox_takes_rows_from_right_lower_to_left_upper(tmp_path):
    # left-upper, left-lower, right-lower, right-upper; "upper" has the LARGER row (y) index.
    path = _write_bbox(tmp_path / "a_bbox.txt", [(10, 90), (10, 20), (70, 20), (70, 90)])
    assert read_bbox(path) == (20, 90, 10, 70)


def test_read_bbox_uses_left_upper_and_right_lower_corners_only(tmp_path):
    # Inconsistent left-lower / right-upper corners show which two corners define the box.
    path = _write_bbox(tmp_path / "a_bbox.txt", [(11, 91), (0, 0), (71, 21), (999, 999)])
    assert read_bbox(path) == (21, 91, 11, 71)


def test_read_bbox_clamps_to_image_shape(tmp_path):
    path = _write_bbox(tmp_path / "a_bbox.txt", [(-5, 300), (-5, -3), (256, -3), (256, 300)])
    assert read_bbox(path) == (-3, 300, -5, 256)
    assert read_bbox(path, shape=(200, 250)) == (0, 200, 0, 250)


def test_read_bbox_matches_sample_file():
    path = SAMPLE_DIR / "bounding_boxes" / "Crane_2010-12-14_TSX_7_1_034_bbox.txt"
    assert read_bbox(path, (256, 256)) == (40, 151, 85, 169)


def test_read_bbox_rejects_wrong_corner_count(tmp_path):
    path = _write_bbox(tmp_path / "a_bbox.txt", [(10, 90), (10, 20), (70, 20)])
    with pytest.raises(GlacierfrontError, match="3 corners"):
        read_bbox(path)


def test_read_bbox_rejects_swapped_upper_and_lower(tmp_path):
    path = _write_bbox(tmp_path / "a_bbox.txt", [(10, 20), (10, 90), (70, 90), (70, 20)])
    with pytest.raises(GlacierfrontError, match="out of CaFFe order"):
        read_bbox(path)


def test_read_bbox_names_missing_file(tmp_path):
    with pytest.raises(GlacierfrontError, match="missing_bbox.txt"):
        read_bbox(tmp_path / "missing_bbox.txt")


def test_zone_png_values_round_trip():
    ids = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    values = zones_to_png_values(ids)
    assert values.tolist() == [[0, 64, 127, 254]]
    assert zones_from_png_values(values).tolist() == ids.tolist()


def test_zones_from_png_values_snaps_to_nearest_value():
    values = np.array([1, 31, 33, 70, 95, 96, 126, 190, 191, 255], dtype=np.uint8)
    assert zones_from_png_values(values).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]


def test_zones_to_png_values_rejects_unknown_class():
    with pytest.raises(GlacierfrontError, match="0..3"):
        zones_to_png_values(np.array([0, 4]))


def test_read_png_returns_greyscale_uint8(tmp_path):
    rgb = np.zeros((3, 4, 3), dtype=np.uint8)
    rgb[..., :] = 127
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    out = read_png(tmp_path / "rgb.png")
    assert out.shape == (3, 4) and out.dtype == np.uint8 and int(out[0, 0]) == 127


def test_read_png_explains_unreadable_file(tmp_path):
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(GlacierfrontError, match=r"bad\.png.*valid PNG"):
        read_png(tmp_path / "bad.png")
    with pytest.raises(GlacierfrontError, match="not found"):
        read_png(tmp_path / "absent.png")


def _make_layout(root: Path, names: list[str], split: str = "train") -> None:
    for folder in ("sar_images", "zones", "fronts"):
        (root / folder / split).mkdir(parents=True, exist_ok=True)
    (root / "bounding_boxes").mkdir(exist_ok=True)
    blank = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    for name in names:
        blank.save(root / "sar_images" / split / f"{name}.png")
        blank.save(root / "zones" / split / f"{name}_zones.png")
        blank.save(root / "fronts" / split / f"{name}_front.png")


def test_list_split_pairs_files_and_matches_bbox_by_stem_prefix(tmp_path):
    names = ["SI_2006-11-21_ERS_20_3_109", "COL_2011-11-13_TDX_7_1_092", "JAC_2011-03-10_TSX_6_1_005"]
    _make_layout(tmp_path, names)
    boxes = tmp_path / "bounding_boxes"
    _write_bbox(boxes / "COL_2011-11-13_TDX_7_1_092_bbox.txt", [(0, 2), (0, 0), (2, 0), (2, 2)])
    _write_bbox(boxes / "SI_2006-11-21_ERS_20_3_109.txt", [(0, 2), (0, 0), (2, 0), (2, 2)])
    # A longer orbit number must not be mistaken for JAC's box.
    _write_bbox(boxes / "JAC_2011-03-10_TSX_6_1_0051_bbox.txt", [(0, 2), (0, 0), (2, 0), (2, 2)])
    split = list_split(tmp_path, "train")
    assert [item.name for item in split] == sorted(names)
    by_name = {item.name: item for item in split}
    assert by_name["COL_2011-11-13_TDX_7_1_092"].bbox == boxes / "COL_2011-11-13_TDX_7_1_092_bbox.txt"
    assert by_name["SI_2006-11-21_ERS_20_3_109"].bbox == boxes / "SI_2006-11-21_ERS_20_3_109.txt"
    assert by_name["JAC_2011-03-10_TSX_6_1_005"].bbox is None
    col = by_name["COL_2011-11-13_TDX_7_1_092"]
    assert col.zones == tmp_path / "zones" / "train" / "COL_2011-11-13_TDX_7_1_092_zones.png"
    assert col.front == tmp_path / "fronts" / "train" / "COL_2011-11-13_TDX_7_1_092_front.png"


def test_list_split_filters_glaciers_and_names_unknown_ones(tmp_path):
    _make_layout(tmp_path, ["SI_2006-11-21_ERS_20_3_109", "COL_2011-11-13_TDX_7_1_092"])
    assert [item.name for item in list_split(tmp_path, glaciers=["SI"])] == ["SI_2006-11-21_ERS_20_3_109"]
    with pytest.raises(GlacierfrontError, match=r"Mapple.*available: COL, SI"):
        list_split(tmp_path, glaciers=["Mapple"])


def test_list_split_accepts_archive_root_with_data_raw(tmp_path):
    _make_layout(tmp_path / "data_raw", ["COL_2011-11-13_TDX_7_1_092"], split="test")
    split = list_split(tmp_path, "test")
    assert split.data_dir == tmp_path / "data_raw" and len(split) == 1


def test_list_split_rejects_non_caffe_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(GlacierfrontError, match="not a CaFFe folder"):
        list_split(tmp_path, "train")


def test_list_split_reports_missing_label(tmp_path):
    _make_layout(tmp_path, ["COL_2011-11-13_TDX_7_1_092"])
    (tmp_path / "fronts" / "train" / "COL_2011-11-13_TDX_7_1_092_front.png").unlink()
    with pytest.raises(GlacierfrontError, match="_front.png is missing"):
        list_split(tmp_path)


def test_list_split_rejects_unknown_split(tmp_path):
    with pytest.raises(GlacierfrontError, match="split"):
        list_split(tmp_path, "val")


def test_list_split_reads_sample_dataset():
    split = list_split(SAMPLE_DIR, "train")
    assert split.glaciers == ["Crane", "JAC", "SI"]
    assert all(item.bbox is not None and item.bbox.is_file() for item in split)

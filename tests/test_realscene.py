"""The real-scene protocol: chips written as a user's scenes, framed, turned and encoded, scored end to end."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import caffe_folder, threshold_model

from glacierfront.evaluate import realscene as rs
from glacierfront.model.backend import load_backend
from glacierfront.train.augment import partial_view


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    root = caffe_folder(tmp_path_factory.mktemp("caffe"), n_per_glacier=2, size=128, glaciers=("Alpha",))
    return rs.read_caffe_chips(root)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx", tile_size=128)


def test_framings_cover_every_family(chips):
    cases = rs.framings(chips[0])
    assert [c.framing for c in cases] == [
        "whole",
        "crop1",
        "crop2",
        "rot90",
        "rot180",
        "rot270",
        "float-dB",
        "uint16",
    ]
    area = chips[0].image.size
    for case in cases:
        if case.family == "crop":
            assert 0.34 * area <= case.image.size <= 0.81 * area
            # The front (one pixel a row) is kept whole where the window is tall enough, else as much as fits.
            assert case.front.sum() == min(case.image.shape[0], chips[0].front.sum())
    db = next(c for c in cases if c.framing == "float-dB")
    assert db.image.dtype == np.float32 and np.isnan(db.image[chips[0].image == 0]).all()
    assert next(c for c in cases if c.framing == "uint16").image.max() > 255


def test_box_points_upstream_and_turns_with_the_scene(chips):
    chip = chips[0]  # glacier left (west) of the front, ocean right, rock on top
    (c0, r0, c1, r1), up = rs.box_pixels(chip.zones, chip.front)
    assert up == "W" and (c0, c1) == (0, chip.zones.shape[1])
    rows = np.nonzero(chip.front)[0]
    assert r0 == max(rows.min() - rs.BOX_MARGIN_PX, 0) and r1 == min(rows.max() + 1 + rs.BOX_MARGIN_PX, 128)
    turned = {c.framing: rs.box_pixels(c.zones, c.front)[1] for c in rs.framings(chip, ["rotate"])}
    # np.rot90 turns anticlockwise: west goes to the bottom (south), then east, then north.
    assert turned == {"rot90": "S", "rot180": "E", "rot270": "N"}


def test_protocol_scores_turned_scenes_as_the_scene_itself(chips, model):
    results = rs.run_protocol([(load_backend(model), chips[:1])], families=["whole", "rotate", "encoding"])
    rows = {(r["rule"], r["family"]): r for r in rs.summarise(results["model"], results["floor"])}
    for rule in rs.RULES:
        whole = rows[(rule, "whole")]["mde_px"]
        # A per-pixel model sees the same pixels however the scene is turned: the scene, its reference
        # line and its box must turn together, so every rotation scores what the scene scores.
        assert rows[(rule, "rotate")]["mde_px"] == pytest.approx(whole, abs=0.05)
        for family in ("whole", "rotate", "encoding", "pooled"):
            row = rows[(rule, family)]
            # The labels' own line is the floor: the model's line is scored against the reference, not it.
            assert row["no_front"] == 0 and row["floor_px"] < 0.6 and row["floor_px"] <= row["mde_px"] < 3.0
    # The box rule is also scored against the labels' own crossing of the box (lateral fronts left out).
    assert rows[("box", "pooled")]["crossing_px"] < 1.5 and rows[("caffe", "pooled")]["crossing_px"] is None
    # On speckled chips CaFFe's rule breaks the front into pieces; the box's one crossing does not.
    assert rows[("box", "pooled")]["mde_px"] < rows[("caffe", "pooled")]["mde_px"]


def test_protocol_report_writes_table_and_cases(chips, model, tmp_path):
    results = rs.run_protocol(
        [(load_backend(model), chips[:1])], rules=["box"], families=["whole"], floor=False
    )
    text = rs.write_report(tmp_path / "report", "test", results, {"k": 1})
    assert "| box | whole | 1 |" in text and (tmp_path / "report.json").is_file()
    assert "Does a wrong front look wrong?" in text and results["model"][0].coverage > 0.5
    # The threshold model reads most of each speckled class right: each row's largest count is its own class.
    matrix = np.asarray(results["model"][0].confusion, float)
    assert "Zone confusion" in text and matrix.sum() == chips[0].zones.size
    assert [int(np.argmax(matrix[k])) for k in (1, 2, 3)] == [1, 2, 3]
    # The JSON holds every case: read back, it summarises to the same table.
    again = rs.read_results(tmp_path / "report.json")
    assert rs.summarise(again["model"]) == rs.summarise(results["model"])
    assert rs.read_results(tmp_path / "report.json", ["Other"])["model"] == []


def test_flag_table_splits_cases_by_quality_and_counts_good_lines():
    def case(rule, mde, quality):
        return rs.Outcome("c", "G", "whole", "whole", rule, mde, quality)

    outcomes = [
        case("box", 4.0, "ok"),
        case("box", 30.0, "ok"),
        case("box", 50.0, "low_confidence+partial_crossing"),
        case("box", 8.0, "low_confidence"),
        case("box", None, "none"),  # no front: not a line to flag
        case("caffe", 12.0, "fragmented"),
    ]
    rows = {(r["rule"], r["quality"]): r for r in rs.flag_rows(outcomes)}
    assert (rows[("box", "ok")]["cases"], rows[("box", "ok")]["good"]) == (2, 1)
    assert rows[("box", "ok")]["mde_px"] == pytest.approx(17.0)
    assert (rows[("box", "any flag")]["cases"], rows[("box", "any flag")]["good"]) == (2, 1)
    assert rows[("box", "low_confidence")]["cases"] == 2 and rows[("box", "partial_crossing")]["cases"] == 1
    assert rows[("caffe", "ok")]["cases"] == 0 and rows[("caffe", "fragmented")]["good"] == 0
    assert ("box", "none") not in rows


def test_confusion_counts_no_data_as_na():
    label = np.array([[0, 2], [3, 255]], np.uint8)
    predicted = np.array([[255, 2], [2, 3]], np.uint8)
    matrix = np.asarray(rs.confusion_of(label, predicted))
    assert matrix[0, 0] == 1 and matrix[2, 2] == 1 and matrix[3, 2] == 1 and matrix.sum() == 3


def test_partial_view_keeps_one_window_and_blanks_the_rest():
    rng = np.random.default_rng(3)
    image = np.random.default_rng(0).uniform(0.1, 1, (256, 256)).astype(np.float32)
    zones = np.full((256, 256), 2, np.uint8)
    for _ in range(20):
        out, labels = partial_view(image, zones, rng, (0.35, 1.0))
        kept = out > 0
        assert np.array_equal(kept, labels == 2)
        rows, cols = np.nonzero(kept)
        assert kept.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
        assert 0.3 <= kept.mean() <= 1.0

"""Leave-one-glacier-out cross-validation: folds hold out whole glaciers, resume, pool and refuse mixing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import caffe_folder

from glacierfront.cli import main
from glacierfront.train import crossval as cv
from glacierfront.train.config import TrainConfig


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return caffe_folder(tmp_path_factory.mktemp("caffe"), n_per_glacier=2, size=64)


def run(data, out, *extra) -> int:
    return main(["crossval", "--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "2",
                 "--workers", "0", "--device", "cpu", "--quiet", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("logo") / "logo"
    assert run(data, out) == 0
    return out


def test_each_fold_holds_out_one_whole_glacier_and_the_table_pools_them(data, trained, capsys):
    out = trained
    assert run(data, out, "--score-only") == 0
    table = json.loads((out / "logo.json").read_text())["rows"]
    assert [r["glacier"] for r in table] == ["Alpha", "Beta", "pooled"]
    assert [r["n_images"] for r in table] == [2, 2, 4]
    for glacier in ("Alpha", "Beta"):
        config = TrainConfig.load(out / glacier / "config.json")
        assert config.val_glaciers == [glacier]
        meta = json.loads((out / glacier / "config.json").read_text())
        assert meta["epochs"] == 1
    # The label floor of the held-out images sits beside the model's scores.
    assert all(r["floor_mde_px"] is not None for r in table)
    assert "| pooled | 4 |" in capsys.readouterr().out
    assert (out / "logo.md").read_text().count("\n| ") == 5  # header, rule, 2 folds, pooled


def test_second_run_scores_without_training_again_and_refuses_another_recipe(data, trained, capsys):
    out = trained
    stamp = (out / "Alpha" / "last.pt").stat().st_mtime_ns
    assert run(data, out, "--score-only", "--ocean-rule", "edge") == 0
    assert (out / "Alpha" / "last.pt").stat().st_mtime_ns == stamp
    assert (out / "logo-ocean-edge.md").is_file()
    capsys.readouterr()
    assert run(data, out, "--scale-aug", "0.5,2") == 1
    assert "other options (scale_aug)" in capsys.readouterr().err
    assert run(data, out, "--ema", "0.99") == 1
    assert "other options (ema)" in capsys.readouterr().err


def test_score_only_refuses_missing_folds(data, tmp_path, capsys):
    assert run(data, tmp_path / "empty", "--score-only") == 1
    assert "not trained" in capsys.readouterr().err


def test_unknown_glacier_is_a_one_line_error(data, tmp_path, capsys):
    assert run(data, tmp_path / "x", "--glaciers", "Gamma") == 1
    err = capsys.readouterr().err
    assert "Gamma" in err and "Alpha, Beta" in err and "Traceback" not in err


def fold(glacier: str, distances: list[float], floor: list[float], no_front: int = 0) -> cv.FoldScore:
    d, f = np.asarray(distances, float), np.asarray(floor, float)
    return cv.FoldScore(glacier, 4, no_front, d.mean(), float(np.median(d)), 0.5, 0.8, f.mean(), 0, d, f, [])


def test_pooled_mde_is_the_mean_of_all_distances_not_of_fold_means():
    scores = [fold("A", [1.0, 1.0, 1.0, 1.0], [1.0]), fold("B", [9.0], [3.0], no_front=1)]
    pooled = cv.rows(scores)[-1]
    assert pooled["mde_px"] == pytest.approx(13.0 / 5)  # fold means would give 5.0
    assert pooled["median_px"] == pytest.approx(1.0)
    assert pooled["floor_mde_px"] == pytest.approx(2.0)
    assert pooled["n_images"] == 8 and pooled["n_no_front"] == 1
    assert pooled["no_front_share"] == pytest.approx(1 / 8)
    assert pooled["ratio_to_floor"] == pytest.approx(1.3)


def test_partial_fold_is_resumed_to_the_full_budget(data, tmp_path):
    out = tmp_path / "logo"
    base = TrainConfig(
        data=str(data), out=str(out), batch_size=2, workers=0, epochs=1, patience=1, device="cpu"
    )
    config = cv.fold_config(base, out, "Alpha")
    cv.train_fold(config)
    assert cv.fold_state(config) == "done"
    longer = cv.fold_config(TrainConfig(**{**base.to_dict(), "epochs": 2}), out, "Alpha")
    assert cv.fold_state(longer) == "partial"
    cv.train_fold(longer)
    assert cv.completed_epochs(out / "Alpha") == 2


def test_an_out_folder_in_the_data_or_unwritable_is_refused_before_any_work(
    data, tmp_path, monkeypatch, capsys
):
    def no_work(*args, **kwargs):
        raise AssertionError("crossval should have been refused before training")

    monkeypatch.setattr(cv, "train_fold", no_work)
    # A fold folder OUT/<glacier> that is the data folder itself (the data was put beside earlier folds).
    inside_out = caffe_folder(tmp_path / "logo" / "Alpha", n_per_glacier=2, size=64)
    cases = [
        (data, data, "--out {out}: is the data folder"),
        (data, data / "logo", "--out {out}: lies inside the data folder"),
        (inside_out, tmp_path / "logo", "--out {out}/Alpha: is the data folder"),
        (data, "/proc/glacierfront-test/logo", "--out {out}: cannot write there"),
    ]
    for folder, out, message in cases:
        assert run(folder, out) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("glacierfront: error: ") and message.format(out=out) in err and "\n" not in err
    assert not (data / "logo").exists() and not (data / "Alpha").exists()


def test_import_fronts_into_a_folder_that_takes_no_files_is_a_one_line_error(capsys):
    from pathlib import Path

    sample = Path(__file__).parent / "data" / "frontlines_sample"
    out = "/proc/glacierfront-test/optical"  # /proc never takes a file, root or not
    assert main(["import-fronts", str(sample), out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"glacierfront: error: OUT {out}: its folder /proc/glacierfront-test: cannot write there"
    )
    assert "\n" not in err

"""Training runs: exact resume, NaN stop, signal save, run-folder contents, DDP with two CPU processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from fakes import caffe_folder

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import list_split
from glacierfront.model import CISNet, CISNetConfig, load_checkpoint
from glacierfront.train import loop as loop_module
from glacierfront.train.config import TrainConfig
from glacierfront.train.data import CaffePatches, PairDataset, PairSampler, change_label
from glacierfront.train.loop import Trainer, TrainStep
from glacierfront.train.losses import change_loss


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return caffe_folder(tmp_path_factory.mktemp("caffe"))


def tiny_config(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), encoder="atto", patch=64, batch_size=2, workers=0, epochs=2,
                max_steps_per_epoch=2, val_fraction=0.34, patience=10)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_resume_gives_same_weights_as_straight_run(data, tmp_path):
    straight = Trainer(tiny_config(data, tmp_path / "a"))
    straight.fit()
    first = Trainer(tiny_config(data, tmp_path / "b", epochs=1))
    first.fit()
    resumed = Trainer(tiny_config(data, tmp_path / "b", epochs=2), resume=True)
    assert resumed.epoch == 1
    resumed.fit()
    a = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    b = load_checkpoint(tmp_path / "b" / "last.pt").state_dict
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ta = load_checkpoint(tmp_path / "a" / "last.pt").training
    tb = load_checkpoint(tmp_path / "b" / "last.pt").training
    assert torch.equal(ta["joint_loss"]["weights"], tb["joint_loss"]["weights"])


def test_run_folder_holds_checkpoints_config_metrics_and_log(data, tmp_path):
    out = tmp_path / "run"
    rows = Trainer(tiny_config(data, out)).fit()
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt",
        "config.json",
        "last.pt",
        "metrics.csv",
        "train.log",
    ]
    assert json.loads((out / "config.json").read_text())["patch"] == 64
    with open(out / "metrics.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in table] == [1, 2] and len(rows) == 2
    assert all(0.0 <= float(r["val_miou"]) <= 1.0 and float(r["w_seg"]) > 0 for r in table)
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.metadata["train_config"]["encoder"] == "atto" and ckpt.training is not None


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(data, tmp_path / "run", epochs=3))
    real = loop_module.segmentation_loss
    calls = {"n": 0}

    def poisoned(logits, target):
        calls["n"] += 1
        value = real(logits, target)
        return value * float("nan") if calls["n"] > 2 else value  # NaN from epoch 2 on

    monkeypatch.setattr(loop_module, "segmentation_loss", poisoned)
    with pytest.raises(GlacierfrontError, match="loss became nan at epoch 2"):
        trainer.fit()
    kept = load_checkpoint(tmp_path / "run" / "last.pt")
    assert kept.training["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in kept.state_dict.values() if v.is_floating_point())


def test_sigterm_saves_last_checkpoint_and_restores_the_callers_handlers(data, tmp_path):
    trainer = Trainer(tiny_config(data, tmp_path / "run", epochs=3))

    def on_step(epoch, step, steps, loss, rate):
        if epoch == 1 and step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    def callers_handler(signum, frame):  # the caller's own handler, neither the default nor the trainer's
        raise AssertionError("the trainer's handler should have taken the SIGTERM")

    original_term = signal.signal(signal.SIGTERM, callers_handler)
    sigint_before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(GlacierfrontError, match="stopped by signal"):
            trainer.fit(on_step=on_step)
        assert signal.getsignal(signal.SIGTERM) is callers_handler
        assert signal.getsignal(signal.SIGINT) is sigint_before
    finally:
        signal.signal(signal.SIGTERM, original_term)
    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved.metadata.get("interrupted") is True and saved.training["epoch"] == 1


def first_pair_batch(data, batch_size: int = 4):
    """The first batch of pairs the training pipeline makes of the fixture folder: (x1, z1), (x2, z2)."""
    items = list(list_split(data, "train"))
    pairs = PairDataset(CaffePatches(items, patch=64))
    sampler = PairSampler(len(items), seed=0, num_replicas=1, rank=0)
    return next(iter(torch.utils.data.DataLoader(pairs, batch_size=batch_size, sampler=sampler)))


def _flat_grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for g, p in zip(grads, params)])


def test_train_step_change_loss_comes_from_the_partner_and_reaches_the_encoder(data):
    (x1, z1), (x2, z2) = first_pair_batch(data)
    label = change_label(z1, z2)
    # The pairing gives other images whose fronts sit elsewhere: the change label is not all 0.
    assert not torch.equal(x1, x2) and (label == 1).sum() > 50
    torch.manual_seed(0)
    step = TrainStep(CISNet(CISNetConfig(encoder="atto", drop_path=0.0)), "glacier").train()
    torch.manual_seed(1)  # the same dropout masks in the step and in the recomputation below
    loss, parts = step(x1, z1, x2, z2)

    # The change loss is that of (x1, x2) against change_label(z1, z2), recomputed here from the same model.
    torch.manual_seed(1)
    out = step.model.forward_pair(x1, x2)
    expected = change_loss(out.change_12, out.change_21, label, label)
    assert parts["chg_loss"].item() > 0.1
    assert parts["chg_loss"].item() == pytest.approx(expected.item(), rel=1e-5)

    # The joint loss passes the change loss's gradient to the change head and to the shared encoder:
    # d total / d encoder = weight_seg * d seg / d encoder + weight_chg * d chg / d encoder.
    encoder = [p for p in step.model.encoder.parameters() if p.requires_grad]
    head = [p for p in step.model.change_head.parameters() if p.requires_grad]
    assert _flat_grads(loss, head).abs().sum() > 0
    weights = step.joint.log_values()
    from_seg = weights["weight_seg"] * _flat_grads(parts["seg_loss"], encoder)
    from_chg = weights["weight_chg"] * _flat_grads(parts["chg_loss"], encoder)
    total = _flat_grads(loss, encoder)
    assert from_chg.norm() > 0.01 * (from_seg + from_chg).norm()
    assert (total - (from_seg + from_chg)).norm() < 1e-4 * (from_seg + from_chg).norm()


def test_trainer_feeds_the_change_branch_different_partners(data, tmp_path, monkeypatch):
    seen_images, seen_labels = [], []
    real_forward_pair, real_change_label = CISNet.forward_pair, loop_module.change_label

    def forward_pair(self, x1, x2):
        seen_images.append((x1.detach().clone(), x2.detach().clone()))
        return real_forward_pair(self, x1, x2)

    def spy_change_label(z1, z2, *args, **kwargs):
        label = real_change_label(z1, z2, *args, **kwargs)
        seen_labels.append(label.clone())
        return label

    monkeypatch.setattr(CISNet, "forward_pair", forward_pair)
    monkeypatch.setattr(loop_module, "change_label", spy_change_label)
    rows = Trainer(tiny_config(data, tmp_path / "run", epochs=1, max_steps_per_epoch=2)).fit()
    assert len(seen_images) == len(seen_labels) == 2
    assert all(not torch.equal(x1, x2) for x1, x2 in seen_images)
    assert all((label == 1).any() for label in seen_labels)
    assert rows[0]["chg_loss"] > 0


def test_no_change_branch_trains_plain_unet(data, tmp_path):
    trainer = Trainer(tiny_config(data, tmp_path / "run", epochs=1, change_branch=False))
    row = trainer.fit()[0]
    assert trainer.model.change_head is None and row["w_chg"] is None


def test_val_glaciers_hold_out_whole_glaciers(data, tmp_path):
    trainer = Trainer(tiny_config(data, tmp_path / "run", val_glaciers=["Beta"]))
    assert {i.name.split("_")[0] for i in trainer.val_items} == {"Beta"}
    assert {i.name.split("_")[0] for i in trainer.train_items} == {"Alpha"}


def test_cli_train_then_resume_and_refuse_overwrite(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--patch", "64", "--batch-size", "2",
            "--workers", "0", "--max-steps-per-epoch", "1", "--val-fraction", "0.34", "-q"]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(out), "--epochs", "2", "-q"]) == 0
    assert load_checkpoint(out / "last.pt").training["epoch"] == 2
    # The recipe LOGO kept is the default: random zoom and intensity augmentation on.
    config = TrainConfig.load(out / "config.json")
    assert config.scale_aug == [0.5, 2.0] and config.intensity_aug and config.ema == 0.998
    assert "raw_state_dict" in load_checkpoint(out / "last.pt").training
    plain = tmp_path / "plain"
    old_recipe = ["--scale-aug", "off", "--no-intensity-aug", "--ema", "off"]
    args_plain = [*args[:4], str(plain), *args[5:], *old_recipe]
    assert main(args_plain) == 0
    config = TrainConfig.load(plain / "config.json")
    assert config.scale_aug is None and not config.intensity_aug and config.ema is None
    assert "raw_state_dict" not in load_checkpoint(plain / "last.pt").training
    averaged = tmp_path / "ema"
    assert main([*args[:4], str(averaged), *args[5:], "--ema", "0.99"]) == 0
    assert TrainConfig.load(averaged / "config.json").ema == 0.99
    capsys.readouterr()
    assert main([*args[:4], str(tmp_path / "bad"), *args[5:], "--ema", "fast"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "glacierfront: error: --ema 'fast': give a decay such as 0.998, or off"
    )


def test_bad_options_are_one_line_errors(data, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), "-q"]) == 1
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--patch", "100", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("glacierfront: error:") for line in err)
    assert "multiple of 32" in err[1]


def test_torchrun_two_cpu_processes(data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "glacierfront", "train", "--data", str(data), "--out", str(out), "--epochs", "1", "--patch", "64",
           "--batch-size", "1", "--workers", "0", "--val-fraction", "0.34", "-q", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1  # only rank 0 writes
    # 4 training images over 2 ranks with batch 1: 2 steps per rank, 4 pairs in the epoch.
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt.training["epoch"] == 1


def test_config_rejects_unknown_optimizer():
    with pytest.raises(GlacierfrontError, match="--optimizer"):
        replace(TrainConfig(), optimizer="sgd")


class ThresholdNet(torch.nn.Module):
    """Per-pixel brightness classifier standing in for a trained CISNet (rock > glacier > ocean)."""

    def __init__(self) -> None:
        super().__init__()
        from glacierfront.model.config import CISNetConfig

        self.config = CISNetConfig()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        from fakes import GLACIER, OCEAN, ROCK

        from glacierfront.model.config import SAR_MEAN, SAR_STD

        centres = torch.tensor([-100.0, ROCK, GLACIER, OCEAN]).view(1, 4, 1, 1) / 255
        centres = (centres - SAR_MEAN) / SAR_STD
        return -((x - centres) ** 2) + self.dummy


def test_validation_in_metres_scales_pixels_by_the_names_resolution(tmp_path):
    from glacierfront.io.caffe import list_split
    from glacierfront.train.validate import validate

    folder = caffe_folder(tmp_path / "caffe", size=128, resolution=20)
    items = list(list_split(folder, "train"))
    px = validate(ThresholdNet(), items, torch.device("cpu"), min_length_px=2.0)
    m = validate(ThresholdNet(), items, torch.device("cpu"), min_length_px=2.0, metres=True)
    assert px["val_mde_px"] < 2.0 and px["val_miou"] > 0.5
    assert m["val_mde_m"] == pytest.approx(m["val_mde_px"] * 20)
    assert px["val_mde_m"] is None  # pixel mode never claims metres


def test_init_from_starts_from_another_runs_weights_and_refuses_another_architecture(data, tmp_path):
    Trainer(tiny_config(data, tmp_path / "a", epochs=1)).fit()
    source = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    tuned = Trainer(tiny_config(data, tmp_path / "b", init_from=str(tmp_path / "a" / "last.pt")))
    assert all(torch.equal(tuned.model.state_dict()[k], source[k]) for k in source)
    fresh = Trainer(tiny_config(data, tmp_path / "c"))
    assert not all(torch.equal(fresh.model.state_dict()[k], source[k]) for k in source)
    with pytest.raises(GlacierfrontError, match="--init"):
        Trainer(tiny_config(data, tmp_path / "d", encoder="femto", init_from=str(tmp_path / "a" / "last.pt")))


def test_resume_with_epochs_equal_to_the_default_still_trains(data, tmp_path, monkeypatch):
    from glacierfront.cli.train import DEFAULT_EPOCHS

    out = tmp_path / "run"
    Trainer(tiny_config(data, out, epochs=1, max_steps_per_epoch=1)).fit()
    config = TrainConfig.load(out / "config.json")
    config.epochs = (
        DEFAULT_EPOCHS - 1
    )  # a run planned for fewer epochs than the default, extended to the default
    config.save(out / "config.json")
    calls = []
    original = Trainer.fit

    def fit_once(self, *args, **kwargs):  # stop after one epoch: only the planned total matters here
        calls.append(self.cfg.epochs)
        self.cfg.epochs = self.epoch + 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", fit_once)
    assert main(["train", "--resume", str(out), "--epochs", str(DEFAULT_EPOCHS), "-q"]) == 0
    assert calls == [DEFAULT_EPOCHS]
    assert load_checkpoint(out / "last.pt").training["epoch"] == 2


def test_no_validation_images_is_refused_before_training(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--patch", "64", "--workers", "0",
            "--val-fraction", "0", "-q"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "holds out none for validation" in err and len(err.strip().splitlines()) == 1
    assert not (out / "last.pt").exists()


def test_resume_reads_the_data_from_a_new_place_when_given(data, tmp_path):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    out = tmp_path / "run"
    Trainer(tiny_config(moved, out, epochs=1, max_steps_per_epoch=1)).fit()
    shutil.rmtree(moved)
    assert main(["train", "--resume", str(out), "--epochs", "2", "-q"]) == 1
    assert main(["train", "--resume", str(out), "--epochs", "2", "--data", str(data), "-q"]) == 0
    assert load_checkpoint(out / "last.pt").training["epoch"] == 2
    assert TrainConfig.load(out / "config.json").data == str(data)


def test_a_bad_label_in_a_dataloader_worker_stops_training_with_one_line(data, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    label = sorted((broken / "zones" / "train").glob("*.png"))[0]
    label.write_bytes(label.read_bytes()[: label.stat().st_size // 2])  # a truncated PNG
    cmd = [sys.executable, "-m", "glacierfront", "train", "--data", str(broken), "--out", str(tmp_path / "run"),
           "--epochs", "1", "--patch", "64", "--batch-size", "2", "--workers", "2", "--val-fraction", "0.34", "-q"]  # fmt: skip
    # Before the fix the process never ended: the timeout only keeps a regression from hanging the suite.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and label.name in lines[0] and "truncated" in lines[0]


def test_ema_checkpoints_hold_the_average_and_resume_restores_both_weight_sets(data, tmp_path):
    straight = Trainer(tiny_config(data, tmp_path / "a", ema=0.9))
    straight.fit()
    ckpt = load_checkpoint(tmp_path / "a" / "last.pt")
    raw = ckpt.training["raw_state_dict"]
    average = ckpt.state_dict
    learned = [k for k, v in raw.items() if v.is_floating_point() and v.dim() > 1]
    # The saved weights are the average, not the live ones; the live ones ride along for resuming.
    assert any(not torch.equal(average[k], raw[k]) for k in learned)
    assert all(torch.equal(average[k], straight.kept_model.state_dict()[k]) for k in average)
    assert all(torch.equal(raw[k], straight.model.state_dict()[k]) for k in raw)
    assert ckpt.training["ema_steps"] == 4

    first = Trainer(tiny_config(data, tmp_path / "b", ema=0.9, epochs=1))
    first.fit()
    resumed = Trainer(tiny_config(data, tmp_path / "b", ema=0.9, epochs=2), resume=True)
    resumed.fit()
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert all(torch.equal(average[k], b.state_dict[k]) for k in average)
    assert all(torch.equal(raw[k], b.training["raw_state_dict"][k]) for k in raw)


def test_ema_update_moves_the_average_a_decay_step_towards_the_live_weights(data, tmp_path):
    trainer = Trainer(tiny_config(data, tmp_path / "run", ema=0.5))
    param = next(trainer.model.parameters())
    kept = next(trainer.kept_model.parameters())
    with torch.no_grad():
        kept.fill_(0.0)
        param.fill_(1.0)
    trainer.ema_steps = 1000  # past the ramp: the configured decay applies
    trainer._update_ema()
    assert torch.allclose(kept, torch.full_like(kept, 0.5))
    trainer._update_ema()
    assert torch.allclose(kept, torch.full_like(kept, 0.75))
    assert trainer.kept_model is not trainer.model


def test_resume_refuses_a_different_ema_setting(data, tmp_path):
    Trainer(tiny_config(data, tmp_path / "run", ema=0.9, epochs=1)).fit()
    with pytest.raises(GlacierfrontError, match="--ema"):
        Trainer(tiny_config(data, tmp_path / "run", epochs=2), resume=True)
    with pytest.raises(GlacierfrontError, match="between 0 and 1"):
        tiny_config(data, tmp_path / "x", ema=1.5)


def test_train_refuses_a_run_folder_in_the_data_or_unwritable_before_any_work(
    data, tmp_path, monkeypatch, capsys
):
    def no_work(*args, **kwargs):
        raise AssertionError("the run should have been refused before training")

    monkeypatch.setattr(loop_module, "Trainer", no_work)
    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    refused = {
        str(data): "is the data folder",
        str(data / "runs" / "a"): "lies inside the data folder",
        str(link / "run"): "lies inside the data folder",  # the data under another name
        "/proc/glacierfront-test/run": "cannot write there",  # /proc never takes a file, root or not
    }
    for out, message in refused.items():
        assert main(["train", "--data", str(data), "--out", out, "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"glacierfront: error: --out {out}: ") and message in err and "\n" not in err
    assert not (data / "runs").exists() and not (data / "config.json").exists()

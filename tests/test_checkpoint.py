"""Checkpoints: round trip, rebuild from the file alone, and every way a file can be wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glacierfront.errors import GlacierfrontError
from glacierfront.model import CISNet, CISNetConfig, load_checkpoint, load_model, save_checkpoint
from glacierfront.model.checkpoint import FORMAT


class Payload:
    """Arbitrary class: unpickling it would need code execution."""

    def __init__(self) -> None:
        self.value = 1


def test_load_model_rebuilds_same_model(atto_checkpoint):
    path, model = atto_checkpoint
    rebuilt = load_model(path)
    assert rebuilt.config == model.config
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


def test_config_and_metadata_travel_with_weights(tmp_path):
    config = CISNetConfig(encoder="atto", decoder="unet", drop_path=0.0, change_branch=False, in_channels=2)
    path = save_checkpoint(tmp_path / "m.pt", CISNet(config), metadata={"tile_size": 384, "epoch": 7})
    ckpt = load_checkpoint(path)
    assert ckpt.config == config
    assert ckpt.metadata["tile_size"] == 384 and ckpt.metadata["epoch"] == 7
    assert ckpt.metadata["classes"] == ["na", "rock", "glacier", "ocean"]


def test_checkpoint_needing_pickle_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "config": {}, "state_dict": {}, "x": Payload()}, path)
    with pytest.raises(GlacierfrontError, match="evil.pt: refused: loading it would run pickled code"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_named(atto_checkpoint, tmp_path):
    data = atto_checkpoint[0].read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GlacierfrontError, match="cut.pt: .*truncated"):
        load_checkpoint(path)


def test_plain_state_dict_is_not_a_glacierfront_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(CISNet(CISNetConfig()).state_dict(), path)
    with pytest.raises(GlacierfrontError, match="plain.pt: not a glacierfront checkpoint"):
        load_checkpoint(path)


def test_unknown_encoder_size_in_file_is_named(tmp_path):
    path = tmp_path / "odd.pt"
    config = CISNetConfig().to_dict() | {"encoder": "gigantic"}
    torch.save({"format": FORMAT, "format_version": 1, "config": config, "state_dict": {}}, path)
    with pytest.raises(GlacierfrontError, match="odd.pt: unknown encoder size 'gigantic'"):
        load_checkpoint(path)


def test_weights_not_fitting_config_are_reported(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", CISNet(CISNetConfig(encoder="atto")))
    payload = torch.load(path, weights_only=True)
    payload["config"]["encoder"] = "femto"
    torch.save(payload, path)
    with pytest.raises(GlacierfrontError, match="m.pt: weights do not fit the config"):
        load_model(path)


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "m.pt"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(GlacierfrontError, match="writing failed .disk full.$"):
        save_checkpoint(target, CISNet(CISNetConfig()))
    assert list(tmp_path.iterdir()) == []


def test_save_failing_after_writing_part_of_the_file_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = save_checkpoint(tmp_path / "m.pt", CISNet(CISNetConfig(encoder="atto")), metadata={"epoch": 1})
    before = target.read_bytes()
    real_save = torch.save

    def dies_half_way(payload, path, *args, **kwargs):
        real_save(payload, path, *args, **kwargs)
        with open(path, "r+b") as fh:  # as if the disk filled up half way through the file
            fh.truncate(len(before) // 2)
        # What torch.save raises when the disk fills up.
        raise RuntimeError(
            "[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file"
        )

    monkeypatch.setattr(torch, "save", dies_half_way)
    # One line for the user, not torch's internals; the previous checkpoint survives.
    with pytest.raises(GlacierfrontError, match=r"m\.pt: writing failed .*; the previous file is kept"):
        save_checkpoint(target, CISNet(CISNetConfig(encoder="atto")), metadata={"epoch": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert target.read_bytes() == before
    assert load_checkpoint(target).metadata["epoch"] == 1


def test_the_network_module_does_not_import_the_checkpoint_module():
    # checkpoint.py builds CISNet; cisnet.py must not reach back (no import circle, not even a deferred one).
    import glacierfront.model.cisnet as network

    assert "model.checkpoint" not in Path(network.__file__).read_text()
    code = "import sys, glacierfront.model.cisnet; assert 'glacierfront.model.checkpoint' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

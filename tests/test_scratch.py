"""Scratch arrays: folders left by killed runs are removed by later runs, and a full disk is one line."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from fakes import glacier_scene, threshold_model

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io import scratch
from glacierfront.io.scratch import remove_stale, scratch_array, scratch_folder


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture
def tmpdir_(tmp_path, monkeypatch):
    """A temp dir of the test's own, as TMPDIR would give."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def _left_behind(base, pid, tag, lock=True, age_s=0.0):
    """A scratch folder as a run killed with SIGKILL leaves it: its arrays and its (no longer held) lock."""
    folder = base / f"glacierfront-{pid}-{tag}"
    folder.mkdir()
    np.lib.format.open_memmap(folder / "zones.npy", "w+", np.uint8, (64, 64))
    if lock:
        (folder / ".lock").touch()
    if age_s:
        then = time.time() - age_s
        os.utime(folder, (then, then))
    return folder


def test_a_later_run_removes_the_scratch_folders_of_dead_runs_and_keeps_the_live_ones(tmpdir_):
    dead = _dead_pid()
    stale = _left_behind(tmpdir_, dead, "k9xq2a1b")
    stale_unlocked = _left_behind(tmpdir_, dead, "old", lock=False, age_s=3600)
    live = _left_behind(tmpdir_, os.getpid(), "mine")  # a run of this very process
    just_made = _left_behind(tmpdir_, dead, "young", lock=False)  # not locked yet: too young to judge
    # A live run of another pid namespace (a container sharing /tmp): its pid means nothing here, its lock does.
    elsewhere = _left_behind(tmpdir_, dead, "container")
    held = os.open(elsewhere / ".lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # Not ours to judge: other programs' folders, the other glacierfront temp folders, links.
    others = [tmpdir_ / "glacierfront-finetune-abc", tmpdir_ / "glacierfront-q1w2e3r4", tmpdir_ / "unrelated"]
    for folder in others:
        folder.mkdir()
    target = tmpdir_ / "target"
    target.mkdir()
    link = tmpdir_ / f"glacierfront-{dead}-link"
    link.symlink_to(target, target_is_directory=True)
    try:
        with scratch_folder() as folder:
            assert not stale.exists() and not stale_unlocked.exists()
            assert live.is_dir() and just_made.is_dir() and elsewhere.is_dir()
            assert all(f.is_dir() for f in others) and link.is_symlink() and target.is_dir()
            assert folder.parent == tmpdir_ and folder.name.startswith(f"glacierfront-{os.getpid()}-")
            assert (folder / ".lock").is_file()
            # Seen from another process, this folder is in use: its lock is held.
            probe = os.open(folder / ".lock", os.O_RDWR)
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.close(probe)
        assert not folder.exists()
    finally:
        os.close(held)
    # Its lock let go (that run ended too), the container's folder goes at the next sweep.
    assert elsewhere in remove_stale(tmpdir_)


def test_another_users_scratch_folder_is_never_touched(tmpdir_):
    theirs = _left_behind(tmpdir_, _dead_pid(), "theirs")
    try:
        os.chown(theirs, os.getuid() + 1, -1)
    except PermissionError:
        pytest.skip("needs root to give a folder to another user")
    assert remove_stale(tmpdir_) == [] and theirs.is_dir()


def test_predict_cleans_up_after_a_run_killed_earlier_and_leaves_nothing(model, tmpdir_, tmp_path):
    stale = _left_behind(tmpdir_, _dead_pid(), "killed")
    scene = glacier_scene(tmp_path / "s.tif")
    assert main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "-q"]) == 0
    assert not stale.exists() and list(tmpdir_.iterdir()) == []


def test_scratch_arrays_reserve_their_disk_space_up_front(tmp_path):
    array = scratch_array(tmp_path, "zones", np.uint8, (1024, 1024))
    info = os.stat(tmp_path / "zones.npy")
    assert info.st_blocks * 512 >= info.st_size >= 1024 * 1024  # allocated, not a sparse file
    assert not np.asarray(array).any()


def _no_space(fd, offset, length):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_scratch_disk_is_an_error_naming_tmpdir_not_a_sigbus(tmpdir_, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", _no_space)
    with pytest.raises(GlacierfrontError, match="TMPDIR") as caught:
        scratch_array(tmpdir_, "zones", np.uint8, (2000, 3000))
    assert "no room" in str(caught.value) and "0.01 GB" in str(caught.value)
    assert not (tmpdir_ / "zones.npy").exists()


def test_predict_on_a_full_scratch_disk_says_so_in_one_line(model, tmpdir_, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "posix_fallocate", _no_space)
    scene = glacier_scene(tmp_path / "s.tif")
    assert main(["predict", str(scene), "-m", str(model), "-o", str(tmp_path / "f.gpkg"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("glacierfront: error:") and "\n" not in err
    assert "no room for the scene's scratch arrays" in err and "TMPDIR" in err
    assert list(tmpdir_.iterdir()) == []


def test_a_file_system_that_cannot_reserve_space_still_gets_its_arrays(tmp_path, monkeypatch):
    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    assert scratch_array(tmp_path, "conf", np.uint8, (8, 8)).shape == (8, 8)
    assert scratch.remove_stale(tmp_path / "missing") == []

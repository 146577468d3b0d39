"""Ctrl-C at a terminal: the signal reaches every process of the group, and glacierfront answers in one line."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest
from fakes import glacier_scene, threshold_model


def _until(proc, text: str, seconds: float) -> str:
    """stderr read until ``text`` appears (or ``seconds`` pass)."""
    seen = ""
    end = time.monotonic() + seconds
    while text not in seen and time.monotonic() < end and proc.poll() is None:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            seen += proc.stderr.readline()
    return seen


def test_ctrl_c_on_local_dask_workers_is_one_line_not_worker_tracebacks(tmp_path):
    pytest.importorskip("distributed")
    model = threshold_model(tmp_path / "m.onnx")
    scenes = [
        str(glacier_scene(tmp_path / f"s{i}.tif", height=1500, width=1500, front_col=700)) for i in range(24)
    ]
    args = [sys.executable, "-m", "glacierfront", "predict", *scenes, "-m", str(model), "-o", f"{tmp_path}/out/",
            "--workers", "2"]  # fmt: skip
    # A shell's background job (nohup ... &) ignores SIGINT, and a Python started so keeps ignoring it:
    # the child gets the default disposition back, as a program run at a terminal has it.
    proc = subprocess.Popen(
        args,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = _until(proc, "local Dask worker", 120)
        assert "local Dask worker" in seen, seen
        time.sleep(2)  # scenes under way on both workers
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = seen + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "glacierfront: interrupted; partial outputs removed"

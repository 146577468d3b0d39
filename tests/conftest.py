"""Shared fixtures: small models and checkpoints built by the tests themselves."""

from __future__ import annotations

import pytest
import torch

from glacierfront.model import CISNet, CISNetConfig, save_checkpoint


@pytest.fixture(scope="session")
def atto_checkpoint(tmp_path_factory) -> tuple:
    """An untrained atto CISNet with non-trivial BatchNorm statistics, saved as a checkpoint."""
    torch.manual_seed(0)
    model = CISNet(CISNetConfig(encoder="atto"))
    # A few training-mode passes give BatchNorm non-default running statistics, and zero-initialised
    # GRN parameters are perturbed, so export parity is tested on a model that is not an identity map.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "grn" in name:
                p.normal_(0, 0.1)
        model.train()
        for _ in range(2):
            model(torch.randn(2, 1, 64, 64))
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "atto.pt"
    save_checkpoint(path, model, metadata={"training_data": "test fixture"})
    return path, model


@pytest.fixture(scope="session")
def sample_run_source(tmp_path_factory):
    """The bundled sample run: the 8 sample-series scenes through the shipped default model into a folder,
    with its manifest (predict's real output, made once per test session; copy it before writing in it)."""
    from glacierfront.cli import main
    from glacierfront.data import SAMPLE_SERIES_DIR

    out = tmp_path_factory.mktemp("sample-run") / "run"
    scenes = sorted(map(str, SAMPLE_SERIES_DIR.glob("*.tif")))
    code = main(["predict", *scenes, "-o", f"{out}/", "--manifest", str(out / "manifest.csv"), "-q"])
    assert code == 0
    return out


@pytest.fixture
def sample_run(sample_run_source, tmp_path):
    """A copy of the bundled sample run of one's own (``sample_run_source``), to write verdicts in."""
    import shutil

    target = tmp_path / "run"
    shutil.copytree(sample_run_source, target)
    return target

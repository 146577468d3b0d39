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

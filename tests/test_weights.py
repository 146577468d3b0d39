"""Loading official ConvNeXt V2 checkpoints (facebookresearch, FCMAE and timm names) into the encoder."""

from __future__ import annotations

import re

import pytest
import torch

from glacierfront.errors import GlacierfrontError
from glacierfront.model.encoder import ConvNeXtV2Encoder
from glacierfront.model.weights import load_encoder_weights


def official_rgb_state(size: str = "atto") -> dict[str, torch.Tensor]:
    """A full ImageNet-style ConvNeXt V2 state dict in facebookresearch naming, random values."""
    torch.manual_seed(1)
    enc = ConvNeXtV2Encoder(size, in_channels=3)
    state = {k: torch.randn_like(v) for k, v in enc.state_dict().items()}
    width = enc.widths[-1]
    state.update(
        {
            "norm.weight": torch.ones(width),
            "norm.bias": torch.zeros(width),
            "head.weight": torch.randn(1000, width),
            "head.bias": torch.zeros(1000),
        }
    )
    return state


def to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        new = re.sub(r"^downsample_layers\.0\.", "stem.", key)
        new = re.sub(r"^downsample_layers\.(\d)\.", r"stages.\1.downsample.", new)
        new = re.sub(r"^stages\.(\d)\.(\d+)\.", r"stages.\1.blocks.\2.", new)
        new = new.replace(".dwconv.", ".conv_dw.").replace(".pwconv", ".mlp.fc")
        if new.endswith("grn.gamma") or new.endswith("grn.beta"):
            new = new.replace("grn.gamma", "mlp.grn.weight").replace("grn.beta", "mlp.grn.bias")
            value = value.reshape(-1)
        new = new.replace("head.", "head.fc.") if new.startswith("head.") else new
        new = new.replace("norm.", "head.norm.") if new.startswith("norm.") else new
        out[new] = value
    return out


def to_fcmae(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """FCMAE pre-training files: an "encoder." prefix, sparse-conv shapes, plus decoder parts."""
    out = {}
    for key, value in state.items():
        if key.startswith(("head.", "norm.")):
            continue
        if ".pwconv" in key:
            key = key.replace(".weight", ".linear.weight").replace(".bias", ".linear.bias")
        if key.endswith("dwconv.weight"):
            value = value.reshape(value.shape[0], 49).t()  # (49, C)
        if "grn." in key:
            value = value.reshape(1, -1)
        out["encoder." + key] = value
    out["mask_token"] = torch.zeros(1, 512, 1, 1)
    out["proj.weight"] = torch.zeros(512, 320, 1, 1)
    return {"model": out}


def check_loaded(enc: ConvNeXtV2Encoder, rgb: dict[str, torch.Tensor]) -> None:
    loaded = enc.state_dict()
    stem = rgb["downsample_layers.0.0.weight"]
    torch.testing.assert_close(loaded["downsample_layers.0.0.weight"].sum(1), stem.sum(1))
    for key in ("stages.2.3.pwconv1.weight", "stages.0.1.grn.gamma", "downsample_layers.3.1.weight"):
        torch.testing.assert_close(loaded[key], rgb[key])
    torch.testing.assert_close(loaded["stages.1.0.dwconv.weight"], rgb["stages.1.0.dwconv.weight"])


@pytest.mark.parametrize(
    "convert", [lambda s: {"model": s}, to_timm, to_fcmae], ids=["official", "timm", "fcmae"]
)
def test_official_names_load_into_single_band_encoder(convert):
    rgb = official_rgb_state()
    enc = ConvNeXtV2Encoder("atto", in_channels=1)
    load_encoder_weights(enc, convert(rgb))
    check_loaded(enc, rgb)
    assert enc.state_dict()["downsample_layers.0.0.weight"].shape[1] == 1


def test_rgb_stem_summed_so_grey_input_gives_same_stem_response():
    rgb = official_rgb_state()
    enc1 = ConvNeXtV2Encoder("atto", in_channels=1)
    enc2 = ConvNeXtV2Encoder("atto", in_channels=2)
    load_encoder_weights(enc1, rgb)
    load_encoder_weights(enc2, rgb)
    grey = torch.rand(1, 1, 16, 16)
    w, b = rgb["downsample_layers.0.0.weight"], rgb["downsample_layers.0.0.bias"]
    expected = torch.nn.functional.conv2d(grey.repeat(1, 3, 1, 1), w, b, stride=4)
    with torch.no_grad():
        torch.testing.assert_close(enc1.downsample_layers[0][0](grey), expected)
        torch.testing.assert_close(enc2.downsample_layers[0][0](grey.repeat(1, 2, 1, 1)), expected)


def test_checkpoint_file_on_disk_loads(tmp_path):
    rgb = official_rgb_state()
    path = tmp_path / "convnextv2_atto_1k_224_ema.pt"
    torch.save({"model": rgb}, path)
    enc = ConvNeXtV2Encoder("atto", in_channels=1)
    load_encoder_weights(enc, path)
    check_loaded(enc, rgb)


def test_wrong_size_names_the_mismatched_keys():
    enc = ConvNeXtV2Encoder("femto", in_channels=1)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    with pytest.raises(GlacierfrontError, match=r"not a ConvNeXt V2 femto checkpoint.*shape mismatch"):
        load_encoder_weights(enc, official_rgb_state("atto"))
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_missing_and_unexpected_keys_are_named():
    rgb = official_rgb_state()
    del rgb["stages.3.1.pwconv2.bias"]
    rgb["stages.9.0.extra.weight"] = torch.zeros(1)
    enc = ConvNeXtV2Encoder("atto", in_channels=1)
    with pytest.raises(GlacierfrontError) as info:
        load_encoder_weights(enc, rgb)
    message = str(info.value)
    assert "missing 1 keys (stages.3.1.pwconv2.bias)" in message
    assert "unexpected 1 keys (stages.9.0.extra.weight)" in message


def test_unreadable_weights_file_is_a_user_error(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(GlacierfrontError, match="weights.pt: cannot read"):
        load_encoder_weights(ConvNeXtV2Encoder("atto"), bad)

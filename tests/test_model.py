"""CISNet shape contracts, ConvNeXt V2 sizes and parts."""

from __future__ import annotations

import pytest
import torch

from glacierfront.errors import GlacierfrontError
from glacierfront.model import ENCODER_SIZES, CISNet, CISNetConfig
from glacierfront.model.encoder import GRN, ConvNeXtV2Encoder

# Published ConvNeXt V2 sizes (millions of parameters, 3 input channels). These figures count the
# ImageNet classifier (final LayerNorm + Linear to 1000 classes); the encoder alone is that minus the head.
PUBLISHED_M = {"atto": 3.7, "femto": 5.2, "pico": 9.1, "nano": 15.6, "tiny": 28.6, "base": 89.0}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", list(ENCODER_SIZES))
def test_encoder_parameter_count_matches_published(size):
    encoder = ConvNeXtV2Encoder(size, in_channels=3)
    width = encoder.widths[-1]
    imagenet_head = 2 * width + width * 1000 + 1000
    total_m = (count(encoder) + imagenet_head) / 1e6
    assert abs(total_m - PUBLISHED_M[size]) / PUBLISHED_M[size] < 0.03


def test_encoder_has_no_classifier_and_gives_four_strides():
    encoder = ConvNeXtV2Encoder("atto", in_channels=2)
    feats = encoder(torch.randn(1, 2, 64, 96))
    assert [f.shape[1] for f in feats] == list(ENCODER_SIZES["atto"][1])
    assert [(f.shape[2], f.shape[3]) for f in feats] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert not any(name.startswith(("head", "norm.")) for name, _ in encoder.named_parameters())


def test_grn_starts_as_identity_and_normalises_by_mean_channel_norm():
    grn = GRN(3)
    x = torch.randn(2, 4, 5, 3)
    assert torch.equal(grn(x), x)
    with torch.no_grad():
        grn.gamma.fill_(1.0)
    g = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    expected = x * (g / (g.mean(-1, keepdim=True) + 1e-6)) + x
    torch.testing.assert_close(grn(x), expected)


def test_stochastic_depth_grows_to_configured_rate():
    encoder = ConvNeXtV2Encoder("atto", drop_path=0.2)
    rates = [m.drop_path.p for stage in encoder.stages for m in stage]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert rates == sorted(rates)


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (2, 1, 100, 130), (1, 1, 17, 5)])
def test_forward_returns_zone_logits_at_input_size(shape):
    model = CISNet(CISNetConfig(encoder="atto")).eval()
    with torch.no_grad():
        out = model(torch.randn(*shape))
    assert out.shape == (shape[0], 4, shape[2], shape[3])
    assert torch.isfinite(out).all()


def test_forward_pair_gives_zones_and_change_in_both_orders():
    model = CISNet(CISNetConfig(encoder="atto")).train()
    x1, x2 = torch.randn(2, 1, 70, 64), torch.randn(2, 1, 70, 64)
    out = model.forward_pair(x1, x2)
    assert out.zones.shape == (2, 4, 70, 64)
    assert out.change_12.shape == out.change_21.shape == (2, 2, 70, 64)
    model.eval()
    with torch.no_grad():
        pair = model.forward_pair(x1, x2)
        # Swapping the pair swaps the change orders; zones of x1 match a plain forward.
        swapped = model.forward_pair(x2, x1)
        torch.testing.assert_close(pair.change_12, swapped.change_21)
        torch.testing.assert_close(pair.zones, model(x1), atol=1e-5, rtol=1e-4)


def test_unet_decoder_variant_and_no_change_branch():
    model = CISNet(CISNetConfig(encoder="atto", decoder="unet", change_branch=False)).eval()
    assert model.change_head is None
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 4, 64, 64)
    with pytest.raises(RuntimeError, match="change branch"):
        model.forward_pair(torch.randn(1, 1, 64, 64), torch.randn(1, 1, 64, 64))


def test_any_number_of_input_channels():
    model = CISNet(CISNetConfig(encoder="atto", in_channels=4)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 4, 32, 32)).shape == (1, 4, 32, 32)


def test_unknown_encoder_size_is_a_user_error():
    with pytest.raises(GlacierfrontError, match="unknown encoder size 'huge'"):
        CISNetConfig(encoder="huge")
    with pytest.raises(GlacierfrontError, match="unknown decoder"):
        CISNetConfig(decoder="fpn")

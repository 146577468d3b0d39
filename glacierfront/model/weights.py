"""Load official ConvNeXt V2 checkpoints (facebookresearch, FCMAE or timm key names) into our encoder."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from glacierfront.errors import GlacierfrontError, first_line
from glacierfront.model.encoder import ConvNeXtV2Encoder

# timm renames the official modules; each pattern maps a timm key back to the facebookresearch one.
_TIMM_TO_OFFICIAL = [
    (re.compile(r"^stem\.(\d+)\."), r"downsample_layers.0.\1."),
    (re.compile(r"^stages\.(\d+)\.downsample\.(\d+)\."), r"downsample_layers.\1.\2."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\."), r"stages.\1.\2.dwconv."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.norm\."), r"stages.\1.\2.norm."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc(\d)\."), r"stages.\1.\2.pwconv\3."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.weight$"), r"stages.\1.\2.grn.gamma"),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.bias$"), r"stages.\1.\2.grn.beta"),
]

# Classifier parts of a full ConvNeXt V2 and FCMAE pre-training parts: present in official files, not
# part of an encoder, dropped without complaint.
_IGNORED = re.compile(r"^(head\.|norm\.|mask_token|proj\.|pred\.|decoder\.)")


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    """Official files nest the weights under "model" (facebookresearch) or "state_dict" (others)."""
    for key in ("model", "state_dict", "model_state"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GlacierfrontError("not a ConvNeXt V2 state dict: expected a mapping of names to tensors")
    return obj


def to_official_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map facebookresearch, FCMAE (sparse encoder) or timm names and shapes onto the official layout."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("encoder.")
        for pattern, repl in _TIMM_TO_OFFICIAL:
            key = pattern.sub(repl, key)
        # FCMAE's sparse encoder wraps linear layers ("pwconv1.linear.weight") and stores dw kernels
        # flattened (49, C) or (C, 49); GRN parameters there are (1, C).
        key = key.replace(".linear.", ".")
        if key.endswith("grn.gamma") or key.endswith("grn.beta"):
            value = value.reshape(1, 1, 1, -1)
        if key.endswith("dwconv.weight") and value.ndim != 4:
            if value.shape[0] == 49:
                value = value.t()
            value = value.reshape(-1, 1, 7, 7)
        if key.endswith("dwconv.bias") or key.endswith("downsample_layers.0.0.bias"):
            value = value.reshape(-1)
        out[key] = value
    return out


def adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Turn an RGB stem kernel into one for in_channels bands.

    The three colour kernels are summed and shared equally over the new bands, so a grey image repeated
    on every band gives the same stem response as it did in RGB.
    """
    if weight.shape[1] == in_channels:
        return weight
    summed = weight.sum(dim=1, keepdim=True)
    return summed.repeat(1, in_channels, 1, 1) / in_channels


def load_encoder_weights(encoder: ConvNeXtV2Encoder, source: str | Path | dict) -> None:
    """Load an official ConvNeXt V2 checkpoint (file path or state dict) into ``encoder`` in place.

    Raises GlacierfrontError naming missing, unexpected or mis-shaped keys; nothing is changed then.
    """
    name = str(source) if not isinstance(source, dict) else "state dict"
    if isinstance(source, dict):
        state = _unwrap(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise GlacierfrontError(f"{path}: encoder weights file not found")
        try:
            state = _unwrap(torch.load(path, map_location="cpu", weights_only=True))
        except GlacierfrontError as err:
            raise GlacierfrontError(f"{path}: {err}") from None
        except pickle.UnpicklingError as err:
            from glacierfront.model.checkpoint import refused_pickled_code

            if refused_pickled_code(err):
                raise GlacierfrontError(
                    f"{path}: refused: loading it would run pickled code; give a weights-only file "
                    "(torch.save(model.state_dict(), path))"
                ) from None
            raise GlacierfrontError(
                f"{path}: cannot read as a PyTorch checkpoint ({first_line(err, 200)})"
            ) from None
        except Exception as err:
            raise GlacierfrontError(
                f"{path}: cannot read as a PyTorch checkpoint ({first_line(err, 200)})"
            ) from None

    state = {k: v for k, v in to_official_names(state).items() if not _IGNORED.match(k)}
    stem_key = "downsample_layers.0.0.weight"
    if stem_key in state:
        state[stem_key] = adapt_stem(state[stem_key], encoder.in_channels)

    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys ({_few(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys ({_few(unexpected)})")
        if shapes:
            parts.append(f"shape mismatch ({_few(shapes)})")
        raise GlacierfrontError(
            f"{name}: not a ConvNeXt V2 {encoder.size} checkpoint: {'; '.join(parts)}. "
            "Check the encoder size matches the file."
        )
    encoder.load_state_dict(state)


def _few(items: list[str], n: int = 3) -> str:
    more = f", ... +{len(items) - n}" if len(items) > n else ""
    return ", ".join(items[:n]) + more

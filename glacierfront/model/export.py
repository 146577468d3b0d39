"""ONNX export of CISNet's segmentation path, with the model's config and metadata inside the file."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.atomic import atomic_path
from glacierfront.io.checksum import sha256_file

DEFAULT_OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "zone_logits"


def export_onnx(checkpoint: str | Path, output: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export a glacierfront checkpoint to ONNX (zone logits only; the change head is left out).

    Batch, height and width are dynamic; the graph pads to a multiple of 32 and crops back itself.
    """
    import onnx
    import torch

    from glacierfront.model.checkpoint import load_checkpoint

    if opset < 17:
        raise GlacierfrontError(f"--opset {opset}: glacierfront needs opset 17 or newer (LayerNormalization)")
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model().float().eval()
    dummy = torch.zeros(1, ckpt.config.in_channels, 64, 64)
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The TorchScript-based exporter handles the data-dependent padding with fully dynamic H and W
        # and needs no extra packages; torch marks it deprecated, which is not the user's concern.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    meta = dict(ckpt.metadata)
    meta["config"] = ckpt.config.to_dict()
    meta["source_sha256"] = sha256_file(checkpoint)
    meta["source_name"] = Path(checkpoint).name
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)
    proto.producer_name = "glacierfront"
    onnx.checker.check_model(proto)
    output = Path(output)
    with atomic_path(output) as tmp:
        onnx.save(proto, str(tmp))
    return output


def export_checkpoint(checkpoint: str | Path, output: str | Path) -> Path:
    """Write an inference-only copy of a checkpoint: weights, config and metadata, no optimiser/RNG state."""
    import torch

    from glacierfront.model.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    meta = dict(ckpt.metadata)
    meta["source_sha256"] = sha256_file(checkpoint)
    meta["source_name"] = Path(checkpoint).name
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": ckpt.config.to_dict(),
        "state_dict": ckpt.state_dict,
        "metadata": meta,
    }
    output = Path(output)
    with atomic_path(output) as tmp:
        torch.save(payload, tmp)
    return output


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The glacierfront metadata of an ONNX file, JSON values decoded; errors name the file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise GlacierfrontError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise GlacierfrontError(
            f"{path}: not a readable ONNX model; truncated or wrong file? ({err})"
        ) from None
    meta = {}
    for prop in proto.metadata_props:
        try:
            meta[prop.key] = json.loads(prop.value)
        except json.JSONDecodeError:
            meta[prop.key] = prop.value
    if "config" not in meta or len(proto.graph.node) == 0:
        raise GlacierfrontError(
            f"{path}: not a glacierfront ONNX model (no glacierfront metadata); export one with `glacierfront export`"
        )
    return meta

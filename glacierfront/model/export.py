"""ONNX export of CISNet's segmentation path, with the model's config and metadata inside the file."""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.atomic import atomic_path
from glacierfront.io.checksum import sha256_file
from glacierfront.model.scale import read_scale

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization
# The highest opset torch's TorchScript exporter writes (torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET;
# a test keeps the two equal). Kept here so the CLI can check --opset without importing torch.
MAX_OPSET = 20
INPUT_NAME = "image"
OUTPUT_NAME = "zone_logits"


def scale_metadata(
    resolution_m: float | None = None, resolution_range: str | tuple[float, float] | None = None
) -> dict[str, Any]:
    """The scale keys to stamp into an exported model: only those given, checked.

    ``resolution_range`` is (lo, hi) or the command-line form "LO,HI" (metres).
    """
    stamp: dict[str, Any] = {}
    if resolution_m is not None:
        if not (math.isfinite(resolution_m) and resolution_m > 0):
            raise GlacierfrontError(
                f"--resolution-m {resolution_m:g}: give a positive number of metres, e.g. 60"
            )
        stamp["resolution_m"] = float(resolution_m)
    if resolution_range is not None:
        stamp["resolution_range_m"] = list(_parse_range(resolution_range))
    return stamp


def usage_metadata(sensors: str | None = None, band_names: str | None = None) -> dict[str, Any]:
    """What a model is for, to stamp into an export: ``sensors`` (free text, shown by info and models) and
    ``band_names``, band descriptions predict picks by itself from a multi-band file ("green,B3,B03")."""
    stamp: dict[str, Any] = {}
    if sensors is not None:
        if not sensors.strip():
            raise GlacierfrontError("--sensors is empty: say which sensors the model is for, e.g. 'SAR'")
        stamp["sensors"] = sensors.strip()
    if band_names is not None:
        names = [n.strip() for n in band_names.split(",") if n.strip()]
        if not names:
            raise GlacierfrontError("--band-names is empty: list band descriptions, e.g. green,B3,B03")
        stamp["band_names"] = names
    return stamp


def _parse_range(value: str | tuple[float, float]) -> tuple[float, float]:
    usage = f"--resolution-range {value!r}: give LO,HI in metres with 0 < LO <= HI, e.g. 30,120"
    try:
        parts = [float(v) for v in value.split(",")] if isinstance(value, str) else [float(v) for v in value]
    except (TypeError, ValueError):
        raise GlacierfrontError(usage) from None
    if len(parts) != 2 or not all(math.isfinite(v) and v > 0 for v in parts) or parts[0] > parts[1]:
        raise GlacierfrontError(usage)
    return parts[0], parts[1]


def _stamped(meta: dict[str, Any], stamp: dict[str, Any] | None, source: str | Path) -> dict[str, Any]:
    """``meta`` with ``stamp`` over it, refused when the resulting scale keys do not fit together."""
    meta = {**meta, **(stamp or {})}
    read_scale(meta, str(source))
    return meta


def check_opset(opset: int) -> None:
    """An opset the model can be written in: LayerNormalization needs 17; torch's exporter stops at its own."""
    if opset < MIN_OPSET:
        raise GlacierfrontError(
            f"--opset {opset}: glacierfront needs opset {MIN_OPSET} or newer (LayerNormalization)"
        )
    if opset > MAX_OPSET:
        raise GlacierfrontError(
            f"--opset {opset}: the installed torch exports opsets up to {MAX_OPSET}; use {MIN_OPSET}..{MAX_OPSET}"
        )


def export_onnx(
    checkpoint: str | Path,
    output: str | Path,
    opset: int = DEFAULT_OPSET,
    stamp: dict[str, Any] | None = None,
) -> Path:
    """Export a glacierfront checkpoint to ONNX (zone logits only; the change head is left out).

    Batch, height and width are dynamic; the graph pads to a multiple of 32 and crops back itself.
    ``stamp`` (e.g. from ``scale_metadata``) overrides the checkpoint's metadata keys it holds.
    """
    import onnx
    import torch

    from glacierfront.model.checkpoint import load_checkpoint

    check_opset(opset)
    ckpt = load_checkpoint(checkpoint)
    meta = _stamped(ckpt.metadata, stamp, checkpoint)
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
    meta["config"] = ckpt.config.to_dict()
    meta["source_sha256"] = sha256_file(checkpoint)
    meta["source_name"] = Path(checkpoint).name
    return _save_onnx(proto, meta, output)


def restamp_onnx(model: str | Path, output: str | Path, stamp: dict[str, Any]) -> Path:
    """Copy a glacierfront ONNX model with ``stamp`` written over its metadata; the graph is untouched.

    ``output`` may be ``model`` itself. The source checkpoint's sha256 and name are kept.
    """
    import onnx

    meta = _stamped(read_onnx_metadata(model), stamp, model)
    proto = onnx.load(str(model))
    del proto.metadata_props[:]
    return _save_onnx(proto, meta, output)


def _save_onnx(proto, meta: dict[str, Any], output: str | Path) -> Path:
    import onnx

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


def export_checkpoint(
    checkpoint: str | Path, output: str | Path, stamp: dict[str, Any] | None = None
) -> Path:
    """Write an inference-only copy of a checkpoint: weights, config and metadata, no optimiser/RNG state.

    ``stamp`` (e.g. from ``scale_metadata``) overrides the checkpoint's metadata keys it holds.
    """
    import torch

    from glacierfront.model.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    meta = _stamped(ckpt.metadata, stamp, checkpoint)
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
    if isinstance(meta.get("config"), str):
        raise GlacierfrontError(
            f"{path}: its glacierfront config (ONNX metadata 'config') is damaged: not JSON; export the model "
            "again from its checkpoint"
        )
    if "config" not in meta or len(proto.graph.node) == 0:
        raise GlacierfrontError(
            f"{path}: not a glacierfront ONNX model (no glacierfront metadata); export one with `glacierfront export`"
        )
    return meta

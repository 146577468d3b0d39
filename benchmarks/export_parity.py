"""torch vs ONNX Runtime parity of an exported CISNet on random input.

$ .venv/bin/python benchmarks/export_parity.py --encoder atto [--checkpoint run/best.pt] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from glacierfront.model import CISNet, CISNetConfig, load_model, save_checkpoint
from glacierfront.model.export import INPUT_NAME, export_onnx

SHAPES = [(1, 1, 256, 256), (4, 1, 512, 512), (2, 1, 300, 451)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder", default="atto")
    parser.add_argument("--checkpoint", help="an existing checkpoint; default: a random-init model")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.checkpoint) if args.checkpoint else Path(tmp) / "model.pt"
        if not args.checkpoint:
            torch.manual_seed(0)
            save_checkpoint(ckpt, CISNet(CISNetConfig(encoder=args.encoder)))
        model = load_model(ckpt)
        onnx_path = export_onnx(ckpt, Path(tmp) / "model.onnx")
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        rows = []
        for shape in SHAPES:
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                ref = model(x).numpy()
            out = session.run(None, {INPUT_NAME: x.numpy()})[0]
            rows.append(
                {
                    "shape": list(shape),
                    "max_abs_diff": float(np.abs(out - ref).max()),
                    "argmax_agreement": float((out.argmax(1) == ref.argmax(1)).mean()),
                }
            )
    print(f"{'input shape':20} {'max |diff|':>12} {'argmax agree':>13}")
    for r in rows:
        print(f"{tuple(r['shape'])!s:20} {r['max_abs_diff']:12.2e} {100 * r['argmax_agreement']:12.4f}%")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

"""Training throughput (pairs/s) of the CISNet training step on synthetic 256 px pairs.

$ .venv/bin/python benchmarks/train_bench.py --encoders atto tiny --precisions fp32 bf16 [--compile] [--steps 6]
    [--batch-size 8] [--device auto] [--json out.json]

One step = forward_pair on a batch of pairs, joint loss, backward, clip, Adam. The first two steps are
warm-up and not timed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from glacierfront.model import CISNet, CISNetConfig
from glacierfront.train.loop import TrainStep


def measure(
    encoder: str, precision: str, compiled: bool, steps: int, batch: int, patch: int, device: str
) -> dict:
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu")
    )
    torch.manual_seed(0)
    step_module = TrainStep(CISNet(CISNetConfig(encoder=encoder)), "glacier").to(dev)
    step_module = step_module.to(memory_format=torch.channels_last)
    runner = torch.compile(step_module) if compiled else step_module
    opt = torch.optim.Adam(step_module.parameters(), lr=1e-4)
    x1 = torch.randn(batch, 1, patch, patch, device=dev).to(memory_format=torch.channels_last)
    x2 = torch.randn(batch, 1, patch, patch, device=dev).to(memory_format=torch.channels_last)
    z1 = torch.randint(0, 4, (batch, patch, patch), device=dev)
    z2 = torch.randint(0, 4, (batch, patch, patch), device=dev)
    amp = precision == "bf16"
    timings = []
    for i in range(steps + 2):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = runner(x1, z1, x2, z2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(step_module.parameters(), 1.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            timings.append(time.perf_counter() - t0)
    seconds = sum(timings) / len(timings)
    return {
        "encoder": encoder,
        "precision": precision,
        "compiled": compiled,
        "device": str(dev),
        "batch": batch,
        "patch": patch,
        "pairs_per_s": batch / seconds,
        "step_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoders", nargs="+", default=["atto"])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for encoder in args.encoders:
        for precision in args.precisions:
            for compiled in [False, True] if args.compile else [False]:
                rows.append(
                    measure(
                        encoder, precision, compiled, args.steps, args.batch_size, args.patch, args.device
                    )
                )
                r = rows[-1]
                print(f"{r['encoder']:6} {r['precision']:5} {'compiled' if compiled else 'eager':9} {r['device']:6} "
                      f"batch {r['batch']} @ {r['patch']} px: {r['pairs_per_s']:6.2f} pairs/s ({r['step_s']:.2f} s/step)",
                      flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

"""Parameter counts of every ConvNeXt V2 size, as encoder alone, with the ImageNet head, and as CISNet.

$ .venv/bin/python benchmarks/param_counts.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json

from glacierfront.model import ENCODER_SIZES, CISNet, CISNetConfig
from glacierfront.model.encoder import ConvNeXtV2Encoder

PUBLISHED_M = {"atto": 3.7, "femto": 5.2, "pico": 9.1, "nano": 15.6, "tiny": 28.6, "base": 89.0}


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    for size in ENCODER_SIZES:
        enc = ConvNeXtV2Encoder(size, in_channels=3)
        width = enc.widths[-1]
        with_head = count(enc) + 2 * width + 1000 * width + 1000
        cisnet = count(CISNet(CISNetConfig(encoder=size, in_channels=1)))
        rows.append(
            {
                "size": size,
                "encoder_m": count(enc) / 1e6,
                "with_imagenet_head_m": with_head / 1e6,
                "published_m": PUBLISHED_M[size],
                "deviation_pct": 100 * (with_head / 1e6 - PUBLISHED_M[size]) / PUBLISHED_M[size],
                "cisnet_1band_m": cisnet / 1e6,
            }
        )
    print(f"{'size':6} {'encoder':>9} {'+head':>9} {'published':>9} {'dev %':>7} {'CISNet':>9}")
    for r in rows:
        print(
            f"{r['size']:6} {r['encoder_m']:8.2f}M {r['with_imagenet_head_m']:8.2f}M {r['published_m']:8.1f}M "
            f"{r['deviation_pct']:+6.2f}% {r['cisnet_1band_m']:8.2f}M"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

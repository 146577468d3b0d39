"""The optical sample as the encodings users have: 8-bit, Landsat-like uint16 DN, float reflectance, and a
Sentinel-2-like 4-band stack whose band 3 is described "B3". Each goes through predict with the optical model
(default options, the sample's AOI) and is scored against the hand-drawn front in metres.

$ .venv/bin/python benchmarks/optical_inputs.py [--model optical]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from glacierfront.data import SAMPLE_OPTICAL_DIR
from glacierfront.evaluate import evaluate_vectors
from glacierfront.io.vector_files import write_lines
from glacierfront.model.backend import load_backend, model_path
from glacierfront.predict import LINE_SCHEMA, PredictOptions, predict_scene


def variants(source: Path, folder: Path) -> dict[str, Path]:
    with rasterio.open(source) as src:
        image, profile = src.read(1).astype(np.float64), src.profile
    noise = np.random.default_rng(0).uniform(0.0, 0.3, image.shape)
    data = {
        "uint8 (as trained)": [image.astype(np.uint8)],
        "uint16 DN (v*40+7000)": [(image * 40 + 7000).astype(np.uint16)],
        "float reflectance (v/255*0.6+0.02)": [(image / 255 * 0.6 + 0.02).astype(np.float32)],
        "4-band float stack, band 3 'B3'": [
            (noise + 0.05).astype(np.float32), (noise + 0.1).astype(np.float32),
            (image / 255 * 0.6 + 0.02).astype(np.float32), (noise + 0.2).astype(np.float32),
        ],
    }  # fmt: skip
    paths = {}
    for k, (name, bands) in enumerate(data.items()):
        path = folder / f"v{k}.tif"
        meta = {**profile, "count": len(bands), "dtype": bands[0].dtype.name, "nodata": None}
        with rasterio.open(path, "w", **meta) as dst:
            for i, band in enumerate(bands, start=1):
                dst.write(band, i)
                dst.set_band_description(i, f"B{i}" if len(bands) > 1 else "")
            dst.update_tags(**src_tags(source))
        paths[name] = path
    return paths


def src_tags(source: Path) -> dict[str, str]:
    with rasterio.open(source) as src:
        return src.tags()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="optical")
    args = parser.parse_args()
    backend = load_backend(model_path(args.model), "cpu")
    source = next(SAMPLE_OPTICAL_DIR.glob("*.tif"))
    print("| input | read as | MDE (m) | median (m) | no front |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in variants(source, Path(tmp)).items():
            result = predict_scene(path, backend, PredictOptions(aoi=SAMPLE_OPTICAL_DIR / "aoi.gpkg"))
            if not result.lines:
                print(f"| {name} | {result.scaling_note} | - | - | 1 |")
                continue
            out = Path(tmp) / f"{path.stem}.gpkg"
            write_lines(out, result.records(), result.crs, LINE_SCHEMA)
            score = evaluate_vectors(out, SAMPLE_OPTICAL_DIR / "reference_front.gpkg", match="all")
            print(f"| {name} | {result.scaling_note} | {score['mde']:.1f} | {score['median']:.1f} | 0 |")


if __name__ == "__main__":
    main()

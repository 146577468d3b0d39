"""The one real, full-size scene with a known front: Harald Moltke Brae (``../shared/data/hmb``).

A 30 m Landsat basemap (UTM 20N, uint16), the glacier's rectilinear box (EPSG:3413, no ``upstream`` field:
the README says the glacier flows east to west, so its upstream end is east) and the 2021-09-27 front line,
which the basemap's front coincides with. Each model runs through ``predict_scene`` three ways, as a user
would: the whole scene without an AOI (CaFFe's rule), the box as ``--aoi`` with CaFFe's rule, and the box
with its upstream end (the box rule, ``fronts_box``); each is scored by ``evaluate_vectors`` against that
line, in ground metres.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

BASEMAP = "basemap/harald_moltke_brae.tif"
BOX = "box/harald_moltke_brae.shp"
REFERENCE = "lines/harald_moltke_brae/20210927/harald_moltke_brae_20210927.shp"
UPSTREAM = "E"
VARIANTS = (
    ("whole scene, CaFFe rule", dict(front_rule="caffe"), False),
    ("box as --aoi, CaFFe rule", dict(front_rule="caffe"), True),
    ("box + upstream E, box rule", dict(front_rule="box", upstream=UPSTREAM), True),
)


def score_hmb(folder: Path, backend: Any, name: str | None = None) -> list[dict[str, Any]]:
    """One row per variant: MDE and median (m), number and length of lines, their quality flags."""
    from glacierfront.evaluate.realscene import predict_and_score
    from glacierfront.predict import PredictOptions

    rows = []
    with tempfile.TemporaryDirectory(prefix="glacierfront-hmb-") as tmp:
        for label, extra, boxed in VARIANTS:
            options = PredictOptions(aoi=folder / BOX if boxed else None, **extra)
            pred = Path(tmp) / f"pred{len(rows)}.gpkg"
            _, records, scored = predict_and_score(
                folder / BASEMAP, backend, options, folder / REFERENCE, pred
            )
            rows.append(
                {
                    "model": name or backend.label,
                    "variant": label,
                    "mde_m": scored["mde"],
                    "median_m": scored["median"],
                    "lines": len(records),
                    "length_km": sum(r[1]["length_m"] or 0 for r in records) / 1000,
                    "quality": sorted({r[1]["quality"] for r in records}),
                    "confidence": [r[1]["confidence"] for r in records],
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | how | MDE (m) | median (m) | lines | length (km) | quality |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mde = "no front" if r["mde_m"] is None else f"{r['mde_m']:.0f}"
        median = "-" if r["median_m"] is None else f"{r['median_m']:.0f}"
        quality = ", ".join(r["quality"]) or "-"
        lines.append(
            f"| {r['model']} | {r['variant']} | {mde} | {median} | {r['lines']} | {r['length_km']:.2f} | {quality} |"
        )
    return "\n".join(lines) + "\n"

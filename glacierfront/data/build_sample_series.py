"""Build the sample series: real CaFFe images of one glacier and one satellite track, on one nominal grid.

$ .venv/bin/python -m glacierfront.data.build_sample_series --caffe ../shared/data/caffe256

Eight TerraSAR-X images of Jakobshavn Isbrae (track 6_1_005, 2009-2015) from caffe256, each written as
``build_sample`` writes the sample scene (EPSG:3413, centre 69.17 N 49.93 W, 60 m, all NOMINAL), so the
images of the track share a grid and their fronts form a series; ``reference_fronts.gpkg`` holds their
labelled fronts (fields scene, date) and ``box.gpkg`` a rectilinear box along the glacier trunk with
``upstream`` E, for ``series`` and ``review``. It is the bundled sample run of ``glacierfront review``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import fiona
import numpy as np
import shapely
from shapely.geometry import box, mapping

from glacierfront.data import SAMPLE_SERIES_DIR
from glacierfront.data.build_sample import CRS, write_scene
from glacierfront.io.caffe import read_png
from glacierfront.io.frontlines import front_mask_to_lines
from glacierfront.io.vector_files import write_lines

NAMES = [
    "JAC_2009-04-16_TSX_6_1_005",
    "JAC_2009-12-03_TSX_6_1_005",
    "JAC_2010-11-09_TSX_6_1_005",
    "JAC_2011-07-20_TSX_6_1_005",
    "JAC_2012-02-14_TSX_6_1_005",
    "JAC_2013-09-08_TSX_6_1_005",
    "JAC_2014-01-29_TSX_6_1_005",
    "JAC_2015-02-07_TSX_6_1_005",
]
CENTRE = (-49.93, 69.17)  # lon, lat of the sample scene's centre (nominal)
SPACING_M = 60.0
# The box along the trunk, in pixels of the 256 grid (col0, row0, col1, row1): every front of the track
# crosses it from side to side, the glacier lies east (upstream E).
BOX_PX = (40, 110, 236, 190)
SOURCE = "CaFFe via caffe256 (CC BY 4.0); georeferencing and spacing are nominal"


def _image(caffe: Path, name: str, kind: str) -> np.ndarray:
    for split in ("train", "test", "val"):
        suffix = {"sar_images": "", "fronts": "_front"}[kind]
        path = caffe / kind / split / f"{name}{suffix}.png"
        if path.is_file():
            return read_png(path)
    raise SystemExit(f"{name}: not in {caffe}/{kind}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--caffe", type=Path, required=True, help="caffe256 folder")
    parser.add_argument("--out", type=Path, default=SAMPLE_SERIES_DIR)
    args = parser.parse_args()
    records = []
    for name in NAMES:
        date, sensor = name.split("_")[1], name.split("_")[2]
        transform = write_scene(_image(args.caffe, name, "sar_images"), name, date, sensor, SOURCE, CENTRE,
                                SPACING_M, args.out)  # fmt: skip
        lines = front_mask_to_lines(_image(args.caffe, name, "fronts") > 0)
        mapped = shapely.transform(lines, lambda xy, t=transform: np.column_stack(t * (xy[:, 0], xy[:, 1])))
        records += [(p, {"scene": name, "date": date}) for p in getattr(mapped, "geoms", [mapped])]
    write_lines(args.out / "reference_fronts.gpkg", records, CRS, {"scene": "str", "date": "str"})
    col0, row0, col1, row1 = BOX_PX
    outline = shapely.transform(box(col0, row0, col1, row1),
                                lambda xy: np.column_stack(transform * (xy[:, 0], xy[:, 1])))  # fmt: skip
    schema = {"geometry": "Polygon", "properties": {"glacier_id": "str", "upstream": "str"}}
    with fiona.open(args.out / "box.gpkg", "w", driver="GPKG", crs=CRS, schema=schema) as dst:
        dst.write({"geometry": mapping(outline), "properties": {"glacier_id": "JAC", "upstream": "E"}})
    print(f"wrote {args.out}: {len(NAMES)} scenes, reference_fronts.gpkg ({len(records)} lines), box.gpkg")


if __name__ == "__main__":
    main()

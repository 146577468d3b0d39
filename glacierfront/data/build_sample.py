"""Build a demo scene from one labelled image: an 8-bit GeoTIFF in EPSG:3413, its reference front and AOI.

$ .venv/bin/python -m glacierfront.data.build_sample --caffe ../shared/data/caffe256 \
      --name JAC_2013-09-08_TSX_6_1_005 --lon -49.93 --lat 69.17 --spacing 60
$ .venv/bin/python -m glacierfront.data.build_sample --frontlines ../shared/data/frontlearning \
      --name LE07_L1TP_009011_20000805_20170210_01_T1_B2 --lon -49.93 --lat 69.17 --spacing 60 \
      --out glacierfront/data/sample_optical

Neither caffe256 images nor FrontLearning chips carry georeferencing (both were resampled; the chips are also
rotated), so the location (the scene centre put near the glacier's real front) and the pixel spacing are
NOMINAL: good enough to exercise CRS handling and metre units, not for science. The AOI is the CaFFe
bounding box where there is one, else the front's extent plus 16 px (how caffe256 made its boxes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from shapely.geometry import box

from glacierfront.data import SAMPLE_DIR
from glacierfront.io.caffe import read_bbox, read_png
from glacierfront.io.frontlines import front_box, front_mask_to_lines
from glacierfront.io.vector_files import write_lines

CRS = "EPSG:3413"  # NSIDC polar stereographic north, the usual grid for Greenland glaciers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--caffe", type=Path, help="caffe256 folder")
    source.add_argument("--frontlines", type=Path, help="FrontLearning folder (images/, fronts/)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--lon", type=float, required=True, help="scene centre longitude (nominal)")
    parser.add_argument("--lat", type=float, required=True, help="scene centre latitude (nominal)")
    parser.add_argument("--spacing", type=float, default=60.0, help="nominal pixel spacing in metres")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args()

    if args.caffe is not None:
        image = read_png(args.caffe / "sar_images" / "train" / f"{args.name}.png")
        front = read_png(args.caffe / "fronts" / "train" / f"{args.name}_front.png") > 0
        row0, row1, col0, col1 = read_bbox(
            args.caffe / "bounding_boxes" / f"{args.name}_bbox.txt", image.shape
        )
        date, sensor = args.name.split("_")[1], args.name.split("_")[2]
        source = "CaFFe via caffe256 (CC BY 4.0); georeferencing and spacing are nominal"
    else:
        image = read_png(args.frontlines / "images" / f"{args.name}.png")
        front = read_png(args.frontlines / "fronts" / f"{args.name}_front.png") > 0
        row0, row1, col0, col1 = front_box(front)
        stamp = args.name.split("_")[3]
        date, sensor = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}", args.name.split("_")[0]
        source = ("FrontLearning (Mohajerani et al. 2019, MIT); Landsat courtesy of the U.S. Geological Survey; "
                  "chip rotated, georeferencing and spacing are nominal")  # fmt: skip
    transform = write_scene(
        image, args.name, date, sensor, source, (args.lon, args.lat), args.spacing, args.out
    )

    def to_map(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(transform * (xy[:, 0], xy[:, 1])))

    ref = to_map(front_mask_to_lines(front))
    parts = list(getattr(ref, "geoms", [ref]))
    write_lines(args.out / "reference_front.gpkg", [(p, {"scene": args.name}) for p in parts], CRS,
                {"scene": "str"})  # fmt: skip
    aoi = to_map(box(col0, row0, col1, row1))
    import fiona

    with fiona.open(args.out / "aoi.gpkg", "w", driver="GPKG", crs=CRS,
                    schema={"geometry": "Polygon", "properties": {"name": "str"}}) as dst:  # fmt: skip
        name = "CaFFe bounding box" if args.caffe is not None else "front extent + 16 px"
        dst.write({"geometry": shapely.geometry.mapping(aoi), "properties": {"name": name}})
    print(f"wrote {args.out}: scene, reference_front.gpkg ({len(parts)} lines), aoi.gpkg")


def write_scene(image, name: str, date: str, sensor: str, source: str, centre: tuple[float, float],
                spacing: float, out: Path):  # fmt: skip
    """Write ``image`` as OUT/NAME.tif, an 8-bit GeoTIFF in EPSG:3413 centred on ``centre`` (lon, lat) at
    ``spacing`` metres (nominal), with its date, sensor and source as tags; returns its affine transform."""
    h, w = image.shape
    (x,), (y,) = warp_transform("EPSG:4326", CRS, [centre[0]], [centre[1]])
    transform = from_origin(x - w / 2 * spacing, y + h / 2 * spacing, spacing, spacing)
    out.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs=CRS, transform=transform,
                   compress="deflate", tiled=False)  # fmt: skip
    with rasterio.open(out / f"{name}.tif", "w", **profile) as dst:
        dst.write(image, 1)
        dst.update_tags(ACQUISITION_DATE=date, SENSOR=sensor, SOURCE=source)
    return transform


if __name__ == "__main__":
    main()

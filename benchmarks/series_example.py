"""A worked `glacierfront series` example on the demo scene: shifted copies of Jakobshavn's front.

$ .venv/bin/python benchmarks/series_example.py [--out DIR]

The reference front of glacierfront/data/sample (EPSG:3413, nominal georeferencing: see its README) is
copied with different dates in the file names (CaFFe style, JAC_YYYY-MM-DD_TSX_6_1_005.gpkg), each moved
along the tongue (grid x) by a known distance; one copy has a 700 m piece cut out of the tongue where it
crosses the box (flagged partial). A 13.5 km x 2 km box is drawn by hand along the tongue, with the glacier
to the EAST (upstream E): the sample's zones put glacier east of the front and ocean west of it (predict's
--zones on the sample, classes 2 and 3 either side of the front along the box), as at the real Jakobshavn,
which flows west into its fjord. So a shift towards +x (east, into the glacier) is a retreat, negative
change_m. The script runs `glacierfront series` on the folder, prints the CSV and the expected change of
each front (minus its shift, in ground metres on the ellipsoid: a grid metre of EPSG:3413 at 69.2 N is
0.9973 ground metres), and leaves series.csv and series.png in DIR (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import fiona
from rasterio.crs import CRS
from shapely import affinity
from shapely.geometry import LineString, box, shape

from glacierfront.geodesy import ground_lengths_m
from glacierfront.io.vector_files import write_lines

SAMPLE = Path(__file__).resolve().parent.parent / "glacierfront" / "data" / "sample"
EPSG_3413 = CRS.from_epsg(3413)
# Along the tongue, from the fjord (west) into the glacier (east); the front's tip crosses it near x = -192 km.
BOX = box(-203_000, -2_276_000, -189_500, -2_274_000)
UPSTREAM = "E"  # from the front into the glacier
# (date, shift in grid metres along +x: upstream, i.e. retreat)
SHIFTS = (
    ("2013-09-08", 0.0),
    ("2013-12-10", 100.0),
    ("2014-03-15", 250.0),
    ("2014-06-01", 400.0),
    ("2014-08-20", -150.0),
)
PARTIAL = ("2014-10-05", -300.0)  # moved 300 m west (advance), with a 700 m gap where it crosses the box
GAP = box(-195_000, -2_275_400, -185_000, -2_274_700)


def reference_front() -> LineString:
    with fiona.open(SAMPLE / "reference_front.gpkg") as src:
        return shape(next(iter(src)).geometry)


def make_inputs(folder: Path) -> tuple[Path, Path]:
    fronts = folder / "fronts"
    fronts.mkdir(parents=True, exist_ok=True)
    line = reference_front()
    for date, dx in (*SHIFTS, PARTIAL):
        moved = affinity.translate(line, dx, 0.0)
        if (date, dx) == PARTIAL:
            moved = moved.difference(GAP)
        parts = list(getattr(moved, "geoms", [moved]))
        name = f"JAC_{date}_TSX_6_1_005"
        write_lines(fronts / f"{name}.gpkg", [(p, {"scene": name}) for p in parts], EPSG_3413)
    box_path = folder / "box.gpkg"
    with fiona.open(
        box_path,
        "w",
        driver="GPKG",
        crs=fiona.crs.CRS.from_epsg(3413),
        schema={"geometry": "Polygon", "properties": {"glacier_id": "str", "upstream": "str"}},
    ) as sink:
        sink.write(
            {
                "geometry": {"type": "Polygon", "coordinates": [list(BOX.exterior.coords)]},
                "properties": {"glacier_id": "JAC", "upstream": UPSTREAM},
            }
        )
    return fronts, box_path


def expected_change_m(dx: float) -> float:
    """The change a grid shift of ``dx`` along +x makes: its ground length at the front's tip inside the box,
    negative for dx > 0 (east, into the glacier: retreat)."""
    x, y = -192_000.0, -2_275_000.0
    (ground,) = ground_lengths_m([LineString([(x, y), (x + abs(dx), y)])], EPSG_3413)
    return -ground if dx > 0 else ground


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Folder for the inputs and outputs.")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="series_example_"))
    fronts, box_path = make_inputs(out)
    csv_path, png_path = out / "series.csv", out / "series.png"
    command = [
        sys.executable, "-m", "glacierfront", "series", str(fronts), "--box", str(box_path),
        "-o", str(csv_path), "--plot", str(png_path), "--overwrite",
    ]  # fmt: skip
    print("$ glacierfront " + " ".join(command[3:]), file=sys.stderr)
    subprocess.run(command, check=True)
    print(csv_path.read_text(), end="")
    print("\nexpected change_m (minus each shift, in ground metres: + east = retreat):")
    for date, dx in (*SHIFTS, PARTIAL):
        print(f"  {date}: shift {dx:+.0f} grid m -> {expected_change_m(dx):+.2f} m")
    print(f"\nwrote {csv_path} and {png_path}")


if __name__ == "__main__":
    main()

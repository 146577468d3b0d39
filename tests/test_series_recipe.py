"""The documented series recipe and worked example, run on the bundled sample: the recipe's fronts cut the
box (ok rows, not partial), and its upstream end is the side the sample's own zones put the glacier on."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import shlex
from pathlib import Path

import fiona
import numpy as np
import pytest
import rasterio
from fiona.crs import CRS
from shapely.geometry import LineString, mapping

from glacierfront.cli import main
from glacierfront.data import SAMPLE_DIR
from glacierfront.model.backend import default_model_path, load_backend
from glacierfront.predict import PredictOptions, predict_scene
from glacierfront.series import OK, box_series, read_boxes, read_fronts

ROOT = Path(__file__).resolve().parent.parent
SCENE = SAMPLE_DIR / "JAC_2013-09-08_TSX_6_1_005.tif"
GLACIER, OCEAN = 2, 3  # zone classes (predict --zones)


def example():
    """benchmarks/series_example.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("series_example", ROOT / "benchmarks" / "series_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Front time series\n")
    return text[start : text.index("\n## ", start + 1)]


def recipe(text: str) -> tuple[list[str], list[str]]:
    """The arguments of the recipe's predict command and of the series command after it."""
    lines = [line.strip().removeprefix("$ ") for line in text.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith("glacierfront predict scenes/"))
    series = next(line for line in lines[at + 1 :] if line.startswith("glacierfront series fronts/"))
    return shlex.split(lines[at])[1:], shlex.split(series)[1:]


@pytest.fixture(scope="module")
def sample_zones(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zones") / "zones.tif"
    predict_scene(SCENE, load_backend(default_model_path()), PredictOptions(), zones_path=path)
    return path


def glacier_side(zones_path: Path) -> str:
    """E or W: the side of the front the sample's predicted zones put glacier on, along the example's box."""
    box = example().BOX
    x0, y0, x1, y1 = box.bounds
    y = (y0 + y1) / 2
    with fiona.open(SAMPLE_DIR / "reference_front.gpkg") as src:
        front = LineString(next(iter(src)).geometry["coordinates"])
    crossing = LineString([(x0, y), (x1, y)]).intersection(front)
    xc = float(np.mean([p.x for p in getattr(crossing, "geoms", [crossing])]))
    with rasterio.open(zones_path) as src:
        zones = src.read(1)

        def classes(xa: float, xb: float) -> np.ndarray:
            cols = [~src.transform @ (x, y) for x in np.linspace(xa, xb, 20)]
            return np.array([zones[int(r), int(c)] for c, r in cols])

        west, east = classes(xc - 1500, xc - 300), classes(xc + 300, xc + 1500)
    assert (west == OCEAN).mean() > 0.8 or (east == OCEAN).mean() > 0.8, "no ocean beside the front"
    return "E" if (east == GLACIER).mean() > (west == GLACIER).mean() else "W"


def test_the_sample_glacier_lies_east_and_the_example_and_readme_say_so(sample_zones, tmp_path):
    side = glacier_side(sample_zones)
    assert side == "E"  # Jakobshavn flows west into its fjord
    ex = example()
    fronts, box_path = ex.make_inputs(tmp_path)
    (box,) = read_boxes(box_path)
    assert box.upstream == side
    commands = [line for line in readme_section().splitlines() if line.strip().startswith("glacierfront ")]
    assert re.findall(r"--upstream (\w+)", "\n".join(commands)) == [side, side]
    # So a shift east (into the glacier) is a retreat, and the docs' example prints negative changes.
    rows = {r.date.isoformat(): r for r in box_series(read_fronts([fronts]), [box]).rows}
    assert rows["2013-12-10"].quality == OK
    assert rows["2013-12-10"].change_m == pytest.approx(ex.expected_change_m(100.0), abs=0.02)
    assert ex.expected_change_m(100.0) == pytest.approx(-99.73, abs=0.01)
    assert "-99.74 m for a retreat of 99.73" in readme_section()


def write_recipe_box(path: Path) -> Path:
    """The example's box, as a recipe user would draw it: glacier id JAC, no upstream field."""
    with fiona.open(
        path, "w", driver="GPKG", crs=CRS.from_epsg(3413),
        schema={"geometry": "Polygon", "properties": {"glacier_id": "str"}},
    ) as sink:  # fmt: skip
        sink.write({"geometry": mapping(example().BOX), "properties": {"glacier_id": "JAC"}})
    return path


@pytest.mark.parametrize("doc", ["README.md", "docs/series.md"])
def test_the_documented_recipe_gives_complete_rows_on_the_sample(doc, tmp_path, capsys):
    text = readme_section() if doc == "README.md" else (ROOT / doc).read_text(encoding="utf-8")
    predict_args, series_args = recipe(text)
    files = {
        "scenes/*.tif": str(SCENE),
        "fronts/": f"{tmp_path / 'fronts'}/",
        "box.gpkg": str(write_recipe_box(tmp_path / "box.gpkg")),
        "fjord.gpkg": str(SAMPLE_DIR / "aoi.gpkg"),  # the sample's own AOI, larger than the box
        "series.csv": str(tmp_path / "series.csv"),
        "series.png": str(tmp_path / "series.png"),
    }
    assert main([files.get(a, a) for a in predict_args]) == 0
    assert main([files.get(a, a) for a in series_args]) == 0, capsys.readouterr().err
    (row,) = csv.DictReader(io.StringIO((tmp_path / "series.csv").read_text()))
    assert (row["glacier_id"], row["quality"], row.get("note")) == ("JAC", OK, "")
    assert float(row["coverage"]) >= 0.9
    # A front clipped at the box's edge does not cut the box: the recipe's AOI must not be the box.
    assert predict_args[predict_args.index("--aoi") + 1] != series_args[series_args.index("--box") + 1]

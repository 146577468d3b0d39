"""benchmarks/fewshot_realscene.py --combine: one table over glaciers, one row per k, rule and fine-tune recipe."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench():
    """The benchmark as a module (benchmarks/ is no package)."""
    path = ROOT / "benchmarks" / "fewshot_realscene.py"
    spec = importlib.util.spec_from_file_location("fewshot_realscene", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(glacier, k, recipe, mde, cases=64, no_front=0, rule="caffe"):
    out = {"glacier": glacier, "k": k, "train": [], "rule": rule, "family": "pooled", "cases": cases}
    out.update({"mde_px": mde, "no_front": no_front})
    if recipe is not None:
        out["recipe"] = recipe
    return out


def write(path: Path, rows) -> Path:
    path.write_text(json.dumps(rows))
    return path


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """{(k, recipe): cells} of the caffe rows of a combined table."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[0] == "caffe":
            out[(cells[1], cells[2])] = cells[3:]
    return out


def test_combine_gives_each_recipe_its_own_row_and_k0_one(tmp_path):
    module = bench()
    zoom = "300 steps, frozen encoder, zoom 0.5-2"
    plain = write(
        tmp_path / "a.json",
        [row("JAC", 0, "-", 40.0), row("JAC", 5, "300 steps, frozen encoder", 20.0)],
    )
    zoomed = write(tmp_path / "b.json", [row("JAC", 0, "-", 40.0), row("JAC", 5, zoom, 10.0)])
    other = write(
        tmp_path / "c.json", [row("SI", 0, "-", 30.0), row("SI", 5, zoom, 30.0, cases=32, no_front=16)]
    )
    rows = table_rows(module.combine([plain, zoomed, other]))
    assert set(rows) == {("0", "-"), ("5", "300 steps, frozen encoder"), ("5", zoom)}
    # The zoom recipe pools JAC (64 fronts at 10 px) and SI (16 fronts at 30 px) case by case: 14 px.
    assert rows[("5", zoom)] == ["10.00 / 0", "30.00 / 16", "**14.00** / 16"]
    assert rows[("5", "300 steps, frozen encoder")] == ["20.00 / 0", "-", "**20.00** / 0"]


def test_rows_written_before_recipes_were_stored_read_as_the_default_recipe(tmp_path):
    module = bench()
    old = write(tmp_path / "old.json", [row("JAC", 0, None, 40.0), row("JAC", 5, None, 20.0)])
    rows = table_rows(module.combine([old]))
    assert set(rows) == {("0", "-"), ("5", "300 steps, frozen encoder")}


def test_recipe_text_names_what_differs_from_the_default():
    module = bench()
    ft = module.ft
    assert module.recipe_text(ft.FinetuneOptions(steps=300)) == "300 steps, frozen encoder"
    options = ft.FinetuneOptions(
        steps=600, scale_aug=[0.5, 2.0], intensity_aug=True, view_aug=True, freeze_encoder=False
    )
    assert module.recipe_text(options) == "600 steps, all weights, zoom 0.5-2, intensity aug, partial views"


def test_combine_can_show_one_framing_family(tmp_path):
    module = bench()
    rows = [row("JAC", 5, "300 steps, frozen encoder", 20.0), {**row("JAC", 5, "300 steps, frozen encoder", 35.0),
            "family": "crop", "cases": 16}]  # fmt: skip
    path = write(tmp_path / "a.json", rows)
    text = module.combine([path], "crop")
    assert "framing crop" in text
    assert table_rows(text)[("5", "300 steps, frozen encoder")] == ["35.00 / 0", "**35.00** / 0"]
    assert table_rows(module.combine([path]))[("5", "300 steps, frozen encoder")] == [
        "20.00 / 0",
        "**20.00** / 0",
    ]

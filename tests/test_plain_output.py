"""Output that is not a terminal (a pipe, a file, a log) is plain text: one line per record, nothing cut.

capsys stands in for the pipe: neither captured stream is a terminal, and rich would lay them out 80 columns
wide. Every name here is longer than that on purpose.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from fakes import glacier_scene, threshold_model
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from glacierfront.cli import main
from glacierfront.cli import options as opt
from glacierfront.io.vector_files import write_lines

SAMPLE = Path(__file__).parent / "data" / "caffe256_sample"
LONG_SCENE = "S1A_IW_GRDH_1SDH_20200105T101112_20200105T101137_030653_0383C6_ABCD_Jakobshavn_Isbrae_terminus"
LONG_MODEL = "cisnet-atto-caffe256-finetuned-on-jakobshavn-2019-2021-winter-and-summer-v3"


@pytest.fixture(scope="module")
def long_model(tmp_path_factory) -> Path:
    return threshold_model(tmp_path_factory.mktemp("model") / f"{LONG_MODEL}.onnx")


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_nothing_cut(text: str) -> None:
    assert "…" not in text and "..." not in text.replace("57..63", ""), text


def test_the_plain_console_writes_a_long_line_whole(capsys):
    line = "x" * 50 + " " + LONG_SCENE + ": 1 front line(s), 26.45 km, 256 x 256 px in 0.2 s"
    opt.console().print(line)
    opt.console(stderr=False).print(line)
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == line + "\n"
    opt.console(quiet=True).print(line)
    assert capsys.readouterr().err == ""


def test_a_table_on_a_terminal_keeps_its_look():
    screen = io.StringIO()
    table = Table(title="t")
    table.add_column("name")
    table.add_row("a")
    opt.print_table(table, Console(file=screen, force_terminal=True, width=80))
    assert "┏" in screen.getvalue() and "\t" not in screen.getvalue()


def test_a_piped_table_is_tab_separated_rows_with_markup_taken_as_rich_takes_it(capsys):
    table = Table(title="per scene", caption="ocean rule: largest")
    table.add_column("scene")
    table.add_column("status")
    table.add_row(escape("glacierfront[dask]"), "[red]no front[/]")  # the commands escape names
    table.add_row("a\tb", "two\nlines")
    opt.print_table(table)
    out = capsys.readouterr().out
    assert out == (
        "# per scene\nscene\tstatus\nglacierfront[dask]\tno front\na b\ttwo lines\n# ocean rule: largest\n"
    )


def test_predict_says_each_scenes_summary_on_one_line_in_a_log(tmp_path, long_model, capsys):
    scene = glacier_scene(tmp_path / f"{LONG_SCENE}.tif", height=120, width=40, front_col=20, rock_rows=20)
    code, _, err = run(capsys, "predict", scene, "-o", tmp_path / "fronts.gpkg", "--model", long_model)
    assert code == 0, err
    summaries = [line for line in err.splitlines() if line.startswith(f"{LONG_SCENE}.tif: ")]
    assert any(" px in " in line for line in summaries), err
    assert any(line.startswith("model ") and LONG_MODEL in line for line in err.splitlines()), err
    assert_nothing_cut(err)


def test_evaluate_piped_gives_each_scene_one_whole_row(tmp_path, capsys):
    from shapely.geometry import LineString

    lines = [(LineString([(500_000 + 10 * i, 8_700_000), (502_000, 8_700_000 + i)]), f"{LONG_SCENE}_{i}") for i in range(3)]  # fmt: skip
    schema = {"scene": "str", "date": "str"}
    pred = write_lines(
        tmp_path / "p.gpkg", [(g, {"scene": s, "date": ""}) for g, s in lines], "EPSG:32633", schema
    )
    ref = write_lines(
        tmp_path / "r.gpkg", [(g, {"scene": s, "date": ""}) for g, s in lines], "EPSG:32633", schema
    )
    code, out, err = run(capsys, "evaluate", pred, "--ref", ref, "--spacing", "5")
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines() if line.startswith(LONG_SCENE)]
    assert [row[0] for row in rows] == [f"{LONG_SCENE}_{i}" for i in range(3)]
    assert all(len(row) == 7 and row[2] == "0.00" for row in rows), out
    assert_nothing_cut(out)


def test_evaluate_caffe_mode_says_the_model_on_one_line_in_a_log(tmp_path, long_model, capsys):
    args = ("evaluate", "--data", SAMPLE, "--split", "train", "--pixels", "--model", long_model, "--floor")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert any(line.startswith("model ") and f"{LONG_MODEL}.onnx" in line for line in err.splitlines()), err
    assert any(line.startswith(f"{LONG_MODEL}.onnx\t3\t") for line in out.splitlines()), out
    assert_nothing_cut(err + out)


def test_models_piped_lists_each_model_on_one_line_with_its_whole_file_name(tmp_path, long_model, monkeypatch, capsys):  # fmt: skip
    shutil.copy(long_model, tmp_path / f"{LONG_MODEL}.onnx")
    entry = {
        "file": f"{LONG_MODEL}.onnx",
        "sensors": "SAR amplitude on glaciers outside caffe256",
        "card": "README.md",
    }
    (tmp_path / "catalog.json").write_text(json.dumps({"default": "sar", "models": {"sar": entry}}))
    monkeypatch.setattr("glacierfront.model.backend.MODELS_DIR", tmp_path)
    code, out, err = run(capsys, "models")
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("#")]
    assert rows[0] == ["name", "sensors", "spacing (m)", "bands picked by name", "file", "card"]
    assert rows[1][0] == "sar (default)" and rows[1][4] == f"{LONG_MODEL}.onnx" and len(rows) == 2
    assert_nothing_cut(out)


def test_info_piped_shows_the_whole_sha256_on_one_line(long_model, capsys):
    from glacierfront.io.checksum import sha256_file

    code, out, err = run(capsys, "info", long_model)
    assert code == 0, err
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert all(line.count("\t") == 1 for line in lines), out  # a key and its whole value on each line
    rows = dict(line.split("\t") for line in lines)
    assert rows["sha256"] == sha256_file(long_model) and rows["path"] == str(long_model)
    assert out.splitlines()[0] == f"# {long_model}"
    assert_nothing_cut(out)

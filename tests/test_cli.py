"""The command line: help everywhere, version, info/export, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glacierfront import __version__
from glacierfront.cli import app, main
from glacierfront.errors import GlacierfrontError


def command_names() -> list[str]:
    return sorted(cmd.name for cmd in app.registered_commands)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"glacierfront {__version__}"


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_with_an_example(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and f"glacierfront {name}" in out


def test_export_then_info_json(atto_checkpoint, tmp_path, capsys):
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(atto_checkpoint[0]), "-o", str(onnx_path)]) == 0
    capsys.readouterr()
    assert main(["info", str(onnx_path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["kind"] == "onnx"
    assert facts["config"]["encoder"] == "atto"
    assert facts["training_data"] == "test fixture"
    assert len(facts["sha256"]) == 64


def test_info_table_for_checkpoint(atto_checkpoint, capsys):
    assert main(["info", str(atto_checkpoint[0])]) == 0
    out = capsys.readouterr().out
    assert "atto" in out and "glacier" in out and "resumable" in out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cut.pt", b"PK\x03\x04" + b"\0" * 50, "cut.pt: "),
        ("notes.onnx", b"these are not weights", "notes.onnx: not a readable ONNX model"),
        ("scene.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "scene.png: not a model file"),
    ],
)
def test_bad_model_files_give_one_line_error(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glacierfront: error: ") and message in err
    assert err.count("\n") == 1


def test_export_to_unwritable_place_writes_nothing(atto_checkpoint, tmp_path, capsys):
    assert main(["export", str(atto_checkpoint[0]), "-o", str(tmp_path / "no" / "m.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_console_script_error_has_no_traceback(tmp_path):
    missing = tmp_path / "missing.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "glacierfront", "export", str(missing), "-o", str(tmp_path / "x.onnx")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"glacierfront: error: {missing}: no such file"


def test_usage_error_exits_2_without_traceback(capsys):
    assert main(["export"]) == 2
    err = capsys.readouterr().err
    assert "Missing argument" in err and "Traceback" not in err


def test_listed_checksum_mismatch_refuses_to_load(atto_checkpoint, tmp_path, capsys):
    import shutil

    from glacierfront.io.checksum import sha256_file
    from glacierfront.model.backend import load_backend

    model = tmp_path / "m.pt"
    shutil.copy(atto_checkpoint[0], model)
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(model)}  m.pt\n")
    assert load_backend(model).name == "torch"
    assert main(["info", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checksum_verified"] is True
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  m.pt\n")
    assert main(["info", str(model)]) == 1
    assert "does not match" in capsys.readouterr().err


def test_a_listed_file_whose_name_holds_spaces_is_verified_too(atto_checkpoint, tmp_path):
    import shutil

    from glacierfront.io.checksum import sha256_file
    from glacierfront.model.backend import load_backend

    model = tmp_path / "my model v2.pt"
    shutil.copy(atto_checkpoint[0], model)
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(model)} *my model v2.pt\n")
    assert load_backend(model).name == "torch"
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  my model v2.pt\n")
    with pytest.raises(GlacierfrontError, match="does not match"):
        load_backend(model)


def test_export_stamps_scale_and_info_shows_it(atto_checkpoint, tmp_path, capsys):
    onnx_path, pt_path = tmp_path / "m.onnx", tmp_path / "m.pt"
    stamp = ["--resolution-m", "60", "--resolution-range", "30,120"]
    assert main(["export", str(atto_checkpoint[0]), "-o", str(onnx_path), *stamp]) == 0
    assert main(["export", str(atto_checkpoint[0]), "-o", str(pt_path), *stamp]) == 0
    capsys.readouterr()
    for path in (onnx_path, pt_path):
        assert main(["info", str(path), "--json"]) == 0
        facts = json.loads(capsys.readouterr().out)
        assert facts["resolution_m"] == 60.0 and facts["resolution_range_m"] == [30.0, 120.0]
        assert main(["info", str(path)]) == 0
        # Piped (as here), the table is one tab-separated key and value a line.
        rows = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines() if "\t" in line)
        assert "60.0" in rows["resolution_m"] and "30..120" in rows["resolution_range_m"]
    # An exported ONNX model is re-stamped without touching the graph.
    assert main(["export", str(onnx_path), "-o", str(onnx_path), "--resolution-m", "45"]) == 0
    capsys.readouterr()
    assert main(["info", str(onnx_path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["resolution_m"] == 45.0 and facts["resolution_range_m"] == [30.0, 120.0]


def test_info_says_when_a_model_states_no_scale(atto_checkpoint, capsys):
    assert main(["info", str(atto_checkpoint[0])]) == 0
    out = capsys.readouterr().out
    assert "not stated: predict keeps each scene's own grid" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resolution-range", "30"], "--resolution-range '30': give LO,HI in metres"),
        (["--resolution-m", "-1"], "--resolution-m -1: give a positive number of metres"),
        (["--resolution-m", "200", "--resolution-range", "30,120"], "lies outside resolution_range_m"),
    ],
)
def test_export_bad_scale_is_a_one_line_error(atto_checkpoint, tmp_path, capsys, extra, message):
    out = tmp_path / "m.onnx"
    assert main(["export", str(atto_checkpoint[0]), "-o", str(out), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glacierfront: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_train_takes_o_for_its_run_folder_like_the_other_commands(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "absent"), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "No such option" not in err and "absent" in err


def test_help_keeps_square_brackets_such_as_the_dask_extra(capsys):
    assert main(["predict", "--help"]) == 0
    assert "glacierfront[dask]" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
@pytest.mark.parametrize(
    ("flag", "wanted"),
    [
        ("--spacing", "give a positive number of metres, e.g. 2"),
        ("--min-length-px", "give 0 or a positive number of px, e.g. 2"),
    ],
)
def test_evaluate_numbers_that_are_not_finite_or_negative_are_one_line_errors(
    tmp_path, capsys, flag, value, wanted
):
    mode = ["--data", str(tmp_path), "--floor"] if flag == "--min-length-px" else [str(tmp_path / "p.gpkg")]
    assert main(["evaluate", *mode, f"{flag}={value}"]) == 1
    err = capsys.readouterr().err
    assert err == f"glacierfront: error: {flag} {float(value):g}: {wanted}\n"


def test_info_names_training_run_folders_without_the_training_machines_paths(
    atto_checkpoint, tmp_path, capsys
):
    from glacierfront.model import save_checkpoint

    stamped = {
        "train_config": {"data": ["/work/data/caffe256", "../shared/optical/"], "out": "/work/runs/ship-ema",
                         "init_from": "/home/me/runs/base/best.pt", "encoder_weights": None, "seed": 3},
        "finetuned_on": {"data": "/home/me/my_caffe", "k": 5},
    }  # fmt: skip
    model = tmp_path / "m.pt"
    save_checkpoint(model, atto_checkpoint[1], metadata=stamped)
    assert main(["info", str(model), "--json"]) == 0
    out = capsys.readouterr().out
    facts = json.loads(out)
    assert facts["metadata"]["train_config"] == {"data": ["caffe256", "optical"], "out": "ship-ema",
                                                 "init_from": "best.pt", "encoder_weights": None, "seed": 3}  # fmt: skip
    assert facts["finetuned_on"] == {"data": "my_caffe", "k": 5}
    assert main(["info", str(model)]) == 0
    table = capsys.readouterr().out
    assert "ship-ema" in table and "my_caffe" in table
    for text in (out, table):
        assert "/work/" not in text and "/home/me" not in text and "../shared" not in text


def test_root_help_gives_each_commands_first_line_whole(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for cmd in app.registered_commands:
        first = cmd.callback.__doc__.strip().splitlines()[0]
        assert " ".join(first.split()) in out

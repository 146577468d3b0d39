"""ONNX export: parity with torch, dynamic shapes, and metadata."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import sha256_file
from glacierfront.model.backend import load_backend
from glacierfront.model.export import INPUT_NAME, export_onnx, read_onnx_metadata


@pytest.fixture(scope="module")
def exported(atto_checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "atto.onnx"
    export_onnx(atto_checkpoint[0], path)
    return path


@pytest.mark.parametrize("shape", [(1, 1, 256, 256), (3, 1, 200, 136), (2, 1, 61, 90)])
def test_onnx_matches_torch_on_random_input(atto_checkpoint, exported, shape):
    _, model = atto_checkpoint
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x).numpy()
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    out = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-3
    assert (out.argmax(1) == ref.argmax(1)).mean() > 0.999


def test_onnx_graph_has_no_change_head_and_dynamic_axes(exported):
    proto = onnx.load(str(exported))
    assert proto.opset_import[0].version >= 17
    assert not any("change_head" in init.name for init in proto.graph.initializer)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
    assert dims[1].dim_value == 1


def test_onnx_metadata_holds_config_normalisation_and_source_checksum(atto_checkpoint, exported):
    meta = read_onnx_metadata(exported)
    assert meta["config"]["encoder"] == "atto"
    assert meta["classes"] == ["na", "rock", "glacier", "ocean"]
    assert set(meta["normalization"]) >= {"mean", "std"}
    assert meta["tile_size"] > 0
    assert meta["source_sha256"] == sha256_file(atto_checkpoint[0])


def test_old_opset_is_refused(atto_checkpoint, tmp_path):
    with pytest.raises(GlacierfrontError, match="opset 17"):
        export_onnx(atto_checkpoint[0], tmp_path / "x.onnx", opset=13)
    assert not (tmp_path / "x.onnx").exists()


def test_an_opset_beyond_the_exporter_is_one_line_before_loading(tmp_path, capsys):
    from glacierfront.cli import main

    # The checkpoint is never opened: the opset is checked first.
    assert main(["export", str(tmp_path / "absent.pt"), "-o", str(tmp_path / "x.onnx"), "--opset", "99"]) == 1
    err = capsys.readouterr().err
    assert "exports opsets up to" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_max_opset_is_the_installed_exporters():
    from torch.onnx import _constants

    from glacierfront.model.export import MAX_OPSET

    assert MAX_OPSET == _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET


def test_export_replaces_an_existing_file_only_with_overwrite(exported, tmp_path, capsys):
    from glacierfront.cli import main

    out = tmp_path / "kept.onnx"
    out.write_bytes(b"someone's model")
    assert main(["export", str(exported), "-o", str(out), "--resolution-m", "60"]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"someone's model"
    assert main(["export", str(exported), "-o", str(out), "--resolution-m", "60", "--overwrite"]) == 0
    assert read_onnx_metadata(out)["resolution_m"] == 60
    # Re-stamping a model in place rewrites only its metadata: no flag needed.
    assert main(["export", str(out), "-o", str(out), "--resolution-m", "50"]) == 0
    assert read_onnx_metadata(out)["resolution_m"] == 50


def test_onnx_without_glacierfront_metadata_is_refused(tmp_path):
    node = onnx.helper.make_node("Identity", ["a"], ["b"])
    vi = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node], "g", [vi("a", onnx.TensorProto.FLOAT, [1])], [vi("b", onnx.TensorProto.FLOAT, [1])]
    )
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    with pytest.raises(GlacierfrontError, match="other.onnx: not a glacierfront ONNX model"):
        read_onnx_metadata(path)


def test_inference_checkpoint_drops_training_state(tmp_path):
    from glacierfront.model import CISNet, CISNetConfig, load_checkpoint, save_checkpoint
    from glacierfront.model.export import export_checkpoint

    model = CISNet(CISNetConfig())
    src = save_checkpoint(tmp_path / "last.pt", model, training={"epoch": 3, "blob": torch.zeros(1000, 1000)})
    out = export_checkpoint(src, tmp_path / "ship.pt")
    shipped = load_checkpoint(out)
    assert shipped.training is None and shipped.metadata["source_sha256"] == sha256_file(src)
    assert out.stat().st_size < src.stat().st_size - 3_000_000
    assert all(torch.equal(shipped.state_dict[k], v) for k, v in model.state_dict().items())


# -- the model's scale: stamped at export, read back by everything, optional in older files ----------------


def test_export_stamps_resolution_into_onnx_and_checkpoint(atto_checkpoint, exported, tmp_path):
    from glacierfront.model import load_checkpoint
    from glacierfront.model.backend import load_backend
    from glacierfront.model.export import export_checkpoint, scale_metadata

    stamp = scale_metadata(60.0, "30,120")
    assert stamp == {"resolution_m": 60.0, "resolution_range_m": [30.0, 120.0]}
    onnx_path = export_onnx(atto_checkpoint[0], tmp_path / "m.onnx", stamp=stamp)
    meta = read_onnx_metadata(onnx_path)
    assert meta["resolution_m"] == 60.0 and meta["resolution_range_m"] == [30.0, 120.0]
    assert load_backend(onnx_path).metadata["resolution_range_m"] == [30.0, 120.0]
    pt = export_checkpoint(atto_checkpoint[0], tmp_path / "m.pt", stamp=stamp)
    assert load_checkpoint(pt).metadata["resolution_m"] == 60.0
    assert load_checkpoint(pt).metadata["resolution_range_m"] == [30.0, 120.0]
    # Without a stamp the checkpoint's own (unstated) scale is kept.
    assert read_onnx_metadata(exported)["resolution_m"] is None


def test_restamp_onnx_rewrites_metadata_only(exported, tmp_path):
    from glacierfront.model.export import restamp_onnx

    copy = tmp_path / "copy.onnx"
    restamp_onnx(exported, copy, {"resolution_m": 60.0})
    restamp_onnx(copy, copy, {"resolution_range_m": [45.0, 80.0]})  # in place, keys accumulate
    before, after = read_onnx_metadata(exported), read_onnx_metadata(copy)
    assert after == {**before, "resolution_m": 60.0, "resolution_range_m": [45.0, 80.0]}
    assert onnx.load(str(copy)).graph == onnx.load(str(exported)).graph


@pytest.mark.parametrize(
    ("resolution_m", "span", "message"),
    [
        (0.0, None, "--resolution-m 0: give a positive number"),
        (None, "30", "--resolution-range '30': give LO,HI"),
        (None, "120,30", "--resolution-range '120,30': give LO,HI"),
        (None, "a,b", "--resolution-range 'a,b': give LO,HI"),
        (200.0, "30,120", "resolution_m 200 lies outside resolution_range_m"),
    ],
)
def test_bad_scale_stamps_are_refused(atto_checkpoint, tmp_path, resolution_m, span, message):
    from glacierfront.model.export import scale_metadata

    with pytest.raises(GlacierfrontError, match=message):
        export_onnx(atto_checkpoint[0], tmp_path / "x.onnx", stamp=scale_metadata(resolution_m, span))
    assert not (tmp_path / "x.onnx").exists()


def test_files_without_scale_keys_still_load(atto_checkpoint, exported, tmp_path):
    from glacierfront.model import load_checkpoint
    from glacierfront.model.backend import load_backend
    from glacierfront.model.info import describe_model
    from glacierfront.predict import model_scale

    proto = onnx.load(str(exported))
    kept = [p for p in proto.metadata_props if not p.key.startswith("resolution")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    old_onnx = tmp_path / "old.onnx"
    onnx.save(proto, str(old_onnx))
    payload = torch.load(atto_checkpoint[0], weights_only=True)
    for key in ("resolution_m", "resolution_range_m"):
        payload["metadata"].pop(key)
    old_pt = tmp_path / "old.pt"
    torch.save(payload, old_pt)
    for path in (old_onnx, old_pt):
        backend = load_backend(path)
        assert "resolution_m" not in backend.metadata
        assert model_scale(backend) == (None, None)  # predict keeps the native grid (and warns)
        facts = describe_model(path)
        assert facts["resolution_m"] is None and facts["resolution_range_m"] is None
    assert "resolution_m" not in load_checkpoint(old_pt).metadata


def test_load_backend_gives_the_onnx_session_the_thread_count_asked_for(exported):
    # Read back from the ONNX Runtime session itself: Dask workers sharing a machine rely on it.
    assert load_backend(exported, "cpu", threads=1).threads == 1
    assert load_backend(exported, "cpu", threads=2).threads == 2
    assert load_backend(exported, "cpu").threads is None  # the runtime's default
    with pytest.raises(GlacierfrontError, match="threads 0"):
        load_backend(exported, "cpu", threads=0)

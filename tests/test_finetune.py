"""glacierfront finetune: weak labels along any direction, scenes + vector fronts as training data, the
fine-tune itself (loss, outputs, checksums, metadata, info) and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal

import fiona
import numpy as np
import pytest
import rasterio
import torch
from fakes import GLACIER as GLACIER_GREY
from fakes import caffe_folder, glacier_scene
from fiona.crs import CRS
from rasterio.warp import transform as move
from shapely.geometry import LineString, box, mapping

from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.caffe import GLACIER, IGNORE_ZONE, OCEAN, read_png, read_zones
from glacierfront.io.checksum import sha256_file
from glacierfront.io.frontlines import weak_zones
from glacierfront.model import load_checkpoint, load_model
from glacierfront.model.backend import load_backend
from glacierfront.model.export import export_checkpoint
from glacierfront.train import finetune as ft
from glacierfront.train import finetune_data as fd
from glacierfront.train.data import normalise

X, G, W = IGNORE_ZONE, GLACIER, OCEAN  # ignored, glacier, water
RES = 20.0  # scene pixel spacing (m); the base model states it, so scenes are not resampled
ORIGIN = (-200_000.0, -2_000_000.0)
SIZE = (96, 128)  # rows, cols
ROCK_ROWS = 16
FRONT_COLS = (56, 64, 72)
DATES = ("2020-01-04", "2020-02-09", "2020-03-12")


# -- weak labels ------------------------------------------------------------------------------------------
def test_weak_labels_of_a_hand_made_front():
    front = np.zeros((5, 6), bool)
    front[2, 1:5] = True  # a horizontal front over columns 1..4
    below = np.array(
        [
            [X, W, W, W, W, X],
            [X, W, W, W, W, X],
            [X, X, X, X, X, X],
            [X, G, G, G, G, X],
            [X, G, G, G, G, X],
        ]
    )
    # The glacier to the south (down the image): ocean above the line, glacier below, the rest ignored.
    assert (fd.weak_zones_along(front, fd.image_direction(180.0)) == below).all()
    assert (
        fd.weak_zones_along(front, fd.image_direction(0.0))
        == np.where(below == G, W, np.where(below == W, G, X))
    ).all()
    # A step in the line: what lies between its ends in a column is ignored too.
    front[1, 4] = True
    zones = fd.weak_zones_along(front, (1.0, 0.0))
    assert zones[0, 4] == W and zones[1, 4] == X and zones[2, 4] == X and zones[3, 4] == G
    # Depth: at most 1 px either side of the line; region: nothing outside it.
    shallow = fd.weak_zones_along(front, (1.0, 0.0), depth_px=1)
    assert shallow[4, 2] == X and shallow[3, 2] == G and shallow[1, 2] == W and shallow[0, 2] == X
    region = np.ones_like(front)
    region[:, 3:] = False
    assert (fd.weak_zones_along(front, (1.0, 0.0), region=region)[:, 3:] == X).all()


def test_weak_labels_along_rows_equal_import_fronts_and_diagonals_leave_no_gaps():
    rng = np.random.default_rng(3)
    for _ in range(20):
        front = np.zeros((24, 30), bool)
        cols = np.arange(rng.integers(0, 8), rng.integers(20, 30))
        rows = np.clip(12 + np.cumsum(rng.integers(-1, 2, cols.size)), 0, 23)
        front[rows, cols] = True
        assert (fd.weak_zones_along(front, fd.image_direction(180.0)) == weak_zones(front, "below")).all()
        assert (
            fd.weak_zones_along(front, fd.image_direction(fd.parse_glacier_side("above").bearing_deg))
            == weak_zones(front, "above")
        ).all()
    # A diagonal front, glacier to the south-west: every pixel off the line on its glacier side is glacier
    # (no strip between the ends left out), every pixel on the other side ocean.
    front = np.eye(12, dtype=bool)
    zones = fd.weak_zones_along(front, fd.image_direction(225.0))
    rows, cols = np.indices(front.shape)
    assert (zones[rows > cols] == G).all() and (zones[rows < cols] == W).all() and (zones[front] == X).all()


def test_glacier_side_values():
    assert fd.parse_glacier_side("ENE").bearing_deg == 67.5
    assert fd.parse_glacier_side("95").bearing_deg == 95.0
    assert fd.parse_glacier_side("-185000,-2105000").point == (-185000.0, -2105000.0)
    assert fd.parse_glacier_side("below").bearing_deg == 180.0
    with pytest.raises(GlacierfrontError, match="--glacier-side 'uphill'"):
        fd.parse_glacier_side("uphill")


# -- scenes and vector fronts -------------------------------------------------------------------------------
def front_line(col: int, crs: str = "EPSG:4326") -> LineString:
    """The scenes' front (the edge at column ``col`` from the rock to the bottom) in ``crs``."""
    x = ORIGIN[0] + col * RES
    ys = [ORIGIN[1] - ROCK_ROWS * RES, ORIGIN[1] - SIZE[0] * RES]
    xs, ys = move("EPSG:3413", crs, [x, x], ys)
    return LineString(zip(xs, ys, strict=True))


def write_fronts(path, records, crs="EPSG:4326"):
    schema = {"geometry": "LineString", "properties": {"date": "str"}}
    with fiona.open(path, "w", driver="GPKG", schema=schema, crs=CRS.from_user_input(crs)) as sink:
        for geom, date in records:
            sink.write({"geometry": mapping(geom), "properties": {"date": date}})
    return path


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Three small scenes (EPSG:3413, 20 m) with their fronts drawn in EPSG:4326, matched by date."""
    root = tmp_path_factory.mktemp("scenes")
    paths = [
        glacier_scene(
            root / f"S1A_{d.replace('-', '')}T101500.tif", *SIZE, front_col=c, rock_rows=ROCK_ROWS, res=RES
        )
        for c, d in zip(FRONT_COLS, DATES, strict=True)
    ]
    fronts = write_fronts(
        root / "fronts.gpkg", [(front_line(c), d) for c, d in zip(FRONT_COLS, DATES, strict=True)]
    )
    return paths, fronts


@pytest.fixture(scope="module")
def base(atto_checkpoint, tmp_path_factory):
    """The test checkpoint stating 20 m pixels, as shipped models state theirs."""
    path = tmp_path_factory.mktemp("base") / "base.pt"
    export_checkpoint(atto_checkpoint[0], path, {"resolution_m": RES, "sensors": "SAR test"})
    return path


def test_scenes_with_fronts_in_another_crs_become_weak_labels(scenes, base, tmp_path):
    paths, fronts = scenes
    # The glacier side as a point on the glacier in lon/lat (the fronts' CRS), level with the fronts' middle.
    (lon,), (lat,) = move("EPSG:3413", "EPSG:4326", [ORIGIN[0] + 10 * RES], [ORIGIN[1] - 56 * RES])
    side = fd.parse_glacier_side(f"{lon},{lat}")
    prepared = fd.scenes_to_caffe(paths, fronts, tmp_path / "d", base, fd.SceneOptions(side, depth_m=None))
    assert len(prepared.names) == 3 and prepared.warnings == []
    for name, col in zip(prepared.names, FRONT_COLS, strict=True):
        zones = read_zones(tmp_path / "d/zones/train" / f"{name}_zones.png")
        image = read_png(tmp_path / "d/sar_images/train" / f"{name}.png")
        assert zones.shape == image.shape == SIZE
        rows = slice(ROCK_ROWS, SIZE[0])
        # The line from EPSG:4326 lands on the scene's column edge: glacier left of it, ocean right of it;
        # the rock rows above the front's end are not labelled.
        assert (zones[rows, : col - 1] == G).all() and (zones[rows, col + 1 :] == W).all()
        assert (zones[: ROCK_ROWS - 1] == X).all()
        assert (image[rows, col - 2] == GLACIER_GREY).all()
    # "W" is a true bearing: in polar stereographic it is a few degrees off the grid's rows, so only the
    # middle rows are checked. A model stating 40 m: the scene is read at 40 m, as predict would.
    coarse = tmp_path / "coarse.pt"
    export_checkpoint(base, coarse, {"resolution_m": 2 * RES})
    prepared = fd.scenes_to_caffe(
        paths[:1], fronts, tmp_path / "c", coarse, fd.SceneOptions(fd.parse_glacier_side("W"), depth_m=None)
    )
    zones = read_zones(tmp_path / "c/zones/train" / f"{prepared.names[0]}_zones.png")
    assert zones.shape == (SIZE[0] // 2, SIZE[1] // 2)
    half = FRONT_COLS[0] // 2
    assert (zones[16:38, : half - 1] == G).all() and (zones[16:38, half + 1 :] == W).all()


def test_line_outside_the_aoi_and_scene_without_line_are_named(scenes, base, tmp_path):
    paths, fronts = scenes
    extra = glacier_scene(
        tmp_path / "S1A_20210707T101500.tif", *SIZE, front_col=60, rock_rows=ROCK_ROWS, res=RES
    )
    far = write_fronts(
        tmp_path / "more.gpkg",
        [(front_line(c), d) for c, d in zip(FRONT_COLS, DATES, strict=True)]
        + [(front_line(c).parallel_offset(0.5), "2020-01-04") for c in (0,)],
    )
    # The AOI covers the scenes (its 'upstream' field says the glacier is west); the last line lies 50 km away.
    x0, y0 = ORIGIN
    aoi = tmp_path / "aoi.gpkg"
    schema = {"geometry": "Polygon", "properties": {"upstream": "str", "glacier_id": "str"}}
    with fiona.open(aoi, "w", driver="GPKG", schema=schema, crs=CRS.from_epsg(3413)) as sink:
        poly = box(x0, y0 - SIZE[0] * RES, x0 + SIZE[1] * RES, y0)
        sink.write({"geometry": mapping(poly), "properties": {"upstream": "W", "glacier_id": "Test glacier"}})
    warnings = []
    prepared = fd.scenes_to_caffe(
        [*paths, extra], far, tmp_path / "d", base, fd.SceneOptions(aoi=aoi), warnings.append
    )
    assert len(prepared.names) == 3 and all(n.startswith("Test-glacier_2020-") for n in prepared.names)
    assert any("line 4 of more.gpkg (date 2020-01-04) lies outside the AOI" in w for w in warnings)
    assert any(w.startswith("S1A_20210707T101500.tif: no front line matches it") for w in warnings)
    with pytest.raises(
        GlacierfrontError, match="no scene could be labelled: S1A_20210707T101500.tif: no front line"
    ):
        fd.scenes_to_caffe([extra], far, tmp_path / "e", base, fd.SceneOptions(aoi=aoi))
    with pytest.raises(GlacierfrontError, match="which side of the fronts is the glacier"):
        fd.scenes_to_caffe(paths, fronts, tmp_path / "f", base, fd.SceneOptions())


# -- the fine-tune ------------------------------------------------------------------------------------------
def labelled_loss(model: torch.nn.Module, folder) -> float:
    """Cross-entropy of a model over the labelled pixels of a prepared folder's images."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for image in sorted((folder / "sar_images/train").glob("*.png")):
            zones = torch.from_numpy(
                read_zones(folder / "zones/train" / f"{image.stem}_zones.png").astype(np.int64)
            )
            logits = model(normalise(read_png(image) / 255.0)[None])[0]
            keep = zones != IGNORE_ZONE
            loss = torch.nn.functional.cross_entropy(logits[:, keep].T, zones[keep], reduction="sum")
            total, count = total + float(loss), count + int(keep.sum())
    return total / count


def test_with_a_box_a_front_line_labels_the_whole_box(scenes, base, tmp_path):
    paths, fronts = scenes
    # A glacier box (upstream W) over rows ROCK_ROWS.. and columns 8..120: everything in it upstream of the
    # line is glacier, everything downstream water, however far; outside it nothing is labelled.
    x0, y0 = ORIGIN
    aoi = tmp_path / "box.gpkg"
    schema = {"geometry": "Polygon", "properties": {"upstream": "str"}}
    with fiona.open(aoi, "w", driver="GPKG", schema=schema, crs=CRS.from_epsg(3413)) as sink:
        poly = box(x0 + 8 * RES, y0 - SIZE[0] * RES, x0 + 120 * RES, y0 - ROCK_ROWS * RES)
        sink.write({"geometry": mapping(poly), "properties": {"upstream": "W"}})
    depth = fd.label_depth_m(None, aoi)
    assert depth is None and fd.label_depth_m(None, None) == fd.DEFAULT_LABEL_DEPTH_M
    assert fd.label_depth_m(0, aoi) is None and fd.label_depth_m(500.0, aoi) == 500.0
    prepared = fd.scenes_to_caffe(
        paths[:1], fronts, tmp_path / "d", base, fd.SceneOptions(aoi=aoi, depth_m=depth)
    )
    zones = read_zones(tmp_path / "d/zones/train" / f"{prepared.names[0]}_zones.png")
    assert zones.shape == SIZE  # the crop holds the whole box
    # "W" is a true bearing, a few degrees off the polar stereographic rows: the middle rows are checked.
    col, inner = FRONT_COLS[0], slice(30, 70)
    assert (zones[inner, 9 : col - 1] == G).all() and (zones[inner, col + 1 : 119] == W).all()
    assert (zones[:, :7] == X).all() and (zones[:, 121:] == X).all() and (zones[: ROCK_ROWS - 1] == X).all()
    # The default depth without a box stops the labels 3 km (150 px at 20 m: all of this scene) away; a
    # shallow one leaves the far pixels of the box unlabelled.
    shallow = fd.scenes_to_caffe(
        paths[:1], fronts, tmp_path / "e", base, fd.SceneOptions(aoi=aoi, depth_m=200.0)
    )
    zones = read_zones(tmp_path / "e/zones/train" / f"{shallow.names[0]}_zones.png")
    assert (zones == X).sum() > (zones.shape[0] * 9)


def test_finetune_on_three_scenes_lowers_the_loss_and_writes_a_checksummed_model(scenes, base, tmp_path):
    paths, fronts = scenes
    prepared = fd.scenes_to_caffe(
        paths, fronts, tmp_path / "d", base, fd.SceneOptions(fd.parse_glacier_side("W"))
    )
    out = tmp_path / "mine.onnx"
    options = ft.FinetuneOptions(steps=16, patch=64, lr_max=1e-3, lr_min=1e-4, device="cpu")
    result = ft.finetune(prepared, ft.resolve_base(str(base)), out, options, "three test scenes")
    before = labelled_loss(load_model(base), prepared.folder)
    after = labelled_loss(load_model(result.checkpoint), prepared.folder)
    assert after < 0.8 * before
    assert result.steps == 16 and not result.interrupted
    # Checksummed: SHA256SUMS beside the files lists both; loading verifies them, a changed byte is refused.
    sums = (tmp_path / "SHA256SUMS").read_text()
    assert f"{sha256_file(out)}  mine.onnx" in sums and f"{sha256_file(result.checkpoint)}  mine.pt" in sums
    assert load_backend(out, "cpu").predict(np.zeros((1, 1, 64, 64), np.float32)).shape == (1, 4, 64, 64)
    meta = load_checkpoint(result.checkpoint).metadata
    assert meta["finetuned_from"]["sha256"] == sha256_file(base) and meta["finetuned_from"]["model"] == str(
        base
    )
    assert meta["finetuned_on"]["k"] == 3 and meta["finetuned_on"]["steps"] == 16
    assert meta["resolution_m"] == RES and meta["sensors"] == "SAR test"
    card = result.card.read_text()
    assert sha256_file(base) in card and "three test scenes" in card and "16 of 16" in card
    assert "| pixel spacing | 20 m |" in card
    with open(result.checkpoint, "r+b") as fh:
        fh.seek(-10, os.SEEK_END)
        fh.write(b"0123456789")
    with pytest.raises(GlacierfrontError, match="does not match"):
        load_backend(result.checkpoint, "cpu")


def test_cli_finetune_then_info_and_refused_overwrite(scenes, base, tmp_path, capsys):
    paths, fronts = scenes
    out = tmp_path / "mine.onnx"
    args = ["finetune", "--scenes", *map(str, paths), "--fronts", str(fronts), "--glacier-side", "W",
            "--model", str(base), "--steps", "2", "--patch", "64", "-o", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert main(["info", str(out), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["finetuned_from"]["sha256"] == sha256_file(base)
    assert facts["finetuned_on"]["k"] == 3 and facts["finetuned_on"]["steps"] == 2
    assert facts["finetuned_on"]["batch_size"] == 3  # fewer images than two batches: all of them in each step
    assert "fine-tuned from" in facts["training_data"] and facts["resolution_m"] == RES
    assert main(["info", str(out)]) == 0
    assert "finetuned_from" in capsys.readouterr().out
    # An existing output is refused before any work, with --overwrite it is replaced.
    before = out.stat().st_mtime_ns
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err and out.stat().st_mtime_ns == before


def test_ctrl_c_keeps_a_model(tmp_path, atto_checkpoint):
    data = caffe_folder(
        tmp_path / "caffe", n_per_glacier=1, glaciers=("Alpha",)
    )  # one image: paired with a copy
    prepared = fd.caffe_subset(data, tmp_path / "d", labels="zones")
    assert prepared.names == ["Alpha_2010-01-15_TSX_7_1_000"]

    def interrupt(step, total, loss):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    options = ft.FinetuneOptions(steps=40, patch=64, device="cpu")
    result = ft.finetune(
        prepared, ft.resolve_base(str(atto_checkpoint[0])), tmp_path / "m.onnx", options, on_step=interrupt
    )
    assert result.interrupted and 3 <= result.steps < 40
    meta = load_checkpoint(result.checkpoint).metadata["finetuned_on"]
    assert meta["interrupted"] and meta["steps"] == result.steps
    assert "| interrupted | yes |" in result.card.read_text()


def test_front_only_caffe_data_gets_weak_labels(tmp_path):
    data = caffe_folder(tmp_path / "caffe", n_per_glacier=2, glaciers=("Alpha",))
    prepared = fd.caffe_subset(data, tmp_path / "d", labels="fronts", glacier_side=fd.parse_glacier_side("W"))
    assert prepared.labels == "weak labels from front lines"
    for name in prepared.names:
        front = read_png(data / "fronts/train" / f"{name}_front.png") > 127
        zones = read_zones(tmp_path / "d/zones/train" / f"{name}_zones.png")
        assert (
            zones == weak_zones(front.T, "above").T
        ).all()  # glacier west = "above" in the transposed image
    with pytest.raises(GlacierfrontError, match="--glacier-side"):
        fd.caffe_subset(data, tmp_path / "e", labels="fronts")


def test_plan_of_steps_epochs_and_validations():
    # 5 images: one step of all 5 pairs per epoch; 10 images: 2 steps of 4 (the last 2 pairs dropped).
    assert ft.plan(5, ft.FinetuneOptions(steps=150)) == (150, 1, 25)
    assert ft.plan(10, ft.FinetuneOptions(steps=150)) == (75, 2, 13)
    assert ft.plan(10, ft.FinetuneOptions(epochs=4)) == (4, 2, 1)


def test_wrong_inputs_are_refused_before_work(tmp_path, capsys):
    assert main(["finetune", "-o", str(tmp_path / "m.pt"), "--data", str(tmp_path)]) == 1
    assert "give the ONNX file" in capsys.readouterr().err
    assert main(["finetune", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "--data CAFFE_DIR, or --scenes" in capsys.readouterr().err
    assert (
        main(
            [
                "finetune",
                "-o",
                str(tmp_path / "m.onnx"),
                "--data",
                str(tmp_path),
                "--steps",
                "5",
                "--epochs",
                "2",
            ]
        )
        == 1
    )
    assert "--steps or --epochs" in capsys.readouterr().err
    with rasterio.open(
        tmp_path / "x.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8"
    ) as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    assert main(["finetune", "-o", str(tmp_path / "m.onnx"), "--scenes", str(tmp_path / "x.tif")]) == 1
    assert "--fronts" in capsys.readouterr().err


def test_augmentation_options_reach_the_training_run_and_the_card(tmp_path, atto_checkpoint):
    data = caffe_folder(tmp_path / "caffe", n_per_glacier=2, glaciers=("Alpha",))
    prepared = fd.caffe_subset(data, tmp_path / "d", labels="zones")
    options = ft.FinetuneOptions(
        steps=2, patch=64, device="cpu", scale_aug=[0.5, 2.0], intensity_aug=True, view_aug=True
    )
    result = ft.finetune(
        prepared,
        ft.resolve_base(str(atto_checkpoint[0])),
        tmp_path / "m.onnx",
        options,
        work=tmp_path / "run",
    )
    # The run trained with the zoom, intensity and partial-view transforms: its config builds an augmentation
    # that has them.
    from glacierfront.train.config import TrainConfig

    augment = TrainConfig.load(tmp_path / "run" / "config.json").augment_config()
    assert augment.zoom == (0.5, 2.0) and augment.gamma_p > 0 and augment.log_p > 0 and augment.view_p > 0
    said = load_checkpoint(result.checkpoint).metadata["finetuned_on"]["augmentation"]
    assert "zoom 0.5-2x" in said and "intensity" in said and "partial views" in said
    assert "zoom 0.5-2x" in result.card.read_text()
    assert "| pixel spacing | not stated (as the base model) |" in result.card.read_text()


def test_a_wrong_zoom_range_is_refused_before_work(tmp_path, capsys):
    args = ["finetune", "-o", str(tmp_path / "m.onnx"), "--data", str(tmp_path), "--scale-aug", "2,1"]
    assert main(args) == 1
    assert "--scale-aug" in capsys.readouterr().err


def test_a_fine_tune_on_one_image_warns_even_when_quiet(tmp_path, atto_checkpoint, capsys):
    data = caffe_folder(tmp_path / "caffe", n_per_glacier=1, glaciers=("Alpha",))
    args = ["finetune", "--data", str(data), "--model", str(atto_checkpoint[0]), "--steps", "1", "--patch", "64",
            "-o", str(tmp_path / "m.onnx"), "-q"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: fine-tuning on 1 image(s)" in err
    data3 = caffe_folder(tmp_path / "caffe3", n_per_glacier=3, glaciers=("Alpha",))
    args3 = ["finetune", "--data", str(data3), "--model", str(atto_checkpoint[0]), "--steps", "1", "--patch",
             "64", "-o", str(tmp_path / "m3.onnx"), "-q"]  # fmt: skip
    assert main(args3) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_fine_tune_never_writes_over_its_own_base_model(scenes, base, tmp_path, capsys):
    """-o naming the base model (or its ONNX/checkpoint twin) is refused even with --overwrite."""
    paths, fronts = scenes
    folder = tmp_path / "base"
    folder.mkdir()
    pt = folder / "base.pt"
    pt.write_bytes(base.read_bytes())
    onnx = folder / "base.onnx"
    onnx.write_bytes(b"stand-in for the export")
    sums = {p: sha256_file(p) for p in (pt, onnx)}
    common = ["finetune", "--scenes", str(paths[0]), "--fronts", str(fronts), "--glacier-side", "W",
              "--steps", "1", "--patch", "64", "--quiet", "--overwrite"]  # fmt: skip
    for model, out in ((pt, onnx), (onnx, onnx), (pt, folder / "." / "base.onnx")):
        assert main([*common, "--model", str(model), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "is one of this command's inputs" in err and err.count("\n") == 1
        assert {p: sha256_file(p) for p in (pt, onnx)} == sums


def test_a_missing_base_model_is_one_line(scenes, tmp_path, capsys):
    paths, fronts = scenes
    args = ["finetune", "--scenes", str(paths[0]), "--fronts", str(fronts), "--glacier-side", "W",
            "--model", str(tmp_path / "nonexist.pt"), "-o", str(tmp_path / "m.onnx")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "nonexist.pt: no such file" in err and "internal error" not in err


def test_a_glacier_side_point_far_from_every_front_is_refused(scenes, base, tmp_path):
    paths, fronts = scenes
    # The fronts are in EPSG:4326: 500,500 is no longitude/latitude; 40,10 is one, thousands of km away.
    for text, message in (("500,500", "not a longitude, latitude"), ("40,10", "km from the front of")):
        side = fd.parse_glacier_side(text)
        with pytest.raises(GlacierfrontError, match=message):
            fd.scenes_to_caffe(paths[:1], fronts, tmp_path / "d", base, fd.SceneOptions(side, depth_m=None))


def test_fronts_in_metres_labelled_degrees_are_one_line(scenes, base, tmp_path, capsys):
    paths, _ = scenes
    wrong = write_fronts(
        tmp_path / "wrong.gpkg", [(front_line(FRONT_COLS[0], "EPSG:3413"), DATES[0])], "EPSG:4326"
    )
    args = ["finetune", "--scenes", str(paths[0]), "--fronts", str(wrong), "--glacier-side", "W",
            "--model", str(base), "--steps", "1", "--patch", "64", "-o", str(tmp_path / "m.onnx")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "says degrees" in err and err.count("\n") == 1


def test_sigterm_stops_finetune_with_143_and_a_model(scenes, base, tmp_path, monkeypatch, capsys):
    """SIGTERM (kill, docker stop, SLURM) mid-training: the best state is written and the exit code is
    the shell's 143, as README says (it was 1)."""
    paths, fronts = scenes
    real = ft.finetune

    def killed_at_step_3(prepared, base_model, out, options, note, on_step):
        def step(k, total, loss):
            on_step(k, total, loss)
            if k == 3:
                os.kill(os.getpid(), signal.SIGTERM)

        return real(prepared, base_model, out, options, note, step)

    monkeypatch.setattr(ft, "finetune", killed_at_step_3)
    out = tmp_path / "m.onnx"
    args = ["finetune", "--scenes", *map(str, paths), "--fronts", str(fronts), "--glacier-side", "W",
            "--model", str(base), "--steps", "60", "--patch", "64", "-o", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 143
    err = capsys.readouterr().err
    assert "interrupted at step" in err and out.is_file()

"""Per-image normalisation (``train --per-image-norm``): training, chip evaluation and predict stretch every image
by its own valid pixels, and a model says in its metadata that it wants that."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import caffe_folder, glacier_scene, threshold_model
from PIL import Image

from glacierfront.evaluate.caffe import CaffeOptions, score_model
from glacierfront.io.caffe import list_split
from glacierfront.io.intensity import (
    PER_IMAGE_SCALE,
    VALID_FLOOR,
    per_image_model,
    resolve_scaling,
    stretch_per_image,
)
from glacierfront.model import CISNetConfig, load_checkpoint
from glacierfront.model.backend import Backend, load_backend
from glacierfront.model.checkpoint import normalization_metadata
from glacierfront.model.config import SAR_MEAN, SAR_STD
from glacierfront.model.export import restamp_onnx
from glacierfront.predict import PredictOptions, open_for_model
from glacierfront.train.config import TrainConfig
from glacierfront.train.data import CaffePatches
from glacierfront.train.loop import Trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return caffe_folder(tmp_path_factory.mktemp("caffe"))


@pytest.fixture(scope="module")
def darker(data, tmp_path_factory):
    """The same folder with every image at 40 % of its brightness, plus 10: another sensor's calibration."""
    root = caffe_folder(tmp_path_factory.mktemp("darker"))
    for png in (root / "sar_images" / "train").glob("*.png"):
        image = np.asarray(Image.open(png), np.float32)
        Image.fromarray(np.where(image > 0, image * 0.4 + 10, 0).astype(np.uint8)).save(png)
    return root


def test_stretch_per_image_maps_gain_and_offset_away_and_keeps_no_data():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.1, 0.5, (40, 50)).astype(np.float32)
    image[:, :5] = 0.0  # no data
    other = np.where(image > 0, image * 0.3 + 0.2, 0.0).astype(np.float32)
    a, b = stretch_per_image(image), stretch_per_image(other)
    assert np.allclose(a, b, atol=1e-5)
    assert (a[:, :5] == 0).all()
    valid = a[:, 5:]
    assert valid.min() >= VALID_FLOOR and valid.max() == pytest.approx(1.0)
    assert stretch_per_image(np.zeros((4, 4), np.float32)).max() == 0.0


def test_auto_stretches_8bit_scenes_only_for_a_per_image_model():
    values = np.linspace(20, 120, 1001)
    plain = resolve_scaling("auto", "uint8", "s.tif", lambda: values)
    stretched = resolve_scaling("auto", "uint8", "s.tif", lambda: values, per_image=True)
    assert (plain.low, plain.high) == (0.0, 255.0)
    assert stretched.low == pytest.approx(np.percentile(values, 0.5))
    assert stretched.high == pytest.approx(np.percentile(values, 99.5))
    assert "per-image" in stretched.note
    explicit = resolve_scaling("uint8", "uint8", "s.tif", lambda: values, per_image=True)
    assert (explicit.low, explicit.high) == (0.0, 255.0)  # the user's --scaling wins


def test_predict_stretches_an_8bit_scene_for_a_model_that_says_per_image(tmp_path):
    scene = glacier_scene(tmp_path / "scene.tif")
    plain_model = threshold_model(tmp_path / "plain.onnx")
    per_image = restamp_onnx(
        plain_model, tmp_path / "per_image.onnx", {"normalization": normalization_metadata(True)}
    )
    options = PredictOptions(resolution_m="native")
    for model, expected in ((plain_model, False), (per_image, True)):
        backend = load_backend(model, "cpu")
        assert per_image_model(backend.metadata) is expected
        opened, _ = open_for_model(scene, backend, options)
        with opened:
            stretched = (opened.intensity.low, opened.intensity.high) != (0.0, 255.0)
        assert stretched is expected


def _patch(folder: Path, per_image: bool) -> np.ndarray:
    items = list_split(folder, "train")
    x, _ = CaffePatches(items, patch=64, augment=False, per_image=per_image).sample(0)
    return x.numpy()[0] * SAR_STD + SAR_MEAN


def test_per_image_patches_of_a_darker_calibration_match_the_original(data, darker):
    assert not np.allclose(_patch(data, False), _patch(darker, False), atol=0.05)
    original, dark = _patch(data, True), _patch(darker, True)
    assert np.abs(original - dark).mean() < 0.01
    assert original.max() == pytest.approx(1.0, abs=1e-6)


def test_training_with_per_image_norm_stamps_the_model(data, tmp_path):
    base = dict(data=str(data), encoder="atto", patch=64, batch_size=2, workers=0, epochs=1,
                max_steps_per_epoch=1, val_fraction=0.34, patience=10)  # fmt: skip
    Trainer(TrainConfig(out=str(tmp_path / "a"), per_image_norm=True, **base)).fit()
    Trainer(TrainConfig(out=str(tmp_path / "b"), **base)).fit()
    assert per_image_model(load_checkpoint(tmp_path / "a" / "best.pt").metadata)
    assert (
        load_checkpoint(tmp_path / "a" / "best.pt").metadata["normalization"]["input_scale"]
        == PER_IMAGE_SCALE
    )
    assert not per_image_model(load_checkpoint(tmp_path / "b" / "best.pt").metadata)


def test_chip_evaluation_stretches_for_a_per_image_model(darker):
    items = list(list_split(darker, "train"))[:1]
    seen: dict[bool, float] = {}
    for per_image in (False, True):
        inputs: list[np.ndarray] = []

        def run(x: np.ndarray, inputs: list[np.ndarray] = inputs) -> np.ndarray:
            inputs.append(x)
            return np.zeros((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)

        meta = {"tile_size": 64, "normalization": normalization_metadata(per_image)}
        backend = Backend("torch", Path("fake"), CISNetConfig(), meta, "cpu", run)
        score_model(items, backend, CaffeOptions(pixels=True, min_length_px=2))
        seen[per_image] = float(max(x.max() for x in inputs)) * SAR_STD + SAR_MEAN
    assert seen[True] == pytest.approx(1.0, abs=1e-4)
    assert seen[False] < 0.6  # the darker images /255

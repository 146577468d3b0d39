"""Training augmentation of SAR patches: geometric on image and zones together, radiometric on the image only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths; every transform is drawn independently per patch.

    flip_p: probability of each of the horizontal and vertical flips.
    rotate: apply a random multiple of 90 degrees (the patch is square, so shapes are kept).
    jitter_p: probability of a brightness/contrast change.
    brightness: the additive shift is uniform in [-brightness, brightness] (image scaled to [0, 1]).
    contrast: the gain around the patch mean is uniform in [1 - contrast, 1 + contrast].
    speckle_p: probability of multiplicative speckle noise.
    speckle_looks: the number of looks L is uniform in this range; noise ~ Gamma(L, 1/L), mean 1, var 1/L.
    zoom: (lo, hi) range of a random rescaling, drawn log-uniformly (None: off). Above 1 the image is
        enlarged and a patch cropped from it; below 1 it is shrunk and padded with no data (class NA),
        as at the edge of a real scene. It teaches the model glaciers at other pixel spacings.
    zoom_p: probability of the rescaling.
    gamma_p / gamma: probability of a gamma curve v ** g, g log-uniform in (1 / gamma, gamma).
    log_p / log_gain: probability of a dB-like compression log(1 + k v) / log(1 + k), k log-uniform in
        (1, log_gain): what a log-scaled (dB) product looks like after a linear stretch.
    blur_p / blur_sigma: probability of a Gaussian blur with sigma uniform in blur_sigma (px), as in
        multi-looked or resampled products.
    view_p / view_area: probability of a partial view: only a window covering a share of the patch drawn
        uniformly from view_area (aspect 0.6-1.6, anywhere) keeps its data, the rest becomes no data (class
        NA), as when a user's scene is framed around part of the glacier-centred chip (issue 23).
    """

    flip_p: float = 0.5
    rotate: bool = True
    jitter_p: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.25
    speckle_p: float = 0.5
    speckle_looks: tuple[float, float] = (4.0, 16.0)
    zoom: tuple[float, float] | None = None
    zoom_p: float = 0.5
    gamma_p: float = 0.0
    gamma: float = 2.0
    log_p: float = 0.0
    log_gain: float = 100.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    view_p: float = 0.0
    view_area: tuple[float, float] = (0.35, 1.0)


# Geometric-only and no-op settings, handy for evaluation and for tests.
NO_AUGMENT = AugmentConfig(flip_p=0.0, rotate=False, jitter_p=0.0, speckle_p=0.0)
GEOMETRIC_ONLY = AugmentConfig(jitter_p=0.0, speckle_p=0.0)
# The robustness additions of issue 10, switched on by TrainConfig's scale_aug / intensity_aug.
SCALE_RANGE = (0.5, 2.0)
INTENSITY = dict(gamma_p=0.3, log_p=0.2, blur_p=0.2, speckle_looks=(1.0, 16.0))
# Partial views (issue 23), switched on by TrainConfig's view_aug.
PARTIAL_VIEWS = dict(view_p=0.5)


def _chance(rng: np.random.Generator, p: float) -> bool:
    """True with probability p; draws nothing when p is 0, so switched-off transforms leave the stream of
    random numbers (and with it every older recipe's augmentation) exactly as it was."""
    return p > 0 and rng.random() < p


def zoom(
    image: np.ndarray, zones: np.ndarray, factor: float, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rescale image (bilinear) and zones (nearest) by ``factor``, then take a ``size`` x ``size`` patch.

    Enlarged grids are cropped at a random place; shrunk ones are placed at a random place on a patch of
    no data (image 0, class NA = 0). Exact zeros stay no data: a pixel is zero after bilinear resampling
    only where zeros surround it.
    """
    from PIL import Image

    height, width = image.shape
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    scaled = np.asarray(
        Image.fromarray(image.astype(np.float32), mode="F").resize((new_w, new_h), Image.BILINEAR)
    )
    labels = np.asarray(Image.fromarray(zones.astype(np.uint8)).resize((new_w, new_h), Image.NEAREST))
    out_image = np.zeros((size, size), np.float32)
    out_zones = np.zeros((size, size), zones.dtype)
    # Crop where the grid is larger than the patch, offset where it is smaller, per axis.
    src_r = int(rng.integers(new_h - size + 1)) if new_h > size else 0
    src_c = int(rng.integers(new_w - size + 1)) if new_w > size else 0
    dst_r = int(rng.integers(size - new_h + 1)) if new_h < size else 0
    dst_c = int(rng.integers(size - new_w + 1)) if new_w < size else 0
    rows, cols = min(size, new_h), min(size, new_w)
    out_image[dst_r : dst_r + rows, dst_c : dst_c + cols] = scaled[src_r : src_r + rows, src_c : src_c + cols]
    out_zones[dst_r : dst_r + rows, dst_c : dst_c + cols] = labels[src_r : src_r + rows, src_c : src_c + cols]
    return out_image, out_zones


def partial_view(
    image: np.ndarray, zones: np.ndarray, rng: np.random.Generator, area: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep one random window (a share of the patch drawn from ``area``, aspect 0.6-1.6) and make the rest no
    data: image 0, class NA (0). Returns new arrays; the window never has fewer than 32 px a side."""
    height, width = image.shape
    share = rng.uniform(*area)
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    h = int(min(height, max(32, round(np.sqrt(share * height * width / aspect)))))
    w = int(min(width, max(32, round(share * height * width / h))))
    r0, c0 = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
    out_image, out_zones = np.zeros_like(image), np.zeros_like(zones)
    out_image[r0 : r0 + h, c0 : c0 + w] = image[r0 : r0 + h, c0 : c0 + w]
    out_zones[r0 : r0 + h, c0 : c0 + w] = zones[r0 : r0 + h, c0 : c0 + w]
    return out_image, out_zones


def geometric(
    image: np.ndarray, zones: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Flip and rotate image and zones by the same draw so that labels stay on their pixels."""
    if rng.random() < cfg.flip_p:
        image, zones = image[:, ::-1], zones[:, ::-1]
    if rng.random() < cfg.flip_p:
        image, zones = image[::-1, :], zones[::-1, :]
    if cfg.rotate:
        k = int(rng.integers(4))
        image, zones = np.rot90(image, k), np.rot90(zones, k)
    return np.ascontiguousarray(image), np.ascontiguousarray(zones)


def radiometric(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Brightness/contrast jitter and gamma speckle on a float image in [0, 1]; the result stays in [0, 1].

    Exact zeros (no-data in CaFFe scenes) are kept at zero, so the model can still tell missing data
    from dark water, whatever the jitter.
    """
    nodata = image == 0
    out = image
    if _chance(rng, cfg.gamma_p):
        out = np.power(out, np.exp(rng.uniform(-np.log(cfg.gamma), np.log(cfg.gamma))))
    if _chance(rng, cfg.log_p):
        gain = np.exp(rng.uniform(0.0, np.log(cfg.log_gain)))
        out = np.log1p(gain * out) / np.log1p(gain)
    if _chance(rng, cfg.blur_p):
        from scipy.ndimage import gaussian_filter

        out = gaussian_filter(out, rng.uniform(*cfg.blur_sigma))
    if rng.random() < cfg.jitter_p:
        gain = rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast)
        shift = rng.uniform(-cfg.brightness, cfg.brightness)
        mean = float(out[~nodata].mean()) if (~nodata).any() else 0.0
        out = (out - mean) * gain + mean + shift
    if rng.random() < cfg.speckle_p:
        looks = rng.uniform(*cfg.speckle_looks)
        out = out * rng.gamma(shape=looks, scale=1.0 / looks, size=out.shape)
    out = np.clip(out, 0.0, 1.0)
    out[nodata] = 0.0
    return out.astype(np.float32, copy=False)


def augment(
    image: np.ndarray, zones: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Partial view, geometric, then radiometric augmentation of a float [0, 1] image and its zone ids."""
    if _chance(rng, cfg.view_p):
        image, zones = partial_view(image, zones, rng, cfg.view_area)
    image, zones = geometric(image, zones, rng, cfg)
    return radiometric(image, rng, cfg), zones

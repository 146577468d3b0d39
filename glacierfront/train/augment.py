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
    """

    flip_p: float = 0.5
    rotate: bool = True
    jitter_p: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.25
    speckle_p: float = 0.5
    speckle_looks: tuple[float, float] = (4.0, 16.0)


# Geometric-only and no-op settings, handy for evaluation and for tests.
NO_AUGMENT = AugmentConfig(flip_p=0.0, rotate=False, jitter_p=0.0, speckle_p=0.0)
GEOMETRIC_ONLY = AugmentConfig(jitter_p=0.0, speckle_p=0.0)


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
    """Geometric then radiometric augmentation of a float [0, 1] image and its zone ids."""
    image, zones = geometric(image, zones, rng, cfg)
    return radiometric(image, rng, cfg), zones

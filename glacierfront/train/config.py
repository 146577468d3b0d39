"""Every training option in one typed record, saved as config.json in the run folder and inside checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.run_config import read_run_config
from glacierfront.model.config import CISNetConfig
from glacierfront.train.augment import INTENSITY, PARTIAL_VIEWS, AugmentConfig
from glacierfront.zones import NUM_ZONE_CLASSES

OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16")


def check_scale_aug(zoom: list[float]) -> list[float]:
    """A --scale-aug range as floats [LO, HI], refused unless 0 < LO <= HI."""
    if len(zoom) != 2 or not 0 < zoom[0] <= zoom[1]:
        raise GlacierfrontError(f"--scale-aug {zoom}: give LO,HI with 0 < LO <= HI, e.g. 0.5,2")
    return [float(v) for v in zoom]


@dataclass
class TrainConfig:
    """Defaults follow the CISNet protocol (spec: shared/docs/CISNET.md) except where noted."""

    data: str | list[str] = ""  # a CaFFe-layout folder, or several trained on together (SAR + optical)
    out: str = ""
    split: str = "train"
    glaciers: list[str] | None = None  # train only on these glaciers (None: all)
    val_fraction: float = 0.1
    val_glaciers: list[str] | None = None  # hold out whole glaciers for validation instead
    # model
    encoder: str = "atto"
    decoder: str = "additive"
    drop_path: float = 0.1
    change_branch: bool = True
    change_label: str = "glacier"  # or "all-classes"
    encoder_weights: str | None = None
    init_from: str | None = None  # start from a glacierfront checkpoint's weights (fine-tuning)
    # data
    patch: int = 256
    batch_size: int = 16
    workers: int = 2
    augment: bool = True
    scale_aug: list[float] | None = None  # random zoom range, e.g. [0.5, 2.0] (issue 10); None: off
    intensity_aug: bool = False  # gamma, dB-like log curve, blur, 1..16-look speckle (issue 10)
    view_aug: bool = False  # partial views: half the patches keep only a 35-100 % window (issue 23)
    # every image stretched by its own valid pixels' 0.5-99.5 percentiles, as predict then stretches every scene
    # (io.intensity.PER_IMAGE_SCALE, stamped into the model's metadata; issue 23)
    per_image_norm: bool = False
    # optimisation
    epochs: int = 150
    patience: int = 30
    optimizer: str = "adam"  # adam + cyclic LR (the authors'), or adamw + cosine
    lr_min: float = 4e-5
    lr_max: float = 2e-4
    cycle_epochs: float = 4.0  # one triangular cycle of the cyclic LR, in epochs [ours]
    weight_decay: float = 0.0
    clip_grad: float = 1.0
    # Exponential moving average of the weights, decay per step (e.g. 0.998: about 500 steps); validation and
    # every checkpoint's weights are the average, the raw weights ride in the training state. None: off.
    ema: float | None = None
    precision: str = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    channels_last: bool = True
    compile: bool = False
    max_steps_per_epoch: int | None = None  # cap for quick runs and tests
    # validation: MDE in pixels of the image grid with CaFFe's pixel-mode minimum front length
    val_min_length_px: float = 2.0
    val_metres: bool = False  # full CaFFe: MDE in metres and the 750 m rule, from each name's resolution
    # Fine-tuning on a handful of images, none to spare: validate on the training images themselves (best.pt is
    # then the best fit of them), every val_every epochs and after the last (an epoch is then only a few steps).
    val_on_train: bool = False
    val_every: int = 1
    seed: int = 0
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise GlacierfrontError(f"--optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise GlacierfrontError(f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.patch < 32 or self.patch % 32:
            raise GlacierfrontError(f"--patch {self.patch}: must be a multiple of 32")
        if self.batch_size < 1 or self.epochs < 1:
            raise GlacierfrontError("--batch-size and --epochs must be at least 1")
        if self.val_every < 1:
            raise GlacierfrontError(f"val_every must be at least 1, got {self.val_every}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise GlacierfrontError(f"--ema {self.ema}: the decay must lie between 0 and 1, e.g. 0.998")
        if not 0 < self.lr_min <= self.lr_max:
            raise GlacierfrontError(f"need 0 < --lr-min <= --lr-max, got {self.lr_min}, {self.lr_max}")
        if self.scale_aug is not None:
            self.scale_aug = check_scale_aug(self.scale_aug)
        self.model_config()  # validates encoder, decoder and drop path now, not after data loading

    def data_folders(self) -> list[str]:
        """The data folder(s), one or several (``data`` is either)."""
        return [self.data] if isinstance(self.data, str) else [str(f) for f in self.data]

    def check_out(self, what: str = "--out") -> None:
        """Refuse a run folder that is a data folder or lies inside one: checkpoints, config.json and
        metrics.csv would be written into the data. Links are followed, so another name for it is caught too."""
        out = Path(self.out).resolve()
        for folder in self.data_folders():
            data = Path(folder).resolve()
            if out == data or data in out.parents:
                where = "is the data folder" if out == data else f"lies inside the data folder {folder}"
                raise GlacierfrontError(
                    f"{what} {self.out}: {where}; the run would write its checkpoints into the data: "
                    "give a folder outside it"
                )

    def model_config(self) -> CISNetConfig:
        return CISNetConfig(
            encoder=self.encoder,
            in_channels=1,
            num_classes=NUM_ZONE_CLASSES,
            decoder=self.decoder,
            drop_path=self.drop_path,
            change_branch=self.change_branch,
        )

    def augment_config(self) -> AugmentConfig:
        """The augmentation this config asks for: the shipped recipe plus the optional additions."""
        extra: dict[str, Any] = dict(INTENSITY) if self.intensity_aug else {}
        if self.scale_aug is not None:
            extra["zoom"] = (self.scale_aug[0], self.scale_aug[1])
        if self.view_aug:
            extra.update(PARTIAL_VIEWS)
        return AugmentConfig(**extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        from glacierfront.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(read_run_config(path))

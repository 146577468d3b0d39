"""The CISNet training loop: pairs -> joint loss -> optimiser, with validation, checkpoints, resume and DDP."""

from __future__ import annotations

import copy
import csv
import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from glacierfront.errors import GlacierfrontError, StoppedBySignal
from glacierfront.io.caffe import data_label, list_split, split_train_val
from glacierfront.model import CISNet, load_checkpoint, load_encoder_weights, save_checkpoint
from glacierfront.model.checkpoint import normalization_metadata
from glacierfront.model.config import DEFAULT_TILE
from glacierfront.train.config import TrainConfig
from glacierfront.train.data import CaffePatches, PairDataset, PairSampler, change_label
from glacierfront.train.losses import AdaptiveJointLoss, change_loss, param_groups, segmentation_loss
from glacierfront.train.validate import validate

METRIC_FIELDS = [
    "epoch", "train_loss", "seg_loss", "chg_loss", "w_seg", "w_chg", "lr",
    "val_miou", "val_mde_px", "val_mde_m", "val_no_front", "samples_per_s", "seconds",
]  # fmt: skip


class TrainStep(nn.Module):
    """Model + joint loss as one module, so DistributedDataParallel syncs the loss weights too."""

    def __init__(self, model: CISNet, change_mode: str) -> None:
        super().__init__()
        self.model = model
        self.change_mode = change_mode
        self.joint = AdaptiveJointLoss(2 if model.change_head is not None else 1)

    def forward(self, x1, z1, x2, z2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.model.change_head is None:
            seg = segmentation_loss(self.model(x1).float(), z1)
            return self.joint(seg), {"seg_loss": seg}
        out = self.model.forward_pair(x1, x2)
        seg = segmentation_loss(out.zones.float(), z1)
        label = change_label(z1, z2, self.change_mode)
        chg = change_loss(out.change_12.float(), out.change_21.float(), label, label)
        return self.joint(seg, chg), {"seg_loss": seg, "chg_loss": chg}


class Trainer:
    """One training run in ``config.out``; ``fit()`` trains until the epochs or the patience run out."""

    def __init__(self, config: TrainConfig, resume: bool = False, quiet: bool = False) -> None:
        self.cfg = config
        self.out = Path(config.out)
        self.quiet = quiet
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = self._setup_device()
        self.rank = dist.get_rank() if self.distributed else 0
        self.main = self.rank == 0
        self._stop_signal: int | None = None
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)

        self._split_items(config)
        self._build_loader(config)
        self._build_model(config, resume)
        self.optimizer = self._optimizer()
        self.steps_per_epoch = self._steps_per_epoch()
        self.scheduler = self._scheduler()
        self.epoch = 0  # epochs completed
        self.best_miou = -math.inf
        self.since_best = 0
        self.amp_dtype = self._amp_dtype()
        if resume:
            self._load_state(self.out / "last.pt")
        self.runner: nn.Module = self.step_module
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.runner = DistributedDataParallel(self.step_module, device_ids=ids)
        if config.compile:
            self.runner = torch.compile(self.runner)

    def _split_items(self, config: TrainConfig) -> None:
        """The training and validation images (``train_items``, ``val_items``); none to validate is an error."""
        items = list(list_split(config.data, config.split, config.glaciers))
        if config.val_on_train:
            self.train_items = sorted(items, key=lambda item: item.name)
            self.val_items = list(self.train_items)
        else:
            self.train_items, self.val_items = split_train_val(
                items, config.val_fraction, config.seed, config.val_glaciers
            )
        if not self.val_items:
            # Without validation, mIoU never improves: patience would stop the run and best.pt never be written.
            raise GlacierfrontError(
                f"--val-fraction {config.val_fraction} of {len(items)} training images holds out none for "
                f"validation; raise it to at least {1.0 / max(len(items), 1):.2g} or pass --val-glaciers"
            )

    def _build_loader(self, config: TrainConfig) -> None:
        """The patch pairs of the training images, their sampler and the DataLoader over them."""
        patches = CaffePatches(
            self.train_items,
            patch=config.patch,
            augment=config.augment,
            augment_config=config.augment_config(),
            seed=config.seed,
            per_image=config.per_image_norm,
        )
        self.pairs = PairDataset(patches)
        world = dist.get_world_size() if self.distributed else 1
        self.sampler = PairSampler(len(patches), seed=config.seed, num_replicas=world, rank=self.rank)
        self.loader = DataLoader(
            self.pairs,
            batch_size=config.batch_size,
            sampler=self.sampler,
            num_workers=config.workers,
            drop_last=len(self.sampler) >= 2 * config.batch_size,  # BatchNorm dislikes a last batch of 1
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_ignore_stop_signals,
        )

    def _build_model(self, config: TrainConfig, resume: bool) -> None:
        """The model (base weights unless resuming), its training step on the device, and the --ema copy."""
        model = CISNet(config.model_config())
        if config.encoder_weights and not resume:
            load_encoder_weights(model.encoder, config.encoder_weights)
        if config.init_from and not resume:
            _init_from_checkpoint(model, config.init_from)
        self.step_module = TrainStep(model, config.change_label).to(self.device)
        if config.channels_last:
            self.step_module = self.step_module.to(memory_format=torch.channels_last)
        # The averaged weights (--ema): what is validated and saved; the raw ones go on learning.
        self.ema: CISNet | None = None
        self.ema_steps = 0
        if config.ema is not None:
            self.ema = copy.deepcopy(self.step_module.model).eval().requires_grad_(False)

    @property
    def model(self) -> CISNet:
        return self.step_module.model

    @property
    def kept_model(self) -> CISNet:
        """The weights that are validated and saved: the moving average with --ema, else the model itself."""
        return self.ema if self.ema is not None else self.model

    def _update_ema(self) -> None:
        """One step of the weight average. The decay ramps up from 0.1 (early weights are far from trained;
        a fixed 0.998 would keep the random start in the average for hundreds of steps)."""
        if self.ema is None:
            return
        self.ema_steps += 1
        decay = min(self.cfg.ema, (1 + self.ema_steps) / (10 + self.ema_steps))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1.0 - decay)
            for kept, live in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                kept.copy_(live)

    # -- set-up ------------------------------------------------------------------------------------
    def _setup_device(self) -> torch.device:
        cuda = torch.cuda.is_available() and self.cfg.device != "cpu"
        if self.cfg.device == "cuda" and not torch.cuda.is_available():
            raise GlacierfrontError("--device cuda: torch sees no CUDA GPU; use --device cpu or auto")
        if self.distributed and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")

    def _amp_dtype(self) -> torch.dtype | None:
        if self.cfg.precision == "bf16" or (self.cfg.precision == "auto" and self.device.type == "cuda"):
            return torch.bfloat16
        return None

    def _optimizer(self) -> torch.optim.Optimizer:
        groups = param_groups(self.step_module.model, self.step_module.joint, self.cfg.weight_decay)
        if self.cfg.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=self.cfg.lr_max)
        return torch.optim.Adam(groups, lr=self.cfg.lr_max)

    def _steps_per_epoch(self) -> int:
        steps = len(self.loader)
        return min(steps, self.cfg.max_steps_per_epoch) if self.cfg.max_steps_per_epoch else steps

    def _scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        cfg, total = self.cfg, max(1, self.steps_per_epoch * self.cfg.epochs)
        if cfg.optimizer == "adamw":
            ratio = cfg.lr_min / cfg.lr_max

            def cosine(step: int) -> float:
                return ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

            return torch.optim.lr_scheduler.LambdaLR(self.optimizer, cosine)
        half = max(1, round(cfg.cycle_epochs * self.steps_per_epoch / 2))
        return torch.optim.lr_scheduler.CyclicLR(
            self.optimizer, cfg.lr_min, cfg.lr_max, step_size_up=half, cycle_momentum=False
        )

    # -- state ------------------------------------------------------------------------------------------
    def _training_state(self) -> dict[str, Any]:
        state = {
            "epoch": self.epoch,
            "best_miou": self.best_miou,
            "since_best": self.since_best,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "joint_loss": self.step_module.joint.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_numpy": _numpy_state_to_plain(np.random.get_state()),
            "rng_python": _python_state_to_plain(random.getstate()),
            "config": self.cfg.to_dict(),
        }
        if self.ema is not None:  # the checkpoint's weights are the average: keep the raw ones to resume
            state["raw_state_dict"] = self.model.state_dict()
            state["ema_steps"] = self.ema_steps
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _load_state(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        if ckpt.training is None:
            raise GlacierfrontError(f"{path}: holds no training state to resume from")
        t = ckpt.training
        if self.ema is not None:
            if "raw_state_dict" not in t:
                raise GlacierfrontError(f"{path}: was trained without --ema; resume it without --ema")
            self.ema.load_state_dict(ckpt.state_dict)
            self.model.load_state_dict(t["raw_state_dict"])
            self.ema_steps = t["ema_steps"]
        elif "raw_state_dict" in t:
            raise GlacierfrontError(f"{path}: was trained with --ema; resume it with the same --ema")
        else:
            self.model.load_state_dict(ckpt.state_dict)
        self.optimizer.load_state_dict(t["optimizer"])
        self.scheduler.load_state_dict(t["scheduler"])
        self.step_module.joint.load_state_dict(t["joint_loss"])
        self.epoch, self.best_miou, self.since_best = t["epoch"], t["best_miou"], t["since_best"]
        torch.set_rng_state(t["rng_torch"])
        np.random.set_state(_plain_to_numpy_state(t["rng_numpy"]))
        random.setstate(_plain_to_python_state(t["rng_python"]))
        if "rng_cuda" in t and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(t["rng_cuda"])

    def _metadata(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "training_data": f"{data_label(self.cfg.data)} ({self.cfg.split}, {len(self.train_items)} images)",
            "tile_size": DEFAULT_TILE,
            "epoch": self.epoch,
            "train_config": self.cfg.to_dict(),
            "normalization": normalization_metadata(self.cfg.per_image_norm),
            **(extra or {}),
        }

    def save(self, name: str, extra: dict[str, Any] | None = None) -> Path:
        return save_checkpoint(
            self.out / name, self.kept_model, self._metadata(extra), self._training_state()
        )

    # -- training ---------------------------------------------------------------------------------------
    def fit(self, on_step=None, on_epoch=None) -> list[dict[str, Any]]:
        """Train; ``on_step(epoch, step, steps, loss, samples_per_s)`` and ``on_epoch(row)`` report progress."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.main:
            self.cfg.save(self.out / "config.json")
        rows: list[dict[str, Any]] = []
        previous = {
            signal.SIGTERM: signal.getsignal(signal.SIGTERM),
            signal.SIGINT: signal.getsignal(signal.SIGINT),
        }
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            while self.epoch < self.cfg.epochs and self.since_best < self.cfg.patience:
                row = self._epoch(on_step)
                if row is None:  # interrupted
                    break
                rows.append(row)
                if on_epoch and self.main:
                    on_epoch(row)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._stop_signal is not None:
            if self.main:
                self.save("last.pt", {"interrupted": True})
            raise StoppedBySignal(
                f"stopped by signal {self._stop_signal}; saved {self.out / 'last.pt'} (resume with --resume {self.out})",
                self._stop_signal,
            )
        return rows

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    def _epoch(self, on_step) -> dict[str, Any] | None:
        epoch = self.epoch
        self.sampler.set_epoch(epoch)
        self.pairs.set_epoch(epoch)
        self.runner.train()
        trained = self._train_steps(epoch, on_step)
        if trained is None:
            return None
        sums, steps, samples, started = trained
        seconds = time.perf_counter() - started
        self.epoch += 1
        row: dict[str, Any] = {"epoch": self.epoch, **{k: v / max(steps, 1) for k, v in sums.items()}}
        weights = self.step_module.joint.log_values()
        row.update(
            w_seg=weights.get("w_seg"), w_chg=weights.get("w_chg"), lr=self.optimizer.param_groups[0]["lr"]
        )
        row.update(samples_per_s=samples * (dist.get_world_size() if self.distributed else 1) / seconds)
        row["seconds"] = seconds
        if self.main and self._validating():
            row.update(
                validate(
                    self.kept_model,
                    self.val_items,
                    self.device,
                    self.cfg.val_min_length_px,
                    self.amp_dtype,
                    metres=self.cfg.val_metres,
                    per_image=self.cfg.per_image_norm,
                )
            )
            self._keep_best(row)
        if self.main:
            self._log(row)
        if self.distributed:
            flag = torch.tensor([self.since_best], device=self.device)
            dist.broadcast(flag, 0)
            self.since_best = int(flag.item())
        return row

    def _train_steps(self, epoch: int, on_step) -> tuple[dict[str, float], int, int, float] | None:
        """One epoch's optimiser steps: (loss sums, steps, samples, start time), or None when a stop signal
        came."""
        started, samples = time.perf_counter(), 0
        sums = {"train_loss": 0.0, "seg_loss": 0.0, "chg_loss": 0.0}
        steps = 0
        try:
            for (x1, z1), (x2, z2) in _closing(iter(self.loader)):
                if steps >= self.steps_per_epoch:
                    break
                if self._stop_signal is not None:
                    return None
                loss, parts = self._step(x1, z1, x2, z2)
                if not math.isfinite(loss):
                    raise GlacierfrontError(
                        f"the loss became {loss} at epoch {epoch + 1}, step {steps + 1}; training stopped and the last "
                        f"good checkpoint kept ({self.out / 'last.pt'}); lower --lr-max or check the data"
                    )
                sums["train_loss"] += loss
                for key, value in parts.items():
                    sums[key] += value
                steps += 1
                samples += x1.shape[0]
                if on_step and self.main:
                    on_step(
                        epoch, steps, self.steps_per_epoch, loss, samples / (time.perf_counter() - started)
                    )
        except GlacierfrontError as err:
            # A bad file met in a DataLoader worker comes back wrapped in the worker's traceback: keep its line.
            raise GlacierfrontError(_worker_message(str(err))) from None
        except RuntimeError:
            # A worker killed by the same signal that is stopping us: stop cleanly, not with its error.
            if self._stop_signal is not None:
                return None
            raise
        return sums, steps, samples, started

    def _validating(self) -> bool:
        """Whether the epoch just completed is validated (and checkpointed): every ``val_every`` and the last."""
        return self.epoch % self.cfg.val_every == 0 or self.epoch >= self.cfg.epochs

    def _step(self, x1, z1, x2, z2) -> tuple[float, dict[str, float]]:
        fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        x1, x2 = (x.to(self.device, non_blocking=True, memory_format=fmt) for x in (x1, x2))
        z1, z2 = (z.to(self.device, non_blocking=True) for z in (z1, z2))
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            loss, parts = self.runner(x1, z1, x2, z2)
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value, {}
        loss.backward()
        if self.cfg.clip_grad:
            nn.utils.clip_grad_norm_(self.step_module.parameters(), self.cfg.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        self._update_ema()
        return value, {k: float(v.detach()) for k, v in parts.items()}

    def _keep_best(self, row: dict[str, Any]) -> None:
        miou = row.get("val_miou")
        improved = miou is not None and miou > self.best_miou
        if improved:
            self.best_miou, self.since_best = miou, 0
        else:
            self.since_best += 1
        # last.pt first: if best.pt's write is interrupted, the run can still resume.
        val = {"val": {k: row.get(k) for k in ("val_miou", "val_mde_px", "val_mde_m", "val_no_front")}}
        self.save("last.pt", val)
        if improved:
            self.save("best.pt", val)

    def _log(self, row: dict[str, Any]) -> None:
        metrics = self.out / "metrics.csv"
        new = not metrics.exists()
        with open(metrics, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k)) for k in METRIC_FIELDS})
        with open(self.out / "train.log", "a") as fh:
            fh.write(" ".join(f"{k}={_fmt(row.get(k))}" for k in METRIC_FIELDS) + "\n")

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _init_from_checkpoint(model: CISNet, path: str) -> None:
    """Start from another run's weights (fine-tuning). The architecture must match; a change head missing
    from an inference-only file keeps its fresh initialisation."""
    ckpt = load_checkpoint(path)
    shape = ("encoder", "decoder", "in_channels", "num_classes")
    if any(getattr(ckpt.config, k) != getattr(model.config, k) for k in shape):
        raise GlacierfrontError(
            f"--init {path}: its model ({ckpt.config.encoder}, {ckpt.config.decoder} decoder, "
            f"{ckpt.config.in_channels} band(s)) is not the one being trained; pass the same --encoder/--decoder"
        )
    wanted = model.state_dict()
    weights = {k: v for k, v in ckpt.state_dict.items() if k in wanted}
    missing = [k for k in wanted if k not in weights and not k.startswith("change_head.")]
    if missing:
        raise GlacierfrontError(f"--init {path}: {len(missing)} weights missing (e.g. {missing[0]})")
    model.load_state_dict(weights, strict=False)


def _closing(batches):
    """Iterate a DataLoader iterator and always shut its workers down, also on an error or a break.

    Workers ignore SIGTERM (see ``_ignore_stop_signals``), so the interpreter's exit, which stops leftover
    daemonic processes with SIGTERM and then joins them, would wait on them forever after an error.
    """
    try:
        yield from batches
    finally:
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def _worker_message(message: str) -> str:
    """The user's one line out of torch's "Caught GlacierfrontError in DataLoader worker ..." report."""
    marker = "GlacierfrontError: "
    if message.startswith("Caught ") and marker in message:
        return message.rsplit(marker, 1)[1].strip().splitlines()[0]
    return message


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C / SIGTERM to the main process, which saves last.pt and shuts them down
    (a terminal sends Ctrl-C to the whole process group, and `pkill -f` matches the workers too)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# RNG states go into checkpoints that are read with weights_only=True: keep them as plain types.
def _numpy_state_to_plain(state: tuple) -> dict[str, Any]:
    return {"name": state[0], "keys": torch.from_numpy(state[1].astype(np.int64)), "pos": int(state[2]),
            "has_gauss": int(state[3]), "gauss": float(state[4])}  # fmt: skip


def _plain_to_numpy_state(plain: dict[str, Any]) -> tuple:
    keys = plain["keys"].numpy().astype(np.uint32)
    return (plain["name"], keys, plain["pos"], plain["has_gauss"], plain["gauss"])


def _python_state_to_plain(state: tuple) -> dict[str, Any]:
    return {"version": state[0], "internal": torch.tensor(state[1], dtype=torch.int64), "gauss": state[2]}


def _plain_to_python_state(plain: dict[str, Any]) -> tuple:
    return (plain["version"], tuple(int(v) for v in plain["internal"].tolist()), plain["gauss"])

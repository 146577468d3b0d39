"""Fine-tuning a shipped (or any glacierfront) model on a few labelled images of one's own glacier.

The data goes into a temporary CaFFe-layout folder (``train.finetune_data``) and is trained on by the ordinary
``Trainer``, started from the base model's weights (``init_from``) with a short AdamW + cosine schedule.
There are too few images to hold any out, so validation scores the training images themselves
(``val_on_train``): the state kept is the best fit of them, checked a few times during the run and on Ctrl-C.

The result is a first-class model: an inference checkpoint ``OUT.pt``, its ONNX export ``OUT.onnx``, both
listed in a ``SHA256SUMS`` beside them (predict and evaluate verify them), and a card ``OUT.md``. Their
metadata carry the base model's scale (``resolution_m``, its range, sensors, band names) and say what the
model was adapted from (``finetuned_from``: base name, file and sha256) and on what (``finetuned_on``).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError
from glacierfront.io.checksum import CHECKSUM_FILE, parse_sum_line, sha256_file, verify_listed_checksum
from glacierfront.io.intensity import per_image_model
from glacierfront.train.config import check_scale_aug
from glacierfront.train.finetune_data import Prepared

# Defaults measured on 2 CPU cores (docs/finetune.md): 5 images fine-tune in a few minutes.
DEFAULT_STEPS = 300
DEFAULT_BATCH = 4
DEFAULT_PATCH = 256
DEFAULT_LR_MAX = 2e-4
DEFAULT_LR_MIN = 1e-5
# Validations (on the training images) per run, besides the one after the last step.
VALIDATIONS = 6
# Fewer training images than this get a warning: measured on caffe256 (docs/finetune.md), one image left the
# fine-tuned model without a front on most of its glacier's other images; three were mostly fine.
FEW_IMAGES = 3
# Metadata keys of the base model the fine-tuned one keeps: its scale and what it reads.
INHERITED = ("resolution_m", "resolution_range_m", "sensors", "band_names", "normalization")


@dataclass(frozen=True)
class BaseModel:
    """The model fine-tuning starts from: its checkpoint (fine-tuning needs the weights, not an ONNX graph)."""

    name: str  # the catalog name ("sar") or the path given
    checkpoint: Path
    sha256: str
    metadata: dict[str, Any]
    config: Any  # CISNetConfig


def resolve_base(model: str | Path | None) -> BaseModel:
    """--model NAME|PATH (None: the default shipped model) as a checkpoint; an .onnx needs its .pt beside it."""
    from glacierfront.model.backend import MODELS_DIR, model_path
    from glacierfront.model.catalog import read_catalog
    from glacierfront.model.checkpoint import load_checkpoint
    from glacierfront.model.info import model_kind

    path = model_path(model)
    if model_kind(path) == "onnx":
        checkpoint = path.with_suffix(".pt")
        if not checkpoint.is_file():
            raise GlacierfrontError(
                f"--model {model or path}: {path.name} is an ONNX export and fine-tuning needs the weights: "
                f"no {checkpoint.name} beside it; pass the checkpoint (.pt) the export was made from"
            )
    else:
        checkpoint = path
    if not checkpoint.is_file():
        raise GlacierfrontError(
            f"--model {model or path}: no such file; give a .pt checkpoint or an .onnx model"
        )
    digest = sha256_file(checkpoint)
    verify_listed_checksum(checkpoint, digest)
    ckpt = load_checkpoint(checkpoint)
    name = str(model) if model is not None else str(path)
    for entry in read_catalog(MODELS_DIR):
        if (
            entry.path.resolve() in (path.resolve(), checkpoint.resolve())
            or entry.path.with_suffix(".pt").resolve() == checkpoint.resolve()
        ) and (model is None or str(model) == entry.name):
            name = entry.name
    return BaseModel(name, checkpoint, digest, dict(ckpt.metadata), ckpt.config)


@dataclass
class FinetuneOptions:
    steps: int | None = None  # None: DEFAULT_STEPS (or from epochs)
    epochs: int | None = None  # passes over the training images; the alternative to steps
    batch_size: int = DEFAULT_BATCH
    patch: int = DEFAULT_PATCH
    lr_max: float = DEFAULT_LR_MAX
    lr_min: float = DEFAULT_LR_MIN
    freeze_encoder: bool = True  # measured: as good on held-out images and twice as fast (docs/finetune.md)
    scale_aug: list[float] | None = None  # random zoom LO,HI as `train --scale-aug`; None: off
    intensity_aug: bool = False  # gamma, dB-like curve, blur, speckle as `train --intensity-aug`
    view_aug: bool = False  # partial views as `train --view-aug`: half the patches keep a 35-100 % window
    seed: int = 0
    device: str = "auto"
    workers: int = 0


@dataclass
class FinetuneResult:
    onnx: Path
    checkpoint: Path
    card: Path
    steps: int  # steps trained (to the interruption, if any)
    planned_steps: int
    seconds: float
    cpu_seconds: float
    interrupted: bool
    train_miou: float | None
    kept: str  # which state was kept, in words
    sha256: dict[str, str] = field(default_factory=dict)
    signum: int | None = None  # the signal that stopped it (SIGTERM, SIGINT), when interrupted


def too_few_warning(n_images: int) -> str | None:
    """The warning for a fine-tune on fewer than FEW_IMAGES images, or None."""
    if n_images >= FEW_IMAGES:
        return None
    return (
        f"fine-tuning on {n_images} image(s): on caffe256 a model fine-tuned on one image found no front in "
        f"most of its glacier's other images; give {FEW_IMAGES} or more (5 to 10 spread over seasons and sensors did "
        "best there), and check the model on scenes it did not see"
    )


def outputs_for(out: Path) -> list[Path]:
    """The files a fine-tune writes for ``-o OUT.onnx``: the ONNX model, its checkpoint and its card."""
    return [out, out.with_suffix(".pt"), out.with_suffix(".md")]


def check_outputs(out: Path, overwrite: bool, inputs: list[Path | None] = ()) -> None:
    """Refuse a wrong -o, outputs that exist without --overwrite, or outputs that are one of ``inputs``
    (the base model, scenes, fronts, box: refused even with --overwrite), before any work."""
    from glacierfront.predict.outputs import refuse_outputs_that_are_inputs

    if out.suffix.lower() != ".onnx":
        raise GlacierfrontError(f"-o {out}: give the ONNX file to write, e.g. -o models/my-glacier.onnx")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise GlacierfrontError(f"-o {out}: folder {folder} does not exist; create it first")
    refuse_outputs_that_are_inputs([("-o", p) for p in outputs_for(out)], list(inputs))
    existing = [p for p in outputs_for(out) if p.exists()]
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing)
        raise GlacierfrontError(f"-o {out}: {names} already exist(s); pass --overwrite to replace")


def model_files(model: str | Path | None) -> list[Path]:
    """The files of --model as fine-tuning reads them: the file named and its ONNX/checkpoint twin (one
    model in two files; a fine-tune must not write over either)."""
    from glacierfront.model.backend import model_path

    path = model_path(model)
    return [path, path.with_suffix(".pt"), path.with_suffix(".onnx")]


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Optimiser steps in one pass over ``n_images`` (the Trainer drops a last short batch only when there
    are at least two full ones)."""
    if n_images >= 2 * batch_size:
        return n_images // batch_size
    return math.ceil(n_images / batch_size)


def batch_for(n_images: int, batch_size: int) -> int:
    """The batch actually used: all the images in every step when there are fewer than two batches of them
    (5 images and batch 4 would otherwise make steps of 4 and 1)."""
    return n_images if n_images < 2 * batch_size else batch_size


def plan(n_images: int, options: FinetuneOptions) -> tuple[int, int, int]:
    """(epochs, steps per epoch, validate every N epochs) for the requested steps or epochs."""
    if options.steps is not None and options.epochs is not None:
        raise GlacierfrontError("give --steps or --epochs, not both")
    if options.batch_size < 1:
        raise GlacierfrontError(f"--batch-size {options.batch_size}: must be at least 1")
    if options.scale_aug is not None:
        check_scale_aug(options.scale_aug)  # before any work; TrainConfig checks it again when built
    per_epoch = steps_per_epoch(n_images, batch_for(n_images, options.batch_size))
    if options.epochs is not None:
        if options.epochs < 1:
            raise GlacierfrontError(f"--epochs {options.epochs}: must be at least 1")
        epochs = options.epochs
    else:
        steps = DEFAULT_STEPS if options.steps is None else options.steps
        if steps < 1:
            raise GlacierfrontError(f"--steps {steps}: must be at least 1")
        epochs = math.ceil(steps / per_epoch)
    return epochs, per_epoch, max(1, math.ceil(epochs / VALIDATIONS))


def finetune(
    prepared: Prepared,
    base: BaseModel,
    out: Path,
    options: FinetuneOptions | None = None,
    data_note: str = "",
    on_step: Callable[[int, int, float], None] | None = None,
    work: Path | None = None,
) -> FinetuneResult:
    """Fine-tune ``base`` on the prepared folder and write ``out`` (.onnx), its .pt, card and sums.

    ``on_step(step, total, loss)`` reports progress. Ctrl-C / SIGTERM stop after the current step; the better
    of the best validated state and the state at the interruption is written, and the card says so.
    ``work``: a folder for the run (checkpoints, metrics.csv); default a temporary one, removed afterwards.
    """
    options = options or FinetuneOptions()
    n_train = len(list((prepared.folder / "sar_images" / "train").glob("*.png")))
    epochs, per_epoch, val_every = plan(n_train, options)
    own_work = work is None
    run = Path(tempfile.mkdtemp(prefix="glacierfront-finetune-")) if own_work else Path(work)
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        config = _train_config(prepared, base, run, options, n_train, epochs, val_every)
        trainer = _start_trainer(config, per_epoch, options.freeze_encoder)
        total = epochs * per_epoch
        done = {"steps": 0}

        def step(epoch: int, k: int, steps: int, loss: float, rate: float) -> None:
            done["steps"] = epoch * per_epoch + k
            if on_step is not None:
                on_step(done["steps"], total, loss)

        interrupted = _fit(trainer, step)
        kept_path, miou, kept = _kept_state(trainer, run, config, epochs, interrupted, done["steps"], total)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        facts = _facts(prepared, base, config, options.freeze_encoder, epochs, per_epoch, done["steps"], total, seconds, cpu_seconds,
                       interrupted, miou, kept, data_note, trainer.device)  # fmt: skip
        result = _write_outputs(kept_path, out, base, facts)
    finally:
        if own_work:
            shutil.rmtree(run, ignore_errors=True)
    result.interrupted = interrupted
    result.signum = trainer._stop_signal if interrupted else None
    return result


def _train_config(
    prepared: Prepared,
    base: BaseModel,
    run: Path,
    options: FinetuneOptions,
    n_train: int,
    epochs: int,
    val_every: int,
) -> Any:
    """The TrainConfig of a fine-tune: the base model's architecture and weights, a short AdamW + cosine run
    validated on the training images."""
    from glacierfront.train.config import TrainConfig

    return TrainConfig(
        data=str(prepared.folder), out=str(run), encoder=base.config.encoder, decoder=base.config.decoder,
        drop_path=base.config.drop_path, change_branch=base.config.change_branch,
        init_from=str(base.checkpoint), patch=options.patch, batch_size=batch_for(n_train, options.batch_size),
        workers=options.workers, epochs=epochs, patience=epochs + 1, optimizer="adamw",
        lr_min=options.lr_min, lr_max=options.lr_max, seed=options.seed, device=options.device,
        val_on_train=True, val_every=val_every, scale_aug=options.scale_aug,
        intensity_aug=options.intensity_aug, view_aug=options.view_aug,
        per_image_norm=per_image_model(base.metadata),
    )  # fmt: skip


def _start_trainer(config: Any, per_epoch: int, freeze_encoder: bool) -> Any:
    """The Trainer for ``config``, checked against the plan, with the encoder frozen when asked."""
    from glacierfront.train.loop import Trainer

    trainer = Trainer(config, quiet=True)
    if trainer.steps_per_epoch != per_epoch:  # the plan above must describe the loader the Trainer built
        raise GlacierfrontError(
            f"internal: planned {per_epoch} steps per epoch, the trainer has {trainer.steps_per_epoch}"
        )
    if freeze_encoder:
        # Frozen weights get no gradient, so the optimiser leaves them alone and backward stops at them.
        trainer.model.encoder.requires_grad_(False)
    return trainer


def _fit(trainer: Any, step: Callable[[int, int, int, float, float], None]) -> bool:
    """Run the trainer to its end or a stop signal (True: interrupted); the trainer is closed either way."""
    interrupted = False
    try:
        trainer.fit(step)
    except GlacierfrontError:
        if trainer._stop_signal is None:
            raise
        interrupted = True
    finally:
        trainer.close()
    return interrupted


def _kept_state(
    trainer: Any, run: Path, config: Any, epochs: int, interrupted: bool, steps_done: int, total: int
) -> tuple[Path, float | None, str]:
    """The checkpoint to write (best validated, or the state at an interruption when it scores better), its
    validation mIoU and the card's words for it."""
    from glacierfront.train.validate import validate

    best = run / "best.pt"
    kept_path, miou = (best, trainer.best_miou) if best.is_file() else (run / "last.pt", None)
    kept = f"the best fit of the training images (epoch {_epoch_of(kept_path)} of {epochs})"
    if interrupted and trainer._stop_signal == signal.SIGTERM and best.is_file():
        # SIGTERM comes with a deadline (docker stop waits 10 s): the best state so far is written as it
        # is, without the extra validation of the last one.
        kept += f"; stopped by SIGTERM at step {steps_done} of {total}"
    elif interrupted:
        now = validate(
            trainer.model, trainer.val_items, trainer.device, config.val_min_length_px,
            per_image=config.per_image_norm,
        )  # fmt: skip
        if miou is None or (now["val_miou"] or 0.0) > miou:
            kept_path, miou = run / "last.pt", now["val_miou"]
            kept = f"the state at the interruption (step {steps_done} of {total})"
        else:
            kept += f"; interrupted at step {steps_done} of {total}"
    return kept_path, miou, kept


def _epoch_of(path: Path) -> int | None:
    from glacierfront.model.checkpoint import load_checkpoint

    return load_checkpoint(path).metadata.get("epoch")


def _facts(prepared, base, config, frozen, epochs, per_epoch, steps, total, seconds, cpu_seconds, interrupted,
           miou, kept, data_note, device) -> dict[str, Any]:  # fmt: skip
    trained = "decoder, bottleneck and heads (encoder frozen)" if frozen else "all weights"
    return {
        "finetuned_from": {
            "model": base.name,
            "file": base.checkpoint.name,
            "sha256": base.sha256,
            "training_data": base.metadata.get("training_data"),
        },
        "finetuned_on": {
            "data": data_note or str(prepared.folder),
            "k": len(prepared.names),
            "images": list(prepared.names),
            "sources": [Path(s).name for s in prepared.sources],
            "labels": prepared.labels,
            "steps": steps,
            "planned_steps": total,
            "epochs": epochs,
            "batch_size": config.batch_size,
            "patch": config.patch,
            "lr": [config.lr_max, config.lr_min],
            "seed": config.seed,
            "trained": trained,
            "augmentation": augmentation_words(config.scale_aug, config.intensity_aug, config.view_aug),
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "device": str(device),
            "interrupted": interrupted,
            "kept": kept,
            "train_miou": None if miou is None or not math.isfinite(miou) else round(float(miou), 4),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def augmentation_words(scale_aug: list[float] | None, intensity_aug: bool, view_aug: bool) -> str:
    """The augmentation of a fine-tune in words, for its metadata and card."""
    parts = ["flips, rotations, brightness/contrast jitter and 4-16-look speckle (as train)"]
    if scale_aug is not None:
        parts.append(f"zoom {scale_aug[0]:g}-{scale_aug[1]:g}x")
    if intensity_aug:
        parts.append("intensity (gamma, dB-like curve, blur, 1-16-look speckle)")
    if view_aug:
        parts.append("partial views (half the patches keep a 35-100 % window)")
    return ", ".join(parts)


def _write_outputs(source: Path, out: Path, base: BaseModel, facts: dict[str, Any]) -> FinetuneResult:
    from glacierfront.model.export import export_checkpoint, export_onnx

    on = facts["finetuned_on"]
    stamp = {k: base.metadata[k] for k in INHERITED if base.metadata.get(k) is not None}
    stamp["training_data"] = (
        f"fine-tuned from {base.name} on {on['k']} image(s) of {on['data']} ({on['labels']}, {on['steps']} steps)"
    )
    stamp.update(facts)
    pt = out.with_suffix(".pt")
    export_checkpoint(source, pt, stamp)
    export_onnx(pt, out)
    sums = {p.name: sha256_file(p) for p in (out, pt)}
    write_sums(out.parent, sums)
    card = out.with_suffix(".md")
    from glacierfront.io.atomic import atomic_path

    with atomic_path(card) as tmp:
        tmp.write_text(model_card(out, base, stamp, sums))
    return FinetuneResult(out, pt, card, on["steps"], on["planned_steps"], on["seconds"], on["cpu_seconds"],
                          on["interrupted"], on["train_miou"], on["kept"], sums)  # fmt: skip


def write_sums(folder: Path, sums: dict[str, str]) -> Path:
    """Add or replace the lines of ``sums`` (file name -> sha256) in ``folder``/SHA256SUMS, keeping the others."""
    from glacierfront.io.atomic import atomic_path

    path = folder / CHECKSUM_FILE
    kept = []
    if path.is_file():
        for line in path.read_text().splitlines():
            listed = parse_sum_line(line)
            if listed is None or listed[1] not in sums:
                kept.append(line)
    kept += [f"{digest}  {name}" for name, digest in sums.items()]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(kept) + "\n")
    return path


def model_card(out: Path, base: BaseModel, meta: dict[str, Any], sums: dict[str, str]) -> str:
    """A short card: what the model was adapted from, on what, how long it took and how to check it."""
    on, origin = meta["finetuned_on"], meta["finetuned_from"]
    scale = meta.get("resolution_m")
    images = "\n".join(f"- {name}" + (f" ({src})" if src != name else "") for name, src in zip(
        on["images"], on["sources"], strict=False))  # fmt: skip
    lines = [
        f"# {out.stem}",
        "",
        f"CISNet ({base.config.encoder}) fine-tuned with `glacierfront finetune` on {on['k']} image(s) of one's "
        "own glacier. Its scores on that glacier are only known once it is evaluated on scenes it did not see.",
        "",
        "| | |",
        "| --- | --- |",
        f"| base model | {origin['model']} ({origin['file']}, sha256 {origin['sha256']}) |",
        f"| base training data | {origin['training_data']} |",
        f"| data | {on['data']} |",
        f"| labels | {on['labels']} |",
        f"| images (k) | {on['k']} |",
        f"| steps | {on['steps']} of {on['planned_steps']} planned ({on['epochs']} epochs, batch {on['batch_size']}, "
        f"{on['patch']} px patches) |",
        f"| trained | {on['trained']}, AdamW, cosine learning rate {on['lr'][0]:g} -> {on['lr'][1]:g} |",
        f"| augmentation | {on.get('augmentation', 'as train')} |",
        f"| kept | {on['kept']}; mIoU on the training labels {on['train_miou']} |",
        f"| time | {on['seconds'] / 60:.1f} min wall, {on['cpu_seconds'] / 60:.1f} CPU min on {on['device']} |",
        f"| pixel spacing | {f'{scale:g} m' if scale is not None else 'not stated (as the base model)'} |",
        f"| interrupted | {'yes' if on['interrupted'] else 'no'} |",
        f"| date | {on['date']} |",
        "",
        "## Training images",
        "",
        images,
        "",
        "## Files and checksums",
        "",
        "```",
        *(f"{digest}  {name}" for name, digest in sums.items()),
        "```",
        "",
        f"Both are listed in {CHECKSUM_FILE} beside them, which predict and evaluate check before loading.",
        "",
        "## Use",
        "",
        "```",
        f"glacierfront predict SCENE.tif --model {out.name} -o fronts.gpkg",
        f"glacierfront info {out.name}",
        "```",
        "",
        "The base model's licence and attribution apply to this model too (see the base model's card).",
        "",
    ]
    return "\n".join(lines)

"""`glacierfront train`: train CISNet on a CaFFe-format folder; resumable; DDP under torchrun."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from glacierfront.cli import options as opt
from glacierfront.cli.options import data_value, parse_names, parse_scale_aug
from glacierfront.errors import GlacierfrontError
from glacierfront.predict.outputs import check_writable
from glacierfront.train.config import TrainConfig

DEFAULT_EPOCHS = 150


def train(
    data: list[Path] | None = typer.Option(
        None,
        "--data",
        help="CaFFe-format folder (sar_images/, zones/, fronts/); repeat it to train on several together.",
    ),
    out: Path | None = typer.Option(
        None, "-o", "--out", help="Run folder: last.pt, best.pt, config.json, metrics.csv."
    ),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this folder exactly."),
    encoder: str = typer.Option("atto", help="ConvNeXt V2 size: atto, femto, pico, nano, tiny, base."),
    decoder: str = typer.Option("additive", help="additive (paper) or unet (concatenating skips)."),
    no_change_branch: bool = typer.Option(False, "--no-change-branch", help="Plain U-ConvNeXtV2 (ablation)."),
    change_label: str = typer.Option("glacier", help="glacier (XOR of glacier masks) or all-classes."),
    encoder_weights: Path | None = typer.Option(
        None, help="Official ConvNeXt V2 checkpoint for the encoder."
    ),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Start from this glacierfront checkpoint's weights (fine-tuning; fresh optimiser).",
    ),
    epochs: int | None = typer.Option(
        None,
        help=f"Maximum epochs (default {DEFAULT_EPOCHS}; with --resume: the new total, default the run's).",
    ),
    patience: int = typer.Option(30, help="Early stopping: epochs without a better validation mIoU."),
    batch_size: int = typer.Option(16, help="Pairs per step (per process under torchrun)."),
    patch: int = typer.Option(256, help="Training patch size in px (multiple of 32)."),
    optimizer: str = typer.Option("adam", help="adam (cyclic LR, the authors') or adamw (cosine)."),
    lr_min: float = typer.Option(4e-5, help="Lowest learning rate."),
    lr_max: float = typer.Option(2e-4, help="Highest learning rate."),
    weight_decay: float = typer.Option(0.0, help="Weight decay (not applied to the joint-loss weights)."),
    drop_path: float = typer.Option(0.1, help="Stochastic depth rate."),
    precision: str = typer.Option("auto", help="auto (bf16 on GPU), fp32 or bf16."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the training step."),
    val_fraction: float = typer.Option(0.1, help="Share of train images held out for validation."),
    val_glaciers: str | None = typer.Option(None, help="Hold out these glaciers instead, e.g. SI,Crane."),
    glaciers: str | None = typer.Option(None, help="Train only on these glaciers."),
    split: str = typer.Option("train", help="CaFFe split folder to train on."),
    workers: int = typer.Option(2, help="DataLoader worker processes."),
    max_steps: int | None = typer.Option(
        None, "--max-steps-per-epoch", help="Cap steps per epoch (quick runs)."
    ),
    val_metres: bool = typer.Option(
        False, "--val-metres", help="Validation MDE in metres (full CaFFe; names carry the pixel spacing)."
    ),
    scale_aug: str = opt.scale_aug_option(opt.DEFAULT_SCALE_AUG),
    intensity_aug: bool = opt.intensity_aug_option(True),
    view_aug: bool = opt.view_aug_option(False),
    per_image_norm: bool = opt.per_image_norm_option(False),
    ema: str = opt.ema_option(opt.DEFAULT_EMA),
    seed: int = typer.Option(0, help="Random seed (split, pairing, augmentation, init)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train CISNet (zones + change branch, adaptive joint loss) on CaFFe-format data.

    Example: glacierfront train --data caffe256/ --out runs/atto --epochs 40

    Several GPUs or nodes: torchrun --nproc_per_node 4 -m glacierfront train --data ... --out ...
    Ctrl-C or SIGTERM saves last.pt; --resume RUN_DIR continues from it.
    """
    from glacierfront.train.loop import Trainer

    if resume is not None:
        config_path = resume / "config.json"
        if not (resume / "last.pt").is_file() or not config_path.is_file():
            raise GlacierfrontError(
                f"--resume {resume}: no last.pt and config.json there; is it a run folder?"
            )
        config = TrainConfig.load(config_path)
        config.out = str(resume)
        if epochs is not None:  # --epochs given with --resume: train up to that many epochs in all
            config.epochs = epochs
        if data:  # the run's data moved: read it from here (the same images, or the split would change)
            config.data = data_value(data)
    else:
        if not data or out is None:
            raise GlacierfrontError("give --data CAFFE_DIR and --out RUN_DIR (or --resume RUN_DIR)")
        if (out / "last.pt").exists():
            raise GlacierfrontError(f"--out {out} already holds a run; use --resume {out} or another folder")
        config = TrainConfig(
            data=data_value(data), out=str(out), split=split, glaciers=parse_names(glaciers), val_fraction=val_fraction,
            val_glaciers=parse_names(val_glaciers), encoder=encoder, decoder=decoder, drop_path=drop_path,
            change_branch=not no_change_branch, change_label=change_label,
            encoder_weights=str(encoder_weights) if encoder_weights else None, patch=patch, batch_size=batch_size,
            workers=workers, epochs=DEFAULT_EPOCHS if epochs is None else epochs, patience=patience, optimizer=optimizer, lr_min=lr_min, lr_max=lr_max,
            weight_decay=weight_decay, precision=precision, compile=compile_, max_steps_per_epoch=max_steps,
            seed=seed, device=device, val_metres=val_metres, scale_aug=parse_scale_aug(scale_aug),
            intensity_aug=intensity_aug, view_aug=view_aug, per_image_norm=per_image_norm, init_from=str(init) if init else None, ema=opt.parse_ema(ema),
        )  # fmt: skip
    # Before any work: the run folder must not be (in) the data, and a file must really be writable there.
    where = "--resume" if resume is not None else "--out"
    config.check_out(where)
    check_writable(Path(config.out), where, create=True)
    trainer = Trainer(config, resume=resume is not None, quiet=quiet)
    console = opt.console(quiet or not trainer.main)
    console.print(
        f"training {config.encoder} on {len(trainer.train_items)} images, validating on {len(trainer.val_items)}; "
        f"{trainer.device}, {trainer.steps_per_epoch} steps/epoch",
        highlight=False,
    )
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:.1f} pairs/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=quiet or not trainer.main) as progress:
        task = progress.add_task(
            "train", total=trainer.steps_per_epoch, epoch=trainer.epoch + 1, loss=0.0, rate=0.0
        )

        def on_step(epoch: int, step: int, steps: int, loss: float, rate: float) -> None:
            progress.update(task, completed=step, total=steps, epoch=f"{epoch + 1}/{config.epochs}", loss=loss,
                            rate=rate)  # fmt: skip

        def on_epoch(row: dict) -> None:
            miou, mde = row.get("val_miou"), row.get("val_mde_px")
            progress.console.print(
                f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  val mIoU {miou if miou is None else f'{miou:.4f}'}"
                f"  val MDE {mde if mde is None else f'{mde:.2f}'} px  {row['samples_per_s']:.1f} pairs/s",
                highlight=False,
            )
            progress.reset(task, total=trainer.steps_per_epoch, epoch=row["epoch"] + 1, loss=0.0, rate=0.0)

        try:
            trainer.fit(on_step, on_epoch)
        finally:
            trainer.close()
    if trainer.main:
        best = Path(config.out) / "best.pt"
        typer.echo(str(best if best.is_file() else Path(config.out) / "last.pt"))

"""`glacierfront crossval`: leave-one-glacier-out training and scoring, one table per recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierfront.cli import options as opt
from glacierfront.errors import GlacierfrontError
from glacierfront.predict.outputs import check_writable
from glacierfront.train.config import TrainConfig


def crossval(
    data: list[Path] = typer.Option(
        ..., "--data", help="CaFFe-format folder with at least two glaciers; repeat it for joint training."
    ),
    out: Path = typer.Option(..., "--out", help="Folder of the folds (OUT/<glacier>/) and the tables."),
    glaciers: str | None = typer.Option(None, help="Hold out only these glaciers (default: each in turn)."),
    epochs: int = typer.Option(8, help="Epochs per fold (the same budget for every recipe compared)."),
    encoder: str = typer.Option("atto", help="ConvNeXt V2 size."),
    init: Path | None = typer.Option(
        None, "--init", help="Start every fold from this checkpoint's weights (fine-tuning a shipped model)."
    ),
    no_change_branch: bool = typer.Option(False, "--no-change-branch", help="Plain U-ConvNeXtV2 (ablation)."),
    scale_aug: str = opt.scale_aug_option("off"),
    intensity_aug: bool = opt.intensity_aug_option(False),
    view_aug: bool = opt.view_aug_option(False),
    per_image_norm: bool = opt.per_image_norm_option(False),
    ema: str = opt.ema_option("off"),
    batch_size: int = typer.Option(8, help="Pairs per step."),
    lr_max: float = typer.Option(2e-4, help="Highest learning rate."),
    workers: int = typer.Option(1, help="DataLoader worker processes."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    score_only: bool = typer.Option(False, "--score-only", help="Train nothing: score the folds that exist."),
    tta: bool = opt.TTA,
    ocean_rule: str = opt.OCEAN_RULE,
    ensemble_with: Path | None = typer.Option(
        None, "--ensemble-with", help="Another crossval folder: score each fold as the mean of both models."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Table file name (default from the scoring options)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the table."),
) -> None:
    """Leave-one-glacier-out cross-validation: train one model per held-out glacier, score it there.

    \b
    Every fold is an ordinary run folder, OUT/<glacier>/: an interrupted fold continues from its last.pt
    when the command is run again; finished folds are only scored. Scored is each fold's last.pt, never
    best.pt (chosen on the held-out glacier, it would leak it). Scores are CaFFe's: official
    post-processing, bounding boxes, pixels of the image grid, with the label floor of the same images.
    Writes OUT/NAME.md and OUT/NAME.json and prints the table.

    \b
    $ glacierfront crossval --data caffe256 --out runs/logo-base --epochs 8
    $ glacierfront crossval --data caffe256 --out runs/logo-aug --epochs 8 --scale-aug 0.5,2 --intensity-aug
    $ glacierfront crossval --data caffe256 --out runs/logo-aug --score-only --tta
    """
    from glacierfront.model.backend import load_backend
    from glacierfront.train import crossval as cv

    console = opt.console(quiet)
    for folder in data:
        if not folder.is_dir():
            raise GlacierfrontError(f"--data {folder}: folder not found")
    folders = opt.data_value(data)
    available = cv.glaciers_in(folders)
    held = opt.parse_names(glaciers) or available
    unknown = sorted(set(held) - set(available))
    if unknown:
        raise GlacierfrontError(
            f"--glaciers: {', '.join(unknown)} not in {folders}; it has {', '.join(available)}"
        )
    if len(available) < 2:
        raise GlacierfrontError(f"{folders} holds one glacier only; leave-one-glacier-out needs two or more")
    base = TrainConfig(
        data=folders, out=str(out), encoder=encoder, init_from=str(init) if init else None, change_branch=not no_change_branch,
        scale_aug=opt.parse_scale_aug(scale_aug), intensity_aug=intensity_aug, view_aug=view_aug, per_image_norm=per_image_norm, batch_size=batch_size, lr_max=lr_max,
        workers=workers, epochs=epochs, patience=max(epochs, 1), seed=seed, device=device, ema=opt.parse_ema(ema),
    )  # fmt: skip
    # Before any work: no fold folder may be (in) the data, and OUT must take files.
    base.check_out()
    for glacier in held:
        cv.fold_config(base, out, glacier).check_out()
    check_writable(out, "--out", create=True)
    scores = []
    for glacier in held:
        config = cv.fold_config(base, out, glacier)
        state = cv.fold_state(config)
        if state != "done":
            if score_only:
                raise GlacierfrontError(
                    f"--score-only: fold {glacier} is not trained ({config.out}: {state})"
                )
            console.print(
                f"fold {glacier}: {'continuing' if state == 'partial' else 'training'} in {config.out}"
            )

            def on_epoch(row: dict, glacier: str = glacier) -> None:
                console.print(
                    f"  {glacier} epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f}, "
                    f"held-out mIoU {row.get('val_miou') or 0:.3f}, {row['samples_per_s']:.1f} pairs/s",
                    highlight=False,
                )

            cv.train_fold(config, on_epoch)
        run = Path(config.out)
        backend = load_backend(run / "last.pt", device, tta=tta)
        if ensemble_with is not None:
            from glacierfront.model.backend import ensemble_backend

            partner = ensemble_with / glacier / "last.pt"
            if not partner.is_file():
                raise GlacierfrontError(f"--ensemble-with: no fold {glacier} in {ensemble_with}")
            backend = ensemble_backend([backend, load_backend(partner, device, tta=tta)])
        console.print(f"fold {glacier}: scoring {run / 'last.pt'}", highlight=False)
        scores.append(cv.score_fold(run, backend, glacier, {"ocean_rule": ocean_rule}))
    table = cv.rows(scores)
    suffix = "".join(
        [f"-ocean-{ocean_rule}" if ocean_rule != "largest" else "", "-tta" if tta else "",
         f"-ens-{ensemble_with.name}" if ensemble_with else ""]
    )  # fmt: skip
    name = name or f"logo{suffix}"
    trained = sorted({cv.completed_epochs(out / g) for g in held})
    budget = "/".join(str(e) for e in trained)
    title = f"LOGO {out.name}: {budget} epochs/fold, scored last.pt{suffix.replace('-', ' ')}"
    settings = {"epochs": trained, "tta": tta, "ocean_rule": ocean_rule,
                "ensemble_with": str(ensemble_with) if ensemble_with else None,
                "no_front_images": {s.glacier: s.no_front_images for s in scores}}  # fmt: skip
    md = cv.write_table(table, out, name, title, settings)
    typer.echo(md.read_text())

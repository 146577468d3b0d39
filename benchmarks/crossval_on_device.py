"""Leave-one-glacier-out for several recipes at once on one lent GPU, inside a fixed wall-clock budget.

`glacierfront crossval` trains its folds one after the other; on a GPU machine lent for minutes that wastes it
(an atto step at batch 8 leaves the GPU mostly idle). This script starts every fold of every recipe as its own
process at the same time (plus, optionally, random-split runs that give the seen-glacier figure of a recipe),
and gives them all the same number of epochs: once each has finished a few, it measures the slowest and sets
one common budget (a whole number of learning-rate cycles) that ends before ``--budget-s``. Each fold is then
scored on its held-out glacier exactly as `crossval` scores it (its last.pt, CaFFe post-processing, label
floor) and each recipe's table is written as OUT/<recipe>/logo.md and .json, the same format as crossval's.

It needs neither rasterio nor fiona nor shapely (the lent machines lack them).

    python3 benchmarks/crossval_on_device.py --data caffe256 --out runs/dev --recipes plain,aug,int \
        --random int --budget-s 420
"""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_on_device import small_copy  # the script's own folder is on sys.path

from glacierfront.train import crossval as cv
from glacierfront.train.config import TrainConfig

# The recipes compared in issue 10 (the options `train` and `crossval` take for them).
RECIPES = {
    "plain": {"scale_aug": None, "intensity_aug": False},
    "aug": {"scale_aug": [0.5, 2.0], "intensity_aug": True},
    "int": {"scale_aug": None, "intensity_aug": True},
    "mild": {"scale_aug": [0.75, 1.33], "intensity_aug": True},
}
TARGET = "target_epochs"  # the common budget, written by the parent, read by every run after each epoch
EPOCH_LOG = "epochs.log"  # one line per finished epoch: epoch, wall-clock time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--recipes",
        default="plain,aug",
        help=f"comma list of {', '.join(RECIPES)}, each with -ema or -sN added",
    )
    ap.add_argument(
        "--random", default="", help="recipes also trained on a random 10%% split (seen glaciers)"
    )
    ap.add_argument("--glaciers", default="", help="hold out only these (default: each glacier)")
    ap.add_argument("--budget-s", type=float, default=420, help="wall-clock seconds for all training")
    ap.add_argument("--max-epochs", type=int, default=400)
    ap.add_argument("--val-every", type=int, default=4, help="validate (and save last.pt) every N epochs")
    ap.add_argument("--round", type=int, default=4, help="the common budget is a multiple of this")
    ap.add_argument(
        "--calibrate", type=int, default=4, help="epochs every run finishes before the budget is set"
    )
    ap.add_argument("--encoder", default="atto")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None, help="cap steps per epoch (a smoke test)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child))
        return
    parent(args)


def configs(args) -> list[tuple[str, str, TrainConfig]]:
    """(recipe, glacier or 'random', config) for every run."""
    out = Path(args.out)
    glaciers = [g for g in args.glaciers.split(",") if g] or cv.glaciers_in(args.data)
    runs = []
    for recipe in [r for r in args.recipes.split(",") if r] + [
        f"random-{r}" for r in args.random.split(",") if r
    ]:
        name, *variants = recipe.removeprefix("random-").split("-")
        if name not in RECIPES:
            raise SystemExit(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
        options = dict(RECIPES[name], seed=0)
        for variant in variants:  # -ema: weight average (decay 0.998); -sN: seed N
            if variant == "ema":
                options["ema"] = 0.998
            elif variant[:1] == "s" and variant[1:].isdigit():
                options["seed"] = int(variant[1:])
            else:
                raise SystemExit(f"unknown variant {variant!r} in {recipe!r}: use -ema or -sN")
        base = TrainConfig(
            data=args.data, out=str(out / recipe), encoder=args.encoder, batch_size=args.batch_size,
            workers=args.workers, epochs=args.max_epochs, patience=args.max_epochs + 1,
            val_every=args.val_every, max_steps_per_epoch=args.max_steps, **options,
        )  # fmt: skip
        if recipe.startswith("random-"):
            runs.append((recipe, "random", base))
        else:
            runs += [(recipe, g, cv.fold_config(base, out / recipe, g)) for g in glaciers]
    return runs


def parent(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / TARGET).unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    started = time.time()
    procs = []
    for recipe, glacier, config in configs(args):
        run = Path(config.out)
        run.mkdir(parents=True, exist_ok=True)
        config.save(run / "wanted.json")
        cmd = [
            sys.executable,
            __file__,
            "--data",
            args.data,
            "--out",
            args.out,
            "--child",
            str(run / "wanted.json"),
        ]
        with open(run / "child.log", "w") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append((recipe, glacier, run, proc))
    print(f"{len(procs)} runs started", flush=True)
    target = None
    while any(p.poll() is None for *_, p in procs):
        time.sleep(5)
        done = {run: _epochs(run) for *_, run, _ in procs}
        elapsed = time.time() - started
        if target is None and all(len(v) >= args.calibrate for v in done.values()):
            # Seconds per epoch of the slowest run, validation included, from its first to its latest epoch.
            rate = max((v[-1] - v[0]) / (len(v) - 1) for v in done.values())
            fit = int((args.budget_s - elapsed) / rate) + min(len(v) for v in done.values())
            target = max(args.round, min(args.max_epochs, fit // args.round * args.round))
            ahead = max(len(v) for v in done.values())  # no run can go back: round up to the furthest one
            target = max(target, -(-ahead // args.round) * args.round)
            (out / TARGET).write_text(str(target))
            print(
                f"{elapsed:.0f} s: slowest run {rate:.1f} s/epoch -> {target} epochs for every run",
                flush=True,
            )
        if elapsed > args.budget_s + 90:  # a run far behind: stop it (it saves last.pt) and say so
            for recipe, glacier, _, p in procs:
                if p.poll() is None:
                    print(f"over budget: stopping {recipe}/{glacier}", flush=True)
                    p.send_signal(signal.SIGTERM)
            time.sleep(30)
    print(f"training and scoring done in {time.time() - started:.0f} s", flush=True)
    for recipe, glacier, run, p in procs:
        print(f"{recipe}/{glacier}: exit {p.returncode}, {len(_epochs(run))} epochs", flush=True)
    tables(out, sorted({r for r, g, *_ in procs if g != "random"}), target)


def _epochs(run: Path) -> list[float]:
    log = run / EPOCH_LOG
    return [float(line.split()[1]) for line in log.read_text().splitlines()] if log.is_file() else []


def child(wanted: Path) -> None:
    from glacierfront.model.backend import load_backend
    from glacierfront.train.loop import Trainer

    config = TrainConfig.load(wanted)
    run = Path(config.out)
    target_file = run.parent.parent / TARGET if config.val_glaciers else run.parent / TARGET
    trainer = Trainer(config, quiet=True)

    def on_epoch(row: dict) -> None:
        with open(run / EPOCH_LOG, "a") as log:
            log.write(f"{row['epoch']} {time.time():.3f}\n")
        if target_file.is_file():
            target = int(target_file.read_text())
            trainer.cfg.epochs = max(target, trainer.epoch)

    try:
        trainer.fit(on_epoch=on_epoch)
    finally:
        trainer.close()
    if config.val_glaciers:
        glacier = config.val_glaciers[0]
        backend = load_backend(run / "last.pt", "auto")
        score = cv.score_fold(run, backend, glacier)
        with open(run / "score.pkl", "wb") as fh:
            pickle.dump(score, fh)
    small_copy(run / "last.pt", run / "last-fp16.pt")
    # A random-split run: its best.pt (chosen on seen glaciers) is a candidate model.
    if not config.val_glaciers:
        small_copy(run / "best.pt", run / "best-fp16.pt")


def tables(out: Path, recipes: list[str], target: int | None) -> None:
    for recipe in recipes:
        scores = []
        for score in sorted((out / recipe).glob("*/score.pkl")):
            with open(score, "rb") as fh:
                scores.append(pickle.load(fh))
        if not scores:
            print(f"{recipe}: no fold scored", flush=True)
            continue
        epochs = sorted({cv.completed_epochs(out / recipe / s.glacier) for s in scores})
        title = f"LOGO {recipe} (GPU): {'/'.join(map(str, epochs))} epochs/fold, scored last.pt"
        settings = {"epochs": epochs, "target_epochs": target, "tta": False, "ocean_rule": "largest",
                    "no_front_images": {s.glacier: s.no_front_images for s in scores}}  # fmt: skip
        md = cv.write_table(cv.rows(scores), out / recipe, "logo", title, settings)
        print(md.read_text(), flush=True)


if __name__ == "__main__":
    main()

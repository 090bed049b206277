"""Command line: ``python -m els <command> ...``.

    python -m els data fetch mnist fashion_mnist
    python -m els train --dataset mnist --arch resnet --padding zeros --preset laptop \\
        --out artifacts/models/mnist_resnet_zeros [--conditional] [--max-minutes M] [--resume] [--seed S]

    python -m els recipes --dataset mnist --arch resnet --images 32000 [--recipes NAME ...]
    python -m els reproduce --preset laptop [--models NAME ...]
    python -m els standing --preset laptop [--models NAME ...]   # after reproduce
    python -m els standing --whole-subset [--models NAME ...]    # the same at 4,000 images
    python -m els mechanisms --preset laptop [--models NAME ...] # after standing
    python -m els handling --preset laptop [--models NAME ...]   # after reproduce
    python -m els dictionary --models NAME ... [--sizes N ...] [--stages fixed recalibrated]
    python -m els cifar10 --preset paper [--max-minutes M] [--root FOLDER]  # colour rows, for a GPU
    python -m els memorisation [--models NAME ...]              # after scripts/train_memorisation.sh
    python -m els bench [--images 6000]

New commands: write ``add_<name>(subparsers)`` that sets ``func`` and list it in ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Callable


PRESET_HELP = "how much to compute: smoke (a quick check), laptop (this book's results), paper (the paper's sizes)"
MODELS_DIR_HELP = "folder of trained networks, one subfolder per model (default: the committed artifacts/models)"
DATASET_HELP = ("mnist, fashion_mnist or cifar10 (cache, download or offline package), "
                "folder/celeba (images under --root)")
ARCH_HELP = "resnet (convolutions only, no downsampling), unet, or attention_unet (a UNet with self-attention)"
PADDING_HELP = "the convolutions' padding (default: zeros)"
OUT_HELP = "results folder, one subfolder per model (default: the committed artifacts/results)"


def command(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    """The parser of command ``name``; ``help`` is its line in ``python -m els --help`` and the
    description ``python -m els NAME --help`` opens with."""
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")


# --------------------------------------------------------------------------- data
def add_data(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "data", help="datasets: fill the local cache")
    dsub = p.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="load each dataset once and cache it; say where it came from")
    f.add_argument("names", nargs="+", help="mnist, fashion_mnist, cifar10")
    f.add_argument("--root", default=None, help="cache folder (default $ELS_DATA or ~/.cache/els)")
    f.add_argument("--offline", action="store_true", help="do not try torchvision downloads")
    f.set_defaults(func=run_data_fetch)


def run_data_fetch(args: argparse.Namespace) -> int:
    from . import data

    data.fetch(args.names, root=args.root, download=False if args.offline else None)
    return 0


# --------------------------------------------------------------------------- train
def add_train(sub: argparse._SubParsersAction) -> None:
    from . import data, models
    from .studies import presets

    p = command(sub, "train", help="train a diffusion network (checkpoints, manifest, sample grid)")
    p.add_argument("--dataset", required=True, choices=list(data.NAMES), help=DATASET_HELP)
    p.add_argument("--root", default=None, help="data cache / CIFAR batches / image folder")
    p.add_argument("--arch", required=True, choices=list(models.ARCHS), help=ARCH_HELP)
    p.add_argument("--padding", default="zeros", choices=list(models.PADDINGS), help=PADDING_HELP)
    p.add_argument("--conditional", action="store_true", help="class-conditional network")
    p.add_argument("--preset", default="laptop", choices=list(presets.PRESETS), help=PRESET_HELP)
    p.add_argument("--out", required=True, help="output folder, e.g. artifacts/models/NAME")
    p.add_argument("--max-minutes", type=float, default=None, help="total training time budget (overrides preset)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="write a checkpoint at least this often (default 10); also every preset interval of steps")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides preset)")
    p.add_argument("--max-images", type=int, default=None, help="class-balanced subset size (overrides preset)")
    p.add_argument("--batch-size", type=int, default=None, help="images per optimiser step (overrides preset)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (overrides preset)")
    p.add_argument("--warmup-steps", type=int, default=None, help="linear lr warm-up steps (overrides preset)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--force", action="store_true", help="train from scratch over the run saved in --out")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the training subset, the weights, the data order and the noise")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: all cores; use 1 on a busy machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from .studies import harness

    if args.threads:
        torch.set_num_threads(args.threads)
    result = harness.train_network(
        args.dataset, args.arch, args.out, padding=args.padding, conditional=args.conditional, preset=args.preset,
        root=args.root, max_minutes=args.max_minutes, checkpoint_minutes=args.checkpoint_minutes, steps=args.steps,
        max_images=args.max_images, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
        resume=args.resume, force=args.force, seed=args.seed, device=args.device, progress=not args.no_progress,
        command=_command_line())
    print(f"els train: {result.step} steps, {result.images_seen} images, {result.wall_seconds / 60:.1f} min, "
          f"loss {result.loss:.4f}; wrote {args.out}")
    return 0


def _command_line() -> str:
    """This invocation as a shell command, for manifests."""
    return "python -m els " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# --------------------------------------------------------------------------- recipes
def add_recipes(sub: argparse._SubParsersAction) -> None:
    from . import data, models
    from .studies import presets, recipes

    p = command(sub, "recipes", help="compare training recipes at one budget of images seen")
    p.add_argument("--dataset", default="mnist", choices=list(data.NAMES), help=DATASET_HELP)
    p.add_argument("--arch", default="resnet", choices=list(models.ARCHS), help=ARCH_HELP)
    p.add_argument("--padding", default="zeros", choices=list(models.PADDINGS), help=PADDING_HELP)
    p.add_argument("--preset", default="laptop", choices=list(presets.PRESETS), help="network sizes and subset")
    p.add_argument("--images", type=int, default=32_000, help="training images seen per recipe")
    p.add_argument("--recipes", nargs="*", default=None, choices=list(recipes.RECIPES),
                   help="default: all")
    p.add_argument("--validation-images", type=int, default=500, help="held-out images for the validation loss")
    p.add_argument("--out", default=None, help="default: artifacts/recipes/<dataset>_<arch>")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=run_recipes)


def run_recipes(args: argparse.Namespace) -> int:
    from .studies import recipes

    chosen = {k: v for k, v in recipes.RECIPES.items() if args.recipes is None or k in args.recipes}
    rows = recipes.compare(args.dataset, args.arch, args.padding, images_budget=args.images, recipes=chosen,
                           preset=args.preset, out=args.out or f"artifacts/recipes/{args.dataset}_{args.arch}",
                           n_validation=args.validation_images, progress=not args.no_progress,
                           command=_command_line())
    print(recipes.table(rows))
    return 0


# --------------------------------------------------------------------------- reproduce
def add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "reproduce", help="calibrate P(t) and compare machines with every committed checkpoint")
    _add_model_run_options(p)
    p.set_defaults(func=run_reproduce)


def add_standing(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "standing", help="Wiener and PCA-locality beside IS, LS and ELS on every reproduced "
                                      "checkpoint, by both protocols (after reproduce)")
    _add_model_run_options(p)
    p.add_argument("--whole-subset", action="store_true",
                   help="instead, every machine holding the network's whole training subset (LS and ELS from "
                        "the dictionary-size study where it was run)")
    p.set_defaults(func=run_standing)


def add_mechanisms(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "mechanisms", help="single-step agreement along the network's trajectory, its sensitivity "
                                        "maps and counted spatial inconsistency (after standing)")
    _add_model_run_options(p)
    p.set_defaults(func=run_mechanisms)


def _add_model_run_options(p: argparse.ArgumentParser) -> None:
    from .studies import harness, presets

    p.add_argument("--preset", default="laptop", choices=list(presets.PRESETS), help=PRESET_HELP)
    p.add_argument("--models", nargs="*", default=None,
                   help=f"model names (default: all of {', '.join(m.name for m in harness.MODELS)})")
    p.add_argument("--models-dir", default=None, help=MODELS_DIR_HELP)
    p.add_argument("--out", default=None, help=OUT_HELP)
    p.add_argument("--resume", action="store_true", help="continue the results already in --out")
    p.add_argument("--force", action="store_true", help="delete the results already in --out and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")


def _model_runs(args: argparse.Namespace, command: str, run) -> list[dict]:
    """``run(spec, preset, models_dir, out, ...)`` for every chosen model with a checkpoint."""
    from .studies.harness import study_folders

    models_dir, out = study_folders(args.models_dir, args.out)
    specs = _chosen_models(args)
    missing = [m.name for m in specs if not (models_dir / m.name / "model.pt").exists()]
    if missing:
        print(f"els {command}: no checkpoint yet for {', '.join(missing)}; skipping (train it with python -m els train)")
    return [run(m, args.preset, models_dir, out, progress=not args.no_progress,
                command=_command_line(), resume=args.resume, force=args.force)
            for m in specs if m.name not in missing]


def _chosen_models(args: argparse.Namespace) -> list:
    """The :data:`els.studies.harness.MODELS` named by ``--models`` (all without it)."""
    from .studies import harness

    return [m for m in harness.MODELS if args.models is None or m.name in args.models]


def run_reproduce(args: argparse.Namespace) -> int:
    from .studies import reproduce

    summaries = _model_runs(args, "reproduce", reproduce.reproduce_model)
    if summaries:
        print(reproduce.table(summaries))
    return 0


def run_standing(args: argparse.Namespace) -> int:
    from .studies import standing, standing_whole

    if args.whole_subset:
        summaries = _model_runs(args, "standing", standing_whole.stand_whole_subset)
        if summaries:
            print(standing_whole.table({s["model"]: s for s in summaries}))
        return 0
    summaries = _model_runs(args, "standing", standing.stand_model)
    if summaries:
        by_model = {s["model"]: s for s in summaries}
        print("\n\n".join(standing.table(by_model, protocol) for protocol in standing.PROTOCOLS))
    return 0


def run_mechanisms(args: argparse.Namespace) -> int:
    from .studies import mechanisms

    for s in _model_runs(args, "mechanisms", mechanisms.mechanisms_model):
        print(f"{s['model']}: median single-step r at t = {s['t'][0]:g} / {s['t'][-1]:g}: "
              + ", ".join(f"{m} {r[0]:.2f} / {r[-1]:.2f}" for m, r in s["r_median"].items()))
    return 0


def add_handling(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "handling", help="ELS with the calibrated and the published schedule, on our grid and under "
                                      "the paper's released handling (after reproduce; models with a published "
                                      "schedule)")
    _add_model_run_options(p)
    p.set_defaults(func=run_handling)


def run_handling(args: argparse.Namespace) -> int:
    from .studies import handling, presets
    from .studies.harness import study_folders

    steps, folder = presets.get(args.preset).evaluation.steps, study_folders(args.models_dir, args.out)[0]
    args.models = [m.name for m in _chosen_models(args)  # a missing checkpoint is reported by _model_runs
                   if not (folder / m.name / "model.pt").exists() or handling.published_schedule(folder / m.name, steps)]
    for s in _model_runs(args, "handling", handling.handling_model):
        print(f"{s['model']}: median r (R^2) over {len(s['seeds'])} seeds: "
              + ", ".join(f"{m} {v['r']['median']:.3f} ({v['R2']['median']:.3f})" for m, v in s["agreement"].items()))
    return 0


def add_dictionary(sub: argparse._SubParsersAction) -> None:
    from .studies import dictionary_size

    p = command(sub, "dictionary", help="agreement against the number of training images the machines hold "
                                        "(after reproduce)")
    _add_model_run_options(p)
    p.add_argument("--sizes", nargs="+", type=int, default=list(dictionary_size.SIZES),
                   help=f"training images the machines hold (default {' '.join(map(str, dictionary_size.SIZES))})")
    p.add_argument("--stages", nargs="+", default=list(dictionary_size.STAGES), choices=dictionary_size.STAGES,
                   help="fixed: the reproduction's schedules; recalibrated: P(t) calibrated again at each size")
    p.add_argument("--markdown", action="store_true",
                   help="print the 4,000-image block of the appendix 'Results in full' from the studies in --out; run nothing")
    p.set_defaults(func=run_dictionary)


def run_dictionary(args: argparse.Namespace) -> int:
    from functools import partial

    from .studies import dictionary_size
    from .studies.harness import read_summaries, study_folders

    if args.markdown:
        models_dir, out = study_folders(args.models_dir, args.out)
        print(dictionary_size.whole_set_markdown(read_summaries(out, dictionary_size.STAGE), models_dir))
        return 0
    run = partial(dictionary_size.dictionary_study, n_images=args.sizes, stages=args.stages)
    for s in _model_runs(args, "dictionary", run):
        for n, entry in s["sizes"].items():
            print(f"N = {n}: median r " + ", ".join(f"{m} {v['r']:.3f}" for m, v in entry["machines"].items()))
    return 0


def add_cifar10(sub: argparse._SubParsersAction) -> None:
    from .studies import colour, presets

    p = command(sub, "cifar10", help="the paper's colour rows: train or resume the CIFAR10 ResNet and UNet, "
                                     "then reproduce their rows (for a GPU)")
    p.add_argument("--preset", default="paper", choices=list(presets.PRESETS), help=PRESET_HELP)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="training budget per network, counted across resumes (default: the preset's)")
    p.add_argument("--root", default=None, help="offline: folder of CIFAR10 python batches (data_batch_1..5, test_batch)")
    p.add_argument("--archs", nargs="+", default=list(colour.ARCHS), choices=colour.ARCHS,
                   help="the networks (default: both)")
    p.add_argument("--models-dir", default="runs/models", help=MODELS_DIR_HELP)
    p.add_argument("--out", default="runs/results", help=OUT_HELP)
    p.add_argument("--resume", action="store_true", help="continue the results already in --out")
    p.add_argument("--force", action="store_true", help="delete the results already in --out and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=run_cifar10)


def run_cifar10(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .studies import colour, reproduce

    summaries = colour.reproduce_cifar10(args.preset, args.max_minutes, args.root, Path(args.models_dir),
                                         Path(args.out), args.archs, not args.no_progress, args.resume, args.force)
    print(reproduce.table(summaries, models_dir=Path(args.models_dir)))
    return 0


# --------------------------------------------------------------------------- memorisation
def add_memorisation(sub: argparse._SubParsersAction) -> None:
    from .studies import memorisation, presets

    p = command(sub, "memorisation", help="copy or create: copy share and agreement with IS, LS and ELS of the "
                                          "networks trained on few images (after scripts/train_memorisation.sh)")
    p.add_argument("--preset", default="laptop", choices=list(presets.PRESETS), help=PRESET_HELP)
    p.add_argument("--models", nargs="*", default=None,
                   help="network names, e.g. mnist_unet_n16 (default: every network in --models-dir)")
    p.add_argument("--models-dir", default=None,
                   help="folder of the networks (default: the committed artifacts/models/memorisation)")
    p.add_argument("--out", default=None, help="results folder (default: the committed artifacts/results/memorisation)")
    p.add_argument("--seeds", type=int, default=memorisation.SEEDS, help="evaluation seeds per network (default: %(default)s)")
    p.add_argument("--whole-subset", nargs="*", choices=sorted(memorisation.WHOLE_SUBSET), default=None,
                   help="instead, the last point: the book's networks of these architectures (default: both) "
                        "trained on their whole subset, agreement from their dictionary-size study")
    p.add_argument("--resume", action="store_true", help="continue the results already in --out")
    p.add_argument("--force", action="store_true", help="delete the results already in --out and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=run_memorisation)


def run_memorisation(args: argparse.Namespace) -> int:
    from .studies import memorisation

    if args.whole_subset is not None:
        for arch in args.whole_subset or sorted(memorisation.WHOLE_SUBSET):
            s = memorisation.whole_subset_point(arch, args.preset, args.out, args.seeds, not args.no_progress,
                                                _command_line(), args.resume, args.force)
            print(f"{arch} on {s['n_images']:,} images: copies {s['copy_rate']:.0%}")
        return 0
    models_dir, out = memorisation.folders(args.models_dir, args.out)
    names = args.models or memorisation.model_names(models_dir)
    missing = [n for n in names if not (models_dir / n / "model.pt").exists()]
    if missing:
        raise FileNotFoundError(f"no trained network {', '.join(missing)} in {models_dir}; train it with "
                                "bash scripts/train_memorisation.sh")
    for name in names:
        s = memorisation.memorisation_model(name, args.preset, models_dir, out,
                                            seeds=args.seeds, progress=not args.no_progress, command=_command_line(),
                                            resume=args.resume, force=args.force)
        print(f"{name}: copies {s['copy_rate']:.0%}; median r IS {s['median_r']['IS']:.2f}, "
              f"LS {s['median_r']['LS']:.2f}, ELS {s['median_r']['ELS']:.2f}")
    return 0


# --------------------------------------------------------------------------- bench
def add_bench(sub: argparse._SubParsersAction) -> None:
    """Listed in ``python -m els --help`` only: :func:`main` hands everything after ``bench`` to
    :func:`els.studies.bench.main`, whose options (and ``--help``) are its own."""
    command(sub, "bench", help="engine benchmark (python -m els bench --help lists its options)")


# --------------------------------------------------------------------------- entry point
#: subcommand name -> function adding its parser (it sets ``func``); add ``reproduce``, ``bench`` here.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "data": add_data,
    "train": add_train,
    "recipes": add_recipes,
    "reproduce": add_reproduce,
    "standing": add_standing,
    "mechanisms": add_mechanisms,
    "handling": add_handling,
    "dictionary": add_dictionary,
    "cifar10": add_cifar10,
    "memorisation": add_memorisation,
    "bench": add_bench,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m els", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # every option after "bench" is the benchmark's own (its --help lists them)
        from .studies import bench

        return int(bench.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    from .storage import FolderInUse, NotEnoughSpace

    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, PermissionError, ValueError, FolderInUse, NotEnoughSpace) as e:
        print(f"error: {e}", file=sys.stderr)  # a clear message, not a traceback
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM; training says where its checkpoint is
        print(f"els {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130

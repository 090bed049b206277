"""Training recipes compared at one short budget of training images seen.

Each recipe trains the same network (same initialisation, data subset and seed, unless the
recipe changes the width or the subset) for the same number of images, with its learning rate
decaying to a tenth over the run; then it is scored on held-out images by
``els.train.validation_loss`` (raw and EMA weights) and by the distance of 64 samples to their
nearest training image. Equal images seen (not equal minutes) makes the comparison independent
of the machine and of other jobs sharing it; a recipe for a cheaper network may set its own
``images`` to compare at about equal minutes instead. Results are appended one recipe per line
to ``recipes.jsonl`` so an interrupted comparison resumes; each run also checkpoints under
``runs/<recipe>/`` and resumes mid-recipe.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .. import data, models, storage, train
from . import presets
from ..provenance import nearest_summary


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings; ``warmup_images`` is converted to steps of ``batch_size``.
    ``width`` (ResNet channels) and ``subset`` (training images) default to the preset's;
    ``images`` defaults to the comparison's ``images_budget``."""

    lr: float = 1e-3
    batch_size: int = 128
    warmup_images: int = 0
    ema: float | None = 0.999
    final_lr_factor: float = 0.1  # lr at the end of the budget / lr at its peak
    width: int | None = None
    subset: int | None = None
    images: int | None = None


#: the candidates: the laptop preset as first used (no warm-up), then one change at a time
RECIPES: dict[str, Recipe] = {
    "baseline": Recipe(),
    "warmup": Recipe(warmup_images=6400),
    "warmup_lr3e-3": Recipe(lr=3e-3, warmup_images=6400),
    "warmup_batch32": Recipe(batch_size=32, warmup_images=6400),
    "warmup_batch32_lr2e-3": Recipe(lr=2e-3, batch_size=32, warmup_images=6400),
}
#: then the winner's network and data: half and 1.5x the width (half the width at three times
#: the images, about the same minutes on a CPU), half and four times the training subset
_BEST = dict(lr=2e-3, batch_size=32, warmup_images=6400)
RECIPES.update({
    "best_width32": Recipe(**_BEST, width=32),
    "best_width32_3x_images": Recipe(**_BEST, width=32, images=96_000),
    "best_width96": Recipe(**_BEST, width=96),
    "best_subset2000": Recipe(**_BEST, subset=2000),
    "best_subset16000": Recipe(**_BEST, subset=16_000),
})
RESULTS = "recipes.jsonl"


def compare(dataset: str = "mnist", arch: str = "resnet", padding: str = "zeros", *,
            images_budget: int = 32_000, recipes: dict[str, Recipe] | None = None, preset: str = "laptop",
            out: str | Path = "artifacts/recipes/mnist_resnet", n_validation: int = 500, seed: int = 0,
            progress: bool = True, command: str | None = None) -> list[dict[str, Any]]:
    """Train one network per recipe on the CPU for ``images_budget`` images on the preset's
    training subset and score it; returns one row per recipe (also in ``out/recipes.jsonl``,
    resumed from there). A recipe's ``width``, ``subset`` and ``images`` override these.

    Row keys: recipe, settings, width (ResNet; None for a UNet), subset_size, steps,
    images_seen, wall_seconds, images_per_second, train_loss (running average at the end),
    val_loss_raw, val_loss_ema (eps-MSE on ``n_validation`` test images), nn_l2_median (64 EMA
    samples to the training subset, L2 over 32x32 pixels in [-1, 1]).
    """
    recipes = RECIPES if recipes is None else recipes
    if images_budget < 1:
        raise ValueError(f"images_budget must be a positive number of training images, got {images_budget}")
    tp = presets.get(preset).train
    widened = [name for name, recipe in recipes.items() if recipe.width is not None]
    if widened and "width" not in tp.model_kwargs(arch):
        raise ValueError(f"recipes {widened} set a ResNet width, but arch is {arch!r}: "
                         "drop their width or compare ResNets")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = data.load(dataset, "train", max_images=tp.max_images, seed=seed)
    subsets = {tp.max_images: (images, labels)}
    val_images, val_labels = data.load(dataset, "test", max_images=n_validation, seed=seed)
    done = {row["recipe"]: row for row in storage.read_jsonl(out / RESULTS)}
    storage.write_atomic(out / "manifest.json", json.dumps({
        "command": command, "git": storage.git_commit(), "machine": storage.machine_info("cpu"),
        "dataset": dataset, "arch": arch, "padding": padding, "preset": preset, "subset_size": len(images),
        "validation_images": len(val_images), "images_budget": images_budget, "seed": seed,
        "recipes": {k: asdict(v) for k, v in recipes.items()}}, indent=2) + "\n")
    rows = []
    for name, recipe in recipes.items():
        if name in done:
            rows.append(done[name])
            continue
        size = recipe.subset or tp.max_images
        if size not in subsets:
            subsets[size] = data.load(dataset, "train", max_images=size, seed=seed)
        images, labels = subsets[size]
        batch = min(recipe.batch_size, len(images))  # as train() does on a small subset
        steps = math.ceil((recipe.images or images_budget) / batch)
        torch.manual_seed(seed)  # same initial weights for every recipe of one width
        sizes = tp.model_kwargs(arch)
        if recipe.width is not None:
            sizes["width"] = recipe.width
        model = models.build(arch, channels=images.shape[1], padding=padding, **sizes)
        t0 = time.perf_counter()
        result = train.train(
            model, images, labels, steps=steps, batch_size=recipe.batch_size, lr=recipe.lr,
            lr_decay=recipe.final_lr_factor ** (1 / steps),
            warmup_steps=math.ceil(recipe.warmup_images / batch), ema=recipe.ema, seed=seed,
            out_dir=out / "runs" / name, resume=True, checkpoint_every=None, checkpoint_minutes=2.0,
            progress=progress, n_samples=0, device="cpu")
        samples, _ = train.draw_samples(result.model, 64, tuple(images.shape[1:]), seed=seed + 10_000)
        train.save_grid(samples, out / f"samples_{name}.png")
        row = {"recipe": name, "settings": asdict(recipe), "width": sizes.get("width"), "subset_size": len(images),
               "steps": result.step, "images_seen": result.images_seen,
               "wall_seconds": round(result.wall_seconds, 1),
               "images_per_second": round(result.images_seen / max(result.wall_seconds, 1e-9), 1),
               "train_loss": result.loss,
               "val_loss_raw": train.validation_loss(model, val_images, val_labels, seed=seed),
               "val_loss_ema": (train.validation_loss(result.model, val_images, val_labels, seed=seed)
                                if recipe.ema is not None else None),
               "nn_l2_median": nearest_summary(samples, images)["nn_l2_median"],
               "seconds_total": round(time.perf_counter() - t0, 1)}
        storage.append_jsonl(out / RESULTS, row)
        rows.append(row)
    return rows


def read(out: str | Path) -> list[dict[str, Any]]:
    """The rows a ``compare`` run wrote to ``out/recipes.jsonl``."""
    path = Path(out) / RESULTS
    if not path.is_file():
        raise FileNotFoundError(f"no recipe comparison in {out}: run python -m els recipes --out {out}")
    return storage.read_jsonl(path)


def table(rows: list[dict[str, Any]]) -> str:
    """Two Markdown tables of ``compare`` rows, best validation loss first (two, so that each
    fits the book's page): each recipe's settings, then its scores."""
    def best(r):
        return min(v for v in (r["val_loss_raw"], r["val_loss_ema"]) if v is not None)

    ranked = sorted(rows, key=best)
    settings = ["| recipe | lr | batch | warm-up (images) | width | subset | images |", "|---|---|---|---|---|---|---|"]
    scores = ["| recipe | val. loss raw | val. loss EMA | NN L2 | img/s | minutes |", "|---|---|---|---|---|---|"]
    for r in ranked:
        s = r["settings"]
        name = r["recipe"]
        ema = f"{r['val_loss_ema']:.4f}" if r["val_loss_ema"] is not None else "-"
        settings.append(f"| {name} | {s['lr']:g} | {s['batch_size']} | {s['warmup_images']} | "
                        f"{r.get('width') or '-'} | {r.get('subset_size', '-')} | {r['images_seen']} |")
        scores.append(f"| {name} | {r['val_loss_raw']:.4f} | {ema} | {r['nn_l2_median']:.1f} | "
                      f"{r['images_per_second']:.0f} | {r['wall_seconds'] / 60:.1f} |")
    return "\n".join(settings) + "\n\n" + "\n".join(scores)

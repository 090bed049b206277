"""Figures for the book: image grids, nearest training images and translates, patch mosaics.

Images are tensors ``(B, C, H, W)`` in ``[-1, 1]`` (book appendix, §A.1). Every function that draws
returns the matplotlib ``Figure`` it made (titled, so it can be shown or saved). The computations
behind the source figures (nearest neighbours, best circular translate, which training patch
each pixel came from) live in :mod:`els.provenance`; those behind the calibration and agreement
figures in :mod:`els.calibrate`, :mod:`els.evaluate` and :mod:`els.reproduce`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .evaluate import agreement
from .provenance import as_image_batch

__all__ = [
    "to_display",
    "show_images",
    "show_rows",
    "show_sources",
    "background_mask",
    "spread_pixels",
    "show_patch_matches",
    "schedule_figure",
    "similarity_figure",
    "agreement_figure",
    "gallery_figure",
    "training_agreement_figure",
    "results_table",
    "locality_figure",
    "Recorder",
]


# --------------------------------------------------------------------------- drawing helpers
def to_display(image: torch.Tensor) -> np.ndarray:
    """One image ``(C, H, W)`` (or ``(H, W)``) in ``[-1, 1]`` -> numpy ``(H, W)`` or
    ``(H, W, 3)`` in ``[0, 1]``, clipped, ready for ``imshow``."""
    x = torch.as_tensor(image).detach().float().cpu()
    if x.dim() == 3:
        if x.shape[0] == 1:
            x = x[0]
        elif x.shape[0] == 3:
            x = x.permute(1, 2, 0)
        else:
            raise ValueError(f"expected 1 or 3 channels, got {x.shape[0]}")
    elif x.dim() != 2:
        raise ValueError(f"expected an image (C, H, W) or (H, W), got shape {tuple(x.shape)}")
    return ((x.clamp(-1, 1) + 1) / 2).numpy()


def _imshow(ax, image, title=None, fontsize=8):
    img = to_display(image)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize)


def show_images(
    images: torch.Tensor,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    ncols: int | None = None,
    size: float = 1.3,
):
    """A grid of images ``(B, C, H, W)`` with an optional title per image and one figure
    ``title``. ``ncols`` defaults to at most 8 per row. Returns the figure."""
    import matplotlib.pyplot as plt

    images = as_image_batch(images)
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = ncols or min(n, 8)
    nrows = -(-n // ncols)
    extra = 0.35 if titles is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + extra) * nrows + 0.5),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            _imshow(ax, images[k], None if titles is None else titles[k])
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_rows(
    rows: Mapping[str, torch.Tensor],
    titles: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
    size: float = 1.3,
):
    """Rows of images side by side, for comparisons: ``rows`` maps a row label (written on
    the left) to images ``(B, C, H, W)``; every row has the same B. ``titles`` optionally
    maps a row label to one caption per image. Returns the figure."""
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty")
    rows = {k: as_image_batch(v) for k, v in rows.items()}
    widths = {len(v) for v in rows.values()}
    if len(widths) != 1:
        raise ValueError(f"every row needs the same number of images, got {sorted(widths)}")
    ncols = widths.pop()
    titles = titles or {}
    extra = 0.35 if titles else 0.0
    fig, axes = plt.subplots(len(rows), ncols, squeeze=False,
                             figsize=(size * ncols + 1.6, (size + extra) * len(rows) + 0.5))
    for i, (label, images) in enumerate(rows.items()):
        captions = titles.get(label)
        if captions is not None and len(captions) != ncols:
            raise ValueError(f"row {label!r}: {len(captions)} titles for {ncols} images")
        for j in range(ncols):
            _imshow(axes[i, j], images[j], None if captions is None else captions[j])
        axes[i, 0].set_ylabel(label, fontsize=10, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- patch mosaics
def show_sources(
    sample: torch.Tensor,
    index: torch.Tensor,
    images: torch.Tensor,
    background: torch.Tensor | None = None,
    top: int = 6,
    title: str | None = None,
    size: float = 1.6,
):
    """One sample ``(C, H, W)`` next to its *source map* (each pixel coloured by the training
    image its nearest patch came from, ``index (H, W)`` from :func:`els.provenance.patch_sources`) and the
    ``top`` most used training images, framed in the same colours. Pixels where
    ``background`` (H, W) is True (e.g. flat background, matched equally well everywhere) are
    shown in light grey. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    index = torch.as_tensor(index).cpu()
    mask = torch.zeros_like(index, dtype=torch.bool) if background is None else torch.as_tensor(background).cpu()
    counts = torch.bincount(index[~mask].flatten(), minlength=len(images)) if (~mask).any() else \
        torch.zeros(len(images), dtype=torch.long)
    ranked = [int(i) for i in counts.argsort(descending=True)[:top] if counts[i] > 0]
    palette = plt.get_cmap("tab10").colors
    colours = [palette[k % len(palette)] for k in range(len(ranked))]
    code = torch.full(index.shape, len(ranked))                  # "other source"
    for k, i in enumerate(ranked):
        code[index == i] = k
    code[mask] = len(ranked) + 1
    cmap = ListedColormap(list(colours) + [(0.35, 0.35, 0.35), (0.92, 0.92, 0.92)])
    ncols = 2 + max(1, len(ranked))
    fig, axes = plt.subplots(1, ncols, figsize=(size * ncols, size + 0.9))
    _imshow(axes[0], sample, "sample", fontsize=9)
    axes[1].imshow(code.numpy(), cmap=cmap, vmin=-0.5, vmax=len(ranked) + 1.5, interpolation="nearest")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    n_sources = int((counts > 0).sum())
    axes[1].set_title(f"source of each pixel\n({n_sources} training images)", fontsize=9)
    for k, i in enumerate(ranked):
        ax = axes[2 + k]
        _imshow(ax, images[i], f"train #{i}\n{int(counts[i])} px", fontsize=8)
        for spine in ax.spines.values():
            spine.set_edgecolor(colours[k])
            spine.set_linewidth(4)
    if not ranked:
        axes[2].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def spread_pixels(mask: torch.Tensor, k: int) -> list[tuple[int, int]]:
    """Up to ``k`` pixels ``(row, column)`` where ``mask (H, W)`` is True, spread out by
    farthest-point sampling (deterministic: starts at the first True pixel in raster order)."""
    points = torch.as_tensor(mask).cpu().nonzero().float()
    if len(points) == 0:
        return []
    chosen = [0]
    nearest = (points - points[0]).norm(dim=1)
    while len(chosen) < min(k, len(points)):
        chosen.append(int(nearest.argmax()))
        nearest = torch.minimum(nearest, (points - points[chosen[-1]]).norm(dim=1))
    return [tuple(int(v) for v in points[i]) for i in chosen]


def show_patch_matches(
    sample: torch.Tensor,
    images: torch.Tensor,
    index: torch.Tensor,
    position: torch.Tensor,
    pixels: Sequence[tuple[int, int]],
    patch_size: int,
    title: str | None = None,
    size: float = 1.7,
):
    """Where the patches of one sample come from: the sample ``(C, H, W)`` with a coloured
    ``P x P`` box around each pixel in ``pixels``, and for each the training image holding the
    nearest patch (``index``/``position`` ``(H, W)``/``(H, W, 2)`` from :func:`els.provenance.patch_sources`)
    with a box of the same colour where that patch sits. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    h = patch_size // 2
    palette = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, 1 + len(pixels), figsize=(size * (1 + len(pixels)), size + 0.9),
                             squeeze=False)
    axes = axes[0]
    _imshow(axes[0], sample, "sample", fontsize=9)
    for k, (r, c) in enumerate(pixels):
        colour = palette[k % len(palette)]
        box = dict(width=patch_size, height=patch_size, fill=False, edgecolor=colour, linewidth=2)
        axes[0].add_patch(Rectangle((c - h - 0.5, r - h - 0.5), **box))
        j, (v, w) = int(index[r, c]), (int(x) for x in position[r, c])
        _imshow(axes[1 + k], images[j], f"train #{j}\n({v}, {w}) \u2192 ({r}, {c})", fontsize=8)
        axes[1 + k].add_patch(Rectangle((w - h - 0.5, v - h - 0.5), **box))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- calibration and agreement
def schedule_figure(schedules: Mapping[str, Sequence[int]], published: Sequence[int] | None, title: str, ax=None):
    """Calibrated patch size (pixels) against diffusion time for each machine (``schedules``:
    machine name -> one patch size per step, low noise first), beside the paper's
    ``published`` schedule (dashed) when given. Draws on ``ax`` when given (else a new
    figure); returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    for name, schedule in schedules.items():
        n = len(schedule)
        ax.step([i / n for i in range(1, n + 1)], schedule, where="mid", label=f"{name} (ours)")
    if published:
        n = len(published)
        ax.step([i / n for i in range(1, n + 1)], published, "k--", where="mid", label="ELS (paper)")
    ax.set(xlabel="diffusion time t", ylabel="patch size P (pixels)", title=f"{title}: calibrated P(t)")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def similarity_figure(calibrations: Mapping[str, object], title: str | None = None):
    """One panel per calibration (``els.calibrate.Calibration``, keyed by panel title): the
    cosine similarity of the machine's and the network's noise predictions, median over seeds,
    for every candidate patch size (rows) at every step (columns, diffusion time t), with the
    calibrated schedule as white dots and one colour bar shared by all panels. Returns the
    figure."""
    import matplotlib.pyplot as plt

    if not calibrations:
        raise ValueError("calibrations is empty")
    # (steps, K): median over seeds
    maps = {name: torch.tensor(c.similarity).median(0).values.numpy() for name, c in calibrations.items()}
    low, high = min(float(m.min()) for m in maps.values()), max(float(m.max()) for m in maps.values())
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps) + 1.5, 3.8), squeeze=False, layout="constrained")
    for ax, (name, c) in zip(axes[0], calibrations.items()):
        steps = maps[name].shape[0]
        im = ax.imshow(maps[name].T, origin="lower", aspect="auto", cmap="viridis", vmin=low, vmax=high,
                       extent=(0.5 / steps, 1 + 0.5 / steps, -0.5, len(c.candidates) - 0.5))
        ax.plot([(i + 1) / steps for i in range(steps)], [c.candidates.index(p) for p in c.schedule], "w.", ms=6)
        ax.set_yticks(range(len(c.candidates)), c.candidates)
        ax.set(xlabel="diffusion time t", ylabel="patch size P (pixels)", title=name)
    fig.colorbar(im, ax=axes[0].tolist(), label="cosine similarity")
    if title:
        fig.suptitle(title)
    return fig


def agreement_figure(rows: Sequence[Mapping], title: str, network_steps: int | None = None, ax=None):
    """The paper's scatter: per sample, r(machine, network) against r(IS, network), with the
    diagonal; points above it are samples the machine predicts better than the ideal score.
    ``rows`` are per-sample rows of ``els.evaluate`` (``seed``, ``network_steps``, ``machine``,
    ``r``); ``network_steps`` defaults to the largest. Draws on ``ax`` when given (else a new
    figure); returns the figure."""
    import matplotlib.pyplot as plt

    k = network_steps or max(r["network_steps"] for r in rows)
    ideal = {r["seed"]: r["r"] for r in rows if r["network_steps"] == k and r["machine"] == "IS"}
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    for name in sorted({r["machine"] for r in rows} - {"IS"}):
        pts = [(ideal[r["seed"]], r["r"]) for r in rows if r["network_steps"] == k and r["machine"] == name]
        ax.scatter(*zip(*pts), s=10, alpha=0.7, label=name)
    ax.plot([-1, 1], [-1, 1], "k--", lw=1, label="equal to IS")
    low = min(min(ideal.values()), 0)
    ax.set(xlim=(low, 1), ylim=(low, 1), xlabel="r(IS, network)", ylabel="r(machine, network)")
    ax.set_title(f"{title}\nagreement per sample (network {k} steps)", fontsize=10)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def gallery_figure(rows: Mapping[str, torch.Tensor], title: str | None = None):
    """Samples from the same noise, one row per sampler (``rows``: label -> ``(B, C, H, W)``);
    the first row is the reference (the network) and every other image is captioned with its
    Pearson r against the reference image above it. Returns the figure."""
    if len(rows) < 2:
        raise ValueError(f"need the reference row and at least one more, got {list(rows)}")
    reference, *others = rows
    target = as_image_batch(rows[reference])
    titles = {name: [f"r = {v:.2f}" for v in agreement(as_image_batch(rows[name]), target)["r"]]
              for name in others}
    return show_rows(rows, titles=titles, title=title)


def training_agreement_figure(summaries: Mapping[str, dict], trained_minutes: Mapping[str, float],
                              network_steps: int = 20, ax=None):
    """Median Pearson r with the network of the ELS and IS machines against training time
    (minutes), for every model with training snapshots. ``summaries``: ``els.reproduce``
    summaries by model name (a snapshot is named by its training time, e.g. ``"15min"``);
    ``trained_minutes``: each final checkpoint's training time; agreement with the network
    sampled in ``network_steps`` steps. Draws on ``ax`` when given (else a new figure);
    returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6))
    k = str(network_steps)
    for name, s in summaries.items():
        if not s["snapshots"]:
            continue
        points = [(float(snap.removesuffix("min")), v["agreement"][k]) for snap, v in s["snapshots"].items()]
        points = sorted(points + [(trained_minutes[name], s["agreement"][k])], key=lambda point: point[0])
        for machine, style in (("ELS", "o-"), ("IS", "s--")):
            ax.plot([m for m, _ in points], [a[machine]["r"]["median"] for _, a in points], style,
                    label=f"{name.replace('_', ' ')}: {machine}")
    ax.set(xlabel="training time (CPU minutes)", ylabel="median r with the network", ylim=(0, 1),
           title="Agreement with the theory during training")
    ax.legend(fontsize=7)
    ax.figure.tight_layout()
    return ax.figure


def results_table(summaries: Mapping[str, dict]) -> str:
    """Markdown table of every agreement in ``els.reproduce`` summaries (by model name): per
    model, network steps and machine, Pearson r (quartiles), the r^2 and R^2 medians and the
    share of samples where the machine agrees better than IS."""
    lines = ["| model | network steps | machine | r (q25 / median / q75) | r^2 median | R^2 median | beats IS |",
             "|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        for steps, machines in s["agreement"].items():
            for machine, e in machines.items():
                r, beats = e["r"], e.get("beats_IS")
                lines.append(f"| {name} | {steps} | {machine} | "
                             f"{r['q25']:.2f} / {r['median']:.2f} / {r['q75']:.2f} | "
                             f"{e['r2']['median']:.2f} | {e['R2']['median']:.2f} | "
                             f"{'-' if beats is None else f'{beats:.2f}'} |")
    return "\n".join(lines)


def locality_figure(localities: Mapping[str, dict], title: str, ax=None):
    """How wide each denoiser's view of the centre pixel is against diffusion time, for the
    networks of one dataset (``localities``: network label -> the ``locality`` entry of its
    :mod:`els.standing` summary). One colour per network: its measured sensitivity (solid),
    its calibrated ELS patch size (dashed) and PCA-locality mask (dotted); the Wiener gain's
    width (black) depends on the data only. Draws on ``ax`` when given; returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.8))
    wiener = next(iter(localities.values()))
    ax.plot(wiener["t"], wiener["Wiener"], color="black", lw=2, label="Wiener gain (data only)")
    for (name, loc), colour in zip(localities.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        ax.plot(loc["t"], loc["network"], color=colour, lw=2, label=f"{name}: network")
        ax.step(loc["t"], loc["ELS"], color=colour, ls="--", where="mid", label=f"{name}: ELS P(t)")
        ax.plot(loc["t"], loc["PCALocality"], color=colour, ls=":", lw=2, label=f"{name}: PCA-locality mask")
    ax.set(xlabel="diffusion time t", ylabel="width (pixels)", title=title, xlim=(0, 1.02))
    ax.legend(fontsize=8, loc="upper left")
    ax.figure.tight_layout()
    return ax.figure


# --------------------------------------------------------------------------- internals
# --------------------------------------------------------------------------- trajectories
class Recorder:
    """Wrap a model (a machine or anything with ``eps``) so that :func:`els.sample` records
    every DDIM step: ``times`` (t of each call), ``x_t`` and ``x0_hat`` (tensors on the CPU).

    Example: ``rec = Recorder(els.IS(images)); els.sample(rec, noise)``; then
    ``torch.stack(rec.x0_hat)`` is ``(steps, B, C, H, W)``.
    """

    def __init__(self, model):
        self.model = model
        self.times: list[float] = []
        self.x_t: list[torch.Tensor] = []
        self.x0_hat: list[torch.Tensor] = []

    def denoise(self, x_t, t, label=None, **kwargs):
        from .schedule import alpha_bar

        if hasattr(self.model, "denoise"):
            x0 = self.model.denoise(x_t, t, label=label, **kwargs)
        else:
            ab = float(alpha_bar(float(t)))
            x0 = (x_t - (1 - ab) ** 0.5 * self.model.eps(x_t, t, label=label, **kwargs)) / ab ** 0.5
        self.times.append(float(t))
        self.x_t.append(x_t.detach().cpu().clone())
        self.x0_hat.append(x0.detach().cpu().clone())
        return x0


def background_mask(x: torch.Tensor, patch_size: int, level: float = -0.9) -> torch.Tensor:
    """``(B, H, W)`` True where every pixel of ``x``'s ``P x P`` patch (inside the image) is
    darker than ``level``: flat background that many training patches match equally well, so
    its "source" means nothing."""
    x = as_image_batch(x).float()
    brightest = F.max_pool2d(x.amax(1, keepdim=True), patch_size, stride=1, padding=patch_size // 2)
    return brightest[:, 0] < level

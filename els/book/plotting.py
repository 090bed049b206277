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

from ..evaluate import agreement
from ..provenance import as_image_batch

__all__ = [
    "MACHINE_COLOURS",
    "machine_colour",
    "model_label",
    "TEXT_WIDTH",
    "MIN_FONTSIZE",
    "panel_grid",
    "caption_width",
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
    "along_trajectory_figure",
    "sensitivity_figure",
    "copy_agreement_figure",
]


#: Width of the book's text column in inches: the rendered column is 672 CSS px wide and the
#: inline backend draws PNGs at 100 dpi, so a figure wider than this is shrunk by the browser
#: (and its text with it). Every figure here is at most this wide.
TEXT_WIDTH = 6.72
#: Smallest font size (points) on any figure: 8 pt at 100 dpi is 11 px, readable at 100% zoom.
MIN_FONTSIZE = 8
#: The inline backend crops a figure to its artists and pads 0.1 inch on each side
#: (``bbox_inches="tight"``): a figure drawn up to its edges comes out this much wider.
CROP_PAD = 0.2


# --------------------------------------------------------------------------- drawing helpers
_LABEL_WORDS = {"fashion_mnist": "Fashion", "mnist": "MNIST", "cifar10": "CIFAR10", "resnet": "ResNet",
                "unet": "UNet", "attention": "attention", "zeros": "", "circular": "circular"}


def model_label(name: str) -> str:
    """A short label for a committed model's folder name, for narrow table columns:
    ``mnist_resnet_zeros`` -> ``MNIST ResNet`` (zero padding is the default and not named),
    ``fashion_mnist_unet_zeros`` -> ``Fashion UNet``, ``mnist_resnet_circular`` -> ``MNIST
    ResNet circular``. A name with a word it does not know is returned unchanged."""
    words, rest = [], name.replace("fashion_mnist", "fashion-mnist")
    for word in rest.split("_"):
        word = word.replace("fashion-mnist", "fashion_mnist")
        if word not in _LABEL_WORDS:
            return name
        words.append(_LABEL_WORDS[word])
    return " ".join(w for w in words if w)


#: One colour per machine across the whole book (matplotlib's tab10 hues): every figure that
#: draws a machine takes its colour from here, through :func:`machine_colour`.
MACHINE_COLOURS = {
    "network": "#000000",
    "IS": "#1f77b4",            # blue
    "ES": "#17becf",            # cyan
    "LS": "#ff7f0e",            # orange
    "ELS": "#2ca02c",           # green
    "Wiener": "#9467bd",        # purple
    "PCALocality": "#8c564b",   # brown
    "GoldDiff": "#e377c2",      # pink
    "mean training image": "#7f7f7f",  # grey: the chance predictor of the comparison
}


def machine_colour(name: str) -> str:
    """The colour of machine ``name`` (:data:`MACHINE_COLOURS`): a variant such as ``"ELS (paper
    schedule)"``, ``"ELS recalibrated"`` or ``"network@150"`` takes its machine's colour (the
    first word, before a space, "(" or "@"). A name with no colour is a KeyError naming them."""
    if name in MACHINE_COLOURS:
        return MACHINE_COLOURS[name]
    base = name.replace("(", " ").replace("@", " ").split()[0] if name.strip() else name
    if base in MACHINE_COLOURS:
        return MACHINE_COLOURS[base]
    raise KeyError(f"no colour for {name!r}; the palette has {', '.join(MACHINE_COLOURS)}")


def panel_grid(n: int, size: float, ncols: int | None = None, margin: float = 0.0,
               min_size: float = 0.0, width: float = TEXT_WIDTH - CROP_PAD) -> tuple[int, int, float]:
    """Lay ``n`` panels out in rows that fit the text width: returns ``(nrows, ncols, side)``.

    ``ncols`` panels per row are wanted (default all ``n`` in one row); when panels of
    ``min_size`` inches (e.g. wide enough for their captions) would not fit ``width`` minus
    ``margin`` (row labels, a colour bar), fewer go in a row and the rows are balanced (8
    panels, at most 6 a row: two rows of 4). ``side`` is each panel's width in inches,
    ``size`` at most, shrunk so that the row fits. ``width`` defaults to the text width less
    :data:`CROP_PAD`, for figures drawn up to their edges."""
    if n < 1:
        raise ValueError(f"need at least one panel, got {n}")
    room = width - margin
    ncols = max(1, min(n, ncols or n))
    if min_size > 0 and ncols * min_size > room:
        ncols = max(1, int(room // min_size))
        ncols = -(-n // -(-n // ncols))  # the same number of rows, filled evenly
    return -(-n // ncols), ncols, min(size, room / ncols)


def _text_inches(text: str, fontsize: float) -> float:
    """Width (inches) of the longest line of ``text`` at ``fontsize`` points in matplotlib's
    current font (``$...$`` as mathtext), with 5% to spare for the renderer's hinting."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure, font = TextToPath(), FontProperties(size=fontsize)
    widths = [measure.get_text_width_height_descent(line, font, ismath=line.count("$") >= 2)[0]
              for line in str(text).split("\n") if line]
    return 1.05 * float(max(widths, default=0.0)) / 72


def caption_width(captions: Sequence[str] | None, fontsize: float = 8) -> float:
    """Width (inches) a panel needs so that the widest of ``captions`` (its titles, lines split
    at newlines) fits above it at ``fontsize``; 0 without captions. Use as ``min_size`` of
    :func:`panel_grid`."""
    captions = [c for c in (captions or []) if c]
    return max(_text_inches(c, fontsize) for c in captions) + 0.05 if captions else 0.0


def title_height(titles, fontsize: float = 8) -> float:
    """Height (inches) the tallest of ``titles`` needs beside an image (its caption, written
    under it), 0 without titles."""
    titles = [t for t in (titles or []) if t]
    if not titles:
        return 0.0
    return max(str(t).count("\n") + 1 for t in titles) * fontsize * 1.25 / 72 + 0.1


def _image_grid(nrows: int, ncols: int, figsize: tuple[float, float]):
    """``plt.subplots`` for a grid of images: a constrained layout that packs the fixed-aspect
    panels close together, leaving room for their titles and labels."""
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = ConstrainedLayoutEngine(compress=True, w_pad=0.02, h_pad=0.02, wspace=0.0, hspace=0.0)
    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout=engine)


def _finish(fig, title: str | None = None):
    """Add the figure ``title``, wrapped to the figure's width so that it never sticks out of
    it, and pack the axes with ``tight_layout`` unless the figure has a layout engine."""
    if title:
        import textwrap

        fontsize, room = 11, fig.get_size_inches()[0] - CROP_PAD
        wide = _text_inches(title, fontsize)
        if wide > room and "$" not in title:
            title = "\n".join(textwrap.wrap(title, max(20, int(len(title) * room / wide))))
        fig.suptitle(title, fontsize=fontsize)
    if fig.get_layout_engine() is None:
        fig.tight_layout()


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


def _imshow(ax, image, caption=None, fontsize=8):
    """Draw one image on ``ax``, its ``caption`` under it (the x-axis label), never above, so
    that a caption cannot be read as belonging to the row below."""
    img = to_display(image)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if caption is not None:
        ax.set_xlabel(caption, fontsize=fontsize, labelpad=2)


def show_images(
    images: torch.Tensor,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    ncols: int | None = None,
    size: float = 1.3,
):
    """A grid of images ``(B, C, H, W)`` with an optional title per image and one figure
    ``title``. ``ncols`` defaults to at most 8 per row; each image is ``size`` inches at most,
    smaller so that a row fits the text width (:data:`TEXT_WIDTH`), and rows wrap when the
    captions would not fit side by side. Returns the figure."""
    images = as_image_batch(images)
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    nrows, ncols, side = panel_grid(n, size, ncols or min(n, 8), min_size=caption_width(titles))
    extra = title_height(titles)
    fig, axes = _image_grid(nrows, ncols, (side * ncols, (side + extra) * nrows + (0.5 if title else 0.1)))
    for k, ax in enumerate(axes.flat):
        if k < n:
            _imshow(ax, images[k], None if titles is None else titles[k])
        else:
            ax.axis("off")
    _finish(fig, title)
    return fig


def show_rows(
    rows: Mapping[str, torch.Tensor],
    titles: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
    size: float = 1.3,
):
    """Rows of images side by side, for comparisons: ``rows`` maps a row label (written on
    the left) to images ``(B, C, H, W)``; every row has the same B. ``titles`` optionally
    maps a row label to one caption per image. Each image is ``size`` inches at most, smaller
    so that the labels and a row fit the text width (:data:`TEXT_WIDTH`); when the captions
    would then not fit side by side, the columns are split into blocks set one below the
    other (every block has all the rows, labelled again). Returns the figure."""
    if not rows:
        raise ValueError("rows is empty")
    rows = {k: as_image_batch(v) for k, v in rows.items()}
    widths = {len(v) for v in rows.values()}
    if len(widths) != 1:
        raise ValueError(f"every row needs the same number of images, got {sorted(widths)}")
    n = widths.pop()
    titles = titles or {}
    for label, captions in titles.items():
        if captions is not None and len(captions) != n:
            raise ValueError(f"row {label!r}: {len(captions)} titles for {n} images")
    label_size = 9
    margin = max(_text_inches(label, label_size) for label in rows) + 0.25
    every_caption = [t for captions in titles.values() for t in captions]
    blocks, ncols, side = panel_grid(n, size, margin=margin, min_size=caption_width(every_caption))
    extra = title_height(every_caption)
    height = (side + extra) * len(rows) * blocks + 0.15 * (blocks - 1) + (0.5 if title else 0.1)
    fig, axes = _image_grid(len(rows) * blocks, ncols, (side * ncols + margin, height))
    for b in range(blocks):
        for i, (label, images) in enumerate(rows.items()):
            captions, row = titles.get(label), axes[b * len(rows) + i]
            for j, ax in enumerate(row):
                k = b * ncols + j
                if k < n:
                    _imshow(ax, images[k], None if captions is None else captions[k])
                else:
                    ax.axis("off")
            row[0].set_ylabel(label, fontsize=label_size, rotation=0, ha="right", va="center")
    _finish(fig, title)
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
    n_sources = int((counts > 0).sum())
    captions = ["sample", f"source of each pixel\n({n_sources} training images)",
                *(f"train #{i}\n{int(counts[i])} px" for i in ranked)]
    nrows, ncols, side = panel_grid(len(captions), size, min_size=caption_width(captions, 9))
    fig, axes = _image_grid(nrows, ncols, (side * ncols, (side + title_height(captions, 9)) * nrows + (0.5 if title else 0.1)))
    axes = axes.ravel()
    _imshow(axes[0], sample, captions[0], fontsize=9)
    axes[1].imshow(code.numpy(), cmap=cmap, vmin=-0.5, vmax=len(ranked) + 1.5, interpolation="nearest")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title(captions[1], fontsize=9)
    for k, i in enumerate(ranked):
        ax = axes[2 + k]
        _imshow(ax, images[i], captions[2 + k], fontsize=8)
        for spine in ax.spines.values():
            spine.set_edgecolor(colours[k])
            spine.set_linewidth(4)
    for ax in axes[len(captions):]:
        ax.axis("off")
    _finish(fig, title)
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
    sources = [(int(index[r, c]), tuple(int(x) for x in position[r, c])) for r, c in pixels]
    captions = ["sample", *(f"train #{j}\n({v}, {w}) \u2192 ({r}, {c})" for (j, (v, w)), (r, c) in zip(sources, pixels))]
    nrows, ncols, side = panel_grid(len(captions), size, min_size=caption_width(captions))
    fig, axes = _image_grid(nrows, ncols, (side * ncols, (side + title_height(captions, 9)) * nrows + (0.5 if title else 0.1)))
    axes = axes.ravel()
    _imshow(axes[0], sample, "sample", fontsize=9)
    for k, ((r, c), (j, (v, w))) in enumerate(zip(pixels, sources)):
        colour = palette[k % len(palette)]
        box = dict(width=patch_size, height=patch_size, fill=False, edgecolor=colour, linewidth=2)
        axes[0].add_patch(Rectangle((c - h - 0.5, r - h - 0.5), **box))
        _imshow(axes[1 + k], images[j], captions[1 + k], fontsize=8)
        axes[1 + k].add_patch(Rectangle((w - h - 0.5, v - h - 0.5), **box))
    for ax in axes[len(captions):]:
        ax.axis("off")
    _finish(fig, title)
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
        ax.step([i / n for i in range(1, n + 1)], schedule, where="mid", label=f"{name} (ours)",
                color=machine_colour(name))
    if published:
        n = len(published)
        ax.step([i / n for i in range(1, n + 1)], published, "k--", where="mid", label="ELS (paper)")
    ax.set(xlabel="diffusion time t", ylabel="patch size P (pixels)")
    ax.set_title(f"{title}\ncalibrated P(t)", fontsize=10)
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
    nrows, ncols, _ = panel_grid(len(maps), TEXT_WIDTH, ncols=2)  # at most two panels a row
    width = TEXT_WIDTH - CROP_PAD if ncols > 1 else 6.5
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.3 * nrows + (0.4 if title else 0)), squeeze=False,
                             layout="constrained")
    panels = axes.ravel()
    for ax in panels[len(maps):]:
        fig.delaxes(ax)
    for k, (ax, (name, c)) in enumerate(zip(panels, calibrations.items())):
        steps = maps[name].shape[0]
        im = ax.imshow(maps[name].T, origin="lower", aspect="auto", cmap="viridis", vmin=low, vmax=high,
                       extent=(0.5 / steps, 1 + 0.5 / steps, -0.5, len(c.candidates) - 0.5))
        ax.plot([(i + 1) / steps for i in range(steps)], [c.candidates.index(p) for p in c.schedule], "w.", ms=6)
        ax.set_yticks(range(len(c.candidates)), c.candidates, fontsize=MIN_FONTSIZE)
        ax.tick_params(axis="x", labelsize=9)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("diffusion time t", fontsize=9)
        if k % ncols == 0:
            ax.set_ylabel("patch size P (pixels)", fontsize=9)
    fig.colorbar(im, ax=panels[:len(maps)].tolist(), label="cosine similarity", shrink=min(1.0, 1.6 / nrows), aspect=25)
    _finish(fig, title)
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
        ax.scatter(*zip(*pts), s=10, alpha=0.7, label=name, color=machine_colour(name))
    ax.plot([-1, 1], [-1, 1], "k--", lw=1, label="equal to IS")
    low = min(min(ideal.values()), 0)
    ax.set(xlim=(low, 1), ylim=(low, 1), xlabel="r(IS, network)", ylabel="r(machine, network)")
    ax.set_title(f"{title}\nagreement per sample (network {k} steps)", fontsize=9)
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
    trained = [name for name, s in summaries.items() if s["snapshots"]]
    for name, (marker, line) in zip(trained, (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))):
        s = summaries[name]
        points = [(float(snap.removesuffix("min")), v["agreement"][k]) for snap, v in s["snapshots"].items()]
        points = sorted(points + [(trained_minutes[name], s["agreement"][k])], key=lambda point: point[0])
        for machine in ("ELS", "IS"):  # colour: the machine; marker and line: the network
            ax.plot([m for m, _ in points], [a[machine]["r"]["median"] for _, a in points], marker=marker,
                    linestyle=line, color=machine_colour(machine), label=f"{model_label(name)}: {machine}")
    ax.set(xlabel="training time (CPU minutes)", ylabel="median r with the network", ylim=(0, 1),
           title="Agreement with the theory during training")
    ax.legend(fontsize=MIN_FONTSIZE)
    ax.figure.tight_layout()
    return ax.figure


def results_table(summaries: Mapping[str, dict]) -> str:
    """Markdown tables of every agreement in ``els.reproduce`` summaries: one table per model
    (under its name in bold), one row per network steps (``steps``: the network's DDIM steps;
    the machines always take their own) and machine, with Pearson r
    (quartiles), the r^2 and R^2 medians and the share of samples where the machine agrees
    better than IS."""
    tables = []
    for name, s in summaries.items():
        lines = [f"**{name}**", "",
                 "| steps | machine | r (q25 / median / q75) | median r^2 | median R^2 | beats IS |",
                 "|---|---|---|---|---|---|"]
        for steps, machines in s["agreement"].items():
            for machine, e in machines.items():
                r, beats = e["r"], e.get("beats_IS")
                lines.append(f"| {steps} | {machine} | "
                             f"{r['q25']:.2f} / {r['median']:.2f} / {r['q75']:.2f} | "
                             f"{e['r2']['median']:.2f} | {e['R2']['median']:.2f} | "
                             f"{'-' if beats is None else f'{beats:.2f}'} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def locality_figure(localities: Mapping[str, dict]):
    """How wide each view of the centre pixel is against diffusion time, one panel per network
    (``localities``: model name -> the ``locality`` entry of its :mod:`els.studies.standing`
    summary), the legend in a panel of its own: the Wiener gain's width (the data alone), the
    network's measured sensitivity, its calibrated ELS patch size P(t) and PCA-locality mask,
    each in its machine's colour. Returns the figure."""
    import matplotlib.pyplot as plt

    if not localities:
        raise ValueError("localities is empty")
    nrows, ncols, _ = panel_grid(len(localities) + 1, 2.0, ncols=2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(TEXT_WIDTH - CROP_PAD, 1.8 * nrows + 0.4), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for ax, (name, loc) in zip(axes.flat, localities.items()):
        ax.plot(loc["t"], loc["Wiener"], color=machine_colour("Wiener"), lw=2, label="Wiener gain (data only)")
        ax.plot(loc["t"], loc["network"], color=machine_colour("network"), lw=2, label="network, measured")
        ax.step(loc["t"], loc["ELS"], where="mid", color=machine_colour("ELS"), ls="--", label="ELS patch size P(t)")
        ax.plot(loc["t"], loc["PCALocality"], color=machine_colour("PCALocality"), ls=":", lw=2,
                label="PCA-locality mask")
        ax.set_title(model_label(name), fontsize=9)
    legend = axes.flat[len(localities)]
    legend.legend(*axes.flat[0].get_legend_handles_labels(), loc="center", fontsize=9)
    for ax in axes.flat[len(localities):]:
        ax.axis("off")
    for ax in axes.flat[:len(localities)]:
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel("diffusion time t", fontsize=9)
    fig.supylabel("width (pixels)", fontsize=9)
    return fig


def along_trajectory_figure(summaries: Mapping[str, dict]):
    """Single-step agreement against diffusion time, one panel per model (two a row):
    ``summaries`` maps a model name to its :mod:`els.mechanisms` summary (``t`` and
    ``r_median``: machine -> median r per step, low noise first). Returns the figure."""
    import matplotlib.pyplot as plt


    if not summaries:
        raise ValueError("summaries is empty")
    nrows, ncols, _ = panel_grid(len(summaries), TEXT_WIDTH, ncols=2)  # at most two panels a row
    fig, axes = plt.subplots(nrows, ncols, figsize=(TEXT_WIDTH - CROP_PAD, 2.5 * nrows + 0.4), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for ax, (name, s) in zip(axes.flat, summaries.items()):
        for machine, r in s["r_median"].items():
            ax.plot(s["t"], r, marker=".", label=machine, color=machine_colour(machine))
        ax.set_title(model_label(name), fontsize=9)
        ax.set(ylim=(0, 1.02), xlim=(0, 1.02))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(summaries):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("diffusion time t")
    for ax in axes[:, 0]:
        ax.set_ylabel("median r with the network")
    axes.flat[0].legend(fontsize=MIN_FONTSIZE, loc="lower left")
    return fig


def dictionary_size_figure(summaries: Mapping[str, dict], metric: str = "r"):
    """Median ``metric`` ("r" or "R2") with the network against the number of training images
    the machines hold, one panel per model (two a row): ``summaries`` maps a model name to
    its :mod:`els.dictionary_size` summary. Solid lines: the reproduction's schedules;
    dashed: P(t) recalibrated at each size. Returns the figure."""
    import matplotlib.pyplot as plt


    if not summaries:
        raise ValueError("summaries is empty")
    nrows, ncols, _ = panel_grid(len(summaries), TEXT_WIDTH, ncols=2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(TEXT_WIDTH - CROP_PAD, 2.6 * nrows + 0.5), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, (name, s) in zip(axes.flat, summaries.items()):
        sizes = sorted(s["sizes"], key=int)
        machines = sorted({m for n in sizes for m in s["sizes"][n]["machines"]})
        for machine in machines:
            points = [(int(n), s["sizes"][n]["machines"][machine][metric]) for n in sizes
                      if machine in s["sizes"][n]["machines"]]
            ax.plot(*zip(*points), marker="o", markersize=3, color=machine_colour(machine),
                    linestyle="--" if "recalibrated" in machine else "-", label=machine)
        ax.set_xscale("log")
        ax.set_xticks([int(n) for n in sizes], [n for n in sizes], fontsize=MIN_FONTSIZE)
        ax.minorticks_off()
        ax.set_title(model_label(name), fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("training images the machines hold")
    for ax in axes.flat[len(summaries):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"median {'R^2' if metric == 'R2' else 'r'} with the network")
    axes.flat[0].legend(fontsize=MIN_FONTSIZE, loc="best")
    return fig


def copy_agreement_figure(curves: Mapping[str, Sequence[Mapping]], x: str = "n_images",
                          xlabel: str = "training images N", machines: Sequence[str] = ("IS", "LS", "ELS"),
                          log: bool = True):
    """Copying and agreement of networks against one quantity, in two panels: left, the share
    of a network's samples that copy a training image; right, its median Pearson r with each of
    ``machines``, in the machines' colours. ``curves`` maps a label (one line style and marker
    each, keyed in both panels) to points, dicts with the quantity ``x`` (e.g. ``n_images`` or
    ``training_steps``), ``copy_rate`` and ``median_r`` (machine -> r). Each measured point is a
    marker; thin lines only join them, so they claim nothing about values in between. The
    ticks are the points' values, on a logarithmic axis when ``log``. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if not curves:
        raise ValueError("curves is empty")
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
    thin = dict(lw=0.7)  # joins the markers without looking like a measured curve
    fig, (left, right) = plt.subplots(1, 2, figsize=(TEXT_WIDTH - CROP_PAD, 3.3), layout="constrained")
    ticks, top, keys = set(), 0.0, []
    for k, (label, pts) in enumerate(curves.items()):
        line, marker = styles[k % len(styles)]
        pts = sorted(pts, key=lambda p: p[x])
        xs = [p[x] for p in pts]
        ticks |= set(xs)
        top = max([top, *(p["copy_rate"] for p in pts)])
        left.plot(xs, [p["copy_rate"] for p in pts], ls=line, marker=marker, ms=6,
                  color=machine_colour("network"), label=label, **thin)
        keys.append(Line2D([], [], ls=line, marker=marker, ms=5, color="0.3", label=label, **thin))
        for machine in machines:
            right.plot(xs, [p["median_r"][machine] for p in pts], ls=line, marker=marker, ms=5,
                       color=machine_colour(machine), **thin)
    for ax in (left, right):
        if log:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(sorted(ticks), [f"{v:g}" for v in sorted(ticks)], fontsize=9)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.grid(alpha=0.3)
        if log and len(ticks) > 1:  # room for the end markers
            lo, hi = min(ticks), max(ticks)
            ax.set_xlim(lo / (hi / lo) ** 0.08, hi * (hi / lo) ** 0.08)
    left.set(ylim=(-0.01, max(0.25, 1.15 * top)))
    left.set_ylabel("share of samples that copy", fontsize=9)
    left.set_title("Copying", fontsize=10)
    left.legend(fontsize=MIN_FONTSIZE, loc="upper right")
    right.set(ylim=(0, 1.02))
    right.set_ylabel("median r with the network", fontsize=9)
    right.set_title("Agreement with the machines", fontsize=10)
    right.add_artist(right.legend(handles=keys, fontsize=MIN_FONTSIZE, loc="lower left"))
    right.legend([Line2D([], [], color=machine_colour(m), lw=2) for m in machines], list(machines),
                 fontsize=MIN_FONTSIZE, loc="lower right")
    return fig


def sensitivity_figure(maps: Mapping[str, torch.Tensor], times: Sequence[float] = (0.8, 0.2),
                       fraction: float = 0.1):
    """Where a network's denoised centre pixel looks: ``maps`` maps a row label to a
    sensitivity tensor ``(steps, C, H, W)`` (:mod:`els.mechanisms`, low noise first); one
    column per time in ``times`` shows log10 of the channel-mean map, titled with the width
    of its pixels at least ``fraction`` of the largest (as in chapter 10). Returns the figure."""
    import matplotlib.pyplot as plt

    if not maps:
        raise ValueError("maps is empty")
    nrows, ncols = len(maps), len(times)
    side = min(2.4, (TEXT_WIDTH - CROP_PAD - 1.4) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols + 1.4, (side + 0.45) * nrows), squeeze=False,
                             layout="constrained")
    for i, (label, m) in enumerate(maps.items()):
        steps = m.shape[0]
        for j, t in enumerate(times):
            g = torch.as_tensor(m[round(t * steps) - 1]).double().mean(0)
            width = float((g >= fraction * g.max()).sum()) ** 0.5
            im = axes[i, j].imshow(torch.log10(g + 1e-12).numpy(), cmap="magma", vmin=float(torch.log10(g.max())) - 4)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].set_title(f"t = {t:g}: width {width:.1f} px", fontsize=9)
            if j == 0:
                axes[i, j].set_ylabel(label, fontsize=9)
        fig.colorbar(im, ax=axes[i].tolist(), label="log10 |gradient|", shrink=0.9)
    return fig


def background_mask(x: torch.Tensor, patch_size: int, level: float = -0.9) -> torch.Tensor:
    """``(B, H, W)`` True where every pixel of ``x``'s ``P x P`` patch (inside the image) is
    darker than ``level``: flat background that many training patches match equally well, so
    its "source" means nothing."""
    x = as_image_batch(x).float()
    brightest = F.max_pool2d(x.amax(1, keepdim=True), patch_size, stride=1, padding=patch_size // 2)
    return brightest[:, 0] < level

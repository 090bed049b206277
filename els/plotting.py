"""Figures for the book: image grids, nearest training images and translates, patch mosaics.

Images are tensors ``(B, C, H, W)`` in ``[-1, 1]`` (SPEC §1). Every function that draws
returns the matplotlib ``Figure`` it made (titled, so it can be shown or saved). The small
computations behind the figures (nearest neighbours, best circular translate, which training
patch each pixel came from) live here too, so chapters call them instead of copying them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "to_display",
    "show_images",
    "show_rows",
    "nearest_neighbours",
    "nearest_translates",
    "patch_sources",
    "show_sources",
    "background_mask",
    "spread_pixels",
    "show_patch_matches",
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

    images = _checked(images)
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
    rows = {k: _checked(v) for k, v in rows.items()}
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


# --------------------------------------------------------------------------- nearest images
def nearest_neighbours(samples: torch.Tensor, images: torch.Tensor, chunk: int = 4096):
    """For each sample, the training image closest in Euclidean distance (all pixels and
    channels). Returns ``(distance (B,), index (B,))``."""
    samples, images = _checked(samples).double(), _checked(images).double()
    _same_shape(samples, images)
    s = samples.flatten(1)
    best = torch.full((len(s),), float("inf"), dtype=torch.float64)
    index = torch.zeros(len(s), dtype=torch.long)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].flatten(1)
        d2 = torch.cdist(s, block).pow(2)
        value, arg = d2.min(1)
        better = value < best
        best[better], index[better] = value[better], arg[better] + start
    return best.clamp(min=0).sqrt(), index


def nearest_translates(samples: torch.Tensor, images: torch.Tensor, chunk: int = 256):
    """For each sample, the closest circular translate of any training image.

    ``|s - roll(x, d)|^2 = |s|^2 + |x|^2 - 2 (s * x)(d)`` where ``(s * x)(d)`` is the circular
    cross-correlation, computed for every shift ``d`` at once with the FFT.
    Returns ``(distance (B,), index (B,), shift (B, 2))``: ``torch.roll(images[index],
    tuple(shift), dims=(-2, -1))`` is the matching translate; shifts are signed, in
    ``[-(H // 2), H - H // 2)`` for rows (likewise for columns), so small moves look small.
    """
    samples, images = _checked(samples).double(), _checked(images).double()
    _same_shape(samples, images)
    H, W = samples.shape[-2:]
    S = torch.fft.rfft2(samples)                                  # (B, C, H, W//2+1)
    s2 = samples.pow(2).flatten(1).sum(1)
    best = torch.full((len(samples),), float("inf"), dtype=torch.float64)
    index = torch.zeros(len(samples), dtype=torch.long)
    shift = torch.zeros(len(samples), 2, dtype=torch.long)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk]
        X = torch.fft.rfft2(block)                                # (n, C, H, W//2+1)
        corr = torch.fft.irfft2((S[:, None] * X[None].conj()).sum(2), s=(H, W))  # (B, n, H, W)
        d2 = s2[:, None, None, None] + block.pow(2).flatten(1).sum(1)[None, :, None, None] - 2 * corr
        value, arg = d2.flatten(1).min(1)
        better = value < best
        best[better] = value[better]
        index[better] = arg[better] // (H * W) + start
        shift[better, 0] = arg[better] % (H * W) // W
        shift[better, 1] = arg[better] % W
    size = torch.tensor([H, W])
    shift = (shift + size // 2) % size - size // 2
    return best.clamp(min=0).sqrt(), index, shift


# --------------------------------------------------------------------------- patch mosaics
def patch_sources(
    x: torch.Tensor,
    images: torch.Tensor,
    patch_size: int = 3,
    padding: str = "zeros",
    same_location: bool = False,
    chunk_elements: int = 2**24,
    device: str | torch.device | None = None,
):
    """Where each pixel of ``x`` comes from: the training patch nearest to ``x``'s own
    ``P x P`` patch there (the local-consistency picture of SPEC §9).

    Patches are cut with ``padding`` (``"zeros"`` or ``"circular"``) from ``x`` and from
    every training image at every position; ``same_location=True`` compares only with the
    training patches at the same position (the LS machine's dictionary).
    Returns ``(index (B, H, W), position (B, H, W, 2), distance (B, H, W))``: the training
    image and the (row, column) of the centre of the nearest patch, and its distance.
    Work is done in blocks of about ``chunk_elements`` distances (memory bound), on
    ``device`` (default: CUDA when available); results are returned on the CPU.
    """
    x, images = _checked(x).float(), _checked(images).float()
    _same_shape(x, images)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x, images = x.to(device), images.to(device)
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd int, got {patch_size}")
    B, C, H, W = x.shape
    N, L = len(images), H * W
    q = _patches(x, patch_size, padding)                         # (B, L, D)
    k = _patches(images, patch_size, padding)                    # (N, L, D)
    best = torch.full((B, L), float("inf"), device=device)
    arg = torch.zeros(B, L, dtype=torch.long, device=device)
    if same_location:
        step = max(1, chunk_elements // (B * L * q.shape[-1]))
        pixel = torch.arange(L, device=device).expand(B, L)
        for start in range(0, N, step):
            d2 = (q[:, None] - k[None, start:start + step]).pow(2).sum(-1)   # (B, n, L)
            value, a = d2.min(1)
            better = value < best
            best[better] = value[better]
            arg[better] = (a + start)[better] * L + pixel[better]
    else:
        flat_q = q.reshape(B * L, -1)
        flat_k = k.reshape(N * L, -1)
        qq = flat_q.pow(2).sum(1, keepdim=True)
        best, arg = best.reshape(-1), arg.reshape(-1)
        step = max(1, chunk_elements // (B * L))
        for start in range(0, len(flat_k), step):
            block = flat_k[start:start + step]
            d2 = qq - 2 * flat_q @ block.T + block.pow(2).sum(1)[None]
            value, a = d2.min(1)
            better = value < best
            best[better], arg[better] = value[better], a[better] + start
        best, arg = best.reshape(B, L), arg.reshape(B, L)
    arg, best = arg.cpu(), best.cpu()
    index = (arg // L).reshape(B, H, W)
    pos = arg % L
    position = torch.stack([pos // W, pos % W], -1).reshape(B, H, W, 2)
    return index, position, best.clamp(min=0).sqrt().reshape(B, H, W)


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
    image its nearest patch came from, ``index (H, W)`` from :func:`patch_sources`) and the
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
    nearest patch (``index``/``position`` ``(H, W)``/``(H, W, 2)`` from :func:`patch_sources`)
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


# --------------------------------------------------------------------------- internals
def _patches(x: torch.Tensor, patch_size: int, padding: str) -> torch.Tensor:
    """All ``P x P`` patches of ``x (B, C, H, W)``, one per pixel: ``(B, H*W, C*P*P)``."""
    h = patch_size // 2
    if padding == "zeros":
        xp = F.pad(x, (h, h, h, h))
    elif padding == "circular":
        H, W = x.shape[-2:]
        rows = torch.arange(-h, H + h, device=x.device) % H
        cols = torch.arange(-h, W + h, device=x.device) % W
        xp = x[..., rows[:, None], cols[None, :]]
    else:
        raise ValueError(f"padding must be 'zeros' or 'circular', got {padding!r}")
    return F.unfold(xp, patch_size).transpose(1, 2)


def _checked(images) -> torch.Tensor:
    if not torch.is_tensor(images):
        raise TypeError(f"expected a tensor (B, C, H, W), got {type(images).__name__}")
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
    return images.detach().cpu()


def _same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"images must share (C, H, W): got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")


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
    x = _checked(x).float()
    brightest = F.max_pool2d(x.amax(1, keepdim=True), patch_size, stride=1, padding=patch_size // 2)
    return brightest[:, 0] < level

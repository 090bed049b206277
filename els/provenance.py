"""Where generated images come from: nearest training images, nearest circular translates,
and the training patch nearest to each pixel (the local-consistency picture of the book
appendix, §A.9).

Images are tensors ``(B, C, H, W)`` in ``[-1, 1]``; distances are Euclidean over all pixels
and channels, in those units. Patch provenance is a mode of the machines themselves
(:meth:`els.machines.Machine.top_patches`): they search their own dictionaries.
"""
from __future__ import annotations

import torch

from .engine.patches import gather_windows


__all__ = ["nearest_neighbours", "nearest_two", "copies", "nearest_translates", "patch_sources", "nearest_summary"]


def nearest_neighbours(samples: torch.Tensor, images: torch.Tensor, chunk: int = 4096):
    """For each sample, the training image closest in Euclidean distance (all pixels and
    channels). Returns ``(distance (B,), index (B,))``."""
    samples, images = as_image_batch(samples).double(), as_image_batch(images).double()
    check_same_shape(samples, images)
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


def nearest_two(samples: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each sample, its nearest and second-nearest training images (Euclidean, all pixels
    and channels; ``images`` needs at least two). Returns ``(d1 (B,), d2 (B,), index (B,))``:
    the two distances, float64, and the index of the nearest image."""
    samples, images = as_image_batch(samples).double(), as_image_batch(images).double()
    check_same_shape(samples, images)
    if len(images) < 2:
        raise ValueError(f"nearest_two needs at least two training images, got {len(images)}")
    d = torch.cdist(samples.flatten(1), images.flatten(1))
    two = d.topk(2, dim=1, largest=False)
    return two.values[:, 0], two.values[:, 1], two.indices[:, 0]


#: a sample copies its nearest training image when it is at most this fraction of the distance
#: to the second nearest (Yoon et al. 2023 use 1/3 for "memorised")
COPY_RATIO = 1 / 3


def copies(samples: torch.Tensor, images: torch.Tensor, ratio: float = COPY_RATIO) -> tuple[torch.Tensor, torch.Tensor]:
    """Which samples copy a training image: ``d1 <= ratio * d2`` (:func:`nearest_two`), i.e. the
    sample is far closer to one training image than to any other. Returns ``(copied (B,) bool,
    index (B,))``, the index of the nearest training image."""
    d1, d2, index = nearest_two(samples, images)
    return d1 <= ratio * d2, index


def nearest_translates(samples: torch.Tensor, images: torch.Tensor, chunk: int = 256):
    """For each sample, the closest circular translate of any training image.

    ``|s - roll(x, d)|^2 = |s|^2 + |x|^2 - 2 (s * x)(d)`` where ``(s * x)(d)`` is the circular
    cross-correlation, computed for every shift ``d`` at once with the FFT.
    Returns ``(distance (B,), index (B,), shift (B, 2))``: ``torch.roll(images[index],
    tuple(shift), dims=(-2, -1))`` is the matching translate; shifts are signed, in
    ``[-(H // 2), H - H // 2)`` for rows (likewise for columns), so small moves look small.
    """
    samples, images = as_image_batch(samples).double(), as_image_batch(images).double()
    check_same_shape(samples, images)
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


def patch_sources(machine, x: torch.Tensor, patch_size: int | None = None, label: int | None = None):
    """Where each pixel of ``x`` (B, C, H, W) comes from: the entry of a local machine's own
    dictionary (LS or ELS; ``patch_size`` default the machine's) nearest to ``x``'s window
    there, i.e. its heaviest entry in the t = 0 limit (:meth:`~els.machines.Machine.top_patches`).

    Returns ``(index (B, H, W), position (B, H, W, 2), distance (B, H, W))`` on the CPU: the
    training image (an index into ``machine.images``), the (row, column) of the centre of the
    nearest window, and the Euclidean distance between the two windows (recomputed exactly).
    """
    x = as_image_batch(x).to(machine.device, machine.dtype)
    index, position, _ = machine.top_patches(x, 0.0, label=label, patch_size=patch_size)
    layout = machine.layout(patch_size or machine.patch_size)
    B, C, H, W = x.shape

    def windows(images, image_of_pixel, pixel):  # (B*H*W, D) windows at the pixels' corners
        return gather_windows(layout.windows(images), layout.starts(image_of_pixel, pixel, (C, H, W)))

    pixels = torch.arange(H * W, device=machine.device).repeat(B)
    source = (position[..., 0] * W + position[..., 1]).reshape(-1).to(machine.device)
    mine = windows(x, torch.arange(B, device=machine.device).repeat_interleave(H * W), pixels)
    theirs = windows(machine.images, index.reshape(-1).to(machine.device), source)
    distance = (mine.double() - theirs.double()).norm(dim=1)
    return index, position, distance.reshape(B, H, W).cpu()


def as_image_batch(images) -> torch.Tensor:
    if not torch.is_tensor(images):
        raise TypeError(f"expected a tensor (B, C, H, W), got {type(images).__name__}")
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
    return images.detach().cpu()


def check_same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"images must share (C, H, W): got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")


@torch.no_grad()
def nearest_summary(samples: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Median / min / max distance of ``samples (B, C, H, W)`` to their nearest training image
    in ``images (N, C, H, W)`` (L2 over all pixels and channels, in image units), and the median
    as a per-pixel RMS (distance / sqrt(C H W)); for manifests and reports."""
    d, _ = nearest_neighbours(samples, images)
    dim = samples[0].numel()
    return {"nn_l2_median": float(d.median()), "nn_l2_min": float(d.min()), "nn_l2_max": float(d.max()),
            "nn_rms_median": float(d.median()) / dim ** 0.5}

"""Where generated images come from: nearest training images, nearest circular translates,
and the training patch nearest to each pixel (the local-consistency picture of SPEC §9).

Images are tensors ``(B, C, H, W)`` in ``[-1, 1]``; distances are Euclidean over all pixels
and channels, in those units.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .machines import Machine, checked_patch_size
from .patches import gather, pad, padded_positions, window_offsets
from .schedule import alpha_bar

__all__ = ["nearest_neighbours", "nearest_translates", "patch_sources", "top_patches"]


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
    x, images = as_image_batch(x).float(), as_image_batch(images).float()
    check_same_shape(x, images)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x, images = x.to(device), images.to(device)
    checked_patch_size(patch_size)
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


def top_patches(
    machine: Machine,
    x_t: torch.Tensor,
    t: float,
    patch_size: int | None = None,
    label: int | None = None,
    chunk: int = 2**16,
):
    """For every pixel of ``x_t``, the training patch with the largest weight in a local
    machine's posterior mean at time ``t`` (LS or ELS, with the machine's own dictionaries:
    same position for LS, same border signature for zero-padded ELS, every position for
    circular ELS).

    x_t: (B, C, H, W); t in (0, 1]; patch_size: default the machine's; label: restrict to that
    class as the machine does. Returns ``(index (B, H, W), position (B, H, W, 2), weight
    (B, H, W))``: the training image (an index into ``machine.images``), the (row, column) of
    the patch centre, and that patch's softmax weight (1 = the pixel copies it outright).
    Brute force over the dictionary in blocks of ``chunk`` patches (float64 sums).
    """
    x = as_image_batch(x_t).to(machine.device, machine.dtype)
    check_same_shape(x, machine.images)
    if machine.patch_size is None:
        raise ValueError(f"{type(machine).__name__} compares whole images; top_patches needs LS or ELS")
    layout = machine.layout(checked_patch_size(patch_size or machine.patch_size))
    if not 0 < float(t) <= 1:
        raise ValueError(f"t must lie in (0, 1], got {t}")
    ab = float(alpha_bar(float(t)))
    a, s2 = ab**0.5, 1 - ab
    rows = torch.arange(len(machine.images), device=machine.device)
    if label is not None:
        if machine.labels is None:
            raise ValueError("label given, but the machine was built without labels")
        rows = rows[machine.labels.to(machine.device) == label]
    images = machine.images[rows]
    B, C, H, W = x.shape
    top, bottom, left, right = layout.pads
    Hp, Wp = H + top + bottom, W + left + right
    offsets = window_offsets(C, Hp, Wp, *layout.window, device=machine.device)
    xp = pad(x, *layout.pads, layout.mode).reshape(-1)
    ip = pad(images, *layout.pads, layout.mode).reshape(-1)
    index = torch.zeros(B, H * W, dtype=torch.long)
    position = torch.zeros(B, H * W, dtype=torch.long)
    weight = torch.zeros(B, H * W, dtype=torch.float64)
    for queries, positions in layout.groups:
        padded_q = padded_positions(queries, W, Wp)
        padded_k = padded_positions(positions, W, Wp)
        keys_at = (torch.arange(len(images), device=machine.device)[:, None] * (C * Hp * Wp)
                   + padded_k[None, :]).reshape(-1)                      # image-major
        for b in range(B):
            q = gather(xp, b * C * Hp * Wp + padded_q, offsets).double()  # (m, D)
            best = torch.full((len(q),), float("inf"), dtype=torch.float64, device=machine.device)
            arg = torch.zeros(len(q), dtype=torch.long, device=machine.device)
            lse = torch.full((len(q),), float("-inf"), dtype=torch.float64, device=machine.device)
            for start in range(0, len(keys_at), chunk):
                keys = a * gather(ip, keys_at[start:start + chunk], offsets).double()
                d2 = torch.cdist(q, keys).square()                          # (m, n)
                value, j = d2.min(1)
                better = value < best
                best[better], arg[better] = value[better], j[better] + start
                lse = torch.logaddexp(lse, torch.logsumexp(-d2 / (2 * s2), 1))
            cols = queries.cpu()
            index[b, cols] = rows[arg // len(positions)].cpu()
            position[b, cols] = positions[arg % len(positions)].cpu()
            weight[b, cols] = torch.exp(-best / (2 * s2) - lse).cpu()
    return (index.reshape(B, H, W), torch.stack([position // W, position % W], -1).reshape(B, H, W, 2),
            weight.reshape(B, H, W))


def _patches(x: torch.Tensor, patch_size: int, padding: str) -> torch.Tensor:
    """All ``P x P`` patches of ``x (B, C, H, W)``, one per pixel: ``(B, H*W, C*P*P)``."""
    h = patch_size // 2
    xp = pad(x, h, h, h, h, padding)
    return F.unfold(xp, patch_size).transpose(1, 2)


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

"""The second hot loop: pixels whose dictionary is the training windows *at their own
position* (the LS machine, and the border pixels of the zero-padded ELS machine whose border
signature no other pixel shares).

For such a pixel ``u`` the logit of training image ``n`` is
``-|x_t[W_u] - a I_n[W_u]|^2 / (2 s2)`` over the window ``W_u`` around ``u``. The squared
distance is a box sum, over the window, of the per-pixel map ``(x_t - a I_n)^2``, so all
pixels of all images come from one elementwise square and one separable box filter:
``O(B N H W (C + kh + kw))`` work instead of ``O(B N H W C kh kw)`` for the window products,
and no per-pixel Python loop. The softmax over training images streams over chunks of
images with an online log-sum-exp, so memory is one chunk of ``(B, n, H, W)`` logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .patches import pad

def same_location_average(
    x: torch.Tensor,
    images: torch.Tensor,
    a: torch.Tensor,
    s2: torch.Tensor,
    window: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
    chunk_bytes: int,
) -> torch.Tensor:
    """Posterior mean of every pixel under its same-position dictionary.

    x: (B, C, H, W) noisy images; images: (N, C, H, W) training images; a, s2: (B,) signal
    scale ``sqrt(abar)`` and noise variance ``1 - abar``; window: (kh, kw) odd; pads:
    (top, bottom, left, right) of ``mode`` padding with the window's top-left corner at padded
    (r, c) for pixel (r, c). Returns (B, C, H, W): per pixel the softmax-weighted average of
    the training pixels at the window centre. ``chunk_bytes`` bounds one chunk of
    ``(B, n, Hp, Wp)`` squared differences (at least one training image per chunk).
    """
    B, C, H, W = x.shape
    N = len(images)
    kh, kw = window
    xp = pad(x, *pads, mode)                               # (B, C, Hp, Wp)
    ip = pad(images, *pads, mode)                          # (N, C, Hp, Wp)
    Hp, Wp = xp.shape[-2:]
    centres = ip[:, :, kh // 2:kh // 2 + H, kw // 2:kw // 2 + W]  # (N, C, H, W)
    n = max(1, chunk_bytes // (x.element_size() * B * C * Hp * Wp))
    scale = a[:, None, None, None, None]
    best = torch.full((B, H, W), float("-inf"), dtype=x.dtype, device=x.device)
    total = torch.zeros(B, H, W, dtype=x.dtype, device=x.device)
    acc = torch.zeros(B, C, H, W, dtype=x.dtype, device=x.device)
    for start in range(0, N, n):
        diff = (xp[:, None] - scale * ip[None, start:start + n]).square_().sum(2)   # (B, n, Hp, Wp)
        m = diff.shape[1]
        # separable box sum over the window: mean over rows, then over columns, times the area
        box = F.avg_pool2d(diff.view(B * m, 1, Hp, Wp), (kh, 1), stride=1)
        box = F.avg_pool2d(box, (1, kw), stride=1).view(B, m, H, W)
        logits = box.mul_(-(kh * kw) / (2 * s2)[:, None, None, None])
        new_best = torch.maximum(best, logits.amax(1))
        weights = logits.sub_(new_best[:, None]).exp_()                             # (B, n, H, W)
        rescale = torch.exp(best - new_best)
        total = total * rescale + weights.sum(1)
        acc = acc * rescale[:, None] + torch.einsum("bnhw,nchw->bchw", weights, centres[start:start + m])
        best = new_best
    return acc / total[:, None]

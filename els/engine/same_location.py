"""Coordinates whose dictionary is the training images *at their own position*: the LS
machine, the border pixels of the zero-padded ELS machine whose border signature no other
pixel shares, and any machine that restricts the ideal score's distance with a mask
(book appendix, §A.4).

For a query ``x_t`` and training image ``x_k`` the distance seen by output coordinate ``m`` is

    d[b, k, m] = sum_n M[n, m] (x_t[b, n] - a x_k[n])^2

over input coordinates ``n`` (channel, row, column), and output ``m`` is the softmax-weighted
average, over training images ``k``, of ``x_k[m]`` with logits ``-d / (2 s2)``. The mask ``M``
is either a :class:`Box` (every channel of a square window around the output pixel, in the
padding of the machine; all channels of a pixel share its weights), computed with one
separable box filter over the per-pixel map ``(x_t - a x_k)^2``, or any ``(D, D)`` matrix over
flattened ``(C, H, W)`` coordinates, dense or sparse, applied as a matrix product. Every
softmax goes through :class:`els.engine.OnlineSoftmax`, over chunks of training images, so
memory is one chunk of ``(B, n, ...)`` distances.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .softmax import OnlineSoftmax
from .patches import pad


@dataclass(frozen=True)
class Box:
    """The square-window mask: output pixel ``(r, c)`` (every channel) sees every channel of
    the ``window`` = (kh, kw) block of the image padded by ``pads`` = (top, bottom, left,
    right) in ``mode``, whose top-left corner sits at padded ``(r, c)``."""

    window: tuple[int, int]
    pads: tuple[int, int, int, int]
    mode: str


def same_location_average(
    x: torch.Tensor,
    images: torch.Tensor,
    a: torch.Tensor,
    s2: torch.Tensor,
    mask: Box | torch.Tensor,
    chunk_bytes: int,
    top: bool = False,
) -> OnlineSoftmax:
    """Posterior mean of every output coordinate under its same-position dictionary.

    x: (B, C, H, W) noisy images; images: (N, C, H, W) training images; a, s2: (B,) signal
    scale ``sqrt(abar)`` and noise variance ``1 - abar``; mask: a :class:`Box`, or a (D, D)
    dense or sparse tensor ``M[n, m]`` with D = C * H * W. ``chunk_bytes`` bounds one chunk of
    ``(B, n, ...)`` distances (at least one training image per chunk).
    Returns the :class:`~els.engine.OnlineSoftmax` over training images: ``.result()`` is
    (B, C, H, W); with ``top=True``, ``top_index`` is the heaviest training image per query,
    (B, H * W) for a box, (B, D) for a matrix.
    """
    B, C, H, W = x.shape
    if isinstance(mask, Box):
        return _box_average(x, images, a, s2, mask, chunk_bytes, top)
    D = C * H * W
    if mask.shape != (D, D):
        raise ValueError(f"a mask matrix must be (C*H*W, C*H*W) = ({D}, {D}), got {tuple(mask.shape)}")
    mask_t = mask.t().to(x.device, x.dtype)  # (D_out, D_in): sparse tensors multiply from the left
    q = x.reshape(B, 1, D)
    n = max(1, chunk_bytes // (x.element_size() * B * D))
    acc = OnlineSoftmax(value_dim=1, top=top)
    for start in range(0, len(images), n):
        keys = images[start:start + n].reshape(1, -1, D)                        # (1, n, D)
        diff = (q - a[:, None, None] * keys).square_()                           # (B, n, D)
        dist = (mask_t @ diff.reshape(-1, D).T).T.reshape(B, -1, D)               # (B, n, D)
        logits = dist.mul_(-1 / (2 * s2)[:, None, None])
        acc.add_logits(logits, 1, lambda w: torch.einsum("bnd,nd->bd", w, keys[0])[:, None])
    acc.result()
    acc.mean = acc.mean.reshape(B, C, H, W)
    return acc


def _box_average(x, images, a, s2, box, chunk_bytes, top):
    B, C, H, W = x.shape
    kh, kw = box.window
    xp = pad(x, *box.pads, box.mode)                                              # (B, C, Hp, Wp)
    Hp, Wp = xp.shape[-2:]
    n = max(1, chunk_bytes // (x.element_size() * B * C * Hp * Wp))
    scale = a[:, None, None, None, None]
    acc = OnlineSoftmax(value_dim=1, top=top)
    for start in range(0, len(images), n):
        padded = pad(images[start:start + n], *box.pads, box.mode)                 # (n, C, Hp, Wp)
        m = len(padded)
        diff = (xp[:, None] - scale * padded[None]).square_().sum(2)                # (B, n, Hp, Wp)
        # separable box sum over the window: mean over rows, then over columns, times the area
        dist = F.avg_pool2d(diff.view(B * m, 1, Hp, Wp), (kh, 1), stride=1)
        dist = F.avg_pool2d(dist, (1, kw), stride=1).view(B, m, H * W)
        logits = dist.mul_(-(kh * kw) / (2 * s2)[:, None, None])
        values = padded[:, :, kh // 2:kh // 2 + H, kw // 2:kw // 2 + W].reshape(m, C, H * W)  # window centres
        acc.add_logits(logits, 1, lambda w: torch.einsum("bnp,ncp->bcp", w, values))
    acc.result()
    acc.mean = acc.mean.reshape(B, C, H, W)
    return acc

"""Brute-force float64 references: the definition of correct (book appendix, §A.3).

Explicit loops over output pixels and dictionary entries, explicit distances and an explicit
softmax, written straight from the table in the book appendix, §A.3, and sharing no code with ``els``.
"""
from __future__ import annotations

import math

import numpy as np


def random_images(*shape, seed=0):
    """Uniform float64 images in [-1, 1) of the given shape, from a fixed seed."""
    import torch

    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def _abar(t: float) -> float:
    return math.cos(t / 1.008 * math.pi / 2) ** 2


def _softmax_mean(query, entries, a, s2):
    """sum_j w_j c_j / sum_j w_j with w_j = exp(-|q - a p_j|^2 / (2 s2)); entries: [(p, c)]."""
    logits = np.array([-np.sum((query - a * p) ** 2) / (2 * s2) for p, _ in entries])
    w = np.exp(logits - logits.max())
    return sum(wj * c for wj, (_, c) in zip(w, entries)) / w.sum()


def _patch(img, r, c, P, mode):
    """P x P patch of img (C, H, W) centred at (r, c), zero or circular padded."""
    C, H, W = img.shape
    h = P // 2
    out = np.zeros((C, P, P))
    for i in range(P):
        for j in range(P):
            rr, cc = r - h + i, c - h + j
            if mode == "circular":
                out[:, i, j] = img[:, rr % H, cc % W]
            elif 0 <= rr < H and 0 <= cc < W:
                out[:, i, j] = img[:, rr, cc]
    return out


def _signature(r, c, H, W, h):
    return (min(r, h), min(H - 1 - r, h), min(c, h), min(W - 1 - c, h))


def reference_denoise(kind, x, t, images, labels=None, label=None, patch_size=None,
                      padding="zeros", train_patches="valid"):
    """x0_hat for machine ``kind`` in {"IS", "ES", "LS", "ELS"}; x (B, C, H, W) numpy, t a float
    or a list per image, label None / int / list per image. Returns (B, C, H, W) float64."""
    x = np.asarray(x, dtype=np.float64)
    images = np.asarray(images, dtype=np.float64)
    B, C, H, W = x.shape
    ts = [t] * B if np.isscalar(t) else list(t)
    labs = [label] * B if label is None or np.isscalar(label) else list(label)
    out = np.zeros_like(x)
    for b in range(B):
        ab = _abar(ts[b])
        a, s2 = math.sqrt(ab), 1 - ab
        train = images if labs[b] is None else images[np.asarray(labels) == labs[b]]
        if kind == "IS":
            out[b] = _softmax_mean(x[b], [(y, y) for y in train], a, s2)
        elif kind == "ES":
            entries = [(np.roll(y, (dr, dc), axis=(1, 2)),) * 2
                       for y in train for dr in range(H) for dc in range(W)]
            out[b] = _softmax_mean(x[b], entries, a, s2)
        else:
            P, h = patch_size, patch_size // 2
            mode = "circular" if kind == "ELS" and padding == "circular" else "zeros"
            for r in range(H):
                for c in range(W):
                    if kind == "LS":
                        positions = [(r, c)]
                    elif padding == "zeros":
                        positions = [(v, w) for v in range(H) for w in range(W)
                                     if _signature(v, w, H, W, h) == _signature(r, c, H, W, h)]
                    elif train_patches == "wrap":
                        positions = [(v, w) for v in range(H) for w in range(W)]
                    else:
                        positions = [(v, w) for v in range(h, H - h) for w in range(h, W - h)]
                    entries = [(_patch(y, v, w, P, mode), y[:, v, w]) for y in train for v, w in positions]
                    out[b, :, r, c] = _softmax_mean(_patch(x[b], r, c, P, mode), entries, a, s2)
    return out

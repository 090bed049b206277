"""The one hot loop: a streaming softmax-weighted average over a dictionary (SPEC §4).

For queries ``q`` (M, D) and dictionary chunks of keys ``k`` (n, D) and values ``v`` (n, V + 1)
it returns ``softmax(q @ k.T) @ v`` over the whole dictionary, reading it one chunk at a time
(online log-sum-exp), so working memory is one ``(M, n)`` block of logits, never the
dictionary. It is attention with scale 1: the machines fold the noise level into the queries.
The engine knows nothing about images.

Speed: each row keeps a running log-sum-exp ``shift``. The engine writes ``-shift`` into the
last query column and the keys carry a constant 1 there, so the matrix product already
returns shifted logits and a chunk costs one product, one in-place ``exp`` and one product
with the values (whose last column of ones accumulates the softmax denominator). Only rows
whose chunk sum overflows, which happens when a chunk holds entries far closer than any seen
before, are recomputed with their own maximum. The result is exact either way.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

#: default bytes for one (queries x chunk) block of logits, per device type.
DEFAULT_CHUNK_BYTES = {"cpu": 4 * 2**20, "cuda": 512 * 2**20}
#: a row's chunk sum above this (or inf/nan) is recomputed with the row's own maximum.
_OVERFLOW = 1e30
#: exp arguments are clamped here on the CPU (see ``_exp_``)
_UNDERFLOW = -87.0


def chunk_length(n_queries: int, chunk_bytes: int, element_size: int) -> int:
    """Dictionary entries per chunk so that an ``(n_queries, n)`` logit block takes about
    ``chunk_bytes`` bytes (at least 1)."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    return max(1, chunk_bytes // (element_size * max(1, n_queries)))


def softmax_average(
    queries: torch.Tensor, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """Exact ``softmax(queries @ keys.T, dim=1) @ values[:, :-1]`` streamed over chunks.

    queries: (M, D); the last column is reserved for the engine (its input value is ignored).
    chunks: iterable of ``(keys (n, D), values (n, V + 1))``; the last key column and the last
    value column must be all ones. Returns (M, V) in the dtype of ``queries``, on its device.
    Logits are formed transposed, ``keys @ queries.T`` (n, M), so that the product with the
    few value columns is a wide ``values.T @ logits`` rather than a skinny one.
    """
    qt = queries.T.contiguous()  # (D, M); row -1 carries -shift
    acc = shift = None  # acc: (V + 1, M) weighted sums with shift removed; shift: (M,)
    for keys, values in chunks:
        if shift is None:  # first chunk: find each query's maximum explicitly
            qt[-1] = 0
            logits = keys @ qt
            shift = logits.amax(dim=0)
            acc = values.T @ _exp_(logits.sub_(shift))
        else:
            qt[-1] = -shift
            part = values.T @ _exp_(keys @ qt)
            bad = ~(torch.isfinite(part).all(dim=0) & (part[-1] < _OVERFLOW))
            if bad.any():
                cols = bad.nonzero().squeeze(1)
                part[:, cols], shift[cols], acc[:, cols] = _recompute(
                    qt[:, cols], keys, values, shift[cols], acc[:, cols])
            acc += part
        # renormalise so the denominator is 1 and the shift is the running log-sum-exp
        den = acc[-1].clone()
        shift += den.log()
        acc /= den
    if acc is None:
        raise ValueError("the dictionary is empty: there is nothing to average over")
    return acc[:-1].T


def _recompute(qt, keys, values, shift, acc):
    """Chunk sums for queries that overflowed, with each query's own maximum as the new shift."""
    qt = qt.clone()
    qt[-1] = 0
    logits = keys @ qt
    new_shift = torch.maximum(shift, logits.amax(dim=0))
    part = values.T @ _exp_(logits.sub_(new_shift))
    return part, new_shift, acc * torch.exp(shift - new_shift)


def _exp_(logits: torch.Tensor) -> torch.Tensor:
    """In-place ``exp``. On the CPU, arguments below -87 are first raised to -87: torch's
    vectorised exp takes a slow path for underflowing arguments (measured 8-20x slower, and
    real dictionaries produce mostly such logits). Each raised term is then at most
    exp(-87) < 2e-38 while the denominator is at least 1, so the result is unchanged."""
    if logits.device.type == "cpu":
        logits.clamp_min_(_UNDERFLOW)
    return logits.exp_()

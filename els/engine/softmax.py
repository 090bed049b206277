"""The one softmax: a streaming softmax-weighted average over a dictionary (book appendix, §A.4).

Every machine, the same-location path and provenance average values ``v_j`` with weights
``softmax_j(l_j)`` over more entries ``j`` than fit in memory. :class:`OnlineSoftmax` does it
one chunk at a time: per query it keeps the running log-sum-exp of the logits seen so far and
the running weighted mean, and merges each chunk's partial result exactly, whatever shift the
chunk was computed with. It can also keep the heaviest entry (provenance).

:func:`softmax_average` is the hot loop built on it, for logits that are dot products
``queries @ keys.T`` (attention with scale 1; the machines fold the noise level into the
queries). Each query's running log-sum-exp is written into the reserved last query column and
the keys carry a constant 1 there, so the matrix product already returns shifted logits: a
chunk costs one product, one in-place ``exp`` and one product with the values (whose last
column of ones gives the chunk's weight sums). Only queries whose chunk sum overflows, when a
chunk holds entries far closer than any seen before, are recomputed with their own maximum.
The result is exact either way. Working memory is one ``(n, M)`` block of logits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

#: default bytes for one (queries x chunk) block of logits, per device type.
DEFAULT_CHUNK_BYTES = {"cpu": 4 * 2**20, "cuda": 512 * 2**20}
#: a query's chunk sum above this (or inf/nan) is recomputed with the query's own maximum.
_OVERFLOW = 1e30
#: exp arguments are clamped here on the CPU (see ``exp_``)
_UNDERFLOW = -87.0


def chunk_length(n_queries: int, chunk_bytes: int, element_size: int, width: int = 0) -> int:
    """Dictionary entries per chunk so that an ``(n_queries, n)`` logit block, and an
    ``(n, width)`` block of keys and values, each take at most about ``chunk_bytes`` bytes
    (at least 1 entry)."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    return max(1, chunk_bytes // (element_size * max(1, n_queries, width)))


class OnlineSoftmax:
    """A softmax-weighted average accumulated chunk by chunk.

    Queries have any shape ``Q``. After the chunks seen so far, ``lse`` (Q) is
    ``log sum_j exp(l_j)`` and ``mean`` is ``sum_j softmax(l)_j v_j``, with the value axis at
    position ``value_dim`` of ``mean`` (the rest of ``mean``'s shape is ``Q``). With
    ``top=True`` it also keeps, per query, the largest logit ``top_logit`` (Q) and the index
    ``top_index`` (Q) of its entry, counted over all chunks in the order they were added.
    """

    def __init__(self, value_dim: int = 0, top: bool = False):
        self.value_dim = value_dim
        self.top = top
        self.lse = self.mean = self.top_logit = self.top_index = None
        self.entries = 0  # entries added so far: the index offset of the next chunk

    def add(self, sums: torch.Tensor, weighted: torch.Tensor, shift: torch.Tensor,
            entries: int, top: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """Merge one chunk's partial result: ``sums = sum_j exp(l_j - shift)`` (Q) and
        ``weighted = sum_j exp(l_j - shift) v_j`` (``mean``'s shape), computed with any
        finite per-query ``shift`` (Q) over the chunk's ``entries`` entries; ``top`` = (largest
        logit (Q), its index within the chunk (Q)) when this accumulator keeps the top entry."""
        if self.lse is None:
            self.lse, self.mean = shift + sums.log(), weighted / sums.unsqueeze(self.value_dim)
        elif shift is self.lse:  # relative to the running log-sum-exp, whose weight sum is 1
            total = sums + 1
            self.mean = self.mean.add_(weighted).div_(total.unsqueeze(self.value_dim))
            self.lse = self.lse + total.log()
        else:  # weights relative to the larger of the two shifts; with equal shifts both scales are 1
            ref = torch.maximum(self.lse, shift)
            old, new = torch.exp(self.lse - ref), torch.exp(shift - ref)
            total = old + sums * new
            self.mean = self.mean.mul_((old / total).unsqueeze(self.value_dim)).add_(
                weighted * (new / total).unsqueeze(self.value_dim))
            self.lse = ref + total.log()
        if self.top:
            logit, index = top
            index = index + self.entries
            if self.top_logit is None:
                self.top_logit, self.top_index = logit, index
            else:
                better = logit > self.top_logit
                self.top_logit = torch.where(better, logit, self.top_logit)
                self.top_index = torch.where(better, index, self.top_index)
        self.entries += entries

    def add_logits(self, logits: torch.Tensor, dim: int,
                   average: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Merge a chunk given as explicit logits with its entries along ``dim``; ``average``
        maps the chunk's weights (the logits' shape, overwritten in place) to the weighted sums
        of its values (``mean``'s shape). Exact at any scale: each query's chunk maximum is its
        shift."""
        if self.top:
            shift, index = logits.max(dim)
            top = (shift, index)
        else:
            shift, top = logits.amax(dim), None
        weights = exp_(logits.sub_(shift.unsqueeze(dim)))
        self.add(weights.sum(dim), average(weights), shift, logits.shape[dim], top)

    def result(self) -> torch.Tensor:
        """The weighted mean over every entry added (``mean``)."""
        if self.mean is None:
            raise ValueError("the dictionary is empty: there is nothing to average over")
        return self.mean

    def top_weight(self) -> torch.Tensor:
        """Softmax weight (Q) of each query's heaviest entry (1: the query copies it)."""
        return torch.exp(self.top_logit - self.lse)


def softmax_average(queries: torch.Tensor, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    top: bool = False) -> OnlineSoftmax:
    """``softmax(queries @ keys.T, dim=1) @ values[:, :-1]`` streamed over chunks.

    queries: (M, D); the last column is reserved for the engine (its input value is ignored).
    chunks: iterable of ``(keys (n, D), values (n, V + 1))``; the last key column and the last
    value column must be all ones. A chunk may reuse the previous chunk's memory (it is
    consumed before the next is asked for). Returns the :class:`OnlineSoftmax` over the
    queries: ``.result()`` is the average as (V, M), transposed, in the dtype and on the
    device of ``queries``; ``top=True`` keeps each query's heaviest entry too. Logits are
    formed transposed, ``keys @ queries.T`` (n, M), so that the product with the few value
    columns is a wide ``values.T @ logits`` rather than a skinny one.
    """
    qt = queries.T.contiguous()  # (D, M); row -1 carries -shift
    acc = OnlineSoftmax(value_dim=0, top=top)
    for keys, values in chunks:
        if acc.lse is None:  # first chunk: each query's own maximum is its shift
            qt[-1] = 0
            acc.add_logits(keys @ qt, 0, lambda w: values[:, :-1].T @ w)
            continue
        shift = acc.lse
        qt[-1] = -shift
        weights = exp_(keys @ qt)
        part = values.T @ weights
        bad = ~(torch.isfinite(part).all(dim=0) & (part[-1] < _OVERFLOW))
        chunk_top = None
        if top:
            value, index = weights.max(0)
            chunk_top = (shift + value.log(), index)
        if bad.any():  # entries far closer than any before: redo those queries with their own max
            shift = shift.clone()
            cols = bad.nonzero().squeeze(1)
            logits = keys @ torch.cat([qt[:-1, cols], torch.zeros_like(qt[-1:, cols])])
            shift[cols], index = logits.max(0)
            part[:, cols] = values.T @ exp_(logits.sub_(shift[cols]))
            if top:
                chunk_top[0][cols], chunk_top[1][cols] = shift[cols], index
        acc.add(part[-1], part[:-1], shift, len(keys), chunk_top)
    acc.result()  # raises on an empty dictionary
    return acc


def exp_(logits: torch.Tensor) -> torch.Tensor:
    """In-place ``exp``. On the CPU, arguments below -87 are first raised to -87: torch's
    vectorised exp takes a slow path for underflowing arguments (measured 8-20x slower, and
    real dictionaries produce mostly such logits). Each raised term is then at most
    exp(-87) < 2e-38, while the weight sum it joins is at least 1 (the shift is never above
    the running log-sum-exp or the chunk's maximum), so the result is unchanged."""
    if logits.device.type == "cpu":
        logits.clamp_min_(_UNDERFLOW)
    return logits.exp_()

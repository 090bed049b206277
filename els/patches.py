"""Images to query windows and dictionaries: padding, window gathering, border signatures and
exact de-duplication (SPEC §3-4).

A *window* is a ``C x kh x kw`` block of a padded image, flattened channel-major, addressed by
the flat offset of its top-left element. A :class:`Dictionary` is a list of windows of the
padded training images (one entry per distinct window, with its multiplicity) that yields the
augmented ``(keys, values)`` chunks :func:`els.engine.softmax_average` consumes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

PADDINGS = ("zeros", "circular")


def pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, mode: str) -> torch.Tensor:
    """Pad ``x`` (B, C, H, W) by the given amounts; ``"circular"`` wraps any number of times
    (padding may exceed the image size), ``"zeros"`` pads with 0."""
    if mode == "zeros":
        return torch.nn.functional.pad(x, (left, right, top, bottom))
    if mode == "circular":
        H, W = x.shape[-2:]
        rows = torch.arange(-top, H + bottom, device=x.device) % H
        cols = torch.arange(-left, W + right, device=x.device) % W
        return x[..., rows[:, None], cols[None, :]]
    raise ValueError(f"padding must be one of {PADDINGS}, got {mode!r}")


def window_offsets(channels: int, height: int, width: int, kh: int, kw: int, device=None) -> torch.Tensor:
    """Flat offsets (C*kh*kw,) of a window's elements, relative to its top-left element, in an
    image of ``channels x height x width`` stored contiguously; channel-major order."""
    c = torch.arange(channels, device=device) * (height * width)
    r = torch.arange(kh, device=device) * width
    w = torch.arange(kw, device=device)
    return (c[:, None, None] + r[None, :, None] + w[None, None, :]).reshape(-1)


def padded_positions(positions: torch.Tensor, width: int, padded_width: int) -> torch.Tensor:
    """Flat image positions ``r * W + c`` to flat offsets ``r * Wp + c`` in the padded plane
    (where the window with its top-left corner at padded (r, c) starts)."""
    return positions // width * padded_width + positions % width


def gather(flat: torch.Tensor, starts: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Windows ``flat[starts[i] + offsets]`` as an (n, D) tensor."""
    return flat[starts[:, None] + offsets[None, :]]


def border_groups(height: int, width: int, half: int) -> torch.Tensor:
    """Group id (H, W) of every pixel by its border signature
    ``(min(r, h), min(H-1-r, h), min(c, h), min(W-1-c, h))`` with ``h = half`` (SPEC §3).
    Ids are consecutive from 0; pixels share an id exactly when their signatures agree."""
    r = torch.arange(height)
    c = torch.arange(width)
    row_sig = torch.stack([r.clamp(max=half), (height - 1 - r).clamp(max=half)], 1)
    col_sig = torch.stack([c.clamp(max=half), (width - 1 - c).clamp(max=half)], 1)
    _, row_id = torch.unique(row_sig, dim=0, return_inverse=True)
    _, col_id = torch.unique(col_sig, dim=0, return_inverse=True)
    return row_id[:, None] * (int(col_id.max()) + 1) + col_id[None, :]


@dataclass
class Dictionary:
    """Windows of a flat padded image stack, as the engine's augmented keys and values.

    Keys are ``[p, |p|^2, log m, 1]`` (n, D + 3) and values ``[p[value_cols], 1]`` (n, V + 1)
    for window ``p`` with multiplicity ``m``; the matching query is
    ``[q * a / s2, -a^2 / (2 s2), 1, shift]`` (see :mod:`els.machines`).
    Entries are materialised once when they fit ``materialise_bytes``; otherwise each chunk is
    gathered from ``source`` on the fly, so memory stays bounded by the chunk.
    """

    source: torch.Tensor  # flat padded training images
    starts: torch.Tensor  # (n,) window start offsets into source
    offsets: torch.Tensor  # (D,) window element offsets
    value_cols: torch.Tensor  # (V,) columns of the window that are the value
    log_mult: torch.Tensor  # (n,) log multiplicity
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @classmethod
    def build(
        cls,
        source: torch.Tensor,
        starts: torch.Tensor,
        offsets: torch.Tensor,
        value_cols: torch.Tensor,
        dedup: bool = True,
        materialise_bytes: int = 2**30,
        chunk_entries: int = 2**16,
    ) -> "Dictionary":
        """Dictionary of the windows at ``starts``; ``dedup`` merges bit-identical windows into
        one entry weighted by its count (results are unchanged up to rounding)."""
        if dedup:
            starts, counts = unique_windows(source, starts, offsets, chunk_entries)
            log_mult = counts.to(source.dtype).log()
        else:
            log_mult = torch.zeros(len(starts), dtype=source.dtype, device=source.device)
        d = cls(source, starts, offsets, value_cols, log_mult)
        row_bytes = (len(offsets) + len(value_cols) + 4) * source.element_size()
        if len(starts) * row_bytes <= materialise_bytes:  # filled chunk by chunk: no transient copies
            n, width = len(starts), len(offsets)
            d.keys = source.new_empty(n, width + 3)
            d.values = source.new_empty(n, len(value_cols) + 1)
            for i in range(0, n, chunk_entries):
                j = min(i + chunk_entries, n)
                d.keys[i:j], d.values[i:j] = d._augment(i, j)
        return d

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        """Bytes held by this dictionary beyond the shared source images."""
        held = [self.starts, self.log_mult] + [t for t in (self.keys, self.values) if t is not None]
        return sum(t.numel() * t.element_size() for t in held)

    def chunks(self, n: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive ``(keys, values)`` chunks of at most ``n`` entries."""
        for i in range(0, len(self), n):
            j = min(i + n, len(self))
            if self.keys is not None:
                yield self.keys[i:j], self.values[i:j]
            else:
                yield self._augment(i, j)

    def _augment(self, i: int, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = gather(self.source, self.starts[i:j], self.offsets)
        one = torch.ones(j - i, 1, dtype=p.dtype, device=p.device)
        sq = (p * p).sum(1, keepdim=True)
        keys = torch.cat([p, sq, self.log_mult[i:j, None], one], 1)
        values = torch.cat([p[:, self.value_cols], one], 1)
        return keys, values


def unique_windows(
    source: torch.Tensor, starts: torch.Tensor, offsets: torch.Tensor, chunk_entries: int = 2**16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact de-duplication of windows: returns ``(starts of the distinct windows, counts)``.

    Windows are hashed from their bit patterns (a fixed random linear hash mod 2^64), grouped
    by hash, and every member is then compared element by element with its group's first
    window; on a hash collision it falls back to ``torch.unique(dim=0)``. Memory: one chunk.
    """
    n = len(starts)
    if n == 0:
        return starts, torch.zeros(0, dtype=torch.long, device=starts.device)
    int_type = {torch.float32: torch.int32, torch.float64: torch.int64}[source.dtype]
    gen = torch.Generator().manual_seed(12345)
    mult = torch.randint(-(2**62), 2**62, (len(offsets),), generator=gen).mul_(2).add_(1)
    mult = mult.to(starts.device)
    hashes = torch.empty(n, dtype=torch.long, device=starts.device)
    for i in range(0, n, chunk_entries):
        bits = gather(source, starts[i : i + chunk_entries], offsets).view(int_type).long()
        hashes[i : i + chunk_entries] = (bits * mult).sum(1)
    _, inverse, counts = torch.unique(hashes, return_inverse=True, return_counts=True)
    first = _first_members(inverse, len(counts))
    for i in range(0, n, chunk_entries):
        mine = gather(source, starts[i : i + chunk_entries], offsets)
        rep = gather(source, starts[first[inverse[i : i + chunk_entries]]], offsets)
        if not torch.equal(mine.view(int_type), rep.view(int_type)):  # a hash collision
            bits = gather(source, starts, offsets).view(int_type)
            _, inverse, counts = torch.unique(bits, dim=0, return_inverse=True, return_counts=True)
            first = _first_members(inverse, len(counts))
            break
    order = torch.argsort(first)
    return starts[first[order]], counts[order]


def _first_members(inverse: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Index of the first member of each group, for group ids ``inverse`` (n,)."""
    first = torch.full((n_groups,), len(inverse), dtype=torch.long, device=inverse.device)
    index = torch.arange(len(inverse), device=inverse.device)
    return first.scatter_reduce_(0, inverse, index, reduce="amin")

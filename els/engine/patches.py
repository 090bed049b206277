"""Images to query windows and dictionaries: padding, window views, border signatures and
exact de-duplication (book appendix, §A.3-A.4).

A *window* is a ``C x kh x kw`` block of a padded image, flattened channel-major, addressed by
the flat offset of its top-left element in the stack of padded images. A :class:`Dictionary`
is a list of windows of the padded training images (one entry per distinct window, with its
multiplicity) that yields the augmented ``(keys, values)`` chunks
:func:`els.engine.softmax_average` consumes.

Memory: a dictionary holds 4 bytes per distinct window (its start, int32 where the images
allow), plus 4 for its multiplicity where windows repeat; windows are gathered chunk by chunk
into two buffers of the chunk's size. De-duplication works in blocks of at most
:data:`DEDUP_BLOCK` windows (about 64 bytes each while it runs), so its working memory does
not grow with the training set either; identical windows in different blocks stay separate
entries, which changes nothing but speed.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

#: windows de-duplicated together (one block); working memory about 64 bytes per window. On
#: MNIST a larger block merges almost nothing more (measured: 1% more entries at 2^18 than 2^20)
DEDUP_BLOCK = 2**18
#: elements hashed at once (int64 temporaries of 8 bytes each)
_HASH_ELEMENTS = 2**20

PADDINGS = ("zeros", "circular")


def pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, mode: str) -> torch.Tensor:
    """Pad ``x`` (B, C, H, W) by the given amounts; ``"circular"`` wraps any number of times
    (padding may exceed the image size), ``"zeros"`` pads with 0. No padding returns ``x``
    itself, not a copy."""
    if top == bottom == left == right == 0:
        return x
    if mode == "zeros":
        return torch.nn.functional.pad(x, (left, right, top, bottom))
    if mode == "circular":
        H, W = x.shape[-2:]
        rows = torch.arange(-top, H + bottom, device=x.device) % H
        cols = torch.arange(-left, W + right, device=x.device) % W
        return x[..., rows[:, None], cols[None, :]]
    raise ValueError(f"padding must be one of {PADDINGS}, got {mode!r}")


def window_view(flat: torch.Tensor, channels: int, height: int, width: int, kh: int, kw: int) -> torch.Tensor:
    """Every window of a contiguous flat stack of ``channels x height x width`` images, as a
    strided view ``(C, kh, kw, L)`` (no copy): ``view[..., s]`` is the window whose top-left
    element is ``flat[s]``. Gather windows with ``view.index_select(3, starts)``."""
    span = (channels - 1) * height * width + (kh - 1) * width + kw
    if flat.numel() < span:
        raise ValueError(f"a {kh}x{kw} window does not fit in {height}x{width} images")
    return flat.as_strided((channels, kh, kw, flat.numel() - span + 1), (height * width, width, 1, 1))


def gather_windows(windows: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """The windows at ``starts`` (n,) of a :func:`window_view`, as an ``(n, C * kh * kw)``
    tensor. Each window is gathered as its ``C * kh`` rows of ``kw`` consecutive elements
    (several times faster than indexing the 4-D view element by element)."""
    C, kh, kw = windows.shape[:3]
    rows = windows.as_strided((windows.shape[-1] + (kh - 1) * windows.stride(1) + (C - 1) * windows.stride(0), kw),
                              (1, 1))
    row_offsets = (torch.arange(C, device=windows.device)[:, None] * windows.stride(0)
                   + torch.arange(kh, device=windows.device)[None, :] * windows.stride(1)).reshape(-1)
    index = (starts[:, None].long() + row_offsets).reshape(-1)                      # (n * C * kh,)
    return rows.index_select(0, index).view(len(starts), C * kh * kw)


def padded_positions(positions: torch.Tensor, width: int, padded_width: int) -> torch.Tensor:
    """Flat image positions ``r * W + c`` to flat offsets ``r * Wp + c`` in the padded plane
    (where the window with its top-left corner at padded (r, c) starts)."""
    return positions // width * padded_width + positions % width


def border_groups(height: int, width: int, half: int) -> torch.Tensor:
    """Group id (H, W) of every pixel by its border signature
    ``(min(r, h), min(H-1-r, h), min(c, h), min(W-1-c, h))`` with ``h = half`` (book appendix, §A.3).
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
    """Windows of a stack of padded images, as the engine's augmented keys and values.

    Keys are ``[p, |p|^2, log m, 1]`` (n, D + 3) and values ``[p[value_cols], 1]`` (n, V + 1)
    for window ``p`` with multiplicity ``m``; the matching query is
    ``[q * a / s2, -a^2 / (2 s2), 1, shift]`` (see :mod:`els.machines`).
    """

    windows: torch.Tensor  # (C, kh, kw, L) view of the flat padded images (see window_view)
    starts: torch.Tensor  # (n,) int32 or int64 start of each entry's window
    counts: torch.Tensor | None  # (n,) int32 multiplicities, or None when every entry counts once
    value_cols: torch.Tensor  # (V,) positions in the flattened window that are the value

    @classmethod
    def build(
        cls,
        windows: torch.Tensor,
        image_stride: int,
        n_images: int,
        positions: torch.Tensor,
        value_cols: torch.Tensor,
        dedup: bool = True,
        block: int = DEDUP_BLOCK,
    ) -> "Dictionary":
        """Dictionary of the windows at padded offsets ``positions`` (k,) of each of
        ``n_images`` images stored ``image_stride`` elements apart in ``windows``' flat stack.
        ``dedup`` merges bit-identical windows (within blocks of about ``block`` windows)
        into one entry weighted by its count; results are unchanged up to rounding."""
        device, k = positions.device, len(positions)
        total = n_images * k
        index_type = torch.int32 if windows.shape[-1] < 2**31 else torch.int64
        starts = torch.empty(total, dtype=index_type, device=device)
        counts: list[torch.Tensor | int] = []  # per block: its counts, or its size when all are 1
        filled = 0
        # windows per block: at most `block`, and at most 2^24 elements for the collision fallback
        per_block = max(1, min(block, 2**24 // windows[..., 0].numel()) // k)
        for first in range(0, n_images, per_block):
            images = torch.arange(first, min(first + per_block, n_images), device=device)
            block_starts = (images[:, None] * image_stride + positions[None, :]).reshape(-1)
            counts.append(len(block_starts))
            if dedup:
                distinct, block_counts = unique_windows(windows, block_starts)
                if len(distinct) < len(block_starts):  # some windows repeat: keep each once, counted
                    block_starts, counts[-1] = distinct, block_counts.to(torch.int32)
            starts[filled:filled + len(block_starts)] = block_starts
            filled += len(block_starts)
        if filled < total // 2:  # keep only what is used; copy when that frees at least half
            starts = starts[:filled].clone()
        elif filled < total:
            starts = starts[:filled]
        if all(isinstance(c, int) for c in counts):  # no window repeats within its block
            return cls(windows, starts, None, value_cols)
        return cls(windows, starts, torch.cat([torch.ones(c, dtype=torch.int32, device=device) if isinstance(c, int)
                                               else c for c in counts]), value_cols)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        """Bytes held by this dictionary beyond the shared padded images."""
        held = [self.starts] + ([] if self.counts is None else [self.counts])
        return sum(t.untyped_storage().nbytes() for t in held)

    def chunks(self, n: int, fill: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive ``(keys, values)`` chunks of at most ``n`` entries. Windows are gathered
        ``fill`` entries at a time (default ``n``; larger fills mean fewer, larger gathers) into
        two buffers that every fill reuses: use each chunk before asking for the next."""
        C, kh, kw = self.windows.shape[:3]
        D, V = C * kh * kw, len(self.value_cols)
        fill = max(1, (fill or n) // n) * n  # whole chunks per fill
        buffers = None
        for i in range(0, len(self), fill):
            j = min(i + fill, len(self))
            if buffers is None or len(buffers[0]) != j - i:
                buffers = self._buffers(j - i, D, V)
            keys, values = buffers                                   # (m, D + 3), (m, V + 1)
            keys[:, :D] = gather_windows(self.windows, self.starts[i:j])
            torch.sum(keys[:, :D].square(), 1, out=keys[:, D])
            if self.counts is not None:
                keys[:, D + 1] = self.counts[i:j]
                keys[:, D + 1].log_()
            values[:, :V] = keys[:, self.value_cols]
            for k in range(0, j - i, n):
                yield keys[k:k + n], values[k:k + n]

    def _buffers(self, m: int, D: int, V: int) -> tuple[torch.Tensor, torch.Tensor]:
        keys = self.windows.new_empty(m, D + 3)
        keys[:, D + 1:] = torch.tensor([0.0, 1.0], dtype=keys.dtype, device=keys.device)
        values = self.windows.new_empty(m, V + 1)
        values[:, V] = 1
        return keys, values

    def window_source(self, entries: torch.Tensor, image_stride: int, padded_width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image index (n,) and padded (row, column) (n, 2) of the windows of ``entries`` (n,);
        for a de-duplicated entry, its first window."""
        start = self.starts[entries].long()
        offset = start % image_stride
        return start // image_stride, torch.stack([offset // padded_width, offset % padded_width], -1)


def unique_windows(windows: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact de-duplication of the windows at ``starts`` (n,) of a :func:`window_view`:
    returns ``(starts of the distinct windows, counts)``, in the order of first occurrence.

    Windows are hashed from their bit patterns (a fixed random linear hash mod 2^64), grouped
    by hash, and every member is then compared element by element with its group's first
    window; on a hash collision it falls back to ``torch.unique(dim=0)``. Memory: about 64
    bytes per window in ``starts``, plus one hashing block.
    """
    n = len(starts)
    if n == 0:
        return starts, torch.zeros(0, dtype=torch.long, device=starts.device)
    int_type = {torch.float32: torch.int32, torch.float64: torch.int64}[windows.dtype]
    D = windows[..., 0].numel()
    gen = torch.Generator().manual_seed(12345)
    mult = torch.randint(-(2**62), 2**62, (D,), generator=gen).mul_(2).add_(1).to(starts.device)
    step = max(1, _HASH_ELEMENTS // D)

    def bits(rows):  # (m, D) integer view of the windows at rows
        return gather_windows(windows, rows).view(int_type)

    hashes = torch.empty(n, dtype=torch.long, device=starts.device)
    for i in range(0, n, step):
        hashes[i:i + step] = (bits(starts[i:i + step]).long() * mult).sum(1)
    _, inverse, counts = torch.unique(hashes, return_inverse=True, return_counts=True)
    del hashes
    first = _first_members(inverse, len(counts))
    for i in range(0, n, step):
        if not torch.equal(bits(starts[i:i + step]), bits(starts[first[inverse[i:i + step]]])):  # a hash collision
            _, inverse, counts = torch.unique(bits(starts), dim=0, return_inverse=True, return_counts=True)
            first = _first_members(inverse, len(counts))
            break
    order = torch.argsort(first)
    return starts[first[order]], counts[order]


def _first_members(inverse: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Index of the first member of each group, for group ids ``inverse`` (n,)."""
    first = torch.full((n_groups,), len(inverse), dtype=torch.long, device=inverse.device)
    index = torch.arange(len(inverse), device=inverse.device)
    return first.scatter_reduce_(0, inverse, index, reduce="amin")

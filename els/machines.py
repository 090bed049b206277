"""The analytic machines IS, ES, LS and ELS (SPEC §3): Bayes-optimal denoisers under
locality and/or translation-equivariance constraints.

Each machine describes *which windows it compares* (a :class:`Layout`: padding, window size,
and groups of query pixels that share one dictionary of training windows); the streaming
engine does the rest. With ``a = sqrt(abar(t))`` and ``s2 = 1 - abar(t)`` every output is

    x0_hat(u) = sum_j m_j exp(-|q_u - a p_j|^2 / (2 s2)) c_j / sum_j m_j exp(...)

computed as attention between ``[q a / s2, -a^2 / (2 s2), 1]`` and ``[p, |p|^2, log m]``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from .engine import DEFAULT_CHUNK_BYTES, chunk_length, softmax_average
from .patches import PADDINGS, Dictionary, border_groups, gather, pad, padded_positions, window_offsets
from .same_location import same_location_average
from .schedule import alpha_bar, per_image

TRAIN_PATCHES = ("valid", "wrap")


@dataclass(frozen=True)
class Layout:
    """What a machine compares. ``pads`` = (top, bottom, left, right) of ``mode`` padding;
    windows are ``window`` = (kh, kw) blocks of the padded image whose top-left corner sits at
    padded coordinates (r, c) for image position (r, c). ``groups``: (query positions (m,),
    dictionary positions (k,)) as flat ``r * W + c``; every query in a group is compared with
    the windows of every training image at every dictionary position of that group.
    ``whole_image``: the value is the whole window (IS, ES), else its centre pixel."""

    pads: tuple[int, int, int, int]
    mode: str
    window: tuple[int, int]
    whole_image: bool
    groups: list[tuple[torch.Tensor, torch.Tensor]]


class Machine:
    """Base class: a training set, a cache of dictionaries and the ``denoise``/``eps`` interface.

    images: (N, C, H, W) floats in [-1, 1]; labels: (N,) ints or None.
    dedup: merge identical training windows (weighted by their count); same result, faster.
    chunk_bytes: size of one block of logits (bounds working memory); default per device.
    cache_bytes: memory for materialised dictionaries; larger ones are gathered per chunk.
    device: default CUDA when available, else CPU. dtype: float32, or float64 for references.
    """

    #: the patch size used when ``denoise`` gets none (None for machines without one)
    patch_size: int | None = None

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        dedup: bool = True,
        chunk_bytes: int | None = None,
        cache_bytes: int = 4 * 2**30,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype
        self.images = _checked_images(images).to(self.device, dtype)
        self.labels = _checked_labels(labels, len(images))
        self.dedup = dedup
        self.chunk_bytes = chunk_bytes or DEFAULT_CHUNK_BYTES.get(self.device.type, 2**22)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict = OrderedDict()

    # ----- what each machine defines -------------------------------------------------------
    def layout(self, patch_size: int | None) -> Layout:
        raise NotImplementedError

    # ----- public interface ----------------------------------------------------------------
    def denoise(
        self,
        x_t: torch.Tensor,
        t: float | torch.Tensor,
        label: int | torch.Tensor | None = None,
        patch_size: int | None = None,
    ) -> torch.Tensor:
        """Posterior mean ``x0_hat`` (B, C, H, W) of the clean image given ``x_t`` (B, C, H, W)
        at time ``t`` (float or (B,) tensor in [0, 1]; t = 0 gives the nearest-entry limit).
        ``label`` (int or (B,)) restricts the dictionary to that class; ``patch_size``
        overrides the machine's own for this call."""
        x = self._checked_x(x_t)
        size = self._checked_patch_size(patch_size)
        a, s2 = _noise_levels(t, len(x), self.dtype, self.device)
        out = torch.empty_like(x)
        for lab, rows in self._label_batches(label, len(x)):
            self._denoise_into(out, x, rows, a, s2, size, lab)
        return out.to(x_t.device)

    def eps(
        self,
        x_t: torch.Tensor,
        t: float | torch.Tensor,
        label: int | torch.Tensor | None = None,
        patch_size: int | None = None,
    ) -> torch.Tensor:
        """Noise prediction ``(x_t - sqrt(abar) x0_hat) / sqrt(1 - abar)``, (B, C, H, W);
        undefined at t = 0."""
        x0 = self.denoise(x_t, t, label=label, patch_size=patch_size)
        ab = per_image(alpha_bar(_checked_t(t, len(x_t))), x_t)
        if (ab >= 1).any():
            raise ValueError("eps is undefined at t = 0 (no noise); use denoise() there")
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    # ----- internals -----------------------------------------------------------------------
    def _denoise_into(self, out, x, rows, a, s2, size, label):
        layout, dictionaries = self._dictionaries(size, label)
        C, H, W = x.shape[1:]
        top, bottom, left, right = layout.pads
        Hp, Wp = H + top + bottom, W + left + right
        offsets = window_offsets(C, Hp, Wp, *layout.window, device=self.device)
        xp = pad(x[rows], *layout.pads, layout.mode).reshape(-1)
        image_starts = torch.arange(len(rows), device=self.device) * (C * Hp * Wp)
        flat_out = out.view(len(out), C, H * W)
        singles = torch.tensor([int(q) for (q, _), d in zip(layout.groups, dictionaries) if d is None],
                               dtype=torch.long, device=self.device)
        if len(singles):  # pixels alone in their group: the same-position box-filter path
            local = same_location_average(x[rows], self._class_images(label), a[rows], s2[rows],
                                          layout.window, layout.pads, layout.mode, self.chunk_bytes)
            flat_out[rows[:, None], :, singles[None, :]] = local.flatten(2)[:, :, singles].transpose(1, 2)
        for (positions, _), dictionary in zip(layout.groups, dictionaries):
            if dictionary is None:
                continue
            starts = image_starts[:, None] + padded_positions(positions, W, Wp)[None, :]
            q = gather(xp, starts.reshape(-1), offsets)
            m = len(positions)
            ai, s2i = a[rows].repeat_interleave(m), s2[rows].repeat_interleave(m)
            queries = torch.cat(
                [q * (ai / s2i)[:, None], (-ai * ai / (2 * s2i))[:, None],
                 torch.ones_like(ai)[:, None], torch.zeros_like(ai)[:, None]], 1)
            n = chunk_length(len(queries), self.chunk_bytes, queries.element_size())
            result = softmax_average(queries, dictionary.chunks(n))
            if layout.whole_image:
                out[rows] = result.view(len(rows), C, H, W)
            else:
                flat_out[rows[:, None], :, positions[None, :]] = result.view(len(rows), m, C)

    def _dictionaries(self, size, label):
        key = (size, label)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        layout = self.layout(size)
        images = self._class_images(label)
        N, C, H, W = images.shape
        top, bottom, left, right = layout.pads
        Hp, Wp = H + top + bottom, W + left + right
        source = pad(images, *layout.pads, layout.mode).reshape(-1)
        offsets = window_offsets(C, Hp, Wp, *layout.window, device=self.device)
        kh, kw = layout.window
        if layout.whole_image:
            value_cols = torch.arange(len(offsets), device=self.device)
        else:
            value_cols = torch.arange(C, device=self.device) * (kh * kw) + (kh // 2) * kw + kw // 2
        image_starts = torch.arange(N, device=self.device) * (C * Hp * Wp)
        dictionaries = []
        for queries, positions in layout.groups:
            if _single(queries, positions) and not layout.whole_image:
                dictionaries.append(None)  # computed by same_location_average, no dictionary
                continue
            starts = (image_starts[:, None] + padded_positions(positions, W, Wp)[None, :]).reshape(-1)
            budget = max(0, self.cache_bytes - self._cached_bytes())
            dictionaries.append(
                Dictionary.build(source, starts, offsets, value_cols, self.dedup, budget))
        entry = (layout, dictionaries)
        self._cache[key] = entry
        while len(self._cache) > 1 and self._cached_bytes() > self.cache_bytes:
            self._cache.popitem(last=False)
        return entry

    def _cached_bytes(self) -> int:
        return sum(d.nbytes for _, ds in self._cache.values() for d in ds if d is not None)

    def _class_images(self, label):
        return self.images if label is None else self.images[self.labels == label]

    def _label_batches(self, label, batch):
        """Yield (label or None, rows (b,)) so each batch part uses one dictionary."""
        everything = torch.arange(batch, device=self.device)
        if label is None:
            return [(None, everything)]
        if self.labels is None:
            raise ValueError("label given, but this machine was built without labels; "
                             "pass labels= to the constructor or label=None")
        if isinstance(label, bool) or not isinstance(label, (int, torch.Tensor)):
            raise TypeError(f"label must be an int or a (B,) integer tensor, got {type(label).__name__}")
        if isinstance(label, int):
            label = torch.full((batch,), label)
        if label.dtype.is_floating_point or label.shape != (batch,):
            raise ValueError(f"label must be an int or an integer tensor of shape ({batch},), "
                             f"got {label.dtype} {tuple(label.shape)}")
        label = label.to(self.device)
        parts = []
        for value in torch.unique(label).tolist():
            if not (self.labels == value).any():
                present = sorted(torch.unique(self.labels).tolist())
                raise ValueError(f"no training images with label {value}; labels present: {present}")
            parts.append((value, everything[label == value]))
        return parts

    def _checked_x(self, x_t):
        if not torch.is_tensor(x_t):
            raise TypeError(f"x_t must be a torch.Tensor (B, C, H, W), got {type(x_t).__name__}")
        if x_t.dtype != self.dtype:
            raise TypeError(f"x_t has dtype {x_t.dtype} but the machine computes in {self.dtype}; "
                            f"convert with x_t.to({self.dtype}) or build the machine with dtype={x_t.dtype}")
        if x_t.dim() != 4 or x_t.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"x_t must have shape (B, {', '.join(map(str, self.images.shape[1:]))}) "
                             f"like the training images, got {tuple(x_t.shape)}")
        if not torch.isfinite(x_t).all():
            raise ValueError("x_t contains NaN or inf")
        return x_t.to(self.device)

    def _checked_patch_size(self, patch_size):
        size = self.patch_size if patch_size is None else patch_size
        if self.patch_size is None and patch_size is not None:
            raise ValueError(f"{type(self).__name__} has no patch size; call it with patch_size=None "
                             "(and sample it with scales=None)")
        return size if size is None else checked_patch_size(size)

    def __repr__(self) -> str:
        size = "" if self.patch_size is None else f", patch_size={self.patch_size}"
        return f"{type(self).__name__}({len(self.images)} images of {tuple(self.images.shape[1:])}{size})"


class IS(Machine):
    """Ideal score machine: the unconstrained posterior mean over whole training images."""

    def layout(self, patch_size=None):
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        return Layout((0, 0, 0, 0), "zeros", tuple(self.images.shape[2:]), True, [(zero, zero)])


class ES(Machine):
    """Equivariant score machine: the posterior mean over all circular translates of the
    training images."""

    def layout(self, patch_size=None):
        H, W = self.images.shape[2:]
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        every = torch.arange(H * W, device=self.device)
        return Layout((0, H - 1, 0, W - 1), "circular", (H, W), True, [(zero, every)])


class LS(Machine):
    """Local score machine: pixel u sees only its zero-padded P x P patch, compared with the
    patch at the same location u of every training image."""

    def __init__(self, images, labels=None, patch_size: int = 3, **kwargs):
        super().__init__(images, labels, **kwargs)
        self.patch_size = checked_patch_size(patch_size)

    def layout(self, patch_size):
        H, W = self.images.shape[2:]
        h = patch_size // 2
        groups = [(u, u) for u in torch.arange(H * W, device=self.device)[:, None]]
        return Layout((h, h, h, h), "zeros", (patch_size, patch_size), False, groups)


class ELS(Machine):
    """Equivariant local score machine.

    ``padding="circular"``: every pixel is compared with P x P patches of every training
    image at every position (``train_patches="valid"``: only patches that do not wrap, as in
    the paper's code; ``"wrap"``: also the wrapped ones). ``padding="zeros"``: the
    boundary-broken ELS, where a pixel uses the training patches whose centres have the same
    border signature (SPEC §3).
    """

    def __init__(self, images, labels=None, patch_size: int = 3, padding: str = "zeros",
                 train_patches: str = "valid", **kwargs):
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if train_patches not in TRAIN_PATCHES:
            raise ValueError(f"train_patches must be one of {TRAIN_PATCHES}, got {train_patches!r}")
        super().__init__(images, labels, **kwargs)
        self.patch_size = checked_patch_size(patch_size)
        self.padding = padding
        self.train_patches = train_patches

    def layout(self, patch_size):
        H, W = self.images.shape[2:]
        h = patch_size // 2
        pixels = torch.arange(H * W, device=self.device)
        if self.padding == "zeros":
            ids = border_groups(H, W, h).reshape(-1).to(self.device)
            groups = [(pixels[ids == g], pixels[ids == g]) for g in range(int(ids.max()) + 1)]
        elif self.train_patches == "wrap":
            groups = [(pixels, pixels)]
        else:
            r, c = pixels // W, pixels % W
            valid = (r >= h) & (r <= H - 1 - h) & (c >= h) & (c <= W - 1 - h)
            if not valid.any():
                raise ValueError(f"patch_size {patch_size} exceeds the {H}x{W} image, so there are no "
                                 "non-wrapping training patches; use train_patches='wrap' or a smaller patch")
            groups = [(pixels, pixels[valid])]
        return Layout((h, h, h, h), self.padding, (patch_size, patch_size), False, groups)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", padding={self.padding!r}, train_patches={self.train_patches!r})"


# ----- checks and small helpers ----------------------------------------------------------------
def checked_patch_size(size) -> int:
    """``size`` if it is a positive odd int, else a ValueError/TypeError naming the fix."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"patch_size must be an int, got {type(size).__name__}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd int (1, 3, 5, ...), got {size}")
    return size


def _checked_images(images):
    if not torch.is_tensor(images) or not images.dtype.is_floating_point:
        kind = images.dtype if torch.is_tensor(images) else type(images).__name__
        raise TypeError(f"images must be a float tensor (N, C, H, W) in [-1, 1], got {kind}; "
                        "convert uint8 pixels with (x / 255 - 0.5) / 0.5")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("the training set is empty: images has N = 0")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf")
    return images


def _checked_labels(labels, n):
    if labels is None:
        return None
    if not torch.is_tensor(labels) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError("labels must be an integer tensor (N,) or None")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match images, got {tuple(labels.shape)}")
    return labels


def _checked_t(t, batch) -> torch.Tensor:
    if isinstance(t, bool) or not (isinstance(t, (int, float)) or torch.is_tensor(t)):
        raise TypeError(f"t must be a float or a (B,) tensor, got {type(t).__name__}")
    t = torch.as_tensor(t, dtype=torch.float64).cpu()
    if t.dim() > 1 or (t.dim() == 1 and len(t) != batch):
        raise ValueError(f"t must be a float or a tensor of shape ({batch},), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise ValueError(f"t must lie in [0, 1], got {t.tolist()}")
    return t.expand(batch)


def _noise_levels(t, batch, dtype, device):
    """(a, s2) per image: sqrt(abar(t)) and 1 - abar(t), with s2 kept >= 1e-12 (t = 0 limit)."""
    ab = alpha_bar(_checked_t(t, batch))
    return ab.sqrt().to(device, dtype), (1 - ab).clamp(min=1e-12).to(device, dtype)


def _single(queries: torch.Tensor, positions: torch.Tensor) -> bool:
    """A group of one query pixel whose dictionary is its own position (LS-like)."""
    return len(queries) == 1 and len(positions) == 1 and bool(queries[0] == positions[0])

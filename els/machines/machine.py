"""The analytic machines IS, ES, LS and ELS (book appendix, §A.3): Bayes-optimal denoisers
under locality and/or translation-equivariance constraints.

Each machine describes *which windows it compares* (a :class:`Layout`: padding, window size,
groups of query pixels that share one dictionary of training windows, and pixels whose
dictionary is the training windows at their own position); the streaming softmax of
:mod:`els.engine` does the rest. With ``a = sqrt(abar(t))`` and ``s2 = 1 - abar(t)`` every
output is

    x0_hat(u) = sum_j m_j exp(-|q_u - a p_j|^2 / (2 s2)) c_j / sum_j m_j exp(...)

computed as attention between ``[q a / s2, -a^2 / (2 s2), 1]`` and ``[p, |p|^2, log m]``.

Memory: besides the training images, a denoise call holds one padded copy of them per cached
patch size, 4-8 bytes per distinct dictionary window (see :mod:`els.patches`), and a working
set bounded by ``chunk_bytes`` (logits, gathered keys) and the de-duplication block, whatever
the number of training images.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..engine.softmax import DEFAULT_CHUNK_BYTES, chunk_length, softmax_average
from ..engine.patches import PADDINGS, Dictionary, border_groups, gather_windows, pad, padded_positions, window_view
from ..engine.same_location import Box, same_location_average
from ..data import checked_label
from ..schedule import alpha_bar, checked_t, eps_from_x0, noise_levels, per_image

TRAIN_PATCHES = ("valid", "wrap")


@dataclass(frozen=True)
class Layout:
    """What a machine compares. ``pads`` = (top, bottom, left, right) of ``mode`` padding;
    windows are ``window`` = (kh, kw) blocks of the padded image whose top-left corner sits at
    padded coordinates (r, c) for image position (r, c). Positions are flat ``r * W + c``.
    ``shared``: groups (query positions (m,), dictionary positions (k,)); every query in a
    group is compared with the windows of every training image at every dictionary position
    of that group. ``same_location`` (s,): pixels compared only with the training windows at
    their own position (computed by box filtering, see :mod:`els.same_location`).
    ``whole_image``: the value is the whole window (IS, ES), else its centre pixel."""

    pads: tuple[int, int, int, int]
    mode: str
    window: tuple[int, int]
    whole_image: bool
    shared: list[tuple[torch.Tensor, torch.Tensor]]
    same_location: torch.Tensor

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """(Hp, Wp) of a ``height x width`` image after this layout's padding."""
        top, bottom, left, right = self.pads
        return height + top + bottom, width + left + right

    def windows(self, images: torch.Tensor) -> torch.Tensor:
        """Every window of ``images`` (B, C, H, W) padded as this layout says: a
        :func:`~els.patches.window_view` ``(C, kh, kw, L)`` of the padded stack."""
        C, H, W = images.shape[1:]
        return window_view(pad(images, *self.pads, self.mode).reshape(-1), C, *self.padded_size(H, W), *self.window)

    def starts(self, image: torch.Tensor, position: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Flat starts, in :meth:`windows`, of the windows of images ``image`` at flat image
        positions ``position`` (broadcast together), for images of ``shape`` (C, H, W)."""
        C, H, W = shape
        Hp, Wp = self.padded_size(H, W)
        return image * (C * Hp * Wp) + padded_positions(position, W, Wp)


class Machine:
    """Base class: a training set, a cache of dictionaries and the ``denoise``/``eps`` interface.

    images: (N, C, H, W) floats in [-1, 1]; labels: (N,) ints or None.
    dedup: merge identical training windows (weighted by their count); same result, faster.
    chunk_bytes: size of one block of logits, and of the gathered keys (bounds working memory);
    default per device.
    cache_bytes: memory for the dictionaries of recently used patch sizes and labels (their
    per-entry indices and padded images); the least recently used go first.
    device: default CUDA when available, else CPU. dtype: float32, or float64 for references.
    """

    #: the patch size used when ``denoise`` gets none (None for machines without one)
    patch_size: int | None = None
    #: the keyword of ``denoise`` that sets the locality scale per call; a sampling or
    #: calibration schedule passes its values under this name
    scale_name: str = "patch_size"

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        dedup: bool = True,
        chunk_bytes: int | None = None,
        cache_bytes: int = 2**30,
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
        return self._denoise(x_t, t, label, self._checked_patch_size(patch_size))

    def eps(
        self,
        x_t: torch.Tensor,
        t: float | torch.Tensor,
        label: int | torch.Tensor | None = None,
        **scale,
    ) -> torch.Tensor:
        """Noise prediction ``(x_t - sqrt(abar) x0_hat) / sqrt(1 - abar)``, (B, C, H, W);
        undefined at t = 0. ``scale``: the machine's locality scale for this call, by the name
        in :attr:`scale_name` (``patch_size=`` for LS and ELS, ``threshold=`` for PCALocality)."""
        return implied_noise(x_t, t, self.denoise(x_t, t, label=label, **scale))

    def top_patches(
        self,
        x_t: torch.Tensor,
        t: float | torch.Tensor,
        label: int | torch.Tensor | None = None,
        patch_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Provenance: for every pixel of ``x_t`` (B, C, H, W) at time ``t``, the heaviest
        entry of this machine's own dictionary in its posterior mean (LS and ELS). At t = 0
        that is the nearest training window.

        Returns ``(index (B, H, W), position (B, H, W, 2), weight (B, H, W))`` on the CPU:
        the training image (an index into ``self.images``), the (row, column) of the centre
        of its window, and that entry's softmax weight (1 = the pixel copies it outright).
        Identical windows are one entry when the machine de-duplicates (``dedup=True``): the
        weight is then theirs together, and the index and position are the first of them.
        """
        if self.patch_size is None:
            raise ValueError(f"{type(self).__name__} compares whole images; top_patches needs LS or ELS")
        x = self.checked_input(x_t)
        size = self._checked_patch_size(patch_size)
        a, s2 = noise_levels(t, len(x), self.dtype, self.device)
        B, _, H, W = x.shape
        index = torch.empty(B, H * W, dtype=torch.long, device=self.device)
        position = torch.empty(B, H * W, 2, dtype=torch.long, device=self.device)
        weight = torch.empty(B, H * W, dtype=self.dtype, device=self.device)
        for lab, rows in self.label_groups(label, len(x)):
            _, (index[rows], position[rows], weight[rows]) = self._posterior(
                x[rows], a[rows], s2[rows], size, lab, top=True)
            if lab is not None:  # class-local image numbers to indices into self.images
                index[rows] = torch.nonzero(self.labels.to(self.device) == lab).squeeze(1)[index[rows]]
        return (index.reshape(B, H, W).cpu(), position.reshape(B, H, W, 2).cpu(), weight.reshape(B, H, W).cpu())

    def restricted(self, index: torch.Tensor) -> "Machine":
        """This machine on the training images ``images[index]`` only (``index``: (k,) ints),
        with the same settings and an empty dictionary cache (used by :mod:`els.golden`)."""
        new = copy.copy(self)
        new.images = self.images[index.to(self.device)]
        new.labels = None if self.labels is None else self.labels[index.cpu()]
        new._cache = OrderedDict()
        return new

    # ----- internals -----------------------------------------------------------------------
    def _denoise(self, x_t, t, label, scale):
        """:meth:`denoise` with a checked scale (patch size, threshold or None)."""
        x = self.checked_input(x_t)
        a, s2 = noise_levels(t, len(x), self.dtype, self.device)
        out = torch.empty_like(x)
        for lab, rows in self.label_groups(label, len(x)):
            out[rows] = self._posterior(x[rows], a[rows], s2[rows], scale, lab, top=False)[0]
        return out.to(x_t.device)

    def _posterior(self, x, a, s2, size, label, top):
        """Posterior mean (b, C, H, W) of ``x`` (b, C, H, W) with noise levels ``a``, ``s2``
        (b,), and with ``top``: (image (b, HW) within the label's images, window centre
        (b, HW, 2), weight (b, HW)) of each pixel's heaviest entry; else None."""
        layout, dictionaries, images = self.dictionaries(size, label)
        b, C, H, W = x.shape
        kh, kw = layout.window
        Hp, Wp = layout.padded_size(H, W)
        out = torch.empty_like(x)
        flat_out = out.view(b, C, H * W)
        heaviest = (torch.empty(b, H * W, dtype=torch.long, device=self.device),
                    torch.empty(b, H * W, 2, dtype=torch.long, device=self.device),
                    torch.empty(b, H * W, dtype=x.dtype, device=self.device)) if top else None
        pixels = layout.same_location
        if len(pixels):
            acc = same_location_average(x, images, a, s2, Box(layout.window, layout.pads, layout.mode),
                                        self.chunk_bytes, top)
            flat_out[:, :, pixels] = acc.result().view(b, C, H * W)[:, :, pixels]
            if top:
                heaviest[0][:, pixels] = acc.top_index[:, pixels]
                heaviest[1][:, pixels] = torch.stack([pixels // W, pixels % W], -1)
                heaviest[2][:, pixels] = acc.top_weight()[:, pixels]
        if layout.shared:
            D = C * kh * kw
            windows = layout.windows(x)
        for (positions, _), dictionary in zip(layout.shared, dictionaries):
            m = len(positions)
            starts = layout.starts(torch.arange(b, device=self.device)[:, None], positions, (C, H, W))
            q = gather_windows(windows, starts.reshape(-1))                       # (b m, D)
            ai, s2i = a.repeat_interleave(m)[:, None], s2.repeat_interleave(m)[:, None]
            queries = torch.cat([q * (ai / s2i), -ai * ai / (2 * s2i), torch.ones_like(ai), torch.zeros_like(ai)], 1)
            # one chunk's logits, and one fill of gathered keys and values, each within chunk_bytes
            width = D + 3 + len(dictionary.value_cols) + 1
            n = chunk_length(len(queries), self.chunk_bytes, queries.element_size(), width=width)
            fill = chunk_length(1, self.chunk_bytes, queries.element_size(), width=width)
            acc = softmax_average(queries, dictionary.chunks(n, fill), top=top)
            result = acc.result()                                                  # (V, b m)
            if layout.whole_image:
                out[:] = result.T.reshape(b, C, H, W)
            else:
                flat_out[:, :, positions] = result.view(C, b, m).transpose(0, 1)
            if top:
                image, corner = dictionary.window_source(acc.top_index, C * Hp * Wp, Wp)
                heaviest[0][:, positions] = image.view(b, m)
                heaviest[1][:, positions] = corner.view(b, m, 2)  # a window's top-left corner in padded
                heaviest[2][:, positions] = acc.top_weight().view(b, m)  # coordinates is its centre's position
        return out, heaviest

    def dictionaries(self, size: int | None, label: int | None) -> tuple[Layout, list[Dictionary], torch.Tensor]:
        """``(layout, dictionaries, images)`` for patch size ``size`` and class ``label``: the
        machine's :class:`Layout`, one :class:`els.engine.Dictionary` per group of query pixels
        that share one, and the class's training images (n, C, H, W). Cached (``cache_bytes``)."""
        key = (size, label)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key][:3]
        layout = self.layout(size)
        images = self.class_images(label)
        N, C, H, W = images.shape
        kh, kw = layout.window
        Hp, Wp = layout.padded_size(H, W)
        dictionaries, nbytes = [], 0 if label is None else images.numel() * images.element_size()
        if layout.shared:
            windows = layout.windows(images)
            if layout.whole_image:
                value_cols = torch.arange(C * kh * kw, device=self.device)
            else:
                value_cols = torch.arange(C, device=self.device) * (kh * kw) + (kh // 2) * kw + kw // 2
            dictionaries = [Dictionary.build(windows, C * Hp * Wp, N, padded_positions(positions, W, Wp),
                                             value_cols, self.dedup) for _, positions in layout.shared]
            nbytes += windows.untyped_storage().nbytes() + sum(d.nbytes for d in dictionaries)
        self._cache[key] = (layout, dictionaries, images, nbytes)
        while len(self._cache) > 1 and sum(e[3] for e in self._cache.values()) > self.cache_bytes:
            self._cache.popitem(last=False)
        return layout, dictionaries, images

    def class_images(self, label: int | None) -> torch.Tensor:
        """The training images (n, C, H, W) of class ``label``; all of them for None."""
        return self.images if label is None else self.images[self.labels == label]

    def label_groups(self, label: int | torch.Tensor | None, batch: int) -> list[tuple[int | None, torch.Tensor]]:
        """The rows of a batch of ``batch`` queries grouped by class: ``[(label or None, rows (b,))]``,
        so each group uses one dictionary. ``label``: None, an int, or a (batch,) integer tensor;
        a label the training set lacks, or labels on a machine built without them, is a ValueError."""
        everything = torch.arange(batch, device=self.device)
        if label is None:
            return [(None, everything)]
        if self.labels is None:
            raise ValueError("label given, but this machine was built without labels; "
                             "pass labels= to the constructor or label=None")
        label = checked_label(label, batch).to(self.device)
        parts = []
        for value in torch.unique(label).tolist():
            if not (self.labels == value).any():
                present = sorted(torch.unique(self.labels).tolist())
                raise ValueError(f"no training images with label {value}; labels present: {present}")
            parts.append((value, everything[label == value]))
        return parts

    def checked_input(self, x_t: torch.Tensor) -> torch.Tensor:
        """``x_t`` on the machine's device, after checking that it is a finite (B, C, H, W)
        tensor of the machine's dtype and image shape; otherwise an error naming the fix."""
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
        return Layout((0, 0, 0, 0), "zeros", tuple(self.images.shape[2:]), True, [(zero, zero)], zero[:0])


class ES(Machine):
    """Equivariant score machine: the posterior mean over all circular translates of the
    training images."""

    def layout(self, patch_size=None):
        H, W = self.images.shape[2:]
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        every = torch.arange(H * W, device=self.device)
        return Layout((0, H - 1, 0, W - 1), "circular", (H, W), True, [(zero, every)], zero[:0])


class LS(Machine):
    """Local score machine: pixel u sees only its zero-padded P x P patch, compared with the
    patch at the same location u of every training image."""

    def __init__(self, images, labels=None, patch_size: int = 3, **kwargs):
        super().__init__(images, labels, **kwargs)
        self.patch_size = checked_patch_size(patch_size)

    def layout(self, patch_size):
        H, W = self.images.shape[2:]
        h = patch_size // 2
        pixels = torch.arange(H * W, device=self.device)
        return Layout((h, h, h, h), "zeros", (patch_size, patch_size), False, [], pixels)


class ELS(Machine):
    """Equivariant local score machine.

    ``padding="circular"``: every pixel is compared with P x P patches of every training
    image at every position (``train_patches="valid"``: only patches that do not wrap, as in
    the paper's code; ``"wrap"``: also the wrapped ones). ``padding="zeros"``: the
    boundary-broken ELS, where a pixel uses the training patches whose centres have the same
    border signature (book appendix, §A.3).
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
            alone = torch.bincount(ids)[ids] == 1  # a signature no other pixel shares
            groups = [(pixels[ids == g], pixels[ids == g]) for g in torch.unique(ids[~alone]).tolist()]
            return Layout((h, h, h, h), "zeros", (patch_size, patch_size), False, groups, pixels[alone])
        if self.train_patches == "wrap":
            groups = [(pixels, pixels)]
        else:
            r, c = pixels // W, pixels % W
            valid = (r >= h) & (r <= H - 1 - h) & (c >= h) & (c <= W - 1 - h)
            if not valid.any():
                raise ValueError(f"patch_size {patch_size} exceeds the {H}x{W} image, so there are no "
                                 "non-wrapping training patches; use train_patches='wrap' or a smaller patch")
            groups = [(pixels, pixels[valid])]
        return Layout((h, h, h, h), "circular", (patch_size, patch_size), False, groups, pixels[:0])

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", padding={self.padding!r}, train_patches={self.train_patches!r})"


class SubsetView:
    """Base of the denoisers that answer with a machine restricted to subsets of its training
    images (:class:`els.machines.GoldenSubset`, :class:`els.machines.Tiered`): they share the
    machine's training set, labels and ``scale_name``, and derive ``eps`` from their ``denoise``.
    Subclasses set ``self.machine`` and define ``denoise``."""

    machine: Machine

    @property
    def images(self) -> torch.Tensor:
        """The machine's training images (N, C, H, W), all of them."""
        return self.machine.images

    @property
    def labels(self) -> torch.Tensor | None:
        """The machine's training labels (N,) or None."""
        return self.machine.labels

    @property
    def scale_name(self) -> str:
        """The machine's locality-scale keyword (:attr:`Machine.scale_name`)."""
        return self.machine.scale_name

    def denoise(self, x_t: torch.Tensor, t: float | torch.Tensor, label=None, **scale) -> torch.Tensor:
        raise NotImplementedError

    def eps(self, x_t: torch.Tensor, t: float | torch.Tensor, label=None, **scale) -> torch.Tensor:
        """Noise prediction from :meth:`denoise` (undefined at t = 0)."""
        return implied_noise(x_t, t, self.denoise(x_t, t, label=label, **scale))


# ----- checks and small helpers ----------------------------------------------------------------
def implied_noise(x_t: torch.Tensor, t: float | torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """The noise that a denoised estimate ``x0`` implies for ``x_t`` (both (B, C, H, W)) at time
    ``t`` (:func:`els.schedule.eps_from_x0`); a ValueError at t = 0, where it is undefined."""
    ab = per_image(alpha_bar(checked_t(t, len(x_t))), x_t)
    if (ab >= 1).any():
        raise ValueError("eps is undefined at t = 0 (no noise); use denoise() there")
    return eps_from_x0(x_t, ab, x0)


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
    if not (torch.isfinite(images.amax()) and torch.isfinite(images.amin())):  # NaN propagates; no temporaries
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

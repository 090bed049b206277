"""PCA-locality (Lukoianov, Yuan, Solomon & Sitzmann 2025): the ideal score's softmax over whole
training images at the same position, with each output coordinate's distance restricted to
the inputs that the Wiener gain says it depends on (book chapter "Where ELS stands").

At time t, with the Wiener gain ``G_t`` (:meth:`els.Wiener.gain`, a (D, D) matrix over
(channel, pixel) coordinates, D = C * H * W), a binary mask ``B[n, m]`` marks input ``n`` as a
neighbour of output ``m``. Then, for query ``x_t`` and training image ``x_k``,

    d[k, m] = sum_n B[n, m] (x_t[n] - a x_k[n])^2,    x0_hat[m] = sum_k softmax_k(-d[k, m] / (2 s2)) x_k[m]

a separate softmax over training images for every output coordinate (channels included), computed
by the engine's same-location mask path (:func:`els.same_location.same_location_average`).

Two mask rules:

* ``"peers"``, the published code's: divide row n of G_t by its diagonal ``G_t[n, n]`` (by 1 when
  that is below 1e-6), keep the entries whose magnitude is at least ``threshold`` times the
  largest magnitude in the whole matrix, and read the result by column. ``threshold = 0`` uses
  the signed row-normalised matrix itself as weights. On zero-padded 32 x 32 MNIST the global
  maximum sits on a nearly constant border pixel and the mask hardly depends on the threshold.
* ``"column"``: keep input n for output m when ``|G_t[n, m]| >= threshold * max_n' |G_t[n', m]|``,
  column by column (``threshold = 0``: every input, i.e. the ideal score).

Two aggregations: ``"exact"``, one softmax over all training images; ``"chunk_average"``, the
published code's: the unweighted mean of the posterior means of consecutive chunks of
``peers_chunk`` training images (it depends on the chunk size and on the images' order; use it
only to reproduce the published numbers).
"""
from __future__ import annotations

import torch

from .machine import Machine
from ..engine.same_location import same_location_average
from .wiener import Wiener

MASKS = ("peers", "column")
AGGREGATIONS = ("exact", "chunk_average")
MASK_STATISTICS = ("global", "class")
PEERS_DIAGONAL_GUARD = 1e-6  # the published code's guard for zero-variance inputs
PEERS_CHUNK = 512  # the published code's chunk of training images (its data loader's batch)
MASK_CACHE = 4  # masks kept (each D x D float64: 8 MB at 32 x 32)


class PCALocality(Wiener):
    """PCA-locality denoiser (module docstring): same interface as the other machines, with a
    mask ``threshold`` in place of a patch size (``denoise(..., threshold=)``; schedules and
    calibration use it through ``scale_name``).

    mask: ``"peers"`` or ``"column"``; aggregation: ``"exact"`` or ``"chunk_average"``;
    mask_statistics: for a class-conditional call, the mask comes from the Wiener gain of all
    training images (``"global"``, default: better estimated when a class has few images) or
    of that class's images (``"class"``); the softmax is always over that class's images.
    """

    scale_name = "threshold"

    def __init__(self, images, labels=None, threshold: float = 0.02, mask: str = "peers",
                 aggregation: str = "exact", mask_statistics: str = "global", peers_chunk: int = PEERS_CHUNK,
                 **kwargs):
        for name, value, allowed in (("mask", mask, MASKS), ("aggregation", aggregation, AGGREGATIONS),
                                     ("mask_statistics", mask_statistics, MASK_STATISTICS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if isinstance(peers_chunk, bool) or not isinstance(peers_chunk, int) or peers_chunk < 1:
            raise ValueError(f"peers_chunk must be a positive int, got {peers_chunk!r}")
        super().__init__(images, labels, **kwargs)
        self.threshold = checked_threshold(threshold)
        self.mask_rule = mask
        self.aggregation = aggregation
        self.mask_statistics = mask_statistics
        self.peers_chunk = peers_chunk
        self._masks: dict = {}  # (a, s2, threshold, label) -> mask, the MASK_CACHE most recent

    def denoise(self, x_t, t, label=None, threshold: float | None = None) -> torch.Tensor:
        """Posterior mean ``x0_hat`` (B, C, H, W) of ``x_t`` (B, C, H, W) at time ``t`` (float or
        (B,)); ``label`` restricts the training images to a class; ``threshold`` overrides the
        machine's own for this call."""
        return self._denoise(x_t, t, label, checked_threshold(self.threshold if threshold is None else threshold))

    def restricted(self, index):
        """PCA-locality over ``images[index]`` only, its masks still from the statistics of all
        the training images (of each class with ``mask_statistics="class"``), as GoldDiff does."""
        classes = [] if self.mask_statistics == "global" or self.labels is None else self.labels.unique().tolist()
        for label in [None, *classes]:
            self._statistics(label)
        new = Machine.restricted(self, index)
        new._statistics_of = dict(self._statistics_of)
        return new

    def mask(self, t: float, threshold: float | None = None, label: int | None = None) -> torch.Tensor:
        """The (D, D) mask ``B[n, m]`` at time ``t`` (a float), float64: 0/1, or the signed
        row-normalised gain for the peers' rule at threshold 0. Column m lists output m's inputs."""
        gain = self.gain(t, self._mask_label(label))
        return gain_mask(gain, checked_threshold(self.threshold if threshold is None else threshold), self.mask_rule)

    def _posterior(self, x, a, s2, threshold, label, top):
        images = self.class_images(label)
        out = torch.empty_like(x)
        for level in torch.unique(a).tolist():  # one mask per noise level in the batch
            rows = a == level
            mask = self._mask_at(a[rows][0], s2[rows][0], threshold, label).to(x.dtype)
            step = len(images) if self.aggregation == "exact" else self.peers_chunk
            parts = [same_location_average(x[rows], images[i:i + step], a[rows], s2[rows], mask, self.chunk_bytes)
                     .result() for i in range(0, len(images), step)]
            out[rows] = torch.stack(parts).mean(0)
        return out, None

    def _mask_at(self, a, s2, threshold, label):
        """The mask for one noise level, kept for the last few (noise level, threshold, label)
        combinations; copies made by :meth:`restricted` share them."""
        key = (float(a), float(s2), threshold, self._mask_label(label))
        if key not in self._masks:
            while len(self._masks) >= MASK_CACHE:
                self._masks.pop(next(iter(self._masks)))
            self._masks[key] = gain_mask(self._gain(a, s2, key[3]), threshold, self.mask_rule)
        return self._masks[key]

    def _mask_label(self, label):
        return label if self.mask_statistics == "class" else None

    def __repr__(self) -> str:
        return (f"PCALocality({len(self.images)} images of {tuple(self.images.shape[1:])}, threshold={self.threshold}, "
                f"mask={self.mask_rule!r}, aggregation={self.aggregation!r})")


def gain_mask(gain: torch.Tensor, threshold: float, rule: str) -> torch.Tensor:
    """Mask ``B[n, m]`` (D, D) from a gain ``G`` (D, D) by ``rule``, ``"peers"`` or ``"column"``
    (module docstring)."""
    if rule == "peers":
        diagonal = gain.diagonal()
        divisor = torch.where(diagonal.abs() < PEERS_DIAGONAL_GUARD, torch.ones_like(diagonal), diagonal)
        ratios = gain / divisor[:, None]  # row n divided by G[n, n]
        if threshold == 0:
            return ratios
        return (ratios.abs() >= threshold * ratios.abs().max()).to(gain.dtype)
    magnitude = gain.abs()
    return (magnitude >= threshold * magnitude.max(0, keepdim=True).values).to(gain.dtype)


def checked_threshold(threshold) -> float:
    """``threshold`` as a float in [0, 1], else an error naming the fix."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a float in [0, 1], got {type(threshold).__name__}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1] (a fraction of the largest gain), got {threshold}")
    return float(threshold)


def mask_width(mask: torch.Tensor, height: int, width: int, channels: int = 1) -> float:
    """Side of the square with as many pixels as the mask's column for the image's centre pixel
    (first channel) has non-zero entries per channel: ``sqrt(nnz / channels)``, in pixels."""
    centre = (height // 2) * width + width // 2
    return float((mask[:, centre] != 0).sum() / channels) ** 0.5

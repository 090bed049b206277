"""Golden subsets (Shang et al. 2026, "GoldDiff"): run a machine, per sample and per step, on
only the ``k_t`` training images nearest to that sample, instead of on all ``N`` (book chapter
"Where ELS stands").

At noise level ``sigma_t = sqrt(1 - abar)``, with ``l = 1 - sigma_t`` (0 at pure noise, 1 at
none) and ``k_min <= k_max <= N``:

    m_t = clip(round(k_max + (N - k_max) l), k_max, N)   images drawn at random (a pre-sample)
    k_t = max(k_min, round(k_max - (k_max - k_min) l))   images kept (the golden subset)

For each sample: draw ``m_t`` distinct training images at random; keep the ``k_max`` nearest
to ``x_t`` at low resolution (``|pool(x_t) - a pool(x_k)|^2``, average pooling by ``pool``);
of those keep the ``k_t`` nearest at full resolution; denoise with the machine restricted to
them (an exact softmax over the subset). At high noise the subset is close to a random one;
at low noise the screening scans almost the whole set. With ``k_min = k_max = N`` it is the
exact machine.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..schedule import checked_t, noise_levels
from .machine import Machine, SubsetView

#: GoldDiff's subset sizes as fractions of the training images (``k_min``, ``k_max``): its 3,000
#: and 6,000 of MNIST's 60,000
PUBLISHED_FRACTIONS = (0.05, 0.10)


def published_sizes(n_images: int) -> tuple[int, int]:
    """GoldDiff's ``(k_min, k_max)`` (:data:`PUBLISHED_FRACTIONS`) for ``n_images`` training
    images, at least 1 each."""
    k_min, k_max = (max(1, round(f * n_images)) for f in PUBLISHED_FRACTIONS)
    return k_min, k_max


class GoldenSubset(SubsetView):
    """A machine that denoises each sample with ``machine`` restricted to its golden subset
    (module docstring). Same ``denoise`` / ``eps`` interface and ``scale_name`` as the machine;
    the random pre-samples come from its own generator (``seed``), so results are reproducible
    and do not touch the global random state.

    machine: any machine with a training set (IS, LS, ELS, PCALocality; not Wiener, whose
    statistics would change with the subset). k_min, k_max: subset sizes, counted within the
    sample's class for a class-conditional call (capped at the class's size); ``pool``: the
    low-resolution screening's pooling factor (2 turns 32 x 32 into 16 x 16, as in GoldDiff).
    """

    def __init__(self, machine: Machine, k_min: int, k_max: int, pool: int = 2, seed: int = 0):
        for name, value in (("k_min", k_min), ("k_max", k_max), ("pool", pool)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if k_min > k_max:
            raise ValueError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        machine.restricted(torch.arange(1))  # fails early for machines that cannot be restricted
        self.machine, self.k_min, self.k_max, self.pool = machine, k_min, k_max, pool
        self.generator = torch.Generator().manual_seed(seed)
        self.last_subsets: list[torch.Tensor] = []  # indices into machine.images, per sample of the last call

    def denoise(self, x_t: torch.Tensor, t: float | torch.Tensor, label=None, **scale) -> torch.Tensor:
        """``x0_hat`` (B, C, H, W) of ``x_t`` (B, C, H, W): each sample by the machine
        restricted to its golden subset; ``label`` and ``scale`` as for the machine."""
        m = self.machine
        x = m.checked_input(x_t)
        a, s2 = noise_levels(t, len(x), m.dtype, m.device)
        ts = checked_t(t, len(x))
        out = torch.empty_like(x)
        self.last_subsets = [None] * len(x)
        for lab, rows in m.label_groups(label, len(x)):
            pool_index = (torch.arange(len(m.images), device=m.device) if lab is None
                          else torch.nonzero(m.labels.to(m.device) == lab).squeeze(1))
            for b in rows.tolist():
                subset = pool_index[self.select(x[b], a[b], s2[b], m.images[pool_index])]
                self.last_subsets[b] = subset
                out[b] = m.restricted(subset).denoise(x[b:b + 1], ts[b:b + 1], label=lab, **scale)[0]
        return out.to(x_t.device)

    def sizes(self, s2: float, n: int) -> tuple[int, int]:
        """(m_t, k_t) for noise variance ``s2`` among ``n`` images (module docstring)."""
        k_max, k_min = min(self.k_max, n), min(self.k_min, n)
        level = 1 - min(1.0, max(0.0, float(s2)) ** 0.5)
        m_t = min(max(round(k_max + (n - k_max) * level), k_max), n)
        k_t = max(k_min, round(k_max - (k_max - k_min) * level))
        return m_t, k_t

    def select(self, x: torch.Tensor, a: torch.Tensor, s2: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Golden subset of one sample ``x`` (C, H, W) among ``images`` (n, C, H, W): indices (k_t,)."""
        m_t, k_t = self.sizes(s2, len(images))
        drawn = torch.randperm(len(images), generator=self.generator)[:m_t].to(images.device)
        coarse = _distances(F.avg_pool2d(x[None], self.pool), a * F.avg_pool2d(images[drawn], self.pool))
        candidates = drawn[coarse.topk(min(self.k_max, m_t), largest=False).indices]
        fine = _distances(x[None], a * images[candidates])
        return candidates[fine.topk(k_t, largest=False).indices]


def _distances(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Squared distances (n,) from ``query`` (1, ...) to each of ``keys`` (n, ...)."""
    return (keys.flatten(1) - query.flatten(1)).square().sum(1)

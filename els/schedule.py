"""Noise schedules: the fraction of signal ``abar(t)`` left at diffusion time ``t``.

The forward process is ``x_t = sqrt(abar) * x_0 + sqrt(1 - abar) * eps`` (book appendix, §A.1).
"""
from __future__ import annotations

import math

import torch

SCHEDULES = ("legacy_cosine", "cosine")


def alpha_bar(t: torch.Tensor | float, schedule: str = "legacy_cosine") -> torch.Tensor:
    """Signal fraction ``abar(t)`` for times ``t`` in ``[0, 1]``; same shape as ``t``.

    ``"legacy_cosine"`` (the paper's): ``cos(t / 1.008 * pi / 2) ** 2``, so ``abar(0) = 1``.
    ``"cosine"`` (Nichol & Dhariwal): ``f(t) / f(0)`` with ``f(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2``.
    A float ``t`` gives a float64 scalar tensor.
    """
    t = torch.as_tensor(t, dtype=torch.float64) if not torch.is_tensor(t) else t
    if schedule == "legacy_cosine":
        return torch.cos(t / 1.008 * (math.pi / 2)) ** 2
    if schedule == "cosine":
        f0 = math.cos(0.008 / 1.008 * math.pi / 2) ** 2
        return torch.cos((t + 0.008) / 1.008 * (math.pi / 2)) ** 2 / f0
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


def noise_variance(t: torch.Tensor | float, schedule: str = "legacy_cosine") -> torch.Tensor:
    """Variance ``sigma2(t) = 1 - abar(t)`` of the noise in ``x_t``; same shape as ``t``."""
    return 1 - alpha_bar(t, schedule)


def add_noise(x0: torch.Tensor, t: torch.Tensor | float, noise: torch.Tensor) -> torch.Tensor:
    """Forward process: ``sqrt(abar(t)) * x0 + sqrt(1 - abar(t)) * noise``; ``x0``, ``noise`` ``(B, C, H, W)``,
    ``t`` a float or a ``(B,)`` tensor."""
    ab = per_image(alpha_bar(t), x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def per_image(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar or ``(B,)`` tensor as ``(B or 1, 1, 1, 1)`` (one axis per axis of ``x``), to
    broadcast over ``x`` ``(B, C, H, W)``, on x's device and dtype."""
    return v.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))

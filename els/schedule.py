"""Noise schedules, and the one place where ``x_t``, ``x0`` and ``eps`` are converted.

The forward process is ``x_t = sqrt(abar) * x_0 + sqrt(1 - abar) * eps`` (book appendix, §A.1),
with ``abar(t)`` the fraction of signal left at diffusion time ``t``. Knowing ``x_t`` and one of
``x0`` and ``eps`` gives the other (:func:`eps_from_x0`, :func:`x0_from_eps`); the samplers,
the machines, training and the figures all convert through these functions (book chapter 2).
"""
from __future__ import annotations

import math

import torch

SCHEDULES = ("legacy_cosine", "cosine")


def alpha_bar(t: torch.Tensor | float, schedule: str = "legacy_cosine") -> torch.Tensor:
    """Signal fraction ``abar(t)`` for times ``t`` in ``[0, 1]``; same shape as ``t``.

    ``"legacy_cosine"`` (the paper's): ``cos(t / 1.008 * pi / 2) ** 2``, so ``abar(0) = 1``.
    ``"cosine"`` (Nichol & Dhariwal): ``f(t) / f(0)`` with ``f(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2``.
    A tensor ``t`` keeps its dtype (a float32 batch of times gives float32); a float ``t`` gives
    a float64 scalar tensor.
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


def eps_from_x0(x_t: torch.Tensor, ab, x0: torch.Tensor) -> torch.Tensor:
    """The noise ``(x_t - sqrt(ab) x0) / sqrt(1 - ab)`` that the clean-image estimate ``x0`` implies
    for ``x_t`` (both (B, C, H, W)); ``ab`` is ``abar(t)``, a float or a tensor that broadcasts
    over ``x_t`` (:func:`per_image`). Undefined at ``ab = 1`` (t = 0)."""
    return (x_t - ab**0.5 * x0) / (1 - ab) ** 0.5


def x0_from_eps(x_t: torch.Tensor, ab, eps: torch.Tensor) -> torch.Tensor:
    """The clean image ``(x_t - sqrt(1 - ab) eps) / sqrt(ab)`` that the noise estimate ``eps``
    implies for ``x_t`` (both (B, C, H, W)); ``ab`` as in :func:`eps_from_x0`. Undefined at
    ``ab = 0``."""
    return (x_t - (1 - ab) ** 0.5 * eps) / ab**0.5


def checked_t(t, batch: int) -> torch.Tensor:
    """Diffusion time ``t`` (a float, or a (batch,) tensor) as a float64 CPU tensor of shape
    (batch,), after checking that it lies in [0, 1]; otherwise a TypeError/ValueError naming
    the fix."""
    if isinstance(t, bool) or not (isinstance(t, (int, float)) or torch.is_tensor(t)):
        raise TypeError(f"t must be a float or a (B,) tensor, got {type(t).__name__}")
    t = torch.as_tensor(t, dtype=torch.float64).cpu()
    if t.dim() > 1 or (t.dim() == 1 and len(t) != batch):
        raise ValueError(f"t must be a float or a tensor of shape ({batch},), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise ValueError(f"t must lie in [0, 1], got {t.tolist()}")
    return t.expand(batch)


def noise_levels(t, batch: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, s2)``, each (batch,) in ``dtype`` on ``device``: ``a = sqrt(abar(t))`` and
    ``s2 = 1 - abar(t)``, the latter kept >= 1e-12 so that t = 0 is the nearest-entry limit."""
    ab = alpha_bar(checked_t(t, batch))
    return ab.sqrt().to(device, dtype), (1 - ab).clamp(min=1e-12).to(device, dtype)


def per_image(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar or ``(B,)`` tensor as ``(B or 1, 1, 1, 1)`` (one axis per axis of ``x``), to
    broadcast over ``x`` ``(B, C, H, W)``, on x's device and dtype."""
    return v.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))

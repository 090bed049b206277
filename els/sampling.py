"""Deterministic DDIM sampling for anything with ``eps(x_t, t, label=None)`` (book appendix, §A.2), and
the seeded noise and labels that let networks and machines start from the same point."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .machines.protocol import scale_keyword
from .schedule import alpha_bar, eps_from_x0, x0_from_eps


class Step(NamedTuple):
    """One DDIM step: the time ``t`` it starts from, the state ``x_t`` there and the model's
    clean-image and noise estimates ``x0_hat``, ``eps_hat`` (tensors (B, C, H, W))."""

    t: float
    x_t: torch.Tensor
    x0_hat: torch.Tensor
    eps_hat: torch.Tensor


def sample(
    model,
    noise: torch.Tensor,
    steps: int = 20,
    scales: Sequence[int] | None = None,
    label: int | torch.Tensor | None = None,
    progress: bool = False,
    released: bool = False,
    clip: bool = False,
    callback: Callable[[Step], None] | None = None,
) -> torch.Tensor:
    """Run DDIM from ``noise`` (B, C, H, W) at t = 1 down to t = 0 on the grid t_i = i / steps.

    ``model`` needs ``eps(x_t, t, label=None)``; a machine's ``denoise`` is used directly when
    present (exact at low signal). ``scales``: one locality scale per step, low noise first
    (``scales[i - 1]`` at t = i / steps), passed under the machine's ``scale_name`` (an odd
    ``patch_size`` for LS and ELS, a ``threshold`` for PCALocality). ``released=True``: the
    paper's released code's handling (book appendix, §A.2): start at t = (steps - 1) / steps
    and read ``scales[i]``, one entry later, at t = i / steps. ``clip=True``: the follow-up
    papers' sampler, which clamps each step's clean-image estimate to [-1, 1] and recomputes the
    noise estimate from it (book chapter 10). ``callback(step)`` is called with every
    :class:`Step`, e.g. to record a trajectory. Returns x0 (B, C, H, W).
    """
    x0 = noise
    for step in trajectory(model, noise, steps, scales, label, progress, released, clip):
        if callback is not None:
            callback(step)
        x0 = step.x0_hat
    return x0  # the last step lands on t = 0, where x = x0_hat


def trajectory(
    model,
    noise: torch.Tensor,
    steps: int = 20,
    scales: Sequence[int] | None = None,
    label: int | torch.Tensor | None = None,
    progress: bool = False,
    released: bool = False,
    clip: bool = False,
) -> Iterator[Step]:
    """The DDIM steps of :func:`sample`, one :class:`Step` ``(t, x_t, x0_hat, eps_hat)`` per step,
    from t = 1 (``released``: (steps - 1) / steps) down to t = 1 / steps; tensors (B, C, H, W)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if scales is not None and len(scales) != steps:
        raise ValueError(f"scales must give one patch size per step: expected {steps}, got {len(scales)}")
    if released and steps < 2:
        raise ValueError("the released handling starts at t = (steps - 1) / steps: use steps >= 2")
    x = noise
    first = steps - 1 if released else steps
    for i in tqdm(range(first, 0, -1), desc="DDIM", disable=not progress, leave=False):
        t, t_prev = i / steps, (i - 1) / steps
        scale = None if scales is None else scales[i if released else i - 1]
        x0, eps = predict(model, x, t, label, **scale_keyword(model, scale))
        if clip:
            ab = float(alpha_bar(t))
            x0 = x0.clamp(-1, 1)
            eps = eps_from_x0(x, ab, x0)
        yield Step(t, x, x0, eps)
        ab_prev = float(alpha_bar(t_prev))
        x = ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * eps


def predict(model, x_t: torch.Tensor, t: float, label=None, **scale) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0_hat, eps_hat)`` of ``model`` at ``(x_t, t)``, each (B, C, H, W), from whichever of
    ``denoise`` or ``eps`` the model has (a machine's ``denoise`` is exact where ``eps`` is
    ill-conditioned, at t near 1)."""
    ab = float(alpha_bar(t))
    if hasattr(model, "denoise"):
        x0 = model.denoise(x_t, t, label=label, **scale)
        return x0, eps_from_x0(x_t, ab, x0)
    eps = model.eps(x_t, t, label=label, **scale)
    return x0_from_eps(x_t, ab, eps), eps


def classes_of(labels: torch.Tensor | None, network=None) -> list[int] | None:
    """The classes a seed draws its label from (:func:`seeded_inputs`): the distinct values of
    the training labels ``labels`` (N,), ascending, or None without labels. With ``network``,
    the answer for sampling that network: None unless it is class-conditional (its
    ``conditional`` flag), and then a ValueError when ``labels`` is None. The one place that
    decides it, for calibration, evaluation and every study."""
    if network is not None and not getattr(network, "conditional", False):
        return None
    if labels is None:
        if network is not None:
            raise ValueError("the network is class-conditional: give the machines (or calibration) the "
                             "training labels (labels=, data=(images, labels))")
        return None
    return torch.unique(labels).tolist()  # torch.unique sorts


def seeded_inputs(
    seeds: Sequence[int], shape: Sequence[int], classes: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise (B, *shape) and labels (B,) (None if ``classes`` is None) for the given seeds:
    seed s always gives the same noise and the same label drawn uniformly from ``classes``,
    whatever the other seeds, so every model compared starts from the same point."""
    noise, labels = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(int(seed))
        noise.append(torch.randn(*shape, generator=g))
        if classes is not None:
            labels.append(int(classes[int(torch.randint(len(classes), (), generator=g))]))
    return torch.stack(noise), (None if classes is None else torch.tensor(labels))

"""Deterministic DDIM sampling for anything with ``eps(x_t, t, label=None)`` (book appendix, §A.2), and
the seeded noise and labels that let networks and machines start from the same point."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from tqdm.auto import tqdm

from .schedule import alpha_bar


def sample(
    model,
    noise: torch.Tensor,
    steps: int = 20,
    scales: Sequence[int] | None = None,
    label: int | torch.Tensor | None = None,
    progress: bool = False,
    released: bool = False,
) -> torch.Tensor:
    """Run DDIM from ``noise`` (B, C, H, W) at t = 1 down to t = 0 on the grid t_i = i / steps.

    ``model`` needs ``eps(x_t, t, label=None)``; a machine's ``denoise`` is used directly when
    present (exact at low signal). ``scales``: one locality scale per step, low noise first
    (``scales[i - 1]`` at t = i / steps), passed under the machine's ``scale_name`` (an odd
    ``patch_size`` for LS and ELS, a ``threshold`` for PCALocality). ``released=True``: the
    paper's released code's handling (book appendix, §A.2): start at t = (steps - 1) / steps
    and read ``scales[i]``, one entry later, at t = i / steps. Returns x0 (B, C, H, W).
    """
    x0 = noise
    for _, _, x0, _ in trajectory(model, noise, steps, scales, label, progress, released):
        pass
    return x0  # the last step lands on t = 0, where x = x0_hat


def trajectory(
    model,
    noise: torch.Tensor,
    steps: int = 20,
    scales: Sequence[int] | None = None,
    label: int | torch.Tensor | None = None,
    progress: bool = False,
    released: bool = False,
) -> Iterator[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The DDIM steps of :func:`sample`, one ``(t, x_t, x0_hat, eps_hat)`` per step, from
    t = 1 (``released``: (steps - 1) / steps) down to t = 1 / steps; tensors (B, C, H, W)."""
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
        kwargs = {} if scale is None else {getattr(model, "scale_name", "patch_size"): _plain(scale)}
        x0, eps = predict(model, x, t, label, **kwargs)
        yield t, x, x0, eps
        ab_prev = float(alpha_bar(t_prev))
        x = ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * eps


def _plain(value):
    """A schedule entry as a Python number (schedules may be numpy or torch arrays)."""
    return value.item() if hasattr(value, "item") else value


def predict(model, x_t: torch.Tensor, t: float, label=None, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0_hat, eps_hat)`` of ``model`` at ``(x_t, t)``, each (B, C, H, W), from whichever of
    ``denoise`` or ``eps`` the model has (a machine's ``denoise`` is exact where ``eps`` is
    ill-conditioned, at t near 1)."""
    ab = float(alpha_bar(t))
    if hasattr(model, "denoise"):
        x0 = model.denoise(x_t, t, label=label, **kwargs)
        return x0, (x_t - ab**0.5 * x0) / (1 - ab) ** 0.5
    eps = model.eps(x_t, t, label=label, **kwargs)
    return (x_t - (1 - ab) ** 0.5 * eps) / ab**0.5, eps


def classes_of(labels: torch.Tensor | None) -> list[int] | None:
    """The classes a conditional model's seeds draw their labels from (:func:`seeded_inputs`):
    the distinct values of ``labels`` (N,), ascending; None for no labels."""
    return None if labels is None else torch.unique(labels).tolist()  # torch.unique sorts


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

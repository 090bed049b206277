"""A fast mode for large training sets: the exact machine at low noise, the same machine on a
subset of its training images at high noise (book chapter 9, "How many training images").

A machine's call costs about (dictionary entries) x (patch dimension) operations, and both are
largest at high noise: calibrated schedules use their biggest patches there, and every
training image adds its windows. But at high noise the softmax spreads its weight over a
great many windows, so that a random subset of the training images gives nearly the same
weighted average; at low noise the weight sits on the few nearest windows, which a subset
may lack, and the patches are small, so the whole training set costs little there.
:class:`Tiered` uses the machine restricted to ``k`` training images (class-balanced when the
machine has labels) for ``t > switch`` and the machine itself for ``t <= switch``. It is an
approximation: its error against the exact machine is measured, not bounded (``python -m
els bench --tiered``).
"""
from __future__ import annotations

import torch

from ..data import balanced_subset
from ..schedule import checked_t
from .machine import Machine, SubsetView


class Tiered(SubsetView):
    """``machine`` at ``t <= switch``; ``machine`` restricted to ``k`` of its training images
    at ``t > switch`` (module docstring). Same ``denoise`` / ``eps`` interface and
    ``scale_name`` as the machine.

    machine: a machine with a training set (IS, LS, ELS, PCALocality). k: training images
    kept at high noise, a class-balanced subset (deterministic in ``seed``) when the machine
    has labels, else a random one. switch: diffusion time in [0, 1] above which the subset
    is used (0: always the subset; 1: always the whole set).
    """

    def __init__(self, machine: Machine, k: int, switch: float, seed: int = 0):
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(machine.images):
            raise ValueError(f"k must be an int from 1 to the machine's {len(machine.images)} images, got {k!r}")
        if not 0 <= switch <= 1:
            raise ValueError(f"switch is a diffusion time in [0, 1], got {switch!r}")
        labels = machine.labels if machine.labels is not None else torch.zeros(len(machine.images), dtype=torch.long)
        self.subset = balanced_subset(labels, k, seed)  # indices into machine.images, sorted
        self.machine, self.coarse, self.switch = machine, machine.restricted(self.subset), float(switch)

    def denoise(self, x_t: torch.Tensor, t: float | torch.Tensor, label=None, **scale) -> torch.Tensor:
        """``x0_hat`` (B, C, H, W) of ``x_t`` (B, C, H, W) at ``t`` (float or (B,)): rows with
        ``t > switch`` by the subset machine, the others by the whole one."""
        ts = checked_t(t, len(x_t))
        high = ts > self.switch
        if high.all() or not high.any():
            chosen = self.coarse if high.all() else self.machine
            return chosen.denoise(x_t, t, label=label, **scale)
        out = torch.empty_like(x_t)
        for rows, chosen in ((high, self.coarse), (~high, self.machine)):
            part = label[rows] if torch.is_tensor(label) else label
            out[rows] = chosen.denoise(x_t[rows], ts[rows], label=part, **scale)
        return out

    def __repr__(self) -> str:
        return f"Tiered({self.machine!r}, k={len(self.subset)}, switch={self.switch})"

"""The denoiser contract: what every analytic machine offers, and what the sampler, calibration
and evaluation rely on (book chapter 6).

A denoiser holds a training set and answers, for noisy images ``x_t`` at time ``t``, with its
estimate of the clean image (``denoise``) or of the noise (``eps``). Its locality scale (an odd
patch size for LS and ELS, a mask threshold for PCA-locality, none for IS, ES and Wiener) may be
set per call, under the keyword named by ``scale_name``; :func:`scale_keyword` builds that
keyword, so callers never spell it by hand.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Denoiser(Protocol):
    """Anything the sampler (:func:`els.sample`), :func:`els.calibrate` and :func:`els.evaluate`
    accept as a machine.

    images: the training images (N, C, H, W) in [-1, 1]. labels: their classes (N,) or None.
    scale_name: the keyword of ``denoise``/``eps`` that sets the locality scale for one call.
    denoise(x_t, t, label=None, **scale): clean-image estimate (B, C, H, W) of ``x_t``
    (B, C, H, W) at time ``t`` (a float or (B,) in [0, 1]); ``label`` (int or (B,)) restricts
    the training set to a class. eps(...): the implied noise estimate, same shapes.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    scale_name: str

    def denoise(self, x_t: torch.Tensor, t, label=None, **scale) -> torch.Tensor: ...

    def eps(self, x_t: torch.Tensor, t, label=None, **scale) -> torch.Tensor: ...


def scale_keyword(denoiser, value) -> dict:
    """``{denoiser.scale_name: value}`` (a plain Python number), or ``{}`` when ``value`` is None:
    the keyword arguments that set ``denoiser``'s locality scale for one call. Objects without a
    ``scale_name`` (networks) take none. Schedules may hold numpy or torch numbers."""
    if value is None:
        return {}
    return {getattr(denoiser, "scale_name", "patch_size"): value.item() if hasattr(value, "item") else value}

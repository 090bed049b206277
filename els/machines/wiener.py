"""The Wiener (optimal linear, Gaussian) denoiser: the posterior mean when the training images
are modelled as one Gaussian with their mean and covariance (Wang & Vastola 2024; the field's
baseline beside ELS).

With ``x_t = a x0 + sqrt(s2) eps``, ``a = sqrt(abar(t))``, ``s2 = 1 - abar(t)`` and
``x0 ~ N(mu, Sigma)``, ``Sigma = U diag(lam) U^T``:

    x0_hat = mu + Sigma a (a^2 Sigma + s2 I)^{-1} (x_t - a mu)
           = mu + U diag(g) U^T (x_t - a mu) / a,      g = abar lam / (abar lam + s2)

Each shrinkage ``g`` lies in [0, 1); directions with ``lam = 0`` get ``g = 0`` (the estimate
stays in the training images' affine span). The statistics are computed once, in float64
(mean, covariance with divisor N - 1, one symmetric eigendecomposition), per class for a
class-conditional machine; a call costs two ``(B, D) x (D, D)`` products.

A class-conditional machine models each class as a Gaussian with the class's mean and either
the class's own covariance (``covariance="class"``: about N / 10 images per class, so rank at
most N / 10 - 1) or the covariance of all training images about their mean
(``covariance="global"``: one covariance shared by every class, of rank up to N - 1).
"""
from __future__ import annotations

import torch

from .machine import Machine
from ..schedule import alpha_bar


class Wiener(Machine):
    """Optimal linear denoiser on the training images' mean and covariance (module docstring).

    Same interface as the other machines (``denoise``, ``eps``, ``labels=`` for per-class
    statistics, ``device=``, ``dtype=``); it has no patch size. The covariance is over all
    ``D = C * H * W`` coordinates jointly (channels and pixels), so memory is ``D x D``.
    ``covariance``: with labels, ``"class"`` (each class's own) or ``"global"`` (every
    image's, with each class's mean; module docstring).
    """

    COVARIANCES = ("class", "global")

    def __init__(self, images, labels=None, covariance: str = "class", **kwargs):
        if covariance not in self.COVARIANCES:
            raise ValueError(f"covariance must be one of {self.COVARIANCES}, got {covariance!r}")
        super().__init__(images, labels, **kwargs)
        self.covariance = covariance
        self._statistics_of: dict = {}  # label -> (mean, eigenvectors, eigenvalues)

    def restricted(self, index):
        raise TypeError("the Wiener machine's mean and covariance would change with a subset of its images; "
                        "build els.Wiener(images[index]) if that is what you want")

    def gain(self, t: float, label: int | None = None) -> torch.Tensor:
        """The linear part of the denoiser at time ``t`` (a float): the (D, D) float64 matrix
        ``G = U diag(g) U^T``, with ``x0_hat = mu + G (x_t - a mu) / a``. Column ``m`` says how
        much each input coordinate moves output coordinate ``m`` (G is symmetric); its spread is
        the locality that the data's correlations alone imply (book chapter "Where ELS stands")."""
        ab = alpha_bar(torch.tensor([float(t)], dtype=torch.float64))
        return self._gain(ab.sqrt(), (1 - ab).clamp(min=1e-12), label)

    def _gain(self, a, s2, label):
        """``G`` of :meth:`gain` for one noise level (scalar or (1,) ``a``, ``s2``), float64."""
        _, basis, lam = self._statistics(label)
        ab = float(a) ** 2
        g = ab * lam / (ab * lam + float(s2))
        basis = basis.to(torch.float64)
        return (basis * g) @ basis.T

    def _posterior(self, x, a, s2, size, label, top):
        mu, basis, lam = self._statistics(label)
        B = len(x)
        ab = (a * a).to(torch.float64)[:, None]                                # (B, 1)
        gain = ab * lam[None] / (ab * lam[None] + s2.to(torch.float64)[:, None])  # (B, D) in [0, 1)
        centred = x.reshape(B, -1) - a[:, None] * mu                             # (B, D)
        coords = (centred @ basis) * (gain / a.to(torch.float64)[:, None]).to(x.dtype)
        return (mu + coords @ basis.T).view_as(x), None

    def _statistics(self, label):
        """(mean (D,), eigenvectors (D, D), eigenvalues (D,) >= 0) of the label's images (the
        covariance of every image for ``covariance="global"``): the first two in the machine's
        dtype, the eigenvalues in float64. Cached per label."""
        if label not in self._statistics_of:
            images = self.class_images(label).flatten(1).to(torch.float64)
            mu = images.mean(0)
            if self.covariance == "global" and label is not None:
                _, basis, lam = self._statistics(None)
            else:
                centred = images - mu
                lam, basis = torch.linalg.eigh(centred.T @ centred / max(1, len(images) - 1))
                lam = lam.clamp(min=0)
            self._statistics_of[label] = (mu.to(self.dtype), basis.to(self.dtype), lam)
        return self._statistics_of[label]

"""The analytic denoisers, all behind one contract (:class:`Denoiser`, :mod:`.protocol`).

* :mod:`.machine`: IS, ES, LS and ELS, the Bayes-optimal denoisers under locality and/or
  equivariance (book chapters 3-6), on the engine of :mod:`els.engine`;
* :mod:`.wiener`: the optimal linear (Gaussian) denoiser; :mod:`.pca_locality`: the ideal score
  with Wiener-gain masks (book chapter 10);
* :mod:`.golden` and :mod:`.tiered`: a machine on a per-sample or per-noise-level subset of
  its training images (approximations, for speed);
* :mod:`.matched`: the machine matched to a saved network (padding, conditioning).
"""
from .golden import GoldenSubset
from .machine import ELS, ES, IS, LS, Layout, Machine, SubsetView, checked_patch_size, implied_noise
from .matched import machine_for, network_config, network_facts
from .pca_locality import PCALocality
from .protocol import Denoiser, scale_keyword
from .tiered import Tiered
from .wiener import Wiener

__all__ = ["Denoiser", "scale_keyword", "Machine", "Layout", "IS", "ES", "LS", "ELS", "Wiener", "PCALocality",
           "GoldenSubset", "Tiered", "SubsetView", "machine_for", "network_config", "network_facts", "checked_patch_size",
           "implied_noise"]

"""els: the equivariant local score machine and friends (Kamb & Ganguli, ICML 2025), in torch.

Public API::

    els.alpha_bar(t)                       # legacy cosine schedule
    els.IS, els.ES, els.LS, els.ELS        # analytic machines: .denoise(), .eps()
    els.Wiener                             # the optimal linear (Gaussian) denoiser, same interface
    els.PCALocality                        # the ideal score with Wiener-gain masks (Lukoianov et al. 2025)
    els.machine_for(model_dir, "ELS", images, labels)   # the machine matched to a saved network
    els.sample(model, noise, steps=20, scales=None, label=None)   # DDIM
    els.calibrate(...), els.evaluate(...)  # P(t) calibration, agreement with a network
    els.data.load(...), els.models.ResNet/UNet, els.train.train(...), els.recipes.compare(...)
"""
import os

# Passive OpenMP waiting: spinning threads make small torch ops ~100x slower on a shared CPU.
# Only effective when els is imported before torch; the project's venv (a .pth file written by
# `make setup`), every chapter's first cell and conftest.py set it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import data, models, paper, presets
from .calibrate import calibrate
from .evaluate import evaluate
from .machines import ELS, ES, IS, LS, Machine
from .matched import machine_for
from .pca_locality import PCALocality
from .sampling import sample
from .schedule import add_noise, alpha_bar, noise_variance
from .wiener import Wiener

__all__ = ["alpha_bar", "noise_variance", "add_noise", "Machine", "IS", "ES", "LS", "ELS", "Wiener", "PCALocality", "machine_for",
           "sample", "calibrate", "evaluate", "data", "models", "paper", "presets"]
__version__ = "0.1.0"

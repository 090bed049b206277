"""els: the equivariant local score machine and friends (Kamb & Ganguli, ICML 2025), in torch.

Public API::

    els.alpha_bar(t), els.add_noise(x0, t, noise)       # the forward process (chapter 2)
    els.IS, els.ES, els.LS, els.ELS        # analytic machines: .denoise(), .eps() (chapters 3-6)
    els.Wiener, els.PCALocality            # the linear denoiser and the masked ideal score (chapter 10)
    els.machine_for(model_dir, "ELS", images, labels)   # the machine matched to a saved network
    els.sample(model, noise, steps=20, scales=None, label=None, callback=None)   # DDIM (chapter 2)
    els.calibrate(...), els.evaluate(...)  # P(t) calibration (chapter 8), agreement with a network (chapter 9)
    els.data.load(...), els.models.ResNet/UNet, els.train.train(...)   # data, networks, training (chapter 7)

The package has three layers: this library (``els.engine``, ``els.machines``, sampling,
calibration, evaluation, data, networks, training, storage); the book's helpers (``els.book``:
figures and sliders); this repository's studies (``els.studies``), which the command line
(``python -m els``, :mod:`els.cli`) runs.
"""
import os

# Passive OpenMP waiting: spinning threads make small torch ops ~100x slower on a shared CPU.
# Only effective when els is imported before torch; the project's venv (a .pth file written by
# `make setup`), every chapter's first cell and conftest.py set it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import data, models
from .calibrate import calibrate
from .evaluate import evaluate
from .machines import ELS, ES, IS, LS, Machine, PCALocality, Wiener, machine_for
from .sampling import sample
from .schedule import add_noise, alpha_bar, noise_variance

__all__ = ["alpha_bar", "noise_variance", "add_noise", "Machine", "IS", "ES", "LS", "ELS", "Wiener", "PCALocality", "machine_for",
           "sample", "calibrate", "evaluate", "data", "models", "paper", "presets"]
__version__ = "0.1.0"

#: names that moved to the studies layer; still reachable here, with a DeprecationWarning
_MOVED = {"paper": "els.studies.paper", "presets": "els.studies.presets"}


def __getattr__(name: str):
    """``els.paper`` and ``els.presets``: the studies' modules, with a warning naming the new place."""
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"els.{name} moved to {_MOVED[name]}; import it from there", DeprecationWarning, stacklevel=2)
        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'els' has no attribute {name!r}")

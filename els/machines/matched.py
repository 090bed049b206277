"""The analytic machine matched to a trained network, built from the network's saved config so
that its padding and conditioning are entered once, when the network is built.

``machine_for(model_dir, "ELS", images, labels)`` reads ``model_dir/model.json`` (written beside
``model.pt`` by :func:`els.models.save`, hence by every training run): the ELS machine gets the
network's ``padding``; a class-conditional network's machine gets the training labels, and an
unconditional network's gets none.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .machine import ELS, ES, IS, LS, Machine
from .pca_locality import PCALocality
from .wiener import Wiener

KINDS: dict[str, type[Machine]] = {"IS": IS, "ES": ES, "LS": LS, "ELS": ELS, "Wiener": Wiener,
                                   "PCALocality": PCALocality}
CONFIG = "model.json"


def machine_for(model_dir: str | os.PathLike, kind: str, images: torch.Tensor,
                labels: torch.Tensor | None = None, **kwargs: Any) -> Machine:
    """The ``kind`` machine (a key of :data:`KINDS`: IS, ES, LS, ELS, Wiener, PCALocality) on the
    training images ``images (N, C, H, W)`` in ``[-1, 1]`` (and ``labels (N,)``), matched to
    the network saved in the folder ``model_dir``: ELS uses the network's padding, and the
    labels must be given exactly when the network is class-conditional. ``kwargs`` go to the machine
    (``patch_size``, ``dedup``, ``device``, ...), except ``padding``, which the network fixes.
    Also works as a calibration factory: ``functools.partial(machine_for, model_dir, "ELS")``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    config = network_config(model_dir)
    if "padding" in kwargs:
        raise TypeError(f"padding comes from the network in {model_dir} ({config['padding']!r}); "
                        "drop padding=")
    if torch.is_tensor(images) and images.dim() == 4 and images.shape[1] != config["channels"]:
        raise ValueError(f"the network in {model_dir} takes {config['channels']}-channel images, "
                         f"got images of shape {tuple(images.shape)}")
    if config.get("num_classes") and labels is None:
        raise ValueError(f"the network in {model_dir} is class-conditional ({config['num_classes']} classes): "
                         "pass labels= (N,), the class of each training image")
    if not config.get("num_classes") and labels is not None:
        raise ValueError(f"the network in {model_dir} is unconditional: pass labels=None "
                         "(its machine compares with every training image)")
    if kind == "ELS":
        kwargs["padding"] = config["padding"]
    return KINDS[kind](images, labels, **kwargs)


def network_facts(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What a network's checkpoint says about it, for looking up the paper's rows:
    ``{"data": dataset name, "arch": "resnet" | "unet" | ..., "padding", "conditional"}``."""
    path = Path(model_dir) / CONFIG
    config = network_config(model_dir)
    dataset = json.loads(path.read_text()).get("extra", {}).get("dataset", {})
    return {"data": dataset.get("name"), "arch": config["class"].lower(), "padding": config["padding"],
            "conditional": bool(config.get("num_classes"))}


def network_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``config`` a network was saved with (class, channels, padding, num_classes, ...),
    from ``model_dir/model.json``."""
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(
            f"no {CONFIG} in {model_dir}: pass the folder a network was saved to with "
            "els.models.save(model, folder / 'model.pt') (every els.train.train(out_dir=folder) run does this)")
    return json.loads(path.read_text())["config"]

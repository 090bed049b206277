"""The paper's published numbers (Kamb & Ganguli, ICML 2025; book appendix, §A.8), for side-by-side tables.

``AGREEMENT`` rows: median per-sample agreement with the network sampled in 150 steps (and
the ELS column with the network sampled in 20 steps), as printed under the header "r^2" but
computed as Pearson r by the paper's evaluation code. ``SCHEDULES``: the ten calibrated
patch-size schedules shipped with the paper's released code, low noise first
(``scales[i - 1]`` at t = i / 20; the released sampler reads them one step later, see
:func:`els.sampling.trajectory`). They need not grow monotonically: the circular MNIST
ResNet's falls back to 3 at the highest noise.
"""
from __future__ import annotations

from typing import NamedTuple


class PaperRow(NamedTuple):
    data: str
    net: str
    padding: str
    conditional: bool
    ELS: float
    LS: float
    IS: float
    beats_IS: float
    ELS_network_20_steps: float


AGREEMENT: list[PaperRow] = [
    PaperRow("mnist", "unet", "zeros", False, 0.89, 0.88, 0.70, 0.93, 0.84),
    PaperRow("cifar10", "unet", "zeros", True, 0.90, 0.87, 0.41, 0.92, 0.82),
    PaperRow("fashion_mnist", "unet", "zeros", True, 0.93, 0.93, 0.80, 1.00, 0.91),
    PaperRow("celeba", "unet", "zeros", False, 0.85, 0.90, 0.55, 1.00, 0.75),
    PaperRow("mnist", "resnet", "zeros", False, 0.94, 0.82, 0.61, 1.00, 0.94),
    PaperRow("mnist", "resnet", "circular", False, 0.77, 0.36, 0.15, 0.92, 0.73),
    PaperRow("cifar10", "resnet", "zeros", True, 0.95, 0.90, 0.42, 1.00, 0.90),
    PaperRow("cifar10", "resnet", "circular", True, 0.94, 0.83, 0.35, 1.00, 0.90),
    PaperRow("fashion_mnist", "resnet", "zeros", True, 0.94, 0.88, 0.68, 1.00, 0.90),
    PaperRow("celeba", "resnet", "zeros", False, 0.96, 0.90, 0.47, 1.00, 0.92),
    PaperRow("cifar10", "attention_unet", "zeros", True, 0.77, 0.77, 0.48, 0.95, 0.75),
]

SCHEDULES: dict[tuple[str, str, str], list[int]] = {
    ("mnist", "resnet", "zeros"): [3, 3, 5, 5, 5, 7, 7, 7, 9, 9, 11, 11, 11, 11, 13, 15, 15, 15, 15, 15],
    ("mnist", "unet", "zeros"): [3, 3, 3, 5, 5, 7, 7, 7, 9, 9, 9, 11, 13, 15, 17, 21, 23, 23, 25, 27],
    ("fashion_mnist", "resnet", "zeros"): [3, 3, 5, 5, 7, 7, 9, 9, 9, 11, 11, 11, 13, 13, 13, 15, 15, 15, 17, 17],
    ("cifar10", "resnet", "zeros"): [3, 3, 3, 3, 5, 5, 5, 7, 7, 7, 7, 9, 9, 11, 11, 13, 15, 17, 17, 17],
    ("mnist", "resnet", "circular"): [3, 3, 5, 5, 5, 7, 7, 9, 9, 9, 11, 11, 11, 11, 9, 9, 7, 7, 3, 3],
    ("fashion_mnist", "unet", "zeros"): [3, 3, 5, 5, 7, 7, 7, 9, 11, 11, 11, 13, 15, 15, 21, 23, 25, 25, 25, 25],
    ("cifar10", "resnet", "circular"): [3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15, 15],
    ("cifar10", "unet", "zeros"): [3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7, 9, 9, 11, 13, 13, 15, 17, 25],
    ("celeba", "resnet", "zeros"): [3, 3, 3, 5, 5, 5, 5, 5, 7, 7, 9, 9, 9, 11, 11, 11, 13, 15, 19, 19],
    ("celeba", "unet", "zeros"): [3, 3, 3, 3, 3, 3, 3, 5, 5, 5, 5, 5, 7, 7, 9, 9, 9, 13, 19, 27],
}


def agreement_row(data: str, net: str, padding: str, conditional: bool) -> PaperRow | None:
    """The paper's row for this configuration, or None if the paper has none."""
    for row in AGREEMENT:
        if (row.data, row.net, row.padding, row.conditional) == (data, net, padding, conditional):
            return row
    return None


def schedule(data: str, net: str, padding: str) -> list[int] | None:
    """The paper's published 20-step schedule for this configuration, or None."""
    return SCHEDULES.get((data, net, padding))

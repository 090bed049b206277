"""Where the committed results live: trained checkpoints (``models/``), reproduction results
(``results/``) and benchmarks (``bench/``) under the repository's ``artifacts/`` folder.

The folder is ``$ELS_ARTIFACTS`` when set (the book's Colab cell sets it to its clone), else
``artifacts/`` beside the installed ``els`` package (a clone with ``pip install -e .``).
"""
from __future__ import annotations

import os
from pathlib import Path

RECOMPUTE = {
    "models": "python -m els train ... (the book's appendix 'Results in full' lists each network's command)",
    "results": "python -m els reproduce --preset laptop",
    "bench": "python -m els bench",
}


def root() -> Path:
    """The artifacts folder (it may not exist: see :func:`path`)."""
    if os.environ.get("ELS_ARTIFACTS"):
        return Path(os.environ["ELS_ARTIFACTS"])
    return Path(__file__).resolve().parents[2] / "artifacts"


def path(*parts: str, required: bool = True) -> Path:
    """``root() / parts``; with ``required``, a FileNotFoundError that says how to get it."""
    p = root().joinpath(*parts)
    if required and not p.exists():
        how = RECOMPUTE.get(parts[0] if parts else "", "clone the repository")
        raise FileNotFoundError(
            f"{p} does not exist. The committed artifacts come with a clone of the book's repository "
            f"(or set ELS_ARTIFACTS to its artifacts folder); to recompute: {how}")
    return p

"""The paper's colour rows in one command, for readers with a GPU (book chapter 9): CIFAR10,
class-conditional ResNet and UNet with zero padding, trained (or resumed) at a preset within
a stated time budget per network, then calibrated and compared with every machine
(:func:`els.reproduce.reproduce_model`), printed beside the paper's rows.

    python -m els cifar10 --preset paper --max-minutes 60 [--root FOLDER] [--models-dir runs/models] [--out runs/results]

Online, CIFAR10 comes through torchvision; offline, ``--root`` names a folder of the python
batches (``data_batch_1..5``, ``test_batch``), which is then also the data cache for the run.
Tested end to end at the ``smoke`` preset on synthetic batches in that format
(``tests/test_colour.py``): only the download is untested offline.
"""
from __future__ import annotations

from pathlib import Path

from .. import data
from . import harness, reproduce

ARCHS = ("resnet", "unet")


def model_name(arch: str) -> str:
    """The folder name of the CIFAR10 network of ``arch`` (class-conditional, zero padding)."""
    return f"cifar10_{arch}_zeros"


def reproduce_cifar10(preset: str = "paper", max_minutes: float | None = None, root: str | Path | None = None,
                      models_dir: Path = Path("runs/models"), out: Path = Path("runs/results"),
                      archs=ARCHS, progress: bool = True, resume: bool = False, force: bool = False) -> list[dict]:
    """Train or resume each of ``archs`` on CIFAR10 at ``preset`` (at most ``max_minutes`` of
    training per network, counted across resumes; default the preset's budget), then
    reproduce its row; returns the summaries. ``root``: a folder of CIFAR10 python batches
    (offline), also the data cache of the training runs. Results already in
    ``out`` are refused unless ``resume`` or ``force`` (as for ``reproduce``)."""
    if root is not None:
        data.load_raw("cifar10", "train", root=root)  # checks the batches there and fills the cache in root
    for arch in archs:
        harness.train_network("cifar10", arch, Path(models_dir) / model_name(arch), conditional=True, preset=preset,
                              root=root, max_minutes=max_minutes, resume=True, progress=progress,
                              command=f"els.studies.colour.reproduce_cifar10(preset={preset!r})")
    return [reproduce.reproduce_model(harness.ModelSpec(model_name(arch)), preset, Path(models_dir), Path(out),
                                      progress=progress, resume=resume, force=force, root=root,
                                      command=f"els.studies.colour.reproduce_cifar10(preset={preset!r})")
            for arch in archs]

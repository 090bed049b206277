"""What every study shares: the committed networks (:data:`MODELS`), the data each was
trained on, calibrated machines, and the results folders' ``summary.json`` and
``manifest.json``.

A study is run per model into ``<out>/<model>/<stage>/`` (``stage`` "" for the reproduction),
through :func:`els.storage.results_folder` (free space checked, one run at a time, refused
without ``resume`` or ``force`` when results are there) with :data:`RESULTS_BYTES` asked for.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import artifacts, paper, presets
from .. import data, models, train
from ..calibrate import Calibration, calibrate, default_candidates
from ..machines.matched import network_facts
from ..storage import git_commit, machine_info, write_atomic


@dataclass(frozen=True)
class ModelSpec:
    """A committed checkpoint: ``artifacts/models/<name>/model.pt`` with its manifest, and the
    training snapshots to evaluate too. Its dataset, architecture, padding and conditioning
    are read from the checkpoint (:func:`els.matched.network_facts`), never entered again."""

    name: str
    snapshots: tuple[str, ...] = ()


#: the committed laptop checkpoints
MODELS = (
    ModelSpec("mnist_resnet_zeros", ("15min",)),
    ModelSpec("mnist_unet_zeros"),
    ModelSpec("fashion_mnist_resnet_zeros", ("15min",)),
    ModelSpec("fashion_mnist_unet_zeros"),
    ModelSpec("mnist_resnet_circular"),
    ModelSpec("mnist_attention_unet_zeros"),  # self-attention: every pixel sees the whole image (chapter 9)
    ModelSpec("fashion_mnist_attention_unet_zeros"),
)
def study_folders(models_dir: str | Path | None, out: str | Path | None) -> tuple[Path, Path]:
    """The folders a study reads its networks from and writes its results to: the given ones,
    else the committed artifacts' ``models`` and ``results`` (:func:`els.studies.artifacts.path`),
    found the same way wherever the command runs from. Every study resolves its defaults here."""
    return (Path(models_dir) if models_dir is not None else artifacts.path("models"),
            Path(out) if out is not None else artifacts.path("results", required=False))


#: free space a study asks for before it writes a model's results (they take 0.5-2 MB)
RESULTS_BYTES = 20_000_000


def training_data(model_dir: Path, max_images: int | None = None, root: str | Path | None = None):
    """The training subset the network in ``model_dir`` saw, from its manifest: images (N, C, H, W)
    and labels (N,), or None for an unconditional network; the first ``max_images`` of a nested
    class-balanced subset when given. ``root``: the data cache (default ``$ELS_DATA`` or
    ``~/.cache/els``)."""
    info = json.loads((model_dir / "manifest.json").read_text())["dataset"]
    images, labels = data.load(info["name"], "train", max_images=max_images or info.get("max_images"),
                               seed=info.get("subset_seed", 0), root=root)
    return images, (labels if info.get("conditional") else None)


def write_summary(folder: Path, summary: dict, command: str, sizes: presets.EvalPreset, start: float,
                  **extra) -> None:
    """A stage's ``summary.json`` and its ``manifest.json`` (``command``, git commit, machine,
    ``sizes``, when the run started and its wall seconds since ``start`` (the
    ``time.perf_counter()`` value taken when the run began), ``extra``) in ``folder``; shared by
    every stage. The manifest names its run (:func:`run_id`); a resumed run keeps the manifests
    of the runs before it, oldest first, in ``earlier_runs``."""
    write_atomic(folder / "summary.json", json.dumps(summary, indent=1))
    elapsed = time.perf_counter() - start
    started = datetime.fromtimestamp(time.time() - elapsed, timezone.utc)
    this_run = run_id(start)
    manifest = {"command": command, "git": git_commit(), "machine": machine_info(), "sizes": asdict(sizes),
                "run_id": this_run, "started": started.isoformat(timespec="seconds"),
                "wall_seconds_last_run": elapsed, **extra}
    manifest["earlier_runs"] = earlier_runs(folder / "manifest.json", this_run)
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=1))


def run_id(start: float) -> str:
    """The id of the run that began at ``start`` (its ``time.perf_counter()`` value) in this
    process: ``"<pid>:<start>"``. Two runs never share one, however quickly one follows the
    other (a process has one clock reading per start; the monotonic clock is shared by
    processes), and a run that writes several summaries names each with the same id."""
    return f"{os.getpid()}:{start!r}"


def earlier_runs(path: Path, this_run: str) -> list[dict]:
    """The runs before run ``this_run`` (:func:`run_id`), from the manifest at ``path``: its
    ``earlier_runs``, plus the manifest itself unless this run wrote it (a manifest without a
    run id is an earlier run's)."""
    if not path.exists():
        return []
    previous = json.loads(path.read_text())
    history = previous.pop("earlier_runs", [])
    return history if previous.get("run_id") == this_run else history + [previous]


def read_summaries(results: Path, stage: str = "") -> dict[str, dict]:
    """``<model>/<stage>/summary.json`` of every model under ``results`` (``stage`` "" for the
    reproduction, else a study's ``STAGE``: ``"standing"``, ``"mechanisms"``, ``"handling"``,
    ``"dictionary"``), by model name, in the order of :data:`MODELS` (others after them)."""
    pattern = "/".join(part for part in ("*", stage, "summary.json") if part)
    found = {p.relative_to(results).parts[0]: json.loads(p.read_text()) for p in sorted(Path(results).glob(pattern))}
    return {m.name: found[m.name] for m in MODELS if m.name in found} | found


def calibrated(network, factory, images, labels, p: presets.EvalPreset, stem: Path, progress: bool) -> Calibration:
    """Calibrate the machines ``factory(images, labels)`` build against ``network`` with the
    sizes ``p`` asks for (candidates up to ``p.max_scale``), resuming from and saving to
    ``<stem>.jsonl`` and ``<stem>.json``; shared by reproduce and the dictionary-size study."""
    candidates = default_candidates(*images.shape[2:])
    if p.max_scale:
        candidates = [c for c in candidates if c <= p.max_scale]
    result = calibrate(network, factory, (images, labels), candidates, seeds=p.calibration_seeds, steps=p.steps,
                       out=stem.with_suffix(".jsonl"), batch_size=p.calibration_seeds, progress=progress)
    result.save(stem.with_suffix(".json"))
    return result


def paper_row(model_dir: Path) -> paper.PaperRow | None:
    """The paper's agreement row for the network whose checkpoint is in ``model_dir`` (by its
    data, architecture, padding and conditioning), or None where the paper has no such row."""
    facts = network_facts(model_dir)
    return paper.agreement_row(facts["data"], facts["arch"], facts["padding"], facts["conditional"])




def train_network(dataset: str, arch: str, out: str | Path, *, padding: str = "zeros", conditional: bool = False,
                  preset: str = "laptop", root: str | Path | None = None, max_minutes: float | None = None,
                  checkpoint_minutes: float = 10.0, steps: int | None = None, max_images: int | None = None,
                  batch_size: int | None = None, lr: float | None = None, warmup_steps: int | None = None,
                  resume: bool = False, force: bool = False, seed: int = 0, device: str | None = None,
                  progress: bool = True, command: str | None = None) -> "train.TrainResult":
    """Train a network of ``arch`` on ``dataset`` at ``preset`` into ``out`` (``python -m els
    train``): the preset's network sizes, subset (``max_images`` images, a class-balanced subset
    deterministic in ``seed``), optimiser and budget, each overridable; ``root`` is the data
    cache or image folder. ``resume``/``force`` as for :func:`els.train.train`. Returns its
    :class:`els.train.TrainResult`."""
    import torch

    tp = presets.get(preset).train
    max_images = max_images if max_images is not None else tp.max_images
    images, labels = data.load(dataset, "train", max_images=max_images, root=root, seed=seed)
    num_classes = int(labels.max()) + 1 if conditional else None
    if conditional and num_classes < 2:
        raise ValueError(f"a conditional network needs a labelled dataset; {dataset} has a single class")
    torch.manual_seed(seed)  # network initialisation
    model = models.build(arch, channels=images.shape[1], padding=padding, num_classes=num_classes,
                         **tp.model_kwargs(arch))
    batch = batch_size or tp.batch_size
    steps = steps if steps is not None else tp.total_steps(len(images), batch)
    max_minutes = max_minutes if max_minutes is not None else tp.max_minutes
    print(f"els train: {arch} ({padding}{', conditional' if num_classes else ''}), "
          f"{models.count_parameters(model):,} parameters, {len(images)} {dataset} images, "
          f"budget: {steps if steps is not None else 'no'} steps / "
          f"{max_minutes if max_minutes is not None else 'no'} minutes")
    return train.train(
        model, images, labels, steps=steps, max_minutes=max_minutes, batch_size=batch, lr=lr or tp.lr,
        lr_decay=tp.lr_decay, warmup_steps=warmup_steps if warmup_steps is not None else tp.warmup_steps,
        ema=tp.ema, seed=seed, out_dir=out, checkpoint_every=tp.checkpoint_every,
        checkpoint_minutes=checkpoint_minutes, resume=resume, force=force, device=device, progress=progress,
        data_info={"name": dataset, "split": "train", "max_images": max_images, "subset_seed": seed,
                   "conditional": bool(num_classes), "preset": preset},
        command=command)

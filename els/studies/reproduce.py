"""Calibrate and evaluate every committed checkpoint, and tabulate ours beside the paper's
(book appendix, §A.5, §A.6, §A.8). ``python -m els reproduce --preset laptop`` runs it; every stage writes
its results as it goes and is skipped or resumed when rerun.

Per model, under ``<out>/<model>/``: ``calibration_<machine>.jsonl|json`` (P(t) for ELS with
the network's padding and for LS), ``samples.csv`` (per-sample agreement, see
:mod:`els.evaluate`), ``summary.json`` and figures; per training snapshot, the same under
``snapshots/<name>/`` with ELS and IS only.
"""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import torch

from . import artifacts, paper, presets
from .. import models
from ..book import plotting
from ..evaluate import evaluate, summarise
from ..machines.matched import machine_for, network_facts
from ..sampling import classes_of, sample, seeded_inputs
from ..storage import results_folder, timing_path
from .harness import RESULTS_BYTES, ModelSpec, calibrated, paper_row, study_folders, training_data, write_summary


SNAPSHOT_SEEDS = 30  # per training snapshot (fewer only when the preset has fewer)
GALLERY_SEEDS = 8  # seeds shown in gallery.png
EVAL_BATCH = 25  # seeds sampled together (larger products; results are written per batch)


def reproduce_model(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                    out: Path | None = None, progress: bool = True,
                    sizes: presets.EvalPreset | None = None, command: str | None = None,
                    resume: bool = False, force: bool = False, root: str | Path | None = None) -> dict:
    """Calibrate ELS and LS against one checkpoint, evaluate IS, LS, ELS (ours and, where
    published, the paper's schedule) and each snapshot; returns the summary. ``sizes``
    overrides the preset's evaluation sizes; ``command`` is recorded in ``manifest.json``
    (default: this function call). Results already in ``out/<name>`` are refused unless
    ``resume=True`` (finish and keep them: nothing computed is recomputed) or ``force=True``
    (delete them and start again). ``root``: the data cache the training images come from."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    with results_folder(out / spec.name, resume, force, need_bytes=RESULTS_BYTES) as here:
        return _reproduce_into(here, spec, p, preset, models_dir, progress, command, root)


def _reproduce_into(out: Path, spec: ModelSpec, p: presets.EvalPreset, preset: str, models_dir: Path,
                    progress: bool, command: str | None, root: str | Path | None) -> dict:
    """``reproduce_model``'s work, writing into the held results folder ``out``."""
    model_dir = models_dir / spec.name
    images, labels = training_data(model_dir, p.calibration_images, root)
    network = models.load(model_dir / "model.pt")
    start = time.perf_counter()
    matched = partial(machine_for, model_dir)  # padding and labels as the network was trained
    schedules = {kind: calibrated(network, partial(matched, kind), images, labels, p, out / f"calibration_{kind}",
                                   progress)
                 for kind in ("ELS", "LS")}
    calibration_s = time.perf_counter() - start
    els_machine = matched("ELS", images, labels)
    machines = {"IS": (matched("IS", images, labels), None),
                "LS": (matched("LS", images, labels), schedules["LS"].schedule),
                "ELS": (els_machine, schedules["ELS"].schedule)}
    facts = network_facts(model_dir)
    published = paper.schedule(facts["data"], facts["arch"], facts["padding"])
    if published and p.steps == len(published):
        machines["ELS (paper schedule)"] = (els_machine, published)
    rows = evaluate(network, machines, seeds=p.n_seeds, steps=p.steps, network_steps=p.network_steps,
                    out=out / "samples.csv", batch_size=EVAL_BATCH, progress=progress)
    summary = {"model": spec.name, "preset": preset, "images": len(images), "quick": p.quick,
               "schedules": {k: v.schedule for k, v in schedules.items()}, "paper_schedule": published,
               "calibration_seconds_this_run": calibration_s,
               "timing": json.loads(timing_path(out / "samples.csv").read_text()),
               "agreement": summarise(rows), "snapshots": {}}
    for name in spec.snapshots:
        snap = models.load(model_dir / "snapshots" / name / "model.pt")
        snap_out = out / "snapshots" / name
        schedule = calibrated(snap, partial(matched, "ELS"), images, labels, p, snap_out / "calibration_ELS",
                               progress)
        snap_rows = evaluate(snap, {"IS": machines["IS"], "ELS": (els_machine, schedule.schedule)},
                             seeds=min(p.n_seeds, SNAPSHOT_SEEDS), steps=p.steps,
                             network_steps=p.network_steps[:1], out=snap_out / "samples.csv", batch_size=EVAL_BATCH,
                             progress=progress)
        summary["snapshots"][name] = {"schedule": schedule.schedule, "agreement": summarise(snap_rows)}
    write_summary(out, summary, command or f"els.reproduce.reproduce_model({spec.name!r}, preset={preset!r})", p,
                  start, seconds_per_sample={k: v["seconds"] / v["samples"] for k, v in summary["timing"].items()})
    import matplotlib.pyplot as plt

    gallery = gallery_samples(network, machines, range(GALLERY_SEEDS), max(p.network_steps), p.steps)
    for fig, name in ((plotting.agreement_figure(rows, spec.name), "agreement.png"),
                      (plotting.schedule_figure(summary["schedules"], published, spec.name), "schedules.png"),
                      (plotting.gallery_figure(gallery, f"{spec.name}: network and machines from the same noise"),
                       "gallery.png")):
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
    return summary


def gallery_samples(network, machines: dict, seeds, network_steps: int, steps: int) -> dict[str, torch.Tensor]:
    """Samples ``(S, C, H, W)`` from the same seeded noise and labels (one per seed in ``seeds``):
    the network's (``network_steps`` DDIM steps) first, then each machine's (``machines``: name
    -> ``(machine, schedule)``; ``steps`` steps), keyed by row label for
    :func:`els.plotting.gallery_figure`."""
    first = next(iter(machines.values()))[0]
    classes = classes_of(first.labels, network)
    noise, labels = seeded_inputs(list(seeds), first.images.shape[1:], classes)
    noise = noise.to(first.images.dtype)
    rows = {f"network\n({network_steps} steps)": sample(network, noise, network_steps, label=labels).cpu()}
    for name, (machine, scales) in machines.items():
        rows[name] = sample(machine, noise, steps, scales, label=labels).cpu()
    return rows


def table(summaries: list[dict], network_steps: int = 150, models_dir: Path | None = None) -> str:
    """Markdown table: our medians (r and r^2) beside the paper's, one row per model (by its
    short label, :func:`els.book.plotting.model_label`; the networks' facts from their checkpoints
    in ``models_dir``, default the committed ones)."""
    lines = ["| model | ELS r (paper) | LS r (paper) | IS r (paper) | ELS r^2 | LS r^2 | IS r^2 | ELS > IS (paper) | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        ref = paper_row((models_dir or artifacts.path("models")) / s["model"])
        agree = s["agreement"].get(str(network_steps)) or s["agreement"][max(s["agreement"], key=int)]

        def cell(machine, metric="r", paper_value=None):
            if machine not in agree:
                return "-"
            value = f"{agree[machine][metric]['median']:.2f}"
            return value if paper_value is None else f"{value} ({paper_value:.2f})"

        beats = agree.get("ELS", {}).get("beats_IS")
        lines.append(
            f"| {plotting.model_label(s['model'])} | {cell('ELS', 'r', ref and ref.ELS)} | {cell('LS', 'r', ref and ref.LS)} | "
            f"{cell('IS', 'r', ref and ref.IS)} | {cell('ELS', 'r2')} | {cell('LS', 'r2')} | {cell('IS', 'r2')} | "
            f"{'-' if beats is None else f'{beats:.2f}'}{'' if ref is None else f' ({ref.beats_IS:.2f})'} | "
            f"{agree.get('ELS', {}).get('n', '-')} |")
    return "\n".join(lines)

"""This book's sampling grid against the paper's released handling (book appendix, §A.2; chapter 9).

The paper's released code samples its machines from t = (n - 1) / n, not t = 1, and reads the
patch-size schedule one entry late (:func:`els.sampling.sample` with ``released=True``). For a
model whose network the paper published a schedule for, :func:`handling_model` scores ELS
with our calibrated schedule and with the published one, each on our grid and under the
released handling, against the network at its longest step count, on the first
:data:`HANDLING_SEEDS` evaluation seeds. Rows on our grid are taken from ``reproduce``'s
``samples.csv`` where it has them (the same seeds give the same samples); the others are
computed here. ``python -m els handling --preset laptop`` runs it for every such model.
"""
from __future__ import annotations

import time
from pathlib import Path

from .. import models
from . import paper, presets
from ..calibrate import Calibration
from ..evaluate import evaluate, read_rows, summarise
from ..machines.matched import machine_for, network_facts
from .harness import RESULTS_BYTES, ModelSpec, study_folders, training_data, write_summary
from ..storage import results_folder

#: seeds per row (the first of the evaluation seeds)
HANDLING_SEEDS = 20
BATCH = 10  # seeds sampled together (rows are written per batch)
#: row names: (schedule, released) -> machine name in the rows and the summary
ROWS = {("calibrated", False): "ELS", ("paper", False): "ELS (paper schedule)",
        ("calibrated", True): "ELS (released)", ("paper", True): "ELS (paper schedule; released)"}


#: the folder under ``<results>/<model>/`` that holds this study (``harness.read_summaries(results, STAGE)``)
STAGE = "handling"
def handling_model(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                   out: Path | None = None, sizes: presets.EvalPreset | None = None,
                   progress: bool = True, command: str | None = None, resume: bool = False,
                   force: bool = False) -> dict:
    """The four rows of :data:`ROWS` for one reproduced model, written under
    ``<out>/<name>/handling/``: ``samples_grid.csv`` and ``samples_released.csv`` (the rows
    computed here, on our grid and under the released handling), ``summary.json``
    (seeds, both schedules, and :func:`els.evaluate.summarise` of all four rows at the
    network's longest step count) and ``manifest.json``. Refused for a model without a
    published schedule of ``sizes.steps`` entries, or before ``reproduce``."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    model_out, model_dir = out / spec.name, models_dir / spec.name
    published = published_schedule(model_dir, p.steps)
    if published is None:
        raise ValueError(f"the paper publishes no {p.steps}-step schedule for {spec.name}'s network; "
                         "see els.paper.SCHEDULES")
    if not (model_out / "calibration_ELS.json").exists():
        raise FileNotFoundError(f"no calibrated schedule in {model_out}: run python -m els reproduce for "
                                f"{spec.name} first")
    k = max(p.network_steps)
    seeds = list(range(min(HANDLING_SEEDS, p.n_seeds)))
    reproduced = [r for r in read_rows(model_out / "samples.csv") if r["network_steps"] == k and r["seed"] in seeds]
    covered = {name for name in ROWS.values() if {r["seed"] for r in reproduced if r["machine"] == name} == set(seeds)}
    reproduced = [r for r in reproduced if r["machine"] in covered]
    with results_folder(model_out / STAGE, resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        images, labels = training_data(model_dir, p.calibration_images)
        network = models.load(model_dir / "model.pt")
        schedules = {"calibrated": Calibration.load(model_out / "calibration_ELS.json").schedule, "paper": published}
        machine = machine_for(model_dir, "ELS", images, labels)
        rows = list(reproduced)
        for released, grid in ((False, "grid"), (True, "released")):
            todo = {name: (machine, schedules[schedule]) for (schedule, rel), name in ROWS.items()
                    if rel == released and name not in covered}
            if todo:
                rows += evaluate(network, todo, seeds=seeds, steps=p.steps, network_steps=(k,),
                                 out=here / f"samples_{grid}.csv", batch_size=BATCH, progress=progress,
                                 released=released)
        summary = {"model": spec.name, "seeds": seeds, "network_steps": k, "schedules": schedules,
                   "from_reproduce": sorted(covered),
                   "agreement": summarise(rows)[str(k)]}
        write_summary(here, summary, command or f"els.handling.handling_model({spec.name!r}, preset={preset!r})",
                      p, start)
        return summary


def published_schedule(model_dir: Path, steps: int) -> list[int] | None:
    """The paper's ``steps``-step schedule for the network saved in ``model_dir``, or None."""
    facts = network_facts(model_dir)
    published = paper.schedule(facts["data"], facts["arch"], facts["padding"])
    return published if published is not None and len(published) == steps else None


def table(summaries: dict[str, dict], metric: str = "r") -> str:
    """Markdown table of median ``metric`` ("r" or "R2") against the network: one row per
    model (short label), one column per schedule and grid (:data:`ROWS`), and the seed count."""
    from ..book.plotting import model_label

    lines = ["| model | ELS, our schedule: our grid | released | ELS, paper's schedule: our grid | released | n |",
             "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        cells = [f"{s['agreement'][ROWS[key]][metric]['median']:.2f}"
                 for key in (("calibrated", False), ("calibrated", True), ("paper", False), ("paper", True))]
        lines.append(f"| {model_label(name)} | {' | '.join(cells)} | {len(s['seeds'])} |")
    return "\n".join(lines)

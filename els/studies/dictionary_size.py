"""How agreement depends on the number of training images the machines hold (book chapter 9).

The laptop reproduction gives each machine ``N = 500`` of the 4,000 images its network
trained on. This study repeats the comparison at other ``N`` (nested class-balanced subsets
of the network's training subset, so every smaller dictionary is part of every larger one),
on :data:`SEEDS` evaluation seeds that no calibration used, against the network at its
longest step count. Per ``N``, under ``<out>/<model>/dictionary/N<N>/``:

- ``samples.csv`` (stage "fixed"): IS, and LS and ELS with the schedules calibrated at the
  reproduction's ``N``, so that only the dictionary changes; ``images.pt`` keeps every
  final image (the exact machine's samples, the reference for fast approximations);
- ``calibration_ELS|LS.json(l)`` and ``recalibrated.csv`` (stage "recalibrated"): P(t)
  calibrated again at this ``N`` (6 seeds, as in the reproduction) and ELS and LS with it,
  and IS again, so that this stage alone is the reproduction at ``N``.

``summary.json`` in ``dictionary/`` holds, per ``N`` with complete rows, the medians of r,
r^2 and R^2 of every row, the schedules, the seconds per sample of each machine and the
wall seconds each calibration took where it was timed (on the machine that ran it).
``python -m els dictionary --models NAME ... [--sizes N ...] [--stages fixed recalibrated]``
runs it; every part resumes.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from .. import models
from ..book import plotting
from . import presets
from ..calibrate import Calibration
from ..evaluate import evaluate, read_rows, summarise
from ..machines.matched import machine_for
from .harness import RESULTS_BYTES, ModelSpec, calibrated, study_folders, training_data, write_summary
from ..storage import read_timing, results_folder

#: dictionary sizes (training images the machines hold)
SIZES = (125, 500, 1000, 2000, 4000)
#: evaluation seeds: after the reproduction's calibration seeds (0-5), the same for every N
SEEDS = tuple(range(6, 36))
#: the folder under ``<results>/<model>/`` that holds this study (``harness.read_summaries(results, STAGE)``)
STAGE = "dictionary"
STAGES = ("fixed", "recalibrated")
BATCH = 10  # seeds sampled together (rows are written per batch)


def dictionary_study(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                     out: Path | None = None, sizes: presets.EvalPreset | None = None, progress: bool = True,
                     n_images=SIZES, stages=STAGES, seeds=SEEDS,
                     command: str | None = None, resume: bool = False, force: bool = False) -> dict:
    """Run the chosen ``stages`` of the study (module docstring) for one reproduced model at
    each number of training images in ``n_images``, all of them before the next stage (evaluation
    sizes: ``sizes``, default the preset's); returns the summary. Refused before
    ``reproduce``, or for an ``N`` above the network's training subset."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    model_out, model_dir = out / spec.name, models_dir / spec.name
    if not (model_out / "calibration_ELS.json").exists():
        raise FileNotFoundError(f"no calibrated schedule in {model_out}: run python -m els reproduce for "
                                f"{spec.name} first")
    trained = len(training_data(model_dir)[0])
    if max(n_images) > trained:
        raise ValueError(f"{spec.name} trained on {trained} images; the machines cannot hold {max(n_images)} of them")
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    with results_folder(model_out / STAGE, resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        network = models.load(model_dir / "model.pt")
        fixed = {kind: Calibration.load(model_out / f"calibration_{kind}.json").schedule for kind in ("ELS", "LS")}
        k = max(p.network_steps)
        matched = partial(machine_for, model_dir)  # padding and labels as the network was trained
        for stage in (s for s in STAGES if s in stages):
            for n in sorted(n_images):
                folder = here / f"N{n}"
                folder.mkdir(exist_ok=True)
                images, labels = training_data(model_dir, n)
                if stage == "fixed":
                    machines = {"IS": (matched("IS", images, labels), None),
                                "LS": (matched("LS", images, labels), fixed["LS"]),
                                "ELS": (matched("ELS", images, labels), fixed["ELS"])}
                    evaluate(network, machines, seeds=list(seeds), steps=p.steps, network_steps=(k,),
                             out=folder / "samples.csv", batch_size=BATCH, progress=progress,
                             images_out=folder / "images.pt")
                else:
                    schedules = {kind: calibrated(network, partial(matched, kind), images, labels, p,
                                                  folder / f"calibration_{kind}", progress).schedule
                                 for kind in ("ELS", "LS")}
                    machines = {"IS": (matched("IS", images, labels), None)}  # so this stage alone is a reproduction
                    machines |= {f"{kind} (recalibrated)": (matched(kind, images, labels), schedules[kind])
                                 for kind in ("LS", "ELS")}
                    evaluate(network, machines, seeds=list(seeds), steps=p.steps, network_steps=(k,),
                             out=folder / "recalibrated.csv", batch_size=BATCH, progress=progress)
                summary = summarise_study(here, fixed, k, len(seeds))
                write_summary(here, summary, command or f"els.dictionary_size.dictionary_study({spec.name!r})", p,
                              start, stages=list(stages), dictionary_sizes=sorted(n_images))
        return summarise_study(here, fixed, k, len(seeds))


def summarise_study(folder: Path, fixed: dict, network_steps: int, n_seeds: int) -> dict:
    """The study's summary from the rows under ``folder`` (``dictionary/``): per ``N`` whose
    rows cover ``n_seeds`` seeds, medians and timing of every machine, and the schedules."""
    sizes = {}
    for sub in sorted(folder.glob("N*"), key=lambda f: int(f.name[1:])):
        entry = {"machines": {}, "seconds_per_sample": {}}
        for csv in ("samples.csv", "recalibrated.csv"):
            rows = [r for r in read_rows(sub / csv) if r["network_steps"] == network_steps]
            by_machine = summarise(rows).get(str(network_steps), {})
            entry["machines"].update({m: {"r": v["r"]["median"], "r2": v["r2"]["median"], "R2": v["R2"]["median"],
                                          "n": v["n"]}
                                      for m, v in by_machine.items() if v["n"] == n_seeds})
            entry["seconds_per_sample"].update({m: v["seconds"] / v["samples"]
                                                for m, v in read_timing(sub / csv, {}).items()})
        entry["schedules"] = {kind: Calibration.load(sub / f"calibration_{kind}.json").schedule
                              for kind in ("ELS", "LS") if (sub / f"calibration_{kind}.json").exists()}
        entry["calibration_seconds"] = {kind: timing["seconds"] for kind in ("ELS", "LS")
                                        if (timing := read_timing(sub / f"calibration_{kind}.jsonl", {}))}
        if entry["machines"]:
            sizes[sub.name[1:]] = entry
    return {"network_steps": network_steps, "seeds": n_seeds, "fixed_schedules": fixed, "sizes": sizes}


def calibrated_row(summary: dict, n: int, kind: str, reproduced: int = 500) -> dict | None:
    """The medians (``{"r", "r2", "R2", "n"}``) of machine ``kind`` ("IS", "LS", "ELS") at
    ``n`` images in a study's ``summary`` with its schedule calibrated at that size: the
    recalibrated row, or the reproduction's where ``n`` is the ``reproduced`` size (its
    schedule was calibrated there); IS has no schedule. None where the study has no such row."""
    machines = summary["sizes"].get(str(n), {}).get("machines", {})
    return machines.get(f"{kind} (recalibrated)") or (machines.get(kind) if kind == "IS" or n == reproduced else None)


def calibrated_schedule(summary: dict, n: int, kind: str, reproduced: int = 500) -> list[int] | None:
    """The P(t) of ``kind`` ("ELS", "LS") calibrated at ``n`` images in a study's ``summary``:
    the study's own calibration there, or the reproduction's at the ``reproduced`` size; None
    where neither exists."""
    own = summary["sizes"].get(str(n), {}).get("schedules", {}).get(kind)
    return own or (summary["fixed_schedules"].get(kind) if n == reproduced else None)


def whole_set_table(summaries: dict[str, dict], small: int = 500, large: int = 4000, reproduced: int = 500) -> str:
    """Markdown table of the reproduction at ``large`` training images beside ``small``: one
    row per model whose study (``summaries``: model name -> :func:`summarise_study` output)
    has both sizes, cells "value at small → value at large" of the median r, r^2 and R^2 of
    ELS and LS calibrated at that size (the reproduction's schedule at ``reproduced`` images,
    where the study did not recalibrate) and of IS; then the CPU minutes of the reproduction at
    ``large``: both calibrations and every machine and the network on the study's seeds ("-"
    where a calibration was not timed)."""
    from ..book.plotting import model_label

    lines = ["| model | ELS r | ELS r^2 | ELS R^2 | LS r | LS R^2 | IS r | IS R^2 | minutes at N = "
             f"{large:,} | seeds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        if not {str(small), str(large)} <= set(s["sizes"]):
            continue

        def cell(kind, metric):
            a, b = (calibrated_row(s, n, kind, reproduced) for n in (small, large))
            return " → ".join("-" if v is None else f"{v[metric]:.2f}" for v in (a, b))

        big = s["sizes"][str(large)]
        timing = big["seconds_per_sample"]
        parts = [f"network@{s['network_steps']}", "IS", "LS (recalibrated)", "ELS (recalibrated)"]
        calibration = big.get("calibration_seconds", {})
        if set(calibration) == {"ELS", "LS"} and all(p in timing for p in parts):
            minutes = f"{(sum(calibration.values()) + s['seeds'] * sum(timing[p] for p in parts)) / 60:.1f}"
        else:
            minutes = "-"
        lines.append(f"| {model_label(name)} | {cell('ELS', 'r')} | {cell('ELS', 'r2')} | {cell('ELS', 'R2')} | "
                     f"{cell('LS', 'r')} | {cell('LS', 'R2')} | {cell('IS', 'r')} | {cell('IS', 'R2')} | {minutes} | "
                     f"{s['seeds']} |")
    return "\n".join(lines)


def whole_set_summary(summaries: dict[str, dict], small: int = 500, large: int = 4000, reproduced: int = 500) -> str:
    """One paragraph on :func:`whole_set_table`'s models with every machine at both sizes: the
    range of the change of each machine's median r from ``small`` to ``large`` images, ELS's
    smallest lead over IS at ``large``, and at how many steps the ELS patch size calibrated at
    ``large`` is larger and smaller than at ``small`` (where both schedules are known; "" when
    no model has every machine at both sizes)."""
    kinds = ("ELS", "LS", "IS")
    pairs = {name: {k: [calibrated_row(s, n, k, reproduced) for n in (small, large)] for k in kinds}
             for name, s in summaries.items()}
    complete = {name: p for name, p in pairs.items() if all(a and b for a, b in p.values())}
    if not complete:
        return ""
    change = {k: [p[k][1]["r"] - p[k][0]["r"] for p in complete.values()] for k in kinds}
    lead = min(p["ELS"][1]["r"] - p["IS"][1]["r"] for p in complete.values())
    ranges = ", ".join(f"{k} by {min(v):+.2f} to {max(v):+.2f}" for k, v in change.items())
    networks = f"{len(complete)} network{'s' * (len(complete) > 1)}"
    text = (f"From {small:,} to {large:,} training images, on the {networks} with both sizes, "
            f"median r changes: {ranges}. With all {large:,} images ELS still leads IS by at least {lead:.2f} "
            "in median r.")
    schedules = [[calibrated_schedule(summaries[name], n, "ELS", reproduced) for n in (small, large)]
                 for name in complete]
    shifts = [(sum(b > a for a, b in zip(*pair)), sum(b < a for a, b in zip(*pair))) for pair in schedules
              if all(pair)]
    if shifts:
        (lo_up, hi_up), (lo_down, hi_down) = ((min(c), max(c)) for c in zip(*shifts))
        steps = len(next(pair for pair in schedules if all(pair))[0])
        coverage = (f" (on {len(shifts)} of the {len(complete)} networks; the study lacks the others' schedules)"
                    if len(shifts) < len(complete) else "")
        text += (f" The ELS patch size calibrated at {large:,} images is larger than at {small:,} at "
                 f"{_span(lo_up, hi_up)} of the {steps} steps and smaller at {_span(lo_down, hi_down)} of them"
                 f"{coverage}.")
    return text


def still_to_run(summaries: dict[str, dict], models_dir: Path | None = None, large: int = 4000) -> list[str]:
    """Labels of the reproduced networks with a row in the paper's table whose study lacks ELS
    calibrated at ``large`` images, in the reproduction's order (checkpoints in ``models_dir``,
    default the committed ones)."""
    from . import artifacts
    from .harness import MODELS, paper_row

    return [plotting.model_label(spec.name) for spec in MODELS
            if paper_row((models_dir or artifacts.path("models")) / spec.name)
            and calibrated_row(summaries.get(spec.name, {"sizes": {}}), large, "ELS") is None]


def whole_set_markdown(summaries: dict[str, dict], models_dir: Path | None = None, large: int = 4000) -> str:
    """The results appendix's block on the reproduction at ``large`` images: :func:`whole_set_table`, the
    :func:`whole_set_summary` paragraph, and a line naming the networks :func:`still_to_run`
    (none once every one is done). ``python -m els dictionary --markdown`` prints it."""
    missing = still_to_run(summaries, models_dir, large)
    block = whole_set_table(summaries, large=large) + "\n\n" + whole_set_summary(summaries, large=large)
    return block + (f"\nStill to run at {large:,} images: {', '.join(missing)}." if missing else "")


def _span(low: int, high: int) -> str:
    """``"3"`` or ``"2 to 5"``."""
    return str(low) if low == high else f"{low} to {high}"

"""How networks and machines part along a trajectory, and what their samples look like
(book chapter 9): after ``python -m els reproduce`` (its calibrated P(t)) and ``standing`` (its
final images), per model under ``<out>/<model>/mechanisms/``:

* ``trajectory.json``: single-step agreement (:func:`els.evaluate.along_trajectory`): on the
  network's own DDIM trajectory from each seed, the Pearson r of each machine's x0 estimate
  (IS, LS and ELS with their calibrated schedules) with the network's, per step and seed;
* ``sensitivity.pt``: the network's mean |d x0_hat[centre] / d x_t| map per step, over the same
  seeds (float32 (steps, C, H, W), low noise first);
* ``summary.json``: medians of r per step, and the spatial-inconsistency counts of
  :func:`components` for the final images of ``standing`` (network, ELS, IS) and for test
  images; ``manifest.json``.

Seeds: the evaluation seeds of ``standing`` (disjoint from the calibration seeds), the first
:data:`SEEDS` of them.
"""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .. import data, models
from . import presets
from ..calibrate import Calibration
from ..evaluate import along_trajectory, read_images
from ..machines.matched import machine_for, network_facts
from .harness import RESULTS_BYTES, ModelSpec, study_folders, training_data, write_summary
from .standing import network_sensitivity
from ..storage import results_folder, save_atomic, write_atomic

SEEDS = 30  # trajectories per model
MACHINES = ("IS", "LS", "ELS")
#: a pixel is foreground when brighter than this (images in [-1, 1]); a component counts when it
#: has at least MIN_AREA pixels (single stray pixels are noise, not a stroke)
LEVEL, MIN_AREA = 0.0, 3
TEST_IMAGES = 200


#: the folder under ``<results>/<model>/`` that holds this study (``harness.read_summaries(results, STAGE)``)
STAGE = "mechanisms"
def components(images: torch.Tensor, level: float = LEVEL, min_area: int = MIN_AREA) -> torch.Tensor:
    """Spatial inconsistency, counted: the number of 8-connected foreground regions (pixels
    brighter than ``level`` in the channel mean) of at least ``min_area`` pixels in each image
    of ``images (B, C, H, W)`` in ``[-1, 1]``. A clean digit is one region; extra strokes, broken
    strokes and stray blobs add regions. Returns (B,) int64."""
    fg = (torch.as_tensor(images).float().mean(1) > level).cpu().numpy()
    counts = []
    for mask in fg:
        seen = np.zeros_like(mask)
        n = 0
        for start in zip(*np.nonzero(mask)):
            if seen[start]:
                continue
            seen[start], stack, area = True, [start], 0
            while stack:
                r, c = stack.pop()
                area += 1
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < mask.shape[0] and 0 <= cc < mask.shape[1] and mask[rr, cc] and not seen[rr, cc]:
                            seen[rr, cc] = True
                            stack.append((rr, cc))
            n += area >= min_area
        counts.append(n)
    return torch.tensor(counts, dtype=torch.int64)


def centre_to_border(images: torch.Tensor, inner: int = 16) -> float:
    """Where the ink sits: mean brightness (images in ``[-1, 1]`` mapped to ``[0, 1]``) of the
    central ``inner x inner`` square over the mean brightness of the rest, for ``images (B, C,
    H, W)`` together. About 1 when strokes fall anywhere; above 1 when they are centred."""
    m = ((torch.as_tensor(images).double() + 1) / 2).mean((0, 1))
    H, W = m.shape
    top, left = (H - inner) // 2, (W - inner) // 2
    centre = m[top:top + inner, left:left + inner]
    return float(centre.mean() / ((m.sum() - centre.sum()) / (H * W - inner * inner)))


def component_summary(counts: torch.Tensor) -> dict:
    """Mean count, and the share of images with more than one region, of :func:`components`."""
    counts = torch.as_tensor(counts)
    return {"n": len(counts), "mean": float(counts.double().mean()), "share_above_1": float((counts > 1).double().mean()),
            "counts": counts.tolist()}


def mechanisms_model(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                     out: Path | None = None, sizes: presets.EvalPreset | None = None,
                     progress: bool = True, command: str | None = None, resume: bool = False,
                     force: bool = False) -> dict:
    """Write the module docstring's files for one model and return its summary. Needs the
    model's reproduction (``out/<name>/calibration_*.json``) and standing run
    (``out/<name>/standing/``). Results already there are refused unless ``resume=True`` (the
    trajectory and sensitivity files are reused) or ``force=True``."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    model_out = out / spec.name
    needed = [model_out / f"calibration_{kind}.json" for kind in ("ELS", "LS")]
    needed += [model_out / "standing" / name for name in ("summary.json", "final_images.pt")]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)}: run python -m els reproduce and python -m els standing "
                                f"for {spec.name} first")
    with results_folder(model_out / STAGE, resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        model_dir = models_dir / spec.name
        images, labels = training_data(model_dir, p.calibration_images)
        network = models.load(model_dir / "model.pt")
        matched = partial(machine_for, model_dir)
        schedules = {kind: Calibration.load(model_out / f"calibration_{kind}.json").schedule for kind in ("ELS", "LS")}
        machines = {"IS": (matched("IS", images, labels), None), "LS": (matched("LS", images, labels), schedules["LS"]),
                    "ELS": (matched("ELS", images, labels), schedules["ELS"])}
        standing = json.loads((model_out / "standing" / "summary.json").read_text())
        seeds = standing["evaluation_seeds"][:SEEDS]
        path = here / "trajectory.json"
        if not path.exists():
            r = along_trajectory(network, machines, seeds=seeds, steps=p.steps)
            write_atomic(path, json.dumps({"t": [(i + 1) / p.steps for i in range(p.steps)], "seeds": seeds,
                                           "r": {name: v.tolist() for name, v in r.items()}}))
        trajectory = json.loads(path.read_text())
        path = here / "sensitivity.pt"
        if not path.exists():
            save_atomic(network_sensitivity(network, machines["IS"][0], seeds, p.steps, progress).float(), path)
        stored = read_images(model_out / "standing" / "final_images.pt")
        facts = network_facts(model_dir)
        test, _ = data.load(facts["data"], "test", max_images=TEST_IMAGES, seed=0)
        reference = standing["reference"]
        summary = {"model": spec.name, "seeds": seeds, "t": trajectory["t"],
                   # the median as everywhere in the book (els.evaluate.summarise): halfway between the middle two
                   "r_median": {name: torch.tensor(v, dtype=torch.float64).quantile(0.5, dim=1).tolist()
                                for name, v in trajectory["r"].items()},
                   "components": {"level": LEVEL, "min_area": MIN_AREA,
                                  "network": component_summary(components(stored["images"][reference])),
                                  **{name: component_summary(components(stored["images"][name])) for name in MACHINES},
                                  "test images": component_summary(components(test))}}
        write_summary(here, summary, command or f"els.mechanisms.mechanisms_model({spec.name!r}, preset={preset!r})",
                      p, start)
        return summary


def wrap_dictionary(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                    out: Path | None = None, sizes: presets.EvalPreset | None = None,
                    progress: bool = True, command: str | None = None, resume: bool = False,
                    force: bool = False) -> dict:
    """For a circularly padded network: the circular ELS machine with the dictionary of every
    window of the training images, wrapping ones included (``train_patches="wrap"``, the
    optimum of chapter 6), against the one ``reproduce`` and ``standing`` use (``"valid"``:
    windows that do not wrap), both at the calibrated P(t), on the comparison seeds of
    ``standing`` with the network at 150 steps. Writes ``samples.csv`` (the wrap machine's
    rows), ``summary.json`` (median r and R^2 of both, per-seed r of both) and
    ``manifest.json`` under ``<out>/<name>/wrap/``; the valid machine's rows are standing's."""
    models_dir, out = study_folders(models_dir, out)
    from ..evaluate import evaluate, read_rows, summarise

    p = sizes or presets.get(preset).evaluation
    model_out, model_dir = out / spec.name, models_dir / spec.name
    if network_facts(model_dir)["padding"] != "circular":
        raise ValueError(f"{spec.name} is not circularly padded: its ELS machine has no wrapping windows")
    standing_rows = [dict(r, machine="ELS (valid)") for r in read_rows(model_out / "standing" / "samples.csv")
                     if r["machine"] == "ELS"]
    if not standing_rows:
        raise FileNotFoundError(f"no ELS rows in {model_out / 'standing' / 'samples.csv'}: run python -m els "
                                f"standing for {spec.name} first")
    with results_folder(model_out / "wrap", resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        images, labels = training_data(model_dir, p.calibration_images)
        network = models.load(model_dir / "model.pt")
        schedule = Calibration.load(model_out / "calibration_ELS.json").schedule
        standing = json.loads((model_out / "standing" / "summary.json").read_text())
        wrap = machine_for(model_dir, "ELS", images, labels, train_patches="wrap")
        rows = evaluate(network, {"ELS (wrap)": (wrap, schedule)}, seeds=standing["evaluation_seeds"], steps=p.steps,
                        network_steps=(max(p.network_steps),), out=here / "samples.csv", progress=progress)
        seeds = sorted({r["seed"] for r in standing_rows} & {r["seed"] for r in rows})
        both = [r for r in standing_rows + rows if r["seed"] in seeds]
        medians = summarise(both)[str(max(p.network_steps))]
        summary = {"model": spec.name, "seeds": seeds, "schedule": schedule,
                   **{name: {"r_median": medians[name]["r"]["median"], "R2_median": medians[name]["R2"]["median"],
                             "r": [r["r"] for r in sorted(both, key=lambda r: r["seed"]) if r["machine"] == name]}
                      for name in ("ELS (valid)", "ELS (wrap)")}}
        write_summary(here, summary, command or f"els.mechanisms.wrap_dictionary({spec.name!r}, preset={preset!r})",
                      p, start)
        return summary



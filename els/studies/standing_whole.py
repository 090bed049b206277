"""Where ELS stands at the network's scale: the comparison of book chapter "Where ELS stands"
again, with every machine holding the network's whole training subset (4,000 images at the
laptop preset) instead of the 500 of :mod:`els.studies.standing`. ``python -m els standing
--whole-subset`` runs it, after the standing comparison; it writes as it goes and resumes.

Per model, under ``<out>/<model>/standing_whole/``:

* ``calibration_PCALocality_<rule>.jsonl|json``: the mask thresholds calibrated at this N, on
  the reproduction's calibration seeds;
* ``samples.csv`` and ``final_images.pt``: IS, Wiener, PCA-locality with the calibrated rule
  and as published, and GoldDiff as published (for a class-conditional network also both
  covariance machines with the other class statistics,
  :func:`els.studies.standing.statistics_variants`), on the dictionary-size study's evaluation
  seeds (:data:`els.studies.dictionary_size.SEEDS`);
* ``summary.json`` (with the paired bootstrap intervals,
  :func:`els.studies.standing.paired_intervals`) and ``manifest.json``.

LS and ELS at this N come from the dictionary-size study (``dictionary/N<N>/recalibrated.csv``,
P(t) calibrated again at this N, the same seeds) where it was run: ELS holding 4,000 images
costs about 47 s a sample on two CPU cores, too much to repeat here. The summary's
``dictionary`` entry names the file, or is None.
"""
from __future__ import annotations

import time
from pathlib import Path

from .. import models
from . import presets
from .dictionary_size import SEEDS as DICTIONARY_SEEDS
from .harness import RESULTS_BYTES, ModelSpec, study_folders, training_data, write_summary
from .standing import (CLASS_MASKS, CLASS_WIENER, EVAL_BATCH, calibrated_masks, compared_machines, paired_intervals,
                       published_threshold, stated_pairs, statistics_variants, summarise_machines)
from ..calibrate import Calibration
from ..evaluate import evaluate, read_images, read_rows, seconds_per_sample, summarise
from ..machines.golden import published_sizes
from ..storage import results_folder

#: the folder under ``<results>/<model>/`` that holds this study
STAGE = "standing_whole"
#: the machines of the dictionary-size study's recalibrated stage used here
FROM_DICTIONARY = ("LS (recalibrated)", "ELS (recalibrated)")
#: the machines this study runs itself (LS and ELS come from the dictionary-size study)
MACHINES = ("IS", "Wiener", "PCALocality", "PCALocality (peers)", "GoldDiff (published)")


def stand_whole_subset(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                       out: Path | None = None, progress: bool = True,
                       sizes: presets.EvalPreset | None = None, command: str | None = None,
                       resume: bool = False, force: bool = False) -> dict:
    """Run the comparison at the network's whole training subset for one model (module
    docstring) and return its summary. Needs the model's reproduction in ``out/<name>`` (its
    calibration seeds); results already there are refused unless ``resume=True`` or
    ``force=True`` (delete them and start again)."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    path = out / spec.name / "calibration_ELS.json"
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run python -m els reproduce --models {spec.name} first "
                                "(this comparison uses its calibration seeds)")
    calibration_seeds = Calibration.load(path).seeds
    with results_folder(out / spec.name / STAGE, resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        model_dir = models_dir / spec.name
        images, labels = training_data(model_dir)
        network = models.load(model_dir / "model.pt")
        pca, best = calibrated_masks(network, model_dir, images, labels, calibration_seeds, p.steps, here, progress)
        peers_threshold = published_threshold(model_dir)
        machines = compared_machines(model_dir, images, labels, {"PCALocality": pca[best].schedule}, best,
                                     peers_threshold, names=MACHINES)
        machines.update(statistics_variants(network, model_dir, images, labels, calibration_seeds, p.steps, here,
                                            progress, best))
        seeds = [s for s in DICTIONARY_SEEDS if s > max(calibration_seeds)][:p.n_seeds]
        reference = max(p.network_steps)
        rows = evaluate(network, machines, seeds=seeds, steps=p.steps, network_steps=(reference,),
                        out=here / "samples.csv", batch_size=EVAL_BATCH, progress=progress,
                        images_out=here / "final_images.pt")
        dictionary = out / spec.name / "dictionary" / f"N{len(images)}" / "recalibrated.csv"
        borrowed = dictionary_rows(dictionary, seeds, reference)
        summary = {"model": spec.name, "preset": preset, "images": len(images), "reference": f"network@{reference}",
                   "calibration_seeds": calibration_seeds, "evaluation_seeds": seeds,
                   "pca_rule": best, "pca_schedule": pca[best].schedule, "peers_threshold": peers_threshold,
                   "golden_sizes": list(published_sizes(len(images))),
                   "dictionary": str(dictionary.relative_to(out)) if borrowed else None,
                   "seconds_per_sample": seconds_per_sample(here / "samples.csv"),
                   "machines": summarise_machines(rows, read_images(here / "final_images.pt"), images, labels,
                                                  f"network@{reference}"),
                   "from_dictionary": summarise(borrowed)[str(reference)] if borrowed else {},
                   "paired": paired_intervals(rows + borrowed, stated_pairs("ELS (recalibrated)",
                                                                            [*FROM_DICTIONARY, *machines]))}
        write_summary(here, summary, command or f"els.standing_whole.stand_whole_subset({spec.name!r})", p, start)
        return summary


def dictionary_rows(path: Path, seeds: list[int], reference: int) -> list[dict]:
    """The LS and ELS rows (:data:`FROM_DICTIONARY`) of the dictionary-size study's file at
    ``path`` for ``seeds`` against the network at ``reference`` steps; [] when the study was
    not run there or lacks one of those seeds (a partial set would not pair with this study's)."""
    if not path.exists():
        return []
    rows = [r for r in read_rows(path) if r["machine"] in FROM_DICTIONARY and r["network_steps"] == reference
            and r["seed"] in seeds]
    complete = all(sum(r["machine"] == m for r in rows) == len(seeds) for m in FROM_DICTIONARY)
    return rows if complete else []


def compared_rows(results: Path, summary: dict) -> list[dict]:
    """Every per-sample row of one model's whole-subset comparison (its ``summary``; ``results``
    the folder that holds ``<model>/standing_whole``): this study's ``samples.csv`` and, where
    the dictionary-size study was run, its LS and ELS rows on the same seeds
    (:func:`dictionary_rows`); ready for :func:`els.evaluate.paired_difference`."""
    reference = int(summary["reference"].split("@")[1])
    borrowed = (dictionary_rows(results / summary["dictionary"], summary["evaluation_seeds"], reference)
                if summary["dictionary"] else [])
    return read_rows(results / summary["model"] / STAGE / "samples.csv") + borrowed


def table(summaries: dict[str, dict]) -> str:
    """Markdown table of median r, one row per machine (LS and ELS from the dictionary-size
    study, "-" where it was not run) and one column per model (its short label)."""
    from ..book.plotting import model_label

    names = ["IS", *FROM_DICTIONARY, *MACHINES[1:], CLASS_WIENER, CLASS_MASKS]

    def value(summary: dict, name: str) -> str:
        if name in summary["machines"]:
            return f"{summary['machines'][name]['book']['r']['median']:.2f}"
        if name in summary["from_dictionary"]:
            return f"{summary['from_dictionary'][name]['r']['median']:.2f}"
        return "-"

    first = next(iter(summaries.values()))
    lines = [f"| median r, {first['images']:,} images | " + " | ".join(model_label(m) for m in summaries) + " |",
             "|---|" + "---|" * len(summaries)]
    lines += [f"| {name} | " + " | ".join(value(s, name) for s in summaries.values()) + " |" for name in names]
    return "\n".join(lines)

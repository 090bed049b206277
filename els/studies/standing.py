"""Where ELS stands: the field's analytic denoisers beside IS, LS and ELS on the same trained
network, from the same seeds, scored by both protocols (book chapter "Where ELS stands").
``python -m els standing`` runs it after ``python -m els reproduce`` (it reuses that run's
calibrated P(t) for ELS and LS); every stage writes as it goes and resumes.

Per model, under ``<out>/<model>/standing/``:

* ``calibration_PCALocality_<rule>.jsonl|json``: the mask threshold per step for each mask
  rule, calibrated like P(t) on the same calibration seeds as ELS (and, for a class-conditional
  network, ``calibration_PCALocality_<rule>_class.jsonl|json`` for the kept rule with masks
  from each class's own images);
* ``samples.csv`` (book protocol per sample, :mod:`els.evaluate`) and ``final_images.pt``
  (every final image, for the peers' protocol, the chance levels and the galleries), on
  evaluation seeds disjoint from every calibration seed;
* ``clipped.csv`` and ``final_images_clipped.pt``: the network and the Wiener denoisers under
  the peers' sampler (the clean-image estimate clipped to [-1, 1] at each DDIM step,
  ``els.sample(clip=True)``), with the same schedules; the other machines' samples do not
  change under it (:data:`CLIP_CHANGES`), so their plain samples are scored against the
  clipped network (:func:`clipped_comparison`);
* ``locality.json``: against t, how wide each denoiser's view of the centre pixel is;
* ``summary.json`` (per machine both protocols and the chance levels; the paired bootstrap
  interval of every difference the book states, :func:`paired_intervals`) and
  ``manifest.json``.

Machines: ``IS``, ``LS``, ``ELS`` (calibrated), ``Wiener`` (for a class-conditional network,
the class's mean with every image's covariance), ``PCALocality`` (the mask rule whose
calibrated schedule agrees best with the network on the calibration seeds),
``PCALocality (peers)`` (the published rule, threshold and chunk average, unchanged) and
``GoldDiff (published)`` (that machine on golden subsets of GoldDiff's sizes,
:func:`els.machines.golden.published_sizes`); for a class-conditional network also
:data:`CLASS_WIENER` and :data:`CLASS_MASKS` (:func:`statistics_variants`), which tell whether
the covariance machines gain from each class's own statistics (``Wiener`` and ``PCALocality``
take every image's covariance, with the class's mean).
"""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import models
from . import presets
from ..calibrate import Calibration, calibrate
from ..evaluate import (agreement, evaluate, paired_difference, peers_agreement, read_images, score,
                        seconds_per_sample, summarise)
from ..machines.matched import machine_for, network_facts
from ..machines.golden import GoldenSubset, published_sizes
from ..machines.pca_locality import MASKS, gain_mask, mask_width
from .harness import RESULTS_BYTES, ModelSpec, study_folders, training_data, write_summary
from ..sampling import classes_of, seeded_inputs, trajectory
from ..schedule import alpha_bar, x0_from_eps
from ..storage import results_folder, write_atomic

MACHINES = ("IS", "LS", "ELS", "Wiener", "PCALocality", "PCALocality (peers)", "GoldDiff (published)")
#: mask thresholds tried per step (0: every input for the column rule, the signed gain for the peers')
THRESHOLDS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
#: the published code's threshold per dataset (its configs for 28 x 28 MNIST and FashionMNIST)
PEERS_THRESHOLD = {"mnist": 0.005, "fashion_mnist": 0.005}
#: the compared machines whose clean-image estimate can leave [-1, 1] (Wiener's is linear in
#: x_t); every other machine's is a softmax-weighted average of training pixels, inside [-1, 1]
#: already, so clipping it changes nothing (tests/test_standing.py checks)
CLIP_CHANGES = ("Wiener", "Wiener (class covariance)")
#: for a class-conditional network, the two covariance machines again with each class's own
#: statistics (:func:`statistics_variants`). The compared ``Wiener`` and ``PCALocality`` take
#: the covariance of every training image (with the class's mean, and the softmax over the
#: class's images): with about 50 images per class at 500 a class's own covariance has rank at
#: most 49, and the comparison measures that its own statistics never make PCA-locality better
#: and make Wiener better only at 4,000 images on the UNets (book appendix "The comparison in
#: detail")
CLASS_WIENER = "Wiener (class covariance)"
CLASS_MASKS = "PCALocality (class masks)"
STANDING_SEEDS = 100  # evaluation seeds per model (fewer when the preset has fewer)
EVAL_BATCH = 20
#: an input counts in a view's width when its influence on the centre output is at least this
#: fraction of the largest influence
WIDTH_FRACTION = 0.1
MEAN_IMAGE = "mean training image"


#: the folder under ``<results>/<model>/`` that holds this study (``harness.read_summaries(results, STAGE)``)
STAGE = "standing"
def stand_model(spec: ModelSpec, preset: str = "laptop", models_dir: Path | None = None,
                out: Path | None = None, progress: bool = True,
                sizes: presets.EvalPreset | None = None, command: str | None = None,
                resume: bool = False, force: bool = False) -> dict:
    """Evaluate every machine of :data:`MACHINES` against one checkpoint (module docstring) and
    return the summary. Needs the model's reproduction in ``out/<name>`` (its calibrated P(t)).
    Results already in ``out/<name>/standing`` are refused unless ``resume=True`` or
    ``force=True`` (delete them and start again)."""
    models_dir, out = study_folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    schedules = {}
    for kind in ("ELS", "LS"):
        path = out / spec.name / f"calibration_{kind}.json"
        if not path.exists():
            raise FileNotFoundError(f"no {path}: run python -m els reproduce --models {spec.name} first "
                                    "(this comparison reuses its calibrated P(t))")
        schedules[kind] = Calibration.load(path)
    with results_folder(out / spec.name / STAGE, resume, force, need_bytes=RESULTS_BYTES) as here:
        return _stand_into(here, spec, p, preset, models_dir, schedules, progress, command)


def _stand_into(here: Path, spec: ModelSpec, p: presets.EvalPreset, preset: str, models_dir: Path,
                schedules: dict[str, Calibration], progress: bool, command: str | None) -> dict:
    """``stand_model``'s work, writing into the held results folder ``here``, with the
    reproduction's calibrated ``schedules`` (``"ELS"``, ``"LS"``)."""
    model_dir = models_dir / spec.name
    calibration_seeds = schedules["ELS"].seeds
    start = time.perf_counter()
    images, labels = training_data(model_dir, p.calibration_images)
    network = models.load(model_dir / "model.pt")
    pca, best = calibrated_masks(network, model_dir, images, labels, calibration_seeds, p.steps, here, progress)
    peers_threshold = published_threshold(model_dir)
    machines = compared_machines(model_dir, images, labels, {**{k: c.schedule for k, c in schedules.items()},
                                                             "PCALocality": pca[best].schedule}, best, peers_threshold)
    machines.update(statistics_variants(network, model_dir, images, labels, calibration_seeds, p.steps, here,
                                        progress, best))
    first = max(calibration_seeds) + 1
    seeds = list(range(first, first + min(p.n_seeds, STANDING_SEEDS)))
    reference = max(p.network_steps)
    rows = evaluate(network, machines, seeds=seeds, steps=p.steps, network_steps=(reference,),
                    out=here / "samples.csv", batch_size=EVAL_BATCH, progress=progress,
                    images_out=here / "final_images.pt")
    clipped_rows, clipped_images = clipped_comparison(here, network, machines, seeds, p.steps, reference, progress)
    locality = _locality_file(here / "locality.json", network, machines, schedules["ELS"], calibration_seeds,
                              p.steps, progress)
    summary = {"model": spec.name, "preset": preset, "images": len(images), "reference": f"network@{reference}",
               "calibration_seeds": calibration_seeds, "evaluation_seeds": seeds,
               "pca_rule": best, "pca_schedule": pca[best].schedule,
               "pca_agreement_along": {rule: _agreement_along(pca[rule]) for rule in MASKS},
               "peers_threshold": peers_threshold, "width_fraction": WIDTH_FRACTION,
               "seconds_per_sample": seconds_per_sample(here / "samples.csv"),
               "golden_sizes": list(published_sizes(len(images))),
               "machines": summarise_machines(rows, read_images(here / "final_images.pt"), images, labels,
                                              f"network@{reference}"),
               "paired": paired_intervals(rows, stated_pairs("ELS", machines)),
               "clipped": summarise_machines(clipped_rows, clipped_images, images, labels, f"network@{reference}"),
               "locality": locality}
    write_summary(here, summary, command or f"els.standing.stand_model({spec.name!r}, preset={preset!r})", p, start)
    return summary


def clipped_comparison(here: Path, network, machines: dict, seeds: list[int], steps: int, reference: int,
                       progress: bool) -> tuple[list[dict], dict]:
    """The comparison under the peers' sampler: the network (``reference`` steps) and the
    machines of :data:`CLIP_CHANGES` sampled with ``clip=True`` into ``here/clipped.csv`` and
    ``here/final_images_clipped.pt`` (resumable, :func:`els.evaluate.evaluate`); every other
    machine's plain sample from ``here/final_images.pt`` scored against the clipped network.
    Returns the rows (:func:`els.evaluate.score`) and the images (as
    :func:`els.evaluate.read_images` gives them) of every machine on ``seeds``."""
    evaluate(network, {name: machines[name] for name in CLIP_CHANGES if name in machines}, seeds=seeds, steps=steps,
             network_steps=(reference,), out=here / "clipped.csv", batch_size=EVAL_BATCH, progress=progress,
             images_out=here / "final_images_clipped.pt", clip=True)
    plain, clipped = (read_images(here / file, seeds) for file in ("final_images.pt", "final_images_clipped.pt"))
    clipped["images"] = {**plain["images"], **clipped["images"]}
    return score(clipped["images"], seeds, clipped["labels"], (reference,)), clipped


def published_threshold(model_dir: Path) -> float:
    """The published mask rule's threshold for the network in ``model_dir``: its dataset's
    (:data:`PEERS_THRESHOLD`), else 0.02."""
    return PEERS_THRESHOLD.get(network_facts(model_dir)["data"], 0.02)


def calibrated_masks(network, model_dir: Path, images: torch.Tensor, labels: torch.Tensor | None,
                     seeds: list[int], steps: int, here: Path, progress: bool) -> tuple[dict[str, Calibration], str]:
    """PCA-locality's mask threshold per step calibrated against ``network`` (like P(t), on the
    calibration ``seeds``) for each mask rule of :data:`MASKS`, with the machine holding
    ``images``; written to (and resumed from) ``here/calibration_PCALocality_<rule>.jsonl|json``.
    Returns the calibrations and the rule whose schedule agrees best with the network."""
    pca = {rule: _calibrated_mask(network, model_dir, images, labels, seeds, steps, here, progress, rule)
           for rule in MASKS}
    return pca, max(MASKS, key=lambda rule: _agreement_along(pca[rule]))


def _calibrated_mask(network, model_dir: Path, images: torch.Tensor, labels: torch.Tensor | None,
                     seeds: list[int], steps: int, here: Path, progress: bool, rule: str,
                     statistics: str = "global") -> Calibration:
    """One mask rule's threshold per step calibrated as :func:`calibrated_masks` does, with the
    masks from ``statistics`` (``"global"``: every image's; ``"class"``: each class's own, file
    ``calibration_PCALocality_<rule>_class.jsonl|json``)."""
    name = f"calibration_PCALocality_{rule}" + ("" if statistics == "global" else f"_{statistics}")
    factory = partial(machine_for, model_dir, "PCALocality", mask=rule, mask_statistics=statistics)
    result = calibrate(network, factory, (images, labels), THRESHOLDS, seeds=seeds, steps=steps,
                       out=here / f"{name}.jsonl", batch_size=len(seeds), progress=progress)
    result.save(here / f"{name}.json")
    return result


def statistics_variants(network, model_dir: Path, images: torch.Tensor, labels: torch.Tensor | None,
                        seeds: list[int], steps: int, here: Path, progress: bool, pca_rule: str) -> dict:
    """name -> (machine, schedule or None) for :data:`CLASS_WIENER` and :data:`CLASS_MASKS`
    when the network is class-conditional (``labels`` given; {} otherwise): the Wiener machine
    on each class's own mean and covariance, and PCA-locality with the calibrated
    ``pca_rule``'s masks from each class's own images, its threshold per step calibrated again
    for them (:func:`_calibrated_mask` on the calibration ``seeds``)."""
    if labels is None:
        return {}
    classes = _calibrated_mask(network, model_dir, images, labels, seeds, steps, here, progress, pca_rule, "class")
    return {CLASS_WIENER: (machine_for(model_dir, "Wiener", images, labels, covariance="class"), None),
            CLASS_MASKS: (machine_for(model_dir, "PCALocality", images, labels, mask=pca_rule,
                                      mask_statistics="class"), classes.schedule)}


def compared_machines(model_dir: Path, images: torch.Tensor, labels: torch.Tensor | None, schedules: dict,
                      pca_rule: str, peers_threshold: float, names=MACHINES) -> dict:
    """name -> (machine, schedule or None) for the machines ``names`` (of :data:`MACHINES`),
    holding the training ``images (N, C, H, W)`` (and ``labels``) and matched to the network in
    ``model_dir``; ``schedules``: the calibrated schedules of those of ``"LS"``, ``"ELS"`` and
    ``"PCALocality"`` named, ``pca_rule`` the calibrated PCA-locality's mask rule,
    ``peers_threshold`` the published rule's threshold (for ``PCALocality (peers)`` and GoldDiff)."""
    matched = partial(machine_for, model_dir)

    def peers():
        return matched("PCALocality", images, labels, mask="peers", threshold=peers_threshold,
                       aggregation="chunk_average")

    build = {
        "IS": lambda: (matched("IS", images, labels), None),
        "LS": lambda: (matched("LS", images, labels), schedules["LS"]),
        "ELS": lambda: (matched("ELS", images, labels), schedules["ELS"]),
        "Wiener": lambda: (matched("Wiener", images, labels, covariance="global"), None),
        "PCALocality": lambda: (matched("PCALocality", images, labels, mask=pca_rule), schedules["PCALocality"]),
        "PCALocality (peers)": lambda: (peers(), None),
        "GoldDiff (published)": lambda: (GoldenSubset(peers(), *published_sizes(len(images)), seed=0), None),
    }
    return {name: build[name]() for name in names}


def summarise_machines(rows: list[dict], stored: dict, images: torch.Tensor, labels: torch.Tensor | None,
                       reference: str) -> dict:
    """Per machine (and for the mean training image as a predictor, per class when the network
    is class-conditional): the book's protocol (median and quartiles of r, r^2, R^2 over
    samples, from ``rows``), the peers' protocol (means of their R^2 and MSE on [0, 1] clamped
    images) and the shuffled-seed chance level (machine seed j against network seed i != j,
    both of the same class when the network is class-conditional: median r and R^2, mean
    peers' R^2), from the stored final images."""
    target = stored["images"][reference]
    book = summarise(rows)[reference.split("@")[1]]
    if stored["labels"] is None:
        mean = images.float().mean(0, keepdim=True).expand_as(target)
    else:
        by_class = {int(c): images[labels == c].float().mean(0) for c in labels.unique()}
        mean = torch.stack([by_class[int(c)] for c in stored["labels"]])
    out = {}
    for name in [*(n for n in stored["images"] if not n.startswith("network@")), MEAN_IMAGE]:
        prediction = mean if name == MEAN_IMAGE else stored["images"][name]
        mine, peers = agreement(prediction, target), peers_agreement(prediction, target)
        entry = book.get(name) or {m: _quartiles(mine[m]) for m in ("r", "r2", "R2")} | {"n": len(target)}
        entry = {"book": {m: entry[m] for m in ("r", "r2", "R2")}, "n": entry["n"],
                 "peers": {"R2": float(peers["R2"].mean()), "mse": float(peers["mse"].mean())}}
        if name != MEAN_IMAGE:
            entry["chance"] = shuffled(prediction, target, stored["labels"])
        out[name] = entry
    return out


def stated_pairs(first: str, names) -> list[tuple[str, str]]:
    """The differences the book states, as (first, second) machine names: ``first`` (ELS)
    against every other compared machine in ``names`` (the variants with each class's own
    statistics left out), calibrated PCA-locality against Wiener, and each variant against the
    compared machine it varies."""
    pairs = [(first, m) for m in names if m != first and m not in (CLASS_WIENER, CLASS_MASKS)]
    return pairs + [("PCALocality", "Wiener"), (CLASS_WIENER, "Wiener"), (CLASS_MASKS, "PCALocality")]


def paired_intervals(rows: list[dict], pairs: list[tuple[str, str]], metrics=("r", "R2")) -> list[dict]:
    """For each (first, second) of ``pairs`` whose machines both have rows, and each metric: the
    paired bootstrap difference in median (:func:`els.evaluate.paired_difference`, default
    settings: 10,000 resamples, seed 0) as ``{"first", "second", "metric", "difference", "low",
    "high", "n", "verdict"}``: what a summary carries, so that a lead or a tie can be read
    from it without the rows."""
    present = {row["machine"] for row in rows}
    return [{"first": a, "second": b, "metric": k, **paired_difference(rows, a, b, metric=k)}
            for a, b in pairs if {a, b} <= present for k in metrics]


def stated(summary: dict, first: str, second: str, metric: str = "r") -> dict:
    """The paired interval of ``first`` minus ``second`` by ``metric`` that a summary carries
    (:func:`paired_intervals`): ``{"first", "second", "metric", "difference", "low", "high",
    "n", "verdict"}``."""
    for entry in summary["paired"]:
        if (entry["first"], entry["second"], entry["metric"]) == (first, second, metric):
            return entry
    raise KeyError(f"{summary['model']}'s summary states no {metric} difference {first!r} - {second!r}")


def shuffled(prediction: torch.Tensor, target: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
    """Chance level of a predictor: ``prediction[j]`` scored against ``target[i]`` for every
    pair of samples i != j (both ``(S, C, H, W)``), restricted to pairs of the same class when
    ``labels`` (S,) are given (a class-conditional network: shuffling across classes would set
    chance too low). Returns the median r and R^2, the mean peers' R^2 and the number of pairs."""
    S = len(target)
    i, j = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    off = i != j
    if labels is not None:
        labels = torch.as_tensor(labels).reshape(-1)
        off &= labels[i] == labels[j]
    if not off.any():
        raise ValueError("no pair of different samples of the same class to shuffle: draw more seeds")
    pairs_p, pairs_t = prediction[j[off]], target[i[off]]
    mine, peers = agreement(pairs_p, pairs_t), peers_agreement(pairs_p, pairs_t)
    return {"r": float(mine["r"].median()), "R2": float(mine["R2"].median()), "peers_R2": float(peers["R2"].mean()),
            "pairs": int(off.sum())}


def _quartiles(values: torch.Tensor) -> dict:
    q = values.quantile(torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype))
    return {"q25": float(q[0]), "median": float(q[1]), "q75": float(q[2])}


def _agreement_along(result: Calibration) -> float:
    """Mean over calibration seeds and steps of the cosine similarity at the schedule's value."""
    sims = torch.tensor(result.similarity, dtype=torch.float64)  # (S, steps, K)
    index = torch.tensor([result.candidates.index(v) for v in result.schedule])
    return float(sims[:, torch.arange(len(index)), index].mean())


def _locality_file(path: Path, network, machines: dict, els_calibration: Calibration, seeds, steps, progress):
    if path.exists():
        return json.loads(path.read_text())
    result = locality_widths(network, machines, els_calibration, seeds, steps, progress)
    write_atomic(path, json.dumps(result, indent=1))
    return result


def locality_widths(network, machines: dict, els_calibration: Calibration, seeds, steps: int,
                    progress: bool = True) -> dict:
    """How wide each denoiser's view of the image's centre pixel is, per step t = i / steps
    (low noise first), in pixels (the side of a square of as many pixels):

    * ``Wiener``: inputs whose gain on the centre output is at least :data:`WIDTH_FRACTION` of
      the largest (the locality the data's correlations alone imply);
    * ``ELS``: the calibrated patch size P(t);
    * ``PCALocality``: the calibrated mask's centre column (:func:`els.pca_locality.mask_width`);
    * ``network``: inputs whose mean absolute gradient of the network's denoised centre pixel
      is at least that fraction of the largest, along its own trajectories from ``seeds``.
    """
    wiener, pca = machines["Wiener"][0], machines["PCALocality"]
    C, H, W = wiener.images.shape[1:]
    times = [i / steps for i in range(1, steps + 1)]
    sensitivity = network_sensitivity(network, wiener, seeds, steps, progress)
    return {"t": times,
            "Wiener": [mask_width(gain_mask(wiener.gain(t), WIDTH_FRACTION, "column"), H, W, C) for t in times],
            "ELS": list(els_calibration.schedule),
            "PCALocality": [mask_width(pca[0].mask(t, thr), H, W, C) for t, thr in zip(times, pca[1])],
            "network": [_width(sensitivity[i], WIDTH_FRACTION) for i in range(steps)]}


def network_sensitivity(network, machine, seeds, steps, progress) -> torch.Tensor:
    """(steps, C, H, W): mean |d x0_hat[centre] / d x_t| over seeds, low noise first."""
    C, H, W = machine.images.shape[1:]
    classes = classes_of(machine.labels, network)
    noise, label = seeded_inputs(list(seeds), (C, H, W), classes)
    out = torch.zeros(steps, C, H, W, dtype=torch.float64)
    network.eval()
    for t, x_t, _, _ in tqdm(trajectory(network, noise, steps, label=label), total=steps, desc="sensitivity",
                             disable=not progress):
        x = x_t.clone().requires_grad_(True)
        ab = float(alpha_bar(t))
        eps = network(x, torch.full((len(x),), t), label=label)
        x0 = x0_from_eps(x, ab, eps)
        x0[:, :, H // 2, W // 2].sum().backward()  # samples are independent: one gradient each
        out[round(t * steps) - 1] = x.grad.abs().double().mean(0)
    return out


def _width(influence: torch.Tensor, fraction: float) -> float:
    """Side of the square with as many pixels as ``influence`` (C, H, W) has entries at least
    ``fraction`` of its largest (per channel)."""
    return float((influence >= fraction * influence.max()).sum() / influence.shape[0]) ** 0.5


#: the measures :func:`table` can show, with the heading of the table's first column
PROTOCOLS = {"r": "median r", "R2": "median R^2", "peers": "mean R^2 on [0, 1]"}


def table(summaries: dict[str, dict], protocol: str = "r", clipped: bool = False) -> str:
    """Markdown table of one measure, one row per machine and one column per model (headed by
    its short label, :func:`els.book.plotting.model_label`), so that it fits the book's page.
    ``protocol``: ``"r"`` the median Pearson r over samples, ``"R2"`` the median R^2 (the
    book's protocol), ``"peers"`` the mean R^2 on [0, 1] clamped images (the follow-up papers'
    number). ``clipped``: under the peers' sampler (the summaries' ``clipped`` entries). The
    last rows are chance levels: the mean training image as the prediction, and ELS with
    shuffled seeds (its sample for seed j against the network's for seed i != j)."""
    from ..book.plotting import model_label

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    part = "clipped" if clipped else "machines"

    def value(entry: dict | None) -> str:
        if entry is None:
            return "-"
        if protocol == "peers":
            return f"{entry['peers']['R2']:.2f}"
        return f"{entry['book'][protocol]['median']:.2f}"

    def chance(summary: dict) -> str:
        c = summary[part]["ELS"]["chance"]
        return f"{c['peers_R2' if protocol == 'peers' else protocol]:.2f}"

    heading = PROTOCOLS[protocol] + (", clipped sampler" if clipped else "")
    lines = [f"| {heading} | " + " | ".join(model_label(m) for m in summaries) + " |",
             "|---|" + "---|" * len(summaries)]
    for name in [*MACHINES, MEAN_IMAGE]:
        lines.append(f"| {name} | " + " | ".join(value(s[part].get(name)) for s in summaries.values()) + " |")
    lines.append("| ELS, shuffled seeds | " + " | ".join(chance(s) for s in summaries.values()) + " |")
    return "\n".join(lines)


def detail_table(summary: dict) -> str:
    """Markdown table of one model's standing summary: per machine the book's protocol (median
    r, r^2, R^2), the peers' (mean R^2 and MSE on [0, 1]), the shuffled-seed chance level of r
    and the seconds per sample of the run (machines at 20 steps, network at its own steps)."""
    lines = ["| machine | r | r^2 | R^2 | peers' R^2 | peers' MSE | chance r | s / sample |",
             "|---|---|---|---|---|---|---|---|"]
    for name, e in summary["machines"].items():
        book, chance = e["book"], e.get("chance")
        chance_r = "-" if chance is None else f"{chance['r']:.2f}"
        seconds = summary["seconds_per_sample"].get(name)
        seconds = "-" if seconds is None else f"{seconds:.2f}"
        lines.append(f"| {name} | {book['r']['median']:.2f} | {book['r2']['median']:.2f} | {book['R2']['median']:.2f} | "
                     f"{e['peers']['R2']:.2f} | {e['peers']['mse']:.3f} | "
                     f"{chance_r} | {seconds} |")
    return "\n".join(lines)

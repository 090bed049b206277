"""Comparing machines with a network from the same seeds (book appendix, §A.6).

Every sample is scored by Pearson ``r`` between the machine's and the network's final images
(all pixels and channels, mean-centred), ``r2 = r**2``, the coefficient of determination
``R2 = 1 - SS_res / SS_tot`` of the machine predicting the network, and the MSE
(:func:`agreement`, a pure function of two tensors). :func:`sample_together` draws the images
from the same seeds, :func:`score` turns them into rows, and :func:`evaluate` runs both a batch
of seeds at a time, appending rows to a CSV so that an interrupted run resumes.

Note (book appendix, §A.6): the paper's tables are headed r^2 but its evaluation code computes plain
Pearson r; our summaries report both.
"""
from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .machines.protocol import scale_keyword
from .sampling import classes_of, sample, seeded_inputs
from .storage import append_line, read_timing, save_atomic, timing_path, write_atomic

METRICS = ("r", "r2", "R2", "mse")
COLUMNS = ("seed", "label", "network_steps", "machine", *METRICS)
HEADER = ",".join(COLUMNS)


def agreement(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample agreement of ``prediction`` with ``target``, both (B, ...): Pearson r over all
    other dimensions (mean-centred), r^2, R^2 = 1 - SS_res / SS_tot (about the target's own
    mean) and MSE; each a (B,) float64 tensor."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    p = prediction.double().flatten(1)
    y = target.double().flatten(1)
    pc, yc = p - p.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    r = (pc * yc).sum(1) / (pc.norm(dim=1) * yc.norm(dim=1))
    ss_res = ((y - p) ** 2).sum(1)
    return {"r": r, "r2": r**2, "R2": 1 - ss_res / (yc**2).sum(1), "mse": ss_res / y.shape[1]}


def peers_agreement(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The follow-up papers' per-sample scores (book chapter "Where ELS stands"): both images
    (B, ...) in [-1, 1] are mapped to [0, 1] and clamped there; ``R2 = 1 - SS_res / (D
    var(target))`` with the target's unbiased variance over its D values (a variance of 0
    counts as 1), and the MSE. Each a (B,) float64 tensor; the papers report their means."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    p = ((prediction.double().flatten(1) + 1) / 2).clamp(0, 1)
    y = ((target.double().flatten(1) + 1) / 2).clamp(0, 1)
    var = y.var(1, correction=1)
    var = torch.where(var == 0, torch.ones_like(var), var)
    ss_res = ((p - y) ** 2).sum(1)
    return {"R2": 1 - ss_res / (y.shape[1] * var), "mse": ss_res / y.shape[1]}


def sample_together(network, machines: Mapping[str, tuple[object, Sequence[int] | None]], seeds: Sequence[int],
                    steps: int = 20, network_steps: Sequence[int] = (20, 150), released: bool = False,
                    clip: bool = False, timing: dict | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Final images of ``network`` (``network@<k>`` for each of ``network_steps``) and of every
    machine (``machines``: name -> (machine, scales or None), ``steps`` DDIM steps) from the same
    seeded noise and labels (:func:`els.sampling.seeded_inputs`): ``({name: (S, C, H, W)}, labels
    (S,) or None)``, tensors on the CPU. ``released``: the machines under the released code's
    handling; ``clip``: every model under the clipped sampler (:func:`els.sampling.sample`).
    ``timing``: a dict that accumulates ``{name: {"seconds", "samples"}}``."""
    first, classes = _first_machine_and_classes(network, machines)
    noise, labels = seeded_inputs(list(seeds), first.images.shape[1:], classes)
    noise = noise.to(first.images.dtype)
    timing = {} if timing is None else timing
    outputs = {}
    for k in network_steps:
        outputs[f"network@{k}"] = _timed(timing, f"network@{k}", len(noise),
                                         lambda: sample(network, noise, k, label=labels, clip=clip)).cpu()
    for name, (machine, scales) in machines.items():
        outputs[name] = _timed(timing, name, len(noise), lambda: sample(machine, noise, steps, scales, label=labels,
                                                                        released=released, clip=clip)).cpu()
    return outputs, labels


def score(outputs: Mapping[str, torch.Tensor], seeds: Sequence[int], labels: torch.Tensor | None,
          network_steps: Sequence[int] = (20, 150)) -> list[dict]:
    """Rows (see ``COLUMNS``) scoring every machine's images in ``outputs`` (name -> (S, C, H, W),
    one image per seed in ``seeds``) against each network run ``network@<k>``, by
    :func:`agreement`. Pure: tensors in, rows out."""
    rows = []
    for k in network_steps:
        target = outputs[f"network@{k}"]
        for name, images in outputs.items():
            if name.startswith("network@"):
                continue
            scores = agreement(images, target)
            for j, seed in enumerate(seeds):
                rows.append({"seed": seed, "label": None if labels is None else int(labels[j]), "network_steps": k,
                             "machine": name, **{m: float(scores[m][j]) for m in METRICS}})
    return rows


def evaluate(
    network,
    machines: Mapping[str, tuple[object, Sequence[int] | None]],
    seeds: int | Sequence[int] = 100,
    steps: int = 20,
    network_steps: Sequence[int] = (20, 150),
    out: str | Path | None = None,
    batch_size: int = 10,
    progress: bool = True,
    images_out: str | Path | None = None,
    released: bool = False,
    clip: bool = False,
) -> list[dict]:
    """Sample ``network`` (with each of ``network_steps``) and every machine (with ``steps`` and
    its schedule) from the same seeded noise and labels (:func:`sample_together`), and score
    each machine against each network run (:func:`score`), a batch of seeds at a time.
    ``released=True`` samples the machines (not the network) under the paper's released code's
    handling; ``clip=True`` samples every model with the clipped sampler
    (:func:`els.sampling.sample`).

    machines: name -> (machine, scales or None); the first machine's training images give the
    image shape, and its labels the classes when the network is class-conditional.
    out: CSV file of per-sample rows (see ``COLUMNS``); a seed's rows already in it are kept, and
    only the machines a seed lacks are sampled (with the network again, to score them): a
    resumed run, or a machine added to a finished evaluation, costs only what is missing. A
    ``<out>.timing.json`` beside it accumulates seconds per component. images_out: a ``.pt``
    file that keeps every final image too (see :func:`read_images`; needs ``out``). Returns all
    rows, old and new.
    """
    if images_out is not None and out is None:
        raise ValueError("images_out needs out= (the rows say which seeds the images file holds)")
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    unwritable = [name for name in machines if any(c in name for c in ',\n"')]
    if out is not None and unwritable:
        raise ValueError(f"machine names are written to a CSV and may not contain commas, quotes or line breaks: "
                         f"{unwritable}; use parentheses or semicolons")
    _first_machine_and_classes(network, machines)  # a conditional network without labels fails before any work
    rows = _complete_rows(out, {(k, name) for k in network_steps for name in machines})
    timing = read_timing(out, {})
    have: dict[int, set] = {}
    for row in rows:
        have.setdefault(row["seed"], set()).add((row["network_steps"], row["machine"]))
    lacking = {s: tuple(name for name in machines if any((k, name) not in have.get(s, ()) for k in network_steps))
               for s in seeds}
    todo = [s for s in seeds if lacking[s]]
    batches = []  # seeds that lack the same machines, batch_size at a time
    for names in dict.fromkeys(lacking[s] for s in todo):
        group = [s for s in todo if lacking[s] == names]
        batches += [(names, group[i:i + batch_size]) for i in range(0, len(group), batch_size)]
    bar = tqdm(total=len(todo), desc="evaluate", disable=not progress)
    for names, batch in batches:
        outputs, labels = sample_together(network, {n: machines[n] for n in names}, batch, steps, network_steps,
                                          released, clip, timing)
        new = [row for row in score(outputs, batch, labels, network_steps)
               if (row["network_steps"], row["machine"]) not in have.get(row["seed"], ())]
        rows += new
        if images_out is not None:  # before the rows: a seed with rows always has its images
            _add_images(images_out, batch, labels, outputs)
        if out:
            for row in sorted(new, key=lambda r: r["seed"]):  # one seed's rows together
                append_line(out, _format(row))
            write_atomic(timing_path(out), json.dumps(timing, indent=1))
        bar.update(len(batch))
    bar.close()
    return rows


def along_trajectory(
    network,
    machines: Mapping[str, tuple[object, Sequence[int] | None]],
    seeds: int | Sequence[int] = 30,
    steps: int = 20,
) -> dict[str, torch.Tensor]:
    """Single-step agreement: along the network's own DDIM trajectory from each seed, every
    machine denoises the network's ``x_t`` (with its schedule's scale at that step) and is
    scored against the network's ``x0_hat`` there. Returns ``{name: (steps, S) Pearson r}``,
    row ``i - 1`` at t = i / steps (low noise first, like schedules); machines as in
    :func:`evaluate`. Shows where along the trajectory a machine's estimates part from the
    network's: coarse structure at high noise, detail at low noise (book chapter 9)."""
    from .sampling import trajectory

    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    first, classes = _first_machine_and_classes(network, machines)
    noise, labels = seeded_inputs(seeds, first.images.shape[1:], classes)
    out = {name: torch.empty(steps, len(seeds), dtype=torch.float64) for name in machines}
    for t, x_t, net_x0, _ in trajectory(network, noise.to(first.images.dtype), steps, label=labels):
        i = round(t * steps) - 1
        for name, (machine, scales) in machines.items():
            scale = scale_keyword(machine, None if scales is None else scales[i])
            out[name][i] = agreement(machine.denoise(x_t, t, label=labels, **scale).cpu(), net_x0.cpu())["r"]
    return out


def summarise(rows: Sequence[dict], reference: str = "IS") -> dict:
    """Per network step count and machine: median and quartiles of each metric over samples,
    the sample count, and the share of samples where the machine's r beats ``reference``'s."""
    out: dict = {}
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["network_steps"], row["machine"]), []).append(row)
    for (k, name), group in sorted(groups.items()):
        entry = {"n": len(group)}
        for m in METRICS:
            q = torch.tensor([row[m] for row in group], dtype=torch.float64).quantile(
                torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
            entry[m] = {"q25": float(q[0]), "median": float(q[1]), "q75": float(q[2])}
        ref = {row["seed"]: row["r"] for row in groups.get((k, reference), [])}
        if ref and name != reference:
            entry["beats_" + reference] = sum(row["r"] > ref[row["seed"]] for row in group) / len(group)
        out.setdefault(str(k), {})[name] = entry
    return out


def paired_difference(rows: Sequence[dict], first: str, second: str, metric: str = "r",
                      network_steps: int | None = None, resamples: int = 10_000, seed: int = 0) -> dict:
    """How much ``first`` leads ``second`` in median ``metric`` over the seeds both were scored
    on (``rows`` of :func:`evaluate`, at ``network_steps``, default the largest), with a paired
    bootstrap 95% interval: the seeds are resampled with replacement ``resamples`` times, both
    machines' medians recomputed on the same draw each time (medians as :func:`summarise` takes
    them: the mean of the two middle values of an even count). Returns ``{"difference", "low",
    "high", "n", "verdict"}``; ``verdict`` is ``"lead"`` (the interval lies above zero),
    ``"behind"`` (below) or ``"tie"`` (it contains zero), whatever the sign of ``difference``.
    Deterministic in ``seed``."""
    k = network_steps if network_steps is not None else max(r["network_steps"] for r in rows)
    values = {name: {r["seed"]: r[metric] for r in rows if r["network_steps"] == k and r["machine"] == name}
              for name in (first, second)}
    seeds = sorted(set(values[first]) & set(values[second]))
    if len(seeds) < 2:
        raise ValueError(f"need at least two seeds scored for both {first!r} and {second!r} at "
                         f"{k} network steps, got {len(seeds)}")
    a = torch.tensor([values[first][s] for s in seeds], dtype=torch.float64)
    b = torch.tensor([values[second][s] for s in seeds], dtype=torch.float64)
    draw = torch.randint(len(seeds), (resamples, len(seeds)), generator=torch.Generator().manual_seed(seed))
    spread = a[draw].quantile(0.5, dim=1) - b[draw].quantile(0.5, dim=1)  # medians as summarise takes them
    low, high = (float(v) for v in spread.quantile(torch.tensor([0.025, 0.975], dtype=torch.float64)))
    difference = float(a.quantile(0.5) - b.quantile(0.5))
    verdict = "lead" if low > 0 else ("behind" if high < 0 else "tie")  # the side of zero the interval is on
    return {"difference": difference, "low": low, "high": high, "n": len(seeds), "verdict": verdict}


def relabelled(rows: Sequence[dict], machine: str, name: str) -> list[dict]:
    """The rows of ``machine`` with the machine renamed ``name``: so that one machine scored in
    two evaluations (two networks, a snapshot and its final network, two dictionary sizes) can be
    compared seed by seed, e.g. ``paired_difference(relabelled(a, "ELS", "final") +
    relabelled(b, "ELS", "early"), "final", "early")``."""
    return [{**row, "machine": name} for row in rows if row["machine"] == machine]


def seconds_per_sample(out: str | Path) -> dict[str, float]:
    """Wall-clock seconds per sample of each component (``network@<k>`` and each machine), summed
    over every run of :func:`evaluate` into the CSV ``out`` (its ``<out>.timing.json``)."""
    return {name: v["seconds"] / v["samples"] for name, v in read_timing(out, {}).items()}


def read_rows(path: str | Path) -> list[dict]:
    """Rows of an evaluation CSV (torn or malformed lines are skipped)."""
    if not Path(path).exists():
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.reader(f):
            if len(raw) != len(COLUMNS):
                continue
            try:  # the header, and lines that do not parse, fail here
                row = {"seed": int(raw[0]), "label": int(raw[1]) if raw[1] else None,
                       "network_steps": int(raw[2]), "machine": raw[3],
                       **{m: float(v) for m, v in zip(METRICS, raw[4:])}}
            except ValueError:
                continue
            rows.append(row)
    return rows


def _first_machine_and_classes(network, machines: Mapping) -> tuple[object, list[int] | None]:
    """The first machine (its training images give the image shape) and the classes the seeds
    draw their labels from (:func:`els.sampling.classes_of`, from its labels)."""
    first = next(iter(machines.values()))[0]
    return first, classes_of(first.labels, network)


def read_images(path: str | Path, seeds: Sequence[int] | None = None) -> dict:
    """The final images kept by :func:`evaluate`: ``{"seeds": [S], "labels": [S] or None,
    "images": {name: (S, C, H, W) float32}}``, names ``network@<steps>`` and the machines'.
    ``seeds``: only those seeds, in that order (each must be in the file)."""
    stored = torch.load(path, weights_only=True)
    if seeds is None:
        return stored
    at = [stored["seeds"].index(s) for s in seeds]
    return {"seeds": list(seeds), "labels": None if stored["labels"] is None else [stored["labels"][i] for i in at],
            "images": {name: value[at] for name, value in stored["images"].items()}}


def _add_images(path, seeds, labels, outputs) -> None:
    """Put each model's images in ``outputs`` (name -> (B, C, H, W), one per seed in ``seeds``)
    into the images file at ``path``, replacing what it held for those seeds. A name new to the
    file (a machine added to an evaluation) holds NaN for the seeds it has not reached yet."""
    stored = read_images(path) if Path(path).exists() else {"seeds": [], "labels": None, "images": {}}
    new = [i for i, s in enumerate(seeds) if s not in stored["seeds"]]
    stored["seeds"] = stored["seeds"] + [seeds[i] for i in new]
    if labels is not None:
        stored["labels"] = (stored["labels"] or []) + [int(labels[i]) for i in new]
    position = torch.tensor([stored["seeds"].index(s) for s in seeds])
    for name in {*stored["images"], *outputs}:
        old = stored["images"].get(name)
        shape = (len(stored["seeds"]), *(outputs[name] if old is None else old).shape[1:])
        images = torch.full(shape, float("nan"))
        if old is not None:
            images[:len(old)] = old
        if name in outputs:
            images[position] = outputs[name].float()
        stored["images"][name] = images
    save_atomic(stored, path)


def _complete_rows(out, expected: set[tuple[int, str]]) -> list[dict]:
    """Every whole row of an expected (network steps, machine), once per seed; the file is
    rewritten without the rest (torn or garbage lines, repeats). Rows for a (network steps,
    machine) this evaluation does not produce are refused: they belong to another evaluation."""
    if out is None:
        return []
    rows = read_rows(out)
    foreign = {(row["network_steps"], row["machine"]) for row in rows} - expected
    if foreign:
        raise ValueError(f"{out} holds rows for (network steps, machine) {sorted(foreign)} that this evaluation "
                         "does not produce: it belongs to another evaluation; use another out file")
    keep, seen = [], set()
    for row in rows:
        key = (row["seed"], row["network_steps"], row["machine"])
        if key not in seen:
            keep.append(row)
            seen.add(key)
    text = Path(out).read_text() if Path(out).exists() else ""
    if len(keep) != len(text.splitlines()) - 1 or not text.endswith("\n"):
        write_atomic(out, "".join(line + "\n" for line in [HEADER, *map(_format, keep)]))
    return keep


def _timed(timing: dict, name: str, n: int, fn):
    start = time.perf_counter()
    result = fn()
    entry = timing.setdefault(name, {"seconds": 0.0, "samples": 0})
    entry["seconds"] += time.perf_counter() - start
    entry["samples"] += n
    return result


def _format(row: dict) -> str:
    return ",".join("" if row[c] is None else str(row[c]) for c in COLUMNS)

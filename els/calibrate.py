"""Calibrating the locality scale of a machine against a trained network (book appendix, §A.5):
the patch size P(t) of LS and ELS, the mask threshold of PCA-locality.

Along the network's own DDIM trajectory, every candidate scale is scored at every step
by the cosine similarity between the machine's and the network's noise predictions at the
network's current ``x_t``. Per step, each seed votes for its best candidate and the schedule
takes the median vote. Results are appended one seed per line to a JSONL file, so an
interrupted run resumes where it stopped; ``<file>.timing.json`` beside it adds up the
seconds spent and the seeds computed, over every run.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .machines.machine import Machine
from .machines.protocol import scale_keyword
from .sampling import classes_of, seeded_inputs, trajectory
from .storage import append_jsonl, read_jsonl, read_timing, timing_path, write_atomic


@dataclass
class Calibration:
    """A calibrated schedule and the evidence behind it.

    schedule: one candidate scale per step (an odd patch size, or a threshold), low noise first
    (``schedule[i - 1]`` at t = i/steps).
    similarity[s][i - 1][k]: cosine similarity of candidate k at t = i/steps for seeds[s].
    choice[s][i - 1]: the best candidate of seed s at that step.
    """

    schedule: list[int]
    candidates: list[int]
    seeds: list[int]
    labels: list[int | None]
    similarity: list[list[list[float]]]
    choice: list[list[int]]

    def save(self, path: str | Path) -> None:
        write_atomic(path, json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        return cls(**json.loads(Path(path).read_text()))


def default_candidates(height: int, width: int) -> list[int]:
    """3, 5, ... up to the largest odd size that fits the image (book appendix, §A.5)."""
    largest = max(height, width)
    return list(range(3, largest + 1, 2))


def calibrate(
    network,
    machine_factory: Callable[[torch.Tensor, torch.Tensor | None], Machine],
    data: tuple[torch.Tensor, torch.Tensor | None],
    candidates: Sequence[int] | None = None,
    seeds: int | Sequence[int] = 10,
    steps: int = 20,
    out: str | Path | None = None,
    batch_size: int = 5,
    progress: bool = True,
) -> Calibration:
    """Calibrate the scale schedule of ``machine_factory(images, labels)`` against ``network``:
    candidates are values of the machine's ``scale_name`` keyword (default: the odd patch sizes
    of :func:`default_candidates`; a machine with another scale needs explicit candidates).

    network: anything with ``eps(x_t, t, label=None)``; class-conditional when it has
    ``conditional == True`` (each seed then draws a random label from the training labels).
    data: ``(images (N, C, H, W), labels (N,) or None)``, the training set the machine uses.
    seeds: a count (seeds 0..n-1) or explicit seeds. out: JSONL file of per-seed results;
    seeds already in it are not recomputed; ``batch_size`` seeds run together (results are
    written after each batch, and ``<out>.timing.json`` adds this run's seconds and seeds to
    those it holds). Returns the :class:`Calibration`.
    """
    images, labels = data
    machine = machine_factory(images, labels)
    if candidates is None and machine.scale_name != "patch_size":
        raise ValueError(f"{type(machine).__name__} is calibrated over its {machine.scale_name}: pass candidates=")
    candidates = list(candidates or default_candidates(*images.shape[2:]))
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    classes = classes_of(labels, network)
    done = _read_jsonl(out)
    todo = [s for s in seeds if s not in done]
    bar = tqdm(total=len(todo) * steps * len(candidates), desc="calibrate (seeds x steps x P)",
               disable=not progress)
    timing = read_timing(out, {"seconds": 0.0, "seeds": 0})
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        began = time.perf_counter()
        noise, label = seeded_inputs(batch, images.shape[1:], classes)
        # the network's trajectory first, then one candidate at a time: each candidate's
        # dictionary is built once per batch instead of once per step
        path = [(t, x_t, net_eps) for t, x_t, _, net_eps in
                trajectory(network, noise.to(images.dtype), steps, label=label)]
        sims = torch.empty(len(batch), steps, len(candidates), dtype=torch.float64)
        for k, p in enumerate(candidates):
            for t, x_t, net_eps in path:
                scale = scale_keyword(machine, p)
                sims[:, round(t * steps) - 1, k] = _cosine(machine.eps(x_t, t, label=label, **scale), net_eps)
                bar.update(len(batch))
        for b, seed in enumerate(batch):
            done[seed] = {"seed": seed, "label": None if label is None else int(label[b]),
                          "candidates": candidates, "similarity": sims[b].tolist()}
            _append_jsonl(out, done[seed])
        timing["seconds"] += time.perf_counter() - began
        timing["seeds"] += len(batch)
        if out is not None:
            write_atomic(timing_path(out), json.dumps(timing))
    bar.close()
    return _summarise([done[s] for s in seeds], candidates)


def _summarise(records: list[dict], candidates: list[int]) -> Calibration:
    for r in records:
        if r["candidates"] != candidates:
            raise ValueError(f"seed {r['seed']} in the results file used candidates {r['candidates']}, "
                             f"not {candidates}: use a new output file or the same candidates")
    sims = torch.tensor([r["similarity"] for r in records], dtype=torch.float64)  # (S, steps, K)
    best = sims.argmax(-1)  # (S, steps) candidate numbers
    # the lower median of the chosen values, per step, kept as the candidate itself (int or float)
    middle = torch.tensor(candidates, dtype=torch.float64)[best].median(dim=0).indices  # (steps,)
    schedule = [candidates[int(best[s, i])] for i, s in enumerate(middle.tolist())]
    choice = [[candidates[k] for k in row] for row in best.tolist()]
    return Calibration(schedule, candidates, [r["seed"] for r in records],
                       [r["label"] for r in records], sims.tolist(), choice)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity per sample of two (B, ...) tensors over all other elements (not
    mean-centred); a (B,) float64 tensor."""
    a, b = a.double().flatten(1), b.double().flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-300)


def _read_jsonl(path) -> dict[int, dict]:
    """Per-seed records already written."""
    return {} if path is None else {r["seed"]: r for r in read_jsonl(path)}


def _append_jsonl(path, record: dict) -> None:
    if path is not None:
        append_jsonl(path, record)


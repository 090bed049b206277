"""When does a network copy, and when does it create (book chapter "Copy or create")?

The MNIST UNet and ResNet (zero padding, unconditional) are trained on nested class-balanced
subsets of N images (``scripts/train_memorisation.sh``: ``artifacts/models/memorisation/
mnist_<arch>_n<N>``, the two smallest with snapshots along training). For each network (and
snapshot) this study calibrates P(t) for ELS and LS holding exactly that network's N images
(as in chapter 8), samples the network and IS, LS and ELS from the same seeds, and measures:

* the share of samples that copy a training image (:func:`els.provenance.copies`: the nearest
  training image at most a third as far as the second nearest),
* the distances to the nearest training image,
* agreement with each machine (median r and R^2, :func:`els.evaluate.summarise`),
* which image each copying sample copies, and whether IS, from the same noise, copies the same.

``python -m els memorisation [--models NAME ...] [--resume | --force]`` writes, per network,
``<out>/<name>/summary.json`` (``arch``, ``n_images``, ``copy_rate``, ``median_r`` with ``IS``,
``LS``, ``ELS``, ...) and ``manifest.json``; snapshots under ``snapshots/<steps>/``.

The book's networks trained on their whole 4,000-image subset are the last point
(``python -m els memorisation --whole-subset``: :func:`whole_subset_point`). ELS holding 4,000
images costs about 47 s a sample on this CPU, so their agreement comes from the dictionary-size
study, which already calibrated LS and ELS at 4,000 images; only the copy measures are sampled
here (network and IS from the same seeds).
"""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import torch

from . import artifacts, presets
from .. import models
from ..evaluate import evaluate, read_images, summarise
from ..machines.matched import machine_for, network_facts
from ..provenance import COPY_RATIO, nearest_two
from ..storage import results_folder
from .harness import RESULTS_BYTES, calibrated, training_data, write_summary

#: the folder under ``artifacts/models`` and ``artifacts/results`` that holds this study
STAGE = "memorisation"
SEEDS = 50  # evaluation seeds per network and snapshot
MACHINES = ("IS", "LS", "ELS")
#: architecture -> the book's network trained on its whole subset (the last point of the study)
WHOLE_SUBSET = {"unet": "mnist_unet_zeros", "resnet": "mnist_resnet_zeros"}


def folders(models_dir: str | Path | None = None, out: str | Path | None = None) -> tuple[Path, Path]:
    """The networks' folder and the results folder of this study: the given ones, else the
    committed artifacts' ``models/memorisation`` and ``results/memorisation``."""
    return (Path(models_dir) if models_dir is not None else artifacts.path("models", STAGE),
            Path(out) if out is not None else artifacts.path("results", required=False) / STAGE)


def model_names(models_dir: Path) -> list[str]:
    """The trained networks under ``models_dir``, smallest N first: folders with a ``model.pt``
    and no ``checkpoint.pt`` (a run still holding its optimiser state is unfinished; resume it
    with ``scripts/train_memorisation.sh``)."""
    found = [p.parent.name for p in Path(models_dir).glob("*/model.pt") if not (p.parent / "checkpoint.pt").exists()]
    return sorted(found, key=lambda name: (name.split("_n")[0], int(name.rsplit("_n", 1)[1])))


def copy_measures(samples: torch.Tensor, images: torch.Tensor, reference: torch.Tensor | None = None) -> dict:
    """Copying of ``samples`` (S, C, H, W) among the training ``images`` (N, C, H, W): share that
    copy (``copy_rate``), median nearest and second-nearest distances, the copied image of each
    sample (-1 where it does not copy) and, given the IS ``reference`` samples from the same
    noise, the share of samples that copy the same training image as IS does (``same_as_IS``)."""
    d1, d2, index = nearest_two(samples, images)
    copied = d1 <= COPY_RATIO * d2
    out = {"copy_rate": float(copied.double().mean()), "nearest_median": float(d1.median()),
           "second_median": float(d2.median()), "copied_image": torch.where(copied, index, -1).tolist()}
    if reference is not None:
        r1, r2, r_index = nearest_two(reference, images)
        same = copied & (r1 <= COPY_RATIO * r2) & (r_index == index)
        out["same_as_IS"] = float(same.double().mean())
    return out


def memorisation_model(name: str, preset: str = "laptop", models_dir: Path | None = None, out: Path | None = None,
                       sizes: presets.EvalPreset | None = None, seeds: int = SEEDS, progress: bool = True,
                       command: str | None = None, resume: bool = False, force: bool = False) -> dict:
    """The study for the network ``models_dir/<name>`` and its snapshots, into ``out/<name>``
    (defaults: the committed artifacts' ``models/memorisation`` and ``results/memorisation``);
    returns its summary. Refuses results already there without ``resume`` or ``force``."""
    models_dir, out = folders(models_dir, out)
    p = sizes or presets.get(preset).evaluation
    with results_folder(out / name, resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        model_dir = models_dir / name
        images, labels = training_data(model_dir)  # the network's whole training set: N images
        summary = _one_network(model_dir, model_dir, images, labels, p, seeds, here, progress)
        summary["snapshots"] = {}
        for snap in sorted((model_dir / "snapshots").glob("*/model.pt"), key=lambda f: int(f.parent.name)):
            summary["snapshots"][snap.parent.name] = _one_network(
                snap.parent, model_dir, images, labels, p, seeds, here / "snapshots" / snap.parent.name, progress)
        write_summary(here, summary, command or f"els.studies.memorisation.memorisation_model({name!r})", p, start)
        return summary


def _one_network(network_dir: Path, model_dir: Path, images, labels, p: presets.EvalPreset, seeds: int, here: Path,
                 progress: bool) -> dict:
    """Calibrate, sample and measure the network saved in ``network_dir`` (the model's folder, or
    one of its snapshots) into ``here``."""
    here.mkdir(parents=True, exist_ok=True)
    network = models.load(network_dir / "model.pt")
    training_steps = json.loads((network_dir / "manifest.json").read_text())["steps"]
    matched = partial(machine_for, model_dir)
    schedules = {kind: calibrated(network, partial(matched, kind), images, labels, p, here / f"calibration_{kind}",
                                  progress).schedule for kind in ("ELS", "LS")}
    machines = {"IS": (matched("IS", images, labels), None), "LS": (matched("LS", images, labels), schedules["LS"]),
                "ELS": (matched("ELS", images, labels), schedules["ELS"])}
    first = p.calibration_seeds  # evaluation seeds follow the calibration seeds
    reference = max(p.network_steps)
    rows = evaluate(network, machines, seeds=list(range(first, first + seeds)), steps=p.steps,
                    network_steps=(reference,), out=here / "samples.csv", batch_size=25, progress=progress,
                    images_out=here / "final_images.pt")
    stored = read_images(here / "final_images.pt")
    agreement = summarise(rows)[str(reference)]
    facts = network_facts(model_dir)
    net = copy_measures(stored["images"][f"network@{reference}"], images, stored["images"]["IS"])
    return {"arch": facts["arch"], "n_images": len(images), "training_steps": training_steps,
            "schedules": schedules, "seeds": len(stored["seeds"]),
            "copy_rate": net["copy_rate"], "network": net,
            **{f"{m}_samples": copy_measures(stored["images"][m], images) for m in ("IS", "ELS")},
            "median_r": {m: agreement[m]["r"]["median"] for m in MACHINES},
            "median_R2": {m: agreement[m]["R2"]["median"] for m in MACHINES}}


def whole_subset_point(arch: str, preset: str = "laptop", out: Path | None = None, seeds: int = SEEDS,
                       progress: bool = True, command: str | None = None, resume: bool = False,
                       force: bool = False) -> dict:
    """The study's last point: the book's ``arch`` network trained on its whole subset
    (:data:`WHOLE_SUBSET`), into ``out/mnist_<arch>_n<N>``; returns its summary.

    The copy measures come from ``seeds`` network and IS samples drawn here from the same noise;
    median r and R^2 with IS, LS and ELS come from the dictionary-size study at N images
    (``results/<network>/dictionary/summary.json``: P(t) recalibrated at N, its own seeds), named
    in the summary's ``agreement_from``. Refuses results already there without ``resume`` or
    ``force``."""
    if arch not in WHOLE_SUBSET:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {sorted(WHOLE_SUBSET)}")
    name = WHOLE_SUBSET[arch]
    model_dir = artifacts.path("models", name)
    dictionary = artifacts.path("results", name, "dictionary", "summary.json")
    images, labels = training_data(model_dir)
    at_n = json.loads(dictionary.read_text())
    machines_at_n = at_n["sizes"][str(len(images))]["machines"]
    pick = {"IS": "IS", "LS": "LS (recalibrated)", "ELS": "ELS (recalibrated)"}
    p = presets.get(preset).evaluation
    with results_folder(result_folder(arch, len(images), out), resume, force, need_bytes=RESULTS_BYTES) as here:
        start = time.perf_counter()
        network = models.load(model_dir / "model.pt")
        reference = max(p.network_steps)
        first = p.calibration_seeds
        evaluate(network, {"IS": (machine_for(model_dir, "IS", images, labels), None)},
                 seeds=list(range(first, first + seeds)), steps=p.steps, network_steps=(reference,),
                 out=here / "samples.csv", batch_size=25, progress=progress, images_out=here / "final_images.pt")
        stored = read_images(here / "final_images.pt")
        net = copy_measures(stored["images"][f"network@{reference}"], images, stored["images"]["IS"])
        summary = {"arch": arch, "n_images": len(images), "network_name": name,
                   "training_steps": json.loads((model_dir / "manifest.json").read_text())["steps"],
                   "seeds": len(stored["seeds"]), "copy_rate": net["copy_rate"], "network": net,
                   "IS_samples": copy_measures(stored["images"]["IS"], images),
                   "median_r": {m: machines_at_n[pick[m]]["r"] for m in MACHINES},
                   "median_R2": {m: machines_at_n[pick[m]]["R2"] for m in MACHINES},
                   "agreement_from": {"file": f"results/{name}/dictionary/summary.json", "size": str(len(images)),
                                      "rows": pick, "seeds": at_n["seeds"], "network_steps": at_n["network_steps"]},
                   "snapshots": {}}
        write_summary(here, summary, command or f"els.studies.memorisation.whole_subset_point({arch!r})", p, start)
        return summary


# --------------------------------------------------------------------------- reading the results (chapter 12)
#: how chapter 12 names each architecture in figures and galleries
ARCH_LABELS = {"unet": "UNet", "resnet": "ResNet"}


def result_folder(arch: str, n_images: int, out: str | Path | None = None) -> Path:
    """``<out>/mnist_<arch>_n<N>``: the results of the ``arch`` network trained on ``n_images``
    images (default ``out``: the committed ``results/memorisation``)."""
    return folders(None, out)[1] / f"mnist_{arch}_n{n_images}"


def points(out: str | Path | None = None) -> dict[str, list[dict]]:
    """Every finished point of the study, read from ``<out>/mnist_*_n*/summary.json`` (a size
    added later is picked up): architecture -> its summaries, fewest training images first;
    the UNet, then the ResNet, then any other architecture. Chapter 12 reads it."""
    found: dict[str, list[dict]] = {}
    for path in folders(None, out)[1].glob("mnist_*_n*/summary.json"):
        summary = json.loads(path.read_text())
        found.setdefault(summary["arch"], []).append(summary)
    order = [a for a in ARCH_LABELS if a in found] + sorted(set(found) - set(ARCH_LABELS))
    return {arch: sorted(found[arch], key=lambda s: s["n_images"]) for arch in order}


def training_points(summary: dict) -> list[dict]:
    """The network's snapshots and the network itself, fewest training steps first; each has
    the fields of a summary's point (``training_steps``, ``copy_rate``, ``network``,
    ``median_r``, ...)."""
    return sorted([*summary.get("snapshots", {}).values(), summary], key=lambda s: s["training_steps"])


def model_folder(summary: dict) -> Path:
    """The folder of the network a summary measures: ``models/<network_name>`` for the book's
    networks on their whole subset, else ``models/memorisation/mnist_<arch>_n<N>``."""
    if "network_name" in summary:
        return artifacts.path("models", summary["network_name"])
    return artifacts.path("models", STAGE, f"mnist_{summary['arch']}_n{summary['n_images']}")


def training_images(summary: dict) -> torch.Tensor:
    """The N training images ``(N, 1, 32, 32)`` in ``[-1, 1]`` of the network a summary measures."""
    return training_data(model_folder(summary))[0]


def samples(summary: dict, out: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The final images a point stored, one per evaluation seed: ``{"network": (S, 1, H, W),
    "IS": ..., "LS": ..., "ELS": ...}`` (the machines that were sampled; ``"network"`` is the
    network sampled in its reference number of steps, stored as ``network@<steps>``)."""
    stored = read_images(result_folder(summary["arch"], summary["n_images"], out) / "final_images.pt")["images"]
    return {("network" if name.startswith("network@") else name): images for name, images in stored.items()}


def distances(summary: dict, out: str | Path | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per sample, the distance to the nearest and to the second-nearest of the network's N
    training images (:func:`els.provenance.nearest_two`), for the network's samples and every
    sampled machine's: ``{"network": (d1 (S,), d2 (S,)), "IS": ..., ...}``, float64. A sample
    copies where ``d1 <= COPY_RATIO * d2``."""
    images = training_images(summary)
    return {name: nearest_two(x, images)[:2] for name, x in samples(summary, out).items()}


def evaluation_seeds(summary: dict, out: str | Path | None = None) -> list[int]:
    """The noise seeds of a point's evaluation samples, in the order of :func:`samples` and of
    the summary's per-sample lists (``copied_image``); the same in every folder."""
    stored = read_images(result_folder(summary["arch"], summary["n_images"], out) / "final_images.pt")
    return [int(seed) for seed in stored["seeds"]]


def _verdict(copied: int | None) -> str:
    """How a gallery captions one sample: ``copied`` is the index of the training image it
    copies, -1 when it is new, None when that sampler was not sampled there."""
    if copied is None:
        return "not sampled"
    return f"copies #{copied}" if copied >= 0 else "new"


def same_noise(runs: dict[str, list[dict]], index: int, out: str | Path | None = None, by_size: bool = False
               ) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """A gallery of evaluation sample ``index`` (the same noise in every folder) across the
    training-set sizes of :func:`points` ``runs``: rows ``"IS"`` and, per architecture, the
    network and the ELS machine calibrated to it; one column per N, fewest first. Returns
    ``(rows, captions)``: row label -> images ``(len(Ns), 1, H, W)`` (NaN, drawn blank, where a
    folder holds no such sample) and row label -> one caption per column, ``"N = 16\\ncopies
    #5"`` (index among that network's N training images), ``"N = 16\\nnew"`` or ``"N =
    4000\\nnot sampled"``.

    With ``by_size`` the gallery is transposed, so that it keeps its width as sizes are added:
    one row per N (``"N = 16"``) and one column per machine, captioned with the machine's name
    over its verdict (``"UNet\\ncopies #5"``). Chapter 12 draws it that way."""
    sizes = sorted({s["n_images"] for pts in runs.values() for s in pts})
    rows: dict[str, list[torch.Tensor | None]] = {"IS": [None] * len(sizes)}
    verdicts: dict[str, list[str]] = {"IS": [_verdict(None)] * len(sizes)}
    fields = {"network": "network", "ELS": "ELS_samples", "IS": "IS_samples"}
    for arch, pts in runs.items():
        label = ARCH_LABELS.get(arch, arch)
        mine = {label: "network", f"ELS for {label}": "ELS"}
        for row in mine:
            rows[row], verdicts[row] = [None] * len(sizes), [_verdict(None)] * len(sizes)
        for s in pts:
            k = sizes.index(s["n_images"])
            stored = samples(s, out)
            for row, name in [*mine.items(), ("IS", "IS")]:
                if name in stored and fields[name] in s:
                    rows[row][k] = stored[name][index]
                    verdicts[row][k] = _verdict(s[fields[name]]["copied_image"][index])
    shape = next(x.shape for r in rows.values() for x in r if x is not None)
    blank = torch.full(shape, float("nan"))
    stacked = {row: torch.stack([blank if x is None else x for x in r]) for row, r in rows.items()}
    if not by_size:
        return stacked, {row: [f"N = {n}\n{v}" for n, v in zip(sizes, vs)] for row, vs in verdicts.items()}
    return ({f"N = {n}": torch.stack([stacked[row][k] for row in stacked]) for k, n in enumerate(sizes)},
            {f"N = {n}": [f"{row}\n{verdicts[row][k]}" for row in stacked] for k, n in enumerate(sizes)})


def slider_frames(runs: dict[str, list[dict]], count: int, out: str | Path | None = None
                  ) -> tuple[dict[int, torch.Tensor], list[str]]:
    """Frames for :func:`els.book.widgets.frame_slider` over N: for every N that all
    architectures of ``runs`` have, the networks' samples from the first ``count`` evaluation
    seeds, one architecture after the other (``(A * count, 1, H, W)``); and one caption per
    image (``"UNet, seed 6"``), the same in every frame."""
    common = sorted(set.intersection(*({s["n_images"] for s in p} for p in runs.values())))
    frames = {}
    for n in common:
        at_n = [next(s for s in p if s["n_images"] == n) for p in runs.values()]
        frames[n] = torch.cat([samples(s, out)["network"][:count] for s in at_n])
    seeds = evaluation_seeds(runs[next(iter(runs))][0], out)[:count]
    return frames, [f"{ARCH_LABELS.get(a, a)}, seed {seed}" for a in runs for seed in seeds]


def slider_copies(runs: dict[str, list[dict]], count: int, out: str | Path | None = None
                  ) -> list[tuple[str, int, int, int]]:
    """The copies among the images of :func:`slider_frames` (whose captions, shared by every
    frame, cannot say so): ``(architecture label, N, seed, copied training image)`` for each
    network sample from the first ``count`` seeds that copies, fewest images first."""
    common = set.intersection(*({s["n_images"] for s in p} for p in runs.values()))
    seeds = evaluation_seeds(runs[next(iter(runs))][0], out)[:count]
    found = [(ARCH_LABELS.get(arch, arch), s["n_images"], seed, c) for arch, pts in runs.items() for s in pts
             if s["n_images"] in common for seed, c in zip(seeds, s["network"]["copied_image"]) if c >= 0]
    return sorted(found, key=lambda f: f[1])

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
    _, out = folders(None, out)
    p = presets.get(preset).evaluation
    with results_folder(out / f"mnist_{arch}_n{len(images)}", resume, force, need_bytes=RESULTS_BYTES) as here:
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

"""Engine benchmark: time per ``denoise`` call against the matrix-product floor, and the peak
memory of a call at two training-set sizes.

    python -m els bench [--images 6000] [--repeats 2] [--out results/bench.json] [--force]
    python -m els bench --markdown artifacts/bench/cpu.json    # the results appendix's tables
    python -m els bench --golden mnist_resnet_zeros --out artifacts/bench/golden.json
    python -m els bench --tiered mnist_resnet_zeros [--k 500 --switch 0.05] --out artifacts/bench/tiered.json
    python -m els bench --scaling mnist_resnet_zeros --out artifacts/bench/scaling.json

Scaling (``--scaling MODEL``): the exact ELS machine's seconds per sample with N = 500 to
4,000 of the model's training images, dictionary building apart.

Tiered (``--tiered MODEL``, after ``python -m els dictionary --models MODEL --stages fixed``):
the fast mode of :mod:`els.tiered` on every image the network trained on, timed against the
exact machine on the ``k``-image subset in the same run, and scored against the exact
machine on every image (the study's samples).

Golden subsets (``--golden MODEL``, after ``python -m els standing``): IS, ELS and PCA-locality
with the model's calibrated schedules sample the same seeds exactly and on golden subsets
(:mod:`els.golden`, 5% to 10% of the training images, GoldDiff's MNIST proportions); the
table gives seconds per sample of each, their ratio, and how closely the fast samples follow
the exact ones (Pearson r and R^2 of fast against exact, median over the seeds).

For a 1 x 1 x 32 x 32 query against ``--images`` MNIST images (real MNIST when ``els.data``
can load it, otherwise a fixed synthetic stand-in of strokes on a black background), each
machine is timed with and without exact de-duplication, beside the *floor*: the same
logits (queries x dictionary entries, without de-duplication) computed as a bare chunked
``K @ Q.T`` followed by an in-place ``exp``, measured in the same run. Dictionary building
(done once per machine and patch size, then cached) is timed separately.

Memory: for each case of ``MEMORY_CASES``, a fresh process builds the machine on ``N`` sparse
binary images (10% of pixels on; uniform random ones for the no-duplicates worst case) and
denoises one query; its peak resident memory above what it held before building the machine
is reported at two ``N``, with the growth per added dictionary window (the windows of every
training image, before de-duplication).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..engine.softmax import DEFAULT_CHUNK_BYTES, chunk_length
from ..machines.machine import ELS, IS, LS, Machine
from ..storage import git_commit, machine_info, write_atomic

CASES = [("ELS circular", 3), ("ELS circular", 5), ("ELS circular", 9), ("ELS circular", 15),
         ("ELS zeros (bbELS)", 5), ("ELS zeros (bbELS)", 15), ("LS", 5), ("LS", 15), ("IS", None)]
#: (machine, P, images, (N small, N large)) for the peak-memory rows
MEMORY_CASES = [("ELS zeros (bbELS)", 5, "sparse binary", (1000, 8000)),
                ("ELS zeros (bbELS)", 5, "uniform", (1000, 8000)),
                ("ELS circular", 5, "sparse binary", (1000, 8000)),
                ("LS", 5, "sparse binary", (1000, 60000)), ("IS", None, "sparse binary", (1000, 60000))]


def mnist_like(n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """(n, 1, 32, 32) images in [-1, 1]: real MNIST if available, else synthetic strokes."""
    try:
        from ..data import load
        images, _ = load("mnist", max_images=n, seed=seed)
        return images, "MNIST (els.data)"
    except Exception as error:  # no data module or no data: fall back, and say so
        print(f"els bench: real MNIST unavailable ({type(error).__name__}: {error}); using synthetic strokes")
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    images = torch.zeros(n, 1, 32, 32)
    for _ in range(3):  # three thick strokes per image, between random points in the centre
        p0, p1 = torch.rand(2, n, 2, generator=g) * 18 + 7
        d = p1 - p0
        s = (((xx - p0[:, 0, None, None]) * d[:, 0, None, None] + (yy - p0[:, 1, None, None]) * d[:, 1, None, None])
             / (d ** 2).sum(1)[:, None, None].clamp(min=1e-6)).clamp(0, 1)
        dist = torch.hypot(xx - p0[:, 0, None, None] - s * d[:, 0, None, None],
                           yy - p0[:, 1, None, None] - s * d[:, 1, None, None])
        images[:, 0] = torch.maximum(images[:, 0], (2.0 - dist).clamp(0, 1))
    images = (images * 255).round() / 255  # 8-bit levels, like real data: background is exactly 0
    return images * 2 - 1, "synthetic strokes (fixed seed)"


def make_machine(case: str, size: int | None, images: torch.Tensor, dedup: bool, device) -> Machine:
    if case == "IS":
        return IS(images, dedup=dedup, device=device)
    if case == "LS":
        return LS(images, patch_size=size, dedup=dedup, device=device)
    padding = "circular" if "circular" in case else "zeros"
    return ELS(images, patch_size=size, padding=padding, dedup=dedup, device=device)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, repeats: int, device) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def floor_time(machine: Machine, repeats: int) -> tuple[float, int]:
    """Time of the bare chunked ``Q @ K.T`` + ``exp`` over the machine's logits without
    de-duplication (same query counts, entry counts, widths and chunk sizes), and the number
    of logits."""
    layout = machine.layout(machine.patch_size)
    n_images = len(machine.images)
    width = machine.images.shape[1] * layout.window[0] * layout.window[1] + 3
    # a same-location pixel is a group of one query against the N windows at its position
    shapes = [(len(q), len(d) * n_images) for q, d in layout.shared] + [(1, n_images)] * len(layout.same_location)
    kw = dict(device=machine.device, dtype=machine.dtype)
    keys = torch.full((sum(n for _, n in shapes), width), 0.01, **kw)  # every group reads its own keys
    queries = torch.full((max(m for m, _ in shapes), width), 0.01, **kw)

    def run():
        start = 0
        for m, n in shapes:
            qt = queries[:m].T.contiguous()
            step = chunk_length(m, machine.chunk_bytes, qt.element_size())
            for i in range(start, start + n, step):
                (keys[i:min(i + step, start + n)] @ qt).exp_()
            start += n

    return time_call(run, repeats, machine.device), sum(m * n for m, n in shapes)


def run(n_images: int = 6000, repeats: int = 2, device=None, out: str | None = "results/bench.json",
        memory: bool = True) -> dict:
    """Time every ``CASES`` row on ``n_images`` MNIST images and, with ``memory`` (CPU only),
    measure the ``MEMORY_CASES`` rows; print the tables, write ``out`` (JSON) and return it."""
    started = time.perf_counter()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    images, source = mnist_like(n_images)
    query = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    rows = []
    print(f"{n_images} training images: {source}; device {device}; {torch.get_num_threads()} threads\n")
    header = f"{'machine':<20}{'P':>4}{'entries':>11}{'dedup':>9}{'build s':>9}{'no-dedup s':>11}{'dedup s':>9}{'floor s':>9}{'engine/floor':>13}{'dedup gain':>11}"
    print(header)
    for case, size in CASES:
        row = {"machine": case, "patch_size": size}
        for dedup in (False, True):
            m = make_machine(case, size, images, dedup, device)
            start = time.perf_counter()
            layout, dictionaries, _ = m.dictionaries(m.patch_size, None)
            build = time.perf_counter() - start
            call = time_call(lambda: m.denoise(query, 0.5), repeats, device)
            # a same-location pixel uses the box-filter path: its N windows, no dictionary
            entries = sum(len(d) for d in dictionaries) + len(m.images) * len(layout.same_location)
            row.update({f"{'dedup' if dedup else 'plain'}_{k}": v for k, v in
                        dict(entries=entries, build_s=build, call_s=call).items()})
        row["floor_s"], row["logits"] = floor_time(m, repeats)
        row["engine_over_floor"] = row["plain_call_s"] / row["floor_s"]
        row["dedup_speedup"] = row["plain_call_s"] / row["dedup_call_s"]
        rows.append(row)
        print(f"{case:<20}{size or '-':>4}{row['plain_entries']:>11,}{row['plain_entries'] / row['dedup_entries']:>8.2f}x"
              f"{row['dedup_build_s']:>9.2f}{row['plain_call_s']:>11.3f}{row['dedup_call_s']:>9.3f}"
              f"{row['floor_s']:>9.3f}{row['engine_over_floor']:>13.2f}{row['dedup_speedup']:>10.2f}x", flush=True)
    memory = memory_rows() if memory and device.type == "cpu" else []
    result = {"command": "python -m els bench " + " ".join(sys.argv[1:]), "git": git_commit(),
              "machine": machine_info(device), "wall_seconds": time.perf_counter() - started,
              "images": n_images, "source": source, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "chunk_bytes": DEFAULT_CHUNK_BYTES.get(device.type), "repeats": repeats, "rows": rows,
              "memory": memory}
    if out:
        write_atomic(out, json.dumps(result, indent=1))
        print(f"\nwritten {out}")
    return result


def memory_rows() -> list[dict]:
    """Peak memory of one denoise call at two N per ``MEMORY_CASES`` row (CPU: resident memory)."""
    print(f"\n{'machine':<20}{'P':>4}{'images':>15}{'N':>14}{'windows added':>15}{'peak MB':>16}{'bytes/window':>14}")
    rows = []
    for case, size, kind, sizes in MEMORY_CASES:
        peaks = [json.loads(subprocess.run(
            [sys.executable, "-m", "els.studies.bench", "--peak", case, str(size or 0), kind, str(n)],
            capture_output=True, text=True, check=True).stdout) for n in sizes]
        added = peaks[1]["windows"] - peaks[0]["windows"]
        row = {"machine": case, "patch_size": size, "images": kind, "n": list(sizes),
               "windows": [p["windows"] for p in peaks], "peak_bytes": [p["peak_bytes"] for p in peaks],
               "bytes_per_added_window": (peaks[1]["peak_bytes"] - peaks[0]["peak_bytes"]) / added}
        rows.append(row)
        print(f"{case:<20}{size or '-':>4}{kind:>15}{sizes[0]:>7,}->{sizes[1]:<6,}{added:>15,}"
              f"{row['peak_bytes'][0] / 2**20:>7.0f}->{row['peak_bytes'][1] / 2**20:<7.0f}"
              f"{row['bytes_per_added_window']:>14.1f}", flush=True)
    return rows


def peak_of_one_call(case: str, size: int | None, kind: str, n: int) -> dict:
    """In this (fresh) process: peak resident bytes above the current ones while building the
    machine on ``n`` images of ``kind`` and denoising one 1 x 1 x 32 x 32 query at t = 0.5
    (Linux: the peak is reset through /proc/self/clear_refs once the images exist)."""
    g = torch.Generator().manual_seed(0)
    if kind == "sparse binary":
        images = (torch.rand(n, 1, 32, 32, generator=g) < 0.1).float() * 2 - 1
    else:
        images = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    query = torch.randn(1, 1, 32, 32, generator=g)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak to the current resident size
        f.write("5")
    before = _status_bytes("VmHWM")
    m = make_machine(case, size, images, True, "cpu")
    m.denoise(query, 0.5)
    peak = _status_bytes("VmHWM")
    layout = m.layout(m.patch_size)
    windows = n * (sum(len(d) for _, d in layout.shared) + len(layout.same_location))
    return {"peak_bytes": max(0, peak - before), "windows": windows}


def markdown(result: dict) -> str:
    """The results appendix's two tables (time per call, peak memory per call) from a bench result."""
    lines = ["| machine | P | entries | dedup shrink | build (s) | call, no dedup (s) | call, dedup (s) "
             "| floor (s) | engine / floor | dedup speed-up |", "|---" * 10 + "|"]
    for r in result["rows"]:
        lines.append(f"| {r['machine']} | {r['patch_size'] or '-'} | {r['plain_entries']:,} "
                     f"| {r['plain_entries'] / r['dedup_entries']:.2f}x | {r['dedup_build_s']:.2f} "
                     f"| {r['plain_call_s']:.3f} | {r['dedup_call_s']:.3f} | {r['floor_s']:.3f} "
                     f"| {r['engine_over_floor']:.2f} | {r['dedup_speedup']:.2f}x |")
    lines += ["", "| machine | P | images | N | windows added | peak above start (MB) | bytes per added window |",
              "|---" * 7 + "|"]
    for r in result.get("memory", []):
        mb = [f"{b / 2**20:.0f}" for b in r["peak_bytes"]]
        lines.append(f"| {r['machine']} | {r['patch_size'] or '-'} | {r['images']} | {r['n'][0]:,} -> {r['n'][1]:,} "
                     f"| {r['windows'][1] - r['windows'][0]:,} | {mb[0]} -> {mb[1]} | {r['bytes_per_added_window']:.1f} |")
    return "\n".join(lines)


GOLDEN_MACHINES = ("IS", "ELS", "PCALocality")


def golden_run(model: str, seeds: int = 30, steps: int = 20) -> dict:
    """Exact against golden-subset sampling for one committed, compared model (module
    docstring): one row per machine of ``GOLDEN_MACHINES``."""
    from . import artifacts
    from ..calibrate import Calibration
    from ..evaluate import agreement
    from ..machines.golden import GoldenSubset, published_sizes
    from ..machines.matched import machine_for
    from .harness import training_data
    from ..sampling import classes_of, sample, seeded_inputs

    started = time.perf_counter()
    model_dir, results = artifacts.path("models", model), artifacts.path("results", model)
    summary = json.loads((results / "standing" / "summary.json").read_text())
    images, labels = training_data(model_dir, summary["images"])
    schedules = {"IS": None, "ELS": Calibration.load(results / "calibration_ELS.json").schedule,
                 "PCALocality": summary["pca_schedule"]}
    options = {"PCALocality": {"mask": summary["pca_rule"]}}
    k_min, k_max = published_sizes(len(images))
    chosen = summary["evaluation_seeds"][:seeds]
    classes = classes_of(labels)
    noise, label = seeded_inputs(chosen, images.shape[1:], classes)
    rows = []
    for kind in GOLDEN_MACHINES:
        machine = machine_for(model_dir, kind, images, labels, **options.get(kind, {}))
        timed = {}
        for name, sampler in (("exact", machine), ("golden", GoldenSubset(machine, k_min, k_max, seed=0))):
            start = time.perf_counter()
            timed[name] = sample(sampler, noise.to(machine.dtype), steps, schedules[kind], label=label)
            timed[name + "_s"] = (time.perf_counter() - start) / len(chosen)
        score = agreement(timed["golden"], timed["exact"])
        rows.append({"machine": kind, "exact_s_per_sample": timed["exact_s"], "golden_s_per_sample": timed["golden_s"],
                     "speedup": timed["exact_s"] / timed["golden_s"],
                     "r_median": float(score["r"].median()), "r_min": float(score["r"].min()),
                     "R2_median": float(score["R2"].median())})
        print(f"{kind:<12} exact {timed['exact_s']:.3f} s/sample, golden {timed['golden_s']:.3f} s/sample, "
              f"speed-up {rows[-1]['speedup']:.2f}x, r(golden, exact) median {rows[-1]['r_median']:.3f}", flush=True)
    return {"command": "python -m els bench " + " ".join(sys.argv[1:]), "git": git_commit(), "machine": machine_info(),
            "wall_seconds": time.perf_counter() - started, "model": model, "images": len(images),
            "k_min": k_min, "k_max": k_max, "seeds": chosen, "steps": steps, "rows": rows}


def golden_markdown(result: dict) -> str:
    """The results appendix's golden-subset table from a ``golden_run`` result."""
    lines = ["| machine | exact (s / sample) | golden subset (s / sample) | speed-up | r(golden, exact) median (min) "
             "| R^2(golden, exact) median |", "|---" * 6 + "|"]
    for r in result["rows"]:
        lines.append(f"| {r['machine']} | {r['exact_s_per_sample']:.3f} | {r['golden_s_per_sample']:.3f} "
                     f"| {r['speedup']:.2f}x | {r['r_median']:.3f} ({r['r_min']:.3f}) | {r['R2_median']:.3f} |")
    return "\n".join(lines)


def scaling_run(model: str, n_images=(500, 1000, 2000, 4000), seeds=(6, 7)) -> dict:
    """Seconds per sample of the exact ELS machine against the number of training images it
    holds (``n_images``: nested class-balanced subsets of one model's training images, its calibrated
    schedule, ``seeds`` sampled together), with the dictionary building timed apart and the
    dictionary entries counted: whether the cost grows in proportion to N."""
    from . import artifacts
    from ..calibrate import Calibration
    from ..machines.matched import machine_for
    from .harness import training_data
    from ..sampling import classes_of, sample, seeded_inputs

    started = time.perf_counter()
    model_dir, results = artifacts.path("models", model), artifacts.path("results", model)
    schedule = Calibration.load(results / "calibration_ELS.json").schedule
    rows = []
    for n in n_images:
        images, labels = training_data(model_dir, n)
        machine = machine_for(model_dir, "ELS", images, labels)
        classes = classes_of(labels)
        noise, label = seeded_inputs(list(seeds), images.shape[1:], classes)
        start = time.perf_counter()
        entries = sum(len(d) for lab in (classes or [None]) for size in sorted(set(schedule))
                      for d in machine.dictionaries(size, lab)[1])
        build = time.perf_counter() - start
        start = time.perf_counter()
        sample(machine, noise, len(schedule), schedule, label=label)
        seconds = (time.perf_counter() - start) / len(seeds)
        rows.append({"images": n, "build_s": build, "s_per_sample": seconds, "entries": entries})
        print(f"N = {n:>5,}: build {build:.1f} s, {seconds:.2f} s per sample, {entries:,} dictionary entries "
              f"over the schedule's patch sizes", flush=True)
    return {"command": "python -m els bench " + " ".join(sys.argv[1:]), "git": git_commit(), "machine": machine_info(),
            "wall_seconds": time.perf_counter() - started, "model": model, "seeds": list(seeds),
            "schedule": schedule, "rows": rows}


def scaling_markdown(result: dict) -> str:
    """The results appendix's table from a ``scaling_run`` result: per N, seconds per sample, and per
    sample and 1,000 images relative to the smallest N."""
    first = result["rows"][0]
    lines = [f"| images N ({result['model']}) | dictionary entries | build (s) | s / sample | s / sample / 1,000 images "
             "| relative to the smallest N |", "|---" * 6 + "|"]
    for r in result["rows"]:
        per = r["s_per_sample"] / r["images"] * 1000
        lines.append(f"| {r['images']:,} | {r['entries']:,} | {r['build_s']:.1f} | {r['s_per_sample']:.2f} | {per:.2f} "
                     f"| {per / (first['s_per_sample'] / first['images'] * 1000):.2f} |")
    return "\n".join(lines)


TIERED_SEEDS_TIMED_EXACT = 2  # seeds of the exact machine on every image, timed for the ratio (slow)


def tiered_run(model: str, k: int = 500, switch: float = 0.05, batch: int = 10) -> dict:
    """The tiered fast mode (:mod:`els.tiered`) on every training image of one model, against
    the exact machine on every image (the dictionary-size study's final images at that size,
    ``results/<model>/dictionary/N<n>/images.pt``, same seeds and schedule) and the exact
    machine on the ``k``-image subset alone. Seconds per sample of the fast mode and of the
    exact machine on ``k`` images come from this run over all the seeds (batches of
    ``batch``), the exact machine on every image from its first ``TIERED_SEEDS_TIMED_EXACT``;
    r, R^2 and the largest pixel error of each approximation against the exact samples."""
    from . import artifacts
    from ..calibrate import Calibration
    from .dictionary_size import SEEDS
    from ..evaluate import agreement, read_images
    from ..machines.matched import machine_for
    from .harness import training_data
    from ..sampling import classes_of, sample, seeded_inputs
    from ..machines.tiered import Tiered

    started = time.perf_counter()
    model_dir, results = artifacts.path("models", model), artifacts.path("results", model)
    images, labels = training_data(model_dir)
    reference = results / "dictionary" / f"N{len(images)}" / "images.pt"
    if not reference.exists():
        raise FileNotFoundError(f"no exact samples at N = {len(images)} in {reference}: run python -m els dictionary "
                                f"--models {model} --sizes {len(images)} --stages fixed first")
    stored = read_images(reference)
    seeds = [s for s in SEEDS if s in stored["seeds"]]
    exact = stored["images"]["ELS"][[stored["seeds"].index(s) for s in seeds]]
    schedule = Calibration.load(results / "calibration_ELS.json").schedule
    classes = classes_of(labels)
    noise, label = seeded_inputs(seeds, images.shape[1:], classes)
    whole = machine_for(model_dir, "ELS", images, labels)
    fast = Tiered(whole, k, switch)
    few = fast.coarse  # the exact machine on the k-image subset alone

    def timed(machine, chosen):
        out, start = [], time.perf_counter()
        for i in range(0, len(chosen), batch):
            part = chosen[i:i + batch]
            out.append(sample(machine, noise[part], len(schedule), schedule,
                              label=None if label is None else label[part]))
        return torch.cat(out), (time.perf_counter() - start) / len(chosen)

    every = list(range(len(seeds)))
    rows = {}
    for name, machine, chosen in (("exact, k images", few, every), ("tiered", fast, every),
                                  ("exact, every image", whole, every[:TIERED_SEEDS_TIMED_EXACT])):
        x, seconds = timed(machine, chosen)
        score = agreement(x, exact[chosen])
        rows[name] = {"s_per_sample": seconds, "r_median": float(score["r"].median()), "r_min": float(score["r"].min()),
                      "R2_median": float(score["R2"].median()), "max_pixel_error": float((x - exact[chosen]).abs().max()),
                      "seeds": len(chosen)}
        print(f"{name:<20} {seconds:.2f} s/sample, r(., exact) median {rows[name]['r_median']:.4f} "
              f"(min {rows[name]['r_min']:.4f}), largest pixel error {rows[name]['max_pixel_error']:.3f}", flush=True)
    base = rows["exact, k images"]["s_per_sample"]
    return {"command": "python -m els bench " + " ".join(sys.argv[1:]), "git": git_commit(), "machine": machine_info(),
            "wall_seconds": time.perf_counter() - started, "model": model, "images": len(images), "k": k,
            "switch": switch, "schedule": schedule, "seeds": seeds, "rows": rows,
            "tiered_over_exact_k": rows["tiered"]["s_per_sample"] / base,
            "exact_every_over_exact_k": rows["exact, every image"]["s_per_sample"] / base}


def tiered_markdown(result: dict) -> str:
    """The results appendix's table from a ``tiered_run`` result."""
    n, k = result["images"], result["k"]
    lines = [f"| machine ({result['model']}) | s / sample | cost / exact on {k} | r(., exact on {n}) median (min) "
             f"| R^2 median | largest pixel error | seeds |", "|---" * 7 + "|"]
    base = result["rows"]["exact, k images"]["s_per_sample"]
    names = {"exact, k images": f"exact, {k} images", "tiered": f"tiered: {n} images at t <= {result['switch']:g}, "
             f"{k} above", "exact, every image": f"exact, {n} images"}
    for key, label in names.items():
        r = result["rows"][key]
        lines.append(f"| {label} | {r['s_per_sample']:.2f} | {r['s_per_sample'] / base:.2f}x "
                     f"| {r['r_median']:.4f} ({r['r_min']:.4f}) | {r['R2_median']:.4f} | {r['max_pixel_error']:.3f} "
                     f"| {r['seeds']} |")
    return "\n".join(lines)


def renderer(result: dict):
    """The markdown function for a bench result of any kind (by the fields it holds)."""
    if "k_max" in result:
        return golden_markdown
    if "switch" in result:
        return tiered_markdown
    return scaling_markdown if "entries" in result["rows"][0] else markdown


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (Linux), in bytes."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m els bench",
                                     description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--images", type=int, default=6000, help="training images (default 6000)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per measurement (best is kept)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", default="results/bench.json", help="JSON output path")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--markdown", metavar="JSON", help="print a result's tables as markdown, run nothing")
    parser.add_argument("--golden", metavar="MODEL", help="exact against golden-subset sampling for a compared model")
    parser.add_argument("--scaling", metavar="MODEL", help="exact ELS seconds per sample against the number of "
                        "training images (after python -m els reproduce)")
    parser.add_argument("--tiered", metavar="MODEL", help="the tiered fast mode on every training image of a model "
                        "(after python -m els dictionary --models MODEL)")
    parser.add_argument("--k", type=int, default=500, help="--tiered: training images kept at high noise")
    parser.add_argument("--switch", type=float, default=0.05, help="--tiered: t above which the subset is used")
    parser.add_argument("--peak", nargs=4, metavar=("MACHINE", "P", "IMAGES", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.markdown:
        result = json.loads(Path(args.markdown).read_text())
        print(renderer(result)(result))
        return
    if args.peak:  # one memory measurement, in the fresh process memory_rows starts
        case, size, kind, n = args.peak
        print(json.dumps(peak_of_one_call(case, int(size) or None, kind, int(n))))
        return
    if args.out and Path(args.out).exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to replace it, or choose another --out")
    if args.golden or args.tiered or args.scaling:
        result = (golden_run(args.golden) if args.golden else tiered_run(args.tiered, args.k, args.switch)
                  if args.tiered else scaling_run(args.scaling))
        if args.out:
            write_atomic(args.out, json.dumps(result, indent=1))
        print(renderer(result)(result))
        return
    run(args.images, args.repeats, args.device, args.out)


if __name__ == "__main__":
    main()

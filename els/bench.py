"""Engine benchmark: time per ``denoise`` call against the matrix-product floor.

    python -m els.bench [--images 6000] [--repeats 2] [--out results/bench.json]

For a 1 x 1 x 32 x 32 query against ``--images`` MNIST images (real MNIST when ``els.data``
can load it, otherwise a fixed synthetic stand-in of strokes on a black background), each
machine is timed with and without exact de-duplication, beside the *floor*: the same
logits (queries x dictionary entries, without de-duplication) computed as a bare chunked
``K @ Q.T`` followed by an in-place ``exp``, measured in the same run. Dictionary building
(done once per machine and patch size, then cached) is timed separately.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from .engine import DEFAULT_CHUNK_BYTES, chunk_length
from .machines import ELS, IS, LS, Machine

CASES = [("ELS circular", 3), ("ELS circular", 5), ("ELS circular", 9), ("ELS circular", 15),
         ("ELS zeros (bbELS)", 5), ("ELS zeros (bbELS)", 15), ("LS", 5), ("LS", 15), ("IS", None)]


def mnist_like(n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """(n, 1, 32, 32) images in [-1, 1]: real MNIST if available, else synthetic strokes."""
    try:
        from .data import load
        images, _ = load("mnist", max_images=n, seed=seed)
        return images, "MNIST (els.data)"
    except Exception as error:  # no data module or no data: fall back, and say so
        print(f"els.bench: real MNIST unavailable ({type(error).__name__}: {error}); using synthetic strokes")
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
    shapes = [(len(q), len(d) * n_images) for q, d in layout.groups]
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


def run(n_images: int = 6000, repeats: int = 2, device=None, out: str | None = "results/bench.json") -> dict:
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
            _, dictionaries = m._dictionaries(m.patch_size, None)
            build = time.perf_counter() - start
            call = time_call(lambda: m.denoise(query, 0.5), repeats, device)
            # a pixel alone in its group uses the box-filter path: its N windows, no dictionary
            entries = sum(len(m.images) if d is None else len(d) for d in dictionaries)
            row.update({f"{'dedup' if dedup else 'plain'}_{k}": v for k, v in
                        dict(entries=entries, build_s=build, call_s=call).items()})
        row["floor_s"], row["logits"] = floor_time(m, repeats)
        row["engine_over_floor"] = row["plain_call_s"] / row["floor_s"]
        row["dedup_speedup"] = row["plain_call_s"] / row["dedup_call_s"]
        rows.append(row)
        print(f"{case:<20}{size or '-':>4}{row['plain_entries']:>11,}{row['plain_entries'] / row['dedup_entries']:>8.2f}x"
              f"{row['dedup_build_s']:>9.2f}{row['plain_call_s']:>11.3f}{row['dedup_call_s']:>9.3f}"
              f"{row['floor_s']:>9.3f}{row['engine_over_floor']:>13.2f}{row['dedup_speedup']:>10.2f}x", flush=True)
    result = {"images": n_images, "source": source, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "chunk_bytes": DEFAULT_CHUNK_BYTES.get(device.type), "repeats": repeats, "rows": rows}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1))
        print(f"\nwritten {out}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m els.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6000, help="training images (default 6000)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per measurement (best is kept)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", default="results/bench.json", help="JSON output path")
    args = parser.parse_args(argv)
    run(args.images, args.repeats, args.device, args.out)


if __name__ == "__main__":
    main()

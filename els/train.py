"""Training an eps-predicting network (book appendix, §A.7): MSE between predicted and true noise at
``t = randint(0, 1000) / 1000`` under the legacy cosine schedule, AdamW (no weight decay),
per-step exponential learning-rate decay after an optional linear warm-up, optional EMA of
the weights.

``train(...)`` runs on CPU or CUDA within a step and/or time budget, writes resumable
checkpoints atomically, and finally exports the model (EMA weights if EMA is on) with
``els.models.save``, a ``manifest.json`` and a ``samples.png`` grid of 20-step DDIM samples.
"""
from __future__ import annotations

import copy
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import models
from .provenance import nearest_summary
from .schedule import add_noise
from .storage import claimed_folder, git_commit, machine_info, save_atomic, write_atomic

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
MANIFEST = "manifest.json"
# free space asked for per parameter (float32): a checkpoint holds weights, EMA and two Adam
# moments (16 bytes), written beside the previous one (32), plus the exported model (4), rounded up
CHECKPOINT_BYTES_PER_PARAMETER = 40
SAMPLES = "samples.png"
_LOSS_BETA = 0.99  # running average of the loss (bias-corrected exponential average)
#: run settings added after checkpoints were first written, with the value older runs used
_CONFIG_DEFAULTS = {"warmup_steps": 0}


@dataclass
class TrainResult:
    """What ``train`` returns. ``model`` is the exported network (the EMA copy when EMA is on),
    in eval mode; ``loss`` the running average of the training loss at the end."""

    model: models.DiffusionNet
    step: int
    images_seen: int
    loss: float
    wall_seconds: float
    out_dir: Path | None = None
    losses: list[float] = field(default_factory=list)  # per-step losses of this call
    manifest: dict[str, Any] | None = None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training after a whole step; the checkpoint holds it."""


def train(model: models.DiffusionNet, images: torch.Tensor, labels: torch.Tensor | None = None, *,
          steps: int | None = None, max_minutes: float | None = None, batch_size: int = 128,
          lr: float = 1e-4, lr_decay: float = 0.999965, warmup_steps: int = 0,
          ema: float | None = None, seed: int = 0,
          out_dir: str | os.PathLike | None = None, checkpoint_every: int | None = 1000,
          checkpoint_minutes: float | None = 10.0, resume: bool = False, force: bool = False,
          device: str | torch.device | None = None, progress: bool = True,
          n_samples: int = 64, sample_steps: int = 20,
          data_info: dict[str, Any] | None = None, command: str | None = None) -> TrainResult:
    """Train ``model`` in place on ``images (N, C, H, W)`` in ``[-1, 1]`` (and ``labels (N,)``
    for a class-conditional model).

    Stops after ``steps`` optimiser steps in total or ``max_minutes`` of training wall time in
    total (both counted across resumes), whichever comes first; at least one must be given.
    The learning rate at step ``k`` is ``learning_rate(k, lr, lr_decay, warmup_steps)``;
    ``ema`` is the EMA decay (e.g. 0.999) or None;
    the decay used at step ``k`` is ``min(ema, (1 + k) / (10 + k))`` so short runs are not
    dominated by the initial weights.
    With ``out_dir``, a checkpoint is written every ``checkpoint_every`` steps, every
    ``checkpoint_minutes`` and at the end (also on Ctrl-C, which stops after the current step;
    a second Ctrl-C stops at once, keeping the last checkpoint), and ``resume=True`` continues the
    run saved there (same batches, noise and weights as an uninterrupted run). At the end the
    export (``model.pt`` + ``.json``), ``manifest.json`` and ``samples.png`` are written.
    An ``out_dir`` that already holds a run is refused unless ``resume=True`` (continue it) or
    ``force=True`` (train from scratch and replace it). ``device`` defaults to CUDA when available.
    """
    _check_args(images, labels, model, steps, max_minutes, batch_size, lr, lr_decay, warmup_steps, ema,
                n_samples)
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ValueError("resume=True needs out_dir= (the folder holding checkpoint.pt)")
    if out is not None and not (resume or force) and any((out / f).exists() for f in (CHECKPOINT, MODEL)):
        raise FileExistsError(f"{out} already holds a training run ({CHECKPOINT} or {MODEL}); continue it with "
                              "resume=True (--resume), replace it with force=True (--force), or choose a new folder")
    need = CHECKPOINT_BYTES_PER_PARAMETER * sum(w.numel() for w in model.parameters()) + 5_000_000
    with claimed_folder(out, need) if out is not None else nullcontext():  # writable, room, ours alone
        run = _Run.start(model, images, labels, batch_size=batch_size, lr=lr, lr_decay=lr_decay,
                         warmup_steps=warmup_steps, ema=ema, seed=seed, out=out, resume=resume, device=device)
        losses = run.loop(steps, max_minutes * 60 if max_minutes is not None else math.inf, checkpoint_every,
                          checkpoint_minutes, progress)
        export = run.ema_model if run.ema_model is not None else model
        export.eval()
        result = TrainResult(model=export, step=run.state["step"], images_seen=run.state["images_seen"],
                             loss=_debias(run.state["loss_avg"], run.state["step"]), wall_seconds=run.state["elapsed"],
                             out_dir=out, losses=losses)
        if out is not None:
            result.manifest = _export(result, images, run.config, data_info, command, device, seed,
                                      n_samples, sample_steps, steps, max_minutes)
        return result


@dataclass
class _Run:
    """One training run's state: the network, its EMA copy, the optimiser, the noise generator,
    the counters (``state``: step, elapsed seconds, loss average, images seen) and the settings
    a checkpoint must match (``config``)."""

    model: models.DiffusionNet
    ema_model: torch.nn.Module | None
    opt: torch.optim.Optimizer
    gen: torch.Generator
    data: torch.Tensor
    lab: torch.Tensor | None
    batch_size: int
    schedule: tuple[float, float, int]          # lr, lr_decay, warmup_steps
    ema: float | None
    seed: int
    config: dict
    state: dict
    checkpoint_path: Path | None
    _epoch_order: tuple[int, torch.Tensor | None] = (-1, None)  # (epoch, its permutation), drawn once an epoch

    @classmethod
    def start(cls, model, images, labels, *, batch_size, lr, lr_decay, warmup_steps, ema, seed, out, resume,
              device) -> "_Run":
        """A new run, or the one saved in ``out`` (``resume``): same weights, optimiser,
        generator and counters as when its checkpoint was written."""
        model.to(device).train()
        data = images.to(device, torch.float32)
        lab = labels.to(device).long() if (labels is not None and model.conditional) else None
        config = {"model": model.config, "batch_size": batch_size, "lr": lr, "lr_decay": lr_decay,
                  "warmup_steps": warmup_steps, "ema": ema, "seed": seed, "n_images": len(data),
                  "data_checksum": _checksum(images, labels if model.conditional else None)}
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        ema_model = _ema_copy(model) if ema is not None else None
        gen = torch.Generator().manual_seed(seed)
        state = {"step": 0, "elapsed": 0.0, "loss_avg": 0.0, "images_seen": 0}
        path = out / CHECKPOINT if out is not None else None
        if resume and path.is_file():
            state = _load_checkpoint(path, model, ema_model, opt, gen, config, device)
            print(f"els.train: resuming {path} at step {state['step']} "
                  f"({state['elapsed'] / 60:.1f} min trained so far)")
        elif resume:
            print(f"els.train: no checkpoint in {out}; starting a new run")
        return cls(model, ema_model, opt, gen, data, lab, batch_size, (lr, lr_decay, warmup_steps), ema, seed,
                   config, state, path)

    def checkpoint(self) -> None:
        """Write the checkpoint (when the run has a folder)."""
        if self.checkpoint_path is not None:
            _save_checkpoint(self.checkpoint_path, self.model, self.ema_model, self.opt, self.gen, self.state,
                             self.config)

    def batch_indices(self, step: int) -> torch.Tensor:
        """The training images of optimiser step ``step``: the data order depends only on
        (seed, epoch), so a resumed run draws the same batches: epoch ``e`` is
        ``torch.randperm(N)`` from a generator seeded ``seed * 1_000_003 + e + 1``, cut into
        ``N // batch_size`` batches (checkpoints rely on this rule). Each epoch's permutation is
        drawn once, at its first step."""
        n = len(self.data)
        b = min(self.batch_size, n)
        epoch, j = divmod(step, max(1, n // b))
        if self._epoch_order[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 1)
            self._epoch_order = (epoch, torch.randperm(n, generator=g).to(self.data.device))
        return self._epoch_order[1][j * b:(j + 1) * b]

    def loop(self, total: int | None, budget_s: float, checkpoint_every: int | None,
             checkpoint_minutes: float | None, progress: bool) -> list[float]:
        """Optimiser steps until ``total`` steps or ``budget_s`` seconds of training in all (both
        counted across resumes), or Ctrl-C; a checkpoint every ``checkpoint_every`` steps, every
        ``checkpoint_minutes`` and at the end. Returns this call's per-step losses."""
        state, device = self.state, self.data.device
        losses: list[float] = []
        loss_avg = torch.tensor(state["loss_avg"], device=device)
        start_step, elapsed_before = state["step"], state["elapsed"]
        t0 = last_checkpoint = time.perf_counter()
        bar = tqdm(total=total, initial=state["step"], disable=not progress, desc="train", unit="step",
                   dynamic_ncols=True)
        with _stop_after_step_on_interrupt() as stop_requested:
            while ((total is None or state["step"] < total) and elapsed_before + time.perf_counter() - t0 < budget_s
                   and not stop_requested()):
                step = state["step"]
                idx = self.batch_indices(step)
                loss = train_step(self.model, self.opt, self.data[idx], self.lab[idx] if self.lab is not None else None,
                                  self.gen, learning_rate(step, *self.schedule), self.ema_model,
                                  ema_decay(step, self.ema) if self.ema is not None else None)
                loss_avg = _LOSS_BETA * loss_avg + (1 - _LOSS_BETA) * loss
                state["step"] = step + 1
                state["images_seen"] += len(idx)
                losses.append(loss)
                bar.update(1)
                if state["step"] % 10 == 0 or state["step"] == total:
                    rate = (state["step"] - start_step) * len(idx) / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(loss=f"{_debias(float(loss_avg), state['step']):.4f}", img_s=f"{rate:.0f}")
                if self.checkpoint_path is not None and (
                        (checkpoint_every and state["step"] % checkpoint_every == 0)
                        or (checkpoint_minutes and time.perf_counter() - last_checkpoint > checkpoint_minutes * 60)):
                    state.update(elapsed=elapsed_before + time.perf_counter() - t0, loss_avg=float(loss_avg))
                    self.checkpoint()
                    last_checkpoint = time.perf_counter()
        bar.close()
        state.update(elapsed=elapsed_before + time.perf_counter() - t0, loss_avg=float(loss_avg))
        self.checkpoint()
        if stop_requested():
            raise TrainingInterrupted(
                f"interrupted after step {state['step']}"
                + (f"; the checkpoint in {self.checkpoint_path.parent} holds it: continue with --resume (resume=True)"
                   if self.checkpoint_path is not None else ""))
        return torch.stack(losses).tolist() if losses else []


def train_step(model: models.DiffusionNet, opt: torch.optim.Optimizer, x0: torch.Tensor,
               label: torch.Tensor | None, gen: torch.Generator, lr: float,
               ema_model: torch.nn.Module | None = None, ema_decay: float | None = None) -> torch.Tensor:
    """One optimisation step on the batch ``x0 (B, C, H, W)`` (``label (B,)`` or None): draw
    ``t = randint(0, 1000) / 1000`` and the noise ``(B, C, H, W)`` from the CPU generator
    ``gen``, form ``x_t`` under the legacy cosine schedule, backpropagate the eps-MSE, step
    ``opt`` at learning rate ``lr``, then move ``ema_model`` (if any) towards ``model`` with
    decay ``ema_decay``. Returns the loss, a detached scalar tensor on ``x0``'s device that holds
    its own storage (a run keeps every step's loss: a view would keep the batch's buffer too)."""
    device = x0.device
    t = torch.randint(0, 1000, (len(x0),), generator=gen).double() / 1000
    noise = torch.randn(x0.shape, generator=gen).to(device)
    x_t = add_noise(x0, t, noise)
    loss = F.mse_loss(model(x_t, t.float().to(device), label), noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    if ema_model is not None:
        _ema_update(ema_model, model, ema_decay)
    return loss.detach().clone()  # the mean is a view of the batch's squared errors: keep only the number


def ema_decay(step: int, ema: float) -> float:
    """The EMA decay used at optimiser step ``step`` (0-based): ``min(ema, (1 + step) / (10 + step))``,
    a warm-up under which the average forgets the random initialisation faster early on."""
    return min(ema, (1 + step) / (10 + step))


def learning_rate(step: int, lr: float, lr_decay: float, warmup_steps: int = 0) -> float:
    """Learning rate of optimiser step ``step`` (0-based): ``lr * lr_decay**step``, scaled by
    ``(step + 1) / warmup_steps`` during the first ``warmup_steps`` steps (linear warm-up)."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return lr * lr_decay ** step * warm


@torch.no_grad()
def validation_loss(model: models.DiffusionNet, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                    n_times: int = 8, seed: int = 0, batch_size: int = 250) -> float:
    """Training objective on held-out ``images (N, C, H, W)`` with fixed noise: the eps-MSE
    averaged over every image at each of ``n_times`` evenly spaced times ``t = (k + 1/2) / n_times``.
    Deterministic for a given ``seed``, so runs can be compared on the same draws."""
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for k in range(n_times):
        t = (k + 0.5) / n_times
        for i in range(0, len(images), batch_size):
            x0 = images[i:i + batch_size].to(device, torch.float32)
            noise = torch.randn(x0.shape, generator=gen).to(device)
            x_t = add_noise(x0, t, noise)
            lab = labels[i:i + batch_size].to(device).long() if model.conditional else None
            tt = torch.full((len(x0),), t, device=device)
            total += float(F.mse_loss(model(x_t, tt, lab), noise, reduction="sum"))
    model.train(was_training)
    return total / (n_times * images.numel())


# --------------------------------------------------------------------------- helpers
def _check_args(images, labels, model, steps, max_minutes, batch_size, lr, lr_decay, warmup_steps, ema,
                n_samples) -> None:
    if not isinstance(model, models.DiffusionNet):
        raise TypeError(f"model must be an els.models network (ResNet, UNet, ...), got {type(model).__name__}")
    if not torch.is_tensor(images) or images.dim() != 4:
        raise TypeError("images must be a (N, C, H, W) float tensor in [-1, 1] (see els.data.load)")
    if labels is not None and (not torch.is_tensor(labels) or labels.shape != (len(images),)):
        raise TypeError(f"labels must be a ({len(images)},) int tensor or None")
    if model.conditional and labels is None:
        raise ValueError("the model is class-conditional: pass labels= (N,) class indices")
    if steps is None and max_minutes is None:
        raise ValueError("give steps= and/or max_minutes= (the training budget)")
    if steps is not None and (not isinstance(steps, int) or steps < 0):
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if max_minutes is not None and max_minutes < 0:
        raise ValueError(f"max_minutes must be >= 0, got {max_minutes}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0 or not 0 < lr_decay <= 1:
        raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={lr}, lr_decay={lr_decay}")
    if not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative int (0: no warm-up), got {warmup_steps!r}")
    if ema is not None and not 0 < ema < 1:
        raise ValueError(f"ema must be None or a decay in (0, 1) such as 0.999, got {ema}")
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")


def _debias(avg: float, step: int) -> float:
    return avg / (1 - _LOSS_BETA ** step) if step > 0 else float("nan")


def _checksum(images: torch.Tensor, labels: torch.Tensor | None) -> list[float]:
    """Cheap fingerprint of the training data, to refuse resuming on different data."""
    per_image = images.detach().cpu().flatten(1).sum(1, dtype=torch.float64)  # no full float64 copy
    weights = torch.arange(1, len(per_image) + 1, dtype=torch.float64)
    s = [float(per_image.sum()), float((per_image * weights).sum())]
    if labels is not None:
        s.append(float((labels.detach().cpu().double() * weights).sum()))
    return [round(v, 3) for v in s]


def _ema_copy(model: torch.nn.Module) -> torch.nn.Module:
    ema_model = copy.deepcopy(model)
    for p in ema_model.parameters():
        p.requires_grad_(False)
    return ema_model.eval()


@torch.no_grad()
def _ema_update(ema_model: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, p in zip(ema_model.parameters(), model.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema_model.buffers(), model.buffers()):
        be.copy_(b)


@contextmanager
def _stop_after_step_on_interrupt() -> Iterator[Callable[[], bool]]:
    """Yields ``stop_requested()``: True once Ctrl-C (SIGINT) or SIGTERM arrived inside the
    block. The first one only asks the training loop to stop after the current step, so the
    checkpoint it then writes holds whole steps; a second one acts as usual. Does nothing
    outside the main thread (Python delivers signals there only) or for an ignored signal."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    requested: list[int] = []

    def first_signal(signum, frame) -> None:
        requested.append(signum)
        signal.signal(signum, previous[signum] if previous[signum] is not None else defaults[signum])

    for sig, handler in previous.items():
        if handler != signal.SIG_IGN:
            signal.signal(sig, first_signal)
    try:
        yield lambda: bool(requested)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else defaults[sig])


def _save_checkpoint(path, model, ema_model, opt, gen, state, run_config) -> None:
    rng = {"generator": gen.get_state(), "torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["torch_cuda"] = torch.cuda.get_rng_state_all()
    save_atomic({
        "format": "els-checkpoint-1",
        "model": model.state_dict(),
        "ema": ema_model.state_dict() if ema_model is not None else None,
        "optimizer": opt.state_dict(),
        "rng": rng,
        "state": state,
        "config": run_config,
    }, path)


def _load_checkpoint(path, model, ema_model, opt, gen, run_config, device) -> dict:
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
        ck["config"], ck["state"]  # noqa: B018 - an els checkpoint has both
    except Exception as e:  # truncated, empty, foreign or garbage file
        raise ValueError(f"{path} is damaged or is not an els checkpoint ({type(e).__name__}); restore it, or "
                         "start the run again with --force (force=True)") from e
    saved = _CONFIG_DEFAULTS | ck["config"]
    if saved.get("schedule", "legacy_cosine") != "legacy_cosine":  # written when training had the option
        raise ValueError(f"cannot resume {path}: it was trained under the {saved['schedule']!r} schedule, "
                         "but els trains and samples under the legacy cosine one only; start a new run "
                         "in a new out_dir")
    diff = {k: (saved.get(k), v) for k, v in run_config.items() if saved.get(k) != v}
    if diff:
        detail = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"cannot resume {path}: the run differs ({detail}). Use the same model, data "
                         "and hyperparameters, or a new out_dir")
    model.load_state_dict(ck["model"])
    if ema_model is not None:
        ema_model.load_state_dict(ck["ema"])
    opt.load_state_dict(ck["optimizer"])
    gen.set_state(ck["rng"]["generator"].cpu())
    torch.set_rng_state(ck["rng"]["torch_cpu"].cpu())
    if "torch_cuda" in ck["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in ck["rng"]["torch_cuda"]])
    return dict(ck["state"])


def draw_samples(model: models.DiffusionNet, n: int, shape: tuple[int, int, int], steps: int = 20,
                 seed: int = 0, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` DDIM samples ``(n, C, H, W)`` from fixed-seed noise (labels ``arange(n) % K`` for a
    conditional model); returns ``(samples, labels or None)``."""
    from .sampling import sample

    noise = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed)).to(device)
    label = (torch.arange(n) % model.num_classes).to(device) if model.conditional else None
    return sample(model, noise, steps=steps, label=label).cpu(), label


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Save ``(N, C, H, W)`` images in ``[-1, 1]`` as one PNG grid."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((images.detach().cpu().float().clamp(-1, 1) + 1) / 2, str(path), nrow=nrow, padding=2)
    return path


def _export(result: TrainResult, images, run_config, data_info, command, device, seed,
            n_samples, sample_steps, steps, max_minutes) -> dict[str, Any]:
    out = result.out_dir
    manifest: dict[str, Any] = {
        "command": command if command is not None else " ".join(shlex.quote(a) for a in sys.argv),
        "git": git_commit(),
        "dataset": data_info or {},
        "subset_size": len(images),
        "seed": seed,
        "model": result.model.config,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "hyperparameters": {k: run_config[k] for k in ("batch_size", "lr", "lr_decay", "warmup_steps", "ema")}
        | {"steps_budget": steps, "max_minutes": max_minutes},
        "steps": result.step,
        "images_seen": result.images_seen,
        "epochs": result.images_seen / max(len(images), 1),
        "wall_seconds": round(result.wall_seconds, 2),
        "images_per_second": round(result.images_seen / max(result.wall_seconds, 1e-9), 1),
        "final_loss": result.loss,
        "exported_weights": "ema" if run_config["ema"] is not None else "raw",
        "machine": machine_info(device),
        "files": {"model": MODEL, "checkpoint": CHECKPOINT, "samples": None},
    }
    if n_samples > 0:
        samples, _ = draw_samples(result.model, n_samples, tuple(images.shape[1:]), sample_steps,
                                  seed=seed + 10_000, device=device)
        save_grid(samples, out / SAMPLES, nrow=int(math.ceil(math.sqrt(n_samples))))
        manifest["files"]["samples"] = SAMPLES
        manifest["samples"] = {"n": n_samples, "ddim_steps": sample_steps, "noise_seed": seed + 10_000,
                               **nearest_summary(samples, images.cpu())}
    models.save(result.model, out / MODEL, extra={k: manifest[k] for k in (
        "dataset", "subset_size", "seed", "steps", "images_seen", "final_loss", "exported_weights")})
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest

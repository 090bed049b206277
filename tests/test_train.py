"""Training (els.train), presets and the command line, on tiny networks and random data."""
from __future__ import annotations

import copy
import json
import math
import signal
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import els.models as models
import els.studies.presets as presets
import els.train as train
from els.schedule import alpha_bar


def toy_data(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth blobby images in [-1, 1] (learnable in a few steps) and labels."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 1, 4, 4, generator=g)
    x = torch.nn.functional.interpolate(low, size=(16, 16), mode="bilinear", align_corners=False)
    return x.tanh(), torch.arange(n) % 3


def tiny_resnet(**kw) -> models.ResNet:
    torch.manual_seed(0)
    return models.ResNet(width=16, depth=2, emb_half=8, **kw)


def fixed_loss(model, images, seed: int = 123) -> float:
    """eps-MSE on a fixed set of (t, noise) draws."""
    g = torch.Generator().manual_seed(seed)
    x0 = images.repeat(4, 1, 1, 1)
    t = torch.randint(0, 1000, (len(x0),), generator=g).double() / 1000
    noise = torch.randn(x0.shape, generator=g)
    ab = alpha_bar(t).float().view(-1, 1, 1, 1)
    with torch.no_grad():
        return float(((model(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t.float()) - noise) ** 2).mean())


def test_a_few_steps_lower_the_loss():
    """Fails if the optimisation step does not descend the eps-MSE (wrong target, sign,
    schedule or an optimiser that never steps)."""
    images, _ = toy_data()
    model = tiny_resnet()
    before = fixed_loss(model, images)
    result = train.train(model, images, steps=30, batch_size=24, lr=3e-3, lr_decay=1.0, progress=False,
                         device="cpu")
    after = fixed_loss(model, images)
    assert result.step == 30 and result.images_seen == 30 * 24
    assert after < 0.8 * before, (before, after)


def test_resume_continues_the_same_run_exactly(tmp_path):
    """Fails if a run stopped after 2 steps and resumed for 2 more differs from 4 straight
    steps: lost optimiser/warm-up/EMA/RNG state or a different data order."""
    images, labels = toy_data(n=20)
    kw = dict(batch_size=8, lr=1e-3, lr_decay=0.99, warmup_steps=3, ema=0.9, seed=5, progress=False, device="cpu",
              n_samples=0)
    straight = tiny_resnet(num_classes=3)
    r_straight = train.train(straight, images, labels, steps=4, **kw)

    first = tiny_resnet(num_classes=3)
    train.train(first, images, labels, steps=2, out_dir=tmp_path, checkpoint_every=1, **kw)
    ck = torch.load(tmp_path / train.CHECKPOINT, weights_only=True)
    assert {"model", "ema", "optimizer", "rng", "state", "config"} <= set(ck)
    assert ck["state"]["step"] == 2 and ck["state"]["elapsed"] > 0
    second = tiny_resnet(num_classes=3)
    r_resumed = train.train(second, images, labels, steps=4, out_dir=tmp_path, resume=True, **kw)

    assert r_resumed.step == 4 and r_resumed.images_seen == r_straight.images_seen
    for a, b in zip(straight.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(r_straight.model.state_dict().values(), r_resumed.model.state_dict().values()):
        assert torch.equal(a, b)  # the EMA export too


def test_learning_rate_warms_up_then_decays():
    """Fails if the warm-up is not linear from lr / W, or the decay is not per step."""
    assert train.learning_rate(0, 1e-3, 0.9) == pytest.approx(1e-3)
    assert train.learning_rate(2, 1e-3, 0.9) == pytest.approx(1e-3 * 0.81)
    assert train.learning_rate(0, 1e-3, 1.0, warmup_steps=4) == pytest.approx(2.5e-4)
    assert train.learning_rate(3, 1e-3, 0.9, warmup_steps=4) == pytest.approx(1e-3 * 0.9 ** 3)
    assert train.learning_rate(10, 1e-3, 1.0, warmup_steps=4) == pytest.approx(1e-3)


def test_training_uses_the_warm_up():
    """Fails if warmup_steps is accepted but not applied to the optimiser: with a huge warm-up
    the first step barely moves the weights (Adam moves each by about lr / W)."""
    images, _ = toy_data(n=8)
    moved = {}
    for warmup in (0, 10**9):
        model = tiny_resnet()
        before = [p.detach().clone() for p in model.parameters()]
        train.train(model, images, steps=1, batch_size=8, lr=1e-2, lr_decay=1.0, warmup_steps=warmup,
                    progress=False, device="cpu")
        moved[warmup] = max(float((p.detach() - q).abs().max()) for p, q in zip(model.parameters(), before))
    assert moved[0] > 1e-3 and moved[10**9] < 1e-9, moved


def test_validation_loss_uses_the_time_grid_and_schedule():
    """Fails if validation_loss evaluates other times than (k + 1/2) / n, misuses alpha_bar or
    averages wrongly: a 'network' answering x_t / sqrt(1 - a) has the noise-free loss
    mean_k a_k / (1 - a_k) * mean(x0^2)."""
    class Scaled(torch.nn.Module):
        conditional = False

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, label=None):
            a = alpha_bar(t.double()).float().view(-1, 1, 1, 1)
            return x / (1 - a).sqrt()

    images, _ = toy_data(n=6)
    a = alpha_bar(torch.tensor([0.125, 0.375, 0.625, 0.875], dtype=torch.float64))
    expected = float((a / (1 - a)).mean()) * float((images.double() ** 2).mean())
    got = train.validation_loss(Scaled(), images, n_times=4, batch_size=4)
    assert got == pytest.approx(expected, rel=1e-4)


def test_resume_refuses_a_different_run(tmp_path):
    """Fails if resuming with other hyperparameters silently mixes two runs."""
    images, _ = toy_data(n=8)
    kw = dict(lr=1e-3, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, steps=1, batch_size=4, **kw)
    with pytest.raises(ValueError, match="batch_size"):
        train.train(tiny_resnet(), images, steps=2, batch_size=8, resume=True, **kw)


def test_checkpoints_from_the_schedule_option_resume_only_under_the_legacy_schedule(tmp_path):
    """Fails if a checkpoint written when training still took a schedule (its config says
    "legacy_cosine", like the committed ones) no longer resumes, or one trained under "cosine"
    is silently continued under the legacy schedule."""
    images, _ = toy_data(n=8)
    kw = dict(batch_size=4, lr=1e-3, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, steps=1, **kw)
    path = tmp_path / train.CHECKPOINT
    ck = torch.load(path, weights_only=True)
    ck["config"]["schedule"] = "cosine"
    torch.save(ck, path)
    with pytest.raises(ValueError, match="'cosine' schedule"):
        train.train(tiny_resnet(), images, steps=2, resume=True, **kw)
    ck["config"]["schedule"] = "legacy_cosine"
    torch.save(ck, path)
    assert train.train(tiny_resnet(), images, steps=2, resume=True, **kw).step == 2


def test_train_step_takes_the_eps_mse_of_its_own_draws_and_moves_the_ema():
    """Fails if one step's loss is not the eps-MSE at x_t = sqrt(abar) x0 + sqrt(1 - abar) eps
    with t = randint(0, 1000) / 1000 and then eps drawn from gen (and nothing else drawn), if
    the weights do not move, or if the EMA copy does not move by 1 - decay towards them."""
    images, _ = toy_data(n=4)
    model = tiny_resnet()
    before, ema_model = copy.deepcopy(model), copy.deepcopy(model)
    twin = torch.Generator().manual_seed(7)
    t = torch.randint(0, 1000, (4,), generator=twin).double() / 1000
    noise = torch.randn(images.shape, generator=twin)
    ab = alpha_bar(t).float().view(-1, 1, 1, 1)
    with torch.no_grad():
        expected = F.mse_loss(before(ab.sqrt() * images + (1 - ab).sqrt() * noise, t.float()), noise)
    gen = torch.Generator().manual_seed(7)
    opt = torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=0.0)
    loss = train.train_step(model, opt, images, None, gen, 1e-2, ema_model, 0.75)
    assert torch.allclose(loss, expected, rtol=1e-6) and torch.equal(gen.get_state(), twin.get_state())
    assert any(not torch.equal(p, q) for p, q in zip(before.parameters(), model.parameters()))
    for p, q, e in zip(before.parameters(), model.parameters(), ema_model.parameters()):
        assert torch.allclose(e, 0.75 * p + 0.25 * q, atol=1e-7)


def test_the_ema_warm_up_follows_its_definition_and_train_uses_it_each_step(monkeypatch):
    """Fails if the EMA decay at step k is not min(ema, (1 + k) / (10 + k)) (hand values), or
    if train passes another decay (or another step's) to train_step."""
    assert train.ema_decay(0, 0.999) == pytest.approx(0.1)
    assert train.ema_decay(5, 0.999) == pytest.approx(6 / 15)
    assert train.ema_decay(90, 0.9) == pytest.approx(0.9)  # 91 / 100 > 0.9: the cap
    assert train.ema_decay(80, 0.9) == pytest.approx(81 / 90)
    images, _ = toy_data(n=8)
    seen, step = [], train.train_step
    monkeypatch.setattr(train, "train_step", lambda *a: seen.append(a[-1]) or step(*a))
    train.train(tiny_resnet(), images, steps=3, batch_size=4, ema=0.5, progress=False, device="cpu", n_samples=0)
    assert seen == pytest.approx([0.1, 2 / 11, 0.25])
    seen.clear()
    train.train(tiny_resnet(), images, steps=1, batch_size=4, ema=None, progress=False, device="cpu", n_samples=0)
    assert seen == [None]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_after_the_step_and_the_run_resumes_exactly(tmp_path, monkeypatch, signum):
    """Fails if Ctrl-C or SIGTERM in the middle of a step leaves no checkpoint or one holding
    part of a step (the resumed run would differ from an uninterrupted one), or if training
    leaves its handlers installed."""
    images, labels = toy_data(n=20)
    kw = dict(batch_size=8, lr=1e-3, lr_decay=0.99, warmup_steps=3, ema=0.9, seed=5, progress=False, device="cpu",
              n_samples=0)
    straight = tiny_resnet(num_classes=3)
    r_straight = train.train(straight, images, labels, steps=5, **kw)

    step, calls = train.train_step, []

    def interrupted_step(*args):
        calls.append(len(calls))
        if len(calls) == 3:
            signal.raise_signal(signum)  # during the third step
        return step(*args)

    # A process started in the background (nohup, `&`) inherits an ignored SIGINT, which training
    # rightly leaves alone; the test needs the default handler a terminal gives.
    default = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}[signum]
    inherited = signal.signal(signum, default)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(train, "train_step", interrupted_step)
    with pytest.raises(train.TrainingInterrupted, match="after step 3.*--resume"):
        train.train(tiny_resnet(num_classes=3), images, labels, steps=5, out_dir=tmp_path, checkpoint_every=None,
                    **kw)
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    signal.signal(signum, inherited)
    assert torch.load(tmp_path / train.CHECKPOINT, weights_only=True)["state"]["step"] == 3
    monkeypatch.undo()
    resumed = tiny_resnet(num_classes=3)
    r_resumed = train.train(resumed, images, labels, steps=5, out_dir=tmp_path, resume=True, **kw)
    for a, b in zip([*straight.state_dict().values(), *r_straight.model.state_dict().values()],
                    [*resumed.state_dict().values(), *r_resumed.model.state_dict().values()]):
        assert torch.equal(a, b)


def test_training_does_not_import_the_analytic_machines():
    """Fails if els.train (with what it imports) pulls in els.machines: training needs no
    analytic machine. The package's own __init__ (the public API, which does import the
    machines) is bypassed so that only the training module's dependencies are seen."""
    code = ("import importlib.util, sys, types\n"
            "package = types.ModuleType('els')\n"
            "package.__path__ = list(importlib.util.find_spec('els').submodule_search_locations)\n"
            "sys.modules['els'] = package\n"
            "import els.train\n"
            "assert 'els.machines' not in sys.modules, sorted(m for m in sys.modules if m.startswith('els'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_export_writes_model_manifest_and_samples(tmp_path):
    """Fails if the final export is missing, does not reload to the same network, or the
    manifest lacks the provenance fields (data, seed, time, images seen, loss, machine)."""
    images, _ = toy_data(n=8)
    result = train.train(tiny_resnet(), images, steps=3, batch_size=4, lr=1e-3, ema=0.5, progress=False,
                         device="cpu", out_dir=tmp_path, n_samples=4, sample_steps=2,
                         data_info={"name": "toy"}, command="pytest")
    for name in (train.MODEL, "model.json", train.MANIFEST, train.SAMPLES, train.CHECKPOINT):
        assert (tmp_path / name).is_file(), name
    manifest = json.loads((tmp_path / train.MANIFEST).read_text())
    for key in ("command", "git", "dataset", "subset_size", "seed", "wall_seconds", "images_seen",
                "final_loss", "machine", "samples"):
        assert key in manifest, key
    assert manifest["images_seen"] == 12 and manifest["exported_weights"] == "ema"
    samples, _ = train.draw_samples(result.model, 4, (1, 16, 16), 2, seed=manifest["samples"]["noise_seed"],
                                    device="cpu")
    nearest = torch.cdist(samples.flatten(1).double(), images.flatten(1).double()).min(1).values
    assert manifest["samples"]["nn_l2_median"] == pytest.approx(float(nearest.median()), rel=1e-5)
    loaded = models.load(tmp_path / train.MODEL)
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(loaded.eps(x, 0.5), result.model.eps(x, 0.5))


def test_time_budget_stops_training():
    """Fails if max_minutes is ignored (a laptop run would never end)."""
    images, _ = toy_data(n=8)
    result = train.train(tiny_resnet(), images, steps=10**6, max_minutes=0.5 / 60, batch_size=4,
                         progress=False, device="cpu")
    assert 0 < result.step < 10**6 and result.wall_seconds < 5


def test_bad_training_arguments_raise():
    """Fails if a missing budget or missing labels for a conditional model is not reported."""
    images, labels = toy_data(n=8)
    with pytest.raises(ValueError, match="steps"):
        train.train(tiny_resnet(), images, progress=False)
    with pytest.raises(ValueError, match="labels"):
        train.train(tiny_resnet(num_classes=3), images, steps=1, progress=False)
    with pytest.raises(ValueError, match="ema"):
        train.train(tiny_resnet(), images, steps=1, ema=1.5, progress=False)


def test_presets_have_the_documented_sizes():
    """Fails if a preset drifts from the book appendix, §A.7 (paper) or is missing a field other code uses."""
    paper = presets.get("paper").train
    assert (paper.resnet_width, paper.resnet_depth, paper.unet_widths) == (256, 6, (64, 128, 256))
    assert (paper.batch_size, paper.lr, paper.lr_decay) == (128, 1e-4, 0.999965)
    assert paper.total_steps(60000) == 300 * 60000 // 128 + (1 if 300 * 60000 % 128 else 0)
    smoke = presets.get("smoke")
    assert smoke.train.steps is not None and smoke.evaluation.n_seeds == 4
    assert presets.get("laptop").train.max_minutes <= 90
    for name in presets.PRESETS:
        for arch in models.ARCHS:
            models.build(arch, **presets.get(name).train.model_kwargs(arch))
    with pytest.raises(ValueError, match="smoke, laptop, paper"):
        presets.get("huge")


def fake_mnist_cache(tmp_path, monkeypatch):
    """40 random 'MNIST' images per split in a cache folder that els.data reads offline."""
    import els.data as data

    cache = tmp_path / "cache"
    cache.mkdir()
    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        torch.save({"images": torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8, generator=g),
                    "labels": torch.arange(40) % 10}, cache / f"mnist_{split}.pt")
    monkeypatch.setenv("ELS_DATA", str(cache))
    monkeypatch.setenv("ELS_OFFLINE", "1")
    monkeypatch.setattr(data, "_announced", set())


def test_cli_trains_a_smoke_model_and_fetches_from_cache(tmp_path, monkeypatch, capsys):
    """Fails if `python -m els train ... --preset smoke` or `data fetch` is broken end to end."""
    import els.cli as cli

    fake_mnist_cache(tmp_path, monkeypatch)
    assert cli.main(["data", "fetch", "mnist"]) == 0
    assert "from cache" in capsys.readouterr().out
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "mnist", "--arch", "unet", "--conditional", "--preset", "smoke",
                     "--steps", "2", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    manifest = json.loads((out / train.MANIFEST).read_text())
    assert manifest["steps"] == 2 and manifest["dataset"]["name"] == "mnist"
    assert models.load(out / train.MODEL).num_classes == 10
    assert cli.main(["data", "fetch", "cifar10", "--offline", "--root", str(tmp_path / "none")]) == 1


def test_recipe_comparison_scores_each_recipe_once_and_resumes(tmp_path, monkeypatch, capsys):
    """Fails if `python -m els recipes` trains a recipe for another budget than asked, loses a
    finished recipe's row or retrains it on a rerun, or its table drops a recipe."""
    import els.cli as cli
    import els.studies.recipes as recipes

    fake_mnist_cache(tmp_path, monkeypatch)
    out = tmp_path / "recipes"
    args = ["recipes", "--preset", "smoke", "--images", "64", "--validation-images", "20", "--out", str(out),
            "--no-progress", "--recipes", "baseline", "warmup_batch32"]
    assert cli.main(args) == 0
    rows = [json.loads(line) for line in (out / recipes.RESULTS).read_text().splitlines()]
    assert [r["recipe"] for r in rows] == ["baseline", "warmup_batch32"]
    assert [(r["steps"], r["images_seen"]) for r in rows] == [(2, 80), (2, 64)]  # batch 128 -> the 40 images
    assert all(r["val_loss_raw"] > 0 and r["val_loss_ema"] > 0 and r["nn_l2_median"] > 0 for r in rows)
    assert (out / "samples_baseline.png").is_file() and (out / "manifest.json").is_file()
    table = capsys.readouterr().out
    assert "| baseline |" in table and "| warmup_batch32 |" in table
    assert cli.main(args) == 0  # resumes: nothing retrained, no duplicate rows
    assert len((out / recipes.RESULTS).read_text().splitlines()) == 2


def test_recipe_width_subset_and_images_reach_the_trained_network(tmp_path, monkeypatch):
    """Fails if a recipe's width, training subset or own image budget is ignored: the saved
    network must have the recipe's width and the row must report the subset and images used."""
    import els.studies.recipes as recipes

    fake_mnist_cache(tmp_path, monkeypatch)
    out = tmp_path / "recipes"
    chosen = {"narrow_small": recipes.Recipe(batch_size=8, width=24, subset=20, images=48)}
    (row,) = recipes.compare(preset="smoke", images_budget=16, recipes=chosen, out=out, n_validation=10,
                             progress=False)
    assert (row["width"], row["subset_size"], row["images_seen"], row["steps"]) == (24, 20, 48, 6)
    assert models.load(out / "runs" / "narrow_small" / train.MODEL).config["width"] == 24
    with pytest.raises(ValueError, match="ResNet width"):
        recipes.compare(arch="unet", preset="smoke", images_budget=16, recipes=chosen, out=tmp_path / "u",
                        n_validation=10, progress=False)


def test_a_folder_holding_a_run_is_not_overwritten_without_resume_or_force(tmp_path):
    """A second run into the same folder must not silently replace the first: it is refused
    (naming --resume and --force), and only force=True starts again over it."""
    images, _ = toy_data(16)
    kw = dict(steps=1, batch_size=4, lr=1e-3, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, **kw)
    before = (tmp_path / train.MODEL).read_bytes()
    with pytest.raises(FileExistsError, match="--resume.*--force"):
        train.train(tiny_resnet(), images, **kw)
    assert (tmp_path / train.MODEL).read_bytes() == before
    assert train.train(tiny_resnet(), images, force=True, seed=1, **kw).step == 1  # another run
    assert (tmp_path / train.MODEL).read_bytes() != before


def test_cli_interrupt_is_one_line_naming_resume(tmp_path, monkeypatch, capsys):
    """SIGTERM during `python -m els train`: exit status 130 and one line on stderr that says
    how to continue, no traceback."""
    from els.cli import main

    step, calls = train.train_step, []

    def interrupted_step(*args):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
        return step(*args)

    monkeypatch.setattr(train, "train_step", interrupted_step)
    code = main(["train", "--dataset", "mnist", "--arch", "resnet", "--preset", "smoke", "--max-images", "20",
                 "--steps", "5", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1 and "--resume" in err[0] and "Traceback" not in err[0]
    assert (tmp_path / "run" / train.CHECKPOINT).is_file()


def test_damaged_files_are_named(tmp_path):
    """A truncated checkpoint or model file gives an error naming the file and the way out."""
    images, _ = toy_data(n=8)
    kw = dict(steps=2, batch_size=4, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, **kw)
    for name in (train.CHECKPOINT, train.MODEL):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=f"{train.CHECKPOINT} is damaged.*--force"):
        train.train(tiny_resnet(), images, **kw, resume=True)
    with pytest.raises(ValueError, match=f"{train.MODEL} is damaged"):
        models.load(tmp_path / train.MODEL)


def test_output_folder_is_checked_and_locked_before_any_step(tmp_path, monkeypatch):
    """An unwritable folder, a disk without room for the checkpoints and a folder held by another
    live run are refused before the first step; a lock or a temporary left by a dead process is
    cleared."""
    import os

    from els.storage import LOCK, FolderInUse

    images, _ = toy_data(n=8)
    monkeypatch.setattr(train, "train_step", lambda *a: pytest.fail("trained before checking the folder"))
    kw = dict(steps=2, batch_size=4, progress=False, device="cpu", n_samples=0)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot write to"):
        train.train(tiny_resnet(), images, out_dir=tmp_path / "file" / "run", **kw)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / LOCK).write_text(str(os.getppid()))  # a live process other than this one
    with pytest.raises(FolderInUse, match="in use by another run"):
        train.train(tiny_resnet(), images, out_dir=busy, **kw)
    import shutil
    from collections import namedtuple

    from els.storage import NotEnoughSpace

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(NotEnoughSpace, match="1 MB free"):  # a checkpoint of this network needs more
        train.train(tiny_resnet(), images, out_dir=tmp_path / "full", **kw)
    monkeypatch.undo()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (busy / LOCK).write_text(dead)
    (busy / f".{train.CHECKPOINT}.{dead}.tmp").write_bytes(b"half a checkpoint")
    train.train(tiny_resnet(), images, out_dir=busy, **kw)
    assert not (busy / LOCK).exists() and not list(busy.glob(".*.tmp"))


def test_appendix_model_tables_match_the_committed_manifests(appendix):
    """Every row of the results appendix's two trained-models tables (parameters, steps, images
    seen, CPU minutes, images per second, final loss; nearest-neighbour distances) against the
    model's committed manifest.json; fails on a number that drifted."""
    import json
    from pathlib import Path

    from els.book.plotting import model_label

    root = Path(__file__).resolve().parents[1]

    def rows(header):  # the table under ``header``: first cell (model label) -> the other cells
        lines = appendix[appendix.index(header):].split("\n\n")[0].splitlines()[2:]
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
        return {c[0].removesuffix(" (cond.)"): c[1:] for c in cells}

    training = rows("| model | params | steps | images seen |")
    samples = rows("| model | NN distance (median / min) |")
    committed = sorted(p.parent.name for p in (root / "artifacts" / "models").glob("*/manifest.json"))
    assert sorted(training) == sorted(samples) == sorted(map(model_label, committed))
    for name in committed:
        m = json.loads((root / "artifacts" / "models" / name / "manifest.json").read_text())
        expected = [f"{m['parameters']:,}", f"{m['steps']:,}", f"{m['images_seen'] / 1000:.0f}k",
                    f"{m['wall_seconds'] / 60:.0f}", f"{m['images_per_second']:.0f}", f"{m['final_loss']:.3f}"]
        assert training[model_label(name)] == expected, name
        assert samples[model_label(name)][0] == f"{m['samples']['nn_l2_median']:.1f} / {m['samples']['nn_l2_min']:.1f}", name


def test_appendix_snapshot_sentence_matches_the_snapshot_manifests(appendix):
    """The results appendix's numbers for the 15-minute snapshots (steps, loss, nearest-neighbour
    median)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    flat = " ".join(appendix.split())
    for data, name in (("MNIST", "mnist_resnet_zeros"), ("FashionMNIST", "fashion_mnist_resnet_zeros")):
        m = json.loads((root / "artifacts" / "models" / name / "snapshots" / "15min" / "manifest.json").read_text())
        assert (f"{data}: {m['steps']:,} steps, loss {m['final_loss']:.3f}, NN {m['samples']['nn_l2_median']:.1f}"
                in flat), data


def test_a_resumed_run_keeps_its_loss_average_and_spends_only_the_rest_of_its_budget(tmp_path):
    """Fails if a resume restarts the running loss average (its reported loss would differ from
    a straight run's) or gets its whole time budget again (a run whose budget is already spent
    must not take another step)."""
    images, labels = toy_data(n=20)
    kw = dict(batch_size=8, lr=1e-3, lr_decay=0.99, ema=0.9, seed=5, progress=False, device="cpu", n_samples=0)
    straight = train.train(tiny_resnet(num_classes=3), images, labels, steps=4, **kw)
    train.train(tiny_resnet(num_classes=3), images, labels, steps=2, out_dir=tmp_path, **kw)
    resumed = train.train(tiny_resnet(num_classes=3), images, labels, steps=4, out_dir=tmp_path, resume=True, **kw)
    assert resumed.loss == straight.loss
    spent = torch.load(tmp_path / train.CHECKPOINT, weights_only=True)["state"]["elapsed"]
    again = train.train(tiny_resnet(num_classes=3), images, labels, steps=100, max_minutes=spent / 60,
                        out_dir=tmp_path, resume=True, **kw)
    assert again.step == 4 and again.losses == []


# --------------------------------------------------------------------------- mutation-testing additions
def test_training_arguments_are_checked_on_each_side_of_every_boundary():
    """Fails if a value on the accepted side of a documented limit is refused (steps = 0,
    max_minutes = 0 alone, batch_size = 1, warmup_steps = 0, lr_decay = 1, n_samples = 0) or one
    just outside is accepted (a negative or non-int count, lr = 0, lr_decay = 0 or above 1, ema = 0
    or 1, wrong images or labels)."""
    images, labels = toy_data(n=4)
    kw = dict(progress=False, device="cpu", n_samples=0)
    assert train.train(tiny_resnet(), images, steps=0, **kw).step == 0
    assert train.train(tiny_resnet(), images, max_minutes=0, **kw).step == 0
    assert train.train(tiny_resnet(), images, steps=1, batch_size=1, warmup_steps=0, lr_decay=1.0,
                       ema=1e-3, **kw).images_seen == 1
    bad = [(dict(steps=-1), ValueError, "steps must be"), (dict(steps=1.5), ValueError, "steps must be"),
           (dict(steps=1, max_minutes=-0.01), ValueError, "max_minutes"),
           (dict(steps=1, batch_size=0), ValueError, "batch_size"),
           (dict(steps=1, batch_size=2.0), ValueError, "batch_size"),
           (dict(steps=1, lr=0.0), ValueError, "lr > 0"), (dict(steps=1, lr=-1e-3), ValueError, "lr > 0"),
           (dict(steps=1, lr_decay=0.0), ValueError, "lr_decay"), (dict(steps=1, lr_decay=1.5), ValueError, "lr_decay"),
           (dict(steps=1, warmup_steps=-1), ValueError, "warmup_steps"),
           (dict(steps=1, warmup_steps=1.5), ValueError, "warmup_steps"),
           (dict(steps=1, ema=0.0), ValueError, "ema"), (dict(steps=1, ema=1.0), ValueError, "ema"),
           (dict(steps=1, n_samples=-1), ValueError, "n_samples")]
    for args, error, match in bad:
        with pytest.raises(error, match=match):
            train.train(tiny_resnet(), images, **args, **{k: v for k, v in kw.items() if k not in args})
    with pytest.raises(TypeError, match="images must be"):
        train.train(tiny_resnet(), images[0], steps=1, **kw)
    with pytest.raises(TypeError, match="images must be"):
        train.train(tiny_resnet(), images.tolist(), steps=1, **kw)
    with pytest.raises(TypeError, match="labels must be"):
        train.train(tiny_resnet(num_classes=3), images, labels[:3], steps=1, **kw)
    with pytest.raises(TypeError, match="labels must be"):
        train.train(tiny_resnet(num_classes=3), images, labels.tolist(), steps=1, **kw)
    with pytest.raises(TypeError, match="model must be"):
        train.train(torch.nn.Linear(2, 2), images, steps=1, **kw)


def test_resume_refuses_other_data_labels_seed_or_network_naming_each(tmp_path):
    """Fails if a resume is accepted with other images (same count or fewer), other labels of a
    class-conditional network, another seed or another network, or if the refusal does not name
    the setting and both values."""
    images, labels = toy_data(n=8)
    kw = dict(batch_size=4, lr=1e-3, seed=5, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(num_classes=3), images, labels, steps=1, **kw)
    nudged = images.clone()
    nudged[3, 0, 2, 2] += 0.01
    cases = [(dict(seed=1), "seed: checkpoint 5 vs now 1"),
             (dict(images=nudged), "data_checksum: checkpoint"),
             (dict(images=images[:6], labels=labels[:6]), "n_images: checkpoint 8 vs now 6"),
             (dict(labels=labels.roll(1)), "data_checksum: checkpoint"),
             (dict(model=models.ResNet(width=24, depth=2, emb_half=8, num_classes=3)), "model: checkpoint")]
    for change, match in cases:
        args = dict(dict(model=tiny_resnet(num_classes=3), images=images, labels=labels), **kw)
        args.update(change)
        with pytest.raises(ValueError, match=match):
            train.train(args.pop("model"), args.pop("images"), args.pop("labels"), steps=2, resume=True, **args)
    assert train.train(tiny_resnet(num_classes=3), images, labels, steps=2, resume=True, **kw).step == 2


def test_data_checksum_is_the_documented_fingerprint():
    """Fails if the resume fingerprint is not [sum_i s_i, sum_i i s_i, sum_i i y_i] (s_i the float64
    sum of image i, not a float32 one, i = 1..N, labels only when given), rounded to 3 decimals: checkpoints written
    earlier carry it, so another formula would refuse to resume them (or a permutation of the data
    would go unnoticed)."""
    g = torch.Generator().manual_seed(3)
    images = torch.rand(5, 2, 3, 3, generator=g) * 2 - 1
    labels = torch.tensor([2, 0, 1, 1, 0])
    s = images.double().flatten(1).sum(1)
    i = torch.arange(1, 6, dtype=torch.float64)
    expected = [round(float(s.sum()), 3), round(float((i * s).sum()), 3)]
    assert train._checksum(images, None) == expected
    assert train._checksum(images, labels) == expected + [round(float((i * labels.double()).sum()), 3)]
    assert train._checksum(images.flip(0), None) != expected  # the order of the images counts
    near = torch.ones(1, 1, 5, 13)
    near[0, 0, 0, 0] = 0.0004998  # sum 64.0004998: 64.0 in float64, but 64.0005035 (-> 64.001) in float32
    assert train._checksum(near, None) == [64.0, 64.0]


def test_the_export_is_the_frozen_ema_copy_moved_by_its_warm_up_decay():
    """Fails if training with ema returns the raw network instead of a separate EMA copy, if that
    copy is not lerp(initial, trained, 1 - d) with d = min(ema, 1/10) after one step, or if it is
    left trainable or in training mode."""
    images, _ = toy_data(n=4)
    model = tiny_resnet()
    initial = [p.detach().clone() for p in model.parameters()]
    result = train.train(model, images, steps=1, batch_size=4, lr=1e-2, ema=0.5, progress=False, device="cpu")
    assert result.model is not model and not result.model.training
    for p0, p1, e in zip(initial, model.parameters(), result.model.parameters()):
        assert not e.requires_grad
        torch.testing.assert_close(e, 0.1 * p0 + 0.9 * p1.detach(), rtol=0, atol=1e-6)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(initial, model.parameters()))


def test_adamw_has_no_weight_decay():
    """Fails if the optimiser decays weights: a parameter that never gets a gradient (the class
    vector of a class absent from the data) must not move at all."""
    images, labels = toy_data(n=6)  # labels 0, 1, 2 only
    model = tiny_resnet(num_classes=4)
    unused = model.embed.classes.weight[3].detach().clone()
    used = model.embed.classes.weight[0].detach().clone()
    train.train(model, images, labels, steps=3, batch_size=6, lr=1e-2, progress=False, device="cpu")
    assert torch.equal(model.embed.classes.weight[3].detach(), unused)
    assert not torch.equal(model.embed.classes.weight[0].detach(), used)


def test_reported_loss_is_the_bias_corrected_running_average():
    """Fails if the loss train reports is not sum_k (1 - b) b^(n-1-k) l_k / (1 - b^n) with b = 0.99
    over the step losses l_k (starting from an average of 0), or if a run of no steps reports
    anything but nan."""
    images, _ = toy_data(n=8)
    for steps in (1, 3):
        result = train.train(tiny_resnet(), images, steps=steps, batch_size=4, progress=False, device="cpu")
        b, n = 0.99, len(result.losses)
        expected = sum((1 - b) * b ** (n - 1 - k) * l for k, l in enumerate(result.losses)) / (1 - b ** n)
        assert n == steps and result.loss == pytest.approx(expected, rel=1e-5)
    assert math.isnan(train.train(tiny_resnet(), images, steps=0, progress=False, device="cpu").loss)


def test_a_run_puts_network_images_and_labels_on_its_device_as_float32_and_int64():
    """Fails if the run leaves the network, the images or the labels off its device, or keeps
    float64 images / int32 labels (the meta device stands in for a GPU)."""
    images, labels = toy_data(n=4)
    model = tiny_resnet(num_classes=3)
    run = train._Run.start(model, images.double(), labels.int(), batch_size=2, lr=1e-3, lr_decay=1.0,
                           warmup_steps=0, ema=0.5, seed=0, out=None, resume=False, device=torch.device("meta"))
    assert all(p.device.type == "meta" for p in model.parameters()) and model.training
    assert run.data.device.type == "meta" and run.data.dtype == torch.float32
    assert run.lab.device.type == "meta" and run.lab.dtype == torch.int64
    assert all(p.device.type == "meta" for p in run.ema_model.parameters())


def test_an_unconditional_network_ignores_labels():
    """Fails if labels given with an unconditional network reach the network (it refuses them)
    or change the run, or block resuming with other labels."""
    images, labels = toy_data(n=8)
    kw = dict(steps=2, batch_size=4, progress=False, device="cpu", n_samples=0)
    a, b = tiny_resnet(), tiny_resnet()
    train.train(a, images, labels, **kw)
    train.train(b, images, **kw)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_an_unconditional_run_resumes_whatever_labels_come_with_it(tmp_path):
    """Fails if the labels passed with an unconditional network enter the resume fingerprint
    (they do not affect its training)."""
    images, labels = toy_data(n=8)
    kw = dict(batch_size=4, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, labels, steps=1, **kw)
    assert train.train(tiny_resnet(), images, labels.roll(1), steps=2, resume=True, **kw).step == 2


def test_resume_into_a_folder_without_checkpoint_says_it_starts_anew(tmp_path, capsys):
    """Fails if resume=True on a folder without a checkpoint silently starts a new run."""
    images, _ = toy_data(n=4)
    result = train.train(tiny_resnet(), images, steps=1, batch_size=4, progress=False, device="cpu", n_samples=0,
                         out_dir=tmp_path / "run", resume=True)
    assert result.step == 1
    assert f"els.train: no checkpoint in {tmp_path / 'run'}; starting a new run" in capsys.readouterr().out


def fake_cuda_while_checkpointing(monkeypatch, states, restored):
    """CUDA 'available' (with the generator states ``states``; restores recorded in ``restored``)
    only inside the checkpoint writer and reader: training itself stays on the CPU."""
    import contextlib

    @contextlib.contextmanager
    def fake():
        with pytest.MonkeyPatch.context() as m:
            m.setattr(torch.cuda, "is_available", lambda: True)
            m.setattr(torch.cuda, "get_rng_state_all", lambda: [s.clone() for s in states])
            m.setattr(torch.cuda, "set_rng_state_all", lambda new: restored.append([s.clone() for s in new]))
            yield

    for name in ("_save_checkpoint", "_load_checkpoint"):
        def wrapped(*args, _f=getattr(train, name)):
            with fake():
                return _f(*args)
        monkeypatch.setattr(train, name, wrapped)


def test_a_checkpoint_holds_and_restores_the_cuda_generators(tmp_path, monkeypatch):
    """Fails if a checkpoint written where CUDA is available does not store every CUDA generator's
    state under rng/torch_cuda, or a resume there does not restore them, or the file lacks its
    format tag (CUDA is faked inside the checkpoint writer and reader only)."""
    states = [torch.arange(8, dtype=torch.uint8), torch.arange(8, 16, dtype=torch.uint8)]
    restored = []
    fake_cuda_while_checkpointing(monkeypatch, states, restored)
    images, _ = toy_data(n=4)
    kw = dict(batch_size=4, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, steps=1, **kw)
    ck = torch.load(tmp_path / train.CHECKPOINT, weights_only=True)
    assert ck["format"] == "els-checkpoint-1"
    assert [s.tolist() for s in ck["rng"]["torch_cuda"]] == [s.tolist() for s in states]
    assert restored == []
    train.train(tiny_resnet(), images, steps=2, resume=True, **kw)
    assert len(restored) == 1 and [s.tolist() for s in restored[0]] == [s.tolist() for s in states]


def test_a_checkpoint_without_cuda_state_resumes_where_cuda_is_available(tmp_path, monkeypatch):
    """Fails if resuming a checkpoint written without CUDA on a machine with CUDA looks for CUDA
    generator states that are not there (or restores anything)."""
    images, _ = toy_data(n=4)
    kw = dict(batch_size=4, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, steps=1, **kw)
    assert "torch_cuda" not in torch.load(tmp_path / train.CHECKPOINT, weights_only=True)["rng"]
    restored = []
    fake_cuda_while_checkpointing(monkeypatch, [torch.zeros(8, dtype=torch.uint8)], restored)
    assert train.train(tiny_resnet(), images, steps=2, resume=True, **kw).step == 2
    assert restored == []


def test_a_checkpoint_is_read_onto_the_run_device_and_never_runs_code(tmp_path, monkeypatch):
    """Fails if a resume reads the checkpoint without mapping it onto the run's device (a GPU
    checkpoint could not resume on a CPU-only machine) or unpickles arbitrary objects (a
    checkpoint from elsewhere could run code), even where the environment turns torch's
    weights-only default off: such a file is refused as not an els checkpoint."""
    import os

    images, _ = toy_data(n=4)
    kw = dict(batch_size=4, progress=False, device="cpu", n_samples=0, out_dir=tmp_path)
    train.train(tiny_resnet(), images, steps=1, **kw)
    seen, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("map_location")) or load(*a, **k))
    train.train(tiny_resnet(), images, steps=2, resume=True, **kw)
    assert seen and all(torch.device(m) == torch.device("cpu") for m in seen)
    monkeypatch.undo()
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    ck = torch.load(tmp_path / train.CHECKPOINT, weights_only=True)
    ck["state"]["note"] = Payload()
    torch.save(ck, tmp_path / train.CHECKPOINT)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # relaxes torch's default, not weights_only=True
    with pytest.raises(ValueError, match="is damaged or is not an els checkpoint"):
        train.train(tiny_resnet(), images, steps=3, resume=True, **kw)
    assert not marker.exists()


def test_batches_follow_the_documented_data_order():
    """Fails if the data order of epoch e is not randperm(N) drawn from a generator seeded
    seed * 1_000_003 + e + 1 (a checkpoint written by an earlier els would resume with other
    batches than its run drew), or an epoch does not hold each image once."""
    images, _ = toy_data(n=10)
    run = train._Run.start(tiny_resnet(), images, None, batch_size=4, lr=1e-3, lr_decay=1.0, warmup_steps=0,
                           ema=None, seed=7, out=None, resume=False, device=torch.device("cpu"))
    for step in range(7):
        epoch, j = divmod(step, 10 // 4)
        order = torch.randperm(10, generator=torch.Generator().manual_seed(7 * 1_000_003 + epoch + 1))
        assert run.batch_indices(step).tolist() == order[4 * j:4 * j + 4].tolist(), step
    whole = train._Run.start(tiny_resnet(), images, None, batch_size=10, lr=1e-3, lr_decay=1.0, warmup_steps=0,
                             ema=None, seed=7, out=None, resume=False, device=torch.device("cpu"))
    assert sorted(whole.batch_indices(1).tolist()) == list(range(10))  # one batch per epoch: all images
    assert whole.batch_indices(1).tolist() != whole.batch_indices(0).tolist()


def test_train_step_keeps_its_tensors_on_the_batch_device():
    """Fails if train_step leaves the noise (drawn from the CPU generator) on the CPU instead of
    moving it to the batch's device, or returns the loss elsewhere (the meta device stands in
    for a GPU)."""
    torch.manual_seed(0)
    model = models.ResNet(width=16, depth=2, emb_half=8).to("meta")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    loss = train.train_step(model, opt, torch.zeros(2, 1, 8, 8, device="meta"), None,
                            torch.Generator().manual_seed(0), 1e-3)
    assert loss.device.type == "meta" and loss.dim() == 0


def test_a_kept_loss_holds_only_its_number():
    """Every step's loss is kept for the run's record (12,000 of them in a book run): the loss
    train_step returns must own a one-number storage, not be a view of the batch's squared
    errors (128 KB for 32 images of 32 x 32, 0.5 GB per 4,000 steps; a training run on 256 images
    ran out of memory that way)."""
    torch.manual_seed(0)
    model = models.ResNet(width=16, depth=1, emb_half=8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = train.train_step(model, opt, torch.rand(32, 1, 32, 32) * 2 - 1, None, torch.Generator().manual_seed(0),
                            1e-3)
    assert loss.untyped_storage().nbytes() == loss.element_size()
    assert not loss.requires_grad and loss.grad_fn is None

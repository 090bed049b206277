"""The reproduction pipeline end to end on a tiny checkpoint, and the paper table."""
import json
from pathlib import Path

import pytest
import torch

from els import models, train
from els.studies import presets
from els.studies.harness import ModelSpec, write_summary
from els.studies.reproduce import reproduce_model, table


def test_reproduce_a_tiny_checkpoint(tmp_path):
    """Calibrate + evaluate + snapshot on a 3-step smoke network: every file is written, the
    summary has IS/LS/ELS for each seed, and a rerun reads everything back (no new work)."""
    images = torch.rand(16, 1, 32, 32) * 2 - 1
    net = models.ResNet(width=16, depth=1, emb_half=8)
    model_dir = tmp_path / "models" / "mnist_resnet_zeros"
    train.train(net, images, steps=2, batch_size=4, out_dir=model_dir, progress=False, n_samples=4,
                data_info={"name": "mnist", "max_images": 20, "subset_seed": 0, "conditional": False},
                sample_steps=2)
    (model_dir / "snapshots" / "early").mkdir(parents=True)
    models.save(net, model_dir / "snapshots" / "early" / "model.pt")
    sizes = presets.EvalPreset(n_seeds=3, calibration_seeds=2, steps=3, network_steps=(3,),
                               calibration_images=20, max_scale=5, quick=True)
    spec = ModelSpec("mnist_resnet_zeros", ("early",))
    out = tmp_path / "results"
    summary = reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    assert set(summary["agreement"]["3"]) == {"IS", "LS", "ELS"}
    assert all(len(s) == 3 and set(s) <= {3, 5} for s in summary["schedules"].values())
    assert summary["agreement"]["3"]["ELS"]["n"] == 3 and "beats_IS" in summary["agreement"]["3"]["ELS"]
    assert set(summary["snapshots"]["early"]["agreement"]["3"]) == {"IS", "ELS"}
    assert json.loads((out / spec.name / "summary.json").read_text())["schedules"] == summary["schedules"]
    for figure in ("agreement.png", "schedules.png", "gallery.png"):
        assert (out / spec.name / figure).stat().st_size > 0
    manifest = json.loads((out / spec.name / "manifest.json").read_text())
    assert manifest["sizes"]["n_seeds"] == 3 and "commit" in manifest["git"]
    before = (out / spec.name / "samples.csv").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes, resume=True)
    assert (out / spec.name / "samples.csv").read_text() == before
    resumed = json.loads((out / spec.name / "manifest.json").read_text())
    first_run = {k: v for k, v in manifest.items() if k != "earlier_runs"}
    assert resumed["earlier_runs"] == [first_run]  # the first run's provenance survives the resume
    md = table([summary], network_steps=3, models_dir=tmp_path / "models")
    assert "(0.94)" in md and "| MNIST ResNet |" in md  # the paper's ELS value for this row


def test_chapter_8_and_9_claims_match_the_committed_results():
    """The sentences of chapters 8 and 9 (and the results appendix) about the committed reproduction,
    checked against the result files; the numbers around them are rendered from the same files."""
    import json
    from pathlib import Path

    from els.machines import matched
    from els.studies import paper
    from els.studies.harness import read_summaries

    root = Path(__file__).resolve().parents[1] / "artifacts"
    summaries = read_summaries(root / "results")
    first = json.loads((root / "results" / "first_recipe.json").read_text())["models"]

    def r(agreement, machine, steps="150"):
        entry = agreement[steps][machine]
        return entry["r"]["median"] if "r" in entry else entry["r_median"]

    above, gaps, is_lower = [], [], {}
    for name, s in summaries.items():
        facts = matched.network_facts(root / "models" / name)
        row = paper.agreement_row(facts["data"], facts["arch"], facts["padding"], facts["conditional"])
        if row is None:  # the paper has no row for this network: chapter 9 says so
            continue
        ours = r(s["agreement"], "ELS")
        (above if ours > row.ELS else gaps).append((name, ours - row.ELS))
        is_lower[name] = r(s["agreement"], "IS") < row.IS
        if "ELS (paper schedule)" in s["agreement"]["150"]:
            published = r(s["agreement"], "ELS (paper schedule)") - ours
            assert abs(published) <= 0.05 if name.startswith("mnist") else published < -0.05, name
        for snap in s["snapshots"].values():  # training raises IS agreement too; ELS stays ahead
            for machine in ("ELS", "IS"):
                assert s["agreement"]["20"][machine]["r"]["median"] > snap["agreement"]["20"][machine]["r"]["median"]
            assert s["agreement"]["20"]["ELS"]["r"]["median"] > s["agreement"]["20"]["IS"]["r"]["median"] + 0.3
    assert sorted(n for n, _ in above) == ["mnist_resnet_circular", "mnist_resnet_zeros"]
    assert all(-0.05 < gap <= 0 for _, gap in gaps)
    assert all(lower for name, lower in is_lower.items() if "circular" not in name)
    for name, old in first.items():
        for machine in ("ELS", "LS", "IS"):
            change = r(summaries[name]["agreement"], machine) - r(old["agreement"], machine)
            assert abs(change) < 0.05 if "circular" in name else change > 0, (name, machine)
    gap_old = r(first["mnist_resnet_zeros"]["agreement"], "ELS") - r(first["mnist_resnet_zeros"]["agreement"], "ELS", "20")
    gap_new = r(summaries["mnist_resnet_zeros"]["agreement"], "ELS") - r(summaries["mnist_resnet_zeros"]["agreement"], "ELS", "20")
    assert gap_old > 0.1 and gap_new < 0.05
    # chapter 9, self-attention: less agreement on MNIST (as in the paper), not on FashionMNIST
    for data, direction in (("mnist", -1), ("fashion_mnist", 1)):
        attention, plain = summaries[f"{data}_attention_unet_zeros"], summaries[f"{data}_unet_zeros"]
        gap = r(attention["agreement"], "ELS") - r(plain["agreement"], "ELS")
        assert (gap < -0.005 if direction < 0 else gap > 0.005) and abs(gap) < 0.90 - 0.77, data
        r2_gap = attention["agreement"]["150"]["ELS"]["R2"]["median"] - plain["agreement"]["150"]["ELS"]["R2"]["median"]
        assert r2_gap < (-0.05 if data == "mnist" else -0.1), data  # R^2: lower with attention on both
        assert r(attention["agreement"], "ELS") > r(attention["agreement"], "IS") + 0.05, data
    schedules = [s["schedules"]["ELS"] for s in summaries.values()]
    assert len(schedules) == 7 and sum(any(b < a for a, b in zip(x, x[1:])) for x in schedules) == 3
    assert paper.schedule("mnist", "resnet", "circular")[-1] == 3 and max(paper.schedule("mnist", "resnet", "circular")) == 11


def test_reproduce_refuses_a_folder_another_run_holds_before_any_work(tmp_path, capsys):
    """Fails if a second reproduction into the same results folder starts (loads data or a
    network) instead of stopping at once with one line naming the other run."""
    import os

    from els.cli import main
    from els.storage import LOCK

    (tmp_path / "models" / "mnist_resnet_zeros").mkdir(parents=True)
    (tmp_path / "models" / "mnist_resnet_zeros" / "model.pt").write_bytes(b"not read: refused first")
    held = tmp_path / "results" / "mnist_resnet_zeros"
    held.mkdir(parents=True)
    (held / LOCK).write_text(str(os.getppid()))  # a live process other than this one
    rc = main(["reproduce", "--models", "mnist_resnet_zeros", "--models-dir", str(tmp_path / "models"),
               "--out", str(tmp_path / "results"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "in use by another run" in err, err


def test_every_command_says_what_it_does_in_its_own_help(capsys):
    """Fails if a command's ``--help`` lost the line ``python -m els --help`` shows for it."""
    from els.cli import COMMANDS, main

    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        usage, description = capsys.readouterr().out.split("\n\n")[:2]
        assert usage.startswith(f"usage: python -m els {name}"), usage
        assert not description.endswith(":") and description.endswith(".") and len(description.split()) >= 4, \
            (name, description)  # a sentence, not the next section's heading ("options:")


def test_every_option_of_every_command_is_explained():
    """Fails if an option shows in ``--help`` with no line saying what it does."""
    import argparse

    from els.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    bare = [(p.prog, a.dest) for p in parsers(build_parser()) for a in p._actions
            if a.option_strings and not a.help]
    assert not bare, bare


def test_a_resumed_run_keeps_the_earlier_runs_manifests(tmp_path, monkeypatch):
    """Fails if a run's second write (after another size) counts itself as an earlier run, if a
    resumed run drops the manifest before it, or if the history loses its order."""
    import time

    sizes = presets.EvalPreset(n_seeds=1, calibration_seeds=1, steps=2, network_steps=(2,), calibration_images=4)
    clock = [1000.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(time, "time", lambda: 1.8e9 + clock[0])  # the wall clock runs with it
    first = clock[0]
    write_summary(tmp_path, {"a": 1}, "run one", sizes, first, dictionary_sizes=[125])
    clock[0] += 60
    write_summary(tmp_path, {"a": 2}, "run one", sizes, first, dictionary_sizes=[125, 500])  # same run, later
    one = json.loads((tmp_path / "manifest.json").read_text())
    assert one["earlier_runs"] == [] and one["dictionary_sizes"] == [125, 500] and one["wall_seconds_last_run"] == 60
    clock[0] += 3600
    write_summary(tmp_path, {"a": 3}, "run two", sizes, clock[0])
    clock[0] += 3600
    write_summary(tmp_path, {"a": 4}, "run three", sizes, clock[0])
    three = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["command"] for m in three["earlier_runs"]] == ["run one", "run two"]
    assert three["earlier_runs"][0] == {k: v for k, v in one.items() if k != "earlier_runs"}
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 4}


def test_a_resume_at_the_same_second_is_still_another_run(tmp_path, monkeypatch):
    """Fails if runs are told apart by their clock: here the wall clock stands still and the
    resumed run begins 1 microsecond after the first, yet the first run's manifest must be kept
    as an earlier run (a quick resume used to be taken for the same run and its record lost)."""
    import time

    sizes = presets.EvalPreset(n_seeds=1, calibration_seeds=1, steps=2, network_steps=(2,), calibration_images=4)
    monkeypatch.setattr(time, "time", lambda: 1.8e9)
    write_summary(tmp_path, {"a": 1}, "first", sizes, 500.0)
    write_summary(tmp_path, {"a": 2}, "resumed", sizes, 500.000001)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["command"] for m in manifest["earlier_runs"]] == ["first"]
    assert manifest["run_id"] != manifest["earlier_runs"][0]["run_id"]


def test_calibrated_tries_every_patch_size_up_to_max_scale_and_saves_both_files(tmp_path):
    """Fails if the largest allowed patch size (``max_scale`` itself) is dropped, if the sizes do
    not follow the image's height and width, if the calibration runs on other seeds or steps
    than the preset's, or if the per-seed ``<stem>.jsonl`` or the result ``<stem>.json`` is not
    written where the next run resumes from (the one saved equals the one returned)."""
    import els
    from els.calibrate import Calibration
    from els.studies.harness import calibrated

    class Linear(torch.nn.Module):
        conditional = False

        def forward(self, x, t, label=None):
            return 0.5 * x

        eps = forward

    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 4, 9, generator=g) * 2 - 1  # candidates follow the larger side: up to 9
    p = presets.EvalPreset(n_seeds=1, calibration_seeds=2, steps=3, network_steps=(3,), max_scale=7)
    stem = tmp_path / "calibration_ELS"
    result = calibrated(Linear(), lambda im, lb: els.LS(im, lb, device="cpu"), images, None, p, stem, False)
    assert result.candidates == [3, 5, 7] and result.seeds == [0, 1] and len(result.schedule) == 3
    assert len((tmp_path / "calibration_ELS.jsonl").read_text().splitlines()) == 2
    assert Calibration.load(tmp_path / "calibration_ELS.json").candidates == [3, 5, 7]
    assert Calibration.load(tmp_path / "calibration_ELS.json").schedule == result.schedule
    whole = calibrated(Linear(), lambda im, lb: els.LS(im, lb, device="cpu"), images, None,
                       presets.EvalPreset(n_seeds=1, calibration_seeds=1, steps=2, network_steps=(2,)),
                       tmp_path / "all", False)
    assert whole.candidates == [3, 5, 7, 9]  # max_scale None: every odd size that fits


def test_study_folders_default_to_the_artifacts_models_and_results(tmp_path, monkeypatch):
    """Fails if a study given no folders does not read the committed ``models`` and write
    ``results`` (which need not exist yet), or if given folders are not used as they are."""
    from els.studies.harness import study_folders

    monkeypatch.setenv("ELS_ARTIFACTS", str(tmp_path))
    (tmp_path / "models").mkdir()
    assert study_folders(None, None) == (tmp_path / "models", tmp_path / "results")
    assert study_folders("a/m", "b/r") == (Path("a/m"), Path("b/r"))
    assert study_folders(str(tmp_path / "x"), None) == (tmp_path / "x", tmp_path / "results")
    (tmp_path / "models").rmdir()
    with pytest.raises(FileNotFoundError, match="models"):
        study_folders(None, tmp_path / "r")  # the networks must be there


def test_read_summaries_in_the_order_of_models_then_the_others(tmp_path):
    """Fails if the summaries are not keyed by model name, if the committed models do not come
    first in the order of MODELS (the others after them, by name), or if a stage's summaries
    are mixed with the reproduction's."""
    from els.studies.harness import MODELS, read_summaries

    for name in ("zz_other", MODELS[2].name, "aa_other", MODELS[0].name):
        (tmp_path / name / "standing").mkdir(parents=True)
        (tmp_path / name / "summary.json").write_text(json.dumps({"stage": "", "model": name}))
        (tmp_path / name / "standing" / "summary.json").write_text(json.dumps({"stage": "standing", "model": name}))
    (tmp_path / MODELS[1].name).mkdir()  # no summary yet
    expected = [MODELS[0].name, MODELS[2].name, "aa_other", "zz_other"]
    for stage in ("", "standing"):
        found = read_summaries(tmp_path, stage)
        assert list(found) == expected
        assert all(s == {"stage": stage, "model": name} for name, s in found.items())
    assert list(read_summaries(tmp_path)) == expected


def test_earlier_runs_keep_a_manifest_written_before_runs_had_ids(tmp_path):
    """Fails if a manifest with neither ``run_id`` nor ``earlier_runs`` (written before either
    existed) is dropped or breaks the history, or if a run counts itself as an earlier run."""
    from els.studies.harness import earlier_runs

    path = tmp_path / "manifest.json"
    assert earlier_runs(path, "1:2.0") == []
    old = {"command": "old run", "git": {"commit": "abc"}}
    path.write_text(json.dumps(old))
    assert earlier_runs(path, "1:2.0") == [old]
    path.write_text(json.dumps({"command": "this", "run_id": "1:2.0", "earlier_runs": [old]}))
    assert earlier_runs(path, "1:2.0") == [old]
    assert earlier_runs(path, "1:3.0") == [old, {"command": "this", "run_id": "1:2.0"}]


def test_training_data_is_the_subset_the_manifest_names(tmp_path):
    """Fails if the images are not the manifest's dataset, split, size and subset seed (seed 0
    for a manifest that names none), if a smaller ``max_images`` is not taken, if the data
    root given is ignored, or if labels come back for an unconditional network (or not for a
    conditional one)."""
    from els import data
    from els.studies.harness import training_data

    root = tmp_path / "cache"
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (40, 28, 28), generator=g, dtype=torch.uint8)
    root.mkdir()
    torch.save({"images": raw, "labels": torch.arange(40) % 4}, root / "mnist_train.pt")  # a data cache
    torch.save({"images": raw.flip(0), "labels": torch.arange(40) % 4}, root / "mnist_test.pt")
    model_dir = tmp_path / "net"
    model_dir.mkdir()

    def manifest(**dataset):
        (model_dir / "manifest.json").write_text(json.dumps({"dataset": {"name": "mnist", "split": "train", **dataset}}))

    def load(**kw):
        return data.load("mnist", "train", root=root, verbose=False, **kw)

    manifest(max_images=12, subset_seed=3, conditional=True)
    images, labels = training_data(model_dir, root=root)
    want_images, want_labels = load(max_images=12, seed=3)
    assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
    assert not torch.equal(images, load(max_images=12, seed=0)[0])  # the seed matters here
    images, labels = training_data(model_dir, 8, root=root)
    assert torch.equal(images, load(max_images=8, seed=3)[0]) and len(labels) == 8
    manifest(max_images=12)  # written before subset seeds and conditioning were recorded
    images, labels = training_data(model_dir, root=root)
    assert torch.equal(images, load(max_images=12, seed=0)[0]) and labels is None
    manifest(max_images=12, subset_seed=0, conditional=False)
    assert training_data(model_dir, root=root)[1] is None


def _train_network_calls(tmp_path, monkeypatch, classes):
    """``harness.train_network`` with ``els.train.train`` replaced by a recorder, a fake MNIST
    cache of 40 images in ``classes`` classes, and a tiny preset that counts its budget in epochs."""
    from els import data
    from els.studies import harness

    root = tmp_path / "cache"
    root.mkdir()
    g = torch.Generator().manual_seed(0)
    torch.save({"images": torch.randint(0, 256, (40, 28, 28), generator=g, dtype=torch.uint8),
                "labels": torch.arange(40) % classes}, root / "mnist_train.pt")
    tp = presets.TrainPreset(resnet_width=16, resnet_depth=1, unet_widths=(16, 16, 32), attention_heads=1, emb_half=8,
                             max_images=30, batch_size=8, lr=2e-3, lr_decay=0.99, ema=0.9, epochs=2.0, max_minutes=3.0,
                             checkpoint_every=5, warmup_steps=4)
    monkeypatch.setitem(presets.PRESETS, "tiny", presets.Preset("tiny", tp))
    calls = []

    def record(model, images, labels, **kw):
        calls.append((model, images, labels, kw))
        return "trained"

    monkeypatch.setattr(train, "train", record)

    def load(n, seed):
        return data.load("mnist", "train", max_images=n, root=root, seed=seed, verbose=False)

    def run(**kw):
        assert harness.train_network("mnist", "resnet", tmp_path / "out", preset="tiny", root=root, **kw) == "trained"
        return calls[-1]

    return run, load, tp


def test_train_network_takes_the_preset_sizes_by_default(tmp_path, monkeypatch, capsys):
    """Fails if a default is not the preset's (images, batch, the step budget from its epochs
    over the images loaded, minutes, learning rate and its decay, warm-up, EMA, checkpoints), if
    the network is not the preset's unconditional ResNet with zero padding initialised from seed
    0, or if the manifest's data record is not what was loaded."""
    run, load, tp = _train_network_calls(tmp_path, monkeypatch, 4)
    model, images, labels, kw = run()
    want_images, want_labels = load(30, 0)
    assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
    torch.manual_seed(0)
    fresh = models.build("resnet", channels=1, padding="zeros", num_classes=None, **tp.model_kwargs("resnet"))
    assert model.config == fresh.config and model.num_classes is None
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert kw == {"steps": 8, "max_minutes": 3.0, "batch_size": 8, "lr": 2e-3, "lr_decay": 0.99, "warmup_steps": 4,
                  "ema": 0.9, "seed": 0, "out_dir": tmp_path / "out", "checkpoint_every": 5, "checkpoint_minutes": 10.0,
                  "resume": False, "force": False, "device": None, "progress": True,
                  "data_info": {"name": "mnist", "split": "train", "max_images": 30, "subset_seed": 0,
                                "conditional": False, "preset": "tiny"},
                  "command": None}  # 8 steps: 2 epochs of 30 images in batches of 8
    assert capsys.readouterr().out.startswith("els train: resnet (zeros), ")


def test_train_network_passes_each_option_on(tmp_path, monkeypatch, capsys):
    """Fails if an option given is replaced by the preset's, if the step budget is not counted
    with the batch given, if a conditional network does not get one class per label value up to
    the largest (2 here: the fewest allowed), or if the network is not initialised from the seed
    given (which also picks the subset)."""
    run, load, tp = _train_network_calls(tmp_path, monkeypatch, 2)
    model, images, labels, kw = run(padding="circular", conditional=True, max_images=12, batch_size=4, lr=0.5,
                                    warmup_steps=3, max_minutes=2.5, seed=5, checkpoint_minutes=3.0, resume=True,
                                    device="cpu", progress=False, command="cmd")
    want_images, want_labels = load(12, 5)
    assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
    assert not torch.equal(images, load(12, 0)[0])
    torch.manual_seed(5)
    fresh = models.build("resnet", channels=1, padding="circular", num_classes=2, **tp.model_kwargs("resnet"))
    assert model.config == fresh.config and model.num_classes == 2
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert kw == {"steps": 6, "max_minutes": 2.5, "batch_size": 4, "lr": 0.5, "lr_decay": 0.99, "warmup_steps": 3,
                  "ema": 0.9, "seed": 5, "out_dir": tmp_path / "out", "checkpoint_every": 5, "checkpoint_minutes": 3.0,
                  "resume": True, "force": False, "device": "cpu", "progress": False,
                  "data_info": {"name": "mnist", "split": "train", "max_images": 12, "subset_seed": 5,
                                "conditional": True, "preset": "tiny"},
                  "command": "cmd"}  # 6 steps: 2 epochs of 12 images in batches of 4
    assert capsys.readouterr().out.startswith("els train: resnet (circular, conditional), ")
    assert run(steps=7, force=True)[3]["steps"] == 7 and run(steps=7, force=True)[3]["force"] is True


def test_train_network_refuses_a_conditional_network_on_one_class(tmp_path, monkeypatch):
    """Fails if a class-conditional network is trained on a dataset with a single label."""
    run, _, _ = _train_network_calls(tmp_path, monkeypatch, 1)
    with pytest.raises(ValueError, match="single class"):
        run(conditional=True)
    assert run()[0].num_classes is None  # unconditional: fine


def test_write_summary_records_when_the_run_started_in_utc_and_on_what(tmp_path, monkeypatch):
    """Fails if the manifest's start is not the wall-clock time when the run began (now minus
    the seconds since ``start``), in UTC to the second, or if it loses the machine, the sizes or
    the run's id, or holds other fields."""
    import os
    import time
    from dataclasses import asdict
    from datetime import datetime, timezone

    from els.storage import machine_info

    sizes = presets.EvalPreset(n_seeds=1, calibration_seeds=1, steps=2, network_steps=(2,), calibration_images=4)
    clock = [1000.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(time, "time", lambda: 1.8e9 + clock[0])
    clock[0] += 90.5
    write_summary(tmp_path, {"a": [1, 2]}, "cmd", sizes, 1000.0)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["started"] == datetime.fromtimestamp(1.8e9 + 1000, timezone.utc).isoformat(timespec="seconds")
    assert m["started"].endswith(":40+00:00") and m["wall_seconds_last_run"] == 90.5
    assert m["machine"] == machine_info() and m["command"] == "cmd"
    assert m["sizes"] == json.loads(json.dumps(asdict(sizes)))
    assert m["run_id"] == f"{os.getpid()}:{1000.0!r}" and m["earlier_runs"] == []
    assert set(m) == {"command", "git", "machine", "sizes", "run_id", "started", "wall_seconds_last_run",
                      "earlier_runs"}
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": [1, 2]}

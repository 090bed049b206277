"""Agreement metrics, the per-sample CSV's resumption, and the summary (book appendix, §A.6)."""
import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import els
from els.evaluate import agreement, evaluate, read_images, read_rows, summarise


def test_metrics_agree_with_numpy():
    g = torch.Generator().manual_seed(0)
    p, y = torch.randn(5, 3, 4, 4, generator=g), torch.randn(5, 3, 4, 4, generator=g)
    got = agreement(p, y)
    for i in range(5):
        a, b = p[i].flatten().numpy().astype(float), y[i].flatten().numpy().astype(float)
        r = np.corrcoef(a, b)[0, 1]
        assert got["r"][i] == pytest.approx(r, rel=1e-10)
        assert got["r2"][i] == pytest.approx(r * r, rel=1e-10)
        assert got["R2"][i] == pytest.approx(1 - ((b - a) ** 2).sum() / ((b - b.mean()) ** 2).sum(), rel=1e-10)
        assert got["mse"][i] == pytest.approx(((b - a) ** 2).mean(), rel=1e-10)


def test_identical_outputs_score_one():
    y = torch.randn(3, 1, 5, 5)
    got = agreement(y.clone(), y)
    for m in ("r", "r2", "R2"):
        assert torch.allclose(got[m], torch.ones(3, dtype=torch.float64))
    assert (got["mse"] == 0).all()


def test_scaled_prediction_has_r_one_but_lower_R2():
    """r ignores scale and offset; R^2 does not: this is why both are reported."""
    y = torch.randn(2, 1, 5, 5)
    got = agreement(2 * y + 1, y)
    assert torch.allclose(got["r"], torch.ones(2, dtype=torch.float64))
    assert (got["R2"] < 0.5).all()


_RUN = """
import sys, torch, els
from els.evaluate import evaluate
images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
network = els.ELS(images, patch_size=5, padding="zeros", device="cpu")
machines = {"IS": (els.IS(images, device="cpu"), None),
            "ELS": (els.ELS(images, patch_size=3, padding="zeros", device="cpu"), None)}
evaluate(network, machines, seeds=int(sys.argv[2]), steps=4, network_steps=(4, 6), out=sys.argv[1],
         batch_size=1, progress=False)
"""


def _run(out, seeds):
    return subprocess.Popen([sys.executable, "-c", _RUN, str(out), str(seeds)])


def test_interrupted_run_resumes_without_duplicates_or_losses(tmp_path):
    """Kill the run once some rows are on disk; rerun; every seed must have exactly one row per
    (network steps, machine), equal to an uninterrupted run."""
    out = tmp_path / "rows.csv"
    proc = _run(out, 40)
    deadline = time.time() + 60
    while time.time() < deadline and len(read_rows(out)) < 8:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(read_rows(out))
    assert 0 < written < 40 * 4, "the kill must land mid-way"
    assert _run(out, 40).wait() == 0
    _run(tmp_path / "straight.csv", 40).wait()
    key = lambda r: (r["seed"], r["network_steps"], r["machine"])
    resumed, straight = sorted(read_rows(out), key=key), sorted(read_rows(tmp_path / "straight.csv"), key=key)
    assert [key(r) for r in resumed] == [key(r) for r in straight]
    assert len({key(r) for r in resumed}) == 40 * 4
    for a, b in zip(resumed, straight):
        assert a["r"] == pytest.approx(b["r"], rel=1e-6)


def test_summary_matches_recomputation_from_csv(tmp_path):
    """The summary's medians and shares must equal a direct recomputation from the CSV."""
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    machines = {"IS": (els.IS(images, device="cpu"), None),
                "LS": (els.LS(images, patch_size=3, device="cpu"), None)}
    evaluate(net, machines, seeds=9, steps=3, network_steps=(3,), out=tmp_path / "e.csv", progress=False)
    with open(tmp_path / "e.csv") as f:
        table = list(csv.DictReader(f))
    summary = summarise(read_rows(tmp_path / "e.csv"))
    for name in ("IS", "LS"):
        r = np.array([float(row["r"]) for row in table if row["machine"] == name])
        assert summary["3"][name]["r"]["median"] == pytest.approx(np.median(r), rel=1e-12)
        assert summary["3"][name]["n"] == 9
    is_r = {row["seed"]: float(row["r"]) for row in table if row["machine"] == "IS"}
    share = np.mean([float(row["r"]) > is_r[row["seed"]] for row in table if row["machine"] == "LS"])
    assert summary["3"]["LS"]["beats_IS"] == pytest.approx(share)


class _NotATensor:
    """A pickled object that is neither a tensor nor a plain container."""


def test_read_images_picks_the_labels_of_the_seeds_asked_and_never_unpickles_code(tmp_path):
    """A class-conditional evaluation's images file: the seeds asked for come back with their
    own labels, in the order asked. A file that holds any other pickled object is refused
    (``weights_only``): reading results never runs code from them."""
    images = torch.arange(3.0).reshape(3, 1, 1, 1)
    torch.save({"seeds": [4, 5, 6], "labels": [7, 8, 9], "images": {"IS": images}}, tmp_path / "img.pt")
    picked = read_images(tmp_path / "img.pt", [6, 4])
    assert picked["labels"] == [9, 7] and picked["images"]["IS"].flatten().tolist() == [2.0, 0.0]
    torch.save({"seeds": [4], "labels": None, "images": {}, "extra": _NotATensor()}, tmp_path / "code.pt")
    with pytest.raises(Exception, match="(?i)weights"):
        read_images(tmp_path / "code.pt")


def test_a_resume_samples_every_group_of_seeds_and_repeats_no_row(tmp_path):
    """Seeds 0 and 1 already have IS; seed 2 has nothing: the two groups (LS alone; IS and LS)
    are both sampled. Then a seed whose row at one network step count was lost (a run stopped
    between two lines) gets that row back, once."""
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(8)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    machines = {"IS": (els.IS(images, device="cpu"), None), "LS": (els.LS(images, patch_size=3, device="cpu"), None)}
    kw = dict(steps=2, network_steps=(2, 3), out=tmp_path / "e.csv", progress=False, batch_size=4)
    evaluate(net, {"IS": machines["IS"]}, seeds=[0, 1], **kw)
    rows = evaluate(net, machines, seeds=[0, 1, 2], **kw)
    every = sorted((s, k, m) for s in (0, 1, 2) for k in (2, 3) for m in ("IS", "LS"))
    assert sorted((r["seed"], r["network_steps"], r["machine"]) for r in rows) == every
    lines = (tmp_path / "e.csv").read_text().splitlines()
    (tmp_path / "e.csv").write_text("\n".join(lines[:-1]) + "\n")  # seed 2's last row is lost
    rows = evaluate(net, machines, seeds=[0, 1, 2], **kw)
    assert sorted((r["seed"], r["network_steps"], r["machine"]) for r in rows) == every
    assert sorted((r["seed"], r["network_steps"], r["machine"]) for r in read_rows(tmp_path / "e.csv")) == every


def test_a_conditional_network_without_labels_fails_before_writing_anything(tmp_path):
    images = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(9)) * 2 - 1
    with pytest.raises(ValueError, match="class-conditional"):
        evaluate(_ConditionalNet(), {"IS": (els.IS(images, device="cpu"), None)}, seeds=[0], steps=2,
                 network_steps=(2,), out=tmp_path / "e.csv", progress=False)
    assert not (tmp_path / "e.csv").exists()


def test_images_out_keeps_every_final_image_and_resumes(tmp_path):
    """The stored images are the samples the rows score, one per seed, across resumed runs."""
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    machines = {"IS": (els.IS(images, device="cpu"), None)}
    kw = dict(steps=3, network_steps=(3,), out=tmp_path / "e.csv", progress=False, batch_size=2,
              images_out=tmp_path / "img.pt")
    evaluate(net, machines, seeds=[4, 5, 6], **kw)
    rows = evaluate(net, machines, seeds=[4, 5, 6, 7], **kw)
    stored = read_images(tmp_path / "img.pt")
    assert stored["seeds"] == [4, 5, 6, 7] and stored["labels"] is None
    noise, _ = els.sampling.seeded_inputs([6], (1, 6, 6))
    np.testing.assert_allclose(stored["images"]["IS"][2:3], els.sample(machines["IS"][0], noise, 3), atol=1e-6)
    r = agreement(stored["images"]["IS"], stored["images"]["network@3"])["r"]
    by_seed = {row["seed"]: row["r"] for row in rows}
    np.testing.assert_allclose(r, [by_seed[s] for s in (4, 5, 6, 7)], rtol=1e-6)
    picked = read_images(tmp_path / "img.pt", [6, 4])
    assert picked["seeds"] == [6, 4] and picked["labels"] is None
    for name, value in stored["images"].items():
        assert torch.equal(picked["images"][name], value[[2, 0]]), name
    with pytest.raises(ValueError, match="needs out="):
        evaluate(net, machines, seeds=1, images_out=tmp_path / "x.pt", progress=False)


def test_a_machine_added_to_a_finished_evaluation_costs_only_itself(tmp_path):
    """Fails if adding a machine to a finished evaluation samples the machines already there
    again (their sample counts in the timing file grow), or if the added machine's rows and
    images differ from an evaluation that had it from the start; the images file holds NaN for
    the seeds the added machine has not reached."""
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    both = {"IS": (els.IS(images, device="cpu"), None), "LS": (els.LS(images, patch_size=3, device="cpu"), None)}
    kw = dict(steps=3, network_steps=(3,), progress=False, batch_size=2)
    evaluate(net, {"IS": both["IS"]}, seeds=[0, 1, 2], out=tmp_path / "e.csv", images_out=tmp_path / "e.pt", **kw)
    evaluate(net, both, seeds=[0], out=tmp_path / "e.csv", images_out=tmp_path / "e.pt", **kw)
    half = read_images(tmp_path / "e.pt")["images"]["LS"]
    assert not half[0].isnan().any() and half[1:].isnan().all(), "LS reached seed 0 only"
    rows = evaluate(net, both, seeds=[0, 1, 2], out=tmp_path / "e.csv", images_out=tmp_path / "e.pt", **kw)
    timing = json.loads((tmp_path / "e.csv.timing.json").read_text())
    assert timing["IS"]["samples"] == 3 and timing["LS"]["samples"] == 3, "only the missing machine is sampled"
    from els.evaluate import seconds_per_sample
    assert seconds_per_sample(tmp_path / "e.csv") == {k: v["seconds"] / v["samples"] for k, v in timing.items()}
    assert seconds_per_sample(tmp_path / "never_evaluated.csv") == {}
    assert set(timing) == {"network@3", "IS", "LS"} and timing["network@3"]["samples"] == 3 + 1 + 2
    straight = evaluate(net, both, seeds=[0, 1, 2], out=tmp_path / "s.csv", images_out=tmp_path / "s.pt", **kw)
    key = lambda r: (r["seed"], r["machine"])  # noqa: E731
    assert [(key(a), a["r"]) for a in sorted(rows, key=key)] == [(key(b), pytest.approx(b["r"], rel=1e-6))
                                                                 for b in sorted(straight, key=key)]
    added, whole = read_images(tmp_path / "e.pt"), read_images(tmp_path / "s.pt")
    assert added["seeds"] == whole["seeds"] == [0, 1, 2] and set(added["images"]) == set(whole["images"])
    for name, value in whole["images"].items():
        np.testing.assert_allclose(added["images"][name], value, atol=1e-6)


@pytest.mark.parametrize("released", [False, True])
def test_rows_match_an_independent_recomputation(released):
    """Each row is the agreement of the machine's sample (its calibrated schedule, 3 steps)
    with the network's sample at that row's step count, recomputed here with a DDIM loop and
    numpy, from noise drawn here: not the code under test compared with itself. Released
    handling: the machine (only) starts at t = 2/3 and reads ``schedule[i]`` at t = i / 3."""
    import math

    train = torch.rand(10, 1, 6, 6, generator=torch.Generator().manual_seed(7)) * 2 - 1
    network = els.LS(train, patch_size=5, device="cpu")  # a stand-in network with eps()
    machine = els.ELS(train, patch_size=3, padding="zeros", device="cpu")
    schedule = [3, 5, 3]

    def abar(t):
        return math.cos(t / 1.008 * math.pi / 2) ** 2

    def ddim(step, noise, n, first=None):
        x = noise
        for i in range(n if first is None else first, 0, -1):
            t, ab, ab_prev = i / n, abar(i / n), abar((i - 1) / n)
            x0, eps = step(x, t, i)
            x = ab_prev ** 0.5 * x0 + (1 - ab_prev) ** 0.5 * eps
        return x

    def machine_step(x, t, i):
        ab = abar(t)
        x0 = machine.denoise(x, t, patch_size=schedule[i if released else i - 1])
        return x0, (x - ab ** 0.5 * x0) / (1 - ab) ** 0.5

    def network_step(x, t, i):
        ab = abar(t)
        eps = network.eps(x, t)
        return (x - (1 - ab) ** 0.5 * eps) / ab ** 0.5, eps

    rows = evaluate(network, {"ELS": (machine, schedule)}, seeds=[4, 5], steps=3, network_steps=(2, 4),
                    batch_size=2, progress=False, released=released)
    assert len(rows) == 4
    for row in rows:
        noise = torch.randn(1, 1, 6, 6, generator=torch.Generator().manual_seed(row["seed"]))
        y = ddim(network_step, noise, row["network_steps"]).double().numpy().ravel()
        p = ddim(machine_step, noise, 3, first=2 if released else 3).double().numpy().ravel()
        assert row["r"] == pytest.approx(np.corrcoef(p, y)[0, 1], abs=1e-5)
        assert row["R2"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum(), abs=1e-4)


def test_results_file_is_validated_not_trusted(tmp_path):
    """Garbage lines and repeated rows are dropped from the file; rows from another evaluation
    (a machine or step count this one does not produce) are refused with the file named."""
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(3)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    machines = {"IS": (els.IS(images, device="cpu"), None)}
    out = tmp_path / "e.csv"
    kw = dict(steps=2, network_steps=(2,), out=out, progress=False)
    evaluate(net, machines, seeds=2, **kw)
    lines = out.read_text().splitlines()
    out.write_text("\n".join([*lines, "garbage,,,", lines[1]]) + "\n")
    rows = evaluate(net, machines, seeds=2, **kw)
    assert len(rows) == 2 and out.read_text().splitlines() == lines
    with open(out, "a") as f:
        f.write("0,,3,IS,0.5,0.25,0.1,0.2\n")  # a step count this evaluation does not run
    with pytest.raises(ValueError, match="e.csv holds rows.*another evaluation"):
        evaluate(net, machines, seeds=2, **kw)


def test_along_trajectory_scores_each_machine_on_the_networks_own_states():
    """A machine that *is* the network scores r = 1 at every step; another machine's r at each
    step is its denoiser against the network's x0_hat at the network's x_t (recomputed)."""
    from els.evaluate import along_trajectory

    train = torch.rand(10, 1, 6, 6, generator=torch.Generator().manual_seed(8)) * 2 - 1
    network = els.ELS(train, patch_size=3, padding="zeros", device="cpu")
    other = els.IS(train, device="cpu")
    wide = els.ELS(train, patch_size=5, padding="zeros", device="cpu")  # the schedule, not its own size, counts
    got = along_trajectory(network, {"same": (wide, [3, 3, 3]), "IS": (other, None)}, seeds=[1, 2], steps=3)
    assert got["same"].shape == (3, 2) and torch.allclose(got["same"], torch.ones(3, 2, dtype=torch.float64))
    noise, _ = els.sampling.seeded_inputs([1, 2], (1, 6, 6))
    for t, x_t, x0, _ in els.sampling.trajectory(network, noise, 3):
        i = round(t * 3) - 1
        np.testing.assert_allclose(got["IS"][i], agreement(other.denoise(x_t, t), x0)["r"], rtol=1e-10)
    assert not torch.allclose(got["IS"], torch.ones(3, 2, dtype=torch.float64))


class _ConditionalNet:
    """A stand-in class-conditional network written apart from els: eps = x_t / 2 + label / 10,
    and an error when asked without its labels."""

    conditional = True

    def eps(self, x_t, t, label=None):
        if label is None:
            raise AssertionError("the conditional network was called without labels")
        return x_t / 2 + label.to(x_t.dtype).view(-1, 1, 1, 1) / 10


def _abar(t):
    import math

    return math.cos(t / 1.008 * math.pi / 2) ** 2


def _ddim(x0_of, noise, n):
    """DDIM from ``noise`` in ``n`` steps with ``x0_of(x, t) -> (x0, eps)``, written here."""
    x = noise
    for i in range(n, 0, -1):
        x0, eps = x0_of(x, i / n)
        x = _abar((i - 1) / n) ** 0.5 * x0 + (1 - _abar((i - 1) / n)) ** 0.5 * eps
    return x


def _seed_label(seed, classes):
    """The label seeded_inputs draws for ``seed``: after the (1, 6, 6) noise, one uniform index."""
    g = torch.Generator().manual_seed(seed)
    torch.randn(1, 6, 6, generator=g)
    return classes[int(torch.randint(len(classes), (), generator=g))]


def test_conditional_rows_use_each_seeds_label_for_the_network_and_every_machine(tmp_path):
    """Fails if a conditional evaluation drops or mixes labels anywhere: the network and each
    machine must sample with the seed's label drawn from the machines' classes (here 0 and 2,
    not 0..k), rows and stored images must carry it, and r must equal a recomputation."""
    g = torch.Generator().manual_seed(11)
    train = torch.rand(8, 1, 6, 6, generator=g) * 2 - 1
    labels = torch.tensor([0, 2, 0, 2, 2, 0, 2, 0])
    net = _ConditionalNet()
    machine = els.IS(train, labels=labels, device="cpu")
    seeds = [0, 1, 2, 3, 4]
    rows = evaluate(net, {"IS": (machine, None)}, seeds=seeds, steps=2, network_steps=(3,), out=tmp_path / "e.csv",
                    images_out=tmp_path / "img.pt", batch_size=2, progress=False)
    expected = {s: _seed_label(s, [0, 2]) for s in seeds}
    assert {r["seed"]: r["label"] for r in rows} == expected and len(set(expected.values())) == 2
    assert {r["seed"]: r["label"] for r in read_rows(tmp_path / "e.csv")} == expected  # read back from the file
    stored = read_images(tmp_path / "img.pt")
    assert stored["labels"] == [expected[s] for s in stored["seeds"]]
    for row in rows:
        s, lab = row["seed"], torch.tensor([expected[row["seed"]]])
        noise = torch.randn(1, 1, 6, 6, generator=torch.Generator().manual_seed(s))

        def network_step(x, t):
            eps = net.eps(x, t, lab)
            return (x - (1 - _abar(t)) ** 0.5 * eps) / _abar(t) ** 0.5, eps

        def machine_step(x, t):
            x0 = machine.denoise(x, t, label=lab)
            return x0, (x - _abar(t) ** 0.5 * x0) / (1 - _abar(t)) ** 0.5

        y, p = _ddim(network_step, noise, 3), _ddim(machine_step, noise, 2)
        k = stored["seeds"].index(s)
        np.testing.assert_allclose(stored["images"]["network@3"][k:k + 1], y, atol=1e-5)
        np.testing.assert_allclose(stored["images"]["IS"][k:k + 1], p, atol=1e-5)
        assert row["r"] == pytest.approx(np.corrcoef(p.double().ravel(), y.double().ravel())[0, 1], abs=1e-5)


def test_the_timing_file_accumulates_seconds_and_samples_per_component(tmp_path, monkeypatch):
    """Fails if a component's seconds or sample count is overwritten instead of added, counted
    from a wrong start, filed under another name, or lost when the evaluation resumes. A fake
    clock advancing 1 s per reading makes every timed call last exactly 1 s."""
    import json
    import time as time_module

    clock = iter(range(10**6))
    monkeypatch.setattr(time_module, "perf_counter", lambda: float(next(clock)))
    images = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(5)) * 2 - 1
    net = els.ELS(images, patch_size=3, padding="zeros", device="cpu")
    machines = {"IS": (els.IS(images, device="cpu"), None)}
    out = tmp_path / "e.csv"
    evaluate(net, machines, seeds=3, steps=2, network_steps=(2,), out=out, batch_size=2, progress=False)
    timing = json.loads((tmp_path / "e.csv.timing.json").read_text())
    assert timing == {"network@2": {"seconds": 2.0, "samples": 3}, "IS": {"seconds": 2.0, "samples": 3}}
    evaluate(net, machines, seeds=5, steps=2, network_steps=(2,), out=out, batch_size=2, progress=False)
    timing = json.loads((tmp_path / "e.csv.timing.json").read_text())
    assert timing == {"network@2": {"seconds": 3.0, "samples": 5}, "IS": {"seconds": 3.0, "samples": 5}}


def test_summary_quartiles_and_share_against_hand_values():
    """Fails if q25 / median / q75 are mixed up or renamed, or if a tie counts as beating IS."""
    rows = [{"seed": s, "network_steps": 4, "machine": m, "r": r, "r2": r * r, "R2": r, "mse": 0.0}
            for s, (a, b) in enumerate([(0.1, 0.5), (0.2, 0.2), (0.3, 0.9), (0.4, 0.3), (0.5, 0.8)])
            for m, r in (("IS", a), ("ELS", b))]
    s = summarise(rows)["4"]
    assert s["ELS"]["r"] == {"q25": pytest.approx(0.3), "median": pytest.approx(0.5), "q75": pytest.approx(0.8)}
    assert s["ELS"]["beats_IS"] == pytest.approx(3 / 5)  # seed 1 ties (0.2 = 0.2): not a win
    assert "beats_IS" not in s["IS"]
    only_els = summarise([r for r in rows if r["machine"] == "ELS"])["4"]["ELS"]
    assert "beats_IS" not in only_els


def test_whole_rows_are_kept_once_and_a_clean_file_is_left_alone(tmp_path):
    """Fails if a repeated row or a garbage line survives in the results file, if a whole row of
    a seed that lacks other rows is dropped (it is kept; only what is missing is recomputed), or
    if a file that is already clean is rewritten (a new inode)."""
    import os

    from els.evaluate import HEADER, _complete_rows, _format

    def row(seed, k, machine):
        return {"seed": seed, "label": None, "network_steps": k, "machine": machine, "r": 0.5, "r2": 0.25,
                "R2": 0.1, "mse": 0.2}

    expected = {(2, "IS"), (2, "ELS")}
    whole = [row(0, 2, "IS"), row(0, 2, "ELS")]
    out = tmp_path / "e.csv"
    out.write_text("\n".join([HEADER, _format(whole[0]), "garbage,,,", "0,,x,IS,1,1,1,1", *map(_format, whole[1:]),
                              _format(row(1, 2, "IS")), _format(whole[0])]) + "\n")  # junk mid-file too
    kept = [(0, "IS"), (0, "ELS"), (1, "IS")]
    assert [(r["seed"], r["machine"]) for r in _complete_rows(out, expected)] == kept
    assert out.read_text() == "\n".join([HEADER, *map(_format, [*whole, row(1, 2, "IS")])]) + "\n"
    inode = os.stat(out).st_ino
    assert len(_complete_rows(out, expected)) == 3 and os.stat(out).st_ino == inode
    out.write_text(out.read_text().rstrip("\n"))  # no newline at the end: rewritten with one, so the
    assert len(_complete_rows(out, expected)) == 3 and out.read_text().endswith("\n")  # next row starts a line
    assert _complete_rows(None, expected) == [] and _complete_rows(tmp_path / "new.csv", expected) == []


def test_peers_agreement_against_hand_values():
    """Fails if the peers' R^2 or MSE is not computed on images mapped to [0, 1] and clamped,
    with the target's unbiased variance (a flat target counts as variance 1)."""
    from els.evaluate import peers_agreement

    target = torch.tensor([[-1.0, 0.0, 1.0, 1.0]])  # [0, 1]: 0, 0.5, 1, 1; mean 0.625
    prediction = torch.tensor([[-3.0, 0.0, 0.0, 1.0]])  # clamped: 0, 0.5, 0.5, 1
    got = peers_agreement(prediction, target)
    var = ((0 - 0.625) ** 2 + (0.5 - 0.625) ** 2 + 2 * (1 - 0.625) ** 2) / 3
    assert got["mse"].item() == pytest.approx(0.25 / 4)
    assert got["R2"].item() == pytest.approx(1 - 0.25 / (4 * var))
    flat = peers_agreement(torch.zeros(1, 4), torch.ones(1, 4))  # target all 1 in [0, 1]
    assert flat["R2"].item() == pytest.approx(1 - 4 * 0.25 / 4) and flat["mse"].item() == pytest.approx(0.25)
    assert got["R2"].dtype == torch.float64 and got["R2"].shape == (1,)
    with pytest.raises(ValueError, match="differ in shape"):
        peers_agreement(torch.zeros(1, 4), torch.zeros(1, 5))


def test_along_trajectory_of_a_conditional_network_uses_each_seeds_label():
    """Fails if the single-step agreement drops the seeds' labels for the network or the
    machines, or draws them from other classes than the machines'."""
    from els.evaluate import along_trajectory

    g = torch.Generator().manual_seed(12)
    train = torch.rand(8, 1, 6, 6, generator=g) * 2 - 1
    labels = torch.tensor([0, 2, 0, 2, 2, 0, 2, 0])
    net, machine = _ConditionalNet(), els.IS(train, labels=labels, device="cpu")
    seeds = [0, 1, 2, 3, 4]
    got = along_trajectory(net, {"IS": (machine, None)}, seeds=seeds, steps=2)
    lab = torch.tensor([_seed_label(s, [0, 2]) for s in seeds])
    x = torch.stack([torch.randn(1, 6, 6, generator=torch.Generator().manual_seed(s)) for s in seeds])
    for i in range(2, 0, -1):
        t = i / 2
        eps = net.eps(x, t, lab)
        x0 = (x - (1 - _abar(t)) ** 0.5 * eps) / _abar(t) ** 0.5
        np.testing.assert_allclose(got["IS"][i - 1], agreement(machine.denoise(x, t, label=lab), x0)["r"], rtol=1e-6)
        x = _abar((i - 1) / 2) ** 0.5 * x0 + (1 - _abar((i - 1) / 2)) ** 0.5 * eps
    with pytest.raises(ValueError, match="give the machines .* training labels"):
        along_trajectory(net, {"IS": (els.IS(train, device="cpu"), None)}, seeds=1, steps=2)


def test_float64_machines_get_float64_noise():
    """Fails if evaluation or single-step agreement hands float32 noise to float64 machines and
    networks (they refuse a dtype they were not built with)."""
    from els.evaluate import along_trajectory

    train = (torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(9)) * 2 - 1).double()
    network = els.ELS(train, patch_size=3, padding="zeros", device="cpu", dtype=torch.float64)
    machines = {"IS": (els.IS(train, device="cpu", dtype=torch.float64), None)}
    assert len(evaluate(network, machines, seeds=1, steps=2, network_steps=(2,), progress=False)) == 1
    assert along_trajectory(network, machines, seeds=1, steps=2)["IS"].shape == (2, 1)


def test_peers_agreement_clamps_both_images_and_scores_each_sample_alone():
    """Fails if values outside [-1, 1] are not clamped to [0, 1] in the prediction and in the
    target, or if the variance or the residual mixes the samples of a batch."""
    from els.evaluate import peers_agreement

    target = torch.tensor([[-3.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.5, 1.0]])  # first row in [0, 1]: 0, .5, 1, 1
    prediction = torch.tensor([[-1.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.5, 1.0]])  # first row: 0, .5, 1, 1
    got = peers_agreement(prediction, target)
    assert got["mse"].tolist() == [0.0, 0.0] and got["R2"].tolist() == [1.0, 1.0]
    shifted = peers_agreement(prediction + torch.tensor([[0.0], [0.2]]), target)
    y = np.array([0.5, 0.5, 0.75, 1.0])
    # second row in [0, 1]: 0.6, 0.6, 0.85, 1.1 clamped to 1; residuals 0.1, 0.1, 0.1, 0
    assert shifted["mse"][1].item() == pytest.approx(0.03 / 4)
    assert shifted["R2"][1].item() == pytest.approx(1 - 0.03 / (4 * y.var(ddof=1)))
    assert shifted["R2"][0].item() == 1.0


@pytest.mark.parametrize("bad", [",", "\n", '"'])
def test_a_machine_name_the_csv_cannot_hold_is_refused(tmp_path, bad):
    """Fails if a name with a comma, line break or quote reaches the CSV, where its rows would
    be unreadable and lost, or if a name without them (parentheses, semicolons) is refused."""
    images = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1
    machine = els.IS(images, device="cpu")
    with pytest.raises(ValueError, match="may not contain commas"):
        evaluate(machine, {f"ELS{bad} released": (machine, None)}, seeds=1, steps=2, network_steps=(2,),
                 out=tmp_path / "rows.csv", progress=False)
    assert not (tmp_path / "rows.csv").exists()
    rows = evaluate(machine, {"IS (X; released)": (machine, None)}, seeds=1, steps=2, network_steps=(2,),
                    out=tmp_path / "rows.csv", progress=False)
    assert read_rows(tmp_path / "rows.csv") == rows


def test_paired_difference_against_a_written_out_bootstrap():
    """Fails if the interval is not a paired bootstrap of the difference of medians (same seeds
    drawn for both machines), if the verdict ignores the interval, or if seeds scored for only
    one machine are used."""
    from els.evaluate import paired_difference

    g = torch.Generator().manual_seed(0)
    base = torch.rand(30, generator=g, dtype=torch.float64)
    rows = [{"seed": s, "network_steps": 20, "machine": "A", "r": float(base[s] + 0.2)} for s in range(30)]
    rows += [{"seed": s, "network_steps": 20, "machine": "B", "r": float(base[s])} for s in range(30)]
    rows += [{"seed": 99, "network_steps": 20, "machine": "A", "r": -5.0}]  # B lacks seed 99
    got = paired_difference(rows, "A", "B", resamples=500, seed=3)
    draw = torch.randint(30, (500, 30), generator=torch.Generator().manual_seed(3))
    a, b = base + 0.2, base
    spread = a[draw].quantile(0.5, dim=1) - b[draw].quantile(0.5, dim=1)
    assert got["n"] == 30 and abs(got["difference"] - float(a.quantile(0.5) - b.quantile(0.5))) < 1e-12
    assert abs(got["low"] - float(spread.quantile(0.025))) < 1e-12 and abs(got["high"] - float(spread.quantile(0.975))) < 1e-12
    assert got["low"] == pytest.approx(0.2) and got["high"] == pytest.approx(0.2) and got["verdict"] == "lead"  # paired: no spread
    noisy = [dict(r, r=float(torch.rand(1, generator=g))) for r in rows if r["machine"] == "A"]
    tie = paired_difference(noisy + [r for r in rows if r["machine"] == "B"], "A", "B", resamples=500)
    assert (tie["verdict"] == "tie") == (tie["low"] <= 0 <= tie["high"])
    assert paired_difference(rows, "B", "A", resamples=500, seed=3)["verdict"] == "behind"
    with pytest.raises(ValueError, match="at least two seeds"):
        paired_difference(rows[:1] + rows[30:31], "A", "B")


def test_paired_difference_takes_the_medians_summarise_reports():
    """Fails if the lead differs from the difference of the two medians a summary table shows
    (an even number of seeds: the mean of the two middle values, not the lower one)."""
    from els.evaluate import paired_difference, relabelled

    rows = [{"seed": s, "network_steps": 20, "machine": "A", "r": v, "label": None, "r2": 0, "R2": 0, "mse": 0}
            for s, v in enumerate([0.1, 0.2, 0.3, 0.4])]
    rows += [{**r, "machine": "B", "r": 0.0} for r in rows]
    table = summarise(rows)["20"]
    assert paired_difference(rows, "A", "B", resamples=50)["difference"] == pytest.approx(
        table["A"]["r"]["median"] - table["B"]["r"]["median"])
    renamed = relabelled(rows, "A", "early")
    assert {r["machine"] for r in renamed} == {"early"} and [r["r"] for r in renamed] == [0.1, 0.2, 0.3, 0.4]


def _paired_rows(values: dict[str, list[float]], steps: int = 20) -> list[dict]:
    return [{"seed": s, "network_steps": steps, "machine": name, "r": float(v)}
            for name, vs in values.items() for s, v in enumerate(vs)]


def test_paired_difference_defaults_resample_ten_thousand_times_from_seed_zero():
    """Fails if the interval is not the paired bootstrap written out here (10,000 draws of the
    seeds from a generator seeded 0 by default, the same draw for both machines), if the draw
    ignores ``seed`` (another seed must give another interval, the same seed the same one), or
    if it comes from the global random state."""
    from els.evaluate import paired_difference

    g = torch.Generator().manual_seed(5)
    a, b = torch.rand(12, generator=g, dtype=torch.float64), torch.rand(12, generator=g, dtype=torch.float64)
    rows = _paired_rows({"A": a.tolist(), "B": b.tolist()})
    torch.manual_seed(123)
    got = paired_difference(rows, "A", "B")
    draw = torch.randint(12, (10_000, 12), generator=torch.Generator().manual_seed(0))
    spread = (a[draw].quantile(0.5, dim=1) - b[draw].quantile(0.5, dim=1)).numpy()
    assert got["low"] == pytest.approx(np.quantile(spread, 0.025), abs=1e-12)
    assert got["high"] == pytest.approx(np.quantile(spread, 0.975), abs=1e-12)
    assert got["low"] < got["difference"] < got["high"] and got["high"] - got["low"] > 0.1  # a real spread
    torch.manual_seed(456)
    assert paired_difference(rows, "A", "B") == got  # deterministic, whatever the global state
    other = paired_difference(rows, "A", "B", seed=1)
    assert (other["low"], other["high"]) != (got["low"], got["high"])
    assert other["difference"] == got["difference"]


def test_paired_difference_reads_the_requested_step_count_and_needs_two_shared_seeds():
    """Fails if ``network_steps`` is ignored (the largest step count read instead), or if two
    seeds scored for both machines are refused or one is accepted."""
    from els.evaluate import paired_difference

    rows = _paired_rows({"A": [0.9, 0.8, 0.7], "B": [0.1, 0.2, 0.3]}, steps=10)
    rows += _paired_rows({"A": [0.1, 0.2, 0.3], "B": [0.9, 0.8, 0.7]}, steps=20)
    assert paired_difference(rows, "A", "B", resamples=50)["difference"] == pytest.approx(0.2 - 0.8)
    assert paired_difference(rows, "A", "B", network_steps=10, resamples=50)["difference"] == pytest.approx(0.6)
    two = _paired_rows({"A": [0.5, 0.7], "B": [0.1, 0.2]})
    got = paired_difference(two, "A", "B", resamples=50)
    assert got["n"] == 2 and got["difference"] == pytest.approx(0.6 - 0.15)
    with pytest.raises(ValueError, match="at least two seeds.*got 1"):
        paired_difference(two[:1] + two[2:3], "A", "B")


def test_paired_difference_an_interval_ending_at_zero_is_a_tie():
    """Fails if an interval whose lower or upper end is exactly zero is not called a tie (the
    interval contains zero). Five seeds, A scores 1 on three and 0 on two, B scores 0: a draw's
    median difference is 0 or 1, each with far more than 2.5% chance, so the interval is [0, 1]."""
    from els.evaluate import paired_difference

    rows = _paired_rows({"A": [1, 0, 1, 0, 1], "B": [0, 0, 0, 0, 0]})
    ahead = paired_difference(rows, "A", "B", resamples=400)
    assert (ahead["low"], ahead["high"], ahead["difference"], ahead["verdict"]) == (0.0, 1.0, 1.0, "tie")
    behind = paired_difference(rows, "B", "A", resamples=400)
    assert (behind["low"], behind["high"], behind["difference"], behind["verdict"]) == (-1.0, 0.0, -1.0, "tie")


def test_paired_difference_verdict_follows_the_side_of_the_interval():
    """Fails if the verdict contradicts the interval: when every resampled median difference is
    positive (the interval lies above zero) the first machine leads, even where the two medians
    of the full sample happen to be equal. A scores b + 0.5 on every seed but the middle one,
    where both score the same: a draw's median difference is 0.5 unless its median is that
    seed, and none of the ten draws of seed 31 has it there."""
    from els.evaluate import paired_difference

    b = [float(i) for i in range(9)]
    a = [v + 0.5 if i != 4 else v for i, v in enumerate(b)]
    rows = _paired_rows({"A": a, "B": b})
    got = paired_difference(rows, "A", "B", resamples=10, seed=31)
    assert got["difference"] == 0.0 and got["low"] == got["high"] == 0.5
    assert got["verdict"] == "lead"
    back = paired_difference(rows, "B", "A", resamples=10, seed=31)
    assert back["difference"] == 0.0 and back["low"] == back["high"] == -0.5
    assert back["verdict"] == "behind"


class _WidthMachine:
    """A stand-in machine written apart from els whose locality keyword is ``width`` (not
    ``patch_size``): it records the width of every call and shrinks x_t by it."""

    scale_name = "width"
    labels = None

    def __init__(self):
        self.images = torch.zeros(3, 1, 4, 4)
        self.widths = []

    def denoise(self, x_t, t, label=None, width=None):
        if width is None:
            raise AssertionError("called without its width")
        self.widths.append(width)
        return x_t / width + t


def test_along_trajectory_passes_each_steps_scale_under_the_machines_own_keyword():
    """Fails if single-step agreement passes a machine's schedule under another keyword than the
    machine's ``scale_name`` (e.g. ``patch_size=`` to a thresholded machine), or reads another
    step's entry: the widths must arrive high noise first, entry i - 1 at t = i / steps."""
    from els.evaluate import along_trajectory

    network, machine = els.IS(torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(2)), device="cpu"), _WidthMachine()
    got = along_trajectory(network, {"W": (machine, [2, 3, 5])}, seeds=[0, 1], steps=3)
    assert machine.widths == [5, 3, 2] and got["W"].shape == (3, 2)


class _HalfNet:
    """A stand-in unconditional network written apart from els: eps = x_t / 2, whose clean-image
    estimates leave [-1, 1] at high noise (so clipping changes them)."""

    def eps(self, x_t, t, label=None):
        return x_t / 2


def test_sample_together_passes_clip_and_released_to_the_right_models():
    """Fails if sampling together drops or inverts ``clip`` (every model) or ``released`` (the
    machines only), defaults either to on, or needs a ``timing`` dict: each output must equal
    els.sample of that model from the seeds' own noise with exactly those settings; evaluate
    must score the same images."""
    from els.evaluate import sample_together, score

    net, seeds = _HalfNet(), [3, 4]
    noise, _ = els.sampling.seeded_inputs(seeds, (1, 4, 4))
    for released, clip in ((False, False), (True, True), (True, False), (False, True)):
        machine = _WidthMachine()
        timing = {}
        kw = {} if not (released or clip) else {"released": released, "clip": clip, "timing": timing}
        out, labels = sample_together(net, {"W": (machine, [1, 2, 4])}, seeds, steps=3, network_steps=(2,), **kw)
        assert labels is None and set(out) == {"network@2", "W"}
        want_net = els.sample(net, noise, 2, clip=clip)
        want_w = els.sample(_WidthMachine(), noise, 3, [1, 2, 4], released=released, clip=clip)
        torch.testing.assert_close(out["network@2"], want_net, rtol=0, atol=0)
        torch.testing.assert_close(out["W"], want_w, rtol=0, atol=0)
        assert (want_net.abs().max() <= 1) == clip and (want_w.abs().max() <= 1) == clip
        if kw:
            assert {k: v["samples"] for k, v in timing.items()} == {"network@2": 2, "W": 2}
            rows = evaluate(net, {"W": (_WidthMachine(), [1, 2, 4])}, seeds=seeds, steps=3, network_steps=(2,),
                            progress=False, released=released, clip=clip)
            assert rows == score({"network@2": want_net, "W": want_w}, seeds, None, (2,))
    assert not torch.equal(els.sample(_WidthMachine(), noise, 3, [1, 2, 4], released=True),
                           els.sample(_WidthMachine(), noise, 3, [1, 2, 4]))

"""Agreement metrics, the per-sample CSV's resumption, and the summary (book appendix, §A.6)."""
import csv
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
    with pytest.raises(ValueError, match="needs out="):
        evaluate(net, machines, seeds=1, images_out=tmp_path / "x.pt", progress=False)


def test_rows_match_an_independent_recomputation():
    """Each row is the agreement of the machine's sample (its calibrated schedule, 3 steps)
    with the network's sample at that row's step count, recomputed here with a DDIM loop and
    numpy, from noise drawn here: not the code under test compared with itself."""
    import math

    train = torch.rand(10, 1, 6, 6, generator=torch.Generator().manual_seed(7)) * 2 - 1
    network = els.LS(train, patch_size=5, device="cpu")  # a stand-in network with eps()
    machine = els.ELS(train, patch_size=3, padding="zeros", device="cpu")
    schedule = [3, 5, 3]

    def abar(t):
        return math.cos(t / 1.008 * math.pi / 2) ** 2

    def ddim(step, noise, n):
        x = noise
        for i in range(n, 0, -1):
            t, ab, ab_prev = i / n, abar(i / n), abar((i - 1) / n)
            x0, eps = step(x, t, i)
            x = ab_prev ** 0.5 * x0 + (1 - ab_prev) ** 0.5 * eps
        return x

    def machine_step(x, t, i):
        ab = abar(t)
        x0 = machine.denoise(x, t, patch_size=schedule[i - 1])
        return x0, (x - ab ** 0.5 * x0) / (1 - ab) ** 0.5

    def network_step(x, t, i):
        ab = abar(t)
        eps = network.eps(x, t)
        return (x - (1 - ab) ** 0.5 * eps) / ab ** 0.5, eps

    rows = evaluate(network, {"ELS": (machine, schedule)}, seeds=[4, 5], steps=3, network_steps=(2, 4),
                    batch_size=2, progress=False)
    assert len(rows) == 4
    for row in rows:
        noise = torch.randn(1, 1, 6, 6, generator=torch.Generator().manual_seed(row["seed"]))
        y = ddim(network_step, noise, row["network_steps"]).double().numpy().ravel()
        p = ddim(machine_step, noise, 3).double().numpy().ravel()
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
    got = along_trajectory(network, {"same": (network, [3, 3, 3]), "IS": (other, None)}, seeds=[1, 2], steps=3)
    assert got["same"].shape == (3, 2) and torch.allclose(got["same"], torch.ones(3, 2, dtype=torch.float64))
    noise, _ = els.sampling.seeded_inputs([1, 2], (1, 6, 6))
    for t, x_t, x0, _ in els.sampling.trajectory(network, noise, 3):
        i = round(t * 3) - 1
        np.testing.assert_allclose(got["IS"][i], agreement(other.denoise(x_t, t), x0)["r"], rtol=1e-10)
    assert not torch.allclose(got["IS"], torch.ones(3, 2, dtype=torch.float64))

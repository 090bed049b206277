"""The field comparison end to end on a tiny checkpoint, its summaries, and the peers' metric."""
import json

import numpy as np
import pytest
import torch

import els
from els import models, train
from els.studies import harness, presets, standing
from els.calibrate import Calibration
from els.evaluate import paired_difference, peers_agreement, read_images, read_rows
from els.machines.matched import machine_for
from els.studies.harness import ModelSpec, training_data
from els.studies.reproduce import reproduce_model


def test_peers_metric_is_their_formula():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 1, 4, 4, generator=g) * 2.4 - 1.2  # some values outside [-1, 1] get clamped
    x = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1
    got = peers_agreement(x, y)
    for b in range(3):
        p = np.clip((x[b].numpy().ravel() + 1) / 2, 0, 1).astype(np.float64)
        t = np.clip((y[b].numpy().ravel() + 1) / 2, 0, 1).astype(np.float64)
        assert got["R2"][b] == pytest.approx(1 - ((p - t) ** 2).sum() / (16 * t.var(ddof=1)), rel=1e-6)
        assert got["mse"][b] == pytest.approx(((p - t) ** 2).mean(), rel=1e-6)
    flat = torch.zeros(1, 1, 2, 2)
    assert peers_agreement(flat + 0.5, flat)["R2"] == pytest.approx(1 - 0.25 ** 2)  # variance 0 counts as 1


def test_shuffled_chance_pairs_every_other_seed():
    target = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    prediction = target.clone()
    chance = standing.shuffled(prediction, target)
    assert chance["pairs"] == 12 and chance["r"] < 0.9  # a perfect machine is at chance when shuffled
    same = standing.shuffled(target[:1].expand(4, -1, -1, -1), target[:1].expand(4, -1, -1, -1))
    assert same["r"] == pytest.approx(1) and same["R2"] == pytest.approx(1)


def test_shuffled_chance_of_a_conditional_network_pairs_only_seeds_of_one_class():
    """Samples of class 0 all equal image a, of class 1 image b: shuffled within the class a
    perfect machine still scores 1 (the class explains everything); shuffling across classes
    would have paired a with b and set chance too low. Too few seeds for a pair is an error."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 1, 3, 3, dtype=torch.float64, generator=g)
    target = torch.cat([a.expand(3, -1, -1, -1), b.expand(2, -1, -1, -1)])
    labels = torch.tensor([0, 0, 0, 1, 1])
    within = standing.shuffled(target, target, labels)
    assert within["pairs"] == 3 * 2 + 2 * 1 and within["r"] == pytest.approx(1)
    assert standing.shuffled(target, target)["pairs"] == 20
    with pytest.raises(ValueError, match="more seeds"):
        standing.shuffled(target[2:4], target[2:4], labels[2:4])


@pytest.fixture(scope="module")
def standing_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("standing")
    images = torch.rand(16, 1, 32, 32) * 2 - 1
    net = models.ResNet(width=16, depth=1, emb_half=8)
    model_dir = tmp_path / "models" / "mnist_resnet_zeros"
    train.train(net, images, steps=2, batch_size=4, out_dir=model_dir, progress=False, n_samples=4,
                data_info={"name": "mnist", "max_images": 20, "subset_seed": 0, "conditional": False},
                sample_steps=2)
    sizes = presets.EvalPreset(n_seeds=3, calibration_seeds=2, steps=3, network_steps=(3,),
                               calibration_images=20, max_scale=5, quick=True)
    spec = ModelSpec("mnist_resnet_zeros")
    out = tmp_path / "results"
    with pytest.raises(FileNotFoundError, match="els reproduce"):
        standing.stand_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    summary = standing.stand_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    return summary, out / spec.name, (spec, tmp_path / "models", out, sizes)


def test_standing_writes_every_machine_on_disjoint_seeds(standing_run):
    summary, here, setup = standing_run
    assert summary["calibration_seeds"] == [0, 1] and summary["evaluation_seeds"] == [2, 3, 4]
    assert set(summary["machines"]) == {*standing.MACHINES, standing.MEAN_IMAGE}
    assert summary["pca_rule"] in ("peers", "column") and len(summary["pca_schedule"]) == 3
    assert set(summary["pca_schedule"]) <= set(standing.THRESHOLDS)
    assert summary["peers_threshold"] == 0.005
    stored = read_images(here / "standing" / "final_images.pt")
    assert stored["seeds"] == [2, 3, 4] and stored["images"]["ELS"].shape == (3, 1, 32, 32)
    assert summary["golden_sizes"] == [1, 2], "GoldDiff's 5% and 10% of the 20 images"
    spec, models_dir, _, _ = setup
    images, labels = training_data(models_dir / spec.name, 20)
    every = ("IS", "LS", "ELS", "Wiener", "PCALocality", "PCALocality (peers)", "GoldDiff (published)")
    machines = standing.compared_machines(models_dir / spec.name, images, labels,
                                          {"LS": [3] * 3, "ELS": [5] * 3, "PCALocality": [0.1] * 3}, "column", 0.005,
                                          names=every)
    assert list(machines) == list(every)
    golden, peers = machines["GoldDiff (published)"][0], machines["PCALocality (peers)"][0]
    assert (golden.k_min, golden.k_max) == (1, 2) and golden.pool == 2
    for machine in (peers, golden.machine):  # GoldDiff: the published machine on golden subsets
        assert (machine.mask_rule, machine.threshold, machine.aggregation) == ("peers", 0.005, "chunk_average")
    assert machines["PCALocality"][0].mask_rule == "column" and machines["PCALocality"][1] == [0.1] * 3
    assert machines["ELS"][1] == [5] * 3 and machines["IS"][1] is None
    # the peers' sampler: same machines, seeds and schedules; the network and Wiener sampled with
    # it; every other machine's samples do not change under it, so its plain ones are scored
    assert set(summary["clipped"]) == set(summary["machines"])
    clipped = read_images(here / "standing" / "final_images_clipped.pt")
    assert clipped["seeds"] == [2, 3, 4] and set(clipped["images"]) == {summary["reference"], "Wiener"}, \
        "unconditional: no global-covariance Wiener"
    assert all(float(x.abs().max()) <= 1 for x in clipped["images"].values())
    assert any(float(x.abs().max()) > 1 for x in stored["images"].values()), "the plain sampler does not clip"
    noise, _ = els.sampling.seeded_inputs([2, 3, 4], (1, 32, 32))
    schedules = {"LS": [3] * 3, "ELS": [5] * 3, "PCALocality": [0.1] * 3}
    def sampled(clip):  # fresh machines each time: GoldDiff's subsets are drawn from a seeded stream
        built = standing.compared_machines(models_dir / spec.name, images, labels, schedules, "column", 0.005,
                                           names=every)
        return {name: els.sample(machine, noise, 3, scales, clip=clip) for name, (machine, scales) in built.items()}

    plain, with_clip = sampled(False), sampled(True)
    for name in every:
        changed = float((plain[name] - with_clip[name]).abs().max())
        assert (changed > 1e-3) if name in standing.CLIP_CHANGES else (changed < 1e-5), (name, changed)
    wiener = summary["clipped"]["Wiener"]["book"]["r"]["median"]
    assert wiener != summary["machines"]["Wiener"]["book"]["r"]["median"], "Wiener scored on its clipped samples"
    locality = summary["locality"]
    assert len(locality["network"]) == 3 and all(0 < w <= 32 for w in locality["Wiener"] + locality["network"])
    # the same machine from the same seed gives the same sample in both runs
    old = {(r["seed"], r["machine"]): r["r"] for r in read_rows(here / "samples.csv")}
    new = {(r["seed"], r["machine"]): r["r"] for r in read_rows(here / "standing" / "samples.csv")}
    assert new[(2, "ELS")] == pytest.approx(old[(2, "ELS")], abs=1e-6)
    assert new[(2, "LS")] == pytest.approx(old[(2, "LS")], abs=1e-6)
    for name in ("ELS", "Wiener"):
        entry = summary["machines"][name]
        assert entry["book"]["r"]["median"] == pytest.approx(
            float(torch.tensor([new[(s, name)] for s in (2, 3, 4)], dtype=torch.float64).median()))
        assert entry["chance"]["pairs"] == 6 and -50 < entry["peers"]["R2"] <= 1
    manifest = json.loads((here / "standing" / "manifest.json").read_text())
    assert "commit" in manifest["git"]


def test_standing_refuses_then_resumes_without_new_work(standing_run):
    summary, here, (spec, models_dir, out, sizes) = standing_run
    before = (here / "standing" / "samples.csv").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        standing.stand_model(spec, "smoke", models_dir, out, progress=False, sizes=sizes)
    again = standing.stand_model(spec, "smoke", models_dir, out, progress=False, sizes=sizes, resume=True)
    assert (here / "standing" / "samples.csv").read_text() == before
    assert again["machines"] == summary["machines"]


def test_table_has_every_machine_and_every_protocol(standing_run):
    """One row per machine (and the two chance levels), one column per model, for each
    measure; the numbers in the right cells."""
    summary, _, _ = standing_run
    for protocol in standing.PROTOCOLS:
        md = standing.table({"tiny": summary, "other": summary}, protocol)
        header, _, *rows = md.splitlines()
        assert header == f"| {standing.PROTOCOLS[protocol]} | tiny | other |"
        assert [row.split(" | ")[0][2:] for row in rows] == [*standing.MACHINES, standing.MEAN_IMAGE,
                                                             "ELS, shuffled seeds"]
        assert all(row.count("|") == header.count("|") for row in rows)
    els = summary["machines"]["ELS"]
    r_rows, R2_rows = standing.table({"t": summary}).splitlines(), standing.table({"t": summary}, "R2").splitlines()
    assert f"| ELS | {els['book']['r']['median']:.2f} |" in r_rows
    assert f"| ELS | {els['book']['R2']['median']:.2f} |" in R2_rows
    assert f"| ELS, shuffled seeds | {els['chance']['r']:.2f} |" in r_rows
    with pytest.raises(ValueError, match="protocol"):
        standing.table({"t": summary}, "book")
    clipped = standing.table({"t": summary}, "r", clipped=True).splitlines()
    assert clipped[0] == "| median r, clipped sampler | t |"
    assert f"| ELS | {summary['clipped']['ELS']['book']['r']['median']:.2f} |" in clipped
    assert f"| ELS, shuffled seeds | {summary['clipped']['ELS']['chance']['r']:.2f} |" in clipped


def test_golden_bench_runs_on_a_compared_model(standing_run, monkeypatch):
    """python -m els bench --golden on the tiny compared model: a row per machine, speed and
    agreement of the fast samples with the exact ones, rendered as the results appendix's table."""
    from els.studies import bench

    _, here, (_, models_dir, _, _) = standing_run
    monkeypatch.setenv("ELS_ARTIFACTS", str(models_dir.parent))
    result = bench.golden_run("mnist_resnet_zeros", seeds=2, steps=3)
    assert [r["machine"] for r in result["rows"]] == list(bench.GOLDEN_MACHINES)
    assert result["seeds"] == [2, 3] and (result["k_min"], result["k_max"]) == (1, 2)
    for row in result["rows"]:
        assert -1 <= row["r_min"] <= row["r_median"] <= 1 and row["speedup"] > 0
    assert len(bench.golden_markdown(result).splitlines()) == 2 + len(bench.GOLDEN_MACHINES)


def test_appendix_tables_are_the_committed_comparison(comparison_appendix):
    """The comparison appendix's tables are rendered from artifacts/results/*/standing and
    artifacts/bench/golden.json (``els.studies.standing.table``, ``python -m els bench
    --markdown``), not typed by hand."""
    from pathlib import Path

    from els.studies import bench

    root = Path(__file__).resolve().parents[1]
    summaries = harness.read_summaries(root / "artifacts" / "results", standing.STAGE)
    assert len(summaries) == 7, "every committed model has a standing comparison"
    golden = json.loads((root / "artifacts" / "bench" / "golden.json").read_text())
    lines = [line for protocol in standing.PROTOCOLS for line in standing.table(summaries, protocol).splitlines()]
    lines += bench.golden_markdown(golden).splitlines()
    for line in lines:
        assert line in comparison_appendix, f"book/appendix_comparison lacks this line (make book-exec): {line}"


def test_chapter_claims_match_the_committed_comparison():
    """What the book says in words about the committed comparison: chapter 10 ("Where ELS
    stands"; its glued numbers and lead/tie sentences are checked in tests/test_chapter_10.py),
    its appendix "The comparison in detail" (the counts of first places by each measure, the
    circular ResNet's negative R^2) and the results appendix (where another machine leads, by
    less than 0.05)."""
    from pathlib import Path

    summaries = harness.read_summaries(Path(__file__).resolve().parents[1] / "artifacts" / "results", standing.STAGE)
    others = [m for m in standing.MACHINES if m != "ELS"]

    def book(s, name, metric):
        return s["machines"][name]["book"][metric]["median"]

    first = {"R2": [], "peers": [], "r": []}
    for name, s in summaries.items():
        first["R2"] += [name] if all(book(s, "ELS", "R2") > book(s, m, "R2") for m in others) else []
        first["peers"] += [name] if all(s["machines"]["ELS"]["peers"]["R2"] > s["machines"][m]["peers"]["R2"]
                                        for m in others) else []
        first["r"] += [name] if all(book(s, "ELS", "r") > book(s, m, "r") for m in others) else []
        for metric in ("R2", "r"):  # "where another machine leads, it leads by little"
            assert max(book(s, m, metric) for m in others) - book(s, "ELS", metric) < 0.05, (name, metric)
        assert book(s, "PCALocality", "r") > book(s, "Wiener", "r") and s["pca_rule"] == "column", name
        cost = s["seconds_per_sample"]
        assert all(cost["ELS"] > cost[m] for m in others), name
        loc = s["locality"]
        assert all(abs(w - n) <= 3 for t, w, n in zip(loc["t"], loc["Wiener"], loc["network"]) if t <= 0.6), name
        assert all(w > n for t, w, n in zip(loc["t"], loc["Wiener"], loc["network"]) if t >= 0.9), name
        assert max(loc["Wiener"][0], loc["network"][0]) <= 4 and loc["Wiener"][-1] > loc["Wiener"][0], name
    assert len(summaries) == 7 and len(first["R2"]) == 6 and len(first["r"]) == 6 and len(first["peers"]) == 5
    resnets = [n for n in summaries if "resnet" in n]  # "the margin is widest on the ResNets"
    margin = {n: book(summaries[n], "ELS", "R2") - max(book(summaries[n], m, "R2") for m in others) for n in summaries}
    assert min(margin[n] for n in resnets) > max(margin[n] for n in summaries if n not in resnets)
    assert max(margin, key=margin.get) == "mnist_resnet_circular"
    assert all(book(summaries["mnist_resnet_circular"], m, "R2") < 0 for m in others)
    for unet in ("mnist_unet_zeros", "fashion_mnist_unet_zeros", "mnist_attention_unet_zeros",
                 "fashion_mnist_attention_unet_zeros"):
        r = [book(summaries[unet], m, "r") for m in ("ELS", "LS", "PCALocality")]
        assert max(r) - min(r) <= 0.05, unet
    for mnist in ("mnist_resnet_zeros", "mnist_unet_zeros", "mnist_resnet_circular", "mnist_attention_unet_zeros"):
        s = summaries[mnist]["machines"]
        assert abs(s["PCALocality (peers)"]["book"]["r"]["median"] - s[standing.MEAN_IMAGE]["book"]["r"]["median"]) < 0.01


def test_appendix_golden_claims_match_the_committed_bench():
    """The comparison appendix's sentences under "Golden subsets", against artifacts/bench/golden.json."""
    from pathlib import Path

    golden = json.loads((Path(__file__).resolve().parents[1] / "artifacts" / "bench" / "golden.json").read_text())
    rows = {r["machine"]: r for r in golden["rows"]}
    assert rows["ELS"]["speedup"] > 3 and rows["ELS"]["r_median"] > 0.95
    assert 1 < rows["PCALocality"]["speedup"] < rows["ELS"]["speedup"]
    assert rows["IS"]["speedup"] < 1 and rows["IS"]["r_median"] < 0.9


def test_chance_level_is_the_median_over_every_pair_of_different_seeds():
    """Fails if the chance level's median becomes a mean, or if it pairs a seed with itself:
    written out, each machine sample j against each network sample i != j, then the median r."""
    g = torch.Generator().manual_seed(3)
    target = torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64)
    prediction = target + torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64) ** 3  # skewed scores
    r = [np.corrcoef(prediction[j].ravel(), target[i].ravel())[0, 1] for i in range(5) for j in range(5) if i != j]
    chance = standing.shuffled(prediction, target)
    assert chance["pairs"] == 20
    assert chance["r"] == pytest.approx(float(torch.tensor(r).median()), abs=1e-12)
    assert abs(chance["r"] - float(np.mean(r))) > 1e-6  # the check could tell a mean apart
    # R^2 about the target's mean (median over pairs), and the peers' R^2 on [0, 1] (mean over pairs)
    R2, peers = [], []
    for i in range(5):
        for j in range(5):
            if i != j:
                p, y = prediction[j].ravel().numpy(), target[i].ravel().numpy()
                R2.append(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
                p, y = ((p + 1) / 2).clip(0, 1), ((y + 1) / 2).clip(0, 1)
                peers.append(1 - ((y - p) ** 2).sum() / (y.size * y.var(ddof=1)))
    assert chance["R2"] == pytest.approx(float(torch.tensor(R2).median()), abs=1e-12)
    assert chance["peers_R2"] == pytest.approx(float(np.mean(peers)), abs=1e-12)


def test_network_sensitivity_converts_eps_to_x0_with_the_square_roots():
    """Fails if the network's noise prediction is turned into its clean-image estimate with
    (1 - abar) where sqrt(1 - abar) belongs: for eps = k x, d x0[centre] / d x_t is
    (1 - k sqrt(1 - abar)) / sqrt(abar) at the centre pixel and 0 elsewhere."""
    k = 0.5

    class Linear(torch.nn.Module):
        conditional = False

        def forward(self, x, t, label=None):
            return k * x

        def eps(self, x, t, label=None):
            return k * x

    machine = els.IS(torch.zeros(2, 1, 5, 5, dtype=torch.float64), device="cpu", dtype=torch.float64)
    out = standing.network_sensitivity(Linear(), machine, [0, 1], 4, progress=False)
    for i in range(4):
        ab = float(els.alpha_bar((i + 1) / 4))
        expected = torch.zeros(1, 5, 5, dtype=torch.float64)
        expected[0, 2, 2] = abs(1 - k * (1 - ab) ** 0.5) / ab ** 0.5
        torch.testing.assert_close(out[i], expected, rtol=1e-5, atol=1e-6)


def test_width_counts_inputs_at_the_fraction_of_the_largest_per_channel():
    """Fails if an input exactly at the fraction of the largest stops counting (> for >=), if the
    threshold divides by the largest instead of multiplying, if the count is not divided by the
    channels (dim 0) or multiplied instead, or if the side is not the square root of the area."""
    influence = torch.full((2, 3, 4), 0.2, dtype=torch.float64)  # below 0.25 * 2 = 0.5, above 0.25 / 2
    flat = influence.view(-1)
    flat[:10] = 0.5  # exactly at the threshold: counts
    flat[10:17] = 1.0
    flat[17] = 2.0  # the largest
    assert standing._width(influence, 0.25) == pytest.approx((18 / 2) ** 0.5)  # 3 pixels wide
    assert standing._width(influence, 1.0) == pytest.approx((1 / 2) ** 0.5)  # only the largest


def _conditional_stored(labels_of_seeds):
    g = torch.Generator().manual_seed(5)
    target = torch.randn(len(labels_of_seeds), 1, 2, 3, generator=g, dtype=torch.float64)
    prediction = target + 0.5 * torch.randn(target.shape, generator=g, dtype=torch.float64)
    return {"seeds": list(range(len(labels_of_seeds))), "labels": list(labels_of_seeds),
            "images": {"network@3": target.float(), "ELS": prediction.float()}}


def test_summarise_machines_of_a_conditional_network_predicts_with_the_mean_of_the_sample_class():
    """The mean-image chance level of a class-conditional network: each sample is predicted by
    the mean training image of its own class (written out here). Fails if that branch crashes,
    averages over the other classes or over the channel axis, or reads the wrong labels; the
    book's numbers of a machine come from its rows, not recomputed from the stored images."""
    g = torch.Generator().manual_seed(4)
    images = torch.randn(9, 1, 2, 3, generator=g)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2])
    seed_labels = [1, 0, 2, 1, 2]
    stored = _conditional_stored(seed_labels)
    target = stored["images"]["network@3"].double()
    rows = [{"seed": s, "machine": "ELS", "network_steps": 3, "r": 0.1 * (s + 1), "r2": 0.01 * (s + 1),
             "R2": -0.1 * (s + 1), "mse": 1.0} for s in range(5)]
    out = standing.summarise_machines(rows, stored, images, labels, "network@3")
    assert set(out) == {"ELS", standing.MEAN_IMAGE}
    # ELS: the book's protocol from the rows (median of 0.1 .. 0.5), the peers' from the images
    assert out["ELS"]["book"]["r"]["median"] == pytest.approx(0.3) and out["ELS"]["n"] == 5
    assert out["ELS"]["book"]["R2"]["q25"] == pytest.approx(-0.4)
    # mean image of each sample's own class, written out
    r = []
    for s, c in enumerate(seed_labels):
        mean = images[labels == c].double().mean(0).numpy().ravel()
        r.append(np.corrcoef(mean, target[s].numpy().ravel())[0, 1])
    entry = out[standing.MEAN_IMAGE]
    assert entry["book"]["r"]["median"] == pytest.approx(float(np.median(r)), abs=1e-6)
    assert entry["book"]["r"]["q25"] == pytest.approx(float(np.quantile(r, 0.25)), abs=1e-6)
    assert entry["book"]["r"]["q75"] == pytest.approx(float(np.quantile(r, 0.75)), abs=1e-6)
    assert entry["n"] == 5 and "chance" not in entry
    assert out["ELS"]["chance"]["pairs"] == 2 + 2  # within class 1 (seeds 0, 3) and class 2 (seeds 2, 4)


def test_summarise_machines_scores_each_machine_on_its_own_stored_images():
    """The peers' protocol of a machine is computed from that machine's own final images (a
    machine that reproduces the network exactly scores R^2 = 1 and MSE 0; another one's MSE on
    [0, 1]-clamped images is written out here), and the book's entry carries r, r^2 and R^2
    from the machine's rows."""
    g = torch.Generator().manual_seed(6)
    target = torch.randn(4, 1, 2, 3, generator=g, dtype=torch.float64)
    other = target + 0.5 * torch.randn(target.shape, generator=g, dtype=torch.float64)
    stored = {"seeds": [0, 1, 2, 3], "labels": None,
              "images": {"network@3": target.float(), "copy": target.float(), "other": other.float()}}
    rows = [{"seed": s, "machine": m, "network_steps": 3, "r": 0.1 * (s + 1), "r2": 0.01 * (s + 1),
             "R2": 0.2 * s, "mse": 1.0} for s in range(4) for m in ("copy", "other")]
    out = standing.summarise_machines(rows, stored, torch.randn(5, 1, 2, 3, generator=g), None, "network@3")
    assert out["copy"]["peers"]["R2"] == pytest.approx(1.0) and out["copy"]["peers"]["mse"] == pytest.approx(0.0)
    unit = lambda x: ((x.float().double().numpy() + 1) / 2).clip(0, 1).reshape(4, -1)  # noqa: E731
    mse = ((unit(other) - unit(target)) ** 2).mean(1).mean()
    assert out["other"]["peers"]["mse"] == pytest.approx(float(mse), rel=1e-6)
    assert set(out["other"]["book"]) == {"r", "r2", "R2"}
    assert out["other"]["book"]["r2"]["median"] == pytest.approx(0.025)  # median of 0.01 .. 0.04


def test_paired_intervals_of_the_pairs_whose_machines_both_have_rows():
    """Rows of exactly two machines: their pair gets an interval per metric (the paired
    bootstrap's own numbers); a pair naming a machine without rows gets none."""
    g = torch.Generator().manual_seed(7)
    rows = [{"seed": s, "machine": m, "network_steps": 3, "r": float(torch.rand(1, generator=g)),
             "R2": float(torch.rand(1, generator=g))} for s in range(6) for m in ("A", "B")]
    out = standing.paired_intervals(rows, [("A", "B"), ("A", "C")])
    assert [(e["first"], e["second"], e["metric"]) for e in out] == [("A", "B", "r"), ("A", "B", "R2")]
    assert out[1] == {"first": "A", "second": "B", "metric": "R2", **paired_difference(rows, "A", "B", metric="R2")}


def test_stated_pairs_written_out():
    """ELS against every other compared machine (not against itself, not against the class
    variants), then PCA-locality against Wiener and each class variant against its machine."""
    names = ["IS", "ELS", "Wiener", standing.CLASS_WIENER, "PCALocality", standing.CLASS_MASKS]
    assert standing.stated_pairs("ELS", names) == [
        ("ELS", "IS"), ("ELS", "Wiener"), ("ELS", "PCALocality"), ("PCALocality", "Wiener"),
        (standing.CLASS_WIENER, "Wiener"), (standing.CLASS_MASKS, "PCALocality")]


class _LabelledLinear(torch.nn.Module):
    """eps = k[label] x: the gradient of x0_hat at the centre depends on the label given."""
    conditional = True
    k = torch.tensor([0.5, 0.25, 0.75], dtype=torch.float64)

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, t, label=None):
        assert label is not None, "a class-conditional network was sampled without its labels"
        self.seen.append(label.tolist())
        return self.k[label].reshape(-1, 1, 1, 1).to(x.dtype) * x

    eps = forward


def test_network_sensitivity_gives_a_conditional_network_the_labels_of_its_seeds():
    """Fails if the sensitivity of a class-conditional network is taken without the labels each
    seed draws from the training classes (seeded_inputs): per seed, d x0[centre] / d x_t is
    (1 - k[label] sqrt(1 - abar)) / sqrt(abar) at the centre, averaged over seeds."""
    from els.sampling import seeded_inputs

    net = _LabelledLinear()
    labels = torch.tensor([0, 1, 2, 2])
    machine = els.IS(torch.zeros(4, 1, 3, 3, dtype=torch.float64), labels=labels, device="cpu",
                     dtype=torch.float64)
    seeds = [0, 1, 2, 3, 4, 5]
    drawn = seeded_inputs(seeds, (1, 3, 3), [0, 1, 2])[1]
    assert len(set(drawn.tolist())) > 1  # the check can tell labels apart
    out = standing.network_sensitivity(net, machine, seeds, 3, progress=False)
    assert all(seen == drawn.tolist() for seen in net.seen)
    for i in range(3):
        ab = float(els.alpha_bar((i + 1) / 3))
        expected = float((1 - net.k[drawn] * (1 - ab) ** 0.5).abs().mean()) / ab ** 0.5
        assert out[i, 0, 1, 1].item() == pytest.approx(expected, rel=1e-5)


def test_network_sensitivity_gives_an_unconditional_network_no_labels():
    """Fails if an unconditional network is handed labels because its machine holds training
    labels (the network's conditional flag decides, els.sampling.classes_of)."""

    class Plain(torch.nn.Module):
        conditional = False

        def forward(self, x, t, label=None):
            assert label is None, "an unconditional network was given labels"
            return 0.5 * x

        eps = forward

    machine = els.IS(torch.zeros(2, 1, 3, 3, dtype=torch.float64), labels=torch.tensor([0, 1]), device="cpu",
                     dtype=torch.float64)
    out = standing.network_sensitivity(Plain(), machine, [0, 1], 2, progress=False)
    assert out.shape == (2, 1, 3, 3) and out[:, 0, 1, 1].gt(0).all()


def test_agreement_along_is_the_mean_similarity_at_the_schedule_written_out():
    """Fails if the agreement along a schedule is not the mean, over seeds and steps, of each
    step's similarity at that step's chosen candidate (not another candidate or step), or is
    not taken in float64 (float32 is off by about 1e-8; the best mask rule is picked by it)."""

    sim = [[[0.1, 0.2, 0.312345678901], [0.412345678901, 0.5, 0.6]],  # seed 0: steps 1, 2; candidates 3, 5, 7
           [[0.7, 0.8, 0.912345678901], [0.151234567891, 0.25, 0.35]]]
    c = Calibration(schedule=[7, 3], candidates=[3, 5, 7], seeds=[0, 1], labels=[None, None], similarity=sim,
                    choice=[[2, 2], [2, 2]])
    want = (0.312345678901 + 0.412345678901 + 0.912345678901 + 0.151234567891) / 4
    assert standing._agreement_along(c) == pytest.approx(want, abs=1e-15)


def test_detail_table_rows_put_each_number_in_its_column():
    """Fails if a column of the per-model detail table shows another number (or precision)
    than its heading names, or if a machine without a chance level or a timing breaks it."""
    def entry(r, peers_r2, mse, chance=None):
        e = {"book": {"r": {"median": r}, "r2": {"median": r * r}, "R2": {"median": r - 0.5}},
             "peers": {"R2": peers_r2, "mse": mse}}
        return e | ({"chance": {"r": chance}} if chance is not None else {})

    summary = {"machines": {"ELS": entry(0.9, 0.71, 0.0123, chance=0.31), standing.MEAN_IMAGE: entry(0.5, 0.2, 0.1)},
               "seconds_per_sample": {"ELS": 2.345}}
    header, rule, els_row, mean_row = standing.detail_table(summary).splitlines()
    assert header == "| machine | r | r^2 | R^2 | peers' R^2 | peers' MSE | chance r | s / sample |"
    assert rule == "|---|---|---|---|---|---|---|---|"
    assert els_row == "| ELS | 0.90 | 0.81 | 0.40 | 0.71 | 0.012 | 0.31 | 2.35 |"
    assert mean_row == f"| {standing.MEAN_IMAGE} | 0.50 | 0.25 | 0.00 | 0.20 | 0.100 | - | - |"


def test_locality_file_computes_once_then_reads_it_back(tmp_path, monkeypatch):
    """Fails if the locality widths are recomputed when their file exists (a resumed run redoes
    no work), or if they are not written (whole, as JSON) when it does not."""
    calls = []

    def widths(*args):
        calls.append(args)
        return {"t": [0.5, 1.0], "network": [1.5, 3.0]}

    monkeypatch.setattr(standing, "locality_widths", widths)
    path = tmp_path / "locality.json"
    first = standing._locality_file(path, "net", {"m": 1}, "cal", [0, 1], 2, False)
    assert first == {"t": [0.5, 1.0], "network": [1.5, 3.0]} and json.loads(path.read_text()) == first
    assert calls == [("net", {"m": 1}, "cal", [0, 1], 2, False)]
    path.write_text(json.dumps({"t": [1.0], "network": [9.0]}))
    assert standing._locality_file(path, "net", {"m": 1}, "cal", [0, 1], 2, False) == {"t": [1.0], "network": [9.0]}
    assert len(calls) == 1


def test_locality_widths_per_step_written_out(monkeypatch):
    """Fails if a width is taken at another t than i / steps (low noise first), if the Wiener
    view is not its gain's inputs at WIDTH_FRACTION of the largest in the centre output's
    column, if ELS is not its calibrated P(t), if the PCALocality view is not its mask at each
    step's calibrated threshold, if the network's is not its sensitivity's width, or if a
    width is not per channel (2 channels here: D = 18, the centre output is input 4)."""
    from types import SimpleNamespace

    fractions = {1 / 3: 0.05, 2 / 3: 0.15, 1.0: 0.5}  # third input of the centre column, by t

    def gain(t):
        g = torch.eye(18, dtype=torch.float64)
        for first in (0, 9):  # the same inputs in both channels
            g[first:first + 4, 4] = torch.tensor([0.5, 0.12, fractions[t], 0.08], dtype=torch.float64)
        g[4, 4] = g[13, 4] = 1.0  # the centre pixel in both channels: the largest gain
        return g

    wiener = SimpleNamespace(images=torch.zeros(2, 2, 3, 3), gain=gain)
    asked = []

    def mask(t, threshold):
        asked.append((t, threshold))
        m = torch.zeros(18, 18)
        k = 2 * ((len(asked) - 1) % 3) + 3  # 3, 5, 7 inputs per channel
        m[:k, 4] = m[9:9 + k, 4] = 1
        return m

    seen = []

    def sensitivity(network, machine, seeds, steps, progress):
        seen.append((network, machine, seeds, steps, progress))
        out = torch.zeros(steps, 2, 3, 3, dtype=torch.float64)
        out[0, :, 1, 1] = 1.0
        out[1, :, :2] = torch.tensor([[0.1, 0.2, 1.0], [0.05, 0.09, 0.3]], dtype=torch.float64)
        out[2] = 1.0
        return out

    monkeypatch.setattr(standing, "network_sensitivity", sensitivity)
    machines = {"Wiener": (wiener, None), "PCALocality": (SimpleNamespace(mask=mask), [0.01, 0.02, 0.05])}
    got = standing.locality_widths("net", machines, SimpleNamespace(schedule=[3, 5, 7]), [4, 5], 3, False)
    assert got["t"] == [1 / 3, 2 / 3, 1.0]
    # Wiener: inputs of the centre column at >= 0.1 of its largest gain (1): 1, 0.5 and 0.12 per channel,
    # then 0.15 and 0.5 count too
    assert got["Wiener"] == pytest.approx([3 ** 0.5, 4 ** 0.5, 4 ** 0.5])
    assert got["ELS"] == [3, 5, 7]
    assert asked == [(1 / 3, 0.01), (2 / 3, 0.02), (1.0, 0.05)]
    assert got["PCALocality"] == pytest.approx([3 ** 0.5, 5 ** 0.5, 7 ** 0.5])
    assert got["network"] == pytest.approx([1.0, 2.0, 3.0])  # 1 input; 0.1 (at the fraction), 0.2, 1, 0.3; all 9
    assert seen == [("net", wiener, [4, 5], 3, False)]
    standing.locality_widths("net", machines, SimpleNamespace(schedule=[3, 5, 7]), [4, 5], 3)
    assert seen[-1][-1] is True  # progress shown unless asked not to


def test_table_shows_a_dash_for_a_machine_a_model_lacks():
    """Fails if a machine missing from one model's summary is not shown as "-" in its column
    (while the other column keeps its number), in every protocol."""
    def entry(r):
        return {"book": {"r": {"median": r}, "R2": {"median": r / 2}}, "peers": {"R2": r / 4}}

    full = {"machines": {name: entry(0.8) for name in [*standing.MACHINES, standing.MEAN_IMAGE]}}
    full["machines"]["ELS"]["chance"] = {"r": 0.3, "R2": 0.1, "peers_R2": 0.05}
    partial = {"machines": {name: e for name, e in full["machines"].items() if name != "Wiener"}}
    for protocol, number in (("r", "0.80"), ("R2", "0.40"), ("peers", "0.20")):
        rows = standing.table({"a": full, "b": partial}, protocol).splitlines()
        assert f"| Wiener | {number} | - |" in rows and f"| IS | {number} | {number} |" in rows
    assert standing.table({"a": full}, "peers").splitlines()[-1] == "| ELS, shuffled seeds | 0.05 |"


def test_standing_summary_names_its_preset_and_command(standing_run):
    """Fails if the summary or the manifest loses the preset the comparison ran at or the
    command that reproduces it."""
    summary, here, _ = standing_run
    assert summary["preset"] == "smoke" and summary["model"] == "mnist_resnet_zeros"
    manifest = json.loads((here / "standing" / "manifest.json").read_text())
    assert manifest["command"] == "els.standing.stand_model('mnist_resnet_zeros', preset='smoke')"


def test_stand_model_checks_space_then_empties_the_folder_with_force(tmp_path, monkeypatch):
    """Fails if the comparison starts on a disk with less than RESULTS_BYTES free, or if
    ``force=True`` does not empty an earlier run's folder (here the network is missing, so the
    run stops just after)."""
    import shutil
    from collections import namedtuple

    from els.storage import NotEnoughSpace

    out = tmp_path / "results"
    (out / "net" / "standing").mkdir(parents=True)
    for kind in ("ELS", "LS"):
        Calibration([3], [3], [0], [None], [[[1.0]]], [[0]]).save(out / "net" / f"calibration_{kind}.json")
    (out / "net" / "standing" / "stale.txt").write_text("an earlier run")
    usage = namedtuple("usage", "total used free")
    free = [harness.RESULTS_BYTES - 1]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 0, free[0]))
    with pytest.raises(NotEnoughSpace, match="MB free"):
        standing.stand_model(ModelSpec("net"), "smoke", tmp_path / "models", out, progress=False, force=True)
    assert (out / "net" / "standing" / "stale.txt").exists()
    free[0] = harness.RESULTS_BYTES
    with pytest.raises(FileNotFoundError):
        standing.stand_model(ModelSpec("net"), "smoke", tmp_path / "models", out, progress=False, force=True)
    assert not (out / "net" / "standing" / "stale.txt").exists()


def test_the_summary_carries_the_paired_interval_of_every_stated_difference(standing_run):
    """summary["paired"]: ELS against every other compared machine and PCA-locality against
    Wiener, by median r and R^2, each the paired bootstrap of the rows (recomputed here); the
    class-statistics pairs are skipped for an unconditional network, which has no variants."""
    from els.evaluate import paired_difference

    summary, here, _ = standing_run
    rows = read_rows(here / "standing" / "samples.csv")
    pairs = [("ELS", m) for m in standing.MACHINES if m != "ELS"] + [("PCALocality", "Wiener")]
    assert [(e["first"], e["second"], e["metric"]) for e in summary["paired"]] == \
        [(a, b, k) for a, b in pairs for k in ("r", "R2")]
    for e in summary["paired"]:
        assert e == {"first": e["first"], "second": e["second"], "metric": e["metric"],
                     **paired_difference(rows, e["first"], e["second"], metric=e["metric"])}
        assert e["verdict"] == ("lead" if e["low"] > 0 else "behind" if e["high"] < 0 else "tie")
    assert standing.paired_intervals(rows, [("ELS", "nothing")]) == [], "a machine without rows: no entry"
    assert standing.stated(summary, "ELS", "IS", "R2") == summary["paired"][1]
    with pytest.raises(KeyError, match="states no r difference 'IS' - 'ELS'"):
        standing.stated(summary, "IS", "ELS")


def test_the_comparison_at_the_whole_subset(standing_run):
    """--whole-subset: every machine but LS and ELS holds the network's whole training subset
    (here all 20 images), on the dictionary-size study's seeds; both Wiener covariances only for a
    class-conditional network; LS and ELS come from the dictionary-size study's recalibrated
    rows at that N, on the same seeds, once it has run, and are left out before."""
    from els.studies import dictionary_size, standing_whole

    _, here, (spec, models_dir, out, sizes) = standing_run
    before = standing_whole.stand_whole_subset(spec, "smoke", models_dir, out, progress=False, sizes=sizes)
    assert before["images"] == 20 and before["evaluation_seeds"] == [6, 7, 8]
    assert set(before["machines"]) == {"IS", "Wiener", "PCALocality", "PCALocality (peers)", "GoldDiff (published)",
                                       standing.MEAN_IMAGE}, "unconditional: one of each; no LS or ELS of its own"
    assert before["dictionary"] is None and before["from_dictionary"] == {}
    assert before["golden_sizes"] == [1, 2]
    rows = read_rows(here / standing_whole.STAGE / "samples.csv")
    assert sorted({r["seed"] for r in rows}) == [6, 7, 8]
    assert "| LS (recalibrated) | - |" in standing_whole.table({"m": before})
    with pytest.raises(FileExistsError, match="--resume"):
        standing_whole.stand_whole_subset(spec, "smoke", models_dir, out, progress=False, sizes=sizes)

    dictionary_size.dictionary_study(spec, "smoke", models_dir, out, sizes=sizes, progress=False, n_images=(20,),
                                     stages=("recalibrated",), seeds=(6, 7, 8))
    after = standing_whole.stand_whole_subset(spec, "smoke", models_dir, out, progress=False, sizes=sizes,
                                              resume=True)
    assert after["dictionary"] == f"{spec.name}/dictionary/N20/recalibrated.csv"
    assert after["machines"] == before["machines"], "resumed: nothing of its own recomputed"
    borrowed = [r for r in read_rows(out / after["dictionary"]) if r["machine"] == "ELS (recalibrated)"]
    median = float(torch.tensor([r["r"] for r in borrowed], dtype=torch.float64).median())
    assert after["from_dictionary"]["ELS (recalibrated)"]["r"]["median"] == pytest.approx(median)
    assert f"| ELS (recalibrated) | {median:.2f} |" in standing_whole.table({"m": after})
    assert {(e["first"], e["second"]) for e in before["paired"]} == {("PCALocality", "Wiener")}, "no ELS before"
    assert {(e["first"], e["second"]) for e in after["paired"]} >= {
        ("ELS (recalibrated)", m) for m in ("LS (recalibrated)", *standing_whole.MACHINES)}
    assert standing_whole.dictionary_rows(out / after["dictionary"], [6, 7, 8, 9], 3) == [], "a seed missing: none"
    compared = standing_whole.compared_rows(out, after)
    assert compared[:len(rows)] == rows
    assert sorted((r["machine"], r["seed"]) for r in compared[len(rows):]) == \
        sorted((m, k) for m in standing_whole.FROM_DICTIONARY for k in (6, 7, 8)), "LS and ELS on the same seeds"
    assert standing_whole.compared_rows(out, before) == rows, "before the dictionary-size study: its own rows"


def test_a_conditional_network_gets_both_covariance_machines_with_the_other_class_statistics(tmp_path):
    """A class-conditional network gets the Wiener machine on each class's own covariance and
    PCA-locality with masks from each class's own images, its thresholds calibrated for them
    (written beside the others); each denoises unlike the compared machine, which takes every
    image's covariance. An unconditional network gets neither."""
    images = torch.rand(30, 1, 32, 32) * 2 - 1
    labels = torch.arange(30) % 3
    model_dir = tmp_path / "mnist_resnet_zeros"
    network = models.ResNet(width=16, depth=1, emb_half=8, num_classes=3)
    train.train(network, images, labels, steps=1, batch_size=4, out_dir=model_dir, progress=False, n_samples=3,
                sample_steps=2, data_info={"name": "mnist", "max_images": 30, "subset_seed": 0, "conditional": True})
    variants = standing.statistics_variants(network, model_dir, images, labels, [0, 1], 3, tmp_path, False, "column")
    assert list(variants) == [standing.CLASS_WIENER, standing.CLASS_MASKS]
    (own, none), (classes, schedule) = variants.values()
    assert none is None and own.covariance == "class"
    assert (classes.mask_statistics, classes.mask_rule) == ("class", "column")
    stored = Calibration.load(tmp_path / "calibration_PCALocality_column_class.json")
    assert schedule == stored.schedule and len(schedule) == 3 and set(schedule) <= set(standing.THRESHOLDS)
    x, label = torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 2])
    compared = standing.compared_machines(model_dir, images, labels, {"PCALocality": schedule}, "column", 0.005,
                                          names=("Wiener",))["Wiener"][0]
    assert compared.covariance == "global"
    assert (compared.denoise(x, 0.3, label=label) - own.denoise(x, 0.3, label=label)).abs().max() > 1e-3
    pooled = machine_for(model_dir, "PCALocality", images, labels, mask="column")
    assert (pooled.denoise(x, 0.3, label=label, threshold=0.3)
            - classes.denoise(x, 0.3, label=label, threshold=0.3)).abs().max() > 1e-3
    assert standing.statistics_variants(network, model_dir, images, None, [0, 1], 3, tmp_path, False, "column") == {}
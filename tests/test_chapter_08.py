"""Chapter 8, "Calibrating the patch size P(t)": every number the chapter glues into its text and
every claim its prose makes in words, recomputed from the committed result files (schedules,
similarity maps, votes) or, for the live probe of "Why the patch grows with the noise", from the
library at the laptop preset, and compared with the values stored in the executed notebook.

If one of these fails, the chapter's text no longer says what the results say: re-execute it
(``tests/book_execute.py book/08_calibration.ipynb``) or rewrite the sentence.
"""
from __future__ import annotations

import ast
import math
import re
import statistics
from pathlib import Path

import pytest
import torch

import els
import els.studies.artifacts
import els.studies.harness
from els.calibrate import Calibration
from els.machines.matched import network_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "book" / "08_calibration.ipynb"
RESULTS = els.studies.artifacts.path("results")
MODEL = "mnist_resnet_zeros"
LAPTOP = dict(n_train=150, candidates=[3, 5, 7, 9, 11, 13, 15, 17], probe=4)  # the chapter's SIZES["laptop"]


def _cells():
    import nbformat

    return nbformat.read(NOTEBOOK, as_version=4).cells


@pytest.fixture(scope="module")
def glued() -> dict:
    """name -> value of every myst-nb glue output stored in the executed notebook."""
    values = {}
    for cell in _cells():
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = ast.literal_eval(out["data"]["application/papermill.record/text/plain"])
    return values


@pytest.fixture(scope="module")
def prose() -> str:
    return "\n".join(c.source for c in _cells() if c.cell_type == "markdown")


@pytest.fixture(scope="module")
def schedules() -> dict:
    """model -> its committed summary (schedules of ELS and LS, the paper's schedule)."""
    return els.studies.harness.read_summaries(RESULTS)


def _ends(schedules):
    return {name: s["schedules"]["ELS"] for name, s in schedules.items()}


def test_every_glue_reference_has_a_stored_value(glued, prose):
    """A {glue:text} role whose name was never glued renders as an error in the book."""
    names = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", prose))
    assert names, "the chapter glues no numbers"
    assert not names - set(glued), f"referenced but not glued: {sorted(names - set(glued))}"


def test_stored_outputs_are_the_laptop_preset(glued):
    assert glued["n_train"] == LAPTOP["n_train"]


# --------------------------------------------------------------------------- committed schedules
def test_the_committed_calibration_sizes(glued, schedules):
    """'with 500 training images, 6 seeds and every odd P from 3 to 31'."""
    one = Calibration.load(RESULTS / MODEL / "calibration_ELS.json")
    assert glued["n_models"] == len(schedules) >= 2
    assert glued["n_images"] == schedules[MODEL]["images"] == 500
    assert glued["n_seeds"] == len(one.seeds) == 6
    assert one.candidates == list(range(3, 32, 2))
    assert glued["n_paper"] == sum(bool(s["paper_schedule"]) for s in schedules.values())


def test_the_paper_schedules_are_in_the_panels_the_prose_names(glued, schedules):
    """'the dashed lines in the MNIST ResNet, MNIST UNet and Fashion ResNet panels'."""
    from els.book.plotting import model_label

    with_paper = {model_label(n) for n, s in schedules.items() if s["paper_schedule"]}
    assert with_paper == {"MNIST ResNet", "MNIST UNet", "Fashion ResNet"}
    assert glued["n_paper"] == len(with_paper)


def test_every_schedule_starts_at_3_and_grows(glued, schedules):
    """'All n schedules start at P = 3 and grow with the noise.'"""
    ends = _ends(schedules)
    assert glued["n_start_3"] == len(ends) == sum(e[0] == 3 for e in ends.values())
    for name, e in ends.items():
        assert e[-1] > e[0] and e[len(e) // 2] > e[0], f"{name}: {e} does not grow"


def test_resnets_stay_inside_their_receptive_field_and_unets_go_beyond(glued, schedules):
    """'The ResNets stay at or below ... pixels, inside their 17-pixel receptive field; the
    UNets ... reach ...'."""
    ends = _ends(schedules)
    resnets = [n for n in ends if network_config(els.studies.artifacts.path("models", n))["class"] == "ResNet"]
    assert resnets and len(resnets) < len(ends)
    for n in resnets:
        depth = network_config(els.studies.artifacts.path("models", n))["depth"]
        assert max(ends[n]) <= 2 * (depth + 2) + 1 == 17
    assert glued["resnet_max"] == max(max(ends[n]) for n in resnets)
    assert glued["unet_max"] == max(max(e) for n, e in ends.items() if n not in resnets) > 17


def test_ours_is_never_above_the_papers(glued, schedules):
    """'never larger at any step, and at most ... pixels smaller' (and the summary's
    'never above them at any step')."""
    pairs = [(s["schedules"]["ELS"], s["paper_schedule"]) for s in schedules.values() if s["paper_schedule"]]
    assert pairs
    gaps = [p - o for ours, paper in pairs for o, p in zip(ours, paper, strict=True)]
    assert min(gaps) >= 0, "one of our schedules is above the paper's somewhere"
    assert glued["paper_gap"] == max(gaps)


def test_how_many_schedules_step_back_down(glued, schedules):
    downs = [n for n, e in _ends(schedules).items() if any(b < a for a, b in zip(e, e[1:]))]
    assert glued["n_step_down"] == len(downs)
    # '... somewhere at high noise': every step down happens in the second half
    for n in downs:
        e = _ends(schedules)[n]
        assert all(i >= len(e) // 2 for i in range(1, len(e)) if e[i] < e[i - 1]), n


# --------------------------------------------------------------------------- similarity maps
def _near_best(calibration) -> list[int]:
    """Per step: candidates whose lower-median similarity over seeds is within 0.01 of the best."""
    seeds, steps, k = len(calibration.similarity), len(calibration.similarity[0]), len(calibration.candidates)
    counts = []
    for i in range(steps):
        medians = [statistics.median_low(calibration.similarity[s][i][j] for s in range(seeds)) for j in range(k)]
        counts.append(sum(m >= max(medians) - 0.01 for m in medians))
    return counts


def test_the_data_pin_p_at_low_noise_and_not_at_high_noise(glued, schedules):
    """'At t = 0.05 only one candidate is near-best, in every network; at t = 0.5 the median
    network has ...; from t = ... on, all 15 are.'"""
    near = [_near_best(Calibration.load(RESULTS / n / "calibration_ELS.json")) for n in schedules]
    k = len(Calibration.load(RESULTS / MODEL / "calibration_ELS.json").candidates)
    assert glued["n_candidates"] == k
    assert glued["near_first"] == max(row[0] for row in near) == 1
    typical = [statistics.median_low(row[i] for row in near) for i in range(20)]
    assert glued["near_mid"] == typical[9]
    first = next(i for i in range(20) if all(v == k for v in typical[i:]))
    assert glued["t_all_near"] == pytest.approx((first + 1) / 20)
    assert 1 < glued["near_mid"] < k


def test_every_calibrated_dot_lies_on_its_near_best_bar(schedules):
    """The caption's 'every dot lies on its step's bar', and the bar is one unbroken run of
    candidates (the figure draws it from the lowest to the highest near-best candidate)."""
    for n in schedules:
        c = Calibration.load(RESULTS / n / "calibration_ELS.json")
        m = torch.tensor(c.similarity).median(0).values
        for i, p in enumerate(c.schedule):
            near = torch.nonzero(m[i] >= m[i].max() - 0.01).flatten().tolist()
            assert c.candidates.index(p) in near, (n, i)
            assert near == list(range(near[0], near[-1] + 1)), (n, i, near)


# --------------------------------------------------------------------------- exercises
def test_exercise_1_the_schedule_is_the_lower_median_vote(glued):
    one = Calibration.load(RESULTS / MODEL / "calibration_ELS.json")
    votes = list(zip(*one.choice))  # per step, one vote per seed
    assert [statistics.median_low(v) for v in votes] == one.schedule
    assert torch.tensor(one.choice).median(0).values.tolist() == one.schedule, "the solution's torch line"
    assert glued["n_unanimous"] == sum(len(set(v)) == 1 for v in votes)
    assert glued["n_close"] == sum(max(v) - min(v) <= 2 for v in votes)
    assert (glued["last_low"], glued["last_high"]) == (min(votes[-1]), max(votes[-1]))
    assert max(votes[-1]) - min(votes[-1]) > 2, "'at the last step ... they range from' a wide spread"


def test_exercise_2_the_smallest_window_that_wins(glued, schedules):
    """P >= 4 sigma / a with the legacy cosine schedule, written out here with math.cos."""
    def smallest(t):
        abar = math.cos(t / 1.008 * math.pi / 2) ** 2
        bound = 4 * math.sqrt((1 - abar) / abar)
        return next(p for p in range(1, 200, 2) if p >= bound)

    assert (glued["ex2_mid"], glued["ex2_high"]) == (smallest(0.5), smallest(0.8)) == (5, 13)
    resnet = schedules[MODEL]["schedules"]["ELS"]
    assert (glued["resnet_mid"], glued["resnet_high"]) == (resnet[9], resnet[15])
    assert glued["ex2_rise"] == glued["ex2_high"] - glued["ex2_mid"]
    assert glued["resnet_rise"] == glued["resnet_high"] - glued["resnet_mid"]
    assert 0 < glued["resnet_rise"] < glued["ex2_rise"], "'the direction agrees, the size does not'"


def test_exercise_3_ls_is_at_most_els_up_to_high_noise(glued, schedules):
    ls = [s["schedules"]["LS"] for s in schedules.values()]
    ends = list(_ends(schedules).values())
    k = 0
    while k < 20 and all(l[k] <= e[k] for l, e in zip(ls, ends)):
        k += 1
    assert 0 < k < 20
    assert glued["t_ls_below"] == pytest.approx(k / 20)
    assert glued["n_ls_steps"] == k
    assert glued["n_ls_pairs"] == k * len(ls) == glued["n_models"] * glued["n_ls_steps"]
    assert glued["n_ls_smaller"] == sum(l[i] < e[i] for l, e in zip(ls, ends) for i in range(k))
    # '... above that it goes either way'
    assert any(l[i] > e[i] for l, e in zip(ls, ends) for i in range(k, 20))
    assert any(l[i] < e[i] for l, e in zip(ls, ends) for i in range(k, 20))


# --------------------------------------------------------------------------- the probe
def _own_patch_share():
    """The chapter's own_patch_share, taken from its .py twin (so the tests run what it runs)."""
    source = (ROOT / "book" / "08_calibration.py").read_text()
    cell = next(c for c in source.split("# %%") if "def own_patch_share" in c)
    namespace = {"torch": torch}
    exec(cell, namespace)
    return namespace["own_patch_share"]


def _signature(r, c, H, W, h):
    return (min(r, h), min(H - 1 - r, h), min(c, h), min(W - 1 - c, h))


def _reference_share(images, x0, x_t, t, P):
    """Brute force: per pixel, the dictionary of windows of every image at every position with
    the pixel's border signature (zero-padded ELS), identical windows merged by adding their
    weights; the pixel names its source when the heaviest group is its own window."""
    h = P // 2
    B, _, H, W = x0.shape
    pad = lambda x: torch.nn.functional.pad(x.double(), (h, h, h, h))  # noqa: E731
    train, clean, noisy = pad(images), pad(x0), pad(x_t)
    shares = []
    for b in range(B):
        abar = math.cos(float(t[b]) / 1.008 * math.pi / 2) ** 2
        a, s2 = math.sqrt(abar), 1 - abar
        named = ink = 0
        for r in range(H):
            for c in range(W):
                if x0[b, 0, r, c] <= 0:
                    continue
                ink += 1
                q = noisy[b, :, r:r + P, c:c + P]
                groups: dict[tuple, list[float]] = {}
                for k in range(len(images)):
                    for v in range(H):
                        for w in range(W):
                            if _signature(v, w, H, W, h) == _signature(r, c, H, W, h):
                                p = train[k, :, v:v + P, w:w + P]
                                groups.setdefault(tuple(p.flatten().tolist()), []).append(
                                    float(-((q - a * p) ** 2).sum() / (2 * s2)))
                best = max(groups, key=lambda g: torch.tensor(groups[g]).logsumexp(0))
                named += best == tuple(clean[b, :, r:r + P, c:c + P].flatten().tolist())
        shares.append(named / ink)
    return torch.tensor(shares, dtype=torch.float64)


@pytest.mark.parametrize("P", [3, 5])
def test_own_patch_share_matches_a_brute_force_reference(P):
    """On a tiny training set with many repeated windows (values in {-1, 0, 1}), the chapter's
    function agrees with the written-out definition for every probed image and time."""
    g = torch.Generator().manual_seed(1)
    images = (torch.randint(0, 3, (4, 1, 7, 6), generator=g).float() - 1)
    x0 = images[[0, 2, 2]]
    t = torch.tensor([0.05, 0.3, 0.6])
    x_t = els.add_noise(x0, t, torch.randn(x0.shape, generator=g))
    machine = els.ELS(images, padding="zeros")
    got = _own_patch_share()(machine, x0, x_t, t, P)
    assert torch.allclose(got.double(), _reference_share(images, x0, x_t, t, P))
    assert 0 < float(got.max()) and float(got.min()) < 1, "a test case where nothing varies cannot fail"


@pytest.fixture(scope="module")
def probe():
    """The chapter's probe, recomputed at the laptop preset: share (t, P) and the times."""
    model_dir = els.studies.artifacts.path("models", MODEL)
    train_images, _ = els.studies.harness.training_data(model_dir, LAPTOP["n_train"])
    ts = torch.arange(1, 10) / 10
    x0 = train_images[:LAPTOP["probe"]].repeat(len(ts), 1, 1, 1)
    t = ts.repeat_interleave(LAPTOP["probe"])
    x_t = els.add_noise(x0, t, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
    machine = els.machine_for(model_dir, "ELS", train_images, None)
    share = _own_patch_share()
    table = torch.stack([share(machine, x0, x_t, t, P).view(len(ts), -1).mean(1) for P in LAPTOP["candidates"]], 1)
    return dict(ts=ts, share=table, x0=x0, x_t=x_t, t=t)


def _half(share):
    """Per t: the half-way size, the smallest candidate whose share reaches one half (or None)."""
    return [next((P for P, v in zip(LAPTOP["candidates"], row) if v >= 0.5), None) for row in share.tolist()]


def test_the_probe_numbers_and_claims(glued, probe):
    """'At t = 0.1 a 3x3 window names its source at ...%, a 5x5 at ...%; the half-way size grows
    from ... to ... at t = ...; from t = ... on, even the largest candidate, 17, stays below one
    half. The calibrated schedule climbs with the half-way size and stays below it wherever it
    exists, by ... to ... pixels: at the calibrated P at most ...%.'"""
    ts, share = probe["ts"], probe["share"]
    sizes = LAPTOP["candidates"]
    assert glued["n_probe"] == LAPTOP["probe"]
    assert glued["share_smallest"] == pytest.approx(100 * float(share[0, 0]), abs=1.0)
    assert glued["share_second"] == pytest.approx(100 * float(share[0, 1]), abs=1.0)
    assert glued["share_second"] > 50 > glued["share_smallest"]
    half = _half(share)
    named = [k for k, P in enumerate(half) if P is not None]
    assert named == list(range(len(named))), "the half-way line exists up to some t, then never"
    assert len(named) < len(ts), "'from t = ... on, even the largest candidate stays below one half'"
    assert (share[len(named):] < 0.5).all()
    assert glued["p_largest"] == sizes[-1] == 17
    assert glued["t_half_none"] == pytest.approx(float(ts[len(named)]))
    assert (glued["half_low"], glued["half_last"]) == (half[0], half[named[-1]])
    assert glued["t_half_last"] == pytest.approx(float(ts[named[-1]]))
    assert glued["half_low"] < glued["half_last"], "the half-way size grows with the noise"
    assert all(a <= b for a, b in zip(half[:len(named)], half[1:len(named)])), "... step by step"
    calibrated = glued["live_schedule"][1::2][:len(ts)]
    assert all(a <= b for a, b in zip(calibrated[:len(named)], calibrated[1:len(named)])), "'climbs'"
    assert calibrated[0] < calibrated[len(named) - 1]
    assert glued["below_everywhere"] is True
    assert all(calibrated[k] < half[k] for k in named)
    gaps = [half[k] - calibrated[k] for k in named]
    assert (glued["gap_low"], glued["gap_high"]) == (min(gaps), max(gaps))
    assert glued["share_at_calibrated"] == pytest.approx(
        100 * max(float(share[k, sizes.index(p)]) for k, p in enumerate(calibrated)), abs=1.0)
    snr = (els.alpha_bar(ts) / els.noise_variance(ts)).sqrt()
    assert (glued["snr_low"], glued["snr_high"]) == pytest.approx((float(snr[0]), float(snr[-1])))


def test_the_live_calibration_agrees_with_the_stored_one(glued):
    """'the live schedule and the one calibrated with 500 images differ by at most ... pixels at
    any step' (150 images and 3 seeds against 500 images and 6 seeds): at most one candidate, so
    the calibrated schedule 'hardly moves' with the dictionary."""
    stored = Calibration.load(RESULTS / MODEL / "calibration_ELS.json").schedule
    live = glued["live_schedule"]
    assert len(live) == 20 and live[0] == 3
    assert glued["live_vs_stored"] == max(abs(a - b) for a, b in zip(live, stored)) <= 2


def test_the_network_saw_more_images_than_the_dictionary(glued):
    """'The figure is for the 150 images of the live calibration; the network saw 4,000.'"""
    import json

    manifest = json.loads((els.studies.artifacts.path("models", MODEL) / "manifest.json").read_text())
    assert glued["n_network_images"] == manifest["subset_size"] == manifest["dataset"]["max_images"] == 4000
    assert glued["n_network_images"] > glued["n_images"] > glued["n_train"]


def test_exercise_4_four_times_the_images_on_the_chapters_probe(glued, probe):
    """'Along the dashed line the share falls by ... points on average, and the half-way size
    grows by 2 pixels (one candidate) at ... of the ... times and stays at the others.'
    Recomputed with a machine on 600 images, the chapter's probe images and noise; the line
    also does not move down (the candidate below it stays under one half)."""
    model_dir = els.studies.artifacts.path("models", MODEL)
    more, _ = els.studies.harness.training_data(model_dir, 4 * LAPTOP["n_train"])
    bigger = els.machine_for(model_dir, "ELS", more, None)
    share, sizes, ts, t = probe["share"], LAPTOP["candidates"], probe["ts"], probe["t"]
    half = _half(share)
    named = [k for k, P in enumerate(half) if P is not None]
    own = _own_patch_share()
    drops, shifts = [], []
    for k in named:
        rows = t == ts[k]
        new = lambda P: float(own(bigger, probe["x0"][rows], probe["x_t"][rows], t[rows], P).mean())  # noqa: E731
        if half[k] > sizes[0]:
            assert new(half[k] - 2) < 0.5, f"the half-way size moves down at t = {float(ts[k])}"
        for P in sizes[sizes.index(half[k]):]:
            value = new(P)
            if P == half[k]:
                drops.append(float(share[k, sizes.index(P)]) - value)
            if value >= 0.5:
                shifts.append(P - half[k])
                break
    assert len(shifts) == len(named) == glued["ex4_n_times"], "the line does not vanish anywhere"
    assert shifts == glued["ex4_shifts"]
    assert set(shifts) == {0, glued["ex4_shift"]} and glued["ex4_shift"] == 2, "'by 2 pixels ... stays at the others'"
    assert glued["ex4_n_moved"] == sum(s > 0 for s in shifts)
    assert all(d >= 0 for d in drops), "'the shares fall'"
    assert glued["ex4_drop"] == pytest.approx(100 * sum(drops) / len(drops), abs=0.5) and glued["ex4_drop"] >= 1


def test_exercise_4_a_bigger_dictionary_names_fewer_sources():
    """'The shares fall or stay at every (t, P), and the dashed line moves to larger P', at a
    small size: a machine on 160 images against one on 40 of them, same probe and noise."""
    model_dir = els.studies.artifacts.path("models", MODEL)
    small, _ = els.studies.harness.training_data(model_dir, 40)
    big, _ = els.studies.harness.training_data(model_dir, 160)
    rows = {tuple(x.flatten().tolist()) for x in big}
    assert all(tuple(x.flatten().tolist()) in rows for x in small), "the larger subset contains the smaller"
    ts, sizes = torch.tensor([0.1, 0.3, 0.5]), [3, 5, 9]
    x0 = small[:1].repeat(len(ts), 1, 1, 1)
    x_t = els.add_noise(x0, ts, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
    share = _own_patch_share()
    machines = [els.machine_for(model_dir, "ELS", images, None) for images in (small, big)]
    tables = [torch.stack([share(m, x0, x_t, ts, P) for P in sizes], 1) for m in machines]
    assert (tables[1] <= tables[0] + 1e-6).all()
    assert (tables[1] < tables[0]).any()
    halves = [[next((P for P, v in zip(sizes, row) if v >= 0.5), 99) for row in table.tolist()] for table in tables]
    assert all(b >= a for a, b in zip(*halves)), "the half-way size moves to larger P, never smaller"

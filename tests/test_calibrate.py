"""P(t) calibration (book appendix, §A.5): recovers a known schedule, and resumes."""
import pytest
import torch

import els
from els.calibrate import Calibration, calibrate, default_candidates


class ScheduledMachine:
    """A stand-in 'network': an ELS machine whose patch size follows a known schedule;
    ``calls`` counts images denoised (one per seed and step)."""

    def __init__(self, machine, schedule):
        self.machine, self.schedule, self.calls = machine, schedule, 0

    def eps(self, x_t, t, label=None):
        self.calls += len(x_t)
        return self.machine.eps(x_t, t, label=label, patch_size=self.schedule[round(t * len(self.schedule)) - 1])


def images(n=12, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def factory(x, labels):
    return els.ELS(x, labels, padding="zeros", device="cpu")


def test_recovers_a_known_schedule(tmp_path):
    """If the network *is* the machine with schedule S, calibration must return S exactly."""
    known = [3, 3, 5, 7, 7]
    net = ScheduledMachine(factory(images(), None), known)
    result = calibrate(net, factory, (images(), None), candidates=[3, 5, 7], seeds=3, steps=5,
                       out=tmp_path / "c.jsonl", progress=False)
    assert result.schedule == known
    assert all(choice == known for choice in result.choice)
    best = torch.tensor(result.similarity).amax(-1)
    assert torch.allclose(best, torch.ones_like(best))


def test_resumes_without_recomputing(tmp_path):
    """Seeds already in the results file are read back, not recomputed; the saved JSON loads."""
    net = ScheduledMachine(factory(images(), None), [3, 5])
    kw = dict(candidates=[3, 5], steps=2, out=tmp_path / "c.jsonl", progress=False)
    calibrate(net, factory, (images(), None), seeds=2, **kw)
    calls = net.calls
    result = calibrate(net, factory, (images(), None), seeds=3, **kw)
    assert net.calls - calls == 2  # only seed 2's two steps
    assert result.seeds == [0, 1, 2] and len(result.similarity) == 3
    result.save(tmp_path / "c.json")
    assert Calibration.load(tmp_path / "c.json") == result


def test_the_timing_file_adds_seconds_and_seeds_over_runs(tmp_path, monkeypatch):
    """Fails if a run's seconds or seeds overwrite the earlier runs' instead of adding to them,
    if the clock starts at the wrong place (a batch must count once), or if resumed seeds are
    counted again. A fake clock advancing 1 s per reading makes every batch last exactly 1 s."""
    import json
    import time as time_module

    clock = iter(range(10**6))
    monkeypatch.setattr(time_module, "perf_counter", lambda: float(next(clock)))
    net = ScheduledMachine(factory(images(), None), [3, 5])
    kw = dict(candidates=[3, 5], steps=2, out=tmp_path / "c.jsonl", batch_size=2, progress=False)
    calibrate(net, factory, (images(), None), seeds=3, **kw)  # two batches: seeds 0-1, seed 2
    assert json.loads((tmp_path / "c.jsonl.timing.json").read_text()) == {"seconds": 2.0, "seeds": 3}
    calibrate(net, factory, (images(), None), seeds=4, **kw)  # one new batch: seed 3
    assert json.loads((tmp_path / "c.jsonl.timing.json").read_text()) == {"seconds": 3.0, "seeds": 4}


def test_batching_seeds_changes_nothing():
    """Seeds calibrated together give the same similarities as seeds calibrated one by one."""
    x, labels = images(), torch.arange(12) % 3
    net = ScheduledMachine(factory(x, labels), [3, 5, 7])
    net.conditional = True
    kw = dict(candidates=[3, 5, 7], seeds=4, steps=3, progress=False)
    one = calibrate(net, factory, (x, labels), batch_size=1, **kw)
    together = calibrate(net, factory, (x, labels), batch_size=3, **kw)
    assert one.labels == together.labels
    assert torch.allclose(torch.tensor(one.similarity), torch.tensor(together.similarity), atol=1e-5)


def test_conditional_network_gets_a_label_per_seed(tmp_path):
    """A class-conditional network is calibrated with a random training label per seed."""
    x, labels = images(), torch.arange(12) % 3
    net = ScheduledMachine(factory(x, labels), [3, 5])
    net.conditional = True
    result = calibrate(net, factory, (x, labels), candidates=[3, 5], seeds=4, steps=2, progress=False)
    assert result.schedule == [3, 5] and set(result.labels) <= {0, 1, 2}


def test_an_unconditional_network_draws_no_labels_even_from_labelled_data():
    """Fails if the training labels (which the machines may use) turn into per-seed labels for a
    network that is not class-conditional: every seed is calibrated without one."""
    x, labels = images(), torch.arange(12) % 3
    net = ScheduledMachine(factory(x, None), [3, 5])
    result = calibrate(net, factory, (x, labels), candidates=[3, 5], seeds=3, steps=2, progress=False)
    assert result.labels == [None, None, None]


def test_default_candidates_reach_the_image_size():
    assert default_candidates(32, 32) == list(range(3, 32, 2))
    assert default_candidates(9, 7) == [3, 5, 7, 9]


def test_schedule_is_the_lower_median_of_disagreeing_seeds():
    """Six seeds whose 'network' uses patch sizes 3, 3, 5, 7, 7, 7: every step's schedule entry
    is their lower median, 5 (not the mean, the mode 7 or an extreme). The stand-in network is
    the float64 brute-force reference of tests/reference.py, sharing no code with els."""
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from reference import reference_denoise

    train = images(n=10, seed=3)
    per_seed = [3, 3, 5, 7, 7, 7]
    steps = 3

    class Reference:
        calls = 0

        def eps(self, x_t, t, label=None):
            size = per_seed[self.calls // steps]  # batch_size=1: seeds run in order, `steps` calls each
            self.calls += 1
            x0 = torch.from_numpy(reference_denoise("ELS", x_t.double().numpy(), t, train.double().numpy(),
                                                    patch_size=size, padding="zeros"))
            abar = math.cos(t / 1.008 * math.pi / 2) ** 2
            return ((x_t.double() - abar ** 0.5 * x0) / (1 - abar) ** 0.5).to(x_t.dtype)

    result = calibrate(Reference(), factory, (train, None), candidates=[3, 5, 7], seeds=6, steps=steps,
                       batch_size=1, progress=False)
    assert result.choice == [[p] * steps for p in per_seed]
    assert result.schedule == [5] * steps


def test_default_candidates_explicit_seeds_and_scale_names(tmp_path):
    """Fails if calibration without candidates does not use the odd sizes up to the larger side
    of a non-square image, if explicit seeds are not used as given, or if a machine whose
    scale is not a patch size is calibrated without candidates instead of refused."""
    x = torch.rand(6, 1, 5, 7, generator=torch.Generator().manual_seed(4)) * 2 - 1
    net = ScheduledMachine(factory(x, None), [5, 7])
    result = calibrate(net, factory, (x, None), seeds=[4, 9], steps=2, progress=False)
    assert result.candidates == [3, 5, 7] and result.seeds == [4, 9] and result.schedule == [5, 7]
    pca = lambda images, labels: els.PCALocality(images, labels, device="cpu")  # noqa: E731
    with pytest.raises(ValueError, match="over its threshold: pass candidates="):
        calibrate(net, pca, (x, None), seeds=1, steps=2, progress=False)
    assert calibrate(net, pca, (x, None), candidates=[0.0, 0.5], seeds=1, steps=2, progress=False).candidates == [0.0, 0.5]


def test_a_conditional_machine_is_scored_with_each_seeds_label():
    """Fails if calibration calls the machine without the seed's label: the network is the
    class-restricted machine itself, so only the labelled call reaches similarity 1."""
    x, labels = images(), torch.arange(12) % 3
    net = ScheduledMachine(factory(x, labels), [3, 5])
    net.conditional = True
    result = calibrate(net, factory, (x, labels), candidates=[3, 5], seeds=4, steps=2, progress=False)
    best = torch.tensor(result.similarity).amax(-1)
    assert torch.allclose(best, torch.ones_like(best), atol=1e-6)
    with pytest.raises(ValueError, match="class-conditional: give .* training labels"):
        calibrate(net, factory, (x, None), candidates=[3, 5], seeds=1, steps=2, progress=False)


def test_cosine_of_small_vectors_is_not_damped():
    """Fails if the guard against a zero norm changes the cosine of vectors with small norms."""
    from els.calibrate import _cosine

    a = torch.tensor([[1e-3, 0.0], [0.0, 0.0]])
    b = torch.tensor([[2e-3, 0.0], [1.0, 0.0]])
    assert _cosine(a, b).tolist() == [1.0, 0.0]


def test_similarities_are_compared_in_float64_and_float64_data_stays_float64():
    """Fails if two candidates whose similarities differ by less than float32 can tell apart
    are not told apart, or if calibration on float64 data feeds float32 noise to the network."""
    from els.calibrate import _summarise

    records = [{"seed": 0, "label": None, "candidates": [3, 5], "similarity": [[0.5, 0.5 + 1e-9]]}]
    assert _summarise(records, [3, 5]).schedule == [5]
    x = images().double()

    def factory64(data, labels):
        return els.ELS(data, labels, padding="zeros", device="cpu", dtype=torch.float64)

    net = ScheduledMachine(factory64(x, None), [3, 5])  # a float64 machine refuses float32 input
    assert calibrate(net, factory64, (x, None), candidates=[3, 5], seeds=2, steps=2, progress=False).schedule == [3, 5]


def test_calibration_keeps_similarities_in_float64_and_picks_the_better_scale_by_them():
    """Fails if the per-step cosine similarities are stored at lower precision than float64:
    two scales whose similarities to the network differ by about 1e-10 (both round to 1.0 in
    float32) must still be told apart, the closer one chosen at every step, and each stored
    similarity must equal a float64 cosine written out here."""
    from els.calibrate import calibrate

    class HalfNet:
        def eps(self, x_t, t, label=None):
            return x_t / 2

    bump = torch.linspace(-1, 1, 9, dtype=torch.float64).view(1, 1, 3, 3)

    class Nearly:
        scale_name, labels = "width", None

        def eps(self, x_t, t, label=None, width=None):
            return x_t / 2 + 1e-5 / width * bump

    data = (torch.zeros(2, 1, 3, 3, dtype=torch.float64), None)
    got = calibrate(HalfNet(), lambda images, labels: Nearly(), data, candidates=[1, 2], seeds=[0], steps=3,
                    progress=False)
    assert got.schedule == [2, 2, 2]
    noise, _ = els.sampling.seeded_inputs([0], (1, 3, 3))
    for t, x_t, _, net_eps in els.sampling.trajectory(HalfNet(), noise.double(), 3):
        i = round(t * 3) - 1
        for k, w in enumerate([1, 2]):
            a, b = (x_t / 2 + 1e-5 / w * bump).flatten(), net_eps.flatten()
            want = float((a * b).sum() / (a.norm() * b.norm()))
            assert got.similarity[0][i][k] == pytest.approx(want, abs=1e-15)
        s1, s2 = got.similarity[0][i]
        assert s1 < s2 and torch.tensor(s1, dtype=torch.float32) == torch.tensor(s2, dtype=torch.float32)

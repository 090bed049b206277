"""Golden subsets: the published size schedules, the two-stage selection against a brute
force, the exact machine when the subset is everything, reproducibility and refusals."""
import numpy as np
import pytest
import torch

import els
from els.machines.golden import GoldenSubset

F64 = dict(device="cpu", dtype=torch.float64)


def _data(n=40, c=1, h=4, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, h, w, generator=g, dtype=torch.float64) * 2 - 1
    x = torch.randn(3, c, h, w, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % 3
    return images, x, labels


def test_sizes_follow_the_published_schedule():
    """CIFAR10 (N = 50,000, k_min = 2,500, k_max = 5,000) at the ten DDIM steps t = 900, ..., 0
    of the linear-beta schedule: the pre-sample and subset sizes GoldDiff's code gives."""
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    golden = GoldenSubset(els.IS(torch.zeros(2, 1, 2, 2)), k_min=2500, k_max=5000)
    got = [golden.sizes(float(1 - abar[t]), 50000) for t in range(900, -1, -100)]
    assert [m for m, _ in got] == [5006, 5034, 5155, 5579, 6786, 9589, 14970, 23620, 35428, 49550]
    assert [k for _, k in got] == [5000, 4998, 4991, 4968, 4901, 4745, 4446, 3966, 3310, 2525]


def test_selection_is_the_two_stage_nearest_search():
    images, x, _ = _data(n=60)
    golden = GoldenSubset(els.IS(images, **F64), k_min=5, k_max=12, pool=2)
    a, s2 = torch.tensor(0.99, dtype=torch.float64), torch.tensor(1e-6, dtype=torch.float64)  # m_t = N
    got = golden.select(x[0], a, s2, images)
    pooled = torch.nn.functional.avg_pool2d
    coarse = ((pooled(x[:1], 2) - a * pooled(images, 2)) ** 2).flatten(1).sum(1)
    candidates = coarse.argsort()[:12]
    fine = ((x[:1] - a * images[candidates]) ** 2).flatten(1).sum(1)
    k = golden.sizes(s2, 60)[1]
    assert set(got.tolist()) == set(candidates[fine.argsort()[:k]].tolist()) and k == 5


@pytest.mark.parametrize("kind", ["IS", "ELS", "LS", "PCALocality"])
def test_everything_as_the_subset_is_the_exact_machine(kind):
    images, x, _ = _data()
    machine = {"IS": lambda: els.IS(images, **F64), "LS": lambda: els.LS(images, patch_size=3, **F64),
               "ELS": lambda: els.ELS(images, patch_size=3, **F64),
               "PCALocality": lambda: els.PCALocality(images, mask="column", threshold=0.2, **F64)}[kind]()
    golden = GoldenSubset(machine, k_min=len(images), k_max=len(images), seed=3)
    for t in (0.2, 0.9):
        np.testing.assert_allclose(golden.denoise(x, t), machine.denoise(x, t), atol=1e-12)


def test_a_small_subset_is_reproducible_and_differs_from_the_exact_machine():
    images, x, _ = _data(n=80)
    machine = els.ELS(images, patch_size=3, **F64)
    first = GoldenSubset(machine, k_min=5, k_max=10, seed=1)
    again = GoldenSubset(machine, k_min=5, k_max=10, seed=1)
    np.testing.assert_array_equal(first.denoise(x, 0.9), again.denoise(x, 0.9))
    assert all(len(s) == 10 for s in first.last_subsets)  # high noise: k_t is about k_max
    assert not torch.allclose(first.denoise(x, 0.9), machine.denoise(x, 0.9))
    noise = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    assert els.sample(first, noise, steps=3, scales=[3, 3, 3]).shape == noise.shape


def test_class_conditional_subsets_stay_in_the_class():
    images, x, labels = _data(n=60)
    golden = GoldenSubset(els.IS(images, labels, **F64), k_min=3, k_max=6)
    golden.denoise(x, 0.5, label=torch.tensor([0, 2, 2]))
    assert [set(labels[s].tolist()) for s in golden.last_subsets] == [{0}, {2}, {2}]
    whole = GoldenSubset(els.IS(images, labels, **F64), k_min=60, k_max=60)
    np.testing.assert_allclose(whole.denoise(x, 0.5, label=1), els.IS(images, labels, **F64).denoise(x, 0.5, label=1),
                               atol=1e-12)


def test_pca_locality_keeps_its_global_masks_on_a_subset():
    images, _, _ = _data(n=50)
    m = els.PCALocality(images, mask="column", **F64)
    sub = m.restricted(torch.arange(7))
    np.testing.assert_array_equal(sub.mask(0.5, 0.2), m.mask(0.5, 0.2))
    assert len(sub.images) == 7 and len(m.images) == 50


def test_refusals_name_the_problem():
    images, _, _ = _data()
    with pytest.raises(TypeError, match="Wiener"):
        GoldenSubset(els.Wiener(images, **F64), k_min=2, k_max=4)
    with pytest.raises(ValueError, match="must not exceed"):
        GoldenSubset(els.IS(images, **F64), k_min=5, k_max=4)
    with pytest.raises(ValueError, match="positive int"):
        GoldenSubset(els.IS(images, **F64), k_min=0, k_max=4)


def test_the_pre_sample_can_reach_every_training_image():
    """Fails if the random pre-sample of m_t images is drawn from the first m_t images instead of
    all N: at pure noise m_t = k_max = 1, and over many draws every image must come up."""
    images, _, _ = _data(n=12)
    golden = GoldenSubset(els.IS(images, **F64), k_min=1, k_max=1, seed=0)
    x = torch.zeros(1, 4, 4, dtype=torch.float64)
    seen = {int(golden.select(x, torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64),
                              images)[0]) for _ in range(400)}
    assert seen == set(range(12))


def test_refusals_name_the_argument_and_refuse_bools_and_floats():
    """Fails if a bad k_min, k_max or pool is refused under another name, or if True or a
    float passes for a positive int."""
    images, _, _ = _data()
    machine = els.IS(images, **F64)
    for kw, name in ((dict(k_min=0, k_max=4), "k_min"), (dict(k_min=2, k_max=-1), "k_max"),
                     (dict(k_min=2, k_max=4, pool=0), "pool"), (dict(k_min=True, k_max=4), "k_min"),
                     (dict(k_min=2, k_max=4.0), "k_max"), (dict(k_min=2, k_max=4, pool=2.0), "pool")):
        with pytest.raises(ValueError, match=rf"^{name} must be a positive int"):
            GoldenSubset(machine, **kw)
    with pytest.raises(ValueError, match="must not exceed"):
        GoldenSubset(machine, k_min=3, k_max=2)
    GoldenSubset(machine, k_min=3, k_max=3)  # k_min = k_max is allowed


def test_one_training_image_and_the_defaults():
    """Fails if a one-image machine is refused (the early restriction check must ask for one
    image only), if the defaults are not pool = 2 and seed = 0 (GoldDiff's pooling; the
    documented seed), or if last_subsets is not an empty list before the first call."""
    images, x, _ = _data(n=1)
    golden = GoldenSubset(els.IS(images, **F64), k_min=1, k_max=1)
    assert golden.last_subsets == [] and golden.pool == 2
    np.testing.assert_allclose(golden.denoise(x, 0.5), images.expand_as(x), atol=1e-12)
    assert [s.tolist() for s in golden.last_subsets] == [[0], [0], [0]]
    images, x, _ = _data(n=30)
    default, zero = (GoldenSubset(els.IS(images, **F64), k_min=2, k_max=4, **kw) for kw in ({}, dict(seed=0)))
    default.denoise(x, 0.9)
    zero.denoise(x, 0.9)
    assert [s.tolist() for s in default.last_subsets] == [s.tolist() for s in zero.last_subsets]


def test_label_and_scale_reach_the_restricted_machine():
    """Fails if the golden subset's machine is called without the sample's label or the
    scale: with every image kept, a class-statistics PCA-locality machine must give its own
    class-1 answer at threshold 0.3 (its masks depend on the label), and ELS its own answer
    with 5 x 5 patches."""
    images, x, labels = _data(n=30)
    pca = els.PCALocality(images, labels, mask="column", mask_statistics="class", threshold=0.05, **F64)
    golden = GoldenSubset(pca, k_min=30, k_max=30)
    want = pca.denoise(x, 0.6, label=1, threshold=0.3)
    np.testing.assert_allclose(golden.denoise(x, 0.6, label=1, threshold=0.3), want, atol=1e-12)
    assert not torch.allclose(pca.denoise(x, 0.6, label=1), want)  # the threshold matters here
    glob = els.PCALocality(images, labels, mask="column", threshold=0.3, **F64)
    assert not torch.allclose(glob.denoise(x, 0.6, label=1), want)  # and so do the class statistics
    machine = els.ELS(images, patch_size=3, **F64)
    golden = GoldenSubset(machine, k_min=30, k_max=30)
    np.testing.assert_allclose(golden.denoise(x, 0.6, patch_size=5), machine.denoise(x, 0.6, patch_size=5), atol=1e-12)


def test_sizes_treat_a_variance_above_one_as_pure_noise():
    """Fails if sizes() does not clip sigma = sqrt(s2) to [0, 1]: s2 = 4 must give the sizes
    of s2 = 1 (m_t = k_max, k_t = k_max) and s2 < 0 those of s2 = 0 (m_t = N, k_t = k_min)."""
    golden = GoldenSubset(els.IS(torch.zeros(2, 1, 2, 2)), k_min=10, k_max=40)
    assert golden.sizes(4.0, 100) == golden.sizes(1.0, 100) == (40, 40)
    assert golden.sizes(-0.5, 100) == golden.sizes(0.0, 100) == (100, 10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA path not checked")
def test_cuda_matches_cpu():
    """Fails if a CUDA machine's golden subsets mix devices (the pre-sample, the class pool and
    the output must follow the machine's and x_t's devices): same seed, same subsets and
    answer as on the CPU, returned on x_t's device."""
    images, x, labels = _data(n=40)
    cpu = GoldenSubset(els.IS(images, labels, **F64), k_min=3, k_max=8, seed=5)
    gpu = GoldenSubset(els.IS(images, labels, device="cuda", dtype=torch.float64), k_min=3, k_max=8, seed=5)
    for label in (None, torch.tensor([0, 2, 1])):
        want = cpu.denoise(x, 0.4, label=label)
        got = gpu.denoise(x, 0.4, label=label)
        assert got.device == x.device
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
        assert [s.cpu().tolist() for s in gpu.last_subsets] == [s.tolist() for s in cpu.last_subsets]

"""The tiered fast mode (els.machines.tiered): the whole machine at low noise, a subset at high noise."""
import pytest
import torch

import els
from els.machines.tiered import Tiered


def _images(n=12, seed=0):
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def test_each_side_of_the_switch_is_the_exact_machine_it_names():
    """Fails if t <= switch does not give the whole machine's output, or t > switch the output of
    the machine restricted to the subset (computed here from its own images), including in a
    batch whose rows fall on both sides."""
    images = _images()
    machine = els.ELS(images, patch_size=3, padding="zeros", device="cpu", dtype=torch.float64)
    fast = Tiered(machine, k=5, switch=0.5)
    assert len(fast.subset) == 5 and len(set(fast.subset.tolist())) == 5
    alone = els.ELS(images[fast.subset], patch_size=3, padding="zeros", device="cpu", dtype=torch.float64)
    x = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(fast.denoise(x, 0.5, patch_size=5), machine.denoise(x, 0.5, patch_size=5))
    torch.testing.assert_close(fast.denoise(x, 0.7, patch_size=5), alone.denoise(x, 0.7, patch_size=5))
    assert not torch.allclose(alone.denoise(x, 0.7, patch_size=5), machine.denoise(x, 0.7, patch_size=5))
    t = torch.tensor([0.2, 0.9, 0.5])
    mixed = fast.denoise(x, t, patch_size=3)
    for i, chosen in enumerate((machine, alone, machine)):
        torch.testing.assert_close(mixed[i:i + 1], chosen.denoise(x[i:i + 1], float(t[i]), patch_size=3))
    torch.testing.assert_close(fast.eps(x, 0.7), els.machines.implied_noise(x, 0.7, alone.denoise(x, 0.7)))


def test_labelled_subset_is_class_balanced_and_labels_reach_both_machines():
    images = _images(20)
    labels = torch.arange(20) % 4
    machine = els.ELS(images, labels, patch_size=3, device="cpu", dtype=torch.float64)
    fast = Tiered(machine, k=8, switch=0.3)
    assert torch.bincount(labels[fast.subset]).tolist() == [2, 2, 2, 2]
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    label = torch.tensor([1, 3])
    alone = els.ELS(images[fast.subset], labels[fast.subset], patch_size=3, device="cpu", dtype=torch.float64)
    torch.testing.assert_close(fast.denoise(x, torch.tensor([0.9, 0.1]), label=label),
                               torch.cat([alone.denoise(x[:1], 0.9, label=1), machine.denoise(x[1:], 0.1, label=3)]))


def test_sampling_with_switch_one_is_the_exact_machine_and_bad_settings_are_refused():
    images = _images()
    machine = els.ELS(images, patch_size=3, device="cpu", dtype=torch.float64)
    noise = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(els.sample(Tiered(machine, k=3, switch=1.0), noise, 4, [3, 3, 5, 5]),
                               els.sample(machine, noise, 4, [3, 3, 5, 5]))
    for k in (0, 13, 2.0, True):
        with pytest.raises(ValueError, match="k must be an int"):
            Tiered(machine, k=k, switch=0.5)
    with pytest.raises(ValueError, match="switch is a diffusion time"):
        Tiered(machine, k=3, switch=1.5)


def test_eps_passes_the_label_and_the_scale_to_denoise():
    """Fails if SubsetView.eps drops ``label`` or the scale keyword (``patch_size=``) on its way
    to ``denoise``: the noise must be the one implied by the subset machine's class-1 estimate
    with 5 x 5 patches, computed here from a machine built on the subset's images alone."""
    images = _images(16)
    labels = torch.arange(16) % 2
    machine = els.ELS(images, labels, patch_size=3, device="cpu", dtype=torch.float64)
    fast = Tiered(machine, k=8, switch=0.3)
    alone = els.ELS(images[fast.subset], labels[fast.subset], patch_size=3, device="cpu", dtype=torch.float64)
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    expected = els.machines.implied_noise(x, 0.8, alone.denoise(x, 0.8, label=1, patch_size=5))
    torch.testing.assert_close(fast.eps(x, 0.8, label=1, patch_size=5), expected)
    for other in (alone.denoise(x, 0.8, patch_size=5), alone.denoise(x, 0.8, label=1)):  # the test can tell
        assert not torch.allclose(els.machines.implied_noise(x, 0.8, other), expected)


def test_the_edges_of_k_and_switch_are_allowed_and_the_default_seed_is_zero():
    """Fails if k = 1 or k = N (every image) or switch = 0 (always the subset) is refused, or
    if the default seed is not 0: the subset must be the one of seed=0 (and seed=1 another)."""
    images = _images()
    machine = els.ELS(images, patch_size=3, device="cpu", dtype=torch.float64)
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    one = Tiered(machine, k=1, switch=0.5)
    alone = els.ELS(images[one.subset], patch_size=3, device="cpu", dtype=torch.float64)
    torch.testing.assert_close(one.denoise(x, 0.9), alone.denoise(x, 0.9))
    everything = Tiered(machine, k=12, switch=0.0)
    assert everything.subset.tolist() == list(range(12))
    torch.testing.assert_close(everything.denoise(x, 0.3), machine.denoise(x, 0.3))
    default = Tiered(machine, k=5, switch=0.5).subset.tolist()
    assert default == Tiered(machine, k=5, switch=0.5, seed=0).subset.tolist()
    assert default != Tiered(machine, k=5, switch=0.5, seed=1).subset.tolist()


def test_a_mixed_batch_passes_the_scale_to_both_machines():
    """Fails if a batch with rows on both sides of the switch drops the scale keyword: each
    row must be its machine's answer with 5 x 5 patches, not with the machine's own 3 x 3."""
    images = _images()
    machine = els.ELS(images, patch_size=3, device="cpu", dtype=torch.float64)
    fast = Tiered(machine, k=6, switch=0.5)
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    got = fast.denoise(x, torch.tensor([0.8, 0.2]), patch_size=5)
    torch.testing.assert_close(got[:1], fast.coarse.denoise(x[:1], 0.8, patch_size=5))
    torch.testing.assert_close(got[1:], machine.denoise(x[1:], 0.2, patch_size=5))
    assert not torch.allclose(got[1:], machine.denoise(x[1:], 0.2))

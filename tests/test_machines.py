"""Every machine against the brute-force float64 reference, and the exact identities (book appendix, §A.3)."""

import numpy as np
import pytest
import torch

import els
from reference import random_images, reference_denoise

F64 = dict(dtype=torch.float64, device="cpu")


def data(n=3, c=1, h=5, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, h, w, generator=g, dtype=torch.float64) * 2 - 1
    labels = torch.arange(n) % 2
    x = torch.randn(2, c, h, w, generator=g, dtype=torch.float64)
    return images, labels, x


def build(kind, images, labels=None, **kw):
    return getattr(els, kind)(images, labels, **kw, **F64)


CASES = [("IS", {}), ("ES", {}),
         *[("LS", {"patch_size": p}) for p in (1, 3, 5, 7, 13)],
         *[("ELS", {"patch_size": p, "padding": "zeros"}) for p in (1, 3, 5, 7, 13)],
         *[("ELS", {"patch_size": p, "padding": "circular", "train_patches": "valid"}) for p in (1, 3, 5)],
         *[("ELS", {"patch_size": p, "padding": "circular", "train_patches": "wrap"}) for p in (1, 3, 5, 7, 13)]]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind,kw", CASES, ids=[f"{k}-{kw}" for k, kw in CASES])
def test_matches_bruteforce_reference(kind, kw, channels):
    """Wrong here means the machine does not compute the posterior mean of the book appendix, §A.3."""
    images, _, x = data(c=channels)
    got = build(kind, images, **kw).denoise(x, torch.tensor([0.4, 0.8], dtype=torch.float64))
    want = reference_denoise(kind, x.numpy(), [0.4, 0.8], images.numpy(), **kw)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind,kw", [("IS", {}), ("LS", {"patch_size": 3}),
                                     ("ELS", {"patch_size": 3, "padding": "zeros"}),
                                     ("ELS", {"patch_size": 3, "padding": "circular"})])
def test_class_conditional_matches_reference(kind, kw):
    """Wrong here means a label does not restrict the dictionary to that class's images."""
    images, labels, x = data(n=5)
    machine = build(kind, images, labels, **kw)
    for label in (1, torch.tensor([0, 1])):
        got = machine.denoise(x, 0.5, label=label)
        ref_label = label if isinstance(label, int) else label.tolist()
        want = reference_denoise(kind, x.numpy(), 0.5, images.numpy(), labels.numpy(), ref_label, **kw)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-10)


def test_ls_with_patch_covering_image_is_ideal_score():
    """LS with P >= 2 max(H, W) - 1 sees the whole image from every pixel: it must equal IS."""
    images, _, x = data(h=4, w=5)
    got = build("LS", images, patch_size=9).denoise(x, 0.6)
    np.testing.assert_allclose(got, build("IS", images).denoise(x, 0.6), rtol=1e-10, atol=1e-12)


def test_wrapped_els_with_full_patch_is_equivariant_score():
    """Circular ELS with wrapped patches of the full (odd, square) image size must equal ES."""
    images, _, x = data(h=5, w=5)
    got = build("ELS", images, patch_size=5, padding="circular", train_patches="wrap").denoise(x, 0.6)
    np.testing.assert_allclose(got, build("ES", images).denoise(x, 0.6), rtol=1e-10, atol=1e-12)


def _sign_images(n=3, c=2, h=5, w=6):
    """Images of +-1 pixels: all windows of one support have the same norm |p|^2."""
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 2, (n, c, h, w), generator=g).double() * 2 - 1
    return torch.cat([images, images[:1]])  # image 0 twice: multiplicity 2


@pytest.mark.parametrize("kind,kw", [("IS", {}), ("ES", {}), ("LS", {"patch_size": 3}),
                                     ("ELS", {"patch_size": 3, "padding": "circular", "train_patches": "wrap"}),
                                     ("ELS", {"patch_size": 3, "padding": "circular", "train_patches": "valid"})])
def test_high_noise_limit_is_mean_of_dictionary_values(kind, kw):
    """With equal-norm entries and x_t = 0 (the t -> 1 limit of the query) the weights are
    uniform: x0_hat is the mean of the dictionary values, duplicates counted (dedup on)."""
    images = _sign_images()
    x = torch.zeros(1, *images.shape[1:], dtype=torch.float64)
    got = build(kind, images, **kw).denoise(x, 1.0)
    if kind in ("IS", "LS"):
        want = images.mean(0, keepdim=True)
    elif kw.get("train_patches") == "valid":
        want = images[:, :, 1:-1, 1:-1].mean((0, 2, 3), keepdim=True).expand_as(x)
    else:
        want = images.mean((0, 2, 3), keepdim=True).expand_as(x)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("kind,kw", [("IS", {}), ("LS", {"patch_size": 3}),
                                     ("ELS", {"patch_size": 3, "padding": "circular", "train_patches": "wrap"}),
                                     ("ELS", {"patch_size": 3, "padding": "zeros"})])
def test_low_noise_limit_is_nearest_entry(kind, kw):
    """At t = 0 the posterior mean is the value of the nearest dictionary entry: querying with a
    training image itself must return that image."""
    images, _, _ = data(n=4)
    got = build(kind, images, **kw).denoise(images, 0.0)
    np.testing.assert_allclose(got, images, atol=1e-12)


def test_circular_els_commutes_with_roll():
    """Circular ELS is translation equivariant: denoise(roll(x)) == roll(denoise(x))."""
    images, _, x = data()
    m = build("ELS", images, patch_size=3, padding="circular")
    rolled = m.denoise(torch.roll(x, (2, 3), (2, 3)), 0.5)
    np.testing.assert_allclose(rolled, torch.roll(m.denoise(x, 0.5), (2, 3), (2, 3)), atol=1e-12)


def test_zero_padded_els_breaks_equivariance():
    """Control for the test above: the boundary-broken ELS must NOT commute with roll."""
    images, _, x = data()
    m = build("ELS", images, patch_size=3, padding="zeros")
    rolled = m.denoise(torch.roll(x, (2, 3), (2, 3)), 0.5)
    assert (rolled - torch.roll(m.denoise(x, 0.5), (2, 3), (2, 3))).abs().max() > 1e-3


def test_boundary_broken_els_equals_circular_valid_els_inside():
    """Interior pixels of bbELS use all interior training patches, like circular ELS-valid."""
    images, _, x = data(h=8, w=9)
    a = build("ELS", images, patch_size=3, padding="zeros").denoise(x, 0.5)
    b = build("ELS", images, patch_size=3, padding="circular").denoise(x, 0.5)
    np.testing.assert_allclose(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1], rtol=1e-10, atol=1e-12)
    assert (a - b).abs().max() > 1e-3  # ...and differ at the border


@pytest.mark.parametrize("kind,kw", [("ES", {}), ("ELS", {"patch_size": 3, "padding": "circular"}),
                                     ("ELS", {"patch_size": 3, "padding": "zeros"}), ("LS", {"patch_size": 3})])
def test_dedup_and_chunking_do_not_change_the_result(kind, kw):
    """De-duplication and any chunk size (down to one entry) must give the same posterior mean."""
    images, _, x = data(n=4)
    images[1:3] = images[0]  # exact duplicates
    images[3, :, :2] = images[0, :, :2]  # duplicated patches inside distinct images
    want = build(kind, images, dedup=False, **kw).denoise(x, 0.3)
    for chunk_bytes in (8, 1000, 2**20):
        for dedup in (True, False):
            got = build(kind, images, dedup=dedup, chunk_bytes=chunk_bytes, **kw).denoise(x, 0.3)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_dedup_shrinks_the_dictionary_by_the_duplicate_count():
    """Three identical images must leave one third of the ELS patches, weighted by count 3."""
    images, _, _ = data(n=1)
    m = build("ELS", images.repeat(3, 1, 1, 1), patch_size=3, padding="circular", train_patches="wrap")
    _, dictionaries, _ = m.dictionaries(3, None)
    assert len(dictionaries[0]) == 30
    assert dictionaries[0].counts.tolist() == [3] * 30


@pytest.mark.parametrize("block", [1, 7, 10**6])
def test_dedup_in_blocks_keeps_every_window_once(block):
    """De-duplicating block by block (down to one image per block) must keep every window with
    its true count: the multiset of (window, count) over the blocks equals the windows
    themselves, entries are distinct within a block, and indices are compact (int32)."""
    from els.engine.patches import Dictionary, window_view

    images, _, _ = data(n=4, c=2)
    images[1:3] = images[0]
    flat = torch.nn.functional.pad(images, (1, 1, 1, 1)).reshape(-1)
    C, Hp, Wp = 2, images.shape[2] + 2, images.shape[3] + 2
    windows = window_view(flat, C, Hp, Wp, 3, 3)
    positions = torch.tensor([0, 1, Wp, Wp + 3])
    d = Dictionary.build(windows, C * Hp * Wp, 4, positions, torch.tensor([4]), dedup=True, block=block)
    assert d.starts.dtype == torch.int32
    # one image per block: no two windows alike within a block, so no counts are kept
    assert (d.counts is None) if block < 8 else (d.counts.dtype == torch.int32)
    got = {}
    for s, c in zip(d.starts.tolist(), [1] * len(d) if d.counts is None else d.counts.tolist()):
        key = tuple(windows[..., s].flatten().tolist())
        got[key] = got.get(key, 0) + c
    want = {}
    for i in range(4):
        for p in positions.tolist():
            key = tuple(windows[..., i * C * Hp * Wp + p].flatten().tolist())
            want[key] = want.get(key, 0) + 1
    assert got == want
    assert len(d) == (16 if block < 8 else 8)  # images 0-2 are identical: merged only within a block


def test_a_machine_without_a_cache_gives_the_same_answer():
    """With no room to keep dictionaries between calls (each is rebuilt): same answer."""
    images, _, x = data()
    kw = dict(patch_size=3, padding="circular")
    want = build("ELS", images, **kw).denoise(x, 0.4)
    np.testing.assert_allclose(build("ELS", images, cache_bytes=0, **kw).denoise(x, 0.4), want, rtol=1e-12)


@pytest.mark.parametrize("t", [0.05, 0.5, 0.95])
def test_float32_agrees_with_float64(t):
    """float32 must agree with float64 within 1e-4 on 32x32 images at every noise level."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(20, 1, 32, 32, generator=g, dtype=torch.float64) * 2 - 1
    x = els.add_noise(images[:2], t, torch.randn(2, 1, 32, 32, generator=g, dtype=torch.float64))
    for kind, kw in [("IS", {}), ("ELS", {"patch_size": 5, "padding": "zeros"})]:
        want = build(kind, images, **kw).denoise(x, t)
        got = getattr(els, kind)(images.float(), **kw, device="cpu").denoise(x.float(), t)
        np.testing.assert_allclose(got.double(), want, atol=1e-4)


def test_device_and_dtype_defaults():
    """Machines default to float32, on CUDA when available else the CPU."""
    m = els.IS(torch.zeros(1, 1, 2, 2))
    assert m.dtype == torch.float32
    assert m.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("kind", ["IS", "ES", "LS", "ELS zeros", "ELS circular", "Wiener", "PCALocality"])
def test_eps_is_the_noise_implied_by_denoise(kind):
    """eps = (x_t - sqrt(abar) x0_hat) / sqrt(1 - abar) for every machine, with abar written
    out here (legacy cosine) rather than taken from els."""
    import math

    images = random_images(20, 1, 6, 6, seed=4)
    make = {"IS": lambda: els.IS(images, device="cpu", dtype=torch.float64),
            "ES": lambda: els.ES(images, device="cpu", dtype=torch.float64),
            "LS": lambda: els.LS(images, patch_size=3, device="cpu", dtype=torch.float64),
            "ELS zeros": lambda: els.ELS(images, patch_size=3, device="cpu", dtype=torch.float64),
            "ELS circular": lambda: els.ELS(images, patch_size=3, padding="circular", device="cpu",
                                            dtype=torch.float64),
            "Wiener": lambda: els.Wiener(images, device="cpu", dtype=torch.float64),
            "PCALocality": lambda: els.PCALocality(images, mask="column", threshold=0.2, device="cpu",
                                                   dtype=torch.float64)}[kind]
    machine = make()
    x = random_images(3, 1, 6, 6, seed=5)
    for t in (0.1, 0.6, 0.97):
        abar = math.cos(t / 1.008 * math.pi / 2) ** 2
        expected = (x - abar ** 0.5 * machine.denoise(x, t)) / (1 - abar) ** 0.5
        np.testing.assert_allclose(machine.eps(x, t), expected, rtol=1e-10, atol=1e-10)


def test_eps_of_a_class_conditional_machine_uses_the_label():
    """Fails if eps drops the label: the noise it implies must come from the class's images."""
    import math

    images = random_images(12, 1, 6, 6, seed=6)
    labels = torch.arange(12) % 3
    machine = els.ELS(images, labels, patch_size=3, device="cpu", dtype=torch.float64)
    only_class = els.ELS(images[labels == 1], patch_size=3, device="cpu", dtype=torch.float64)
    x, t = random_images(2, 1, 6, 6, seed=7), 0.5
    abar = math.cos(t / 1.008 * math.pi / 2) ** 2
    expected = (x - abar ** 0.5 * only_class.denoise(x, t)) / (1 - abar) ** 0.5
    np.testing.assert_allclose(machine.eps(x, t, label=1), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(machine.eps(x, t, label=torch.tensor([1, 1])), expected, rtol=1e-10, atol=1e-10)


def test_eps_passes_the_scale_on():
    """Fails if eps drops its scale keyword (patch_size= for ELS, threshold= for PCA-locality):
    the noise must be the one implied by denoise at that scale, not at the machine's own."""
    import math

    images = random_images(12, 1, 6, 6, seed=8)
    x, t = random_images(2, 1, 6, 6, seed=9), 0.5
    abar = math.cos(t / 1.008 * math.pi / 2) ** 2
    for machine, scale in ((els.ELS(images, patch_size=3, device="cpu", dtype=torch.float64), dict(patch_size=5)),
                           (els.PCALocality(images, mask="column", threshold=0.05, device="cpu",
                                            dtype=torch.float64), dict(threshold=0.5))):
        expected = (x - abar ** 0.5 * machine.denoise(x, t, **scale)) / (1 - abar) ** 0.5
        np.testing.assert_allclose(machine.eps(x, t, **scale), expected, rtol=1e-10, atol=1e-10)
        assert not np.allclose(machine.eps(x, t), expected)  # the scale matters here


def test_eps_is_refused_at_t_zero_only():
    """Fails if eps at t = 0 (abar = 1, no noise: division by sqrt(1 - abar) = 0) is not a
    ValueError, for a float t and for a batch with one zero time; just above 0 it is finite."""
    images = random_images(6, 1, 4, 4, seed=10)
    x = random_images(2, 1, 4, 4, seed=11)
    machine = els.IS(images, device="cpu", dtype=torch.float64)
    for t in (0.0, torch.tensor([0.5, 0.0], dtype=torch.float64)):
        with pytest.raises(ValueError, match="undefined at t = 0"):
            machine.eps(x, t)
        with pytest.raises(ValueError, match="undefined at t = 0"):
            els.machines.implied_noise(x, t, machine.denoise(x, t))
    assert torch.isfinite(machine.eps(x, 1e-3)).all()


def test_images_are_stored_in_the_machine_dtype():
    """Fails if the training images keep the dtype they were given: float64 images in a
    float32 machine (the default) must be held, and answered with, in float32."""
    images = random_images(5, 1, 4, 4, seed=12)  # float64
    machine = els.IS(images, device="cpu")
    assert machine.images.dtype == torch.float32
    torch.testing.assert_close(machine.images, images.float(), rtol=0, atol=0)
    out = machine.denoise(random_images(2, 1, 4, 4, seed=13).float(), 0.5)
    assert out.dtype == torch.float32


def test_repr_and_the_missing_label_message():
    """Fails if a machine's repr shows a patch size it does not have (IS) or hides one it has
    (LS), or if asking for an absent label does not list the labels present."""
    images = random_images(6, 1, 4, 5, seed=14)
    labels = torch.tensor([0, 2, 0, 2, 5, 5])
    assert repr(els.IS(images, device="cpu", dtype=torch.float64)) == "IS(6 images of (1, 4, 5))"
    ls = els.LS(images, patch_size=3, device="cpu", dtype=torch.float64)
    assert repr(ls) == "LS(6 images of (1, 4, 5), patch_size=3)"
    machine = els.IS(images, labels, device="cpu", dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^no training images with label 1; labels present: \[0, 2, 5\]$"):
        machine.denoise(random_images(1, 1, 4, 5, seed=15), 0.5, label=1)


def test_els_defaults_and_repr_and_refusals_of_images_and_labels():
    """Fails if ELS's default patch size is not 3 or its repr loses its settings; if a
    non-float training set is refused without naming what was given (its dtype, or its type
    when it is not a tensor); or if float, bool or list labels pass."""
    images = random_images(6, 1, 4, 5, seed=16)
    els_machine = els.ELS(images, device="cpu", dtype=torch.float64)
    assert els_machine.patch_size == 3
    assert repr(els_machine) == ("ELS(6 images of (1, 4, 5), patch_size=3, padding='zeros', "
                                 "train_patches='valid')")
    with pytest.raises(TypeError, match=r"got torch\.uint8; convert"):
        els.IS((images * 100).to(torch.uint8))
    with pytest.raises(TypeError, match=r"got list; convert"):
        els.IS(images.tolist())
    for labels in (torch.zeros(6), torch.zeros(6, dtype=torch.bool), [0, 1, 0, 1, 0, 1]):
        with pytest.raises(TypeError, match="labels must be an integer tensor"):
            els.IS(images, labels, device="cpu", dtype=torch.float64)

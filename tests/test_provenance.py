"""Provenance: nearest training images, translates and patches, against brute force."""
import itertools

import numpy as np
import pytest
import torch

from els import provenance
from reference import _abar, _patch, _signature
from reference import random_images as _rand


def test_nearest_neighbours_matches_brute_force():
    """Nearest training image and its distance, as in the memorisation figures."""
    images, samples = _rand(30, 2, 5, 4), _rand(6, 2, 5, 4, seed=1)
    samples[2] = images[17]
    dist, index = provenance.nearest_neighbours(samples, images, chunk=7)
    brute = ((samples[:, None] - images[None]) ** 2).flatten(2).sum(-1).sqrt()
    np.testing.assert_allclose(dist, brute.min(1).values, atol=1e-9)
    assert index.tolist() == brute.argmin(1).tolist()
    assert index[2] == 17 and dist[2] < 1e-9


@pytest.mark.parametrize("channels,height,width", [(1, 6, 6), (3, 5, 7)])
def test_nearest_translates_matches_an_explicit_search_over_all_shifts(channels, height, width):
    """The FFT cross-correlation must find the same (image, shift, distance) as rolling every
    training image by every shift; torch.roll(images[i], shift) must be the match."""
    images, samples = _rand(9, channels, height, width), _rand(4, channels, height, width, seed=2)
    samples[1] = torch.roll(images[5], (2, 3), dims=(-2, -1)) + 1e-3 * samples[1]
    dist, index, shift = provenance.nearest_translates(samples, images, chunk=4)
    for b in range(len(samples)):
        best = min((float((samples[b] - torch.roll(images[i], (r, c), dims=(-2, -1))).norm()), i, r, c)
                   for i in range(len(images)) for r in range(height) for c in range(width))
        assert abs(dist[b].item() - best[0]) < 1e-9
        signed = [(best[2] + height // 2) % height - height // 2, (best[3] + width // 2) % width - width // 2]
        assert (index[b].item(), *shift[b].tolist()) == (best[1], *signed)
        assert all(-(n // 2) <= s < n - n // 2 for s, n in zip(shift[b].tolist(), (height, width)))
        rolled = torch.roll(images[index[b]], tuple(shift[b].tolist()), dims=(-2, -1))
        assert abs(float((samples[b] - rolled).norm()) - dist[b].item()) < 1e-9
    assert index[1] == 5 and shift[1].tolist() == [2, 3 if width > 6 else -3]


# --------------------------------------------------------------------------- patch sources
def _allowed(kind, kw, r, c, H, W, h):
    """Dictionary positions of pixel (r, c) in each local machine (written from the definitions)."""
    if kind == "LS":
        return [(r, c)]
    if kw["padding"] == "zeros":
        return [(v, w) for v in range(H) for w in range(W) if _signature(v, w, H, W, h) == _signature(r, c, H, W, h)]
    if kw.get("train_patches") == "wrap":
        return [(v, w) for v in range(H) for w in range(W)]
    return [(v, w) for v in range(h, H - h) for w in range(h, W - h)]  # circular ELS, non-wrapping patches


MACHINES = [("LS", {}), ("ELS", {"padding": "zeros"}), ("ELS", {"padding": "circular"}),
            ("ELS", {"padding": "circular", "train_patches": "wrap"})]


@pytest.mark.parametrize("kind,kw", MACHINES)
def test_patch_sources_matches_brute_force(kind, kw):
    """The source map of the mosaic figures: for every pixel, the training image and position
    of the nearest P x P patch in the machine's own dictionary, and its distance."""
    import els

    images, x = _rand(3, 2, 5, 6), _rand(2, 2, 5, 6, seed=3)
    machine = getattr(els, kind)(images.float(), patch_size=3, device="cpu", **kw)
    index, position, dist = provenance.patch_sources(machine, x.float())
    mode = "circular" if kw.get("padding") == "circular" else "zeros"
    xs, ims = x.numpy(), images.numpy()
    for b, r, c in itertools.product(range(2), range(5), range(6)):
        q = _patch(xs[b], r, c, 3, mode)
        best = min((float(np.sqrt(np.sum((q - _patch(ims[n], v, w, 3, mode)) ** 2))), n, v, w)
                   for n in range(3) for v, w in _allowed(kind, kw, r, c, 5, 6, 1))
        assert (index[b, r, c].item(), *position[b, r, c].tolist()) == best[1:]
        assert abs(dist[b, r, c].item() - best[0]) < 1e-5


def test_patch_sources_finds_copied_patches_exactly():
    """A sample assembled from training pixels has distance 0 where its patch is a copy."""
    images = _rand(4, 1, 8, 8)
    x = images[2:3].clone()
    import els

    index, position, dist = provenance.patch_sources(els.ELS(images, padding="circular", train_patches="wrap",
                                                             device="cpu", dedup=False), x)
    assert (index == 2).all() and dist.max() == 0
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    assert torch.equal(position[0, ..., 0], rows) and torch.equal(position[0, ..., 1], cols)


# --------------------------------------------------------------------------- top patches
@pytest.mark.parametrize("kind,kw", MACHINES)
def test_top_patches_is_the_heaviest_entry_of_the_machine(kind, kw):
    """At a moderate noise level: the returned patch is the brute-force argmax of the weights
    over the machine's own dictionary, and its weight is the softmax weight. Near t = 0 the
    machine's output at each pixel is the centre of that patch."""
    import els

    images, x = _rand(5, 1, 6, 6), _rand(2, 1, 6, 6, seed=3)
    machine = getattr(els, kind)(images, patch_size=3, device="cpu", dtype=torch.float64, **kw)
    t = 0.3
    ab = _abar(t)
    index, position, weight = machine.top_patches(x, t)
    h, H, W = 1, 6, 6
    mode = "circular" if kw.get("padding") == "circular" else "zeros"
    xs, ims = x.numpy(), images.numpy()
    for b, r, c in itertools.product(range(2), range(H), range(W)):
        allowed = _allowed(kind, kw, r, c, H, W, h)
        q = _patch(xs[b], r, c, 3, mode)
        logits = torch.tensor([[-np.sum((q - ab**0.5 * _patch(ims[n], v, w, 3, mode)) ** 2) / (2 * (1 - ab))
                                for (v, w) in allowed] for n in range(5)], dtype=torch.float64)
        n, k = divmod(int(logits.argmax()), len(allowed))
        assert (index[b, r, c].item(), tuple(position[b, r, c].tolist())) == (n, allowed[k])
        assert abs(weight[b, r, c].item() - logits.flatten().softmax(0).max().item()) < 1e-9
    # low noise: the output pixel is the centre of the heaviest patch
    t0 = 0.02
    index, position, weight = machine.top_patches(x, t0)
    out = machine.denoise(x, t0)
    assert (weight > 0.99).float().mean() > 0.5
    centre = images[index, 0, position[..., 0], position[..., 1]]
    # the other patches hold 1 - weight in total and differ from the centre by at most 2
    assert ((out[:, 0] - centre).abs() <= 2 * (1 - weight) + 1e-9).all()


def test_top_patches_refuses_whole_image_machines():
    import els
    m = els.IS(_rand(3, 1, 5, 5), device="cpu")
    with pytest.raises(ValueError, match="LS or ELS"):
        m.top_patches(_rand(1, 1, 5, 5).float(), 0.5)


def test_top_patches_of_a_class_conditional_machine_index_the_whole_training_set():
    """With labels, the machine searches one class, but indices point into machine.images."""
    import els

    images = _rand(6, 1, 5, 5).float()
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    machine = els.ELS(images, labels, patch_size=3, padding="zeros", device="cpu")
    index, _, weight = machine.top_patches(images[[3, 4]], 0.0, label=torch.tensor([1, 0]))
    assert (index[0] == 3).all() and (index[1] == 4).all() and (weight == 1).all()


def test_top_patches_counts_identical_windows_as_one_entry():
    """With de-duplication, identical training windows are one entry: its weight is theirs
    together, and its index is the first of them. Image 1 repeats image 0 here, so each window
    of image 0 weighs twice its own softmax weight and image 1 is never named."""
    import els

    images = _rand(3, 1, 5, 5)
    images[1] = images[0]
    x = _rand(1, 1, 5, 5, seed=4)
    t, ab = 0.4, _abar(0.4)
    machine = els.ELS(images, patch_size=3, padding="circular", train_patches="wrap", device="cpu",
                      dtype=torch.float64)
    index, position, weight = machine.top_patches(x, t)
    spots = list(itertools.product(range(5), range(5)))
    for r, c in spots:
        q = _patch(x[0].numpy(), r, c, 3, "circular")
        logits = torch.tensor([[-np.sum((q - ab**0.5 * _patch(images[n].numpy(), v, w, 3, "circular")) ** 2)
                                / (2 * (1 - ab)) for v, w in spots] for n in range(3)], dtype=torch.float64)
        w = logits.flatten().softmax(0).view(3, -1)
        merged = torch.stack([w[0] + w[1], w[2]])  # image 1's windows are image 0's
        n, k = divmod(int(merged.argmax()), len(spots))
        assert (index[0, r, c].item(), tuple(position[0, r, c].tolist())) == (2 * n, spots[k])
        assert abs(weight[0, r, c].item() - merged.max().item()) < 1e-9


def test_nearest_two_and_copies_against_a_brute_force():
    """Fails if the two distances are not the two smallest, the index is not the nearest image's,
    or the copy rule's threshold sits on the wrong side of d1 = d2 / 3."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 1, 3, 3, generator=g, dtype=torch.float64) * 2 - 1
    near = images[2:3] + 0.01  # almost training image 2
    samples = torch.cat([near, torch.rand(3, 1, 3, 3, generator=g, dtype=torch.float64) * 2 - 1])
    d1, d2, index = provenance.nearest_two(samples, images)
    for b in range(len(samples)):
        dist = sorted(float((samples[b] - images[k]).norm()) for k in range(5))
        assert abs(float(d1[b]) - dist[0]) < 1e-12 and abs(float(d2[b]) - dist[1]) < 1e-12
        assert abs(float((samples[b] - images[int(index[b])]).norm()) - dist[0]) < 1e-12
    copied, idx = provenance.copies(samples, images)
    assert bool(copied[0]) and int(idx[0]) == 2
    assert copied.tolist() == (d1 <= d2 / 3).tolist()
    ratio = float(d1[1] / d2[1])  # the boundary, from both sides
    assert bool(provenance.copies(samples[1:2], images, ratio=ratio + 1e-9)[0][0])
    assert not bool(provenance.copies(samples[1:2], images, ratio=ratio - 1e-9)[0][0])
    with pytest.raises(ValueError, match="at least two"):
        provenance.nearest_two(samples, images[:1])


def test_copies_counts_an_exact_copy_as_a_copy_on_the_boundary():
    """Fails if the copy rule is strict (``d1 < ratio * d2``) instead of ``d1 <= ratio * d2``: a
    sample identical to a training image that appears twice in the set (d1 = d2 = 0), or identical
    to one image with ratio 0 (d1 = 0 = 0 * d2), sits exactly on the threshold and is a copy."""
    images = torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1, 1)   # image 0 duplicated as image 1
    copied, index = provenance.copies(images[:1].clone(), images)
    assert bool(copied[0]) and int(index[0]) in (0, 1)
    copied, index = provenance.copies(images[2:].clone(), images, ratio=0.0)
    assert bool(copied[0]) and int(index[0]) == 2
    far = torch.tensor([0.5]).view(1, 1, 1, 1)                 # halfway: d1 = d2, never a copy below ratio 1
    assert not bool(provenance.copies(far, images, ratio=0.0)[0][0])


def test_nearest_two_works_with_exactly_two_training_images():
    """Fails if two training images, the fewest the rule needs, are refused: d1 and d2 are then
    the distances to the nearer and the farther image."""
    images = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    d1, d2, index = provenance.nearest_two(torch.tensor([0.9, 0.2]).view(2, 1, 1, 1), images)
    assert torch.allclose(d1, torch.tensor([0.1, 0.2], dtype=torch.float64))
    assert torch.allclose(d2, torch.tensor([0.9, 0.8], dtype=torch.float64)) and index.tolist() == [1, 0]

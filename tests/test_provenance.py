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
def _brute_sources(x, images, P, padding, same_location):
    h = P // 2
    pad = (lambda z: torch.nn.functional.pad(z, (h, h, h, h))) if padding == "zeros" else \
        (lambda z: torch.nn.functional.pad(z, (h, h, h, h), mode="circular"))
    xp, ip = pad(x), pad(images)
    B, _, H, W = x.shape
    index = torch.zeros(B, H, W, dtype=torch.long)
    position = torch.zeros(B, H, W, 2, dtype=torch.long)
    for b, r, c in itertools.product(range(B), range(H), range(W)):
        q = xp[b, :, r:r + P, c:c + P]
        spots = [(r, c)] if same_location else list(itertools.product(range(H), range(W)))
        best = min((float(((q - ip[j, :, v:v + P, w:w + P]) ** 2).sum()), j, v, w)
                   for j in range(len(images)) for v, w in spots)
        index[b, r, c], position[b, r, c] = best[1], torch.tensor(best[2:])
    return index, position


@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("same_location", [False, True])
def test_patch_sources_matches_brute_force(padding, same_location):
    """The source map of the mosaic figures: for every pixel, the training image and position
    of the nearest P x P patch (anywhere, or at the same location for LS)."""
    images, x = _rand(3, 2, 5, 6).float(), _rand(2, 2, 5, 6, seed=3).float()
    index, position, dist = provenance.patch_sources(x, images, patch_size=3, padding=padding,
                                                   same_location=same_location, chunk_elements=50)
    want_index, want_position = _brute_sources(x, images, 3, padding, same_location)
    assert torch.equal(index, want_index)
    assert torch.equal(position, want_position)
    assert dist.shape == (2, 5, 6) and (dist >= 0).all()


def test_patch_sources_finds_copied_patches_exactly():
    """A sample assembled from training pixels has distance 0 where its patch is a copy."""
    images = _rand(4, 1, 8, 8)
    x = images[2:3].clone()
    index, position, dist = provenance.patch_sources(x, images, patch_size=3)
    assert (index == 2).all() and dist.max() < 1e-2  # float32 |q|^2 - 2qk + |k|^2 cancellation
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    assert torch.equal(position[0, ..., 0], rows) and torch.equal(position[0, ..., 1], cols)


# --------------------------------------------------------------------------- top patches
@pytest.mark.parametrize("kind,kw", [("LS", {}), ("ELS", {"padding": "zeros"}),
                                     ("ELS", {"padding": "circular"})])
def test_top_patches_is_the_heaviest_entry_of_the_machine(kind, kw):
    """At a moderate noise level: the returned patch is the brute-force argmax of the weights
    over the machine's own dictionary, and its weight is the softmax weight. Near t = 0 the
    machine's output at each pixel is the centre of that patch."""
    import els

    images, x = _rand(5, 1, 6, 6), _rand(2, 1, 6, 6, seed=3)
    machine = getattr(els, kind)(images, patch_size=3, device="cpu", dtype=torch.float64, **kw)
    t = 0.3
    ab = _abar(t)
    index, position, weight = provenance.top_patches(machine, x, t)
    h, H, W = 1, 6, 6
    mode = "circular" if kw.get("padding") == "circular" else "zeros"
    xs, ims = x.numpy(), images.numpy()
    for b, r, c in itertools.product(range(2), range(H), range(W)):
        if kind == "LS":
            allowed = [(r, c)]
        elif kw["padding"] == "zeros":
            allowed = [(v, w) for v in range(H) for w in range(W)
                       if _signature(v, w, H, W, h) == _signature(r, c, H, W, h)]
        else:  # circular ELS, non-wrapping training patches (the paper's default)
            allowed = [(v, w) for v in range(h, H - h) for w in range(h, W - h)]
        q = _patch(xs[b], r, c, 3, mode)
        logits = torch.tensor([[-np.sum((q - ab**0.5 * _patch(ims[n], v, w, 3, mode)) ** 2) / (2 * (1 - ab))
                                for (v, w) in allowed] for n in range(5)], dtype=torch.float64)
        n, k = divmod(int(logits.argmax()), len(allowed))
        assert (index[b, r, c].item(), tuple(position[b, r, c].tolist())) == (n, allowed[k])
        assert abs(weight[b, r, c].item() - logits.flatten().softmax(0).max().item()) < 1e-9
    # low noise: the output pixel is the centre of the heaviest patch
    t0 = 0.02
    index, position, weight = provenance.top_patches(machine, x, t0)
    out = machine.denoise(x, t0)
    assert (weight > 0.99).float().mean() > 0.5
    centre = images[index, 0, position[..., 0], position[..., 1]]
    # the other patches hold 1 - weight in total and differ from the centre by at most 2
    assert ((out[:, 0] - centre).abs() <= 2 * (1 - weight) + 1e-9).all()


def test_top_patches_refuses_whole_image_machines():
    import els
    m = els.IS(_rand(3, 1, 5, 5), device="cpu")
    with pytest.raises(ValueError, match="LS or ELS"):
        provenance.top_patches(m, _rand(1, 1, 5, 5), 0.5)

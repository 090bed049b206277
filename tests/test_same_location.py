"""The same-location path: masked distances to whole training images at the same position,
against a float64 brute force and the identities of its masks (book appendix, §A.4)."""
import numpy as np
import pytest
import torch

import els
from els.engine.same_location import Box, same_location_average


def _data(n=6, c=2, h=4, w=5, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, h, w, generator=g, dtype=torch.float64) * 2 - 1
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    return images, x


def _levels(t, b):
    ab = els.alpha_bar(torch.full((b,), t, dtype=torch.float64))
    return ab.sqrt(), 1 - ab


def _brute(x, images, a, s2, mask):
    """x0[b, m] = sum_k softmax_k(-sum_n M[n, m] (x[b, n] - a x_k[n])^2 / (2 s2)) x_k[m], one loop per (b, m)."""
    B, D = len(x), x[0].numel()
    xf, kf, M = x.reshape(B, D), images.reshape(len(images), D), mask.to_dense()
    out = torch.empty(B, D, dtype=torch.float64)
    for b in range(B):
        for m in range(D):
            d = ((xf[b] - a[b] * kf) ** 2 * M[:, m]).sum(1)
            out[b, m] = (torch.softmax(-d / (2 * s2[b]), 0) * kf[:, m]).sum()
    return out.reshape(x.shape)


def _box_matrix(c, h, w, p):
    """The LS window as a (D, D) matrix: input (channel, pixel) n is seen by output m when the
    pixel of n lies in the P x P window around the pixel of m (every channel)."""
    r, q = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    near = ((r[:, None] - r[None]).abs() <= p // 2) & ((q[:, None] - q[None]).abs() <= p // 2)
    return near.double().repeat(c, c)


@pytest.mark.parametrize("t", [0.1, 0.6])
def test_random_sparse_mask_matches_brute_force(t):
    images, x = _data()
    D = x[0].numel()
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(D, D, generator=g) < 0.3).double() + torch.eye(D, dtype=torch.float64)
    a, s2 = _levels(t, len(x))
    want = _brute(x, images, a, s2, mask)
    for m in (mask, mask.to_sparse()):
        for chunk_bytes in (8, 2**20):  # one training image per chunk, and all at once
            got = same_location_average(x, images, a, s2, m, chunk_bytes).result()
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_box_equals_its_matrix_and_the_ls_machine():
    """The box filter and the same window written as a matrix give one answer, the LS machine's."""
    images, x = _data()
    a, s2 = _levels(0.4, len(x))
    box = same_location_average(x, images, a, s2, Box((3, 3), (1, 1, 1, 1), "zeros"), 2**20).result()
    matrix = same_location_average(x, images, a, s2, _box_matrix(2, 4, 5, 3).to_sparse(), 2**20).result()
    ls = els.LS(images, patch_size=3, device="cpu", dtype=torch.float64).denoise(x, 0.4)
    np.testing.assert_allclose(matrix, box, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ls, box, rtol=1e-10, atol=1e-12)


def test_all_ones_mask_is_the_ideal_score_and_identity_is_per_coordinate():
    images, x = _data()
    D = x[0].numel()
    a, s2 = _levels(0.5, len(x))
    ones = same_location_average(x, images, a, s2, torch.ones(D, D, dtype=torch.float64), 2**20).result()
    ideal = els.IS(images, device="cpu", dtype=torch.float64).denoise(x, 0.5)
    np.testing.assert_allclose(ones, ideal, rtol=1e-10, atol=1e-12)
    eye = same_location_average(x, images, a, s2, torch.eye(D, dtype=torch.float64), 2**20).result()
    xf, kf = x.reshape(len(x), D), images.reshape(len(images), D)
    w = torch.softmax(-(xf[:, None] - a[:, None, None] * kf[None]) ** 2 / (2 * s2[:, None, None]), 1)
    np.testing.assert_allclose(eye, (w * kf[None]).sum(1).reshape(x.shape), rtol=1e-10, atol=1e-12)


def test_top_index_is_the_heaviest_training_image():
    images, x = _data()
    D = x[0].numel()
    a, s2 = _levels(0.3, len(x))
    mask = _box_matrix(2, 4, 5, 3)
    acc = same_location_average(x, images, a, s2, mask, 8, top=True)
    xf, kf = x.reshape(len(x), D), images.reshape(len(images), D)
    d = ((xf[:, None] - a[:, None, None] * kf[None]) ** 2) @ mask          # (B, N, D)
    logits = -d / (2 * s2[:, None, None])
    assert torch.equal(acc.top_index, logits.argmax(1))
    np.testing.assert_allclose(acc.top_weight(), torch.softmax(logits, 1).amax(1), rtol=1e-10)


def test_a_mask_of_the_wrong_shape_is_refused():
    images, x = _data()
    a, s2 = _levels(0.3, len(x))
    with pytest.raises(ValueError, match=r"\(C\*H\*W, C\*H\*W\) = \(40, 40\)"):
        same_location_average(x, images, a, s2, torch.eye(20, dtype=torch.float64), 2**20)

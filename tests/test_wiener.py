"""The Wiener machine against its closed form with an explicit solve, in float64, and its limits."""
import numpy as np
import pytest
import torch

import els

F64 = dict(device="cpu", dtype=torch.float64)


def _data(n=40, c=1, h=3, w=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c * h * w, c * h * w, generator=g, dtype=torch.float64)  # correlated coordinates
    images = (torch.randn(n, c * h * w, generator=g, dtype=torch.float64) @ mix * 0.3).tanh().view(n, c, h, w)
    x = torch.randn(4, c, h, w, generator=g, dtype=torch.float64)
    return images, x


def _explicit(images, x, t, covariance_of=None):
    """mu + Sigma a (a^2 Sigma + s2 I)^{-1} (x - a mu), Sigma with divisor N - 1 (of
    ``covariance_of`` when given, else of ``images``), by a linear solve."""
    flat = images.flatten(1)
    mu = flat.mean(0)
    sigma = torch.cov((images if covariance_of is None else covariance_of).flatten(1).T, correction=1)
    ab = float(els.alpha_bar(t))
    a, s2 = ab ** 0.5, 1 - ab
    rhs = (x.flatten(1) - a * mu).T
    solved = torch.linalg.solve(ab * sigma + s2 * torch.eye(len(mu), dtype=torch.float64), rhs)
    return (mu[:, None] + a * sigma @ solved).T.reshape(x.shape)


@pytest.mark.parametrize("t", [0.05, 0.5, 0.95])
@pytest.mark.parametrize("c", [1, 2])
def test_equals_the_explicit_posterior_mean(t, c):
    images, x = _data(c=c)
    got = els.Wiener(images, **F64).denoise(x, t)
    np.testing.assert_allclose(got, _explicit(images, x, t), rtol=1e-9, atol=1e-10)


def test_limits_and_one_image():
    """Towards high noise the output tends to the mean image (at t = 1, abar is 1.5e-4, not 0:
    the distance to the mean is bounded by the largest shrinkage); no noise with a full-rank
    covariance gives x_t back; a single training image (covariance 0) gives that image."""
    images, x = _data(n=60)
    m = els.Wiener(images, **F64)
    mu = images.mean(0)
    lam_max = torch.linalg.eigvalsh(torch.cov(images.flatten(1).T)).max()
    ab = float(els.alpha_bar(1.0))
    bound = ab * lam_max / (ab * lam_max + 1 - ab) / ab ** 0.5 * (x - ab ** 0.5 * mu).flatten(1).norm(dim=1)
    distance = (m.denoise(x, 1.0) - mu).flatten(1).norm(dim=1)
    assert (distance <= bound + 1e-12).all() and (bound < 0.1).all()
    np.testing.assert_allclose(m.denoise(x, 0.0), x, atol=1e-6)
    one = els.Wiener(images[:1], **F64)
    for t in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(one.denoise(x, t), images[:1].expand_as(x), atol=1e-12)


def test_affine_in_x_t_and_eps_follows_its_formula():
    images, x = _data()
    m = els.Wiener(images, **F64)
    y = torch.randn_like(x)
    mid = m.denoise((x + y) / 2, 0.4)
    np.testing.assert_allclose(mid, (m.denoise(x, 0.4) + m.denoise(y, 0.4)) / 2, atol=1e-12)
    ab = float(els.alpha_bar(0.4))
    np.testing.assert_allclose(m.eps(x, 0.4), (x - ab ** 0.5 * m.denoise(x, 0.4)) / (1 - ab) ** 0.5, atol=1e-12)


def test_class_conditional_uses_each_class_statistics():
    images, x = _data(n=60)
    labels = torch.arange(60) % 3
    m = els.Wiener(images, labels, **F64)
    got = m.denoise(x, 0.3, label=torch.tensor([0, 1, 2, 1]))
    for b, lab in enumerate([0, 1, 2, 1]):
        want = _explicit(images[labels == lab], x[b:b + 1], 0.3)
        np.testing.assert_allclose(got[b:b + 1], want, rtol=1e-9, atol=1e-10)


def test_global_covariance_with_each_class_mean():
    """covariance="global": each class's mean with the covariance of every image (about their
    own mean), not the class's; without labels it is the plain machine."""
    images, x = _data(n=60)
    labels = torch.arange(60) % 3
    m = els.Wiener(images, labels, covariance="global", **F64)
    got = m.denoise(x, 0.3, label=torch.tensor([0, 1, 2, 1]))
    for b, lab in enumerate([0, 1, 2, 1]):
        want = _explicit(images[labels == lab], x[b:b + 1], 0.3, covariance_of=images)
        np.testing.assert_allclose(got[b:b + 1], want, rtol=1e-9, atol=1e-10)
        per_class = _explicit(images[labels == lab], x[b:b + 1], 0.3)
        assert (got[b:b + 1] - per_class).abs().max() > 1e-3, "differs from the per-class covariance"
    np.testing.assert_allclose(els.Wiener(images, covariance="global", **F64).denoise(x, 0.3),
                               _explicit(images, x, 0.3), rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="covariance must be one of"):
        els.Wiener(images, labels, covariance="pooled")


def test_float32_agrees_with_float64_and_no_patches():
    images, x = _data(c=2)
    want = els.Wiener(images, **F64).denoise(x, 0.5)
    got = els.Wiener(images.float(), device="cpu").denoise(x.float(), 0.5)
    np.testing.assert_allclose(got.double(), want, atol=1e-5)
    with pytest.raises(ValueError, match="no patch size"):
        els.Wiener(images, **F64).denoise(x, 0.5, patch_size=3)


def test_two_images_use_the_divisor_n_minus_one():
    """Fails if the covariance divisor is not N - 1 for N = 2 (max(2, N - 1) would halve it):
    two images against the explicit posterior with torch.cov(correction=1)."""
    images, x = _data(n=2)
    for t in (0.3, 0.7):
        np.testing.assert_allclose(els.Wiener(images, **F64).denoise(x, t), _explicit(images, x, t),
                                   rtol=1e-9, atol=1e-10)


def test_float32_machine_keeps_the_statistics_in_float64_at_no_noise():
    """Fails if a float32 machine's mean, covariance and eigendecomposition are computed in
    float32: with 3 images of 9 pixels the covariance has rank 2, and at t = 0 the estimate must
    be x_t projected onto the images' affine span (the module docstring's g = 0 off the span).
    A float32 eigendecomposition leaves null eigenvalues of about 1e-8, far above s2 = 1e-12,
    whose gain is then near 1 instead of 0."""
    images, x = _data(n=3)
    images = images.float().double()  # exactly what the float32 machine holds
    flat = images.flatten(1)
    mu = flat.mean(0)
    q, _ = torch.linalg.qr((flat - mu).T)  # (9, 3): an orthonormal basis holding the span
    q = q[:, :2]  # the centred images span 2 dimensions
    want = mu + ((x.flatten(1) - mu) @ q) @ q.T
    got = els.Wiener(images.float(), device="cpu").denoise(x.float(), 0.0)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.double().flatten(1), want, atol=1e-3)
    assert (x.flatten(1) - want).norm(dim=1).min() > 0.5  # x_t itself is far from the span

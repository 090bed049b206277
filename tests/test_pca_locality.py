"""PCA-locality against a float64 brute force written from its definition, its masks against
their rules, and its identities (book chapter "Where ELS stands")."""
import numpy as np
import pytest
import torch

import els
from els.machines.pca_locality import mask_width

F64 = dict(device="cpu", dtype=torch.float64)


def _data(n=30, c=1, h=3, w=3, seed=0, labels=False):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c * h * w, c * h * w, generator=g, dtype=torch.float64)
    images = (torch.randn(n, c * h * w, generator=g, dtype=torch.float64) @ mix * 0.3).tanh().view(n, c, h, w)
    x = torch.randn(3, c, h, w, generator=g, dtype=torch.float64)
    y = torch.randint(3, (n,), generator=g) if labels else None
    return images, x, y


def _gain(images, t):
    """Wiener gain by an explicit solve: a^2 Sigma (a^2 Sigma + s2 I)^{-1}."""
    sigma = torch.cov(images.flatten(1).T, correction=1)
    ab = float(els.alpha_bar(t))
    eye = torch.eye(len(sigma), dtype=torch.float64)
    return ab * sigma @ torch.linalg.inv(ab * sigma + (1 - ab) * eye)


def _brute(images, x, t, mask):
    """Every output coordinate's own softmax over training images, with explicit loops."""
    ab = float(els.alpha_bar(t))
    a, s2 = ab ** 0.5, 1 - ab
    flat, q = images.flatten(1), x.flatten(1)
    out = torch.empty_like(q)
    for b in range(len(q)):
        for m in range(q.shape[1]):
            d = torch.tensor([sum(float(mask[n, m]) * (float(q[b, n]) - a * float(flat[k, n])) ** 2
                                  for n in range(q.shape[1])) for k in range(len(flat))], dtype=torch.float64)
            w = torch.softmax(-d / (2 * s2), 0)
            out[b, m] = (w * flat[:, m]).sum()
    return out.view_as(x)


def test_gain_equals_the_explicit_solve():
    images, _, _ = _data()
    for t in (0.1, 0.6):
        np.testing.assert_allclose(els.Wiener(images, **F64).gain(t), _gain(images, t), atol=1e-10)


@pytest.mark.parametrize("rule", ["peers", "column"])
def test_masks_follow_their_rules(rule):
    images, _, _ = _data(c=2, h=2, w=2)
    m = els.PCALocality(images, mask=rule, **F64)
    t, thr = 0.5, 0.1
    gain = _gain(images, t)
    if rule == "peers":
        ratios = gain / gain.diagonal()[:, None]
        expected = (ratios.abs() >= thr * ratios.abs().max()).double()
    else:
        expected = torch.stack([(gain[:, j].abs() >= thr * gain[:, j].abs().max()).double()
                                for j in range(len(gain))], 1)
    np.testing.assert_array_equal(m.mask(t, thr), expected)
    assert 0 < expected.sum() < expected.numel()  # the threshold removes some inputs, not all


def test_peers_threshold_zero_is_the_signed_ratio_and_the_diagonal_guard():
    images, _, _ = _data()
    images[:, :, 0, 0] = 0.25  # a zero-variance pixel: its diagonal gain is 0 and is divided by 1
    m = els.PCALocality(images, mask="peers", **F64)
    gain = _gain(images, 0.4)
    divisor = gain.diagonal().clone()
    divisor[divisor.abs() < 1e-6] = 1
    np.testing.assert_allclose(m.mask(0.4, 0.0), gain / divisor[:, None], atol=1e-9)
    assert (m.mask(0.4, 0.0) < 0).any()


@pytest.mark.parametrize("rule,threshold", [("column", 0.2), ("peers", 0.05), ("peers", 0.0)])
@pytest.mark.parametrize("c", [1, 2])
def test_equals_the_brute_force(rule, threshold, c):
    images, x, _ = _data(n=12, c=c, h=2, w=3)
    machine = els.PCALocality(images, threshold=threshold, mask=rule, chunk_bytes=3 * 8 * c * 6 * 5, **F64)
    t = 0.45
    np.testing.assert_allclose(machine.denoise(x, t), _brute(images, x, t, machine.mask(t)), rtol=1e-9, atol=1e-11)


def test_threshold_zero_column_is_the_ideal_score_and_full_rank_noise_free_mask_is_the_identity():
    images, x, _ = _data(n=60)
    m = els.PCALocality(images, mask="column", **F64)
    np.testing.assert_allclose(m.denoise(x, 0.3, threshold=0.0), els.IS(images, **F64).denoise(x, 0.3), atol=1e-12)
    for rule in ("peers", "column"):
        np.testing.assert_array_equal(els.PCALocality(images, mask=rule, **F64).mask(0.0, 0.5), torch.eye(9))


def test_one_training_image_is_returned():
    images, x, _ = _data(n=1)
    for rule in ("peers", "column"):
        np.testing.assert_allclose(els.PCALocality(images, mask=rule, **F64).denoise(x, 0.5),
                                   images.expand_as(x), atol=1e-12)


def test_chunk_average_is_the_mean_of_per_chunk_posteriors():
    images, x, _ = _data(n=10)
    exact = els.PCALocality(images, threshold=0.1, **F64)
    one_chunk = els.PCALocality(images, threshold=0.1, aggregation="chunk_average", peers_chunk=512, **F64)
    np.testing.assert_allclose(one_chunk.denoise(x, 0.5), exact.denoise(x, 0.5), atol=1e-12)
    chunks = els.PCALocality(images, threshold=0.1, aggregation="chunk_average", peers_chunk=4, **F64)
    mask = exact.mask(0.5).to(torch.float64)
    ab = els.alpha_bar(torch.tensor([0.5], dtype=torch.float64))
    parts = [els.engine.same_location.same_location_average(x, images[i:i + 4], ab.sqrt().expand(3), (1 - ab).expand(3),
                                                     mask, 2**20).result() for i in (0, 4, 8)]
    np.testing.assert_allclose(chunks.denoise(x, 0.5), sum(parts) / 3, atol=1e-12)
    assert not torch.allclose(chunks.denoise(x, 0.5), exact.denoise(x, 0.5), atol=1e-3)


def test_class_conditional_uses_the_class_images_and_the_chosen_statistics():
    images, x, labels = _data(n=45, labels=True)
    for stats in ("global", "class"):
        m = els.PCALocality(images, labels, threshold=0.1, mask="column", mask_statistics=stats, **F64)
        alone = els.PCALocality(images[labels == 1], threshold=0.1, mask="column", **F64)
        mask = m.mask(0.5, label=1)
        expected = alone.mask(0.5) if stats == "class" else els.PCALocality(images, mask="column", **F64).mask(0.5, 0.1)
        np.testing.assert_array_equal(mask, expected)
        ab = els.alpha_bar(torch.tensor([0.5], dtype=torch.float64))
        direct = els.engine.same_location.same_location_average(x, images[labels == 1], ab.sqrt().expand(3),
                                                         (1 - ab).expand(3), mask, 2**20).result()
        np.testing.assert_allclose(m.denoise(x, 0.5, label=1), direct, atol=1e-12)


def test_mixed_noise_levels_in_one_batch_use_each_their_mask():
    images, x, _ = _data()
    m = els.PCALocality(images, threshold=0.1, **F64)
    t = torch.tensor([0.2, 0.7, 0.2], dtype=torch.float64)
    got = m.denoise(x, t)
    for i in range(3):
        np.testing.assert_allclose(got[i:i + 1], m.denoise(x[i:i + 1], float(t[i])), atol=1e-12)


def test_sampling_and_calibration_pass_the_threshold():
    images, _, _ = _data(n=20, h=4, w=4)
    m = els.PCALocality(images, mask="column", **F64)
    noise = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    schedule = [0.5, 0.0]  # low noise first: the last step (t = 1/2) uses 0.5
    got = els.sample(m, noise, steps=2, scales=schedule)
    x_half = els.sampling.predict(m, noise, 1.0, threshold=0.0)
    ab = float(els.alpha_bar(0.5))
    x = ab ** 0.5 * x_half[0] + (1 - ab) ** 0.5 * x_half[1]
    np.testing.assert_allclose(got, m.denoise(x, 0.5, threshold=0.5), atol=1e-12)

    class Reference:  # a "network" that is the machine at threshold 0.3
        def eps(self, x_t, t, label=None):
            return m.eps(x_t, t, threshold=0.3)

    result = els.calibrate(Reference(), lambda i, l: els.PCALocality(i, mask="column", **F64), (images, None),
                           candidates=[0.0, 0.3, 0.9], seeds=2, steps=3, progress=False)
    assert result.schedule == [0.3, 0.3, 0.3]
    with pytest.raises(ValueError, match="candidates="):
        els.calibrate(Reference(), lambda i, l: els.PCALocality(i, **F64), (images, None), seeds=1, steps=2,
                      progress=False)


def test_mask_width_counts_the_centre_column():
    mask = torch.zeros(2 * 25, 2 * 25)
    centre = 2 * 5 + 2
    mask[[0, 1, 2, 3, 25, 26, 27, 28, 29], centre] = 1
    assert mask_width(mask, 5, 5, channels=2) == pytest.approx(4.5 ** 0.5)


def test_errors_name_the_fix():
    images, x, _ = _data()
    with pytest.raises(ValueError, match="mask must be one of"):
        els.PCALocality(images, mask="rows")
    with pytest.raises(ValueError, match="aggregation must be one of"):
        els.PCALocality(images, aggregation="wssm")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        els.PCALocality(images, threshold=1.5)
    with pytest.raises(TypeError, match="threshold must be a float"):
        els.PCALocality(images, **F64).denoise(x, 0.5, threshold="0.1")
    with pytest.raises(TypeError):
        els.PCALocality(images, **F64).denoise(x, 0.5, patch_size=3)
    with pytest.raises(ValueError, match="top_patches needs LS or ELS"):
        els.PCALocality(images, **F64).top_patches(x, 0.5)


def test_the_per_output_rule_at_threshold_one_keeps_each_columns_largest_gain():
    """Fails if the per-output ("column") rule compares with > instead of >=: at threshold 1
    each output must keep the input(s) of its largest gain magnitude, never an empty column."""
    from els.machines.pca_locality import gain_mask

    g = torch.Generator().manual_seed(0)
    gain = torch.randn(6, 6, generator=g, dtype=torch.float64)
    mask = gain_mask(gain, 1.0, "column")
    expected = (gain.abs() == gain.abs().max(0, keepdim=True).values).double()
    assert torch.equal(mask, expected) and (mask.sum(0) >= 1).all()


def test_class_masks_on_a_subset_keep_the_whole_class_statistics():
    """Fails if restricting a class-statistics PCA-locality machine to a subset recomputes its
    class masks from the subset: the masks come from all of the class's training images."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(30, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    labels = torch.arange(30) % 2
    whole = els.PCALocality(images, labels, mask="column", mask_statistics="class", threshold=0.3,
                            device="cpu", dtype=torch.float64)
    part = whole.restricted(torch.arange(0, 30, 5))
    for label in (0, 1):
        assert torch.equal(part.mask(0.5, label=label), whole.mask(0.5, label=label))
    alone = els.PCALocality(images[torch.arange(0, 30, 5)], labels[torch.arange(0, 30, 5)], mask="column",
                            mask_statistics="class", threshold=0.3, device="cpu", dtype=torch.float64)
    assert not torch.equal(alone.mask(0.5, label=0), whole.mask(0.5, label=0))  # the check can fail


def test_mask_width_counts_one_channel_by_default():
    """Fails if mask_width's default ``channels`` is not 1: nine non-zero entries in the centre
    pixel's column of a one-channel 5 x 5 mask make a 3-pixel square, sqrt(9 / 1)."""
    mask = torch.zeros(25, 25)
    mask[[6, 7, 8, 11, 12, 13, 16, 17, 18], 2 * 5 + 2] = 1
    assert mask_width(mask, 5, 5) == pytest.approx(3.0)


def test_repr_names_the_image_shape_and_settings():
    """Fails if the repr loses the per-image shape (C, H, W) or the settings it names."""
    images = torch.zeros(3, 2, 5, 6, dtype=torch.float64)
    m = els.PCALocality(images, threshold=0.25, mask="column", device="cpu", dtype=torch.float64)
    assert repr(m) == "PCALocality(3 images of (2, 5, 6), threshold=0.25, mask='column', aggregation='exact')"


def test_peers_chunk_must_be_a_positive_int_and_one_averages_single_image_posteriors():
    """Fails if peers_chunk accepts 0, a bool or a float, or refuses 1. With chunks of one
    image every chunk's softmax has weight 1 on its image, so chunk_average returns the mean
    training image whatever x_t."""
    images, x, _ = _data(n=7)
    for bad in (0, -2, True, 2.0):
        with pytest.raises(ValueError, match="peers_chunk must be a positive int"):
            els.PCALocality(images, aggregation="chunk_average", peers_chunk=bad, **F64)
    m = els.PCALocality(images, threshold=0.1, aggregation="chunk_average", peers_chunk=1, **F64)
    np.testing.assert_allclose(m.denoise(x, 0.5), images.mean(0, keepdim=True).expand_as(x), atol=1e-12)


def test_exact_aggregation_ignores_peers_chunk():
    """Fails if the exact aggregation splits the training images into chunks of peers_chunk:
    with 10 images and peers_chunk = 3 it must equal the brute-force softmax over all 10."""
    images, x, _ = _data(n=10)
    m = els.PCALocality(images, threshold=0.1, mask="column", aggregation="exact", peers_chunk=3, **F64)
    np.testing.assert_allclose(m.denoise(x, 0.5), _brute(images, x, 0.5, m.mask(0.5)), rtol=1e-9, atol=1e-11)


def test_bad_mask_statistics_is_named():
    """Fails if the refusal of an unknown mask_statistics names another argument."""
    images, _, _ = _data()
    with pytest.raises(ValueError, match=r"^mask_statistics must be one of \('global', 'class'\), got 'pooled'$"):
        els.PCALocality(images, mask_statistics="pooled", **F64)


def test_class_statistics_without_labels_can_be_restricted():
    """Fails if restricting a mask_statistics="class" machine that has no labels asks for its
    labels' classes: it must work like the global machine, on the subset's images."""
    images, x, _ = _data(n=20)
    m = els.PCALocality(images, threshold=0.2, mask="column", mask_statistics="class", **F64)
    sub = m.restricted(torch.arange(0, 20, 2))
    np.testing.assert_array_equal(sub.mask(0.5), m.mask(0.5))
    np.testing.assert_allclose(sub.denoise(x, 0.5), _brute(images[::2], x, 0.5, m.mask(0.5)), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("rule", ["peers", "column"])
def test_float32_agrees_with_float64(rule):
    """Fails if a float32 machine cannot build its float64 mask (the gain's basis must be cast
    to float64) or returns another dtype: it must match the float64 machine on the same
    (float32-rounded) images."""
    images, x, _ = _data(n=12)
    images, x = images.float(), x.float()
    m32 = els.PCALocality(images, threshold=0.1, mask=rule, device="cpu")
    m64 = els.PCALocality(images.double(), threshold=0.1, mask=rule, **F64)
    np.testing.assert_array_equal(m32.mask(0.5), m64.mask(0.5))
    got = m32.denoise(x, 0.5)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.double(), m64.denoise(x.double(), 0.5), atol=1e-5)


def test_the_mask_cache_keeps_the_last_few_noise_levels():
    """Fails if the mask cache grows past MASK_CACHE masks (each D x D float64) or drops the
    most recent ones instead of the oldest: after six noise levels it holds the last four."""
    from els.machines.pca_locality import MASK_CACHE

    images, x, _ = _data(n=8)
    m = els.PCALocality(images, threshold=0.1, mask="column", **F64)
    times = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    for t in times:
        m.denoise(x, t)
    assert MASK_CACHE == 4 and len(m._masks) == MASK_CACHE
    kept = sorted(key[1] for key in m._masks)  # keys are (a, s2, threshold, label)
    want = sorted(float(1 - els.alpha_bar(t)) for t in times[-MASK_CACHE:])
    np.testing.assert_allclose(kept, want, atol=1e-9)


def test_a_global_mask_machine_restricts_without_per_class_statistics():
    """Fails if restricting a labelled machine with global mask statistics computes every
    class's mean and covariance (one D x D eigendecomposition per class) that it never uses:
    only the statistics of all images (key None) are computed and handed to the subset."""
    images, x, labels = _data(n=24, labels=True)
    m = els.PCALocality(images, labels, threshold=0.2, mask="column", **F64)
    sub = m.restricted(torch.arange(0, 24, 3))
    assert set(m._statistics_of) == {None} and set(sub._statistics_of) == {None}
    np.testing.assert_array_equal(sub.mask(0.5, label=1), m.mask(0.5))


def test_peers_rule_on_a_hand_computed_gain():
    """Fails if the peers' rule scales the cut by threshold / max instead of threshold * max,
    compares with > (threshold 1 must keep the largest ratio), or returns anything but 0/1
    float64. Row n divided by G[n, n]: rows [0.1, 0.5] / 0.1 = [1, 5] and [0.5, 1.0] / 1 =
    [0.5, 1]; the largest ratio is 5."""
    from els.machines.pca_locality import gain_mask

    gain = torch.tensor([[0.1, 0.5], [0.5, 1.0]], dtype=torch.float64)
    for threshold, want in ((0.2, [[1, 1], [0, 1]]), (0.15, [[1, 1], [0, 1]]), (0.1, [[1, 1], [1, 1]]),
                            (1.0, [[0, 1], [0, 0]])):
        mask = gain_mask(gain, threshold, "peers")
        assert mask.dtype == torch.float64
        assert mask.tolist() == want, threshold
    column = gain_mask(gain, 0.6, "column")  # column maxima 0.5 and 1.0: cuts 0.3 and 0.6
    assert column.dtype == torch.float64 and column.tolist() == [[0, 0], [1, 1]]


def test_threshold_one_is_allowed_and_masks_are_float64():
    """Fails if threshold = 1 (the top of the documented [0, 1]) is refused, or if mask()
    returns another dtype than the documented float64 0/1."""
    images, x, _ = _data(n=8)
    for rule in ("peers", "column"):
        m = els.PCALocality(images, threshold=1, mask=rule, **F64)
        assert m.threshold == 1.0 and m.mask(0.5).dtype == torch.float64
        assert set(m.mask(0.5).unique().tolist()) <= {0.0, 1.0}
        assert torch.isfinite(m.denoise(x, 0.5, threshold=1.0)).all()


def test_the_peers_diagonal_guard_is_strictly_below_its_limit():
    """Fails if the guard divides by 1 at a diagonal of exactly 1e-6 (it is for diagonals
    below 1e-6) or not below it: threshold 0 returns the row-normalised gain itself."""
    from els.machines.pca_locality import gain_mask

    for diagonal, divisor in ((1e-6, 1e-6), (9e-7, 1.0)):
        gain = torch.tensor([[diagonal, 5e-7], [5e-7, 1.0]], dtype=torch.float64)
        want = torch.tensor([[diagonal / divisor, 5e-7 / divisor], [5e-7, 1.0]], dtype=torch.float64)
        torch.testing.assert_close(gain_mask(gain, 0.0, "peers"), want, rtol=1e-12, atol=0)

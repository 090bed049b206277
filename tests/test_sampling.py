"""DDIM sampler (book appendix, §A.2) and the two-image black/white toy (§A.9)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import els


def test_one_image_dictionary_returns_that_image():
    """With one training image the posterior mean is that image at every step, so DDIM must
    land exactly on it whatever the noise."""
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 6, 7, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(4, 3, 6, 7, generator=g, dtype=torch.float64)
    out = els.sample(els.IS(image, dtype=torch.float64, device="cpu"), noise, steps=10)
    np.testing.assert_allclose(out, image.expand_as(out), atol=1e-12)


def test_black_white_toy_gives_majority_rule_mosaics():
    """Two training images, all black and all white; 3x3 circular ELS must output black/white
    pixels that equal the majority of their 3x3 neighbourhood (locally consistent mosaics), and
    not only the two training images (creativity).

    Measured: the continuous-time theorem holds up to DDIM's discretisation: with 20 steps about
    1.5% of pixels (all near-ties, 5 against 4) end one synchronous update away from the
    majority, so the test asks for >= 97% consistency and +-1 values within 0.05.
    """
    images = torch.stack([-torch.ones(1, 12, 12), torch.ones(1, 12, 12)])
    machine = els.ELS(images, patch_size=3, padding="circular", device="cpu")
    out = els.sample(machine, torch.randn(32, 1, 12, 12, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(out.abs(), torch.ones_like(out), atol=0.05)
    colour = out.sign()
    majority = F.conv2d(F.pad(colour, (1, 1, 1, 1), mode="circular"), torch.ones(1, 1, 3, 3)).sign()
    assert (majority == colour).float().mean() >= 0.97
    n_white = (colour > 0).flatten(1).sum(1)
    assert ((n_white > 0) & (n_white < 144)).any(), "every sample was a training image: no mosaics"


class _EpsOnly:
    """A 'network' that only has eps(): the ideal denoiser for one image, through eps."""

    def __init__(self, image):
        self.image = image

    def eps(self, x_t, t, label=None):
        ab = float(els.alpha_bar(t))
        return (x_t - ab**0.5 * self.image) / (1 - ab) ** 0.5


def test_eps_only_models_are_sampled_through_eps():
    """Any object with eps() can be sampled (trained networks plug in); same answer as IS."""
    image = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    noise = torch.randn(2, 1, 5, 5, dtype=torch.float64)
    out = els.sample(_EpsOnly(image), noise, steps=5)
    np.testing.assert_allclose(out, image.expand_as(out), atol=1e-9)


def test_scales_are_read_low_noise_first():
    """scales[i - 1] must be used at t = i / steps: record the patch size per call."""
    seen = []

    class Spy(_EpsOnly):
        def eps(self, x_t, t, label=None, patch_size=None):
            seen.append((t, patch_size))
            return super().eps(x_t, t)

    els.sample(Spy(torch.zeros(1, 1, 3, 3)), torch.randn(1, 1, 3, 3), steps=4, scales=[1, 3, 5, 7])
    assert seen == [(1.0, 7), (0.75, 5), (0.5, 3), (0.25, 1)]


def test_released_handling_starts_one_step_late_and_reads_the_next_scale():
    """The paper's released sampler: first call at t = (n-1)/n on the noise itself, scales[i]
    at t = i/n, then the usual DDIM update (checked against one step written out by hand)."""
    seen = []

    class Spy(_EpsOnly):
        def eps(self, x_t, t, label=None, patch_size=None):
            seen.append((t, patch_size, x_t.clone()))
            return super().eps(x_t, t)

    noise = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    image = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    out = els.sample(Spy(image), noise, steps=4, scales=[1, 3, 5, 7], released=True)
    assert [(t, p) for t, p, _ in seen] == [(0.75, 7), (0.5, 5), (0.25, 3)]
    assert torch.equal(seen[0][2], noise)
    ab_start, ab_next = float(els.alpha_bar(0.75)), float(els.alpha_bar(0.5))
    eps = (noise - ab_start ** 0.5 * image) / (1 - ab_start) ** 0.5
    np.testing.assert_allclose(seen[1][2], ab_next ** 0.5 * image + (1 - ab_next) ** 0.5 * eps, atol=1e-12)
    np.testing.assert_allclose(out, image, atol=1e-9)  # the last step lands on t = 0: x0_hat
    with pytest.raises(ValueError, match="steps >= 2"):
        els.sample(Spy(image), noise, steps=1, released=True)


def test_schedule_values():
    """The legacy cosine schedule's published values (book appendix, §A.1)."""
    t = torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0], dtype=torch.float64)
    printed = np.array([0, 0.00606, 0.494, 0.99185, 0.99984])
    half_last_digit = np.array([0, 5e-6, 5e-4, 5e-6, 5e-6])
    assert (np.abs((1 - els.alpha_bar(t)).numpy() - printed) <= half_last_digit).all()
    assert float(els.alpha_bar(0.0)) == 1.0


def test_cosine_schedule_values():
    """Fails if the "cosine" schedule (Nichol & Dhariwal; chapter 2 compares it with ours) is not
    f(t) / f(0) with f(t) = cos((t + s) / (1 + s) * pi / 2)^2, s = 0.008, or is not offered."""
    t = np.array([0.0, 0.05, 0.5, 0.95, 1.0])
    f = np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
    got = els.alpha_bar(torch.tensor(t, dtype=torch.float64), schedule="cosine").numpy()
    np.testing.assert_allclose(got, f / f[0], rtol=1e-12, atol=1e-15)
    assert got[0] == 1.0 and abs(got[2] - 0.4938) < 5e-5  # the legacy schedule has 0.5062 there
    with pytest.raises(ValueError, match="legacy_cosine"):
        els.alpha_bar(0.5, schedule="linear")


@pytest.mark.parametrize("bad", [dict(steps=0), dict(steps=3, scales=[3, 3])])
def test_bad_sampler_arguments(bad):
    """A wrong step count or a scale list of the wrong length must be refused, not truncated."""
    with pytest.raises(ValueError, match="steps|scales"):
        els.sample(_EpsOnly(torch.zeros(1, 1, 3, 3)), torch.zeros(1, 1, 3, 3), **bad)


def test_forward_process_and_noise_variance_against_their_formulas():
    """Fails if add_noise is not sqrt(abar) x0 + sqrt(1 - abar) eps per image (a float t or one t
    per image, in the images' dtype), or noise_variance is not 1 - abar, for both schedules;
    abar is written out here."""
    import math

    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g)
    for name, abar in (("legacy_cosine", lambda t: math.cos(t / 1.008 * math.pi / 2) ** 2),
                       ("cosine", lambda t: (math.cos((t + 0.008) / 1.008 * math.pi / 2) / math.cos(0.008 / 1.008 * math.pi / 2)) ** 2)):
        assert float(els.noise_variance(0.3, schedule=name)) == pytest.approx(1 - abar(0.3), rel=1e-12)
    a = math.cos(0.4 / 1.008 * math.pi / 2) ** 2
    np.testing.assert_allclose(els.add_noise(x0, 0.4, eps), a ** 0.5 * x0 + (1 - a) ** 0.5 * eps, rtol=1e-5, atol=1e-6)
    per = els.add_noise(x0.double(), torch.tensor([0.2, 0.9], dtype=torch.float64), eps.double())
    assert per.dtype == torch.float64
    for i, t in enumerate((0.2, 0.9)):
        a = math.cos(t / 1.008 * math.pi / 2) ** 2
        np.testing.assert_allclose(per[i], a ** 0.5 * x0[i].double() + (1 - a) ** 0.5 * eps[i].double(), rtol=1e-12)
    assert float(els.noise_variance(0.0)) == 0.0


def test_a_machines_denoise_is_used_and_schedules_may_be_arrays():
    """Fails if a model with denoise() is sampled through its eps() (ill-conditioned near
    t = 1), or if a schedule given as a torch or numpy array reaches the model as a tensor
    instead of a Python number."""
    seen = []

    class DenoiseFirst:
        def denoise(self, x_t, t, label=None, patch_size=None):
            seen.append(patch_size)
            assert type(patch_size) is int, f"patch size arrived as {type(patch_size).__name__}"
            return torch.zeros_like(x_t)

        def eps(self, x_t, t, label=None, patch_size=None):
            raise AssertionError("sampled through eps although denoise exists")

    noise = torch.randn(1, 1, 3, 3)
    els.sample(DenoiseFirst(), noise, steps=3, scales=torch.tensor([1, 3, 5]))
    els.sample(DenoiseFirst(), noise, steps=3, scales=np.array([1, 3, 5]))
    assert seen == [5, 3, 1, 5, 3, 1]


@pytest.mark.parametrize("steps", [2.0, True, "3"])
def test_steps_must_be_an_int(steps):
    """Fails if a float, a bool or a string is accepted as the number of steps."""
    with pytest.raises(ValueError, match="positive int"):
        els.sample(_EpsOnly(torch.zeros(1, 1, 3, 3)), torch.zeros(1, 1, 3, 3), steps=steps)


def test_released_handling_runs_with_two_steps():
    """Fails if the released handling refuses its smallest valid step count, 2 (one call at t = 1/2)."""
    image = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    out = els.sample(_EpsOnly(image), torch.randn(1, 1, 3, 3, dtype=torch.float64), steps=2, released=True)
    np.testing.assert_allclose(out, image, atol=1e-9)


def test_schedules_reach_the_model_under_its_scale_name():
    """Fails if a schedule is passed as patch_size= to a machine whose scale is another one
    (PCA-locality's threshold)."""
    seen = []

    class Thresholded:
        scale_name = "threshold"

        def denoise(self, x_t, t, label=None, threshold=None):
            seen.append(threshold)
            return torch.zeros_like(x_t)

    els.sample(Thresholded(), torch.randn(1, 1, 3, 3), steps=2, scales=[0.1, 0.5])
    assert seen == [0.5, 0.1]


def test_classes_of_gives_the_distinct_labels_ascending_or_none():
    """Fails if a label is repeated, lost or out of order, or if no labels give anything but None."""
    from els.sampling import classes_of

    assert classes_of(torch.tensor([3, 1, 3, 0, 1])) == [0, 1, 3]
    assert classes_of(None) is None


def test_callback_sees_every_ddim_step_without_changing_the_result():
    """Trajectory figures read x_t and x0_hat per step from the callback; a callback that
    altered sampling, skipped a step or passed the wrong state would fail here."""
    g = torch.Generator().manual_seed(3)
    images = torch.rand(6, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
    machine = els.IS(images, dtype=torch.float64, device="cpu")
    steps = []
    out = els.sample(machine, noise, steps=5, callback=steps.append)
    assert torch.equal(out, els.sample(machine, noise, steps=5))
    assert [s.t for s in steps] == [1.0, 0.8, 0.6, 0.4, 0.2]
    assert torch.equal(steps[0].x_t, noise)
    assert torch.equal(steps[-1].x0_hat, out)
    for s in steps:  # each step's eps is the one its x0_hat implies
        ab = float(els.alpha_bar(s.t))
        torch.testing.assert_close(s.eps_hat, (s.x_t - ab**0.5 * s.x0_hat) / (1 - ab) ** 0.5)


def test_callback_converts_a_network_eps_to_x0_hat():
    """Trained networks only have eps(); the step's x0_hat is the clean image it implies."""
    image = torch.linspace(-1, 1, 16, dtype=torch.float64).view(1, 1, 4, 4)

    class OnlyEps:
        def eps(self, x_t, t, label=None):
            ab = float(els.alpha_bar(t))
            return (x_t - ab**0.5 * image) / (1 - ab) ** 0.5

    steps = []
    noise = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out = els.sample(OnlyEps(), noise, steps=4, callback=steps.append)
    torch.testing.assert_close(out, image.expand_as(out))
    torch.testing.assert_close(steps[1].x0_hat, image.expand(3, -1, -1, -1))


def test_clip_clamps_each_clean_image_estimate_and_recomputes_the_noise():
    """The peers' sampler: every step's x0_hat lies in [-1, 1] and eps_hat is the noise it
    implies; without clip an estimate outside [-1, 1] passes through unchanged."""
    bright = torch.full((1, 1, 4, 4), 3.0, dtype=torch.float64)  # a 'training image' outside [-1, 1]

    class Constant:
        def denoise(self, x_t, t, label=None):
            return bright.expand_as(x_t)

    noise = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    clipped, plain = [], []
    out = els.sample(Constant(), noise, steps=4, clip=True, callback=clipped.append)
    els.sample(Constant(), noise, steps=4, callback=plain.append)
    assert torch.equal(out, torch.ones_like(out))
    assert all(float(s.x0_hat.max()) == 1.0 for s in clipped)
    assert float(plain[0].x0_hat.max()) == 3.0
    for s in clipped:
        ab = float(els.alpha_bar(s.t))
        torch.testing.assert_close(s.eps_hat, (s.x_t - ab**0.5 * s.x0_hat) / (1 - ab) ** 0.5)


def test_clip_clamps_at_minus_one_and_one_exactly():
    """Fails if the clipped sampler clamps the clean-image estimate to another range than
    [-1, 1] (an estimate of -3, -1.5, -0.5, 0.5, 1.5, 3 per pixel must become -1, -1, -0.5, 0.5,
    1, 1), or leaves the lower end open."""
    target = torch.tensor([-3.0, -1.5, -0.5, 0.5, 1.5, 3.0], dtype=torch.float64).view(1, 1, 2, 3)

    class Constant:
        def denoise(self, x_t, t, label=None):
            return target.expand_as(x_t)

    noise = torch.randn(2, 1, 2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    steps = []
    out = els.sample(Constant(), noise, steps=3, clip=True, callback=steps.append)
    want = torch.tensor([-1.0, -1.0, -0.5, 0.5, 1.0, 1.0], dtype=torch.float64).view(1, 1, 2, 3).expand_as(out)
    assert torch.equal(out, want) and all(torch.equal(s.x0_hat, want) for s in steps)


def test_classes_of_a_network_asks_its_conditional_flag():
    """Fails if the classes for sampling a network ignore its ``conditional`` flag (an
    unconditional network, or one without the flag, draws no labels even where the machines
    have them), or if a conditional network without training labels is not refused."""
    from els.sampling import classes_of

    labels = torch.tensor([2, 0, 2])

    class Net:
        def __init__(self, conditional):
            self.conditional = conditional

    class Bare:
        pass

    assert classes_of(labels, Net(True)) == [0, 2]
    assert classes_of(labels, Net(False)) is None and classes_of(labels, Bare()) is None
    assert classes_of(None, Net(False)) is None and classes_of(None, Bare()) is None
    with pytest.raises(ValueError, match="class-conditional"):
        classes_of(None, Net(True))
    assert classes_of(labels) == [0, 2] and classes_of(labels, None) == [0, 2]


def test_checked_t_accepts_exactly_the_unit_interval_in_float64():
    """Fails if diffusion time is not checked as [0, 1] inclusive (0 and 1 must pass, a hair
    outside must not), if a float t loses float64 precision (1/3 must stay the float64 1/3), if
    a (B,) tensor, a plain int or a (B, 1) tensor is handled otherwise than documented (the last
    refused with a ValueError naming the shape), or if a bool is taken for a time."""
    import math

    from els.schedule import checked_t, noise_levels

    for t in (0.0, 1.0, 0, 1, 1 / 3):
        got = checked_t(t, 2)
        assert got.dtype == torch.float64 and got.shape == (2,) and got.tolist() == [float(t)] * 2
    ok = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert torch.equal(checked_t(ok, 2), ok)
    for bad in (-1e-12, 1 + 1e-12, float("nan"), torch.tensor([0.5, 1 + 1e-9], dtype=torch.float64)):
        with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
            checked_t(bad, 2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        checked_t(torch.full((2, 1), 0.5), 2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        checked_t(torch.full((3,), 0.5), 2)
    with pytest.raises(TypeError):
        checked_t(True, 2)
    with pytest.raises(TypeError):
        checked_t("0.5", 2)
    # noise levels: sqrt(abar) and 1 - abar in the asked dtype, the latter floored at 1e-12
    for dtype in (torch.float32, torch.float64):
        a, s2 = noise_levels(torch.tensor([0.0, 1 / 3], dtype=torch.float64), 2, dtype, "cpu")
        ab = math.cos((1 / 3) / 1.008 * math.pi / 2) ** 2
        assert a.dtype == s2.dtype == dtype and a.shape == s2.shape == (2,)
        assert a.tolist() == torch.tensor([1.0, ab**0.5], dtype=torch.float64).to(dtype).tolist()
        assert s2[0].item() == torch.tensor(1e-12, dtype=dtype).item()
        assert s2[1].item() == pytest.approx(1 - ab, rel=1e-6 if dtype == torch.float32 else 1e-14)
    a, s2 = noise_levels(1 / 3, 1, torch.float64, "cpu")
    assert a.item() == pytest.approx(ab**0.5, rel=1e-15) and s2.item() == pytest.approx(1 - ab, rel=1e-15)


def test_noise_levels_and_per_image_land_on_the_asked_device():
    """Fails if the noise levels or a per-image factor stay on the CPU instead of the device
    asked for (checked with PyTorch's 'meta' device, which any machine has): a GPU machine would
    then mix devices in one product."""
    from els.schedule import noise_levels, per_image

    a, s2 = noise_levels(0.5, 3, torch.float32, torch.device("meta"))
    assert a.device.type == s2.device.type == "meta" and a.dtype == s2.dtype == torch.float32
    x = torch.empty(3, 1, 2, 2, device="meta", dtype=torch.float64)
    f = per_image(torch.tensor([0.1, 0.2, 0.3]), x)
    assert f.device.type == "meta" and f.dtype == torch.float64 and f.shape == (3, 1, 1, 1)


def test_alpha_bar_keeps_the_dtype_of_a_tensor_of_times():
    t = torch.tensor([0.25, 0.5], dtype=torch.float32)
    for schedule in ("legacy_cosine", "cosine"):
        assert els.alpha_bar(t, schedule=schedule).dtype == torch.float32
    assert els.alpha_bar(0.5).dtype == torch.float64

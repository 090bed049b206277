"""Figure helpers (els.plotting): the small computations are checked against brute force,
the drawing functions for the figure they promise."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import els  # noqa: E402
from els import plotting, provenance  # noqa: E402
from reference import random_images as _rand  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- to_display and grids
def test_to_display_maps_minus_one_to_black_and_one_to_white():
    """Images live in [-1, 1]; imshow needs [0, 1] and (H, W) or (H, W, 3). A wrong map would
    show every figure with shifted contrast."""
    gray = torch.tensor([[[-1.0, 0.0], [1.0, 3.0]]])
    np.testing.assert_allclose(plotting.to_display(gray), [[0, 0.5], [1, 1]])
    rgb = _rand(3, 4, 5)
    out = plotting.to_display(rgb)
    assert out.shape == (4, 5, 3)
    np.testing.assert_allclose(out[..., 2], (rgb[2].numpy() + 1) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        plotting.to_display(torch.zeros(2, 4, 4))


def test_show_images_titles_every_image_and_the_figure():
    """Every figure in the book is titled; per-image captions must land on the right axes."""
    fig = plotting.show_images(_rand(5, 1, 6, 7), titles=list("abcde"), title="Grid", ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and len(fig.axes) == 6
    assert [ax.get_title() for ax in shown] == list("abcde")
    assert fig._suptitle.get_text() == "Grid"
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(_rand(2, 1, 4, 4), titles=["only one"])


def test_show_rows_labels_rows_and_rejects_ragged_rows():
    """Comparison figures put one labelled row per method; ragged rows would misalign them."""
    fig = plotting.show_rows({"first": _rand(3, 1, 5, 5), "second": _rand(3, 3, 5, 5, seed=1)},
                             titles={"second": ["x", "y", "z"]}, title="Rows")
    assert fig.axes[0].get_ylabel() == "first" and fig.axes[3].get_ylabel() == "second"
    assert [fig.axes[k].get_title() for k in (3, 4, 5)] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="same number"):
        plotting.show_rows({"a": _rand(2, 1, 4, 4), "b": _rand(3, 1, 4, 4)})


# --------------------------------------------------------------------------- nearest images
def test_background_mask_marks_flat_patches_only():
    """Grey pixels in the source map are those whose whole patch is dark background."""
    x = -torch.ones(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    mask = plotting.background_mask(x, patch_size=3)
    assert not mask[0, 3:6, 3:6].any()
    assert mask[0].sum() == 81 - 9


def test_show_sources_draws_sample_map_and_top_images():
    """Sample, source map and one framed panel per used training image."""
    images = _rand(5, 1, 6, 6)
    index = torch.tensor([[0, 0, 1, 1, 3, 3]] * 6)
    fig = plotting.show_sources(images[0], index, images, top=2, title="Sources")
    assert len(fig.axes) == 4
    assert fig.axes[2].get_title().startswith("train #0") or fig.axes[2].get_title().startswith("train #1")
    assert fig._suptitle.get_text() == "Sources"


def test_spread_pixels_picks_distinct_far_apart_pixels_inside_the_mask():
    """The patch-match figure boxes a few stroke pixels; they must lie on the stroke and not
    crowd together."""
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[2, 1:9] = True
    picks = plotting.spread_pixels(mask, 3)
    assert picks == [(2, 1), (2, 8), (2, 4)] or picks == [(2, 1), (2, 8), (2, 5)]
    assert plotting.spread_pixels(torch.zeros(4, 4, dtype=torch.bool), 3) == []
    assert len(plotting.spread_pixels(mask, 20)) == 8


def test_recorder_keeps_every_ddim_step_without_changing_the_result():
    """Trajectory figures read x_t and x0_hat per step; recording must not alter sampling."""
    images = _rand(6, 1, 4, 4)
    noise = _rand(2, 1, 4, 4, seed=4) * 2
    machine = els.IS(images, dtype=torch.float64, device="cpu")
    recorder = plotting.Recorder(machine)
    out = els.sample(recorder, noise, steps=5)
    np.testing.assert_allclose(out, els.sample(machine, noise, steps=5))
    assert recorder.times == [1.0, 0.8, 0.6, 0.4, 0.2]
    assert torch.equal(recorder.x_t[0], noise)
    assert len(recorder.x0_hat) == 5 and recorder.x0_hat[0].shape == (2, 1, 4, 4)


def test_recorder_accepts_models_with_only_eps():
    """Trained networks only have eps(); the recorder converts it to x0_hat."""
    image = _rand(1, 1, 4, 4)

    class OnlyEps:
        def eps(self, x_t, t, label=None):
            ab = float(els.alpha_bar(t))
            return (x_t - ab**0.5 * image) / (1 - ab) ** 0.5

    recorder = plotting.Recorder(OnlyEps())
    out = els.sample(recorder, _rand(3, 1, 4, 4, seed=5), steps=4)
    np.testing.assert_allclose(out, image.expand_as(out), atol=1e-9)
    np.testing.assert_allclose(recorder.x0_hat[1], image.expand(3, -1, -1, -1), atol=1e-9)


def test_show_patch_matches_boxes_target_and_source_patches():
    """One box per chosen pixel on the sample, and one on each source image at the source
    position (a wrong offset would point at the wrong stroke)."""
    images = _rand(3, 1, 8, 8).float()
    index, position, _ = provenance.patch_sources(images[1:2], images, patch_size=3)
    fig = plotting.show_patch_matches(images[1], images, index[0], position[0], [(2, 3), (5, 5)],
                                      patch_size=3, title="Matches")
    assert len(fig.axes) == 3
    assert len(fig.axes[0].patches) == 2 and len(fig.axes[1].patches) == 1
    box = fig.axes[1].patches[0]
    assert box.get_xy() == (3 - 1 - 0.5, 2 - 1 - 0.5) and box.get_width() == 3
    assert fig.axes[1].get_title().startswith("train #1")


# --------------------------------------------------------------------------- Recorder

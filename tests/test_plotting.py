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
    machine = els.ELS(images, padding="zeros", device="cpu")
    index, position, _ = provenance.patch_sources(machine, images[1:2], patch_size=3)
    fig = plotting.show_patch_matches(images[1], images, index[0], position[0], [(2, 3), (5, 5)],
                                      patch_size=3, title="Matches")
    assert len(fig.axes) == 3
    assert len(fig.axes[0].patches) == 2 and len(fig.axes[1].patches) == 1
    box = fig.axes[1].patches[0]
    assert box.get_xy() == (3 - 1 - 0.5, 2 - 1 - 0.5) and box.get_width() == 3
    assert fig.axes[1].get_title().startswith("train #1")


# --------------------------------------------------------------------------- Recorder


# --------------------------------------------------------------------------- calibration and agreement
def test_plotting_leaves_the_provenance_computations_to_provenance():
    """One way to reach each function: the computations are els.provenance's, not re-exported."""
    for name in ("nearest_neighbours", "nearest_translates", "patch_sources", "nearest_summary"):
        assert hasattr(provenance, name) and not hasattr(plotting, name), name


def test_schedule_figure_draws_each_schedule_and_the_papers_dashed():
    """Fails if a machine's schedule is drawn at the wrong times or the paper's is missing."""
    fig = plotting.schedule_figure({"ELS": [3, 5, 7, 9], "LS": [3, 3, 5, 5]}, [3, 5, 5, 7], "toy")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["ELS (ours)", "LS (ours)", "ELS (paper)"]
    np.testing.assert_allclose(lines[0].get_xdata(), [0.25, 0.5, 0.75, 1.0])
    assert list(lines[0].get_ydata()) == [3, 5, 7, 9] and lines[2].get_linestyle() == "--"


def test_similarity_figure_marks_the_schedule_and_shares_one_colour_scale():
    """Fails if the map is not the median over seeds (candidates as rows), the dots miss the
    calibrated schedule, or panels use different colour scales under one colour bar."""
    from els.calibrate import Calibration

    sims = torch.rand(3, 4, 2, generator=torch.Generator().manual_seed(0))  # (seeds, steps, candidates)
    first = Calibration([3, 5, 5, 5], [3, 5], [0, 1, 2], [None] * 3, sims.tolist(), [[3] * 4] * 3)
    second = Calibration([3, 3, 3, 5], [3, 5], [0, 1, 2], [None] * 3, (sims * 2).tolist(), [[3] * 4] * 3)
    fig = plotting.similarity_figure({"first": first, "second": second}, title="Maps")
    panels = [ax for ax in fig.axes if ax.get_title() in ("first", "second")]
    assert len(panels) == 2 and len(fig.axes) == 3  # and the colour bar
    np.testing.assert_allclose(panels[0].images[0].get_array(), sims.median(0).values.T.numpy(), rtol=1e-6)
    assert list(panels[1].get_lines()[0].get_ydata()) == [0, 0, 0, 1]
    assert panels[0].images[0].get_clim() == panels[1].images[0].get_clim()
    assert fig._suptitle.get_text() == "Maps"


def test_agreement_figure_puts_each_sample_at_its_is_and_machine_r():
    """Fails if a machine's r is paired with another seed's IS r, or another step count is used."""
    rows = [dict(seed=s, network_steps=k, machine=m, r=r) for s, k, m, r in [
        (0, 20, "IS", 0.1), (1, 20, "IS", 0.2), (0, 20, "ELS", 0.8), (1, 20, "ELS", 0.9), (0, 5, "ELS", -0.5)]]
    ax = plotting.agreement_figure(rows, "toy").axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[0.1, 0.8], [0.2, 0.9]])
    assert "network 20 steps" in ax.get_title()


def test_gallery_figure_captions_each_machine_with_its_r_against_the_first_row():
    """Fails if r is computed against anything but the reference image in the same column."""
    network = _rand(2, 1, 5, 5)
    fig = plotting.gallery_figure({"network": network, "copy": network.clone(), "negated": -network}, title="G")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["", ""] and titles[2:] == ["r = 1.00"] * 2 + ["r = -1.00"] * 2
    with pytest.raises(ValueError, match="reference row"):
        plotting.gallery_figure({"network": network})


def test_training_agreement_figure_orders_snapshots_and_the_final_checkpoint_by_time():
    """Fails if the final checkpoint is not placed at its training time or points are unsorted."""
    def agreement(els_r, is_r):
        return {"20": {"ELS": {"r": {"median": els_r}}, "IS": {"r": {"median": is_r}}}}

    summaries = {"net": {"agreement": agreement(0.9, 0.5), "snapshots": {"15min": {"agreement": agreement(0.8, 0.4)},
                                                                         "5min": {"agreement": agreement(0.6, 0.3)}}},
                 "no_snapshots": {"agreement": agreement(0.1, 0.1), "snapshots": {}}}
    ax = plotting.training_agreement_figure(summaries, {"net": 30.0, "no_snapshots": 9.0}).axes[0]
    els_line, is_line = ax.get_lines()
    assert list(els_line.get_xdata()) == [5.0, 15.0, 30.0] and list(els_line.get_ydata()) == [0.6, 0.8, 0.9]
    assert list(is_line.get_ydata()) == [0.3, 0.4, 0.5] and els_line.get_label() == "net: ELS"


def test_results_table_has_one_row_per_model_steps_and_machine():
    """Fails if a row is dropped or a quartile lands in the wrong column."""
    def entry(median, beats=None):
        e = {"r": {"q25": median - 0.1, "median": median, "q75": median + 0.1},
             "r2": {"median": median ** 2}, "R2": {"median": median - 0.2}}
        return e if beats is None else e | {"beats_IS": beats}

    table = plotting.results_table({"m": {"agreement": {"150": {"ELS": entry(0.9, 0.95), "IS": entry(0.5)}}}})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| model | network steps | machine |")
    assert lines[2] == "| m | 150 | ELS | 0.80 / 0.90 / 1.00 | 0.81 | 0.70 | 0.95 |"
    assert lines[3] == "| m | 150 | IS | 0.40 / 0.50 / 0.60 | 0.25 | 0.30 | - |"


def test_locality_figure_draws_every_quantity_of_every_network():
    """One line per quantity and network, the Wiener width once, in the legend."""
    t = [0.25, 0.5, 0.75, 1.0]
    loc = {"t": t, "Wiener": [2, 3, 5, 9], "ELS": [3, 3, 5, 7], "PCALocality": [1, 2, 2, 4], "network": [2, 3, 4, 6]}
    fig = plotting.locality_figure({"resnet": loc, "unet": loc}, "mnist")
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "Wiener gain (data only)" and len(labels) == 7
    assert all(any(label.startswith(f"{net}: {what}") for label in labels)
               for net in ("resnet", "unet") for what in ("network", "ELS", "PCA-locality"))

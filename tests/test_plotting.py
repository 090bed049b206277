"""Figure helpers (els.book.plotting): the small computations are checked against brute force,
the drawing functions for the figure they promise."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import els  # noqa: E402
from els import provenance  # noqa: E402
from els.evaluate import agreement  # noqa: E402
from els.book import plotting  # noqa: E402
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
    assert [ax.get_xlabel() for ax in shown] == list("abcde")
    assert fig._suptitle.get_text() == "Grid"
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(_rand(2, 1, 4, 4), titles=["only one"])


def test_show_rows_labels_rows_and_rejects_ragged_rows():
    """Comparison figures put one labelled row per method; ragged rows would misalign them."""
    fig = plotting.show_rows({"first": _rand(3, 1, 5, 5), "second": _rand(3, 3, 5, 5, seed=1)},
                             titles={"second": ["x", "y", "z"]}, title="Rows")
    assert fig.axes[0].get_ylabel() == "first" and fig.axes[3].get_ylabel() == "second"
    assert [fig.axes[k].get_xlabel() for k in (3, 4, 5)] == ["x", "y", "z"]
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
    assert fig.axes[2].get_xlabel().startswith("train #0") or fig.axes[2].get_xlabel().startswith("train #1")
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
    assert fig.axes[1].get_xlabel().startswith("train #1")


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
    captions = [ax.get_xlabel() for ax in fig.axes]
    assert captions[:2] == ["", ""] and captions[2:] == ["r = 1.00"] * 2 + ["r = -1.00"] * 2
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


def test_results_table_has_one_table_per_model_and_one_row_per_steps_and_machine():
    """Fails if a row is dropped, a quartile lands in the wrong column or a model's rows end
    up under another model's name."""
    def entry(median, beats=None):
        e = {"r": {"q25": median - 0.1, "median": median, "q75": median + 0.1},
             "r2": {"median": median ** 2}, "R2": {"median": median - 0.2}}
        return e if beats is None else e | {"beats_IS": beats}

    table = plotting.results_table({"m": {"agreement": {"150": {"ELS": entry(0.9, 0.95), "IS": entry(0.5)}}},
                                    "n": {"agreement": {"20": {"LS": entry(0.7)}}}})
    first, second = table.split("\n\n**")
    lines = first.splitlines()
    assert len(lines) == 6 and lines[0] == "**m**" and lines[2].startswith("| steps | machine |")
    assert lines[4] == "| 150 | ELS | 0.80 / 0.90 / 1.00 | 0.81 | 0.70 | 0.95 |"
    assert lines[5] == "| 150 | IS | 0.40 / 0.50 / 0.60 | 0.25 | 0.30 | - |"
    assert second.splitlines()[0] == "n**" and second.splitlines()[-1] == "| 20 | LS | 0.60 / 0.70 / 0.80 | 0.49 | 0.50 | - |"


def test_locality_figure_draws_every_quantity_of_every_network():
    """One panel per network, each with the four widths in their machines' colours, and one
    legend in a panel of its own."""
    from matplotlib.colors import to_hex

    t = [0.25, 0.5, 0.75, 1.0]
    loc = {"t": t, "Wiener": [2, 3, 5, 9], "ELS": [3, 3, 5, 7], "PCALocality": [1, 2, 2, 4], "network": [2, 3, 4, 6]}
    fig = plotting.locality_figure({"mnist_resnet_zeros": loc, "mnist_unet_zeros": loc})
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == ["MNIST ResNet", "MNIST UNet"]
    for ax in panels:
        colours = {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()}
        assert colours == {"Wiener gain (data only)": plotting.machine_colour("Wiener"),
                           "network, measured": plotting.machine_colour("network"),
                           "ELS patch size P(t)": plotting.machine_colour("ELS"),
                           "PCA-locality mask": plotting.machine_colour("PCALocality")}
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1 and len(legends[0].get_texts()) == 4


def _wide_figures():
    """Every figure function of els.book.plotting, given inputs wider than the page."""
    from els.calibrate import Calibration

    images = _rand(12, 1, 32, 32)
    captions = [f"train #{k}\n(12, 24) \u2192 (3, {k})" for k in range(12)]
    index = torch.randint(0, 12, (32, 32), generator=torch.Generator().manual_seed(0))
    position = torch.randint(0, 32, (32, 32, 2), generator=torch.Generator().manual_seed(1))
    candidates = list(range(3, 33, 2))
    sims = torch.rand(6, 20, len(candidates), generator=torch.Generator().manual_seed(2)).tolist()
    calibration = Calibration([3] * 10 + [15] * 10, candidates, list(range(6)), [None] * 6, sims, [[3] * 20] * 6)
    rows = {"network\n(150 steps)": images[:8], **{name: images[:8] for name in
                                                    ("IS", "LS", "ELS", "Wiener", "PCALocality\n(peers)")}}
    samples = [dict(seed=s, network_steps=150, machine=m, r=0.1 * (s % 9)) for s in range(20)
               for m in ("IS", "ELS", "LS", "ELS (paper schedule)")]
    agreement = {"20": {"ELS": {"r": {"median": 0.9}}, "IS": {"r": {"median": 0.5}}}}
    summaries = {f"model_{k}": {"agreement": agreement, "snapshots": {"15min": {"agreement": agreement}}}
                 for k in range(6)}
    loc = {"t": [0.25, 0.5, 0.75, 1.0], "Wiener": [2, 3, 5, 9], "ELS": [3, 3, 5, 7], "PCALocality": [1, 2, 2, 4],
           "network": [2, 3, 4, 6]}
    long = "A long figure title that would not fit on one line of the page at the default size"
    mech = {"t": [(i + 1) / 20 for i in range(20)], "r_median": {m: [0.5] * 20 for m in ("IS", "LS", "ELS")}}
    maps = torch.rand(20, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    study = {"sizes": {str(n): {"machines": {m: {"r": 0.5, "R2": 0.3} for m in
                                             ("IS", "LS", "ELS", "LS (recalibrated)", "ELS (recalibrated)")}}
                       for n in (125, 500, 1000, 2000, 4000)}}
    return {
        "show_images": plotting.show_images(images, titles=captions, title=long),
        "show_images_one_row": plotting.show_images(images[:9], titles=[f"t = {k / 8:.3f}" for k in range(9)],
                                                    ncols=9, title=long),
        "show_rows": plotting.show_rows({"equivariant\nlocal score (ELS)": images, "nearest": images},
                                        titles={"nearest": [f"d = {k}.00" for k in range(12)]}, title=long),
        "show_sources": plotting.show_sources(images[0], index, images, top=10, title=long),
        "show_patch_matches": plotting.show_patch_matches(images[0], images, index, position,
                                                          [(4, 4 + 2 * k) for k in range(8)], 5, title=long),
        "schedule_figure": plotting.schedule_figure({"ELS": [3, 5, 7], "LS": [3, 3, 5]}, [3, 5, 5],
                                                    "fashion mnist attention unet zeros"),
        "similarity_figure": plotting.similarity_figure({f"fashion mnist resnet zeros {k}": calibration
                                                         for k in range(6)}, title=long),
        "similarity_figure_one": plotting.similarity_figure({"Live calibration, 500 images": calibration}),
        "agreement_figure": plotting.agreement_figure(samples, "fashion mnist attention unet zeros"),
        "gallery_figure": plotting.gallery_figure(rows, title=long),
        "training_agreement_figure": plotting.training_agreement_figure(summaries, {n: 30.0 for n in summaries}),
        "locality_figure": plotting.locality_figure({f"fashion_mnist_attention_unet_zeros_{k}": loc for k in range(7)}),
        "along_trajectory_figure": plotting.along_trajectory_figure(
            {f"fashion_mnist_attention_unet_zeros_{k}": mech for k in range(5)}),
        "sensitivity_figure": plotting.sensitivity_figure({"with self-attention": maps, "convolution only": maps},
                                                          times=(0.9, 0.5, 0.1)),
        "dictionary_size_figure": plotting.dictionary_size_figure({f"fashion_mnist_attention_unet_zeros_{k}": study
                                                                   for k in range(3)}),
        "copy_agreement_figure": plotting.copy_agreement_figure(
            {f"attention UNet, N = {n}": [{"training_steps": k, "copy_rate": 0.1 * (k % 3),
                                           "median_r": {"IS": 0.3, "LS": 0.6, "ELS": 0.9}}
                                          for k in (1500, 3000, 6000, 12000)] for n in (16, 64, 256, 1024, 4096)},
            x="training_steps", xlabel="training steps", log=False),
    }


def test_every_figure_fits_the_text_width_with_fonts_of_8_points_or_more():
    """The book's text column is TEXT_WIDTH inches at the inline backend's 100 dpi: a wider
    figure is shrunk by the browser and its text with it. Fails if a figure function makes a
    figure wider than that (or whose cropped PNG, as the inline backend saves it, is wider),
    or writes any text smaller than 8 points."""
    import io

    from matplotlib.text import Text
    from PIL import Image

    for name, fig in _wide_figures().items():
        assert fig.get_size_inches()[0] <= plotting.TEXT_WIDTH + 1e-9, f"{name}: {fig.get_size_inches()}"
        small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                 if t.get_visible() and t.get_text() and t.get_fontsize() < plotting.MIN_FONTSIZE]
        assert plotting.MIN_FONTSIZE >= 8 and not small, f"{name}: text smaller than 8 pt {small}"
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=100, bbox_inches="tight", pad_inches=0.1)  # as the inline backend
        width = Image.open(png).size[0]
        assert width <= 100 * plotting.TEXT_WIDTH + 1, f"{name}: the saved PNG is {width} px wide"


def test_panel_grid_wraps_and_shrinks_panels_to_fit():
    """Panels shrink to fit a row; captions too wide for that wrap them into balanced rows."""
    room = plotting.TEXT_WIDTH - plotting.CROP_PAD
    assert plotting.panel_grid(4, 1.3) == (1, 4, 1.3)
    nrows, ncols, side = plotting.panel_grid(9, 1.3)
    assert (nrows, ncols) == (1, 9) and side == pytest.approx(room / 9)
    assert plotting.panel_grid(8, 1.6, min_size=1.5)[:2] == (2, 4)  # not 6 + 2
    assert plotting.panel_grid(5, 3.0, ncols=2) == (3, 2, 3.0)
    nrows, ncols, side = plotting.panel_grid(8, 1.3, margin=1.0)
    assert side * ncols + 1.0 == pytest.approx(room)
    assert plotting.caption_width(None) == 0 and plotting.caption_width(["a", "a much longer caption"]) > 1


def test_sensitivity_figure_titles_each_map_with_its_width():
    """Fails if a panel shows another step than its time, or its width is not the side of the
    square holding the pixels with at least 10% of the largest sensitivity."""
    maps = torch.full((4, 1, 8, 8), 1e-6)
    maps[1, 0, 2:5, 2:5] = 1.0  # t = 0.5: a 3 x 3 block
    maps[3, 0, :, :4] = 1.0  # t = 1: half the image, 32 pixels
    fig = plotting.sensitivity_figure({"net": maps}, times=(1.0, 0.5))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["t = 1: width 5.7 px", "t = 0.5: width 3.0 px"]


# --------------------------------------------------------------------------- galleries and the palette
def test_gallery_captions_sit_under_their_own_rows_images():
    """Fails if a caption is a title (read as belonging to the row below), if the network row
    carries captions, or if a row's captions are another row's r values."""
    g = torch.Generator().manual_seed(2)
    network = torch.rand(3, 1, 6, 6, generator=g) * 2 - 1
    close = network + 0.05 * torch.randn(3, 1, 6, 6, generator=g)
    far = torch.rand(3, 1, 6, 6, generator=g) * 2 - 1
    fig = plotting.gallery_figure({"network": network, "ELS": close, "IS": far})
    axes = [ax for ax in fig.axes if ax.images]
    rows = [axes[0:3], axes[3:6], axes[6:9]]
    assert all(ax.get_title() == "" for ax in axes)
    assert all(ax.get_xlabel() == "" for ax in rows[0])
    for row, images in ((rows[1], close), (rows[2], far)):
        expected = [f"r = {v:.2f}" for v in agreement(images, network)["r"]]
        assert [ax.get_xlabel() for ax in row] == expected
    assert [ax.get_ylabel() for ax in (rows[0][0], rows[1][0], rows[2][0])] == ["network", "ELS", "IS"]


def test_a_machine_keeps_its_colour_in_every_panel_and_figure():
    """Fails if a figure colours a machine by its position in a legend instead of by the palette:
    LS is drawn in panels where ELS is missing, and must keep LS's colour there."""
    from matplotlib.colors import to_hex

    t = [0.25, 0.5, 0.75]
    summaries = {"mnist_resnet_zeros": {"t": t, "r_median": {"IS": [0.1] * 3, "LS": [0.2] * 3, "ELS": [0.3] * 3}},
                 "mnist_unet_zeros": {"t": t, "r_median": {"LS": [0.2] * 3, "ELS": [0.3] * 3}}}
    fig = plotting.along_trajectory_figure(summaries)
    for ax in fig.axes:
        for line in ax.get_lines():
            assert to_hex(line.get_color()) == plotting.machine_colour(line.get_label()), line.get_label()
    assert plotting.machine_colour("ELS (paper schedule)") == plotting.machine_colour("ELS")
    assert plotting.machine_colour("ELS recalibrated") == plotting.MACHINE_COLOURS["ELS"]
    assert len(set(plotting.MACHINE_COLOURS.values())) == len(plotting.MACHINE_COLOURS)
    with pytest.raises(KeyError, match="palette"):
        plotting.machine_colour("Mystery")


def test_glue_hands_the_value_to_myst_nb_and_is_silent_without_it(monkeypatch):
    """Fails if a chapter's number does not reach myst-nb's glue unchanged, or if a missing
    myst-nb (Colab) stops the chapter."""
    import builtins
    import sys
    import types

    from els.book import glue

    seen = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: seen.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("els_r", 0.875)
    assert seen == [("els_r", 0.875, False)]
    monkeypatch.delitem(sys.modules, "myst_nb")
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "myst_nb" else real_import(name, *a, **k))
    assert glue("els_r", 0.875) is None


def test_copy_agreement_figure_draws_each_curve_in_its_style_and_each_machine_in_its_colour():
    """Fails if the copy panel does not show each curve's copy shares in its own line style, or
    a machine's agreement is drawn in another machine's colour, or the x ticks are not the
    points' values."""
    from matplotlib.colors import to_hex

    def point(n, copy):
        return {"n_images": n, "copy_rate": copy, "median_r": {"IS": 0.3, "LS": 0.5, "ELS": 0.9}}

    curves = {"UNet": [point(4000, 0.0), point(16, 0.14)], "ResNet": [point(16, 0.0), point(4000, 0.0)]}
    fig = plotting.copy_agreement_figure(curves)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["UNet", "ResNet"]
    assert list(left.get_lines()[0].get_xdata()) == [16, 4000] and list(left.get_lines()[0].get_ydata()) == [0.14, 0.0]
    assert left.get_lines()[0].get_linestyle() != left.get_lines()[1].get_linestyle()
    assert left.get_xscale() == "log" and [t.get_text() for t in left.get_xticklabels()] == ["16", "4000"]
    colours = [to_hex(line.get_color()) for line in right.get_lines()]
    assert colours == [plotting.machine_colour(m) for m in ("IS", "LS", "ELS")] * 2
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["IS", "LS", "ELS"]
    with pytest.raises(ValueError, match="empty"):
        plotting.copy_agreement_figure({})

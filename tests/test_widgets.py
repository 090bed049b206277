"""Sliders (els.book.widgets): the precomputed one must be self-contained HTML with one frame per
value; the live one must stay quiet where no kernel can answer it."""
import re

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from els.book import widgets  # noqa: E402


def _frames(values=(3, 5, 7), shape=(2, 1, 6, 6)):
    g = torch.Generator().manual_seed(0)
    return {v: torch.rand(*shape, generator=g) * 2 - 1 for v in values}


def test_slider_html_has_one_frame_per_value_and_a_slider():
    """One embedded PNG per parameter value, and the range input the reader moves."""
    html = widgets.slider_html(_frames(), name="P", title="demo", titles=["a", "b"])
    assert 'class="anim-slider"' in html
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64', html)) == 3


def test_slider_frames_fit_the_books_text_width():
    """Each frame is a PNG shown at its natural size: eight images a row must still fit the
    text column (els.book.plotting.TEXT_WIDTH inches at 100 dpi), so they are drawn smaller."""
    import base64
    import struct

    from els.book.plotting import TEXT_WIDTH

    html = widgets.slider_html(_frames(shape=(8, 1, 6, 6)), titles=[f"image {k}" for k in range(8)], size=1.6)
    frame = re.search(r'frames\[0\] = "data:image/png;base64,([^"]+)"', html).group(1)
    width = struct.unpack(">I", base64.b64decode(frame.replace("\\n", "")[:64])[16:20])[0]
    assert 0 < width <= 100 * TEXT_WIDTH


def test_slider_html_needs_no_network():
    """The static book must work offline: no CDN stylesheet, no font-awesome icons."""
    html = widgets.slider_html(_frames())
    assert not re.findall(r"https?://", html)
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert html.count('class="els-icon"') == 9


def test_frame_slider_is_displayable_html():
    from IPython.display import HTML

    out = widgets.frame_slider(_frames((1, 3)), name="P")
    assert isinstance(out, HTML) and "anim-slider" in out.data


@pytest.mark.parametrize("frames,match", [({}, "empty"),
                                          ({1: torch.zeros(2, 1, 4, 4), 3: torch.zeros(3, 1, 4, 4)}, "one shape")])
def test_slider_html_rejects_bad_frames(frames, match):
    with pytest.raises(ValueError, match=match):
        widgets.slider_html(frames)


def test_live_slider_prints_a_note_without_a_kernel(capsys, monkeypatch):
    """Plain Python (and the static book's execution, ELS_STATIC=1) has no live kernel: the
    live slider must not pretend to work there."""
    monkeypatch.delenv("ELS_STATIC", raising=False)
    assert widgets.is_live() is False
    assert widgets.live_slider(lambda P: P, P=(1, 5, 2)) is None
    assert "needs a running kernel" in capsys.readouterr().out
    monkeypatch.setenv("ELS_STATIC", "1")
    assert widgets.is_live() is False


def test_live_slider_updates_on_release_and_shows_only_the_widget(monkeypatch):
    """In a live kernel: one interactive widget is displayed, its slider reports on release
    (not every value passed while dragging), it starts at a middle patch size, and the call
    returns None (no stray repr under the widget)."""
    import IPython.display

    shown = []
    monkeypatch.setattr(widgets, "is_live", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda w: shown.append(w))
    calls = []
    assert widgets.live_slider(lambda P: calls.append(P), P=(1, 15, 2)) is None
    (box,) = shown
    (slider,) = [c for c in box.children if hasattr(c, "continuous_update")]
    assert (slider.min, slider.max, slider.step, slider.value) == (1, 15, 2, 7)
    assert slider.continuous_update is False
    assert widgets.on_release((0.0, 1.0, 0.1)).value == 0.5

"""Sliders for the book: a precomputed one that works in the static HTML book, and a live one.

* :func:`frame_slider` turns precomputed images (one set per value of a parameter, e.g. the
  patch size ``P``) into a matplotlib ``FuncAnimation`` rendered with ``to_jshtml()``: plain
  HTML and JavaScript with a slider, so it works in the static book, in Jupyter and in Colab,
  with no kernel and no network (the font-awesome link matplotlib adds is replaced by text
  symbols).
* :func:`live_slider` wraps ``ipywidgets.interact`` and is shown only when a live kernel is
  behind the page (Jupyter, Colab). When the book's notebooks are executed for the static
  site (``ELS_STATIC=1``, set by ``make book-exec``) it prints a note instead, because a
  widget whose callback needs a kernel would look alive but do nothing there.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import torch

__all__ = ["frame_slider", "slider_html", "is_live", "live_slider", "on_release"]

# matplotlib's jshtml player uses font-awesome icons from a CDN; we use text symbols instead
# (ones that common fonts such as DejaVu have).
_ICONS = {
    "fa-minus": "&minus;",
    "fa-fast-backward": "&#x21E4;",
    "fa-step-backward": "&#x25C2;&#x25C2;",
    "fa-play fa-flip-horizontal": "&#x25C0;",
    "fa-pause": "&#x2016;",
    "fa-play": "&#x25B6;",
    "fa-step-forward": "&#x25B8;&#x25B8;",
    "fa-fast-forward": "&#x21E5;",
    "fa-plus": "+",
}


def slider_html(
    frames: Mapping[object, torch.Tensor],
    name: str = "P",
    title: str = "",
    titles: list[str] | None = None,
    ncols: int | None = None,
    size: float = 1.6,
    interval: int = 800,
) -> str:
    """Self-contained HTML (``FuncAnimation.to_jshtml``) of a slider over ``frames``.

    ``frames`` maps each parameter value (in slider order) to images ``(B, C, H, W)`` in
    ``[-1, 1]``, all of the same shape. Each frame shows the B images with the heading
    ``"{title}: {name} = {value}"``; ``titles`` gives one caption per image (the same in
    every frame). Each image is ``size`` inches at most, smaller so that a row fits the book's
    text width (:func:`els.plotting.panel_grid`). Returns the HTML string (no external
    resources).
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    from .plotting import title_height, caption_width, panel_grid, to_display

    if not frames:
        raise ValueError("frames is empty: give at least one {value: images}")
    values = list(frames)
    stacks = [torch.as_tensor(frames[v]).detach().cpu() for v in values]
    shapes = {tuple(s.shape) for s in stacks}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4:
        raise ValueError(f"every frame must be images (B, C, H, W) of one shape, got {sorted(shapes)}")
    B = stacks[0].shape[0]
    if titles is not None and len(titles) != B:
        raise ValueError(f"got {len(titles)} titles for {B} images per frame")
    nrows, ncols, side = panel_grid(B, size, ncols or min(B, 8), min_size=caption_width(titles))  # fits the text width
    extra = title_height(titles)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(side * ncols, (side + extra) * nrows + 0.6))
    artists = []
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= B:
            ax.axis("off")
            continue
        img = to_display(stacks[0][k])
        artists.append(ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
                                 interpolation="nearest"))
        if titles is not None:
            ax.set_xlabel(titles[k], fontsize=8, labelpad=2)
    heading = fig.suptitle("")
    fig.tight_layout()

    def draw(i):
        for k, artist in enumerate(artists):
            artist.set_data(to_display(stacks[i][k]))
        heading.set_text(f"{title}: {name} = {values[i]}" if title else f"{name} = {values[i]}")
        return artists + [heading]

    draw(0)
    animation = FuncAnimation(fig, draw, frames=len(values), interval=interval, blit=False)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)
    return _offline(html)


def frame_slider(frames: Mapping[object, torch.Tensor], name: str = "P", title: str = "", **kwargs):
    """:func:`slider_html` wrapped in ``IPython.display.HTML`` so a notebook cell shows it."""
    from IPython.display import HTML

    return HTML(slider_html(frames, name=name, title=title, **kwargs))


def is_live() -> bool:
    """True when running inside an IPython kernel that a person is driving (Jupyter, Colab),
    False in plain Python and when the static book is being executed (``ELS_STATIC=1``)."""
    if os.environ.get("ELS_STATIC", "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def live_slider(function: Callable, **widgets) -> None:
    """Show ``ipywidgets.interactive(function, **widgets)`` when :func:`is_live`, else print a note.

    Example: ``live_slider(show, P=(1, 15, 2))`` calls ``show(P)`` when the slider is released
    (not for every value passed while dragging: each call may take seconds). A ``(min, max,
    step)`` tuple becomes a slider starting at its middle value; a widget is used as given,
    set to update on release. Returns None, so the cell shows only the widget.
    """
    if not is_live():
        print("(Static page: this live slider needs a running kernel.\n"
              " Open the notebook in Jupyter or Colab to use it;\n"
              " the precomputed slider works everywhere.)")
        return None
    import ipywidgets
    from IPython.display import display

    display(ipywidgets.interactive(function, **{name: on_release(spec) for name, spec in widgets.items()}))
    return None


def on_release(spec):
    """A slider widget for ``spec`` that reports its value only when released: a ``(min, max[,
    step])`` tuple of ints or floats becomes an ``IntSlider``/``FloatSlider`` at its middle
    value; a widget gets ``continuous_update=False``; anything else is returned unchanged."""
    import ipywidgets

    if isinstance(spec, tuple) and len(spec) in (2, 3) and all(isinstance(v, (int, float)) for v in spec):
        low, high, step = (*spec, 1) if len(spec) == 2 else spec
        kind = ipywidgets.IntSlider if all(isinstance(v, int) for v in spec) else ipywidgets.FloatSlider
        middle = low + step * (((high - low) / step) // 2)
        return kind(min=low, max=high, step=step, value=int(middle) if kind is ipywidgets.IntSlider else middle,
                    continuous_update=False)
    if hasattr(spec, "continuous_update"):
        spec.continuous_update = False
    return spec


def _offline(html: str) -> str:
    """Drop the CDN stylesheet link and put text symbols in place of the font-awesome icons."""
    html = re.sub(r'<link[^>]*font-awesome[^>]*>\s*', "", html)
    for cls, symbol in _ICONS.items():
        html = html.replace(f'<i class="fa {cls}"></i>', f'<span class="els-icon">{symbol}</span>')
    return html

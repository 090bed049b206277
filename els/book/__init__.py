"""The book's helper code: figures (:mod:`.plotting`, one palette) and sliders (:mod:`.widgets`),
and :func:`glue`, which hands a chapter's numbers to its prose.

It imports the library only; the studies and the chapters import it."""


def glue(name: str, value, display: bool = False) -> None:
    """Make ``value`` available to the chapter's prose as ``{glue:text}`name``` (myst-nb), without
    showing it; where myst-nb is not installed (Colab, a plain Jupyter), do nothing: the chapter
    still runs top to bottom and its prose shows the numbers only in the built book."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)

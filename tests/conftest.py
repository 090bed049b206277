"""Fixtures shared by the unit tests, and readers of the executed chapters."""
import ast
import os

import pytest
import torch

GLUE = "application/papermill.record/text/plain"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use one thread: on a busy 2-core machine, 2 torch threads can run 100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def shares_a_fixture(item) -> bool:
    """Whether a test uses a fixture of this test suite that outlives one test (module or
    session scope: the studies' tiny runs, which take seconds to set up)."""
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(defs[-1].scope != "function" and defs[-1].baseid
                                    for defs in info.name2fixturedefs.values())


def pytest_collection_modifyitems(config, items):
    """Under mutation testing (mutmut names the mutant in ``MUTANT_UNDER_TEST``), tests with no
    shared fixture run first. mutmut stops at the first failing test and orders the tests by
    their own time, which leaves the fixture's set-up out, so a mutant a quick unit test kills
    would otherwise wait for a study's set-up first."""
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        items.sort(key=shares_a_fixture)


def rendered(name: str) -> str:
    """A notebook of the book as it renders: the markdown cells of book/<name>.ipynb and the
    markdown its code cells stored (tables rendered from the result files by `make book-exec`).
    Tests of the results' tables and sentences read it, so a number that changed in the files
    but not in the book fails them; a notebook out of step with its .py pair or holding an
    error fails too."""
    from pathlib import Path

    import jupytext
    import nbformat

    path = Path(__file__).resolve().parents[1] / "book" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    paired = jupytext.read(path.with_suffix(".py"))
    assert [c.source.strip() for c in paired.cells] == [c.source.strip() for c in nb.cells], \
        f"{path.name} and its .py pair differ: run jupytext --sync, then make book-exec"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} stored an error: run make book-exec"
    return "\n\n".join([c.source for c in nb.cells if c.cell_type == "markdown"]
                       + [o.get("data", {}).get("text/markdown", "") for o in outputs])


@pytest.fixture(scope="session")
def appendix() -> str:
    """The results appendix (book/appendix_results) as it renders (:func:`rendered`)."""
    return rendered("appendix_results")


@pytest.fixture(scope="session")
def comparison_appendix() -> str:
    """The appendix "The comparison in detail" (book/appendix_comparison) as it renders."""
    return rendered("appendix_comparison")


def glued(path) -> dict:
    """name -> value of every ``glue(name, value, display=False)`` stored in the executed notebook
    at ``path``."""
    import nbformat

    out = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = ast.literal_eval(o["data"][GLUE])
    return out


def prose(path) -> str:
    """The notebook's Markdown cells, whitespace flattened (a sentence may wrap across lines)."""
    import nbformat

    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return " ".join(text.split())

"""The package's three layers (els/__init__.py): the library, the book's helpers (els.book) and
the studies (els.studies), with the command line (els.cli) on top. Read from the source's
import statements (module level and inside functions alike), so an arrow that runs back up
fails here before it can become an import cycle."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "els"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The els modules ``path`` imports: ``from .x import y`` names ``els...x`` (or ``x.y`` when
    ``y`` is a module of package ``x``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "els"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "els":
                continue
            for alias in node.names:  # a submodule imported by name is an edge to it
                sub = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists() or \
                    (PACKAGE.parent / Path(*sub.split(".")) / "__init__.py").exists()
                found.add(sub if is_module else target)
    return found


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    if module in ("els.cli", "els.__main__"):
        return "command line"
    if module.startswith("els.book"):
        return "book"
    if module.startswith("els.studies"):
        return "studies"
    return "library"


ALLOWED = {"library": {"library"}, "book": {"library", "book"}, "studies": {"library", "book", "studies"},
           "command line": {"library", "book", "studies", "command line"}}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    """Fails if the library imports the book's helpers, the studies or the command line, or if
    the book's helpers import a study."""
    wrong = sorted(t for t in GRAPH[module] if layer(t) not in ALLOWED[layer(module)])
    assert not wrong, f"{module} ({layer(module)}) imports {wrong}"


def test_nothing_but_the_entry_point_imports_the_command_line():
    importers = sorted(m for m, targets in GRAPH.items() if "els.cli" in targets and m != "els.__main__")
    assert not importers, importers


def test_no_import_cycles():
    """Depth-first search over the import graph; fails with the cycle it finds."""
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in sorted(GRAPH.get(m, ())):
            if state.get(t) == 1:
                raise AssertionError(" -> ".join(path[path.index(t):] + [t]) if t in path else f"{m} -> {t}")
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


def test_the_library_stays_small_at_the_top():
    """The package's top level holds at most 14 modules; the rest lives in sub-packages."""
    assert len(list(PACKAGE.glob("*.py"))) <= 14


def test_the_graph_reads_real_imports():
    """A reader that found no edges would pass every test above: check a few known ones."""
    assert "els.machines.machine" in GRAPH["els.machines.golden"]
    assert "els.schedule" in GRAPH["els.sampling"]
    assert "els.studies.harness" in GRAPH["els.studies.reproduce"]
    assert "els.book.plotting" in GRAPH["els.studies.reproduce"]


def test_the_public_api_is_unchanged_and_moved_modules_still_resolve():
    """els.__all__ keeps every name readers import; els.paper and els.presets, now studies,
    still resolve (with a warning naming their new place) so old notebooks keep running."""
    import els
    from els.studies import paper, presets

    assert els.__all__ == ["alpha_bar", "noise_variance", "add_noise", "Machine", "IS", "ES", "LS", "ELS", "Wiener",
                           "PCALocality", "machine_for", "sample", "calibrate", "evaluate", "data", "models", "paper",
                           "presets"]
    with pytest.warns(DeprecationWarning, match="els.studies.presets"):
        assert els.presets is presets
    with pytest.warns(DeprecationWarning, match="els.studies.paper"):
        assert els.paper is paper
    with pytest.raises(AttributeError):
        els.plotting  # noqa: B018  moved to els.book, without an alias: it was never in __all__

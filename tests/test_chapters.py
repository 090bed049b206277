"""Every chapter as a reader meets it: at most 2,000 words (prose plus the Markdown its code
prints), no visible code cell whose only output is Markdown text, and three to five exercises,
each with a folded solution."""
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
APPENDICES = sorted(BOOK.glob("appendix_*.ipynb"))
HIDDEN = {"remove-input", "hide-input", "remove-cell"}


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z][A-Za-z'-]*", text))


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def reading(notebook: Path) -> dict:
    """Words of prose (without display maths and folded solutions), words of printed Markdown,
    visible Markdown-printing code cells and folded solutions of one executed notebook."""
    counts = {"prose": 0, "printed": 0, "printers": 0, "solutions": 0}
    for cell in json.loads(notebook.read_text())["cells"]:
        text = source(cell)
        if cell["cell_type"] == "markdown":
            body = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
            body = re.sub(r"(`{3,}|:{3,})\{admonition\}.*?\1", "", body, flags=re.S)
            counts["prose"] += words(body)
            counts["solutions"] += text.count(":class: dropdown")
            continue
        printed = ["".join(o["data"]["text/markdown"]) for o in cell.get("outputs", [])
                   if "text/markdown" in o.get("data", {})]
        counts["printed"] += sum(words(t) for t in printed)
        hidden = HIDDEN & set(cell.get("metadata", {}).get("tags", []))
        counts["printers"] += bool(printed) and not hidden and "glue(" not in text
    return counts


def test_the_counter_counts():
    """A counter that found nothing would pass every test below."""
    c = reading(CHAPTERS[0])
    assert c["prose"] > 300 and c["solutions"] >= 1


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_reads_in_at_most_2000_words(notebook):
    c = reading(notebook)
    assert c["prose"] + c["printed"] <= 2000, c


@pytest.mark.parametrize("notebook", CHAPTERS + APPENDICES, ids=lambda p: p.stem)
def test_no_visible_cell_only_prints_markdown(notebook):
    """Sentences come from the prose (numbers glued in); a table may be rendered by a hidden cell."""
    assert reading(notebook)["printers"] == 0


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_three_to_five_exercises_each_with_a_folded_solution(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    exercises = text[text.find("## Exercises"):] if "## Exercises" in text else ""
    numbered = re.findall(r"^(\d+)\. ", exercises, flags=re.M)
    assert 3 <= len(numbered) <= 5, f"{len(numbered)} exercises"
    assert reading(notebook)["solutions"] >= len(numbered)

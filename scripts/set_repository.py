"""Point the book at another repository, such as a fork:

    make repository URL=https://github.com/you/els

rewrites the one setting in the three places that hold it: ``repository.url`` in
``_config.yml`` (the site's repository and Colab buttons) and ``ELS_REPO`` in the first cell of
every chapter (what the Colab set-up cell clones and installs), in both files of each
``book/NN_*.py`` / ``.ipynb`` pair.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r'^ELS_REPO = "[^"]*"', re.M)
CONFIG = re.compile(r"^(repository:\n  url: ).*$", re.M)


def set_repository(url: str, root: Path = ROOT) -> list[Path]:
    """Write ``url`` everywhere the repository is named; returns the files changed."""
    import nbformat

    if not re.fullmatch(r"https://[^\s\"']+", url):
        raise ValueError(f"the repository URL must be an https:// address without spaces or quotes, got {url!r}")
    changed = []
    config = root / "_config.yml"
    text, n = CONFIG.subn(lambda m: m.group(1) + url, config.read_text())
    if n != 1:
        raise ValueError(f"{config} has no 'repository:' block with a 'url:' line")
    config.write_text(text)
    changed.append(config)
    for py in sorted((root / "book").glob("[0-9][0-9]_*.py")):
        text, n = CELL.subn(f'ELS_REPO = "{url}"', py.read_text(), count=1)
        if n != 1:
            raise ValueError(f"{py} has no ELS_REPO line in its first cell")
        py.write_text(text)
        notebook = py.with_suffix(".ipynb")
        nb = nbformat.read(notebook, as_version=4)
        nb.cells[0].source = CELL.sub(f'ELS_REPO = "{url}"', nb.cells[0].source, count=1)
        nbformat.write(nb, notebook)
        changed += [py, notebook]
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/set_repository.py https://github.com/you/els")
    try:
        files = set_repository(sys.argv[1])
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"repository set to {sys.argv[1]} in {len(files)} files")

"""Point the book at another repository, such as a fork:

    make repository URL=https://github.com/you/els

rewrites the one setting everywhere it is used: ``repository.url`` in ``_config.yml`` (the
site's repository and Colab buttons), ``ELS_REPO`` in the first cell of every chapter and
notebook appendix (what the Colab set-up cell clones and installs), in both files of each
``book/NN_*.py`` / ``book/appendix_*.py`` and ``.ipynb`` pair, and the links of ``README.md``
derived from it: the repository itself, the book's GitHub Pages address
(``https://OWNER.github.io/NAME/``) and every chapter's "Open in Colab" badge.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r'^ELS_REPO = "[^"]*"', re.M)
CONFIG = re.compile(r"^(repository:\n  url: )(.*)$", re.M)
GITHUB = re.compile(r"https://github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?")
NOTEBOOKS = ("[0-9][0-9]_*.py", "appendix_*.py")


def links(url: str, branch: str = "main") -> dict[str, str]:
    """What the README derives from a GitHub repository URL: the repository, the book's GitHub
    Pages address and the prefix of a chapter's Colab link (``book/NAME.ipynb`` follows it)."""
    m = GITHUB.fullmatch(url)
    if m is None:
        raise ValueError(f"the README's Pages and Colab links need a https://github.com/OWNER/NAME address, got {url!r}")
    owner, name = m.groups()
    return {"repository": f"https://github.com/{owner}/{name}",
            "pages": f"https://{owner.lower()}.github.io/{name}/",
            "colab": f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/"}


def set_repository(url: str, root: Path = ROOT) -> list[Path]:
    """Write ``url`` everywhere the repository is named; returns the files changed."""
    import nbformat

    if not re.fullmatch(r"https://[^\s\"']+", url):
        raise ValueError(f"the repository URL must be an https:// address without spaces or quotes, got {url!r}")
    changed = []
    config = root / "_config.yml"
    text = config.read_text()
    old = CONFIG.search(text)
    if old is None:
        raise ValueError(f"{config} has no 'repository:' block with a 'url:' line")
    readme = root / "README.md"
    if readme.exists():  # check both addresses before anything is written
        branch = re.search(r"^  branch: (\S+)$", text, re.M)
        branch = branch.group(1) if branch else "main"
        before, after = links(old.group(2).strip(), branch), links(url, branch)
    config.write_text(CONFIG.sub(lambda m: m.group(1) + url, text, count=1))
    changed.append(config)
    if readme.exists():
        text = readme.read_text()
        for key in ("colab", "pages"):  # both end in "/": a chapter's path follows
            text = text.replace(before[key], after[key])
        # the repository itself, not a longer name it begins (els-book/els-data)
        text = re.sub(re.escape(before["repository"]) + r"(?![\w.-])", lambda m: after["repository"], text)
        readme.write_text(text)
        changed.append(readme)
    for py in sorted(p for pattern in NOTEBOOKS for p in (root / "book").glob(pattern)):
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

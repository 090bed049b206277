"""Execute the book's chapter notebooks and store their outputs (``make book-exec``).

Usage: ``ELS_PRESET=laptop ELS_STATIC=1 python tests/book_execute.py [book/NAME.ipynb ...]``

Each chapter's paired ``book/NAME.py`` (jupytext percent) and ``book/NAME.ipynb`` are synced
first (the newer one wins, as in ``jupytext --sync``), the notebook is executed with the
``python3`` kernel in ``book/`` and written back with its outputs. Progress bars that closed
themselves (``tqdm(leave=False)``) leave widget views without a model behind them; those are
dropped, and so is the widget state when no widget view remains, so the static page does not
load the widget manager for nothing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def chapters() -> list[Path]:
    """The chapter notebooks, in order: ``book/NN_*.ipynb``, then the notebook appendices
    ``book/appendix_*.ipynb`` (each from its .py pair if absent)."""
    return sorted({p.with_suffix(".ipynb") for pattern in ("[0-9][0-9]_*.py", "appendix_*.py") for p in BOOK.glob(pattern)}
                  | set(BOOK.glob("[0-9][0-9]_*.ipynb")) | set(BOOK.glob("appendix_*.ipynb")))


def sync(notebook: Path) -> None:
    """Create the .ipynb from its .py pair, or bring the older of the two up to date."""
    jupytext = [sys.executable, "-m", "jupytext", "--quiet"]
    if notebook.exists():
        subprocess.run(jupytext + ["--sync", str(notebook)], check=True)
    else:
        subprocess.run(jupytext + ["--set-formats", "ipynb,py:percent", "--set-kernel", "python3",
                                   str(notebook.with_suffix(".py"))], check=True)


def _references(value) -> set[str]:
    """Model ids referenced as ``"IPY_MODEL_<id>"`` anywhere inside a widget's state."""
    if isinstance(value, str):
        return {value[len("IPY_MODEL_"):]} if value.startswith("IPY_MODEL_") else set()
    if isinstance(value, dict):
        return set().union(*map(_references, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_references, value)) if value else set()
    return set()


def _is_progress_bar(model_id: str, state: dict) -> bool:
    """tqdm's notebook bar: an HBox holding a progress model."""
    model = state.get(model_id, {})
    if model.get("model_name") != "HBoxModel":
        return False
    children = model.get("state", {}).get("children", [])
    return any(state.get(c, {}).get("model_name", "").endswith("ProgressModel") for c in _references(children))


def clean_widgets(nb) -> int:
    """Drop progress-bar widget views (tqdm) and views whose model is not stored; keep only
    the widget state that the remaining views use (none: drop it). Returns views dropped."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    dropped, roots = 0, set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                model_id = view.get("model_id")
                if model_id not in state or _is_progress_bar(model_id, state):
                    dropped += 1
                    continue
                roots.add(model_id)
            outputs.append(out)
        cell.outputs = outputs
    keep, todo = set(), list(roots)
    while todo:
        model_id = todo.pop()
        if model_id in keep or model_id not in state:
            continue
        keep.add(model_id)
        todo.extend(_references(state[model_id].get("state", {})))
    if keep:
        nb.metadata["widgets"][WIDGET_STATE]["state"] = {k: v for k, v in state.items() if k in keep}
    else:
        nb.metadata.pop("widgets", None)
    return dropped


def execute(notebook: Path, timeout: int = 3600) -> float:
    """Execute ``notebook`` in place; returns the wall time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    start = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()
    clean_widgets(nb)
    nbformat.write(nb, notebook)
    return time.time() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    args = parser.parse_args(argv)
    notebooks = [p.resolve().with_suffix(".ipynb") for p in args.notebooks] or chapters()
    print(f"preset {os.environ.get('ELS_PRESET', '(default)')}, ELS_STATIC={os.environ.get('ELS_STATIC', '')}")
    total = 0.0
    for notebook in notebooks:
        sync(notebook)
        seconds = execute(notebook)
        sync(notebook)  # refresh the .py pair's timestamp (its text does not change)
        total += seconds
        print(f"{notebook.relative_to(ROOT)}: {seconds:.0f} s", flush=True)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

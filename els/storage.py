"""Crash-safe files for long runs: atomic whole-file writes and append-only records."""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a crash leaves
    either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a text file and flush it to disk; a torn last line left by a crash
    is closed first, so it cannot swallow the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON records of a JSON-lines file, in order (none if it does not exist); a torn last
    line left by a crash is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON record as a line (see ``append_line``)."""
    append_line(path, json.dumps(record))

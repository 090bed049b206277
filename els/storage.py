"""What long runs write to disk: atomic whole-file writes (text, bytes or torch objects),
append-only records, and the run record (git commit, machine) every manifest carries."""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text, as UTF-8, or bytes) to ``path`` so that a crash leaves either the
    old file or the new one, never half of one; returns ``path``."""
    with _replacing(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)`` with the same guarantee as ``write_atomic``; returns ``path``."""
    with _replacing(path) as f:
        torch.save(obj, f)
    return Path(path)


@contextmanager
def _replacing(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file for ``path``'s new content: a temporary file beside it, flushed to disk
    and renamed over ``path`` when the block ends, removed if the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


LOCK = ".els.lock"


class FolderInUse(RuntimeError):
    """Another live run holds the output folder."""


class NotEnoughSpace(OSError):
    """The output folder's disk has less free space than the run will write."""


@contextmanager
def claimed_folder(path: str | Path, need_bytes: int = 0) -> Iterator[Path]:
    """Hold ``path`` (created if needed) for one run: refuse it when it is not writable, when
    its disk has less than ``need_bytes`` free (the run's estimate of what it writes), or when
    another live process holds it; remove temporaries that dead processes left there, and keep
    a lock file (our process id) until the block ends."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".els-probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"cannot write to {path} ({e.strerror or e}); choose a writable output folder") from None
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise NotEnoughSpace(f"{path}: {free / 1e6:,.0f} MB free on its disk, but this run writes about "
                             f"{need_bytes / 1e6:,.0f} MB; free some space or choose an output folder on another disk")
    lock = path / LOCK
    try:
        holder = int(lock.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        holder = 0
    if holder and holder != os.getpid() and _alive(holder):
        raise FolderInUse(f"{path} is in use by another run (process {holder}, {lock}); wait for it to finish, "
                           "or choose another output folder")
    for stale in path.glob(".*.tmp"):  # left by _replacing in a process that was killed
        match = re.fullmatch(r"\..+\.(\d+)\.tmp", stale.name)
        if match and not _alive(int(match.group(1))):
            stale.unlink(missing_ok=True)
    lock.write_text(str(os.getpid()))
    try:
        yield path
    finally:
        lock.unlink(missing_ok=True)


@contextmanager
def results_folder(path: str | Path, resume: bool, force: bool, need_bytes: int = 0) -> Iterator[Path]:
    """``path`` held for a run's results (``claimed_folder``: writable, ``need_bytes`` free, ours
    alone), then used as is when empty, continued when it holds results and ``resume``, emptied
    when ``force``; otherwise a FileExistsError naming the three ways out."""
    with claimed_folder(path, need_bytes) as path:
        held = [p for p in path.iterdir() if p.name != LOCK]
        if held and not (resume or force):
            raise FileExistsError(f"{path} already holds results; continue them with resume=True (--resume), "
                                  "replace them with force=True (--force), or choose another out folder")
        if held and force:
            for p in held:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        yield path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def timing_path(out: str | Path) -> Path:
    """``<out>.timing.json``: where a run writing ``out`` adds up its seconds (evaluate, calibrate)."""
    return Path(f"{out}.timing.json")


def read_timing(out: str | Path | None, empty: dict) -> dict:
    """The timing earlier runs into ``out`` left (:func:`timing_path`), else a copy of ``empty``."""
    path = None if out is None else timing_path(out)
    return json.loads(path.read_text()) if path is not None and path.exists() else dict(empty)


def git_commit() -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``els``."""
    repo = Path(__file__).resolve().parent.parent  # els/ -> the repository
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Platform, CPU count, torch version and the device a run used (GPU name on CUDA)."""
    device = torch.device(device)
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info

"""Crash-safe writes and the run record (els.storage)."""
import pytest
import torch

from els import storage


def test_write_atomic_writes_text_and_bytes_and_leaves_no_temporary_file(tmp_path):
    """Fails if text or bytes are not written as given, a missing folder is not created, or the
    temporary file is left behind."""
    path = tmp_path / "new" / "summary.json"
    assert storage.write_atomic(path, "P(t) \u2192 15\n") == path
    assert path.read_text(encoding="utf-8") == "P(t) \u2192 15\n"
    storage.write_atomic(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    """Fails if a write that dies half way (here: torch cannot pickle a lambda) replaces or
    truncates the previous file, or leaves its temporary file behind."""
    path = tmp_path / "checkpoint.pt"
    storage.save_atomic({"step": 3, "w": torch.arange(4.0)}, path)
    with pytest.raises(Exception):
        storage.save_atomic({"step": 4, "hook": lambda: None}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["step"] == 3 and torch.equal(loaded["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_run_record_names_commit_and_machine():
    """Fails if a manifest's provenance fields go missing."""
    assert set(storage.git_commit()) == {"commit", "dirty"}
    info = storage.machine_info("cpu")
    assert info["device"] == "cpu" and info["torch"] == torch.__version__ and info["cpu_count"] >= 1


def test_results_folder_refuses_resumes_or_empties_and_is_held_alone(tmp_path):
    """Fails if results are silently reused or replaced, if --force deletes the lock it holds or
    leaves old results, or if a folder another live run holds is touched (even with force)."""
    import os

    out = tmp_path / "results"
    with storage.results_folder(out, resume=False, force=False) as here:
        assert (here / storage.LOCK).read_text() == str(os.getpid())
        (here / "samples.csv").write_text("seed\n0\n")
        (here / "calibration").mkdir()
    assert not (out / storage.LOCK).exists()
    with pytest.raises(FileExistsError, match="--resume.*--force"):
        with storage.results_folder(out, resume=False, force=False):
            pytest.fail("entered a folder holding results")
    with storage.results_folder(out, resume=True, force=False) as here:
        assert (here / "samples.csv").read_text() == "seed\n0\n"
    with storage.results_folder(out, resume=False, force=True) as here:
        assert sorted(p.name for p in here.iterdir()) == [storage.LOCK]
        (here / "samples.csv").write_text("new\n")
    (out / storage.LOCK).write_text(str(os.getppid()))  # a live process other than this one
    with pytest.raises(storage.FolderInUse, match="in use by another run"):
        with storage.results_folder(out, resume=False, force=True):
            pytest.fail("entered a folder another run holds")
    assert (out / "samples.csv").read_text() == "new\n"


def test_a_full_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    """Fails if a folder on a disk with less free space than the run's estimate is accepted, or
    if the message does not say how much is free, how much is needed and what to do."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 3_000_000, 3_000_000))
    with pytest.raises(storage.NotEnoughSpace, match="3 MB free.*about 20 MB; free some space"):
        with storage.claimed_folder(tmp_path / "run", need_bytes=20_000_000):
            pytest.fail("entered a folder without room")
    assert not (tmp_path / "run" / storage.LOCK).exists()
    with storage.claimed_folder(tmp_path / "run", need_bytes=2_000_000):
        pass


def test_a_crash_in_the_middle_of_an_atomic_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """Fails if write_atomic writes in place: a crash after the new bytes are written but before
    they reach the disk (injected at fsync) must leave the previous content, not the new or half."""
    import os

    path = tmp_path / "summary.json"
    storage.write_atomic(path, "old content\n")

    def crash(fd):
        raise OSError("power cut")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="power cut"):
        storage.write_atomic(path, "new content that never lands\n")
    assert path.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_run_that_fails_releases_its_folder(tmp_path):
    """Fails if a run that raises leaves its lock behind (the next run would be refused)."""
    with pytest.raises(ValueError):
        with storage.results_folder(tmp_path / "out", resume=False, force=False):
            raise ValueError("the run failed")
    assert not (tmp_path / "out" / storage.LOCK).exists()
    with storage.results_folder(tmp_path / "out", resume=True, force=False) as here:
        assert here == tmp_path / "out"


def test_results_folder_checks_the_free_space_it_is_given(tmp_path, monkeypatch):
    """Fails if results_folder claims its folder without asking for the run's bytes."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1_000_000, 1_000_000))
    with pytest.raises(storage.NotEnoughSpace):
        with storage.results_folder(tmp_path / "out", resume=False, force=False, need_bytes=2_000_000):
            pytest.fail("entered a folder without room")
    with storage.results_folder(tmp_path / "out", resume=False, force=False, need_bytes=500_000):
        pass


def test_json_lines_after_a_torn_line_are_kept(tmp_path):
    """Fails if the reader stops at a torn or garbled line and loses every record after it."""
    path = tmp_path / "calibration.jsonl"
    path.write_text('{"seed": 0}\n{"seed": 1, "sim\n{"seed": 2}\nnot json\n{"seed": 3}\n')
    assert storage.read_jsonl(path) == [{"seed": 0}, {"seed": 2}, {"seed": 3}]
    storage.append_jsonl(path, {"seed": 4})
    assert storage.read_jsonl(path)[-1] == {"seed": 4}


def test_append_line_writes_exactly_one_line_and_closes_a_torn_one(tmp_path):
    """Fails if append_line adds a newline that is not needed (new, empty or complete file), does
    not close a torn last line before the new one, looks at any byte but the last, cannot create
    missing folders, or if read_jsonl fails on a file that does not exist yet."""
    path = tmp_path / "deep" / "er" / "rows.txt"
    assert storage.read_jsonl(path) == []
    storage.append_line(path, "a")                      # new file in new folders
    assert path.read_text() == "a\n"
    storage.append_line(path, "b")                      # complete last line: nothing to close
    assert path.read_text() == "a\nb\n"
    path.write_text("a\nb\n\nxy")                       # torn last line (its second-last byte is 'x')
    storage.append_line(path, "c")
    assert path.read_text() == "a\nb\n\nxy\nc\n"
    path.write_text("a\n\n")                            # ends in newline, second-last byte also newline
    storage.append_line(path, "d")
    assert path.read_text() == "a\n\nd\n"
    path.write_text("z\nq")                             # torn, second-last byte is a newline
    storage.append_line(path, "e")
    assert path.read_text() == "z\nq\ne\n"
    path.write_text("")                                 # empty file: nothing torn
    storage.append_line(path, "f")
    assert path.read_text() == "f\n"
    storage.append_jsonl(tmp_path / "rec.jsonl", {"k": [1, 2]})
    assert (tmp_path / "rec.jsonl").read_text() == '{"k": [1, 2]}\n'

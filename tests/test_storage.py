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

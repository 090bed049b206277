"""scripts/mutate.py resumes a mutation run across sessions: what it keeps, what it tests again.
The verdicts of a module hold only for the source they were found on; a killed mutant is not
tested again, a survivor or a mutant not yet run is."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mutate_script", ROOT / "scripts" / "mutate.py")
mutate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutate)

SAMPLING, SCHEDULE = "els/sampling.py", "els/schedule.py"
KILLED, TIMEOUT, SURVIVED, NO_TEST = 1, 36, 0, 33


@pytest.fixture
def hashes():
    return {module: f"hash of {module}" for module in mutate.SCOPE}


def _stored(hashes, module, mutants, source=None):
    return {module: {"source_sha256": source or hashes[module], "mutants": mutants}}


def test_the_source_hash_is_the_files_sha256(tmp_path):
    import hashlib
    assert mutate.source_hash(SAMPLING) == hashlib.sha256((ROOT / SAMPLING).read_bytes()).hexdigest()
    assert mutate.source_hash(SAMPLING) != mutate.source_hash(SCHEDULE)


def test_verdicts_hold_only_for_the_source_they_were_found_on(hashes):
    stored = {**_stored(hashes, SAMPLING, {"a": KILLED}), **_stored(hashes, SCHEDULE, {"b": KILLED}, source="old")}
    assert mutate.still_valid(stored, hashes) == {SAMPLING: {"a": KILLED}}
    assert mutate.still_valid({"els/gone.py": {"source_sha256": "x", "mutants": {}}}, hashes) == {}


def test_a_fresh_verdict_replaces_a_stored_one_and_not_run_keeps_it(hashes):
    stored = _stored(hashes, SAMPLING, {"a": KILLED, "b": SURVIVED, "c": None})
    fresh = {SAMPLING: {"a": None, "b": KILLED, "c": None, "d": None}, SCHEDULE: {"e": TIMEOUT}}
    out = mutate.merged(stored, fresh, hashes)
    assert out[SAMPLING] == {"source_sha256": hashes[SAMPLING], "mutants": {"a": KILLED, "b": KILLED, "c": None,
                                                                           "d": None}}
    assert out[SCHEDULE] == {"source_sha256": hashes[SCHEDULE], "mutants": {"e": TIMEOUT}}
    assert stored[SAMPLING]["mutants"]["b"] == SURVIVED, "the stored verdicts are not changed in place"


def test_a_changed_module_loses_its_verdicts(hashes):
    stored = _stored(hashes, SAMPLING, {"a": KILLED}, source="old")
    assert mutate.merged(stored, {SAMPLING: {"z": None}}, hashes)[SAMPLING]["mutants"] == {"z": None}
    assert SAMPLING not in mutate.merged(stored, {}, hashes)


def test_what_is_left_to_run(hashes):
    stored = _stored(hashes, SAMPLING, {"a": KILLED, "b": TIMEOUT, "c": SURVIVED, "d": None, "e": NO_TEST})
    names = mutate.to_run(stored, hashes)
    assert [n for n in names if not n.endswith("*")] == ["c", "d", "e"], "survivors and mutants not run, not kills"
    patterns = [n for n in names if n.endswith("*")]
    assert len(patterns) == sum(len(f) for m, f in mutate.SCOPE.items() if m != SAMPLING), "every other module whole"
    assert "els.schedule.*__mutmut_*" in patterns
    assert not any(p.startswith("els.sampling.") for p in patterns)
    assert mutate.to_run({}, hashes) == mutate.patterns()


def test_mutmuts_records_are_read_in_scope_and_a_torn_one_is_skipped(tmp_path):
    machine = "els/machines/machine.py"
    (tmp_path / "els" / "machines").mkdir(parents=True)
    inside, outside = "els.machines.machine.x_implied_noise__mutmut_1", "els.machines.machine.x_other__mutmut_1"
    assert mutate.in_scope(inside) and not mutate.in_scope(outside)
    (tmp_path / f"{machine}.meta").write_text(json.dumps({"exit_code_by_key": {inside: 1, outside: 0}}))
    (tmp_path / f"{SCHEDULE}.meta").write_text('{"exit_code_by_key": {"els.sched')  # being written
    assert mutate.meta_codes(tmp_path) == {machine: {inside: 1}}


def test_collect_counts_a_module_never_started_as_empty(hashes):
    decided = _stored(hashes, SAMPLING, {"a": KILLED, "b": SURVIVED, "c": None})
    result = mutate.collect(decided)
    assert result[SAMPLING]["counts"] == {"killed": 1, "survived": 1, "not run": 1}
    assert result[SCHEDULE] == {"counts": {}, "mutants": {}}


def test_under_mutation_tests_without_a_shared_fixture_run_first(monkeypatch):
    """tests/conftest.py reorders only under a mutant, and keeps the order within each group."""
    from types import SimpleNamespace

    import conftest

    def item(name, *scopes_and_bases):
        defs = {f"f{k}": [SimpleNamespace(scope=scope, baseid=base)] for k, (scope, base) in enumerate(scopes_and_bases)}
        return SimpleNamespace(name=name, _fixtureinfo=SimpleNamespace(name2fixturedefs=defs))

    items = [item("study", ("module", "tests/test_standing.py")), item("unit", ("function", "tests")),
             item("tmp", ("session", "")), item("study2", ("session", "tests")), item("plain")]
    assert [conftest.shares_a_fixture(i) for i in items] == [True, False, False, True, False]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "")
    unchanged = list(items)
    conftest.pytest_collection_modifyitems(None, unchanged)
    assert unchanged == items, "a plain test run keeps its order"
    monkeypatch.setenv("MUTANT_UNDER_TEST", "els.evaluate.x_evaluate__mutmut_3")
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.name for i in items] == ["unit", "tmp", "plain", "study", "study2"]


def test_the_committed_report_covers_the_scope_with_every_survivor_explained():
    """artifacts/mutation/report.json counts mutants in every module of the scope, none left
    unexplained or not run; the README's command list states its size and a full pass's time
    (the longest run in the manifest) as committed."""
    folder = ROOT / "artifacts" / "mutation"
    report = json.loads((folder / "report.json").read_text())
    assert set(report["counts"]) == set(mutate.SCOPE)
    assert all(sum(counts.values()) > 0 for counts in report["counts"].values())
    assert report["unexplained"] == [] and report["not_run"] == []
    total = sum(sum(counts.values()) for counts in report["counts"].values())
    longest = max(run["seconds"] for run in json.loads((folder / "manifest.json").read_text())["runs"])
    readme = (ROOT / "README.md").read_text()
    assert f"{total:,} mutants, a full pass {round(longest / 60)} min" in readme

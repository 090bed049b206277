"""`make mutate`: mutation testing of the layers around the numerical core, and its report.

    python scripts/mutate.py [--children 2] [--fresh] [--report-only] [--out artifacts/mutation]

Runs mutmut 3 (configured in pyproject.toml: the modules, their focused test files) on the
functions in :data:`SCOPE` (the sampler's update, the machines' eps <-> x0 conversion,
calibration, evaluation, the schedules and the training step, EMA and checkpoints), then
reads its per-module records (mutants/els/*.py.meta), counts killed / survived / no test per
module, and lists every surviving or untested mutant with its change and, where one is written
in ``explained.json`` beside the report, why it is equivalent (the code behaves the same). An
explanation names the mutant and the exact change it was written for, so a stale one (the code
moved) counts as unexplained. Writes ``report.md``, ``report.json`` and ``manifest.json``;
exits 1 when a survivor is unexplained or a mutant is not yet run. ``--report-only`` needs the
mutants/ folder of a run in this checkout (the changes are read from it).

The whole scope takes hours on 2 cores, so a run resumes: every minute, and when it stops (also
on Ctrl-C), the verdicts so far go to ``decided.json`` beside the report, per module with the
SHA-256 of the module's source. The next run skips every mutant already killed in a module whose
source is unchanged (tests are only ever added, so a killed mutant stays killed) and tests the
rest again: survivors (a new test may kill them) and mutants not yet run. ``--fresh`` ignores
``decided.json`` and tests everything. The manifest sums the wall time of the runs that decided
the report.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: module -> the functions mutated (mutmut's names: ``x_f`` for a function, ``xǁClassǁf`` for a
#: method; ``*`` for all). Left out, and why: ``train.train`` and ``_Run.loop`` (the loop; hundreds
#: of mutants at seconds each; pinned instead by the tests that a resumed or interrupted run equals
#: a straight one bit for bit, keeps its loss average and spends only the rest of its budget), ``train._export``/``draw_samples``/``save_grid``/``main``
#: (files and pictures written after training), the rest of ``machines`` (the numerical core,
#: checked against float64 brute force in tests/test_engine.py and tests/test_machines.py).
SCOPE = {
    "els/sampling.py": ["*"],
    "els/schedule.py": ["*"],  # with checked_t, noise_levels and the x0 / eps conversions
    "els/calibrate.py": ["*"],
    "els/evaluate.py": ["*"],  # scorer, summaries, paired bootstrap intervals, resume
    "els/machines/machine.py": ["xǁMachineǁeps", "xǁMachineǁdenoise", "x_implied_noise", "xǁSubsetViewǁ*"],
    "els/machines/wiener.py": ["*"],
    "els/machines/pca_locality.py": ["*"],
    "els/machines/golden.py": ["*"],
    "els/machines/tiered.py": ["*"],
    "els/provenance.py": ["x_nearest_two", "x_copies"],
    "els/storage.py": ["x_write_atomic", "x_save_atomic", "x__replacing", "x_claimed_folder", "x_results_folder",
                       "x_append_line", "x_read_jsonl", "x_append_jsonl"],
    "els/data.py": ["x_balanced_subset", "x_checked_label", "x_to_unit_range", "x__select"],
    "els/models.py": ["xǁSelfAttentionǁforward"],
    "els/train.py": ["x_train_step", "x_ema_decay", "x__ema_update", "x__ema_copy", "x_learning_rate", "x__debias",
                     "x__check_args", "x__checksum", "x__save_checkpoint", "x__load_checkpoint",
                     "x__stop_after_step_on_interrupt", "x_validation_loss", "xǁ_Runǁstart", "xǁ_Runǁbatch_indices",
                     "xǁ_Runǁcheckpoint"],
    "els/studies/standing.py": ["x_summarise_machines", "x_shuffled", "x__quartiles", "x__width",
                                "x_network_sensitivity", "x_paired_intervals", "x_stated_pairs"],
    "els/studies/harness.py": ["x_write_summary", "x_run_id", "x_earlier_runs"],
    "els/studies/memorisation.py": ["x_copy_measures", "x_model_names"],
}
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
UNCAUGHT = {0: "survived", 5: "no test", 33: "no test"}
#: the verdicts so far, per module with its source's hash (a resumed run skips what they settle)
DECIDED = "decided.json"


def status(code: int | None) -> str:
    if code in KILLED:
        return KILLED[code]
    return UNCAUGHT.get(code, "not run" if code is None else f"suspicious ({code})")


def change(name: str, module: Path) -> str:
    """The mutant's changed lines, ``- old`` then ``+ new`` (whitespace-trimmed), from mutmut."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=module).splitlines()
    lines = [line for line in diff[2:] if line[:1] in "+-"]
    return "\n".join(f"{line[0]} {line[1:].strip()}" for line in lines)


def patterns() -> list[str]:
    """mutmut name patterns of every mutant in :data:`SCOPE`."""
    return [f"{module[:-3].replace('/', '.')}.{function}__mutmut_*"
            for module, functions in SCOPE.items() for function in functions]


def in_scope(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns())


def source_hash(module: str) -> str:
    """SHA-256 of a module's source: the mutants (and their names) of a module follow from it."""
    return hashlib.sha256((ROOT / module).read_bytes()).hexdigest()


def meta_codes(mutants_dir: Path) -> dict[str, dict[str, int | None]]:
    """Per module of :data:`SCOPE`: mutant -> mutmut's exit code (None: not run yet) of the
    mutants in scope, from mutmut's records in ``mutants_dir`` (a module whose record is missing
    or being written is left out)."""
    out = {}
    for module in SCOPE:
        try:
            codes = json.loads((mutants_dir / f"{module}.meta").read_text())["exit_code_by_key"]
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        out[module] = {name: code for name, code in codes.items() if in_scope(name)}
    return out


def still_valid(decided: dict, hashes: dict[str, str]) -> dict[str, dict[str, int | None]]:
    """The stored verdicts that hold for the modules' sources now: per module whose source has
    the hash the verdicts were found on, every mutant with its exit code."""
    return {module: dict(entry["mutants"]) for module, entry in decided.items()
            if module in SCOPE and entry.get("source_sha256") == hashes.get(module)}


def merged(decided: dict, fresh: dict[str, dict[str, int | None]], hashes: dict[str, str]) -> dict:
    """``decided`` updated with ``fresh`` verdicts (mutmut's codes of this run; None, not run in
    this run, keeps a stored verdict): per module, its source hash and mutant -> exit code."""
    valid = still_valid(decided, hashes)
    out = {module: {"source_sha256": hashes[module], "mutants": dict(valid.get(module, {}))}
           for module in SCOPE if module in valid or module in fresh}
    for module, codes in fresh.items():
        mutants = out[module]["mutants"]
        for name, code in codes.items():
            if code is not None or name not in mutants:
                mutants[name] = code
    return out


def to_run(decided: dict, hashes: dict[str, str]) -> list[str]:
    """mutmut names or patterns for what is left: every mutant of a module without valid stored
    verdicts, and the stored mutants of the others that were not killed."""
    valid = still_valid(decided, hashes)
    names = []
    for module, functions in SCOPE.items():
        if module not in valid:
            names += [f"{module[:-3].replace('/', '.')}.{function}__mutmut_*" for function in functions]
        else:
            names += sorted(name for name, code in valid[module].items() if status(code) not in ("killed", "timeout"))
    return names


def collect(decided: dict) -> dict[str, dict]:
    """Per module of :data:`SCOPE`: ``counts`` by status and ``mutants`` (name -> status) of the
    mutants in scope, from the verdicts ``decided`` (:func:`merged`)."""
    out = {}
    for module in SCOPE:
        mutants = {name: status(code) for name, code in decided.get(module, {"mutants": {}})["mutants"].items()}
        out[module] = {"counts": dict(Counter(mutants.values())), "mutants": mutants}
    return out


def run_mutmut(children: int, names: list[str], save) -> None:
    """``mutmut run`` on ``names`` (:func:`to_run`); ``save(verdicts)`` receives mutmut's verdicts
    so far (:func:`meta_codes`) every minute and once more when mutmut stops, however it stops."""
    env = dict(os.environ, ELS_PRESET="smoke", OMP_WAIT_POLICY="PASSIVE")
    # mutmut copies each file of els/ into mutants/ only when it is missing there (it refreshes
    # the mutated modules alone), so a mutants/ left by an earlier run holds stale copies of the
    # other modules, and the tests fail on them ("failed to collect stats"): start afresh
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    stop = threading.Event()

    def every_minute():
        while not stop.wait(60):
            save(meta_codes(ROOT / "mutants"))

    saver = threading.Thread(target=every_minute, daemon=True)
    saver.start()
    try:
        if names:
            subprocess.run([str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(children),
                            *names], cwd=ROOT, env=env, check=False)
    finally:
        stop.set()
        saver.join()
        save(meta_codes(ROOT / "mutants"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "mutation")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (CPU cores)")
    parser.add_argument("--fresh", action="store_true", help="ignore decided.json: test every mutant again")
    parser.add_argument("--report-only", action="store_true", help="report the stored verdicts, run nothing")
    parser.add_argument("--command", default="make mutate")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut reads pyproject.toml and mutants/ from the working directory
    import tomllib

    import mutmut

    from els.storage import git_commit, machine_info, write_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    decided_path = args.out / DECIDED
    stored = {"modules": {}, "runs": []}
    if decided_path.exists() and not args.fresh:
        stored = json.loads(decided_path.read_text())
    hashes = {module: source_hash(module) for module in SCOPE}
    this_run = {"git": git_commit(), "machine": machine_info(), "children": args.children,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": 0.0}
    clock = time.perf_counter()
    state = {"modules": stored["modules"]}

    def save(fresh: dict) -> None:
        state["modules"] = merged(stored["modules"], fresh, hashes)
        this_run["seconds"] = round(time.perf_counter() - clock, 1)
        write_atomic(decided_path, json.dumps({"modules": state["modules"], "runs": stored["runs"] + [this_run]},
                                              indent=1))

    if not args.report_only:
        names = to_run(stored["modules"], hashes)
        print(f"mutate: {len(names)} mutants or patterns to test ({DECIDED}: "
              f"{sum(map(len, still_valid(stored['modules'], hashes).values()))} verdicts still valid)")
        run_mutmut(args.children, names, save)
        stored["runs"].append(this_run)
    decided = state["modules"] if not args.report_only else merged(stored["modules"], {}, hashes)
    seconds = sum(run["seconds"] for run in stored["runs"])
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    explained_path = args.out / "explained.json"
    explained = json.loads(explained_path.read_text()) if explained_path.exists() else {}
    results = collect(decided)
    rows, open_, totals = [], [], Counter()
    not_run = [module for module, result in results.items() if not result["mutants"]]  # mutmut never got to it
    for module, result in results.items():
        totals.update(result["counts"])
        for name, verdict in sorted(result["mutants"].items()):
            if verdict in ("killed", "timeout"):
                continue
            if verdict == "not run":
                not_run.append(name)
                continue
            diff = change(name, Path(module))
            note = explained.get(name)
            ok = note is not None and note["change"] == diff
            rows.append({"module": module, "mutant": name, "status": verdict, "change": diff,
                         "why": note["why"] if ok else None})
            if not ok:
                open_.append(name)
    lines = ["# Mutation testing", "",
             f"`{args.command}` (mutmut {mutmut.__version__}): each mutant is one small change to a module "
             "(an operator, a constant, an argument); the module's focused tests run against it. "
             "*Killed*: a test failed. *Survived*: every test passed. *No test*: no selected test calls "
             "the function. Every survivor and untested mutant is listed below with why it is harmless "
             "(equivalent code) or out of scope; any without a reason is marked **unexplained**.", "",
             "| module | mutants | killed | timeout | survived | no test | not run | unexplained |",
             "|---|---|---|---|---|---|---|---|"]
    for module, result in results.items():
        c = result["counts"]
        unexplained = sum(1 for r in rows if r["module"] == module and r["why"] is None)
        lines.append(f"| `{module}` | {sum(c.values()) or 'not started'} | {c.get('killed', 0)} | "
                     f"{c.get('timeout', 0)} | {c.get('survived', 0)} | {c.get('no test', 0)} | "
                     f"{c.get('not run', 0)} | {unexplained} |")
    scope = "; ".join(f"`{m}`: {', '.join(f.removeprefix('x_').replace('xǁ', '').replace('ǁ', '.') for f in fs)}"
                      for m, fs in SCOPE.items())
    lines += ["", f"Functions mutated: {scope} (scripts/mutate.py says why the rest are left out).", "",
              "Lines not mutated (`do_not_mutate_patterns` in pyproject.toml): the wording of error messages "
              "(the conditions that raise them are mutated; tests/test_errors.py checks their key phrases), "
              "progress-bar display, and default values in signatures (documented in the docstrings; the tests "
              "pass the arguments they rely on). Patterns: "
              + ", ".join(f"`{pattern}`" for pattern in config.get("do_not_mutate_patterns", [])) + ".", "",
              f"Wall time: {seconds / 60:.1f} min in {len(stored['runs'])} run(s) (manifest.json: each run's commit, "
              "machine and seconds).", ""]
    for module in results:
        mine = [r for r in rows if r["module"] == module]
        if not mine:
            continue
        lines += [f"## `{module}`", ""]
        for r in mine:
            short = r["mutant"].rsplit(".", 1)[-1]
            lines += [f"- `{short}` ({r['status']}): {r['why'] or '**unexplained**'}", "", "  ```diff",
                      *(f"  {line}" for line in r["change"].splitlines()), "  ```", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "report.md", "\n".join(lines))
    write_atomic(args.out / "report.json", json.dumps({"counts": {m: r["counts"] for m, r in results.items()},
                                                       "uncaught": rows, "unexplained": open_, "not_run": not_run},
                                                      indent=1))
    manifest = {"command": args.command, "tool": f"mutmut {mutmut.__version__}", "git": git_commit(),
                "machine": machine_info(), "wall_seconds": seconds, "runs": stored["runs"], "config": config,
                "scope": SCOPE}
    write_atomic(args.out / "manifest.json", json.dumps(manifest, indent=1))
    print(f"mutation report: {dict(totals)}; {len(open_)} unexplained, {len(not_run)} not run (run it again to "
          f"go on) -> {args.out / 'report.md'}")
    return 1 if open_ or not_run else 0


if __name__ == "__main__":
    sys.exit(main())

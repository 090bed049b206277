"""`make mutate`: mutation testing of the layers around the numerical core, and its report.

    python scripts/mutate.py [--children 2] [--report-only --seconds WALL] [--out artifacts/mutation]

Runs mutmut 3 (configured in pyproject.toml: the modules, their focused test files) on the
functions in :data:`SCOPE` (the sampler's update, the machines' eps <-> x0 conversion,
calibration, evaluation, the schedules and the training step, EMA and checkpoints), then
reads its per-module records (mutants/els/*.py.meta), counts killed / survived / no test per
module, and lists every surviving or untested mutant with its change and, where one is written
in ``explained.json`` beside the report, why it is equivalent (the code behaves the same). An
explanation names the mutant and the exact change it was written for, so a stale one (the code
moved) counts as unexplained. Writes ``report.md``, ``report.json`` and ``manifest.json``;
exits 1 when a survivor is unexplained. Every run re-tests every mutant in scope (mutmut re-runs
mutants named on its command line). The scope before the wiener/pca_locality/golden/tiered/storage/data/studies
additions took 876 s on 2 cores; the wider scope has not been timed yet.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
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
                                "x_network_sensitivity"],
    "els/studies/harness.py": ["x_write_summary", "x_run_id", "x_earlier_runs"],
    "els/studies/memorisation.py": ["x_copy_measures", "x_model_names"],
}
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
UNCAUGHT = {0: "survived", 5: "no test", 33: "no test"}


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


def collect() -> dict[str, dict]:
    """Per module of :data:`SCOPE`: ``counts`` by status and ``mutants`` (name -> status) of the
    mutants in scope, from mutmut's records in mutants/."""
    out = {}
    for module in SCOPE:
        meta = ROOT / "mutants" / f"{module}.meta"
        if not meta.exists():
            raise SystemExit(f"no {meta}: run `make mutate` first")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        mutants = {name: status(code) for name, code in codes.items() if in_scope(name)}
        out[module] = {"counts": dict(Counter(mutants.values())), "mutants": mutants}
    return out


def run_mutmut(children: int) -> float:
    """``mutmut run`` on the mutants in scope; returns its wall time in seconds."""
    env = dict(os.environ, ELS_PRESET="smoke", OMP_WAIT_POLICY="PASSIVE")
    start = time.perf_counter()
    # mutmut copies each file of els/ into mutants/ only when it is missing there (it refreshes
    # the mutated modules alone), so a mutants/ left by an earlier run holds stale copies of the
    # other modules, and the tests fail on them ("failed to collect stats"): start afresh
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    subprocess.run([str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(children),
                    *patterns()], cwd=ROOT, env=env, check=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "mutation")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (CPU cores)")
    parser.add_argument("--report-only", action="store_true", help="report mutmut's stored results, run nothing")
    parser.add_argument("--seconds", type=float, help="with --report-only: the wall time to report")
    parser.add_argument("--command", default="make mutate")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut reads pyproject.toml and mutants/ from the working directory
    seconds = args.seconds if args.report_only else run_mutmut(args.children)
    import tomllib

    import mutmut

    from els.storage import git_commit, machine_info, write_atomic

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    explained_path = args.out / "explained.json"
    explained = json.loads(explained_path.read_text()) if explained_path.exists() else {}
    results = collect()
    rows, open_, totals = [], [], Counter()
    for module, result in results.items():
        totals.update(result["counts"])
        for name, state in sorted(result["mutants"].items()):
            if state in ("killed", "timeout"):
                continue
            diff = change(name, Path(module))
            note = explained.get(name)
            ok = note is not None and note["change"] == diff
            rows.append({"module": module, "mutant": name, "status": state, "change": diff,
                         "why": note["why"] if ok else None})
            if not ok:
                open_.append(name)
    lines = ["# Mutation testing", "",
             f"`{args.command}` (mutmut {mutmut.__version__}): each mutant is one small change to a module "
             "(an operator, a constant, an argument); the module's focused tests run against it. "
             "*Killed*: a test failed. *Survived*: every test passed. *No test*: no selected test calls "
             "the function. Every survivor and untested mutant is listed below with why it is harmless "
             "(equivalent code) or out of scope; any without a reason is marked **unexplained**.", "",
             "| module | mutants | killed | timeout | survived | no test | unexplained |", "|---|---|---|---|---|---|---|"]
    for module, result in results.items():
        c = result["counts"]
        unexplained = sum(1 for r in rows if r["module"] == module and r["why"] is None)
        lines.append(f"| `{module}` | {sum(c.values())} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
                     f"{c.get('survived', 0)} | {c.get('no test', 0)} | {unexplained} |")
    scope = "; ".join(f"`{m}`: {', '.join(f.removeprefix('x_').replace('xǁ', '').replace('ǁ', '.') for f in fs)}"
                      for m, fs in SCOPE.items())
    lines += ["", f"Functions mutated: {scope} (scripts/mutate.py says why the rest are left out).", "",
              "Lines not mutated (`do_not_mutate_patterns` in pyproject.toml): the wording of error messages "
              "(the conditions that raise them are mutated; tests/test_errors.py checks their key phrases), "
              "progress-bar display, and default values in signatures (documented in the docstrings; the tests "
              "pass the arguments they rely on). Patterns: "
              + ", ".join(f"`{pattern}`" for pattern in config.get("do_not_mutate_patterns", [])) + ".", "",
              f"Wall time: {'not measured' if seconds is None else f'{seconds / 60:.1f} min'}.", ""]
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
                                                       "uncaught": rows, "unexplained": open_}, indent=1))
    manifest = {"command": args.command, "tool": f"mutmut {mutmut.__version__}", "git": git_commit(),
                "machine": machine_info(), "wall_seconds": seconds, "config": config,
                "scope": SCOPE}
    write_atomic(args.out / "manifest.json", json.dumps(manifest, indent=1))
    print(f"mutation report: {dict(totals)}; {len(open_)} unexplained -> {args.out / 'report.md'}")
    return 1 if open_ else 0


if __name__ == "__main__":
    sys.exit(main())

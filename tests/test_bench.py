"""The benchmark runs end to end on a tiny training set and reports finite ratios for every case."""
import math

from els import bench


def test_bench_reports_every_case(capsys):
    result = bench.run(n_images=12, repeats=1, device="cpu", out=None, memory=False)
    assert [(r["machine"], r["patch_size"]) for r in result["rows"]] == list(bench.CASES)
    for row in result["rows"]:
        assert row["plain_entries"] >= row["dedup_entries"] > 0
        assert math.isfinite(row["engine_over_floor"]) and row["engine_over_floor"] > 0
    assert "engine/floor" in capsys.readouterr().out


def test_peak_memory_of_one_call_is_measured_in_a_fresh_process():
    """The memory rows' measurement: a fresh process, a positive peak, the windows counted
    before de-duplication (zero-padded ELS, P = 5: every pixel of every image has one)."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "els.bench", "--peak", "ELS zeros (bbELS)", "5", "uniform", "20"],
                         capture_output=True, text=True, check=True).stdout
    peak = json.loads(out)
    assert peak["windows"] == 20 * 32 * 32 and peak["peak_bytes"] > 0


def test_bench_refuses_to_overwrite_a_result_without_force(tmp_path, capsys):
    import pytest

    out = tmp_path / "bench.json"
    out.write_text("{}")
    with pytest.raises(SystemExit):
        bench.main(["--images", "12", "--out", str(out)])
    assert "--force" in capsys.readouterr().err and out.read_text() == "{}"


def test_readme_performance_tables_are_the_committed_bench_result():
    """The README's numbers are rendered from artifacts/bench/cpu.json, not typed by hand:
    `python -m els.bench --markdown artifacts/bench/cpu.json` prints them."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = json.loads((root / "artifacts" / "bench" / "cpu.json").read_text())
    readme = (root / "README.md").read_text()
    for line in bench.markdown(result).splitlines():
        assert line in readme, f"README lacks this bench line (re-render it): {line}"

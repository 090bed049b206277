"""The benchmark runs end to end on a tiny training set and reports finite ratios for every case."""
import math

from els.studies import bench


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

    out = subprocess.run([sys.executable, "-m", "els", "bench", "--peak", "ELS zeros (bbELS)", "5", "uniform", "20"],
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


def test_appendix_performance_tables_are_the_committed_bench_result(appendix):
    """The results appendix's performance tables are rendered from artifacts/bench/cpu.json,
    not typed by hand: `python -m els bench --markdown artifacts/bench/cpu.json` prints them."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = json.loads((root / "artifacts" / "bench" / "cpu.json").read_text())
    for line in bench.markdown(result).splitlines():
        assert line in appendix, f"book/appendix_results lacks this bench line (make book-exec): {line}"


def test_appendix_scaling_and_tiered_tables_and_claims_are_the_committed_bench_results(appendix):
    """The results appendix's dictionary-size tables are the committed scaling and tiered
    results rendered, and its sentences quote them: cost proportional to N within the stated margin,
    the issue's criterion (median r >= 0.995 at <= 1.5x the exact 500-image cost) met by the
    tiered mode and by the subset alone, the worst pixel error and r."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    scaling = json.loads((root / "artifacts" / "bench" / "scaling.json").read_text())
    tiered = json.loads((root / "artifacts" / "bench" / "tiered.json").read_text())
    for line in (bench.scaling_markdown(scaling) + "\n" + bench.tiered_markdown(tiered)).splitlines():
        assert line in appendix, f"book/appendix_results lacks this bench line (make book-exec): {line}"
    flat = " ".join(appendix.split())
    per = [r["s_per_sample"] / r["images"] for r in scaling["rows"]]
    assert f"within {100 * max(abs(p / per[0] - 1) for p in per):.0f}% of the 500-image cost" in flat
    rows = tiered["rows"]
    assert rows["tiered"]["r_median"] >= 0.995 and tiered["tiered_over_exact_k"] <= 1.5
    assert rows["exact, k images"]["r_median"] >= 0.995
    assert (f"met by the tiered mode ({rows['tiered']['r_median']:.4f} at {tiered['tiered_over_exact_k']:.2f}x), "
            f"and also by the 500-image subset alone ({rows['exact, k images']['r_median']:.4f})") in flat
    assert (f"differ by up to {rows['tiered']['max_pixel_error']:.2f} (on [-1, 1]) and the worst r is "
            f"{rows['tiered']['r_min']:.3f}") in flat
    assert f"Tiered(machine, k={tiered['k']}, switch={tiered['switch']:g})" in flat

"""The benchmark runs end to end on a tiny training set and reports finite ratios for every case."""
import math

from els import bench


def test_bench_reports_every_case(capsys):
    result = bench.run(n_images=12, repeats=1, device="cpu", out=None)
    assert [(r["machine"], r["patch_size"]) for r in result["rows"]] == list(bench.CASES)
    for row in result["rows"]:
        assert row["plain_entries"] >= row["dedup_entries"] > 0
        assert math.isfinite(row["engine_over_floor"]) and row["engine_over_floor"] > 0
    assert "engine/floor" in capsys.readouterr().out

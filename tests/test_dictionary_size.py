"""The dictionary-size study (els.studies.dictionary_size) on a tiny checkpoint."""
import numpy as np
import pytest
import torch

from els.studies import dictionary_size
from els import models
from els.evaluate import agreement, read_images, read_rows
from els.machines.matched import machine_for
from els.studies.harness import training_data
from els.studies.reproduce import reproduce_model
from els.sampling import sample, seeded_inputs
from test_mechanisms import SIZES, _tiny_checkpoint


def test_dictionary_study_of_a_tiny_checkpoint(tmp_path):
    """Fails if it runs before reproduce or past the training subset, if a size's machines do
    not hold exactly that many of the network's images (recomputed here), if the fixed stage
    does not use the reproduction's schedules, or if the summary leaves out a complete size,
    a metric or a calibration's time."""
    spec, model_dir = _tiny_checkpoint(tmp_path, "zeros")
    models_dir, out = tmp_path / "models", tmp_path / "results"
    run = dict(preset="smoke", models_dir=models_dir, out=out, sizes=SIZES, seeds=(6, 7), progress=False)
    with pytest.raises(FileNotFoundError, match="els reproduce"):
        dictionary_size.dictionary_study(spec, n_images=(4, 8), **run)
    reproduce_model(spec, "smoke", models_dir, out, progress=False, sizes=SIZES)
    with pytest.raises(ValueError, match="trained on 20 images"):
        dictionary_size.dictionary_study(spec, n_images=(4, 32), **run)
    summary = dictionary_size.dictionary_study(spec, n_images=(4, 8), resume=True, **run)
    assert sorted(summary["sizes"], key=int) == ["4", "8"]
    fixed = summary["fixed_schedules"]
    network = models.load(model_dir / "model.pt")
    noise, _ = seeded_inputs([6, 7], (1, 32, 32))
    target = sample(network, noise, 3)
    for n in (4, 8):
        images, labels = training_data(model_dir, n)
        assert len(images) == n
        exact = sample(machine_for(model_dir, "ELS", images, labels), noise, 3, fixed["ELS"])
        rows = read_rows(out / spec.name / "dictionary" / f"N{n}" / "samples.csv")
        got = [r["r"] for r in sorted(rows, key=lambda r: r["seed"]) if r["machine"] == "ELS"]
        assert got == pytest.approx(agreement(exact, target)["r"].tolist(), abs=1e-5)
        stored = read_images(out / spec.name / "dictionary" / f"N{n}" / "images.pt")
        torch.testing.assert_close(stored["images"]["ELS"], exact, atol=1e-5, rtol=0)
        entry = summary["sizes"][str(n)]
        assert set(entry["machines"]) == {"IS", "LS", "ELS", "LS (recalibrated)", "ELS (recalibrated)"}
        assert entry["machines"]["ELS"] == pytest.approx({"r": float(np.median(got)), "n": 2,
                                                          "r2": float(np.median(np.square(got))),
                                                          "R2": entry["machines"]["ELS"]["R2"]}, abs=1e-6)
        assert set(entry["calibration_seconds"]) == {"ELS", "LS"}
        assert all(s > 0 for s in entry["calibration_seconds"].values())
        recal = read_rows(out / spec.name / "dictionary" / f"N{n}" / "recalibrated.csv")
        els_recal = sample(machine_for(model_dir, "ELS", images, labels), noise, 3, entry["schedules"]["ELS"])
        assert [r["r"] for r in sorted(recal, key=lambda r: r["seed"]) if r["machine"] == "ELS (recalibrated)"] \
            == pytest.approx(agreement(els_recal, target)["r"].tolist(), abs=1e-5)
        assert sorted(r["r"] for r in recal if r["machine"] == "IS") == sorted(r["r"] for r in rows if r["machine"] == "IS")
        assert set(entry["seconds_per_sample"]) >= {"IS", "LS", "ELS", "ELS (recalibrated)", "network@3"}


def test_tiered_bench_scores_against_the_studys_exact_samples(tmp_path, monkeypatch):
    """Fails if the bench's reference samples are not aligned with its seeds (the exact machine
    on every image must then reproduce them: r = 1, no pixel error), if it runs without them,
    or if its ratios are not those of its own timings."""
    from els.studies import bench

    spec, model_dir = _tiny_checkpoint(tmp_path, "zeros")
    monkeypatch.setenv("ELS_ARTIFACTS", str(tmp_path))
    models_dir, out = tmp_path / "models", tmp_path / "results"
    reproduce_model(spec, "smoke", models_dir, out, progress=False, sizes=SIZES)
    with pytest.raises(FileNotFoundError, match="els dictionary"):
        bench.tiered_run(spec.name, k=5, switch=0.5)
    dictionary_size.dictionary_study(spec, "smoke", models_dir, out, n_images=(20,), stages=("fixed",), sizes=SIZES,
                                     seeds=dictionary_size.SEEDS[:4], progress=False)
    monkeypatch.setattr(bench, "TIERED_SEEDS_TIMED_EXACT", 3)
    result = bench.tiered_run(spec.name, k=5, switch=0.5, batch=2)
    rows = result["rows"]
    assert result["seeds"] == [6, 7, 8, 9] and rows["exact, every image"]["seeds"] == 3
    assert rows["exact, every image"]["r_min"] == pytest.approx(1, abs=1e-6)
    assert rows["exact, every image"]["max_pixel_error"] < 1e-5
    assert rows["exact, k images"]["r_median"] < 0.9999  # five images do not make the same samples
    assert result["tiered_over_exact_k"] == rows["tiered"]["s_per_sample"] / rows["exact, k images"]["s_per_sample"]
    assert "tiered: 20 images at t <= 0.5, 5 above" in bench.tiered_markdown(result)


def test_scaling_bench_times_each_size_on_its_nested_subset(tmp_path, monkeypatch):
    """Fails if a row's dictionary is not built from that many training images (its entries
    recounted here) or the markdown does not render every row."""
    from els.studies import bench

    spec, model_dir = _tiny_checkpoint(tmp_path, "zeros")
    monkeypatch.setenv("ELS_ARTIFACTS", str(tmp_path))
    reproduce_model(spec, "smoke", tmp_path / "models", tmp_path / "results", progress=False, sizes=SIZES)
    result = bench.scaling_run(spec.name, n_images=(5, 10), seeds=(6,))
    schedule = result["schedule"]
    for row in result["rows"]:
        images, labels = training_data(model_dir, row["images"])
        machine = machine_for(model_dir, "ELS", images, labels)
        assert row["entries"] == sum(len(d) for p in set(schedule) for d in machine.dictionaries(p, None)[1])
        assert row["s_per_sample"] > 0
    assert result["rows"][0]["entries"] < result["rows"][1]["entries"]
    text = bench.renderer(result)(result)
    assert "| 5 | " in text and "| 10 | " in text and text.count("\n") == 3


def test_chapter_9_dictionary_claims_match_the_committed_study():
    """Chapter 9's dictionary-size claims, now in the appendix "How robust are the agreement numbers"
    (book/appendix_robustness): for both networks of the full study, ELS's median r at the
    smallest and the largest dictionary differ by at most 0.02, IS's change is the glued one (a
    tie), and ELS leads IS by more than 0.1 at every size (the glued smallest lead is that of
    the committed rows, read from the executed notebook)."""
    import json
    from pathlib import Path

    from els.evaluate import paired_difference
    from test_chapter_09 import dictionary_rows, glued, prose

    root = Path(__file__).resolve().parents[1]
    studies = [p for p in sorted((root / "artifacts" / "results").glob("*/dictionary/summary.json"))
               if "125" in json.loads(p.read_text())["sizes"]]  # the full study, not only N = 500 and 4,000
    assert [p.parts[-3] for p in studies] == ["fashion_mnist_unet_zeros", "mnist_resnet_zeros"]
    text = prose("appendix_robustness")
    assert "ELS agrees about as well holding 125 of the network's training images as holding all 4,000" in text
    g, leads = glued("appendix_robustness"), []
    for path, key in zip(studies, ("fu", "mr")):
        sizes, name = json.loads(path.read_text())["sizes"], path.parts[-3]
        assert {"125", "4000"} <= set(sizes), path
        first, last = sizes["125"]["machines"], sizes["4000"]["machines"]
        assert abs(last["ELS"]["r"] - first["ELS"]["r"]) <= 0.02, path
        assert all(e["machines"]["ELS"]["r"] - e["machines"]["IS"]["r"] > 0.1 for e in sizes.values()), path
        fixed = [r for n in sizes for r in dictionary_rows(name, n, ("samples.csv",))]
        assert g[f"is_grow_{key}"] == paired_difference(fixed, "IS @4000", "IS @125")["difference"], path
        leads += [paired_difference(fixed, f"ELS @{n}", f"IS @{n}")["difference"] for n in sizes]
    assert g["size_lead"] == min(leads) > 0.1


def test_whole_set_table_and_summary_read_each_sizes_calibrated_rows_and_time_the_large_one():
    """Fails if a cell takes the fixed schedule's row where the size was recalibrated, or takes
    it at a size the reproduction did not calibrate at, if the minutes leave out a calibration,
    a machine or the seeds, if a model without both sizes gets a row, or if the summary's ranges
    and lead are not those of the rows (a model missing a row is left out of it)."""
    def m(r):
        return {"r": r, "r2": r * r, "R2": r - 0.5, "n": 2}

    timing = {"network@150": 1.0, "IS": 2.0, "LS": 50.0, "ELS": 70.0, "LS (recalibrated)": 3.0,
              "ELS (recalibrated)": 4.0}
    study = {"network_steps": 150, "seeds": 2, "fixed_schedules": {}, "sizes": {
        "500": {"machines": {"IS": m(0.5), "LS": m(0.6), "ELS": m(0.7)}, "seconds_per_sample": {}, "schedules": {}},
        "4000": {"machines": {"IS": m(0.55), "LS": m(0.1), "ELS": m(0.2), "LS (recalibrated)": m(0.65),
                              "ELS (recalibrated)": m(0.75)},
                 "seconds_per_sample": timing, "schedules": {}, "calibration_seconds": {"ELS": 60.0, "LS": 30.0}}}}
    table = dictionary_size.whole_set_table({"mnist_resnet_zeros": study,
                                             "mnist_unet_zeros": {**study, "sizes": {"500": study["sizes"]["500"]}}})
    lines = table.splitlines()
    assert len(lines) == 3 and lines[2].startswith("| MNIST ResNet |")
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[1:4] == ["0.70 → 0.75", "0.49 → 0.56", "0.20 → 0.25"]  # ELS r, r^2, R^2
    assert cells[4:8] == ["0.60 → 0.65", "0.10 → 0.15", "0.50 → 0.55", "0.00 → 0.05"]
    assert cells[8:] == [f"{(60 + 30 + 2 * (1 + 2 + 3 + 4)) / 60:.1f}", "2"]
    other = dictionary_size.whole_set_table({"mnist_resnet_zeros": study}, reproduced=1000)
    assert "| - → 0.75 |" in other  # 500 images, neither recalibrated nor the reproduction's size
    import copy

    better = copy.deepcopy(study)
    better["sizes"]["4000"]["machines"]["ELS (recalibrated)"] = m(0.85)
    assert dictionary_size.whole_set_summary({"mnist_resnet_zeros": better, "mnist_unet_zeros": study}) == (
        "From 500 to 4,000 training images, on the 2 networks with both sizes, median r changes: ELS by +0.05 to "
        "+0.15, LS by +0.05 to +0.05, IS by +0.05 to +0.05. With all 4,000 images ELS still leads IS by at least "
        "0.20 in median r.")
    assert dictionary_size.whole_set_summary({"mnist_resnet_zeros": study}, reproduced=1000) == ""
    # schedules: the reproduction's at 500 (fixed), the study's own at 4,000
    better["fixed_schedules"] = {"ELS": [3, 3, 5, 7], "LS": [3, 3, 3, 3]}
    better["sizes"]["4000"]["schedules"] = {"ELS": [3, 5, 7, 5], "LS": [9, 9, 9, 9]}
    both = dictionary_size.whole_set_summary({"mnist_resnet_zeros": better, "mnist_unet_zeros": study})
    assert both.endswith(" The ELS patch size calibrated at 4,000 images is larger than at 500 at 2 of the 4 steps "
                         "and smaller at 1 of them (on 1 of the 2 networks; the study lacks the others' schedules)."), both
    own = copy.deepcopy(better)
    own["sizes"]["500"]["schedules"] = {"ELS": [3, 5, 7, 7]}  # the study's own calibration at 500 wins
    assert dictionary_size.whole_set_summary({"a": own, "b": better}).endswith(
        "is larger than at 500 at 0 to 2 of the 4 steps and smaller at 1 of them.")


def test_appendix_whole_set_table_and_paragraph_are_the_committed_study(capsys):
    """The robustness appendix's 4,000-image table, the paragraph under it and the line naming the
    networks still to run are ``python -m els dictionary --markdown`` on the committed studies."""
    from pathlib import Path

    from conftest import rendered
    from els.cli import main

    appendix = rendered("appendix_robustness")
    root = Path(__file__).resolve().parents[1]
    assert main(["dictionary", "--markdown", "--out", str(root / "artifacts" / "results"),
                 "--models-dir", str(root / "artifacts" / "models")]) == 0
    block = capsys.readouterr().out.strip()
    assert block.startswith("| model | ELS r |")
    assert block in appendix, "book/appendix_robustness's 4,000-image block is stale: run make book-exec"
    assert appendix.count("Still to run at") == block.count("Still to run at")


def test_still_to_run_names_the_paper_rows_without_a_large_reproduction():
    """Fails if a network with ELS at 4,000 images is named, one without is not, a network with
    no paper row (the attention UNets) is named, or the reproduction's order is lost."""
    done = {"mnist_unet_zeros": {"sizes": {"4000": {"machines": {"ELS (recalibrated)": {"r": 0.9}}}}}}
    assert dictionary_size.still_to_run(done) == ["MNIST ResNet", "Fashion ResNet", "Fashion UNet",
                                                  "MNIST ResNet circular"]


def test_chapter_9_whole_set_claims_match_the_committed_study():
    """Chapter 9's claims on the 4,000-image reproduction, now in the appendix "How robust are the
    agreement numbers" (book/appendix_robustness): on each of the five networks (both sizes),
    ELS's median r (calibrated at each size) moves by at most 0.05 and leads IS's by more than
    0.1 at 4,000 images (the glued largest rise and smallest lead, read from the executed
    notebook, are those of the committed rows); its patch size calibrated at 4,000 is larger at
    a few steps (1 to a third of them) and smaller at one at most."""
    from pathlib import Path

    from els.evaluate import paired_difference
    from els.studies.harness import read_summaries
    from test_chapter_09 import dictionary_rows, glued, prose

    root = Path(__file__).resolve().parents[1]
    text = prose("appendix_robustness")
    assert ("ELS's median $r$ rises by at most {glue:text}`whole_els_max:.2f` from 500 to 4,000 images on each "
            "of the {glue:text}`whole_n:d` networks") in text
    assert "ELS still leads IS by at least {glue:text}`whole_lead:.2f`" in text
    assert "calibration picks larger patches at a few steps and smaller ones at hardly any" in text
    studies = read_summaries(root / "artifacts" / "results", dictionary_size.STAGE)
    assert dictionary_size.still_to_run(studies) == []  # "each of the five": every network with a paper row
    checked, rises, leads = 0, [], []
    for name, study in studies.items():
        small, large = (dictionary_size.calibrated_row(study, n, "ELS") for n in (500, 4000))
        if small is None or large is None:
            continue
        checked += 1
        assert abs(large["r"] - small["r"]) <= 0.05, name
        assert large["r"] - dictionary_size.calibrated_row(study, 4000, "IS")["r"] > 0.1, name
        before, after = (dictionary_size.calibrated_schedule(study, n, "ELS") for n in (500, 4000))
        larger, smaller = sum(b > a for a, b in zip(before, after)), sum(b < a for a, b in zip(before, after))
        assert 1 <= larger <= len(before) // 3 and smaller <= 1, (name, larger, smaller)  # "a few", "hardly any"
        rows = dictionary_rows(name, 500) + dictionary_rows(name, 4000)
        els_small = "ELS (recalibrated) @500" if "ELS (recalibrated)" in study["sizes"]["500"]["machines"] else "ELS @500"
        rises.append(paired_difference(rows, "ELS (recalibrated) @4000", els_small)["difference"])
        leads.append(paired_difference(rows, "ELS (recalibrated) @4000", "IS @4000")["difference"])
    assert checked >= 5
    g = glued("appendix_robustness")
    assert g["whole_n"] == checked and g["whole_els_max"] == max(rises) <= 0.05
    assert g["whole_lead"] == min(leads) > 0.1

"""The dictionary-size study (els.dictionary_size) on a tiny checkpoint."""
import numpy as np
import pytest
import torch

from els import dictionary_size, models
from els.evaluate import agreement, read_images, read_rows
from els.matched import machine_for
from els.reproduce import reproduce_model, training_data
from els.sampling import sample, seeded_inputs
from test_mechanisms import SIZES, _tiny_checkpoint


def test_dictionary_study_of_a_tiny_checkpoint(tmp_path):
    """Fails if it runs before reproduce or past the training subset, if a size's machines do
    not hold exactly that many of the network's images (recomputed here), if the fixed stage
    does not use the reproduction's schedules, or if the summary leaves out a complete size."""
    spec, model_dir = _tiny_checkpoint(tmp_path, "zeros")
    models_dir, out = tmp_path / "models", tmp_path / "results"
    run = dict(preset="smoke", models_dir=models_dir, out=out, p=SIZES, seeds=(6, 7), progress=False)
    with pytest.raises(FileNotFoundError, match="els reproduce"):
        dictionary_size.dictionary_study(spec, sizes=(4, 8), **run)
    reproduce_model(spec, "smoke", models_dir, out, progress=False, sizes=SIZES)
    with pytest.raises(ValueError, match="trained on 20 images"):
        dictionary_size.dictionary_study(spec, sizes=(4, 32), **run)
    summary = dictionary_size.dictionary_study(spec, sizes=(4, 8), resume=True, **run)
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
                                                          "R2": entry["machines"]["ELS"]["R2"]}, abs=1e-6)
        recal = read_rows(out / spec.name / "dictionary" / f"N{n}" / "recalibrated.csv")
        els_recal = sample(machine_for(model_dir, "ELS", images, labels), noise, 3, entry["schedules"]["ELS"])
        assert [r["r"] for r in sorted(recal, key=lambda r: r["seed"]) if r["machine"] == "ELS (recalibrated)"] \
            == pytest.approx(agreement(els_recal, target)["r"].tolist(), abs=1e-5)
        assert set(entry["seconds_per_sample"]) >= {"IS", "LS", "ELS", "ELS (recalibrated)", "network@3"}

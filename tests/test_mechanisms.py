"""Mechanisms (book chapter 9): counted spatial inconsistency, and the per-model pipeline on a
tiny checkpoint."""
import json

import pytest
import torch

from els.studies import harness, mechanisms, presets, standing
from els import models, train
from els.studies.harness import ModelSpec, training_data
from els.studies.reproduce import reproduce_model


SIZES = presets.EvalPreset(n_seeds=3, calibration_seeds=2, steps=3, network_steps=(3,), calibration_images=20,
                           max_scale=5, quick=True)


def _tiny_checkpoint(tmp_path, padding):
    """A 2-step MNIST ResNet saved as ``mnist_resnet_<padding>`` under tmp_path/models: (spec, model folder)."""
    images = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model_dir = tmp_path / "models" / f"mnist_resnet_{padding}"
    train.train(models.ResNet(width=16, depth=1, emb_half=8, padding=padding), images, steps=2, batch_size=4,
                out_dir=model_dir, progress=False, n_samples=0,
                data_info={"name": "mnist", "max_images": 20, "subset_seed": 0, "conditional": False})
    return ModelSpec(model_dir.name), model_dir


def _image(*blobs, size=8):
    """A (1, 1, size, size) image in [-1, 1]: background -1, each blob (row slice, column slice) +1."""
    x = -torch.ones(1, 1, size, size)
    for rows, cols in blobs:
        x[0, 0, rows, cols] = 1.0
    return x


def test_components_counts_8_connected_regions_above_the_minimum_area():
    """Fails if regions touching only at a corner count twice, if separate regions merge, if
    specks under the minimum area count, or if colour images are not judged on their mean."""
    one = _image((slice(1, 3), slice(1, 3)), (slice(3, 5), slice(3, 5)))  # two squares meeting at a corner
    two = _image((slice(0, 2), slice(0, 3)), (slice(5, 8), slice(5, 6)))
    speck = _image((slice(0, 2), slice(0, 3)), (slice(6, 7), slice(6, 8)))  # a 2-pixel speck: not counted
    empty = -torch.ones(1, 1, 8, 8)
    got = mechanisms.components(torch.cat([one, two, speck, empty]))
    assert got.tolist() == [1, 2, 1, 0]
    colour = two.expand(1, 3, 8, 8).clone()
    colour[:, 1:, 5:8, 5] = -1.0  # the second blob is bright in one channel of three: mean below 0
    assert mechanisms.components(colour).tolist() == [1]
    summary = mechanisms.component_summary(torch.tensor([1, 2, 1, 0]))
    assert summary["mean"] == 1.0 and summary["share_above_1"] == 0.25 and summary["n"] == 4


def test_mechanisms_of_a_tiny_checkpoint(tmp_path):
    """Fails if the pipeline does not refuse to run before reproduce and standing, or if its
    files do not hold a single-step r per machine, step and seed (ELS at its calibrated P(t)
    recomputed here), a sensitivity map per step and component counts; a rerun is refused
    without --resume and then reuses the files."""
    import els
    from els.evaluate import agreement
    from els.sampling import seeded_inputs, trajectory

    spec, model_dir = _tiny_checkpoint(tmp_path, "zeros")
    sizes, out = SIZES, tmp_path / "results"
    with pytest.raises(FileNotFoundError, match="els reproduce and python -m els standing"):
        mechanisms.mechanisms_model(spec, "smoke", tmp_path / "models", out, sizes=sizes)
    reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    standing.stand_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    summary = mechanisms.mechanisms_model(spec, "smoke", tmp_path / "models", out, sizes=sizes)
    here = out / spec.name / "mechanisms"
    saved = json.loads((here / "trajectory.json").read_text())
    assert saved["seeds"] == [2, 3, 4] and saved["t"] == pytest.approx([1 / 3, 2 / 3, 1])
    assert {k: torch.tensor(v).shape for k, v in saved["r"].items()} == {m: (3, 3) for m in mechanisms.MACHINES}
    network = models.load(model_dir / "model.pt")
    schedule = json.loads((out / spec.name / "calibration_ELS.json").read_text())["schedule"]
    data, _ = training_data(model_dir, 20)
    machine = els.ELS(data, padding="zeros", device="cpu")
    noise, _ = seeded_inputs([2, 3, 4], (1, 32, 32))
    for t, x_t, x0, _ in trajectory(network, noise, 3):
        i = round(t * 3) - 1
        r = agreement(machine.denoise(x_t, t, patch_size=schedule[i]), x0)["r"]
        assert torch.allclose(torch.tensor(saved["r"]["ELS"][i], dtype=torch.float64), r, atol=1e-5)
    assert torch.load(here / "sensitivity.pt", weights_only=True).shape == (3, 1, 32, 32)
    counts = summary["components"]
    assert {"network", "IS", "LS", "ELS", "test images"} <= set(counts) and counts["test images"]["n"] == 200
    import numpy as np

    assert summary["r_median"]["ELS"] == pytest.approx(np.median(saved["r"]["ELS"], axis=1).tolist())
    with pytest.raises(FileExistsError, match="--resume"):
        mechanisms.mechanisms_model(spec, "smoke", tmp_path / "models", out, sizes=sizes)
    before = (here / "trajectory.json").stat().st_mtime_ns
    again = mechanisms.mechanisms_model(spec, "smoke", tmp_path / "models", out, sizes=sizes, resume=True)
    assert again["r_median"] == summary["r_median"] and (here / "trajectory.json").stat().st_mtime_ns == before


def test_chapter_9_mechanism_claims_match_the_committed_results():
    """The sentences of chapter 9's "Coarse to fine" and "Spatial inconsistency" sections (their
    numbers are rendered from the same files) against artifacts/results/*/mechanisms."""
    from pathlib import Path

    summaries = harness.read_summaries(Path(__file__).resolve().parents[1] / "artifacts" / "results", mechanisms.STAGE)
    assert len(summaries) >= 5
    for name, s in summaries.items():
        r, t = s["r_median"], s["t"]
        noisy, middle, quiet = len(t) - 1, len(t) // 2 - 1, 0
        at_noise = [r[m][noisy] for m in ("ELS", "LS", "IS")]
        assert max(at_noise) < 0.6 and max(at_noise) - min(at_noise) < 0.1, name  # poor, about equal
        assert min(r["ELS"][middle], r["LS"][middle]) > r["IS"][middle] + 0.1, name  # patch machines locked on
        assert min(r["ELS"][quiet], r["LS"][quiet]) > 0.9 > r["IS"][quiet], name
        c = {k: v["share_above_1"] for k, v in s["components"].items() if isinstance(v, dict)}
        assert c["network"] > c["test images"] and c["ELS"] > c["network"] and c["LS"] > c["network"] - 0.05, name
        assert c["IS"] <= c["test images"] + 0.15, name


def test_centre_to_border_by_hand():
    """Fails if the ratio is not the centre square's mean brightness over the rest's, on [0, 1]."""
    x = -torch.ones(2, 1, 4, 4)  # brightness 0
    x[:, :, 1:3, 1:3] = 1.0  # a bright 2 x 2 centre
    x[0, 0, 0, 0] = 1.0  # one bright border pixel in one of the two images: border mean 0.5 / 12
    assert mechanisms.centre_to_border(x, inner=2) == pytest.approx(1.0 / (0.5 / 12))
    assert mechanisms.centre_to_border(torch.zeros(1, 3, 6, 6), inner=2) == pytest.approx(1.0)


def test_chapter_9_position_claims_match_the_committed_samples():
    """Chapter 9's "Where the ink sits": zero padding centres the network's and ELS's strokes
    like the training digits; circular padding spreads them evenly; the position-specific
    machines (IS, LS) stay centred for both networks. On the committed final images."""
    from pathlib import Path

    from els.evaluate import read_images

    results = Path(__file__).resolve().parents[1] / "artifacts" / "results"
    ratio = {name: {k: mechanisms.centre_to_border(v) for k, v in
                    read_images(results / name / "standing" / "final_images.pt")["images"].items()}
             for name in ("mnist_resnet_zeros", "mnist_resnet_circular")}
    for name in ratio:
        assert min(ratio[name]["IS"], ratio[name]["LS"]) > 3, name
    assert min(ratio["mnist_resnet_zeros"]["network@150"], ratio["mnist_resnet_zeros"]["ELS"]) > 3
    assert all(0.8 < ratio["mnist_resnet_circular"][k] < 1.25 for k in ("network@150", "ELS"))


def test_wrap_dictionary_of_a_tiny_circular_checkpoint(tmp_path):
    """Fails if the comparison runs on a zero-padded network or before standing, or if its wrap
    rows are not those of an ELS machine with wrapping windows at the calibrated schedule
    (recomputed here) beside standing's valid rows for the same seeds."""
    import numpy as np

    import els
    from els.evaluate import agreement, read_rows
    from els.sampling import sample, seeded_inputs

    spec, model_dir = _tiny_checkpoint(tmp_path, "circular")
    sizes, out = SIZES, tmp_path / "results"
    reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    with pytest.raises(FileNotFoundError, match="els standing"):
        mechanisms.wrap_dictionary(spec, "smoke", tmp_path / "models", out, sizes=sizes, progress=False)
    standing.stand_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    summary = mechanisms.wrap_dictionary(spec, "smoke", tmp_path / "models", out, sizes=sizes, progress=False)
    assert summary["seeds"] == [2, 3, 4]
    data, _ = training_data(model_dir, 20)
    wrap = els.ELS(data, padding="circular", train_patches="wrap", device="cpu")
    network = models.load(model_dir / "model.pt")
    noise, _ = seeded_inputs([2, 3, 4], (1, 32, 32))
    r = agreement(sample(wrap, noise, 3, summary["schedule"]), sample(network, noise, 3))["r"]
    assert summary["ELS (wrap)"]["r"] == pytest.approx(r.tolist(), abs=1e-5)
    valid = {row["seed"]: row["r"] for row in read_rows(out / spec.name / "standing" / "samples.csv")
             if row["machine"] == "ELS"}
    assert summary["ELS (valid)"]["r"] == pytest.approx([valid[s] for s in (2, 3, 4)])
    for name in ("ELS (valid)", "ELS (wrap)"):
        assert summary[name]["r_median"] == pytest.approx(float(np.median(summary[name]["r"])))
    models.save(models.ResNet(width=16, depth=1, emb_half=8), tmp_path / "models" / "mnist_resnet_zeros" / "model.pt")
    with pytest.raises(ValueError, match="not circularly padded"):
        mechanisms.wrap_dictionary(ModelSpec("mnist_resnet_zeros"), "smoke", tmp_path / "models", out, sizes=sizes)


def test_wrap_dictionary_claims_match_the_committed_result(appendix):
    """Chapter 9 and the results appendix: with wrapping windows the circular ELS machine agrees
    better with the circular ResNet, by both medians (the appendix's numbers, rounded)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    w = json.loads((root / "artifacts" / "results" / "mnist_resnet_circular" / "wrap" / "summary.json").read_text())
    valid, wrap = w["ELS (valid)"], w["ELS (wrap)"]
    assert wrap["r_median"] > valid["r_median"] and wrap["R2_median"] > valid["R2_median"] and len(w["seeds"]) == 40
    flat = " ".join(appendix.split())
    assert (f"median r {wrap['r_median']:.2f} against {valid['r_median']:.2f}, R^2 {wrap['R2_median']:.2f} "
            f"against {valid['R2_median']:.2f}, on the first 40 comparison seeds") in flat

"""The reproduction pipeline end to end on a tiny checkpoint, and the paper table."""
import json

import pytest
import torch

from els import models, presets, train
from els.reproduce import ModelSpec, reproduce_model, table


def test_reproduce_a_tiny_checkpoint(tmp_path):
    """Calibrate + evaluate + snapshot on a 3-step smoke network: every file is written, the
    summary has IS/LS/ELS for each seed, and a rerun reads everything back (no new work)."""
    images = torch.rand(16, 1, 32, 32) * 2 - 1
    net = models.ResNet(width=16, depth=1, emb_half=8)
    model_dir = tmp_path / "models" / "mnist_resnet_zeros"
    train.train(net, images, steps=2, batch_size=4, out_dir=model_dir, progress=False, n_samples=4,
                data_info={"name": "mnist", "max_images": 20, "subset_seed": 0, "conditional": False},
                sample_steps=2)
    (model_dir / "snapshots" / "early").mkdir(parents=True)
    models.save(net, model_dir / "snapshots" / "early" / "model.pt")
    sizes = presets.EvalPreset(n_seeds=3, calibration_seeds=2, steps=3, network_steps=(3,),
                               calibration_images=20, max_scale=5, quick=True)
    spec = ModelSpec("mnist_resnet_zeros", ("early",))
    out = tmp_path / "results"
    summary = reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    assert set(summary["agreement"]["3"]) == {"IS", "LS", "ELS"}
    assert all(len(s) == 3 and set(s) <= {3, 5} for s in summary["schedules"].values())
    assert summary["agreement"]["3"]["ELS"]["n"] == 3 and "beats_IS" in summary["agreement"]["3"]["ELS"]
    assert set(summary["snapshots"]["early"]["agreement"]["3"]) == {"IS", "ELS"}
    assert json.loads((out / spec.name / "summary.json").read_text())["schedules"] == summary["schedules"]
    for figure in ("agreement.png", "schedules.png", "gallery.png"):
        assert (out / spec.name / figure).stat().st_size > 0
    manifest = json.loads((out / spec.name / "manifest.json").read_text())
    assert manifest["sizes"]["n_seeds"] == 3 and "commit" in manifest["git"]
    before = (out / spec.name / "samples.csv").read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes)
    reproduce_model(spec, "smoke", tmp_path / "models", out, progress=False, sizes=sizes, resume=True)
    assert (out / spec.name / "samples.csv").read_text() == before
    md = table([summary], network_steps=3, models_dir=tmp_path / "models")
    assert "(0.94)" in md and "mnist_resnet_zeros" in md  # the paper's ELS value for this row

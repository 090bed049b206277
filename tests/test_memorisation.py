"""The copy-or-create study end to end on tiny networks, and its copy measure."""
import json

import pytest
import torch

from els import data, models, train
from els.cli import main
from els.studies import memorisation, presets



def _tiny_network(folder, n_images):
    """A 2-step ResNet trained on the first ``n_images`` of the nested MNIST subset, with a snapshot."""
    images, _ = data.load("mnist", "train", max_images=n_images, seed=0, verbose=False)
    net = models.ResNet(width=16, depth=1, emb_half=8)
    train.train(net, images, steps=2, batch_size=4, out_dir=folder, progress=False, n_samples=4,
                data_info={"name": "mnist", "split": "train", "max_images": n_images, "subset_seed": 0,
                           "conditional": False})
    (folder / "snapshots" / "1").mkdir(parents=True)
    for f in ("model.pt", "model.json", "manifest.json"):
        (folder / "snapshots" / "1" / f).write_bytes((folder / f).read_bytes())


def test_memorisation_study_writes_the_summary_the_chapter_reads(tmp_path):
    """Fails if the summary lacks a field chapter 12 reads, if the machines do not hold exactly the
    network's N images, if the copy share is not the share of samples the copy rule marks, or if
    a rerun without --resume replaces the results."""
    models_dir, out = tmp_path / "models", tmp_path / "results"
    _tiny_network(models_dir / "mnist_resnet_n8", 8)
    s = memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, seeds=3, progress=False)
    assert s["arch"] == "resnet" and s["n_images"] == 8 and s["seeds"] == 3
    assert set(s["median_r"]) == set(s["median_R2"]) == {"IS", "LS", "ELS"}
    copied = [i >= 0 for i in s["network"]["copied_image"]]
    assert s["copy_rate"] == pytest.approx(sum(copied) / 3)
    assert all(len(v) == presets.get("smoke").evaluation.steps for v in s["schedules"].values())
    assert set(s["snapshots"]) == {"1"} and s["snapshots"]["1"]["training_steps"] == 2
    saved = json.loads((out / "mnist_resnet_n8" / "summary.json").read_text())
    assert saved["copy_rate"] == s["copy_rate"] and "run_id" in json.loads((out / "mnist_resnet_n8" / "manifest.json").read_text())
    with pytest.raises(FileExistsError, match="--resume"):
        memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, seeds=3, progress=False)
    assert main(["memorisation", "--preset", "smoke", "--models-dir", str(models_dir), "--out", str(out),
                 "--seeds", "3", "--resume", "--no-progress"]) == 0


def test_copy_measures_count_a_copy_only_where_the_rule_holds():
    """A sample equal to a training image copies it; one halfway between two images does not;
    IS landing on the same image is counted, IS landing on another is not."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(4, 1, 4, 4, generator=g) * 2 - 1
    samples = torch.stack([images[0], (images[1] + images[2]) / 2, images[3]])
    reference = torch.stack([images[0], images[1], images[2]])
    m = memorisation.copy_measures(samples, images, reference)
    assert m["copied_image"] == [0, -1, 3]
    assert m["copy_rate"] == pytest.approx(2 / 3)
    assert m["same_as_IS"] == pytest.approx(1 / 3)


def test_model_names_sort_by_architecture_then_size(tmp_path):
    for name in ("mnist_unet_n64", "mnist_unet_n16", "mnist_resnet_n256", "mnist_unet_n1024"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pt").write_bytes(b"")
    (tmp_path / "untrained").mkdir()
    (tmp_path / "mnist_resnet_n16").mkdir()  # still training: its optimiser state is there
    for f in ("model.pt", "checkpoint.pt"):
        (tmp_path / "mnist_resnet_n16" / f).write_bytes(b"")
    assert memorisation.model_names(tmp_path) == ["mnist_resnet_n256", "mnist_unet_n16", "mnist_unet_n64",
                                                  "mnist_unet_n1024"]


def test_whole_subset_point_names_the_architectures_it_knows():
    with pytest.raises(ValueError, match="resnet.*unet"):
        memorisation.whole_subset_point("vit")


def test_whole_subset_points_take_their_agreement_from_the_dictionary_study():
    """The committed 4,000-image points: median r equals the dictionary study's rows at 4,000
    images (P(t) recalibrated there), and the copy share is the share the copy rule marks."""
    from els.studies import artifacts
    for arch, name in memorisation.WHOLE_SUBSET.items():
        s = json.loads(artifacts.path("results", "memorisation", f"mnist_{arch}_n4000", "summary.json").read_text())
        d = json.loads(artifacts.path("results", name, "dictionary", "summary.json").read_text())["sizes"]["4000"]
        assert s["n_images"] == 4000 and s["median_r"]["ELS"] == d["machines"]["ELS (recalibrated)"]["r"]
        assert s["median_r"]["IS"] == d["machines"]["IS"]["r"]
        assert s["copy_rate"] == pytest.approx(sum(i >= 0 for i in s["network"]["copied_image"]) / s["seeds"])

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


def test_copy_measures_on_a_line_at_the_rule_boundary():
    """One-pixel images at 0, 4 and 12, so that every distance is exact. A sample at 1 is at
    distance 1 from image 0 and 3 from image 4: exactly at the ratio 1/3, a copy. A sample at
    12.5 (0.5 and 8.5 away) copies image 12. IS copying the same image counts, IS copying
    another (or none: at 8, equally far from 4 and 12) does not."""
    line = lambda *x: torch.tensor(x, dtype=torch.float64).reshape(-1, 1, 1, 1)  # noqa: E731
    m = memorisation.copy_measures(line(0, 1, 12.5, 0), line(0, 4, 12), line(1, 12, 12, 8))
    assert m["copied_image"] == [0, 0, 2, 0] and m["copy_rate"] == 1.0
    assert m["same_as_IS"] == 0.5  # samples 0 (IS at 1: on the boundary) and 2


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


# --------------------------------------------------------------------------- the read helpers of chapter 12
def _point(out, arch, n, images, copied, snapshots=None):
    """A fake study folder: summary.json and final_images.pt (network, IS and, below 100
    images, ELS samples), the way the study writes them."""
    folder = memorisation.result_folder(arch, n, out)
    folder.mkdir(parents=True)
    stored = {"network@150": images, "IS": -images, **({"ELS": images / 2} if n < 100 else {})}
    torch.save({"seeds": list(range(6, 6 + len(images))), "labels": None, "images": stored}, folder / "final_images.pt")
    summary = {"arch": arch, "n_images": n, "training_steps": 10, "copy_rate": sum(c >= 0 for c in copied) / len(copied),
               "network": {"copied_image": copied}, "IS_samples": {"copied_image": [0] * len(copied)},
               "median_r": {"IS": 0.1, "LS": 0.2, "ELS": 0.3}, "snapshots": snapshots or {}}
    if n < 100:
        summary["ELS_samples"] = {"copied_image": [-1] * len(copied)}
    (folder / "summary.json").write_text(json.dumps(summary))
    return summary


def test_points_group_by_architecture_and_sort_by_size(tmp_path):
    """Fails if a size is missed, if sizes are not in increasing N (not in name order: 256 after
    64), or if the UNet does not come first."""
    x = torch.zeros(2, 1, 4, 4)
    for arch, n in (("resnet", 64), ("unet", 256), ("unet", 64), ("resnet", 16), ("unet", 16)):
        _point(tmp_path, arch, n, x, [-1, -1])
    (tmp_path / "mnist_unet_n32").mkdir()  # a run without a summary yet
    found = memorisation.points(tmp_path)
    assert list(found) == ["unet", "resnet"]
    assert [s["n_images"] for s in found["unet"]] == [16, 64, 256]
    assert [s["n_images"] for s in found["resnet"]] == [16, 64]


def test_training_points_put_snapshots_and_the_network_in_step_order():
    summary = {"training_steps": 12000, "copy_rate": 0.1,
               "snapshots": {"6000": {"training_steps": 6000}, "1500": {"training_steps": 1500}}}
    assert [p["training_steps"] for p in memorisation.training_points(summary)] == [1500, 6000, 12000]
    assert memorisation.training_points(summary)[-1] is summary
    assert memorisation.training_points({"training_steps": 5}) == [{"training_steps": 5}]


def test_model_folder_names_the_book_network_for_the_whole_subset():
    assert memorisation.model_folder({"arch": "unet", "n_images": 16}).parts[-2:] == ("memorisation", "mnist_unet_n16")
    assert memorisation.model_folder({"arch": "unet", "n_images": 4000, "network_name": "mnist_unet_zeros"}
                                     ).name == "mnist_unet_zeros"


def test_same_noise_follows_one_seed_across_n_and_blanks_what_was_not_sampled(tmp_path):
    """Fails if a column shows another seed or size than its caption says, if a copy is
    captioned with another image, or if a sample that does not exist is drawn as an image."""
    g = torch.Generator().manual_seed(0)
    small, large = torch.rand(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)
    _point(tmp_path, "unet", 16, small, [-1, 5, -1])
    _point(tmp_path, "resnet", 16, small + 1, [-1, -1, -1])
    _point(tmp_path, "unet", 4000, large, [-1, -1, -1])
    rows, captions = memorisation.same_noise(memorisation.points(tmp_path), 1, tmp_path)
    assert list(rows) == ["IS", "UNet", "ELS for UNet", "ResNet", "ELS for ResNet"]
    assert all(r.shape == (2, 1, 4, 4) for r in rows.values())
    assert torch.equal(rows["UNet"][0], small[1]) and torch.equal(rows["UNet"][1], large[1])
    assert torch.equal(rows["IS"][1], -large[1]) and torch.equal(rows["ELS for UNet"][0], small[1] / 2)
    assert captions["UNet"] == ["N = 16\ncopies #5", "N = 4000\nnew"]
    assert captions["IS"] == ["N = 16\ncopies #0", "N = 4000\ncopies #0"]
    assert captions["ELS for UNet"][1] == captions["ResNet"][1] == "N = 4000\nnot sampled"
    assert rows["ELS for UNet"][1].isnan().all() and rows["ResNet"][1].isnan().all()
    frames, titles = memorisation.slider_frames(memorisation.points(tmp_path), 2, tmp_path)
    assert list(frames) == [16], "only the sizes every architecture has"
    assert torch.equal(frames[16], torch.cat([small[:2], small[:2] + 1]))
    assert titles == ["UNet, seed 6", "UNet, seed 7", "ResNet, seed 6", "ResNet, seed 7"]


def test_distances_agree_with_the_committed_copy_measures():
    """The per-sample distances the chapter draws are the ones the study's copy share counts."""
    from els.provenance import COPY_RATIO

    for s in (p[0] for p in memorisation.points().values()):
        d = memorisation.distances(s)
        d1, d2 = d["network"]
        assert float(d1.median()) == pytest.approx(s["network"]["nearest_median"])
        assert [i if c else -1 for i, c in enumerate(d1 <= COPY_RATIO * d2)] == \
            [i if c >= 0 else -1 for i, c in enumerate(s["network"]["copied_image"])]
        assert float(d["IS"][0].max()) < 1e-3, "IS samples are training images"


def test_whole_subset_point_samples_network_and_is_and_takes_agreement_from_the_dictionary(tmp_path, monkeypatch):
    """The study's last point on a tiny stand-in for the book's ResNet (8 images): fails if the
    network or IS is sampled from other seeds or steps than the evaluation's (seeds after the
    calibration seeds, the preset's steps), if the copy measures are not those of the stored
    samples (the network's against IS from the same noise), if median r or R^2 come from another
    row or size of the dictionary study than its recalibrated machines at N, if the summary or
    the manifest is not written where the chapter reads it, or if a rerun replaces the results
    without --resume (or keeps them with --force)."""
    import els
    from els.evaluate import read_images
    from els.sampling import sample, seeded_inputs

    art = tmp_path / "artifacts"
    monkeypatch.setenv("ELS_ARTIFACTS", str(art))
    _tiny_network(art / "models" / "mnist_resnet_zeros", 8)
    (art / "models" / "memorisation").mkdir()
    rows = {"IS": {"r": 0.11, "R2": 0.01}, "LS (recalibrated)": {"r": 0.22, "R2": 0.02},
            "ELS (recalibrated)": {"r": 0.33, "R2": 0.03}, "LS": {"r": -1, "R2": -1}, "ELS": {"r": -2, "R2": -2}}
    decoy = {m: {"r": 0.9, "R2": 0.9} for m in rows}
    dictionary = art / "results" / "mnist_resnet_zeros" / "dictionary"
    dictionary.mkdir(parents=True)
    (dictionary / "summary.json").write_text(json.dumps({"sizes": {"4": {"machines": decoy}, "8": {"machines": rows}},
                                                         "seeds": [7, 8], "network_steps": [150]}))
    out = tmp_path / "elsewhere"
    s = memorisation.whole_subset_point("resnet", "smoke", out, seeds=3, progress=False)
    here = out / "mnist_resnet_n8"
    p = presets.get("smoke").evaluation
    images, _ = data.load("mnist", "train", max_images=8, seed=0, verbose=False)
    stored = read_images(here / "final_images.pt")
    assert stored["seeds"] == [p.calibration_seeds + i for i in range(3)]
    assert set(stored["images"]) == {f"network@{max(p.network_steps)}", "IS"}
    network = stored["images"][f"network@{max(p.network_steps)}"]
    noise, _ = seeded_inputs(stored["seeds"], (1, 32, 32))
    torch.testing.assert_close(stored["images"]["IS"], sample(els.IS(images), noise, p.steps).float(),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(network, sample(models.load(art / "models" / "mnist_resnet_zeros" / "model.pt"), noise,
                                               max(p.network_steps)).float(), rtol=1e-4, atol=1e-4)
    net = memorisation.copy_measures(network, images, stored["images"]["IS"])
    assert s["network"] == net and s["copy_rate"] == net["copy_rate"] and "same_as_IS" in net
    assert s["IS_samples"] == memorisation.copy_measures(stored["images"]["IS"], images)
    assert (s["arch"], s["n_images"], s["network_name"], s["training_steps"], s["seeds"]) == (
        "resnet", 8, "mnist_resnet_zeros", 2, 3)
    assert s["median_r"] == {"IS": 0.11, "LS": 0.22, "ELS": 0.33}
    assert s["median_R2"] == {"IS": 0.01, "LS": 0.02, "ELS": 0.03}
    assert s["agreement_from"] == {"file": "results/mnist_resnet_zeros/dictionary/summary.json", "size": "8",
                                   "rows": {"IS": "IS", "LS": "LS (recalibrated)", "ELS": "ELS (recalibrated)"},
                                   "seeds": [7, 8], "network_steps": [150]}
    assert s["snapshots"] == {}
    assert json.loads((here / "summary.json").read_text()) == s
    manifest = json.loads((here / "manifest.json").read_text())
    assert manifest["command"] == "els.studies.memorisation.whole_subset_point('resnet')"
    assert manifest["sizes"]["network_steps"] == list(p.network_steps) and manifest["sizes"]["steps"] == p.steps
    with pytest.raises(FileExistsError, match="resume"):
        memorisation.whole_subset_point("resnet", "smoke", out, seeds=3, progress=False)
    (here / "samples.csv").write_text((here / "samples.csv").read_text() + "torn line")
    again = memorisation.whole_subset_point("resnet", "smoke", out, seeds=3, progress=False, resume=True, command="again")
    assert again == s and json.loads((here / "manifest.json").read_text())["command"] == "again"
    (here / "stale.txt").write_text("from an earlier run")
    memorisation.whole_subset_point("resnet", "smoke", out, seeds=3, progress=False, force=True)
    assert not (here / "stale.txt").exists()


def test_copy_measures_written_out_on_points_of_the_plane():
    """Fails if the median distances are not the (lower) medians of the nearest and
    second-nearest Euclidean distances, if a sample exactly on the rule's boundary (an image
    present twice: d1 = d2 = 0) is not a copy, or if ``same_as_IS`` counts a sample that does
    not copy, an IS sample that does not copy, or IS copying another image."""
    def plane(*points):
        return torch.tensor(points, dtype=torch.float64).view(len(points), 1, 1, 2)

    images = plane((0, 0), (3, 0), (0, 4), (3, 4))
    samples = plane((0, 0.1), (3, 0.1), (1.4, 1.8), (0, 3.9))
    reference = plane((0, 0.2),   # copies the same image as the sample: counted
                      (2.0, 0),   # nearest the same image, but not a copy: not counted
                      (0, 0.05),  # copies the sample's nearest image, but the sample does not copy
                      (3, 3.9))   # copies another image
    m = memorisation.copy_measures(samples, images, reference)
    d = [sorted(float(((s - i) ** 2).sum().sqrt()) for i in images) for s in samples]
    lower_median = lambda v: sorted(v)[(len(v) - 1) // 2]  # noqa: E731
    assert m["nearest_median"] == pytest.approx(lower_median([x[0] for x in d]), abs=1e-12)
    assert m["second_median"] == pytest.approx(lower_median([x[1] for x in d]), abs=1e-12)
    assert m["copied_image"] == [0, 1, -1, 2] and m["copy_rate"] == pytest.approx(3 / 4)
    assert m["same_as_IS"] == pytest.approx(1 / 4)
    twice = memorisation.copy_measures(plane((0, 0)), plane((0, 0), (0, 0), (1, 1)))
    assert twice["copied_image"][0] in (0, 1) and twice["copy_rate"] == 1 and "same_as_IS" not in twice


def test_folders_default_to_the_study_folders_of_the_artifacts(tmp_path, monkeypatch):
    """Fails if the study's networks are not read from ``models/memorisation`` or its results
    not written to ``results/memorisation`` (which need not exist yet), or if given folders are
    not used as they are."""
    from pathlib import Path

    monkeypatch.setenv("ELS_ARTIFACTS", str(tmp_path))
    (tmp_path / "models" / "memorisation").mkdir(parents=True)
    assert memorisation.folders() == (tmp_path / "models" / "memorisation", tmp_path / "results" / "memorisation")
    assert memorisation.folders("a", "b") == (Path("a"), Path("b"))
    assert memorisation.folders(None, "b") == (tmp_path / "models" / "memorisation", Path("b"))
    assert memorisation.folders("a") == (Path("a"), tmp_path / "results" / "memorisation")
    assert memorisation.result_folder("unet", 16) == tmp_path / "results" / "memorisation" / "mnist_unet_n16"


def test_memorisation_model_measures_each_network_from_its_own_samples(tmp_path):
    """One network on 8 images and a snapshot of another: fails if a point is sampled from other
    seeds (after the calibration seeds) or steps, if the snapshot's point measures the final
    network (or its training steps), if a machine's schedule is not the one calibrated for it and
    saved beside it, if the copy measures are not those of the stored samples (the network's
    against IS from the same noise), or if median r and R^2 are not the medians of the rows."""
    from els.calibrate import Calibration
    from els.evaluate import read_images, read_rows
    from els.machines.matched import machine_for
    from els.sampling import sample, seeded_inputs

    models_dir, out = tmp_path / "models", tmp_path / "results"
    folder = models_dir / "mnist_resnet_n8"
    _tiny_network(folder, 8)
    torch.manual_seed(1)
    models.save(models.ResNet(width=16, depth=1, emb_half=8), folder / "snapshots" / "1" / "model.pt")
    manifest = json.loads((folder / "snapshots" / "1" / "manifest.json").read_text())
    (folder / "snapshots" / "1" / "manifest.json").write_text(json.dumps(manifest | {"steps": 1}))
    sizes = presets.EvalPreset(n_seeds=2, calibration_seeds=2, steps=3, network_steps=(3,), max_scale=5, quick=True)
    s = memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, sizes=sizes, seeds=2,
                                        progress=False)
    images, _ = data.load("mnist", "train", max_images=8, seed=0, verbose=False)
    noise, _ = seeded_inputs([2, 3], (1, 32, 32))
    here = out / "mnist_resnet_n8"
    assert (s["training_steps"], s["snapshots"]["1"]["training_steps"]) == (2, 1)
    for point, where, net_dir in ((s, here, folder), (s["snapshots"]["1"], here / "snapshots" / "1",
                                                      folder / "snapshots" / "1")):
        stored = read_images(where / "final_images.pt")
        assert stored["seeds"] == [2, 3] and point["seeds"] == 2 and point["n_images"] == 8
        network = models.load(net_dir / "model.pt")
        torch.testing.assert_close(stored["images"]["network@3"], sample(network, noise, 3).float(),
                                   rtol=1e-4, atol=1e-4)
        for kind in ("LS", "ELS"):
            schedule = Calibration.load(where / f"calibration_{kind}.json").schedule
            assert point["schedules"][kind] == schedule
            machine = machine_for(folder, kind, images)
            torch.testing.assert_close(stored["images"][kind], sample(machine, noise, 3, scales=schedule).float(),
                                       rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(stored["images"]["IS"], sample(machine_for(folder, "IS", images), noise, 3).float(),
                                   rtol=1e-4, atol=1e-4)
        net = memorisation.copy_measures(stored["images"]["network@3"], images, stored["images"]["IS"])
        assert point["network"] == net and point["copy_rate"] == net["copy_rate"]
        for m in ("IS", "ELS"):
            assert point[f"{m}_samples"] == memorisation.copy_measures(stored["images"][m], images)
        rows = read_rows(where / "samples.csv")
        for m in memorisation.MACHINES:
            for metric, field in (("r", "median_r"), ("R2", "median_R2")):
                values = torch.tensor([r[metric] for r in rows if r["machine"] == m], dtype=torch.float64)
                assert len(values) == 2 and point[field][m] == pytest.approx(float(values.quantile(0.5)), abs=1e-12)
    assert json.loads((here / "summary.json").read_text()) == s
    manifest = json.loads((here / "manifest.json").read_text())
    assert manifest["command"] == "els.studies.memorisation.memorisation_model('mnist_resnet_n8')"
    assert manifest["sizes"]["steps"] == 3
    again = memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, sizes=sizes, seeds=2,
                                            progress=False, resume=True)
    assert again == s
    (here / "stale.txt").write_text("from an earlier run")
    memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, sizes=sizes, seeds=2,
                                    progress=False, force=True)
    assert not (here / "stale.txt").exists()


def test_memorisation_model_of_a_conditional_network_passes_the_labels_and_orders_snapshots(tmp_path):
    """A class-conditional network (the labels of its N images go to every machine and to the
    calibration, else they refuse it) with snapshots after 9 and 10 steps: fails if the labels
    are dropped anywhere, or if the snapshots are not in the order of their steps (9 before 10,
    not "10" before "9" as text)."""
    from els.evaluate import read_images

    images, labels = data.load("mnist", "train", max_images=8, seed=0, verbose=False)
    folder = tmp_path / "models" / "mnist_resnet_n8"
    torch.manual_seed(0)
    net = models.ResNet(width=16, depth=1, emb_half=8, num_classes=10)
    train.train(net, images, labels, steps=1, batch_size=4, out_dir=folder, progress=False, n_samples=2,
                data_info={"name": "mnist", "split": "train", "max_images": 8, "subset_seed": 0, "conditional": True})
    for steps in (10, 9):
        (folder / "snapshots" / str(steps)).mkdir(parents=True)
        for f in ("model.pt", "model.json", "manifest.json"):
            (folder / "snapshots" / str(steps) / f).write_bytes((folder / f).read_bytes())
    sizes = presets.EvalPreset(n_seeds=1, calibration_seeds=1, steps=2, network_steps=(2,), max_scale=3, quick=True)
    s = memorisation.memorisation_model("mnist_resnet_n8", "smoke", tmp_path / "models", tmp_path / "results",
                                        sizes=sizes, seeds=1, progress=False)
    assert list(s["snapshots"]) == ["9", "10"]
    stored = read_images(tmp_path / "results" / "mnist_resnet_n8" / "final_images.pt")
    assert stored["seeds"] == [1] and stored["labels"] is not None and int(stored["labels"][0]) in labels.tolist()


def test_model_names_take_the_size_after_the_last_n(tmp_path):
    """Fails if the size is read after the first ``_n`` of a name whose architecture part holds
    one too (``mnist_unet_nobias_n64``)."""
    for name in ("mnist_unet_nobias_n128", "mnist_unet_nobias_n64"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pt").write_bytes(b"")
    assert memorisation.model_names(tmp_path) == ["mnist_unet_nobias_n64", "mnist_unet_nobias_n128"]


def test_distances_read_the_samples_of_the_results_folder_given(tmp_path, monkeypatch):
    """Fails if the distances are not those of the samples in the ``out`` folder given (Euclidean,
    to the nearest and second-nearest of the network's training images, written out here), or
    if more than the two distances come back."""
    art = tmp_path / "artifacts"
    monkeypatch.setenv("ELS_ARTIFACTS", str(art))
    folder = art / "models" / "memorisation" / "mnist_unet_n8"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"dataset": {"name": "mnist", "max_images": 8, "subset_seed": 0}}))
    images, _ = data.load("mnist", "train", max_images=8, seed=0, verbose=False)
    x = torch.stack([images[3], images[5] * 0.5, -images[0]])
    summary = _point(tmp_path / "out", "unet", 8, x, [3, -1, -1])
    d = memorisation.distances(summary, tmp_path / "out")
    assert set(d) == {"network", "IS", "ELS"}
    for name, x in (("network", x), ("IS", -x), ("ELS", x / 2)):
        assert len(d[name]) == 2
        for s in range(3):
            want = sorted(float(((x[s].double() - i.double()) ** 2).sum().sqrt()) for i in images)
            assert float(d[name][0][s]) == pytest.approx(want[0], abs=1e-9)
            assert float(d[name][1][s]) == pytest.approx(want[1], abs=1e-9)
    assert float(d["network"][0][0]) == 0


def test_same_noise_and_slider_name_an_unknown_architecture_and_blank_a_sampler_not_stored(tmp_path):
    """Fails if an architecture without a label of its own is not shown by its name, if a size
    where IS was not sampled is not captioned "not sampled" with its N, if a sampler named in
    the summary but absent from the stored images is drawn (or breaks the gallery), or if the
    slider reads its seeds from a point other than the first architecture's first."""
    g = torch.Generator().manual_seed(2)
    small = torch.rand(3, 1, 4, 4, generator=g)
    _point(tmp_path, "unet", 16, small, [-1, 2, -1])
    folder = memorisation.result_folder("mlp", 32, tmp_path)  # only the network sampled, IS listed
    folder.mkdir(parents=True)
    torch.save({"seeds": [6, 7, 8], "labels": None, "images": {"network@150": small + 2}}, folder / "final_images.pt")
    (folder / "summary.json").write_text(json.dumps({"arch": "mlp", "n_images": 32, "training_steps": 1,
                                                     "network": {"copied_image": [-1, -1, 4]},
                                                     "IS_samples": {"copied_image": [0, 0, 0]}}))
    runs = memorisation.points(tmp_path)
    assert list(runs) == ["unet", "mlp"]
    rows, captions = memorisation.same_noise(runs, 2, tmp_path)
    assert list(rows) == ["IS", "UNet", "ELS for UNet", "mlp", "ELS for mlp"]
    assert captions["mlp"] == ["N = 16\nnot sampled", "N = 32\ncopies #4"]
    assert captions["IS"] == ["N = 16\ncopies #0", "N = 32\nnot sampled"]
    assert torch.equal(rows["mlp"][1], small[2] + 2) and rows["IS"][1].isnan().all()
    frames, titles = memorisation.slider_frames({"mlp": runs["mlp"], "unet": runs["unet"]}, 1, tmp_path)
    assert frames == {} and titles == ["mlp, seed 6", "UNet, seed 6"]


def test_both_entry_points_refuse_a_disk_without_room_for_their_results(tmp_path, monkeypatch):
    """Fails if the study starts writing a network's results on a disk with less free space
    than RESULTS_BYTES (it must stop before any work, naming the space), or refuses one with
    exactly that much."""
    import shutil
    from collections import namedtuple

    from els.storage import NotEnoughSpace
    from els.studies.harness import RESULTS_BYTES

    usage = namedtuple("usage", "total used free")
    free = [RESULTS_BYTES - 1]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 0, free[0]))
    models_dir, out = tmp_path / "models", tmp_path / "results"
    with pytest.raises(NotEnoughSpace, match="MB free"):
        memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, progress=False)
    free[0] = RESULTS_BYTES
    with pytest.raises(FileNotFoundError, match="manifest.json"):  # past the check: no network there
        memorisation.memorisation_model("mnist_resnet_n8", "smoke", models_dir, out, progress=False)

    art = tmp_path / "artifacts"
    monkeypatch.setenv("ELS_ARTIFACTS", str(art))
    (art / "models" / "memorisation").mkdir(parents=True)
    (art / "models" / "mnist_resnet_zeros").mkdir()
    (art / "models" / "mnist_resnet_zeros" / "manifest.json").write_text(
        json.dumps({"dataset": {"name": "mnist", "max_images": 8, "subset_seed": 0}}))
    (art / "results" / "mnist_resnet_zeros" / "dictionary").mkdir(parents=True)
    (art / "results" / "mnist_resnet_zeros" / "dictionary" / "summary.json").write_text(
        json.dumps({"sizes": {"8": {"machines": {}}}}))
    free[0] = RESULTS_BYTES - 1
    with pytest.raises(NotEnoughSpace, match="MB free"):
        memorisation.whole_subset_point("resnet", "smoke", tmp_path / "whole", progress=False)
    free[0] = RESULTS_BYTES
    with pytest.raises(FileNotFoundError, match="model.pt"):
        memorisation.whole_subset_point("resnet", "smoke", tmp_path / "whole", progress=False)

"""Chapter 7 (training) and its appendix "Training recipes": every number the text glues is
recomputed here from the committed files (``artifacts/models/*/manifest.json``, the committed
checkpoints, ``artifacts/recipes/mnist_resnet/``) and compared with the value stored in the
executed notebook; every claim in words ("lower", "wins", "does not matter") is checked
against the same files. The notebooks must have been executed (``make book-exec``)."""
from __future__ import annotations

import ast
import contextlib
import json
import math
import re
import tempfile
from pathlib import Path

import pytest
import torch

import els.data
import els.models
import els.provenance
import els.studies.artifacts
import els.studies.harness
import els.studies.presets
import els.studies.recipes
import els.train

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "07_training.ipynb"
APPENDIX = ROOT / "book" / "appendix_training.ipynb"
MODELS = els.studies.artifacts.path("models")
RECIPES = els.studies.artifacts.path("recipes", "mnist_resnet")


def _cells(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4).cells


def glued(path: Path) -> dict[str, object]:
    """The values the executed notebook glued (myst-nb ``glue(name, value, display=False)``)."""
    values = {}
    for cell in _cells(path):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = out.get("metadata", {}).get("scrapbook")
            if meta:
                values[meta["name"]] = ast.literal_eval(out["data"][meta["mime_prefix"] + "text/plain"])
    return values


def pasted(path: Path) -> set[str]:
    """The names the notebook's Markdown pastes with {glue:text}`name[:format]`."""
    text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
    return {m.split(":")[0] for m in re.findall(r"\{glue:text\}`([^`]+)`", text)}


@pytest.fixture(scope="module")
def chapter():
    return glued(CHAPTER)


@pytest.fixture(scope="module")
def appendix():
    return glued(APPENDIX)


@pytest.mark.parametrize("path", [CHAPTER, APPENDIX], ids=lambda p: p.stem)
def test_every_pasted_number_is_glued_and_every_glued_number_is_pasted(path):
    """A pasted name without a glued value renders as a warning; a glued value no sentence
    uses is a number nobody checks the prose against."""
    values, names = glued(path), pasted(path)
    assert names, f"{path.name} pastes no glued numbers"
    assert names <= set(values), f"pasted but never glued: {sorted(names - set(values))}"
    assert set(values) <= names, f"glued but never pasted: {sorted(set(values) - names)}"


# --------------------------------------------------------------------------- chapter 7
sensitivity, window = els.models.input_sensitivity, els.models.sensitive_window


def test_the_resnet_sees_17_pixels_and_the_unet_the_whole_image_but_mostly_nearby(chapter):
    """Fails if the committed ResNet's gradient reaches beyond its 2(L+2)+1 window (L = depth),
    if the UNet's does not reach every pixel, or if the share of the UNet's sensitivity outside
    the 17x17 window (which the chapter calls small: "only", "mostly local", against the share
    an evenly spread sensitivity would have, the window's share of the pixels) is not what it says."""
    resnet = els.models.load(MODELS / "mnist_resnet_zeros" / "model.pt")
    unet = els.models.load(MODELS / "mnist_unet_zeros" / "model.pt")
    depth = resnet.config["depth"]
    assert chapter["resnet_depth"] == depth == 6 and 1 + 2 * (depth + 2) == chapter["resnet_window"]
    g_resnet, g_unet = sensitivity(resnet), sensitivity(unet)
    assert window(g_resnet) == resnet.receptive_field == 17 == chapter["resnet_window"]
    assert window(g_unet) == 32 == chapter["unet_window"] and bool((g_unet > 0).all())
    outside = float(1 - g_unet[8:25, 8:25].sum() / g_unet.sum())
    assert outside == pytest.approx(chapter["unet_outside"], abs=1e-4)
    even = float(1 - torch.ones(32, 32)[8:25, 8:25].sum() / 1024)
    assert even == pytest.approx(chapter["unet_even"]) == pytest.approx(1 - 289 / 1024)
    assert outside < 0.25 and outside < even / 3, "only a small share lies outside, far below an even spread"


def test_the_exercises_receptive_fields():
    """Exercise 1: a depth-3 ResNet sees 11 pixels. Exercise 3: the UNet sees 44 or 48 pixels
    depending on where the pixel sits on the pooling grid (centre of 96 and of 100 pixels)."""
    torch.manual_seed(0)
    assert window(sensitivity(els.models.ResNet(width=16, depth=3, emb_half=8))) == 11
    unet = els.models.UNet(widths=(16, 16, 16), emb_half=8)
    assert window(sensitivity(unet, n=2, size=96)) == 44
    assert window(sensitivity(unet, n=2, size=100)) == 48


def test_exercise_2_only_circular_padding_commutes_with_translations():
    """Circular: difference 0 (to rounding); zero padding: a difference at most pixels, the largest
    as large as the output itself."""
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    shift = lambda y: torch.roll(y, (3, 5), (2, 3))  # noqa: E731
    for padding in ("circular", "zeros"):
        torch.manual_seed(0)
        net = els.models.ResNet(width=32, padding=padding, emb_half=16)
        with torch.no_grad():  # the exercise calls model(x, 0.5), as the chapter does
            out = net(x, 0.5)
            diff = (net(shift(x), 0.5) - shift(out)).abs()
        if padding == "circular":
            assert float(diff.max()) < 1e-5
        else:
            assert float((diff > 1e-4).float().mean()) > 0.5, "differs at most pixels"
            assert float(diff.max()) > 0.5 * float(out.abs().mean()), "by as much as the output"


def test_exercise_4_a_resumed_run_ends_with_the_weights_of_one_uninterrupted_run():
    """The solution says "identical": a run in two calls (the second a fresh network resumed from
    the checkpoint) against one call from the same seeded initial weights, both exporting EMA."""
    images, _ = els.data.load("mnist", max_images=200, seed=0, verbose=False)
    kw = dict(width=16, depth=2, emb_half=8)
    run = dict(batch_size=32, lr=2e-3, lr_decay=0.999, warmup_steps=5, ema=0.999, seed=0, n_samples=0,
               progress=False)
    folder = tempfile.mkdtemp()
    torch.manual_seed(0)
    els.train.train(els.models.build("resnet", **kw), images, steps=10, out_dir=folder, **run)
    with contextlib.redirect_stdout(None):
        two = els.train.train(els.models.build("resnet", **kw), images, steps=20, resume=True, out_dir=folder, **run)
    torch.manual_seed(0)
    one = els.train.train(els.models.build("resnet", **kw), images, steps=20, out_dir=tempfile.mkdtemp(), **run)
    a, b = two.model.state_dict(), one.model.state_dict()
    assert two.step == one.step == 20 and all(torch.equal(a[k], b[k]) for k in a)


def test_the_training_settings_and_the_loss_the_chapter_quotes(chapter):
    """The preset's eta, gamma (a tenth after about its 16,000 steps), K, beta and batch are the
    glued ones and the MNIST ResNet's; the demo runs the laptop preset's 400 steps and ends
    above what the committed MNIST ResNet reaches after its 16,000 steps, yet below 1, the loss
    of a network that always answers 0."""
    laptop = els.studies.presets.get("laptop").train
    h = json.loads((MODELS / "mnist_resnet_zeros" / "manifest.json").read_text())
    got = (chapter["eta"], chapter["gamma"], chapter["warmup"], chapter["beta"], chapter["batch"])
    assert got == (laptop.lr, laptop.lr_decay, laptop.warmup_steps, laptop.ema, laptop.batch_size)
    hp = h["hyperparameters"]
    assert got == (hp["lr"], hp["lr_decay"], hp["warmup_steps"], hp["ema"], hp["batch_size"])
    assert chapter["tenth"] == pytest.approx(math.log(0.1) / math.log(laptop.lr_decay))
    assert chapter["tenth"] == pytest.approx(laptop.steps, rel=0.01)
    assert chapter["demo_steps"] == 400
    assert chapter["resnet_steps"] == h["steps"] == 16000
    assert chapter["resnet_final"] == pytest.approx(h["final_loss"])
    assert chapter["resnet_final"] < chapter["demo_final"] < 1


def test_the_reported_loss_is_the_per_pixel_mean():
    """The plotted loss is L divided by the pixels: a network that always answers 0 reports
    about 1 (the noise variance), not about 1,024 (the sum over a 32x32 image)."""
    net = els.models.ResNet(width=16, depth=1, emb_half=8)
    for q in net.parameters():
        torch.nn.init.zeros_(q)
    images, _ = els.data.load("mnist", max_images=256, seed=0, verbose=False)
    opt = torch.optim.AdamW(net.parameters(), lr=0.0)
    loss = els.train.train_step(net, opt, images, None, torch.Generator().manual_seed(0), lr=0.0)
    assert float(loss) == pytest.approx(1.0, abs=0.02)


def test_the_seven_networks_and_their_table(chapter):
    """The chapter speaks of seven networks, each on the same number of training images
    (``n_subset``), the FashionMNIST ones class-conditional, and at most ``cap_high`` CPU
    minutes each: every committed manifest must agree."""
    names = [spec.name for spec in els.studies.harness.MODELS]
    on_disk = sorted(p.parent.name for p in MODELS.glob("*/manifest.json"))
    assert sorted(names) == on_disk and len(names) == 7
    manifests = {n: json.loads((MODELS / n / "manifest.json").read_text()) for n in names}
    assert {m["subset_size"] for m in manifests.values()} == {chapter["n_subset"]} == {4000}
    assert {m["dataset"]["subset_seed"] for m in manifests.values()} == {0}
    for name, m in manifests.items():
        assert m["dataset"]["conditional"] == name.startswith("fashion"), name
        assert m["machine"]["device"] == "cpu" and m["machine"]["cpu_count"] == 2, name
    assert chapter["resnet_width"] == 64 and chapter["unet_widths"] == "32, 64 and 128"
    for name, m in manifests.items():
        if "resnet" in name:
            assert (m["model"]["width"], m["model"]["depth"]) == (chapter["resnet_width"], chapter["resnet_depth"])
        else:
            assert ", ".join(map(str, m["model"]["widths"][:2])) + f" and {m['model']['widths'][2]}" \
                == chapter["unet_widths"], name


def test_every_run_has_the_same_image_budget_and_all_but_one_stop_at_their_time_cap(chapter):
    """"The same budget of 512,000 training images (128 passes) and a cap on CPU time; only the
    MNIST ResNet uses its whole budget; the other six stop at their cap, after 30 to 45 minutes":
    fails if a run had another budget, stopped for another reason, or the range is wrong."""
    manifests = {s.name: json.loads((MODELS / s.name / "manifest.json").read_text()) for s in els.studies.harness.MODELS}
    budgets = {m["hyperparameters"]["steps_budget"] * m["hyperparameters"]["batch_size"] for m in manifests.values()}
    assert budgets == {chapter["budget_images"]} == {512000}
    assert chapter["passes"] == chapter["budget_images"] // chapter["n_subset"] == 128
    finished = [n for n, m in manifests.items() if m["steps"] == m["hyperparameters"]["steps_budget"]]
    assert finished == ["mnist_resnet_zeros"]
    capped = {n: m for n, m in manifests.items() if n not in finished}
    assert len(capped) == 6
    for name, m in capped.items():
        assert m["steps"] < m["hyperparameters"]["steps_budget"], name
        assert m["wall_seconds"] == pytest.approx(60 * m["hyperparameters"]["max_minutes"], rel=0.01), name
    minutes = [m["wall_seconds"] / 60 for m in capped.values()]
    assert (min(minutes), max(minutes)) == pytest.approx((chapter["cap_low"], chapter["cap_high"]))
    assert max(m["wall_seconds"] / 60 for m in manifests.values()) == pytest.approx(chapter["cap_high"])


def _test_distance(dataset: str, n_test: int = 500) -> float:
    subset, _ = els.data.load(dataset, max_images=4000, seed=0, verbose=False)
    test, _ = els.data.load(dataset, "test", max_images=n_test, seed=0, verbose=False)
    return float(els.provenance.nearest_neighbours(test, subset)[0].median())


def test_no_network_copies_its_training_set(chapter):
    """The medians of the manifests' 64 samples (20 DDIM steps, as the figure's) span
    nn_low..nn_high, the circular ResNet's is the largest, and every network's samples are
    farther from its training set than its data set's test images are."""
    import inspect

    manifests = {n: json.loads((MODELS / n / "manifest.json").read_text())
                 for n in (spec.name for spec in els.studies.harness.MODELS)}
    assert {m["samples"]["n"] for m in manifests.values()} == {chapter["n_manifest"]} == {64}
    assert {m["samples"]["ddim_steps"] for m in manifests.values()} == {chapter["ddim_steps"]}
    assert inspect.signature(els.train.draw_samples).parameters["steps"].default == chapter["ddim_steps"]
    medians = {n: m["samples"]["nn_l2_median"] for n, m in manifests.items()}
    assert max(medians, key=medians.get) == "mnist_resnet_circular"
    assert medians["mnist_resnet_circular"] == pytest.approx(chapter["nn_circular"])
    assert min(medians.values()) == pytest.approx(chapter["nn_low"])
    assert max(medians.values()) == pytest.approx(chapter["nn_high"])
    test = {"mnist": _test_distance("mnist"), "fashion_mnist": _test_distance("fashion_mnist")}
    assert test["mnist"] == pytest.approx(chapter["test_mnist"], rel=1e-6)
    assert test["fashion_mnist"] == pytest.approx(chapter["test_fashion"], rel=1e-6)
    for name, median in medians.items():
        dataset = "fashion_mnist" if name.startswith("fashion") else "mnist"
        assert median > test[dataset], f"{name}: samples at {median:.1f}, test images at {test[dataset]:.1f}"


def test_networks_given_the_same_noise_draw_similar_images(chapter):
    """The figure's MNIST ResNet and UNet samples (6 seeds): median Pearson r from the same
    noise is the glued r_same, from different noise r_other, and the first is clearly higher."""
    from els.evaluate import agreement

    samples = [els.train.draw_samples(els.models.load(MODELS / name / "model.pt"), 6, (1, 32, 32), seed=1)[0]
               for name in ("mnist_resnet_zeros", "mnist_unet_zeros")]
    same = float(agreement(samples[0], samples[1])["r"].median())
    other = float(agreement(samples[0], samples[1].roll(1, 0))["r"].median())
    assert same == pytest.approx(chapter["r_same"], abs=1e-4)
    assert other == pytest.approx(chapter["r_other"], abs=1e-4)
    assert same > other + 0.2


def test_exercise_5_batch_32_beats_batch_128_per_image_and_runs_about_twice_as_fast():
    """The solution's claims, from the recipe comparison: lower held-out loss at batch 32 (same
    lr, same warm-up, same images) and about twice the images per second."""
    runs = {r["recipe"]: r for r in els.studies.recipes.read(RECIPES)}
    small, large = runs["warmup_batch32"], runs["warmup"]
    assert small["settings"]["lr"] == large["settings"]["lr"] and small["images_seen"] == large["images_seen"]
    assert small["val_loss_raw"] < large["val_loss_raw"]
    assert 1.6 < small["images_per_second"] / large["images_per_second"] < 2.4


# --------------------------------------------------------------------------- appendix
@pytest.fixture(scope="module")
def runs():
    return els.studies.recipes.read(RECIPES)


def _optimiser(runs):
    return [r for r in runs if all(r["settings"][k] is None for k in ("width", "subset", "images"))]


def test_the_comparison_set_up(appendix, runs):
    """32,000 images = eight passes over 4,000; 500 validation images; ten runs; the warm-up
    is 6,400 images wherever there is one; every run starts with the same network width 64
    unless it changes the width."""
    manifest = json.loads((RECIPES / "manifest.json").read_text())
    assert appendix["budget"] == manifest["images_budget"] == 8 * manifest["subset_size"]
    assert appendix["subset"] == manifest["subset_size"] == 4000
    assert appendix["n_validation"] == manifest["validation_images"] == 500
    assert appendix["n_runs"] == len(runs) == 10
    assert {r["settings"]["warmup_images"] for r in runs} == {0, 6400}
    assert appendix["n_optimiser"] == len(_optimiser(runs)) == 5


def test_a_predictor_of_zero_scores_one():
    """The appendix: "a predictor that always answers 0 scores 1, the variance of the noise"."""
    net = els.models.ResNet(width=16, depth=1, emb_half=8)
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    images, _ = els.data.load("mnist", "test", max_images=200, seed=0, verbose=False)
    assert els.train.validation_loss(net, images) == pytest.approx(1.0, abs=0.01)


def test_each_optimiser_change_lowers_the_loss_and_batch_size_matters_most(appendix, runs):
    """Rows in order: no warm-up, warm-up, lr 3e-3, batch 32, batch 32 at lr 2e-3; each glued
    loss is its row's; warm-up, the larger lr and batch 32 each lower the loss below the
    warm-up row's, batch 32 the most; the last row is the best; its gain over the first and
    its CPU time (about half) are as the text says."""
    opt = _optimiser(runs)
    first, warm, lr3, b32, best = opt
    assert (first["settings"]["warmup_images"], warm["settings"]["warmup_images"]) == (0, 6400)
    assert lr3["settings"]["lr"] == 3 * warm["settings"]["lr"] and b32["settings"]["batch_size"] == 32
    assert best["settings"]["lr"] == 2 * b32["settings"]["lr"] and best["settings"]["batch_size"] == 32
    for key, run in zip(("first", "warmup", "lr3", "b32", "best"), opt):
        assert appendix[f"loss_{key}"] == pytest.approx(run["val_loss_raw"])
    loss = [r["val_loss_raw"] for r in opt]
    assert loss == sorted(loss, reverse=True) and best is min(opt, key=lambda r: r["val_loss_raw"])
    drop = {name: warm["val_loss_raw"] - r["val_loss_raw"] for name, r in (("lr", lr3), ("batch", b32))}
    assert drop["batch"] > max(drop["lr"], first["val_loss_raw"] - warm["val_loss_raw"]), "largest single change"
    assert appendix["gain"] == pytest.approx(first["val_loss_raw"] / best["val_loss_raw"])
    assert appendix["minutes_best"] == pytest.approx(best["wall_seconds"] / 60)
    assert appendix["minutes_first"] == pytest.approx(first["wall_seconds"] / 60)
    assert 0.4 < best["wall_seconds"] / first["wall_seconds"] < 0.6, "about half the CPU time"
    speed = {b: [r["images_per_second"] for r in opt if r["settings"]["batch_size"] == b] for b in (32, 128)}
    assert appendix["speed_32"] == pytest.approx(sum(speed[32]) / 2)
    assert appendix["speed_128"] == pytest.approx(sum(speed[128]) / 3)
    assert min(speed[32]) > max(speed[128])


def test_the_laptop_preset_uses_the_best_recipe(runs):
    """The appendix says the laptop preset trains with the best recipe (and exercise 1: its
    lr_decay brings the learning rate to a tenth over its 16,000 steps)."""
    best = min(_optimiser(runs), key=lambda r: r["val_loss_raw"])["settings"]
    laptop = els.studies.presets.get("laptop").train
    assert (laptop.batch_size, laptop.lr) == (best["batch_size"], best["lr"])
    assert laptop.warmup_steps * laptop.batch_size == best["warmup_images"]
    assert laptop.lr_decay ** laptop.steps == pytest.approx(0.1, rel=3e-3)  # lr_decay is rounded to 6 digits


def test_which_networks_train_with_which_recipe():
    """The summary: ResNets and attention UNets with the best recipe; the convolution-only
    UNets with batch 128, lr 1e-3 and no warm-up."""
    for spec in els.studies.harness.MODELS:
        h = json.loads((MODELS / spec.name / "manifest.json").read_text())["hyperparameters"]
        got = (h["batch_size"], h["lr"], h.get("warmup_steps") or 0)
        plain_unet = "_unet_" in spec.name and "attention" not in spec.name
        assert got == ((128, 1e-3, 0) if plain_unet else (32, 2e-3, 200)), spec.name


def test_ema_does_not_help_at_this_budget(appendix, runs):
    """EMA worse than raw on all runs but at most one, by at most a few percent."""
    gaps = [(r["val_loss_ema"] - r["val_loss_raw"]) / r["val_loss_raw"] for r in runs]
    assert appendix["ema_worse"] == sum(g > 0 for g in gaps) >= len(runs) - 1
    assert appendix["ema_gap"] == pytest.approx(max(gaps)) and max(gaps) < 0.05


def test_the_first_runs_samples_are_out_of_range_and_the_best_runs_are_not(appendix, runs):
    """Two images in [-1, 1]^(32x32) are at most 64 apart: a median nearest distance above 64
    means pixels outside [-1, 1]."""
    opt = _optimiser(runs)
    best = min(opt, key=lambda r: r["val_loss_raw"])
    assert appendix["nn_first"] == pytest.approx(opt[0]["nn_l2_median"]) and opt[0]["nn_l2_median"] > 64
    assert appendix["nn_best"] == pytest.approx(best["nn_l2_median"]) and best["nn_l2_median"] < 64


def test_width_trades_against_speed_and_the_subset_size_does_not_matter(appendix, runs):
    """Wider learns more per image but costs more than proportionally more time; at about
    equal minutes the narrow network seeing 3x the images wins; 2,000 to 16,000 distinct
    images change the held-out loss by under 2%."""
    best = min(_optimiser(runs), key=lambda r: r["val_loss_raw"])
    by = {(r["width"], r["subset_size"], r["images_seen"]): r for r in runs}
    w32, w32x3, w96 = by[32, 4000, 32000], by[32, 4000, 96000], by[96, 4000, 32000]
    s2000, s16000 = by[64, 2000, 32000], by[64, 16000, 32000]
    for key, run in {"w32": w32, "w32x3": w32x3, "w96": w96, "s2000": s2000, "s16000": s16000}.items():
        assert appendix[f"loss_{key}"] == pytest.approx(run["val_loss_raw"])
        if key.startswith("w"):
            assert appendix[f"minutes_{key}"] == pytest.approx(run["wall_seconds"] / 60)
    assert w32["val_loss_raw"] > best["val_loss_raw"] > w96["val_loss_raw"]
    assert best["wall_seconds"] / w32["wall_seconds"] > 2 and w96["wall_seconds"] / best["wall_seconds"] > 96 / 64
    assert w32x3["val_loss_raw"] < best["val_loss_raw"]
    assert abs(w32x3["wall_seconds"] / best["wall_seconds"] - 1) < 0.15, "about equal minutes"
    for run in (s2000, s16000):
        assert abs(run["val_loss_raw"] / best["val_loss_raw"] - 1) < 0.02

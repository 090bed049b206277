"""Chapter 12, "Copy or create": every number the chapter glues, recomputed here from the
committed results of the copy-or-create study (``artifacts/results/memorisation``), and every
claim it makes in words ("never copies", "not closer to IS", "falls", "rises", "hardly
changes"), checked against the same files. The glued values are read from the executed
notebook (``make book-exec``), so a result that changed in ``artifacts/`` but not in the book
fails here, and so does a sentence the files no longer support. Sizes added to the study later
are read too: the claims must hold at every N."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import els.data
import els.models
from els.evaluate import agreement
from els.provenance import COPY_RATIO, copies, nearest_two
from els.studies import memorisation
from conftest import glued as read_glued, prose

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "12_copy_or_create.ipynb"
N_TEST = 500  # held-out test digits at the laptop preset, the one the committed outputs use


@pytest.fixture(scope="module")
def chapter():
    return read_glued(CHAPTER), prose(CHAPTER)


@pytest.fixture(scope="module")
def runs():
    found = memorisation.points()
    assert list(found) == ["unet", "resnet"], "the chapter reads a UNet and a ResNet"
    for pts in found.values():
        assert len(pts) >= 2 and pts[0]["n_images"] < pts[-1]["n_images"]
    return found


@pytest.fixture(scope="module")
def small(runs):
    return {arch: pts[0] for arch, pts in runs.items()}


@pytest.fixture(scope="module")
def big(runs):
    return {arch: pts[-1] for arch, pts in runs.items()}


@pytest.fixture(scope="module")
def ratios(small):
    """arch -> sampler -> d1 / d2 per sample, at the smallest N."""
    return {arch: {name: d1 / d2 for name, (d1, d2) in memorisation.distances(s).items()} for arch, s in small.items()}


def test_every_glued_name_is_used_and_every_used_name_is_glued(chapter):
    """A {glue:text} role without its glue renders as a build warning; a glue nobody reads is a
    number the text forgot."""
    glued, text = chapter
    used = set(re.findall(r"\{glue:text\}`([^`:]+)", text))
    assert used == set(glued), used ^ set(glued)


def _listing(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _copies(point: dict) -> int:
    return sum(c >= 0 for c in point["network"]["copied_image"])


def test_the_set_up_numbers(chapter, runs, small, big):
    """The ResNet's window, the image side, the measured sizes (and, where an architecture was
    measured at fewer, which), ln N, seeds and pixels; neither
    network copies at the largest N ("a prediction that 4,000 images cannot test")."""
    glued, text = chapter
    resnet = els.models.load(memorisation.model_folder(small["resnet"]) / "model.pt")
    images = memorisation.training_images(small["resnet"])
    assert glued["rf"] == resnet.receptive_field < glued["side"] == images.shape[-1], "a window smaller than the image"
    assert glued["pixels"] == images[0].numel()
    assert glued["n_small"] == small["unet"]["n_images"] == small["resnet"]["n_images"] == len(images)
    assert torch.equal(images, memorisation.training_images(small["unet"])), "both networks hold the same images"
    assert glued["n_big"] == big["unet"]["n_images"] == big["resnet"]["n_images"]
    sizes = {arch: [s["n_images"] for s in pts] for arch, pts in runs.items()}
    every_n = sorted({n for ns in sizes.values() for n in ns})
    fewer = [f"the {memorisation.ARCH_LABELS[a]} at {_listing(f'{n:,}' for n in ns)}"
             for a, ns in sizes.items() if ns != every_n]
    assert glued["sizes"] == _listing(f"{n:,}" for n in every_n) + (f" ({'; '.join(fewer)})" if fewer else ""), \
        "the measured sizes, and those of an architecture measured at fewer"
    assert all(s["copy_rate"] == 0 for s in big.values()), "there neither network copies"
    assert glued["ln_n"] == pytest.approx(math.log(glued["n_small"]), rel=1e-6)
    assert glued["seeds"] == small["unet"]["seeds"] == 50
    for words in ("We cannot compute this quantity for our networks", "because there neither network copies",
                  "The ResNet should not copy", "LS and ELS with patch sizes calibrated to the network"):
        assert words in text, words
    for gone in ("from {glue:text}`n_small` up", "for every $N$", "should never copy", "Slide through N"):
        assert gone not in text, f"{gone!r} promises sizes or claims the files do not have"


def test_the_copy_rule_separates_copies_new_digits_and_mosaics(chapter, small, ratios):
    """IS samples lie on a training image; held-out test digits, against the same N images as
    the networks, and ELS mosaics mostly lie far above a ratio of a third (a few test digits,
    near-duplicates, fall below); the ResNet's samples are nowhere near it, the UNet's spread
    with a few near the line."""
    glued, text = chapter
    d = memorisation.distances(small["unet"])
    assert glued["is_d1"] == pytest.approx(float(d["IS"][0].max())) and glued["is_d1"] < 1e-3
    test, _ = els.data.load("mnist", "test", max_images=N_TEST, seed=0, verbose=False)
    t1, t2, _ = nearest_two(test, memorisation.training_images(small["unet"]))
    test_ratio = t1 / t2
    assert glued["test_ratio"] == pytest.approx(float(test_ratio.median())) and glued["test_ratio"] > 0.8
    below = int((test_ratio <= COPY_RATIO).sum())
    assert 1 <= below <= 0.02 * N_TEST, "only a few near-duplicates fall below the line"
    assert glued["els_ratio"] == pytest.approx(min(float(r["ELS"].min()) for r in ratios.values()))
    assert glued["els_ratio"] > 2 * COPY_RATIO, "no ELS sample comes near the line"
    assert all(float(r["ELS"].median()) > 0.8 for r in ratios.values()), "mosaics near one (summary)"
    assert float(ratios["unet"]["IS"].max()) < 1e-3, "ideal-score samples sit at zero (summary)"
    assert glued["resnet_ratio"] == pytest.approx(float(ratios["resnet"]["network"].min()))
    assert glued["resnet_ratio"] > 2 * COPY_RATIO, "the ResNet's samples are nowhere near the line"
    unet = ratios["unet"]["network"]
    assert ((unet > 0.2) & (unet < 0.5)).sum() >= 2, "a few UNet samples sit close to the line"
    assert (unet < 0.1).any() and (unet > 0.5).any(), "some lie on a training image, the rest far from it"
    for words in ("A copy lies on one image", "no ELS sample's ratio is below", "measured against the same",
                  "The ResNet's samples are nowhere near it"):
        assert words in text, words
    assert "set the copy rule's scale" not in (ROOT / "book" / "12_copy_or_create.py").read_text()


def test_the_same_noise_gallery(chapter, runs, small, big):
    """The gallery follows the first seed on which the UNet copies, names the images the UNet
    and IS end on (different ones: this seed is one of the copies that disagree with IS), and
    has one row per measured N and one column per machine; the ResNet's samples hardly change
    with N, the UNet's do."""
    glued, text = chapter
    index = next(i for i, c in enumerate(small["unet"]["network"]["copied_image"]) if c >= 0)
    assert glued["g_unet"] == small["unet"]["network"]["copied_image"][index] >= 0
    assert glued["g_is"] == small["unet"]["IS_samples"]["copied_image"][index] >= 0
    assert glued["g_unet"] != glued["g_is"], "one of the copies that land on another image than IS"
    rows, captions = memorisation.same_noise(runs, index, by_size=True)
    sizes = sorted({s["n_images"] for pts in runs.values() for s in pts})
    assert list(rows) == list(captions) == [f"N = {n}" for n in sizes]
    first = captions[f"N = {sizes[0]}"]
    assert first[:2] == [f"IS\ncopies #{glued['g_is']}", f"UNet\ncopies #{glued['g_unet']}"]
    assert all(len(c) == 5 for c in captions.values()), "five machines a row, whatever the number of sizes"
    flat, _ = memorisation.same_noise(runs, index)
    for k, n in enumerate(sizes):
        assert torch.equal(torch.nan_to_num(rows[f"N = {n}"], 9.0),
                           torch.nan_to_num(torch.stack([r[k] for r in flat.values()]), 9.0)), "transposed, not changed"
    same = {arch: float(agreement(memorisation.samples(small[arch])["network"],
                                  memorisation.samples(big[arch])["network"])["r"].median()) for arch in runs}
    assert glued["resnet_same"] == pytest.approx(same["resnet"]) and glued["unet_same"] == pytest.approx(same["unet"])
    assert same["resnet"] > 0.85 and same["resnet"] - same["unet"] > 0.2, "hardly changes ... the UNet's only"
    assert all(s["ELS_samples"]["copy_rate"] == 0 for s in small.values()), "the ELS machines make mosaics"
    assert all("ELS_samples" not in s for s in big.values()), "ELS was not sampled at the largest N"
    for words in ("The ResNet hardly changes with $N$", "that land on another image than IS"):
        assert words in text, words


def test_copying_and_agreement_against_n(chapter, runs, small, big):
    """The UNet copies at the smallest N and not at the largest; the ResNet never copies and ELS
    leads IS on it at every N; the UNet at the smallest N is no closer to IS than to LS or ELS,
    and all three sit well below ELS at the largest N, a number from another study on other
    seeds and recalibrated patch sizes, which the sentence says."""
    glued, text = chapter
    for arch in runs:
        for m in memorisation.MACHINES:
            assert glued[f"r_{m}_{arch}"] == pytest.approx(small[arch]["median_r"][m])
        assert glued[f"r_ELS_{arch}_big"] == pytest.approx(big[arch]["median_r"]["ELS"])
    assert glued["copy_unet"] == small["unet"]["copy_rate"] > 0
    assert big["unet"]["copy_rate"] == 0, "none at the largest N"
    resnet_points = [p for s in runs["resnet"] for p in memorisation.training_points(s)]
    assert all(p["copy_rate"] == 0 for p in resnet_points), "the ResNet never copies, at any N or snapshot"
    lead = min(s["median_r"]["ELS"] - s["median_r"]["IS"] for s in runs["resnet"])
    assert glued["resnet_lead"] == pytest.approx(lead) and lead > 0.3
    assert all(s["median_r"]["ELS"] > 0.85 for s in runs["resnet"]), "high at every N"
    r = small["unet"]["median_r"]
    assert r["IS"] <= min(r["LS"], r["ELS"]), "the UNet is not closer to IS than to the local machines"
    assert max(r.values()) + 0.2 < big["unet"]["median_r"]["ELS"], "all well below"
    assert glued["big_seeds"] == big["unet"]["agreement_from"]["seeds"] != small["unet"]["seeds"], "its own seeds"
    for s in big.values():
        assert s["agreement_from"]["rows"]["ELS"] == "ELS (recalibrated)", "P(t) recalibrated at that N"
    for words in ("The ResNet never copies.", "is not closer to IS than to the local machines",
                  "patch sizes recalibrated at that $N$", "(a number from other seeds, so the comparison is rough)"):
        assert words in text, words


def test_when_copying_starts(chapter, small):
    """Along training the UNet goes from no copies, nearer ELS than IS, to its final copy
    count; agreement shifts towards IS by the second snapshot and then stays about there,
    while most copies come later; the ResNet copies nothing and stays with ELS."""
    glued, text = chapter
    along = memorisation.training_points(small["unet"])
    assert len(along) >= 3 and along[-1] is small["unet"]
    first, shift, last = along[0], along[1], along[-1]
    counts = [_copies(p) for p in along]
    assert counts == [round(p["copy_rate"] * p["seeds"]) for p in along]
    assert glued["unet_copies_along"] == (
        f"{counts[0]} of its {first['seeds']} samples after {first['training_steps']:,} steps, "
        + _listing(f"{c} after {p['training_steps']:,}" for c, p in zip(counts[1:], along[1:])))
    assert (glued["steps_shift"], glued["steps_last"]) == (shift["training_steps"], last["training_steps"])
    for k, p in (("first", first), ("shift", shift)):
        assert glued[f"unet_els_{k}"] == pytest.approx(p["median_r"]["ELS"])
        assert glued[f"unet_is_{k}"] == pytest.approx(p["median_r"]["IS"])
    assert counts[0] == 0 and counts[-1] == max(counts) == glued["unet_copies"] > 0
    gap = [p["median_r"]["ELS"] - p["median_r"]["IS"] for p in along]
    assert gap[0] > 0.2, "starts nearer ELS than IS"
    assert shift["median_r"]["ELS"] < first["median_r"]["ELS"] and shift["median_r"]["IS"] > first["median_r"]["IS"]
    assert gap[1] < gap[0] / 4, "agreement has shifted by the second snapshot"
    for m in ("ELS", "IS"):
        assert all(abs(p["median_r"][m] - shift["median_r"][m]) < 0.05 for p in along[1:]), "then stays about there"
    assert 2 * counts[1] < counts[-1], "most copies appear later"
    assert counts != sorted(counts), "the copies do not grow steadily (fig-training's caption)"
    resnet = memorisation.training_points(small["resnet"])
    assert all(p["copy_rate"] == 0 for p in resnet)
    assert glued["resnet_els_min"] == pytest.approx(min(p["median_r"]["ELS"] for p in resnet))
    assert glued["resnet_els_min"] > 0.85, "never drops below"
    second = memorisation.points()["unet"][1]
    later = memorisation.training_points(second)
    assert len(later) >= 3 and later[-1]["training_steps"] == last["training_steps"], "saved along training too"
    first_copy = next(p["training_steps"] for p in later if p["copy_rate"] > 0)
    assert (glued["n_second"], glued["second_first_copy"]) == (second["n_images"], first_copy)
    assert all(p["copy_rate"] == 0 for p in later if p["training_steps"] < first_copy), "copies nothing before"
    assert first_copy == later[-1]["training_steps"], "only at its last snapshot"
    assert first_copy > shift["training_steps"], "more slowly than on the fewest images"
    els_r = [p["median_r"]["ELS"] for p in later]
    assert (glued["second_els_first"], glued["second_els_last"]) == (pytest.approx(els_r[0]), pytest.approx(els_r[-1]))
    assert els_r[-1] < els_r[0] - 0.1, "its agreement with ELS falls"
    for words in ("The ResNet copies nothing at any snapshot", "most copies appear later",
                  "starts nearer ELS than IS", "takes the same course more slowly"):
        assert words in text, words
    assert "Copying grows with training" not in (ROOT / "book" / "12_copy_or_create.py").read_text()


def test_the_slider_names_its_seeds_and_copies(chapter, runs, small):
    """The slider's seeds are the ones its captions show, and the sentence under it names
    every copy among its images (the captions, shared by every frame, cannot)."""
    glued, text = chapter
    count = 4  # seeds per network on the slider at the laptop preset
    _, titles = memorisation.slider_frames(runs, count)
    seeds = memorisation.evaluation_seeds(small["unet"])[:count]
    assert titles[:count] == [f"UNet, seed {s}" for s in seeds]
    assert glued["slider_seeds"] == _listing(seeds)
    common = set.intersection(*({s["n_images"] for s in p} for p in runs.values()))
    found = sorted((memorisation.ARCH_LABELS[a], s["n_images"], seed, c) for a, pts in runs.items() for s in pts
                   if s["n_images"] in common for seed, c in zip(seeds, s["network"]["copied_image"]) if c >= 0)
    assert sorted(memorisation.slider_copies(runs, count)) == found
    expected = ("; ".join(f"the {a}'s sample from seed {seed} at N = {n:,} copies image #{c}"
                          for a, n, seed, c in sorted(found, key=lambda f: f[1])) + "; every other one is new"
                if found else "none copies")
    assert glued["slider_copies"] == expected
    assert "first few seeds" not in text


def test_theory_against_measurement(chapter, runs, small, big):
    """The ResNet: ELS predicts it (r and R^2 high), IS worse than a constant (R^2 < 0). The
    UNet: no machine predicts it well; it follows IS only partly: more of its copies are IS's
    image than chance would give, but not all. Its copying stops between the last size with
    copies and the first without, two measured sizes a factor 2 apart."""
    glued, text = chapter
    R2 = small["resnet"]["median_R2"]
    assert glued["R2_ELS_resnet"] == pytest.approx(R2["ELS"]) and R2["ELS"] > 0.8
    assert glued["R2_IS_resnet"] == pytest.approx(R2["IS"]) and R2["IS"] < 0, "worse than a constant"
    assert glued["R2_unet_max"] == pytest.approx(max(small["unet"]["median_R2"].values()))
    assert glued["R2_unet_max"] < 0.3, "no machine predicts it well"
    net = small["unet"]["network"]
    n_copies = _copies(small["unet"])
    assert glued["unet_copies"] == n_copies == round(small["unet"]["copy_rate"] * small["unet"]["seeds"])
    assert glued["unet_same_is"] == round(net["same_as_IS"] * small["unet"]["seeds"]) > 0
    assert glued["unet_other"] == n_copies - glued["unet_same_is"] > 0, "a network can copy another image than IS"
    is_pick = small["unet"]["IS_samples"]["copied_image"]
    assert sum(c >= 0 and c == is_pick[i] for i, c in enumerate(net["copied_image"])) == glued["unet_same_is"]
    assert glued["chance_same"] == pytest.approx(n_copies / small["unet"]["n_images"])
    assert glued["unet_same_is"] > 3 * glued["chance_same"], "follows IS more than chance: partly"
    assert glued["r_ELS_unet_big"] > 0.85, "the summary's N = 4,000 bullet"
    rates = [(s["n_images"], s["copy_rate"]) for s in runs["unet"]]
    last_copy = max(n for n, r in rates if r > 0)
    first_none = min(n for n, r in rates if r == 0 and n > last_copy)
    assert first_none / last_copy == 2, "its copying stops between two neighbouring measured sizes"
    assert (glued["n_last_copy"], glued["n_first_none"]) == (last_copy, first_none)
    assert glued["copy_last"] == dict(rates)[last_copy] > 0
    for words in ("**The ResNet: as predicted.**", "**The UNet: in part.**", "; the ResNet does not",
                  "It follows IS only partly", "follows IS only partly:",
                  "R^2 =$ {glue:text}`R2_ELS_resnet:.2f` ([chapter 9](09_prediction.ipynb))"):
        assert words in text, words
    assert "does not follow the ideal score" not in text


def test_exercise_solutions(chapter, small, ratios):
    """Each folded solution's numbers and the claims around them; the exercises define the
    names they use."""
    glued, text = chapter
    unet = small["unet"]
    copied = [c for c in unet["network"]["copied_image"] if c >= 0]
    assert glued["ex_copied"] == _listing(f"#{c}" for c in copied)
    assert glued["ex_distinct"] == len(set(copied)) == len(copied), "one image per copy"
    early = next(p for p in memorisation.training_points(unet) if p["copy_rate"] > 0)
    assert glued["ex_early_steps"] == early["training_steps"]
    early_copied = [c for c in early["network"]["copied_image"] if c >= 0]
    distinct = sorted(set(early_copied), key=early_copied.index)
    assert glued["ex_early"] == _listing(f"#{c}" + (f" ({early_copied.count(c)} samples)" if early_copied.count(c) > 1
                                                    else "") for c in distinct)
    kept = [c for c in distinct if c in copied]
    assert glued["ex_early_kept"] == (_listing(f"#{c}" for c in kept) if kept else "none")
    images = memorisation.training_images(unet)
    test, _ = els.data.load("mnist", "test", max_images=N_TEST, seed=0, verbose=False)
    alarm = copies(test, images)[0]
    assert glued["ex_test_n"] == N_TEST and glued["ex_test_count"] == int(alarm.sum())
    assert glued["ex_test_share"] == pytest.approx(float(alarm.double().mean()))
    assert glued["ex_test_share"] < unet["copy_rate"] / 4, "far below the UNet's share"
    D = float(torch.pdist(images.flatten(1).double()).min())
    assert glued["ex_D"] == pytest.approx(D) and glued["ex_quarter"] == pytest.approx(D / 4)
    d1 = memorisation.distances(unet)["network"][0]
    assert glued["ex_within"] == int((d1 <= D / 4).sum()) < glued["unet_copies"], "a copy farther out still counts"
    shares = {r: float((ratios["unet"]["network"] <= r).double().mean()) for r in (1 / 5, 1 / 2)}
    assert glued["ex_tight"] == pytest.approx(shares[1 / 5]) and glued["ex_loose"] == pytest.approx(shares[1 / 2])
    assert shares[1 / 5] < unet["copy_rate"] < shares[1 / 2], "the line moves the share"
    assert glued["ex_resnet_loose"] == float((ratios["resnet"]["network"] <= 1 / 2).double().mean()) == 0
    exercises = text[text.index("## Exercises"):]
    for name in ('small = {a: p[0] for a, p in memorisation.points().items()}',
                 'images = memorisation.training_images(small["unet"])', 'test, _ = els.data.load(',
                 'samples = memorisation.samples(small["unet"])["network"]'):
        assert name in exercises, f"the exercises use {name.split(' =')[0]} without defining it"
    assert "`snapshots`" not in exercises, "exercise 1 and its solution read the same helper"

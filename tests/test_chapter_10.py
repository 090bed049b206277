"""Chapter 10, "Where ELS stands", and its appendix "The comparison in detail": every number
the two pages glue, recomputed here from the committed result files, and every claim they make
in words ("leads", "ties", "on every network", "drops the centre"), checked against the same
files. The glued values are read from the executed notebooks (``make book-exec``), so a number
that changed in ``artifacts/`` but not in the book fails here, and so does a sentence that the
files no longer support."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

import els
from els.evaluate import paired_difference, read_images, read_rows
from els.machines.pca_locality import PEERS_CHUNK, gain_mask
from els.sampling import seeded_inputs
from els.studies import artifacts, harness, standing
from conftest import glued as read_glued, prose

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "10_standing.ipynb"
APPENDIX = ROOT / "book" / "appendix_comparison.ipynb"
RESULTS = ROOT / "artifacts" / "results"
OTHERS = [m for m in standing.MACHINES if m != "ELS"]
RESNETS = ["mnist_resnet_zeros", "fashion_mnist_resnet_zeros", "mnist_resnet_circular"]
LEADS = [*RESNETS, "mnist_unet_zeros"]  # where the chapter says ELS leads calibrated PCA-locality
TIES = ["fashion_mnist_unet_zeros", "mnist_attention_unet_zeros", "fashion_mnist_attention_unet_zeros"]


def _outputs(path: Path) -> list[str]:
    """The Markdown the page's code cells stored (its tables)."""
    return [o["data"]["text/markdown"] for c in nbformat.read(path, as_version=4).cells
            for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]


@pytest.fixture(scope="module")
def summaries():
    found = harness.read_summaries(RESULTS, standing.STAGE)
    assert len(found) == 7, "every committed network has a standing comparison"
    return found


@pytest.fixture(scope="module")
def rows(summaries):
    return {name: read_rows(RESULTS / name / "standing" / "samples.csv") for name in summaries}


@pytest.fixture(scope="module")
def chapter():
    return read_glued(CHAPTER), prose(CHAPTER), _outputs(CHAPTER)


@pytest.fixture(scope="module")
def mnist_images():
    images, _ = harness.training_data(artifacts.path("models", "mnist_resnet_zeros"), 500)
    return images


def test_every_glued_name_is_used_and_every_used_name_is_glued(chapter):
    """A {glue:text} role without its glue cell renders as a build warning; a glue nobody
    reads is a number the text forgot."""
    for path in (CHAPTER, APPENDIX):
        glued, text = read_glued(path), prose(path)
        used = set(re.findall(r"\{glue:text\}`([^`:]+)", text))
        assert used == set(glued), (path.name, used ^ set(glued))


def test_the_headline_table_is_the_committed_median_r(chapter, summaries):
    """The chapter's one results table is standing.table(..., "r") of the committed summaries,
    with the two PCA-localities and GoldDiff relabelled by their prose names, and its chance row is named
    by the machine it shuffles."""
    _, text, tables = chapter
    original = standing.table(summaries, "r")
    shown = original.replace("| PCALocality (peers) |", "| PCA-locality, published |") \
        .replace("| PCALocality |", "| PCA-locality, calibrated |").replace("| GoldDiff (published) |", "| GoldDiff, published |")
    assert shown != original and shown in tables
    assert "| PCALocality" not in shown and "| ELS, shuffled seeds |" in shown
    # the prose says once how the relabelled rows map to the appendix's labels
    assert "where the two PCA-localities are `PCALocality` and `PCALocality (peers)`" in text
    for retired in ("whole-matrix", "published recipe", "filtered posterior mean collections",
                    "follow-up papers below", "sees further than a patch"):
        assert retired not in text, retired


def test_locality_numbers_and_words(chapter, summaries):
    """"Up to t = 0.6 the gain stays within {gap} pixels of every network ... From t = 0.9 the
    gain outgrows every network, to {gainmnist} / {gainfashion} at t = 1. The UNets look least
    far: their views never exceed {unetview} pixels and narrow again at high noise, while the
    ResNets' grow to at least {resnetview}" and the calibrated widths: UNet ELS patches up to
    {unetpatch} at t = 1, ResNets' at most {resnetpatch}; the PCA-locality mask 1 pixel wide at
    the lowest noise on {pcaone} of the seven networks."""
    glued, text, _ = chapter
    loc = {n: s["locality"] for n, s in summaries.items()}
    unets = [n for n in loc if "unet" in n]
    resnets = [n for n in loc if "resnet" in n]
    assert len(unets) == 4 and len(resnets) == 3
    early = [abs(w - n) for lo in loc.values() for t, w, n in zip(lo["t"], lo["Wiener"], lo["network"]) if t <= 0.6]
    assert glued["gap"] == pytest.approx(max(early)) and glued["gap"] < 3
    assert glued["gainmnist"] == pytest.approx(loc["mnist_resnet_zeros"]["Wiener"][-1])
    assert glued["gainfashion"] == pytest.approx(loc["fashion_mnist_resnet_zeros"]["Wiener"][-1])
    for name, lo in loc.items():
        assert lo["t"][-1] == 1 and lo["t"][0] == pytest.approx(0.05)
        assert all(w > n for t, w, n in zip(lo["t"], lo["Wiener"], lo["network"]) if t >= 0.9), name
    # the UNets look least far, and their views narrow again; the ResNets' grow
    assert glued["unetview"] == pytest.approx(max(max(loc[n]["network"]) for n in unets))
    assert glued["resnetview"] == pytest.approx(min(loc[n]["network"][-1] for n in resnets))
    assert glued["unetview"] < glued["resnetview"]
    for n in unets:
        assert loc[n]["network"][-1] < max(loc[n]["network"]) - 1, n
    for n in resnets:
        assert loc[n]["network"][-1] >= max(loc[n]["network"]) - 2 and loc[n]["network"][-1] > loc[n]["network"][0], n
    # calibrated ELS patches: the UNets' larger than the ResNets' at t = 1
    assert glued["unetpatch"] == max(loc[n]["ELS"][-1] for n in unets)
    assert glued["resnetpatch"] == max(loc[n]["ELS"][-1] for n in resnets)
    assert glued["unetpatch"] > glued["resnetpatch"] > glued["unetview"]
    # the calibrated PCA-locality mask keeps only the pixel itself at the lowest noise
    assert glued["pcaone"] == sum(lo["PCALocality"][0] == 1 for lo in loc.values()) >= 6
    for words in ("From $t = 0.9$ the gain outgrows every network", "The UNets look least far",
                  "narrow again at high noise", "the PCA-locality mask is 1 pixel wide on"):
        assert words in text, words


def test_protocol_as_the_chapter_states_it(chapter, summaries):
    """500 training images, 20 machine steps and 150 network steps, 6 calibration seeds and 100
    others to score, the published threshold 0.005, the per-output rule kept everywhere."""
    glued, text, _ = chapter
    assert glued["nseeds"] == 100
    for name, s in summaries.items():
        assert s["images"] == 500 and s["reference"] == "network@150" and len(s["pca_schedule"]) == 20, name
        assert s["calibration_seeds"] == list(range(6)) and s["evaluation_seeds"] == list(range(6, 106)), name
        assert s["peers_threshold"] == 0.005 and s["pca_rule"] == "column", name
        assert s["pca_agreement_along"]["column"] > s["pca_agreement_along"]["peers"], name  # "better on every network"
    for words in ("same 500 of the network's training images", "runs 20 DDIM steps", "The network runs 150",
                  "the per-output rule, better on every network, is *calibrated PCA-locality*",
                  "*Published PCA-locality* is the published rule at 0.005",
                  "fitted on 6 noise seeds, the machines scored on {glue:text}`nseeds` others",
                  "*GoldDiff* runs it on golden subsets, as published"):
        assert words in text, words


def test_median_r_claims(chapter, summaries):
    """"On the ResNets ELS has the highest median r by far; on the UNets, ELS, LS and calibrated
    PCA-locality lie within {spread}. [On the circular ResNet] the machines that compare pixels
    only at the same position reach a median r of at most {circothers}. Published PCA-locality
    scores like the mean training image on all four MNIST networks (within {meangap}) ... [on
    FashionMNIST] the published rule comes within {fashiongap} of the calibrated one"."""
    glued, text, _ = chapter
    r = {n: {m: e["book"]["r"]["median"] for m, e in s["machines"].items()} for n, s in summaries.items()}
    for name in RESNETS:  # "by far": at least 0.1 ahead of every other machine
        assert r[name]["ELS"] - max(r[name][m] for m in OTHERS) > 0.1, name
    trio = ("ELS", "LS", "PCALocality")
    spread = max(max(r[n][m] for m in trio) - min(r[n][m] for m in trio) for n in summaries if "unet" in n)
    assert glued["spread"] == pytest.approx(spread) and spread <= 0.05
    circular = r["mnist_resnet_circular"]
    assert glued["circothers"] == pytest.approx(max(circular[m] for m in OTHERS))
    assert circular["ELS"] - glued["circothers"] > 0.3
    mnist = [n for n in summaries if n.startswith("mnist")]
    assert len(mnist) == 4
    gap = max(abs(r[n]["PCALocality (peers)"] - r[n][standing.MEAN_IMAGE]) for n in mnist)
    assert glued["meangap"] == pytest.approx(gap) and gap < 0.01
    fashion = [n for n in summaries if n.startswith("fashion")]
    fgap = max(abs(r[n]["PCALocality (peers)"] - r[n]["PCALocality"]) for n in fashion)
    assert glued["fashiongap"] == pytest.approx(fgap) and fgap <= 0.03
    assert all(r[n]["PCALocality (peers)"] - r[n][standing.MEAN_IMAGE] > 0.05 for n in fashion)
    for words in ("scores like the mean training image on all four MNIST networks",
                  "the published rule comes within", "compares patches across positions"):
        assert words in text, words


def test_leads_and_ties_by_the_paired_bootstrap(chapter, summaries, rows):
    """ELS against calibrated PCA-locality, paired bootstrap on the committed rows: a lead on the
    three ResNets and a thin one on the MNIST UNet, a tie on the other three UNets, the same
    verdicts by median R^2 (the table's last column); no machine ahead of ELS anywhere by either
    measure; the table prints three decimals."""
    glued, text, tables = chapter
    versus = {n: paired_difference(r, "ELS", "PCALocality") for n, r in rows.items()}
    by_R2 = {n: paired_difference(r, "ELS", "PCALocality", metric="R2") for n, r in rows.items()}
    assert [n for n in summaries if versus[n]["verdict"] == "lead"] == [n for n in summaries if n in LEADS]
    assert [n for n in summaries if versus[n]["verdict"] == "tie"] == [n for n in summaries if n in TIES]
    for name, r in rows.items():
        assert by_R2[name]["verdict"] == versus[name]["verdict"], name
        for m in OTHERS:
            for metric in ("r", "R2"):
                assert paired_difference(r, "ELS", m, metric=metric)["verdict"] != "behind", (name, m, metric)
    assert glued["leadlow"] == pytest.approx(min(versus[n]["difference"] for n in RESNETS))
    assert glued["leadhigh"] == pytest.approx(max(versus[n]["difference"] for n in RESNETS))
    assert glued["leadunet"] == pytest.approx(versus["mnist_unet_zeros"]["difference"])
    assert glued["leadunetlow"] == pytest.approx(versus["mnist_unet_zeros"]["low"])
    assert 0 < glued["leadunetlow"] < 0.01 and glued["leadunet"] < 0.05, "the MNIST UNet lead is thin"
    table = next(t for t in tables if t.startswith("| network | ELS − PCA-locality |"))
    from els.book.plotting import model_label
    for name, v in versus.items():
        assert f"| {model_label(name)} | {v['difference']:.3f} | [{v['low']:.3f}, {v['high']:.3f}] " \
               f"| {v['verdict']} | {by_R2[name]['verdict']} |" in table, name
    for words in ("ELS leads calibrated PCA-locality on the three ResNets",
                  "thinly on the MNIST UNet; on the other three UNets the two tie",
                  "By median $R^2$ the verdicts are the same, and no machine leads ELS on any network by "
                  "either measure (appendix table \"ELS against every machine\")",
                  "the UNets look no further than the ResNets",
                  "By a paired bootstrap no machine is ahead of ELS on any of the seven networks",
                  "thinly on the MNIST UNet ({glue:text}`leadunet:.3f`, an interval that starts at"):
        assert words in text, words


def test_pca_locality_against_wiener(chapter, summaries, rows):
    """"By median r calibrated PCA-locality leads Wiener on {pwrleads} of 7 networks (tie: the
    FashionMNIST ResNet), by median R^2 on {pwR2leads}, tying on the rest; by the follow-up
    papers' mean R^2, Wiener scores higher on {pwpeers} of 7"."""
    glued, text, _ = chapter
    m = {n: s["machines"] for n, s in summaries.items()}
    verdicts = {k: {n: paired_difference(r, "PCALocality", "Wiener", metric=k)["verdict"] for n, r in rows.items()}
                for k in ("r", "R2")}
    assert [n for n, v in verdicts["r"].items() if v != "lead"] == ["fashion_mnist_resnet_zeros"]
    assert verdicts["r"]["fashion_mnist_resnet_zeros"] == "tie"
    assert glued["pwrleads"] == list(verdicts["r"].values()).count("lead") == 6
    assert glued["pwR2leads"] == list(verdicts["R2"].values()).count("lead") and set(verdicts["R2"].values()) <= {"lead", "tie"}
    assert 0 < glued["pwR2leads"] < 7, "leads on some and ties on the rest"
    peers = sum(e["Wiener"]["peers"]["R2"] > e["PCALocality"]["peers"]["R2"] for e in m.values())
    assert glued["pwpeers"] == peers > 0
    assert "(tie: the FashionMNIST ResNet), by median $R^2$ on {glue:text}`pwR2leads`, tying on the rest" \
        in text.replace("\n", " ")
    for heading in ("## ELS against every machine", "## PCA-locality against the Wiener denoiser"):
        assert heading in "\n".join(c.source for c in nbformat.read(APPENDIX, as_version=4).cells), heading


def test_conditional_covariance_machines_take_every_images_covariance(summaries):
    """"For class-conditional networks, Wiener and PCA-locality pair the class mean with the
    covariance of all training images": the stored Wiener samples of a class-conditional network are those of
    ``els.Wiener(covariance="global")`` from the same noise and label, not those of the class's
    own covariance, which is stored beside them; only the class-conditional networks carry the
    variants with each class's own statistics."""
    for name, s in summaries.items():
        variants = {standing.CLASS_WIENER, standing.CLASS_MASKS} & set(s["machines"])
        assert bool(variants) == name.startswith("fashion"), name
    name = "fashion_mnist_resnet_zeros"
    s = summaries[name]
    images, labels = harness.training_data(artifacts.path("models", name), s["images"])
    seeds = s["evaluation_seeds"][:3]
    stored = read_images(RESULTS / name / "standing" / "final_images.pt", seeds)
    noise, _ = seeded_inputs(seeds, tuple(images.shape[1:]))
    label = torch.tensor(stored["labels"])
    for covariance, kept in (("global", "Wiener"), ("class", standing.CLASS_WIENER)):
        machine = els.Wiener(images, labels, covariance=covariance, device="cpu")
        drawn = els.sample(machine, noise, steps=len(s["pca_schedule"]), label=label)
        assert (drawn - stored["images"][kept]).abs().max() < 1e-3, covariance
    assert (stored["images"]["Wiener"] - stored["images"][standing.CLASS_WIENER]).abs().max() > 0.1


def test_cost(chapter, summaries):
    """"ELS is also the slowest machine on every network: up to {elshigh} seconds per sample ...
    against at most {othershigh} for any other"."""
    glued, text, _ = chapter
    cost = {n: s["seconds_per_sample"] for n, s in summaries.items()}
    assert all(c["ELS"] > max(c[m] for m in OTHERS) for c in cost.values())
    assert glued["elshigh"] == pytest.approx(max(c["ELS"] for c in cost.values()))
    assert glued["othershigh"] == pytest.approx(max(c[m] for c in cost.values() for m in OTHERS))
    assert "ELS is also the slowest machine on every network" in text


def test_the_published_rule_drops_every_pixel_itself_at_the_lowest_noise(chapter, mnist_images):
    """"At t = 0.05 the largest [row-normalised entry] is {peersmax}, above 1/tau = 200: every
    pixel's own entry, 1, falls below the cut, and the centre's mask drops the centre itself for
    scattered edge pixels"; "every pixel's mask keeps a few near-blank edge pixels or none"; the
    final estimate is then nearly the mean image; on FashionMNIST the largest entry stays below
    200 at every step ({peersfashion} at most). The per-output rule keeps the centre at every
    time the figure shows."""
    glued, text, _ = chapter
    H, W = mnist_images.shape[2:]
    centre = (H // 2) * W + W // 2
    border = lambda p: min(p // W, H - 1 - p // W, p % W, W - 1 - p % W)  # noqa: E731
    peers = els.PCALocality(mnist_images, mask="peers", threshold=0.005, device="cpu")
    ratios = gain_mask(peers.gain(0.05), 0.0, "peers")
    assert glued["peersmax"] == pytest.approx(float(ratios.abs().max())) and glued["peersmax"] > 1 / 0.005
    assert border(int(ratios.abs().argmax()) // (H * W)) <= 3, "the row of the global maximum is near the edge"
    mask = peers.mask(0.05)
    assert (mask.diagonal() == 0).all(), "every pixel drops itself"
    kept = mask.any(1).nonzero().flatten().tolist()
    variance = mnist_images.flatten(1).var(0)
    assert kept and all(border(p) <= 5 for p in kept) and variance[kept].max() < 0.02, "near-blank edge pixels"
    assert mask[:, centre].any() and (mask.sum(0) == 0).any(), "a few ... or none"
    # the final estimate: a lightly noised training digit comes back as the mean image
    abar = els.schedule.alpha_bar(torch.tensor([0.05])).item()
    x = abar ** 0.5 * mnist_images[:8] + (1 - abar) ** 0.5 * torch.randn(
        mnist_images[:8].shape, generator=torch.Generator().manual_seed(0))
    gap = (peers.denoise(x, 0.05) - mnist_images.mean(0)).flatten(1).abs().max(1).values
    assert gap.median() < 0.1
    fashion, _ = harness.training_data(artifacts.path("models", "fashion_mnist_resnet_zeros"), 500)
    fpeers = els.PCALocality(fashion, mask="peers", threshold=0.005, device="cpu")
    largest = [float(gain_mask(fpeers.gain(i / 20), 0.0, "peers").abs().max()) for i in range(1, 21)]
    assert glued["peersfashion"] == pytest.approx(max(largest)) and max(largest) < 200
    assert (fpeers.mask(0.05).diagonal() != 0).float().mean() > 0.99, "every pixel keeps itself"
    column = els.PCALocality(mnist_images, mask="column", threshold=0.1, device="cpu")
    for t in (0.05, 0.4, 0.7, 0.95):
        assert column.mask(t)[centre, centre] != 0, t
    for words in ("drops the centre itself", "above $1/\\tau = 200$", "stays below 200 at every step",
                  "every pixel keeps itself"):
        assert words in text, words


def test_the_gain_width_is_the_per_output_mask_at_the_figure_threshold(mnist_images):
    """"tau = 0.1 for the per-output rule, which then keeps exactly the inputs that define the
    gain's width"; and the width is the side of a square with as many pixels as the mask keeps."""
    from els.machines.pca_locality import mask_width

    assert standing.WIDTH_FRACTION == 0.1
    column = els.PCALocality(mnist_images, mask="column", threshold=0.1, device="cpu")
    H, W = mnist_images.shape[2:]
    centre = (H // 2) * W + W // 2
    for t in (0.05, 0.4):
        mask = gain_mask(column.gain(t), standing.WIDTH_FRACTION, "column")
        assert torch.equal(mask, column.mask(t))
        assert mask_width(mask, H, W) == pytest.approx(float(mask[:, centre].sum()) ** 0.5)


def test_exercise_solutions(chapter, rows, mnist_images):
    """The expected outcomes in the four folded solutions."""
    glued, _, _ = chapter
    # 1. the per-output rule at threshold 0 is the ideal score
    x = torch.randn(4, *mnist_images.shape[1:], generator=torch.Generator().manual_seed(0))
    pca, ideal = els.PCALocality(mnist_images, mask="column", device="cpu"), els.IS(mnist_images)
    for t in (0.3, 0.7):
        assert (pca.denoise(x, t, threshold=0.0) - ideal.denoise(x, t)).abs().max() < 1e-4, t
    # 2. the half-gain times
    lam = torch.linalg.eigvalsh(torch.cov(mnist_images.flatten(1).double().T)).flip(0)
    for k, name in ((0, "1"), (99, "100")):
        abar = 1 / (1 + lam[k])
        t = float(1.008 * 2 / torch.pi * torch.arccos(abar.sqrt()))
        assert els.schedule.alpha_bar(torch.tensor([t], dtype=torch.float64)).item() == pytest.approx(float(abar))
        assert glued[f"exlam{name}"] == pytest.approx(float(lam[k])) and glued[f"ext{name}"] == pytest.approx(t)
    assert glued["ext1"] > 0.8 > 0.3 > glued["ext100"], "the leading component survives longest"
    # 3. the bootstrap seed: robust against PCA-locality, fragile against LS
    unet = rows["mnist_unet_zeros"]
    ls = [paired_difference(unet, "ELS", "LS", seed=k) for k in range(10)]
    pca_leads = sum(paired_difference(unet, "ELS", "PCALocality", seed=k)["verdict"] == "lead" for k in range(10))
    assert glued["expcaleads"] == pca_leads == 10
    assert glued["exlsleads"] == sum(v["verdict"] == "lead" for v in ls) == 10  # "both leads are real"
    assert glued["exlslow"] == pytest.approx(min(v["low"] for v in ls))
    pca = [paired_difference(unet, "ELS", "PCALocality", seed=k) for k in range(10)]
    assert glued["expcalow"] == pytest.approx(min(v["low"] for v in pca))
    assert 0 < glued["exlslow"] < glued["expcalow"] < 0.01  # "both leads real but thin", LS's the thinner
    # 4. clipping: IS unchanged, Wiener changed by more than half the pixel range somewhere
    noise, _ = seeded_inputs(range(8), tuple(mnist_images.shape[1:]))
    same = els.sample(els.IS(mnist_images), noise) - els.sample(els.IS(mnist_images), noise, clip=True)
    assert same.abs().max() == 0
    wiener = els.Wiener(mnist_images)
    assert (els.sample(wiener, noise) - els.sample(wiener, noise, clip=True)).abs().max() > 1.0


def test_why_numbers_differ_names_the_clipping(chapter, summaries):
    """The peers' DDIM clips x0_hat to [-1, 1]; the book's does not unless asked; under the
    clipped sampler ELS keeps the highest median r on {clipfirst} of the 7 networks."""
    import inspect

    glued, text, _ = chapter
    assert "clip $\\hat x_0$ to $[-1, 1]$ (with `els.sample(..., clip=True)` ELS keeps the highest median $r$" in text
    assert inspect.signature(els.sample).parameters["clip"].default is False
    first = {part: sum(all(s[part]["ELS"]["book"]["r"]["median"] > s[part][m]["book"]["r"]["median"] for m in OTHERS)
                       for s in summaries.values()) for part in ("machines", "clipped")}
    assert glued["clipfirst"] == first["clipped"] >= first["machines"], "keeps"


def test_golddiff_as_published(chapter, summaries, rows):
    """"GoldDiff, run as published, scores like the published rule on FashionMNIST and somewhat
    above it on MNIST, below calibrated PCA-locality everywhere"; the
    appendix's numbers on it."""
    glued, text, _ = chapter
    r = {n: {m: e["book"]["r"]["median"] for m, e in s["machines"].items()} for n, s in summaries.items()}
    gap = {n: v["GoldDiff (published)"] - v["PCALocality (peers)"] for n, v in r.items()}
    assert all(abs(g) < 0.03 for n, g in gap.items() if n.startswith("fashion")), "like the published rule"
    assert all(0.03 < g < 0.2 for n, g in gap.items() if n.startswith("mnist")), "somewhat above it"
    assert all(v["GoldDiff (published)"] < v["PCALocality"] for v in r.values()), "below calibrated PCA-locality everywhere"
    whole = harness.read_summaries(RESULTS, "standing_whole")["mnist_resnet_zeros"]["machines"]
    assert (glued["nwhole"], glued["peerswhole"]) == (4000, pytest.approx(whole["PCALocality (peers)"]["book"]["r"]["median"]))
    assert glued["peerswhole"] > r["mnist_resnet_zeros"]["PCALocality (peers)"] + 0.2, "the collapse belongs to small sets"
    assert "The collapse belongs to small training sets" in text
    assert "GoldDiff scores like the published rule on FashionMNIST" in text
    appendix = read_glued(APPENDIX)
    assert appendix["golddiff_fashion_gap"] == pytest.approx(max(abs(g) for n, g in gap.items() if n.startswith("fashion")))
    assert appendix["golddiff_mnist_gain_low"] == pytest.approx(min(g for n, g in gap.items() if n.startswith("mnist")))
    assert appendix["golddiff_mnist_gain_high"] == pytest.approx(max(g for n, g in gap.items() if n.startswith("mnist")))
    assert appendix["golddiff_sizes"] == "{} to {}".format(*next(iter(summaries.values()))["golden_sizes"]) == "25 to 50"
    verdicts = [paired_difference(v, "ELS", "GoldDiff (published)")["verdict"] for v in rows.values()]
    assert appendix["golddiff_behind"] == verdicts.count("lead") and set(verdicts) == {"lead", "tie"}, "and ties the rest"
    cost = [s["seconds_per_sample"]["GoldDiff (published)"] / s["seconds_per_sample"]["PCALocality (peers)"]
            for s in summaries.values()]
    assert (appendix["golddiff_cost_low"], appendix["golddiff_cost_high"]) == (pytest.approx(min(cost)),
                                                                              pytest.approx(max(cost)))
    assert min(cost) < 1 < max(cost), "no faster here"


def test_appendix_under_the_clipped_sampler(summaries):
    """The appendix's clipped tables are the committed summaries'; its sentence's numbers."""
    glued, tables = read_glued(APPENDIX), _outputs(APPENDIX)
    for protocol in ("r", "peers"):
        assert standing.table(summaries, protocol, clipped=True) in tables, protocol
    moved = {}
    for name, s in summaries.items():
        images = {}
        for file in ("final_images.pt", "final_images_clipped.pt"):
            stored = read_images(RESULTS / name / "standing" / file)
            images[file] = stored["images"][s["reference"]][[stored["seeds"].index(k) for k in s["evaluation_seeds"]]]
        moved[name] = float((images["final_images_clipped.pt"] - images["final_images.pt"]).flatten(1).abs().max(1)
                            .values.median())
    assert glued["clip_moved"] == pytest.approx(max(moved.values()))
    first = sum(all(s["clipped"]["ELS"]["book"]["r"]["median"] > s["clipped"][m]["book"]["r"]["median"] for m in OTHERS)
                for s in summaries.values())
    assert glued["clip_els_first"] == first
    gain = max(s["clipped"]["Wiener"]["book"]["r"]["median"] - s["machines"]["Wiener"]["book"]["r"]["median"]
               for s in summaries.values())
    assert glued["clip_wiener_gain"] == pytest.approx(gain) and gain > 0


def test_appendix_numbers_and_claims(summaries, rows):
    """The appendix's glued numbers and sentences, against the same files."""
    glued, text, tables = read_glued(APPENDIX), prose(APPENDIX), _outputs(APPENDIX)
    assert {len(s["evaluation_seeds"]) for s in summaries.values()} == {glued["appendix_nseeds"]} == {100}
    for protocol in standing.PROTOCOLS:
        assert standing.table(summaries, protocol) in tables, protocol
    keys = {"r": lambda e: e["book"]["r"]["median"], "R2": lambda e: e["book"]["R2"]["median"],
            "peers": lambda e: e["peers"]["R2"]}
    for k, key in keys.items():
        top = sum(key(s["machines"]["ELS"]) > max(key(s["machines"][m]) for m in OTHERS) for s in summaries.values())
        assert glued[f"top_{k}"] == top
    circular = summaries["mnist_resnet_circular"]["machines"]
    worst = max(circular[m]["book"]["R2"]["median"] for m in OTHERS)
    assert glued["circular_worst"] == pytest.approx(worst) and worst < 0 < glued["circular_els"]
    assert glued["circular_els"] == pytest.approx(circular["ELS"]["book"]["R2"]["median"])
    # "With our 500 training images there is one chunk, and the chunk average is the exact softmax"
    assert all(s["images"] <= PEERS_CHUNK for s in summaries.values())
    # "on the networks of one dataset it draws nearly the same samples from the same seeds"
    peers = {n: read_images(RESULTS / n / "standing" / "final_images.pt")["images"]["PCALocality (peers)"]
             for n in summaries}
    for prefix in ("mnist_", "fashion_mnist_"):
        group = [peers[n] for n in summaries if n.startswith(prefix)]
        assert len(group) >= 3 and all((g - group[0]).abs().max() < 0.01 for g in group), prefix
    gaps = {}
    for name, s in summaries.items():
        stored = read_images(RESULTS / name / "standing" / "final_images.pt")
        images, labels = harness.training_data(artifacts.path("models", name), s["images"])
        mean = images.mean(0, keepdim=True) if stored["labels"] is None else \
            torch.stack([images[labels == c].mean(0) for c in stored["labels"]])
        gap = (stored["images"]["PCALocality (peers)"] - mean).flatten(1).abs().max(1).values
        gaps[name] = float(gap.median())
        assert not name.startswith("mnist") or gap.max() > 0.5, "a few samples stray further"
    assert glued["gap_mnist"] == pytest.approx(max(g for n, g in gaps.items() if n.startswith("mnist")))
    assert glued["gap_fashion"] == pytest.approx(min(g for n, g in gaps.items() if n.startswith("fashion")))
    assert glued["gap_mnist"] < 0.1 < 1 < glued["gap_fashion"]
    # golden subsets
    import json

    golden = {r["machine"]: r for r in json.loads((ROOT / "artifacts" / "bench" / "golden.json").read_text())["rows"]}
    assert glued["golden_els_speedup"] == pytest.approx(golden["ELS"]["speedup"])
    assert glued["golden_els_r"] == pytest.approx(golden["ELS"]["r_median"]) and glued["golden_els_r"] > 0.95
    assert glued["golden_pca_speedup"] == pytest.approx(golden["PCALocality"]["speedup"])
    assert 1 < glued["golden_pca_speedup"] < glued["golden_els_speedup"]
    assert glued["golden_is_speedup"] == pytest.approx(golden["IS"]["speedup"]) and glued["golden_is_speedup"] < 1
    assert "every position-specific machine (IS, LS, Wiener, both PCA-localities, GoldDiff) predicts worse" in text


def test_the_published_rule_at_the_whole_subset():
    """"With more images the rule does not collapse": at the MNIST ResNet's 4,000 images the
    largest row-normalised entry at t = 0.05 is below 1/tau = 200, most pixels keep themselves,
    and published PCA-locality is far above the mean training image (the committed
    whole-subset comparison)."""
    glued, text = read_glued(APPENDIX), prose(APPENDIX)
    whole = harness.read_summaries(RESULTS, "standing_whole")["mnist_resnet_zeros"]
    images, _ = harness.training_data(artifacts.path("models", "mnist_resnet_zeros"), whole["images"])
    published = els.PCALocality(images, mask="peers", threshold=0.005, device="cpu")
    largest = float(gain_mask(published.gain(0.05), 0.0, "peers").abs().max())
    keep = float((published.mask(0.05).diagonal() != 0).double().mean())
    assert (glued["whole_n"], glued["whole_seeds"]) == (4000, len(whole["evaluation_seeds"]))
    assert glued["whole_peersmax"] == pytest.approx(largest) and largest < 200
    assert glued["whole_keep"] == pytest.approx(keep) and keep > 0.5
    m = whole["machines"]
    for key, name in (("whole_peers_r", "PCALocality (peers)"), ("whole_pca_r", "PCALocality"),
                      ("whole_mean_r", standing.MEAN_IMAGE)):
        assert glued[key] == pytest.approx(m[name]["book"]["r"]["median"]), key
    assert glued["whole_peers_r"] > glued["whole_mean_r"] + 0.2
    assert "With more images the rule does not collapse." in text


def test_the_comparison_at_the_networks_scale(chapter, summaries):
    """The 4,000-image table is the committed whole-subset summaries'; "no machine is ahead of
    ELS"; ELS leads calibrated PCA-locality on the three ResNets and ties it on both UNets, the
    MNIST UNet's lead at 500 images included (chapter: "ELS still leads calibrated PCA-locality on
    the ResNets and ties it on the MNIST UNet")."""
    from els.studies import standing_whole

    glued, text, tables = read_glued(APPENDIX), prose(APPENDIX), _outputs(APPENDIX)
    at_scale = harness.read_summaries(RESULTS, standing_whole.STAGE)
    assert len(at_scale) == 7 and {s["images"] for s in at_scale.values()} == {4000}
    assert standing_whole.table(at_scale) in tables
    rivals = ["IS", "LS (recalibrated)", *standing_whole.MACHINES[1:]]
    verdicts = {name: {m: paired_difference(standing_whole.compared_rows(RESULTS, s), "ELS (recalibrated)", m)["verdict"]
                       for m in rivals} for name, s in at_scale.items() if s["dictionary"]}
    assert glued["scale_nets"] == len(verdicts) == 5
    assert glued["scale_behind"] == sum(v == "behind" for c in verdicts.values() for v in c.values()) == 0
    leads = sorted(n for n, c in verdicts.items() if c["PCALocality"] == "lead")
    assert glued["scale_pca_leads"] == len(leads) and leads == sorted(RESNETS)
    assert {n for n, c in verdicts.items() if c["PCALocality"] == "tie"} == {"mnist_unet_zeros", "fashion_mnist_unet_zeros"}
    assert len(at_scale["mnist_unet_zeros"]["evaluation_seeds"]) == 30 < len(summaries["mnist_unet_zeros"]["evaluation_seeds"])
    assert "the three ResNets, and ties it on both UNets" in text
    assert "ELS still leads calibrated PCA-locality on the ResNets and ties it on the MNIST UNet" in \
        chapter[1].replace("\n", " ")


def test_which_class_statistics(summaries):
    """The class-statistics table and its sentence: own-class masks never ahead of PCA-locality's
    (behind on some cells, tied on the rest); the own-class Wiener behind once (the FashionMNIST
    ResNet at 500 images) and ahead exactly on both FashionMNIST UNets at 4,000 images; every
    image's covariance never behind at 500 images for either machine."""
    from els.studies import standing_whole

    glued = read_glued(APPENDIX)
    own = {"Wiener": standing.CLASS_WIENER, "PCALocality": standing.CLASS_MASKS}
    cells = {}
    for name in [n for n in summaries if n.startswith("fashion")]:
        for stage in (standing.STAGE, standing_whole.STAGE):
            n = 500 if stage == standing.STAGE else 4000
            rows = read_rows(RESULTS / name / stage / "samples.csv")
            cells[name, n] = {m: paired_difference(rows, own[m], m)["verdict"] for m in own}
    assert glued["own_cells"] == len(cells) == 6
    for m, verdict in (("Wiener", "lead"), ("Wiener", "tie"), ("Wiener", "behind"), ("PCALocality", "behind")):
        assert glued[f"own_{m}_{verdict}"] == sum(c[m] == verdict for c in cells.values()), (m, verdict)
    assert {c["PCALocality"] for c in cells.values()} == {"behind", "tie"}, "never better, behind on some"
    assert [k for k, c in cells.items() if c["Wiener"] == "behind"] == [("fashion_mnist_resnet_zeros", 500)]
    assert sorted(k for k, c in cells.items() if c["Wiener"] == "lead") == [
        ("fashion_mnist_attention_unet_zeros", 4000), ("fashion_mnist_unet_zeros", 4000)]
    assert all(c[m] != "lead" for (_, n), c in cells.items() if n == 500 for m in own), "never behind at 500"


def test_the_summaries_carry_the_stated_verdicts(summaries):
    """The rule "a difference whose 95% interval contains zero is a tie", against the committed
    summaries: every paired entry's verdict follows its interval, and the chapter's leads and
    ties of ELS over calibrated PCA-locality (LEADS, TIES) are the summaries' own verdicts, at
    500 images and, on the networks where ELS ran at 4,000, at the whole subset."""
    from els.studies import standing_whole

    at_scale = harness.read_summaries(RESULTS, standing_whole.STAGE)
    for name, s in [*summaries.items(), *at_scale.items()]:
        assert s["paired"], name
        for e in s["paired"]:
            assert e["verdict"] == ("lead" if e["low"] > 0 else "behind" if e["high"] < 0 else "tie"), (name, e)
    verdict = {name: {(e["first"], e["second"], e["metric"]): e["verdict"] for e in s["paired"]}
               for name, s in summaries.items()}
    assert sorted(n for n, v in verdict.items() if v["ELS", "PCALocality", "r"] == "lead") == sorted(LEADS)
    assert sorted(n for n, v in verdict.items() if v["ELS", "PCALocality", "r"] == "tie") == sorted(TIES)
    whole = {name: {(e["first"], e["second"]): e["verdict"] for e in s["paired"] if e["metric"] == "r"}
             for name, s in at_scale.items() if s["dictionary"]}
    assert sorted(n for n, v in whole.items() if v["ELS (recalibrated)", "PCALocality"] == "lead") == sorted(RESNETS)

"""Chapter 10, "Where ELS stands", and its appendix "The comparison in detail": every number
the two pages glue, recomputed here from the committed result files, and every claim they make
in words ("leads", "ties", "on every network", "drops the centre"), checked against the same
files. The glued values are read from the executed notebooks (``make book-exec``), so a number
that changed in ``artifacts/`` but not in the book fails here, and so does a sentence that the
files no longer support."""
from __future__ import annotations

import ast
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

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "10_standing.ipynb"
APPENDIX = ROOT / "book" / "appendix_comparison.ipynb"
RESULTS = ROOT / "artifacts" / "results"
GLUE = "application/papermill.record/text/plain"
OTHERS = [m for m in standing.MACHINES if m != "ELS"]
RESNETS = ["mnist_resnet_zeros", "fashion_mnist_resnet_zeros", "mnist_resnet_circular"]
LEADS = [*RESNETS, "mnist_unet_zeros"]  # where the chapter says ELS leads calibrated PCA-locality
TIES = ["fashion_mnist_unet_zeros", "mnist_attention_unet_zeros", "fashion_mnist_attention_unet_zeros"]


def _glued(path: Path) -> dict:
    """name -> value of every ``glue(name, value, display=False)`` stored in the notebook."""
    out = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = ast.literal_eval(o["data"][GLUE])
    return out


def _markdown(path: Path) -> str:
    """The page's prose, whitespace flattened and comment markers gone (a sentence may wrap)."""
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return " ".join(text.split())


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
    return _glued(CHAPTER), _markdown(CHAPTER), _outputs(CHAPTER)


@pytest.fixture(scope="module")
def mnist_images():
    images, _ = harness.training_data(artifacts.path("models", "mnist_resnet_zeros"), 500)
    return images


def test_every_glued_name_is_used_and_every_used_name_is_glued(chapter):
    """A {glue:text} role without its glue cell renders as a build warning; a glue nobody
    reads is a number the text forgot."""
    for path in (CHAPTER, APPENDIX):
        glued, text = _glued(path), _markdown(path)
        used = set(re.findall(r"\{glue:text\}`([^`:]+)", text))
        assert used == set(glued), (path.name, used ^ set(glued))


def test_the_headline_table_is_the_committed_median_r(chapter, summaries):
    """The chapter's one results table is standing.table(..., "r") of the committed summaries,
    and its chance row is named by the machine it shuffles."""
    _, _, tables = chapter
    assert standing.table(summaries, "r") in tables
    assert "| ELS, shuffled seeds |" in standing.table(summaries, "r")


def test_locality_numbers_and_words(chapter, summaries):
    """"Every width grows with t. Up to t = 0.6 the gain stays within {gap} pixels of every
    network ... From t = 0.9 they part: at t = 1 the gain is {gainmnist} / {gainfashion} wide,
    the networks' views between {netlow} and {nethigh}"."""
    glued, text, _ = chapter
    loc = {n: s["locality"] for n, s in summaries.items()}
    early = [abs(w - n) for lo in loc.values() for t, w, n in zip(lo["t"], lo["Wiener"], lo["network"]) if t <= 0.6]
    assert glued["gap"] == pytest.approx(max(early)) and glued["gap"] < 3
    assert glued["gainmnist"] == pytest.approx(loc["mnist_resnet_zeros"]["Wiener"][-1])
    assert glued["gainfashion"] == pytest.approx(loc["fashion_mnist_resnet_zeros"]["Wiener"][-1])
    assert glued["netlow"] == pytest.approx(min(lo["network"][-1] for lo in loc.values()))
    assert glued["nethigh"] == pytest.approx(max(lo["network"][-1] for lo in loc.values()))
    for name, lo in loc.items():
        assert all(series[-1] > series[0] for series in (lo["Wiener"], lo["network"], lo["ELS"], lo["PCALocality"])), name
        assert all(w > n for t, w, n in zip(lo["t"], lo["Wiener"], lo["network"]) if t >= 0.9), name
        assert lo["t"][-1] == 1
    assert "Every width grows with $t$" in text and "From $t = 0.9$ they part" in text


def test_protocol_as_the_chapter_states_it(chapter, summaries):
    """500 training images, 20 machine steps and 150 network steps, calibration seeds 0-5 and
    the 40 after them, the published threshold 0.005, the per-output rule kept everywhere."""
    _, text, _ = chapter
    for name, s in summaries.items():
        assert s["images"] == 500 and s["reference"] == "network@150" and len(s["pca_schedule"]) == 20, name
        assert s["calibration_seeds"] == list(range(6)) and s["evaluation_seeds"] == list(range(6, 46)), name
        assert s["peers_threshold"] == 0.005 and s["pca_rule"] == "column", name
    for words in ("same 500 of the network's training images", "runs 20 DDIM steps; the network runs 150",
                  "the per-output rule, on every network", "the whole-matrix rule at threshold 0.005",
                  "Calibration uses seeds 0-5, the comparison the 40 seeds after them"):
        assert words in text, words


def test_median_r_claims(chapter, summaries):
    """"On the ResNets ELS has the highest median r by far; on the UNets, ELS, LS and calibrated
    PCA-locality lie within {spread}. The published recipe scores like the mean training image
    on all four MNIST networks (within {meangap})"."""
    glued, text, _ = chapter
    r = {n: {m: e["book"]["r"]["median"] for m, e in s["machines"].items()} for n, s in summaries.items()}
    for name in RESNETS:  # "by far": at least 0.1 ahead of every other machine
        assert r[name]["ELS"] - max(r[name][m] for m in OTHERS) > 0.1, name
    trio = ("ELS", "LS", "PCALocality")
    spread = max(max(r[n][m] for m in trio) - min(r[n][m] for m in trio) for n in summaries if "unet" in n)
    assert glued["spread"] == pytest.approx(spread) and spread <= 0.05
    mnist = [n for n in summaries if n.startswith("mnist")]
    assert len(mnist) == 4
    gap = max(abs(r[n]["PCALocality (peers)"] - r[n][standing.MEAN_IMAGE]) for n in mnist)
    assert glued["meangap"] == pytest.approx(gap) and gap < 0.01
    assert "scores like the mean training image on all four MNIST networks" in text


def test_leads_and_ties_by_the_paired_bootstrap(chapter, summaries, rows):
    """ELS against calibrated PCA-locality, paired bootstrap on the committed rows: a lead on the
    three ResNets and the MNIST UNet, a tie on the other three UNets, the same verdicts by
    median R^2; no machine ahead of ELS anywhere by either measure; the table shows the same."""
    glued, text, tables = chapter
    versus = {n: paired_difference(r, "ELS", "PCALocality") for n, r in rows.items()}
    assert [n for n in summaries if versus[n]["verdict"] == "lead"] == [n for n in summaries if n in LEADS]
    assert [n for n in summaries if versus[n]["verdict"] == "tie"] == [n for n in summaries if n in TIES]
    for name, r in rows.items():
        assert paired_difference(r, "ELS", "PCALocality", metric="R2")["verdict"] == versus[name]["verdict"], name
        for m in OTHERS:
            for metric in ("r", "R2"):
                assert paired_difference(r, "ELS", m, metric=metric)["verdict"] != "behind", (name, m, metric)
    assert glued["leadlow"] == pytest.approx(min(versus[n]["difference"] for n in RESNETS))
    assert glued["leadhigh"] == pytest.approx(max(versus[n]["difference"] for n in RESNETS))
    assert glued["leadunet"] == pytest.approx(versus["mnist_unet_zeros"]["difference"])
    assert glued["leadunetlow"] == pytest.approx(versus["mnist_unet_zeros"]["low"]) and glued["leadunetlow"] > 0
    table = next(t for t in tables if t.startswith("| network | ELS − PCA-locality |"))
    from els.book.plotting import model_label
    for name, v in versus.items():
        assert f"| {model_label(name)} | {v['difference']:.2f} | [{v['low']:.2f}, {v['high']:.2f}] | {v['verdict']} |" \
            in table, name
    for words in ("ELS leads calibrated PCA-locality on the three ResNets",
                  "On the FashionMNIST UNet and both attention UNets the two tie",
                  "By median $R^2$ the verdicts are the same, and by either measure no machine is ahead of ELS on any network",
                  "By a paired bootstrap no machine is ahead of ELS on any of the seven networks"):
        assert words in text, words


def test_pca_locality_against_wiener(chapter, summaries, rows):
    """"PCA-locality beats the Wiener denoiser by median r on all seven networks (a paired lead
    on {pwleads}), but not by every measure: Wiener has the higher median R^2 on {pwR2}
    network and the higher mean R^2 of the follow-up papers on {pwpeers} of 7"."""
    glued, text, _ = chapter
    m = {n: s["machines"] for n, s in summaries.items()}
    assert all(e["PCALocality"]["book"]["r"]["median"] > e["Wiener"]["book"]["r"]["median"] for e in m.values())
    leads = sum(paired_difference(r, "PCALocality", "Wiener")["verdict"] == "lead" for r in rows.values())
    R2 = sum(e["Wiener"]["book"]["R2"]["median"] > e["PCALocality"]["book"]["R2"]["median"] for e in m.values())
    peers = sum(e["Wiener"]["peers"]["R2"] > e["PCALocality"]["peers"]["R2"] for e in m.values())
    assert (glued["pwleads"], glued["pwR2"], glued["pwpeers"]) == (leads, R2, peers)
    assert R2 == 1, "the sentence says 'on {pwR2} network' (singular)"
    assert 0 < leads < 7 and peers > 0
    assert "by median $r$ on all seven networks" in text


def test_cost(chapter, summaries):
    """"ELS is the slowest machine on every network, {elslow} to {elshigh} seconds per sample,
    against at most {othershigh} for any other"."""
    glued, text, _ = chapter
    cost = {n: s["seconds_per_sample"] for n, s in summaries.items()}
    assert all(c["ELS"] > max(c[m] for m in OTHERS) for c in cost.values())
    assert glued["elslow"] == pytest.approx(min(c["ELS"] for c in cost.values()))
    assert glued["elshigh"] == pytest.approx(max(c["ELS"] for c in cost.values()))
    assert glued["othershigh"] == pytest.approx(max(c[m] for c in cost.values() for m in OTHERS))
    assert "it is the slowest machine on every network" in text


def test_the_whole_matrix_rule_drops_the_centre_at_the_lowest_noise(chapter, mnist_images):
    """"the global maximum sits there [near the border], and at the lowest noise the centre
    pixel's mask keeps scattered border pixels and drops the centre itself"; the per-output
    rule keeps the centre at every time the figure shows."""
    _, text, _ = chapter
    H, W = mnist_images.shape[2:]
    centre = (H // 2) * W + W // 2
    peers = els.PCALocality(mnist_images, mask="peers", threshold=0.005, device="cpu")
    column = els.PCALocality(mnist_images, mask="column", threshold=0.1, device="cpu")
    gain = peers.gain(0.05)
    row = int(gain_mask(gain, 0.0, "peers").abs().argmax()) // (H * W)
    border = lambda p: min(p // W, H - 1 - p // W, p % W, W - 1 - p % W)  # noqa: E731
    assert border(row) <= 3, "the row of the global maximum is near the border"
    mask = peers.mask(0.05)[:, centre]
    kept = mask.nonzero().flatten().tolist()
    assert mask[centre] == 0 and kept and all(border(p) <= 4 for p in kept)
    for t in (0.05, 0.4, 0.7, 0.95):
        assert column.mask(t)[centre, centre] != 0, t
    assert "drops the centre itself" in text


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


def test_why_numbers_differ_names_the_clipping(chapter):
    """The peers' DDIM clips x0_hat to [-1, 1]; the book's does not unless asked."""
    import inspect

    _, text, _ = chapter
    assert "the book's sampler does not (`els.sample(..., clip=True)` does)" in text
    assert inspect.signature(els.sample).parameters["clip"].default is False


def test_appendix_numbers_and_claims(summaries, rows):
    """The appendix's glued numbers and sentences, against the same files."""
    glued, text, tables = _glued(APPENDIX), _markdown(APPENDIX), _outputs(APPENDIX)
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
    assert "every position-specific machine (IS, LS, Wiener, both PCA-localities) predicts worse" in text

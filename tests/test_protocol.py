"""The denoiser contract (els.machines.Denoiser): every kind of machine satisfies it, and
sampling and evaluation accept each kind as their first (shape-giving) machine."""
import pytest
import torch

import els
from els.evaluate import evaluate
from els.machines import Denoiser, GoldenSubset, Tiered, scale_keyword

G = torch.Generator().manual_seed(0)
IMAGES = torch.rand(12, 1, 6, 6, generator=G) * 2 - 1
LABELS = torch.arange(12) % 3


def kinds():
    els_machine = els.ELS(IMAGES, LABELS, device="cpu")
    return {
        "IS": (els.IS(IMAGES, LABELS, device="cpu"), None),
        "ES": (els.ES(IMAGES, LABELS, device="cpu"), None),
        "LS": (els.LS(IMAGES, LABELS, device="cpu"), [3, 5]),
        "ELS": (els_machine, [3, 5]),
        "Wiener": (els.Wiener(IMAGES, LABELS, device="cpu"), None),
        "PCALocality": (els.PCALocality(IMAGES, LABELS, device="cpu"), [0.1, 0.2]),
        "GoldenSubset": (GoldenSubset(els_machine, k_min=2, k_max=4), [3, 5]),
        "Tiered": (Tiered(els_machine, k=6, switch=0.5), [3, 5]),
    }


class Network:
    """A stand-in network: the IS machine's noise prediction, conditional or not."""

    def __init__(self, conditional):
        self.conditional, self.machine = conditional, els.IS(IMAGES, LABELS, device="cpu")

    def eps(self, x_t, t, label=None):
        return self.machine.eps(x_t, t, label=label)


@pytest.mark.parametrize("kind", list(kinds()))
def test_every_kind_satisfies_the_contract(kind):
    machine, _ = kinds()[kind]
    assert isinstance(machine, Denoiser)
    assert machine.images.shape == IMAGES.shape and torch.equal(machine.labels, LABELS)
    assert machine.scale_name in ("patch_size", "threshold")


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("kind", list(kinds()))
def test_sample_and_evaluate_take_each_kind_first(kind, conditional):
    """Fails if evaluate reads something of its first machine that a kind lacks (GoldenSubset had
    no .images), or if a kind's scale keyword does not reach its denoise."""
    machine, scales = kinds()[kind]
    noise = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    label = torch.tensor([0, 2]) if conditional else None
    out = els.sample(machine, noise, steps=2, scales=scales, label=label)
    assert out.shape == noise.shape and torch.isfinite(out).all()
    rows = evaluate(Network(conditional), {kind: (machine, scales)}, seeds=2, steps=2, network_steps=(2,),
                    progress=False)
    assert len(rows) == 2 and all(-1 <= r["r"] <= 1 for r in rows)
    assert all((r["label"] is not None) == conditional for r in rows)


def test_scale_keyword_names_the_machines_own_keyword():
    assert scale_keyword(els.ELS(IMAGES, device="cpu"), 5) == {"patch_size": 5}
    assert scale_keyword(els.PCALocality(IMAGES, device="cpu"), torch.tensor(0.25)) == {"threshold": 0.25}
    assert scale_keyword(els.ELS(IMAGES, device="cpu"), None) == {}
    assert scale_keyword(object(), 3) == {"patch_size": 3}

"""The machine matched to a saved network (els.machine_for): padding and conditioning come
from the checkpoint's config, on the committed checkpoints and on a tiny saved model."""
import json

import pytest
import torch

import els
from els.studies import artifacts
from els import models
from els.machines.matched import network_config

COMMITTED = sorted(p.parent for p in (artifacts.root() / "models").glob("**/model.json"))


def test_the_committed_checkpoints_have_configs():
    """Fails if the committed checkpoints moved, so the test below would check nothing."""
    names = {p.name for p in COMMITTED}
    assert {"mnist_resnet_zeros", "mnist_resnet_circular", "fashion_mnist_resnet_zeros"} <= names


@pytest.mark.parametrize("model_dir", COMMITTED, ids=lambda p: str(p.relative_to(artifacts.root() / "models")))
def test_committed_checkpoints_give_their_padding_and_conditioning(model_dir):
    """Fails if ELS does not get the padding the network was trained with, or a conditional
    network's machine is built without labels (or an unconditional one's with them)."""
    config = json.loads((model_dir / "model.json").read_text())["config"]
    images, labels = torch.rand(6, config["channels"], 8, 8) * 2 - 1, torch.arange(6) % 2
    given = labels if config["num_classes"] else None
    machine = els.machine_for(model_dir, "ELS", images, given, device="cpu")
    assert isinstance(machine, els.ELS) and machine.padding == config["padding"]
    assert (machine.labels is None) == (given is None)
    wrong = None if config["num_classes"] else labels
    with pytest.raises(ValueError, match="labels=None" if wrong is not None else "labels="):
        els.machine_for(model_dir, "LS", images, wrong, device="cpu")


def tiny_saved(tmp_path, **kw):
    models.save(models.ResNet(width=16, depth=1, emb_half=8, **kw), tmp_path / "model.pt")
    return tmp_path


def test_a_saved_circular_conditional_network_gets_the_matching_machines(tmp_path):
    """Fails if a kind maps to the wrong machine, the ELS padding is not the network's, or the
    machine arguments are dropped: the matched ELS must denoise exactly as the hand-built one."""
    model_dir = tiny_saved(tmp_path, padding="circular", num_classes=3)
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(5, 1, 8, 8, generator=g) * 2 - 1, torch.tensor([0, 1, 2, 0, 1])
    for kind, cls in (("IS", els.IS), ("ES", els.ES), ("LS", els.LS), ("ELS", els.ELS)):
        assert type(els.machine_for(model_dir, kind, images, labels, device="cpu")) is cls
    matched = els.machine_for(model_dir, "ELS", images, labels, patch_size=5, device="cpu", dtype=torch.float64)
    by_hand = els.ELS(images, labels, patch_size=5, padding="circular", device="cpu", dtype=torch.float64)
    x = torch.randn(2, 1, 8, 8, generator=g, dtype=torch.float64)
    assert torch.equal(matched.denoise(x, 0.4, label=1), by_hand.denoise(x, 0.4, label=1))
    assert network_config(model_dir) == {"class": "ResNet", "channels": 1, "width": 16, "depth": 1,
                                         "padding": "circular", "num_classes": 3, "emb_half": 8}


def test_bad_requests_name_the_fix(tmp_path):
    """Fails if a mismatch between network and machine passes silently or with an unclear error."""
    model_dir = tiny_saved(tmp_path)
    images = torch.rand(4, 1, 8, 8) * 2 - 1
    with pytest.raises(ValueError, match="unconditional: pass labels=None"):
        els.machine_for(model_dir, "ELS", images, torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="drop padding="):
        els.machine_for(model_dir, "ELS", images, padding="circular")
    with pytest.raises(ValueError, match="IS, ES, LS, ELS"):
        els.machine_for(model_dir, "bbELS", images)
    with pytest.raises(ValueError, match="1-channel"):
        els.machine_for(model_dir, "IS", torch.rand(4, 3, 8, 8))
    with pytest.raises(FileNotFoundError, match="els.models.save"):
        els.machine_for(tmp_path / "elsewhere", "IS", images)
    conditional = tiny_saved(tmp_path / "conditional", num_classes=2)
    with pytest.raises(ValueError, match="class-conditional .* pass labels="):
        els.machine_for(conditional, "IS", images)

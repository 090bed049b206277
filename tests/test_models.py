"""Networks (els.models): shapes, padding, equivariance, conditioning, save/load."""
from __future__ import annotations

import itertools
import json

import pytest
import torch

import els.models as models



TINY = {"resnet": {"width": 16, "depth": 2, "emb_half": 8},
        "unet": {"widths": (16, 16, 16), "emb_half": 8},
        "attention_unet": {"widths": (16, 16, 16), "emb_half": 8, "heads": 2}}


def tiny(arch: str, **kw) -> models.DiffusionNet:
    torch.manual_seed(0)
    return models.build(arch, **TINY[arch], **kw)


@pytest.mark.parametrize("arch,padding,num_classes,channels",
                         list(itertools.product(TINY, models.PADDINGS, [None, 10], [1, 3])))
def test_output_shape_matches_input_for_every_variant(arch, padding, num_classes, channels):
    """Fails if a network does not map (B, C, H, W) to the same shape for some padding /
    conditioning / channel combination (including a non-square image), or eps() differs
    from forward()."""
    net = tiny(arch, channels=channels, padding=padding, num_classes=num_classes)
    x = torch.randn(3, channels, 16, 24)
    t = torch.tensor([0.0, 0.5, 1.0])
    label = torch.tensor([0, 4, 9]) if num_classes else None
    out = net(x, t, label)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(net.eps(x, t, label=label), out)
    eps_scalar = net.eps(x, 0.5, label=4 if num_classes else None)
    assert eps_scalar.shape == x.shape


@pytest.mark.parametrize("arch", list(TINY))
def test_every_conv_uses_the_requested_padding(arch):
    """Fails if some convolution silently keeps zero padding in a circular network."""
    net = tiny(arch, padding="circular")
    convs = [m for m in net.modules() if type(m) is torch.nn.Conv2d and m.kernel_size == (3, 3)]
    assert convs and all(c.padding_mode == "circular" for c in convs)


def test_circular_resnet_commutes_with_roll_and_zero_padded_does_not():
    """Fails if the circular ResNet is not exactly translation-equivariant (periodic), or if
    zero padding is not actually breaking equivariance at the border."""
    x, t = torch.randn(2, 1, 12, 16), torch.tensor([0.3, 0.7])
    shift = (3, -5)
    circ = tiny("resnet", padding="circular")
    torch.testing.assert_close(circ(torch.roll(x, shift, (2, 3)), t), torch.roll(circ(x, t), shift, (2, 3)),
                               atol=1e-5, rtol=1e-5)
    zero = tiny("resnet", padding="zeros")
    diff = (zero(torch.roll(x, shift, (2, 3)), t) - torch.roll(zero(x, t), shift, (2, 3))).abs().max()
    assert diff > 1e-3


def test_resnet_receptive_field_is_17_pixels_at_depth_6():
    """Fails if the ResNet's receptive field is not 2 * (depth + 2) + 1 = 17 (book appendix, §A.7)."""
    torch.manual_seed(0)
    net = models.ResNet(width=16, depth=6, emb_half=8)
    assert net.receptive_field == 17
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    net(x, torch.tensor([0.5]))[0, 0, 16, 16].backward()
    rows, cols = (x.grad[0, 0].abs() > 0).nonzero().unbind(1)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (8, 24, 8, 24)


@pytest.mark.parametrize("arch", list(TINY))
def test_conditioning_mismatches_raise_clear_errors(arch):
    """Fails if a conditional model runs without a label (it would silently use garbage), or
    an unconditional one accepts a label, or an out-of-range label passes."""
    x, t = torch.randn(2, 1, 16, 16), torch.rand(2)
    cond, uncond = tiny(arch, num_classes=10), tiny(arch)
    with pytest.raises(ValueError, match="label"):
        cond(x, t)
    with pytest.raises(ValueError, match="label"):
        cond.eps(x, 0.5)
    with pytest.raises(ValueError, match="unconditional"):
        uncond.eps(x, 0.5, label=3)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        cond(x, t, torch.tensor([0, 10]))


def test_the_label_changes_the_output():
    """Fails if the class embedding is not wired into the network."""
    net = tiny("resnet", num_classes=10)
    for p in net.embed.classes.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(1, 1, 16, 16)
    assert not torch.allclose(net.eps(x, 0.5, label=1), net.eps(x, 0.5, label=2))


def test_bad_arguments_raise_value_errors():
    """Fails if invalid padding, widths or image sizes are not rejected with a clear message."""
    with pytest.raises(ValueError, match="padding"):
        models.ResNet(width=16, depth=1, padding="reflect")
    with pytest.raises(ValueError, match="multiple of 8"):
        models.ResNet(width=12, depth=1)
    with pytest.raises(ValueError, match="at least 16"):
        models.UNet(widths=(8, 16, 16))
    with pytest.raises(ValueError, match="3 entries"):
        models.UNet(widths=(8, 16))
    with pytest.raises(ValueError, match="divisible by 4"):
        tiny("unet")(torch.randn(1, 1, 18, 16), torch.rand(1))
    with pytest.raises(ValueError, match="unknown arch"):
        models.build("transformer")


def test_eps_runs_without_grad_and_restores_training_mode():
    """Fails if eps() leaves the model in eval mode, or builds an autograd graph."""
    net = tiny("unet")
    net.train()
    out = net.eps(torch.randn(1, 1, 16, 16), 0.2)
    assert net.training and not out.requires_grad
    net.eval()
    net.eps(torch.randn(1, 1, 16, 16), 0.2)
    assert not net.training


@pytest.mark.parametrize("arch,num_classes", [("resnet", None), ("unet", 10), ("attention_unet", 10)])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, arch, num_classes):
    """Fails if save/load loses weights or constructor arguments, or stores a pickled module
    (the file must load with torch.load(weights_only=True))."""
    net = tiny(arch, channels=3, padding="circular", num_classes=num_classes)
    for p in net.parameters():  # make the zero-initialised attention projections matter
        torch.nn.init.normal_(p, std=0.1)
    path = models.save(net, tmp_path / "m.pt", extra={"note": "test", "steps": 3})
    blob = torch.load(path, weights_only=True)
    assert blob["config"]["class"] == type(net).__name__
    assert json.loads((tmp_path / "m.json").read_text())["extra"]["steps"] == 3
    loaded, extra = models.load(path, return_extra=True)
    assert type(loaded) is type(net) and loaded.config == net.config and extra["note"] == "test"
    x, label = torch.randn(2, 3, 16, 16), (torch.tensor([1, 7]) if num_classes else None)
    assert torch.equal(loaded.eps(x, 0.4, label=label), net.eps(x, 0.4, label=label))


def test_self_attention_against_a_written_out_attention():
    """Fails if queries, keys and values are mixed up (e.g. keys and values swapped), the scale
    is not 1/sqrt(head width), or heads are split wrongly: the block equals
    h + proj(softmax(q^T k / sqrt(d)) v) per head, written out here with einsum."""
    torch.manual_seed(0)
    block = models.SelfAttention(16, heads=2)
    torch.nn.init.normal_(block.proj.weight)
    h = torch.randn(2, 16, 3, 4)
    with torch.no_grad():
        got = block(h)
        q, k, v = block.qkv(block.norm(h)).reshape(2, 3, 2, 8, 12).unbind(1)  # (B, heads, d, positions)
        weights = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) / 8 ** 0.5, dim=-1)
        out = torch.einsum("bhij,bhdj->bhdi", weights, v).reshape(2, 16, 3, 4)
        expected = h + block.proj(out)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_input_sensitivity_is_zero_exactly_outside_the_receptive_field():
    """Fails if the sensitivity map reads the wrong output pixel or averages wrongly: for a
    ResNet of depth L it is non-zero on exactly the (1 + 2(L + 2))-pixel square around the centre,
    and sensitive_window measures that square's side."""
    for depth in (1, 3):
        net = models.ResNet(width=16, depth=depth, emb_half=8)
        g = models.input_sensitivity(net, n=2, size=24)
        side = models.sensitive_window(g)
        assert side == net.receptive_field == 1 + 2 * (depth + 2)
        half = side // 2
        inside = torch.zeros(24, 24, dtype=torch.bool)
        inside[12 - half:12 + half + 1, 12 - half:12 + half + 1] = True
        assert bool((g[~inside] == 0).all()) and bool((g[inside] > 0).any())
    one = torch.zeros(5, 5)
    one[1, 3] = 1.0
    assert models.sensitive_window(one) == 1

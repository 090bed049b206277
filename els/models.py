"""The networks the paper studies (book appendix, §A.7): a conv-only ResNet, a conv-only UNet and a UNet
with self-attention, each an eps-predictor ``eps_hat(x_t, t, label)``.

Every network takes ``forward(x_t (B, C, H, W), t (B,), label (B,) or None)`` and exposes
``eps(x_t, t, label=None)`` (``t`` a float or ``(B,)``; no grad, eval mode) for the sampler.
``save(model, path)`` / ``load(path)`` round-trip a model through its ``config`` and state dict.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import checked_label
from .storage import save_atomic, write_atomic

PADDINGS = ("zeros", "circular")


def sinusoidal(t: torch.Tensor, half: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal features of time: ``t (B,)`` in ``[0, 1]`` -> ``(B, 2 * half)``
    ``[sin(scale t f_k), cos(scale t f_k)]`` with ``f_k = 10000^(-k / half)``."""
    dtype = t.dtype if t.is_floating_point() else torch.float32
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=dtype) / half)
    args = (t.to(dtype) * scale)[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class Embedding(nn.Module):
    """Time (and optional class) embedding: sinusoidal features of ``t`` (dimension
    ``2 * half``) plus a learned class vector, then one ``Linear -> GroupNorm(8) -> ReLU``
    head per consumer layer giving a vector of that layer's width (no spatial mixing)."""

    def __init__(self, widths: Sequence[int], half: int = 64, num_classes: int | None = None):
        super().__init__()
        self.half = half
        self.classes = nn.Embedding(num_classes, 2 * half) if num_classes else None
        for w in widths:
            if w % 8 or w < 16:
                raise ValueError(f"every embedded width must be a multiple of 8 and at least 16 (GroupNorm(8) "
                                 f"needs 2+ channels per group, else it outputs constants); got {w}")
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * half, w), nn.GroupNorm(8, w), nn.ReLU()) for w in widths)

    def forward(self, t: torch.Tensor, label: torch.Tensor | None) -> list[torch.Tensor]:
        """``t (B,)``, ``label (B,)`` or None -> list of ``(B, w_l, 1, 1)`` vectors."""
        e = sinusoidal(t, self.half)
        if self.classes is not None:
            e = e + self.classes(label)
        return [head(e)[:, :, None, None] for head in self.heads]


def conv3x3(cin: int, cout: int, padding: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding)


class DiffusionNet(nn.Module):
    """Common interface: argument checks, ``eps()`` for samplers, ``config`` for save/load."""

    num_classes: int | None
    config: dict[str, Any]

    def _record(self, **kwargs: Any) -> None:
        self.config = {"class": type(self).__name__,
                       **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}}

    @property
    def conditional(self) -> bool:
        return bool(self.num_classes)

    def _check(self, x: torch.Tensor, t: torch.Tensor, label) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.dim() != 4:
            raise ValueError(f"x_t must be (B, C, H, W), got shape {tuple(x.shape)}")
        B = x.shape[0]
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(B)
        if t.shape != (B,):
            raise ValueError(f"t must be a float or a (B,) = ({B},) tensor, got shape {tuple(t.shape)}")
        if self.conditional:
            if label is None:
                raise ValueError(f"{type(self).__name__} is class-conditional ({self.num_classes} classes): "
                                 "pass label= (an int or a (B,) tensor of class indices)")
            label = checked_label(label, B).to(x.device)
            if (label < 0).any() or (label >= self.num_classes).any():
                raise ValueError(f"label values must lie in [0, {self.num_classes}), got {label.tolist()}")
        elif label is not None:
            raise ValueError(f"{type(self).__name__} is unconditional (num_classes=None): "
                             "call it with label=None, or build it with num_classes=K")
        return t, label

    @torch.no_grad()
    def eps(self, x_t: torch.Tensor, t: float | torch.Tensor, label=None) -> torch.Tensor:
        """Noise prediction ``eps_hat (B, C, H, W)`` for ``x_t (B, C, H, W)`` at time ``t`` (float
        or ``(B,)`` in ``[0, 1]``); runs without grad in eval mode, then restores the mode.
        Inputs are moved to the model's device; the output comes back on ``x_t``'s device/dtype."""
        was_training = self.training
        self.eval()
        try:
            p = next(self.parameters())
            out = self(x_t.to(p.device, p.dtype), torch.as_tensor(t, device=p.device, dtype=p.dtype),
                       label=label)
        finally:
            self.train(was_training)
        return out.to(x_t.device, x_t.dtype)


def _check_padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding


class ResNet(DiffusionNet):
    """Conv-only ResNet (book appendix, §A.7): 3x3 up-projection ``C -> width``; ``depth`` residual layers
    ``h = h + relu(conv3x3(h + e_l))``; ``h = h + e_last``; 3x3 down-projection ``width -> C``.
    No normalisation over space; receptive field ``2 * (depth + 2) + 1`` pixels (17 for depth 6).
    """

    def __init__(self, channels: int = 1, width: int = 256, depth: int = 6, padding: str = "zeros",
                 num_classes: int | None = None, emb_half: int = 64):
        super().__init__()
        self._record(channels=channels, width=width, depth=depth, padding=padding,
                     num_classes=num_classes, emb_half=emb_half)
        _check_padding(padding)
        self.num_classes = num_classes
        self.up = conv3x3(channels, width, padding)
        self.layers = nn.ModuleList(conv3x3(width, width, padding) for _ in range(depth))
        self.down = conv3x3(width, channels, padding)
        self.embed = Embedding([width] * (depth + 1), emb_half, num_classes)

    @property
    def receptive_field(self) -> int:
        return 2 * (len(self.layers) + 2) + 1

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        t, label = self._check(x_t, t, label)
        e = self.embed(t, label)
        h = self.up(x_t)
        for conv, e_l in zip(self.layers, e):
            h = h + F.relu(conv(h + e_l))
        return self.down(h + e[-1])


class Block(nn.Module):
    """``2 x (conv3x3 + ReLU)``."""

    def __init__(self, cin: int, cout: int, padding: str):
        super().__init__()
        self.conv1, self.conv2 = conv3x3(cin, cout, padding), conv3x3(cout, cout, padding)

    def forward(self, x: torch.Tensor, e_in: torch.Tensor | None = None, e_mid: torch.Tensor | None = None):
        x = x if e_in is None else x + e_in
        h = F.relu(self.conv1(x))
        h = h if e_mid is None else h + e_mid
        return F.relu(self.conv2(h))


class SelfAttention(nn.Module):
    """Residual multi-head self-attention over all positions: ``h + proj(attn(GroupNorm(h)))``
    (output projection zero-initialised, so a fresh block is the identity)."""

    def __init__(self, width: int, heads: int = 1):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} must be divisible by heads={heads}")
        self.heads = heads
        self.norm = nn.GroupNorm(8, width)
        self.qkv = nn.Conv2d(width, 3 * width, 1)
        self.proj = nn.Conv2d(width, width, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, W, H, Wd = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(B, 3, self.heads, W // self.heads, H * Wd).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return h + self.proj(out.transpose(-1, -2).reshape(B, W, H, Wd))


class UNet(DiffusionNet):
    """Conv-only UNet (book appendix, §A.7): 3 levels of widths ``(w1, w2, w3)``; each block is
    ``2 x (conv3x3 + ReLU)`` with the embedding added to the block input (the first block's
    input is the raw image, so there it is added after the first conv); 2x2 max-pool down,
    2x2 stride-2 transposed conv up, skip concatenation; 3x3 output conv.
    Height and width must be multiples of 4. ``heads`` is used only by ``AttentionUNet``.
    """

    attention = False

    def __init__(self, channels: int = 1, widths: Sequence[int] = (64, 128, 256), padding: str = "zeros",
                 num_classes: int | None = None, emb_half: int = 64, heads: int = 1):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        kwargs = dict(channels=channels, widths=widths, padding=padding, num_classes=num_classes,
                      emb_half=emb_half)
        if self.attention:
            kwargs["heads"] = heads
        self._record(**kwargs)
        _check_padding(padding)
        if len(widths) != 3:
            raise ValueError(f"widths must have 3 entries (one per level), got {widths}")
        w1, w2, w3 = widths
        self.num_classes = num_classes
        self.enc1, self.enc2, self.mid = Block(channels, w1, padding), Block(w1, w2, padding), Block(w2, w3, padding)
        self.up2, self.up1 = nn.ConvTranspose2d(w3, w2, 2, stride=2), nn.ConvTranspose2d(w2, w1, 2, stride=2)
        self.dec2, self.dec1 = Block(2 * w2, w2, padding), Block(2 * w1, w1, padding)
        self.out = conv3x3(w1, channels, padding)
        # embedding targets: enc1 (after its first conv), enc2 input, mid input, dec2 input, dec1 input
        self.embed = Embedding([w1, w1, w2, 2 * w2, 2 * w1], emb_half, num_classes)
        if self.attention:
            self.att_enc2, self.att_mid, self.att_dec2 = (SelfAttention(w, heads) for w in (w2, w3, w2))

    def _att(self, name: str, h: torch.Tensor) -> torch.Tensor:
        return getattr(self, name)(h) if self.attention else h

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        t, label = self._check(x_t, t, label)
        if x_t.shape[-2] % 4 or x_t.shape[-1] % 4:
            raise ValueError(f"{type(self).__name__} needs height and width divisible by 4, "
                             f"got {tuple(x_t.shape[-2:])}; resize or crop the images")
        e1, e2, e3, e4, e5 = self.embed(t, label)
        h1 = self.enc1(x_t, e_mid=e1)                                   # (B, w1, H, W)
        h2 = self._att("att_enc2", self.enc2(F.max_pool2d(h1, 2), e2))  # (B, w2, H/2, W/2)
        h3 = self._att("att_mid", self.mid(F.max_pool2d(h2, 2), e3))    # (B, w3, H/4, W/4)
        d2 = self._att("att_dec2", self.dec2(torch.cat([self.up2(h3), h2], 1), e4))
        d1 = self.dec1(torch.cat([self.up1(d2), h1], 1), e5)
        return self.out(d1)


class AttentionUNet(UNet):
    """The UNet plus residual self-attention (``heads`` heads) after the blocks at the two
    low-resolution levels (16x16 and 8x8 for 32x32 inputs): encoder level 2, bottleneck,
    decoder level 2."""

    attention = True


ARCHS: dict[str, type[DiffusionNet]] = {"resnet": ResNet, "unet": UNet, "attention_unet": AttentionUNet}


def build(arch: str, **kwargs: Any) -> DiffusionNet:
    """Construct a network by name (``"resnet"``, ``"unet"``, ``"attention_unet"``)."""
    key = arch.lower().replace("-", "_")
    if key not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[key](**kwargs)


def from_config(config: dict[str, Any]) -> DiffusionNet:
    """Rebuild an (untrained) network from its ``config`` dict."""
    config = dict(config)
    cls_name = config.pop("class")
    classes = {c.__name__: c for c in ARCHS.values()}
    if cls_name not in classes:
        raise ValueError(f"unknown model class {cls_name!r} in config; known: {', '.join(classes)}")
    return classes[cls_name](**config)


def save(model: DiffusionNet, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``{"config", "state_dict", "extra"}`` to ``path`` (.pt, atomically) and the config
    plus ``extra`` as readable JSON beside it (``path`` with suffix ``.json``).
    ``extra`` must hold plain Python values (numbers, strings, lists, dicts)."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    blob = {"format": "els-model-1", "config": model.config, "state_dict": state, "extra": extra or {}}
    save_atomic(blob, path)
    text = json.dumps({"config": model.config, "extra": extra or {}}, indent=2, default=str)
    write_atomic(path.with_suffix(".json"), text + "\n")
    return path


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu",
         return_extra: bool = False) -> DiffusionNet | tuple[DiffusionNet, dict]:
    """Rebuild a model saved by ``save`` (eval mode, on ``map_location``); optionally also
    return its ``extra`` dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file {path}")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, empty or garbage file
        raise ValueError(f"{path} is damaged or is not a model saved by els.models.save ({type(e).__name__}); "
                         "restore it from the repository or retrain") from e
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is not a model saved by els.models.save (no config/state_dict)")
    model = from_config(blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.to(map_location).eval()
    return (model, blob.get("extra", {})) if return_extra else model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def input_sensitivity(model: DiffusionNet, t: float = 0.5, n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    """How much the centre pixel's noise prediction depends on each input pixel (book chapter 7):
    ``g(u) = mean |d eps_hat(x_t, t)(centre) / d x_t(u)|`` over ``n`` seeded standard-normal inputs
    of ``size`` x ``size`` pixels (first channel; an unconditional network). Returns ``(size,
    size)``, float32; zero outside what the network can see."""
    x = torch.randn(n, model.config["channels"], size, size, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    model(x, t)[:, 0, size // 2, size // 2].sum().backward()
    return x.grad.abs().mean(0)[0]


def sensitive_window(g: torch.Tensor) -> int:
    """Side (pixels) of the smallest square holding every pixel where the map ``g`` (H, W) is not
    zero: the part of the input a network's output pixel actually depends on."""
    rows, cols = (g > 0).nonzero().unbind(1)
    return int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1

"""The HR-Net generator of Li, Ye and Li 2019 (arXiv 1904.11617), as a residual grade.

A full-resolution stream runs from input to output, so fine structure never
has to be rebuilt from a bottleneck. Parallel H/2 and H/4 streams give context,
and every stage fuses all streams into each other. Unlike the paper, the
network predicts a residual through a zero-initialised last conv, added to a
global affine colour transform of its input (`HRNet.colour`, the identity
unless tune sets it, e.g. to the closed-form colour match of colour_match.py).
The untrained network is therefore exactly that transform, so tuning starts
from the keyframe, or from its global colour match, instead of from noise.

A conditional look (``NetCfg.film`` > 0) also takes the style weight it renders
at: FiLM layers after the stem and after every stage scale and shift each
stream's features by a code of log2(style weight), so one network covers a
range of the content/style trade-off (tune.py samples it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ShapeError
from .config import MIN_SIDE, NetCfg
from .layers import ColourFiLM, ConvNormAct, FiLM, StableConv2d, StyleWeightEmbedding


def _conv(cfg: NetCfg, cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> ConvNormAct:
    return ConvNormAct(cin, cout, k, stride=stride, act=cfg.act if act else None)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand, added to the input."""

    def __init__(self, cfg: NetCfg, channels: int):
        super().__init__()
        mid = max(channels // 2, 4)
        self.reduce = _conv(cfg, channels, mid, 1)
        self.conv = _conv(cfg, mid, mid, 3)
        self.expand = _conv(cfg, mid, channels, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.expand(self.conv(self.reduce(x))))


class Resample(nn.Module):
    """Carry stream ``src`` to stream ``dst``: strided 3x3 convs down, 1x1 conv and bilinear up."""

    def __init__(self, cfg: NetCfg, src: int, dst: int):
        super().__init__()
        cin, cout = cfg.width << src, cfg.width << dst
        self.scale = 2 ** (src - dst)
        if dst > src:
            chans = [cin] * (dst - src) + [cout]
            self.conv = nn.Sequential(
                *[
                    _conv(cfg, a, b, 3, stride=2, act=i < dst - src - 1)
                    for i, (a, b) in enumerate(zip(chans, chans[1:]))
                ]
            )
        else:
            self.conv = _conv(cfg, cin, cout, 1, act=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.scale > 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return x


class FusionStage(nn.Module):
    """Bottlenecks on each stream, then every stream receives the sum of all others."""

    def __init__(self, cfg: NetCfg, n_in: int, n_out: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*[Bottleneck(cfg, cfg.width << i) for _ in range(cfg.blocks)]) for i in range(n_in)
        )
        self.fuse = nn.ModuleList(
            nn.ModuleList(nn.Identity() if i == j else Resample(cfg, i, j) for i in range(n_in)) for j in range(n_out)
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        return [self.act(sum(f(x) for f, x in zip(fuse, xs))) for fuse in self.fuse]


class HRNet(nn.Module):
    """(B,3,H,W) RGB in [0,1] → graded RGB of the same size (not clamped; frames.py clips on write).

    Any H×W from ``min_side`` up works: the input is reflection-padded to a
    multiple of 4 and cropped back.
    """

    multiple = 4
    min_side = MIN_SIDE

    def __init__(self, cfg: NetCfg = NetCfg()):
        super().__init__()
        self.cfg = cfg
        self.stem = _conv(cfg, 3, cfg.width, 3)
        stream_counts = [min(s + 1, cfg.streams) for s in range(cfg.stages)] + [1]
        self.stages = nn.ModuleList(FusionStage(cfg, a, b) for a, b in zip(stream_counts, stream_counts[1:]))
        self.head = StableConv2d(cfg.width, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # The global part of the grade, out = A @ rgb + b per pixel. Its random init is overwritten, and
        # forking the RNG keeps it from shifting later draws: a seed gives the network it gave before.
        with torch.random.fork_rng(devices=[]):
            self.colour = StableConv2d(3, 3, 1)
        self.set_colour(torch.eye(3), torch.zeros(3))
        self.style_weight = 1.0  # the point a conditional network renders (set_style_weight)
        self.embed: StyleWeightEmbedding | None = None
        if cfg.film:
            with torch.random.fork_rng(devices=[]):  # as above: the trunk and later draws match a plain network's
                self.embed = StyleWeightEmbedding(cfg.film)
                self.film = nn.ModuleList(
                    nn.ModuleList(FiLM(cfg.film, cfg.width << i) for i in range(n)) for n in stream_counts
                )
                self.colour_film = ColourFiLM(cfg.film)

    def set_style_weight(self, style_weight: float) -> None:
        """Render the point ``style_weight`` of a conditional network's trade-off; a plain network has one."""
        self.style_weight = float(style_weight)

    @torch.no_grad()
    def set_colour(self, A: Tensor, b: Tensor) -> None:
        """Make the global colour transform ``A @ rgb + b``: (3,3) and (3,)."""
        self.colour.weight.copy_(A.reshape(3, 3, 1, 1))
        self.colour.bias.copy_(b.reshape(3))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if x.ndim != 4 or x.shape[1] != 3 or min(h, w) < self.min_side:
            raise ShapeError(f"expected (B,3,H,W) with H,W >= {self.min_side}, got {tuple(x.shape)}")
        ph, pw = -h % self.multiple, -w % self.multiple
        padded = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        xs = [self.stem(padded)]
        code = None if self.embed is None else self.embed(padded.new_tensor([self.style_weight]))
        for i, stage in enumerate(self.stages):  # a stage's fusion also creates the next stage's new, coarser stream
            if code is not None:
                xs = [film(x, code) for film, x in zip(self.film[i], xs)]
            xs = stage(xs)
        if code is not None:
            xs = [self.film[-1][0](xs[0], code)]
        colour = self.colour(padded) if code is None else self.colour_film(self.colour(padded), padded, code)
        return (colour + self.head(xs[0]))[..., :h, :w]

"""The tune's terms beside perceptual.py's: what the losses judge a grade as, and the terms
that price what VGG's content and style do not (structure, a local recolour, the matched
reference colours, steadiness under a camera move). tune.py weighs them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..grade.config import RenderCfg
from ..grade.steps import carry_to_full_res
from ..grade.temporal import move, random_move
from ..score.metrics import affine_residual_tensor, structure_ssim_tensor
from .config import TuneCfg
from .correspond import Matches, fit_grade
from .net import HRNet
from .perceptual import PerceptualTargets


def judged_output(judged_keyframe: Tensor, content: Tensor, out: Tensor) -> Tensor:
    """The network's output ``out`` on ``content`` (the keyframe at the work size) as the
    losses see it on ``judged_keyframe`` (the keyframe at the judge size). At the work size
    that is ``out`` itself; above it, the grade apply renders there: the guided carry with
    apply's default fit, the only way to see the output at a finer scale. Either way clipped
    to [0,1], as a frame file holds it. Differentiable in ``out``."""
    if judged_keyframe.shape != content.shape:
        out = carry_to_full_res(judged_keyframe, content, out, RenderCfg())
    return out.clamp(0, 1)


class PhotorealGuard:
    """Two of docs/metrics.md's figures of the judged grade, as loss terms: structure lost
    (1 - structure_ssim) and the affine residual beyond the start's own (0 = as close to a
    local affine recolour of the start as the start itself), against where the tune starts.

    With the losses judging clipped pixels, the style term alone lets highlights and
    shadows clip and local contrast drift wherever that buys Gram distance; these
    two terms price exactly what the photoreal bars of bench/pairs.py measure. They judge
    against the start, the keyframe after its global colour transform, as the content term
    does: judged against the keyframe itself, they priced the start's own grade (its contrast
    moves both figures) and pulled the tune away from it (docs/experiments.md).
    """

    def __init__(self, start: Tensor):
        self.start = start
        self.floor = affine_residual_tensor(start, start)[0].clamp_min(1e-3)

    def __call__(self, judged: Tensor) -> tuple[Tensor, Tensor]:
        """(structure_ssim, affine_residual) of ``judged``, differentiable. In float32 even under
        autocast: the 3x3 solves of the affine fit and SSIM's small constants need it."""
        with torch.autocast(judged.device.type, enabled=False):
            judged = judged.float()
            return structure_ssim_tensor(self.start, judged)[0], affine_residual_tensor(self.start, judged)[0]

    def excess(self, residual: Tensor) -> Tensor:
        """The residual beyond the start's own, relative to it: a grade gets below that floor
        only by flattening the picture, which is no more photoreal."""
        return (residual / self.floor - 1).clamp_min(0)


class Judging:
    """What the losses judge a grade against at one size: the targets and the keyframe there,
    with the photoreal guard against the start ``net.colour`` makes of it (clipped, as judged)."""

    def __init__(self, targets: PerceptualTargets, keyframe: Tensor, net: HRNet):
        self.targets, self.keyframe = targets, keyframe
        with torch.no_grad():
            self.guard = PhotorealGuard(net.colour(keyframe).clamp(0, 1))


class MatchTerm:
    """How far the judged grade's colours are from the reference colours its cells matched
    (correspond.py), weighted by match weight and the matches' trust: 1 = as far as the
    keyframe itself, 0 everywhere when the reference shows nothing of the keyframe.

    Unlike the Gram targets, each place is pulled only towards what the same thing looks
    like in the reference, so the grade is carried without the reference's other content.
    Each match counts as much as it agrees with the grade fitted to all of them (`fit_grade`):
    a few wrong matches, each pulling its cell towards another object's colour, otherwise
    pull apart a global grade the start already had right (docs/experiments.md).
    """

    def __init__(self, matches: Matches):
        self.matches, self.trust = matches, matches.trust
        weight = fit_grade(matches).weight
        self.weight = weight / weight.sum().clamp_min(1e-8)
        self.norm = self._distance(matches.content).clamp_min(1e-8)

    def _distance(self, cells: Tensor) -> Tensor:
        return (self.weight * (cells - self.matches.target).pow(2).sum(1)).sum()

    def __call__(self, judged: Tensor) -> Tensor:
        # The trust scales the whole term: inside the normalised weights it would cancel out.
        return self.trust * self._distance(self.matches.cells(judged.float())) / self.norm


class SteadinessTerm:
    """How much the network's output fails to follow a small camera move of its input.

    Each call draws a random move T (`temporal.random_move`) and compares
    net(T(x)) with T(net(x)) away from the borders. A grade that only
    depends on what is in the picture passes through the move unchanged, so
    this is 0 for any global colour transform; texture the network invents
    from the pixel grid does not, and that is what flickers on a moving shot
    (temporal ratio, docs/metrics.md). It is normalised by what a one-pixel move
    changes in the keyframe itself, so 1 means "as much change as the motion".
    """

    def __init__(self, content: Tensor, cfg: TuneCfg):
        self.cfg = cfg
        self.size = tuple(content.shape[-2:])
        self.generator = torch.Generator().manual_seed(cfg.seed)
        one_pixel = torch.tensor([[[1.0, 0.0, 2 / self.size[1]], [0.0, 1.0, 0.0]]])
        # The reflected border region of a move differs from what a real camera would see: leave it out.
        self.margin = math.ceil(cfg.steady_shift + cfg.steady_zoom * max(self.size) / 2) + 1
        self.norm = self._crop(move(content, one_pixel) - content).pow(2).mean().clamp_min(1e-8)

    def _crop(self, x: Tensor) -> Tensor:
        m = self.margin
        return x[..., m:-m, m:-m]

    def __call__(self, net: HRNet, content: Tensor, out: Tensor) -> Tensor:
        theta = random_move(self.generator, self.size, self.cfg.steady_shift, self.cfg.steady_zoom)
        return self._crop(net(move(content, theta)) - move(out, theta)).pow(2).mean() / self.norm

"""Where the keyframe and the reference show the same thing, and the grade those places imply.

A colorist's reference is usually another frame or framing of the shot. Where a
keyframe region and a reference region hold the same thing, their colours differ
by the grade alone, so matched colour pairs sample the grade itself; the
reference's statistics as a whole (the Gram targets of perceptual.py) also carry
whatever else it shows, e.g. a navy helmet that turns a red cup navy.

Matches are nearest neighbours of VGG19 features (relu3_1 and relu4_1, cosine
similarity) on a grid of 4x4-pixel cells at `MATCH_SIDE`, kept where the match
is mutual (the reference cell's own nearest keyframe cell lies within
`MUTUAL_CELLS`) and weighted by how far its similarity clears `MIN_SIMILARITY`.
Their mean weight says how much of the keyframe the reference shows: `Matches.trust`
maps it to 0 (unrelated content: carry nothing by correspondence) .. 1 (the same
scene). docs/experiments.md has the measurements behind each constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..io.imaging import resize_long_side
from .perceptual import VGGFeatures

MATCH_LAYERS = ("relu3_1", "relu4_1")
MATCH_SIDE = 256  # long side matched at: a 64-cell grid, whose similarity matrix stays a few MB
MIN_SIMILARITY = 0.65  # cosine similarity below which a match carries no weight
MUTUAL_CELLS = 2  # a match is mutual when the way back lands within this many cells
TRUST_RANGE = (0.2, 0.45)  # mean match weight of unrelated content .. of the same scene (ground-truth pairs)
RIDGE = 3e-4  # pull of the fitted colour transform towards the identity, per keyframe cell
ROBUST_ITERATIONS = 3  # reweighting rounds of the fit: Cauchy weights at twice the median residual


@dataclass
class Matches:
    """Keyframe cells, the reference colour each one matched, and how much to believe it."""

    content: Tensor  # (N,3) mean RGB of each keyframe cell
    target: Tensor  # (N,3) mean RGB of the reference cell it matched
    weight: Tensor  # (N,) 0 (no match) .. 1
    grid: tuple[int, int]  # (rows, columns) of keyframe cells, N = rows * columns

    @property
    def coverage(self) -> float:
        """Mean match weight: the share of the keyframe the reference shows, as the matches see it."""
        return float(self.weight.mean())

    @property
    def trust(self) -> float:
        """0 .. 1: how far the reference is another view of the keyframe's scene."""
        lo, hi = TRUST_RANGE
        return min(max((self.coverage - lo) / (hi - lo), 0.0), 1.0)

    def cells(self, image: Tensor) -> Tensor:
        """Mean RGB of ``image`` (1,3,H,W, any size) over each keyframe cell: (N,3)."""
        return F.adaptive_avg_pool2d(image, self.grid).flatten(2)[0].T


def _features(vgg: VGGFeatures, image: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """(1,3,H,W) → (C, cells) and the grid's (rows, columns): each layer unit-normalised per
    cell, relu4_1 brought to relu3_1's grid."""
    feats = vgg(image)
    fine = feats[MATCH_LAYERS[0]]
    coarse = F.interpolate(feats[MATCH_LAYERS[1]], size=fine.shape[-2:], mode="bilinear", align_corners=False)
    both = torch.cat([F.normalize(fine.float(), dim=1), F.normalize(coarse.float(), dim=1)], 1) / 2**0.5
    return both.flatten(2)[0], tuple(fine.shape[-2:])


@torch.no_grad()
def match(vgg: VGGFeatures, keyframe: Tensor, reference: Tensor) -> Matches:
    """Matches of ``keyframe``'s cells in ``reference``: both (1,3,H,W) RGB [0,1], any size.

    ``vgg`` must compute `MATCH_LAYERS`; the matches are on its device.
    """
    device = next(vgg.buffers()).device
    keyframe = resize_long_side(keyframe.float(), MATCH_SIDE).to(device)
    reference = resize_long_side(reference.float(), MATCH_SIDE).to(device)
    (fk, (rows, cols)), (fr, ref_grid) = _features(vgg, keyframe), _features(vgg, reference)
    similarity = fk.T @ fr  # (keyframe cells, reference cells)
    best, nearest = similarity.max(1)
    back = similarity.argmax(0)[nearest]
    cell = torch.arange(rows * cols, device=device)
    mutual = ((cell // cols - back // cols).abs() <= MUTUAL_CELLS) & ((cell % cols - back % cols).abs() <= MUTUAL_CELLS)
    weight = ((best - MIN_SIMILARITY) / (1 - MIN_SIMILARITY)).clamp(0, 1) * mutual
    content = F.adaptive_avg_pool2d(keyframe, (rows, cols)).flatten(2)[0].T
    target = F.adaptive_avg_pool2d(reference, ref_grid).flatten(2)[0].T[nearest]
    return Matches(content, target, weight, (rows, cols))


def _stacked(A: Tensor, b: Tensor) -> Tensor:
    """An affine colour transform ``A @ rgb + b`` as the (4,3) matrix the fit solves for:
    ``[rgb, 1] @ stacked``, i.e. ``A.T`` over ``b``."""
    return torch.cat([A.T, b[None]])


@dataclass
class GradeFit:
    """The affine colour transform the matches imply, and how far each match agrees with it."""

    transform: Tensor  # (4,3) float64, `_stacked`
    weight: Tensor  # (N,) float32: the match weights after the robust fit; matches far off the fitted grade count less


def fit_grade(matches: Matches) -> GradeFit:
    """A robust weighted least-squares fit of ``A @ rgb + b`` from keyframe cells to their matched
    reference colours, pulled towards the identity (`RIDGE`).

    Cauchy reweighting at twice the median residual sets aside wrong matches, which pull a cell
    towards another object's colour, and keeps a local grade's smooth departures from the fit.
    """
    x = torch.cat([matches.content, torch.ones_like(matches.content[:, :1])], 1).double()
    y = matches.target.double()
    prior = _stacked(torch.eye(3), torch.zeros(3)).to(x)
    ridge = RIDGE * len(x) * torch.eye(4).to(x)
    weight = base = matches.weight.double()
    for _ in range(ROBUST_ITERATIONS):
        w = weight[:, None]
        fit = torch.linalg.solve(x.T @ (w * x) + ridge, x.T @ (w * y) + ridge @ prior)
        residual = (x @ fit - y).norm(dim=1)
        used = residual[base > 0]
        scale = (2 * used.median()).clamp_min(1e-2) if len(used) else torch.tensor(1.0).to(x)
        weight = base / (1 + (residual / scale) ** 2)
    return GradeFit(fit, weight.float())


def matched_transfer(matches: Matches, fallback: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """The affine colour transform ``(A, b)`` (float32 (3,3), (3,)) the matches imply (`fit_grade`),
    blended by `Matches.trust` with ``fallback`` (the identity by default): what unrelated content gets.
    """
    fit = fit_grade(matches).transform
    prior = _stacked(*(fallback or (torch.eye(3), torch.zeros(3)))).to(fit)
    fit = prior + matches.trust * (fit - prior)
    return fit[:3].T.float(), fit[3].float()

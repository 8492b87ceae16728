"""A live preview of one look: the keyframe re-graded at any point of its trade-off and mix.

A conditional look (tune --trade-off) covers a range of style weights, so
moving along the content/style trade-off is a render, not a tune. `LookPreview`
grades the keyframe at preview size exactly as `hrstyle apply` grades a frame
(`grade_batch` on the guided path): the network runs at the look's work size
and its grade is carried up. `trade_off_curve` measures docs/metrics.md's
figures along the range, the plot the notebook draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from ..grade.config import RenderCfg
from ..grade.steps import grade_batch
from ..io.imaging import resize_long_side
from ..io.tensors import to_pixels
from ..score.metrics import Score, StillScorer
from ..score.truth import colour_incoherence
from .config import log_between
from .file import Look


class LookPreview:
    """``preview(style_weight, mix)`` → the keyframe graded there, (H,W,3) RGB [0,1] at ``size`` on the long side.

    Each call is one network pass at the look's work size and one guided carry to the
    preview size (bench/slider.py times it against the budget of a slider move). The look
    is prepared once; a move only sets the point its network renders.
    """

    def __init__(self, look: Look, keyframe: Tensor, size: int = 512, device: str = "auto"):
        self.look = look
        self.keyframe = resize_long_side(keyframe, min(size, max(keyframe.shape[-2:])))
        self.device = device
        self._prepared = look.prepare(RenderCfg(device=device))

    def __call__(self, style_weight: float | None = None, mix: float = 1.0) -> np.ndarray:
        cfg = RenderCfg(style_weight=style_weight, mix=mix, device=self.device)
        self._prepared.set_point(style_weight)
        return to_pixels(grade_batch(self._prepared, self.keyframe, cfg).clamp(0, 1))


@dataclass(frozen=True)
class CurvePoint:
    """docs/metrics.md's figures of the keyframe graded at one style weight."""

    style_weight: float
    score: Score
    colour_incoherence: float


def curve_weights(look: Look, points: int) -> list[float]:
    """``points`` style weights spread evenly in log over the look's range (its one weight for a plain look)."""
    lo, hi = look.meta.style_weights
    if lo == hi or points == 1:
        return [look.meta.style_weight]
    return [log_between(lo, hi, i / (points - 1)) for i in range(points)]


def trade_off_curve(preview: LookPreview, scorer: StillScorer, points: int = 7) -> list[CurvePoint]:
    """The figures along the look's range, for a plot of the trade-off. ``scorer`` holds the
    keyframe at ``preview``'s size and the reference still."""
    curve = []
    for weight in curve_weights(preview.look, points):
        graded = preview(weight)
        curve.append(CurvePoint(weight, scorer(graded), colour_incoherence(scorer.content, graded)))
    return curve

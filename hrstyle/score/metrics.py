"""The still quality figures of docs/metrics.md (style_gap, structure_ssim, affine_residual),
and a whole graded shot scored by every figure (`score_shots`).

The public functions take images as hrstyle holds them in memory: numpy
(H,W,3) float32 RGB in [0,1]. Each first resizes the output to the content's
size when they differ, then everything to 512 px on the long side with
cv2.INTER_AREA (`METRIC_LONG_SIDE`), so that every figure can be compared with
every other (prepare.py). ``*_tensor`` variants take (B,3,H,W) or (1,3,H,W) tensors
and do not resize, for use inside tuning at the work size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError, SequenceError, ShapeError
from ..grade.guided import apply_affine, fit_affine
from ..io.shot import Shot
from ..io.tensors import to_tensor
from ..look.config import STYLE_LAYERS
from ..look.perceptual import VGGFeatures, gram
from .flicker import GradeFlickerMeter, WarpErrorMeter
from .prepare import check_image, prepare, prepare_pair, to_metric_size
from .truth import colour_incoherence, delta_e2000, share_recovered

_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5


# ---------------------------------------------------------------- preparation


# ---------------------------------------------------------------- style_gap


@dataclass(frozen=True)
class StyleGap:
    """Mean of the per-layer gaps (1 = the look did not move, 0 = matched) and the five gaps."""

    value: float
    per_layer: dict[str, float]


@cache
def _default_vgg() -> VGGFeatures:
    return VGGFeatures(layers=STYLE_LAYERS)


def _check_vgg(vgg: VGGFeatures) -> VGGFeatures:
    missing = [k for k in STYLE_LAYERS if k not in vgg.layers]
    if missing:
        raise InputError(f"vgg: expected a VGGFeatures returning {STYLE_LAYERS}, it lacks {missing}")
    return vgg


@torch.no_grad()
def _style_grams(image: Tensor, vgg: VGGFeatures) -> dict[str, Tensor]:
    return {k: gram(v) for k, v in vgg(image.to(vgg.mean.device).float()).items() if k in STYLE_LAYERS}


def _gap(g_content: dict[str, Tensor], g_output: dict[str, Tensor], g_look: dict[str, Tensor]) -> StyleGap:
    # The clamp only matters when content and look are the same image, where every gap is 0/0.
    per_layer = {
        k: (F.mse_loss(g_output[k], g_look[k]) / F.mse_loss(g_content[k], g_look[k]).clamp_min(1e-12)).item()
        for k in STYLE_LAYERS
    }
    return StyleGap(float(np.mean(list(per_layer.values()))), per_layer)


def style_gap_tensor(content: Tensor, output: Tensor, look: Tensor, vgg: VGGFeatures) -> StyleGap:
    """style_gap of (1,3,H,W) RGB [0,1] tensors at the size given; ``vgg`` must return STYLE_LAYERS."""
    for name, x in (("content", content), ("output", output), ("look", look)):
        if x.ndim != 4 or x.shape[:2] != (1, 3):
            raise ShapeError(f"{name}: expected (1,3,H,W), got {tuple(x.shape)}")
    _check_vgg(vgg)
    return _gap(*(_style_grams(x, vgg) for x in (content, output, look)))


def style_gap(content: np.ndarray, output: np.ndarray, look: np.ndarray, vgg: VGGFeatures | None = None) -> StyleGap:
    """Per-layer mse(G_out, G_look) / mse(G_content, G_look) at relu1_1..relu5_1, and their mean.

    Images: (H,W,3) RGB [0,1]. ``vgg`` defaults to a cached VGGFeatures with
    the bundled Caffe weights; pass one to pick the device.
    """
    return StillScorer(content, look, vgg).style_gap(output)


# ---------------------------------------------------------------- structure_ssim

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_LUMA = (0.299, 0.587, 0.114)  # OpenCV's RGB2GRAY


def _gradient_magnitude(rgb: Tensor) -> Tensor:
    """(B,3,H,W) → (B,1,H,W) Sobel magnitude of the luminance; borders reflected as OpenCV's default."""
    gray = sum(w * rgb[:, i : i + 1] for i, w in enumerate(_LUMA))
    gray = F.pad(gray, (1, 1, 1, 1), mode="reflect")
    kx = _SOBEL_X.to(rgb)[None, None]
    gx, gy = F.conv2d(gray, kx), F.conv2d(gray, kx.transpose(-2, -1))
    return (gx * gx + gy * gy).clamp_min(1e-12).sqrt()  # clamped: a finite gradient on flat areas


def _ssim(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM (Wang et al.) of (B,1,H,W) maps in [0,1] over the windows wholly inside the image,
    so no border padding enters the figure. Returns (B,)."""
    t = torch.arange(_SSIM_WINDOW).to(x) - _SSIM_WINDOW // 2
    g = torch.exp(-t * t / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()

    def blur(v: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(v, g[None, None, None, :]), g[None, None, :, None])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim = ((2 * mx * my + _SSIM_C1) * (2 * cxy + _SSIM_C2)) / ((mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2))
    return ssim.mean(dim=(1, 2, 3))


def structure_ssim_tensor(content: Tensor, output: Tensor) -> Tensor:
    """structure_ssim of (B,3,H,W) RGB [0,1] tensors at the size given; differentiable in both. Returns (B,)."""
    gc, go = _gradient_magnitude(content), _gradient_magnitude(output)
    # The shared peak is a normalisation, not something to optimise: no gradient through it.
    peak = torch.maximum(gc.amax(dim=(1, 2, 3)), go.amax(dim=(1, 2, 3))).detach()[:, None, None, None]
    return _ssim(gc / peak, go / peak)


def structure_ssim(content: np.ndarray, output: np.ndarray) -> float:
    """SSIM of the Sobel gradient magnitudes of the two luminances (1 = identical structure).

    Images: (H,W,3) RGB [0,1]. Both magnitudes are divided by the larger of
    their maxima; two flat images score 1.
    """
    content, output = (to_tensor(x).double() for x in prepare_pair(content, output))
    return float(structure_ssim_tensor(content, output)[0])


# ---------------------------------------------------------------- affine_residual


def affine_residual_tensor(content: Tensor, output: Tensor, r: int = 8, eps: float = 1e-3) -> Tensor:
    """affine_residual of (B,3,H,W) RGB [0,1] tensors at the size given. Returns (B,) float32."""
    A, b = fit_affine(content, output, r, eps)
    q = apply_affine(A, b, content)
    out = output.float()
    mse = (out - q).square().mean(dim=(-2, -1))
    var = out.var(dim=(-2, -1), unbiased=False).clamp_min(1e-12)
    return (mse / var).mean(dim=1).sqrt()


def affine_residual(content: np.ndarray, output: np.ndarray, r: int = 8, eps: float = 1e-3) -> float:
    """How far the output is from a local affine recolour of the content (lower = more photoreal).

    Images: (H,W,3) RGB [0,1]. sqrt(mean over channels of mse(out, q) / var(out))
    with q the colour guided filter of the output guided by the content.
    """
    content, output = prepare_pair(content, output)
    return float(affine_residual_tensor(to_tensor(content), to_tensor(output), r, eps)[0])


# ---------------------------------------------------------------- warp_error, temporal ratio


# ---------------------------------------------------------------- all figures


@dataclass
class Score:
    """Every figure of docs/metrics.md for one output; the temporal ones only for a shot."""

    style_gap: float
    style_per_layer: dict[str, float]
    structure_ssim: float
    affine_residual: float
    warp_error: float | None = None
    temporal_ratio: float | None = None
    grade_flicker: float | None = None
    colour_incoherence: float | None = None
    # Against a known truth (score_shots(truth=...)): mean and 95th percentile ΔE2000 of the output,
    # the untouched content's mean, and the share of the grade recovered.
    delta_e: float | None = None
    delta_e_p95: float | None = None
    delta_e_untouched: float | None = None
    share_recovered: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StillScorer:
    """The still figures of any number of outputs of one content image towards one look.

    The content's and the look's Grams are computed once, so each output costs
    one VGG pass (a weight sweep scores many outputs of one keyframe).
    Images: (H,W,3) RGB [0,1].
    """

    def __init__(self, content: np.ndarray, look: np.ndarray, vgg: VGGFeatures | None = None):
        self.content = check_image(content, "content")
        self.vgg = _check_vgg(vgg or _default_vgg())
        self._g_content = _style_grams(to_tensor(to_metric_size(self.content, "content")), self.vgg)
        self._g_look = _style_grams(to_tensor(prepare(look, "look")), self.vgg)

    def style_gap(self, output: np.ndarray) -> StyleGap:
        _, output = prepare_pair(self.content, output)
        return _gap(self._g_content, _style_grams(to_tensor(output), self.vgg), self._g_look)

    def __call__(self, output: np.ndarray) -> Score:
        gap = self.style_gap(output)
        return Score(
            gap.value, gap.per_layer, structure_ssim(self.content, output), affine_residual(self.content, output)
        )


def score_still(content: np.ndarray, output: np.ndarray, look: np.ndarray, vgg: VGGFeatures | None = None) -> Score:
    """The still-image figures of one output; images (H,W,3) RGB [0,1]."""
    return StillScorer(content, look, vgg)(output)


@dataclass
class ShotScore:
    """A shot's figures: still figures averaged over the scored frames, temporal ones over all."""

    frames: int
    scored_frames: list[int]  # frame numbers the still figures were computed on
    mean: Score
    per_frame: dict[int, Score]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "scored_frames": self.scored_frames,
            "mean": self.mean.to_dict(),
            "per_frame": {str(k): v.to_dict() for k, v in self.per_frame.items()},
        }


def summarise_scores(scores: list[Score], reduce: Callable[[list[float]], Any] = np.mean) -> Score:
    """One still Score from many, figure by figure (the mean by default; benchmarks also take the median)."""
    return Score(
        float(reduce([s.style_gap for s in scores])),
        {k: float(reduce([s.style_per_layer[k] for s in scores])) for k in STYLE_LAYERS},
        float(reduce([s.structure_ssim for s in scores])),
        float(reduce([s.affine_residual for s in scores])),
    )


def score_shots(
    content: Shot,
    output: Shot,
    look: np.ndarray,
    *,
    truth: Shot | None = None,
    every: int = 1,
    vgg: VGGFeatures | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> ShotScore:
    """Score ``output`` against ``content`` frame by frame, streamed (a few frames in memory).

    Frames are paired by frame number. Still figures (style gap, structure, affine
    residual, colour incoherence and, given the ``truth`` of each frame, ΔE2000 to it)
    are computed on every ``every``-th pair (VGG at 512 px costs seconds a frame on a
    CPU); warp error, temporal ratio and grade flicker use every frame when there are
    two or more.
    """
    if every < 1:
        raise InputError(f"--every {every}: expected a whole number >= 1")
    for other in (output, truth):
        if other is not None:
            _check_same_frames(content, other)
    meters = (WarpErrorMeter(), GradeFlickerMeter())
    per_frame: dict[int, Score] = {}
    de: list[tuple[float, float, float]] = []  # output mean, output p95, untouched mean
    truths = iter(truth) if truth is not None else None
    for i, ((ref, frame_in), (_, frame_out)) in enumerate(zip(content, output)):
        frame_truth = next(truths)[1].pixels if truths is not None else None
        if i % every == 0:
            score = score_still(frame_in.pixels, frame_out.pixels, look, vgg)
            score.colour_incoherence = colour_incoherence(frame_in.pixels, frame_out.pixels)
            if frame_truth is not None:
                out_de = delta_e2000(frame_out.pixels, frame_truth)
                de.append((out_de.mean, out_de.p95, delta_e2000(frame_in.pixels, frame_truth).mean))
            per_frame[ref.number] = score
        if len(content) > 1:
            for meter in meters:
                meter.update(frame_in.pixels, frame_out.pixels)
        if on_frame is not None:
            on_frame(ref.number)
    mean = summarise_scores(list(per_frame.values()))
    mean.colour_incoherence = float(np.mean([s.colour_incoherence for s in per_frame.values()]))
    if de:
        mean.delta_e, mean.delta_e_p95, mean.delta_e_untouched = (float(v) for v in np.mean(de, axis=0))
        mean.share_recovered = share_recovered(mean.delta_e, mean.delta_e_untouched)
    warp, flicker = meters
    if warp.pairs:
        mean.warp_error, mean.temporal_ratio, mean.grade_flicker = warp.value, warp.ratio, flicker.value
    return ShotScore(len(content), list(per_frame), mean, per_frame)


def _check_same_frames(content: Shot, other: Shot) -> None:
    numbers_in, numbers_out = [r.number for r in content.frames], [r.number for r in other.frames]
    if numbers_in != numbers_out:
        missing = sorted(set(numbers_in) ^ set(numbers_out))
        raise SequenceError(
            f"{other.source}: frames do not match {content.source}: expected the same frame "
            f"numbers, {len(missing)} differ (first: {missing[0] if missing else 'order'})"
        )

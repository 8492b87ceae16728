"""The temporal figures of docs/metrics.md: warp error, the temporal ratio and grade_flicker of a graded shot.

Frames are compared along the optical flow of the input (OpenCV DIS at 512 px), with
occluded pixels left out, so only change the look added counts. Both meters stream a
shot, keeping only the previous frame pair (`_FlowPairs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Callable, Iterable, TypeVar

import cv2
import numpy as np
import torch

from ..errors import SequenceError
from ..grade.guided import box_mean
from ..grade.temporal import compute_flow, occlusion_mask, warp
from ..io.tensors import to_tensor
from .prepare import METRIC_LONG_SIDE, prepare_pair

# (src gray, dst gray) (H,W) uint8 -> backward flow (H,W,2) with warp(src, flow) ≈ dst; see temporal.py.
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


_MISSING = object()
M = TypeVar("M", bound="_FlowPairs")


def _gray_u8(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)


def _masked_warp_error(current: np.ndarray, previous: np.ndarray, flow_b: np.ndarray, mask: np.ndarray) -> float:
    diff = current - warp(previous, flow_b)
    return float(np.square(diff).sum(axis=-1)[mask].mean())


@dataclass(frozen=True)
class _Pair:
    """Two consecutive frames at the metric size, the inputs' backward flow and the pixels it keeps."""

    prev_in: np.ndarray
    prev_out: np.ndarray
    cur_in: np.ndarray
    cur_out: np.ndarray
    flow_b: np.ndarray
    mask: np.ndarray


class _FlowPairs:
    """Feeds each consecutive (input, output) pair of a shot, at the metric size, to `_add` with the
    inputs' backward flow and occlusion mask. ``flow_fn`` replaces DIS (e.g. a known flow in tests).
    A pair where the mask keeps no pixel (a cut) is skipped."""

    name = "temporal figures"

    def __init__(self, flow_fn: FlowFn = compute_flow):
        self._flow_fn = flow_fn
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray, input, output at metric size
        self.frames = 0
        self.pairs = 0

    def update(self, frame_in: np.ndarray, frame_out: np.ndarray) -> None:
        """Add the next frame: ``frame_in`` and ``frame_out`` (H,W,3) RGB [0,1]."""
        cur_in, cur_out = prepare_pair(frame_in, frame_out, ("frame_in", "frame_out"))
        gray = _gray_u8(cur_in)
        if self._prev is not None:
            prev_gray, prev_in, prev_out = self._prev
            if prev_gray.shape != gray.shape:
                raise SequenceError(
                    f"frame_in: expected the size of the previous frame {prev_gray.shape} at "
                    f"{METRIC_LONG_SIDE} px, got {gray.shape}"
                )
            flow_b = self._flow_fn(prev_gray, gray)
            mask = occlusion_mask(flow_b, self._flow_fn(gray, prev_gray))
            if mask.any():
                self._add(_Pair(prev_in, prev_out, cur_in, cur_out, flow_b, mask))
                self.pairs += 1
        self._prev = (gray, cur_in, cur_out)
        self.frames += 1

    def _add(self, pair: _Pair) -> None:
        raise NotImplementedError

    def _check_pairs(self) -> None:
        if self.pairs == 0:
            raise SequenceError(f"{self.name}: expected at least two frames with some unoccluded pixels, got none")


class WarpErrorMeter(_FlowPairs):
    """Streams warp_error over a shot: the flow is computed once per pair on the inputs and used for
    both, so `value` (outputs), `input_value` (inputs) and `ratio` come from one pass."""

    name = "warp error"

    def __init__(self, flow_fn: FlowFn = compute_flow):
        super().__init__(flow_fn)
        self._sum_in = 0.0
        self._sum_out = 0.0

    def _add(self, pair: _Pair) -> None:
        self._sum_in += _masked_warp_error(pair.cur_in, pair.prev_in, pair.flow_b, pair.mask)
        self._sum_out += _masked_warp_error(pair.cur_out, pair.prev_out, pair.flow_b, pair.mask)

    def _mean(self, total: float) -> float:
        self._check_pairs()
        return total / self.pairs

    @property
    def value(self) -> float:
        """warp_error of the outputs: mean over pairs of the masked mean of Σ_rgb squared difference."""
        return self._mean(self._sum_out)

    @property
    def input_value(self) -> float:
        """The same figure for the inputs."""
        return self._mean(self._sum_in)

    @property
    def ratio(self) -> float:
        """Temporal ratio value / input_value: 1.0 = the look added no flicker (1.0 too for two static shots)."""
        out, inp = self.value, self.input_value
        if inp == 0:
            return 1.0 if out == 0 else float("inf")
        return out / inp


def _run_meter(meter: M, frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray]) -> M:
    for frame_in, frame_out in zip_longest(frames_in, frames_out, fillvalue=_MISSING):
        if frame_in is _MISSING or frame_out is _MISSING:
            raise SequenceError(f"expected as many output frames as input frames, they differ after {meter.frames}")
        meter.update(frame_in, frame_out)
    return meter


def warp_error(
    frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn = compute_flow
) -> float:
    """warp_error of ``frames_out`` along the flow of ``frames_in``; frames (H,W,3) RGB [0,1], streamed."""
    return _run_meter(WarpErrorMeter(flow_fn), frames_in, frames_out).value


def temporal_ratio(
    frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn = compute_flow
) -> float:
    """warp_error(outputs) / warp_error(inputs), both along the inputs' flow; frames streamed."""
    return _run_meter(WarpErrorMeter(flow_fn), frames_in, frames_out).ratio


GRADE_FIT_RADIUS, GRADE_FIT_EPS = 8, 1e-6


def local_grade_slopes(
    frame_in: np.ndarray, frame_out: np.ndarray, r: int = GRADE_FIT_RADIUS, eps: float = GRADE_FIT_EPS
) -> np.ndarray:
    """The local affine grade of ``frame_out`` on ``frame_in`` (both (H,W,3) RGB, same size): per pixel, the
    3×3 slope matrix A (rows: output channel, columns: input R, G, B) of the least-squares fit
    out ≈ A·in + b over the (2r+1)² window centred there, ``eps`` added to the input's covariance.

    Unlike `hrstyle.guided.fit_affine`, the slopes are not box-smoothed afterwards (METRICS.md's
    grade_flicker). Returns (H,W,3,3) float32.
    """
    guide, target = to_tensor(frame_in).double(), to_tensor(frame_out).double()
    products = torch.cat(
        [guide[:, i : i + 1] * guide[:, j : j + 1] for i in range(3) for j in range(3)]
        + [guide[:, i : i + 1] * target for i in range(3)],
        1,
    )
    means = box_mean(torch.cat((guide, target, products), 1), r)[0]
    mean_i, mean_p = means[0:3], means[3:6]
    cov_ii = means[6:15].reshape(3, 3, *means.shape[1:]) - mean_i[:, None] * mean_i[None, :]
    cov_ip = means[15:24].reshape(3, 3, *means.shape[1:]) - mean_i[:, None] * mean_p[None, :]  # [in, out]
    cov_ii = cov_ii.permute(2, 3, 0, 1) + eps * torch.eye(3, dtype=torch.float64)
    slopes = torch.linalg.solve(cov_ii, cov_ip.permute(2, 3, 0, 1))  # (H,W,in,out)
    return slopes.transpose(-2, -1).float().numpy()


class GradeFlickerMeter(_FlowPairs):
    """Streams grade_flicker over a shot: the output's change along the flow against the input's
    change passed through the output's own local grade (`local_grade_slopes`)."""

    name = "grade flicker"

    def __init__(self, flow_fn: FlowFn = compute_flow):
        super().__init__(flow_fn)
        self.change_out = 0.0  # Σ |O_t − warp(O_{t−1})|² over pairs and kept pixels
        self.change_graded = 0.0  # Σ |A_t · (I_t − warp(I_{t−1}))|²

    def _add(self, pair: _Pair) -> None:
        slopes = local_grade_slopes(pair.cur_in, pair.cur_out)[pair.mask]  # (n,3,3)
        d_in = (pair.cur_in - warp(pair.prev_in, pair.flow_b))[pair.mask]  # (n,3)
        d_out = (pair.cur_out - warp(pair.prev_out, pair.flow_b))[pair.mask]
        graded = np.einsum("nij,nj->ni", slopes, d_in, dtype=np.float64)
        self.change_out += float(np.square(d_out, dtype=np.float64).sum())
        self.change_graded += float(np.square(graded).sum())

    @property
    def value(self) -> float:
        """grade_flicker: 1 = changes as a steady grade of the input would, > 1 flicker, < 1 ghosting."""
        self._check_pairs()
        if self.change_graded == 0:
            return 1.0 if self.change_out == 0 else float("inf")
        return self.change_out / self.change_graded


def grade_flicker(
    frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn = compute_flow
) -> float:
    """grade_flicker of ``frames_out`` graded from ``frames_in`` (each (H,W,3) RGB [0,1], streamed).

    Σ |O_t − warp(O_{t−1})|² / Σ |A_t·(I_t − warp(I_{t−1}))|² over consecutive pairs and the
    pixels the occlusion mask keeps, with the inputs' backward flow and A_t the local affine
    grade of O_t on I_t (`local_grade_slopes`), all at 512 px.
    """
    return _run_meter(GradeFlickerMeter(flow_fn), frames_in, frames_out).value

"""The temporal figures of docs/metrics.md: warp error and the temporal ratio of a graded shot.

Frames are compared along the optical flow of the input (OpenCV DIS at 512 px), with
occluded pixels left out, so only change the look added counts.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Callable, Iterable

import cv2
import numpy as np

from ..errors import SequenceError
from ..grade.temporal import compute_flow, occlusion_mask, warp
from .prepare import METRIC_LONG_SIDE, prepare_pair

# (src gray, dst gray) (H,W) uint8 -> backward flow (H,W,2) with warp(src, flow) ≈ dst; see temporal.py.
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


_MISSING = object()


def _gray_u8(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)


def _masked_warp_error(current: np.ndarray, previous: np.ndarray, flow_b: np.ndarray, mask: np.ndarray) -> float:
    diff = current - warp(previous, flow_b)
    return float(np.square(diff).sum(axis=-1)[mask].mean())


class WarpErrorMeter:
    """Streams warp_error over a shot, keeping only the previous frame pair.

    Feed (input, output) frames in order with `update`; the flow is computed
    once per pair on the inputs and used for both, so `value` (outputs),
    `input_value` (inputs) and `ratio` come from one pass. ``flow_fn`` replaces
    DIS (e.g. a known flow in tests). A pair where the occlusion mask keeps no
    pixel (a cut) is skipped.
    """

    def __init__(self, flow_fn: FlowFn = compute_flow):
        self._flow_fn = flow_fn
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray, input, output at metric size
        self._sum_in = 0.0
        self._sum_out = 0.0
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
                self._sum_in += _masked_warp_error(cur_in, prev_in, flow_b, mask)
                self._sum_out += _masked_warp_error(cur_out, prev_out, flow_b, mask)
                self.pairs += 1
        self._prev = (gray, cur_in, cur_out)
        self.frames += 1

    def _mean(self, total: float) -> float:
        if self.pairs == 0:
            raise SequenceError("warp error: expected at least two frames with some unoccluded pixels, got none")
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


def _run_meter(frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn) -> WarpErrorMeter:
    meter = WarpErrorMeter(flow_fn)
    for frame_in, frame_out in zip_longest(frames_in, frames_out, fillvalue=_MISSING):
        if frame_in is _MISSING or frame_out is _MISSING:
            raise SequenceError(f"expected as many output frames as input frames, they differ after {meter.frames}")
        meter.update(frame_in, frame_out)
    return meter


def warp_error(
    frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn = compute_flow
) -> float:
    """warp_error of ``frames_out`` along the flow of ``frames_in``; frames (H,W,3) RGB [0,1], streamed."""
    return _run_meter(frames_in, frames_out, flow_fn).value


def temporal_ratio(
    frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray], flow_fn: FlowFn = compute_flow
) -> float:
    """warp_error(outputs) / warp_error(inputs), both along the inputs' flow; frames streamed."""
    return _run_meter(frames_in, frames_out, flow_fn).ratio

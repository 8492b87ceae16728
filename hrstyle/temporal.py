"""Optical flow, warping and occlusion masks between frames of a shot.

Flow convention (backward flow, the one `warp` consumes): a flow ``f`` of
shape (H,W,2) lives on the grid of the frame you warp *into*; ``f[y,x,0]`` is
the x and ``f[y,x,1]`` the y offset, in pixels, of where that pixel is found
in the frame you warp *from*:

    warp(a, f)[y, x] = a[y + f[y,x,1], x + f[y,x,0]]

``compute_flow(a, b)`` returns the ``f`` for which ``warp(a, f) ≈ b``. For
consecutive frames, ``compute_flow(prev, next)`` is the backward flow f_b that
brings frame t-1 to frame t, and ``compute_flow(next, prev)`` the forward flow f_f.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .errors import InputError, ShapeError

FlowMethod = Literal["dis", "farneback"]


def _check_gray_pair(src: np.ndarray, dst: np.ndarray) -> None:
    for name, img in (("src", src), ("dst", dst)):
        if img.dtype != np.uint8 or img.ndim != 2:
            raise ShapeError(f"{name}: expected (H,W) uint8 gray, got {img.dtype} {img.shape}")
    if src.shape != dst.shape:
        raise ShapeError(f"dst: expected the shape of src {src.shape}, got {dst.shape}")


def compute_flow(src: np.ndarray, dst: np.ndarray, method: FlowMethod = "dis") -> np.ndarray:
    """Backward flow (H,W,2) float32 on ``dst``'s grid, so that ``warp(src, flow) ≈ dst``.

    ``src``, ``dst``: (H,W) uint8 gray. ``method``: "dis" (OpenCV DIS, preset
    MEDIUM, as METRICS.md prescribes) or "farneback".
    """
    _check_gray_pair(src, dst)
    # OpenCV's calc(I0, I1) gives I0(x) ≈ I1(x + flow(x)): with I0 = dst that is our backward flow.
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(dst, src, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(dst, src, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.2, flags=0)
    else:
        raise InputError(f"flow method: expected 'dis' or 'farneback', got {method!r}")
    return flow.astype(np.float32, copy=False)


def _check_flow(flow: np.ndarray, name: str = "flow") -> None:
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ShapeError(f"{name}: expected (H,W,2), got {flow.shape}")


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Pull ``image`` (H,W) or (H,W,C≤4) along backward ``flow`` (H,W,2): bilinear, border replicated.

    Returns float32 of ``image``'s shape.

    >>> img = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> warp(img, np.tile(np.float32([1, 0]), (3, 4, 1)))[0]
    array([1., 2., 3., 3.], dtype=float32)
    """
    _check_flow(flow)
    if image.shape[:2] != flow.shape[:2]:
        raise ShapeError(f"image: expected {flow.shape[:2]} like the flow, got {image.shape}")
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(image.astype(np.float32, copy=False), grid_x + flow[..., 0], grid_y + flow[..., 1],
                       interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped.reshape(image.shape)


def occlusion_mask(flow_b: np.ndarray, flow_f: np.ndarray) -> np.ndarray:
    """Forward-backward consistency (Ruder et al. 2016): True where the pixel is kept.

    ``flow_b`` (H,W,2) brings frame t-1 to frame t, ``flow_f`` (H,W,2) frame t to
    t-1 (see the module's convention). A pixel of frame t is kept where
    |f_b + w|² < 0.01·(|f_b|² + |w|²) + 0.5, with w = ``warp(flow_f, flow_b)``.
    Returns (H,W) bool.
    """
    _check_flow(flow_b, "flow_b")
    _check_flow(flow_f, "flow_f")
    if flow_b.shape != flow_f.shape:
        raise ShapeError(f"flow_f: expected {flow_b.shape} like flow_b, got {flow_f.shape}")
    w = warp(flow_f, flow_b)
    return _sq_norm(flow_b + w) < 0.01 * (_sq_norm(flow_b) + _sq_norm(w)) + 0.5


def _sq_norm(flow: np.ndarray) -> np.ndarray:
    return np.square(flow).sum(axis=-1)

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

from typing import Hashable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError, ShapeError
from .config import FlowMethod, SmoothCfg


def _check_gray_pair(src: np.ndarray, dst: np.ndarray) -> None:
    for name, img in (("src", src), ("dst", dst)):
        if img.dtype != np.uint8 or img.ndim != 2:
            raise ShapeError(f"{name}: expected (H,W) uint8 gray, got {img.dtype} {img.shape}")
    if src.shape != dst.shape:
        raise ShapeError(f"dst: expected the shape of src {src.shape}, got {dst.shape}")


def compute_flow(src: np.ndarray, dst: np.ndarray, method: FlowMethod = "dis") -> np.ndarray:
    """Backward flow (H,W,2) float32 on ``dst``'s grid, so that ``warp(src, flow) ≈ dst``.

    ``src``, ``dst``: (H,W) uint8 gray. ``method``: "dis" (OpenCV DIS, preset
    MEDIUM, as docs/metrics.md prescribes) or "farneback".
    """
    _check_gray_pair(src, dst)
    # OpenCV's calc(I0, I1) gives I0(x) ≈ I1(x + flow(x)): with I0 = dst that is our backward flow.
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(dst, src, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(
            dst, src, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
        )
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
    warped = cv2.remap(
        image.astype(np.float32, copy=False),
        grid_x + flow[..., 0],
        grid_y + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
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


def warp_tensor(x: Tensor, flow: np.ndarray) -> Tensor:
    """`warp` for a (1,C,H,W) tensor of any channel count (cv2.remap stops at 4), bilinear, border replicated."""
    _check_flow(flow)
    if tuple(x.shape[-2:]) != flow.shape[:2] or x.ndim != 4 or x.shape[0] != 1:
        raise ShapeError(f"x: expected (1,C,{flow.shape[0]},{flow.shape[1]}) like the flow, got {tuple(x.shape)}")
    h, w = flow.shape[:2]
    f = torch.from_numpy(flow).to(x.device, torch.float32)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=torch.float32),
        torch.arange(w, device=x.device, dtype=torch.float32),
        indexing="ij",
    )
    # grid_sample wants [-1, 1] coordinates of pixel centres (align_corners=True maps 0 and W-1 to ±1).
    gx = (xs + f[..., 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + f[..., 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack((gx, gy), dim=-1)[None]
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def random_move(generator: torch.Generator, size: tuple[int, int], shift: float, zoom: float) -> Tensor:
    """A small random camera move for `move` on images of ``size`` (h, w): a
    translation of up to ``shift`` pixels on each axis and a zoom by up to
    ``zoom`` (0.02 = 2%) either way. Returns its (1,2,3) matrix."""
    u = (torch.rand(3, generator=generator) * 2 - 1).tolist()
    scale = 1 + zoom * u[2]
    h, w = size
    return torch.tensor([[[scale, 0.0, shift * u[0] * 2 / w], [0.0, scale, shift * u[1] * 2 / h]]])


def move(x: Tensor, theta: Tensor) -> Tensor:
    """Resample (B,C,H,W) ``x`` through ``theta`` (1,2,3), in `F.affine_grid`'s
    normalised coordinates; bilinear, borders reflected. Differentiable."""
    grid = F.affine_grid(theta.to(x.device, x.dtype).expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def gray_u8(rgb: Tensor) -> np.ndarray:
    """(1,3,H,W) RGB [0,1] → (H,W) uint8 luminance with OpenCV's RGB2GRAY weights, for flow."""
    y = 0.299 * rgb[0, 0] + 0.587 * rgb[0, 1] + 0.114 * rgb[0, 2]
    return (y.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


class CoefficientSmoother:
    """Blends each frame's affine colour coefficients with the previous frame's, carried along the flow.

    Smoothing the coefficients instead of the output pixels means the current
    frame's own pixels always carry its detail (output = A·I + b), so a
    mis-tracked region can at worst take a slightly stale colour, never a
    ghost of last frame's edges. The coefficients are smooth, low-resolution
    fields, so warping them is robust and cheap.

    The blend uses the previous frame's *unsmoothed* coefficients (a two-tap
    filter, not a recursive one): a frame's result then depends on itself and
    its predecessor only, so a render that starts mid-shot (a farm chunk, a
    resumed run) matches a whole run exactly after warming up on one frame.

    Each call names its frame and the frame before it (``link``); the blend
    happens only when that predecessor is the frame seen last, so gaps, jumps
    and restarts never blend unrelated frames.
    """

    def __init__(self, cfg: SmoothCfg = SmoothCfg()):
        self.cfg = cfg
        self.state: tuple[Hashable, np.ndarray, Tensor] | None = None  # (frame, gray, raw coeffs) seen last
        self.cuts = 0

    def __call__(self, link: tuple[Hashable | None, Hashable], guide: Tensor, coeffs: Tensor) -> Tensor:
        """``link``: (previous frame, this frame); ``guide``: (1,3,h,w) work-size input frame;
        ``coeffs``: (1,C,h,w). Returns the smoothed coeffs."""
        previous, current = link
        gray, raw = gray_u8(guide), coeffs.float()
        out = raw
        follows = previous is not None and self.state is not None and self.state[0] == previous
        if self.cfg.strength > 0 and follows:
            _, prev_gray, prev_raw = self.state
            if prev_gray.shape == gray.shape:
                out = self._blend(prev_gray, prev_raw, gray, raw)
        self.state = (current, gray, raw)
        return out

    def _blend(self, prev_gray: np.ndarray, prev_raw: Tensor, gray: np.ndarray, raw: Tensor) -> Tensor:
        flow_b = compute_flow(prev_gray, gray, self.cfg.flow)
        trusted = occlusion_mask(flow_b, compute_flow(gray, prev_gray, self.cfg.flow))
        if trusted.mean() < self.cfg.cut_fraction:
            self.cuts += 1
            return raw
        weight = torch.from_numpy(trusted.astype(np.float32)).to(raw.device)[None, None] * self.cfg.strength
        return torch.lerp(raw, warp_tensor(prev_raw, flow_b), weight)

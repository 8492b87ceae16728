"""The grading steps: pure functions from frames to graded frames, with no state and no I/O.

The network only runs at the look's work size, the size it was tuned at:
elsewhere it mottles flat areas and flickers (docs/tune.md). The steps take and
return tensors:

* guided path (default): `to_work_size` -> `run_network` -> `carry_to_full_res`,
  itself `fit_grade` (a local affine colour transform fitted between the
  work-size input and output) -> `apply_grade` (those coefficients, bilinearly
  upsampled, applied to the full-resolution frame);
* ``--native`` (the reference): `run_native_tiled`, the network at full
  resolution in overlapping, feathered tiles;
* a 3D LUT instead of a look: every pixel through `lut.apply_lut`.

`grade_batch` grades a batch with any `Grade` (protocol.py). Temporal smoothing
slots in between `fit_grade` and `apply_grade`, smoothing the small work-size
coefficients frame to frame (temporal.CoefficientSmoother).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..device import pick_device
from ..errors import DeviceMemoryError, InputError, ShapeError
from ..io.imaging import long_side_size, resize
from .config import RenderCfg
from .guided import apply_upsampled, fit_affine
from .temporal import CoefficientSmoother

if TYPE_CHECKING:
    from ..look.file import Look
    from .protocol import Grade


MAX_AUTO_BATCH = 8


# Full-size float32 planes one frame holds at the peak of the guided carry: input
# and output (3 each), the 4 upsampled coefficients of one channel, and headroom.
_PLANES_PER_FRAME = 12


def prepare_look(look: Look, cfg: RenderCfg) -> Look:
    """A copy of ``look`` ready to render with ``cfg``: its network on the device at
    ``cfg.style_weight``, channels_last on CUDA, compiled if asked. Checks the precision
    suits the device and the style weight the look's range (InputError)."""
    device = pick_device(cfg.device)
    activation_dtype(cfg.precision, device)
    net = copy.deepcopy(look.net).to(device).eval().requires_grad_(False)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
        # The same convolution algorithm on every run, so a frame renders the same in any chunk.
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    prepared = replace(look, net=net)
    prepared.set_point(cfg.style_weight)
    if cfg.compile:
        prepared.net = torch.compile(net)
    return prepared


def work_size_for(height: int, width: int, look: Look) -> tuple[int, int]:
    """(h, w) a frame of ``height`` x ``width`` is graded at: the look's tuned long
    side, by the same rule tune used, so a frame shaped like the keyframe gets
    exactly ``look.meta.work_size``. Never upscales."""
    return long_side_size(height, width, max(look.meta.work_size))


def guided_radius(cfg: RenderCfg, work_size: tuple[int, int]) -> int:
    """The guided fit's window radius in work-size pixels (see `RenderCfg.radius`)."""
    return cfg.radius if cfg.radius is not None else max(2, round(max(work_size) / 64))


def to_work_size(frames: Tensor, look: Look) -> Tensor:
    """(B,3,H,W) float32 -> (B,3,h,w) at `work_size_for`, antialiased as in tune."""
    return resize(frames, work_size_for(*frames.shape[-2:], look))


def run_network(net: nn.Module, x: Tensor, cfg: RenderCfg) -> Tensor:
    """``net`` on (B,3,h,w) float32 already on its device -> (B,3,h,w) float32.

    Activations are in ``cfg.precision``; what comes out is float32 again, since
    the colour math after it must not band.
    """
    dtype = activation_dtype(cfg.precision, x.device)
    if x.device.type == "cuda":  # on the CPU channels_last is 2x slower (docs/experiments.md)
        x = x.contiguous(memory_format=torch.channels_last)
    precision = torch.autocast(x.device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
    with torch.inference_mode(), precision:
        return net(x).float().contiguous()


def fit_grade(work_in: Tensor, work_out: Tensor, cfg: RenderCfg) -> tuple[Tensor, Tensor]:
    """The grade ``work_in`` -> ``work_out`` (B,3,h,w) as a per-pixel affine colour
    transform: ``A`` (B,3,3,h,w) and ``b`` (B,3,h,w), float32, by the box-filter
    guided fit (guided.fit_affine).

    The residual ``work_out - work_in`` is what is fitted, so the transform is
    ``I + A·I + b``: the ridge then pulls towards "no change", an identity
    grade stays exactly the identity, and low-contrast texture the network
    leaves alone is not flattened.
    """
    return fit_affine(work_in, work_out - work_in, guided_radius(cfg, tuple(work_in.shape[-2:])), cfg.eps)


def apply_grade(full: Tensor, A: Tensor, b: Tensor) -> Tensor:
    """`fit_grade`'s coefficients, bilinearly upsampled, applied to ``full``
    (B,3,H,W) float32: ``full + A·full + b``. Every native detail stays, and no
    texture the input lacks can appear. Returns (B,3,H,W) float32."""
    return apply_upsampled(A, b, full).add_(full)


def carry_to_full_res(full: Tensor, work_in: Tensor, work_out: Tensor, cfg: RenderCfg) -> Tensor:
    """Carry the grade ``work_in`` -> ``work_out`` (B,3,h,w) to ``full`` (B,3,H,W)
    through `fit_grade` and `apply_grade`. Returns (B,3,H,W) float32."""
    return apply_grade(full, *fit_grade(work_in, work_out, cfg))


def run_native_tiled(net: nn.Module, full: Tensor, cfg: RenderCfg) -> Tensor:
    """``net`` on (B,3,H,W) float32 at full resolution -> (B,3,H,W) float32.

    Tiles of at most ``cfg.tile`` px (0: one tile), each read with ``cfg.tile_pad``
    px of context on every inner side; neighbours are cross-faded linearly over
    their ``2 * tile_pad`` overlap. Instance norm sees each tile's own statistics,
    so tiles differ slightly in tone; the cross-fade hides the seams but not that.
    """
    height, width = full.shape[-2:]
    if cfg.tile == 0 or (height <= cfg.tile and width <= cfg.tile):
        return run_network(net, full, cfg)
    out = torch.zeros_like(full)
    weight = full.new_zeros(height, width)
    for rows in _tile_spans(height, cfg.tile, cfg.tile_pad):
        ramp_y = _feather(rows, height, cfg.tile_pad, full.device)
        for cols in _tile_spans(width, cfg.tile, cfg.tile_pad):
            feather = ramp_y[:, None] * _feather(cols, width, cfg.tile_pad, full.device)[None, :]
            out[..., rows, cols] += run_network(net, full[..., rows, cols], cfg) * feather
            weight[rows, cols] += feather
    return out.div_(weight)


def _tile_spans(n: int, tile: int, pad: int) -> list[slice]:
    """Equal cores covering [0, n) in steps of at most ``tile``, each widened by ``pad``."""
    count = math.ceil(n / tile)
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(max(0, a - pad), min(n, b + pad)) for a, b in zip(bounds, bounds[1:])]


def _feather(span: slice, n: int, pad: int, device: torch.device) -> Tensor:
    """1-D weights of a tile: ramps over the overlaps at inner edges, so that
    neighbours' weights sum to 1 there; flat at the frame's borders."""
    x = torch.arange(span.start, span.stop, device=device, dtype=torch.float32) + 0.5
    ones = torch.ones_like(x)
    if pad == 0:
        return ones
    rise = (x - span.start) / (2 * pad) if span.start > 0 else ones
    fall = (span.stop - x) / (2 * pad) if span.stop < n else ones
    return torch.minimum(rise, fall).clamp(max=1.0)


# A frame and the one before it in the shot (None for the first): what temporal smoothing may blend.
Link = tuple[int | None, int]


def smooth_grade(
    smoother: CoefficientSmoother, links: Sequence[Link], work_in: Tensor, A: Tensor, b: Tensor
) -> tuple[Tensor, Tensor]:
    """`fit_grade`'s coefficients for consecutive frames, each blended with its
    predecessor's along the flow (temporal.CoefficientSmoother), in order."""
    batch, _, _, h, w = A.shape
    packed = torch.cat([A.reshape(batch, 9, h, w), b], dim=1)
    smoothed = torch.cat([smoother(link, work_in[i : i + 1], packed[i : i + 1]) for i, link in enumerate(links)])
    return smoothed[:, :9].reshape(batch, 3, 3, h, w), smoothed[:, 9:]


def grade_batch(
    grade: Grade,
    frames: Tensor,
    cfg: RenderCfg,
    smoother: CoefficientSmoother | None = None,
    links: Sequence[Link] = (),
) -> Tensor:
    """Grade (B,3,H,W) float32 frames (RGB as read: [0,1] for integer formats)
    with a look or a LUT, as `Grade.prepare` left it.

    Runs on ``grade.device`` and returns (B,3,H,W) float32 there, unclipped.
    With a ``smoother``, ``links`` names each frame and its predecessor, and
    frames must come in shot order.

    >>> look = load_look("teal.look.safetensors").prepare(RenderCfg())  # doctest: +SKIP
    >>> grade_batch(look, torch.rand(2, 3, 540, 960), RenderCfg()).shape  # doctest: +SKIP
    torch.Size([2, 3, 540, 960])
    """
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.dtype != torch.float32:
        raise ShapeError(f"frames: expected float32 (B,3,H,W), got {frames.dtype} {tuple(frames.shape)}")
    return grade.grade(frames.to(grade.device, non_blocking=True), cfg, smoother, links)


def grade_with_network(
    look: Look, full: Tensor, cfg: RenderCfg, smoother: CoefficientSmoother | None = None, links: Sequence[Link] = ()
) -> Tensor:
    """A look's grade of (B,3,H,W) float32 frames on its network's device: the guided
    path, or the tiled native one with ``cfg.native``."""
    with torch.inference_mode():
        if cfg.native:
            return mix_grade(full, run_native_tiled(look.net, full, cfg), cfg.mix)
        work_in = to_work_size(full, look)
        A, b = fit_grade(work_in, run_network(look.net, work_in, cfg), cfg)
        if smoother is not None:
            A, b = smooth_grade(smoother, links, work_in, A, b)
        if cfg.mix != 1:  # the transform is I + A·I + b, so scaling A and b blends it towards the identity
            A, b = A * cfg.mix, b * cfg.mix
        return apply_grade(full, A, b)


def mix_grade(frames: Tensor, graded: Tensor, mix: float) -> Tensor:
    """The node mix: ``graded`` blended towards ``frames`` (both (B,3,H,W)); 1 returns ``graded`` as it is."""
    return graded if mix == 1 else torch.lerp(frames, graded, mix)


def auto_batch_size(device: torch.device, height: int, width: int) -> int:
    """Frames per batch when none is given: 1 on the CPU, where torch already
    spreads one frame over every core and a batch only multiplies memory; on CUDA
    as many as fit in half the free memory, up to 8."""
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1, min(MAX_AUTO_BATCH, free // 2 // (height * width * 4 * _PLANES_PER_FRAME))))


def grade_frames(
    grade: Grade,
    frames: Tensor,
    cfg: RenderCfg,
    batch_size: int,
    smoother: CoefficientSmoother | None = None,
    links: Sequence[Link] = (),
) -> tuple[Tensor, int]:
    """`grade_batch` over ``frames`` in chunks of ``batch_size``, halving the chunk
    on CUDA out-of-memory. Returns the graded frames on the CPU and the batch
    size that fitted, for the next call.

    Raises:
        DeviceMemoryError: one frame alone does not fit.
    """
    graded: list[Tensor] = []
    while len(graded) < len(frames):
        start = len(graded)
        state = smoother.state if smoother is not None else None
        try:
            chunk = slice(start, start + batch_size)
            graded.extend(grade_batch(grade, frames[chunk], cfg, smoother, links[chunk]).cpu())
            continue
        except torch.cuda.OutOfMemoryError:
            if smoother is not None:
                smoother.state = state  # the retried frames must see the same predecessor
        # Out of the except block, so the failed batch's tensors are freed first.
        torch.cuda.empty_cache()
        if batch_size == 1:
            hint = f"pass a smaller --tile (now {cfg.tile})" if cfg.native else "use --device cpu"
            raise DeviceMemoryError(
                f"out of GPU memory grading one {frames.shape[-1]}x{frames.shape[-2]} frame; {hint}"
            )
        batch_size //= 2
    return torch.stack(graded), batch_size


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def activation_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The network's activation dtype for ``precision`` on ``device``.

    Raises:
        InputError: a half type asked for on the CPU.
    """
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtype = _DTYPES[precision]
    if dtype != torch.float32 and device.type == "cpu":
        raise InputError(f"precision {precision}: half precision is for a GPU; use fp32 or auto on the CPU")
    return dtype

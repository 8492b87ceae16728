"""Bake a look into a 3D LUT, and measure how much of the look the LUT carries.

A look is a network that sees the whole frame, so it may treat one colour
differently in different places (a sky darker at the top, a face warmer than a
wall of the same hue); a 3D LUT maps each colour to one colour everywhere.
`bake` runs the look over a few frames exactly as `hrstyle apply` does
(`render.grade_batch`, the guided path), fits a LUT to the (input → output)
pixel pairs (`lut.fit_lut`), and reports how closely the LUT reproduces the
look on those frames (`Capture`), so the colorist knows whether the .cube is
the look or only its global part.

Frames are graded in the look's working encoding (colour.py: display-referred
sRGB; scene-linear EXR is encoded first), so the LUT maps that encoding to
itself. Outputs are clipped to [0,1] before fitting and comparing: that is what
integer deliveries show, and it keeps the table inside a sane range where the
network overshoots in deep shadows or highlights.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, OutputError, ShapeError
from ..io.atomic import check_writable
from ..io.stills import read_image
from ..io.tensors import to_pixels, to_tensor
from ..look.file import Look, load_look
from ..look.meta import LOOK_SUFFIX
from ..look.tune import working_pixels
from ..score.metrics import StillScorer
from .config import BakeCfg, RenderCfg
from .cube import CUBE_SUFFIX, write_cube
from .lut import Lut3D, apply_lut
from .lut_fit import fit_lut
from .steps import grade_batch, prepare_look

# `Capture.captured` at or above which a look reads as global, and below which as mostly local.
GLOBAL_CAPTURE, LOCAL_CAPTURE = 0.95, 0.75


@dataclass(frozen=True)
class Capture:
    """How closely a LUT reproduces a look on the bake's frames. Pixels are RGB in [0,1]
    (clipped); ``rmse``, ``max_abs`` and ``look_rmse`` are in those units."""

    frames: int
    rmse: float  # LUT output vs the network's
    max_abs: float  # the largest difference of any channel of any pixel
    look_rmse: float  # the network's output vs its input: how far the look moves pixels
    style_gap_network: float | None = None  # docs/metrics.md style_gap to the look image, mean over frames
    style_gap_lut: float | None = None

    @property
    def psnr(self) -> float:
        """LUT vs network, in dB (inf when identical)."""
        return math.inf if self.rmse == 0 else -20 * math.log10(self.rmse)

    @property
    def captured(self) -> float:
        """The share of the look's change (in squared error) the LUT reproduces: 1 - (rmse / look_rmse)²."""
        return 1.0 if self.look_rmse == 0 else 1 - (self.rmse / self.look_rmse) ** 2

    def verdict(self) -> str:
        """One plain sentence on whether the .cube carries the look."""
        share = f"{max(self.captured, 0):.0%}"
        if self.captured >= GLOBAL_CAPTURE:
            return f"This look is mostly global: the LUT reproduces {share} of its change, so the .cube is the look."
        if self.captured >= LOCAL_CAPTURE:
            return (
                f"This look is largely global with local parts: the LUT reproduces {share} of its change; "
                "what depends on where a colour sits in the frame needs the look file (hrstyle apply)."
            )
        return (
            f"This look is mostly local: a LUT reproduces only {share} of its change; "
            "apply the look file with hrstyle apply rather than the .cube."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "psnr": self.psnr, "captured": self.captured, "verdict": self.verdict()}


@dataclass(frozen=True)
class BakeResult:
    lut: Lut3D
    capture: Capture
    cfg: BakeCfg
    seconds: float
    path: Path | None = None  # where `bake_files` wrote the .cube


def bake(
    look: Look,
    frames: Sequence[Tensor],
    cfg: BakeCfg = BakeCfg(),
    render_cfg: RenderCfg = RenderCfg(),
    *,
    look_image: np.ndarray | None = None,
    title: str = "",
) -> BakeResult:
    """Fit a LUT to ``look`` run over ``frames`` ((1,3,H,W) float32 each, in the working
    encoding; any sizes) and measure it (`Capture`). With ``look_image`` ((H,W,3) RGB in
    [0,1]), the capture includes the style gaps of the network's and the LUT's outputs.

    Raises:
        InputError: no frames, or a bad frame shape.
    """
    start = time.perf_counter()
    if not frames:
        raise InputError("bake: expected at least one frame to run the look over")
    for frame in frames:
        if frame.ndim != 4 or frame.shape[:2] != (1, 3) or frame.dtype != torch.float32:
            raise ShapeError(f"frames: expected float32 (1,3,H,W) each, got {frame.dtype} {tuple(frame.shape)}")
    look = prepare_look(look, render_cfg)
    graded = [grade_batch(look, frame, render_cfg).cpu().clamp(0, 1) for frame in frames]
    generator = torch.Generator().manual_seed(cfg.seed)
    pairs = [_sample(frame, out, cfg.samples_per_frame, generator) for frame, out in zip(frames, graded)]
    lut = fit_lut(
        torch.cat([x for x, _ in pairs]),
        torch.cat([y for _, y in pairs]),
        cfg.size,
        cfg.smoothness,
        reach=cfg.reach,
        method=cfg.method,
        title=title,
    )
    capture = measure_capture(lut, frames, graded, cfg.method, look_image)
    return BakeResult(lut, capture, cfg, time.perf_counter() - start)


def _sample(frame: Tensor, graded: Tensor, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(count,3) input and output RGB of random pixels (with replacement; every pixel if fewer)."""
    x, y = frame.reshape(3, -1), graded.reshape(3, -1)
    pixels = x.shape[1]
    if pixels > count:
        index = torch.randint(pixels, (count,), generator=generator)
        x, y = x[:, index], y[:, index]
    return x.T, y.T


def measure_capture(
    lut: Lut3D,
    frames: Sequence[Tensor],
    graded: Sequence[Tensor],
    method: str = "tetrahedral",
    look_image: np.ndarray | None = None,
) -> Capture:
    """`Capture` of ``lut`` against the network's outputs ``graded`` (clipped to [0,1]) of ``frames``,
    all (1,3,H,W) float32."""
    squared = moved = max_abs = 0.0
    pixels = 0
    gaps: list[tuple[float, float]] = []
    for frame, net in zip(frames, graded):
        source = frame.clamp(0, 1)
        out = apply_lut(lut, source, method).clamp_(0, 1)
        squared += float((out - net).square().sum())
        moved += float((net - source).square().sum())
        max_abs = max(max_abs, float((out - net).abs().max()))
        pixels += net.numel()
        if look_image is not None:
            scorer = StillScorer(to_pixels(source), look_image)
            gaps.append((scorer.style_gap(to_pixels(net)).value, scorer.style_gap(to_pixels(out)).value))
    gap_net, gap_lut = (float(np.mean(g)) for g in zip(*gaps)) if gaps else (None, None)
    return Capture(len(frames), math.sqrt(squared / pixels), max_abs, math.sqrt(moved / pixels), gap_net, gap_lut)


def default_cube_path(look_path: str | Path) -> Path:
    """``teal.look.safetensors`` -> ``teal.cube`` beside it."""
    look_path = Path(look_path)
    stem = look_path.name.removesuffix(LOOK_SUFFIX) if look_path.name.endswith(LOOK_SUFFIX) else look_path.stem
    return look_path.with_name(stem + CUBE_SUFFIX)


def bake_files(
    look_path: str | Path,
    frame_paths: Sequence[str | Path],
    out: str | Path | None = None,
    cfg: BakeCfg = BakeCfg(),
    render_cfg: RenderCfg = RenderCfg(),
    *,
    look_image: str | Path | None = None,
    overwrite: bool = False,
) -> BakeResult:
    """Read a look file and frames, `bake`, and write the .cube to ``out`` (atomically;
    default `default_cube_path`). This is what `hrstyle bake` runs.

    Raises:
        OutputError: ``out`` exists (without ``overwrite``) or cannot be written; checked first.
        LookFormatError, ImageReadError: an unreadable look file or frame.
    """
    look_path = Path(look_path)
    out = Path(out) if out is not None else default_cube_path(look_path)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists; pass --force to overwrite it or -o to choose another name")
    check_writable(out)
    look = load_look(look_path)
    frames = [to_tensor(working_pixels(read_image(path))) for path in frame_paths]
    reference = np.clip(working_pixels(read_image(look_image)), 0, 1) if look_image is not None else None
    title = "hrstyle " + " ".join(look_path.name.split()).replace('"', "'")  # a .cube title is one quoted line
    result = bake(look, frames, cfg, render_cfg, look_image=reference, title=title)
    write_cube(out, result.lut)
    return replace(result, path=out)

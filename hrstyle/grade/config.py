"""RenderCfg: how frames are graded (path, precision, guided fit, smoothing, colour space), checked once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import InputError
from ..look.config import MIN_SIDE

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

INTERPOLATIONS = ("tetrahedral", "trilinear")

COLORSPACES = ("auto", "none", "linear", "acescg")

FlowMethod = Literal["dis", "farneback"]

DEFAULT_SMOOTHNESS = 1e-4

DEFAULT_REACH = 0.25


@dataclass(frozen=True)
class SmoothCfg:
    """Flow-guided temporal smoothing of a look's colour transform."""

    strength: float = 0.5  # 0 = off; weight of the previous frame's transform where the flow is trusted
    flow: FlowMethod = "dis"
    cut_fraction: float = 0.4  # fewer trusted pixels than this: a scene cut, start afresh

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"--smooth {self.strength}: expected a value from 0 to 1")
        if self.flow not in ("dis", "farneback"):
            raise InputError(f"--flow {self.flow}: expected dis or farneback")


@dataclass(frozen=True)
class RenderCfg:
    """How frames are graded. The fields `pixel_options` lists change pixels; the rest is speed."""

    batch_size: int | None = None  # None: 1 on the CPU, by free memory on CUDA (see auto_batch_size)
    native: bool = False  # the network at full resolution in tiles instead of the guided carry
    tile: int = 512  # --native: tile side in pixels before padding; 0 = the whole frame
    tile_pad: int = 32  # --native: overlap added on each side, cross-faded
    # The guided fit runs at the work size, so its window is measured there, as
    # 1/64 of the long side (8 px at the default 512, never under 2) when None.
    # On sample_frames with a look tuned at 256 px, r=4 carries the network's
    # output within 31 dB at the work size without artefacts; r=1 speckles flat
    # areas with colour, and r=8 gives up 2 dB along edges.
    radius: int | None = None
    # Ridge on the fit's slopes. The residual (output - input) is fitted, so eps
    # pulls flat windows towards "change by a constant", never towards flattening
    # the input. 1e-3 halves the slopes where the local standard deviation is
    # 0.03 (8 code values): below that the network's change is mostly an offset.
    eps: float = 1e-3
    smooth: SmoothCfg = SmoothCfg(strength=0.0)  # flow-guided temporal smoothing; strength 0 = off
    colorspace: str = "auto"  # frames' encoding (colour.COLORSPACES): auto = EXR is scene-linear Rec.709
    interpolation: str = "tetrahedral"  # grading with a LUT: lut.INTERPOLATIONS; unused with a look
    precision: str = "auto"  # network activations: auto = bf16/fp16 on CUDA, fp32 elsewhere
    compile: bool = False  # torch.compile the network; costs time before the first frame
    device: str = "auto"
    mix: float = 1.0  # the node mix: 0 leaves frames untouched, 1 is the full grade, between blends towards it
    style_weight: float | None = None  # the point of a conditional look's trade-off; None = the one it was tuned at

    def __post_init__(self) -> None:
        if self.batch_size is not None and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise InputError(f"batch size: expected an integer >= 1, got {self.batch_size!r}")
        if self.tile != 0 and self.tile < 2 * MIN_SIDE:
            raise InputError(f"tile: expected 0 (whole frame) or at least {2 * MIN_SIDE} px, got {self.tile}")
        if self.tile_pad < 0:
            raise InputError(f"tile padding: expected >= 0 px, got {self.tile_pad}")
        if self.radius is not None and not (isinstance(self.radius, int) and self.radius >= 1):
            raise InputError(f"guided radius: expected an integer >= 1, got {self.radius!r}")
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise InputError(f"guided eps: expected a number > 0, got {self.eps!r}")
        if self.native and self.smooth.strength > 0:
            raise InputError("--smooth works on the guided path's colour transform; drop --native or --smooth")
        if self.colorspace not in COLORSPACES:
            raise InputError(f"--colorspace {self.colorspace}: expected one of {', '.join(COLORSPACES)}")
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(f"LUT interpolation {self.interpolation!r}: expected one of {', '.join(INTERPOLATIONS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if not 0.0 <= self.mix <= 1.0:
            raise InputError(f"--mix {self.mix}: expected a value from 0 (untouched) to 1 (the full grade)")
        if self.style_weight is not None and not (self.style_weight > 0 and math.isfinite(self.style_weight)):
            raise InputError(f"--style-weight {self.style_weight}: expected a number > 0")


@dataclass(frozen=True)
class BakeCfg:
    """How a look becomes a LUT."""

    size: int = 33  # lattice points per axis: 33 is the grading apps' usual, 65 finer
    smoothness: float = DEFAULT_SMOOTHNESS  # see lut.fit_lut
    reach: float = DEFAULT_REACH
    method: str = "tetrahedral"  # the interpolation the LUT is fitted for and measured with
    samples_per_frame: int = 1 << 18  # random pixel pairs per frame for the fit (all, if fewer)
    seed: int = 0  # which pixels; the same seed and frames give the same LUT

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and 3 <= self.size <= 129):
            raise InputError(f"LUT size: expected 3 to 129 points per axis (33 or 65 usually), got {self.size!r}")
        if self.method not in INTERPOLATIONS:
            raise InputError(f"interpolation {self.method!r}: expected one of {', '.join(INTERPOLATIONS)}")
        if not (isinstance(self.samples_per_frame, int) and self.samples_per_frame >= 1):
            raise InputError(f"samples per frame: expected an integer >= 1, got {self.samples_per_frame!r}")

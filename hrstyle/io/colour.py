"""The encoding the network sees, and the conversions of scene-linear frames into and out of it.

A look is tuned on display-referred stills (sRGB-encoded PNG/JPEG/TIFF), so
that is its working encoding. Integer frames (PNG, TIFF, DPX, JPEG) are taken
as already in it. Float EXR frames are scene-linear: on the way in they are
encoded with the sRGB transfer function (extended past 0 and 1, so highlights
above 1 and negative values survive the round trip), and decoded back on the
way out, so a graded EXR is scene-linear again. ACEScg frames are first taken
from AP1 to Rec.709 primaries.

`WorkingEncoding.to_working` / `from_working` are the only colour conversions
in hrstyle; frames.py owns dtype and range, this module owns the transfer
function and primaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..grade.config import COLORSPACES

# AP1 (ACEScg) → linear Rec.709, both D60→D65 adapted as in the ACES reference
# (Bradford), the matrix OpenColorIO's ACES configs use.
_AP1_TO_709 = np.array(
    [
        [1.70505, -0.62179, -0.08326],
        [-0.13026, 1.14080, -0.01055],
        [-0.02400, -0.12897, 1.15297],
    ],
    dtype=np.float32,
)
_709_TO_AP1 = np.linalg.inv(_AP1_TO_709.astype(np.float64)).astype(np.float32)


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """float32 pixels as a tensor sharing their memory (a copy only of read-only arrays).
    The curves run in float32 torch on every core: numpy's float64 pow cost more than
    the network on a 1080p EXR frame."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy())


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB OETF, mirrored below 0 and continued above 1. float32 in, float32 out."""
    x = _tensor(linear)
    a = x.abs()
    p = a.pow(1 / 2.4)
    # 1.055·p − 0.055 written so that 1.0 stays exactly 1.0 in float32
    y = torch.where(a <= 0.0031308, a * 12.92, p.sub(1).mul_(0.055).add_(p))
    return y.copysign_(x).numpy()


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """The inverse of `srgb_encode`."""
    y = _tensor(encoded)
    a = y.abs()
    x = torch.where(a <= 0.04045, a / 12.92, a.add(0.055).div_(1.055).pow_(2.4))
    return x.copysign_(y).numpy()


def _mix(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (_tensor(pixels) @ torch.from_numpy(matrix.T)).numpy()


@dataclass(frozen=True)
class WorkingEncoding:
    """How frames of one shot reach the network's encoding: ``"none"``, ``"linear"`` or ``"acescg"``."""

    source: str = "none"

    def to_working(self, pixels: np.ndarray) -> np.ndarray:
        """(H,W,3) float32 as read → the look's working encoding."""
        if self.source == "none":
            return pixels
        linear = _mix(pixels, _AP1_TO_709) if self.source == "acescg" else pixels
        return srgb_encode(linear)

    def from_working(self, pixels: np.ndarray) -> np.ndarray:
        """The inverse of `to_working`, for writing a graded frame."""
        if self.source == "none":
            return pixels
        linear = srgb_decode(pixels)
        return _mix(linear, _709_TO_AP1) if self.source == "acescg" else linear


def working_encoding(choice: str, bit_depth: str) -> WorkingEncoding:
    """Resolve ``--colorspace`` for a shot whose frames have ``bit_depth``.

    ``auto``: float frames (EXR half/float) are scene-linear Rec.709, integer
    frames are already display-encoded.
    """
    if choice not in COLORSPACES:
        raise InputError(f"--colorspace {choice}: expected one of {', '.join(COLORSPACES)}")
    if choice == "auto":
        return WorkingEncoding("linear" if bit_depth in ("half", "float") else "none")
    return WorkingEncoding(choice)

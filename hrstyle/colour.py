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

from .errors import InputError

COLORSPACES = ("auto", "none", "linear", "acescg")

# AP1 (ACEScg) → linear Rec.709, both D60→D65 adapted as in the ACES reference
# (Bradford), the matrix OpenColorIO's ACES configs use.
_AP1_TO_709 = np.array([
    [1.70505, -0.62179, -0.08326],
    [-0.13026, 1.14080, -0.01055],
    [-0.02400, -0.12897, 1.15297],
], dtype=np.float64)
_709_TO_AP1 = np.linalg.inv(_AP1_TO_709)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB OETF, mirrored below 0 and continued above 1. float32 in, float32 out."""
    x = np.abs(linear.astype(np.float64))
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return (np.sign(linear) * y).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """The exact inverse of `srgb_encode`."""
    y = np.abs(encoded.astype(np.float64))
    x = np.where(y <= 0.04045, y / 12.92, np.power((y + 0.055) / 1.055, 2.4))
    return (np.sign(encoded) * x).astype(np.float32)


def _mix(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float64) @ matrix.T).astype(np.float32)


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

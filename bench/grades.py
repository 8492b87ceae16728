"""A library of parametric grades with fixed parameters: the looks of the ground-truth benchmark (bench/truth.py).

Each grade is a pure numpy function of an (H,W,3) float32 sRGB image in [0,1]
returning the same, the kind of grade a colorist builds: seven global ones
(a function of the colour alone) and six local ones (of colour and position).
Because the grade is known, the right answer for any content frame X is G(X).

Positions are normalised, x from 0 (left) to 1 (right) and y from 0 (top) to 1
(bottom), so a position-dependent grade applies to any frame size and follows
the frame, not the scene, as a colorist's window does. Distances are measured
in units of the frame's half-diagonal, aspect-correct.

`teal_orange` is the float form of the sample look, `make_sample.grade_look`
without its 8-bit rounding.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_frames"))
from make_sample import luma, s_curve, saturate, split_tone  # noqa: E402  the sample look's own primitives

Grade = Callable[[np.ndarray], np.ndarray]  # (H,W,3) float32 RGB [0,1] -> same


# ---------------------------------------------------------------- primitives


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB display values → linear light (the sRGB transfer function)."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((np.maximum(rgb, 0) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def to_display(lin: np.ndarray) -> np.ndarray:
    """Linear light → sRGB display values, clipped to [0,1]."""
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055).astype(np.float32)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 at ``edge0``, 1 at ``edge1`` (either order), the cubic Hermite ramp between."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def coords(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (x, y) of every pixel centre, each (H,W) in [0,1]."""
    h, w = rgb.shape[:2]
    x = (np.arange(w, dtype=np.float32) + 0.5) / w
    y = (np.arange(h, dtype=np.float32) + 0.5) / h
    return np.broadcast_to(x[None, :], (h, w)), np.broadcast_to(y[:, None], (h, w))


def distance(rgb: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """(H,W) distance of every pixel to the normalised point (cx, cy), in half-diagonals, aspect-correct."""
    h, w = rgb.shape[:2]
    x, y = coords(rgb)
    half_diag = 0.5 * np.hypot(w, h)
    return np.hypot((x - cx) * w, (y - cy) * h) / half_diag


def hue_chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees (0 red, 60 yellow, 120 green, 180 cyan, 240 blue, 300 magenta) and chroma (0..1)."""
    r, g, b = np.moveaxis(rgb, -1, 0)
    alpha, beta = r - 0.5 * (g + b), np.sqrt(3) / 2 * (g - b)
    return np.degrees(np.arctan2(beta, alpha)) % 360, np.hypot(alpha, beta)


def hue_key(rgb: np.ndarray, centre: float, width: float, min_chroma: float = 0.04) -> np.ndarray:
    """(H,W) soft key: 1 at hue ``centre``, falling to 0 at ± ``width`` degrees, faded out near neutral."""
    hue, chroma = hue_chroma(rgb)
    offset = np.abs((hue - centre + 180) % 360 - 180)
    return smoothstep(width, 0.0, offset) * smoothstep(0.0, min_chroma * 3, chroma - min_chroma)


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return a + weight[..., None] * (b - a)


# ---------------------------------------------------------------- global grades


def white_balance(rgb: np.ndarray) -> np.ndarray:
    """Warm white balance, as a tungsten setting under daylight: gains in linear light, green kept."""
    return to_display(to_linear(rgb) * np.float32([1.12, 1.0, 0.80]))


def exposure_contrast(rgb: np.ndarray) -> np.ndarray:
    """Half a stop up in linear light, then an S contrast curve on the display values."""
    return np.clip(s_curve(to_display(to_linear(rgb) * 2**0.5), 0.55), 0, 1)


def teal_orange(rgb: np.ndarray) -> np.ndarray:
    """The sample look: S curve, shadows to teal, highlights and skin to orange, +15% saturation."""
    x = split_tone(s_curve(rgb, 0.60), shadows=0.65, highlights=0.35)
    return np.clip(saturate(np.clip(x, 0, 1), 1.15), 0, 1)


def bleach_bypass(rgb: np.ndarray) -> np.ndarray:
    """Silver retained: half the saturation, the luminance laid over itself, dense blacks."""
    x = saturate(rgb, 0.5)
    y = luma(x)[..., None]
    overlay = np.where(x < 0.5, 2 * x * y, 1 - 2 * (1 - x) * (1 - y))
    return np.clip(s_curve(np.clip(0.4 * x + 0.6 * overlay, 0, 1), 0.5), 0, 1)


def cross_process(rgb: np.ndarray) -> np.ndarray:
    """Slide film in negative chemistry: red and green curves steepened, blue flattened and lifted."""
    r = s_curve(rgb[..., 0], 0.7)
    g = s_curve(rgb[..., 1], 0.4) * 0.96 + 0.03
    b = 0.12 + 0.68 * s_curve(rgb[..., 2], -0.5)
    return np.clip(saturate(np.stack([r, g, b], -1), 1.2), 0, 1)


def faded_film(rgb: np.ndarray) -> np.ndarray:
    """A faded print: lifted blacks, pulled whites, less saturation, green-cyan shadows, warm highlights."""
    x = 0.10 + 0.80 * saturate(rgb, 0.7)
    y = luma(rgb)[..., None]
    return np.clip(x + (1 - y) ** 2 * np.float32([-0.01, 0.03, 0.03]) + y**2 * np.float32([0.03, 0.01, -0.03]), 0, 1)


def day_for_night(rgb: np.ndarray) -> np.ndarray:
    """Moonlight: a third of the saturation, 1.5 stops down in linear light, blue, a little gamma."""
    lin = to_linear(saturate(rgb, 0.35)) * 2**-1.5
    return to_display(lin * np.float32([0.70, 0.90, 1.35])) ** 1.1


# ---------------------------------------------------------------- local grades


def shadows_keyed(rgb: np.ndarray) -> np.ndarray:
    """A luma key on the shadows (full below luma 0.15, none above 0.5): lifted and cooled towards teal."""
    key = smoothstep(0.5, 0.15, luma(rgb))
    return np.clip(rgb + key[..., None] * np.float32([-0.02, 0.05, 0.11]), 0, 1)


def skies_bluer(rgb: np.ndarray) -> np.ndarray:
    """A hue key on blues and cyans (centre 215°, ± 50°): deeper, more saturated, bent towards blue."""
    graded = saturate(rgb * np.float32([0.85, 0.92, 1.05]), 1.4)
    return np.clip(_mix(rgb, np.clip(graded, 0, 1), hue_key(rgb, 215, 50)), 0, 1)


def skin_warmer(rgb: np.ndarray) -> np.ndarray:
    """A hue key on skin and orange tones (centre 25°, ± 40°): warmer, more saturated and a little brighter."""
    graded = saturate(rgb * np.float32([1.12, 1.0, 0.80]) + 0.02, 1.25)
    return np.clip(_mix(rgb, np.clip(graded, 0, 1), hue_key(rgb, 25, 40)), 0, 1)


def vignette(rgb: np.ndarray) -> np.ndarray:
    """Corners about 60% darker in linear light, from a quarter of the half-diagonal out, warm at the edge."""
    fall = smoothstep(0.25, 1.0, distance(rgb, 0.5, 0.5))[..., None]
    gain = 1 - fall * np.float32([0.55, 0.62, 0.70])
    return to_display(to_linear(rgb) * gain)


def graduated_filter(rgb: np.ndarray) -> np.ndarray:
    """A graduated ND with a cool tint over the top of the frame: full above y 0.15, none below y 0.6."""
    weight = smoothstep(0.6, 0.15, coords(rgb)[1])[..., None]
    return to_display(to_linear(rgb) * (1 - weight * np.float32([0.60, 0.50, 0.30])))


def relight_falloff(rgb: np.ndarray) -> np.ndarray:
    """A soft warm key from the upper left (at x 0.2, y 0.25): up to +0.6 stop there, −0.8 stop far away."""
    light = np.exp(-np.square(distance(rgb, 0.2, 0.25)) / (2 * 0.45**2))[..., None]
    stops = -0.8 + 1.4 * light
    warm = 1 + light * np.float32([0.08, 0.0, -0.15])
    return to_display(to_linear(rgb) * 2**stops * warm)


GLOBAL: tuple[Grade, ...] = (
    white_balance,
    exposure_contrast,
    teal_orange,
    bleach_bypass,
    cross_process,
    faded_film,
    day_for_night,
)
LOCAL: tuple[Grade, ...] = (shadows_keyed, skies_bluer, skin_warmer, vignette, graduated_filter, relight_falloff)

GRADES: dict[str, Grade] = {g.__name__: g for g in (*GLOBAL, *LOCAL)}


def apply(name: str, rgb: np.ndarray) -> np.ndarray:
    """``GRADES[name]`` of an (H,W,3) RGB [0,1] image, as float32 clipped to [0,1]."""
    return np.clip(GRADES[name](np.asarray(rgb, np.float32)), 0, 1).astype(np.float32)

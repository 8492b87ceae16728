"""How close a grade lands to a known truth, and whether one colour gets one treatment:
ΔE2000 to the truth and colour_incoherence (docs/metrics.md).

Same conventions as metrics.py: images are numpy (H,W,3) float32 RGB in [0,1];
the output is first resized to the content's (or the truth's) size, then both
to 512 px on the long side with cv2.INTER_AREA.

CIEDE2000 is computed here in numpy (Sharma, Wu and Dalal 2005), so hrstyle
needs no scikit-image at run time; tests/score/test_truth.py holds it to
scikit-image's ``deltaE_ciede2000``.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .prepare import prepare_pair

# ---------------------------------------------------------------- CIELAB, CIEDE2000


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) float RGB [0,1] (sRGB) → CIELAB with OpenCV: L* 0..100, a*, b* about ±127. float32."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of two (..., 3) CIELAB arrays, per element.

    The formula of Sharma, Wu and Dalal (2005), vectorised; computed in float64.
    """
    lab1, lab2 = np.broadcast_arrays(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64))
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)

    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    # arctan2(0, 0) is 0, the convention for a neutral colour.
    h1p, h2p = np.arctan2(b1, a1p) % (2 * np.pi), np.arctan2(b2, a2p) % (2 * np.pi)
    chromatic = c1p * c2p != 0

    dL, dC = L2 - L1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > np.pi, dh - 2 * np.pi, np.where(dh < -np.pi, dh + 2 * np.pi, dh))
    dh = np.where(chromatic, dh, 0.0)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(dh / 2)

    L_bar, c_bar_p = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= np.pi,
        h_sum / 2,
        np.where(h_sum < 2 * np.pi, (h_sum + 2 * np.pi) / 2, (h_sum - 2 * np.pi) / 2),
    )
    h_bar = np.where(chromatic, h_bar, h_sum)

    t = (
        1
        - 0.17 * np.cos(h_bar - np.radians(30))
        + 0.24 * np.cos(2 * h_bar)
        + 0.32 * np.cos(3 * h_bar + np.radians(6))
        - 0.20 * np.cos(4 * h_bar - np.radians(63))
    )
    d_theta = np.radians(30) * np.exp(-(((np.degrees(h_bar) - 275) / 25) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    l50 = (L_bar - 50) ** 2
    s_l = 1 + 0.015 * l50 / np.sqrt(20 + l50)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(2 * d_theta) * r_c

    l_term, c_term, h_term = dL / s_l, dC / s_c, dH / s_h
    return np.sqrt(np.maximum(l_term**2 + c_term**2 + h_term**2 + r_t * c_term * h_term, 0.0))


class DeltaE(NamedTuple):
    """ΔE2000 to the truth at 512 px: the mean and the 95th percentile over pixels."""

    mean: float
    p95: float


def delta_e2000_map(output: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 of ``output`` to ``truth`` at 512 px (the truth's framing), (h,w) float64."""
    truth, output = prepare_pair(truth, output, ("truth", "output"))
    return ciede2000(to_lab(output), to_lab(truth))


def delta_e2000(output: np.ndarray, truth: np.ndarray) -> DeltaE:
    """ΔE2000 of ``output`` to ``truth`` (both (H,W,3) RGB [0,1]): (mean, p95) over pixels at 512 px.

    The output is resized to the truth's size first, then both to 512 px on the
    long side (area), converted to CIELAB with OpenCV and compared with CIEDE2000.
    """
    de = delta_e2000_map(output, truth)
    return DeltaE(float(de.mean()), float(np.percentile(de, 95)))


def share_recovered(output_de: float, untouched_de: float) -> float:
    """The share of the grade recovered: 1 − ΔE(output, truth) / ΔE(content, truth).

    1 = the truth reached, 0 = no closer than leaving the frame alone, < 0 =
    further. NaN where the grade changed nothing (``untouched_de`` is 0).
    """
    return 1.0 - output_de / untouched_de if untouched_de > 0 else float("nan")


# ---------------------------------------------------------------- colour_incoherence

INCOHERENCE_BIN_L, INCOHERENCE_BIN_AB, INCOHERENCE_MIN_PIXELS = 10.0, 8.0, 20


def colour_incoherence(content: np.ndarray, output: np.ndarray) -> float:
    """How differently one content colour is treated across the frame, in ΔE units (lower = more coherent).

    Both at 512 px in CIELAB (OpenCV). The content's pixels are binned by colour
    (L* in steps of 10, a* and b* in steps of 8); in every bin of at least 20
    pixels, the spread of the output's (a*, b*) is the root mean square distance
    to the bin's mean. Returns the pixel-weighted mean of those spreads (0 when
    no bin is that full).
    """
    content, output = prepare_pair(content, output)
    lab_in = to_lab(content).reshape(-1, 3).astype(np.float64)
    ab_out = to_lab(output).reshape(-1, 3)[:, 1:].astype(np.float64)
    keys = np.floor(lab_in / (INCOHERENCE_BIN_L, INCOHERENCE_BIN_AB, INCOHERENCE_BIN_AB)).astype(np.int64)
    _, bins = np.unique(keys, axis=0, return_inverse=True)
    bins = bins.reshape(-1)
    counts = np.bincount(bins)
    mean_ab = np.stack([np.bincount(bins, ab_out[:, k]) for k in range(2)], 1) / counts[:, None]
    sq_dist = np.square(ab_out - mean_ab[bins]).sum(1)
    spread = np.sqrt(np.bincount(bins, sq_dist) / counts)
    full = counts >= INCOHERENCE_MIN_PIXELS
    if not full.any():
        return 0.0
    return float((counts[full] * spread[full]).sum() / counts[full].sum())

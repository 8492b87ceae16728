"""Images brought to where every figure is measured: checked RGB in [0,1], 512 px on the long side.

Each figure first resizes the output to the content's size when they differ, then both to
`METRIC_LONG_SIDE` with cv2.INTER_AREA, so that every figure can be compared with every other.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError, ShapeError

METRIC_LONG_SIDE = 512


_MIN_SIDE = 16  # relu5_1 sits behind four 2x poolings


_RANGE_TOLERANCE = 1e-3  # float rounding in a [0,1] pipeline, not out-of-gamut values


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ShapeError(f"{name}: expected an (H,W,3) RGB array, got {shape}")
    image = image.astype(np.float32, copy=False)
    lo, hi = float(image.min()), float(image.max())
    if not (lo >= -_RANGE_TOLERANCE and hi <= 1 + _RANGE_TOLERANCE):  # also catches NaN
        raise InputError(f"{name}: expected RGB in [0,1], got values in [{lo:.4g}, {hi:.4g}]")
    return np.clip(image, 0.0, 1.0)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def to_metric_size(image: np.ndarray, name: str) -> np.ndarray:
    h, w = image.shape[:2]
    scale = METRIC_LONG_SIDE / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if min(size) < _MIN_SIDE:
        raise ShapeError(f"{name}: expected a short side >= {_MIN_SIDE} px at {METRIC_LONG_SIDE} px long, got {size}")
    return _resize(image, *size)


def prepare(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an (H,W,3) RGB [0,1] image and resize it to the metric size (512 px long side, area)."""
    return to_metric_size(check_image(image, name), name)


def prepare_pair(
    content: np.ndarray, output: np.ndarray, names: tuple[str, str] = ("content", "output")
) -> tuple[np.ndarray, np.ndarray]:
    """`prepare` both, with the output first resized to the content's size."""
    content = check_image(content, names[0])
    output = _resize(check_image(output, names[1]), *content.shape[:2])
    return to_metric_size(content, names[0]), to_metric_size(output, names[1])

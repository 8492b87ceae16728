"""Labelled contact sheets: a grid of images with a caption on each cell."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    return cv2.resize(np.clip(image, 0.0, 1.0).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def _caption(cell: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` (lines split on newlines) in the top-left corner of ``cell``."""
    lines = text.splitlines()
    if not lines:
        return cell
    scale = max(0.35, cell.shape[1] / 640)
    sizes = [cv2.getTextSize(line, _FONT, scale, 1) for line in lines]
    ascent, descent = max(h for (_, h), _ in sizes), max(base for _, base in sizes)
    step = ascent + descent + 4
    out = cell.copy()
    out[: step * len(lines) + 4, : max(w for (w, _), _ in sizes) + 10] *= 0.35  # darken so the text reads on any image
    ink = np.zeros(cell.shape[:2], np.uint8)  # OpenCV draws text on 8-bit images only
    for i, line in enumerate(lines):
        cv2.putText(ink, line, (5, i * step + ascent + 4), _FONT, scale, 255, 1, cv2.LINE_AA)
    alpha = ink[..., None].astype(np.float32) / 255
    return out * (1 - alpha) + alpha


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray]],
    labels: Sequence[Sequence[str]] | None = None,
    cell_width: int = 320,
    gap: int = 4,
) -> np.ndarray:
    """Grid of (H,W,3) RGB [0,1] images, each resized to ``cell_width``; returns (H,W,3) float32.

    Cells in a row are top-aligned; short cells are padded with black.
    """
    if not rows or not all(rows):
        raise ValueError("contact_sheet needs at least one image in every row")
    labels = labels or [[""] * len(r) for r in rows]
    cols = max(len(r) for r in rows)
    rendered = []
    for row, row_labels in zip(rows, labels):
        cells = [_caption(_fit(im, cell_width), text) for im, text in zip(row, row_labels)]
        height = max(c.shape[0] for c in cells)
        strip = np.zeros((height, cols * cell_width + (cols - 1) * gap, 3), np.float32)
        for i, c in enumerate(cells):
            x = i * (cell_width + gap)
            strip[: c.shape[0], x : x + cell_width] = c
        rendered.append(strip)
    spacer = np.zeros((gap, rendered[0].shape[1], 3), np.float32)
    return np.concatenate([part for strip in rendered for part in (strip, spacer)][:-1], axis=0)

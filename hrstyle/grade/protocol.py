"""The Grade protocol: what frames are graded with, a look's network or a 3D LUT.

The render, bake, the farm and the demo hold a `Grade` and never ask which kind
it is: each kind says which options it refuses (`prepare`), which settings change
its pixels (`pixel_options`), which frames it can grade (`check_frame`) and how
(`grade`). `look.file.Look` and `lut.Lut3D` implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from .config import RenderCfg
from .steps import Link
from .temporal import CoefficientSmoother


class Grade(Protocol):
    @property
    def sha256(self) -> str:
        """What names this grade in a render's manifest: a look file's hash, a LUT's numbers'."""

    @property
    def device(self) -> torch.device:
        """Where `grade` runs."""

    def prepare(self, cfg: RenderCfg) -> Grade:
        """A copy ready to grade with ``cfg`` on its device.

        Raises:
            InputError: ``cfg`` asks for something this grade cannot do.
        """

    def pixel_options(self, cfg: RenderCfg) -> dict[str, Any]:
        """The settings of ``cfg`` that change this grade's pixels, as the manifest records them."""

    def check_frame(self, path: Path, height: int, width: int) -> None:
        """Raise ShapeError for a frame this grade cannot grade."""

    def grade(
        self, frames: Tensor, cfg: RenderCfg, smoother: CoefficientSmoother | None = None, links: Sequence[Link] = ()
    ) -> Tensor:
        """(B,3,H,W) float32 frames on `device` -> graded (B,3,H,W) float32, unclipped."""

"""`hrstyle demo`: tune a look on the bundled sample and show before and after.

Sized to finish in under three minutes on two CPU cores: a 256 px tune, then
the shot graded at full resolution through the same path `hrstyle apply` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .frames import FrameSpec, read_image, to_pixels, to_tensor, write_image
from .look import LOOK_SUFFIX, Look
from .sheet import contact_sheet
from .tune import StepCallback, TuneCfg, TuneResult, tune_files

DEMO_TUNE = TuneCfg(steps=150, size=256)


def samples_dir() -> Path:
    """The repository's sample_frames/ (hrstyle is installed editable from a clone)."""
    path = Path(__file__).resolve().parents[1] / "sample_frames"
    if not (path / "keyframe.png").is_file():
        raise InputError(f"{path}: sample frames not found; run hrstyle demo from a clone of the hrstyle repository")
    return path


@dataclass
class DemoResult:
    look_path: Path
    tune: TuneResult
    sheet_path: Path
    outputs: dict[str, Path] = field(default_factory=dict)


def _png(path: Path, pixels: np.ndarray) -> Path:
    h, w = pixels.shape[:2]
    write_image(path, pixels, FrameSpec("png", "uint8", w, h, False))
    return path


def run_demo(out_dir: str | Path = "hrstyle-demo", cfg: TuneCfg = DEMO_TUNE, *, device: torch.device | str = "cpu",
             on_step: StepCallback | None = None) -> DemoResult:
    """Tune on sample_frames/keyframe.png → look.jpg and write the look and a before/after sheet."""
    samples, out_dir = samples_dir(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keyframe, look_image = samples / "keyframe.png", samples / "look.jpg"
    look_path = out_dir / f"sample{LOOK_SUFFIX}"
    result, look = tune_files(keyframe, look_image, look_path, cfg, device=device, overwrite=True, on_step=on_step)
    before = read_image(keyframe).pixels
    graded = _grade_still(look, before, device)
    _png(out_dir / "keyframe_graded.png", graded)
    sheet = contact_sheet([[before, read_image(look_image).pixels, graded]],
                          [["keyframe", "look", "graded keyframe"]], cell_width=480)
    sheet_path = _png(out_dir / "contact_sheet.png", sheet)
    return DemoResult(look_path, result, sheet_path, {"keyframe_graded": out_dir / "keyframe_graded.png"})


@torch.no_grad()
def _grade_still(look: Look, pixels: np.ndarray, device: torch.device | str) -> np.ndarray:
    return to_pixels(look.net.to(device)(to_tensor(pixels).to(device)).clamp(0, 1))

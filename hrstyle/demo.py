"""`hrstyle demo`: tune a look on the bundled sample, grade the sample shot, show before and after.

Sized to finish in under three minutes on two CPU cores (bench/demo.py): a
quick 256 px tune, then the 24-frame 960×540 shot graded through exactly what
`hrstyle apply --smooth` runs (the network at the work size, carried to full resolution by the guided
affine fit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .grade.config import RenderCfg, SmoothCfg
from .grade.steps import grade_batch, prepare_look
from .io.shot import Shot, open_shot
from .io.stills import FrameSpec, read_image, write_image
from .io.tensors import to_pixels, to_tensor
from .io.video import VideoWriter
from .look.config import DEMO_TUNE, TuneCfg
from .look.meta import LOOK_SUFFIX
from .look.tune import StepCallback, TuneResult, tune_files
from .render.config import OutputCfg
from .render.run import RenderProgress, render_shot
from .score.sheet import contact_sheet

DEMO_RENDER = RenderCfg(smooth=SmoothCfg(strength=0.5))


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
    shot_dir: Path
    outputs: dict[str, Path] = field(default_factory=dict)


def _png(path: Path, pixels: np.ndarray) -> Path:
    h, w = pixels.shape[:2]
    write_image(path, pixels, FrameSpec("png", "uint8", w, h, False))
    return path


def run_demo(
    out_dir: str | Path = "hrstyle-demo",
    cfg: TuneCfg = DEMO_TUNE,
    render: RenderCfg = DEMO_RENDER,
    *,
    device: torch.device | str = "cpu",
    on_step: StepCallback | None = None,
    on_frame: Callable[[RenderProgress], None] | None = None,
) -> DemoResult:
    """Tune sample_frames/keyframe.png → look.jpg, grade sample_frames/shot, and write
    the look, the graded shot, a contact sheet and a side-by-side before/after video."""
    samples, out_dir = samples_dir(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keyframe, look_image = samples / "keyframe.png", samples / "look.jpg"
    look_path = out_dir / f"sample{LOOK_SUFFIX}"
    result, look = tune_files(keyframe, look_image, look_path, cfg, device=device, overwrite=True, on_step=on_step)

    render = replace(render, device=str(device))
    shot, shot_dir = open_shot(samples / "shot"), out_dir / "shot"
    # force: each demo run tunes a new look, so last run's frames are replaced, not resumed.
    render_shot(shot, look, shot_dir, render, OutputCfg(force=True), on_progress=on_frame)

    before = read_image(keyframe).pixels
    ready = prepare_look(look, render)
    graded = to_pixels(grade_batch(ready, to_tensor(before), render).clamp(0, 1).cpu())
    first, last = shot.frames[0], shot.frames[-1]
    pairs = [(read_image(ref.path).pixels, read_image(shot_dir / ref.path.name).pixels) for ref in (first, last)]
    sheet = contact_sheet(
        [[before, read_image(look_image).pixels, graded], [pairs[0][0], pairs[0][1], pairs[1][1]]],
        [
            ["keyframe", "look", "graded keyframe"],
            [f"frame {first.number} before", f"frame {first.number} after", f"frame {last.number} after"],
        ],
        cell_width=480,
    )
    outputs = {
        "graded_shot": shot_dir,
        "contact_sheet": _png(out_dir / "contact_sheet.png", sheet),
        "before_after": _side_by_side_video(shot, shot_dir, out_dir / "before_after.mp4"),
    }
    return DemoResult(look_path, result, shot_dir, outputs)


def _side_by_side_video(shot: Shot, graded_dir: Path, path: Path) -> Path:
    """Source | graded, one frame at a time (streamed), as H.264."""
    with VideoWriter(path, fps=24) as video:
        for ref, image in shot:
            video.write(np.concatenate([image.pixels, read_image(graded_dir / ref.path.name).pixels], axis=1))
    return path

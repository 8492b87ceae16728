"""Where a render's frames go: the output settings, the output folder and each frame's file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from ..grade.config import RenderCfg
from ..grade.protocol import Grade
from ..io.sequence import sequence_name
from ..io.shot import Shot, output_path_for
from ..io.video import VIDEO_EXTENSIONS
from ..look.meta import LOOK_SUFFIX
from .config import OutputCfg


def pixel_options(grade: Grade, cfg: RenderCfg, output: OutputCfg) -> dict[str, Any]:
    """The settings that change output pixels, as the manifest records them; ``grade``
    as `Grade.prepare` returns it, so the precision is the one it will run at."""
    mix = {"mix": cfg.mix} if cfg.mix != 1 else {}  # absent at 1, so renders from before --mix still resume
    return {**grade.pixel_options(cfg), **mix, "ext": output.ext, "bit_depth": output.bit_depth}


def default_output_dir(shot_source: str | Path, look_path: str | Path) -> Path:
    """``<shot>_<look-stem>/`` beside the shot: ``plates/`` -> ``plates_teal/``,
    ``plates/shot.%04d.exr`` -> ``plates/shot_teal/``, ``clip.mov`` -> ``clip_teal/``."""
    source, look_path = Path(os.path.abspath(shot_source)), Path(look_path)  # abspath: "." has no name
    look_name = look_path.name.removesuffix(LOOK_SUFFIX) if look_path.name.endswith(LOOK_SUFFIX) else look_path.stem
    shot_name = source.name if source.is_dir() else sequence_name(source) or source.parent.name
    return source.parent / f"{shot_name}_{look_name}"


@dataclass(frozen=True)
class Outputs:
    """Where each frame goes: one file per frame, or every frame into one ``video``."""

    paths: dict[int, Path]
    video: Path | None

    def files(self, numbers: list[int]) -> list[Path]:
        """The files that hold these frames."""
        if self.video is not None:
            return [self.video] if numbers else []
        return [self.paths[n] for n in numbers]


def plan_outputs(shot: Shot, out_dir: Path, output: OutputCfg) -> Outputs:
    """Each frame's output file in ``out_dir``: its input's name, or one video for all.

    Raises:
        OutputError: ``out_dir`` is the shot's own folder.
        InputError: a bit depth asked of a video output.
    """
    folder = shot.source if shot.source.is_dir() else shot.source.parent
    if out_dir.resolve() == folder.resolve():
        raise OutputError(
            f"{out_dir}: is the shot's own folder; hrstyle never writes into its input, choose another with -o"
        )
    suffix = output.suffix_for(shot)
    if suffix in VIDEO_EXTENSIONS:
        if output.bit_depth is not None:
            raise InputError(f"bit depth: {suffix} video is written at its codec's depth; drop --bit-depth")
        video = out_dir / f"{sequence_name(shot.pattern or shot.source) or shot.source.name}{suffix}"
        return Outputs({ref.number: video for ref in shot.frames}, video)
    return Outputs({ref.number: output_path_for(ref, shot, out_dir, suffix) for ref in shot.frames}, None)


def refuse_foreign_files(out_dir: Path, outputs: Outputs) -> None:
    existing = sorted({path for path in outputs.paths.values() if path.exists()})
    if existing:
        raise OutputError(
            f"{out_dir}: {len(existing)} file(s) this render would overwrite are not from an hrstyle render "
            f"(e.g. {existing[0].name}); choose a new folder with -o, or pass --force to overwrite them"
        )

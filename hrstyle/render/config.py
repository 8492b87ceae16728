"""The render's typed configs: what a render writes (`OutputCfg`) and how a farm spreads it (`FarmCfg`).

No torch here: the CLI reads these defaults for its --help without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError, OutputError
from ..io.stills import BIT_DEPTHS
from ..io.video import VIDEO_EXTENSIONS, VIDEO_OUTPUT_EXTENSIONS

if TYPE_CHECKING:
    from ..io.shot import Shot


@dataclass(frozen=True)
class OutputCfg:
    """What a render writes and what it does with what is already there.

    ``ext`` (``"exr"``, ``".PNG"``, ``"mov"``) is normalised to ``".exr"`` form, and
    both it and ``bit_depth`` are checked here, once, for `render_shot` and the farm.
    """

    ext: str | None = None  # None: each input's own format (.mov for a video)
    bit_depth: str | None = None  # None: each input's own depth
    skip_bad_frames: bool = False  # report unreadable frames and render the rest
    force: bool = False  # render from scratch over another render or other files
    dry_run: bool = False  # plan only: list the files, write nothing

    def __post_init__(self) -> None:
        if self.bit_depth is not None and self.bit_depth not in BIT_DEPTHS:
            raise InputError(f"bit depth {self.bit_depth!r}: expected one of {', '.join(BIT_DEPTHS)}")
        if self.ext:
            object.__setattr__(self, "ext", "." + self.ext.lstrip(".").lower())
        if self.ext in VIDEO_EXTENSIONS and self.ext not in VIDEO_OUTPUT_EXTENSIONS:
            raise OutputError(f"--ext {self.ext}: videos are written as .mov (ProRes 422 HQ) or .mp4 (H.264)")

    def suffix_for(self, shot: Shot) -> str | None:
        """The outputs' extension for ``shot``; None keeps each input's."""
        return self.ext or (DEFAULT_VIDEO_EXT if shot.is_video else None)


DEFAULT_VIDEO_EXT = ".mov"


@dataclass(frozen=True)
class FarmCfg:
    """How a render is spread over Ray."""

    chunk: int = 50  # frames per task
    address: str | None = None  # None: start a local Ray instance; "auto" or HOST:PORT: join a running cluster
    workers: int | None = None  # chunks rendered at once; None: as many as the cluster's resources fit
    gpus_per_task: float | None = None  # None: 1 where the cluster has a GPU, else 0 (render on the CPU)
    cpus_per_task: int = 1  # cores a task holds, and its torch threads
    max_retries: int = 3  # re-runs of a chunk whose worker died (never of one that raised)

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise InputError(f"--chunk {self.chunk}: expected at least 1 frame")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers {self.workers}: expected at least 1")
        if self.gpus_per_task is not None and self.gpus_per_task < 0:
            raise InputError(f"--gpus-per-task {self.gpus_per_task:g}: expected 0 or more")
        if self.cpus_per_task < 1:
            raise InputError(f"--cpus-per-task {self.cpus_per_task}: expected at least 1")
        if self.max_retries < 0:
            raise InputError(f"--retries {self.max_retries}: expected 0 or more")

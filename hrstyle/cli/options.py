"""Options that several commands share, defined once: the shot, and apply's and farm's render group.

`render_options` gives a command the whole group: typer sees each option, and the
command receives them as one `RenderOptions`, which builds the library's configs
and opens the shot and its grade.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, get_type_hints

import typer

from .app import OUTPUT, RENDERING, err, fail

if TYPE_CHECKING:
    from ..grade.config import RenderCfg
    from ..grade.protocol import Grade
    from ..io.shot import Shot
    from ..render.config import OutputCfg

ShotArg = Annotated[
    str,
    typer.Argument(
        help="The shot: a folder of frames, a pattern (shot.%04d.exr, shot.####.exr), a still or a video.",
        show_default=False,
    ),
]
FramesOpt = Annotated[
    Optional[str],
    typer.Option("--frames", help="Frames to render, keeping their numbers: 1001-1100, 1001-1100x2, 1001-1010,1020."),
]
SmoothOpt = Annotated[
    float,
    typer.Option(
        "--smooth",
        min=0.0,
        max=1.0,
        rich_help_panel=RENDERING,
        help="Temporal smoothing along the optical flow, 0 (off) to 1. Renders frames in order; with --frames it "
        "warms up on the frame before the range.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a summary as JSON on stdout.", rich_help_panel=OUTPUT)]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")]
VggOpt = Annotated[
    Optional[Path], typer.Option(help="A torchvision VGG19 state dict to use instead of the bundled Caffe VGG19.")
]


StyleWeightOpt = Annotated[
    Optional[float],
    typer.Option(
        "--style-weight",
        rich_help_panel=RENDERING,
        show_default=False,
        help="The point of a conditional look's content/style trade-off (tune --trade-off) to render, within "
        "its range: higher takes on more of the look. Default: the style weight it was tuned at.",
    ),
]


@dataclass(frozen=True)
class RenderOptions:
    """apply's and farm's shared options, as given on the command line."""

    shot: ShotArg
    look: Annotated[
        Optional[Path],
        typer.Option(
            "--look",
            "-l",
            show_default=False,
            help="The look file to apply, from hrstyle tune. Default: the one *.look.safetensors in the shot's folder "
            "(or beside a video or pattern).",
        ),
    ] = None
    lut: Annotated[
        Optional[Path],
        typer.Option(
            "--lut",
            show_default=False,
            help="A 3D .cube LUT to apply instead of a look (from hrstyle bake or any grading app).",
        ),
    ] = None
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o", "--output", rich_help_panel=OUTPUT, help="Output folder. Default: <shot>_<look>/ beside the shot."
        ),
    ] = None
    frames: FramesOpt = None
    ext: Annotated[
        Optional[str],
        typer.Option(
            "--ext",
            rich_help_panel=OUTPUT,
            help="Output format: exr, png, tif, dpx, jpg, or mov/mp4 for a video. Default: the input's "
            "(.mov for a video).",
        ),
    ] = None
    bit_depth: Annotated[
        Optional[str],
        typer.Option(
            "--bit-depth",
            rich_help_panel=OUTPUT,
            help="Output bit depth: uint8, uint10, uint12, uint16, half or float. Default: the input's.",
        ),
    ] = None
    skip_bad_frames: Annotated[
        bool, typer.Option("--skip-bad-frames", help="Skip and report unreadable frames instead of stopping.")
    ] = False
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            rich_help_panel=OUTPUT,
            help="Render from scratch into a folder that holds another render or other files.",
        ),
    ] = False
    as_json: JsonOpt = False
    smooth: SmoothOpt = 0.0
    colorspace: Annotated[
        str,
        typer.Option(
            "--colorspace",
            rich_help_panel=RENDERING,
            help="What the frames hold: auto (EXR = scene-linear Rec.709, others display-encoded), linear, acescg or "
            "none. Scene-linear frames are sRGB-encoded for the look and decoded back on output.",
        ),
    ] = "auto"
    flow: Annotated[
        str, typer.Option("--flow", rich_help_panel=RENDERING, help="Optical flow for --smooth: dis or farneback.")
    ] = "dis"
    native: Annotated[
        bool,
        typer.Option(
            "--native",
            rich_help_panel=RENDERING,
            help="Run the network at full resolution in tiles (the slow reference) instead of carrying the "
            "work-size grade up.",
        ),
    ] = False
    tile: Annotated[
        Optional[int],
        typer.Option(
            "--tile",
            min=0,
            rich_help_panel=RENDERING,
            help="Tile side for --native, in pixels (0: the whole frame); smaller needs less GPU memory.",
        ),
    ] = None
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            "--batch-size",
            min=1,
            rich_help_panel=RENDERING,
            help="Frames per batch. Default: 1 on the CPU, by free memory on a GPU.",
        ),
    ] = None
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=RENDERING)] = "auto"
    precision: Annotated[
        str,
        typer.Option(
            rich_help_panel=RENDERING, help="Network precision: auto (bf16 on CUDA, else fp32), fp32, bf16 or fp16."
        ),
    ] = "auto"
    compile_net: Annotated[
        bool,
        typer.Option(
            "--compile",
            rich_help_panel=RENDERING,
            help="torch.compile the network first: pays off on long shots on a GPU.",
        ),
    ] = False
    engine: Annotated[
        Optional[str],
        typer.Option(
            "--engine",
            rich_help_panel=RENDERING,
            help="network: the look file's network (--look); lut: a 3D LUT (--lut), every pixel through the table, "
            "8K in well under a second. Default: lut when --lut is given, else network.",
        ),
    ] = None
    mix: Annotated[
        float,
        typer.Option(
            "--mix",
            min=0.0,
            max=1.0,
            rich_help_panel=RENDERING,
            help="The node mix: 0 leaves the frames untouched, 1 is the full look (or LUT), 0.5 half of it.",
        ),
    ] = 1.0
    style_weight: StyleWeightOpt = None
    interpolation: Annotated[
        str,
        typer.Option(
            "--interpolation",
            rich_help_panel=RENDERING,
            help="How --engine lut interpolates the table: tetrahedral or trilinear (the default of OCIO and Resolve).",
        ),
    ] = "tetrahedral"

    def render_cfg(self) -> RenderCfg:
        from ..grade.config import RenderCfg, SmoothCfg

        return RenderCfg(
            native=self.native,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
            smooth=SmoothCfg(strength=self.smooth, flow=self.flow),
            colorspace=self.colorspace,
            interpolation=self.interpolation,
            compile=self.compile_net,
            mix=self.mix,
            style_weight=self.style_weight,
            **({"tile": self.tile} if self.tile is not None else {}),
        )

    def output_cfg(self, dry_run: bool = False) -> OutputCfg:
        from ..render.config import OutputCfg

        return OutputCfg(self.ext, self.bit_depth, self.skip_bad_frames, self.force, dry_run)

    def open(self) -> tuple[Shot, Grade, Path]:
        """The shot (warning about gaps), the look or LUT to grade it with, and the output folder."""
        from ..grade.cube import read_cube
        from ..io.sequence import format_frame_range
        from ..io.shot import open_shot
        from ..look.file import load_look
        from ..render.output import default_output_dir

        engine, grade_file = self._engine_file()
        target = self.output or default_output_dir(self.shot, grade_file)
        source = open_shot(self.shot, self.frames)
        if self.frames is None and source.gaps:  # often a failed copy upstream: say so, then render what is there
            err.print(
                f"warning: frames {format_frame_range(source.gaps)} are missing from {source.pattern}; "
                f"rendering the {len(source)} there are under their own numbers",
                markup=False,
            )
        grade = read_cube(grade_file) if engine == "lut" else load_look(grade_file)
        return source, grade, target

    def _engine_file(self) -> tuple[str, Path]:
        """The engine to grade with and its file: --engine, --look and --lut, else the shot's own look file."""
        from ..look.meta import find_look

        engine = self.engine or ("lut" if self.lut is not None else "network")
        if engine not in ("network", "lut"):
            fail(f"--engine {engine}: expected network or lut", 2)
        chosen, other, flag = (self.lut, self.look, "--look") if engine == "lut" else (self.look, self.lut, "--lut")
        if other is not None:
            fail(f"{flag} does not go with --engine {engine}; give one of --look and --lut", 2)
        if chosen is None and engine == "lut":
            fail("--engine lut needs --lut FILE.cube", 2)
        return engine, chosen or find_look(self.shot)


_HEAD = ("shot", "look", "lut", "output", "frames")  # before a command's own options; the rest after


def render_options(fn: Callable) -> Callable:
    """Give a command apply's and farm's shared options; it receives them as ``opts: RenderOptions``."""
    signature = inspect.signature(fn, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "opts"]
    hints = get_type_hints(RenderOptions, include_extras=True)  # the Annotated options, not their strings
    shared = {
        f.name: inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name], default=f.default)
        for f in fields(RenderOptions)
    }
    shared["shot"] = shared["shot"].replace(default=inspect.Parameter.empty)
    parameters = [shared[n] for n in _HEAD] + own + [p for n, p in shared.items() if n not in _HEAD]

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        opts = RenderOptions(**{name: kwargs.pop(name) for name in shared})
        return fn(opts=opts, **kwargs)

    run.__signature__ = signature.replace(
        parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters]
    )
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run

"""The `hrstyle` command: options in, library calls, results out.

Nothing here computes anything a Python user could not get from the library:
each command fills a config, calls one function, and prints. Errors from the
library arrive as `HrstyleError`s and leave as one line on stderr with their
exit code (2 bad input, 1 runtime failure, 130 interrupted); `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .. import __version__
from ..grade.bake import BakeCfg, BakeResult, bake_files
from ..demo import DEMO_TUNE, run_demo
from ..device import pick_device
from ..errors import HrstyleError
from ..render.farm import FarmCfg, plan_chunks, render_on_ray
from ..io.frames import Shot, format_frame_range, open_shot, read_image, write_preview
from ..look.file import Look, default_look_path, load_look
from ..grade.lut import DEFAULT_SMOOTHNESS, Lut3D, read_cube
from ..score.metrics import score_shots
from ..render.run import RenderCfg, RenderProgress, RenderReport, default_output_dir, render_shot
from ..grade.temporal import SmoothCfg
from ..look.sweep import (DEFAULT_CONTENT_WEIGHTS, DEFAULT_STYLE_WEIGHTS, SWEEP_TUNE, SweepCell, SweepCfg, SweepProgress,
                    parse_weights, run_sweep)
from ..look.tune import StepStats, TuneCfg, TuneResult, tune_files

if TYPE_CHECKING:
    from torch import Tensor

DEFAULTS = TuneCfg()

app = typer.Typer(
    name="hrstyle",
    help="Relight and regrade a whole shot from one reference still.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state = {"debug": False}

EXIT_INTERRUPTED = 130
TUNING = "Tuning"
OUTPUT = "Output"
RENDERING = "Rendering"
FARM = "Farm"


def fail(message: str, code: int) -> None:
    err.print(f"hrstyle: error: {message}", markup=False)
    raise typer.Exit(code)


def _command(*args: Any, **kwargs: Any) -> Callable:
    """app.command, with library errors turned into one-line messages and exit codes."""

    def register(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except (typer.Exit, typer.Abort):
                raise
            except HrstyleError as exc:
                if _state["debug"]:
                    raise
                fail(str(exc), exc.exit_code)
            except KeyboardInterrupt:
                if _state["debug"]:
                    raise
                fail("interrupted", EXIT_INTERRUPTED)
            except Exception as exc:  # the last line of defence: never a bare traceback for a colorist
                if _state["debug"]:
                    raise
                fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)

        return app.command(*args, **kwargs)(run)

    return register


def _version(value: bool) -> None:
    if value:
        out.print(f"hrstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    _state["debug"] = debug


class _LazyBar:
    """A Rich progress bar on stderr that appears with the first update, so errors found
    before any work print alone, and goes when the block ends."""

    def __init__(self, *columns: Any, transient: bool = True):
        self.progress = Progress(*columns, console=err, transient=transient)
        self.task: Optional[int] = None

    def __enter__(self) -> "_LazyBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _update(self, total: int, **fields: Any) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=total, **{k: v for k, v in fields.items() if k != "completed"})
        self.progress.update(self.task, total=total, **fields)  # a farm's total shrinks as it finds chunks done


class _TuneBar(_LazyBar):
    """Progress of a tune (step, losses, it/s), plus previews."""

    def __init__(self, steps: int, preview: Optional[Path] = None, preview_every: int = 25):
        super().__init__(
            TextColumn("[bold]tune"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f} · content {task.fields[content]:.3f} · "
                       "style {task.fields[style]:.3f} · steady {task.fields[steady]:.3f} · "
                       "structure {task.fields[structure]:.3f} · residual {task.fields[residual]:.3f}"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
        )
        self.steps, self.preview, self.preview_every = steps, preview, preview_every

    def __call__(self, stats: StepStats, image: "Tensor") -> None:
        self._update(self.steps, completed=stats.step, loss=stats.total, content=stats.content, style=stats.style,
                     steady=stats.steady, structure=stats.structure_ssim, residual=stats.affine_residual,
                     rate=f"{stats.step / max(stats.seconds, 1e-9):.2f} it/s")
        if self.preview is not None and (stats.step % self.preview_every == 0 or stats.step == 1):
            write_preview(self.preview, image)


class _RenderBar(_LazyBar):
    """Progress of a render: frames done/total, fps, time left."""

    def __init__(self, label: str = "apply") -> None:
        super().__init__(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]}"),
                         TimeRemainingColumn(), TimeElapsedColumn())

    def __call__(self, p: RenderProgress) -> None:
        self._update(p.total, completed=p.done, fps=f"{p.fps:.2f} fps")


@_command()
def tune(
    keyframe: Annotated[Path, typer.Argument(help="The keyframe of the shot (PNG, TIFF, JPEG, EXR, DPX).", show_default=False)],
    look_image: Annotated[Path, typer.Argument(help="The reference still whose look to take on.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Look file to write. Default: <keyframe>.look.safetensors beside the keyframe.", rich_help_panel=OUTPUT)] = None,
    steps: Annotated[int, typer.Option(min=1, help="Tuning steps (stops earlier on a plateau).", rich_help_panel=TUNING)] = DEFAULTS.steps,
    size: Annotated[int, typer.Option(min=16, help="Work resolution, long side, in pixels.", rich_help_panel=TUNING)] = DEFAULTS.size,
    content_weight: Annotated[float, typer.Option(min=0.0, help="Keep the keyframe's structure: higher is more faithful.", rich_help_panel=TUNING)] = DEFAULTS.content_weight,
    style_weight: Annotated[float, typer.Option(min=0.0, help="Take on the look: higher is stronger.", rich_help_panel=TUNING)] = DEFAULTS.style_weight,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed and inputs give the same look on the CPU.", rich_help_panel=TUNING)] = DEFAULTS.seed,
    net: Annotated[str, typer.Option(help="Network preset: hrnet, hrnet-small or hrnet-wide.", rich_help_panel=TUNING)] = DEFAULTS.net,
    colour_match: Annotated[str, typer.Option(help="Start from a global colour match: mkl (closed-form mean and covariance match) or none (the keyframe as it is).", rich_help_panel=TUNING)] = DEFAULTS.colour_match,
    steady_weight: Annotated[float, typer.Option(min=0.0, help="Keep the look steady on a moving shot: how strongly the output must follow a small camera move (0 = off).", rich_help_panel=TUNING)] = DEFAULTS.steady_weight,
    structure_weight: Annotated[float, typer.Option(min=0.0, help="Guard the keyframe's structure (METRICS.md structure_ssim of the judged grade): higher keeps more edges and local contrast.", rich_help_panel=TUNING)] = DEFAULTS.structure_weight,
    residual_weight: Annotated[float, typer.Option(min=0.0, help="Guard photorealism (METRICS.md affine_residual of the judged grade): higher keeps the grade closer to a local recolour, with less clipping.", rich_help_panel=TUNING)] = DEFAULTS.residual_weight,
    judge_size: Annotated[int, typer.Option(min=0, help="Long side, in pixels, at which each step judges the look: above --size, the grade hrstyle apply renders there from the network's output (its guided carry); never below --size nor above the keyframe's own. 0 = the output itself at --size: faster, carries less of the look.", rich_help_panel=TUNING)] = DEFAULTS.judge_size,
    preview: Annotated[Optional[Path], typer.Option(help="Write the keyframe as the losses judge it (at the judge size) here while tuning (PNG).", rich_help_panel=OUTPUT)] = None,
    preview_every: Annotated[int, typer.Option(min=1, help="Steps between previews.", rich_help_panel=OUTPUT)] = 25,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    vgg_weights: Annotated[Optional[Path], typer.Option(help="A torchvision VGG19 state dict to use instead of the bundled Caffe VGG19.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing look file.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Tune a look on KEYFRAME so it takes on the style of LOOK_IMAGE, and save it as a look file."""
    try:
        cfg = TuneCfg(steps=steps, size=size, content_weight=content_weight, style_weight=style_weight, seed=seed, net=net,
                      colour_match=colour_match, steady_weight=steady_weight, structure_weight=structure_weight,
                      residual_weight=residual_weight, judge_size=judge_size)
    except ValueError as exc:
        fail(str(exc), 2)
    target = output or default_look_path(keyframe)
    dev = pick_device(device)
    with _TuneBar(steps, preview, preview_every) as bar:
        result, look = tune_files(keyframe, look_image, target, cfg, device=dev, vgg_weights=vgg_weights,
                                  overwrite=force, on_step=bar)
    _report_tune(result, dev.type)
    out.print(str(target), markup=False)
    if result.stopped == "interrupted":
        err.print("interrupted: saved the best look so far")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.stopped == "non-finite":
        err.print("warning: the loss became NaN/Inf; saved the last good weights. Try lower --style-weight.")


def _report_tune(result: TuneResult, device: str) -> None:
    f = result.final
    err.print(f"{result.stopped} after {result.steps_done} steps · total {f.total:.3f} · content {f.content:.3f} · "
              f"style {f.style:.3f} · steady {f.steady:.3f} · structure {f.structure_ssim:.3f} · "
              f"residual {f.affine_residual:.3f} · {result.work_size[1]}x{result.work_size[0]} on {device}")


@_command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the demo's results.")] = Path("hrstyle-demo"),
    steps: Annotated[int, typer.Option(min=1, help="Tuning steps.")] = DEMO_TUNE.steps,
    size: Annotated[int, typer.Option(min=16, help="Work resolution, long side.")] = DEMO_TUNE.size,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
) -> None:
    """Tune a look on the bundled sample, grade the sample shot with it, and write
    the look, the graded frames, a contact sheet and a before/after video to ./hrstyle-demo/."""
    dev = pick_device(device)
    with _TuneBar(steps) as bar, _RenderBar() as frames:
        result = run_demo(output, replace(DEMO_TUNE, steps=steps, size=size), device=dev, on_step=bar,
                          on_frame=frames)
    _report_tune(result.tune, dev.type)
    for path in (result.look_path, *result.outputs.values()):
        out.print(str(path), markup=False)


class _SweepBar(_LazyBar):
    """One bar over every step of every cell of a sweep, and a line per finished cell."""

    def __init__(self) -> None:
        super().__init__(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[cell]}"),
                         TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
        self.steps = self.done = 0

    def step(self, p: SweepProgress) -> None:
        self.steps = p.steps
        self._update(p.total, completed=p.completed,
                     cell=f"cell {p.cell + 1}/{p.cells}: content {p.content_weight:g}, style {p.style_weight:g}")

    def cell(self, cell: SweepCell) -> None:
        self.done += 1  # a cell that stopped early on a plateau still counts its full steps
        self.progress.update(self.task, completed=self.done * self.steps)
        s = cell.score
        self.progress.console.print(f"{cell.title}: style gap {s.style_gap:.3f} · structure {s.structure_ssim:.3f} · "
                                    f"affine {s.affine_residual:.3f} ({cell.seconds:.0f} s)", markup=False)


def _weights_text(weights: tuple[float, ...]) -> str:
    return ",".join(f"{w:g}" for w in weights)


@_command()
def sweep(
    keyframe: Annotated[Path, typer.Argument(help="The keyframe of the shot.", show_default=False)],
    look_image: Annotated[Path, typer.Argument(help="The reference still whose look to take on.", show_default=False)],
    content: Annotated[str, typer.Option("--content", help="Content weights, one row each: higher keeps more of the keyframe. Both terms start at 1, so useful weights lie around 0.25-4 (not the papers' 10-150).", rich_help_panel=TUNING)] = _weights_text(DEFAULT_CONTENT_WEIGHTS),
    style: Annotated[str, typer.Option("--style", help="Style weights, one column each: higher takes on more of the look.", rich_help_panel=TUNING)] = _weights_text(DEFAULT_STYLE_WEIGHTS),
    steps: Annotated[int, typer.Option(min=1, help="Tuning steps per cell (a cell stops earlier on a plateau).", rich_help_panel=TUNING)] = SWEEP_TUNE.steps,
    size: Annotated[int, typer.Option(min=16, help="Work resolution of every cell's look, long side; kept looks apply at this size.", rich_help_panel=TUNING)] = SWEEP_TUNE.size,
    seed: Annotated[int, typer.Option(help="Random seed; every cell starts from the same network.", rich_help_panel=TUNING)] = SWEEP_TUNE.seed,
    net: Annotated[str, typer.Option(help="Network preset: hrnet, hrnet-small or hrnet-wide.", rich_help_panel=TUNING)] = SWEEP_TUNE.net,
    judge_size: Annotated[int, typer.Option(min=0, help="Long side at which each cell's tune judges its look, as hrstyle tune --judge-size; 0 = at --size.", rich_help_panel=TUNING)] = SWEEP_TUNE.judge_size,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for sweep.png, sweep.json and each cell's graded keyframe.", rich_help_panel=OUTPUT)] = Path("hrstyle-sweep"),
    preview_size: Annotated[int, typer.Option(min=16, help="Long side of each cell's graded keyframe, graded as hrstyle apply does; the figures are measured on it.", rich_help_panel=OUTPUT)] = SweepCfg().preview_size,
    keep: Annotated[bool, typer.Option("--keep", help="Save every cell's look file (cell_c<content>_s<style>.look.safetensors) for hrstyle apply.", rich_help_panel=OUTPUT)] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a sweep already in the output folder.", rich_help_panel=OUTPUT)] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    vgg_weights: Annotated[Optional[Path], typer.Option(help="A torchvision VGG19 state dict to use instead of the bundled Caffe VGG19.")] = None,
) -> None:
    """Tune one small look per pair of content and style weights and compare them on one contact sheet.

    Rows are content weights, columns style weights. Each cell shows the keyframe graded with its look, its style gap (lower = closer to the look), structure (1 = the keyframe's structure kept) and affine residual (lower = more photographic). Pick a cell, then tune at its weights at full size, or apply its kept look.
    """
    try:
        tune_cfg = TuneCfg(steps=steps, size=size, seed=seed, net=net, judge_size=judge_size)
    except ValueError as exc:
        fail(str(exc), 2)
    cfg = SweepCfg(parse_weights(content, "--content"), parse_weights(style, "--style"), tune_cfg,
                   preview_size=preview_size, keep=keep)
    dev = pick_device(device)
    with _SweepBar() as bar:
        try:
            result = run_sweep(keyframe, look_image, output, cfg, device=dev, vgg_weights=vgg_weights,
                               overwrite=force, on_step=bar.step, on_cell=bar.cell)
        except KeyboardInterrupt:
            bar.progress.stop()
            fail(f"interrupted; the finished cells' previews{' and looks' if keep else ''} are in {output}",
                 EXIT_INTERRUPTED)
    looks = f"{len(result.cells)} look{'s' if len(result.cells) > 1 else ''}"
    table = Table(title=f"{keyframe.name} → {look_image.name}: {looks} at {size} px, {result.seconds:.0f} s on {dev.type}")
    for name in ("content", "style", "style gap", "structure", "affine", "steps"):
        table.add_column(name, justify="right")
    for c in result.cells:
        s, meta = c.score, c.look.meta
        steps_done = str(meta.steps_done) if meta.stopped == "completed" else f"{meta.steps_done} {meta.stopped}"
        table.add_row(f"{c.content_weight:g}", f"{c.style_weight:g}", f"{s.style_gap:.3f}", f"{s.structure_ssim:.3f}",
                      f"{s.affine_residual:.3f}", steps_done)
    out.print(table)
    for path in (result.sheet_path, result.json_path, *(c.look_path for c in result.cells if c.look_path)):
        out.print(str(path), markup=False)


def _figures_table(title: str) -> Table:
    """A table of measured figures: name, value, and how to read it."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("reading")
    return table


@_command()
def score(
    content: Annotated[Path, typer.Option("--content", help="The ungraded shot or image (folder, pattern, video or still).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", help="The graded shot or image, with the same frame numbers.", show_default=False)],
    look: Annotated[Path, typer.Option("--look", help="The reference still the look was tuned towards.", show_default=False)],
    every: Annotated[int, typer.Option(min=1, help="Compute the still figures on every Nth frame (temporal figures use all).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
) -> None:
    """Measure a graded result: style gap, structure, photorealism and flicker (../shared/METRICS.md)."""
    content_shot, output_shot = open_shot(content), open_shot(output)
    look_pixels = read_image(look).pixels
    with Progress(TextColumn("[bold]score"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("score", total=len(content_shot))
        result = score_shots(content_shot, output_shot, look_pixels, every=every,
                             on_frame=lambda n: progress.advance(task))
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    m = result.mean
    table = _figures_table(f"{output} against {content} ({result.frames} frames, {len(result.scored_frames)} scored)")
    table.add_row("style_gap", f"{m.style_gap:.3f}", "1 = unchanged, 0 = matched the look")
    for layer, value in m.style_per_layer.items():
        table.add_row(f"  {layer}", f"{value:.3f}", "colour" if layer in ("relu1_1", "relu2_1") else "texture")
    table.add_row("structure_ssim", f"{m.structure_ssim:.3f}", "1 = identical structure")
    table.add_row("affine_residual", f"{m.affine_residual:.3f}", "≈0.03-0.06 photoreal, ≥0.2 painterly")
    if m.temporal_ratio is not None:
        table.add_row("warp_error", f"{m.warp_error:.5f}", "")
        table.add_row("temporal ratio", f"{m.temporal_ratio:.3f}", "1 = no added flicker")
    out.print(table)


@_command()
def info(
    look_file: Annotated[Path, typer.Argument(help="A look file written by hrstyle tune.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
) -> None:
    """Print a look file's metadata: settings, provenance and final losses."""
    look = load_look(look_file)
    meta = {**look.meta.to_dict(), "sha256": look.sha256, "parameters": sum(p.numel() for p in look.net.parameters())}
    if as_json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return
    table = Table(title=str(look_file), show_header=False)
    for key, value in meta.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    out.print(table)


# Options that apply, farm and chunks share: one definition each.
_ShotArg = Annotated[str, typer.Argument(help="The shot: a folder of frames, a pattern (shot.%04d.exr, shot.####.exr), a still or a video.", show_default=False)]
_LookOpt = Annotated[Optional[Path], typer.Option("--look", "-l", help="The look file to apply, from hrstyle tune.", show_default=False)]
_LutOpt = Annotated[Optional[Path], typer.Option("--lut", help="A 3D .cube LUT to apply instead of a look (from hrstyle bake or any grading app).", show_default=False)]
_OutputOpt = Annotated[Optional[Path], typer.Option("-o", "--output", help="Output folder. Default: <shot>_<look>/ beside the shot.", rich_help_panel=OUTPUT)]
_FramesOpt = Annotated[Optional[str], typer.Option("--frames", help="Frames to render, keeping their numbers: 1001-1100, 1001-1100x2, 1001-1010,1020.")]
_ExtOpt = Annotated[Optional[str], typer.Option("--ext", help="Output format: exr, png, tif, dpx, jpg, or mov/mp4 for a video. Default: the input's (.mov for a video).", rich_help_panel=OUTPUT)]
_BitDepthOpt = Annotated[Optional[str], typer.Option("--bit-depth", help="Output bit depth: uint8, uint10, uint12, uint16, half or float. Default: the input's.", rich_help_panel=OUTPUT)]
_SkipBadOpt = Annotated[bool, typer.Option("--skip-bad-frames", help="Skip and report unreadable frames instead of stopping.")]
_ForceOpt = Annotated[bool, typer.Option("--force", help="Render from scratch into a folder that holds another render or other files.", rich_help_panel=OUTPUT)]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print a summary as JSON on stdout.", rich_help_panel=OUTPUT)]
_SmoothOpt = Annotated[float, typer.Option("--smooth", min=0.0, max=1.0, help="Temporal smoothing along the optical flow, 0 (off) to 1. Renders frames in order; with --frames it warms up on the frame before the range.", rich_help_panel=RENDERING)]
_ColorspaceOpt = Annotated[str, typer.Option("--colorspace", help="What the frames hold: auto (EXR = scene-linear Rec.709, others display-encoded), linear, acescg or none. Scene-linear frames are sRGB-encoded for the look and decoded back on output.", rich_help_panel=RENDERING)]
_FlowOpt = Annotated[str, typer.Option("--flow", help="Optical flow for --smooth: dis or farneback.", rich_help_panel=RENDERING)]
_NativeOpt = Annotated[bool, typer.Option("--native", help="Run the network at full resolution in tiles (the slow reference) instead of carrying the work-size grade up.", rich_help_panel=RENDERING)]
_TileOpt = Annotated[Optional[int], typer.Option("--tile", min=0, help="Tile side for --native, in pixels (0: the whole frame); smaller needs less GPU memory.", rich_help_panel=RENDERING)]
_BatchSizeOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Frames per batch. Default: 1 on the CPU, by free memory on a GPU.", rich_help_panel=RENDERING)]
_DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or mps.", rich_help_panel=RENDERING)]
_PrecisionOpt = Annotated[str, typer.Option(help="Network precision: auto (bf16 on CUDA, else fp32), fp32, bf16 or fp16.", rich_help_panel=RENDERING)]
_CompileOpt = Annotated[bool, typer.Option("--compile", help="torch.compile the network first: pays off on long shots on a GPU.", rich_help_panel=RENDERING)]
_EngineOpt = Annotated[Optional[str], typer.Option("--engine", help="network: the look file's network (--look); lut: a 3D LUT (--lut), every pixel through the table, 8K in well under a second. Default: lut when --lut is given, else network.", rich_help_panel=RENDERING)]
_InterpolationOpt = Annotated[str, typer.Option("--interpolation", help="How --engine lut interpolates the table: tetrahedral or trilinear (the default of OCIO and Resolve).", rich_help_panel=RENDERING)]


@_command()
def apply(
    shot: _ShotArg,
    look: _LookOpt = None,
    lut: _LutOpt = None,
    output: _OutputOpt = None,
    frames: _FramesOpt = None,
    ext: _ExtOpt = None,
    bit_depth: _BitDepthOpt = None,
    skip_bad_frames: _SkipBadOpt = False,
    force: _ForceOpt = False,
    dry_run: Annotated[bool, typer.Option("-n", "--dry-run", help="List the files that would be written, and write nothing.", rich_help_panel=OUTPUT)] = False,
    as_json: _JsonOpt = False,
    smooth: _SmoothOpt = 0.0,
    colorspace: _ColorspaceOpt = "auto",
    flow: _FlowOpt = "dis",
    native: _NativeOpt = False,
    tile: _TileOpt = None,
    batch_size: _BatchSizeOpt = None,
    device: _DeviceOpt = "auto",
    precision: _PrecisionOpt = "auto",
    compile_net: _CompileOpt = False,
    engine: _EngineOpt = None,
    interpolation: _InterpolationOpt = "tetrahedral",
) -> None:
    """Apply a look (or a .cube LUT) to every frame of SHOT. Re-run the same command to resume an interrupted render."""
    cfg = _render_cfg(smooth, flow, colorspace, native, tile, batch_size, device, precision, compile_net, interpolation)
    source, grade, target = _open_render(shot, frames, look, lut, engine, output)
    with _rendering("apply") as on_progress:
        report = render_shot(source, grade, target, cfg, ext=ext, bit_depth=bit_depth, skip_bad_frames=skip_bad_frames,
                             dry_run=dry_run, force=force, on_progress=on_progress)
    _report_render(report, report.to_dict() if as_json else None)


@_command()
def farm(
    shot: _ShotArg,
    look: _LookOpt = None,
    lut: _LutOpt = None,
    output: _OutputOpt = None,
    frames: _FramesOpt = None,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Frames per Ray task: the unit of scheduling, retry and progress.", rich_help_panel=FARM)] = FarmCfg.chunk,
    address: Annotated[Optional[str], typer.Option("--address", help="The Ray cluster: auto (the one this machine is part of) or HOST:PORT of its head. Default: start Ray on this machine, on loopback only.", rich_help_panel=FARM)] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Chunks rendered at once. Default: as many as the cluster's CPUs, or GPUs, allow.", rich_help_panel=FARM)] = None,
    gpus_per_task: Annotated[Optional[float], typer.Option("--gpus-per-task", min=0.0, help="GPUs each task holds (a fraction shares one). Default: 1 where the cluster has GPUs, else 0: render on the CPU.", rich_help_panel=FARM)] = None,
    cpus_per_task: Annotated[int, typer.Option("--cpus-per-task", min=1, help="CPU cores each task holds; also its torch threads.", rich_help_panel=FARM)] = FarmCfg.cpus_per_task,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Times Ray re-runs a chunk whose worker died; a re-run resumes from the frames already written.", rich_help_panel=FARM)] = FarmCfg.max_retries,
    ext: _ExtOpt = None,
    bit_depth: _BitDepthOpt = None,
    skip_bad_frames: _SkipBadOpt = False,
    force: _ForceOpt = False,
    as_json: _JsonOpt = False,
    smooth: _SmoothOpt = 0.0,
    colorspace: _ColorspaceOpt = "auto",
    flow: _FlowOpt = "dis",
    native: _NativeOpt = False,
    tile: _TileOpt = None,
    batch_size: _BatchSizeOpt = None,
    device: _DeviceOpt = "auto",
    precision: _PrecisionOpt = "auto",
    compile_net: _CompileOpt = False,
    engine: _EngineOpt = None,
    interpolation: _InterpolationOpt = "tetrahedral",
) -> None:
    """Apply a look to SHOT on Ray, one task per chunk of frames, all writing into one output folder.

    The result is the same as hrstyle apply's, and so is resuming: re-run the same command. On a cluster, every node must see the shot and the output folder at the same paths.
    """
    cfg = _render_cfg(smooth, flow, colorspace, native, tile, batch_size, device, precision, compile_net, interpolation)
    farm_cfg = FarmCfg(chunk=chunk, address=address, workers=workers, gpus_per_task=gpus_per_task,
                       cpus_per_task=cpus_per_task, max_retries=retries)
    source, grade, target = _open_render(shot, frames, look, lut, engine, output)
    with _rendering("farm") as on_progress:
        result = render_on_ray(source, grade, target, cfg, farm_cfg, ext=ext, bit_depth=bit_depth,
                               skip_bad_frames=skip_bad_frames, force=force, on_progress=on_progress)
    if result.retried:
        err.print(f"Ray re-ran {len(result.retried)} chunk(s) whose worker died: {', '.join(result.retried)}",
                  markup=False)
    _report_render(result.render, result.to_dict() if as_json else None)


@_command()
def chunks(
    shot: _ShotArg,
    size: Annotated[int, typer.Option("--size", min=1, help="Frames per chunk.")] = FarmCfg.chunk,
    frames: _FramesOpt = None,
    smooth: _SmoothOpt = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the chunks as JSON on stdout.")] = False,
) -> None:
    """Split SHOT into frame ranges for a render farm: each chunk is one task running hrstyle apply SHOT --look FILE --frames RANGE -o OUT.

    With --smooth, each chunk also lists the frames it warms up on: read and graded before its range, never written, so that chunks stitch seamlessly.
    """
    source = open_shot(shot, frames)
    plan = plan_chunks(source, size, smooth > 0)
    name = str(source.pattern or source.source)
    if as_json:
        print(json.dumps({"shot": name, "frames": len(source), "size": size, "smooth": smooth > 0,
                          "chunks": [c.to_dict() for c in plan]}, indent=2))
        return
    task = f"hrstyle apply {shlex.quote(shot)} --look FILE --frames RANGE -o OUT" + (f" --smooth {smooth:g}" if smooth else "")
    table = Table(title=f"{name}: {len(source)} frames in {len(plan)} chunk(s) of up to {size}",
                  caption=f"one farm task per chunk: {task}")
    for column in ("chunk", "frames", "count", "warm-up"):
        table.add_column(column, justify="right" if column != "frames" else "left")
    for c in plan:
        table.add_row(str(c.index), c.frame_range, str(len(c.frames)), format_frame_range(list(c.warmup)) or "—")
    out.print(table)


def _render_cfg(smooth: float, flow: str, colorspace: str, native: bool, tile: Optional[int],
                batch_size: Optional[int], device: str, precision: str, compile_net: bool,
                interpolation: str) -> RenderCfg:
    """apply's and farm's rendering options as a RenderCfg."""
    return RenderCfg(native=native, device=device, precision=precision, batch_size=batch_size,
                     smooth=SmoothCfg(strength=smooth, flow=flow), colorspace=colorspace, interpolation=interpolation,
                     compile=compile_net, **({"tile": tile} if tile is not None else {}))


def _open_render(shot: str, frames: Optional[str], look: Optional[Path], lut: Optional[Path], engine: Optional[str],
                 output: Optional[Path]) -> tuple[Shot, Look | Lut3D, Path]:
    """The shot (warning about gaps), the look or LUT to grade it with, and the output folder."""
    engine, grade_file = _engine_file(engine, look, lut)
    target = output or default_output_dir(shot, grade_file)
    source = open_shot(shot, frames)
    if frames is None and source.gaps:  # often a failed copy upstream: say so, then render what is there
        err.print(f"warning: frames {format_frame_range(source.gaps)} are missing from {source.pattern}; "
                  f"rendering the {len(source)} there are under their own numbers", markup=False)
    grade = read_cube(grade_file) if engine == "lut" else load_look(grade_file)
    return source, grade, target


@contextlib.contextmanager
def _rendering(label: str) -> Iterator[_RenderBar]:
    """A render's progress bar; Ctrl-C ends the render with a hint to resume it."""
    with _RenderBar(label) as bar:
        try:
            yield bar
        except KeyboardInterrupt:
            bar.progress.stop()
            fail("interrupted; the finished frames are kept, run the same command again to resume", EXIT_INTERRUPTED)


def _report_render(report: RenderReport, summary: Optional[dict[str, Any]]) -> None:
    """What a render did, on stderr, with the output folder on stdout, or ``summary`` as JSON on stdout."""
    if report.bad:
        err.print(f"warning: skipped {len(report.bad)} unreadable frame(s): {format_frame_range(report.bad)}")
    if summary is not None:
        print(json.dumps(summary, indent=2))
    elif report.dry_run:
        err.print(f"dry run: would write {len(report.outputs)} file(s) into {report.out_dir} "
                  f"({report.skipped} frame(s) already done)", markup=False)
        for path in report.outputs:
            out.print(str(path), markup=False)
    else:
        err.print(f"wrote {report.frames_written} frame(s), {report.skipped} already done, in {report.seconds:.1f} s "
                  f"({report.fps:.2f} fps)", markup=False)
        out.print(str(report.out_dir), markup=False)


def _engine_file(engine: Optional[str], look: Optional[Path], lut: Optional[Path]) -> tuple[str, Path]:
    """The engine apply grades with and its file, from --engine, --look and --lut."""
    engine = engine or ("lut" if lut is not None else "network")
    if engine not in ("network", "lut"):
        fail(f"--engine {engine}: expected network or lut", 2)
    chosen, other, flag = (lut, look, "--look") if engine == "lut" else (look, lut, "--lut")
    if chosen is None:
        fail("--engine lut needs --lut FILE.cube" if engine == "lut" else "--look is required (or --lut FILE.cube to apply a LUT)", 2)
    if other is not None:
        fail(f"{flag} does not go with --engine {engine}; give one of --look and --lut", 2)
    return engine, chosen


@_command()
def bake(
    look_file: Annotated[Path, typer.Argument(help="The look file to bake, from hrstyle tune.", show_default=False)],
    sources: Annotated[list[Path], typer.Option("--from", metavar="FRAME", help="A frame to run the look over; repeat for more. Frames that together show the shot's colours give a LUT that holds across it.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="The .cube file to write. Default: <look>.cube beside the look file.", rich_help_panel=OUTPUT)] = None,
    size: Annotated[int, typer.Option("--size", help="Lattice points per axis: 33 (what grading apps usually load) or 65 (finer, 8x the file).")] = BakeCfg.size,
    look_image: Annotated[Optional[Path], typer.Option("--look-image", help="The reference still the look was tuned towards: adds the network's and the LUT's style gap to the report.", show_default=False)] = None,
    interpolation: Annotated[str, typer.Option("--interpolation", help="The interpolation the LUT is fitted for and measured with: tetrahedral, or trilinear (the default of OCIO and Resolve).")] = BakeCfg.method,
    smoothness: Annotated[float, typer.Option("--smoothness", help="How smooth the table is where colours are sparse; higher gives up fidelity for smoothness.", rich_help_panel="Fitting")] = DEFAULT_SMOOTHNESS,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Random pixels per frame the LUT is fitted to.", rich_help_panel="Fitting")] = BakeCfg.samples_per_frame,
    seed: Annotated[int, typer.Option(help="Which pixels are sampled; the same seed and frames give the same LUT.", rich_help_panel="Fitting")] = BakeCfg.seed,
    device: Annotated[str, typer.Option(help="Where the look runs: auto, cpu, cuda or mps.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing .cube file.", rich_help_panel=OUTPUT)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the capture figures and the path as JSON on stdout.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Bake a look into a 3D LUT (.cube) for Resolve, Baselight, Nuke or OCIO, and say how much of the look it carries.

    The look runs over the --from frames as hrstyle apply runs it; the LUT is fitted to what it does to their colours. A look that treats one colour differently in different places has local parts no LUT can carry: the report says how much that is.
    """
    if size not in (33, 65):
        fail(f"--size {size}: expected 33 or 65", 2)
    cfg = BakeCfg(size=size, smoothness=smoothness, method=interpolation, samples_per_frame=samples, seed=seed)
    result = bake_files(look_file, sources, output, cfg, RenderCfg(device=device), look_image=look_image,
                        overwrite=force)
    if as_json:
        print(json.dumps({"path": str(result.path), "size": size, "interpolation": interpolation,
                          "seconds": round(result.seconds, 3), **result.capture.to_dict()}, indent=2))
        return
    _report_bake(result)
    out.print(str(result.path), markup=False)


def _report_bake(result: BakeResult) -> None:
    c = result.capture
    table = _figures_table(f"{result.cfg.size}³ LUT from {c.frames} frame(s), {result.cfg.method}, {result.seconds:.1f} s")
    table.add_row("captured", f"{c.captured:.1%}", "share of the look's change the LUT reproduces")
    table.add_row("rmse", f"{c.rmse * 255:.2f}", "LUT vs network, in 8-bit code values")
    table.add_row("max abs diff", f"{c.max_abs * 255:.1f}", "the worst pixel, in 8-bit code values")
    table.add_row("psnr", f"{c.psnr:.1f} dB", "LUT vs network")
    table.add_row("look rmse", f"{c.look_rmse * 255:.2f}", "how far the look moves pixels, for scale")
    if c.style_gap_network is not None:
        table.add_row("style gap, network", f"{c.style_gap_network:.3f}", "1 = unchanged, 0 = matched the look image")
        table.add_row("style gap, LUT", f"{c.style_gap_lut:.3f}", "")
    err.print(table)
    err.print(c.verdict(), markup=False)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()

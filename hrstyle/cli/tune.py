"""hrstyle tune, demo and sweep: tuning looks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from ..look.config import (
    DEFAULT_CONTENT_WEIGHTS,
    DEFAULT_STYLE_WEIGHTS,
    DEMO_TUNE,
    SWEEP_TUNE,
    SweepCfg,
    TuneCfg,
    default_point,
    parse_trade_off,
    parse_weights,
)
from .app import EXIT_INTERRUPTED, OUTPUT, TUNING, command, err, fail, out
from .options import DeviceOpt, VggOpt
from .progress import RenderBar, SweepBar, TuneBar

if TYPE_CHECKING:
    from ..look.tune import TuneResult

DEFAULTS = TuneCfg()
KeyframeArg = Annotated[
    Path, typer.Argument(help="The keyframe of the shot (PNG, TIFF, JPEG, EXR, DPX).", show_default=False)
]
LookImageArg = Annotated[Path, typer.Argument(help="The reference still whose look to take on.", show_default=False)]
NetOpt = Annotated[str, typer.Option(help="Network preset: hrnet, hrnet-small or hrnet-wide.", rich_help_panel=TUNING)]
UnmatchedStyleOpt = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        rich_help_panel=TUNING,
        help="How much of the reference's style to carry where it shows other content than the keyframe, as a share "
        "of the style weight: 0 carries only --unmatched-carry of its overall colour balance, 1 all of its style (the "
        "paper's transfer, which also carries what the reference shows). The same scene always gets it all.",
    ),
]
UnmatchedCarryOpt = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        rich_help_panel=TUNING,
        help="How much of the reference's overall colour balance (the mkl match) to start from where it shows other "
        "content than the keyframe: 0 none, 1 all. Raise it for a grade that acts on the whole frame (a film look, "
        "day for night), lower it for a local one (a vignette, a keyed secondary).",
    ),
]


@command()
def tune(
    keyframe: KeyframeArg,
    look_image: LookImageArg,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--output",
            rich_help_panel=OUTPUT,
            help="Look file to write. Default: <keyframe>.look.safetensors beside the keyframe, where hrstyle apply "
            "finds it.",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option(min=1, help="Tuning steps (stops earlier on a plateau).", rich_help_panel=TUNING)
    ] = DEFAULTS.steps,
    size: Annotated[
        int, typer.Option(min=16, help="Work resolution, long side, in pixels.", rich_help_panel=TUNING)
    ] = DEFAULTS.size,
    content_weight: Annotated[
        float,
        typer.Option(min=0.0, help="Keep the keyframe's structure: higher is more faithful.", rich_help_panel=TUNING),
    ] = DEFAULTS.content_weight,
    style_weight: Annotated[
        Optional[float],
        typer.Option(
            min=0.0,
            show_default=f"{DEFAULTS.style_weight:g}, or the nearest point of --trade-off",
            help="Take on the look: higher is stronger. With --trade-off, the point apply renders by default.",
            rich_help_panel=TUNING,
        ),
    ] = None,
    trade_off: Annotated[
        Optional[str],
        typer.Option(
            "--trade-off",
            metavar="LO:HI",
            show_default=False,
            rich_help_panel=TUNING,
            help="Tune one look for every style/content ratio from LO to HI (0.25:4 spans hrstyle sweep's grid); "
            "hrstyle apply --style-weight then picks any point without tuning again.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            help="Random seed; the same seed and inputs give the same look on the CPU.", rich_help_panel=TUNING
        ),
    ] = DEFAULTS.seed,
    net: NetOpt = DEFAULTS.net,
    colour_match: Annotated[
        str,
        typer.Option(
            help="Start from a global colour match: matched (fitted where keyframe and reference show the same "
            "thing; --unmatched-carry of the mkl match when they show nothing alike), mkl (closed-form mean and "
            "covariance match of the whole images) or none (the keyframe as it is).",
            rich_help_panel=TUNING,
        ),
    ] = DEFAULTS.colour_match,
    match_weight: Annotated[
        float,
        typer.Option(
            min=0.0,
            rich_help_panel=TUNING,
            help="Pull each place towards the colour of the same thing in the reference, where the two images show "
            "the same scene (0 = off; no effect on an unrelated reference).",
        ),
    ] = DEFAULTS.match_weight,
    unmatched_style: UnmatchedStyleOpt = DEFAULTS.unmatched_style,
    unmatched_carry: UnmatchedCarryOpt = DEFAULTS.unmatched_carry,
    steady_weight: Annotated[
        float,
        typer.Option(
            min=0.0,
            rich_help_panel=TUNING,
            help="Keep the look steady on a moving shot: how strongly the output must follow a small camera move "
            "(0 = off).",
        ),
    ] = DEFAULTS.steady_weight,
    structure_weight: Annotated[
        float,
        typer.Option(
            min=0.0,
            rich_help_panel=TUNING,
            help="Guard the keyframe's structure (structure_ssim of the judged grade, docs/metrics.md): higher keeps "
            "more edges and local contrast.",
        ),
    ] = DEFAULTS.structure_weight,
    residual_weight: Annotated[
        float,
        typer.Option(
            min=0.0,
            rich_help_panel=TUNING,
            help="Guard photorealism (affine_residual of the judged grade, docs/metrics.md): higher keeps the grade "
            "closer to a local recolour, with less clipping.",
        ),
    ] = DEFAULTS.residual_weight,
    judge_size: Annotated[
        int,
        typer.Option(
            min=0,
            rich_help_panel=TUNING,
            help="Long side, in pixels, at which each step judges the look: above --size, the grade hrstyle apply "
            "renders there from the network's output (its guided carry); never below --size nor above the "
            "keyframe's own. 0 = the output itself at --size: faster, carries less of the look.",
        ),
    ] = DEFAULTS.judge_size,
    preview: Annotated[
        Optional[Path],
        typer.Option(
            rich_help_panel=OUTPUT,
            help="Write the keyframe as the losses judge it (at the judge size) here while tuning (PNG).",
        ),
    ] = None,
    preview_every: Annotated[int, typer.Option(min=1, help="Steps between previews.", rich_help_panel=OUTPUT)] = 25,
    device: DeviceOpt = "auto",
    vgg_weights: VggOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing look file.", rich_help_panel=OUTPUT)
    ] = False,
) -> None:
    """Tune a look on KEYFRAME so it takes on the style of LOOK_IMAGE, and save it as a look file."""
    from ..device import pick_device
    from ..look.meta import default_look_path
    from ..look.tune import tune_files

    try:
        trade_off_range = parse_trade_off(trade_off) if trade_off is not None else None
        cfg = TuneCfg(
            steps=steps,
            size=size,
            content_weight=content_weight,
            style_weight=default_point(content_weight, trade_off_range) if style_weight is None else style_weight,
            trade_off=trade_off_range,
            seed=seed,
            net=net,
            colour_match=colour_match,
            match_weight=match_weight,
            unmatched_style=unmatched_style,
            unmatched_carry=unmatched_carry,
            steady_weight=steady_weight,
            structure_weight=structure_weight,
            residual_weight=residual_weight,
            judge_size=judge_size,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    target = output or default_look_path(keyframe)
    dev = pick_device(device)
    with TuneBar(steps, preview, preview_every) as bar:
        result, _ = tune_files(
            keyframe, look_image, target, cfg, device=dev, vgg_weights=vgg_weights, overwrite=force, on_step=bar
        )
    _report_tune(result, dev.type)
    out.print(str(target), markup=False)
    if result.stopped == "interrupted":
        err.print("interrupted: saved the best look so far")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.stopped == "non-finite":
        err.print("warning: the loss became NaN/Inf; saved the last good weights. Try lower --style-weight.")


def _report_tune(result: TuneResult, device: str) -> None:
    f = result.final
    lo, hi = result.cfg.style_weights
    if lo < hi:
        err.print(f"style weights {lo:g} to {hi:g}; the figures below are at {result.cfg.style_weight:g}")
    if result.trust is not None and result.trust < 1:
        cfg, share = result.cfg, result.cfg.style_share(result.trust)
        carried = (
            f"{cfg.unmatched_carry:.0%} of its overall colour balance (--unmatched-carry) and "
            if result.trust == 0 and cfg.colour_match == "matched"
            else ""
        )
        err.print(
            f"the reference shows {'other content than' if result.trust == 0 else 'part of'} the keyframe's scene "
            f"(trust {result.trust:.2f}): {carried}its style carried at {share:.0%} (--unmatched-style)"
        )
    err.print(
        f"{result.stopped} after {result.steps_done} steps · total {f.total:.3f} · content {f.content:.3f} · "
        f"style {f.style:.3f} · steady {f.steady:.3f} · structure {f.structure_ssim:.3f} · "
        f"residual {f.affine_residual:.3f} · {result.work_size[1]}x{result.work_size[0]} on {device}"
    )


@command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the demo's results.")] = Path(
        "hrstyle-demo"
    ),
    steps: Annotated[int, typer.Option(min=1, help="Tuning steps.")] = DEMO_TUNE.steps,
    size: Annotated[int, typer.Option(min=16, help="Work resolution, long side.")] = DEMO_TUNE.size,
    device: DeviceOpt = "auto",
) -> None:
    """Tune a look on the bundled sample and grade the sample shot with it, into ./hrstyle-demo/.

    Writes the look, the graded frames, a contact sheet and a before/after video.
    """
    from ..demo import run_demo
    from ..device import pick_device

    dev = pick_device(device)
    cfg = replace(DEMO_TUNE, steps=steps, size=size)
    err.print(
        f"demo: a quick {size} px look in {steps} steps (hrstyle tune defaults to {DEFAULTS.size} px and "
        f"{DEFAULTS.steps} steps), then the 24-frame sample shot graded with it",
        markup=False,
    )
    with TuneBar(steps) as bar, RenderBar() as frames:
        result = run_demo(output, cfg, device=dev, on_step=bar, on_frame=frames)
    _report_tune(result.tune, dev.type)
    for path in (result.look_path, *result.outputs.values()):
        out.print(str(path), markup=False)


def _weights_text(weights: tuple[float, ...]) -> str:
    return ",".join(f"{w:g}" for w in weights)


@command()
def sweep(
    keyframe: KeyframeArg,
    look_image: LookImageArg,
    content: Annotated[
        str,
        typer.Option(
            "--content",
            rich_help_panel=TUNING,
            help="Content weights, one row each: higher keeps more of the keyframe. Both terms start at 1, so useful "
            "weights lie around 0.25-4 (not the papers' 10-150).",
        ),
    ] = _weights_text(DEFAULT_CONTENT_WEIGHTS),
    style: Annotated[
        str,
        typer.Option(
            "--style", help="Style weights, one column each: higher takes on more of the look.", rich_help_panel=TUNING
        ),
    ] = _weights_text(DEFAULT_STYLE_WEIGHTS),
    steps: Annotated[
        int,
        typer.Option(min=1, help="Tuning steps per cell (a cell stops earlier on a plateau).", rich_help_panel=TUNING),
    ] = SWEEP_TUNE.steps,
    size: Annotated[
        int,
        typer.Option(
            min=16,
            help="Work resolution of every cell's look, long side; kept looks apply at this size.",
            rich_help_panel=TUNING,
        ),
    ] = SWEEP_TUNE.size,
    seed: Annotated[
        int, typer.Option(help="Random seed; every cell starts from the same network.", rich_help_panel=TUNING)
    ] = SWEEP_TUNE.seed,
    net: NetOpt = SWEEP_TUNE.net,
    unmatched_style: UnmatchedStyleOpt = SWEEP_TUNE.unmatched_style,
    unmatched_carry: UnmatchedCarryOpt = SWEEP_TUNE.unmatched_carry,
    judge_size: Annotated[
        int,
        typer.Option(
            min=0,
            help="Long side at which each cell's tune judges its look, as hrstyle tune --judge-size; 0 = at --size.",
            rich_help_panel=TUNING,
        ),
    ] = SWEEP_TUNE.judge_size,
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Folder for sweep.png, sweep.json and each cell's graded keyframe.",
            rich_help_panel=OUTPUT,
        ),
    ] = Path("hrstyle-sweep"),
    preview_size: Annotated[
        int,
        typer.Option(
            min=16,
            rich_help_panel=OUTPUT,
            help="Long side of each cell's graded keyframe, graded as hrstyle apply does; the figures are measured "
            "on it.",
        ),
    ] = SweepCfg().preview_size,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            rich_help_panel=OUTPUT,
            help="Save every cell's look file (cell_c<content>_s<style>.look.safetensors) for hrstyle apply.",
        ),
    ] = False,
    one_look: Annotated[
        bool,
        typer.Option(
            "--one-look",
            rich_help_panel=TUNING,
            help="Tune one conditional look over every cell's style/content ratio (tune --trade-off) and render each "
            "cell from it: one tune instead of one per cell. Saves it as trade_off.look.safetensors.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a sweep already in the output folder.", rich_help_panel=OUTPUT)
    ] = False,
    device: DeviceOpt = "auto",
    vgg_weights: VggOpt = None,
) -> None:
    """Tune one small look per pair of content and style weights and compare them on one contact sheet.

    Rows are content weights, columns style weights. Each cell shows the keyframe graded with its look, its style
    gap (lower = closer to the look), structure (1 = the keyframe's structure kept) and affine residual (lower =
    more photographic). Pick a cell, then tune at its weights at full size, or apply its kept look.
    """
    from ..device import pick_device
    from ..look.sweep import run_sweep

    try:
        tune_cfg = TuneCfg(
            steps=steps,
            size=size,
            seed=seed,
            net=net,
            judge_size=judge_size,
            unmatched_style=unmatched_style,
            unmatched_carry=unmatched_carry,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    cfg = SweepCfg(
        parse_weights(content, "--content"),
        parse_weights(style, "--style"),
        tune_cfg,
        preview_size=preview_size,
        keep=keep,
        one_look=one_look,
    )
    dev = pick_device(device)
    with SweepBar() as bar:
        try:
            result = run_sweep(
                keyframe,
                look_image,
                output,
                cfg,
                device=dev,
                vgg_weights=vgg_weights,
                overwrite=force,
                on_step=bar.step,
                on_cell=bar.cell,
            )
        except KeyboardInterrupt:
            bar.progress.stop()
            fail(
                f"interrupted; the finished cells' previews{' and looks' if keep else ''} are in {output}",
                EXIT_INTERRUPTED,
            )
    looks = (
        f"one look for {len(result.cells)} cells"
        if one_look
        else f"{len(result.cells)} look{'s' if len(result.cells) > 1 else ''}"
    )
    table = Table(
        title=f"{keyframe.name} → {look_image.name}: {looks} at {size} px, {result.seconds:.0f} s on {dev.type}"
    )
    for name in ("content", "style", "style gap", "structure", "affine", "steps"):
        table.add_column(name, justify="right")
    for c in result.cells:
        s, meta = c.score, c.look.meta
        steps_done = str(meta.steps_done) if meta.stopped == "completed" else f"{meta.steps_done} {meta.stopped}"
        table.add_row(
            f"{c.content_weight:g}",
            f"{c.style_weight:g}",
            f"{s.style_gap:.3f}",
            f"{s.structure_ssim:.3f}",
            f"{s.affine_residual:.3f}",
            steps_done,
        )
    out.print(table)
    if one_look:
        err.print(
            f"one conditional tune in place of {len(result.cells)}; apply a cell with --look "
            f"{result.cells[0].look_path} --style-weight <style/content>",
            markup=False,
        )
    kept = dict.fromkeys(c.look_path for c in result.cells if c.look_path)
    for path in (result.sheet_path, result.json_path, *kept):
        out.print(str(path), markup=False)

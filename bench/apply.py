"""Apply speed and memory: the guided path beside ``--native`` and per-frame Gatys, in one run.

* Grading (`grade_batch` on frames already in memory, batch 1) at each of
  ``--sizes`` (frame height, 16:9), guided and ``--native``, interleaved round
  by round with one per-frame Gatys step at the work size, a stage-by-stage
  breakdown of one frame at ``--io-size`` (decode, network, fit, apply,
  encode), and `render_shot` end to end on PNG and EXR sequences at that size.
* Peak RSS of `render_shot` over ``--frames-small`` and ``--frames-large``
  frames, and of one 8K frame through `grade_batch`, each in a fresh process.
* With a GPU: batch scaling and fp32 vs bf16 at 4K, frames already on the device.

The look is an untuned network at the default work size (512 px): speed and
memory do not depend on the weights, and tuning one costs a minute on 2 cores.

    python bench/apply.py            # ~6 min on 2 busy CPU cores
    python bench/apply.py --quick    # ~2-3 min smoke run

Writes bench/results/apply.json and apply.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from common import ROOT, Table, device_name, peak_rss_mb, sync, timed, write_results  # isort: skip  (hrstyle before torch)
import torch
from torch import Tensor, nn
from tune import Gatys

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import (
    _tile_spans,
    apply_grade,
    fit_grade,
    grade_batch,
    prepare_look,
    run_network,
    to_work_size,
)
from hrstyle.io.colour import working_encoding
from hrstyle.io.imaging import long_side_size, resize
from hrstyle.io.shot import open_shot
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import NET_PRESETS, TuneCfg
from hrstyle.look.file import Look, load_look, save_look
from hrstyle.look.meta import LookMeta, file_sha256
from hrstyle.look.net import HRNet
from hrstyle.look.perceptual import VGGFeatures, make_targets
from hrstyle.look.tune import prepare
from hrstyle.render.config import OutputCfg
from hrstyle.render.run import render_shot

KEYFRAME, LOOK = ROOT / "sample_frames/keyframe.png", ROOT / "sample_frames/look.jpg"
TARGET_FPS_1080 = 3.0  # guided, 2 CPU cores (issue 3, item 8)
TARGET_NATIVE_RATIO = 30.0  # guided at least this much faster than --native at 1080p
TARGET_RSS_DRIFT = 0.05  # peak RSS from the small to the large shot
TARGET_8K_BYTES = 4e9
TARGET_GPU_FPS_4K = 200.0  # bf16, no disk I/O
GATYS_LR = 0.01  # as bench/quality.py
RSS_FRAME_HW = (270, 480)  # small enough for 200 frames in a minute, above HRNet's minimum many times over
NATIVE_CPU_REPEAT_MAX = 1080  # on the CPU, --native frames taller than this are timed once (~30 s each)
GPU_SIZE, GPU_BATCHES, GPU_REPEATS = 2160, (1, 2, 4, 8), 20  # GPU calls take milliseconds: samples are cheap
CPU = RenderCfg(device="cpu")  # the targets are for 2 CPU cores; the GPU has its own table
QUICK = {"sizes": "540,1080", "repeats": 2, "frames_small": 10, "frames_large": 40, "io_frames": 2}

Samples = dict[str, list[float]]


def frame_at(keyframe: Tensor, height: int) -> Tensor:
    """The keyframe resized to a 16:9 frame ``height`` px tall (540 → 960×540, 4320 → 7680×4320)."""
    return resize(keyframe, (height, height * 16 // 9)).contiguous()


def make_look(path: Path, keyframe: Tensor) -> Look:
    """An untuned `hrstyle tune` network at the default work size, saved to ``path`` for the child processes."""
    cfg = TuneCfg()
    torch.manual_seed(cfg.seed)
    net = HRNet(NET_PRESETS[cfg.net]).eval().requires_grad_(False)
    nn.init.normal_(net.head.weight, std=1e-3)  # the zero-initialised head would make every grade the identity
    meta = LookMeta(
        net_cfg=net.cfg.to_dict(),
        tune_cfg=cfg.to_dict(),
        steps_done=0,
        work_size=list(long_side_size(*keyframe.shape[-2:], cfg.size)),
        vgg_weights="none (untuned)",
        keyframe_sha256=file_sha256(KEYFRAME),
        look_sha256=file_sha256(LOOK),
        final_losses={},
        stopped="completed",
        keyframe_name=KEYFRAME.name,
        look_name=LOOK.name,
    )
    return Look(net, meta, save_look(path, net, meta))


def write_sequence(folder: Path, frame: Tensor, count: int, ext: str, bit_depth: str) -> Path:
    """``count`` frames ``shot.1001.<ext>`` ..., each ``frame`` rolled a few pixels more, so none is a copy."""
    folder.mkdir(parents=True, exist_ok=True)
    height, width = frame.shape[-2:]
    spec = FrameSpec({"png": "png", "exr": "openexr"}[ext], bit_depth, width, height, False)
    for i in range(count):
        write_image(folder / f"shot.{1001 + i}.{ext}", to_pixels(frame.roll(3 * i, dims=-1)), spec)
    return folder


def native_network_pixels(height: int, width: int, cfg: RenderCfg) -> int:
    """Pixels `run_native_tiled` runs the network on, tile overlaps included."""
    if cfg.tile == 0 or (height <= cfg.tile and width <= cfg.tile):
        return height * width
    rows, cols = (sum(s.stop - s.start for s in _tile_spans(n, cfg.tile, cfg.tile_pad)) for n in (height, width))
    return rows * cols


@dataclass
class Job:
    """One measurement of the interleaved rounds: ``run`` records its own samples."""

    run: Callable[[], None]
    rounds: int | None = None  # run in the first ``rounds`` rounds only; None: in every round
    warmup: Callable[[], None] | None = None


def interleave(jobs: list[Job], repeats: int) -> None:
    """Warm every job up, then run them in turn, round after round, so each sees the same machine load."""
    for job in jobs:
        if job.warmup is not None:
            job.warmup()
    for r in range(repeats):
        print(f"round {r + 1}/{repeats}...", file=sys.stderr, flush=True)
        for job in jobs:
            if job.rounds is None or r < job.rounds:
                job.run()


def _grade_job(look: Look, frame: Tensor, cfg: RenderCfg, out: list[float]) -> Job:
    """`grade_batch` of ``frame`` with ``cfg``, timed into ``out``."""
    prepared = prepare_look(look, cfg)

    def grade() -> None:
        grade_batch(prepared, frame, cfg)

    def run() -> None:
        with timed(out):
            grade()

    if not cfg.native:
        return Job(run, warmup=grade)
    # A native frame is seconds of big convolutions: first-call costs vanish in it, and a warm-up would not.
    return Job(run, rounds=1 if frame.shape[-2] > NATIVE_CPU_REPEAT_MAX else None)


def grading_jobs(look: Look, keyframe: Tensor, sizes: list[int], samples: Samples) -> list[Job]:
    """Guided and native `grade_batch` on the CPU at each size; native above 1080p only once."""
    jobs = []
    for native in (False, True):
        for size in sizes:
            out = samples[f"{'native' if native else 'guided'} {size}"] = []
            jobs.append(_grade_job(look, frame_at(keyframe, size), replace(CPU, native=native), out))
    return jobs


def gatys_job(keyframe: Tensor, look_image: Tensor, samples: Samples) -> Job:
    """Per-frame Gatys at the work size: a frame's setup (its VGG targets) and one Adam step on its pixels."""
    cfg = TuneCfg()
    device = torch.device("cpu")
    vgg = VGGFeatures().to(device)
    content, style = prepare(keyframe, cfg.size, device), prepare(look_image, cfg.size, device)
    gatys = Gatys(content, vgg, make_targets(vgg, content, style), cfg, GATYS_LR)
    samples["gatys setup"], samples["gatys step"] = [], []

    def run() -> None:
        with timed(samples["gatys setup"]):
            make_targets(vgg, content, style)
        with timed(samples["gatys step"]):
            gatys.step()

    return Job(run, warmup=gatys.step)


STAGES = (
    "decode PNG",
    "to tensor",
    "resize to work size",
    "network",
    "fit_grade",
    "apply_grade",
    "to pixels",
    "encode PNG",
    "decode EXR half",
    "linear → working",
    "working → linear",
    "encode EXR half",
)
PNG_PATH, GRADING = STAGES[:8], STAGES[2:6]  # a PNG frame's whole way through a render; what grade_batch does


def stage_job(look: Look, png: Path, exr: Path, scratch: Path, samples: Samples) -> Job:
    """One frame at the I/O size through each step `render_shot` takes, each timed on its own."""
    prepared = prepare_look(look, CPU)
    for stage in STAGES:
        samples[stage] = []

    def once(into: Samples) -> None:
        with timed(into["decode PNG"]):
            image = read_image(png)
        with timed(into["to tensor"]):
            full = to_tensor(working_encoding(CPU.colorspace, image.spec.bit_depth).to_working(image.pixels))
        with torch.inference_mode():
            with timed(into["resize to work size"]):
                work_in = to_work_size(full, prepared)
            with timed(into["network"]):
                work_out = run_network(prepared.net, work_in, CPU)
            with timed(into["fit_grade"]):
                A, b = fit_grade(work_in, work_out, CPU)
            with timed(into["apply_grade"]):
                graded = apply_grade(full, A, b)
        with timed(into["to pixels"]):
            pixels = to_pixels(graded)
        with timed(into["encode PNG"]):
            write_image(scratch / "out.png", pixels, image.spec)
        with timed(into["decode EXR half"]):
            image = read_image(exr)
        encoding = working_encoding(CPU.colorspace, image.spec.bit_depth)
        with timed(into["linear → working"]):
            working = encoding.to_working(image.pixels)
        with timed(into["working → linear"]):
            linear = encoding.from_working(working)
        with timed(into["encode EXR half"]):
            write_image(scratch / "out.exr", linear, image.spec)

    return Job(lambda: once(samples), warmup=lambda: once(defaultdict(list)))


def render_job(look: Look, shots: dict[str, Path], scratch: Path, samples: Samples) -> Job:
    """`render_shot` end to end (decode and encode threads, manifest, atomic writes) on each sequence."""
    for fmt in shots:
        samples[f"render {fmt}"] = []

    def run() -> None:
        for fmt, folder in shots.items():
            out = scratch / f"render-{fmt}"
            report = render_shot(open_shot(folder), look, out, CPU, OutputCfg(force=True))
            samples[f"render {fmt}"].append(report.seconds / report.frames_written)
            shutil.rmtree(out)

    return Job(run)


def in_child(mode: str, *args: str, threads: int) -> dict[str, Any]:
    """Run this file's ``--child`` ``mode`` in a fresh process, so its peak RSS is that run's alone.

    The child inherits os.environ, which holds the OMP_WAIT_POLICY `import hrstyle` set here.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, *args, "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def own_peak_rss_mib() -> float:
    """This process's peak RSS in MiB since it started (VmHWM).

    Not ru_maxrss: Linux carries that across fork and exec, so a child reports
    at least its parent's RSS at the fork (this bench's parent holds VGG and 4K frames).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status; the RSS figures need Linux")


def child_main(args: argparse.Namespace) -> int:
    """Child process: one render or one 8K grade; prints its figures as one JSON line."""
    look = load_look(args.look)
    keyframe = to_tensor(read_image(KEYFRAME).pixels)
    seconds: list[float] = []
    before = own_peak_rss_mib()
    if args.child == "render":
        shot = open_shot(args.shot)
        shot = shot.subset(shot.frames[: args.frames])
        with tempfile.TemporaryDirectory(prefix="hrstyle-bench-render-") as out, timed(seconds):
            render_shot(shot, look, Path(out) / "out", CPU)
        result = {"frames": len(shot)}
    else:
        frame = frame_at(keyframe, args.height)
        with timed(seconds):
            grade_batch(prepare_look(look, CPU), frame, CPU)
        result = {"width": frame.shape[-1], "height": frame.shape[-2]}
    print(
        json.dumps(
            {
                **result,
                "seconds": seconds[0],
                "rss_before_mib": before,
                "peak_rss_mib": own_peak_rss_mib(),
                "ru_maxrss_mib": peak_rss_mb(),
            }
        )
    )
    return 0


def gpu_figures(
    look: Look,
    keyframe: Tensor,
    device: torch.device,
    height: int = GPU_SIZE,
    batches: tuple[int, ...] = GPU_BATCHES,
    repeats: int = GPU_REPEATS,
) -> list[dict[str, Any]]:
    """fps of guided `grade_batch` at ``height`` per precision and batch size, frames already on ``device``;
    also with the graded frames copied back to the host, as `render_shot` does before encoding."""
    precisions = ["fp32"]
    if device.type == "cuda":
        precisions.append("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    frames = frame_at(keyframe, height).to(device).expand(max(batches), -1, -1, -1).contiguous()
    looks = {p: prepare_look(look, RenderCfg(precision=p, device=device.type)) for p in precisions}
    cases = [(p, b, to_host) for b in batches for p in precisions for to_host in (False, True)]
    samples: dict[tuple[str, int, bool], list[float]] = {case: [] for case in cases}
    peak_mib: dict[tuple[str, int], float] = {}

    def grade(precision: str, batch: int, to_host: bool) -> None:
        graded = grade_batch(looks[precision], frames[:batch], RenderCfg(precision=precision, device=device.type))
        if to_host:
            graded.cpu()

    for precision, batch, to_host in cases:  # warm-up, and each case's peak GPU memory
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        grade(precision, batch, to_host)
        sync(device)
        if device.type == "cuda" and not to_host:
            peak_mib[precision, batch] = torch.cuda.max_memory_allocated(device) / 2**20
    for _ in range(repeats):
        for case in cases:
            with timed(samples[case], device):
                grade(*case)
    rows = []
    for precision in precisions:
        for batch in batches:
            on_device = statistics.median(samples[precision, batch, False])
            to_host = statistics.median(samples[precision, batch, True])
            rows.append(
                {
                    "device_name": device_name(device),
                    "size": f"{frames.shape[-1]}×{frames.shape[-2]}",
                    "precision": precision,
                    "batch": batch,
                    "fps": batch / on_device,
                    "fps_to_host": batch / to_host,
                    "peak_mib": peak_mib.get((precision, batch)),
                    "s": samples[precision, batch, False],
                    "s_to_host": samples[precision, batch, True],
                }
            )
    return rows


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _median(samples: Samples, name: str) -> float:
    return statistics.median(samples[name])


def report(
    args: argparse.Namespace,
    sizes: list[int],
    look: Look,
    samples: Samples,
    rss: list[dict[str, Any]],
    huge: dict[str, Any],
    gpu: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[Table], list[str]]:
    """The figures as JSON data, tables and notes."""
    work_hw = tuple(look.meta.work_size)
    gatys_s = _median(samples, "gatys setup") + args.gatys_steps * _median(samples, "gatys step")
    speed = []
    for size in sizes:
        width = size * 16 // 9
        guided, native = _median(samples, f"guided {size}"), _median(samples, f"native {size}")
        speed.append(
            {
                "size": f"{width}×{size}",
                "height": size,
                "guided_s": guided,
                "native_s": native,
                "guided_fps": 1 / guided,
                "native_fps": 1 / native,
                "native_frames": len(samples[f"native {size}"]),
                "native_over_guided": native / guided,
                "gatys_over_guided": gatys_s / guided,
                "net_px_ratio": native_network_pixels(size, width, CPU) / (work_hw[0] * work_hw[1]),
            }
        )
    by_height = {row["height"]: row for row in speed}
    stage_ms = {stage: 1000 * _median(samples, stage) for stage in STAGES}
    renders = {
        fmt.removeprefix("render "): statistics.median(v) for fmt, v in samples.items() if fmt.startswith("render ")
    }
    io_ref = by_height.get(args.io_size)
    small, large = rss
    rss_ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    huge_bytes = huge["peak_rss_mib"] * 2**20

    targets = []
    if 1080 in by_height:
        row = by_height[1080]
        targets += [
            ("guided 1080p ≥ 3 fps (CPU)", f"{row['guided_fps']:.2f} fps", row["guided_fps"] >= TARGET_FPS_1080),
            (
                "guided ≥ 30× faster than --native at 1080p",
                f"{row['native_over_guided']:.1f}×",
                row["native_over_guided"] >= TARGET_NATIVE_RATIO,
            ),
        ]
    targets += [
        (
            f"peak RSS {args.frames_small} → {args.frames_large} frames within ±5%",
            f"{rss_ratio:.3f}× ({rss_ratio - 1:+.1%})",
            abs(rss_ratio - 1) <= TARGET_RSS_DRIFT,
        ),
        (f"{huge['width']}×{huge['height']} frame ≤ 4 GB", f"{huge_bytes / 1e9:.2f} GB", huge_bytes <= TARGET_8K_BYTES),
    ]
    best_half = max((r for r in gpu if r["precision"] != "fp32"), key=lambda r: r["fps"], default=None)
    if best_half is not None:
        targets.append(
            (
                f"GPU 4K ≥ {TARGET_GPU_FPS_4K:g} fps with {best_half['precision']} (best batch: {best_half['batch']})",
                f"{best_half['fps']:.0f} fps",
                best_half["fps"] >= TARGET_GPU_FPS_4K,
            )
        )

    tables = [
        Table(
            f"Grading, frames in memory (grade_batch, CPU, batch 1; medians of {args.repeats} interleaved rounds)",
            [
                "frame",
                "guided s/frame",
                "guided fps",
                "--native s/frame",
                "--native fps",
                "native frames timed",
                "native/guided",
                "Gatys/guided",
                "network px native/guided",
            ],
            [
                [
                    r["size"],
                    r["guided_s"],
                    r["guided_fps"],
                    r["native_s"],
                    r["native_fps"],
                    r["native_frames"],
                    r["native_over_guided"],
                    r["gatys_over_guided"],
                    r["net_px_ratio"],
                ]
                for r in speed
            ],
        ),
        Table("Targets", ["target", "measured", "verdict"], [(t, m, _verdict(ok)) for t, m, ok in targets]),
        Table(
            f"Where a {args.io_size * 16 // 9}×{args.io_size} frame's time goes (one frame, each step alone; ms, "
            "medians)",
            ["step", "ms", "share of PNG in → PNG out"],
            [
                [
                    stage,
                    stage_ms[stage],
                    f"{stage_ms[stage] / sum(stage_ms[s] for s in PNG_PATH):.0%}" if stage in PNG_PATH else "",
                ]
                for stage in STAGES
            ],
        ),
        Table(
            f"End to end: render_shot at {args.io_size}p, {args.io_frames} frames per run (medians)",
            ["format (in and out)", "s/frame", "fps", "vs grading alone"],
            [
                [fmt, s, 1 / s, f"{s / io_ref['guided_s']:.2f}× the time" if io_ref else "n/a"]
                for fmt, s in renders.items()
            ],
        ),
        Table(
            f"Per-frame Gatys at the work size ({work_hw[1]}×{work_hw[0]})",
            ["steps timed", "setup s (VGG targets)", "s/step", f"s/frame at {args.gatys_steps} steps"],
            [[len(samples["gatys step"]), _median(samples, "gatys setup"), _median(samples, "gatys step"), gatys_s]],
        ),
        Table(
            "Peak RSS, each case in a fresh process (VmHWM)",
            ["case", "peak after imports + look (MiB)", "peak RSS (MiB)", "seconds", "fps"],
            [
                [
                    f"render_shot, {r['frames']} frames {RSS_FRAME_HW[1]}×{RSS_FRAME_HW[0]} PNG",
                    r["rss_before_mib"],
                    r["peak_rss_mib"],
                    r["seconds"],
                    r["frames"] / r["seconds"],
                ]
                for r in rss
            ]
            + [
                [
                    f"grade_batch, one {huge['width']}×{huge['height']} frame",
                    huge["rss_before_mib"],
                    huge["peak_rss_mib"],
                    huge["seconds"],
                    1 / huge["seconds"],
                ]
            ],
        ),
    ]
    if gpu:
        tables.append(
            Table(
                f"GPU: guided at {gpu[0]['size']}, frames on the device ({gpu[0]['device_name']})",
                ["precision", "batch", "fps", "fps incl. copy to host", "peak GPU MiB"],
                [[r["precision"], r["batch"], r["fps"], r["fps_to_host"], r["peak_mib"]] for r in gpu],
            )
        )

    notes = [
        f"Look: an untuned HR-Net at work size {work_hw[1]}×{work_hw[0]} (speed and memory do not depend on the "
        "weights). Frames: sample_frames/keyframe.png resized to each size. Guided, native, one Gatys step, the "
        f"step breakdown and the end-to-end renders run in turn in each of {args.repeats} rounds after one "
        "untimed pass of each (no untimed native pass: a native frame is seconds of convolutions)."
        + "".join(
            f" --native at {r['size']} is very slow on the CPU: one frame timed, {r['native_s']:.0f} s."
            for r in speed
            if r["height"] > NATIVE_CPU_REPEAT_MAX
        ),
        f"Gatys: Adam on the pixels (lr {GATYS_LR:g}) with the tune's VGG, targets and loss at "
        f"{work_hw[1]}×{work_hw[0]}, {len(samples['gatys step'])} steps timed and extrapolated to "
        f"{args.gatys_steps} (bench/quality.py's default --steps; that bench runs it at 256 px): {gatys_s:.0f} s "
        "per frame, whatever the frame size, before the upscale.",
    ]
    if 1080 in by_height:
        row = by_height[1080]
        net_ms = stage_ms["network"]
        notes.append(
            f"Why not 30× over --native: at 1080p --native runs the network on "
            f"{native_network_pixels(1080, 1920, CPU):,} px (512 px tiles with 32 px overlaps), the guided "
            f"path on {work_hw[0] * work_hw[1]:,} px, {row['net_px_ratio']:.1f}× fewer. Even were the fit and the "
            f"full-size apply free, the ratio could not pass ~{row['net_px_ratio']:.0f}×; they are not (see the "
            f"breakdown: network {net_ms:.0f} ms of {sum(stage_ms[s] for s in GRADING):.0f} ms grading), so "
            f"{row['native_over_guided']:.1f}× is measured. 30× would need a smaller work size or a network "
            "cheaper per pixel; the work size is the look's tuned size by design."
        )
    frame_mib = huge["width"] * huge["height"] * 12 / 2**20
    notes.append(
        "RSS: each case is a fresh process (this file's --child; guided, batch 1, CPU), and its peak is VmHWM "
        "from /proc/self/status. Not getrusage's ru_maxrss (kept in the JSON): Linux carries it across fork "
        f"and exec, so each child reported this parent's RSS at the fork ({small['ru_maxrss_mib']:.0f} MiB), "
        "not its own. 'After imports + look': torch, hrstyle, the look and the keyframe loaded. The "
        f"{huge['width']}×{huge['height']} row is grade_batch alone: its float32 frame ({frame_mib:.0f} MiB) is "
        "made after that figure; a render would also hold the decoded pixels and the pixels being encoded, "
        f"about {frame_mib:.0f} MiB each."
    )
    if not gpu:
        notes.append("No GPU here (torch.cuda.is_available() is False): GPU figures skipped.")
    data = {
        "args": {k: v for k, v in vars(args).items() if v is not None},
        "work_size": list(work_hw),
        "speed": speed,
        "stages_ms": stage_ms,
        "render_s_per_frame": renders,
        "gatys_s_per_frame": gatys_s,
        "rss": rss,
        "rss_ratio": rss_ratio,
        "huge": huge,
        "gpu": gpu,
        "targets": [{"target": t, "measured": m, "pass": ok} for t, m, ok in targets],
        "samples": samples,
        "peak_rss_mb": peak_rss_mb(),
    }
    return data, tables, notes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="540,1080,2160", help="frame heights (16:9) to grade, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (timed frames per case)")
    parser.add_argument("--frames-small", type=int, default=20, help="frames of the small RSS run")
    parser.add_argument("--frames-large", type=int, default=200, help="frames of the large RSS run")
    parser.add_argument("--io-size", type=int, default=1080, help="frame height of the end-to-end renders")
    parser.add_argument("--io-frames", type=int, default=4, help="frames per end-to-end render")
    parser.add_argument(
        "--gatys-steps",
        type=int,
        default=150,
        help="steps a per-frame Gatys run takes, to extrapolate to (bench/quality.py's --steps)",
    )
    parser.add_argument("--huge", type=int, default=4320, help="frame height of the fresh-process memory check")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--out", default=str(ROOT / "bench/results"), help="results folder")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run, ~2-3 min: fewer sizes, rounds and frames (explicit options still apply)",
    )
    for hidden in ("--child", "--shot", "--look"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--height", type=int, help=argparse.SUPPRESS)
    if "--quick" in argv:
        parser.set_defaults(**QUICK)  # explicit options still win
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        return child_main(args)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip().isdigit())
    if (
        not sizes
        or min(args.repeats, args.frames_small, args.io_frames, args.gatys_steps, args.threads) < 1
        or args.frames_large < args.frames_small
    ):
        parser.error("expected --sizes like 540,1080, counts >= 1 and --frames-large >= --frames-small")

    keyframe, look_image = (to_tensor(read_image(p).pixels) for p in (KEYFRAME, LOOK))
    work = Path(tempfile.mkdtemp(prefix="hrstyle-bench-apply-"))
    try:
        look_path = work / "bench.look.safetensors"
        look = make_look(look_path, keyframe)
        io_frame = frame_at(keyframe, args.io_size)
        shots = {
            "PNG 8-bit": write_sequence(work / "png", io_frame, args.io_frames, "png", "uint8"),
            "EXR half": write_sequence(work / "exr", io_frame, args.io_frames, "exr", "half"),
        }
        samples: Samples = {}
        print("setting up...", file=sys.stderr, flush=True)
        jobs = [
            *grading_jobs(look, keyframe, sizes, samples),
            gatys_job(keyframe, look_image, samples),
            stage_job(look, shots["PNG 8-bit"] / "shot.1001.png", shots["EXR half"] / "shot.1001.exr", work, samples),
            render_job(look, shots, work, samples),
        ]
        interleave(jobs, args.repeats)

        print("peak RSS in fresh processes...", file=sys.stderr, flush=True)
        rss_shot = write_sequence(work / "rss", frame_at(keyframe, RSS_FRAME_HW[0]), args.frames_large, "png", "uint8")
        rss = [
            in_child(
                "render", "--shot", str(rss_shot), "--look", str(look_path), "--frames", str(n), threads=args.threads
            )
            for n in (args.frames_small, args.frames_large)
        ]
        huge = in_child("grade", "--look", str(look_path), "--height", str(args.huge), threads=args.threads)
        gpu = []
        if torch.cuda.is_available():
            print("GPU...", file=sys.stderr, flush=True)
            gpu = gpu_figures(look, keyframe, torch.device("cuda"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    data, tables, notes = report(args, sizes, look, samples, rss, huge, gpu)
    print(write_results("apply", data, tables, args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scaling out: plain `render_shot` beside Ray with 1 and 2 workers on the same shot, in one run.

* Throughput, round by round (round 0 warms up and is dropped): `render_shot`
  (what ``hrstyle apply`` runs) at 1 torch thread and at torch's default, then
  `farm.render_on_ray` on a local Ray instance with 1 and 2 workers (1 core and
  1 torch thread each) at ``--chunk`` frames per task, and with 1 worker and the
  whole shot as one chunk; then a resume pass, the same farm render again over
  its finished folder, where every chunk has nothing to do.
* Overhead per chunk, three ways: the slope between 1 worker with many chunks
  and 1 worker with one chunk (what a chunk costs beyond its frames); 1 worker
  against `render_shot` at 1 thread, per chunk (that plus the fixed cost of a
  Ray render); and the resume pass per chunk (dispatch, the look's transfer,
  opening the manifest and checking the frames).
* A cold farm: the whole ``hrstyle farm --chunk 8`` command against the whole
  ``hrstyle apply`` command on the same shot, each a fresh process into a fresh
  folder (Ray started, workers importing torch, the look sent, shut down):
  target, farm minus apply <= 10 s + 0.3 s per chunk.
* With GPUs: fps with 1, 2, 4 ... of them, one task per GPU.
* A 10-node x 8-GPU cluster, extrapolated: W·C / (C/r + o) fps for W workers
  of r fps each, chunks of C frames and o seconds of overhead per chunk, with
  r as measured here per CPU worker and, for a GPU worker, r bounded by the
  decode and encode a task does on its CPU cores (measured here), plus the
  storage bandwidth that would take.

The shot is sample_frames/shot (24 frames, 960×540 PNG) and the look an
untuned HR-Net at the default work size (bench/lut.py: speed does not depend on
the weights). Ray starts once, at the start, timed apart from the rounds.

    python bench/scale.py               # ~3 min on 2 busy CPU cores
    python bench/scale.py --rounds 1    # smoke run

Writes bench/results/scale.json and scale.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from common import ROOT, Table, peak_rss_mb, write_results  # isort: skip  (hrstyle before torch)
import torch
from lut import KEYFRAME, untuned_look

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.grade.config import RenderCfg
from hrstyle.io.shot import Shot, open_shot
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.file import Look, save_look
from hrstyle.render.config import FarmCfg
from hrstyle.render.farm import ray_session, render_on_ray
from hrstyle.render.run import render_shot

SHOT = ROOT / "sample_frames/shot"
CPU = RenderCfg(device="cpu")
CLUSTER_NODES, CLUSTER_GPUS = 10, 8
CLUSTER_CHUNK = FarmCfg.chunk  # hrstyle farm's default

Samples = dict[str, list[float]]


def labels(frames: int, chunk: int) -> dict[str, str]:
    """Each run's name in the tables, by key."""
    return {
        "apply_1": "apply, 1 thread",
        "apply_n": f"apply, {torch.get_num_threads()} threads",
        "ray_1": f"Ray, 1 worker, chunk {chunk}",
        "ray_2": f"Ray, 2 workers, chunk {chunk}",
        "ray_1_whole": f"Ray, 1 worker, chunk {frames} (one)",
        "resume": f"Ray resume pass, 1 worker, chunk {chunk}",
    }


def cases(shot: Shot, look: Look, chunk: int, work: Path) -> dict[str, Callable[[Path], None]]:
    """What each round runs, by key (`labels`): each renders the whole shot into the folder it is given."""
    threads = torch.get_num_threads()

    def apply(n: int) -> Callable[[Path], None]:
        def run(out: Path) -> None:
            torch.set_num_threads(n)
            try:
                render_shot(shot, look, out, CPU)
            finally:
                torch.set_num_threads(threads)

        return run

    def ray(workers: int, size: int) -> Callable[[Path], None]:
        return lambda out: render_on_ray(shot, look, out, CPU, FarmCfg(chunk=size, workers=workers, gpus_per_task=0))

    resumed = work / "resume"
    render_shot(shot, look, resumed, CPU)  # the resume pass finds every frame done
    return {
        "apply_1": apply(1),
        "apply_n": apply(threads),
        "ray_1": ray(1, chunk),
        "ray_2": ray(2, chunk),
        "ray_1_whole": ray(1, len(shot)),
        "resume": lambda out: ray(1, chunk)(resumed),
    }


def time_rounds(runs: dict[str, Callable[[Path], None]], rounds: int, work: Path) -> tuple[Samples, Samples]:
    """Wall seconds and this process's CPU seconds (all its threads; a Ray worker's are its own)
    of each run per round, back to back in each round; round 0 is dropped."""
    wall: Samples = {name: [] for name in runs}
    cpu: Samples = {name: [] for name in runs}
    for round_ in range(rounds + 1):
        print(f"  round {round_}/{rounds}", file=sys.stderr, flush=True)
        for name, run in runs.items():
            out = work / "out"
            start, start_cpu = time.perf_counter(), time.process_time()
            run(out)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
            shutil.rmtree(out, ignore_errors=True)
            if round_ > 0:
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    return wall, cpu


def io_seconds(shot: Shot, work: Path, count: int = 4) -> dict[str, float]:
    """Median seconds to decode and to encode (8-bit PNG) one frame of the shot, on 1 thread:
    what a task does on its CPU cores whatever device grades."""
    decode, encode = [], []
    for ref in shot.frames[:count]:
        start = time.perf_counter()
        image = read_image(ref.path)
        decode.append(time.perf_counter() - start)
        h, w = image.pixels.shape[:2]
        start = time.perf_counter()
        write_image(work / "io.png", image.pixels, FrameSpec("png", "uint8", w, h, False))
        encode.append(time.perf_counter() - start)
    return {
        "decode": median(decode),
        "encode": median(encode),
        "png_bytes": (work / "io.png").stat().st_size,
        "input_bytes": shot.frames[0].path.stat().st_size,
    }


def gpu_scaling(shot: Shot, look: Look, chunk: int, work: Path) -> list[dict[str, Any]]:
    """fps with 1, 2, 4 ... GPUs, one task per GPU, each timed after an untimed run that starts its workers."""
    count = torch.cuda.device_count()
    rows = []
    for gpus in sorted({min(2**i, count) for i in range(int(math.log2(count)) + 2)}):
        farm = FarmCfg(chunk=chunk, workers=gpus, gpus_per_task=1)
        seconds = [0.0, 0.0]
        for i in range(2):
            start = time.perf_counter()
            render_on_ray(shot, look, work / "gpu", RenderCfg(), farm)
            seconds[i] = time.perf_counter() - start
            shutil.rmtree(work / "gpu")
        rows.append({"gpus": gpus, "seconds": seconds[1], "fps": len(shot) / seconds[1]})
    for row in rows:
        row["speedup"] = row["fps"] / rows[0]["fps"]
    return rows


def throughput(workers: int, chunk: int, rate: float, overhead: float) -> float:
    """fps of ``workers`` tasks of ``chunk`` frames at ``rate`` fps, ``overhead`` s per chunk, on a long shot."""
    return workers * chunk / (chunk / rate + overhead)


def report(
    wall: Samples, cpu: Samples, frames: int, chunk: int, init_s: float, io: dict[str, float], gpu: list[dict[str, Any]]
) -> tuple[list[Table], dict[str, Any]]:
    s = {key: median(values) for key, values in wall.items()}
    chunks = math.ceil(frames / chunk)
    rate = frames / s["apply_1"]  # one worker's fps: render_shot at one torch thread, as inside a task
    core_s = median(cpu["apply_1"]) / frames  # CPU seconds a frame takes, decode and encode threads included
    overheads = {
        "slope: 1 worker, many chunks vs one (o)": (s["ray_1"] - s["ray_1_whole"]) / (chunks - 1),
        "1 worker vs apply at 1 thread, per chunk": (s["ray_1"] - s["apply_1"]) / chunks,
        "resume pass (nothing to render), per chunk": s["resume"] / chunks,
    }
    overhead = overheads["slope: 1 worker, many chunks vs one (o)"]
    fixed = s["ray_1_whole"] - s["apply_1"] - overhead  # per Ray render: the progress queue's actor, shot and look sent
    tables = [
        Table(
            f"Throughput, {frames} frames 960×540 PNG (medians of {len(wall['apply_1'])} interleaved rounds)",
            ["run", "seconds", "fps", "× apply at 1 thread"],
            [
                [label, s[key], frames / s[key], s["apply_1"] / s[key]]
                for key, label in labels(frames, chunk).items()
                if key != "resume"
            ],
        ),
        Table(
            f"Overhead (chunks of {chunk}: {chunks} per render)",
            ["estimate", "seconds"],
            [
                *([name, value] for name, value in overheads.items()),
                ["fixed, per Ray render", fixed],
                ["CPU seconds per frame, apply at 1 thread (all its threads)", core_s],
            ],
        ),
    ]
    if gpu:
        tables.append(
            Table(
                "Scaling across this machine's GPUs (one task per GPU)",
                ["GPUs", "seconds", "fps", "speedup"],
                [[r["gpus"], r["seconds"], r["fps"], r["speedup"]] for r in gpu],
            )
        )
    io_rate = 1 / max(io["decode"], io["encode"])  # a task's decode and encode threads overlap on 2+ cores
    gpu_rate = gpu[0]["fps"] if gpu else io_rate
    cluster = CLUSTER_NODES * CLUSTER_GPUS
    cores = os.cpu_count() or 1
    cases = [  # (case, W, C, r, note)
        (
            "2 workers on this machine",
            2,
            chunk,
            rate,
            f"measured {frames / s['ray_2']:.3g} fps; its {cores} cores allow {cores / core_s:.3g}",
        ),
        (
            f"{CLUSTER_NODES} nodes × {CLUSTER_GPUS} CPU workers at this machine's rate",
            cluster,
            CLUSTER_CHUNK,
            rate,
            f"a floor; each worker takes {core_s * rate:.2g} cores",
        ),
        (
            f"{CLUSTER_NODES} nodes × {CLUSTER_GPUS} GPUs",
            cluster,
            CLUSTER_CHUNK,
            gpu_rate,
            "r: one GPU, measured above"
            if gpu
            else f"r: a task's PNG decode/encode ceiling (no GPU here); needs "
            f"{CLUSTER_GPUS * gpu_rate * (io['decode'] + io['encode']):.3g} cores a node for decode and encode",
        ),
    ]
    bytes_per_frame = io["input_bytes"] + io["png_bytes"]
    extrapolation = []
    for case, workers, size, r, note in cases:
        fps = throughput(workers, size, r, overhead)
        extrapolation.append(
            {
                "case": case,
                "W": workers,
                "C": size,
                "r_fps": r,
                "o_s": overhead,
                "fps": fps,
                "frames_per_hour": fps * 3600,
                "storage_mb_s": fps * bytes_per_frame / 1e6,
                "note": note,
            }
        )
    tables.append(
        Table(
            "Extrapolation: throughput = W·C / (C/r + o) fps (W workers of r fps, chunks of C frames, o s per chunk)",
            ["case", "W", "C", "r (fps/worker)", "o (s/chunk)", "fps", "frames/hour", "storage MB/s", "note"],
            [list(row.values()) for row in extrapolation],
        )
    )
    figures = {
        "seconds": s,
        "rate_per_worker_fps": rate,
        "cpu_s_per_frame": core_s,
        "overhead_per_chunk_s": overheads,
        "fixed_s_per_render": fixed,
        "ray_init_s": init_s,
        "io": io,
        "extrapolation": extrapolation,
    }
    return tables, figures


COLD_CHUNK = 8


def cold_start(look: Look, frames: int, rounds: int, work: Path) -> dict[str, Any]:
    """Whole `hrstyle apply` and `hrstyle farm` commands, interleaved, each into a fresh folder."""
    look_path = work / "cold.look.safetensors"
    save_look(look_path, look.net, look.meta)
    shot = [str(SHOT), "--look", str(look_path), "--frames", f"1001-{1000 + frames}"]
    commands = {"apply": ["apply", *shot], "farm": ["farm", *shot, "--chunk", str(COLD_CHUNK)]}
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(rounds):
        for name, args in commands.items():
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "hrstyle", *args, "-o", str(work / f"cold-{name}-{i}")],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            seconds[name].append(time.perf_counter() - start)
    chunks = math.ceil(frames / COLD_CHUNK)
    overhead = median(seconds["farm"]) - median(seconds["apply"])
    target = 10 + 0.3 * chunks
    return {
        "seconds": seconds,
        "chunks": chunks,
        "overhead_s": overhead,
        "target_s": target,
        "pass": overhead <= target,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--chunk", type=int, default=4, help="frames per Ray task")
    parser.add_argument("--frames", type=int, default=24, help="frames of the sample shot to render (at most 24)")
    parser.add_argument("--cold-rounds", type=int, default=2, help="rounds of the whole apply and farm commands")
    parser.add_argument("--out", default=str(ROOT / "bench/results"), help="results folder")
    args = parser.parse_args(argv)
    if not (args.rounds >= 1 and 1 <= args.chunk < args.frames <= 24):
        parser.error("expected --rounds >= 1 and 1 <= --chunk < --frames <= 24")

    shot = open_shot(SHOT, f"1001-{1000 + args.frames}")
    look = untuned_look(to_tensor(read_image(KEYFRAME).pixels))
    work = Path(tempfile.mkdtemp(prefix="hrstyle-bench-scale-"))
    try:
        io = io_seconds(shot, work)
        print("cold farm and apply commands...", file=sys.stderr, flush=True)
        cold = cold_start(look, args.frames, args.cold_rounds, work)
        start = time.perf_counter()
        with ray_session(num_cpus=os.cpu_count()):
            init_s = time.perf_counter() - start
            print(f"Ray started in {init_s:.1f} s; timing...", file=sys.stderr, flush=True)
            wall, cpu = time_rounds(cases(shot, look, args.chunk, work), args.rounds, work)
            gpu = gpu_scaling(shot, look, args.chunk, work) if torch.cuda.is_available() else []
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tables, figures = report(wall, cpu, len(shot), args.chunk, init_s, io, gpu)
    tables.insert(
        0,
        Table(
            f"Cold start: whole commands, {args.frames} frames, farm --chunk {COLD_CHUNK} ({cold['chunks']} chunks), "
            f"medians of {args.cold_rounds}",
            ["hrstyle apply s", "hrstyle farm s", "farm − apply s", "target s", "verdict"],
            [
                [
                    median(cold["seconds"]["apply"]),
                    median(cold["seconds"]["farm"]),
                    cold["overhead_s"],
                    cold["target_s"],
                    "pass" if cold["pass"] else "FAIL",
                ]
            ],
        ),
    )
    notes = [
        f"Each round renders the shot with every run above in turn, into a fresh folder (the resume pass into one "
        f"already finished); round 0 starts Ray's workers and is dropped. Ray ran on this machine ({os.cpu_count()} "
        f"CPUs, started in {init_s:.1f} s, not counted). A worker holds 1 CPU in Ray's accounting and runs 1 torch "
        f"thread, but render_shot decodes and encodes on threads of their own, so it keeps more than one core busy: "
        f"{figures['cpu_s_per_frame']:.3g} CPU s a frame against {1 / figures['rate_per_worker_fps']:.3g} s of wall "
        f"time. r for the CPU rows is the shot's frames over apply's time at 1 thread (a task runs render_shot as "
        f"apply does); o is the slope estimate. A task decodes a frame in {io['decode'] * 1000:.0f} ms and encodes it "
        f"as PNG in {io['encode'] * 1000:.0f} ms, on the CPU whatever device grades it, so a GPU worker does at most "
        f"{1 / max(io['decode'], io['encode']):.1f} fps at 960×540 unless its frames are cheaper to write (EXR, lower "
        f"PNG compression) or several tasks share a GPU (--gpus-per-task 0.25). Storage: each frame reads "
        f"{io['input_bytes'] / 1e6:.2f} MB and writes {io['png_bytes'] / 1e6:.2f} MB on the shared folder. "
        f"Peak RSS of the driver: {peak_rss_mb():.0f} MiB.",
        "GPUs: " + ("see the table." if gpu else "none on this machine; the GPU scaling section was skipped."),
    ]
    data = {"args": vars(args), **figures, "cold_start": cold, "gpu": gpu, "samples": {"wall": wall, "cpu": cpu}}
    print(write_results("scale", data, tables, args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

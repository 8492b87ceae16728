"""Whole-tune CPU wall time of tune schedules, side by side (issue 18: a tune 5× faster).

A schedule is a set of TuneCfg overrides, 'NAME:field=value;…' as bench/truth.py's
variants; the first is the baseline. A whole default tune is ~10 minutes on two
quiet cores, so each schedule is timed on ``--share`` of its steps (its
coarse/fine proportion kept, patience off) and scaled up: the set-up (targets,
matches) once, plus the loop × steps / steps run. The schedules take turns for
``--rounds`` rounds, and the figures are medians, with each schedule's speed-up
over the first. Quality is bench/truth.py's job: run the same overrides there.

    python bench/schedule.py                 # TuneCfg() against the coarse-to-fine candidate: ~6 min on 2 cores
    python bench/schedule.py --schedule default: --schedule 'fast:size=256;steps=150;judge_size=0'

Writes <out>/schedule.{json,md}; a run into bench/results also updates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

from common import Table, add_run_options, parse_run_options, write_benchmarks_md, write_results  # isort: skip  (hrstyle before torch)
import pairs
import torch

from hrstyle.demo import samples_dir
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import TuneCfg
from hrstyle.look.perceptual import VGGFeatures
from hrstyle.look.tune import coarse_steps, tune

SCHEDULES = ["default:", "coarse-to-fine:size=256;steps=150;coarse_share=0.8"]
TARGET_SPEED_UP = 5.0
COLUMNS = ("schedule", "size", "steps", "judge_size", "coarse_share", "seconds", "speed_up")


def time_schedule(keyframe: torch.Tensor, look: torch.Tensor, cfg: TuneCfg, share: float, vgg: VGGFeatures) -> float:
    """Estimated seconds of a whole tune with ``cfg``: one tune of ``share`` of its steps, timed
    whole, plus the steps it left out at the median step time of their phase (coarse or fine;
    a phase's first steps are slower while the kernels for its sizes are set up)."""
    steps = max(2, round(cfg.steps * share))
    start = time.perf_counter()
    result = tune(keyframe, look, replace(cfg, steps=steps, patience=steps), vgg=vgg)
    wall = time.perf_counter() - start
    ends = [s.seconds for s in result.history]
    durations = [b - a for a, b in zip([0.0, *ends], ends)]
    run_coarse, full_coarse = coarse_steps(replace(cfg, steps=steps), keyframe), coarse_steps(cfg, keyframe)
    phases = [
        (durations[:run_coarse], full_coarse - run_coarse),
        (durations[run_coarse:], cfg.steps - full_coarse - (steps - run_coarse)),
    ]
    return wall + sum(statistics.median(d) * left for d, left in phases if d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--schedule", action="append", help="'NAME:field=value;…' (repeatable; the first is the baseline)"
    )
    parser.add_argument("--share", type=float, default=0.1, help="share of each schedule's steps timed")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the schedules, taken in turn")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    parsed = [pairs.parse_variant(text)[:2] for text in args.schedule or SCHEDULES]
    cfgs = {name: TuneCfg(**overrides) for name, overrides in parsed}
    keyframe = to_tensor(read_image(samples_dir() / "keyframe.png").pixels)
    look = to_tensor(read_image(samples_dir() / "look.jpg").pixels)
    vgg = VGGFeatures()
    samples: dict[str, list[float]] = {name: [] for name in cfgs}
    for round_ in range(args.rounds):
        for name, cfg in cfgs.items():
            samples[name].append(time_schedule(keyframe, look, cfg, args.share, vgg))
            print(f"round {round_ + 1}: {name} {samples[name][-1]:.0f} s", file=sys.stderr, flush=True)
    baseline = statistics.median(next(iter(samples.values())))
    rows: list[dict[str, Any]] = []
    for (name, overrides), cfg in zip(parsed, cfgs.values()):
        seconds = statistics.median(samples[name])
        rows.append(
            {
                "schedule": name,
                "overrides": overrides,
                "size": cfg.size,
                "steps": cfg.steps,
                "judge_size": cfg.judge_size,
                "coarse_share": cfg.coarse_share,
                "seconds": seconds,
                "samples": samples[name],
                "speed_up": baseline / seconds,
            }
        )
    table = Table(
        f"Whole-tune CPU wall time, the sample pair, estimated from {args.share:.0%} of the steps "
        f"(median of {args.rounds} rounds in turn)",
        ["schedule", "size", "steps", "judge size", "coarse share", "seconds", f"speed-up (≥ {TARGET_SPEED_UP:g}×)"],
        [[r[k] for k in COLUMNS] for r in rows],
    )
    data = {"settings": vars(args), "schedules": rows}
    note = "Quality of the same schedules: bench/truth.py with the same overrides as --variant (docs/experiments.md)."
    print(write_results("schedule", data, [table], args.out, [note]))
    write_benchmarks_md(args.out, "schedule")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tune speed and quality beside per-pixel optimisation (Gatys) with the same VGG and losses.

Both methods share one `VGGFeatures`, one set of `make_targets` targets and
`perceptual_loss` with TuneCfg()'s weights, and run the same number of steps.
The tune trains the HR-Net through `hrstyle.look.tune.tune`; Gatys optimises the
pixels themselves (Adam, initialised at the keyframe, clamped to [0,1] after
each step). The two are timed alternately, step by step, in one run, and the
figure that matters is the ratio of their median step times.

    python bench/tune.py                     # defaults: ~10 min on 2 CPU cores
    python bench/tune.py --sizes 256 --steps 5 --quality-steps 30

Writes bench/results/tune.json and tune.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any

from common import ROOT, Table, device_name, peak_rss_mb, sync, timed, write_results  # isort: skip  (hrstyle before torch)
import torch
from torch import Tensor

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.device import autocast, pick_device
from hrstyle.errors import InputError
from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import carry_to_full_res
from hrstyle.io.imaging import resize
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import STYLE_LAYERS, TuneCfg
from hrstyle.look.perceptual import PerceptualTargets, VGGFeatures, make_targets, perceptual_loss
from hrstyle.look.tune import judge_long_side, prepare, tune
from hrstyle.score.metrics import score_still

KEYFRAME, LOOK = ROOT / "sample_frames/keyframe.png", ROOT / "sample_frames/look.jpg"
TARGET_RATIO = 1.5  # a tune step costs at most 1.5x a Gatys step at the same size (issue 2, item 9)
TARGET_GPU_TUNE_S = 15.0  # the default tune at 512 px on a GPU


class Gatys:
    """Per-pixel optimisation with the tune's VGG, targets and loss: Adam on the image itself.

    Keeps the lowest-loss image seen, as `tune` keeps its lowest-loss weights.
    """

    def __init__(self, content: Tensor, vgg: VGGFeatures, targets: PerceptualTargets, cfg: TuneCfg, lr: float):
        self.image = content.detach().clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.image], lr=lr)
        self.vgg, self.targets, self.cfg = vgg, targets, cfg
        self.layer_weights = dict(zip(STYLE_LAYERS, cfg.layer_weights))
        self.best, self.best_loss = self.image.detach().clone(), math.inf

    def step(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.image.device):
            total = perceptual_loss(
                self.vgg, self.image, self.targets, self.cfg.content_weight, self.cfg.style_weight, self.layer_weights
            ).total
        total.backward()
        loss = total.item()
        if loss < self.best_loss:
            self.best, self.best_loss = self.image.detach().clone(), loss
        self.opt.step()
        with torch.no_grad():
            self.image.clamp_(0, 1)
        return loss


def _setup(
    keyframe: Tensor, look: Tensor, cfg: TuneCfg, device: torch.device, vgg: VGGFeatures, lr: float
) -> tuple[Tensor, PerceptualTargets, Gatys]:
    """The targets both methods share, at the tune's judge size, and Gatys on the keyframe there:
    both pay for VGG at that size, so the ratio is what the network costs on top."""
    side = judge_long_side(cfg, keyframe)
    judged = prepare(keyframe, side, device)
    targets = make_targets(vgg, judged, prepare(look, side, device))
    return judged, targets, Gatys(judged, vgg, targets, cfg, lr)


def time_steps(
    keyframe: Tensor,
    look: Tensor,
    size: int,
    steps: int,
    warmup: int,
    device: torch.device,
    vgg: VGGFeatures,
    lr: float,
    steady_weight: float = TuneCfg().steady_weight,
) -> dict[str, Any]:
    """Seconds per step of the tune and of Gatys at ``size``, measured alternately.

    `tune` runs once; its ``on_step`` callback stamps the clock and runs one
    Gatys step, so each tune step (from one callback to the next: forward,
    backward, best-weights copy, Adam) sits next to a Gatys step under the same
    machine load. The first ``warmup`` steps of each are dropped. ``steady_weight``
    0 times the tune without its steadiness term (one HR-Net pass less per step).
    """
    cfg = TuneCfg(steps=warmup + steps + 1, size=size, patience=10**9, steady_weight=steady_weight)
    content, targets, gatys = _setup(keyframe, look, cfg, device, vgg, lr)
    tune_s: list[float] = []
    gatys_s: list[float] = []
    tune_step_start: float | None = None  # None until the first step, which includes tune's setup

    def on_step(*_: Any) -> None:
        nonlocal tune_step_start
        sync(device)
        if tune_step_start is not None:
            tune_s.append(time.perf_counter() - tune_step_start)
        with timed(gatys_s, device):
            gatys.step()
        tune_step_start = time.perf_counter()

    result = tune(keyframe, look, cfg, device=device, vgg=vgg, targets=targets, on_step=on_step)
    # Keep tune steps warmup+2 .. warmup+steps+1, each with the Gatys step that ran right after it.
    tune_s, gatys_s = tune_s[warmup:], gatys_s[warmup + 1 :]
    tune_med, gatys_med = statistics.median(tune_s), statistics.median(gatys_s)
    ratio = tune_med / gatys_med
    return {
        "device": device.type,
        "device_name": device_name(device),
        "size": size,
        "steady_weight": steady_weight,
        "work_hw": list(result.work_size),
        "judge_hw": list(content.shape[-2:]),
        "steps": steps,
        "warmup": warmup,
        "tune_s_per_step": tune_med,
        "gatys_s_per_step": gatys_med,
        "tune_steps_per_s": 1 / tune_med,
        "gatys_steps_per_s": 1 / gatys_med,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "pass": ratio <= TARGET_RATIO,
        "tune_s": tune_s,
        "gatys_s": gatys_s,
    }


def quality(
    keyframe: Tensor, look: Tensor, size: int, steps: int, device: torch.device, vgg: VGGFeatures, lr: float
) -> list[dict[str, Any]]:
    """Quality of the identity, the tune and Gatys after ``steps`` steps each at ``size``.

    No early stop, so both run every step. Each row has the tune objective at
    the judge size (where Gatys works) and the docs/metrics.md figures (at 512 px)
    against the keyframe at the size the row was made at; the tune's
    full-resolution row (its output carried by `hrstyle.render.carry_to_full_res`)
    is judged against the full keyframe.
    """
    cfg = TuneCfg(steps=steps, size=size, patience=steps + 1)
    content, targets, gatys = _setup(keyframe, look, cfg, device, vgg, lr)
    layer_weights = dict(zip(STYLE_LAYERS, cfg.layer_weights))
    look_px = to_pixels(look)

    def row(name: str, done: int, seconds: float, reference: Tensor, output: Tensor) -> dict[str, Any]:
        output = output.clamp(0, 1)
        with torch.no_grad():
            terms = perceptual_loss(
                vgg,
                resize(output, tuple(content.shape[-2:])),
                targets,
                cfg.content_weight,
                cfg.style_weight,
                layer_weights,
            )
        score = score_still(to_pixels(reference), to_pixels(output), look_px, vgg)
        return {
            "method": name,
            "steps": done,
            "seconds": seconds,
            "loss": terms.total.item(),
            "loss_style": terms.style.item(),
            **score.to_dict(),
        }

    tune_s: list[float] = []
    gatys_s: list[float] = []
    with timed(tune_s, device):
        result = tune(keyframe, look, cfg, device=device, vgg=vgg, targets=targets)
    with timed(gatys_s, device):
        for _ in range(steps):
            gatys.step()
    work = prepare(keyframe, size, device)
    with torch.no_grad(), autocast(device):
        tuned = result.net(work).float()
    full = keyframe.to(device)
    carried = carry_to_full_res(full, work, tuned, RenderCfg())
    return [
        row("identity (keyframe)", 0, 0.0, content, content),
        row("tune: net at work size", result.steps_done, tune_s[0], work, tuned),
        row(f"tune: carried to {full.shape[-1]}×{full.shape[-2]}", result.steps_done, tune_s[0], full, carried),
        row(f"Gatys: Adam on pixels, lr {lr:g}", steps, gatys_s[0], content, gatys.best),
    ]


def default_tune(keyframe: Tensor, look: Tensor, device: torch.device, vgg: VGGFeatures) -> dict[str, Any]:
    """Wall time of `tune` with TuneCfg() (targets included, VGG already loaded)."""
    cfg = TuneCfg()
    seconds: list[float] = []
    with timed(seconds, device):
        result = tune(keyframe, look, cfg, device=device, vgg=vgg)
    return {
        "device": device.type,
        "device_name": device_name(device),
        "size": cfg.size,
        "steps": cfg.steps,
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "seconds": seconds[0],
        "target_s": TARGET_GPU_TUNE_S,
        "pass": seconds[0] <= TARGET_GPU_TUNE_S,
    }


def _devices(name: str) -> list[torch.device]:
    if name == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [pick_device(name)]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(speed: list[dict], qual: list[dict], defaults: list[dict], args: argparse.Namespace) -> list[Table]:
    tables = [
        Table(
            "Step time, tune vs Gatys (medians, interleaved)",
            [
                "device",
                "size (H×W)",
                "steadiness weight",
                "tune s/step",
                "Gatys s/step",
                "tune steps/s",
                "Gatys steps/s",
                "tune/Gatys",
                f"≤ {TARGET_RATIO}×",
            ],
            [
                [
                    r["device_name"],
                    "×".join(map(str, r["work_hw"])),
                    r["steady_weight"],
                    r["tune_s_per_step"],
                    r["gatys_s_per_step"],
                    r["tune_steps_per_s"],
                    r["gatys_steps_per_s"],
                    r["ratio"],
                    _verdict(r["pass"]),
                ]
                for r in speed
            ],
        ),
        Table(
            f"Quality after {args.quality_steps} steps at {args.quality_size} px (docs/metrics.md, on sample_frames/)",
            [
                "method",
                "steps",
                "seconds",
                "loss (judge size)",
                "its style term",
                "style_gap",
                *STYLE_LAYERS,
                "structure_ssim",
                "affine_residual",
            ],
            [
                [
                    r["method"],
                    r["steps"],
                    r["seconds"],
                    r["loss"],
                    r["loss_style"],
                    r["style_gap"],
                    *r["style_per_layer"].values(),
                    r["structure_ssim"],
                    r["affine_residual"],
                ]
                for r in qual
            ],
        ),
    ]
    if defaults:
        tables.append(
            Table(
                "Default tune (TuneCfg()) wall time",
                ["device", "size", "steps done / max", "stopped", "seconds", f"≤ {TARGET_GPU_TUNE_S:g} s"],
                [
                    [
                        r["device_name"],
                        r["size"],
                        f"{r['steps_done']}/{r['steps']}",
                        r["stopped"],
                        r["seconds"],
                        _verdict(r["pass"]),
                    ]
                    for r in defaults
                ],
            )
        )
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512", help="work sizes (long side) to time, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method per size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per method per size")
    parser.add_argument("--quality-steps", type=int, default=100, help="steps per method for the quality figures")
    parser.add_argument("--quality-size", type=int, default=256, help="work size (long side) for quality")
    parser.add_argument("--gatys-lr", type=float, default=0.01, help="Adam learning rate on [0,1] pixels")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: the CPU, plus the GPU where there is one",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--out", default=str(ROOT / "bench/results"), help="results folder")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip().isdigit()]
    if not sizes or min(args.steps, args.quality_steps, args.threads) < 1 or args.warmup < 0:
        parser.error("expected --sizes like 256,512, --steps, --quality-steps and --threads >= 1, --warmup >= 0")

    try:
        devices = _devices(args.device)
    except InputError as exc:
        parser.error(str(exc))

    torch.set_num_threads(args.threads)
    keyframe, look = to_tensor(read_image(KEYFRAME).pixels), to_tensor(read_image(LOOK).pixels)

    vggs = {device: VGGFeatures().to(device) for device in devices}

    speed, defaults = [], []
    for device, vgg in vggs.items():
        for size in sizes:
            print(f"timing {size} px on {device}...", file=sys.stderr, flush=True)
            speed.append(time_steps(keyframe, look, size, args.steps, args.warmup, device, vgg, args.gatys_lr))
            if speed[-1]["steady_weight"]:  # what the steadiness term costs: the same, without it
                speed.append(time_steps(keyframe, look, size, args.steps, args.warmup, device, vgg, args.gatys_lr, 0.0))
        if device.type == "cuda":
            print(f"default tune on {device}...", file=sys.stderr, flush=True)
            defaults.append(default_tune(keyframe, look, device, vgg))
    qdevice = devices[-1]  # the GPU where there is one: the figures do not depend on it
    print(f"quality at {args.quality_size} px on {qdevice}...", file=sys.stderr, flush=True)
    qual = quality(keyframe, look, args.quality_size, args.quality_steps, qdevice, vggs[qdevice], args.gatys_lr)

    notes = [
        f"tune/Gatys is the ratio of median step times, the two interleaved step by step in one run "
        f"({args.steps} timed steps each after {args.warmup} warm-up). Gatys: Adam on the pixels at lr "
        f"{args.gatys_lr:g}, clamped to [0,1]; both keep their lowest-loss result. Quality on {qdevice.type}: "
        f"the loss at the tune's judge size (where Gatys works), the rest at 512 px against the keyframe "
        f"(at the size the row was made at, or full size for the carried row). "
        f"Peak RSS of the whole run: {peak_rss_mb():.0f} MiB.",
    ]
    for with_term, without in zip(speed, speed[1:]):
        if with_term["steady_weight"] and not without["steady_weight"] and with_term["size"] == without["size"]:
            notes.append(
                f"The steadiness term costs {with_term['ratio'] / without['ratio']:.2f}× per step at "
                f"{with_term['size']} px on {with_term['device']} (tune/Gatys with it over without)."
            )
    cpu_512 = [r for r in speed if r["device"] == "cpu" and r["size"] == TuneCfg().size]
    if cpu_512 and not defaults:
        est = TuneCfg().steps * cpu_512[0]["tune_s_per_step"]
        notes.append(
            f"Default tune not run on the CPU: {TuneCfg().steps} steps at {TuneCfg().size} px would take "
            f"about {est:.0f} s here (at most; it may stop early on a plateau)."
        )
    data = {"args": vars(args), "speed": speed, "quality": qual, "default_tune": defaults, "peak_rss_mb": peak_rss_mb()}
    print(write_results("tune", data, report(speed, qual, defaults, args), args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LUT engine speed at 1080p, 4K and 8K beside the network's guided path at 1080p, in one run.

The LUT is baked (`hrstyle.bake.bake`, timed) from a look on the sample
keyframe; the look is ``--look`` or, by default, an untuned HR-Net with a
perturbed head at the default work size (speed does not depend on the
weights). Frames are the keyframe upscaled to each resolution. Each round
times, back to back, one network frame at 1080p (`render.grade_batch`, the
guided path) and one frame per resolution, interpolation and backend through
`lut.apply_lut` (on the CPU both OpenColorIO's processor, which ``"auto"``
takes there, and torch; on a GPU torch), with the frames already in memory on
the device: the engine alone, without decoding or encoding. The figures are
medians over the rounds and the ratio to the network's 1080p fps from the same
rounds. A short end-to-end `render_shot` of PNG frames at 1080p (decode and
encode included) shows what a render gains.

    python bench/lut.py                 # ~3 min on 2 busy CPU cores
    python bench/lut.py --rounds 2 --resolutions 1080p,4k --e2e-frames 0

Writes bench/results/lut.json and lut.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from common import ROOT, Table, device_name, peak_rss_mb, timed, write_results  # isort: skip  (hrstyle before torch)
import torch
from torch import Tensor

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.device import pick_device
from hrstyle.errors import InputError
from hrstyle.grade.bake import bake
from hrstyle.grade.config import INTERPOLATIONS, BakeCfg, RenderCfg
from hrstyle.grade.lut import Lut3D, apply_lut
from hrstyle.grade.steps import grade_batch, prepare_look
from hrstyle.io.imaging import resize
from hrstyle.io.shot import open_shot
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import NET_PRESETS, TuneCfg
from hrstyle.look.file import Look, load_look
from hrstyle.look.meta import LookMeta
from hrstyle.look.net import HRNet
from hrstyle.render.run import render_shot

KEYFRAME = ROOT / "sample_frames/keyframe.png"
RESOLUTIONS = {"1080p": (1080, 1920), "4k": (2160, 3840), "8k": (4320, 7680)}


def untuned_look(keyframe: Tensor) -> Look:
    """An HR-Net at the default work size whose zero-initialised head is perturbed, so it grades."""
    torch.manual_seed(0)
    net = HRNet(NET_PRESETS[TuneCfg().net]).eval().requires_grad_(False)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.002)
        net.head.bias.copy_(torch.tensor([0.05, 0.0, -0.05]))
    scale = TuneCfg().size / max(keyframe.shape[-2:])
    work = [round(keyframe.shape[-2] * scale), round(keyframe.shape[-1] * scale)]
    meta = LookMeta(
        net_cfg=net.cfg.to_dict(),
        tune_cfg={},
        steps_done=0,
        work_size=work,
        vgg_weights="none",
        keyframe_sha256="",
        look_sha256="",
        final_losses={},
        stopped="completed",
    )
    return Look(net, meta, hashlib.sha256(b"bench/lut.py untuned").hexdigest())


def time_engines(
    look: Look, lut: Lut3D, keyframe: Tensor, resolutions: list[str], rounds: int, device: torch.device
) -> list[dict[str, Any]]:
    """Median seconds per frame of the network at 1080p and of the LUT at each resolution,
    interpolation and backend, timed round by round so each sits beside the others under the same load."""
    cfg = RenderCfg(device=device.type)
    look, lut = prepare_look(look, cfg), lut.prepare(cfg)
    frames = {name: resize(keyframe, RESOLUTIONS[name]).to(device) for name in resolutions}
    network_1080p = frames["1080p"] if "1080p" in frames else resize(keyframe, RESOLUTIONS["1080p"]).to(device)
    backends = ("ocio", "torch") if device.type == "cpu" else ("torch",)  # ocio is what "auto" takes on the CPU
    samples: dict[tuple[str, str, str], list[float]] = {}
    for round_ in range(rounds + 1):  # round 0 warms up (allocator, first-call overheads) and is dropped
        print(f"  round {round_}/{rounds} on {device}", file=sys.stderr, flush=True)
        runs = [(("network (guided)", "", "1080p"), lambda: grade_batch(look, network_1080p, cfg))]
        runs += [
            ((f"LUT, {backend}", method, name), lambda m=method, f=frame, b=backend: apply_lut(lut, f, m, b))
            for name, frame in frames.items()
            for method in INTERPOLATIONS
            for backend in backends
        ]
        for key, run in runs:
            seconds: list[float] = []
            with timed(seconds, device):
                run()
            if round_ > 0:
                samples.setdefault(key, []).append(seconds[0])
    reference = median(samples[("network (guided)", "", "1080p")])
    return [
        {
            "device": device.type,
            "device_name": device_name(device),
            "engine": engine,
            "interpolation": method,
            "resolution": name,
            "hw": list(RESOLUTIONS[name]),
            "s_per_frame": median(s),
            "fps": 1 / median(s),
            "vs_network_1080p": reference / median(s),
            "samples": s,
        }
        for (engine, method, name), s in samples.items()
    ]


def end_to_end(look: Look, lut: Lut3D, keyframe: Tensor, count: int) -> list[dict[str, Any]]:
    """fps of `render_shot` over ``count`` 1080p PNG frames with the network and with the LUT
    (decode, grade, 8-bit PNG encode, manifest) on the CPU."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pixels = to_pixels(resize(keyframe, RESOLUTIONS["1080p"]).clamp(0, 1))
        spec = FrameSpec("png", "uint8", pixels.shape[1], pixels.shape[0], False)
        (Path(tmp) / "in").mkdir()
        for n in range(1, count + 1):
            write_image(Path(tmp) / "in" / f"f.{n:04d}.png", pixels, spec)
        for name, grade in (("network (guided)", look), ("LUT tetrahedral", lut)):
            print(f"  render_shot with the {name}", file=sys.stderr, flush=True)
            report = render_shot(
                open_shot(Path(tmp) / "in"), grade, Path(tmp) / name.split()[0], RenderCfg(device="cpu")
            )
            rows.append({"engine": name, "frames": report.frames_written, "seconds": report.seconds, "fps": report.fps})
    return rows


def _devices(name: str) -> list[torch.device]:
    if name == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [pick_device(name)]


def report(speed: list[dict], e2e: list[dict], lut: Lut3D, bake_s: float) -> list[Table]:
    tables = [
        Table(
            f"Grading one frame in memory: {lut.size}³ LUT engine vs the network's guided path (medians, interleaved)",
            ["device", "engine, backend", "interpolation", "resolution", "ms/frame", "fps", "× network fps at 1080p"],
            [
                [
                    r["device_name"],
                    r["engine"],
                    r["interpolation"] or "—",
                    r["resolution"],
                    1000 * r["s_per_frame"],
                    r["fps"],
                    r["vs_network_1080p"],
                ]
                for r in speed
            ],
        )
    ]
    if e2e:
        tables.append(
            Table(
                f"End to end, render_shot on {e2e[0]['frames']} 1080p PNG frames (CPU: decode, grade, encode)",
                ["engine", "frames", "seconds", "fps"],
                [[r["engine"], r["frames"], r["seconds"], r["fps"]] for r in e2e],
            )
        )
    tables.append(
        Table("Baking the LUT", ["LUT size", "seconds (grade the keyframe, fit, measure)"], [[lut.size, bake_s]])
    )
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolutions", default="1080p,4k,8k", help=f"of {', '.join(RESOLUTIONS)}, comma-separated")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds (after one warm-up round)")
    parser.add_argument("--size", type=int, default=33, help="LUT lattice size")
    parser.add_argument("--look", type=Path, help="a look file; default: an untuned network (same speed)")
    parser.add_argument("--e2e-frames", type=int, default=6, help="1080p frames for the end-to-end render (0: skip)")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: the CPU, plus the GPU where there is one",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--out", default=str(ROOT / "bench/results"), help="results folder")
    args = parser.parse_args(argv)
    resolutions = [r.strip().lower() for r in args.resolutions.split(",") if r.strip()]
    if not resolutions or any(r not in RESOLUTIONS for r in resolutions):
        parser.error(f"--resolutions: expected some of {', '.join(RESOLUTIONS)}")
    if min(args.rounds, args.threads) < 1 or args.e2e_frames < 0:
        parser.error("expected --rounds and --threads >= 1, --e2e-frames >= 0")
    try:
        devices = _devices(args.device)
    except InputError as exc:
        parser.error(str(exc))

    torch.set_num_threads(args.threads)
    keyframe = to_tensor(read_image(KEYFRAME).pixels)
    look = load_look(args.look) if args.look else untuned_look(keyframe)
    print("baking the LUT...", file=sys.stderr, flush=True)
    baked = bake(look, [keyframe], BakeCfg(size=args.size))
    speed = []
    for device in devices:
        print(f"timing on {device}...", file=sys.stderr, flush=True)
        speed += time_engines(look, baked.lut, keyframe, resolutions, args.rounds, device)
    e2e = end_to_end(look, baked.lut, keyframe, args.e2e_frames) if args.e2e_frames else []

    notes = [
        f"{args.rounds} timed rounds after one warm-up. Each round grades one frame with the network at 1080p, "
        f"then one per resolution, interpolation and backend with the LUT, frames already on the device (no I/O); "
        f"'× network' divides by the network's 1080p frame time from the same rounds. The LUT works through a "
        f"frame in chunks of rows, so 8K needs no more memory for temporaries than 1080p. The LUT was baked from "
        f"{args.look or 'an untuned network'} on the sample keyframe "
        f"(captured {baked.capture.captured:.1%} of its change). Peak RSS of the whole run: {peak_rss_mb():.0f} MiB.",
    ]
    data = {
        "args": {**vars(args), "look": str(args.look) if args.look else None},
        "speed": speed,
        "end_to_end": e2e,
        "bake_seconds": baked.seconds,
        "capture": baked.capture.to_dict(),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(write_results("lut", data, report(speed, e2e, baked.lut, baked.seconds), args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

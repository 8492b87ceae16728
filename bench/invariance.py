"""What a frame's bytes depend on: torch threads on the CPU, batch size on a GPU, and CPU against GPU.

A look with a non-trivial colour transform grades frames of the sample shot (or of a moving 1080p
test shot, ``--hd``) through `grade_frames`, exactly as a render does, and each result is quantised
to 8 bits as a PNG output would be. Reported per comparison: frames that differ, the largest
difference in 8-bit code values, and the share of pixels that differ.

    python bench/invariance.py          # CPU at 1, 2 and 3 threads; GPU batches and GPU vs CPU where there is one
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from common import ROOT, Table, write_results  # isort: skip  (hrstyle before torch)
import torch

from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.grade.steps import grade_frames, prepare_look
from hrstyle.grade.temporal import CoefficientSmoother
from hrstyle.io.imaging import resize
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import NET_PRESETS
from hrstyle.look.file import Look
from hrstyle.look.meta import LookMeta
from hrstyle.look.net import HRNet

SHOT = ROOT / "sample_frames" / "shot"


def graded_look(work_size: tuple[int, int] = (144, 256)) -> Look:
    """A seeded network with a graded head and a colour match, as a tuned look has."""
    torch.manual_seed(3)
    net = HRNet(NET_PRESETS["hrnet"])
    with torch.no_grad():
        for p in net.head.parameters():
            p.normal_(0, 0.02)
    net.set_colour(
        torch.tensor([[0.92, 0.06, 0.01], [0.03, 0.88, 0.07], [0.02, 0.09, 0.83]]), torch.tensor([0.031, -0.012, 0.047])
    )
    meta = LookMeta(net.cfg.to_dict(), {}, 0, list(work_size), "none", "", "", {}, "completed")
    return Look(net.eval().requires_grad_(False), meta, "bench")


def frames(hd: bool, count: int) -> torch.Tensor:
    shot = torch.cat([to_tensor(read_image(SHOT / f"shot.{1001 + i}.png").pixels) for i in range(count)])
    return resize(shot, (1080, 1920)) if hd else shot


def grade(look: Look, shot: torch.Tensor, cfg: RenderCfg, batch: int) -> np.ndarray:
    smoother = CoefficientSmoother(cfg.smooth) if cfg.smooth.strength > 0 else None
    links = [(None if i == 0 else i - 1, i) for i in range(len(shot))]
    graded, _ = grade_frames(prepare_look(look, cfg), shot, cfg, batch, smoother, links)
    return np.rint(graded.clamp(0, 1).numpy() * 255).astype(np.uint8)


def compare(name: str, a: np.ndarray, b: np.ndarray) -> list:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    differing = int((diff.reshape(len(a), -1).max(axis=1) > 0).sum())
    return [name, f"{differing}/{len(a)}", int(diff.max()), float((diff > 0).mean())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--hd", action="store_true", help="the frames resized to 1920x1080")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    args = parser.parse_args()
    look, shot = graded_look(), frames(args.hd, args.frames)
    rows = []
    for smooth in (0.0, 0.5):
        cpu = RenderCfg(device="cpu", smooth=SmoothCfg(strength=smooth))
        label = f"smooth {smooth:g}"
        by_threads = {}
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            by_threads[threads] = grade(look, shot, cpu, 1)
        rows += [compare(f"CPU {t} vs 1 thread, {label}", by_threads[t], by_threads[1]) for t in (2, 3)]
        if torch.cuda.is_available():
            for precision in ("fp32", "bf16"):
                gpu = RenderCfg(device="cuda", precision=precision, smooth=SmoothCfg(strength=smooth))
                one = grade(look, shot, gpu, 1)
                rows.append(compare(f"GPU {precision} batch 4 vs 1, {label}", grade(look, shot, gpu, 4), one))
                rows.append(compare(f"GPU {precision} run twice, {label}", grade(look, shot, gpu, 1), one))
                rows.append(compare(f"GPU {precision} vs CPU, {label}", one, by_threads[1]))
    size = "1920x1080" if args.hd else "960x540"
    table = Table(
        f"Frames ({args.frames}, {size}) graded to 8 bits",
        ["comparison", "frames that differ", "max diff (code values)", "pixels that differ"],
        rows,
    )
    notes = [] if torch.cuda.is_available() else ["No GPU here: GPU rows skipped."]
    print(write_results("invariance", {"rows": rows, "frames": args.frames, "size": size}, [table], args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quality of every method on the sample shot, by the figures of docs/metrics.md, in one run.

Methods, each run over sample_frames/shot (24 frames, 960×540) in this process:

* hrstyle: the look tuned once on the keyframe, applied through `render_shot`
  (the guided path), without and with temporal smoothing, and `--native`;
* Gatys: per-frame optimisation with the same VGG, targets and loss at the
  work size (slow: only ``--gatys-frames`` consecutive frames);
* MKL: the `color-matcher` global colour match to the look image, per frame
  (GPL: a dev-only dependency, used here and nowhere in hrstyle).

Each row gives seconds per frame, style gap (per layer too), structure, affine
residual and the temporal ratio. Then the smoothing targets of the temporal
issue are checked, and a contact sheet shows one frame the network never saw.

    python bench/quality.py                     # ~10 min on 2 CPU cores
    python bench/quality.py --steps 30 --size 128 --gatys-frames 2 --every 8

Writes BENCHMARKS.md (repo root), bench/results/quality.{json,md} and
bench/figures/quality_sheet.jpg. With ``--pairs``, the look-strength benchmark
of bench/pairs.py instead: bench/results/pairs.{json,md}, and its part of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pairs
import torch
from common import RESULTS, ROOT, Table, is_committed, write_benchmarks_md, write_results
from tune import Gatys

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.grade.guided import upsample_affine
from hrstyle.grade.steps import apply_grade, fit_grade, run_network, to_work_size
from hrstyle.grade.temporal import compute_flow, gray_u8, occlusion_mask, warp_tensor
from hrstyle.io.imaging import resize
from hrstyle.io.shot import Shot, open_shot
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import TuneCfg
from hrstyle.look.file import Look
from hrstyle.look.perceptual import VGGFeatures, make_targets
from hrstyle.look.tune import prepare, tune_files
from hrstyle.render.config import OutputCfg
from hrstyle.render.run import render_shot
from hrstyle.score.metrics import ShotScore, score_shots, structure_ssim, style_gap
from hrstyle.score.sheet import contact_sheet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_frames"))
from make_sample import true_flow  # noqa: E402  the shot's exact camera move

SAMPLES = ROOT / "sample_frames"
KEYFRAME = 1012  # sample_frames/keyframe.png is this frame of the shot
UNSEEN = 1001  # the frame farthest from the keyframe: the network never saw it


@dataclass
class Method:
    name: str
    out_dir: Path
    seconds_per_frame: float
    score: ShotScore


def _score(name: str, content: Shot, out_dir: Path, look: np.ndarray, seconds: float, every: int) -> Method:
    output = open_shot(out_dir)
    return Method(name, out_dir, seconds / len(output), score_shots(content, output, look, every=every))


def _render(
    name: str, shot: Shot, look: Look, out_dir: Path, cfg: RenderCfg, look_px: np.ndarray, every: int
) -> Method:
    report = render_shot(shot, look, out_dir, cfg, OutputCfg(force=True))
    print(f"  {name}: {report.fps:.2f} fps", flush=True)
    return _score(name, shot, out_dir, look_px, report.seconds, every)


def _per_frame(
    name: str, shot: Shot, out_dir: Path, look_px: np.ndarray, every: int, grade: Callable[[np.ndarray], np.ndarray]
) -> Method:
    """A method with no look file: ``grade`` one frame's pixels at a time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for ref, image in shot:
        write_image(out_dir / ref.path.name, np.clip(grade(image.pixels), 0, 1), image.spec)
    seconds = time.perf_counter() - start
    print(f"  {name}: {seconds / len(shot):.2f} s/frame", flush=True)
    return _score(name, shot, out_dir, look_px, seconds, every)


def _mkl(look_px: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda px: pairs.mkl(px, look_px)


def _fixed_matrix(plain: Method, shot: Shot) -> Callable[[np.ndarray], np.ndarray]:
    """hrstyle's keyframe grade as one least-squares 3x4 colour matrix, the same on every
    frame: the steadiest grade of that strength, so the floor of its temporal ratio."""
    ref = next(r for r in shot.frames if r.number == KEYFRAME)
    src, dst = shot.read(ref).pixels.reshape(-1, 3), read_image(plain.out_dir / ref.path.name).pixels.reshape(-1, 3)
    matrix, *_ = np.linalg.lstsq(np.c_[src, np.ones(len(src))], dst, rcond=None)
    return lambda px: (px @ matrix[:3] + matrix[3]).astype(np.float32)


def _keyframe_grade_on_true_motion(
    name: str, shot: Shot, look: Look, out_dir: Path, look_px: np.ndarray, every: int
) -> Method:
    """hrstyle's local grade of the keyframe (its guided coefficients at full resolution),
    carried to every frame along the exact camera move of sample_frames/shot/camera.json:
    the same grade, pixel for pixel of the scene, on every frame. Its temporal ratio is
    the least any grade of that local strength can score without blurring the picture."""
    camera = json.loads((SAMPLES / "shot" / "camera.json").read_text())
    key = shot.read(next(r for r in shot.frames if r.number == KEYFRAME))
    full = to_tensor(key.pixels)
    work_in = to_work_size(full, look)
    A, b = upsample_affine(
        *fit_grade(work_in, run_network(look.net, work_in, RenderCfg()), RenderCfg()), tuple(full.shape[-2:])
    )
    coeffs = torch.cat([A.reshape(1, 9, *A.shape[-2:]), b], 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    for ref, image in shot:
        carried = warp_tensor(coeffs, true_flow(camera, KEYFRAME, ref.number))
        graded = apply_grade(
            to_tensor(image.pixels), carried[:, :9].reshape(1, 3, 3, *carried.shape[-2:]), carried[:, 9:]
        )
        write_image(out_dir / ref.path.name, np.clip(to_pixels(graded), 0, 1), image.spec)
    print(f"  {name}: done", flush=True)
    return _score(name, shot, out_dir, look_px, 0.0, every)


def _gatys(look_px: np.ndarray, cfg: TuneCfg, vgg: VGGFeatures) -> Callable[[np.ndarray], np.ndarray]:
    look = prepare(to_tensor(look_px), cfg.size, torch.device("cpu"))

    def grade(px: np.ndarray) -> np.ndarray:
        full = to_tensor(px)
        content = prepare(full, cfg.size, torch.device("cpu"))
        gatys = Gatys(content, vgg, make_targets(vgg, content, look), cfg, lr=0.01)
        for _ in range(cfg.steps):
            gatys.step()
        return to_pixels(resize(gatys.best, tuple(full.shape[-2:])))

    return grade


def _disoccluded_frames(shot: Shot, count: int) -> list[int]:
    """The frames whose input flow trusts the fewest pixels: where smoothing could ghost."""
    untrusted, prev = {}, None
    for ref, image in shot:
        gray = gray_u8(to_tensor(image.pixels))
        if prev is not None:
            flow_b = compute_flow(prev, gray)
            untrusted[ref.number] = 1 - occlusion_mask(flow_b, compute_flow(gray, prev)).mean()
        prev = gray
    return sorted(untrusted, key=untrusted.get, reverse=True)[:count]


def _style_gap_on(number: int, content: Shot, out_dir: Path, look_px: np.ndarray) -> float:
    ref = next(r for r in content.frames if r.number == number)
    return style_gap(content.read(ref).pixels, read_image(out_dir / ref.path.name).pixels, look_px).value


def _ssim_on(frames: list[int], content: Shot, out_dir: Path) -> float:
    by_number = {ref.number: ref for ref in content.frames}
    return float(
        np.mean(
            [
                structure_ssim(content.read(by_number[n]).pixels, read_image(out_dir / by_number[n].path.name).pixels)
                for n in frames
            ]
        )
    )


def _targets(plain: Method, smooth: Method, shot: Shot, keyframe_gap: float) -> Table:
    ratio_s, ratio_p = smooth.score.mean.temporal_ratio, plain.score.mean.temporal_ratio
    worst = _disoccluded_frames(shot, 3)
    ghost = _ssim_on(worst, shot, plain.out_dir) - _ssim_on(worst, shot, smooth.out_dir)
    gap_move = abs(smooth.score.mean.style_gap / plain.score.mean.style_gap - 1)
    unseen = plain.score.per_frame.get(UNSEEN)
    unseen_move = abs(unseen.style_gap / keyframe_gap - 1) if unseen else float("nan")
    rows = [
        ("temporal ratio with smoothing in [0.85, 1.05]", f"{ratio_s:.3f}", 0.85 <= ratio_s <= 1.05),
        ("… and below the unsmoothed run's", f"{ratio_s:.3f} < {ratio_p:.3f}", ratio_s < ratio_p),
        (f"ghosting: structure drop on frames {worst} ≤ 0.02", f"{ghost:+.4f}", ghost <= 0.02),
        ("style gap moves ≤ 5% with smoothing", f"{gap_move:.1%}", gap_move <= 0.05),
        (
            f"unseen frame {UNSEEN}: style gap within 10% of keyframe {KEYFRAME}'s ({keyframe_gap:.3f})",
            f"{unseen_move:.1%}",
            unseen_move <= 0.10,
        ),
    ]
    return Table(
        "Targets (temporal issue)",
        ["target", "measured", "verdict"],
        [(t, m, "PASS" if ok else "FAIL") for t, m, ok in rows],
    )


def _rows(methods: list[Method]) -> list[list[Any]]:
    rows = []
    for m in methods:
        s = m.score.mean
        rows.append(
            [
                m.name,
                len(m.score.per_frame),
                round(m.seconds_per_frame, 3),
                s.style_gap,
                *s.style_per_layer.values(),
                s.structure_ssim,
                s.affine_residual,
                s.temporal_ratio if s.temporal_ratio is not None else "n/a",
            ]
        )
    return rows


def _sheet(methods: list[Method], shot: Shot, path: Path) -> Path:
    ref = next((r for r in shot.frames if r.number == UNSEEN), shot.frames[0])
    cells = [
        read_image(SAMPLES / "keyframe.png").pixels,
        read_image(SAMPLES / "look.jpg").pixels,
        shot.read(ref).pixels,
    ]
    labels = ["keyframe", "look", f"frame {ref.number} (unseen)"]
    for m in methods:
        graded = m.out_dir / ref.path.name
        if graded.exists():
            cells.append(read_image(graded).pixels)
            labels.append(m.name)
    rows = [cells[i : i + 4] for i in range(0, len(cells), 4)]
    sheet = contact_sheet(rows, [labels[i : i + 4] for i in range(0, len(labels), 4)], cell_width=400)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, sheet, FrameSpec("jpeg", "uint8", sheet.shape[1], sheet.shape[0], False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="work size of the look and of Gatys")
    parser.add_argument("--steps", type=int, default=150, help="tune steps, and Gatys steps per frame")
    parser.add_argument("--smooth", type=float, default=0.5, help="smoothing strength of the smoothed row")
    parser.add_argument("--gatys-frames", type=int, default=3, help="consecutive frames Gatys runs on (0: skip)")
    parser.add_argument("--every", type=int, default=4, help="style figures on every Nth frame")
    parser.add_argument("--no-native", action="store_true", help="skip the --native row")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results folder; BENCHMARKS.md is updated only for the default"
    )
    parser.add_argument(
        "--pairs",
        action="store_true",
        help="the look-strength benchmark on bench/pairs.py's photo pairs instead of the shot",
    )
    parser.add_argument(
        "--variant",
        action="append",
        help="--pairs: an hrstyle row 'NAME:field=value;…' of TuneCfg/RenderCfg overrides (repeatable)",
    )
    parser.add_argument("--limit", type=int, default=0, help="--pairs: only the first N pairs")
    parser.add_argument(
        "--before", type=Path, help="--pairs: an earlier run's pairs.json whose hrstyle rows to report beside these"
    )
    args = parser.parse_args(argv)
    if args.pairs:
        print(pairs.run(args))
        write_benchmarks_md(args.out, "pairs")
        return 0

    shot, look_px = open_shot(SAMPLES / "shot"), read_image(SAMPLES / "look.jpg").pixels
    work = Path(tempfile.mkdtemp(prefix="hrstyle-quality-"))
    try:
        cfg = TuneCfg(steps=args.steps, size=args.size)
        start = time.perf_counter()
        print(f"tuning at {args.size} px, {args.steps} steps", flush=True)
        _, look = tune_files(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", work / "sample.look.safetensors", cfg)
        tune_seconds = time.perf_counter() - start
        plain = _render("hrstyle (guided)", shot, look, work / "plain", RenderCfg(), look_px, args.every)
        smooth = _render(
            f"hrstyle (guided, --smooth {args.smooth:g})",
            shot,
            look,
            work / "smooth",
            RenderCfg(smooth=SmoothCfg(strength=args.smooth)),
            look_px,
            args.every,
        )
        methods = [plain, smooth]
        if not args.no_native:
            methods.append(
                _render("hrstyle --native", shot, look, work / "native", RenderCfg(native=True), look_px, args.every)
            )
        methods.append(
            _per_frame("MKL colour match (color-matcher)", shot, work / "mkl", look_px, args.every, _mkl(look_px))
        )
        methods.append(
            _per_frame(
                "one fixed colour matrix (hrstyle's keyframe grade)",
                shot,
                work / "matrix",
                look_px,
                args.every,
                _fixed_matrix(plain, shot),
            )
        )
        methods.append(
            _keyframe_grade_on_true_motion(
                "hrstyle's keyframe grade carried by the true camera move",
                shot,
                look,
                work / "carried",
                look_px,
                args.every,
            )
        )
        if args.gatys_frames:
            middle = len(shot) // 2
            subset = shot.subset(shot.frames[middle : middle + args.gatys_frames])
            methods.append(
                _per_frame(
                    f"Gatys per frame ({args.gatys_frames} frames)",
                    subset,
                    work / "gatys",
                    look_px,
                    1,
                    _gatys(look_px, cfg, VGGFeatures()),
                )
            )
        keyframe_gap = _style_gap_on(KEYFRAME, shot, plain.out_dir, look_px)
        figures = ROOT / "bench" / "figures" if is_committed(args.out) else args.out
        sheet = _sheet(methods, shot, figures / "quality_sheet.jpg")

        headers = [
            "method",
            "frames scored",
            "s/frame",
            "style_gap",
            "relu1_1",
            "relu2_1",
            "relu3_1",
            "relu4_1",
            "relu5_1",
            "structure_ssim",
            "affine_residual",
            "temporal ratio",
        ]
        tables = [
            Table("Methods on sample_frames/shot (960×540, 24 frames)", headers, _rows(methods)),
            _targets(plain, smooth, shot, keyframe_gap),
        ]
        notes = [
            f"Look tuned once on sample_frames/keyframe.png (frame 1012) → look.jpg at {args.size} px, "
            f"{args.steps} steps ({tune_seconds:.0f} s, included in no row). Style figures on every "
            f"{args.every}th frame at 512 px; temporal ratio over all frames of each row. Gatys runs "
            f"{args.steps} Adam steps per frame at the work size with the tune's VGG, targets and loss, "
            "upsampled to 960×540; MKL matches each frame's colour distribution to the look image. "
            "The fixed colour matrix is the least-squares 3x4 fit of hrstyle's keyframe input → output, applied "
            "unchanged to every frame: nothing about it can flicker, so its temporal ratio is what the grade's "
            "contrast alone costs (warp_error counts a steeper tone curve as larger frame-to-frame error). "
            "The carried keyframe grade goes one step further: hrstyle's own local grade of the keyframe "
            "(its guided coefficients at full resolution) warped to every frame along the exact camera move "
            "of sample_frames/shot/camera.json, so every scene point keeps one grade for the whole shot; no "
            "grade of that local strength can score a lower temporal ratio without blurring the frames.",
            f"![keyframe, look, and each method on unseen frame {UNSEEN}](bench/figures/{sheet.name})",
        ]
        data = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "tune_seconds": tune_seconds,
            "methods": {m.name: {"seconds_per_frame": m.seconds_per_frame, **m.score.mean.to_dict()} for m in methods},
        }
        print(write_results("quality", data, tables, args.out, notes))
        write_benchmarks_md(args.out, "quality")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

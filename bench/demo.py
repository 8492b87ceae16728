"""How long ``hrstyle demo`` takes, as a newcomer runs it after the install: one whole command.

Beside it, in the same run, a yardstick of this machine's speed: the median of a
VGG19 forward and backward at 512 px, timed before and after the demo (a busy or
slow machine shows up there, not as a regression). Target: the demo in <= 180 s
on two quiet CPU cores. Its output is piped, as in CI, so this also checks that
the demo prints plain progress lines where there is no terminal.

    python bench/demo.py            # writes bench/results/demo.{json,md}
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Table, timed, write_results  # isort: skip  (hrstyle before torch)
import torch

from hrstyle.look.perceptual import VGGFeatures

TARGET_S = 180.0


def yardstick(repeats: int = 5) -> float:
    """Seconds for one VGG19 forward and backward on a 512 px image: the machine's speed today."""
    vgg, samples = VGGFeatures(), []
    x = torch.rand(1, 3, 288, 512, requires_grad=True)
    for _ in range(repeats):
        with timed(samples):
            sum(f.mean() for f in vgg(x).values()).backward()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    before = yardstick()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hrstyle", "demo", "-o", tmp], capture_output=True, text=True, cwd=ROOT, check=True
        )
        seconds = time.perf_counter() - start
    after = yardstick()
    progress = [line for line in done.stderr.splitlines() if line.startswith(("tune ", "apply "))]
    stick = statistics.mean([before, after])
    table = Table(
        "hrstyle demo, whole command, output piped",
        ["", "seconds", "× yardstick", "target s", "verdict"],
        [
            ["hrstyle demo", seconds, seconds / stick, TARGET_S, "pass" if seconds <= TARGET_S else "FAIL"],
            ["yardstick: VGG19 fwd+bwd at 512 px (before, after)", stick, 1.0, "–", f"{before:.2f}, {after:.2f}"],
        ],
    )
    notes = [f"Plain progress lines printed with the output piped: {len(progress)} (first: {progress[:1]})."]
    data = {"seconds": seconds, "yardstick_s": [before, after], "target_s": TARGET_S, "progress_lines": progress}
    print(write_results("demo", data, [table], args.out, notes))


if __name__ == "__main__":
    main()

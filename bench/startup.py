"""How long the CLI takes to answer when it does no work: ``--help``, ``COMMAND --help`` and ``info``.

Each command runs as a fresh process, as a colorist types it, interleaved with two
references in the same run: an empty Python (the floor) and ``import torch`` (what
every command paid before the CLI imported torch only inside the commands that need
it). Medians of ``--repeats`` runs; targets: ``--help`` <= 0.5 s, ``info`` <= 1 s.

    python bench/startup.py            # writes bench/results/startup.{json,md}
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Table, write_results

TARGETS_S = {"hrstyle --help": 0.5, "hrstyle apply --help": 0.5, "hrstyle info LOOK": 1.0}


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def _sample_look(folder: Path) -> Path:
    look = folder / "sample.look.safetensors"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hrstyle",
            "tune",
            str(ROOT / "sample_frames/keyframe.png"),
            str(ROOT / "sample_frames/look.jpg"),
            "--size",
            "32",
            "--steps",
            "1",
            "--judge-size",
            "0",
            "--net",
            "hrnet-small",
            "-o",
            str(look),
        ],
        check=True,
        capture_output=True,
    )
    return look


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        look = _sample_look(Path(tmp))
        hrstyle = [sys.executable, "-m", "hrstyle"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "hrstyle --help": [*hrstyle, "--help"],
            "hrstyle apply --help": [*hrstyle, "apply", "--help"],
            "hrstyle info LOOK": [*hrstyle, "info", str(look)],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved, so a busy moment costs every row alike
            for name, command in commands.items():
                samples[name].append(_seconds(command))
    medians = {name: statistics.median(s) for name, s in samples.items()}
    torch_s = medians["python -c 'import torch'"]
    rows = [
        [
            name,
            medians[name],
            medians[name] / torch_s,
            TARGETS_S.get(name, "–"),
            ("pass" if medians[name] <= TARGETS_S[name] else "FAIL") if name in TARGETS_S else "–",
        ]
        for name in commands
    ]
    table = Table(
        f"Start-up, median of {args.repeats} fresh processes",
        ["command", "seconds", "× import torch", "target s", "verdict"],
        rows,
    )
    print(write_results("startup", {"seconds": samples, "medians": medians, "targets": TARGETS_S}, [table], args.out))


if __name__ == "__main__":
    main()

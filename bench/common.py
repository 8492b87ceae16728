"""Helpers shared by the benchmarks: timing, machine description, JSON + markdown results.

Every bench runs its reference in the same process, interleaved with the thing
measured, and reports medians and ratios: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

# isort: off
import hrstyle  # before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
import torch

# isort: on


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timed(samples: list[float], device: torch.device = torch.device("cpu")) -> Iterator[None]:
    """Append the seconds the block took (GPU work included) to ``samples``."""
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    samples.append(time.perf_counter() - start)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name(device: torch.device) -> str:
    """The GPU's marketing name, or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_model()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the figures were measured on, and when."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        # Spin-waiting OpenMP threads on a busy machine can slow small ops 10x: say how it was set.
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hrstyle": hrstyle.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


@dataclass
class Table:
    """A titled markdown table; floats are shown to 3 significant digits (the JSON keeps them all)."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def markdown(self) -> str:
        def cell(value: Any) -> str:
            return f"{value:.3g}" if isinstance(value, float) else str(value)

        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)


ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The benches whose tables BENCHMARKS.md keeps, in its order.
BENCHMARKS_SECTIONS = {
    "quality": "`python bench/quality.py` (the sample shot)",
    "pairs": "`python bench/quality.py --pairs` (look strength)",
    "trade_off": "`python bench/trade_off.py` (one conditional look against separate tunes)",
    "slider": "`python bench/slider.py` (a slider move in the trade-off notebook)",
    "schedule": "`python bench/schedule.py` (whole-tune wall time of tune schedules)",
    "truth": "`python bench/truth.py` (grades with a known right answer: ΔE2000 to the truth)",
}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """--threads and --out, as every bench takes them; `parse_run_options` applies --threads."""
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's own choice)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")


def parse_run_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def is_committed(results: Path) -> bool:
    """Whether a run writing to ``results`` updates the committed figures; a smoke run elsewhere leaves them alone."""
    return results.resolve() == RESULTS.resolve()


def write_benchmarks_md(results: Path, name: str) -> None:
    """Put ``results/<name>.md`` into BENCHMARKS.md in place of its previous section, keeping the others'."""
    if not is_committed(results):
        return
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    sections = {
        m.group(1): m.group(0) for m in re.finditer(r"^## bench/(\w+)\.py.*?(?=^## bench/|\Z)", text, re.M | re.S)
    }
    sections[name] = (results / f"{name}.md").read_text()
    path.write_text(
        "# Benchmarks\n\nGenerated by "
        + ", ".join(BENCHMARKS_SECTIONS.values())
        + "; do not edit by hand.\n\n"
        + "\n".join(sections[k].rstrip() + "\n" for k in BENCHMARKS_SECTIONS if k in sections)
    )


def write_results(
    name: str, data: dict[str, Any], tables: Sequence[Table], out_dir: str | Path, notes: Sequence[str] = ()
) -> str:
    """Write ``<out_dir>/<name>.json`` (``data`` plus machine info) and ``<name>.md``; return the markdown."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    (out_dir / f"{name}.json").write_text(json.dumps({"machine": machine, **data}, indent=2, default=str) + "\n")
    header = (
        f"## bench/{name}.py — {machine['date']}\n\n"
        f"{machine['cpu']}, {machine['cpus_usable']} CPUs, {machine['torch_threads']} torch threads, "
        f"load {machine['load_average_1min']:.1f}; torch {machine['torch']}"
        + (f"; GPU {machine['gpu']}" if machine["gpu"] else "")
    )
    text = "\n\n".join([header, *(t.markdown() for t in tables), *notes]) + "\n"
    (out_dir / f"{name}.md").write_text(text)
    return text

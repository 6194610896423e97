"""What every benchmark here shares: the machine header, interleaved timing, medians, tables.

Benchmarks compare against a baseline measured in the *same* run, interleaved: each repetition
runs every contender once, in an order that rotates, so drift (CPU frequency, page cache, other
load) hits all of them alike. Figures are medians, reported as ratios to the baseline.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def machine() -> str:
    """One line naming the machine: CPU model, cores, Python, OS, date."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = platform.processor() or model
    return (
        f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}; {datetime.date.today().isoformat()}"
    )


def filesystem(path: str) -> str:
    """``<type> on <device>`` of the mount holding ``path`` (fsync costs depend on it)."""
    best = ("", "unknown file system", "")
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                device, mount_point, kind = line.split()[:3]
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) > len(best[0]):
                    best = (mount_point, kind, device)
    except OSError:
        pass
    return f"{best[1]} on {best[2]}" if best[2] else best[1]


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")
    # Other work on the machine widens the spread; interleaving keeps the ratios fair.
    print(f"   load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


@dataclass
class Timings:
    """Seconds per run, per contender: wall-clock time and this process's CPU time."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def paired_ratio(self, kind: str, name: str, baseline: str) -> float:
        """Median over rounds of name / baseline within the same round (pairing cancels drift)."""
        runs = getattr(self, kind)
        return median([mine / base for mine, base in zip(runs[name], runs[baseline], strict=True)])


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> Timings:
    """Run each contender once per round, rotating the order; time every run."""
    names = list(contenders)
    timings = Timings({name: [] for name in names}, {name: [] for name in names})
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            cpu = time.process_time()
            start = time.perf_counter()
            contenders[name]()
            timings.wall[name].append(time.perf_counter() - start)
            timings.cpu[name].append(time.process_time() - cpu)
    return timings


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under the column names; the first column left-aligned, the rest right."""
    cells = [list(columns)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        first, *rest = row
        line = first.ljust(widths[0]) + "".join(
            "  " + cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True)
        )
        print("   " + line.rstrip())


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"

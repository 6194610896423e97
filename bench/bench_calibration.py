"""How close Argon2id calibration lands to its target on this machine (a benchmark, not a test).

For each target it calibrates (memory first, under the cap, never below the floor), then times
``derive`` with the chosen costs a few times and prints the median as a ratio of the target:
1.00 is on target. Calibration promises never to pick costs that ran more than 10 % over the
target, except the floor itself, which wins (ratio above 1) on machines too slow for a target.

    python bench/bench_calibration.py [--max-memory-mib 256] [--low-memory] [--runs 3]
"""

from __future__ import annotations

import argparse
import secrets
import time

import benchlib

from walletbackup import kdf

TARGETS = (0.25, 0.5, 1.0)
TOLERANCE = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-memory-mib", type=int, default=256)
    parser.add_argument("--low-memory", action="store_true", help="the flagged OWASP profile")
    parser.add_argument("--runs", type=int, default=3, help="timed derive calls per target")
    options = parser.parse_args()

    floor = kdf.floor_for(options.low_memory)
    benchlib.header("Argon2id calibration: achieved time against the target")
    print(f"   floor: {floor}; memory cap {options.max_memory_mib} MiB; median of {options.runs}")
    salt = secrets.token_bytes(16)
    rows = []
    for target in TARGETS:
        start = time.perf_counter()
        params = kdf.calibrate(target, options.max_memory_mib * 1024, low_memory=options.low_memory)
        calibration = time.perf_counter() - start
        timings = []
        for _ in range(options.runs):
            start = time.perf_counter()
            kdf.derive(b"benchmark password", salt, params)
            timings.append(time.perf_counter() - start)
        median = benchlib.median(timings)
        within = median <= target * (1 + TOLERANCE) or params == floor
        rows.append(
            [
                f"{target:.2f}",
                f"{calibration:.2f}",
                f"{median:.3f}",
                f"{median / target:.2f}",
                benchlib.verdict(within) + (" (floor)" if params == floor else ""),
                str(params),
            ]
        )
    benchlib.table(
        ["target s", "calibrate s", "median s", "ratio", "<= +10%", "costs chosen"], rows
    )


if __name__ == "__main__":
    main()

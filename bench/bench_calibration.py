"""How close Argon2id calibration lands to its target on this machine (a benchmark, not a test).

For each target it calibrates (memory first, under the cap, never below the floor), then times
``derive`` with the chosen costs a few times and prints the median as a ratio of the target:
1.00 is on target; the floor wins (ratio above 1) on machines too slow for a target.

    .venv/bin/python bench/bench_calibration.py [--max-memory-mib 256] [--low-memory] [--runs 3]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

from walletbackup import kdf

TARGETS = (0.25, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-memory-mib", type=int, default=256)
    parser.add_argument("--low-memory", action="store_true", help="the flagged OWASP profile")
    parser.add_argument("--runs", type=int, default=3, help="timed derive calls per target")
    options = parser.parse_args()

    print(f"floor: {kdf.floor_for(options.low_memory)}; memory cap {options.max_memory_mib} MiB")
    print(f"{'target s':>9} {'calibrate s':>12} {'median s':>9} {'ratio':>6}  costs")
    salt = secrets.token_bytes(16)
    for target in TARGETS:
        start = time.perf_counter()
        params = kdf.calibrate(target, options.max_memory_mib * 1024, low_memory=options.low_memory)
        calibration = time.perf_counter() - start
        timings = []
        for _ in range(options.runs):
            start = time.perf_counter()
            kdf.derive(b"benchmark password", salt, params)
            timings.append(time.perf_counter() - start)
        median = statistics.median(timings)
        print(f"{target:9.2f} {calibration:12.2f} {median:9.3f} {median / target:6.2f}  {params}")


if __name__ == "__main__":
    main()

"""Cold start of the ``walletbackup`` command against Python itself and two plugin-based peers.

Whole-process wall time (spawn to exit) of ``walletbackup --help`` and ``walletbackup methods``
with every installed plugin loading, against ``python -c pass`` (the floor), ``keyring
--list-backends`` and ``llm plugins`` (CLIs built on entry-point plugins), all from the venv that
runs this script. Rounds are interleaved; figures are medians.

Target: both walletbackup commands under 150 ms and faster than both peers.

    python bench/bench_startup.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import benchlib

TARGET_MS = 150.0
TIMEOUT_S = 60


def commands(bin_dir: Path) -> dict[str, list[str]]:
    """The commands to time; a peer that is not installed in this venv is left out (and said)."""
    found = {
        "python -c pass": [sys.executable, "-c", "pass"],
        # What walletbackup cannot go below: its CLI framework, its plugin manager, one scan.
        "import click, pluggy + scan": [
            sys.executable,
            "-c",
            "import click, pluggy, importlib.metadata as m; m.entry_points(group='walletbackup')",
        ],
        "walletbackup --help": [str(bin_dir / "walletbackup"), "--help"],
        "walletbackup methods": [str(bin_dir / "walletbackup"), "methods"],
        "keyring --list-backends": [str(bin_dir / "keyring"), "--list-backends"],
        "llm plugins": [str(bin_dir / "llm"), "plugins"],
    }
    if not (bin_dir / "walletbackup").exists():
        sys.exit(f"no walletbackup command in {bin_dir}: install the core (and plugins) first")
    for name, argv in list(found.items()):
        if not Path(argv[0]).exists():
            print(f"   {name}: not installed in this venv, left out")
            del found[name]
    return found


def isolated_env(home: str) -> dict[str, str]:
    """No user's config, data or plugins limit: every process starts from the same empty home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WALLETBACKUP")}
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=f"{home}/.config",
        XDG_DATA_HOME=f"{home}/.local/share",
        XDG_CACHE_HOME=f"{home}/.cache",
        LLM_USER_PATH=f"{home}/llm",
    )
    return env


class Runner:
    """Runs one command; keeps the CPU time (user + system) of each run beside the wall time."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env
        self.cpu: list[float] = []

    def __call__(self) -> None:
        # Not subprocess.run(timeout=...): its wait polls with sleeps of up to 50 ms, which
        # would round every timing up. A blocking wait4 returns at exit, with the rusage.
        process = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        watchdog = threading.Timer(TIMEOUT_S, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(self.argv)} exited with {process.returncode}")
        self.cpu.append(usage.ru_utime + usage.ru_stime)


# Where a `walletbackup methods` process spends its time, phase by phase, timed inside a child.
PHASES = """
import json, sys, time
start = time.perf_counter()
import walletbackup.cli
phases = {"import walletbackup.cli (click, pluggy, the core's CLI)": time.perf_counter() - start}
start = time.perf_counter()
from walletbackup import plugins
plugins.register_commands(walletbackup.cli.cli)
phases["load plugins (entry points, plugin modules, core stores and KMS)"] = (
    time.perf_counter() - start
)
for name, registered in sorted(plugins.method_registry().items()):
    start = time.perf_counter()
    registered.value().availability()
    phases[f"{name}: availability() (walletbackup methods only)"] = time.perf_counter() - start
json.dump(phases, sys.stdout)
"""


def phases(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median seconds per phase over ``runs`` fresh processes."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PHASES],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT_S,
        ).stdout
        for name, seconds in json.loads(out).items():
            samples.setdefault(name, []).append(seconds)
    return {name: benchlib.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds")
    options = parser.parse_args()

    benchlib.header("cold start: whole-process wall time")
    plugins = sorted(
        f"{ep.name} ({ep.dist.name if ep.dist else '?'})"
        for ep in importlib.metadata.entry_points(group="walletbackup")
    )
    print(f"   walletbackup plugins installed: {', '.join(plugins) or 'none'}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as home:
        env = isolated_env(home)
        argvs = commands(Path(sys.executable).parent)
        for argv in argvs.values():  # each must work before it is timed; also warms the caches
            subprocess.run(argv, env=env, capture_output=True, check=True, timeout=TIMEOUT_S)
        listing = subprocess.run(
            argvs["walletbackup methods"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT_S,
        ).stdout
        if "broken plugins" in listing:
            sys.exit(f"a plugin failed to load:\n{listing}")
        runners = {name: Runner(argv, env) for name, argv in argvs.items()}
        timings = benchlib.interleaved(dict(runners), options.rounds).wall
        breakdown = phases(env, runs=7)

    medians = {name: benchlib.median(values) * 1000 for name, values in timings.items()}
    floor = medians["python -c pass"]
    peers = [name for name in medians if name.split()[0] in ("keyring", "llm")]
    print(f"   {options.rounds} interleaved rounds; medians")
    benchlib.table(
        ["command", "median ms", "min ms", "CPU ms", "x python", "over python ms"],
        [
            [
                name,
                f"{ms:.0f}",
                f"{min(timings[name]) * 1000:.0f}",
                f"{benchlib.median(runners[name].cpu) * 1000:.0f}",
                f"{ms / floor:.1f}",
                f"{ms - floor:.0f}",
            ]
            for name, ms in medians.items()
        ],
    )
    for ours in ("walletbackup --help", "walletbackup methods"):
        ms = medians[ours]
        ratios = ", ".join(f"{ms / medians[peer]:.2f} x {peer}" for peer in peers)
        met = ms < TARGET_MS and all(ms < medians[peer] for peer in peers)
        print(
            f"   {ours}: {ms:.0f} ms (target < {TARGET_MS:.0f} ms and faster than the peers: "
            f"{benchlib.verdict(met)}); {ratios or 'no peer installed'}"
        )
    print("   where the time goes (inside the process, median of 7; plus ~python -c pass):")
    benchlib.table(
        ["phase", "ms"], [[name, f"{seconds * 1000:.0f}"] for name, seconds in breakdown.items()]
    )


if __name__ == "__main__":
    main()

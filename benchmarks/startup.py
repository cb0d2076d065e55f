"""Start-up time of the command line: how long a planner waits for help, a version or an error.

    python benchmarks/startup.py

Times each command in a fresh process (median of 3, seconds). Issue 13's targets:
``--help``, ``--cfg`` and a validation error within 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "--help": ["--help"],
    "--version": ["--version"],
    "--cfg job": ["--cfg", "job", "estate=single_prison"],
    "validation error": ["run.yeers=1"],
}


def seconds(args: list[str], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "simmodel", *args], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    for name, args in COMMANDS.items():
        print(f"{name:<18}{seconds(args):6.2f} s")

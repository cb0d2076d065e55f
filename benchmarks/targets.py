"""Issue 13's speed and memory targets, measured in one run beside the reference workload.

    python benchmarks/targets.py            # everything (about 3 minutes on 2 cores)
    python benchmarks/targets.py --quick    # skip the two whole national runs

Each line prints the measured value, the target and whether it is met. The reference
workload (an idiomatic SimPy M/M/5 queue, arrival rate 4, service rate 1, 200,000
customers; ``../shared/engineering.md``) is timed in the same run, so the ratio does not
depend on how fast or busy the machine is. Peak memory of a whole run is the high-water
mark (``VmHWM``) of the parent and of each worker process, read from ``/proc`` while it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import simpy
from startup import seconds as start_up_seconds  # benchmarks/startup.py: median of 3 fresh processes


def reference_workload(customers: int = 200_000, servers: int = 5, seed: int = 1) -> float:
    """Seconds for the idiomatic SimPy M/M/c queue of the engineering notes."""
    rng = np.random.default_rng(seed)
    arrivals = rng.exponential(1 / 4.0, customers)
    services = rng.exponential(1.0, customers)
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=servers)

    def customer(service: float):  # type: ignore[no-untyped-def]
        with desk.request() as request:
            yield request
            yield env.timeout(service)

    def source():  # type: ignore[no-untyped-def]
        for gap, service in zip(arrivals, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    started = time.perf_counter()
    env.process(source())
    env.run()
    return time.perf_counter() - started


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _peak_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def whole_run(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds of ``python -m simmodel args`` and peak MB of its parent and largest worker."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "simmodel", *args, "run.progress=false"]
        command.append(f"hydra.run.dir={folder}/run")
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peaks: dict[int, float] = {}
        while proc.poll() is None:
            for pid in _tree(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), _peak_mb(pid))
            time.sleep(0.1)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read()[-500:]}")
    parent = peaks.pop(proc.pid, 0.0)
    workers = [mb for mb in peaks.values() if mb > 50]  # the resource tracker is a few MB
    return wall, parent, max(workers, default=0.0)


def single_prison_ms_per_year(years: int = 10, repeats: int = 3) -> float:
    """Milliseconds per simulated year of one in-process single-prison replication."""
    from simmodel.compose import check_overrides
    from simmodel.model.simulation import run_replication

    cfg = check_overrides(["estate=single_prison", f"run.years={years}"])
    run_replication(cfg)  # warm imports and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_replication(cfg)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times) / (years + cfg.run.warmup_years)


def writing_seconds() -> float:
    """Seconds to write every file of the default national run (4 replications) after simulating."""
    from simmodel.api import write_result_files
    from simmodel.compose import check_overrides
    from simmodel.experiments.replications import run_replications

    cfg = check_overrides(["run.progress=false"])
    ensemble = run_replications(cfg)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_result_files(Path(folder), cfg, ensemble, "python -m simmodel")
        return time.perf_counter() - started


def line(name: str, value: float, unit: str, target: float, note: str = "") -> None:
    verdict = "met" if value <= target else "NOT met"
    print(f"{name:<52}{value:9.2f} {unit:<6} target <= {target:g} {unit:<6} {verdict}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the whole national runs")
    quick = parser.parse_args().quick
    reference = statistics.median(reference_workload() for _ in range(3))
    print(f"{'reference workload (SimPy M/M/5, 200,000 customers)':<52}{reference:9.2f} s")
    if not quick:
        wall, parent, worker = whole_run(["run.replications=1", "run.jobs=1"])
        line("national replication, whole process", wall / reference, "x ref", 3, f"({wall:.1f} s)")
        wall, parent, worker = whole_run([])
        line("default run end to end (4 replications)", wall, "s", 30)
        line("  parent peak memory", parent, "MB", 400)
        line("  worker peak memory", worker, "MB", 250)
    line("single prison, per simulated year", single_prison_ms_per_year(), "ms", 30)
    line("writing the default run's files", writing_seconds(), "s", 3)
    for name, args in {
        "--help": ["--help"],
        "--cfg job": ["--cfg", "job", "estate=single_prison"],
        "validation error": ["run.yeers=1"],
    }.items():
        line(name, start_up_seconds(args), "s", 0.5)


if __name__ == "__main__":
    main()

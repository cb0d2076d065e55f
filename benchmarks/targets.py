"""Issue 13's speed and memory targets, measured in one run beside the reference workload.

    python benchmarks/targets.py            # everything (about 3 minutes on 2 cores)
    python benchmarks/targets.py --quick    # skip the two whole national runs
    python benchmarks/targets.py --against e5e4dcb   # that commit and this checkout, alternately

Each line prints the measured value, the target and whether it is met. The reference
workload (an idiomatic SimPy M/M/5 queue, arrival rate 4, service rate 1, 200,000
customers; ``../shared/engineering.md``) is timed in the same run, so the ratio does not
depend on how fast or busy the machine is. Peak memory of a whole run is the high-water
mark (``VmHWM``) of the parent and of each worker process, read from ``/proc`` while it runs.

The measured package is byte-compiled first, as ``pip install`` leaves it: where
``PYTHONDONTWRITEBYTECODE`` is set (as on the CI-type machine), a source tree is otherwise
compiled again by every process it starts, about 0.3 s each, which no installed copy pays.

``--against COMMIT`` checks the commit out into a temporary git worktree and runs this
script on it and on this checkout in turn (``--rounds`` times each, 2 by default), then
prints the range of each target over the rounds side by side: the machine's speed can drift
by 40% within minutes, so before and after are only comparable measured alternately.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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
    """Seconds to write every file of the default national run (4 replications) after simulating
    (the report's plots in a helper process started before, as the command line does)."""
    from simmodel.api import write_result_files
    from simmodel.compose import check_overrides
    from simmodel.experiments.replications import run_replications

    cfg = check_overrides(["run.progress=false"])
    with contextlib.suppress(ImportError):  # as the command line does (code before the helper: none)
        from simmodel.outputs import plot_helper

        plot_helper.start()
    ensemble = run_replications(cfg)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_result_files(Path(folder), cfg, ensemble, "python -m simmodel")
        return time.perf_counter() - started


@dataclass
class Row:
    """One measured target: ``value`` in ``unit``, met if at most ``target``."""

    name: str
    value: float
    unit: str
    target: float
    note: str = ""


def measure(quick: bool) -> list[Row]:
    """Every target, the reference workload first (its median of 3, seconds; the national
    replication's ratio is to the mean of that and one more reference timed just after it)."""
    reference = statistics.median(reference_workload() for _ in range(3))
    rows = [Row("reference workload (SimPy M/M/5, 200,000 customers)", reference, "s", math.inf)]
    if not quick:
        wall, parent, worker = whole_run(["run.replications=1"])  # the command
        after = reference_workload()  # the machine's speed drifts: the ratio is to the reference
        bracket = (reference + after) / 2.0  # timed on either side of the run
        note = f"({wall:.1f} s; reference {reference:.2f} s before, {after:.2f} s after)"
        rows.append(Row("national replication, whole process", wall / bracket, "x ref", 3, note))
        wall, parent, worker = whole_run([])
        rows.append(Row("default run end to end (4 replications)", wall, "s", 30))
        rows.append(Row("  parent peak memory", parent, "MB", 400))
        rows.append(Row("  worker peak memory", worker, "MB", 250))
    rows.append(Row("single prison, per simulated year", single_prison_ms_per_year(), "ms", 30))
    rows.append(Row("writing the default run's files", writing_seconds(), "s", 3))
    for name, args in {
        "--help": ["--help"],
        "--cfg job": ["--cfg", "job", "estate=single_prison"],
        "validation error": ["run.yeers=1"],
    }.items():
        rows.append(Row(name, start_up_seconds(args), "s", 0.5))
    return rows


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        if math.isinf(row.target):
            print(f"{row.name:<52}{row.value:9.2f} {row.unit}")
            continue
        verdict = "met" if row.value <= row.target else "NOT met"
        print(
            f"{row.name:<52}{row.value:9.2f} {row.unit:<6} target <= {row.target:g} {row.unit:<6} "
            f"{verdict}  {row.note}"
        )


def byte_compile(tree: Path) -> None:
    """Write the bytecode of ``tree``'s simmodel package, as ``pip install`` does (see above)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "simmodel")], check=True)


def _rows_of(tree: Path, quick: bool) -> list[Row]:
    """This script's measurements of the simmodel in ``tree`` (a fresh process, run in ``tree``:
    ``python -m simmodel`` puts the working folder ahead of ``PYTHONPATH``)."""
    byte_compile(tree)
    command = [sys.executable, str(Path(__file__).resolve()), "--json", *(["--quick"] if quick else [])]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{proc.stderr[-2000:]}")
    return [Row(**row) for row in json.loads(proc.stdout)]


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f}-{high:.2f}"


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """``commit`` checked out into a temporary git worktree of this repository, removed after."""
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="simmodel-before-") as folder:
        tree = Path(folder) / "tree"
        git = ["git", "-C", str(here), "worktree"]
        subprocess.run([*git, "add", "--detach", str(tree), commit], check=True)
        try:
            yield tree
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=False)


def against(commit: str, rounds: int, quick: bool) -> None:
    """Measure ``commit`` and this checkout alternately, ``rounds`` times each, and print
    both ranges side by side (the machine's speed drifts, so alternating is fairer than one
    run of each)."""
    here = Path(__file__).resolve().parents[1]
    with worktree(commit) as before:
        runs: dict[str, list[list[Row]]] = {"before": [], "now": []}
        for k in range(rounds):
            for label, tree in (("before", before), ("now", here)):
                print(f"round {k + 1} of {rounds}: {label} ...", file=sys.stderr, flush=True)
                runs[label].append(_rows_of(tree, quick))
    print(f"{'':<52}{'before (' + commit[:10] + ')':>20}{'now':>20}  target")
    for i, row in enumerate(runs["now"][0]):
        was = [r[i].value for r in runs["before"]]
        now = [r[i].value for r in runs["now"]]
        target = "" if math.isinf(row.target) else f"<= {row.target:g} {row.unit}"
        verdict = "" if not target else ("met" if max(now) <= row.target else "NOT met")
        print(f"{row.name:<52}{_span(was):>20}{_span(now):>20}  {row.unit:<6} {target} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the whole national runs")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--against", metavar="COMMIT", help="measure COMMIT and this checkout alternately")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each with --against (default 2)")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.rounds, args.quick)
    elif args.json:  # (the tree was compiled by the process that started this one)
        print(json.dumps([asdict(row) for row in measure(args.quick)]))
    else:
        byte_compile(Path(__file__).resolve().parents[1])
        print_rows(measure(args.quick))


if __name__ == "__main__":
    main()

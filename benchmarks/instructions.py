"""Instructions (valgrind's callgrind) that the model's main workloads cost: a measure a busy or
drifting machine does not disturb, for telling two versions of the code apart.

    python benchmarks/instructions.py                    # this checkout (about 7 minutes on 2 cores)
    python benchmarks/instructions.py --quick            # without the national year (about 4 minutes)
    python benchmarks/instructions.py --against d76e311  # that commit and this checkout (twice as long)

Wall times on a shared 2-core machine can differ by a third between identical runs, which
hides any change of a few percent (``targets.py``). An instruction count repeats to within
about 0.5% (hash seeds fixed, the fit cache filled first: the same code measured twice gave
1.372 and 1.379 G for a single-prison replication, 1.847 and 1.849 G for the reference), so
a change of a few percent shows. It is not
a time: numpy's compiled loops do more per instruction than the interpreter, so the counts
compare versions of the code, not the issue's targets, which ``targets.py`` times.

Each workload runs in a fresh process under callgrind, once with one unit of work and once
with two; the difference is one unit, and what is left of the first is the process's start-up
(imports, the configuration, the fits read from the cache):

- **single prison**: one single-prison replication of 10 years after a 1-year warm-up;
- **national year**: one simulated year of the national estate (1 and 2 years, no warm-up);
- **reference**: 20,000 customers of the SimPy M/M/5 reference workload (a tenth of
  ``targets.py``'s);
- **command line**: the whole of ``python -m simmodel estate=single_prison run.years=1
  run.warmup_years=0 run.replications=1``, files and the report's plots included (drawn in the
  same process, ``SIMMODEL_PLOT_HELPER=0``, so callgrind sees them), counted once.

Needs valgrind (``apt-get install valgrind``); runs two processes at a time. The checkout is
read as each process starts, so leave it alone until the counts are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from targets import byte_compile, worktree

HERE = Path(__file__).resolve()
#: workload -> what one unit of it is
WORKLOADS = {
    "single prison": "replication (11 simulated years)",
    "national year": "simulated year",
    "reference": "20,000 customers",
}
_COLLECTED = re.compile(r"==\d+== Collected : (\d+)")


def run_workload(name: str, units: int) -> None:
    """Run ``units`` units of workload ``name`` in this process (the child side, under callgrind)."""
    if name == "reference":
        from targets import reference_workload

        reference_workload(customers=20_000 * units)
        return
    from simmodel.compose import check_overrides
    from simmodel.model.simulation import run_replication

    if name == "prepare":  # a year of each estate, so every fit is in the cache before counting
        for estate in ("single_prison", "national"):
            run_replication(check_overrides([f"estate={estate}", "run.years=1", "run.warmup_years=0"]))
    elif name == "single prison":
        cfg = check_overrides(["estate=single_prison", "run.years=10", "run.warmup_years=1"])
        for _ in range(units):
            run_replication(cfg)
    else:
        run_replication(check_overrides([f"run.years={units}", "run.warmup_years=0"]))


def collected(stderr: str) -> int:
    """The instruction count callgrind prints when the program ends."""
    match = _COLLECTED.search(stderr)
    if match is None:
        raise SystemExit(f"callgrind printed no count:\n{stderr[-1500:]}")
    return int(match.group(1))


def count(tree: Path, command: list[str]) -> int:
    """Instructions of ``command`` (after ``python``) run in ``tree`` under callgrind."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "SIMMODEL_PLOT_HELPER": "0"}
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    proc = subprocess.run(
        [*valgrind, sys.executable, *command], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {tree}:\n{proc.stderr[-1500:]}")
    return collected(proc.stderr)


def measure(tree: Path, quick: bool) -> dict[str, float]:
    """Instructions (billions) of each workload's unit and start-up, and of the command line."""
    byte_compile(tree)
    names = [n for n in WORKLOADS if not (quick and n == "national year")]
    subprocess.run(
        [sys.executable, str(HERE), "--child", "prepare", "0"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
    )
    jobs = {(name, units): [str(HERE), "--child", name, str(units)] for name in names for units in (1, 2)}
    with tempfile.TemporaryDirectory() as folder:
        jobs["command line", 1] = [
            *("-m", "simmodel", "estate=single_prison", "run.years=1", "run.warmup_years=0"),
            *("run.replications=1", "run.progress=false", f"hydra.run.dir={folder}/run"),
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:  # callgrind's counts do not depend on the load
            counts = dict(zip(jobs, pool.map(lambda c: count(tree, c), jobs.values()), strict=True))
    found = {}
    for name in names:
        unit = counts[name, 2] - counts[name, 1]
        found[f"{name}, per {WORKLOADS[name]}"] = unit / 1e9
        if name != "reference":
            found[f"{name}, start-up"] = (counts[name, 1] - unit) / 1e9
    found["command line, one prison for a year"] = counts["command line", 1] / 1e9
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the national year")
    parser.add_argument("--against", metavar="COMMIT", help="count COMMIT too, beside this checkout")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "UNITS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_workload(args.child[0], int(args.child[1]))
        return
    started = time.perf_counter()
    here = HERE.parents[1]
    if args.against:
        with worktree(args.against) as before:
            was = measure(before, args.quick)
        now = measure(here, args.quick)
        print(f"{'G instructions':<48}{args.against[:10]:>12}{'now':>12}{'change':>9}")
        for name, value in now.items():
            print(f"{name:<48}{was[name]:12.3f}{value:12.3f}{100 * (value / was[name] - 1):+8.1f}%")
    else:
        now = measure(here, args.quick)
        print(f"{'G instructions':<48}{'now':>12}")
        for name, value in now.items():
            print(f"{name:<48}{value:12.3f}")
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Benchmark: memory over simulated years, to show it stays flat.

Usage: python benchmarks/memory_over_years.py [hydra overrides ...]
Runs one replication (the national estate unless overridden) and prints, at the end of
every simulated year, the process's resident memory, the people in custody and the size
of the person arrays. Flat rows mean nothing grows with simulated time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator

import simpy

from simmodel.compose import check_overrides
from simmodel.model.metrics import DAYS_PER_YEAR
from simmodel.model.simulation import Simulation

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def resident_mb() -> float:
    """Current resident set size of this process (Linux), MB."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE_MB


def main(overrides: list[str]) -> None:
    cfg = check_overrides(["run.replications=1", *overrides])
    sim = Simulation(cfg)
    rows: list[tuple[int, float, int, int]] = []

    def probe() -> Generator[simpy.Event, None, None]:
        year = 0
        while True:
            yield sim.env.timeout(DAYS_PER_YEAR - 1e-6)
            year += 1
            rows.append((year, resident_mb(), int(sim.people.in_prison.sum()), len(sim.people.prison)))
            yield sim.env.timeout(1e-6)

    sim.env.process(probe())
    sim.run()
    print(f"{'year':>4}  {'resident MB':>11}  {'in custody':>10}  {'person slots':>12}")
    for year, mb, custody, slots in rows:
        print(f"{year:>4}  {mb:>11.0f}  {custody:>10,}  {slots:>12,}")
    growth = rows[-1][1] - rows[1][1] if len(rows) > 2 else float("nan")
    print(f"\nresident memory change from year 2 to year {rows[-1][0]}: {growth:+.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])

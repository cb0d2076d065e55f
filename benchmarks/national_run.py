"""Benchmark: one national 10-year replication (plus warm-up), timed and counted.

Usage: python benchmarks/national_run.py [hydra overrides ...]
Prints wall seconds, SimPy events processed, unlock windows resolved, care
task-hours resolved, and peak memory (resident set size) of the process.
"""

from __future__ import annotations

import resource
import sys
import time

from simmodel.compose import check_overrides
from simmodel.model.simulation import run_replication


def main(overrides: list[str]) -> None:
    cfg = check_overrides(overrides)
    started = time.perf_counter()
    result = run_replication(cfg)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    simulated_years = cfg.run.years + cfg.run.warmup_years
    print(f"scenario                 {cfg.scenario} / {cfg.estate.name} ({result.estate.size} prisons)")
    print(f"simulated years          {simulated_years:g} ({cfg.run.warmup_years:g} warm-up)")
    print(f"wall seconds             {wall:.1f}")
    print(f"wall seconds per year    {wall / simulated_years:.2f}")
    print(f"SimPy events processed   {result.events_processed:,}")
    print(f"unlock windows resolved  {result.windows_resolved:,}")
    print(f"care task-hours resolved {result.task_hours_resolved:,.0f}")
    print(f"peak memory (MB)         {peak_mb:.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: the default run's replications, in parallel, timed.

Usage: python benchmarks/replications.py [hydra overrides ...]
Prints the replications used, the processes that ran them, wall seconds for the whole
ensemble and per replication, the speed-up over running them one after another, and the
peak memory of the parent and of the largest worker.
"""

from __future__ import annotations

import resource
import sys

from simmodel.compose import check_overrides
from simmodel.experiments.replications import run_replications


def main(overrides: list[str]) -> None:
    cfg = check_overrides(overrides)
    ensemble = run_replications(cfg)
    per_replication = [o.wall_seconds for o in ensemble.outputs]
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(f"scenario                    {cfg.scenario} / {cfg.estate.name} ({ensemble.estate.size} prisons)")
    years, warmup = cfg.run.years + cfg.run.warmup_years, cfg.run.warmup_years
    print(f"simulated years             {years:g} ({warmup:g} warm-up)")
    print(f"replications                {ensemble.n}")
    print(f"processes                   {ensemble.jobs}")
    print(f"wall seconds, all           {ensemble.wall_seconds:.1f}")
    print(f"wall seconds, mean per rep  {sum(per_replication) / len(per_replication):.1f}")
    print(f"speed-up over sequential    {sum(per_replication) / ensemble.wall_seconds:.2f}x")
    print(f"peak memory parent (MB)     {parent_mb:.0f}")
    print(f"peak memory worker (MB)     {worker_mb:.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])

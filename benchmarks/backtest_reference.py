"""Store the back test's reference results (issue 13): run this before a change that should
not move the model's results, commit the CSVs, then ``tests/test_backtest.py`` compares.

Usage: python benchmarks/backtest_reference.py [--jobs N]

Writes into ``tests/backtest/``:
- ``exact_single_prison.csv``: every summary metric of replications 0-2 of the single prison
  over 3 years (seconds to run). Compared exactly while the order of random draws is unchanged.
- ``national_20.csv``: every summary metric of 20 national 10-year replications (about
  3 minutes on 2 cores). A changed model's mean must fall inside their 95% interval.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import simmodel

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "backtest"

#: The exact back test's run: small enough for the quick tests.
EXACT = {"estate": "single_prison", "run.years": 3, "run.warmup_years": 1}
EXACT_REPLICATIONS = 3
#: The statistical back test's run: the default national run, 20 replications.
NATIONAL: dict[str, object] = {}
NATIONAL_REPLICATIONS = 20


def _commit() -> str:
    """The commit checked out; ``-dirty`` if the files differ from it (the reference is then
    committed together with those changes)."""
    return subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=FOLDER
    ).stdout.strip()


def store(name: str, overrides: dict[str, object], replications: int, jobs: int) -> None:
    """Run and write the per-replication table, with the commit it came from in the first line."""
    result = simmodel.run(overrides, replications=replications, jobs=jobs)
    path = FOLDER / name
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"# reference from commit {_commit()}: {result.command}\n")
        result.replications.to_csv(out, index=False, float_format="%.17g")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--exact-only", action="store_true")
    args = parser.parse_args()
    FOLDER.mkdir(parents=True, exist_ok=True)
    store("exact_single_prison.csv", EXACT, EXACT_REPLICATIONS, 1)
    if not args.exact_only:
        store("national_20.csv", NATIONAL, NATIONAL_REPLICATIONS, args.jobs)


if __name__ == "__main__":
    main()

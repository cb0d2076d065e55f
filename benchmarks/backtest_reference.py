"""Store the back test's reference results (issue 13): run this before a change that should
not move the model's results, commit the CSVs, then ``tests/test_backtest.py`` compares.

Usage: python benchmarks/backtest_reference.py [--jobs N] [--exact-only]
       python benchmarks/backtest_reference.py --compare   # print today's means against the reference

Writes into ``tests/backtest/``:
- ``exact_single_prison.csv``: every summary metric of replications 0-2 of the single prison
  over 3 years (seconds to run). Compared exactly while the order of random draws is unchanged.
- ``national_20.csv``: every summary metric of 20 national 10-year replications (about
  3 minutes on 2 cores). A changed model's mean must fall inside their 95% interval.
"""

from __future__ import annotations

import argparse
import shlex
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


def compare(jobs: int) -> None:
    """Rerun the national reference's command; print each metric's mean now and then, and the
    difference as a share of the reference's 95% half-width (the back test allows up to 1)."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    path = FOLDER / "national_20.csv"
    command = path.read_text(encoding="utf-8").splitlines()[0].split(": ", 1)[1]
    overrides = [o for o in shlex.split(command)[3:] if not o.startswith("run.jobs=")]
    reference = pd.read_csv(path, comment="#").pivot(index="replication", columns="metric", values="value")
    now = simmodel.run(overrides, jobs=jobs).replications.pivot(
        index="replication", columns="metric", values="value"
    )
    n = len(reference)
    print(f"{'metric':50s} {'reference':>14s} {'now':>14s} {'diff/half-width':>16s}")
    for metric in reference.columns:
        values = reference[metric].dropna()
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        diff = now[metric].mean() - values.mean()
        ratio = diff / half if half > 0 else float("nan")
        print(f"{metric:50s} {values.mean():14.6g} {now[metric].mean():14.6g} {ratio:16.2f}")
    print(f"({n} replications each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--exact-only", action="store_true")
    parser.add_argument("--compare", action="store_true", help="rerun the national reference and compare")
    args = parser.parse_args()
    if args.compare:
        compare(args.jobs)
        return
    FOLDER.mkdir(parents=True, exist_ok=True)
    store("exact_single_prison.csv", EXACT, EXACT_REPLICATIONS, 1)
    if not args.exact_only:
        store("national_20.csv", NATIONAL, NATIONAL_REPLICATIONS, args.jobs)


if __name__ == "__main__":
    main()

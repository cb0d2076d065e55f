"""Back test (issue 13): the model's results against references stored before a speed-up.

``benchmarks/backtest_reference.py`` wrote the references in ``tests/backtest/``; the first line
of each file names the commit they came from.

- The exact test reruns a small single-prison configuration and asks for every summary metric
  of every replication to be the same. It holds while the order of random draws is unchanged;
  a change that reorders draws on purpose regenerates this file (and says so in its commit)
  after the statistical test below has passed.
- The statistical test (slow) reruns the 20 national replications and asks each key metric's
  mean to fall inside the 95% confidence interval of the reference's mean. Both runs use the
  same seeds (common random numbers), so a change that keeps the model's semantics moves the
  mean by much less than that interval; a changed mechanism moves it outside.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import simmodel

FOLDER = Path(__file__).resolve().parent / "backtest"

#: The headline metrics a planner reads: population and its age, need, the pathway, buddies,
#: unmet care of both kinds, safeguarding and cost.
KEY_METRICS = (
    "population",
    "population_70_plus_share",
    "people_with_need",
    "people_with_package",
    "releases_per_year",
    "assessments_per_year",
    "buddies_active",
    "nonpersonal_need_hours_per_week",
    "nonpersonal_unmet_hours_per_week",
    "personal_need_hours_per_week",
    "personal_unmet_hours_per_week",
    "unmet_person_days_per_year",
    "safeguarding_incidents_per_year",
    "cost_total_per_year",
)


def _reference(name: str) -> tuple[pd.DataFrame, list[str]]:
    """The stored table and the overrides of the command that made it (its first line)."""
    path = FOLDER / name
    with open(path, encoding="utf-8") as text:
        header = text.readline()
    command = header.split(": ", 1)[1].strip()
    assert command.startswith("python -m simmodel"), header
    return pd.read_csv(path, comment="#"), shlex.split(command)[3:]


def _rerun(overrides: list[str]) -> pd.DataFrame:
    return _by_metric(simmodel.run(overrides).replications)


def _by_metric(table: pd.DataFrame) -> pd.DataFrame:
    """Replications (rows) by metric (columns)."""
    return table.pivot(index="replication", columns="metric", values="value")


def test_single_prison_is_identical_to_the_reference() -> None:
    table, overrides = _reference("exact_single_prison.csv")
    reference, now = _by_metric(table), _rerun(overrides)
    assert list(now.columns) == list(reference.columns)
    # identical draws give identical sums; 1e-12 allows only the last bits of a float
    # written with 17 significant digits and read back
    np.testing.assert_allclose(now.to_numpy(), reference.to_numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.slow
def test_national_key_metrics_fall_inside_the_reference_interval() -> None:
    table, overrides = _reference("national_20.csv")
    reference, now = _by_metric(table), _rerun(overrides)
    n = len(reference)
    outside = []
    for metric in KEY_METRICS:
        values = reference[metric]
        half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)
        mean_now = now[metric].mean()
        if abs(mean_now - values.mean()) > half:
            outside.append(f"{metric}: {mean_now:.6g} outside {values.mean():.6g} +/- {half:.3g}")
    assert not outside, "; ".join(outside)

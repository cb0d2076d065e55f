"""Validation checks against the public figures: what passes today must keep passing."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_config

from simmodel.experiments import validate
from simmodel.experiments.replications import run_replications


@pytest.fixture(scope="module")
def short_national() -> tuple[object, pd.DataFrame]:
    """The national baseline, shortened: half a year after a 1-year warm-up, 1 replication.

    The checks compare yearly rates and shares, which a half-year already estimates
    well on the national estate (86,000 people); the accepted ranges are wider than
    the run-to-run noise seen across seeds (population +/-0.5%, shares +/-0.3 points).
    """
    cfg = make_config(
        "estate=national", "run.years=0.5", "run.warmup_years=1", "run.replications=1", "run.jobs=1"
    )
    ensemble = run_replications(cfg)
    return ensemble, validate.evaluate(ensemble.summary())


@pytest.mark.slow
def test_checks_that_pass_today_still_pass(short_national) -> None:
    _, table = short_national
    regressions = table[~table["passed"] & ~table["known_gap"]]
    assert regressions.empty, f"validation checks now failing:\n{regressions.to_string()}"


@pytest.mark.slow
def test_report_lists_every_check_with_its_source(short_national) -> None:
    ensemble, table = short_national
    text = validate.report(ensemble, table, None)
    for check in validate.CHECKS:
        assert check.name in text
        assert check.source in text
    assert f"{int(table['passed'].sum())} of {len(validate.CHECKS)} checks pass" in text


def test_evaluate_flags_values_outside_the_range() -> None:
    check = validate.CHECKS[0]
    metrics = ["population", *[m for m in _needed_metrics() if m != "population"]]
    summary = pd.DataFrame({"metric": metrics, "mean": [1.0] * len(metrics)})
    summary.loc[summary["metric"] == "population", "mean"] = check.high * 2
    table = validate.evaluate(summary)
    assert not table.loc[0, "passed"]
    summary.loc[summary["metric"] == "population", "mean"] = (check.low + check.high) / 2
    assert validate.evaluate(summary).loc[0, "passed"]


def _needed_metrics() -> list[str]:
    from simmodel.outputs.results import METRICS

    return [m.name for m in METRICS]


@pytest.mark.slow  # four 10-year cohort projections (about 10 s)
def test_ageing_section_compares_every_scenario_with_its_published_path() -> None:
    lines = validate.ageing_section()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| scenario")]
    assert len(rows) == 16  # four scenarios x four groups
    assert not [row for row in rows if "**fail**" in row], "\n".join(rows)
    assert sum("[S26]" in row for row in rows) == 3  # the total of each ageing variant

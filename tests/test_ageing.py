"""The simulated population against the steady state and the published ageing paths.

National runs are slow (about 30 s a replication on 2 cores) and marked slow; .ci/run runs
them. Each tolerance says what it allows for.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config

from simmodel.model import cohort
from simmodel.model.flows import estate_exit_rate
from simmodel.model.metrics import Flow, Stock
from simmodel.model.simulation import run_replication

GROUP_BANDS = dict(cohort.GROUPS)


def groups_by_year(result) -> np.ndarray:
    """[reported year 0..Y, group] people at each year end from the start of reporting."""
    m = result.metrics
    stocks = m.stocks.sum(axis=1)
    first = m.first_reported_month
    assert first >= 1, "year 0 is the month-end before reporting starts: run a warm-up"
    months = [first - 1 + 12 * y for y in range((m.months - first) // 12 + 1)]
    band0 = Stock.AGE_BAND_0
    return np.stack([stocks[months, band0 + b : band0 + 8].sum(axis=1) for _, b in cohort.GROUPS], axis=1)


@pytest.fixture(scope="module")
def national_baseline() -> list:
    cfg = make_config("estate=national", "run.years=10", "run.warmup_years=1", "run.progress=false")
    return [run_replication(cfg, r) for r in range(2)]


@pytest.mark.slow
def test_national_baseline_holds_every_group_steady(national_baseline) -> None:
    # Issue 16: the total, 50+, 60+ and 70+ each stay within 5% of their start in every
    # reported year (mean of 2 replications). Measured: within 3.4% (70+), 1.8% (60+).
    series = np.mean([groups_by_year(r) for r in national_baseline], axis=0)
    change = series / series[0] - 1
    assert np.all(np.abs(change) <= 0.05), change.round(3)


@pytest.mark.slow
def test_natural_deaths_match_the_published_count(national_baseline) -> None:
    # [S93] 165 natural-cause deaths in the year to June 2019, [S89]-[S92] up to about 250 a
    # year (2021); average age at death 56 ([S93]). Need raises the death hazard, so deaths
    # of people with need are more frequent per person than deaths of the rest.
    per_year, ages, rate_need, rate_rest = [], [], [], []
    for r in national_baseline:
        m = r.metrics
        f = m.flows[m.first_reported_month :].sum(axis=(0, 1))
        s = m.stocks[m.first_reported_month :].sum(axis=1).mean(axis=0)
        years = (m.months - m.first_reported_month) / 12
        per_year.append(f[Flow.DEATHS] / years)
        ages.append(f[Flow.DEATH_AGE_SUM] / f[Flow.DEATHS])
        rate_need.append(f[Flow.DEATHS_WITH_NEED] / years / s[Stock.WITH_NEED])
        rate_rest.append(
            (f[Flow.DEATHS] - f[Flow.DEATHS_WITH_NEED]) / years / (s[Stock.POPULATION] - s[Stock.WITH_NEED])
        )
    assert 160 <= np.mean(per_year) <= 250, per_year
    assert 53 <= np.mean(ages) <= 60, ages  # measured 58.5: deaths concentrate in the older bands
    assert np.mean(rate_need) > 3 * np.mean(rate_rest)


@pytest.mark.slow
def test_national_baseline_need_does_not_drift(national_baseline) -> None:
    # the day-0 need mix is the one the flows produce: prevalence stays within 10% (relative)
    # of its start (it rose about 2% a year before issue 16); overall 7-10% ([S47])
    for r in national_baseline:
        s = r.metrics.stocks.sum(axis=1)
        share = s[:, Stock.WITH_NEED] / s[:, Stock.POPULATION]
        assert np.all(np.abs(share / share[0] - 1) <= 0.10), share[::12].round(4)
        assert 0.07 <= share.mean() <= 0.10


@pytest.mark.slow
@pytest.mark.xfail(
    reason="since the Care Act calibration the known share settles at 77%, not the 85% it starts "
    "at, and detection takes 259 days on average, so referrals build up over the first years: "
    "over 14 replications the first reported year's wait is 0.80 of the later years' (0.68-1.03); "
    "starting at 77% gives 0.91 (6 replications) but needs the calibration redone",
    strict=False,
)
def test_assessment_queue_starts_near_its_steady_state(national_baseline) -> None:
    # Known day-0 needs start already assessed and the known share starts where it settles,
    # so the first reported year's waiting list and wait are those of the later years (before
    # issue 16 the queue started at about 3,000 and took three years to drain to about 300).
    # 25%: month-to-month the national waiting list moves by about 10%.
    for r in national_baseline:
        m = r.metrics
        first = m.first_reported_month
        waiting = m.stocks[first:].sum(axis=1)[:, Stock.WAITING_ASSESSMENT]
        flows = m.flows[first:].sum(axis=1)
        wait = flows[:, Flow.ASSESSMENT_WAIT_DAYS].reshape(-1, 12).sum(1) / flows[
            :, Flow.ASSESSMENTS
        ].reshape(-1, 12).sum(1)
        assert waiting[:12].mean() == pytest.approx(waiting[12:].mean(), rel=0.25), waiting[::6]
        assert wait[0] == pytest.approx(wait[1:].mean(), rel=0.25), wait.round(1)


@pytest.mark.slow
def test_single_prison_holds_steady_on_average() -> None:
    # One prison of 680: its 70+ group is about 15 people, so one run cannot hold 5%. The mean
    # of 20 replications must stay within 5% of the expected (fitted) count plus 2 standard
    # errors of that mean, in every group and year.
    cfg = make_config(
        "estate=single_prison",
        "run.years=10",
        "run.warmup_years=1",
        "run.progress=false",
        "buddies.posts_per_1000_prisoners=0",  # the population does not depend on buddies; faster
    )
    runs = np.array([groups_by_year(run_replication(cfg, r)) for r in range(20)])
    p = cohort.project(cfg.population, cfg.need, 10, estate_exit_rate(cfg))
    expected = np.array([p.group(b)[0] for _, b in cohort.GROUPS])
    mean = runs.mean(axis=0)
    se = runs.std(axis=0, ddof=1) / np.sqrt(len(runs))
    assert np.all(np.abs(mean - expected) <= 0.05 * expected + 2 * se), (mean.round(1), expected.round(1))


@pytest.mark.slow
def test_simulated_ageing_follows_the_cohort_engine() -> None:
    # The central ageing scenario simulated (4 replications, 4 years) grows each group as the
    # cohort engine expects: within 1 point (the engine's own sampling error) plus 3 standard
    # errors of the mean across replications (the 70+ group of ~1,850 people varies by about
    # 3.5 points of 4-year growth from one replication to the next), and the oldest fastest.
    cfg = make_config(
        "scenario=ageing", "estate=national", "run.years=4", "run.warmup_years=1", "run.progress=false"
    )
    runs = np.array([groups_by_year(run_replication(cfg, r)) for r in range(4)])
    growth = runs[:, 4] / runs[:, 0] - 1  # [replication, group]
    mean, se = growth.mean(axis=0), growth.std(axis=0, ddof=1) / np.sqrt(len(growth))
    expected = cohort.project(cfg.population, cfg.need, 4).table(4)
    for i, (name, _) in enumerate(cohort.GROUPS):
        assert abs(mean[i] - expected[name]) <= 0.01 + 3 * se[i], (name, mean[i], se[i], expected[name])
    assert mean[3] > mean[1] > mean[0]  # 70+ fastest, then 50+, then the total

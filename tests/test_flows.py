"""Custody classes, the steady-state fit of receptions, and the cohort engine (no simulation).

Targets come from docs/design/ageing.md sections 3-5 and the sources named there. Monte Carlo
checks use fixed seeds and stratified draws; each tolerance says what it allows for.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_config

from simmodel.model import cohort, flows
from simmodel.model.flows import (
    CLASS_NAMES,
    INDETERMINATE,
    LONG,
    MEDIUM,
    RECALL,
    REMAND,
    SHORT,
    CustodyTimes,
    FitWarning,
    estate_exit_rate,
    fit_flows,
    sample_stock,
)

DAYS = 365.0


@pytest.fixture(scope="module")
def national():
    return make_config("estate=national")


def _draws(times: CustodyTimes, klass: int, female: bool, n: int = 200_000) -> np.ndarray:
    # stratified uniforms for the stay and the share served: the sample median and mean of
    # 200,000 draws are within about 0.5% of the distribution's
    rng = np.random.default_rng(1)
    u1 = rng.permutation((np.arange(n) + 0.5) / n)
    u2 = rng.permutation((np.arange(n) + 0.5) / n)
    return times.draw(np.full(n, klass), np.full(n, female), u1, u2)


@pytest.mark.parametrize(
    ("klass", "median", "mean"),
    [
        # median and mean time in custody, days, from the class table of docs/design/ageing.md
        (REMAND, 35, 57),
        (SHORT, 56, 70),
        (MEDIUM, 1.15 * DAYS, 1.27 * DAYS),
        (LONG, 4.35 * DAYS, 5.06 * DAYS),
        (INDETERMINATE, 13.0 * DAYS, 14.1 * DAYS),
        (RECALL, 100, 165),  # median x exp(sigma^2 / 2); the 7-day and 10-year limits change it under 1%
    ],
)
def test_time_in_custody_by_class(national, klass: int, median: float, mean: float) -> None:
    days = _draws(CustodyTimes(national.population), klass, female=False)
    # 5%: the table's figures are rounded (35 d, 1.15 y) and were computed from 40,000 draws
    assert np.median(days) == pytest.approx(median, rel=0.05), CLASS_NAMES[klass]
    assert days.mean() == pytest.approx(mean, rel=0.05), CLASS_NAMES[klass]


@pytest.mark.parametrize(("female", "median", "mean"), [(False, 0.55, 0.65), (True, 0.45, 0.50)])
def test_share_served_matches_s97(national, female: bool, median: float, mean: float) -> None:
    # [S97]: men median 55%, mean 65%; women median 45%, mean 50% (2018 determinate releases)
    n = 200_000
    u = (np.arange(n) + 0.5) / n
    served = CustodyTimes(national.population).share_served(np.full(n, female), u)
    assert np.median(served) == pytest.approx(median, abs=0.005)
    assert served.mean() == pytest.approx(mean, abs=0.005)
    assert served.min() >= (0.4 if female else 0.5) and served.max() <= 1.0


def test_fit_holds_the_national_stock(national) -> None:
    flows = fit_flows(national.population, national.need)
    stock = flows.stock_by_band
    assert stock.sum() == pytest.approx(86_000, rel=1e-9)  # hold_population scales to the day-0 stock
    target = np.array(national.population.stock_age_shares.as_tuple())
    shares = stock / stock.sum()
    # every band within 3% of its configured share (measured: 70+ 1.5% low, the rest within 1.2%)
    assert np.all(np.abs(shares / target - 1) < 0.03), shares
    # receptions near the sourced rates: 64,000 first receptions ([S19]-[S22]), 28,000 recalls ([S22])
    assert flows.scale == pytest.approx(1.0, abs=0.05)
    # reception density per year of age does not rise with age from 30-39 (70+ counted as 10 years)
    width = np.array([3, 4, 5, 10, 10, 10, 10, 10], dtype=float)
    density = flows.rate.sum(axis=1) / width
    assert np.all(np.diff(density[3:]) <= 1e-9 * density[3]), density
    # long determinate about 42% of the stock ([S25b], [S101]); recall ~14%; remand stage small
    classes = flows.stock_by_class / flows.stock_by_class.sum()
    assert 0.38 <= classes[LONG] <= 0.48 and 0.10 <= classes[RECALL] <= 0.18 and classes[REMAND] < 0.05
    # [S112]: 71% of the 60+ serving a year or more were serving 6+ years in 2007; 71-90% today
    assert 0.71 <= flows.long_share_60_plus() <= 0.90


def test_fit_does_not_depend_on_the_run_seed(national) -> None:
    other = make_config("estate=national", "run.seed=99")
    a = fit_flows(national.population, national.need)
    b = fit_flows(other.population, other.need)
    assert np.array_equal(a.rate, b.rate) and np.array_equal(a.years_in_band, b.years_in_band)


def test_an_age_structure_the_flows_cannot_hold_is_warned_about() -> None:
    # 70+ at 10% of the stock would need more 70-year-olds received than 60-year-olds; the
    # warning comes when the configuration is checked, before any run
    with pytest.warns(FitWarning, match=r"population\.stock_age_shares\.b\w+ = .* cannot be held steady"):
        make_config(
            "estate=national",
            "population.stock_age_shares.b70_plus=0.10",
            "population.stock_age_shares.b30_39=0.252",
        )


def test_one_prison_counts_transfers_out_as_leaving() -> None:
    cfg = make_config("estate=single_prison")
    assert estate_exit_rate(cfg) == cfg.population.transfer_rate_per_year > 0
    flows = fit_flows(cfg.population, cfg.need, estate_exit_rate(cfg))
    assert flows.stock_by_band.sum() == pytest.approx(cfg.population.initial_population)
    # the file's 340 arrivals a year are close to what holds 680 people steady
    assert flows.scale == pytest.approx(1.0, abs=0.1)


def test_day0_stock_is_the_fitted_steady_state(national) -> None:
    flows = fit_flows(national.population, national.need)
    times = CustodyTimes(national.population)
    n = 200_000
    drawn = sample_stock(flows, times, national.population.female_share, n, np.random.default_rng(3))
    age = drawn.start + drawn.served / DAYS
    bands = np.searchsorted([18, 21, 25, 30, 40, 50, 60, 70], age, side="right") - 1
    shares = np.bincount(bands, minlength=8) / n
    expected = flows.stock_by_band / flows.stock_by_band.sum()
    # binomial noise of a 2% share in 200,000 draws is 1.6% relative; 16 candidates per person
    # in the length-biased draw add a little bias: 6% relative for every band
    assert np.all(np.abs(shares / expected - 1) < 0.06), (shares, expected)
    assert np.all(drawn.served <= drawn.stay)


# ------------------------------------------------------------------ the cohort engine
@pytest.mark.parametrize("estate", ["national", "single_prison"])
def test_cohort_baseline_is_flat(estate: str) -> None:
    cfg = make_config(f"estate={estate}")
    p = cohort.project(cfg.population, cfg.need, 10, estate_exit_rate(cfg))
    for name, band in cohort.GROUPS:
        series = p.group(band)
        # measured: within 1% (national) and 2.6% (one prison's 70+: 0.4 of its 15 people);
        # the engine's sampling error is about 1% a group, more for a group of 15
        assert np.all(np.abs(series / series[0] - 1) < 0.03), (name, series)


@pytest.fixture(scope="module")
def growth() -> dict[str, dict[str, float]]:
    out = {}
    for scenario in ("baseline", "ageing", "ageing_high", "ageing_low"):
        cfg = make_config("estate=national", f"scenario={scenario}")
        out[scenario] = cohort.project(cfg.population, cfg.need, 4).table(4)
    return out


#: 4-year growth each scenario must reach (docs/design/ageing.md section 5, from [S26], [S09],
#: [S03], [S14], [S04] and [S06]).
RANGES = {
    "ageing": {"total": (0.135, 0.185), "50+": (0.20, 0.35), "60+": (0.15, 0.35), "70+": (0.25, 0.65)},
    "ageing_high": {"total": (0.185, 0.235)},
    "ageing_low": {"total": (0.08, 0.135)},
}


@pytest.mark.parametrize("scenario", list(RANGES))
def test_ageing_scenarios_follow_the_published_paths(growth, scenario: str) -> None:
    for group, (lo, hi) in RANGES[scenario].items():
        assert lo <= growth[scenario][group] <= hi, (scenario, group, growth[scenario][group])


def test_older_groups_grow_fastest_and_variants_are_ordered(growth) -> None:
    g = growth["ageing"]
    assert g["70+"] > g["50+"] > g["total"] and g["70+"] >= g["60+"]  # §1b: the oldest grew fastest
    for variant in ("ageing_high", "ageing_low"):
        shift = abs(growth[variant]["total"] - g["total"])
        for group in ("50+", "60+", "70+"):
            assert growth["ageing_high"][group] >= g[group] >= growth["ageing_low"][group], group
            # no age figures are published for the variants; they shift receptions of every age,
            # so each older group moves by about as much as the total (2 points of slack, assumption)
            assert abs(growth[variant][group] - g[group]) <= shift + 0.02, (variant, group)


def _changed(value: object) -> object:
    """A different value of the same kind (every number in a group of values changed)."""
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(
            value, **{f.name: _changed(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return value + 1 if isinstance(value, int) else value * 1.5 + 0.1


@pytest.mark.parametrize(
    ("section", "name"),
    [("population", n) for n in flows.FIT_IGNORES_POPULATION] + [("need", n) for n in flows.FIT_IGNORES_NEED],
)
def test_inputs_the_fit_cache_ignores_do_not_change_the_fit(section: str, name: str) -> None:
    """fit_flows reuses a fit across design points that change only these inputs; each must
    leave the fit exactly as it was (a fresh, uncached fit of a one-prison estate)."""
    cfg = make_config("estate=single_prison")
    pop, need = cfg.population, cfg.need
    before = flows._fit(pop, need, 0.2)
    if section == "population":
        pop = dataclasses.replace(pop, **{name: _changed(getattr(pop, name))})
    else:
        need = dataclasses.replace(need, **{name: _changed(getattr(need, name))})
    assert flows._fit_key(pop, need, 0.2) == flows._fit_key(cfg.population, cfg.need, 0.2)
    after = flows._fit(pop, need, 0.2)
    for field in dataclasses.fields(before):
        np.testing.assert_array_equal(
            getattr(after, field.name), getattr(before, field.name), err_msg=field.name
        )

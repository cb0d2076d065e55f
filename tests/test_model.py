"""Model behaviour on short single-prison runs: reproducibility, conservation,
limiting cases, accounting identities and the shape of the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ESTATE, reported_totals, run

from simmodel.config import AGE_BANDS
from simmodel.model.metrics import Flow, Stock, band_column
from simmodel.model.simulation import RunResult, run_replication
from simmodel.outputs import results


# ---------------------------------------------------------------- reproducibility
def test_same_seed_gives_identical_results() -> None:
    a = run("run.seed=7", "run.years=0.5")
    b = run("run.seed=7", "run.years=0.5")
    assert np.array_equal(a.metrics.flows, b.metrics.flows)
    assert np.array_equal(a.metrics.stocks, b.metrics.stocks)
    assert a.end_population == b.end_population
    assert a.events_processed == b.events_processed


def test_different_seed_gives_different_results() -> None:
    a = run("run.seed=7", "run.years=0.5")
    b = run("run.seed=8", "run.years=0.5")
    assert not np.array_equal(a.metrics.flows, b.metrics.flows)
    assert not np.array_equal(a.metrics.stocks, b.metrics.stocks)


def test_different_replication_gives_different_results() -> None:
    a = run("run.seed=7", "run.years=0.5", "run.first_replication=0")
    b = run("run.seed=7", "run.years=0.5", "run.first_replication=1")
    assert not np.array_equal(a.metrics.flows, b.metrics.flows)


# ------------------------------------------------------------------- conservation
def assert_people_conserved(result: RunResult) -> None:
    f = reported_totals(result)
    start = result.metrics.start_population
    assert start > 0
    expected = start + f[Flow.RECEPTIONS] - f[Flow.RELEASES] - f[Flow.DEATHS] - f[Flow.LEFT_ESTATE]
    assert expected == result.end_population


def net_change_weights() -> np.ndarray:
    """Weights turning a prison's flows into its change in population."""
    w = np.zeros(max(v for k, v in vars(Flow).items() if k.isupper()) + 1)
    w[[Flow.RECEPTIONS, Flow.TRANSFERS_IN]] = 1
    w[[Flow.RELEASES, Flow.DEATHS, Flow.TRANSFERS_OUT, Flow.LEFT_ESTATE]] = -1
    return w


def test_people_conserved_single_prison(baseline_result: RunResult) -> None:
    assert baseline_result.metrics.first_reported_month == 3  # the 3-month warm-up
    assert_people_conserved(baseline_result)


def test_people_conserved_single_prison_no_warmup() -> None:
    result = run("run.years=0.5", "run.seed=3")
    assert result.metrics.first_reported_month == 0
    assert_people_conserved(result)


def test_people_conserved_with_transfers(tiny_estate_result: RunResult) -> None:
    result = tiny_estate_result
    assert result.estate.size == 8
    f = reported_totals(result)
    assert f[Flow.TRANSFERS_OUT] > 0, "people should move between prisons in this estate"
    assert f[Flow.TRANSFERS_IN] == f[Flow.TRANSFERS_OUT]
    assert_people_conserved(result)


@pytest.mark.parametrize("which", ["baseline", "tiny_estate"])
def test_each_prison_changes_by_its_own_flows_every_month(which: str, request: pytest.FixtureRequest) -> None:
    # between two month-end snapshots, a prison's population changes by its receptions
    # and transfers in, less its releases, deaths and transfers out (the last month is
    # left to test_last_month_end_population_is_the_end_population)
    m = request.getfixturevalue(f"{which}_result").metrics
    assert m.months >= 12
    change = np.diff(m.stocks[:, :, Stock.POPULATION], axis=0)[:-1]
    assert np.array_equal(change, m.flows[1:-1] @ net_change_weights())


def test_last_month_end_population_is_the_end_population(tiny_estate_result: RunResult) -> None:
    m = tiny_estate_result.metrics
    assert m.stocks[-1, :, Stock.POPULATION].sum() == tiny_estate_result.end_population


# ----------------------------------------------------------------- limiting cases
def test_no_buddies_and_no_informal_help_leaves_all_nonpersonal_need_unmet() -> None:
    f = reported_totals(
        run(
            "buddies.posts_per_1000_prisoners=0",
            "care.informal_share_of_unlock=0",
        )
    )
    assert f[Flow.NP_MET_BUDDY_HOURS] == 0
    assert f[Flow.NP_MET_INFORMAL_HOURS] == 0
    assert f[Flow.NP_NEED_HOURS] > 0
    assert f[Flow.NP_UNMET_HOURS] == f[Flow.NP_NEED_HOURS]


def test_unlimited_buddies_and_all_day_unlock_meet_all_nonpersonal_need() -> None:
    # All-day unlock: one 24-hour window, every recipient unlocked, no restricted or
    # lockdown days. "Unlimited" buddies: a post for every prisoner, all filled on day
    # 0 by everyone eligible, each giving the whole day and reaching people the prison
    # does not know about.
    result = run(
        "buddies.posts_per_1000_prisoners=1000",
        "buddies.initial_fill_share=1",
        "buddies.care_share_of_unlock=1",
        "buddies.reach_unrecorded_share=1",
        "regime.windows_per_day=1",
        "regime.window_hours=24",
        "regime.recipient_unlocked_share=1",
        "regime.restricted_episodes_per_year=0",
        "regime.lockdown_episodes_per_year=0",
    )
    f = reported_totals(result)
    assert f[Flow.NP_NEED_HOURS] > 0
    assert f[Flow.NP_UNMET_HOURS] == 0
    assert f[Flow.NP_MET_BUDDY_HOURS] == f[Flow.NP_NEED_HOURS]


def test_no_professional_capacity_leaves_all_personal_need_unmet() -> None:
    f = reported_totals(
        run("care.provider_capacity_hours_per_week_per_100_places=0", "care.healthcare_topup_share=0")
    )
    assert f[Flow.P_MET_PROFESSIONAL_HOURS] == 0
    assert f[Flow.P_MET_HEALTHCARE_HOURS] == 0
    assert f[Flow.P_NEED_HOURS] > 0
    assert f[Flow.P_UNMET_HOURS] == f[Flow.P_NEED_HOURS]
    assert f[Flow.OVERSTEP_EVENTS] > 0
    assert f[Flow.COST_PERSONAL_CARE] == 0
    assert f[Flow.COST_HEALTHCARE] == 0


def test_more_buddy_posts_never_increase_unmet_nonpersonal_need() -> None:
    # Common random numbers: same seed, so both runs see the same people, needs and
    # regime; only the number of buddy posts differs. No tolerance: the identity
    # should hold outright for a 5 -> 40 posts-per-1000 change.
    few = reported_totals(run("run.seed=7", "buddies.posts_per_1000_prisoners=5"))
    many = reported_totals(run("run.seed=7", "buddies.posts_per_1000_prisoners=40"))
    assert many[Flow.NP_MET_BUDDY_HOURS] > few[Flow.NP_MET_BUDDY_HOURS]
    assert many[Flow.NP_UNMET_HOURS] <= few[Flow.NP_UNMET_HOURS]


# --------------------------------------------------------- accounting identities
@pytest.fixture(params=["baseline", "tiny_estate"])
def result(request: pytest.FixtureRequest) -> RunResult:
    return request.getfixturevalue(f"{request.param}_result")


def test_met_plus_unmet_equals_need_every_month_and_prison(result: RunResult) -> None:
    f = result.metrics.flows
    np_need, p_need = f[..., Flow.NP_NEED_HOURS], f[..., Flow.P_NEED_HOURS]
    assert np_need.sum() > 0 and p_need.sum() > 0
    np_sum = (
        f[..., Flow.NP_MET_BUDDY_HOURS] + f[..., Flow.NP_MET_INFORMAL_HOURS] + f[..., Flow.NP_UNMET_HOURS]
    )
    p_sum = (
        f[..., Flow.P_MET_PROFESSIONAL_HOURS]
        + f[..., Flow.P_MET_HEALTHCARE_HOURS]
        + f[..., Flow.P_UNMET_HOURS]
    )
    assert np.allclose(np_sum, np_need)
    assert np.allclose(p_sum, p_need)


def test_no_negative_flows_or_stocks(result: RunResult) -> None:
    assert (result.metrics.flows >= 0).all()
    assert (result.metrics.stocks >= 0).all()


def test_buddies_active_never_exceed_posts(result: RunResult) -> None:
    stocks = result.metrics.stocks
    assert stocks[..., Stock.BUDDY_POSTS].sum() > 0
    assert (stocks[..., Stock.BUDDIES_ACTIVE] <= stocks[..., Stock.BUDDY_POSTS]).all()


def test_buddies_active_never_exceed_posts_when_posts_are_plentiful() -> None:
    stocks = run("buddies.posts_per_1000_prisoners=200", "buddies.initial_fill_share=1").metrics.stocks
    assert stocks[..., Stock.BUDDIES_ACTIVE].max() > 12  # more than the default posts
    assert (stocks[..., Stock.BUDDIES_ACTIVE] <= stocks[..., Stock.BUDDY_POSTS]).all()


def test_buddies_active_never_exceed_posts_with_fast_recruitment() -> None:
    # few posts (2), a fast pipeline and high quitting: vacancies open and fill often
    stocks = run(
        "run.seed=1",
        "buddies.posts_per_1000_prisoners=2",
        "buddies.application_days_mean=1",
        "buddies.interview_days_mean=1",
        "buddies.vetting_days_mean=1",
        "buddies.vetting_pass_share=1",
        "buddies.quit_rate_per_year=3",
    ).metrics.stocks
    assert stocks[..., Stock.BUDDY_POSTS].max() == 2
    assert (stocks[..., Stock.BUDDIES_ACTIVE] <= stocks[..., Stock.BUDDY_POSTS]).all()


def test_stocks_are_consistent(result: RunResult) -> None:
    s = result.metrics.stocks
    assert (s[..., Stock.WITH_NEED] <= s[..., Stock.POPULATION]).all()
    assert (s[..., Stock.WITH_PERSONAL_NEED] <= s[..., Stock.WITH_NEED]).all()
    assert (s[..., Stock.DETECTED] <= s[..., Stock.WITH_NEED]).all()
    assert (s[..., Stock.WITH_PACKAGE] <= s[..., Stock.DETECTED]).all()


# ------------------------------------------------------------------------- outputs
REQUIRED_METRICS = (
    "population",
    "people_with_need",
    "need_prevalence",
    "receptions_per_year",
    "releases_per_year",
    "natural_deaths_per_year",
    "referrals_per_year",
    "assessments_per_year",
    "eligible_per_year",
    "assessment_wait_days_mean",
    "care_start_delay_days_mean",
    "buddies_active",
    "buddy_turnover_per_year",
    "nonpersonal_need_hours_per_week",
    "nonpersonal_unmet_hours_per_week",
    "personal_need_hours_per_week",
    "personal_unmet_hours_per_week",
    "overstep_events_per_year",
    "cost_prison_per_year",
    "cost_local_authority_per_year",
    "cost_nhs_per_year",
    "cost_total_per_year",
)
PAYERS = ("prison", "local_authority", "nhs")


@pytest.fixture(scope="module")
def written(baseline_result: RunResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cfg = baseline_result.cfg
    return results.write_results(baseline_result, results.resolved_yaml(cfg), tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def summary_csv(written: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(written["summary.csv"])


@pytest.fixture(scope="module")
def timeseries_csv(written: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(written["timeseries.csv"])


def test_summary_has_required_metrics(summary_csv: pd.DataFrame) -> None:
    assert list(summary_csv.columns) == ["metric", "unit", "mean", "note"]
    assert summary_csv["metric"].is_unique
    missing = set(REQUIRED_METRICS) - set(summary_csv["metric"])
    assert not missing
    values = summary_csv.set_index("metric")["mean"]
    assert values[list(REQUIRED_METRICS)].notna().all()


def test_summary_values_match_the_accumulators(summary_csv: pd.DataFrame, baseline_result: RunResult) -> None:
    values = summary_csv.set_index("metric")["mean"]
    m = baseline_result.metrics
    stocks = m.stocks[m.first_reported_month :, :, Stock.POPULATION].sum(axis=1)
    assert values["population"] == pytest.approx(stocks.mean())
    years = (m.months - m.first_reported_month) / 12
    assert values["receptions_per_year"] == pytest.approx(
        reported_totals(baseline_result)[Flow.RECEPTIONS] / years
    )
    assert 0 < values["need_prevalence"] < 1


def test_costs_by_payer_add_up_in_summary(summary_csv: pd.DataFrame) -> None:
    values = summary_csv.set_index("metric")["mean"]
    parts = [values[f"cost_{payer}_per_year"] for payer in PAYERS]
    assert all(part > 0 for part in parts), dict(zip(PAYERS, parts, strict=True))
    assert sum(parts) == pytest.approx(values["cost_total_per_year"], rel=1e-6)


def test_costs_by_payer_add_up_in_timeseries(timeseries_csv: pd.DataFrame) -> None:
    parts = sum(timeseries_csv[f"cost_{payer}"] for payer in PAYERS)
    # each cost column is rounded to pennies on its own: four roundings of at most
    # half a penny each can separate the sum of the parts from the total
    assert np.allclose(parts, timeseries_csv["cost_total"], rtol=0, atol=0.02 + 1e-9)
    assert (timeseries_csv["cost_total"] > 0).all()


def test_timeseries_rows(timeseries_csv: pd.DataFrame, baseline_result: RunResult) -> None:
    ts = timeseries_csv
    months = baseline_result.metrics.months - baseline_result.metrics.first_reported_month
    assert set(ts["scope"]) == {"estate", "prison"}
    estate_rows = ts[ts["scope"] == "estate"]
    assert sorted(estate_rows["month"]) == list(range(1, months + 1))
    prison_rows = ts[ts["scope"] == "prison"]
    assert len(prison_rows) == months * baseline_result.estate.size
    assert (prison_rows.groupby(["month", "prison"]).size() == 1).all()


def test_timeseries_one_row_per_prison_per_month(tiny_estate_result: RunResult) -> None:
    ts = results.timeseries(tiny_estate_result)
    months = tiny_estate_result.metrics.months
    prisons = ts[ts["scope"] == "prison"]
    assert len(ts) == months * (tiny_estate_result.estate.size + 1)
    assert (ts[ts["scope"] == "estate"]["month"].value_counts() == 1).all()
    counts = prisons.groupby("month")["prison"].apply(lambda s: tuple(sorted(s)))
    assert (counts == tuple(sorted(tiny_estate_result.estate.names))).all()
    assert len(counts) == months
    # estate rows are the sums of the prison rows
    estate = ts[ts["scope"] == "estate"].set_index("month")
    by_month = prisons.groupby("month")[["population", "receptions", "np_need_hours"]].sum()
    assert np.allclose(estate[["population", "receptions", "np_need_hours"]], by_month)


@pytest.mark.parametrize("which", ["baseline", "tiny_estate"])
def test_age_band_columns_add_up_to_population(which: str, request: pytest.FixtureRequest) -> None:
    ts = results.timeseries(request.getfixturevalue(f"{which}_result"))
    bands = [band_column(band) for band in AGE_BANDS]
    assert bands[0] == "population_18_20" and bands[-1] == "population_70_plus"
    assert set(bands) <= set(ts.columns)
    assert (ts["population"] > 0).all()
    assert (ts[bands].sum(axis=1) == ts["population"]).all()


def test_run_replication_accepts_a_replication_argument(make_config) -> None:
    cfg = make_config("run.years=0.25", "run.seed=5")
    a = run_replication(cfg, replication=3)
    b = run("run.years=0.25", "run.seed=5", "run.first_replication=3")
    assert np.array_equal(a.metrics.flows, b.metrics.flows)


@pytest.mark.slow
def test_national_half_year_accounting() -> None:
    # the only national-scale test: the default estate of about 120 prisons
    result = run("estate=national", "run.years=0.5", "run.warmup_years=0")
    assert result.estate.size > 100
    assert_people_conserved(result)
    f = result.metrics.flows
    np_sum = (
        f[..., Flow.NP_MET_BUDDY_HOURS] + f[..., Flow.NP_MET_INFORMAL_HOURS] + f[..., Flow.NP_UNMET_HOURS]
    )
    assert np.allclose(np_sum, f[..., Flow.NP_NEED_HOURS])
    assert (result.metrics.stocks[-1, :, Stock.POPULATION] > 0).all(), "every prison should hold people"


def test_tiny_estate_overrides_are_the_documented_ones(make_config) -> None:
    cfg = make_config(*TINY_ESTATE)
    assert sum(cfg.estate.count.as_tuple()) == 8
    assert cfg.population.initial_population == 3000

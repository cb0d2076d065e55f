"""Safeguarding incidents around peer care (issue 10, part 5): bullying, accusations of theft,
exploitation, with overstep events added to the total.

Limiting cases are exact. Counts are Poisson given the hours of peer care, so the checks of the
expected count allow 4 standard deviations of that Poisson count (a false failure about once in
16,000 seeds; the seeds are fixed, so a test either always passes or always fails). Claims about
direction are paired by replication (common random numbers) and tested on the 95% bound of the
mean paired difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ESTATE, make_config, reported_totals, run
from scipy import stats

from simmodel.config import SafeguardingConfig
from simmodel.experiments import collate
from simmodel.model.estate import FORMAL_TRAINED, FORMAL_UNTRAINED, NO_SCHEME, Estate
from simmodel.model.invariants import InvariantError
from simmodel.model.metrics import Flow, Metrics
from simmodel.model.safeguarding import FLOWS, KINDS, Safeguarding, buddy_factors
from simmodel.model.simulation import RunResult, Simulation, run_replication
from simmodel.model.streams import Streams
from simmodel.outputs import report, results

#: The metric of each kind, in KINDS order.
KIND_METRICS = (
    "safeguarding_bullying_per_year",
    "safeguarding_theft_accusations_per_year",
    "safeguarding_exploitation_per_year",
)
RATE_KEYS = tuple(f"safeguarding.{kind}_per_1000_informal_hours" for kind in KINDS)
DEFAULTS = SafeguardingConfig(
    bullying_per_1000_informal_hours=2.0,
    theft_accusation_per_1000_informal_hours=1.5,
    exploitation_per_1000_informal_hours=1.0,
    formal_factor=0.6,
    trained_factor=0.7,
    supervised_factor=0.7,
)


def estate(*schemes: int) -> Estate:
    n = len(schemes)
    return Estate(
        names=tuple(f"P{i}" for i in range(n)),
        type=np.zeros(n, dtype=np.int64),
        capacity=np.full(n, 500, dtype=np.int64),
        older_unit=np.zeros(n, dtype=bool),
        scheme=np.array(schemes, dtype=np.int64),
    )


# -------------------------------------------------------------- the hook, by hand
def test_expected_incidents_follow_the_rates_and_factors_by_hand() -> None:
    """Window means worked out by hand: an informal hour at the rate, a formal buddy's hour at
    0.6 of it, a trained and supervised buddy's at 0.6 x 0.7 x 0.7 = 0.294 of it."""
    est = estate(NO_SCHEME, FORMAL_UNTRAINED, FORMAL_TRAINED)
    assert buddy_factors(DEFAULTS, est) == pytest.approx([1.0, 0.6, 0.294])
    hook = Safeguarding(DEFAULTS, est, Streams(1, 0), Metrics(1, 3, 0))
    buddy = np.array([[0.0, 10.0, 10.0]])  # hours in one window
    informal = np.array([[5.0, 5.0, 5.0]])
    # informal-equivalent hours: 5, 5 + 6 = 11, 5 + 2.94 = 7.94; rates 2, 1.5, 1 per 1,000 hours
    by_hand = np.array([[5.0, 11.0, 7.94]]) * np.array([2.0, 1.5, 1.0])[:, None] / 1000.0
    assert hook.expected(buddy, informal) == pytest.approx(by_hand[None])


def test_drawn_incidents_average_to_the_expected_count() -> None:
    est = estate(NO_SCHEME, FORMAL_UNTRAINED, FORMAL_TRAINED)
    metrics = Metrics(2, 3, 0)
    hook = Safeguarding(DEFAULTS, est, Streams(20251123, 0), metrics)
    windows = 20_000
    buddy = np.tile([0.0, 10.0, 10.0], (windows, 1))
    informal = np.tile([5.0, 5.0, 5.0], (windows, 1))
    starts = np.where(np.arange(windows) < windows // 2, 1.0, 40.0)  # half in month 0, half in month 1
    incidents = hook.record(starts, buddy, informal)
    expected = hook.expected(buddy, informal).sum(axis=0)  # kinds x prisons
    drawn = metrics.flows[:, :, FLOWS].sum(axis=0).T  # kinds x prisons
    assert np.array_equal(drawn, incidents.sum(axis=0)), "every incident drawn is counted, once"
    assert np.abs(drawn - expected).max() <= 4 * np.sqrt(expected).max()
    # each window is counted in the month it starts in
    assert metrics.flows[0, :, FLOWS].sum() == incidents[: windows // 2].sum()
    assert metrics.flows[1, :, FLOWS].sum() == incidents[windows // 2 :].sum()
    assert metrics.flows[:, :, Flow.OVERSTEP_EVENTS].sum() == 0, "overstep events are the care lane's"


def test_deterministic_mode_rounds_each_window_mean() -> None:
    """Central values: a window's count is its mean rounded (run.deterministic)."""
    hook = Safeguarding(
        DEFAULTS, estate(FORMAL_UNTRAINED), Streams(1, 0, deterministic=True), Metrics(1, 1, 0)
    )
    buddy, informal = np.array([[500.0], [100.0]]), np.array([[0.0], [0.0]])
    # 300 informal-equivalent hours: 0.6, 0.45, 0.3 -> 1, 0, 0; 60 hours: 0.12, 0.09, 0.06 -> 0
    assert hook.record(np.array([0.0, 0.5]), buddy, informal)[:, :, 0].tolist() == [[1, 0, 0], [0, 0, 0]]


# ----------------------------------------------------------------- whole runs
@pytest.mark.parametrize("kind", range(len(KINDS)), ids=KINDS)
def test_a_zero_rate_gives_no_incidents_of_that_kind(kind: int) -> None:
    f = reported_totals(run(f"{RATE_KEYS[kind]}=0"))
    assert f[FLOWS[kind]] == 0
    others = [FLOWS[k] for k in range(len(KINDS)) if k != kind]
    assert (f[others] > 0).all(), "the other kinds still happen"


def test_no_rates_leave_only_overstep_events_in_the_total() -> None:
    result = run(*(f"{key}=0" for key in RATE_KEYS))
    table = results.summary(result).set_index("metric")["mean"]
    assert table[list(KIND_METRICS)].eq(0).all()
    assert table["overstep_events_per_year"] > 0
    assert table["safeguarding_incidents_per_year"] == table["overstep_events_per_year"]


def _expected_by_kind(result: RunResult) -> np.ndarray:
    """Expected incidents of each kind given the hours of peer care each prison gave."""
    m = result.metrics
    hours = m.flows[m.first_reported_month :].sum(axis=0)  # prisons x flows
    factor = buddy_factors(result.cfg.safeguarding, result.estate)
    exposure = (hours[:, Flow.NP_MET_INFORMAL_HOURS] + factor * hours[:, Flow.NP_MET_BUDDY_HOURS]).sum()
    s = result.cfg.safeguarding
    rates = (
        s.bullying_per_1000_informal_hours,
        s.theft_accusation_per_1000_informal_hours,
        s.exploitation_per_1000_informal_hours,
    )
    return exposure * np.array(rates) / 1000.0


#: One incident of each kind per hour of informal help (the top of the allowed range): counts in
#: the thousands, so 4 Poisson sd are about 5% of the count, and a missing factor (a trained and
#: supervised buddy's hour counting 0.6 instead of 0.294 of an informal hour) is far outside.
HIGH_RATES = tuple(f"{key}=1000" for key in RATE_KEYS)


@pytest.mark.parametrize(
    "estate_overrides",
    [pytest.param((), id="one prison, trained scheme"), pytest.param(TINY_ESTATE, id="tiny estate, mixed")],
)
def test_incidents_in_a_run_match_the_hours_of_peer_care(estate_overrides: tuple[str, ...]) -> None:
    """Given the hours, each kind's total is Poisson with the mean worked out from the rates and
    each prison's scheme (the tiny estate mixes prisons without a scheme, untrained and trained)."""
    result = run(*estate_overrides, *HIGH_RATES)
    if estate_overrides:
        assert len(set(result.estate.scheme.tolist())) == 3, "all three kinds of prison"
    expected = _expected_by_kind(result)
    drawn = reported_totals(result)[FLOWS]
    assert (expected > 1000).all()
    assert np.abs(drawn - expected).max() <= 4 * np.sqrt(expected).max(), (drawn, expected)


# ------------------------------------------------- training and supervision, paired
#: An untrained scheme in the one prison, no informal help (so every hour of peer care is a buddy's
#: and incidents per peer-care hour are incidents per buddy hour), rates x10 for counts in the
#: hundreds (the effect is a ratio, so the scale of the rates does not matter to it).
UNTRAINED = (
    "estate.prisons.0.scheme=formal_untrained",
    "care.informal_share_of_unlock=0",
    "safeguarding.bullying_per_1000_informal_hours=20",
    "safeguarding.theft_accusation_per_1000_informal_hours=15",
    "safeguarding.exploitation_per_1000_informal_hours=10",
)
REPLICATIONS = 4


@pytest.fixture(scope="module")
def paired_runs() -> dict[str, list[RunResult]]:
    """status_quo and train_and_supervise, replications 0-3 of each (same seeds)."""
    out = {}
    for option in ("status_quo", "train_and_supervise"):
        cfg = make_config(*UNTRAINED, f"funding={option}")
        out[option] = [run_replication(cfg, rep) for rep in range(REPLICATIONS)]
    return out


def _per_buddy_hour(result: RunResult) -> float:
    f = reported_totals(result)
    assert f[Flow.NP_MET_INFORMAL_HOURS] == 0 and f[Flow.NP_MET_BUDDY_HOURS] > 0
    return float(f[FLOWS].sum() / f[Flow.NP_MET_BUDDY_HOURS])


def test_training_and_supervision_cut_incidents_per_buddy_hour(
    paired_runs: dict[str, list[RunResult]],
) -> None:
    base, trained = (
        [_per_buddy_hour(r) for r in paired_runs[k]] for k in ("status_quo", "train_and_supervise")
    )
    diffs = np.array(trained) - np.array(base)
    n = len(diffs)
    upper = diffs.mean() + stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / np.sqrt(n)
    assert upper < 0, diffs
    # and by about the configured factors: 0.7 x 0.7 = 0.49 per buddy hour. Pooled over the
    # replications about 800 and 400 incidents, so the ratio's relative sd is about
    # sqrt(1/800 + 1/400) = 6%; 4 sd is a tolerance of 0.12.
    counts = {k: sum(reported_totals(r)[FLOWS].sum() for r in v) for k, v in paired_runs.items()}
    hours = {k: sum(reported_totals(r)[Flow.NP_MET_BUDDY_HOURS] for r in v) for k, v in paired_runs.items()}
    ratio = (counts["train_and_supervise"] / hours["train_and_supervise"]) / (
        counts["status_quo"] / hours["status_quo"]
    )
    sd = np.sqrt(1 / counts["status_quo"] + 1 / counts["train_and_supervise"])
    assert ratio == pytest.approx(0.49, abs=4 * sd * 0.49), (ratio, counts)


def test_the_factors_set_to_one_leave_the_rate_per_buddy_hour_alone() -> None:
    """The other side of the test above: without the factors, training leaves the rate per buddy
    hour as it was (the ratio within 4 sd of 1), so the cut comes from the factors."""
    neutral = ("safeguarding.trained_factor=1", "safeguarding.supervised_factor=1")
    counts, hours = {}, {}
    for option in ("status_quo", "train_and_supervise"):
        cfg = make_config(*UNTRAINED, *neutral, f"funding={option}")
        runs = [run_replication(cfg, rep) for rep in range(2)]
        counts[option] = sum(reported_totals(r)[FLOWS].sum() for r in runs)
        hours[option] = sum(reported_totals(r)[Flow.NP_MET_BUDDY_HOURS] for r in runs)
    ratio = (counts["train_and_supervise"] / hours["train_and_supervise"]) / (
        counts["status_quo"] / hours["status_quo"]
    )
    sd = np.sqrt(1 / counts["status_quo"] + 1 / counts["train_and_supervise"])
    assert ratio == pytest.approx(1.0, abs=4 * sd), (ratio, counts)


# ---------------------------------------------------------------- the outputs
def test_the_summary_adds_up_the_kinds(baseline_result: RunResult) -> None:
    table = results.summary(baseline_result).set_index("metric")["mean"]
    parts = table[[*KIND_METRICS, "overstep_events_per_year"]]
    assert (parts > 0).all()
    assert table["safeguarding_incidents_per_year"] == pytest.approx(parts.sum(), rel=1e-12)
    f = reported_totals(baseline_result)
    peer_hours = f[Flow.NP_MET_BUDDY_HOURS] + f[Flow.NP_MET_INFORMAL_HOURS]
    assert table["safeguarding_incidents_per_1000_peer_care_hours"] == pytest.approx(
        1000 * f[FLOWS].sum() / peer_hours
    )
    series = results.timeseries(baseline_result)
    estate_rows = series[series["scope"] == "estate"]
    total = estate_rows["safeguarding_incidents"].sum()
    assert total == pytest.approx(table["safeguarding_incidents_per_year"] * 1.0, rel=1e-6), "1 reported year"
    for column in ("safeguarding_bullying", "safeguarding_theft_accusation", "safeguarding_exploitation"):
        assert column in results.timeseries_columns() and column in series


def test_the_console_shows_safeguarding_beside_unmet_hours(baseline_result: RunResult) -> None:
    text = results.console_table(results.summary(baseline_result))
    lines = [line.strip() for line in text.splitlines()]
    labels = [line.split("  ")[0] for line in lines]
    start = labels.index("Safeguarding incidents")
    assert labels.index("Unmet care, both kinds") < start < labels.index("Total cost")
    assert labels[start + 1 : start + 6] == [
        "bullying",
        "accusations of theft",
        "exploitation (contraband, pressure)",
        "peers doing personal care (overstep)",
        "per 1,000 hours of peer care (overstep aside)",
    ]
    assert lines[start].split("  ")[-1].strip().endswith("events a year")
    assert lines[start + 5].endswith("per 1,000 hours")


def test_the_report_states_safeguarding_incidents(baseline_result: RunResult) -> None:
    summary = results.summary(baseline_result)
    summary["ci_low"] = summary["ci_high"] = np.nan
    sentences = dict(report.headline_sentences(summary))
    assert "safeguarding incidents a year" in sentences["safeguarding_incidents_per_year"]
    by_type, top = report.prison_tables(results.timeseries(baseline_result))
    assert by_type["Safeguarding incidents a year"].iloc[0] == pytest.approx(
        summary.set_index("metric").loc["safeguarding_incidents_per_year", "mean"], rel=1e-6
    )
    assert "Safeguarding incidents a year" in top


def _job(option: str, runs: list[RunResult]) -> collate.Job:
    """A finished job made from model runs (what a sweep's job folder would hold)."""
    rows = [
        {"replication": r.replication, "metric": m.name, "unit": m.unit, "value": v}
        for r in runs
        for m, v in zip(results.METRICS, results.compute_values(r), strict=True)
    ]
    reps = pd.DataFrame(rows)
    means = reps.groupby("metric", sort=False)["value"].mean()
    summary = pd.DataFrame(
        {
            "metric": means.index,
            "unit": [m.unit for m in results.METRICS],
            "mean": means.to_numpy(),
            "ci_low": means.to_numpy(),
            "ci_high": means.to_numpy(),
        }
    )
    return collate.Job(name=option, overrides={"funding": option}, summary=summary, replications=reps)


def test_the_comparison_shows_safeguarding_differences(paired_runs: dict[str, list[RunResult]]) -> None:
    jobs = [_job(option, runs) for option, runs in paired_runs.items()]
    table, notes = collate.comparison_table(jobs, "funding")
    assert not notes
    rows = table.set_index("metric")
    for metric in ("safeguarding_incidents_per_year", *KIND_METRICS, "overstep_events_per_year"):
        assert metric in collate.COMPARISON_METRICS
        base = np.array([results.compute_values(r)[_index(metric)] for r in paired_runs["status_quo"]])
        other = np.array(
            [results.compute_values(r)[_index(metric)] for r in paired_runs["train_and_supervise"]]
        )
        assert rows.loc[metric, "difference"] == pytest.approx((other - base).mean())
        assert rows.loc[metric, "n_pairs"] == REPLICATIONS
    assert rows.loc["safeguarding_incidents_per_year", "ci_high"] < 0, "fewer incidents with training"
    points = collate.frontier_points(jobs, "funding")
    text = collate.console_comparison(table, points)
    assert "change in safeguarding incidents a year" in text
    difference = rows.loc["safeguarding_incidents_per_year"]
    line = next(line for line in text.splitlines() if line.strip().startswith("train_and_supervise"))
    assert f"{difference.difference:+,.0f} ({difference.ci_low:+,.0f} to {difference.ci_high:+,.0f})" in line
    assert "safeguarding_incidents_per_year" in dict(report.FOREST_METRICS)
    assert report.forest_plot(table).startswith('<img alt="plot" src="data:image/png;base64,')
    sheets = report.sweep_workbook_sheets(collate.sweep_table(jobs), table)
    compared = sheets[report.SWEEP_SHEETS[1]]
    assert "Safeguarding incidents" in set(compared["Result"])


def _index(metric: str) -> int:
    return [m.name for m in results.METRICS].index(metric)


def test_the_checker_catches_incidents_without_peer_care() -> None:
    sim = Simulation(make_config("run.check_invariants=true", "run.years=0.25"))
    sim.run()
    flows = sim.metrics.flows
    month = flows[int(flows[:, 0, FLOWS].sum(axis=1).argmax()), 0]  # the month with most incidents
    # move the month's peer care to unmet (care still adds up), keep its incidents
    moved = month[Flow.NP_MET_BUDDY_HOURS] + month[Flow.NP_MET_INFORMAL_HOURS]
    assert moved > 0 and month[FLOWS].sum() > 0
    sim.env.after_step()  # the finished run passes
    month[Flow.NP_UNMET_HOURS] += moved
    month[[Flow.NP_MET_BUDDY_HOURS, Flow.NP_MET_INFORMAL_HOURS]] = 0
    with pytest.raises(InvariantError, match="safeguarding incidents around peer care"):
        sim.env.after_step()

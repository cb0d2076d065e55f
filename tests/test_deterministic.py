"""Deterministic mode: every draw replaced by a central value, results checked by hand.

One Cat C prison with an older unit and a trained buddy scheme (estate=single_prison),
no day-0 stock, one reception a day, everyone staying exactly 100 days, everyone
arriving with low need and nobody developing need in prison. In deterministic mode
(simmodel/model/streams.py, CentralValues) an exponential delay is its mean, a normal draw
its mean, a count its rounded mean, and a yes/no event happens when its probability is
above one half. Each expected value below is worked out from the configuration.
"""

from __future__ import annotations

import pytest
from conftest import make_config, one_stay

from simmodel.model.simulation import run_replication
from simmodel.outputs import results

BANDS = ("b18_20", "b21_24", "b25_29", "b30_39", "b40_49", "b50_59", "b60_69", "b70_plus")
HAND_CHECKED = (
    "run.deterministic=true",
    "run.check_invariants=true",
    "run.years=1",
    "run.warmup_years=1",  # steady state long before the reported year starts
    "population.initial_population=0",
    "population.receptions_per_year=365",  # Poisson(1 a day) -> exactly 1 a day
    *one_stay(100, 0.0),  # every stay exactly 100 days
    "population.transfer_rate_per_year=0",
    *(f"need.stock_prevalence_by_band.{b}=0.9" for b in BANDS),  # 0.9 > 0.5: all arrive with need
    "need.arrival_prevalence_factor=1",
    "need.onset_hazard_at_50_per_year=0",
    "need.worsening_rate_per_year=0",
    "need.dementia_stock_prevalence_50_69=0",
    "need.dementia_stock_prevalence_70_plus=0",
    "need.dementia_onset_hazard_at_70_per_year=0",
    "regime.restricted_episodes_per_year=0",  # every window fully unlocked
    "regime.lockdown_episodes_per_year=0",
    # the pathway's timings below, pinned (the calibrated defaults move with each calibration)
    "pathway.screening_sensitivity=0.4",
    "pathway.detection_delay_days_mean=120",
    "pathway.referral_share=0.85",
    "pathway.assessment_days_mean=6",
)


@pytest.fixture(scope="module")
def values() -> dict[str, float]:
    cfg = make_config(*HAND_CHECKED)
    # the defaults this test's arithmetic relies on
    assert cfg.need.level_shares_at_onset.low >= 0.5  # the median level is "low"
    assert (cfg.need.nonpersonal_hours_per_week.low, cfg.need.personal_hours_per_week.low) == (3, 0)
    assert cfg.pathway.screening_sensitivity < 0.5  # nobody is found at reception
    assert cfg.pathway.referral_share > 0.5  # every detected need is referred
    assert cfg.buddies.min_remaining_stay_days > 100  # nobody stays long enough to be a buddy
    care = cfg.care
    assert (care.cell_sharing_share_under_50, care.cellmate_help_share) == (0.5, 0.5)
    assert (care.neighbour_helpers_per_recipient, care.older_unit_neighbour_factor) == (0.3, 0.8)
    assert (care.informal_share_of_unlock, cfg.regime.window_hours) == (0.1, 2.5)
    table = results.summary(run_replication(cfg))
    return dict(zip(table["metric"], table["mean"], strict=True))


def test_population_is_arrivals_times_stay(values: dict[str, float]) -> None:
    # 1 a day, each staying 100 days, nobody dies (a hazard needing decades at age ~35)
    assert values["population"] == 100
    assert values["receptions_per_year"] == 365
    assert values["releases_per_year"] == 365
    assert values["natural_deaths_per_year"] == 0


def test_everyone_has_low_need(values: dict[str, float]) -> None:
    assert values["people_with_need"] == 100
    assert values["people_with_personal_need"] == 0


def test_pathway_timings(values: dict[str, float]) -> None:
    # detection after 120 days x 0.7 (older unit) = 84 days: at month end the 16 people
    # with more than 84 days served are known; referral 14 days later (day 98) leaves 2
    # waiting; an assessment takes 6 days, longer than the 2 days left, so none finishes
    assert values["detections_per_year"] == 365
    assert values["referrals_per_year"] == 365
    assert values["people_detected"] == 16
    assert values["people_waiting_assessment"] == 2
    assert values["assessments_per_year"] == 0


def test_care_in_each_window(values: dict[str, float]) -> None:
    # 100 people x 3 h a week = 300 h; per window (2 a day) 300 / 14 = 21.43 h = 42.9
    # half-hour tasks -> 43 tasks (21.5 h), 301 h a week. Unlocked recipients: 43 x 0.9 =
    # 38.7 -> 39; no buddies. Informal helpers (everyone is under 50): cell-mates 100 x 0.5
    # sharing x 0.5 helping = 25, neighbours 100 x 0.3 x 0.8 (older unit) = 24; 49 helpers x
    # 0.1 of a 2.5-hour window = 12.25 h = 24.5 tasks, rounded at the central 0.5 -> 25 tasks
    # = 12.5 h a window, 175 h a week; unmet 301 - 175 = 126 h a week
    assert values["nonpersonal_need_hours_per_week"] == pytest.approx(301)
    assert values["buddies_active"] == 0
    assert values["nonpersonal_met_informally_hours_per_week"] == pytest.approx(175)
    assert values["nonpersonal_unmet_hours_per_week"] == pytest.approx(126)


def test_costs(values: dict[str, float]) -> None:
    # scheme coordination 7.5 h a week x £21 x 365/7 weeks = £8,212.50; set-up £5,000 over
    # 5 years = £1,000; no buddies to pay, no assessments, no care packages
    assert values["cost_prison_per_year"] == pytest.approx(8212.5 + 1000)
    assert values["cost_local_authority_per_year"] == 0
    assert values["cost_nhs_per_year"] == 0

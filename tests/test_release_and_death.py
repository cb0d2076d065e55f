"""Release planning, end-of-life care and parole refusals on one prison (fast, paired runs).

Paired runs share the seed: release planning and end-of-life accounting feed back into
nothing else, so two runs that differ only in those parameters see the same people, and
the comparisons below hold exactly, replication by replication.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config, reported_totals

from simmodel.model.metrics import Flow
from simmodel.model.simulation import run_replication

ONE_PRISON = ("estate=single_prison", "run.years=2", "run.warmup_years=0.5", "run.progress=false")


def totals(*overrides: str, replication: int = 0) -> np.ndarray:
    return reported_totals(run_replication(make_config(*ONE_PRISON, *overrides), replication))


def test_more_notice_never_leaves_more_releases_without_a_plan() -> None:
    for replication in range(2):
        short = totals("pathway.release_referral_lead_days=30", replication=replication)
        long = totals("pathway.release_referral_lead_days=180", replication=replication)
        assert short[Flow.RELEASES_WITH_NEED] == long[Flow.RELEASES_WITH_NEED] > 0
        assert short[Flow.RELEASES_WITHOUT_PLAN] <= long[Flow.RELEASES_WITHOUT_PLAN]
        assert long[Flow.RELEASES_WITHOUT_PLAN] <= long[Flow.RELEASES_WITH_NEED]


def test_no_referrals_means_every_release_with_need_lacks_a_plan() -> None:
    none = totals("pathway.release_referral_share=0")
    assert none[Flow.RELEASES_WITHOUT_PLAN] == none[Flow.RELEASES_WITH_NEED] > 0
    every = totals("pathway.release_referral_share=1", "pathway.release_referral_lead_days=0")
    # with every release referred and no notice needed, only needs unknown to the prison miss out
    assert every[Flow.RELEASES_WITHOUT_PLAN] < none[Flow.RELEASES_WITHOUT_PLAN]


def test_end_of_life_hours_follow_deaths_with_high_need() -> None:
    # a prison of older people with high mortality, so deaths happen in a short run
    older = ("population.death_hazard_at_50_per_year=0.05", "need.worsening_rate_per_year=2")
    on = totals(*older, "population.end_of_life_hours_per_week=10", "population.end_of_life_days=90")
    off = totals(*older, "population.end_of_life_days=0")
    assert on[Flow.DEATHS_WITH_NEED] > 0 and on[Flow.END_OF_LIFE_HOURS] > 0
    assert off[Flow.END_OF_LIFE_HOURS] == 0
    # at most 90 days at 10 hours a week for each death with need
    assert on[Flow.END_OF_LIFE_HOURS] <= on[Flow.DEATHS_WITH_NEED] * 10 * 90 / 7 + 1e-9
    assert on[Flow.DEATHS_WITH_NEED] <= on[Flow.DEATHS]


def test_parole_refusals_keep_older_lifers_in() -> None:
    base = ("population.custody_classes.indeterminate.share=0.5", "population.custody_classes.long.share=0")
    kept = totals(*base, "population.older_indeterminate_parole_refusal=1")
    free = totals(*base)
    assert kept[Flow.PAROLE_REFUSALS] > 0 and free[Flow.PAROLE_REFUSALS] == 0


def test_end_of_life_care_is_paid_by_the_nhs_and_the_local_authority_by_share() -> None:
    # The same people die at either share (common random numbers): moving the NHS share from 0
    # to 1 moves exactly the end-of-life hours' cost from the council's home-care price to the
    # NHS's healthcare hour, and changes no other flow.
    older = ("population.death_hazard_at_50_per_year=0.05", "need.worsening_rate_per_year=2")
    council, nhs = (totals(*older, f"population.end_of_life_nhs_share={share}") for share in (0.0, 1.0))
    costs = make_config().costs
    hours = council[Flow.END_OF_LIFE_HOURS]
    assert hours > 0 and hours == nhs[Flow.END_OF_LIFE_HOURS]
    moved = council[Flow.COST_PERSONAL_CARE] - nhs[Flow.COST_PERSONAL_CARE]
    assert moved == pytest.approx(hours * costs.personal_care_hourly_cost, rel=1e-9)
    added = nhs[Flow.COST_HEALTHCARE] - council[Flow.COST_HEALTHCARE]
    assert added == pytest.approx(hours * costs.healthcare_hourly_cost, rel=1e-9)
    others = np.ones(len(council), dtype=bool)
    others[[Flow.COST_PERSONAL_CARE, Flow.COST_HEALTHCARE]] = False
    assert np.array_equal(council[others], nhs[others])

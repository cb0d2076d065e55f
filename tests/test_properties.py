"""Property-based tests: random valid configurations (one prison or a tiny generated estate,
a few weeks to months) never crash, and the model's invariants hold in every one.

Configurations are drawn as lists of override strings for ``conftest.make_config``.
Hypothesis runs derandomized (the same examples every run) and with few examples, so the
file stays fast. When the model has its debug mode (``run.check_invariants``, which checks
the invariants after every event and raises ``simmodel.model.invariants.InvariantError``), the
runs use it too.
"""

from __future__ import annotations

import importlib.util
from dataclasses import fields

import numpy as np
import pytest
from conftest import CONFIGS, TINY_ESTATE, make_config
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_model import assert_people_conserved, net_change_weights, reported_totals

from simmodel.config import RunConfig
from simmodel.model.metrics import PAYERS, Flow, Stock
from simmodel.model.simulation import RunResult, run_replication
from simmodel.outputs import results

HAS_CHECKER = importlib.util.find_spec("simmodel.model.invariants") is not None and "check_invariants" in {
    f.name for f in fields(RunConfig)
}
DEBUG = ("run.check_invariants=true",) if HAS_CHECKER else ()
FUNDING = tuple(sorted(p.stem for p in (CONFIGS / "funding").glob("*.yaml")))
SMALL_TINY_ESTATE = (
    *TINY_ESTATE,
    "population.initial_population=1200",
    "population.receptions_per_year=900",
    "population.recalls_per_year=390",
)
#: Shared settings; each test sets its own max_examples with settings(SETTINGS, max_examples=...).
SETTINGS = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a model run per step is too slow
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _f(x: float) -> str:
    return f"{x:.4g}"


def share() -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0)


@st.composite
def configurations(draw: st.DrawFn, tiny: bool = True, min_window_hours: float = 0.0) -> list[str]:
    """Overrides for a random valid configuration with a short horizon.

    ``tiny``: a quarter of the examples on the tiny estate (else one prison with a scheme);
    ``min_window_hours``: the shortest unlock window drawn.
    """
    o = [*SMALL_TINY_ESTATE] if tiny and draw(st.integers(0, 3)) == 0 else []
    funding = draw(st.sampled_from(FUNDING))
    windows = draw(st.integers(1, 4))
    extra = 1.0 if funding == "extended_unlock" else 0.0
    o += [
        f"funding={funding}",
        f"scenario={draw(st.sampled_from(['baseline', 'ageing']))}",
        f"run.seed={draw(st.integers(0, 10_000))}",
        f"run.years={draw(st.sampled_from([0.0833, 0.25, 0.5]))}",
        f"run.warmup_years={draw(st.sampled_from([0, 0.0833, 0.25]))}",
        f"regime.windows_per_day={windows}",
        f"regime.window_hours={_f(draw(st.floats(min_window_hours, 24.0 / windows - extra)))}",
        f"regime.recipient_unlocked_share={_f(draw(share()))}",
        f"regime.lockdown_episodes_per_year={_f(draw(st.floats(0, 20)))}",
        f"regime.restricted_episodes_per_year={_f(draw(st.floats(0, 50)))}",
        f"population.transfer_rate_per_year={_f(draw(st.floats(0, 3)))}",
        f"population.custody_classes.short.median_days={_f(draw(st.floats(14, 365)))}",
        f"population.recall.sigma={_f(draw(st.floats(0, 2)))}",
        f"population.hold_population={draw(st.booleans())}",
        "population.steady_state_tolerance=10",  # transfers out of one prison at up to 3 a year
        f"population.older_long_tilt={_f(draw(st.floats(0, 0.3)))}",
        f"population.older_long_receptions_growth_per_year={_f(draw(st.floats(0, 0.2)))}",
        f"population.older_indeterminate_parole_refusal={_f(draw(share()))}",
        f"population.death_hazard_at_50_per_year={_f(draw(st.floats(0, 0.2)))}",
        f"need.onset_hazard_at_50_per_year={_f(draw(st.floats(0, 0.5)))}",
        f"need.worsening_rate_per_year={_f(draw(st.floats(0, 3)))}",
        f"need.arrival_prevalence_factor={_f(draw(st.floats(0, 5)))}",
        f"pathway.screening_sensitivity={_f(draw(share()))}",
        f"pathway.referral_share={_f(draw(share()))}",
        f"pathway.assessors_per_prison={draw(st.integers(0, 3))}",
        f"pathway.assessment_days_mean={_f(draw(st.floats(0.1, 30)))}",
        f"pathway.info_loss_on_transfer={_f(draw(share()))}",
        f"pathway.review_interval_days={_f(draw(st.floats(5, 365)))}",
        f"buddies.posts_per_1000_prisoners={_f(draw(st.floats(0, 100)))}",
        f"buddies.initial_fill_share={_f(draw(share()))}",
        f"buddies.care_share_of_unlock={_f(draw(share()))}",
        f"buddies.quit_rate_per_year={_f(draw(st.floats(0, 5)))}",
        f"buddies.burnout_load_sensitivity={_f(draw(st.floats(0, 5)))}",
        f"buddies.kept_on_transfer_share={_f(draw(share()))}",
        f"buddies.priority={draw(st.sampled_from(['recorded_first', 'proportional']))}",
        f"care.informal_share_of_unlock={_f(draw(share()))}",
        f"care.informal_crowd_out_share={_f(draw(share()))}",
        f"care.neighbour_helpers_per_recipient={_f(draw(st.floats(0, 2)))}",
        f"care.provider_capacity_hours_per_week_per_100_places={_f(draw(st.floats(0, 200)))}",
        f"care.provider_shortfall_share={_f(draw(share()))}",
        f"care.healthcare_topup_share={_f(draw(share()))}",
        f"regime.officer_unlocks_per_day_per_100_places={_f(draw(st.floats(0, 40)))}",
        f"regime.essential_unlock_floor={_f(draw(share()))}",
        f"pathway.interim_review_delay_days_mean={_f(draw(st.floats(0, 90)))}",
        f"care.overstep_max_probability_per_window={_f(draw(share()))}",
    ]
    return o


def assert_invariants(result: RunResult) -> None:
    m = result.metrics
    flows, stocks = m.flows, m.stocks
    # people conserved, in total and prison by prison each month
    assert_people_conserved(result)
    change = np.diff(stocks[:, :, Stock.POPULATION], axis=0)[:-1]
    assert np.array_equal(change, flows[1:-1] @ net_change_weights())
    assert stocks[-1, :, Stock.POPULATION].sum() == result.end_population
    # met + unmet = need, by kind, every prison-month
    np_sum = flows[..., [Flow.NP_MET_BUDDY_HOURS, Flow.NP_MET_INFORMAL_HOURS, Flow.NP_UNMET_HOURS]].sum(-1)
    p_sum = flows[..., [Flow.P_MET_PROFESSIONAL_HOURS, Flow.P_MET_HEALTHCARE_HOURS, Flow.P_UNMET_HOURS]].sum(
        -1
    )
    assert np.allclose(np_sum, flows[..., Flow.NP_NEED_HOURS], rtol=1e-9, atol=1e-6)
    assert np.allclose(p_sum, flows[..., Flow.P_NEED_HOURS], rtol=1e-9, atol=1e-6)
    # flows that are parts of other flows
    assert (flows[..., Flow.RECALLS] <= flows[..., Flow.RECEPTIONS]).all()
    assert (flows[..., Flow.RELEASES_WITHOUT_PLAN] <= flows[..., Flow.RELEASES_WITH_NEED]).all()
    assert (flows[..., Flow.RELEASES_WITH_NEED] <= flows[..., Flow.RELEASES]).all()
    assert (flows[..., Flow.DEATHS_WITH_NEED] <= flows[..., Flow.DEATHS]).all()
    # everyone in custody is in exactly one custody class
    classes = stocks[..., Stock.REMAND : Stock.RECALL + 1].sum(-1)
    assert np.array_equal(classes, stocks[..., Stock.POPULATION])
    # no negative flows (counts, hours, £) or stocks; buddies within posts
    assert (flows >= 0).all() and (stocks >= 0).all()
    assert (stocks[..., Stock.BUDDIES_ACTIVE] <= stocks[..., Stock.BUDDY_POSTS]).all()
    # stocks nest
    assert (stocks[..., Stock.WITH_NEED] <= stocks[..., Stock.POPULATION]).all()
    assert (stocks[..., Stock.DETECTED] <= stocks[..., Stock.WITH_NEED]).all()
    assert (stocks[..., Stock.WITH_PACKAGE] <= stocks[..., Stock.DETECTED]).all()
    # costs: every cost line has exactly one payer, and the payers add up to the total
    cost_lines = [v for k, v in vars(Flow).items() if k.startswith("COST_")]
    by_payer = [line for lines in PAYERS.values() for line in lines]
    assert sorted(by_payer) == sorted(cost_lines)
    summary = results.summary(result).set_index("metric")["mean"]
    parts = sum(summary[f"cost_{payer}_per_year"] for payer in PAYERS)
    years = (m.months - m.first_reported_month) / 12
    assert np.isclose(parts, reported_totals(result)[cost_lines].sum() / years, rtol=1e-9)
    assert np.isclose(parts, summary["cost_total_per_year"], rtol=1e-9)


@settings(SETTINGS, max_examples=12)
@given(overrides=configurations())
def test_random_configurations_run_and_keep_the_invariants(overrides: list[str]) -> None:
    result = run_replication(make_config(*overrides, *DEBUG))  # InvariantError fails the test
    assert_invariants(result)


@pytest.mark.slow  # six pairs of runs on a larger estate (about 7 s)
@settings(SETTINGS, max_examples=6)
@given(
    overrides=configurations(tiny=False, min_window_hours=1.0),
    posts=st.floats(0, 30),
    extra=st.floats(10, 60),
    care_share=st.floats(0.2, 1),
)
def test_more_buddy_posts_do_not_increase_unmet_nonpersonal_need(
    overrides: list[str], posts: float, extra: float, care_share: float
) -> None:
    # One prison with a trained scheme, unlock windows of at least an hour, buddies giving at
    # least a fifth of their unlock time to care, 10-60 more posts per 1,000 prisoners.
    # Common random numbers: both arms use the same seed and replications, so they see the
    # same people, needs, regime spells and (until the allocation first differs) the same
    # care draws; only the number of buddy posts differs. More posts change later draws (the
    # buddies stream is used differently, binomial draws of other sizes shift the care
    # stream), so the claim is about means over 3 paired replications, not every month.
    # Allowance: 1% of the non-personal need hours. Measured in 60 random paired trials over
    # all configurations: the mean change was -2.2% (median), the largest increase 1.5%,
    # always where buddies could give no time (unlock windows of ~0 hours, excluded here);
    # rerun on 12 replications the worst one gave +0.5% +/- 0.6% (noise, not an effect).
    # In 30 random trials of the configurations drawn here: median -1.7%, largest +0.34%.
    # Unmet need is compared as a share of need: buddies are prisoners, and a prison holds
    # some of them back from transfer (buddies.kept_on_transfer_share), so more posts can
    # keep more people, and their needs, in the prison. Found by this test: with 99% of
    # buddies kept, 2 transfers a person a year and fast-worsening needs, more posts raised
    # unmet hours by 5% while need rose with them.
    base = [*overrides, f"buddies.care_share_of_unlock={_f(care_share)}"]
    few_cfg = make_config(*base, f"buddies.posts_per_1000_prisoners={_f(posts)}")
    many_cfg = make_config(*base, f"buddies.posts_per_1000_prisoners={_f(posts + extra)}")
    few, many = [], []
    for replication in range(3):
        a = reported_totals(run_replication(few_cfg, replication))
        b = reported_totals(run_replication(many_cfg, replication))
        few.append(a[Flow.NP_UNMET_HOURS] / max(a[Flow.NP_NEED_HOURS], 1e-9))
        many.append(b[Flow.NP_UNMET_HOURS] / max(b[Flow.NP_NEED_HOURS], 1e-9))
    assert np.mean(many) <= np.mean(few) + 0.01, (few, many)

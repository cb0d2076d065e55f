"""Who becomes a buddy, and why they stay (issue 10, part 3).

A willing-applicant pool that rises with pay and recognition, quitting that falls with them,
supervision separate from training, coordination time that grows with the buddies, and the
staff-awareness lever (detection and buddy access). Runs are one prison for two years
(about a second each); paired runs share the seed and replication (common random numbers),
so a difference comes from the setting, not chance. Each tolerance says why it is wide enough
not to fail by chance and narrow enough to fail if the mechanism is missing.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import make_config, reported_totals, run

from simmodel.config import BuddiesConfig, Config
from simmodel.model.buddies import quit_rate_per_year, willing_share
from simmodel.model.estate import FORMAL_TRAINED, NO_SCHEME, build_estate, share_count, staff_awareness
from simmodel.model.funding import fund_estate, yearly_cost_per_prison
from simmodel.model.metrics import Flow, Stock
from simmodel.model.simulation import Simulation, run_replication
from simmodel.model.streams import SHARED_STREAMS, STREAM_IDS, Streams

TWO_YEARS = ("run.years=2", "run.warmup_years=0")
#: Many posts and everyone willing: losses are frequent enough to count in two years.
MANY_BUDDIES = (*TWO_YEARS, "buddies.posts_per_1000_prisoners=100", "buddies.willing_share=1")
REPLICATIONS = (0, 1, 2)


def paired(overrides: tuple[str, ...], *variants: tuple[str, ...]) -> list[list[np.ndarray]]:
    """Totals of each variant in each replication, all with the same seed."""
    return [
        [reported_totals(run_replication(make_config(*overrides, *v), rep)) for rep in REPLICATIONS]
        for v in variants
    ]


def summed(runs: list[np.ndarray], flow: Flow) -> float:
    return float(sum(t[flow] for t in runs))


# ------------------------------------------------------------------ the formulas by hand
def buddies_cfg(**changes: object) -> BuddiesConfig:
    return dataclasses.replace(make_config().buddies, **changes)


def test_willing_share_and_quit_rate_by_hand() -> None:
    c = buddies_cfg(
        willing_share=0.04,
        reference_pay_per_week=15.0,
        pay_per_week=60.0,
        willingness_pay_elasticity=0.5,
        quit_rate_per_year=0.3,
        quit_pay_elasticity=0.5,
        recognition=False,
    )
    assert willing_share(c) == pytest.approx(0.04 * 2.0)  # (60 / 15) ^ 0.5 = 2
    assert quit_rate_per_year(c) == pytest.approx(0.3 / 2.0)
    recognised = dataclasses.replace(c, recognition=True, willingness_recognition_factor=1.5)
    recognised = dataclasses.replace(recognised, quit_recognition_factor=0.8)
    assert willing_share(recognised) == pytest.approx(0.04 * 2.0 * 1.5)
    assert quit_rate_per_year(recognised) == pytest.approx(0.3 / 2.0 * 0.8)
    # the factors only count with recognition switched on
    unrecognised = dataclasses.replace(recognised, recognition=False)
    assert willing_share(unrecognised) == willing_share(c)
    capped = dataclasses.replace(recognised, willing_share=0.9, willingness_recognition_factor=3)
    assert willing_share(capped) == 1  # a share, at most everyone


def test_zero_elasticities_and_reference_pay_leave_the_rates_alone() -> None:
    base = buddies_cfg(recognition=False)
    assert base.pay_per_week == base.reference_pay_per_week  # the defaults: pay at the reference
    assert willing_share(base) == base.willing_share
    assert quit_rate_per_year(base) == base.quit_rate_per_year
    for pay in (0.0, 5.0, 60.0, 500.0):
        flat = dataclasses.replace(
            base, pay_per_week=pay, willingness_pay_elasticity=0, quit_pay_elasticity=0
        )
        assert willing_share(flat) == base.willing_share, pay
        assert quit_rate_per_year(flat) == base.quit_rate_per_year, pay


def test_unpaid_buddies_are_fewer_but_not_none() -> None:
    # pay below a tenth of the reference counts as a tenth (Listeners are unpaid volunteers):
    # finite quitting, some willingness, and no lower than at a tenth
    unpaid = buddies_cfg(pay_per_week=0.0, recognition=False)
    tenth = dataclasses.replace(unpaid, pay_per_week=unpaid.reference_pay_per_week / 10)
    assert 0 < willing_share(unpaid) == willing_share(tenth) < unpaid.willing_share
    assert math.isfinite(quit_rate_per_year(unpaid))
    assert quit_rate_per_year(unpaid) == quit_rate_per_year(tenth) > unpaid.quit_rate_per_year


# ---------------------------------------------------------------- the willing pool
def test_everyone_recruited_is_willing_and_the_draw_is_fixed_per_person() -> None:
    cfg = make_config(*TWO_YEARS, "buddies.willing_share=0.05")
    sim = Simulation(cfg, 0)
    result = sim.run()
    share = sim.buddies.willing_share
    assert share == pytest.approx(0.05)
    people = sim.people
    buddies = np.array(sorted(sim.buddies.active[0]), dtype=np.int64)
    assert len(buddies) > 0 and reported_totals(result)[Flow.BUDDY_STARTS] > 0, (
        "precondition: people were recruited"
    )
    assert (people.willing_u[buddies] < share).all()
    in_custody = people.in_custody()
    willing = people.willing_u[in_custody] < share
    # about 5% willing: 680 people, binomial sd 0.8 points; 3-7% is 2.5 sd either side
    assert 0.03 < willing.mean() < 0.07
    # the same people, same draws, whatever the pay: a higher share adds people to a lower one's pool
    richer = make_config(*TWO_YEARS, "buddies.willing_share=0.05", "buddies.pay_per_week=60")
    assert np.array_equal(_stock_draws(richer), _stock_draws(cfg))
    assert Simulation(richer, 0).buddies.willing_share > share


def _stock_draws(cfg: Config) -> np.ndarray:
    """Everyone's willingness draw after the day-0 stock is created."""
    sim = Simulation(cfg, 0)
    sim.population.create_stock()
    return sim.people.willing_u[: sim.people.count].copy()


def test_a_tiny_willing_share_leaves_posts_vacant() -> None:
    def active(share: float) -> np.ndarray:
        m = run_replication(make_config(*TWO_YEARS, f"buddies.willing_share={share}"), 0).metrics
        posts = m.stocks[m.first_reported_month :, 0, Stock.BUDDY_POSTS]
        assert (posts == 11).all()  # 15 per 1,000 x 700 places, rounded up
        return m.stocks[m.first_reported_month :, 0, Stock.BUDDIES_ACTIVE]

    assert (active(0) == 0).all(), "nobody willing: every post stays vacant"
    # 0.1% of 680 people: 0.7 willing people expected at a time (Poisson: 3 or more 3% of the
    # time), so fewer than 2 buddies on average; with everyone willing the 11 posts are nearly
    # full (vacancies only while applicants are vetted and trained)
    assert active(0.001).mean() < 2
    assert active(1).mean() >= 7


def test_higher_pay_raises_active_buddies_when_elasticities_are_positive() -> None:
    # A willing share of 1% (about 7 people in the prison, half of them eligible) makes the
    # pool bind. Pay of 4x the reference doubles the willing share and halves quitting.
    # Measured over 3 paired replications: buddy-days +96% at the default seed, +46% to +103%
    # at seeds 1-5 (single replications range from +12% to +175%).
    # The bound of +20% fails if pay has no effect; the sum over 3 replications keeps one
    # unlucky replication from failing it.
    base = (*TWO_YEARS, "buddies.willing_share=0.01")
    low, high = paired(base, ("buddies.pay_per_week=15",), ("buddies.pay_per_week=60",))
    assert summed(high, Flow.BUDDY_DAYS) > 1.2 * summed(low, Flow.BUDDY_DAYS)


def test_pay_changes_only_the_pay_bill_when_elasticities_are_zero() -> None:
    # with no pay effect the runs are the same draw for draw: every flow but buddy pay is equal
    base = (
        *TWO_YEARS,
        "buddies.willing_share=0.01",
        "buddies.willingness_pay_elasticity=0",
        "buddies.quit_pay_elasticity=0",
    )
    low, high = paired(base, ("buddies.pay_per_week=15",), ("buddies.pay_per_week=60",))
    for a, b in zip(low, high, strict=True):
        assert a[Flow.BUDDY_DAYS] > 0
        others = [f for f in range(len(a)) if f != Flow.COST_BUDDY_PAY]
        assert np.array_equal(a[others], b[others])
        assert b[Flow.COST_BUDDY_PAY] == pytest.approx(4 * a[Flow.COST_BUDDY_PAY], rel=1e-9)


# ------------------------------------------------------------------------- quitting
def test_recognition_cuts_quitting() -> None:
    # Losses other than moves and burnout are quits, dismissals and new need. A quit rate of
    # 2 a year, halved by recognition, takes that rate from about 2.1 to 1.1 a buddy-year
    # (ratio ~0.53 with dismissals and new need); measured 0.64 at the default seed and
    # 0.47-0.56 at seeds 1-5. Over 3 replications there are about 200 such losses with
    # recognition and 330 without (ratio sd ~0.05): the bound of 0.8 is 3 sd above the
    # expected ratio, and fails if recognition does nothing.
    base = (*MANY_BUDDIES, "buddies.quit_rate_per_year=2", "buddies.quit_recognition_factor=0.5")
    without, with_ = paired(base, ("buddies.recognition=false",), ("buddies.recognition=true",))

    def other_losses_per_buddy_day(runs: list[np.ndarray]) -> float:
        lost = sum(
            t[Flow.BUDDY_LOSSES] - t[Flow.BUDDY_LOSSES_MOVE] - t[Flow.BUDDY_LOSSES_BURNOUT] for t in runs
        )
        return float(lost / summed(runs, Flow.BUDDY_DAYS))

    assert other_losses_per_buddy_day(with_) < 0.8 * other_losses_per_buddy_day(without)
    sim = Simulation(make_config(*base, "buddies.recognition=true"), 0)
    assert sim.buddies.quit_rate == pytest.approx(1.0)


# --------------------------------------------------------- supervision and training
UNTRAINED = (*MANY_BUDDIES, "estate.prisons.0.scheme=formal_untrained")


def test_supervise_all_schemes_cuts_burnout_and_costs_staff_time() -> None:
    # Burnout of 2 a buddy-year (no load effect), x 0.6 where supervised. Over 3 replications
    # about 190 burnouts unsupervised: the ratio's sd is ~0.06 around 0.6, so the bound of
    # 0.8 is 3 sd away and fails if supervision does nothing (measured 0.64 at the default
    # seed, 0.58-0.64 at seeds 1-5; single replications 0.56-0.84).
    base = (*UNTRAINED, "buddies.burnout_rate_per_year=2", "buddies.burnout_load_sensitivity=0")
    alone, supervised = paired(
        base, ("funding.supervise_all_schemes=false",), ("funding.supervise_all_schemes=true",)
    )

    def burnout_per_buddy_day(runs: list[np.ndarray]) -> float:
        return summed(runs, Flow.BUDDY_LOSSES_BURNOUT) / summed(runs, Flow.BUDDY_DAYS)

    assert burnout_per_buddy_day(supervised) < 0.8 * burnout_per_buddy_day(alone)
    cfg = make_config(*base)
    staff_hour = cfg.costs.officer_hourly_cost
    for a, s in zip(alone, supervised, strict=True):
        assert a[Flow.COST_SUPERVISION] == 0
        # 0.5 staff hours a week per active buddy, paid by the day: exact
        hours = cfg.buddies.supervision_hours_per_buddy_per_week * s[Flow.BUDDY_DAYS] / 7.0
        assert s[Flow.COST_SUPERVISION] == pytest.approx(hours * staff_hour, rel=1e-9)
        assert a[Flow.COST_TRAINING] == s[Flow.COST_TRAINING] == 0, "supervision is not training"


def test_training_and_supervision_are_separate_in_the_estate() -> None:
    cfg = make_config("estate=national")
    sim = Simulation(cfg, 0)
    estate = sim.estate
    assert np.array_equal(estate.supervised, estate.scheme == FORMAL_TRAINED), "default: trained = supervised"
    trained_only = Simulation(make_config("estate=national", "funding.train_all_schemes=true"), 0).estate
    assert (trained_only.scheme[estate.scheme != NO_SCHEME] == FORMAL_TRAINED).all()
    assert np.array_equal(trained_only.supervised, estate.supervised), "training alone supervises no more"
    supervised_only = Simulation(
        make_config("estate=national", "funding.supervise_all_schemes=true"), 0
    ).estate
    assert np.array_equal(supervised_only.scheme, estate.scheme), "supervision alone trains no more"
    assert np.array_equal(supervised_only.supervised, estate.scheme != NO_SCHEME)
    both = Simulation(make_config("estate=national", "funding=train_and_supervise"), 0).estate
    assert np.array_equal(both.supervised, estate.scheme != NO_SCHEME)

    # a listed prison says for itself; unset, a trained scheme is supervised
    def supervised(*overrides: str) -> list[bool]:
        return Simulation(make_config(*overrides), 0).estate.supervised.tolist()

    assert supervised() == [True]
    assert supervised("estate.prisons.0.supervised=false") == [False]
    assert supervised("estate.prisons.0.scheme=formal_untrained") == [False]
    told = "estate.prisons.0.supervised=true"
    assert supervised("estate.prisons.0.scheme=formal_untrained", told) == [True]
    assert supervised("estate.prisons.0.scheme=none", told) == [False], "no scheme, nobody to supervise"


# --------------------------------------------------------------------- coordination
def test_coordination_time_grows_with_the_buddies() -> None:
    # the per-buddy hours change no behaviour, so at one seed the runs are the same and the
    # cost differs by exactly 0.25 staff hours a week per active buddy
    fixed, growing = (
        reported_totals(run(*TWO_YEARS, f"buddies.coordination_hours_per_buddy_per_week={h}"))
        for h in (0, 0.25)
    )
    assert fixed[Flow.BUDDY_DAYS] == growing[Flow.BUDDY_DAYS] > 0
    staff_hour = make_config().costs.officer_hourly_cost
    extra = 0.25 * growing[Flow.BUDDY_DAYS] / 7.0 * staff_hour
    assert growing[Flow.COST_COORDINATION] - fixed[Flow.COST_COORDINATION] == pytest.approx(extra, rel=1e-9)
    # and more buddies cost more coordination: 100 posts per 1,000 against 15
    more = reported_totals(run(*MANY_BUDDIES))
    assert more[Flow.BUDDY_DAYS] > 2 * growing[Flow.BUDDY_DAYS]
    assert more[Flow.COST_COORDINATION] > growing[Flow.COST_COORDINATION]


# ------------------------------------------------------------------- staff awareness
def test_aware_staff_shorten_the_detection_delay() -> None:
    # deterministic mode: a delay is its mean, so the factor shows exactly
    delays = []
    for share in (0, 1):
        sim = Simulation(make_config("run.deterministic=true", f"estate.aware_staff_share={share}"), 0)
        sim.population.create_stock()
        pid = int(sim.people.in_custody()[0])
        delays.append(sim.pathway._detection_delay(pid, 0))
    assert delays[1] == pytest.approx(delays[0] * make_config().pathway.aware_staff_detection_factor)


def test_aware_staff_find_needs_sooner_in_a_run() -> None:
    # No scheme, no older unit, nobody found at screening or known on day 0: every need waits
    # for detection, and the people not yet known are about arrival rate x delay. Halving the
    # delay should take them to about half of unaware: measured 0.51 at the default seed and
    # 0.53-0.55 at seeds 1-5 (0.81-0.85 at the default factor 0.8). Over 3 paired replications
    # ~45 undetected people a month-end: the bound of 0.8 fails if awareness does nothing.
    base = (
        *TWO_YEARS,
        "estate.prisons.0.scheme=none",
        "estate.prisons.0.older_unit=false",
        "pathway.screening_sensitivity=0",
        "pathway.initial_detected_share=0",
        "pathway.aware_staff_detection_factor=0.5",
    )

    def undetected(share: int) -> float:
        out = 0.0
        for rep in REPLICATIONS:
            m = run_replication(make_config(*base, f"estate.aware_staff_share={share}"), rep).metrics
            s = m.stocks[m.first_reported_month :, 0]
            out += float((s[:, Stock.WITH_NEED] - s[:, Stock.DETECTED]).mean())
        return out

    assert undetected(1) < 0.8 * undetected(0)


def test_aware_staff_raise_buddy_hours() -> None:
    # Detection held equal (factor 1) and burnout independent of load, so the buddies are the
    # same people on the same days; only their access differs (x 0.8 where staff are unaware).
    # Buddy capacity binds in this prison, so their hours rise by about 1/0.8 = 1.25: measured
    # 1.21-1.24 per replication over seeds 1-5 and the default. A gain of at least 10% fails
    # without the lever. The top is 1.3, not 1.25: capacity is whole tasks rounded down in each
    # window, so a window's gain can pass 1.25 (e.g. 5 tasks against 4, or 2 against 1).
    base = (*TWO_YEARS, "buddies.burnout_load_sensitivity=0", "pathway.aware_staff_detection_factor=1")
    unaware, aware = paired(base, ("estate.aware_staff_share=0",), ("estate.aware_staff_share=1",))
    for u, a in zip(unaware, aware, strict=True):
        assert a[Flow.BUDDY_DAYS] == u[Flow.BUDDY_DAYS] > 0
        gain = a[Flow.NP_MET_BUDDY_HOURS] / u[Flow.NP_MET_BUDDY_HOURS]
        assert 1.1 < gain < 1.3
    sim = Simulation(make_config("estate.aware_staff_share=0"), 0)
    assert sim.buddies.access_factor.tolist() == [0.8]
    assert sim.care.buddy_access is sim.buddies.access_factor, "the fast lane uses the schemes' access"
    assert Simulation(make_config("estate.aware_staff_share=1"), 0).buddies.access_factor.tolist() == [1.0]


def test_the_aware_prisons_are_the_same_in_every_replication_and_option() -> None:
    assert "staff" in SHARED_STREAMS
    assert (STREAM_IDS["willing"], STREAM_IDS["staff"], STREAM_IDS["buddy_losses"]) == (13, 14, 16)
    national = ("estate=national",)
    estates = [Simulation(make_config(*national), rep).estate for rep in (0, 3)]
    estates.append(Simulation(make_config(*national, "funding=new_schemes"), 1).estate)
    first = estates[0].aware_staff
    assert first.sum() == share_count(0.5, 120) == 60  # exactly the share, not left to chance
    for estate in estates[1:]:
        assert np.array_equal(estate.aware_staff, first)
    # the staff draws leave the estate's own draws as they were
    cfg = make_config(*national)
    plain = build_estate(cfg.estate, Streams(cfg.run.seed, 0).generator("estate"))
    assert np.array_equal(plain.scheme, estates[0].scheme) and np.array_equal(
        plain.capacity, estates[0].capacity
    )


# ------------------------------------------------------------------- the funding lever
def _aware_estate(*overrides: str):
    cfg = make_config("estate=national", *overrides)
    streams = Streams(cfg.run.seed, 0)
    built = build_estate(cfg.estate, streams.generator("estate"))
    return cfg, staff_awareness(built, cfg.estate.aware_staff_share, streams.generator("staff"))


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
def test_aware_staff_share_add_makes_more_prisons_aware_as_nested_sets(share: float) -> None:
    cfg, estate = _aware_estate(f"estate.aware_staff_share={share}")
    assert estate.aware_staff.sum() == share_count(share, estate.size)
    previous = estate.aware_staff
    for add in (0.0, 0.1, 0.25, 0.5, 1.0):
        funding = dataclasses.replace(cfg.funding, aware_staff_share_add=add)
        after = fund_estate(estate, funding, Streams(cfg.run.seed, 0).generator("funding"))
        expected = min(estate.size, share_count(share, estate.size) + share_count(add, estate.size))
        assert after.aware_staff.sum() == expected, add  # capped at every prison
        assert (after.aware_staff >= previous).all(), "a larger addition keeps a smaller one's prisons"
        assert np.array_equal(after.aware_funded, after.aware_staff & ~estate.aware_staff)
        previous = after.aware_staff
        # the option pays for the prisons it made aware, and nothing else changes cost
        cost = dataclasses.replace(funding, staff_awareness_cost_per_prison_per_year=3000.0)
        prison_service, local_authority = yearly_cost_per_prison(
            dataclasses.replace(cfg, funding=cost), after
        )
        assert prison_service.sum() == pytest.approx(3000.0 * after.aware_funded.sum())
        assert local_authority.sum() == 0


def test_single_prison_lever_reaches_the_run() -> None:
    # the example prison's staff are not aware; half a prison's worth of addition makes them so
    base = Simulation(make_config(), 0)
    funded = Simulation(make_config("funding.aware_staff_share_add=0.5"), 0)
    assert base.estate.aware_staff.tolist() == [False] and funded.estate.aware_staff.tolist() == [True]
    assert funded.buddies.access_factor.tolist() == [1.0]
    prison_service, _ = yearly_cost_per_prison(funded.cfg, funded.estate)
    assert (
        prison_service.tolist() == [funded.cfg.funding.staff_awareness_cost_per_prison_per_year] == [3000.0]
    )

"""Bookkeeping kept for speed agrees with the state it summarises.

The need-id set, the per-prison buddy counts and the day-batched unlock windows
are shortcuts of the hot path; these tests check them against a direct recount.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from conftest import TINY_ESTATE, make_config

from simmodel.model.metrics import DAYS_PER_MONTH, Flow, Metrics
from simmodel.model.need import NONE
from simmodel.model.population import IdSet
from simmodel.model.simulation import Simulation


def test_id_set_behaves_like_a_set() -> None:
    rng = random.Random(1)
    ids, reference = IdSet(capacity=4), set()
    for _ in range(5000):
        pid = rng.randrange(300)
        if rng.random() < 0.55:
            ids.add(pid)
            reference.add(pid)
        else:
            ids.discard(pid)
            reference.discard(pid)
        assert len(ids) == len(reference)
    assert set(ids) == reference
    assert sorted(ids.array().tolist()) == sorted(reference)
    assert all(pid in ids for pid in reference)


def _windows_before(horizon: float, per_day: int) -> int:
    """Unlock windows that start before the end of the run (day + (k + 0.5) / per_day)."""
    return sum(
        1 for day in range(int(horizon) + 1) for k in range(per_day) if day + (k + 0.5) / per_day < horizon
    )


def test_shortcuts_match_a_recount_after_a_run() -> None:
    sim = Simulation(make_config(*TINY_ESTATE, "run.years=0.5"))
    result = sim.run()
    people, buddies = sim.people, sim.buddies
    in_custody = people.in_custody()
    with_need = in_custody[people.level[in_custody] != NONE]
    assert set(people.need_ids) == set(with_need.tolist())
    assert buddies.active_counts().tolist() == [len(a) for a in buddies.active]
    assert sim.care.pending_windows == 0  # every window whose inputs were taken was drawn
    expected = _windows_before(sim.months * DAYS_PER_MONTH, sim.cfg.regime.windows_per_day)
    assert result.windows_resolved == expected


def test_every_window_is_drawn_and_accounted_for_any_windows_per_day() -> None:
    for per_day in (1, 3):
        sim = Simulation(make_config(f"regime.windows_per_day={per_day}", "run.years=0.25"))
        result = sim.run()
        assert sim.care.pending_windows == 0
        assert result.windows_resolved == _windows_before(sim.months * DAYS_PER_MONTH, per_day)
        f = result.metrics.flows
        np.testing.assert_allclose(
            f[..., Flow.NP_NEED_HOURS],
            f[..., Flow.NP_MET_BUDDY_HOURS]
            + f[..., Flow.NP_MET_INFORMAL_HOURS]
            + f[..., Flow.NP_UNMET_HOURS],
        )
        assert np.all(f >= 0)


@pytest.mark.parametrize("few", [0, 4, 10**9])  # the vectorised recount, the usual mix, Python numbers
def test_need_totals_read_by_windows_match_a_recount(monkeypatch, few: int) -> None:  # type: ignore[no-untyped-def]
    """The care lane keeps need totals up to date person by person, on days when someone was
    touched (arrived, left or moved with need, changed need, became known or covered by a
    package) or turned 50. After every day they must equal a fresh count to the bit (both
    add fixed-point numbers), the cell-sharing helpers too."""
    from dataclasses import fields

    from simmodel.model import care
    from simmodel.model.need_totals import NeedLedger, NeedTotals, need_totals

    monkeypatch.setattr(NeedLedger, "FEW", few)

    checked = {"days": 0, "stale_days": 0}
    original = care.CareLane._daily

    def daily_then_recount(lane: care.CareLane, now: float) -> None:
        stale = bool(lane.people.need_touched)
        checked["stale_days"] += stale
        original(lane, now)
        fresh = need_totals(lane.people, lane.prisons, now, lane.cfg.care)
        for field in fields(NeedTotals):
            held, counted = getattr(lane.totals, field.name), getattr(fresh, field.name)
            assert held.tolist() == counted.tolist(), (field.name, now)
        checked["days"] += 1

    monkeypatch.setattr(care.CareLane, "_daily", daily_then_recount)
    for overrides in ((*TINY_ESTATE, "run.years=0.5"), ("estate=single_prison", "run.years=1")):
        checked["days"] = checked["stale_days"] = 0
        Simulation(make_config(*overrides)).run()
        assert checked["days"] >= 182  # half a year or more, one check a day
        assert 0 < checked["stale_days"] < checked["days"]  # some days nobody was touched


def test_receptions_are_drawn_in_blocks_sized_to_the_estate() -> None:
    """A month of receptions at a time nationally, a year for one prison; either way every
    drawn person is admitted on their own day, and those not yet arrived are not in custody."""
    national = Simulation(make_config("estate=national", "run.years=0.0833333333", "run.warmup_years=0"))
    single = Simulation(make_config("estate=single_prison", "run.years=0.25", "run.warmup_years=0"))
    assert (national.population.block_days, single.population.block_days) == (30, 365)
    result = single.run()
    population, people = single.population, single.people
    days_run = math.ceil(single.months * DAYS_PER_MONTH)  # days 0, 1, ... before the horizon
    admitted = population._block_offsets[days_run]  # one block: the first year's receptions
    assert result.metrics.flows[..., Flow.RECEPTIONS].sum() == admitted
    assert (people.prison[population._block_ids[admitted:]] == -1).all()  # due after the end: never placed
    assert int(people.in_prison.sum()) == len(people.in_custody()) == result.end_population


def test_metrics_add_into_their_flows_after_a_copy() -> None:
    """Flows are added through a row view of the table; a pickled copy rebuilds it, so adding
    to the copy changes the copy's flows and not the original's."""
    import pickle

    metrics = Metrics(months=3, prisons=2, warmup_months=0)
    flows = np.array([Flow.RELEASES, Flow.DEATHS])
    metrics.add_month(1, flows, np.array([[1.0, 2.0], [3.0, 4.0]]))
    copy = pickle.loads(pickle.dumps(metrics))
    copy.add_block(40.0, flows, np.ones((2, 2)))  # day 40: month 1
    assert metrics.flows[1, :, flows].tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert copy.flows[1, :, flows].tolist() == [[2.0, 4.0], [3.0, 5.0]]
    assert copy.flows.sum() == metrics.flows.sum() + 4


def test_month_end_age_bands_by_whole_years_match_a_binary_search() -> None:
    """Month-end stocks read each person's band from their age in whole years; the bands start
    at whole years, so this must agree with a search of the band edges, at the edges too."""
    from simmodel.model.need import BAND_LOWER_AGES, age_bands

    edges = np.array(BAND_LOWER_AGES, dtype=float)
    ages = np.concatenate(
        [
            np.random.default_rng(3).uniform(0.0, 160.0, 100_000),
            edges,
            np.nextafter(edges, 0.0),
            [149.99, 500.0],
        ]
    )
    searched = np.searchsorted(BAND_LOWER_AGES, ages, side="right") - 1
    looked_up = age_bands(ages)
    assert looked_up.tolist() == searched.tolist()

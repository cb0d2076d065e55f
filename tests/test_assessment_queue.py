"""The local authority's assessors (pathway.py): first come, first served, and a person who
leaves frees their assessor or their place in the queue.

Since issue 13 the queue is a counter and a FIFO per prison instead of a ``simpy.Resource``;
these tests pin the behaviour the Resource gave (the M/M/c check in test_verification.py
checks the numbers over a long run).
"""

from __future__ import annotations

import numpy as np
import pytest

from simmodel.compose import check_overrides
from simmodel.model.metrics import Flow
from simmodel.model.pathway import PACKAGE, REFERRED, WAITING_PACKAGE
from simmodel.model.simulation import Simulation


@pytest.fixture
def sim() -> Simulation:
    """One prison, one assessor, everyone eligible, and no one else in the model."""
    cfg = check_overrides(
        [
            "estate=single_prison",
            "pathway.assessors_per_prison=1",
            "pathway.assessment_days_mean=10",
            *(f"pathway.eligibility_by_level.{lvl}=1" for lvl in ("low", "moderate", "high")),
        ]
    )
    return Simulation(cfg)


def _referred(sim: Simulation, n: int) -> list[int]:
    """``n`` people with high need in prison 0, each referred now (in this order)."""
    people = sim.people
    ids = people.new_ids(n)
    people.prison[ids] = 0
    people.level[ids] = 3
    people.p_hours[ids] = 5.0
    for pid in ids.tolist():
        sim.pathway._start(pid, REFERRED)
    return ids.tolist()


def test_referrals_are_assessed_one_at_a_time_in_order(sim: Simulation) -> None:
    first, second, third = _referred(sim, 3)
    pathway = sim.pathway
    assert list(pathway.assessing) == [first]
    assert [entry[0] for entry in pathway.queues[0]] == [second, third]
    finished: list[int] = []
    while len(finished) < 3:
        sim.env.step()
        done = [pid for pid in (first, second, third) if sim.people.state[pid] == WAITING_PACKAGE]
        finished += [pid for pid in done if pid not in finished]
        assert pathway.busy[0] <= 1, "one assessor serves one person at a time"
    assert finished == [first, second, third]
    waits = sim.metrics.flows[..., Flow.ASSESSMENT_WAIT_DAYS].sum()
    assert waits > 0  # the second and third waited for the first


def test_leaving_frees_the_assessor_and_the_place_in_the_queue(sim: Simulation) -> None:
    first, second, third = _referred(sim, 3)
    pathway = sim.pathway
    pathway.on_leave(third)  # leaves the queue: skipped when the assessor is next free
    pathway.on_leave(first)  # leaves during the assessment: the next one starts now
    assert list(pathway.assessing) == [second]
    assert pathway.busy[0] == 1
    sim.env.run(until=1_000)
    assert sim.people.state[second] in (WAITING_PACKAGE, PACKAGE)  # assessed, found eligible
    assert sim.people.state[third] == REFERRED  # never assessed: it left
    assert pathway.busy[0] == 0 and not pathway.assessing
    assessments = sim.metrics.flows[..., Flow.ASSESSMENTS].sum()
    assert assessments == 1
    assert np.isfinite(sim.metrics.flows).all()

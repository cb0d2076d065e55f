"""The need ledger (simmodel/model/need_totals.py) against a full recount, on random changes.

The ledger recounts only the people touched since its last update, in Python numbers for a
few and vectorised for more; either way its totals must equal a recount of everyone to the
bit, including people who turned 50 since they were last counted and ids reused by new
people. Hours and days are drawn off the fixed-point grid, so rounding is exercised too.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config

from simmodel.model import need_totals
from simmodel.model.need import NONE
from simmodel.model.need_totals import TOTALS, NeedLedger, packed_need_totals
from simmodel.model.pathway import PACKAGE
from simmodel.model.population import People

PRISONS, IDS = 3, 40
HOURS = (0.0, 0.0, 2.5, 7.3, 1.0 / 3.0, 11.75)  # (1/3 is not on the fixed-point grid)


def _change(people: People, pid: int, day: float, rng: np.random.Generator) -> None:
    """One random change to a person, of a kind the model makes: leave, arrive (a new holder
    of the id), move, or a change of need, pathway state, package or wait."""
    what = rng.integers(5)
    if what == 0:  # leaves custody
        people.prison[pid] = -1
    elif what == 1:  # a new person with this id, some near their 50th birthday
        people.prison[pid] = rng.integers(PRISONS)
        people.level[pid] = rng.integers(4)
        people.birth[pid] = day - rng.uniform(49.9, 50.1) * 365.0
    elif what == 2 and people.prison[pid] >= 0:  # moves
        people.prison[pid] = rng.integers(PRISONS)
    else:  # need, pathway state, package, wait
        people.np_hours[pid] = rng.choice(HOURS)
        people.p_hours[pid] = rng.choice(HOURS)
        people.state[pid] = rng.integers(PACKAGE + 1)
        people.package_hours[pid] = rng.choice(HOURS)
        people.wait_since[pid] = day - rng.uniform(0.0, 300.0)
    if people.prison[pid] >= 0 and people.level[pid] != NONE:
        people.need_ids.add(pid)
    else:
        people.need_ids.discard(pid)
    people.need_touched.append(pid)


@pytest.mark.parametrize("few", [0, 4, 10**9])  # vectorised, mixed, one by one
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ledger_equals_a_recount_after_random_changes(
    monkeypatch: pytest.MonkeyPatch, few: int, seed: int
) -> None:
    monkeypatch.setattr(NeedLedger, "FEW", few)
    monkeypatch.setattr(need_totals, "_COMPACT_FROM", 8)  # compact the heap of birth days often
    care = make_config().care
    rng = np.random.default_rng(seed)
    people = People(capacity=IDS, prisons=PRISONS)
    people.wait_since[:] = 0.0
    ledger = NeedLedger(people, PRISONS, care)
    day, updates, older_moves = 0.0, 0, 0
    for _ in range(400):
        day += rng.uniform(0.0, 4.0)
        for pid in rng.integers(IDS, size=rng.integers(0, 9)).tolist():
            _change(people, pid, day, rng)
        if not people.need_touched:  # as the care lane: no update on a day nobody is touched
            continue
        before = len(ledger._turning_older)
        held = ledger.update(day)
        older_moves += before > len(ledger._turning_older)
        counted = packed_need_totals(people, PRISONS, day, care)
        for row, name in enumerate(TOTALS):
            assert held[row].tolist() == counted[row].tolist(), (name, day)
        assert len(ledger._turning_older) <= ledger._compact_at  # lapsed entries are dropped
        updates += 1
    assert updates > 300
    assert older_moves > 0  # someone was moved on turning 50


def test_ledger_follows_the_people_arrays_when_they_grow() -> None:
    """New ids beyond the ledger's first capacity (the people arrays doubled) are counted."""
    care = make_config().care
    people = People(capacity=16, prisons=PRISONS)
    ledger = NeedLedger(people, PRISONS, care)
    ids = people.new_ids(40)  # grows the arrays past 16
    people.prison[ids], people.level[ids], people.np_hours[ids] = 1, 1, 2.5
    people.need_ids.update(ids.tolist())
    people.need_touched.extend(ids.tolist())
    held = ledger.update(10.0)
    assert held.tolist() == packed_need_totals(people, PRISONS, 10.0, care).tolist()
    assert held[TOTALS.index("np_recipients")].tolist() == [0.0, 40.0, 0.0]

"""SimPy event counts for fixed configurations, pinned (as SimPy's own benchmarks pin theirs).

A change that alters how many events the slow lane schedules changes the model's
semantics or its speed: either way it should be seen and the count updated on purpose,
with the reason in the commit. Counts are exact: the draws are seeded, so any other
number means the lifecycle schedules differently. Windows resolved are pinned beside
them (two unlock windows a simulated day, warm-up included).

History: the pathway's steps became timeouts with callbacks instead of a process per person
(issue 13), which removed each process's start and end events: single prison 1499 -> 1359,
national year 122,879 -> 58,243. The care_act calibration (issue 14) changed the pathway's
parameters (fewer referrals, a longer detection delay): 1359 -> 1286, 1375 -> 1286,
4096 -> 3869, national year 58,243 -> 37,575. Receptions drawn 30 days at a time (issue 13,
same daily counts, a new order of the other draws, so other people arrive): 1286 -> 1283,
1286 -> 1295, 3869 -> 3882, national year 37,575 -> 37,353. Receptions given their ids when
drawn (so ids, and the order people are handled in a day, differ) and their first transfer
drawn with them: 1283 -> 1283, 1295 -> 1297, 3882 -> 3870, national year 37,353 -> 37,159.
A single prison draws its receptions a year at a time (a national estate still a month): 1283 ->
1282, 1297 -> 1285, 3870 -> 3870; national year unchanged. The care lane takes a later window's
inputs without waiting when no event is due before it (same results, checked below and by the
exact back test): 1282 -> 1000, 1285 -> 977, 3870 -> 2997; national year unchanged (some event
always falls between two windows of a national day).
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from simmodel.compose import check_overrides
from simmodel.model.simulation import CountingEnvironment, Simulation, run_replication

PINNED = [
    # (overrides, replication, SimPy events, unlock windows)
    (("estate=single_prison", "run.years=1", "run.warmup_years=0"), 0, 1000, 730),
    (("estate=single_prison", "run.years=1", "run.warmup_years=0"), 1, 977, 730),
    (("estate=single_prison", "run.years=2", "funding=train_and_supervise"), 0, 2997, 2190),
]


@pytest.mark.parametrize(("overrides", "replication", "events", "windows"), PINNED)
def test_event_counts_are_pinned(
    overrides: tuple[str, ...], replication: int, events: int, windows: int
) -> None:
    result = run_replication(check_overrides(list(overrides)), replication)
    assert (result.events_processed, result.windows_resolved) == (events, windows)


@pytest.mark.slow  # one national year after the 1-year warm-up, about 3 s
def test_national_event_count_is_pinned() -> None:
    result = run_replication(check_overrides(["run.years=1"]), 0)
    assert (result.events_processed, result.windows_resolved) == (37_159, 1_460)


@pytest.mark.parametrize("windows", [2, 3])
def test_windows_taken_without_waiting_give_the_same_results(windows: int) -> None:
    """A later unlock window with no event before it is taken at once, not waited for; the
    results are those of waiting for every window, with fewer events."""
    cfg = check_overrides(["estate=single_prison", "run.years=1", f"regime.windows_per_day={windows}"])
    waited = Simulation(cfg, 0)
    waited.care.wake_every_window = True
    every, quick = waited.run(), Simulation(cfg, 0).run()
    np.testing.assert_array_equal(quick.metrics.flows, every.metrics.flows)
    np.testing.assert_array_equal(quick.metrics.stocks, every.metrics.stocks)
    assert quick.windows_resolved == every.windows_resolved
    # two windows a day: 2,012 events against 2,583; three: 2,032 against 3,300
    assert quick.events_processed < 0.85 * every.events_processed


class _StepCounter(CountingEnvironment):
    """Counts SimPy's steps one by one, as the environment once did (the reference)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        super().step()


def _ticker(env: CountingEnvironment, resource: simpy.Resource):  # type: ignore[no-untyped-def]
    for k in range(6):
        with resource.request() as request:
            yield request
            yield env.timeout(1.0 + 0.5 * (k % 2))


@pytest.mark.parametrize("checked", [False, True])
def test_the_count_of_events_is_the_number_of_steps(checked: bool) -> None:
    # events_processed is read from SimPy's event ids (scheduled minus still queued); it must
    # equal the steps SimPy took, the one that stops each run at its horizon included, over
    # runs resumed twice and with the debug check after every event on and then off
    reference, env = _StepCounter(), CountingEnvironment()
    seen: list[float] = []
    for e in (reference, env):
        resource = simpy.Resource(e, capacity=1)
        for _ in range(3):
            e.process(_ticker(e, resource))
    if checked:
        env.after_step = lambda: seen.append(env.now)
    for until in (2.5, 7.0, 40.0):
        reference.run(until=until)
        env.run(until=until)
        assert env.events_processed == reference.steps
        if checked and until == 2.5:
            assert len(seen) == env.events_processed - 1, "checked after every event but the stop"
            env.after_step = None
    assert env.events_processed > 30
    if checked:
        assert 0 < len(seen) < env.events_processed, "no check once after_step is None"

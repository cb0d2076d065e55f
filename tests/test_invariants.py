"""Debug mode: invariants checked after every event and in every unlock window."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_ESTATE, make_config

from simmodel.model.invariants import EventChecker, InvariantError, check_window
from simmodel.model.metrics import Flow
from simmodel.model.simulation import Simulation

#: Frequent lockdowns and restricted regimes, so windows with no unlock time occur.
HARSH_REGIME = (
    "regime.lockdown_episodes_per_year=6",
    "regime.lockdown_days_mean=5",
    "regime.restricted_episodes_per_year=20",
)


def checked_run(*overrides: str) -> Simulation:
    sim = Simulation(make_config("run.check_invariants=true", *overrides))
    sim.run()
    return sim


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param((), id="single prison"),
        pytest.param((*TINY_ESTATE, "run.years=0.5"), id="tiny estate with transfers"),
        pytest.param((*HARSH_REGIME, "run.years=0.5"), id="lockdowns"),
        pytest.param(("funding=extended_unlock", "run.years=0.5"), id="funding option"),
    ],
)
def test_invariants_hold_after_every_event(overrides: tuple[str, ...]) -> None:
    sim = checked_run(*overrides)
    checker = sim.env.after_step
    assert isinstance(checker, EventChecker)
    # every event but the one that stops the run, plus one check of the finished run
    assert checker.checks == sim.env.events_processed > 500, "every event was checked"


@pytest.fixture(scope="module")
def finished() -> Simulation:
    return checked_run("run.years=0.25")


def test_checker_catches_a_person_lost(finished: Simulation) -> None:
    finished.people.in_prison[0] += 1
    try:
        with pytest.raises(InvariantError, match="people not conserved"):
            finished.env.after_step()
    finally:
        finished.people.in_prison[0] -= 1


def test_checker_catches_hours_that_do_not_add_up(finished: Simulation) -> None:
    finished.metrics.flows[1, 0, Flow.NP_UNMET_HOURS] += 0.5
    try:
        with pytest.raises(InvariantError, match="care needed differs"):
            finished.env.after_step()
    finally:
        finished.metrics.flows[1, 0, Flow.NP_UNMET_HOURS] -= 0.5


def test_checker_catches_too_many_buddies(finished: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    too_many = finished.buddies.posts + 1
    monkeypatch.setattr(finished.buddies, "active_counts", lambda: too_many)
    with pytest.raises(InvariantError, match="more buddies than posts"):
        finished.env.after_step()


def _window(**changes: np.ndarray) -> dict[str, object]:
    ones = np.ones((2, 3), dtype=np.int64)
    args: dict[str, object] = {
        "day": 1.0,
        "factor": np.ones((2, 3)),
        "capacity": 2 * ones,
        "met_by_buddies": ones,
        "parts_nonpersonal": (ones, ones, ones),
        "due_nonpersonal": 3 * ones,
        "parts_personal": (ones, 0 * ones, ones),
        "due_personal": 2 * ones,
    }
    args.update(changes)
    return args


def test_window_check_accepts_a_consistent_window() -> None:
    check_window(**_window())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"factor": np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])}, "locked down"),
        ({"met_by_buddies": np.full((2, 3), 3)}, "more tasks than their hours"),
        ({"due_nonpersonal": np.full((2, 3), 4)}, "non-personal tasks due differ"),
        ({"parts_personal": (np.ones((2, 3)), -np.ones((2, 3)), np.ones((2, 3)))}, "negative count"),
    ],
)
def test_window_check_catches_each_breach(changes: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvariantError, match=message):
        check_window(**_window(**changes))  # type: ignore[arg-type]

"""Debug mode (``run.check_invariants=true``): the model's invariants, checked as it runs.

After every SimPy event, :class:`EventChecker` checks that people are conserved (in
total and prison by prison), that no flow, stock or hours of need is negative, that buddies
never outnumber posts, that in every prison-month the care needed equals the care given
plus the care unmet, by kind, and that safeguarding incidents around peer care come only in
prison-months where buddies or informal helpers gave care. In every unlock window,
:func:`check_window` checks that buddies work only while their prison is unlocked and within
their hours, and that personal care comes only from care workers and prison healthcare
(buddies' personal care exists only as counted overstep events). A breach raises
:class:`InvariantError` naming the invariant, the simulated day and the prison.

This is slow (every event re-reads the accumulators): use it on small runs and in tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .metrics import Flow

if TYPE_CHECKING:
    import simpy

    from .buddies import BuddySchemes
    from .estate import Estate
    from .metrics import Metrics
    from .population import People

#: Tolerance for sums of hours (floating point), hours.
HOURS_TOLERANCE = 1e-6


class InvariantError(AssertionError):
    """An invariant of the model does not hold: a bug, not a user error."""


def _fail(what: str, day: float, prisons: np.ndarray | None = None) -> None:
    where = f" in prison(s) {np.flatnonzero(prisons).tolist()[:5]}" if prisons is not None else ""
    raise InvariantError(f"Invariant broken on day {day:.3f}{where}: {what}")


class EventChecker:
    """Checks the lifecycle and accounting invariants after every SimPy event.

    It observes the parts of a simulation it is given; the simulation installs it as the
    environment's ``after_step`` in debug mode (``run.check_invariants``).
    """

    def __init__(
        self, env: simpy.Environment, people: People, metrics: Metrics, estate: Estate, buddies: BuddySchemes
    ) -> None:
        self.env, self.people, self.metrics, self.estate, self.buddies = env, people, metrics, estate, buddies
        self.day0_population = int(people.in_prison.sum())
        self.checks = 0

    def __call__(self) -> None:
        day = self.env.now
        people, flows = self.people, self.metrics.flows
        self.checks += 1

        total = flows.sum(axis=(0, 1))
        expected = self.day0_population + total[Flow.RECEPTIONS] - total[Flow.RELEASES]
        expected -= total[Flow.DEATHS] + total[Flow.LEFT_ESTATE]
        in_custody = people.in_custody()
        if len(in_custody) != expected or int(people.in_prison.sum()) != expected:
            _fail(f"people not conserved: {len(in_custody)} in custody, {expected:.0f} expected", day)
        counted = np.bincount(people.prison[in_custody], minlength=self.estate.size)
        if not np.array_equal(counted, people.in_prison):
            wrong = counted != people.in_prison
            _fail("a prison's head count differs from the people placed in it", day, wrong)

        if flows.min() < -HOURS_TOLERANCE:
            _fail(f"a negative flow ({flows.min():.6g})", day)
        if (people.np_hours[in_custody] < 0).any() or (people.p_hours[in_custody] < 0).any():
            _fail("negative hours of need", day)

        active = self.buddies.active_counts()
        if (active > self.buddies.posts).any():
            _fail("more buddies than posts", day, active > self.buddies.posts)

        by_month = flows.reshape(-1, flows.shape[2])
        nonpersonal = by_month[:, Flow.NP_NEED_HOURS] - by_month[
            :, [Flow.NP_MET_BUDDY_HOURS, Flow.NP_MET_INFORMAL_HOURS, Flow.NP_UNMET_HOURS]
        ].sum(axis=1)
        personal = by_month[:, Flow.P_NEED_HOURS] - by_month[
            :, [Flow.P_MET_PROFESSIONAL_HOURS, Flow.P_MET_HEALTHCARE_HOURS, Flow.P_UNMET_HOURS]
        ].sum(axis=1)
        if np.abs(nonpersonal).max() > HOURS_TOLERANCE or np.abs(personal).max() > HOURS_TOLERANCE:
            _fail("care needed differs from care given plus care unmet in a prison-month", day)
        peer_care = by_month[:, [Flow.NP_MET_BUDDY_HOURS, Flow.NP_MET_INFORMAL_HOURS]].sum(axis=1)
        incidents = by_month[
            :,
            [Flow.SAFEGUARDING_BULLYING, Flow.SAFEGUARDING_THEFT_ACCUSATION, Flow.SAFEGUARDING_EXPLOITATION],
        ].sum(axis=1)
        if ((incidents > 0) & (peer_care <= 0)).any():
            _fail("safeguarding incidents around peer care in a prison-month with no peer care", day)


def check_window(
    day: float,
    factor: np.ndarray,
    capacity: np.ndarray,
    met_by_buddies: np.ndarray,
    parts_nonpersonal: tuple[np.ndarray, ...],
    due_nonpersonal: np.ndarray,
    parts_personal: tuple[np.ndarray, ...],
    due_personal: np.ndarray,
    *,
    informal: tuple[np.ndarray, np.ndarray] | None = None,
    unlocks: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Invariants of one batch of unlock windows (arrays: windows x prisons, tasks).

    ``informal`` is (tasks informal helpers have time for, tasks they did); ``unlocks`` is
    (visits officers can unlock, professional and healthcare visits made).
    """
    for name, pair in (("informal helpers", informal), ("officers' unlocks", unlocks)):
        if pair is not None and (pair[1] > pair[0]).any():
            _fail(f"more tasks done than {name} allow", day, (pair[1] > pair[0]).any(axis=0))
    locked = factor <= 0
    if (capacity[locked] != 0).any():
        _fail("buddy time while the prison is locked down", day, (capacity > 0) & locked)
    if (met_by_buddies > capacity).any():
        _fail("buddies did more tasks than their hours allow", day, (met_by_buddies > capacity).any(axis=0))
    for name, parts, due in (
        ("non-personal", parts_nonpersonal, due_nonpersonal),
        ("personal", parts_personal, due_personal),
    ):
        if any((part < 0).any() for part in parts):
            _fail(f"a negative count of {name} tasks", day)
        if not np.array_equal(sum(parts), due):
            _fail(f"{name} tasks due differ from tasks given plus tasks unmet", day)

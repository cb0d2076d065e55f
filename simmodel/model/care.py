"""The fast lane: every care task of an unlock window, resolved in one vectorised step.

Care tasks are never SimPy processes. Once per unlock window, for all prisons at once:

1. Non-personal tasks due in the window are drawn (Poisson around each prison's hours
   of need, split into people known to the prison and people who are not). Only
   recipients who are unlocked can be helped; a restricted regime or lockdown cuts the
   share unlocked in proportion to the unlock time it keeps.
2. Formal buddies give a share of their unlock time to care (their own work, education
   and meals take the rest), so their hours follow the length of the window and the
   regime. They serve tasks by the priority rule: known recipients first, or in
   proportion; they reach only a share of people not known to the prison.
3. Informal help comes from who is there to give it: cell-mates (by the cell-sharing
   share of the recipient's age) and neighbours, each giving a share of their unlock
   time. It picks up tasks left open, up to that time.
4. Personal care: the local authority commissions every eligible package in full; its
   providers deliver the package's visits up to their capacity in the prison, short of a
   stated share. Every visit needs an officer to unlock, from a daily allowance that a
   restricted regime cuts. Prison healthcare tops up a share of what is left undone (no
   package, need above the package, visits not delivered), within the same allowance.
   Buddies never do personal care, except as counted overstep events, whose probability
   rises with how long personal care has been late.
5. Safeguarding incidents (bullying, accusations of theft, exploitation) are drawn from
   the hours buddies and informal helpers gave (``safeguarding.py``), once per batch.

Hours are converted to tasks of a fixed length so that randomness and integer
capacities behave like real task lists; all sums are kept as monthly totals.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import simpy

from ..config import Config
from .buddies import BuddySchemes
from .estate import FORMAL_TRAINED, NO_SCHEME, Estate
from .metrics import DAYS_PER_MONTH, Flow, Metrics
from .need_totals import TOTALS, NeedLedger, NeedTotals
from .population import People
from .regime import Regime
from .safeguarding import Safeguarding
from .streams import Streams

#: The totals that make care tasks due, one kind of task each (a slice of the packed rows).
_HOURS_DUE = slice(TOTALS.index("np_known"), TOTALS.index("p_no_package") + 1)
assert TOTALS[_HOURS_DUE] == ("np_known", "np_unknown", "p_planned", "p_unplanned_pkg", "p_no_package")


def _window_totals(seen: list[np.ndarray], day_of_window: np.ndarray) -> np.ndarray:
    """The need totals of each window, packed (windows x fields of :class:`NeedTotals` x
    prisons): ``seen`` holds the distinct days' totals, packed (one a day at most),
    ``day_of_window`` which of them each window saw."""
    return np.array(seen)[day_of_window]


#: Flows the fast lane adds to once a day, in the order of :meth:`CareLane._daily_rates`'s columns.
_DAILY_FLOWS = np.array(
    [
        Flow.BUDDY_DAYS,
        Flow.COST_BUDDY_PAY,
        Flow.COST_SUPERVISION,
        Flow.COST_COORDINATION,
        Flow.COST_SETUP,
        Flow.RESTRICTED_DAYS,
    ]
)

#: Flows the fast lane adds to in every window, in the order of its stacked values.
_WINDOW_FLOWS = np.array(
    [
        Flow.NP_NEED_HOURS,
        Flow.NP_MET_BUDDY_HOURS,
        Flow.NP_MET_INFORMAL_HOURS,
        Flow.NP_UNMET_HOURS,
        Flow.P_NEED_HOURS,
        Flow.P_MET_PROFESSIONAL_HOURS,
        Flow.P_MET_HEALTHCARE_HOURS,
        Flow.P_UNMET_HOURS,
        Flow.OVERSTEP_EVENTS,
        Flow.UNMET_PERSON_DAYS,
        Flow.COST_PERSONAL_CARE,
        Flow.COST_HEALTHCARE,
        Flow.P_COMMISSIONED_HOURS,
        Flow.P_UNDELIVERED_HOURS,
    ]
)


class CareLane:
    """Resolves the care tasks of each unlock window for all prisons at once."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: Config,
        estate: Estate,
        people: People,
        buddies: BuddySchemes,
        regime: Regime,
        streams: Streams,
        metrics: Metrics,
    ) -> None:
        self.env = env
        self.cfg = cfg
        self.people = people
        self.buddies = buddies
        self.regime = regime
        self.rng = streams.generator("care")
        # tasks due come from their own stream, so the need a window brings is the same
        # whatever the allocation before it drew (common random numbers across options)
        self.due_rng = streams.generator("care_due")
        self.metrics = metrics
        self.safeguarding = Safeguarding(cfg.safeguarding, estate, streams, metrics)
        self.prisons = estate.size
        b, care = cfg.buddies, cfg.care
        self.windows = cfg.regime.windows_per_day
        self.share_per_window = 1.0 / (7.0 * self.windows)  # of weekly hours
        scheme = estate.scheme
        self.formal = scheme != NO_SCHEME
        self.trained = scheme == FORMAL_TRAINED
        self.overstep_factor = np.select(
            [self.trained, self.formal], [b.trained_overstep_factor, 1.0], care.overstep_informal_factor
        )
        regime = cfg.regime
        # informal help: neighbours per recipient (fewer where an older unit gathers people with
        # need) and the share of helpers' time left where a formal scheme crowds it out
        self._neighbours = care.neighbour_helpers_per_recipient * np.where(
            estate.older_unit, care.older_unit_neighbour_factor, 1.0
        )
        self._informal_time = care.informal_share_of_unlock * np.where(
            self.formal, 1.0 - care.informal_crowd_out_share, 1.0
        )
        # buddies' access to recipients (staff attitudes; 1 = full access)
        self.buddy_access = buddies.access_factor
        # need totals kept up to date person by person (need_totals.py)
        self.need_ledger = NeedLedger(people, self.prisons, care)
        self._totals_packed = self.need_ledger.update(env.now)
        self._task_hours = np.array(
            [[care.nonpersonal_task_hours]] * 2 + [[care.personal_task_hours]] * 3
        )  # one row per kind of task in _HOURS_DUE
        # constants of every window, computed once (same expressions as per window)
        self._provider_slots = (
            care.provider_capacity_hours_per_week_per_100_places
            * estate.capacity
            / 100.0
            * self.share_per_window
            / care.personal_task_hours
        )  # visits a window the providers can make
        unlocks = regime.officer_unlocks_per_day_per_100_places
        self._officer_slots = unlocks * estate.capacity / 100.0 / self.windows  # visits a window
        p_short = care.overstep_max_probability_per_window * (
            1.0 - np.exp(-self.share_per_window * 7.0 / care.overstep_delay_scale_days)
        )
        self._p_short = np.clip(p_short * self.overstep_factor, 0.0, 1.0)
        self.task_hours_resolved = 0.0  # all care task-hours handled (benchmark figure)
        self.windows_resolved = 0
        #: Wait for every unlock window, even when nothing happens before it (:meth:`run`);
        #: the same results with more events (tests compare the two).
        self.wake_every_window = False
        #: Debug mode: the simulation sets this to invariants.check_window to see every batch.
        self.window_observer: Callable[..., None] | None = None
        self._horizon = metrics.months * DAYS_PER_MONTH  # the run ends here (days)
        # windows whose inputs are taken but whose tasks are not yet drawn, one row each (hot
        # path: a row written per window, no copies): start day, regime factor, active buddies
        # and the index into _pending_totals of the need totals the window saw
        self.pending_windows = 0
        rows = 2 + 32 * self.windows  # a month's windows and a spare (grown if ever needed)
        self._window_start = np.empty(rows)
        self._window_factor = np.empty((rows, self.prisons))
        self._window_active = np.empty((rows, self.prisons))
        self._window_totals_at = np.empty(rows, dtype=np.int64)
        self._pending_totals: list[np.ndarray] = []  # the need totals those windows saw, packed
        self._daily_per_buddy, self._daily_per_prison = self._daily_rates()
        self._accrual_month = 0  # days accrued for this month, not yet in its flows
        self._accrual_days = 0
        self._same_days = 0  # of those, days since buddies or regime last changed (not yet booked)
        self._seen_changes: tuple[int, int] | None = None  # their change counters then
        self._same_buddies = np.zeros(self.prisons, dtype=np.int64)  # active buddies then
        self._same_restricted = np.zeros(self.prisons, dtype=bool)  # restricted regime then
        self.flush_daily()  # nothing accrued yet: this sets the empty accumulators

    @property
    def totals(self) -> NeedTotals:
        """The need totals the next unlock window will see (as of the last update)."""
        return NeedTotals(*self._totals_packed)

    def _take_inputs(self, now: float) -> None:
        """Take the inputs of the unlock window starting at ``now`` (drawn later)."""
        totals = self._pending_totals
        if not totals or totals[-1] is not self._totals_packed:
            totals.append(self._totals_packed)
        i = self.pending_windows
        if i == len(self._window_start):
            self._grow_window_rows()
        self._window_start[i] = now
        self._window_factor[i] = self.regime.factor
        self._window_active[i] = self.buddies.counts
        self._window_totals_at[i] = len(totals) - 1
        self.pending_windows = i + 1

    def _grow_window_rows(self) -> None:
        """Double the rows for pending windows (a batch longer than a month)."""
        for name in ("_window_start", "_window_factor", "_window_active", "_window_totals_at"):
            rows = getattr(self, name)
            setattr(self, name, np.concatenate([rows, np.empty_like(rows)]))

    def run(self) -> Generator[simpy.Event, None, None]:
        """Wake at the start of every unlock window; daily bookkeeping in the first.

        Each window's inputs (regime factor, active buddies, need totals) are taken
        at its start; its tasks are drawn together with the month's other windows at
        the start of the month's last window, the one before a month boundary (when the
        buddy schemes read the month's load) or the end of the run: one set of numpy
        calls a month instead of one per window. Nothing else reads what a window
        resolves before then.

        A later window of the day is not waited for when no event at all is due before
        it starts (``env.peek()``): nothing can change its inputs, so they are taken at
        once, as they would be then (hot path: in one prison most days have no event
        between the morning and afternoon windows; the event count drops, the results
        do not change).
        """
        env = self.env
        spacing = 1.0 / self.windows
        day = 0
        while True:
            for k in range(self.windows):
                start = day + (k + 0.5) * spacing
                if k == 0 or self.wake_every_window or env.peek() <= start:
                    yield env.timeout(start - env.now)
                    now = env.now
                else:  # nothing happens before this window: take its inputs now
                    now = start
                if k == 0:
                    self._daily(now)
                self._take_inputs(now)
                if self._boundary_between(now, now + spacing):  # the next window starts after it
                    self.resolve_windows()
            day += 1

    def _boundary_between(self, now: float, following: float) -> bool:
        """A month boundary or the end of the run lies in (now, following], with a margin
        for the rounding of the monthly process's clock (days)."""
        margin = 1e-6
        months_now = int((now - margin) / DAYS_PER_MONTH)
        return int((following + margin) / DAYS_PER_MONTH) != months_now or following >= self._horizon - margin

    # ------------------------------------------------------------------------- daily
    def _daily(self, now: float) -> None:
        """Refresh need totals if anything changed (someone touched, or someone turned 50, which
        moves them in the cell-sharing shares); accrue the day's buddy-days and restricted
        days, which :meth:`flush_daily` turns into the month's flows and buddy costs.

        Hot path: while no buddy starts or stops and no regime changes (their ``changes``
        counters), a day only adds one to the days at the same values; they are booked at
        the next change or flush (whole numbers, so the sums are exactly those of adding
        day by day).
        """
        people = self.people
        if people.need_touched or self.need_ledger.turned_50_by(now):
            self._totals_packed = self.need_ledger.update(now)
        month = self.metrics.month(now)
        if month != self._accrual_month:
            self.flush_daily()
            self._accrual_month = month
        changes = (self.buddies.changes, self.regime.changes)
        if changes != self._seen_changes:
            self._book_same_days()
            self._seen_changes = changes
            self._same_buddies = self.buddies.counts.copy()
            self._same_restricted = self.regime.factor < 1.0
        self._same_days += 1
        self._accrual_days += 1

    def _book_same_days(self) -> None:
        """Add the days accrued at the same buddies and regime to the month's accumulators."""
        if self._same_days:
            self._buddy_days += self._same_days * self._same_buddies
            self._restricted_days += self._same_days * self._same_restricted
            self._same_days = 0

    def flush_daily(self) -> None:
        """Add the days accrued since the last flush to their month's flows: buddy-days and
        their costs (``buddy-days x per buddy + days x per prison``) and restricted days."""
        self._book_same_days()
        if self._accrual_days:
            block = self._buddy_days[:, None] * self._daily_per_buddy
            block += self._accrual_days * self._daily_per_prison
            block[:, -1] = self._restricted_days
            self.metrics.add_month(self._accrual_month, _DAILY_FLOWS, block)
        self._buddy_days = np.zeros(self.prisons)
        self._restricted_days = np.zeros(self.prisons)
        self._accrual_days = 0

    def _daily_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-day amounts of :data:`_DAILY_FLOWS` for each active buddy and for each prison
        (prisons x flows; pounds, buddy-days); the restricted-days column is set daily."""
        c = self.cfg
        b, staff_hour = c.buddies, c.costs.officer_hourly_cost
        per_buddy = np.zeros((self.prisons, len(_DAILY_FLOWS)))
        per_prison = np.zeros_like(per_buddy)
        per_buddy[:, 0] = 1.0  # buddy-days
        per_buddy[:, 1] = b.pay_per_week / 7.0
        per_buddy[:, 2] = self.buddies.supervised * b.supervision_hours_per_buddy_per_week * staff_hour / 7.0
        per_buddy[:, 3] = self.formal * b.coordination_hours_per_buddy_per_week * staff_hour / 7.0
        per_prison[:, 3] = self.formal * b.coordination_hours_per_scheme_per_week * staff_hour / 7.0
        per_prison[:, 4] = self.formal * c.costs.scheme_setup_cost / (c.costs.scheme_life_years * 365.0)
        return per_buddy, per_prison

    # ------------------------------------------------------------------------ window
    def resolve_window(self, now: float) -> None:
        """Take the inputs of one unlock window starting at ``now`` and resolve it."""
        self._take_inputs(now)
        self.resolve_windows()

    def resolve_windows(self) -> None:
        """Resolve every care task of the pending unlock windows in every prison.

        Hot path: numpy calls over arrays of (windows, prisons), once a month. Binomial
        draws that do not depend on each other are made in one call.
        """
        w, self.pending_windows = self.pending_windows, 0
        seen, self._pending_totals = self._pending_totals, []
        if not w:
            return
        cfg, rng, m = self.cfg, self.rng, self.metrics
        packed = _window_totals(seen, self._window_totals_at[:w])
        t = NeedTotals(*packed.transpose(1, 0, 2))
        b, care, regime = cfg.buddies, cfg.care, cfg.regime
        np_task, p_task = care.nonpersonal_task_hours, care.personal_task_hours
        shape = (w, self.prisons)
        starts = self._window_start[:w, None].copy()  # (windows, 1); the rows are reused next month
        factor = self._window_factor[:w].copy()
        active = self._window_active[:w].copy()
        unlock_hours = regime.window_hours * factor  # hours each prison is unlocked in each window
        unlocked = regime.recipient_unlocked_share * factor  # share of recipients' tasks within reach

        # tasks due in each window, drawn in one call (axis 1: kind of task)
        hours = packed[:, _HOURS_DUE]  # (windows, kind of task, prisons)
        due = self.due_rng.poisson(np.maximum(hours, 0.0) * self.share_per_window / self._task_hours)
        due_known, due_unknown, due_planned, due_unplanned, due_no_package = due.transpose(1, 0, 2)

        # -- non-personal tasks: buddies, then informal help, each within their share of unlock time
        opened = rng.binomial(due[:, :2], unlocked[:, None, :])
        open_known, open_unknown = opened[:, 0], opened[:, 1]
        reachable_unknown = rng.binomial(open_unknown, b.reach_unrecorded_share)
        buddy_hours = active * (b.care_share_of_unlock * self.buddy_access) * unlock_hours
        capacity = np.floor(buddy_hours / np_task + 1e-9).astype(np.int64)
        if b.priority == "recorded_first":
            met_known = np.minimum(open_known, capacity)
            met_unknown = np.minimum(reachable_unknown, capacity - met_known)
        else:  # proportional
            wanted = open_known + reachable_unknown
            scale = np.divide(capacity, wanted, out=np.ones(shape), where=wanted > capacity)
            met_known = np.floor(open_known * scale).astype(np.int64)
            met_unknown = np.minimum(reachable_unknown, capacity - met_known)
        left_open = open_known + open_unknown - met_known - met_unknown
        helpers = t.cellmate_helpers + t.np_recipients * self._neighbours  # people
        informal_hours = helpers * self._informal_time * unlock_hours
        # stochastic rounding: a fraction of a task is a task with that probability
        informal_capacity = np.floor(informal_hours / np_task + rng.random(shape)).astype(np.int64)
        met_informal = np.minimum(left_open, informal_capacity)
        due_np = due_known + due_unknown
        unmet_np = due_np - met_known - met_unknown - met_informal
        demand = (open_known + reachable_unknown) * np_task

        # -- personal tasks: the provider delivers package visits up to its capacity, short of a
        #    share; every visit needs an officer to unlock (fewer in a restricted regime); prison
        #    healthcare tops up a share of what is left, within the officers' remaining unlocks
        floor = regime.essential_unlock_floor
        officer_slots = np.floor(
            self._officer_slots * (floor + (1.0 - floor) * factor) + rng.random(shape)
        ).astype(np.int64)
        provider_slots = np.floor(self._provider_slots + rng.random(shape)).astype(np.int64)
        attended = np.minimum(np.minimum(due_planned, provider_slots), officer_slots)
        delivered = rng.binomial(attended, 1.0 - care.provider_shortfall_share)
        left_planned = due_planned - delivered
        waiting = t.people_waiting  # (windows, prisons), whole numbers
        p_top = np.empty((w, 4, self.prisons))
        p_top[:, :3] = care.healthcare_topup_share
        p_top[:, 3] = unlocked * (1.0 - care.healthcare_topup_share)
        undone = np.empty((w, 4, self.prisons), dtype=np.int64)
        undone[:, 0], undone[:, 1], undone[:, 2], undone[:, 3] = (
            left_planned,
            due_unplanned,
            due_no_package,
            waiting.astype(np.int64),
        )
        drawn = rng.binomial(undone, p_top)
        exposed = drawn[:, 3]
        top_up = drawn[:, :3]
        wanted_top_up = top_up.sum(axis=1)
        officer_left = officer_slots - delivered
        short = wanted_top_up > officer_left  # not enough unlocks: each kind cut in proportion
        if short.any():
            cut = np.divide(officer_left, wanted_top_up, out=np.ones(shape), where=short)
            top_up = np.where(short[:, None, :], np.floor(top_up * cut[:, None, :]), top_up).astype(np.int64)
        done_professional = delivered
        done_healthcare = top_up.sum(axis=1)
        due_p = due_planned + due_unplanned + due_no_package
        unmet_p = due_p - done_professional - done_healthcare
        if self.window_observer is not None:  # debug mode only
            met_buddies = met_known + met_unknown
            self.window_observer(
                float(starts[0, 0]),
                factor,
                capacity,
                met_buddies,
                (met_buddies, met_informal, unmet_np),
                due_np,
                (done_professional, done_healthcare, unmet_p),
                due_p,
                informal=(informal_capacity, met_informal),
                unlocks=(officer_slots, done_professional + done_healthcare),
            )

        # -- overstepping: buddies or informal helpers doing late personal care
        helping = (active > 0) | (informal_capacity > 0)
        late_days = np.divide(
            waiting * starts - t.wait_since_sum, waiting, out=np.zeros(shape), where=waiting > 0
        )
        scale = care.overstep_delay_scale_days
        p_long = care.overstep_max_probability_per_window * (1.0 - np.exp(-late_days / scale))
        missed = left_planned - top_up[:, 0]  # package visits neither delivered nor topped up
        p_over = np.empty((w, 2, self.prisons))
        p_over[:, 0] = np.clip(p_long * self.overstep_factor, 0.0, 1.0)
        p_over[:, 1] = self._p_short
        exposed_or_missed = np.empty((w, 2, self.prisons), dtype=np.int64)
        exposed_or_missed[:, 0], exposed_or_missed[:, 1] = exposed, missed
        over = rng.binomial(exposed_or_missed, p_over)
        overstep = np.where(helping, over[:, 0] + over[:, 1], 0)

        # -- people with any unmet need (expected count if unmet tasks fall at random)
        u_np = np.divide(unmet_np, due_np, out=np.zeros(shape), where=due_np > 0)
        u_p = np.divide(unmet_p, due_p, out=np.zeros(shape), where=due_p > 0)
        people_unmet = t.people_np_only * u_np + t.people_personal * (1 - (1 - u_np) * (1 - u_p))

        buddy_given, informal_given = (met_known + met_unknown) * np_task, met_informal * np_task  # hours
        columns = (
            due_np * np_task,
            buddy_given,
            informal_given,
            unmet_np * np_task,
            due_p * p_task,
            done_professional * p_task,
            done_healthcare * p_task,
            unmet_p * p_task,
            overstep,
            people_unmet / self.windows,
            done_professional * p_task * cfg.costs.personal_care_hourly_cost,
            done_healthcare * p_task * cfg.costs.healthcare_hourly_cost,
            due_planned * p_task,
            (due_planned - delivered) * p_task,
        )
        values = np.empty((w, self.prisons, len(columns)))  # (windows, prisons, flows)
        for k, column in enumerate(columns):  # (a column at a time: np.stack costs more here)
            values[:, :, k] = column
        resolved = due_np.sum(axis=1) * np_task + due_p.sum(axis=1) * p_task
        m.add_windows(starts[:, 0], _WINDOW_FLOWS, values)
        self.buddies.demand_hours += demand.sum(axis=0)
        self.buddies.capacity_hours += buddy_hours.sum(axis=0)
        self.task_hours_resolved += float(resolved.sum())
        self.windows_resolved += w
        # -- safeguarding incidents around the peer care of these windows (own stream)
        self.safeguarding.record(starts[:, 0], buddy_given, informal_given)

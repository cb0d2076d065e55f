"""Buddy schemes: posts, who applies, the recruitment pipeline, active buddies and why they leave.

A buddy is a person in custody (``people.buddy``). Posts exist only in prisons with a
formal scheme; every prison may also have informal help, which the fast lane models.

Who applies: each person has a fixed draw ``people.willing_u`` from arrival and is willing
if it is below the willing share, which rises with pay and recognition
(:func:`willing_share`). A vacant post is filled from the willing people of the prison
who are eligible (no need, not already a buddy or applying, long enough left to serve);
if there are none, the post stays vacant and the search tries again later.

Pipeline: application -> interview -> vetting -> (trained schemes) a training course
that starts in batches -> active. Losses: release, transfer, death or new need of the
buddy (from the population), and monthly quitting (which falls with pay and
recognition), dismissal (less where trained) and burnout (which rises with the load
the fast lane measured last month, and is less where staff supervise the buddies).
Where wing staff are not aware of social care, buddies reach fewer recipients
(``access_factor``, used by the fast lane).
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from ..config import BuddiesConfig, Config
from .estate import FORMAL_TRAINED, NO_SCHEME, Estate
from .metrics import DAYS_PER_MONTH, DAYS_PER_YEAR, Flow, Metrics
from .need import NONE
from .population import People
from .streams import Streams

_RETRY_DAYS = 7.0  # when no post is vacant or nobody is eligible, look again after this
#: Pay below this share of the reference pay counts as this share in the pay effects. A
#: constant elasticity would make unpaid buddies unwilling and quit at once, yet unpaid peer
#: roles exist (Listeners are volunteers, [S71]; some prisoner carer roles are unpaid,
#: HSMC07 L1444), so pay of 0 keeps about a third of the willing share (elasticity 0.5).
_MIN_PAY_RATIO = 0.1


def _pay_ratio(c: BuddiesConfig) -> float:
    return max(c.pay_per_week / c.reference_pay_per_week, _MIN_PAY_RATIO)


def willing_share(c: BuddiesConfig) -> float:
    """Share of prisoners willing to be a buddy: the share at the reference pay, times pay
    relative to it to the elasticity, times the recognition factor (at most 1)."""
    share = c.willing_share * _pay_ratio(c) ** c.willingness_pay_elasticity
    if c.recognition:
        share *= c.willingness_recognition_factor
    return min(1.0, share)


def quit_rate_per_year(c: BuddiesConfig) -> float:
    """Buddies quitting a buddy-year: the rate at the reference pay, times pay relative to it
    to minus the elasticity, times the recognition factor."""
    rate = c.quit_rate_per_year * _pay_ratio(c) ** -c.quit_pay_elasticity
    if c.recognition:
        rate *= c.quit_recognition_factor
    return rate


class BuddySchemes:
    """All buddy schemes of the estate."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: Config,
        estate: Estate,
        people: People,
        streams: Streams,
        metrics: Metrics,
    ) -> None:
        self.env = env
        self.cfg = cfg.buddies
        self.costs = cfg.costs
        self.estate = estate
        self.people = people
        self.draw = streams["buddies"]  # recruitment, and the day-0 fill of posts
        self.rng = streams.generator("buddy_losses")  # vectorised monthly losses
        self.metrics = metrics
        self.scheme = estate.scheme
        self.supervised = estate.supervised
        self.willing_share = willing_share(self.cfg)
        self.quit_rate = quit_rate_per_year(self.cfg)
        #: share of their care time buddies can give where wing staff are (not) aware of social care
        self.access_factor = np.where(estate.aware_staff, 1.0, self.cfg.unaware_staff_buddy_access_factor)
        formal = self.scheme != NO_SCHEME
        posts = np.ceil(self.cfg.posts_per_1000_prisoners * estate.capacity / 1000.0)
        self.posts = np.where(formal, posts, 0).astype(np.int64)
        self.active: list[set[int]] = [set() for _ in range(estate.size)]
        self._counts = np.zeros(estate.size, dtype=np.int64)  # len(active[p]), kept in step
        self.changes = 0  # times any count changed (readers tell a changed count by it)
        self.pipeline = np.zeros(estate.size, dtype=np.int64)
        self.candidates: set[int] = set()
        self._willing = np.empty(0, dtype=np.int64)  # ids drawn willing, in or out of custody
        self._willing_admissions = -1  # people.admissions when _willing was found
        # load = non-personal task hours buddies could reach / buddy hours, per month
        self.demand_hours = np.zeros(estate.size)
        self.capacity_hours = np.zeros(estate.size)

    def active_count(self, prison: int) -> int:
        return len(self.active[prison])

    @property
    def counts(self) -> np.ndarray:
        """Active buddies per prison, the schemes' own array (read only; hot path: read in
        every unlock window)."""
        return self._counts

    def active_counts(self) -> np.ndarray:
        """Active buddies per prison (a copy; hot path: read in every unlock window)."""
        return self._counts.copy()

    # ------------------------------------------------------------------------ start
    def start(self) -> None:
        """Fill posts on day 0 and start the recruitment and loss processes."""
        now = self.env.now
        for prison in np.flatnonzero(self.posts > 0):
            target = round(self.posts[prison] * self.cfg.initial_fill_share)
            for pid in self.draw.gen.permutation(self._applicants(int(prison), now))[:target].tolist():
                self._activate(pid, int(prison))
            self.env.process(self._recruit(int(prison)))
        self.env.process(self._monthly_losses())

    def _applicants(self, prison: int, now: float) -> np.ndarray:
        """Ids of the willing, eligible people of one prison: no need, not a buddy or an
        applicant already, and at least ``min_remaining_stay_days`` left to serve.

        Hot path (every search for an applicant, about 800 a year nationally): the willing
        people of the whole estate (a few percent of everyone) are found in one pass over the
        people arrays, again only after new arrivals (whose ids and draws are new); the rest
        is read for them only.
        """
        people = self.people
        if self._willing_admissions != people.admissions:  # someone arrived since the last look
            self._willing_admissions = people.admissions
            self._willing = np.flatnonzero(people.willing_u[: people.count] < self.willing_share)
        ids = self._willing[people.prison[self._willing] == prison]
        ok = (
            (people.level[ids] == NONE)
            & ~people.buddy[ids]
            & (people.release_day[ids] - now >= self.cfg.min_remaining_stay_days)
        )
        ids = ids[ok]
        if self.candidates:  # a handful of applicants in the pipeline
            ids = ids[[pid not in self.candidates for pid in ids.tolist()]]
        return ids

    def _activate(self, pid: int, prison: int) -> None:
        self.people.buddy[pid] = True
        active = self.active[prison]
        if pid not in active:
            active.add(pid)
            self._counts[prison] += 1
            self.changes += 1

    # ------------------------------------------------------------------- recruitment
    def _find_applicant(self, prison: int, now: float) -> int:
        """One of the willing, eligible people of this prison at random, or -1 if there are none."""
        pool = self._applicants(prison, now)
        if len(pool) == 0:
            return -1
        return int(pool[int(self.draw.uniform() * len(pool))])

    def _recruit(self, prison: int) -> Generator[simpy.Event, None, None]:
        """While posts are vacant, find applicants one after another."""
        c, env = self.cfg, self.env
        while True:
            if len(self.active[prison]) + self.pipeline[prison] >= self.posts[prison]:
                yield env.timeout(_RETRY_DAYS)
                continue
            yield env.timeout(self.draw.exponential(c.application_days_mean))
            if len(self.active[prison]) + self.pipeline[prison] >= self.posts[prison]:
                continue  # the vacancy was filled meanwhile
            pid = self._find_applicant(prison, env.now)
            if pid < 0:
                yield env.timeout(_RETRY_DAYS)
                continue
            self.pipeline[prison] += 1  # counted now, so the next loop sees the post as taken
            self.candidates.add(pid)
            env.process(self._candidate(prison, pid))

    def _candidate(self, prison: int, pid: int) -> Generator[simpy.Event, None, None]:
        """One applicant through interview, vetting and training (already in the pipeline)."""
        c, env, m = self.cfg, self.env, self.metrics
        generation = int(self.people.generation[pid])
        try:
            yield env.timeout(self.draw.exponential(c.interview_days_mean))
            if not self._still_here(pid, prison, generation):
                return
            yield env.timeout(self.draw.exponential(c.vetting_days_mean))
            m.add(env.now, prison, Flow.COST_VETTING, self.costs.vetting_cost_per_candidate)
            passed = self.draw.bernoulli(c.vetting_pass_share)
            if not (passed and self._still_here(pid, prison, generation)):
                return
            if self.scheme[prison] == FORMAL_TRAINED:
                wait = -env.now % c.training_interval_days  # next course start
                yield env.timeout(wait + c.training_days)
                m.add(env.now, prison, Flow.COST_TRAINING, self.costs.training_cost_per_trainee)
                passed = self.draw.bernoulli(c.training_pass_share)
                if not (passed and self._still_here(pid, prison, generation)):
                    return
                m.add(env.now, prison, Flow.TRAINED)
            self._activate(pid, prison)
            m.add(env.now, prison, Flow.BUDDY_STARTS)
        finally:
            self.pipeline[prison] -= 1
            self.candidates.discard(pid)

    def _still_here(self, pid: int, prison: int, generation: int) -> bool:
        """The applicant is still in this prison (same person, not a reused id) without need."""
        people = self.people
        return (
            people.generation[pid] == generation
            and people.prison[pid] == prison
            and people.level[pid] == NONE
        )

    # ------------------------------------------------------------------------ losses
    def lose(self, pid: int, now: float, *, moved: bool) -> None:
        """A buddy stops: released, transferred, died (moved) or now needs care."""
        prison = int(self.people.prison[pid])
        self.people.buddy[pid] = False
        active = self.active[prison]
        if pid in active:
            active.remove(pid)
            self._counts[prison] -= 1
            self.changes += 1
        self.metrics.add(now, prison, Flow.BUDDY_LOSSES)
        if moved:
            self.metrics.add(now, prison, Flow.BUDDY_LOSSES_MOVE)

    def _monthly_losses(self) -> Generator[simpy.Event, None, None]:
        """Quitting, dismissal and burnout, decided once a month for each scheme."""
        c, env = self.cfg, self.env
        while True:
            yield env.timeout(DAYS_PER_MONTH)
            load = np.divide(
                self.demand_hours,
                self.capacity_hours,
                out=np.zeros_like(self.demand_hours),
                where=self.capacity_hours > 0,
            )
            self.demand_hours[:] = 0.0
            self.capacity_hours[:] = 0.0
            trained = self.scheme == FORMAL_TRAINED
            burnout = c.burnout_rate_per_year * (
                1.0 + c.burnout_load_sensitivity * np.maximum(load - 1.0, 0.0)
            )
            burnout = burnout * np.where(self.supervised, c.supervised_burnout_factor, 1.0)
            dismissal = c.dismissal_rate_per_year * np.where(trained, c.trained_dismissal_factor, 1.0)
            total = self.quit_rate + dismissal + burnout
            leave_prob = 1.0 - np.exp(-total * DAYS_PER_MONTH / DAYS_PER_YEAR)
            for prison in np.flatnonzero(self.posts > 0):
                members = sorted(self.active[prison])
                if not members or total[prison] <= 0:
                    continue
                leaving = self.rng.binomial(len(members), leave_prob[prison])
                burnt = self.rng.binomial(leaving, burnout[prison] / total[prison])
                for k, i in enumerate(self.rng.permutation(len(members))[:leaving]):
                    self.lose(members[i], env.now, moved=False)
                    if k < burnt:
                        self.metrics.add(env.now, int(prison), Flow.BUDDY_LOSSES_BURNOUT)

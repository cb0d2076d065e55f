"""The Care Act pathway: detection, referral, assessment, eligibility, care package, review.

Each person with need has at most one pathway process. It moves them through the
states below; a transfer, release or death stops it. The local authority's
assessors in each prison are a ``simpy.Resource``, so referrals queue for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import simpy
from simpy.events import Initialize

from ..config import Config
from .estate import Estate
from .metrics import Flow, Metrics
from .streams import Streams

if TYPE_CHECKING:
    from .population import People

# Pathway states (people.state)
NO_NEED = 0
UNDETECTED = 1  # need not known to the prison
DETECTED = 2  # known to the prison (recorded), not (yet) referred
REFERRED = 3  # waiting for, or in, a Care Act assessment
NOT_ELIGIBLE = 4  # assessed, needs not eligible
WAITING_PACKAGE = 5  # eligible, waiting for the provider to start
PACKAGE = 6  # care package in place


class Pathway:
    """Moves people with need through detection, assessment and care."""

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
        self.cfg = cfg.pathway
        self.costs = cfg.costs
        self.estate = estate
        self.people = people
        self.draw = streams["pathway"]
        self.metrics = metrics
        n_assessors = self.cfg.assessors_per_prison
        self.assessors = [
            simpy.Resource(env, capacity=n_assessors) if n_assessors > 0 else None for _ in range(estate.size)
        ]
        self.eligibility = (0.0, *self.cfg.eligibility_by_level.as_tuple())
        self.procs: dict[int, simpy.Process] = {}
        self.interim: set[int] = set()  # people whose package awaits an interim review
        # wired by the simulation: active buddies in a prison, and how much they speed detection
        self.buddies_active: Callable[[int], int] = lambda prison: 0
        self.buddy_detection_factor = 1.0

    # ------------------------------------------------------------ hooks from population
    def on_arrival(self, pid: int, known: bool) -> None:
        """A person arrives with need, found at reception screening or not."""
        if known:
            self.metrics.add(self.env.now, int(self.people.prison[pid]), Flow.DETECTIONS)
        self._start(pid, DETECTED if known else UNDETECTED)

    def on_stock(self, pid: int, known: bool) -> None:
        """A person with need in the day-0 stock. A need not known starts undetected. A known
        need has already been through the pathway, as in the steady state, where few known
        needs are still waiting: if it was referred it was assessed, and if eligible its
        package is in place, with the next review at a uniform point of the review interval.
        Without this, every known day-0 need joins the assessment queue at once and the
        queue takes about three years to drain (measured: 2,977 waiting in the first quarter,
        about 300 in the steady state)."""
        people = self.people
        if not known:
            self._start(pid, UNDETECTED)
            return
        people.need_dirty = True
        if not self.draw.bernoulli(self.cfg.referral_share):
            people.state[pid] = DETECTED
        elif not self.draw.bernoulli(self.eligibility[int(people.level[pid])]):
            people.state[pid] = NOT_ELIGIBLE
        else:
            people.package_hours[pid] = people.p_hours[pid]
            people.wait_since[pid] = math.nan
            people.state[pid] = PACKAGE
            first_review = self.draw.uniform() * self.cfg.review_interval_days
            self.procs[pid] = self.env.process(self._run(pid, PACKAGE, first_review))

    def on_need_onset(self, pid: int) -> None:
        self._start(pid, UNDETECTED)

    def on_need_change(self, pid: int) -> None:
        """Need worsened: a known person who is not in the pathway is referred again, and a
        package that no longer covers the need gets an interim review: the next review is
        brought forward to a delay drawn from ``interim_review_delay_days_mean``, after which
        the package is raised to the need and reviews follow at the usual interval."""
        people = self.people
        state = int(people.state[pid])
        if state in (DETECTED, NOT_ELIGIBLE) and pid not in self.procs:
            self._start(pid, DETECTED)
        elif state == PACKAGE and people.p_hours[pid] > people.package_hours[pid] and pid not in self.interim:
            self._stop(pid)
            self.interim.add(pid)
            delay = self.draw.exponential(self.cfg.interim_review_delay_days_mean)
            self.procs[pid] = self.env.process(self._run(pid, PACKAGE, delay))

    def on_leave(self, pid: int) -> None:
        self._stop(pid)

    def on_transfer(self, pid: int) -> None:
        """The person moved prison: the new prison may not learn of their need.

        A need not yet known stays unknown (its detection clock runs on). A known need
        is lost with probability ``info_loss_on_transfer``; if kept, a referral joins
        the new local authority's queue and a package carries on.
        """
        people = self.people
        state = int(people.state[pid])
        if state == UNDETECTED:
            return
        if self.draw.bernoulli(self.cfg.info_loss_on_transfer):
            people.package_hours[pid] = 0.0
            if people.p_hours[pid] > 0.0:
                people.wait_since[pid] = self.env.now
            self._start(pid, UNDETECTED)
        elif state == REFERRED:
            self._start(pid, REFERRED)

    # --------------------------------------------------------------------- processes
    def _start(self, pid: int, state: int) -> None:
        self._stop(pid)
        self.people.state[pid] = state
        self.people.need_dirty = True
        self.procs[pid] = self.env.process(self._run(pid, state))

    def _stop(self, pid: int) -> None:
        self.interim.discard(pid)
        proc = self.procs.pop(pid, None)
        if proc is None or not proc.is_alive:
            return
        if isinstance(proc.target, Initialize):
            return  # not started: it sees it is no longer current and ends at once
        proc.interrupt()

    def _detection_delay(self, pid: int, prison: int) -> float:
        c = self.cfg
        mean = c.detection_delay_days_mean
        if self.people.dementia[pid]:
            mean *= c.dementia_detection_factor
        if self.estate.older_unit[prison]:
            mean *= c.older_unit_detection_factor
        if self.estate.aware_staff[prison]:
            mean *= c.aware_staff_detection_factor
        if self.buddies_active(prison) > 0:
            mean *= self.buddy_detection_factor
        return self.draw.exponential(mean)

    def _run(
        self, pid: int, state: int, first_review: float | None = None
    ) -> Generator[simpy.Event, None, None]:
        env, people, m, c = self.env, self.people, self.metrics, self.cfg
        if self.procs.get(pid) is not env.active_process:
            return
        try:
            if state == UNDETECTED:
                yield env.timeout(self._detection_delay(pid, int(people.prison[pid])))
                m.add(env.now, int(people.prison[pid]), Flow.DETECTIONS)
                state = self._set(pid, DETECTED)
            if state == DETECTED:
                if not self.draw.bernoulli(c.referral_share):
                    return
                yield env.timeout(self.draw.exponential(c.referral_delay_days_mean))
                m.add(env.now, int(people.prison[pid]), Flow.REFERRALS)
                state = self._set(pid, REFERRED)
            if state == REFERRED:
                state = yield from self._assess(pid)
                if state == NOT_ELIGIBLE:
                    return
            if state == WAITING_PACKAGE:
                eligible_day = env.now
                yield env.timeout(self.draw.exponential(c.package_start_delay_days_mean))
                prison = int(people.prison[pid])
                m.add(env.now, prison, Flow.CARE_STARTS)
                m.add(env.now, prison, Flow.CARE_START_DELAY_DAYS, env.now - eligible_day)
                people.package_hours[pid] = people.p_hours[pid]
                people.wait_since[pid] = math.nan
                state = self._set(pid, PACKAGE)
            while True:  # PACKAGE: periodic reviews bring the plan up to date
                yield env.timeout(c.review_interval_days if first_review is None else first_review)
                first_review = None
                self.interim.discard(pid)
                prison = int(people.prison[pid])
                m.add(env.now, prison, Flow.REVIEWS)
                m.add(env.now, prison, Flow.COST_REVIEW, self.costs.review_cost)
                people.package_hours[pid] = people.p_hours[pid]
                people.need_dirty = True
        except simpy.Interrupt:
            pass
        finally:
            if self.procs.get(pid) is env.active_process:
                del self.procs[pid]

    def _assess(self, pid: int) -> Generator[simpy.Event, None, int]:
        """Queue for an assessor, be assessed, and learn whether needs are eligible."""
        env, people, m = self.env, self.people, self.metrics
        prison = int(people.prison[pid])
        referred_day = env.now
        assessors = self.assessors[prison]
        if assessors is None:
            yield env.event()  # no assessment capacity: waits until moved or released
            return REFERRED
        with assessors.request() as request:
            yield request
            m.add(env.now, prison, Flow.ASSESSMENT_WAIT_DAYS, env.now - referred_day)
            yield env.timeout(self.draw.exponential(self.cfg.assessment_days_mean))
        m.add(env.now, prison, Flow.ASSESSMENTS)
        m.add(env.now, prison, Flow.COST_ASSESSMENT, self.costs.assessment_cost)
        if not self.draw.bernoulli(self.eligibility[int(people.level[pid])]):
            return self._set(pid, NOT_ELIGIBLE)
        m.add(env.now, prison, Flow.ELIGIBLE)
        return self._set(pid, WAITING_PACKAGE)

    def _set(self, pid: int, state: int) -> int:
        self.people.state[pid] = state
        self.people.need_dirty = True
        return state

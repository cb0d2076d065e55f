"""The Care Act pathway: detection, referral, assessment, eligibility, care package, review.

Each person with need has at most one pathway: a chain of timed steps through the states
below, each a SimPy timeout with a callback; a transfer, release or death stops it. The local
authority's assessors in each prison serve referrals first come, first served.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

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
        # the local authority's assessors in each prison, how many are busy, and who waits
        self.assessors = [self.cfg.assessors_per_prison] * estate.size
        self.busy = [0] * estate.size
        self.queues: list[deque[tuple[int, int, float]]] = [deque() for _ in range(estate.size)]
        self.assessing: dict[int, int] = {}  # person -> prison whose assessor they hold
        self.eligibility = (0.0, *self.cfg.eligibility_by_level.as_tuple())
        self.token: dict[int, int] = {}  # person -> token of their current pathway
        self._tokens = 0
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
        people.need_touched.append(pid)
        if not self.draw.bernoulli(self.cfg.referral_share):
            people.state[pid] = DETECTED
        elif not self.draw.bernoulli(self.eligibility[int(people.level[pid])]):
            people.state[pid] = NOT_ELIGIBLE
        else:
            people.package_hours[pid] = people.p_hours[pid]
            people.wait_since[pid] = math.nan
            people.state[pid] = PACKAGE
            first_review = self.draw.uniform() * self.cfg.review_interval_days
            self._enter(pid, PACKAGE, self._new_token(pid), first_review)

    def on_need_onset(self, pid: int) -> None:
        self._start(pid, UNDETECTED)

    def on_need_change(self, pid: int) -> None:
        """Need worsened: a known person who is not in the pathway is referred again, and a
        package that no longer covers the need gets an interim review: the next review is
        brought forward to a delay drawn from ``interim_review_delay_days_mean``, after which
        the package is raised to the need and reviews follow at the usual interval."""
        people = self.people
        state = int(people.state[pid])
        if state in (DETECTED, NOT_ELIGIBLE) and pid not in self.token:
            self._start(pid, DETECTED)
        elif state == PACKAGE and people.p_hours[pid] > people.package_hours[pid] and pid not in self.interim:
            self._stop(pid)
            self.interim.add(pid)
            delay = self.draw.exponential(self.cfg.interim_review_delay_days_mean)
            self._enter(pid, PACKAGE, self._new_token(pid), delay)

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

    # ------------------------------------------------------------------- timed steps
    # Hot path: a person's pathway is a chain of timed steps, each one SimPy timeout whose
    # callback takes the step and files the next; there is no process per person (a process
    # costs an extra start event, and a generator resumed for every step). A pathway is
    # current while ``self.token[pid]`` holds the token its steps carry; stopping it removes
    # the token, so a step still in the calendar, or a place in an assessor queue, is ignored
    # when it comes due.
    def _start(self, pid: int, state: int) -> None:
        self._stop(pid)
        self._set(pid, state)
        self._enter(pid, state, self._new_token(pid))

    def _new_token(self, pid: int) -> int:
        token = self._tokens = self._tokens + 1
        self.token[pid] = token
        return token

    def _stop(self, pid: int) -> None:
        self.interim.discard(pid)
        if self.token.pop(pid, None) is None:
            return
        prison = self.assessing.pop(pid, None)
        if prison is not None:  # left during the assessment: the assessor takes the next
            self._release(prison)

    def _end(self, pid: int) -> None:
        """The pathway ended where it is (not referred, or not eligible)."""
        del self.token[pid]

    def _after(self, delay: float, step: Callable[[simpy.Event], None], *value: object) -> None:
        """Take ``step`` in ``delay`` days; it receives the timeout, whose value is ``value``."""
        simpy.Timeout(self.env, delay, value).callbacks.append(step)

    def _current(self, pid: int, token: int) -> bool:
        return self.token.get(pid) == token

    def _enter(self, pid: int, state: int, token: int, first_review: float | None = None) -> None:
        """File the first timed step of a pathway that is now in ``state``."""
        c = self.cfg
        if state == UNDETECTED:
            delay = self._detection_delay(pid, int(self.people.prison[pid]))
            self._after(delay, self._detected, pid, token)
        elif state == DETECTED:
            self._consider_referral(pid, token)
        elif state == REFERRED:
            self._request_assessment(pid, token)
        elif state == WAITING_PACKAGE:
            delay = self.draw.exponential(c.package_start_delay_days_mean)
            self._after(delay, self._package_starts, pid, token, self.env.now)
        else:  # PACKAGE
            delay = c.review_interval_days if first_review is None else first_review
            self._after(delay, self._reviewed, pid, token)

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

    def _detected(self, event: simpy.Event) -> None:
        pid, token = event.value
        if not self._current(pid, token):
            return
        self.metrics.add(self.env.now, int(self.people.prison[pid]), Flow.DETECTIONS)
        self._set(pid, DETECTED)
        self._consider_referral(pid, token)

    def _consider_referral(self, pid: int, token: int) -> None:
        if not self.draw.bernoulli(self.cfg.referral_share):
            self._end(pid)
            return
        self._after(self.draw.exponential(self.cfg.referral_delay_days_mean), self._referred, pid, token)

    def _referred(self, event: simpy.Event) -> None:
        pid, token = event.value
        if not self._current(pid, token):
            return
        self.metrics.add(self.env.now, int(self.people.prison[pid]), Flow.REFERRALS)
        self._set(pid, REFERRED)
        self._request_assessment(pid, token)

    # ---------------------------------------------------------------- assessment queue
    def _request_assessment(self, pid: int, token: int) -> None:
        """Join the prison's assessor queue (first come, first served), or be assessed now.
        With no assessors the person waits in REFERRED until moved or released."""
        prison = int(self.people.prison[pid])
        assessors = self.assessors[prison]
        if assessors == 0:
            return
        if self.busy[prison] < assessors:
            self._assess(pid, token, prison, self.env.now)
        else:
            self.queues[prison].append((pid, token, self.env.now))

    def _assess(self, pid: int, token: int, prison: int, referred_day: float) -> None:
        self.busy[prison] += 1
        self.assessing[pid] = prison
        now = self.env.now
        self.metrics.add(now, prison, Flow.ASSESSMENT_WAIT_DAYS, now - referred_day)
        delay = self.draw.exponential(self.cfg.assessment_days_mean)
        self._after(delay, self._assessed, pid, token)

    def _release(self, prison: int) -> None:
        """An assessor is free: the first person still waiting in the queue is assessed."""
        self.busy[prison] -= 1
        queue = self.queues[prison]
        while queue:
            pid, token, referred_day = queue.popleft()
            if self._current(pid, token):
                self._assess(pid, token, prison, referred_day)
                return

    def _assessed(self, event: simpy.Event) -> None:
        """The assessment ends: eligible needs wait for a package, others end the pathway."""
        pid, token = event.value
        if not self._current(pid, token):
            return
        prison = self.assessing.pop(pid)
        self._release(prison)
        now, m = self.env.now, self.metrics
        m.add(now, prison, Flow.ASSESSMENTS)
        m.add(now, prison, Flow.COST_ASSESSMENT, self.costs.assessment_cost)
        if not self.draw.bernoulli(self.eligibility[int(self.people.level[pid])]):
            self._set(pid, NOT_ELIGIBLE)
            self._end(pid)
            return
        m.add(now, prison, Flow.ELIGIBLE)
        self._set(pid, WAITING_PACKAGE)
        delay = self.draw.exponential(self.cfg.package_start_delay_days_mean)
        self._after(delay, self._package_starts, pid, token, now)

    # ------------------------------------------------------------------- care package
    def _package_starts(self, event: simpy.Event) -> None:
        pid, token, eligible_day = event.value
        if not self._current(pid, token):
            return
        people, now = self.people, self.env.now
        prison = int(people.prison[pid])
        self.metrics.add(now, prison, Flow.CARE_STARTS)
        self.metrics.add(now, prison, Flow.CARE_START_DELAY_DAYS, now - eligible_day)
        people.package_hours[pid] = people.p_hours[pid]
        people.wait_since[pid] = math.nan
        self._set(pid, PACKAGE)
        self._after(self.cfg.review_interval_days, self._reviewed, pid, token)

    def _reviewed(self, event: simpy.Event) -> None:
        """A periodic (or interim) review brings the package up to the need."""
        pid, token = event.value
        if not self._current(pid, token):
            return
        self.interim.discard(pid)
        people, now = self.people, self.env.now
        prison = int(people.prison[pid])
        self.metrics.add(now, prison, Flow.REVIEWS)
        self.metrics.add(now, prison, Flow.COST_REVIEW, self.costs.review_cost)
        if people.package_hours[pid] != people.p_hours[pid]:  # the package rises to the need
            people.package_hours[pid] = people.p_hours[pid]
            people.need_touched.append(pid)
        self._after(self.cfg.review_interval_days, self._reviewed, pid, token)

    def _set(self, pid: int, state: int) -> int:
        """Set a person's pathway state. The need totals count who is known to the prison and
        who has a package, so the person is marked as touched only when one of those changes."""
        people = self.people
        old = int(people.state[pid])
        people.state[pid] = state
        if (old >= DETECTED) != (state >= DETECTED) or (old == PACKAGE) != (state == PACKAGE):
            people.need_touched.append(pid)
        return state

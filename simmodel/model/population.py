"""People in custody: the starting stock, receptions, stays, ageing, transfers, releases, deaths.

Each person's next lifecycle event (release, death, transfer, new or worse need, dementia)
is kept as a day in one array, the calendar. One SimPy process wakes once a simulated day and resolves
that day's receptions, releases, deaths and transfers in numpy batches (receptions are drawn a
month to a year at a time, each day's count at that day's rate, and admitted on their day); the rarer
need events are handled person by person. A SimPy event per person and lifecycle
event would cost about 10 s per simulated year on a CI machine (measured), the daily
batch about 0.3 s. Lifecycle events therefore resolve to the day.

Ages are never updated: a person's age is ``(now - birth) / 365`` whenever needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import simpy

from ..config import Config
from .estate import LOCAL, WOMEN, Estate
from .flows import (
    BAND_50_59,
    INDETERMINATE,
    LONG_CLASSES,
    N_CLASSES,
    RECALL,
    REMAND,
    CustodyTimes,
    ages_in_band,
    estate_exit_rate,
    fit_flows,
    sample_stock,
)
from .metrics import DAYS_PER_YEAR, Flow, Metrics
from .need import HIGH, NONE, NeedModel, gompertz_delay_days
from .pathway import DETECTED
from .streams import Streams

#: Prisons that are full still receive a trickle, as a share of their capacity.
_HEADROOM_FLOOR = 0.02
#: Draws per reception, fixed so common random numbers stay aligned across scenarios.
_UNIFORMS_PER_PERSON = 10
#: Receptions drawn at a time (their counts and everything about each person): the days that
#: bring about this many people, at least a month and at most a year. A national estate draws
#: a month at a time; a single prison a year, so its draw's fixed cost is paid once a year.
_RECEPTIONS_PER_BLOCK = 2000
_BLOCK_DAYS = (30, 365)
#: Flows a day's deaths and releases add to, in the order of :meth:`Population._leave`'s columns.
_DEATH_FLOWS = np.array([Flow.DEATHS, Flow.DEATH_AGE_SUM, Flow.DEATHS_WITH_NEED])
_RELEASE_FLOWS = np.array([Flow.RELEASES, Flow.RELEASES_DETERMINATE, Flow.DETERMINATE_SERVED_DAYS])
#: Flows end-of-life care adds to: its hours, and its cost to the local authority and to the NHS.
_END_OF_LIFE_FLOWS = np.array([Flow.END_OF_LIFE_HOURS, Flow.COST_PERSONAL_CARE, Flow.COST_HEALTHCARE])
#: Flows a day's receptions add to, in the order of :meth:`Population._place`'s columns.
_RECEPTION_FLOWS = np.array([Flow.RECEPTIONS, Flow.RECALLS, Flow.ARRIVALS_WITH_NEED])
#: A person's lifecycle events, in the order that decides which happens when several fall due
#: on one day (columns of :attr:`People.event_days`).
EVENT_DAYS = ("death_day", "release_day", "transfer_day", "need_day", "dementia_day")
_DEATH, _RELEASE, _TRANSFER, _NEED, _DEMENTIA = range(len(EVENT_DAYS))
_NOTHING_DUE = len(EVENT_DAYS)
#: Determinate classes by class index (short, medium, long): release date known at sentencing.
_DETERMINATE = np.array([False, True, True, True, False, False])


def _first_due(days: list[float], end: float) -> int:
    """The first of one person's event days (in priority order) before ``end``, or
    ``_NOTHING_DUE``."""
    for kind, day in enumerate(days):
        if day < end:
            return kind
    return _NOTHING_DUE


def _reception_flows(where: np.ndarray, recall: np.ndarray, needy: np.ndarray, groups: int) -> np.ndarray:
    """Receptions, recalls and arrivals with need (the columns of :data:`_RECEPTION_FLOWS`)
    counted by ``where`` each person goes: a prison, or a day of a block (0 to ``groups`` - 1)."""
    flows = np.empty((groups, len(_RECEPTION_FLOWS)))
    flows[:, 0] = np.bincount(where, minlength=groups)
    flows[:, 1] = np.bincount(where[recall], minlength=groups)
    flows[:, 2] = np.bincount(where[needy], minlength=groups)
    return flows


def _ignore(*args: object) -> None:
    """A lifecycle callback nobody has wired in."""


@dataclass
class LifecycleHooks:
    """What happens elsewhere when people arrive, leave, move or develop a need.

    The population calls these; the simulation wires them to the pathway and the buddy
    schemes, so this module knows neither (person ids; ``now`` in days).
    """

    on_arrival: Callable[[int, bool], None] = _ignore  # (person, already known to have a need)
    on_stock: Callable[[int, bool], None] = _ignore  # the same, for the day-0 stock
    on_leave: Callable[[int], None] = _ignore
    on_transfer: Callable[[int], None] = _ignore
    on_need_onset: Callable[[int], None] = _ignore
    on_need_change: Callable[[int], None] = _ignore
    lose_buddy: Callable[..., None] = _ignore  # (person, now, *, moved: bool): a buddy leaves the scheme


#: People of the day-0 stock drawn at a time (about 5 MB of candidate arrays; worker memory).
_STOCK_BLOCK = 8192


@dataclass
class Newcomers:
    """People about to be admitted, one entry each, as :meth:`Population._record` writes them
    down (ages in years; stay, time served and delays in days from admission)."""

    age: np.ndarray
    female: np.ndarray
    stay: np.ndarray  # days to release
    level: np.ndarray
    dementia: np.ndarray
    klass: np.ndarray
    served: np.ndarray  # days already in custody (0 for receptions)
    willing: np.ndarray  # the fixed U(0,1) draw of willingness to be a buddy
    death_delay: np.ndarray
    need_delay: np.ndarray
    dementia_delay: np.ndarray


class IdSet:
    """A set of person ids that can also be read as a numpy array without a copy.

    Hot path: the care lane reads :meth:`array` once a simulated day (a set would
    need ``np.fromiter``, about 3x the cost of the day's need totals). Members are
    kept in a numpy array; removing one moves the last member into its place, so
    the array's order is arbitrary (as a set's is).
    """

    __slots__ = ("_ids", "_n", "_pos")

    def __init__(self, capacity: int = 1024) -> None:
        self._ids = np.empty(max(capacity, 16), dtype=np.int64)
        self._n = 0
        self._pos: dict[int, int] = {}  # id -> its index in _ids

    def __len__(self) -> int:
        return self._n

    def __contains__(self, pid: object) -> bool:
        return pid in self._pos

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids[: self._n].tolist())

    def add(self, pid: int) -> None:
        if pid in self._pos:
            return
        if self._n == len(self._ids):
            self._ids = np.concatenate([self._ids, np.empty(len(self._ids), dtype=np.int64)])
        self._ids[self._n] = pid
        self._pos[pid] = self._n
        self._n += 1

    def update(self, pids: Iterable[int]) -> None:
        for pid in pids:
            self.add(pid)

    def discard(self, pid: int) -> None:
        pos = self._pos.pop(pid, None)
        if pos is None:
            return
        self._n -= 1
        last = int(self._ids[self._n])
        if last != pid:
            self._ids[pos] = last
            self._pos[last] = pos

    def array(self) -> np.ndarray:
        """The members as a read-only view (valid until the set next changes)."""
        view = self._ids[: self._n]
        view.flags.writeable = False
        return view


class People:
    """State of everyone in custody, as arrays indexed by person id.

    ``prison`` is -1 for ids not in use. Ids of people who leave are recycled, so
    the arrays stay about the size of the population however long the run
    (memory is flat over simulated years); ``generation`` tells a reused id from
    its earlier holder. Arrays grow by doubling when needed.
    """

    _FIELDS: ClassVar[dict[str, tuple[type, float]]] = {
        "generation": (np.int64, 0),  # times this id has been given to a new person
        "prison": (np.int64, -1),
        "birth": (np.float64, 0.0),  # simulated day of birth (negative for the stock)
        "female": (np.bool_, False),
        "level": (np.int8, 0),  # need level 0-3 (need.NONE ... need.HIGH)
        "dementia": (np.bool_, False),
        "np_hours": (np.float64, 0.0),  # non-personal need, hours per week
        "p_hours": (np.float64, 0.0),  # personal need, hours per week
        "state": (np.int8, 0),  # pathway state (pathway.NO_NEED ... pathway.PACKAGE)
        "package_hours": (np.float64, 0.0),  # personal care in the care plan, hours per week
        "wait_since": (np.float64, math.nan),  # day personal care became due and not provided
        "buddy": (np.bool_, False),
        "next_day": (np.float64, math.inf),  # day of the next lifecycle event (the calendar)
        "klass": (np.int8, 0),  # custody class (flows.REMAND ... flows.RECALL)
        "admitted": (np.float64, 0.0),  # simulated day of reception (negative for the stock)
        "willing_u": (np.float64, 1.0),  # fixed U(0,1) draw: willing to be a buddy if below the willing share
    }

    generation: np.ndarray
    prison: np.ndarray
    birth: np.ndarray
    female: np.ndarray
    level: np.ndarray
    dementia: np.ndarray
    np_hours: np.ndarray
    p_hours: np.ndarray
    state: np.ndarray
    package_hours: np.ndarray
    wait_since: np.ndarray
    buddy: np.ndarray
    release_day: np.ndarray
    death_day: np.ndarray
    need_day: np.ndarray
    dementia_day: np.ndarray
    transfer_day: np.ndarray
    next_day: np.ndarray
    klass: np.ndarray
    admitted: np.ndarray
    willing_u: np.ndarray

    def __init__(self, capacity: int, prisons: int) -> None:
        self.count = 0
        self.capacity = max(capacity, 16)
        for name, (dtype, fill) in self._FIELDS.items():
            setattr(self, name, np.full(self.capacity, fill, dtype=dtype))
        #: the days of each person's next death, release, transfer, change of need and dementia
        #: (columns, in that order of priority; ``inf`` if none), read together by the calendar:
        #: one row a person, so a batch's days are one gather of whole rows (hot path)
        self.event_days = np.full((self.capacity, len(EVENT_DAYS)), math.inf)
        self._name_event_days()
        self.free: list[int] = []  # ids of people who have left, for reuse
        self.in_prison = np.zeros(prisons, dtype=np.int64)  # people in custody per prison
        self.need_ids = IdSet(capacity // 8)  # people in custody with any need
        #: ids of people whose need, pathway state or prison changed, or who left, since the need
        #: totals last looked (need_totals.NeedLedger counts them again)
        self.need_touched: list[int] = []
        self.admissions = 0  # batches of new people so far (tells caches of ids they are stale)

    def _name_event_days(self) -> None:
        """Each column of :attr:`event_days` by its name (``death_day``, ...): views, no copies."""
        for column, name in enumerate(EVENT_DAYS):
            setattr(self, name, self.event_days[:, column])

    def new_ids(self, n: int) -> np.ndarray:
        """Ids for ``n`` new people: recycled ids first, then new ones."""
        self.admissions += 1
        reused = min(n, len(self.free))
        old = np.array(self.free[len(self.free) - reused :], dtype=np.int64)
        del self.free[len(self.free) - reused :]
        if reused:
            self.generation[old] += 1
            self.state[old] = 0
            self.package_hours[old] = 0.0
            self.buddy[old] = False
            self.event_days[old] = math.inf  # none of the last holder's events
        return np.concatenate([old, self._fresh_ids(n - reused)])

    def release_ids(self, ids: np.ndarray) -> None:
        """Mark ids as no longer in custody and free them for reuse."""
        self.prison[ids] = -1
        self.next_day[ids] = math.inf
        self.free.extend(ids.tolist())

    def release_id(self, pid: int) -> None:
        """:meth:`release_ids` for one id (hot path: a single prison's usual day)."""
        self.prison[pid] = -1
        self.next_day[pid] = math.inf
        self.free.append(pid)

    def _fresh_ids(self, n: int) -> np.ndarray:
        """Reserve ``n`` never-used ids, growing the arrays if needed."""
        needed = self.count + n
        if needed > self.capacity:
            new_capacity = max(needed, 2 * self.capacity)
            for name, (dtype, fill) in self._FIELDS.items():
                grown = np.full(new_capacity, fill, dtype=dtype)
                grown[: self.capacity] = getattr(self, name)
                setattr(self, name, grown)
            days = np.full((new_capacity, len(EVENT_DAYS)), math.inf)
            days[: self.capacity] = self.event_days
            self.event_days = days
            self._name_event_days()
            self.capacity = new_capacity
        ids = np.arange(self.count, needed)
        self.count = needed
        return ids

    def in_custody(self) -> np.ndarray:
        """Ids of everyone in custody."""
        return np.flatnonzero(self.prison[: self.count] >= 0)

    def members(self, prison: int) -> np.ndarray:
        """Ids of everyone in one prison."""
        return np.flatnonzero(self.prison[: self.count] == prison)


class Population:
    """The slow lane for people: who arrives, where they go, when they leave."""

    def __init__(
        self,
        env: simpy.Environment,
        cfg: Config,
        estate: Estate,
        people: People,
        need: NeedModel,
        streams: Streams,
        metrics: Metrics,
        report_start_day: float,
    ) -> None:
        self.env = env
        self.cfg = cfg.population
        self.initial_detected_share = cfg.pathway.initial_detected_share
        self.screening_sensitivity = cfg.pathway.screening_sensitivity
        self.kept_buddy_share = cfg.buddies.kept_on_transfer_share
        share, costs = cfg.population.end_of_life_nhs_share, cfg.costs
        #: Pounds per hour of end-of-life care, by :data:`_END_OF_LIFE_FLOWS` (hours: 1): the local
        #: authority's share at the home-care price, the NHS's at the healthcare hour.
        self.end_of_life_rates = np.array(
            [1.0, (1.0 - share) * costs.personal_care_hourly_cost, share * costs.healthcare_hourly_cost]
        )
        self.estate = estate
        self.people = people
        self.need = need
        self.people_rng = streams.generator("people")
        self.arrival_rng = streams.generator("arrivals")
        self.move_rng = streams.generator("moves")
        self.stock_rng = streams.generator("stock")
        self.release_rng = streams.generator("releases")
        self.willing_rng = streams.generator("willing")  # its own stream: the people stream stays as it was
        self.need_draw = streams["need"]
        self.metrics = metrics
        self.report_start_day = report_start_day
        self.hooks = LifecycleHooks()  # wired by the simulation
        self.release_planning = (
            cfg.pathway.release_referral_share,
            cfg.pathway.release_referral_lead_days,
            cfg.pathway.release_notice_days,
        )
        c = self.cfg
        self.type_weight = np.array(c.transfer_destination_weight.as_tuple())[estate.type]
        self.older_pull = np.where(estate.older_unit, c.older_unit_attraction, 1.0)
        self.is_local = estate.type == LOCAL
        women = estate.type == WOMEN
        everywhere = np.ones(estate.size, dtype=bool)
        self.for_women = women if women.any() else everywhere
        self.for_men = ~women if (~women).any() else everywhere
        self.has_locals = bool(self.is_local.any())
        self.np_table, self.p_table = need.hours_table()
        self.times = CustodyTimes(c)
        self.exit_rate = estate_exit_rate(cfg)
        self.flows = fit_flows(c, cfg.need, self.exit_rate)
        rr_level = np.array((1.0, *c.death_rr_by_level.as_tuple()))
        #: death hazard multiplier by [dementia, level]
        self.death_rr = np.vstack([rr_level, rr_level * c.death_rr_dementia])
        self._targets_day = -1
        self._capacity = estate.capacity.astype(float)
        self._floor = _HEADROOM_FLOOR * self._capacity  # places: the trickle a full prison still takes
        self._reachable = {
            (kind, older): self._reachable_prisons(kind, older)
            for kind in ("reception_m", "reception_f", "move_m", "move_f")
            for older in (False, True)
        }
        per_day = float(self.flows.rate.sum()) / DAYS_PER_YEAR  # receptions a day at the start
        days = math.ceil(_RECEPTIONS_PER_BLOCK / per_day) if per_day > 0 else _BLOCK_DAYS[1]
        self.block_days = min(max(days, _BLOCK_DAYS[0]), _BLOCK_DAYS[1])
        self._block_first_day = -self.block_days  # receptions drawn so far: none
        self._targets: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}

    # ---------------------------------------------------------------- timing helpers
    def trend_years(self, days: np.ndarray) -> np.ndarray:
        """Years of trend applied on each of ``days``: trends start when reporting starts and
        hold after ``population.trend_years``."""
        since = np.maximum(np.asarray(days, dtype=float) - self.report_start_day, 0.0) / DAYS_PER_YEAR
        return np.minimum(since, self.cfg.trend_years)

    def ages(self, ids: np.ndarray, now: float) -> np.ndarray:
        return (now - self.people.birth[ids]) / DAYS_PER_YEAR

    # ------------------------------------------------------------ where people go
    def _candidates(self, kind: str, older: bool) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative weights, prison ids) for receptions or moves; refreshed daily.

        kind: ``reception_m``, ``reception_f``, ``move_m`` or ``move_f``. Weights are
        free places (with a floor), times the type's pull for moves of men, times the
        pull of an older unit for people aged 60+; each kind's weights are taken at its
        first use of the day. Hot path: the prisons a kind can reach never change
        (:meth:`_reachable`), so a day's weights are a few operations on those alone.
        """
        day = math.floor(self.env.now)
        if day != self._targets_day:
            self._targets_day = day
            self._targets.clear()
        key = (kind, older)
        targets = self._targets.get(key)
        if targets is None:
            ids, type_weight, pull = self._reachable[key]
            weight = np.maximum(self._capacity[ids] - self.people.in_prison[ids], 0.0) + self._floor[ids]
            if type_weight is not None:
                weight = weight * type_weight
            if pull is not None:
                weight = weight * pull
            targets = self._targets[key] = (np.cumsum(weight), ids)
        return targets

    def _reachable_prisons(
        self, kind: str, older: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(prison ids, their type pulls or None, their older-unit pulls or None) a kind of
        arrival or move can go to: the prisons of the right sex (men's receptions: the locals,
        if any) with a positive weight. Free places plus the floor are positive wherever the
        capacity is, so a weight is positive exactly where capacity and pulls are (all are
        finite and at least 0: config ranges)."""
        cap = self.estate.capacity
        if kind.endswith("_f"):
            mask, type_weight = self.for_women, None
        elif kind == "reception_m" and self.has_locals:
            mask, type_weight = self.is_local, None
        else:
            mask, type_weight = self.for_men, self.type_weight
        reach = mask & (cap > 0)
        if type_weight is not None:
            reach &= type_weight > 0
        if older:
            reach &= self.older_pull > 0
        ids = np.flatnonzero(reach)
        return ids, None if type_weight is None else type_weight[ids], self.older_pull[ids] if older else None

    def _pick(self, kind: str, older: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Prison for each person (vectorised), or -1 where there is no candidate. Hot path:
        each age group's pick is made for everyone and the right one kept (the same
        per-person arithmetic as picking each group apart, in half the numpy calls)."""
        n_older = int(np.count_nonzero(older))
        if n_older in (0, len(u)):  # all of one age group (a single prison's usual day)
            return self._pick_all(*self._candidates(kind, n_older > 0), u)
        younger = self._pick_all(*self._candidates(kind, False), u)
        return np.where(older, self._pick_all(*self._candidates(kind, True), u), younger)

    @staticmethod
    def _pick_all(cumulative: np.ndarray, ids: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The prison each uniform in ``u`` picks by the cumulative weights (-1 if none)."""
        if len(ids) == 0:
            return np.full(len(u), -1, dtype=np.int64)
        idx = np.searchsorted(cumulative, u * cumulative[-1], side="right")
        return ids[np.minimum(idx, len(ids) - 1)]

    def _destinations(self, ids: np.ndarray, now: float) -> np.ndarray:
        """Destination prison of each mover; -1 where the estate has nowhere else."""
        dest = np.full(len(ids), -1, dtype=np.int64)
        if self.estate.size == 1:  # a single prison: every move leaves the estate (no draws)
            return dest
        people = self.people
        women = people.female[ids]
        n_women = int(np.count_nonzero(women))
        older_all = self.ages(ids, now) >= 60.0
        for female, count in ((False, len(ids) - n_women), (True, n_women)):
            if not count:
                continue
            # everyone of one sex (hot path): no selecting
            sel = slice(None) if count == len(ids) else women if female else ~women
            kind = "move_f" if female else "move_m"
            current, older = people.prison[ids[sel]], older_all[sel]
            d = self._pick(kind, older, self.move_rng.random(count))
            for _ in range(3):  # redraw those who drew their own prison
                same = d == current
                if not same.any():
                    break
                d[same] = self._pick(kind, older[same], self.move_rng.random(int(same.sum())))
            for group in (False, True):  # both age groups' weights are of the same free places today
                self._candidates(kind, group)
            same = d == current
            if same.any():  # (rare) still their own prison: nowhere else if it is the only one
                few = {o: len(self._reachable[kind, o][0]) <= 1 for o in (False, True)}
                alone = np.where(older, few[True], few[False])
                d = np.where(same & alone, -1, d)
            dest[sel] = d
        return dest

    def _transfer_delays(
        self,
        prisons: np.ndarray,
        release_day: np.ndarray,
        now: float | np.ndarray,
        exp: np.ndarray | None = None,
    ) -> np.ndarray:
        """Days until each person's next move out of their prison, from a unit exponential each
        (``exp``; drawn from the moves stream if not given). ``now``: today, or each person's
        day of arrival."""
        c = self.cfg
        if exp is None:
            exp = self.move_rng.standard_exponential(len(prisons))
        general = (
            exp * (DAYS_PER_YEAR / c.transfer_rate_per_year)
            if c.transfer_rate_per_year > 0
            else np.full(len(prisons), math.inf)
        )
        if not self.has_locals:
            return general
        onward = self.is_local[prisons] & (release_day - now > c.local_max_stay_days)
        return np.where(onward, exp * c.local_transfer_days_mean, general)

    # ------------------------------------------------------------------ the stock
    def create_stock(self) -> None:
        """Create the day-0 population as the steady state of the fitted flows.

        Each person's cell (age band at reception, custody class) is drawn in proportion to
        that cell's steady-state stock (receptions x mean stay); within the cell, their stay
        is drawn length-biased (people found in prison on a given day are those with longer
        stays) and the time already served uniformly within it. Need is then the history of
        arrival need, onset, worsening and dementia over the time already served, so the
        day-0 need mix is the one the flows produce.
        """
        c = self.cfg
        rng = self.stock_rng
        n = c.initial_population
        if n <= 0:
            return
        drawn = sample_stock(self.flows, self.times, c.female_share, n, rng, block=_STOCK_BLOCK)
        start, female, klass, served = drawn.start, drawn.female, drawn.klass, drawn.served
        remaining = drawn.stay - served
        level, dementia = self.need.history(rng, start, served / DAYS_PER_YEAR)
        age = start + served / DAYS_PER_YEAR
        known = rng.random(n) < self.initial_detected_share
        exp = rng.standard_exponential((n, 3))
        prison = self._stock_prisons(rng, age, female, remaining)
        ids = self.people.new_ids(n)
        self._record(
            ids,
            self._newcomers(age, female, remaining, level, dementia, klass, served, exp),
            self.env.now,
        )
        self._place(ids, prison, known, reception=False)

    def _levels(self, has_need: np.ndarray, dementia: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self.need.arrival_levels(has_need, dementia, u)

    def _stock_prisons(
        self, rng: np.random.Generator, age: np.ndarray, female: np.ndarray, remaining: np.ndarray
    ) -> np.ndarray:
        """Day-0 prison of each person: short remaining stays in locals, the rest in
        training prisons, older people drawn to prisons with an older unit."""
        cap = self.estate.capacity.astype(float)
        short = remaining <= self.cfg.local_max_stay_days
        groups = [
            (female, self.for_women, 1.0),
            (~female & short, self.is_local if self.has_locals else self.for_men, 1.0),
            (~female & ~short & (age < 60), self.for_men, self.type_weight),
            (~female & ~short & (age >= 60), self.for_men, self.type_weight * self.older_pull),
        ]
        prison = np.zeros(len(age), dtype=np.int64)
        for members, mask, extra in groups:
            if not members.any():
                continue
            weight = np.where(mask, cap, 0.0) * extra
            if weight.sum() <= 0:
                weight = np.where(mask, cap, 0.0)
            prison[members] = rng.choice(len(cap), size=int(members.sum()), p=weight / weight.sum())
        return prison

    # ------------------------------------------------------------------- receptions
    def reception_rates(self, days: np.ndarray) -> np.ndarray:
        """Receptions a year by [day, age band, class] on each of ``days``, with the
        scenario's trends.

        All receptions grow at ``receptions_growth_per_year``; those aged 50+ on long or
        indeterminate terms grow by ``older_long_receptions_growth_per_year`` on top.
        """
        c = self.cfg
        years = self.trend_years(days)
        rates = self.flows.rate[None] * ((1.0 + c.receptions_growth_per_year) ** years)[:, None, None]
        if c.older_long_receptions_growth_per_year:
            grow = np.where(years > 0, (1.0 + c.older_long_receptions_growth_per_year) ** years, 1.0)
            rates[:, BAND_50_59:, LONG_CLASSES] *= grow[:, None, None]
        return rates

    def _draw_receptions(self, first_day: int) -> None:
        """Draw the receptions of the next :attr:`block_days` days, and everything
        about each person that does not depend on the day they arrive (hot path: one set of
        numpy calls a block instead of one a day).

        Each day's count is Poisson at that day's rates (with the scenario's trends), so the
        counts are those a day-by-day draw makes; the people are admitted on their day.
        """
        c = self.cfg
        rng = self.people_rng
        days = np.arange(first_day, first_day + self.block_days, dtype=float)
        cumulative = np.cumsum(self.reception_rates(days).reshape(len(days), -1), axis=1)  # (days, cells)
        per_day = cumulative[:, -1] / DAYS_PER_YEAR
        counts = self.arrival_rng.poisson(np.maximum(per_day, 0.0))
        n = int(counts.sum())
        day = np.repeat(np.arange(len(days)), counts)
        u = rng.random((n, _UNIFORMS_PER_PERSON))
        exp = rng.standard_exponential((n, 3))
        # cell (age band, class) of each person at their day's rates: searchsorted(side="right") row-wise
        below = cumulative[day] <= (u[:, 0] * cumulative[day, -1])[:, None]
        cell = np.minimum(below.sum(axis=1), cumulative.shape[1] - 1)
        band, klass = np.divmod(cell, N_CLASSES)
        age = ages_in_band(band, u[:, 1])
        female = u[:, 2] < c.female_share
        stay = self.times.draw(klass, female, u[:, 8], u[:, 9])
        if c.long_time_served_stretch_per_year:
            years = self.trend_years(first_day + day)
            stretch = (1.0 + c.long_time_served_stretch_per_year) ** years
            stay = np.where(LONG_CLASSES[klass], stay * stretch, stay)
        factor = self.need.cfg.arrival_prevalence_factor
        dementia = u[:, 3] < self.need.dementia_prevalence(age) * factor
        has_need = dementia | (u[:, 4] < np.array(self.need.stock_prevalence)[band] * factor)
        level = self._levels(has_need, dementia, u[:, 5])
        self._block_first_day = first_day
        self._block_offsets = np.concatenate([[0], np.cumsum(counts)]).tolist()
        self._block_pick_u = u[:, 7]
        self._block_female = female
        self._block_older = age >= 60
        self._block_known = u[:, 6] < self.screening_sensitivity
        self._block_ids = ids = self.people.new_ids(n)  # held, not yet in custody, until their day
        self._record(
            ids,
            self._newcomers(age, female, stay, level, dementia, klass, np.zeros(n), exp),
            first_day + day,
        )
        self._block_next = self._next_event_day(ids)  # all but the transfer, set on arrival
        self._block_move_exp = self.move_rng.standard_exponential(n)  # for the first transfer
        if self.estate.size == 1:  # one prison: each arrival's first move and each day's counts known now
            admitted = first_day + day  # (whole days: each person's "now" on their day)
            release, prison = self.people.release_day[ids], np.zeros(n, np.int64)
            delays = self._transfer_delays(prison, release, admitted, self._block_move_exp)
            self._block_transfer = admitted + delays
            self._block_flows = _reception_flows(day, klass == RECALL, level != NONE, len(days))[:, None]

    def _receive(self, day: int) -> None:
        """Admit the receptions drawn for ``day``, each to a prison chosen today (hot path:
        once a day)."""
        k = day - self._block_first_day
        first, last = self._block_offsets[k], self._block_offsets[k + 1]
        if first == last:
            return
        rows = slice(first, last)
        if self.estate.size == 1 and last - first == 1:  # one prison's usual day: one reception
            self._admit_one_to_one_prison(first, k)
            return
        if self.estate.size == 1:  # a single prison takes everyone (no choice to make)
            self._place(
                self._block_ids[rows],
                np.zeros(last - first, dtype=np.int64),
                self._block_known[rows],
                reception=True,
                nxt=self._block_next[rows],
                transfer=self._block_transfer[rows],
                flows=self._block_flows[k],
            )
            return
        u, older, female = self._block_pick_u[rows], self._block_older[rows], self._block_female[rows]
        prison = np.empty(last - first, dtype=np.int64)
        if female.any():
            prison[female] = self._pick("reception_f", older[female], u[female])
        if not female.all():
            male = ~female
            prison[male] = self._pick("reception_m", older[male], u[male])
        self._place(
            self._block_ids[rows],
            prison,
            self._block_known[rows],
            reception=True,
            nxt=self._block_next[rows],
            move_exp=self._block_move_exp[rows],
        )

    def _admit_one_to_one_prison(self, row: int, k: int) -> None:
        """:meth:`_place` for one reception (row ``row`` of the block, on its day ``k``) into a
        single-prison estate, in Python numbers (hot path: the numpy calls of a batch cost
        several times this). It writes and adds what the batch would, in the same order."""
        people, now = self.people, self.env.now
        pid = int(self._block_ids[row])
        transfer = float(self._block_transfer[row])
        people.prison[pid] = 0
        people.transfer_day[pid] = transfer
        people.in_prison[0] += 1
        needy = bool(people.level[pid] != NONE)
        if needy:
            people.need_ids.add(pid)
            people.need_touched.append(pid)
        self.metrics.add_block(now, _RECEPTION_FLOWS, self._block_flows[k])
        if needy:
            self.hooks.on_arrival(pid, bool(self._block_known[row]))
        people.next_day[pid] = min(float(self._block_next[row]), transfer)

    def _newcomers(
        self,
        age: np.ndarray,
        female: np.ndarray,
        stay: np.ndarray,
        level: np.ndarray,
        dementia: np.ndarray,
        klass: np.ndarray,
        served: np.ndarray,
        exp: np.ndarray,
    ) -> Newcomers:
        """People about to be admitted, with each one's willingness draw and the days from
        admission to their death, next change of need and dementia (``inf`` for those who have
        it), from ``exp``: three unit exponentials a person."""
        need = self.need
        return Newcomers(
            age=age,
            female=female,
            stay=stay,
            level=level,
            dementia=dementia,
            klass=klass.astype(np.int8),
            served=served,
            willing=self.willing_rng.random(len(age)),
            death_delay=self._death_delays(age, exp[:, 0], self.death_rr[dementia.astype(np.int64), level]),
            need_delay=np.where(
                level == NONE,
                need.onset_delay_days(age, exp[:, 1]),
                need.worsening_delay_days(level, exp[:, 1]),
            ),
            dementia_delay=np.where(dementia, math.inf, need.dementia_delay_days(age, exp[:, 2])),
        )

    def _record(self, ids: np.ndarray, new: Newcomers, admitted_on: float | np.ndarray) -> None:
        """Write down who the people ``ids`` are and the days of their release, death and
        changes of need, counted from ``admitted_on`` (each person's day of admission). They
        are in custody once :meth:`_place` puts them in a prison."""
        people = self.people
        level, dementia = new.level, new.dementia
        people.klass[ids] = new.klass
        people.admitted[ids] = admitted_on - new.served
        people.willing_u[ids] = new.willing
        people.birth[ids] = admitted_on - new.age * DAYS_PER_YEAR
        people.female[ids] = new.female
        people.release_day[ids] = admitted_on + new.stay
        people.level[ids] = level
        people.dementia[ids] = dementia
        dem = dementia.astype(np.int64)
        p_hours = self.p_table[dem, level]
        people.np_hours[ids] = self.np_table[dem, level]
        people.p_hours[ids] = p_hours
        people.wait_since[ids] = np.where(p_hours > 0, admitted_on, math.nan)
        people.death_day[ids] = admitted_on + new.death_delay
        people.need_day[ids] = admitted_on + new.need_delay
        people.dementia_day[ids] = admitted_on + new.dementia_delay

    def _place(
        self,
        ids: np.ndarray,
        prison: np.ndarray,
        known: np.ndarray,
        *,
        reception: bool,
        nxt: np.ndarray | None = None,
        move_exp: np.ndarray | None = None,
        transfer: np.ndarray | None = None,
        flows: np.ndarray | None = None,
    ) -> None:
        """Admit the recorded people ``ids`` to ``prison`` (one each) today: draw their first
        transfer, count them in, tell the pathway of those with need (``known``: their need is
        known on arrival) and schedule their next event (``nxt``: the earliest of release,
        death and need changes, if already known; ``move_exp``: unit exponentials for the first
        transfer, if already drawn; ``transfer``: the day of that transfer and ``flows``: the
        receptions' counts (prisons x reception flows), if already known). Hot path: once a day
        with receptions."""
        people, now, size = self.people, self.env.now, self.estate.size
        people.prison[ids] = prison
        if transfer is None:
            transfer = now + self._transfer_delays(prison, people.release_day[ids], now, move_exp)
        people.transfer_day[ids] = transfer
        arrived = np.bincount(prison, minlength=size)
        people.in_prison += arrived
        needy = people.level[ids] != NONE
        with_need = ids[needy]
        if len(with_need):  # need totals change only if someone with need arrived
            arrived_need = with_need.tolist()
            people.need_ids.update(arrived_need)
            people.need_touched.extend(arrived_need)
        if reception:
            if flows is None:
                flows = _reception_flows(prison, people.klass[ids] == RECALL, needy, size)
            self.metrics.add_block(now, _RECEPTION_FLOWS, flows)
        settle = self.hooks.on_arrival if reception else self.hooks.on_stock
        for pid, is_known in zip(with_need.tolist(), known[needy].tolist(), strict=True):
            settle(pid, is_known)
        self._schedule(ids, None if nxt is None else np.minimum(nxt, transfer))

    def _death_delays(self, age: np.ndarray, e: np.ndarray, rr: np.ndarray) -> np.ndarray:
        """Days to a natural death: Gompertz in age, times the relative risk of need."""
        c = self.cfg
        return gompertz_delay_days(
            c.death_hazard_at_50_per_year, c.death_hazard_growth_per_year_of_age, age, 50.0, e / rr
        )

    # ------------------------------------------------------------------ the calendar
    def _next_event_day(self, ids: np.ndarray) -> np.ndarray:
        """Simulated day (float) of each person's next lifecycle event (hot path)."""
        return self.people.event_days[ids].min(axis=1)

    def _schedule(self, ids: np.ndarray, nxt: np.ndarray | None = None) -> None:
        """Set each person's next lifecycle event day (``nxt`` if already known)."""
        self.people.next_day[ids] = self._next_event_day(ids) if nxt is None else nxt

    def daily(self) -> Generator[simpy.Event, None, None]:
        """Once a simulated day: receptions, then every lifecycle event due that day.

        Hot path: the day's calendar is one vectorised comparison of everyone's next event
        day with the day's end (about 0.1 ms for 130,000 ids, where filing each person
        under a day in a dict cost about 0.5 ms a national day).
        """
        env, people = self.env, self.people
        day = int(env.now)
        while True:
            now = env.now
            if day >= self._block_first_day + self.block_days:
                self._draw_receptions(day)
            self._receive(day)
            end = day + 1.0
            due = np.flatnonzero(people.next_day[: people.count] < end)
            while len(due):
                due = self._resolve(due, end, now)
            day += 1
            yield env.timeout(day - env.now)

    def _resolve(self, ids: np.ndarray, end: float, now: float) -> np.ndarray:
        """Handle each person's due event; return those with another event due today.

        Order when several fall due on one day: death, release, transfer, need, dementia
        (the columns of :attr:`People.event_days`; hot path: one gather and one comparison, or
        for one person, the usual case in a small estate, five Python floats).
        """
        p = self.people
        refusals = self.cfg.older_indeterminate_parole_refusal > 0 and now >= self.report_start_day
        one = len(ids) == 1
        if one and not refusals:
            return self._resolve_one(int(ids[0]), ids, end, now)
        if one:
            first = _first_due(p.event_days[ids[0]].tolist(), end)
            kind = np.array([first])
        else:
            due = p.event_days[ids] < end
            kind = np.where(due.any(axis=1), due.argmax(axis=1), _NOTHING_DUE)  # first due, by priority
        if refusals:
            refused = self._parole_refused(ids, kind == _RELEASE, now)
            if refused.any():  # a refused release: the next event due today, if any
                later = p.event_days[ids[refused], _TRANSFER:] < end  # events the refusal left alone
                kind[refused] = np.where(later.any(axis=1), _TRANSFER + later.argmax(axis=1), _NOTHING_DUE)
                one = False  # (rare) the vectorised path from here
        if one:
            counts = [0] * (_NOTHING_DUE + 1)
            counts[first] = 1
        else:
            counts = np.bincount(kind, minlength=_NOTHING_DUE + 1).tolist()  # people by what falls due
        if counts[_DEATH]:
            self._leave(ids[kind == _DEATH], Flow.DEATHS, now)
        if counts[_RELEASE]:
            self._leave(ids[kind == _RELEASE], Flow.RELEASES, now)
        if counts[_TRANSFER]:
            self._move(ids[kind == _TRANSFER], now)
        if counts[_NEED]:
            for pid in ids[kind == _NEED].tolist():
                p.need_day[pid] = now + self._need_changes(pid, now)
        if counts[_DEMENTIA]:
            for pid in ids[kind == _DEMENTIA].tolist():
                p.dementia_day[pid] = math.inf
                self._dementia_starts(pid, now)
        if one:  # the same as below, for one person
            pid = int(ids[0])
            if first < _TRANSFER or p.prison[pid] < 0:
                return ids[:0]
            nxt = min(p.event_days[pid].tolist())
            p.next_day[pid] = nxt
            return ids if nxt < end else ids[:0]
        rest = ids[(kind >= _TRANSFER) & (p.prison[ids] >= 0)]
        nxt = self._next_event_day(rest)
        self._schedule(rest, nxt)
        return rest[nxt < end]

    def _resolve_one(self, pid: int, ids: np.ndarray, end: float, now: float) -> np.ndarray:
        """:meth:`_resolve` for one person (``ids`` holds just ``pid``) when no parole board
        sits: the first event due, taken straight to its handler (hot path: the usual case in
        a small estate; the same handlers, in the same order, as the batch)."""
        p = self.people
        first = _first_due(p.event_days[pid].tolist(), end)
        if first == _DEATH:
            self._leave(ids, Flow.DEATHS, now)
        elif first == _RELEASE:
            self._leave_one(pid, Flow.RELEASES, now)
        elif first == _TRANSFER:
            self._move(ids, now)
        elif first == _NEED:
            p.need_day[pid] = now + self._need_changes(pid, now)
        elif first == _DEMENTIA:
            p.dementia_day[pid] = math.inf
            self._dementia_starts(pid, now)
        if first < _TRANSFER or p.prison[pid] < 0:  # gone (or nothing more today)
            return ids[:0]
        nxt = min(p.event_days[pid].tolist())
        p.next_day[pid] = nxt
        return ids if nxt < end else ids[:0]

    def _parole_refused(self, ids: np.ndarray, released: np.ndarray, now: float) -> np.ndarray:
        """Indeterminate prisoners aged 60+ whose due release the parole board refuses; their
        next review is ``parole_review_days`` away. Returns the refused (mask over ``ids``)."""
        p, c = self.people, self.cfg
        eligible = released & (p.klass[ids] == INDETERMINATE) & (self.ages(ids, now) >= 60.0)
        refused = np.zeros(len(ids), dtype=bool)
        if eligible.any():
            idx = np.flatnonzero(eligible)
            refused[idx] = self.release_rng.random(len(idx)) < c.older_indeterminate_parole_refusal
            p.release_day[ids[refused]] = now + c.parole_review_days
            self.metrics.add_vector(
                now, Flow.PAROLE_REFUSALS, np.bincount(p.prison[ids[refused]], minlength=self.estate.size)
            )
        return refused

    # ---------------------------------------------------------------- leaving, moving
    def _leave(self, ids: np.ndarray, how: int, now: float) -> None:
        """People leave custody (``how``: the flow that counts them); hot path: a few times a
        day, each a handful of numpy calls and one update of the month's flows."""
        if len(ids) == 0:
            return
        if len(ids) == 1 and how != Flow.DEATHS:
            self._leave_one(int(ids[0]), how, now)
            return
        p, n = self.people, self.estate.size
        prisons = p.prison[ids]
        left = np.bincount(prisons, minlength=n)
        with_need = p.level[ids] != NONE
        if how == Flow.DEATHS:
            counts = np.empty((n, 3))
            counts[:, 0] = left
            counts[:, 1] = np.bincount(prisons, weights=self.ages(ids, now), minlength=n)
            counts[:, 2] = np.bincount(prisons[with_need], minlength=n)
            self.metrics.add_block(now, _DEATH_FLOWS, counts)
            self._end_of_life(ids, now)
        elif how == Flow.RELEASES:
            det = _DETERMINATE[p.klass[ids]]
            counts = np.empty((n, 3))
            counts[:, 0] = left
            counts[:, 1] = np.bincount(prisons[det], minlength=n)
            counts[:, 2] = np.bincount(prisons[det], weights=now - p.admitted[ids[det]], minlength=n)
            self.metrics.add_block(now, _RELEASE_FLOWS, counts)
            if with_need.any():
                self._release_planning(ids[with_need], now)
        else:
            self.metrics.add_vector(now, how, left)
        for pid in ids[p.buddy[ids]].tolist():
            self.hooks.lose_buddy(pid, now, moved=True)
        if with_need.any():
            left_need = ids[with_need].tolist()
            for pid in left_need:
                self.hooks.on_leave(pid)
                p.need_ids.discard(pid)
            p.need_touched.extend(left_need)
        p.in_prison -= left
        p.release_ids(ids)

    def _leave_one(self, pid: int, how: int, now: float) -> None:
        """:meth:`_leave` for one person who did not die, in Python numbers (hot path: in one
        prison most days release one person or see one leave the estate, and the batch's
        numpy calls cost several times this). Each flow the batch adds a non-zero number to gets
        the same number, in the same order; the batch's zeros (a prison's determinate releases
        when the person's term was not determinate) change no total, so the totals are the
        same to the bit."""
        p, metrics = self.people, self.metrics
        prison = int(p.prison[pid])
        has_need = bool(p.level[pid] != NONE)
        metrics.add(now, prison, how)
        if how == Flow.RELEASES:
            if _DETERMINATE[p.klass[pid]]:
                metrics.add(now, prison, Flow.RELEASES_DETERMINATE)
                metrics.add(now, prison, Flow.DETERMINATE_SERVED_DAYS, now - float(p.admitted[pid]))
            if has_need:
                self._release_planning(np.array([pid]), now)
        if p.buddy[pid]:
            self.hooks.lose_buddy(pid, now, moved=True)
        if has_need:
            self.hooks.on_leave(pid)
            p.need_ids.discard(pid)
            p.need_touched.append(pid)
        p.in_prison[prison] -= 1
        p.release_id(pid)

    def _end_of_life(self, dead: np.ndarray, now: float) -> None:
        """Count the end-of-life care given before natural deaths with high need or dementia:
        ``end_of_life_hours_per_week`` over the last ``end_of_life_days`` (or the time in
        custody, if shorter), booked in the month of the death, and its cost: the NHS pays
        ``end_of_life_nhs_share`` of the hours (healthcare hour), the local authority the rest
        (home-care price)."""
        p, c = self.people, self.cfg
        eol = dead[(p.level[dead] == HIGH) | p.dementia[dead]]
        if len(eol) == 0 or c.end_of_life_hours_per_week <= 0:
            return
        days = np.minimum(c.end_of_life_days, now - p.admitted[eol])
        hours = c.end_of_life_hours_per_week * days / 7.0
        by_prison = np.bincount(p.prison[eol], weights=hours, minlength=self.estate.size)
        self.metrics.add_block(now, _END_OF_LIFE_FLOWS, by_prison[:, None] * self.end_of_life_rates)

    def _release_planning(self, ids: np.ndarray, now: float) -> None:
        """Releases of people with a care need, and those not referred to the receiving local
        authority in time: a referral needs the need known to the prison, notice of the
        release at least the lead time, and a prison that makes such referrals (a share).
        The release date of a determinate sentence is known from reception; the other
        classes learn it ``release_notice_days`` ahead."""
        p, n = self.people, self.estate.size
        share, lead, notice_cfg = self.release_planning
        klass = p.klass[ids]
        in_custody = now - p.admitted[ids]
        notice = np.where(
            klass == REMAND,
            notice_cfg.remand,
            np.where(
                klass == INDETERMINATE,
                notice_cfg.indeterminate,
                np.where(klass == RECALL, notice_cfg.recall, np.inf),
            ),
        )
        notice = np.minimum(notice, in_custody)
        known = p.state[ids] >= DETECTED
        planned = known & (notice >= lead) & (self.release_rng.random(len(ids)) < share)
        prisons = p.prison[ids]
        self.metrics.add_vector(now, Flow.RELEASES_WITH_NEED, np.bincount(prisons, minlength=n))
        self.metrics.add_vector(now, Flow.RELEASES_WITHOUT_PLAN, np.bincount(prisons[~planned], minlength=n))

    def _move(self, ids: np.ndarray, now: float) -> None:
        p, n = self.people, self.estate.size
        if n == 1 and len(ids) == 1:  # one prison's usual day: one person leaves the estate
            self._move_out_of_one_prison(int(ids[0]), now)
            return
        dest = self._destinations(ids, now)
        held = p.buddy[ids] & (self.move_rng.random(len(ids)) < self.kept_buddy_share)
        dest = np.where(held, p.prison[ids], dest)  # the prison keeps its buddy
        placed = dest >= 0
        if not placed.all():
            self._leave(ids[~placed], Flow.LEFT_ESTATE, now)
            if not placed.any():  # everyone left the estate (always, in a single prison)
                return
        go = placed & (dest != p.prison[ids])
        movers, dest_go = ids[go], dest[go]
        if len(movers):
            src = p.prison[movers]
            self.metrics.add_vector(now, Flow.TRANSFERS_OUT, np.bincount(src, minlength=n))
            self.metrics.add_vector(now, Flow.TRANSFERS_IN, np.bincount(dest_go, minlength=n))
            for pid in movers[p.buddy[movers]].tolist():
                self.hooks.lose_buddy(pid, now, moved=True)
            p.in_prison += np.bincount(dest_go, minlength=n) - np.bincount(src, minlength=n)
            p.prison[movers] = dest_go
            moved_need = movers[p.level[movers] != NONE].tolist()
            for pid in moved_need:
                self.hooks.on_transfer(pid)
            p.need_touched.extend(moved_need)  # need totals change only if someone with need moved
        stay = ids[placed]
        p.transfer_day[stay] = now + self._transfer_delays(p.prison[stay], p.release_day[stay], now)

    def _move_out_of_one_prison(self, pid: int, now: float) -> None:
        """:meth:`_move` for one person in a single-prison estate, where a move leaves the
        estate unless the prison keeps its buddy (the same draw, from the same stream)."""
        p = self.people
        u = float(self.move_rng.random(1)[0])  # drawn for everyone, as the batch draws it
        held = bool(p.buddy[pid]) and u < self.kept_buddy_share
        if not held:
            self._leave_one(pid, Flow.LEFT_ESTATE, now)
            return
        stay = np.array([pid])
        p.transfer_day[stay] = now + self._transfer_delays(p.prison[stay], p.release_day[stay], now)

    # ------------------------------------------------------------------------- need
    def _set_level(self, pid: int, level: int, dementia: bool, now: float) -> None:
        """Set a person's need level and hours; mark personal care as due if it is."""
        people = self.people
        old_rr = self.death_rr[int(people.dementia[pid]), int(people.level[pid])]
        people.level[pid] = level
        people.dementia[pid] = dementia
        np_h, p_h = self.need.hours[int(dementia)][level]
        new_rr = self.death_rr[int(dementia), level]
        people.death_day[pid] = self._rescaled_death_day(pid, now, old_rr / new_rr)
        people.np_hours[pid] = np_h
        people.p_hours[pid] = p_h
        if p_h > 0.0 and math.isnan(people.wait_since[pid]) and people.package_hours[pid] <= 0.0:
            people.wait_since[pid] = now
        people.need_ids.add(pid)
        people.need_touched.append(pid)

    def _rescaled_death_day(self, pid: int, now: float, ratio: float) -> float:
        """Day of death after the death hazard from ``now`` on is divided by ``ratio`` (old
        relative risk / new one).

        The death day was drawn by inverting the cumulative Gompertz hazard at a unit
        exponential; the hazard still to run before death is kept and spent at the new rate,
        which is exact and draws no random number (so common random numbers stay aligned).
        """
        c, people = self.cfg, self.people
        old = float(people.death_day[pid])
        if not math.isfinite(old) or ratio == 1.0:
            return old
        growth = c.death_hazard_growth_per_year_of_age
        now_age = (now - people.birth[pid]) / DAYS_PER_YEAR
        old_age = (old - people.birth[pid]) / DAYS_PER_YEAR
        if growth == 0.0:
            return now + ratio * (old - now)
        left = ratio * (math.exp(growth * (old_age - now_age)) - 1.0)  # in units of exp(g x now_age)
        return now + DAYS_PER_YEAR * math.log1p(left) / growth

    def _need_changes(self, pid: int, now: float) -> float:
        """A new need arises or an existing one worsens; returns days to the next change."""
        people = self.people
        level = int(people.level[pid])
        dementia = bool(people.dementia[pid])
        if level == NONE:
            level = self.need.level_at_onset(self.need_draw.uniform())
            self._onset(pid, level, dementia, now)
        else:
            level += 1
            self._set_level(pid, level, dementia, now)
            self.hooks.on_need_change(pid)
        return self.need.worsening_delay_day(level, self.need_draw.exponential())

    def _onset(self, pid: int, level: int, dementia: bool, now: float) -> None:
        self.metrics.add(now, int(self.people.prison[pid]), Flow.NEED_ONSETS)
        if self.people.buddy[pid]:
            self.hooks.lose_buddy(pid, now, moved=False)
        self._set_level(pid, level, dementia, now)
        self.hooks.on_need_onset(pid)

    def _dementia_starts(self, pid: int, now: float) -> None:
        level = int(self.people.level[pid])
        new_level = self.need.level_with_dementia(level)
        if level == NONE:
            self._onset(pid, new_level, True, now)
        else:
            self._set_level(pid, new_level, True, now)
            self.hooks.on_need_change(pid)

"""Need totals: what the care lane reads of everyone's need, prison by prison.

An unlock window needs, for each prison, the hours of need by kind of task (known to the
prison or not, covered by a package or not), how many people have need and how many wait
for personal care, and since when. Each person with need falls in one cell: a prison and
one of 32 categories (known, with a package, personal need, non-personal need, aged 50+).
A total adds up cells.

There are two ways to the same totals:

- :func:`packed_need_totals` counts everyone with need afresh (tests and checks);
- :class:`NeedLedger` keeps each cell's sums up to date: on a day when someone's need,
  pathway state or prison changed, only those people (and anyone who turned 50 since) are
  taken out of the cell they were counted in and put in the one they are in now.

Both add fixed-point numbers: each person's hours are rounded to a multiple of 2^-32 hours
and the day their wait began to a multiple of 2^-24 days before they are added. Sums of
such numbers are exact in a float while they stay below 2^21 hours a week (2 million) and
2^29 days in one prison, so the order in which people are added and taken away does not
change a total by a single bit: the ledger equals the recount exactly (a test checks it
every day of a run).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from .need import NONE
from .pathway import DETECTED, PACKAGE

if TYPE_CHECKING:
    from ..config import CareConfig
    from .population import People


@dataclass
class NeedTotals:
    """Per-prison totals of need in custody (hours per week, people, days)."""

    np_known: np.ndarray  # non-personal hours of people known to the prison
    np_unknown: np.ndarray  # non-personal hours of people not known
    p_planned: np.ndarray  # personal hours covered by a care package
    p_unplanned_pkg: np.ndarray  # personal hours above the package (need grew since review)
    p_no_package: np.ndarray  # personal hours of people without a package
    people_np_only: np.ndarray  # people with non-personal need only
    people_personal: np.ndarray  # people with personal need
    people_waiting: np.ndarray  # people with personal need and no package
    wait_since_sum: np.ndarray  # sum over waiting people of the day care became due
    np_recipients: np.ndarray  # people with non-personal need
    cellmate_helpers: np.ndarray  # expected cell-mates who help them (people)


#: The fields of :class:`NeedTotals`, in order (the rows of a packed array of totals).
TOTALS = tuple(f.name for f in fields(NeedTotals))
#: Entries in the heap of birth days before it is first compacted.
_COMPACT_FROM = 4096
#: Bits of a person's need category.
_KNOWN, _PACKAGE, _PERSONAL, _NONPERSONAL, _OLDER = 1, 2, 4, 8, 16
_CATEGORIES = 32
#: Age from which a recipient counts as older for cell-sharing (days).
_OLDER_AGE_DAYS = 50.0 * 365.0
#: Fixed-point steps of hours (per week) and of days (see the module's docstring).
_HOUR_STEP = 2.0**-32
_DAY_STEP = 2.0**-24
#: What each person adds to their cell, one row each: non-personal hours, personal hours,
#: personal hours within the package, personal hours above it, the day a wait for personal
#: care began (waiting people only) and one person.
_SUMS = 6
_SUM_ROW_OFFSETS = np.arange(_SUMS)[:, None]
#: The known and package bits of each pathway state (index: state).
_STATE_BITS = np.array(
    [_KNOWN * (state >= DETECTED) + _PACKAGE * (state == PACKAGE) for state in range(PACKAGE + 1)],
    dtype=np.int8,
)


def _categories_with(*bits: int, without: int = 0) -> np.ndarray:
    """1.0 for each category that has all of ``bits`` and none of ``without``, else 0.0."""
    category = np.arange(_CATEGORIES)
    wanted = sum(bits)
    return (((category & wanted) == wanted) & ((category & without) == 0)).astype(float)


#: Which categories the totals add up: one column per kind of sum, so that one matrix product
#: gives every sum of every row of :data:`_SUMS` (most of them unused; cheaper than several).
_COLUMNS = np.stack(
    [
        _categories_with(_KNOWN),  # 0
        _categories_with(without=_KNOWN),  # 1
        _categories_with(_PACKAGE),  # 2
        _categories_with(without=_PACKAGE),  # 3
        _categories_with(),  # 4: all
        _categories_with(_NONPERSONAL, without=_PERSONAL),  # 5: non-personal need only
        _categories_with(_PERSONAL),  # 6
        _categories_with(_PERSONAL, without=_PACKAGE),  # 7: waiting for a package
        _categories_with(_NONPERSONAL),  # 8
        _categories_with(_NONPERSONAL, _OLDER),  # 9: recipients aged 50+ (cell-mates)
        _categories_with(_NONPERSONAL, without=_OLDER),  # 10
    ],
    axis=1,
)
#: (row of _SUMS, column of _COLUMNS) of each field of NeedTotals but the last (cell-mates).
_PICK_ROWS, _PICK_COLUMNS = np.array(
    [
        (0, 0),  # np_known: non-personal hours, known
        (0, 1),  # np_unknown
        (2, 2),  # p_planned: hours within the package, with a package
        (3, 2),  # p_unplanned_pkg: hours above the package, with a package
        (1, 3),  # p_no_package: personal hours, without a package
        (5, 5),  # people_np_only
        (5, 6),  # people_personal
        (5, 7),  # people_waiting
        (4, 4),  # wait_since_sum: days, everyone (zero unless waiting)
        (5, 8),  # np_recipients
    ]
).T
assert len(_PICK_ROWS) == len(TOTALS) - 1 and TOTALS[-1] == "cellmate_helpers"


def _fixed(values: np.ndarray, step: float) -> np.ndarray:
    """``values`` rounded to a multiple of ``step`` (a power of two)."""
    return np.rint(values * (1.0 / step)) * step


def _fixed_one(value: float, step: float) -> float:
    """:func:`_fixed` for one number, to the same bit (round: half to even, as rint)."""
    return round(value * (1.0 / step)) * step


def _cells(people: People, ids: np.ndarray, now: float, with_age: bool) -> tuple[np.ndarray, np.ndarray]:
    """The cell (prison x 32 + category) each of ``ids`` is counted in on day ``now``, and what
    they add to it (rows of :data:`_SUMS`, fixed point). Without ``with_age`` nobody is older."""
    prison = people.prison[ids]
    np_h, p_h, package = _fixed(
        np.array([people.np_hours[ids], people.p_hours[ids], people.package_hours[ids]]), _HOUR_STEP
    )
    state = people.state[ids]
    has_package = state == PACKAGE
    personal = p_h > 0
    category = _STATE_BITS[state]  # known, package
    category += personal.view(np.int8) * _PERSONAL
    category += (np_h > 0).view(np.int8) * _NONPERSONAL
    if with_age:
        category += (people.birth[ids] <= now - _OLDER_AGE_DAYS).view(np.int8) * _OLDER
    planned = np.minimum(package, p_h) * has_package
    # the day a wait began, for waiting people (zeros for the others: cheaper than a mask)
    since = _fixed(np.where(personal & ~has_package, people.wait_since[ids], 0.0), _DAY_STEP)
    adds = np.array([np_h, p_h, planned, p_h * has_package - planned, since, np.ones(len(ids))])
    return prison * _CATEGORIES + category, adds


def _sum_by_cell(cells: np.ndarray, adds: np.ndarray, size: int) -> np.ndarray:
    """Each row of ``adds`` summed by cell (rows x ``size`` cells): one bincount, each row's
    cells offset by its row."""
    keys = (cells + _SUM_ROW_OFFSETS * size).ravel()
    return np.bincount(keys, weights=adds.ravel(), minlength=_SUMS * size).reshape(_SUMS, size)


def _packed(by_cell: np.ndarray, prisons: int, care: CareConfig | None) -> np.ndarray:
    """The totals (fields of :class:`NeedTotals` x prisons) from the sums by cell. Each is a
    sum of whole multiples of a fixed-point step, so any order of adding gives it exactly."""
    sums = (by_cell.reshape(_SUMS * prisons, _CATEGORIES) @ _COLUMNS).reshape(_SUMS, prisons, -1)
    packed = np.empty((len(TOTALS), prisons))
    packed[:-1] = sums[_PICK_ROWS, :, _PICK_COLUMNS]
    if care is None:
        packed[-1] = 0.0
    else:
        older, younger = sums[5, :, 9], sums[5, :, 10]
        sharing = care.cell_sharing_share_50_plus * older + care.cell_sharing_share_under_50 * younger
        packed[-1] = care.cellmate_help_share * sharing
    return packed


def packed_need_totals(
    people: People, prisons: int, now: float = 0.0, care: CareConfig | None = None
) -> np.ndarray:
    """Count the need of everyone in custody afresh, prison by prison, on day ``now``: one row
    per field of :class:`NeedTotals`, one column per prison. ``care`` gives the cell-sharing
    shares for the informal helpers (none without it, and nobody counts as older)."""
    cells, adds = _cells(people, people.need_ids.array(), now, care is not None)
    return _packed(_sum_by_cell(cells, adds, prisons * _CATEGORIES), prisons, care)


def need_totals(people: People, prisons: int, now: float = 0.0, care: CareConfig | None = None) -> NeedTotals:
    """:func:`packed_need_totals` by name (each field a row of the packed array)."""
    return NeedTotals(*packed_need_totals(people, prisons, now, care))


class NeedLedger:
    """The sums of need by cell, kept up to date person by person.

    Whoever changes what a person adds to the totals (their need, pathway state or prison,
    or their leaving) appends their id to ``people.need_touched``. :meth:`update` takes each
    of them out of the cell they were counted in, with what they added then, and counts them
    again as they are now if they are still in custody with need. Turning 50 changes a
    person's cell with no one touching them: those due are taken from a heap of birth days
    on each update, and :meth:`turned_50_by` tells the care lane to update on a day when
    that is the only change.
    """

    #: Up to this many people touched in a day, each is counted in Python numbers (the same
    #: sums; cheaper than the vectorised recount for a handful).
    FEW = 4

    def __init__(self, people: People, prisons: int, care: CareConfig) -> None:
        self.people = people
        self.prisons = prisons
        self.care = care
        self._size = prisons * _CATEGORIES
        self._by_cell = np.zeros((_SUMS, self._size))
        # per person id: the cell they are counted in (-1: none) and what they added to it
        self._cell = np.full(people.capacity, -1, dtype=np.int64)
        self._added = np.zeros((people.capacity, _SUMS))
        # (birth day, id) of people counted as younger recipients of non-personal care, and per
        # id the birth day it was filed with (NaN: not filed; an id is filed once per holder)
        self._turning_older: list[tuple[float, int]] = []
        self._filed = np.full(people.capacity, np.nan)
        self._compact_at = _COMPACT_FROM

    def turned_50_by(self, now: float) -> bool:
        """Whether someone counted as a younger recipient has turned 50 by day ``now``
        (entries of people no longer counted are dropped from the heap on the way)."""
        heap, filed = self._turning_older, self._filed
        while heap and filed[heap[0][1]] != heap[0][0]:
            heapq.heappop(heap)
        return bool(heap) and heap[0][0] <= now - _OLDER_AGE_DAYS

    def update(self, now: float) -> np.ndarray:
        """Recount the people touched since the last update (and those who have turned 50)
        on day ``now``; return the packed totals (fields x prisons). Hot path: once a day
        with any change, a few dozen people nationally."""
        people = self.people
        touched = people.need_touched
        heap, older_born_by = self._turning_older, now - _OLDER_AGE_DAYS
        while heap and heap[0][0] <= older_born_by:
            birth, pid = heapq.heappop(heap)
            if self._filed[pid] == birth:
                self._filed[pid] = np.nan
                touched.append(pid)
        unique = set(touched)  # each once, in any order
        touched.clear()
        if unique and max(unique) >= len(self._cell):
            self._grow(people.capacity)
        if len(unique) <= self.FEW:
            for pid in unique:
                self._recount_one(pid, older_born_by)
        else:
            self._recount(np.fromiter(unique, dtype=np.int64), now)
        self._compact()
        return _packed(self._by_cell, self.prisons, self.care)

    def _recount(self, ids: np.ndarray, now: float) -> None:
        """Take ``ids`` out of their cells and count those still in custody with need again."""
        people, by_cell = self.people, self._by_cell
        was = self._cell[ids]
        counted = was >= 0
        if counted.any():
            by_cell -= _sum_by_cell(was[counted], self._added[ids[counted]].T, self._size)
        self._cell[ids] = -1
        still = (people.prison[ids] >= 0) & (people.level[ids] != NONE)
        self._filed[ids[~still]] = np.nan  # (their heap entries lapse)
        now_in = ids[still]
        if len(now_in):
            cells, adds = _cells(people, now_in, now, True)
            by_cell += _sum_by_cell(cells, adds, self._size)
            self._cell[now_in] = cells
            self._added[now_in] = adds.T
            self._file_younger(now_in, cells)

    def _recount_one(self, pid: int, older_born_by: float) -> None:
        """:meth:`_recount` for one person, in Python numbers (hot path: one prison's day
        touches a person or two, and a dozen numpy calls cost more than this). Each step
        rounds and adds as the vectorised one does, so the sums are the same to the bit."""
        people, by_cell = self.people, self._by_cell
        was = int(self._cell[pid])
        if was >= 0:
            by_cell[:, was] -= self._added[pid]
            self._cell[pid] = -1
        prison = int(people.prison[pid])
        if prison < 0 or people.level[pid] == NONE:
            self._filed[pid] = np.nan  # (their heap entry lapses)
            return
        np_h = _fixed_one(float(people.np_hours[pid]), _HOUR_STEP)
        p_h = _fixed_one(float(people.p_hours[pid]), _HOUR_STEP)
        package = _fixed_one(float(people.package_hours[pid]), _HOUR_STEP)
        state = int(people.state[pid])
        has_package = state == PACKAGE
        category = int(_STATE_BITS[state]) + _PERSONAL * (p_h > 0) + _NONPERSONAL * (np_h > 0)
        birth = float(people.birth[pid])
        category += _OLDER * (birth <= older_born_by)
        planned = min(package, p_h) if has_package else 0.0
        waiting = p_h > 0 and not has_package
        since = _fixed_one(float(people.wait_since[pid]), _DAY_STEP) if waiting else 0.0
        cell = prison * _CATEGORIES + category
        adds = (np_h, p_h, planned, p_h - planned if has_package else 0.0, since, 1.0)
        by_cell[:, cell] += adds
        self._cell[pid] = cell
        self._added[pid] = adds
        if category & (_NONPERSONAL | _OLDER) == _NONPERSONAL and self._filed[pid] != birth:
            self._filed[pid] = birth
            heapq.heappush(self._turning_older, (birth, pid))

    def _file_younger(self, ids: np.ndarray, cells: np.ndarray) -> None:
        """File recipients of non-personal care counted as younger than 50 in the heap, so
        the update after their 50th birthday moves them."""
        younger = ids[(cells & (_NONPERSONAL | _OLDER)) == _NONPERSONAL]  # (the low bits of a cell)
        birth = self.people.birth[younger]
        new = self._filed[younger] != birth  # not filed yet with this birth day
        if new.any():
            younger, birth = younger[new], birth[new]
            self._filed[younger] = birth
            heap = self._turning_older
            for pid, day in zip(younger.tolist(), birth.tolist(), strict=True):
                heapq.heappush(heap, (day, pid))

    def _compact(self) -> None:
        """Drop lapsed entries (people who left, or ids since given to someone else) once the
        heap has doubled since it was last compacted, so it stays the size of those counted."""
        heap = self._turning_older
        if len(heap) > self._compact_at:
            births = np.fromiter((birth for birth, _ in heap), dtype=float, count=len(heap))
            pids = np.fromiter((pid for _, pid in heap), dtype=np.int64, count=len(heap))
            kept = self._filed[pids] == births  # one comparison for all (was one a Python step each)
            heap[:] = zip(births[kept].tolist(), pids[kept].tolist(), strict=True)  # in the same order
            heapq.heapify(heap)
            self._compact_at = max(_COMPACT_FROM, 2 * len(heap))

    def _grow(self, capacity: int) -> None:
        """Room for ids up to ``capacity`` (the people arrays grew)."""
        old = len(self._cell)
        self._cell = np.concatenate([self._cell, np.full(capacity - old, -1, dtype=np.int64)])
        self._added = np.concatenate([self._added, np.zeros((capacity - old, _SUMS))])
        self._filed = np.concatenate([self._filed, np.full(capacity - old, np.nan)])

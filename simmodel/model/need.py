"""Social care need: levels, hours per week, onset and worsening hazards.

Need levels: 0 none, 1 low (non-personal help only), 2 moderate, 3 high. Hazards of
onset (new need) and dementia rise exponentially with age (Gompertz form), so the
time to the next event can be drawn exactly by inverting the cumulative hazard.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from ..config import NeedConfig

NONE, LOW, MODERATE, HIGH = 0, 1, 2, 3
#: Lower age (years) of each band in ``config.AGE_BANDS``.
BAND_LOWER_AGES = (18, 21, 25, 30, 40, 50, 60, 70)
BAND_50_59, BAND_70_PLUS = 5, 7


def age_band(age: float) -> int:
    """Index of the age band holding ``age`` (years); ages under 18 count as 18-20."""
    return max(bisect_right(BAND_LOWER_AGES, age) - 1, 0)


#: The age band of each whole year of age 0-149 (-1 below the first band).
_BAND_OF_YEAR = np.searchsorted(BAND_LOWER_AGES, np.arange(150), side="right") - 1


def age_bands(ages: np.ndarray) -> np.ndarray:
    """Index of the age band of each of ``ages`` (years, 0 or more), -1 under 18. The bands
    start at whole years, so a band is that of the age rounded down: one gather, where a
    search of the band edges costs a binary search per person (a month-end counts everyone)."""
    return _BAND_OF_YEAR[np.minimum(ages, len(_BAND_OF_YEAR) - 1).astype(np.int64)]


def gompertz_delay_days(
    h_ref: float, growth: float, age: np.ndarray | float, ref_age: float, e: np.ndarray | float
) -> np.ndarray:
    """Days until an event whose hazard is ``h_ref x exp(growth x (age - ref_age))`` per year.

    ``e`` are unit exponential variates (one per person); the cumulative hazard is
    inverted exactly. Returns ``inf`` where the hazard is zero.
    """
    age = np.asarray(age, dtype=float)
    e = np.asarray(e, dtype=float)
    if h_ref <= 0.0:
        return np.full(np.broadcast(age, e).shape, math.inf)
    start = h_ref * np.exp(growth * (age - ref_age))
    if growth == 0.0:
        return 365.0 * e / start
    return 365.0 * np.log1p(e * growth / start) / growth


class NeedModel:
    """Need parameters turned into fast lookups."""

    def __init__(self, cfg: NeedConfig) -> None:
        self.cfg = cfg
        self.stock_prevalence = cfg.stock_prevalence_by_band.as_tuple()
        shares = cfg.level_shares_at_onset.as_tuple()
        total = sum(shares)
        self.level_cumulative = (shares[0] / total, (shares[0] + shares[1]) / total)
        np_hours = cfg.nonpersonal_hours_per_week.as_tuple()
        p_hours = cfg.personal_hours_per_week.as_tuple()
        f = cfg.dementia_hours_factor
        # hours[dementia][level] = (non-personal, personal) hours per week
        self.hours = (
            [(0.0, 0.0)] + [(np_hours[i], p_hours[i]) for i in range(3)],
            [(0.0, 0.0)] + [(np_hours[i] * f, p_hours[i] * f) for i in range(3)],
        )

    def level_at_onset(self, u: float) -> int:
        """Level of a new need from a uniform variate."""
        if u < self.level_cumulative[0]:
            return LOW
        return MODERATE if u < self.level_cumulative[1] else HIGH

    def levels_at_onset(self, u: np.ndarray) -> np.ndarray:
        """Levels of new needs from uniform variates (vectorised)."""
        return np.searchsorted(self.level_cumulative, u, side="right").astype(np.int8) + LOW

    def level_with_dementia(self, level: int) -> int:
        """Dementia makes need at least moderate."""
        return max(level, MODERATE)

    def dementia_prevalence(self, age: np.ndarray) -> np.ndarray:
        """Share of the day-0 stock with dementia at these ages."""
        c = self.cfg
        # nested where, not np.select: the same values at a tenth of the cost (hot at reception)
        return np.where(
            age >= 70,
            c.dementia_stock_prevalence_70_plus,
            np.where(age >= 50, c.dementia_stock_prevalence_50_69, 0.0),
        )

    def onset_delay_days(self, age: np.ndarray | float, e: np.ndarray | float) -> np.ndarray:
        """Days until a new need arises for someone without need."""
        c = self.cfg
        return gompertz_delay_days(
            c.onset_hazard_at_50_per_year, c.onset_hazard_growth_per_year_of_age, age, 50.0, e
        )

    def dementia_delay_days(self, age: np.ndarray | float, e: np.ndarray | float) -> np.ndarray:
        """Days until dementia starts."""
        c = self.cfg
        return gompertz_delay_days(
            c.dementia_onset_hazard_at_70_per_year,
            c.dementia_onset_hazard_growth_per_year_of_age,
            age,
            70.0,
            e,
        )

    def worsening_delay_days(self, level: np.ndarray | int, e: np.ndarray | float) -> np.ndarray:
        """Days until need moves up one level (never from high)."""
        rate = self.cfg.worsening_rate_per_year
        level = np.asarray(level)
        if rate <= 0.0:
            return np.full(np.broadcast(level, e).shape, math.inf)
        return np.where(level >= HIGH, math.inf, 365.0 * np.asarray(e) / rate)

    def worsening_delay_day(self, level: int, e: float) -> float:
        """:meth:`worsening_delay_days` for one person, in Python floats (hot path: every change of
        need; the same arithmetic, so the same days to the bit, at a tenth of the cost)."""
        rate = self.cfg.worsening_rate_per_year
        if rate <= 0.0 or level >= HIGH:
            return math.inf
        return 365.0 * e / rate

    def arrival_levels(self, has_need: np.ndarray, dementia: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Need level on arrival: a level at onset for those with need, at least moderate with dementia."""
        level = np.where(has_need, self.levels_at_onset(u), NONE).astype(np.int8)
        return np.where(dementia, np.maximum(level, self.level_with_dementia(NONE)), level).astype(np.int8)

    def history(
        self, rng: np.random.Generator, start: np.ndarray, years: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Need level and dementia after ``years`` in custody from reception at age ``start``.

        The rules of the simulation, vectorised: need and dementia on arrival, then the onset,
        worsening and dementia hazards over the time served (ages and times in years). Used for
        the day-0 stock, so its need mix is the one the flows produce.
        """
        n = len(start)
        u = rng.random((n, 4))
        e = rng.standard_exponential((n, 5))
        factor = self.cfg.arrival_prevalence_factor
        band = np.searchsorted(BAND_LOWER_AGES, start, side="right") - 1
        dementia = u[:, 0] < self.dementia_prevalence(start) * factor
        has_need = dementia | (u[:, 1] < np.array(self.stock_prevalence)[band] * factor)
        level = self.arrival_levels(has_need, dementia, u[:, 2])
        onset = self.onset_delay_days(start, e[:, 0]) / 365.0
        starts = (level == NONE) & (onset < years)
        level[starts] = self.levels_at_onset(u[starts, 3])
        since = np.where(has_need, 0.0, onset)  # when the need began (years after reception)
        for step in range(1, 4):  # at most two steps up, from low to high
            since = since + self.worsening_delay_days(level, e[:, step]) / 365.0
            worse = (level != NONE) & (level < HIGH) & (since < years)
            level[worse] += 1
        late = ~dementia & (self.dementia_delay_days(start, e[:, 4]) / 365.0 < years)
        dementia |= late
        level[late] = np.maximum(level[late], MODERATE)
        return level, dementia

    def hours_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(non-personal, personal) hours per week indexed by [dementia, level]."""
        table = np.array(self.hours)  # [dementia][level][kind]
        return table[:, :, 0], table[:, :, 1]

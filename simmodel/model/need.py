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
        return np.select(
            [age >= 70, age >= 50],
            [c.dementia_stock_prevalence_70_plus, c.dementia_stock_prevalence_50_69],
            0.0,
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

    def hours_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(non-personal, personal) hours per week indexed by [dementia, level]."""
        table = np.array(self.hours)  # [dementia][level][kind]
        return table[:, :, 0], table[:, :, 1]

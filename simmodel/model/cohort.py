"""Expected population by age band over time, without prisons or care: the flows alone.

A deterministic companion of the simulation (fixed seeds, large weighted samples): the day-0
stock drawn from the fitted steady state, plus a cohort of receptions every month with the
scenario's trends, each followed to release (after any parole refusals), death or exit from
the estate. It answers "what does this scenario do to the age structure?" in about a second,
so it is what the ageing scenarios are fitted with (:func:`fit_trends`) and what the tests
check them against; the simulation must then agree with it (docs/validation.md).

This follows the receptions-times-time-served structure of MoJ's prison projections (the
prisonsreadyreckoner, public_figures.md [S102], read for its structure only).

Run ``python -m simmodel.experiments.trends`` to print the projections and refit the trends
of the ageing scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq, least_squares

from ..config import NeedConfig, PopulationConfig
from .flows import (
    BAND_50_59,
    BAND_LOWER,
    INDETERMINATE,
    LONG_CLASSES,
    N_BANDS,
    N_CLASSES,
    CustodyTimes,
    Flows,
    ages_in_band,
    death_delay_years,
    fit_flows,
    sample_stock,
)
from .metrics import DAYS_PER_YEAR

#: Groups reported: (name, first band).
GROUPS = (("total", 0), ("50+", BAND_50_59), ("60+", 6), ("70+", 7))
_STOCK_SAMPLE = 200_000
_PER_CELL = 3000
#: Parole reviews followed after a refusal (a lifer refused 12 times stays 24 more years).
_MAX_REFUSALS = 12


@dataclass(frozen=True)
class Projection:
    """Expected people by age band at each year end from day 0 (years 0 ... ``years``)."""

    by_band: np.ndarray  # [year, band] people

    def group(self, first_band: int) -> np.ndarray:
        """People in band ``first_band`` and older, each year."""
        return self.by_band[:, first_band:].sum(axis=1)

    def growth(self, first_band: int, year: int) -> float:
        """Growth of a group from day 0 to ``year`` (0.1 = +10%)."""
        series = self.group(first_band)
        return float(series[year] / series[0] - 1.0)

    def table(self, year: int) -> dict[str, float]:
        return {name: self.growth(band, year) for name, band in GROUPS}


def _bands(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(BAND_LOWER, age, side="right") - 1


def _release_after_refusals(
    pop: PopulationConfig, klass: np.ndarray, age_at_release: np.ndarray, release: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Release times (years) after parole refusals of lifers aged 60+ at a due release: each
    refusal defers the release by ``parole_review_days``. ``u``: uniforms, one column a review."""
    p = pop.older_indeterminate_parole_refusal
    if p <= 0:
        return release
    release, age = release.copy(), age_at_release.copy()
    step = pop.parole_review_days / DAYS_PER_YEAR
    due = klass == INDETERMINATE
    for k in range(_MAX_REFUSALS):
        refused = due & (age >= 60.0) & (u[:, k] < p)
        if not refused.any():
            break
        release[refused] += step
        age[refused] += step
        due = refused
    return release


#: Called with (admit, leave, birth_offset, weight) for every weighted sample the engine counts
#: (years from day 0; age at time t is birth_offset + t), to tally more than year-end bands.
Observer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def project(
    pop: PopulationConfig,
    need: NeedConfig,
    years: int = 10,
    exit_rate: float = 0.0,
    observer: Observer | None = None,
) -> Projection:
    """Expected people by band at each year end, for ``years`` years of the trends in ``pop``.

    ``observer``: sees every weighted sample as it is counted (docs: :data:`Observer`).
    """
    flows = fit_flows(pop, need, exit_rate)
    times = CustodyTimes(pop)
    rng = np.random.default_rng(np.random.SeedSequence(20241210))
    h50, growth = flows.mortality
    counts = np.zeros((years + 1, N_BANDS))
    ends = np.arange(years + 1, dtype=float)

    # the day-0 stock: survivors at each year end
    n = _STOCK_SAMPLE
    stock = sample_stock(flows, times, pop.female_share, n, rng)
    weight = pop.initial_population / n if pop.hold_population else flows.stock_by_band.sum() / n
    age0 = stock.start + stock.served / DAYS_PER_YEAR
    remaining = (stock.stay - stock.served) / DAYS_PER_YEAR
    release = _release_after_refusals(
        pop, stock.klass, age0 + remaining, remaining, rng.random((n, _MAX_REFUSALS))
    )
    leave = np.minimum(release, death_delay_years(h50, growth, age0, rng.standard_exponential(n)))
    if exit_rate > 0:
        leave = np.minimum(leave, rng.standard_exponential(n) / exit_rate)
    _count(counts, ends, np.zeros(n), leave, age0, np.full(n, weight), observer)

    # monthly cohorts of receptions: one weighted sample per (band, class) cell, reused for
    # every month (so the sum over months is a smooth convolution, not fresh noise each month)
    k = _PER_CELL
    used = np.flatnonzero(flows.rate.ravel() > 0)  # cells that receive anyone
    cells = len(used)
    band, klass = np.divmod(np.repeat(used, k), N_CLASSES)
    size = len(band)
    start = ages_in_band(band, _stratified(rng, cells, k))
    female = _stratified(rng, cells, k) < pop.female_share
    u_stay, u_served = _stratified(rng, cells, k), _stratified(rng, cells, k)
    base_stay = times.draw(klass, female, u_stay, u_served) / DAYS_PER_YEAR
    death = death_delay_years(h50, growth, start, -np.log1p(-_stratified(rng, cells, k)))
    exit_draw = -np.log1p(-_stratified(rng, cells, k))
    exit_after = exit_draw / exit_rate if exit_rate > 0 else np.full(size, np.inf)
    u_refusal = rng.random((size, _MAX_REFUSALS))
    long_term = LONG_CLASSES[klass]
    for month in range(12 * years):
        admit = (month + 0.5) / 12.0
        trend = min(admit, pop.trend_years)
        weight = _rates(pop, flows, trend)[band, klass] / 12.0 / k
        stay = np.where(
            long_term, base_stay * (1.0 + pop.long_time_served_stretch_per_year) ** trend, base_stay
        )
        held = np.minimum(_release_after_refusals(pop, klass, start + stay, stay, u_refusal), death)
        held = np.minimum(held, exit_after)
        _count(counts, ends, np.full(size, admit), admit + held, start - admit, weight, observer)
    return Projection(counts)


def _stratified(rng: np.random.Generator, cells: int, k: int) -> np.ndarray:
    """``k`` uniforms per cell, one in each of ``k`` equal strata, in random order within the
    cell (so each cell's sample of ages, stays and deaths is a Latin hypercube)."""
    u = (np.arange(k)[None, :] + rng.random((cells, k))) / k
    return rng.permuted(u, axis=1).ravel()


def _rates(pop: PopulationConfig, flows: Flows, years: float) -> np.ndarray:
    """Receptions a year by [band, class] ``years`` after the trends start (as the simulation)."""
    rate = flows.rate * (1.0 + pop.receptions_growth_per_year) ** years
    rate[BAND_50_59:, LONG_CLASSES] *= (1.0 + pop.older_long_receptions_growth_per_year) ** years
    return rate


def _count(
    counts: np.ndarray,
    ends: np.ndarray,
    admit: np.ndarray,
    leave: np.ndarray,
    birth_offset: np.ndarray,
    weight: np.ndarray,
    observer: Observer | None = None,
) -> None:
    """Add the people in custody at each year end, by band (age = ``birth_offset + t``)."""
    if observer is not None:
        observer(admit, leave, birth_offset, weight)
    for i, t in enumerate(ends):
        if t < admit.min():
            continue
        inside = (admit <= t) & (leave > t)
        counts[i] += np.bincount(_bands(birth_offset[inside] + t), weights=weight[inside], minlength=N_BANDS)


# --------------------------------------------------------------------- fitting the trends
#: 4-year growth targets of the central ageing scenario (docs/design/ageing.md section 5):
#: total 86,000 -> 100,800 by March 2029 ([S26]); 50+ 6.5% a year ([S09]); 60+ 4-6.2% a
#: year ([S14], [S03]); 70+ 7-8% a year ([S14], [S04] -> [S06]).
CENTRAL_TARGETS = {"total": 0.161, "50+": 0.288, "60+": 0.22, "70+": 0.33}
#: 10-year growth of the older groups, from the decade before (the published projections stop
#: in 2029): 60+ +82% in the decade to March 2020 ([S03], 6.2% a year); 50+ 6.5% a year ([S09]);
#: 70+ 8% a year (7% in the year to March 2018, [S14]; +7.9% 2018-19, [S04] -> [S06]).
DECADE_TARGETS = {"50+": 0.88, "60+": 0.82, "70+": 1.16}
#: Weight of the decade targets against the 4-year ones in the fit (assumption).
DECADE_WEIGHT = 0.5
#: Total 4-year growth of the high and low projections ([S26]: 105,200 and 95,700 by March 2029).
HIGH_TOTAL, LOW_TOTAL = 0.209, 0.106
MECHANISMS = (
    "receptions_growth_per_year",
    "older_long_receptions_growth_per_year",
    "long_time_served_stretch_per_year",
    "older_indeterminate_parole_refusal",
)
#: Allowed range of each mechanism in a fit (docs/design/ageing.md section 5).
BOUNDS = ((0.0, 0.06), (0.0, 0.15), (0.0, 0.03), (0.0, 0.9))  # assumption ranges
HORIZON = 4


def with_trends(pop: PopulationConfig, values: dict[str, float]) -> PopulationConfig:
    return replace(pop, **values)


def fit_trends(pop: PopulationConfig, need: NeedConfig) -> dict[str, float]:
    """The four mechanisms fitted by least squares to the central 4-year growth targets and,
    with less weight, to the decade growth of the older groups."""
    names = [n for n, _ in GROUPS]
    target = np.array([CENTRAL_TARGETS[n] for n in names])
    decade = np.array(list(DECADE_TARGETS.values()))

    def residual(x: np.ndarray) -> np.ndarray:
        p = project(with_trends(pop, dict(zip(MECHANISMS, x, strict=True))), need, 10)
        four, ten = p.table(HORIZON), p.table(10)
        near = (np.array([four[n] for n in names]) - target) / target
        far = (np.array([ten[n] for n in DECADE_TARGETS]) - decade) / decade
        return np.concatenate([near, DECADE_WEIGHT * far])

    lo, hi = np.array(BOUNDS).T
    fit = least_squares(residual, x0=(lo + hi) / 3, bounds=(lo, hi), diff_step=0.05, max_nfev=60)
    return {k: round(float(v), 4) for k, v in zip(MECHANISMS, fit.x, strict=True)}


def fit_shift(
    pop: PopulationConfig, need: NeedConfig, central: dict[str, float], total: float
) -> dict[str, float]:
    """High or low variant: receptions growth shifted by delta and time-served stretch by delta / 2
    (MoJ's own high and low scenarios move custody rates and sentence lengths, [S32]), with delta
    fitted so the total grows by ``total`` over 4 years."""

    def variant(delta: float) -> dict[str, float]:
        values = dict(central)
        values["receptions_growth_per_year"] = central["receptions_growth_per_year"] + delta
        values["long_time_served_stretch_per_year"] = central["long_time_served_stretch_per_year"] + delta / 2
        return values

    def gap(delta: float) -> float:
        return project(with_trends(pop, variant(delta)), need, HORIZON).growth(0, HORIZON) - total

    delta = brentq(gap, -0.04, 0.04, xtol=1e-4)
    return {k: round(v, 4) for k, v in variant(delta).items()}

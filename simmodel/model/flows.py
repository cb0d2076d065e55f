"""Custody classes, time in custody, and receptions fitted so the day-0 stock is a steady state.

Every reception has a custody class: remand-only, short (determinate up to 12 months), medium
(1-4 years), long (4+ years), indeterminate (life, IPP) or recall. A determinate class draws a
sentence and serves a share of it; the others draw their time in custody directly. Draws are
inverse-CDF transforms of uniforms, so common random numbers line up across scenarios and
deterministic mode gives each distribution's median.

:func:`fit_flows` solves, without any simulation run, for the age mix of receptions that makes
the configured day-0 age structure the stationary one (Little's law per age band, with deaths
and exits from the estate competing with release), and for the reception rate that holds the
day-0 population (``population.hold_population``). docs/model.md explains the method.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from ..config import (
    CUSTODY_CLASSES,
    Config,
    ConfigError,
    NeedConfig,
    PopulationConfig,
    ShareServed,
    StayDistribution,
)
from . import fit_cache
from .metrics import DAYS_PER_YEAR
from .normal_quantile import normal_quantile

CLASS_NAMES = (*CUSTODY_CLASSES, "recall")
REMAND, SHORT, MEDIUM, LONG, INDETERMINATE, RECALL = range(len(CLASS_NAMES))
N_CLASSES = len(CLASS_NAMES)
#: Classes that hold the long-serving (often older, historic-offence) population.
LONG_CLASSES = np.array([c in (LONG, INDETERMINATE) for c in range(N_CLASSES)])

BAND_LOWER = np.array([18.0, 21.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0])
BAND_WIDTH = np.array([3.0, 4.0, 5.0, 10.0, 10.0, 10.0, 10.0, 0.0])  # 70+ is open-ended
N_BANDS = len(BAND_LOWER)
BAND_50_59 = 5
#: Band index from which receptions are tilted towards long terms (50-59 gets one step).
_TILT_FROM_BAND = 4
#: First band whose reception density (per year of age) may not rise with age (30-39).
_MONOTONE_FROM_BAND = 3
_OLDEST_AGE = 95.0
MEAN_YEARS_OVER_70 = 5.0
#: Draws per (band, class) cell of the fit: the fit's error in a band's stock is under 0.5%.
_FIT_DRAWS = 6000
#: How far a fitted band share may miss the configured one (relative) before the fit warns (FitWarning).
#: The default classes hold 70+ at 0.0217 against 0.022 (a 1.5% miss) with the reception
#: density at 70+ equal to that at 60-69; docs/model.md discusses it.
FIT_TOLERANCE = 0.05


class FitWarning(UserWarning):
    """The configured day-0 age structure is not a steady state of the configured flows."""


def ages_in_band(band: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Ages (years) within each band: uniform, or a 5-year exponential tail over 70."""
    width = BAND_WIDTH[band]
    over70 = np.minimum(-MEAN_YEARS_OVER_70 * np.log1p(-u), _OLDEST_AGE - 70.0)
    return BAND_LOWER[band] + np.where(width > 0, u * width, over70)


def beta_shape(served: ShareServed) -> tuple[float, float]:
    """Beta(a, b) whose ``floor + (1 - floor) x Beta`` has the given median and mean."""
    return _beta_shape(served.floor, served.median, served.mean)


#: Beta shapes found in this process, by (floor, median, mean).
_BETA_SHAPES: dict[tuple[float, float, float], tuple[float, float]] = {}


def _beta_shape(floor: float, median: float, mean: float) -> tuple[float, float]:
    """Found once per process, and kept on disk between processes (:mod:`fit_cache`)."""
    inputs = (floor, median, mean)
    if inputs not in _BETA_SHAPES:
        stored = fit_cache.load("beta", repr(inputs))
        try:
            shape = (fit_cache.numbers(stored["a"]), fit_cache.numbers(stored["b"])) if stored else None
        except (KeyError, TypeError, ValueError):
            shape = None
        if shape is None:
            shape = _find_beta_shape(floor, median, mean)
            fit_cache.save("beta", repr(inputs), {"a": shape[0], "b": shape[1]})
        _BETA_SHAPES[inputs] = shape
    return _BETA_SHAPES[inputs]


def _find_beta_shape(floor: float, median: float, mean: float) -> tuple[float, float]:
    from scipy.optimize import brentq  # (only when no stored shape: about 0.15 s to import)
    from scipy.special import betaincinv

    m = (mean - floor) / (1.0 - floor)
    md = (median - floor) / (1.0 - floor)

    def gap(log_a: float) -> float:
        a = math.exp(log_a)
        return float(betaincinv(a, a * (1.0 - m) / m, 0.5)) - md

    lo, hi = math.log(1e-3), math.log(1e3)
    if gap(lo) * gap(hi) > 0:
        raise ConfigError(
            f"population.share_served: no Beta distribution above the floor {floor:g} has median "
            f"{median:g} and mean {mean:g}; bring the median and the mean closer."
        )
    a = math.exp(brentq(gap, lo, hi, xtol=1e-10))
    return a, a * (1.0 - m) / m


_U_GRID = np.linspace(0.0, 1.0, 16_385)


def _stored(kind: str, key: str, shape: tuple[int, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Numbers of ``shape`` computed by ``compute`` with scipy.special, kept on disk between
    processes (:mod:`fit_cache`): a run whose numbers are stored does not import scipy.special
    (about 0.3 s of start-up). Read back, they are the same floats (JSON keeps every bit)."""
    stored = fit_cache.load(kind, key)
    try:
        values = fit_cache.numbers(stored["values"], shape) if stored else None
    except (KeyError, TypeError, ValueError):
        values = None
    if values is None:
        values = np.asarray(compute(), dtype=float)
        fit_cache.save(kind, key, {"values": values.tolist()})
    return values


@lru_cache(maxsize=32)
def _beta_quantiles(shape: tuple[float, float]) -> np.ndarray:
    """The Beta quantile at every point of ``_U_GRID`` (about 13 ms to compute; kept per shape,
    read-only)."""

    def compute() -> np.ndarray:
        from scipy.special import betaincinv

        return betaincinv(*shape, _U_GRID)

    table = _stored("beta_quantiles", repr(shape), _U_GRID.shape, compute)
    table.flags.writeable = False
    return table


class CustodyTimes:
    """Time in custody by class (days): vectorised inverse-CDF draws.

    Hot path at reception: one call per day's batch of receptions.
    """

    def __init__(self, cfg: PopulationConfig) -> None:
        stays: list[StayDistribution] = [getattr(cfg.custody_classes, c) for c in CUSTODY_CLASSES]
        stays.append(cfg.recall)
        self.mu = np.log([s.median_days for s in stays])
        self.sigma = np.array([s.sigma for s in stays])
        self.lo = np.array([s.min_days for s in stays])
        self.hi = np.array([s.max_days for s in stays])
        self.determinate = np.array([s.determinate for s in stays])
        self.served_men = _beta_quantiles(beta_shape(cfg.share_served.men))
        self.served_women = _beta_quantiles(beta_shape(cfg.share_served.women))
        self.floor_men = cfg.share_served.men.floor
        self.floor_women = cfg.share_served.women.floor
        self._bounds = {biased: self._cdf_bounds(biased) for biased in (False, True)}

    def _cdf_bounds(self, length_biased: bool) -> tuple[np.ndarray, np.ndarray]:
        """The log-normal CDF at each class's limits (computed once, not per draw)."""
        mu = self.mu + (self.sigma**2 if length_biased else 0.0)
        scale = np.where(self.sigma > 0, self.sigma, 1.0)

        def compute() -> np.ndarray:
            from scipy.special import ndtr

            with np.errstate(divide="ignore"):
                return np.array([ndtr((np.log(self.lo) - mu) / scale), ndtr((np.log(self.hi) - mu) / scale)])

        key = repr([a.tolist() for a in (mu, scale, self.lo, self.hi)])
        low, high = _stored("cdf_bounds", key, (2, len(mu)), compute)
        return low, high

    def draw(
        self, klass: np.ndarray, female: np.ndarray, u_stay: np.ndarray, u_served: np.ndarray
    ) -> np.ndarray:
        """Days in custody for people of these classes, from two uniforms each."""
        days = self.sentence(klass, u_stay)
        det = self.determinate[klass]
        if det.any():
            days[det] *= self.share_served(female[det], u_served[det])
        return days

    def sentence(self, klass: np.ndarray, u: np.ndarray, *, length_biased: bool = False) -> np.ndarray:
        """Days of the class's log-normal (the sentence, or the time in custody), truncated.

        ``length_biased``: drawn in proportion to length x density instead, which for a
        log-normal is the same log-normal with its log-mean raised by sigma^2 (and the same
        truncation): how long the people found in prison on a given day were sentenced for.
        """
        sigma = self.sigma[klass]
        mu = self.mu[klass] + (sigma**2 if length_biased else 0.0)
        f_lo, f_hi = (bound[klass] for bound in self._bounds[length_biased])
        z = normal_quantile(np.clip(f_lo + u * (f_hi - f_lo), 1e-12, 1.0 - 1e-12))
        return np.clip(np.exp(mu + sigma * z), self.lo[klass], self.hi[klass])

    def share_served(self, female: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Share of the sentence served, by sex, from uniforms.

        Hot path: the Beta quantile is read from a table (linear interpolation on 16,385
        points, exact at u = 0.5), about 100x faster than ``betaincinv`` per draw.
        """
        out = np.empty(len(u))
        for is_female, table, floor in (
            (False, self.served_men, self.floor_men),
            (True, self.served_women, self.floor_women),
        ):
            sel = female == is_female
            if sel.any():
                out[sel] = floor + (1.0 - floor) * np.interp(u[sel], _U_GRID, table)
        return out


def mortality_for_fit(pop: PopulationConfig, need: NeedConfig) -> tuple[float, float]:
    """(hazard at 50 a year, Gompertz slope) of a death hazard averaged over need.

    The model's hazard is ``h50 x exp(g (age - 50)) x RR(level) x RR(dementia)``. For the
    fit, the relative risk is averaged over each band's day-0 need and dementia prevalence
    and folded into the Gompertz curve by a log-linear fit over the bands from 40 up
    (an approximation: deaths are 0.2% of the stock a year and matter only at 60+).
    """
    shares = np.array(need.level_shares_at_onset.as_tuple())
    rr_levels = np.array(pop.death_rr_by_level.as_tuple())
    rr_need = float(shares @ rr_levels / shares.sum())
    prevalence = np.array(need.stock_prevalence_by_band.as_tuple())
    mid = np.array([45.0, 55.0, 65.0, 75.0])
    dementia = np.array(
        [
            0.0,
            need.dementia_stock_prevalence_50_69,
            need.dementia_stock_prevalence_50_69,
            need.dementia_stock_prevalence_70_plus,
        ]
    )
    rr = 1.0 + prevalence[4:] * (rr_need - 1.0) + dementia * rr_need * (pop.death_rr_dementia - 1.0)
    slope, intercept = np.polyfit(mid - 50.0, np.log(rr), 1)
    return pop.death_hazard_at_50_per_year * math.exp(
        intercept
    ), pop.death_hazard_growth_per_year_of_age + slope


_MORTALITY_SAMPLE = 40_000


def mortality_of_stock(flows: Flows, pop: PopulationConfig, need: NeedConfig) -> tuple[float, float]:
    """(hazard at 50 a year, Gompertz slope) averaged over the need of the stationary stock.

    A fixed-seed sample of the stock of ``flows`` gets the need history the simulation would
    give it; the mean relative risk of death in each band from 40 up is folded into the
    Gompertz curve by a log-linear fit, as :func:`mortality_for_fit` does with the configured
    prevalence.
    """
    from .need import NeedModel  # the need rules, shared with the simulation

    rng = np.random.default_rng(np.random.SeedSequence(20241211))
    drawn = sample_stock(flows, CustodyTimes(pop), pop.female_share, _MORTALITY_SAMPLE, rng)
    level, dementia = NeedModel(need).history(rng, drawn.start, drawn.served / DAYS_PER_YEAR)
    rr_level = np.array((1.0, *pop.death_rr_by_level.as_tuple()))
    rr = rr_level[level] * np.where(dementia, pop.death_rr_dementia, 1.0)
    age = drawn.start + drawn.served / DAYS_PER_YEAR
    band = np.searchsorted(BAND_LOWER, age, side="right") - 1
    means = np.array([rr[band == b].mean() if (band == b).any() else 1.0 for b in range(4, N_BANDS)])
    slope, intercept = np.polyfit(np.array([45.0, 55.0, 65.0, 75.0]) - 50.0, np.log(means), 1)
    return pop.death_hazard_at_50_per_year * math.exp(
        intercept
    ), pop.death_hazard_growth_per_year_of_age + slope


def death_delay_years(h50: float, growth: float, age: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Years to death from ``age`` under a Gompertz hazard, from unit exponentials."""
    if h50 <= 0.0:
        return np.full(len(age), math.inf)
    start = h50 * np.exp(growth * (age - 50.0))
    if growth == 0.0:
        return e / start
    return np.log1p(e * growth / start) / growth


@dataclass(frozen=True)
class Flows:
    """Fitted receptions: a year, by age band and class (people, years)."""

    rate: np.ndarray  # [band, class] receptions a year, recalls in the last column
    years_in_band: np.ndarray  # [band, class, stock band] mean years a reception spends in each band
    mean_stay: np.ndarray  # [band, class] mean years in custody (release, death or exit)
    scale: float  # fitted receptions / configured receptions
    stock_by_band: np.ndarray  # expected steady-state stock by band (people)
    exit_rate: float  # exits from the estate other than release and death, a year
    mortality: tuple[float, float]  # (hazard at 50 a year, Gompertz slope) averaged over need

    @property
    def stock_by_cell(self) -> np.ndarray:
        """Expected steady-state stock by (reception band, class) (people)."""
        return self.rate * self.mean_stay

    @property
    def stock_by_class(self) -> np.ndarray:
        return self.stock_by_cell.sum(axis=0)

    @property
    def age_mix(self) -> np.ndarray:
        """Share of receptions (first and recalls) in each age band."""
        by_band = self.rate.sum(axis=1)
        return by_band / by_band.sum()

    def long_share_60_plus(self) -> float:
        """Share of the sentenced stock aged 60+ in the long or indeterminate classes."""
        stock60 = (self.rate[:, :, None] * self.years_in_band)[:, :, 6:].sum(axis=(0, 2))
        sentenced = stock60[SHORT : INDETERMINATE + 1].sum()
        return float(stock60[[LONG, INDETERMINATE]].sum() / sentenced) if sentenced > 0 else math.nan


def class_weights(pop: PopulationConfig) -> np.ndarray:
    """p(class | reception band) for first receptions, with the older-long tilt."""
    base = np.array([getattr(pop.custody_classes, c).share for c in CUSTODY_CLASSES])
    steps = np.maximum(np.arange(N_BANDS) - _TILT_FROM_BAND, 0)
    tilt = np.exp(pop.older_long_tilt * steps[:, None] * LONG_CLASSES[None, :-1])
    weights = base[None, :] * tilt
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def _stratified(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniforms, one in each of ``n`` equal strata, in random order."""
    return rng.permutation((np.arange(n) + rng.random(n)) / n)


def years_in_bands(
    pop: PopulationConfig,
    mortality: tuple[float, float],
    exit_rate: float,
    draws: int = _FIT_DRAWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean years a reception of each (band, class) spends in each stock band, and in all.

    Fixed-seed stratified Monte Carlo: the fit is the same in every run and replication,
    and uses none of the model's random streams.
    """
    rng = np.random.default_rng(np.random.SeedSequence(20241209))
    times = CustodyTimes(pop)
    h50, growth = mortality
    edges_hi = np.append(BAND_LOWER[1:], np.inf)
    years = np.zeros((N_BANDS, N_CLASSES, N_BANDS))
    for band in range(N_BANDS):
        for klass in range(N_CLASSES):
            start = ages_in_band(np.full(draws, band), _stratified(rng, draws))
            female = _stratified(rng, draws) < pop.female_share
            stay = times.draw(np.full(draws, klass), female, _stratified(rng, draws), _stratified(rng, draws))
            death = death_delay_years(h50, growth, start, rng.standard_exponential(draws))
            leave = rng.standard_exponential(draws) / exit_rate if exit_rate > 0 else np.inf
            end = start + np.minimum(np.minimum(stay / DAYS_PER_YEAR, death), leave)
            overlap = np.minimum(end[:, None], edges_hi[None, :]) - np.maximum(
                start[:, None], BAND_LOWER[None, :]
            )
            years[band, klass] = np.clip(overlap, 0.0, None).mean(axis=0)
    return years, years.sum(axis=2)


def estate_exit_rate(cfg: Config) -> float:
    """Leaving the modelled estate a year other than by release or death: transfers out of
    a one-prison estate (with more prisons, a transfer moves a person within the estate)."""
    estate = cfg.estate
    prisons = len(estate.prisons) if estate.prisons else sum(round(x) for x in estate.count.as_tuple())
    return cfg.population.transfer_rate_per_year if prisons == 1 else 0.0


def check_flows(cfg: Config) -> None:
    """Fit the flows once before any replication starts, so a configuration whose flows
    cannot hold its stock stops with a :class:`ConfigError` before it simulates."""
    fit_flows(cfg.population, cfg.need, estate_exit_rate(cfg))


def fit_flows(pop: PopulationConfig, need: NeedConfig, exit_rate: float = 0.0) -> Flows:
    """Receptions by age band and class that keep the day-0 stock steady.

    Solves ``sum_a v_a R[a, k] = N x share_k`` for the reception weights ``v >= 0`` of each
    band by non-negative least squares, where ``R[a, k]`` is the stock in band ``k`` that one
    reception a year aged ``a`` (first reception or recall, in the configured proportion)
    produces. From 30-39 up the reception density per year of age may not rise with age
    (the weights are built from non-negative decrements), which rules out fits that need
    more 70-year-olds than 60-year-olds. ``exit_rate``: leaving the modelled estate a year
    (transfers out of a one-prison estate).
    """
    key = _fit_key(pop, need, exit_rate)
    if key not in _FITS:
        if len(_FITS) >= 8:
            _FITS.pop(next(iter(_FITS)))
        fitted = _stored_fit(key)
        if fitted is None:
            fitted, said = _fit_telling(pop, need, exit_rate)
            fit_cache.save("flows", repr(key), _fit_values(fitted) | {"warnings": said})
        _FITS[key] = fitted
    return _FITS[key]


#: Fits already made in this process (a fit takes about a quarter of a second); fits made by
#: earlier processes are read from disk (:mod:`fit_cache`).
_FITS: dict[tuple[str, str, float], Flows] = {}


def _fit_telling(pop: PopulationConfig, need: NeedConfig, exit_rate: float) -> tuple[Flows, list[str]]:
    """:func:`_fit`, and the FitWarnings it gave (to store with the fit). Its warnings are
    shown as they would have been, also when the fit then fails."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = _fit(pop, need, exit_rate)
    finally:
        registry = globals().setdefault("__warningregistry__", {})
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, __name__, registry)
    return fitted, [str(w.message) for w in caught if issubclass(w.category, FitWarning)]


#: The shape of each field of :class:`Flows` as stored (None: a number).
_STORED_SHAPES: dict[str, tuple[int, ...] | None] = {
    "rate": (N_BANDS, N_CLASSES),
    "years_in_band": (N_BANDS, N_CLASSES, N_BANDS),
    "mean_stay": (N_BANDS, N_CLASSES),
    "scale": None,
    "stock_by_band": (N_BANDS,),
    "exit_rate": None,
    "mortality": (2,),
}
assert tuple(_STORED_SHAPES) == tuple(f.name for f in fields(Flows))


def _fit_values(flows: Flows) -> dict[str, object]:
    """A fit as JSON numbers (floats round-trip exactly)."""
    return {name: np.asarray(getattr(flows, name)).tolist() for name in _STORED_SHAPES}


def _stored_fit(key: tuple[str, str, float]) -> Flows | None:
    """The fit of ``key`` from disk, if one is stored and whole."""
    values = fit_cache.load("flows", repr(key))
    if values is None:
        return None
    try:
        said = values.get("warnings", [])
        if not isinstance(said, list) or not all(isinstance(text, str) for text in said):
            return None
        stored = {name: fit_cache.numbers(values[name], shape) for name, shape in _STORED_SHAPES.items()}
    except (KeyError, TypeError, ValueError):
        return None
    stored["mortality"] = tuple(stored["mortality"].tolist())
    for text in said:  # the fit's warnings, as when it was made
        warnings.warn(text, FitWarning, stacklevel=3)
    return Flows(**stored)


#: Inputs the fit never reads: what happens after reporting starts (trends, parole), care at the
#: end of life, where transfers go, and the hours of care a need brings. A design point that
#: changes only these reuses the fit (tests/test_flows.py checks that each leaves it unchanged).
FIT_IGNORES_POPULATION = (
    "end_of_life_days",
    "end_of_life_hours_per_week",
    "end_of_life_nhs_share",
    "trend_years",
    "receptions_growth_per_year",
    "older_long_receptions_growth_per_year",
    "long_time_served_stretch_per_year",
    "older_indeterminate_parole_refusal",
    "parole_review_days",
    "transfer_destination_weight",
    "older_unit_attraction",
    "local_transfer_days_mean",
)
FIT_IGNORES_NEED = ("nonpersonal_hours_per_week", "personal_hours_per_week", "dementia_hours_factor")


def _fit_key(pop: PopulationConfig, need: NeedConfig, exit_rate: float) -> tuple[str, str, float]:
    """The inputs a fit depends on, as text (the cache key of :func:`fit_flows`)."""
    pop_part = {f.name: getattr(pop, f.name) for f in fields(pop) if f.name not in FIT_IGNORES_POPULATION}
    need_part = {f.name: getattr(need, f.name) for f in fields(need) if f.name not in FIT_IGNORES_NEED}
    return repr(pop_part), repr(need_part), exit_rate


def _fit(pop: PopulationConfig, need: NeedConfig, exit_rate: float) -> Flows:
    """Two passes: the first with deaths from the configured need prevalence, the second with
    deaths from the need the first pass's stock has (need accumulates over long stays, so the
    old have more of it than on arrival, and need raises the death hazard)."""
    first = _solve(pop, need, exit_rate, mortality_for_fit(pop, need))
    return _solve(pop, need, exit_rate, mortality_of_stock(first, pop, need))


def _solve(
    pop: PopulationConfig, need: NeedConfig, exit_rate: float, mortality: tuple[float, float]
) -> Flows:
    years, stay = years_in_bands(pop, mortality, exit_rate)
    p_class = class_weights(pop)
    first, recalls = pop.receptions_per_year, pop.recalls_per_year
    mix = np.zeros((N_BANDS, N_CLASSES))  # receptions a year per unit of band weight
    mix[:, :RECALL] = first * p_class
    mix[:, RECALL] = recalls
    per_band = (mix[:, :, None] * years).sum(axis=1)  # R[a, k]
    target = np.array(pop.stock_age_shares.as_tuple())
    target = target / target.sum()
    if first + recalls <= 0 or not per_band.any():
        weights = np.full(N_BANDS, 1.0 / N_BANDS)
        rate = mix * weights[:, None]
        stock = (rate[:, :, None] * years).sum(axis=(0, 1))
        return Flows(rate, years, stay, 1.0, stock, exit_rate, mortality)
    # columns: bands below 30 free; from 30 up, band a = width_a x sum of decrements j >= a
    width = np.where(BAND_WIDTH > 0, BAND_WIDTH, 10.0)
    basis = np.zeros((N_BANDS, N_BANDS))  # basis[j] = band weights of column j
    for j in range(N_BANDS):
        if j < _MONOTONE_FROM_BAND:
            basis[j, j] = 1.0
        else:
            basis[j, _MONOTONE_FROM_BAND : j + 1] = width[_MONOTONE_FROM_BAND : j + 1]
    design = (basis @ per_band).T  # stock shares by column
    from scipy.optimize import nnls  # (only when the fit is not stored: about 0.15 s to import)

    coef, _ = nnls(design, target, maxiter=2000)
    weights = basis.T @ coef  # band weights: stock = weights @ per_band, with shares ~ target
    implied = weights @ per_band
    if implied.sum() <= 0:
        raise ConfigError("population: the configured receptions and stays cannot hold any stock.")
    shares = implied / implied.sum()
    miss = np.abs(shares - target) / np.maximum(target, 1e-9)
    worst = int(np.argmax(np.where(target > 0.005, miss, 0.0)))
    if target[worst] > 0.005 and miss[worst] > FIT_TOLERANCE:
        from ..config import AGE_BANDS

        warnings.warn(
            f"population.stock_age_shares.{_band_key(AGE_BANDS[worst])} = {target[worst]:.3f} cannot be "
            f"held steady by the configured flows (best fit {shares[worst]:.3f}, with receptions falling "
            "with age from 30): the day-0 stock takes the best fit's age structure.",
            FitWarning,
            stacklevel=3,
        )
    weights = weights / implied.sum()  # one person in the steady-state stock
    n = pop.initial_population
    if pop.hold_population and n > 0:
        weights = weights * n
        scale = float(weights.sum())
        if not 1.0 / pop.steady_state_tolerance <= scale <= pop.steady_state_tolerance:
            raise ConfigError(
                f"population.initial_population = {n} holds steady with {scale * (first + recalls):,.0f} "
                f"receptions a year, not {first + recalls:,.0f}: over {pop.steady_state_tolerance:g}x apart "
                "(population.steady_state_tolerance). Match them or set population.hold_population=false."
            )
    else:
        weights = weights / weights.sum()  # the configured reception rates
        scale = 1.0
    rate = mix * weights[:, None]
    stock = (rate[:, :, None] * years).sum(axis=(0, 1))
    return Flows(rate, years, stay, scale, stock, exit_rate, mortality)


def _band_key(band: str) -> str:
    return "b" + band.replace("-", "_").replace("+", "_plus")


#: Candidates per day-0 person for the length-biased draw of their stay (sampling-importance
#: resampling from a length-biased proposal, so the weights vary little; 8 hold the expected
#: stock flat within 1%).
_STOCK_CANDIDATES = 8


@dataclass(frozen=True)
class StockDraw:
    """People drawn from the steady-state stock (ages in years, days in custody)."""

    start: np.ndarray  # age at reception, years
    female: np.ndarray
    klass: np.ndarray  # custody class
    stay: np.ndarray  # days from reception to release
    served: np.ndarray  # days already served


def pick_cumulative(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from cumulative weights for each uniform in ``u`` (vectorised)."""
    idx = np.searchsorted(cumulative, u * cumulative[-1], side="right")
    return np.minimum(idx, len(cumulative) - 1)


def _pick_rows(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Column drawn in each row of ``weights`` in proportion to the weights."""
    cumulative = np.cumsum(weights, axis=1)
    idx = (cumulative < (u * cumulative[:, -1])[:, None]).sum(axis=1)
    return np.minimum(idx, weights.shape[1] - 1)


def sample_stock(
    flows: Flows,
    times: CustodyTimes,
    female_share: float,
    n: int,
    rng: np.random.Generator,
    *,
    block: int | None = None,
) -> StockDraw:
    """``n`` people from the stationary stock of ``flows``.

    Each person's cell (band at reception, class) is drawn in proportion to its steady-state
    stock (receptions x mean time held); within the cell their time held (to release, death or
    leaving the estate, as the fit counts it) is drawn length-biased, since people found in
    prison on a given day are those held longer, and the time already served uniformly within it.
    ``block``: draw that many people at a time, so the candidates' arrays stay small (a
    national stock of 88,000 at once peaks at about 100 MB); the draws then differ from one
    block of ``n``.
    """
    if block is None or n <= block:
        return _sample_stock_block(flows, times, female_share, n, rng)
    blocks = [
        _sample_stock_block(flows, times, female_share, min(block, n - first), rng)
        for first in range(0, n, block)
    ]
    return StockDraw(*(np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(StockDraw)))


def _sample_stock_block(
    flows: Flows, times: CustodyTimes, female_share: float, n: int, rng: np.random.Generator
) -> StockDraw:
    cell = pick_cumulative(np.cumsum(flows.stock_by_cell.ravel()), rng.random(n))
    band, klass = np.divmod(cell, N_CLASSES)
    k = _STOCK_CANDIDATES
    u = rng.random((n, k, 4))
    e = rng.standard_exponential((n, k, 2))
    start = ages_in_band(np.repeat(band, k), u[:, :, 0].ravel()).reshape(n, k)
    female = u[:, :, 1] < female_share
    # proposal: the sentence (or time in custody) drawn length-biased, the share served not
    sentence = times.sentence(np.repeat(klass, k), u[:, :, 2].ravel(), length_biased=True).reshape(n, k)
    served_share = np.ones((n, k))
    det = times.determinate[klass]
    if det.any():
        served_share[det] = times.share_served(female[det].ravel(), u[det, :, 3].ravel()).reshape(-1, k)
    stay = sentence * served_share
    h50, growth = flows.mortality
    death = death_delay_years(h50, growth, start.ravel(), e[:, :, 0].ravel()).reshape(n, k)
    leave = e[:, :, 1] / flows.exit_rate if flows.exit_rate > 0 else np.inf
    held = np.minimum(stay, DAYS_PER_YEAR * np.minimum(death, leave))
    # importance weights of the target (time held x density) over the proposal: share served
    # x time held / time in custody, between 0 and 1, so a few candidates are enough
    pick = _pick_rows(served_share * held / stay, rng.random(n))
    rows = np.arange(n)
    return StockDraw(
        start=start[rows, pick],
        female=female[rows, pick],
        klass=klass.astype(np.int8),
        stay=stay[rows, pick],
        served=rng.random(n) * held[rows, pick],
    )

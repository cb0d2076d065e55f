"""Back-check 2008 -> 2018: start from a 2008-like stock and compare with the published counts.

Scenario ``backcheck_2008`` with :data:`OVERRIDES` puts day 0 in March 2008 (end of the month)
with the 2008 stock, then runs the four ageing mechanisms of docs/design/ageing.md section 5 for ten
years. :func:`fit_backcheck` fits them with the cohort engine to two published points only,
the June 2018 counts aged 50+ and 70+ ([S04]: 13,616 and 1,681), while holding the total
near 83,000 in March 2018 ([S14]); every other row of :data:`POINTS` is out of sample.
docs/backcheck_2008.md reports the result.

The published rows need single years of age (71+, 75+, 80+), dates between year ends and
natural deaths, which :func:`simmodel.model.cohort.project` does not report. :func:`project_detail`
therefore runs that same projection (same samples, same weights) and also tallies the people
it counts by single year of age at the requested times; it checks that the tallies agree with
the engine's own band counts at the year ends. Expected natural deaths are the death hazard the
engine uses times the people at risk.

Run ``python -m simmodel.model.backcheck`` to refit and print the fitted values and the table;
``--des`` adds the simulation (2 national replications, about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

from ..config import Config, NeedConfig, PopulationConfig
from . import cohort
from .flows import fit_flows
from .metrics import Flow, Stock

#: The back-check's configuration: the scenario, and the March 2008 total (assumption, 80,000-84,000:
#: the 2008 total is NF; [S01] 77,609 for England only in mid-2007, [S14] about 83,000 in March
#: 2018). The total is not in the scenario file because a scenario must compose with every estate,
#: and the one-prison estate holds at most 1,400 people.
OVERRIDES = ("scenario=backcheck_2008", "population.initial_population=82000")
#: Lowest age counted, and one bin past the oldest (ages above are counted in the last bin).
_AGE_FLOOR, _AGE_CAP = 18, 111
AGES = np.arange(_AGE_FLOOR, _AGE_CAP)
#: Years from day 0 (31 March 2008) to the end of the last published window (June 2019).
_HORIZON_YEARS = 11.25
_MONTH = 1.0 / 12.0


@dataclass(frozen=True)
class Point:
    """One published count (a row of docs/design/ageing.md section 7).

    ``t``: years after 31 March 2008; ``ages``: [from, to) in years; ``tolerance``: the
    relative miss the design accepts (``None``: reported only); ``role``: how the point is
    used (``fitted``, ``start``, ``constraint`` or ``out of sample``).
    """

    date: str
    group: str
    ages: tuple[float, float]
    t: float
    published: float
    source: str
    tolerance: float | None
    role: str


_ALL, _50, _60, _70 = (0.0, math.inf), (50.0, math.inf), (60.0, math.inf), (70.0, math.inf)
#: docs/design/ageing.md section 7. Dates: "2011-12" is read as March 2012 and "2015" as June
#: 2015 (MoJ's annual snapshot); a quarter either way moves a 50+ count by under 2%.
POINTS: tuple[Point, ...] = (
    Point("Mar 2008", "50+", _50, 0.0, 6977, "[S121]", 0.05, "start"),
    Point("Mar 2008", "70+", _70, 0.0, 454, "[S121]", 0.10, "start"),
    Point("Aug 2008", "60+", _60, 5 / 12, 2400, "[S10][S112][S113]", 0.10, "start"),
    Point("Aug 2008", "70+", _70, 5 / 12, 493, "[S121] §1b", 0.10, "start"),
    Point("Mar 2010", "75+", (75.0, math.inf), 2.0, 208, "[S15]", None, "out of sample"),
    Point("Mar 2012", "50+", _50, 4.0, 8000, "[S117]", 0.15, "out of sample"),
    Point("Dec 2012", "50-59", (50.0, 60.0), 4.75, 6503, "[S13]", 0.15, "out of sample"),
    Point("Dec 2012", "60+", _60, 4.75, 3377, "[S13]", 0.15, "out of sample"),
    Point("Mar 2014", "60+", _60, 6.0, 3577, "[S02]", 0.15, "out of sample"),
    Point("Mar 2014", "71+", (71.0, math.inf), 6.0, 819, "[S02]", 0.15, "out of sample"),
    Point("Mar 2014", "80+", (80.0, math.inf), 6.0, 102, "[S02]", 0.30, "out of sample"),
    Point("Mar 2014", "75+", (75.0, math.inf), 6.0, 400, "[S15]", None, "out of sample"),
    Point("Jun 2014", "50+", _50, 6.25, 11080, "[S11]", 0.15, "out of sample"),
    Point("Jun 2014", "60+", _60, 6.25, 3720, "[S11]", 0.15, "out of sample"),
    Point("Jun 2015", "50+", _50, 7.25, 11720, "[S68]", 0.15, "out of sample"),
    Point("Mar 2018", "total", _ALL, 10.0, 83000, "[S14]", 0.05, "constraint"),
    Point("Mar 2018", "50+", _50, 10.0, 13500, "[S14]", 0.10, "out of sample"),
    Point("Jun 2018", "50+", _50, 10.25, 13616, "[S04]", 0.10, "fitted"),
    Point("Jun 2018", "60+", _60, 10.25, 5009, "[S04]", 0.10, "out of sample"),
    Point("Jun 2018", "70+", _70, 10.25, 1681, "[S04]", 0.10, "fitted"),
)
#: 75+ rose 208 -> 400 from March 2010 to March 2014 ([S15], x1.92): the design accepts 1.5-2.3.
RATIO_75_PLUS = (1.92, 1.5, 2.3)
#: Natural deaths 103 (calendar 2009) -> 165 (year to June 2019) ([S93], x1.6): accepts 1.3-2.0.
DEATHS_2009, DEATHS_2019 = 103.0, 165.0
DEATHS_RATIO_RANGE = (1.3, 2.0)
#: Death windows, years after day 0: calendar 2009 and the year to June 2019.
WINDOW_2009, WINDOW_2019 = (0.75, 1.75), (10.25, 11.25)


# --------------------------------------------------------------------- cohort engine, in detail
@dataclass(frozen=True)
class Detail:
    """Expected people by single year of age at chosen times (years after day 0), and the
    engine's own :class:`~simmodel.model.cohort.Projection` of the same run."""

    times: np.ndarray  # years after day 0
    people: np.ndarray  # [time, age - 18] expected people
    projection: cohort.Projection
    mortality: tuple[float, float]  # (death hazard at 50 a year, Gompertz slope), as the engine

    def count(self, t: float, ages: tuple[float, float]) -> float:
        """Expected people aged [from, to) at ``t`` years (whole years of age)."""
        i = int(np.argmin(np.abs(self.times - t)))
        if abs(self.times[i] - t) > 1e-9:
            raise KeyError(f"time {t} was not requested")
        lo, hi = ages
        keep = (lo <= AGES) & (hi > AGES)
        return float(self.people[i, keep].sum())

    def deaths(self, window: tuple[float, float]) -> float:
        """Expected natural deaths in a window of years (hazard x people at mid-month)."""
        h50, growth = self.mortality
        hazard = h50 * np.exp(growth * (AGES + 0.5 - 50.0))  # a year, at the middle of each age
        mids = _mid_months(window)
        rows = [int(np.argmin(np.abs(self.times - t))) for t in mids]
        return float((self.people[rows] @ hazard).sum() * _MONTH)


def _mid_months(window: tuple[float, float]) -> np.ndarray:
    n = round((window[1] - window[0]) * 12)
    return window[0] + (np.arange(n) + 0.5) * _MONTH


def _tally(times: np.ndarray, people: np.ndarray) -> cohort.Observer:
    """An observer of the cohort engine that tallies the people it counts by single year of
    age at ``times`` into ``people``."""

    def tally(admit: np.ndarray, leave: np.ndarray, birth_offset: np.ndarray, weight: np.ndarray) -> None:
        first = admit.min()
        for i, t in enumerate(times):
            if t < first:
                continue
            inside = (admit <= t) & (leave > t)
            age = np.floor(birth_offset[inside] + t).astype(int) - _AGE_FLOOR
            people[i] += np.bincount(
                np.clip(age, 0, len(AGES) - 1), weights=weight[inside], minlength=len(AGES)
            )

    return tally


def project_detail(
    pop: PopulationConfig, need: NeedConfig, times: Sequence[float], years: int | None = None
) -> Detail:
    """The cohort engine's projection, with people by single year of age at ``times`` (years)."""
    t = np.asarray(sorted(set(times)), dtype=float)
    years = math.ceil(t.max()) if years is None else years
    if t.max() > years:
        raise ValueError(f"times up to {t.max()} years need a projection of at least that many years")
    people = np.zeros((len(t), len(AGES)))
    projection = cohort.project(pop, need, years, observer=_tally(t, people))
    ends = np.flatnonzero(np.isclose(t[:, None], np.arange(years + 1)[None, :]).any(axis=1))
    for i in ends:  # the tallies are the engine's counts, by single year instead of band
        by_band = projection.by_band[round(t[i])]
        if not np.isclose(people[i].sum(), by_band.sum(), rtol=1e-9):
            raise AssertionError("the single-year tallies do not add up to the engine's counts")
    return Detail(t, people, projection, fit_flows(pop, need).mortality)


def report_times() -> list[float]:
    """Every time the table needs: the published dates and the months of the death windows."""
    return sorted({p.t for p in POINTS} | set(_mid_months(WINDOW_2009)) | set(_mid_months(WINDOW_2019)))


# --------------------------------------------------------------------- fitting the mechanisms
FITTED = (
    "receptions_growth_per_year",
    "older_long_receptions_growth_per_year",
    "older_indeterminate_parole_refusal",
)
#: Bounds of the fit. Receptions fell over 2008-18 (their count is NF, so -5% to +3% a year is
#: an assumption); older long receptions may grow up to 40% a year and parole refusals of lifers
#: aged 60+ reach 0.9. DESIGN_BOUNDS holds the latter two to the ageing scenarios' fit ranges
#: (cohort.BOUNDS: 0-15% and 0-0.9; section 5 of the design says 0-10% for older long growth).
WIDE_BOUNDS = ((-0.05, 0.03), (0.0, 0.40), (0.0, 0.9))
DESIGN_BOUNDS = ((-0.05, 0.03), cohort.BOUNDS[1], cohort.BOUNDS[3])
#: The two fitted points (June 2018, [S04]) and the constraint (March 2018, [S14]).
FIT_50, FIT_70, TOTAL_2018 = 13616.0, 1681.0, 83000.0
#: Weight of the total against the fitted points (relative misses): the total is held, not traded.
TOTAL_WEIGHT = 3.0


def fit_backcheck(
    pop: PopulationConfig,
    need: NeedConfig,
    bounds: Sequence[tuple[float, float]] = WIDE_BOUNDS,
    x0: Sequence[float] = (-0.01, 0.15, 0.5),
) -> tuple[dict[str, float], np.ndarray]:
    """Receptions growth, older long receptions growth and the parole refusal of lifers aged 60+
    fitted by least squares to 50+ and 70+ in June 2018, with the March 2018 total held at 83,000.

    ``pop`` supplies the fixed trends (the time-served stretch). Returns the fitted values and the
    relative misses (50+, 70+, total). About 1-2 minutes (each projection takes about 2 s).
    """
    times = (10.0, 10.25)

    def misses(x: np.ndarray) -> np.ndarray:
        d = project_detail(cohort.with_trends(pop, dict(zip(FITTED, x, strict=True))), need, times, 11)
        return np.array(
            [
                d.count(10.25, _50) / FIT_50 - 1.0,
                d.count(10.25, _70) / FIT_70 - 1.0,
                d.count(10.0, _ALL) / TOTAL_2018 - 1.0,
            ]
        )

    lo, hi = np.array(bounds, dtype=float).T
    start = np.clip(np.asarray(x0, dtype=float), lo, hi)
    fit = least_squares(
        lambda x: misses(x) * [1.0, 1.0, TOTAL_WEIGHT],
        x0=start,
        bounds=(lo, hi),
        diff_step=0.05,
        max_nfev=40,
    )
    values = {k: round(float(v), 4) for k, v in zip(FITTED, fit.x, strict=True)}
    return values, misses(np.array(list(values.values())))


# --------------------------------------------------------------------- the comparison table
@dataclass(frozen=True)
class Row:
    """A published point with the model's value (``None``: the source cannot give it)."""

    point: Point
    model: float | None

    @property
    def miss(self) -> float | None:
        return None if self.model is None else self.model / self.point.published - 1.0

    @property
    def within(self) -> bool | None:
        if self.miss is None or self.point.tolerance is None:
            return None
        return abs(self.miss) <= self.point.tolerance


def cohort_rows(detail: Detail) -> list[Row]:
    """Every point of :data:`POINTS` from the cohort engine."""
    return [Row(p, detail.count(p.t, p.ages)) for p in POINTS]


#: The growth factors :func:`cohort_ratios` gives, by name.
RATIO_NAMES = (
    "75+ Mar 2010 -> Mar 2014",
    "deaths 2009 -> year to Jun 2019",
    *(f"{group} Mar 2008 -> Jun 2018" for group in ("total", "50+", "60+", "70+")),
)


def cohort_ratios(detail: Detail) -> dict[str, float]:
    """Growth factors: 75+ 2010 -> 2014, deaths 2009 -> 2019, and each group 2008 -> June 2018."""
    out = {
        "75+ Mar 2010 -> Mar 2014": detail.count(6.0, (75.0, math.inf)) / detail.count(2.0, (75.0, math.inf)),
        "deaths 2009 -> year to Jun 2019": detail.deaths(WINDOW_2019) / detail.deaths(WINDOW_2009),
    }
    for name, ages in (("total", _ALL), ("50+", _50), ("60+", _60), ("70+", _70)):
        out[f"{name} Mar 2008 -> Jun 2018"] = detail.count(10.25, ages) / detail.count(0.0, ages)
    return out


def _band_group(stocks: np.ndarray, ages: tuple[float, float]) -> np.ndarray | None:
    """People in an age group from month-end band counts [month, band], if bands can give it."""
    lower = [18.0, 21.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, math.inf]
    lo, hi = ages
    if lo == 0.0:
        lo = 18.0
    if lo not in lower or hi not in lower:
        return None
    return stocks[:, lower.index(lo) : lower.index(hi)].sum(axis=1)


@dataclass(frozen=True)
class DesSeries:
    """Month-end people by age band, natural deaths and long-class share from simulation runs,
    averaged over replications; index 0 is day 0 (the end of the warm-up)."""

    bands: np.ndarray  # [month, band]
    deaths: np.ndarray  # [month] natural deaths in the month ending there (0 at day 0)
    long_share: np.ndarray  # [month] share of the stock on long determinate terms
    replications: int

    def value(self, t: float, ages: tuple[float, float]) -> float | None:
        series = _band_group(self.bands, ages)
        m = round(t * 12)
        return None if series is None or m >= len(series) else float(series[m])

    def deaths_in(self, window: tuple[float, float]) -> float | None:
        a, b = round(window[0] * 12) + 1, round(window[1] * 12) + 1
        return None if b > len(self.deaths) else float(self.deaths[a:b].sum())


def des_series(cfg: Config, replications: int = 2, jobs: int = 2) -> DesSeries:
    """Run ``replications`` replications of ``cfg`` (in parallel) and average their series."""
    from .simulation import run_replication

    if cfg.run.warmup_years * 12 < 1:
        raise ValueError("day 0 is the end of the warm-up: run.warmup_years must be at least a month")
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, replications))) as pool:
        results = list(pool.map(run_replication, [cfg] * replications, range(replications)))
    bands, deaths, long_share = [], [], []
    for r in results:
        m = r.metrics
        first = m.first_reported_month - 1
        stocks = m.stocks.sum(axis=1)[first:]
        bands.append(stocks[:, Stock.AGE_BAND_0 : Stock.AGE_BAND_0 + 8])
        died = m.flows.sum(axis=1)[first:, Flow.DEATHS].copy()
        died[0] = 0.0
        deaths.append(died)
        long_share.append(stocks[:, Stock.LONG] / stocks[:, Stock.POPULATION])
    return DesSeries(
        np.mean(bands, axis=0), np.mean(deaths, axis=0), np.mean(long_share, axis=0), replications
    )


def des_rows(series: DesSeries) -> list[Row]:
    """Every point of :data:`POINTS` from simulation runs (``None`` below the band resolution)."""
    return [Row(p, series.value(p.t, p.ages)) for p in POINTS]


def des_ratios(series: DesSeries) -> dict[str, float | None]:
    """As :func:`cohort_ratios`, from simulation runs (75+ is below their band resolution)."""
    d9, d19 = series.deaths_in(WINDOW_2009), series.deaths_in(WINDOW_2019)
    out: dict[str, float | None] = {
        "75+ Mar 2010 -> Mar 2014": None,
        "deaths 2009 -> year to Jun 2019": None if d9 is None or d19 is None else d19 / d9,
    }
    for name, ages in (("total", _ALL), ("50+", _50), ("60+", _60), ("70+", _70)):
        end, start = series.value(10.25, ages), series.value(0.0, ages)
        out[f"{name} Mar 2008 -> Jun 2018"] = None if end is None or start is None else end / start
    return out


def _cell(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pct(row: Row) -> str:
    return "—" if row.miss is None else f"{100 * row.miss:+.0f}%"


def markdown_table(cohort_table: list[Row], des_table: list[Row] | None = None) -> str:
    """The comparison as a markdown table (published, cohort engine, simulation)."""
    lines = [
        "| date | group | published | source | role | accepts | cohort engine | miss | DES | miss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    des_table = des_table or [Row(r.point, None) for r in cohort_table]
    for c, s in zip(cohort_table, des_table, strict=True):
        p = c.point
        tol = "—" if p.tolerance is None else f"±{100 * p.tolerance:.0f}%"
        lines.append(
            f"| {p.date} | {p.group} | {p.published:,.0f} | {p.source} | {p.role} | {tol} | "
            f"{_cell(c.model)} | {_pct(c)} | {_cell(s.model)} | {_pct(s)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Refit the back-check, then print the fitted values and the comparison table."""
    from ..compose import check_overrides

    parser = argparse.ArgumentParser(prog="python -m simmodel.model.backcheck", description=__doc__)
    parser.add_argument("--des", action="store_true", help="add 2 national simulation replications")
    parser.add_argument("--no-fit", action="store_true", help="use the scenario's values as they are")
    parser.add_argument(
        "--design-bounds", action="store_true", help="fit within the section 5 ranges instead"
    )
    parser.add_argument("overrides", nargs="*", help="extra configuration overrides")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cfg: Config = check_overrides([*OVERRIDES, *args.overrides])
    pop = cfg.population
    if not args.no_fit:
        bounds = DESIGN_BOUNDS if args.design_bounds else WIDE_BOUNDS
        values, misses = fit_backcheck(pop, cfg.need, bounds)
        print("fitted:", values)
        print("misses (50+, 70+ Jun 2018; total Mar 2018):", np.round(misses, 3).tolist())
        pop = cohort.with_trends(pop, values)
    print(
        "trends:",
        {k: getattr(pop, k) for k in (*FITTED, "long_time_served_stretch_per_year")},
    )
    detail = project_detail(pop, cfg.need, report_times(), math.ceil(_HORIZON_YEARS))
    rows = cohort_rows(detail)
    ratios = cohort_ratios(detail)
    des_table, des_ratio, series = None, None, None
    if args.des:
        sim_cfg = replace(cfg, population=pop, run=replace(cfg.run, years=_HORIZON_YEARS, progress=False))
        series = des_series(sim_cfg, 2)
        des_table, des_ratio = des_rows(series), des_ratios(series)
    print(markdown_table(rows, des_table))
    print()
    print("| growth | cohort engine | DES |")
    print("|---|---|---|")
    for name, value in ratios.items():
        other = None if des_ratio is None else des_ratio[name]
        print(f"| {name} | x{value:.2f} | {'—' if other is None else f'x{other:.2f}'} |")
    d9, d19 = detail.deaths(WINDOW_2009), detail.deaths(WINDOW_2019)
    print(f"\nnatural deaths, cohort engine: {d9:.0f} (2009), {d19:.0f} (year to Jun 2019); [S93] 103, 165")
    if series is not None:
        print(
            f"natural deaths, DES: {series.deaths_in(WINDOW_2009):.0f} (2009), "
            f"{series.deaths_in(WINDOW_2019):.0f} (year to Jun 2019)"
        )
        print(
            f"long determinate share of the stock, DES: {series.long_share[0]:.3f} (Mar 2008), "
            f"{series.long_share[24]:.3f} (Mar 2010), {series.long_share[120]:.3f} (Mar 2018); "
            "[S101] about a third (2010), just under half (2018)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

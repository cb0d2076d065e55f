"""Back-check 2008 -> 2018 (docs/design/ageing.md section 7, docs/backcheck_2008.md).

The scenario ``backcheck_2008`` starts from a March 2008 stock; its trends were fitted to 50+
and 70+ in June 2018 only ([S04]), with the March 2018 total held near 83,000 ([S14]). These
tests compare the cohort engine (fast) and the simulation (slow) with every published point.
Rows that the fitted model misses beyond the design's tolerance are marked ``xfail(strict=True)``
with the reason: they document known failures of the mechanisms (docs/backcheck_2008.md) and
turn into errors the day they pass, so the marks cannot hide a change either way.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from simmodel.api import configure
from simmodel.config import Config
from simmodel.model import backcheck
from simmodel.model.backcheck import POINTS, Detail, Point

#: A national fidelity check (about 20 s even for the cohort engine alone): .ci/run runs it,
#: the README's quick test command does not.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfg() -> Config:
    # the scenario with the 2008 total (backcheck.OVERRIDES: it cannot live in the scenario file)
    return configure(list(backcheck.OVERRIDES))


@pytest.fixture(scope="module")
def detail(cfg: Config) -> Detail:
    # about 3 s: a 12-year projection tallied at every published date and death month
    return backcheck.project_detail(cfg.population, cfg.need, backcheck.report_times(), 12)


def test_the_tallies_are_the_engine_counts(detail: Detail) -> None:
    # the single-year tallies, summed into bands at the year ends, are the engine's own counts
    lower = [18, 21, 25, 30, 40, 50, 60, 70, 1000]
    for year in (0, 2, 4, 6, 10):
        for band in range(8):
            tallied = detail.count(float(year), (lower[band], lower[band + 1]))
            assert tallied == pytest.approx(detail.projection.by_band[year, band], rel=1e-9), (year, band)


def test_the_day0_stock_is_the_2008_stock(cfg: Config) -> None:
    # the steady-state fit holds every 2008 share to 2% (relative; a miss over 5% would warn),
    # so its expected stock has [S121]'s 6,977 aged 50+ and 454 aged 70+ to 1%
    from simmodel.model.flows import fit_flows

    flows = fit_flows(cfg.population, cfg.need)
    target = np.array(cfg.population.stock_age_shares.as_tuple())
    shares = flows.stock_by_band / flows.stock_by_band.sum()
    assert np.allclose(shares, target / target.sum(), rtol=0.02, atol=0), (shares, target)
    assert flows.stock_by_band[5:].sum() == pytest.approx(6977, rel=0.01)
    assert flows.stock_by_band[7] == pytest.approx(454, rel=0.01)
    assert flows.stock_by_band.sum() == pytest.approx(82000, rel=1e-6)


#: Rows the fitted scenario misses beyond the design's tolerance, with why (docs/backcheck_2008.md,
#: "What does not match"). Keyed by (date, group).
KNOWN_MISSES: dict[tuple[str, str], str] = {
    ("Dec 2012", "50-59"): "the model's older growth comes late (compounding receptions), the real early",
    ("Mar 2014", "71+"): "too few of the oldest: the model's 70+ are mostly people who have just turned 70",
    ("Jun 2018", "60+"): "older long receptions grow at every age 50+ alike and pile up at 60-69",
    ("Jun 2018", "70+"): "the fit trades 70+ (short) against 50+ (long): no mechanism values fit both",
}


#: Rows the model puts within half a point of the tolerance (June 2014 50+ at -15.0% against
#: +-15%; June 2018 50+ at +10.2% to +10.4% against +-10%): a recalibration of anything moves
#: them across the line, so they are expected to fail but may pass (not strict).
BORDERLINE: dict[tuple[str, str], str] = {
    ("Jun 2014", "50+"): "borderline (-15.0% against +-15%): older growth comes late in the model",
    ("Jun 2018", "50+"): "borderline (+10.3% against +-10%): the fit trades 50+ against 70+",
}


def _params() -> list:
    out = []
    for p in POINTS:
        if p.tolerance is None:
            continue
        key = (p.date, p.group)
        marks = []
        if key in KNOWN_MISSES:
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[key])]
        elif key in BORDERLINE:
            marks = [pytest.mark.xfail(strict=False, reason=BORDERLINE[key])]
        out.append(pytest.param(p, marks=marks, id=f"{p.date} {p.group}"))
    return out


@pytest.mark.parametrize("point", _params())
def test_cohort_engine_matches_the_published_point(detail: Detail, point: Point) -> None:
    # the design's tolerances (section 7): +-5% or +-10% for the start and the 2018 points,
    # +-15% for 2011-2015 (80+ +-30%: about 100 people)
    model = detail.count(point.t, point.ages)
    assert point.tolerance is not None
    assert abs(model / point.published - 1) <= point.tolerance, (point, round(model))


@pytest.mark.xfail(strict=True, reason="too few of the oldest: 75+ rises x1.46 (docs/backcheck_2008.md)")
def test_75_plus_roughly_doubles_2010_to_2014(detail: Detail) -> None:
    # [S15]: 208 -> 400 aged 75+ (x1.92); the design accepts 1.5-2.3
    ratio = backcheck.cohort_ratios(detail)["75+ Mar 2010 -> Mar 2014"]
    _, lo, hi = backcheck.RATIO_75_PLUS
    assert lo <= ratio <= hi, ratio


def test_natural_deaths_grow_as_published(detail: Detail) -> None:
    # [S93]: 103 natural deaths (2009) -> 165 (year to June 2019), x1.6; the design accepts 1.3-2.0
    ratio = backcheck.cohort_ratios(detail)["deaths 2009 -> year to Jun 2019"]
    lo, hi = backcheck.DEATHS_RATIO_RANGE
    assert lo <= ratio <= hi, ratio


def _factors(detail: Detail) -> tuple[float, float, float, float]:
    r = backcheck.cohort_ratios(detail)
    return tuple(r[f"{g} Mar 2008 -> Jun 2018"] for g in ("total", "50+", "60+", "70+"))  # type: ignore[return-value]


def test_the_older_the_group_the_faster_it_grows(detail: Detail) -> None:
    # Published, March 2008 -> June 2018 ([S121], section 1b, [S04]): total about x1.0 ([S14]),
    # 50+ x1.95, 60+ x2.14 (from 2,340), 70+ x3.4-3.7: the older the group, the faster.
    total, g50, g60, g70 = _factors(detail)
    assert g70 > g60 > g50 > total, (g70, g60, g50, total)
    assert 0.95 <= total <= 1.10, total  # [S14] about 83,000 from the assumed 82,000 (+-5%)


@pytest.mark.xfail(strict=True, reason="70+ grows 1.5x as fast as 50+, not about 2x (docs/backcheck_2008.md)")
def test_70_plus_grows_about_twice_as_fast_as_50_plus(detail: Detail) -> None:
    # Published, March 2008 -> June 2018: 50+ 6,977 -> 13,616 (x1.95, 6.5% a year); 70+ 454 (or
    # 493 in Aug 2008) -> 1,681 (x3.4-3.7, 12-13% a year). Accepted: the factors within the 10%
    # tolerance of the 2018 endpoints (50+ x1.76-2.15, 70+ x3.07-4.07), and 70+'s yearly growth
    # rate (log factor) 1.6-2.3 times 50+'s: published 1.84-1.96, "about twice" (section 7); 1.6
    # allows the model to fall 15% short of the lower end.
    _, g50, _, g70 = _factors(detail)
    assert 1.76 <= g50 <= 2.15, g50
    assert 3.07 <= g70 <= 4.07, g70
    assert 1.6 <= math.log(g70) / math.log(g50) <= 2.3, (g70, g50)


def test_fit_targets_are_the_only_fitted_points() -> None:
    # the design's rule: only 50+ and 70+ in June 2018 are fitted (the total is a constraint)
    fitted = {(p.date, p.group) for p in POINTS if p.role == "fitted"}
    assert fitted == {("Jun 2018", "50+"), ("Jun 2018", "70+")}
    assert [p.group for p in POINTS if p.role == "constraint"] == ["total"]


@pytest.mark.slow
def test_refit_gives_the_scenario_values(cfg: Config) -> None:
    # about 2 minutes: the stored trends are what the fit finds (to 0.005 a year, and 0.02 for
    # the refusal share; the fit's finite-difference step is 5% of each value)
    values, _ = backcheck.fit_backcheck(cfg.population, cfg.need)
    for key, value in values.items():
        stored = getattr(cfg.population, key)
        tol = 0.02 if key == "older_indeterminate_parole_refusal" else 0.005
        assert math.isclose(value, stored, abs_tol=tol), (key, value, stored)


# ------------------------------------------------------------------ the simulation
@pytest.mark.slow
def test_simulation_follows_the_cohort_engine_2008_to_2018(cfg: Config, detail: Detail) -> None:
    # 4 national replications of the 10-year back-check (about 40 s, side by side on 2 cores). The
    # growth factors of 50+ and 60+ from March 2008 to March 2018 agree with the engine's within
    # 4% and 6% (relative). Chance: a group's count is close to Poisson (people in an M/G/inf
    # system), so a factor N10 / N0 has a relative sd of at most sqrt(1/N0 + 1/N10): 50+ (6,900
    # -> 14,400) 1.5% and 60+ (2,300 -> 6,400) 2.4% a run, 0.75% and 1.2% for the mean of four;
    # the engine's own sampling error adds about 1% (tests/test_flows.py). The simulation's
    # need-dependent death hazard is the engine's averaged one (flows.py). Measured over eight
    # seeds (mean of two runs each, before and after issue 13's reordered draws): 60+ grows
    # about 2.5% less than in the engine (-6.0% to +1.6%), 50+ about 0.7% less; with two
    # replications one seed in eight reached -6.0%, hence four.
    sim = replace(cfg, run=replace(cfg.run, years=10, progress=False))
    series = backcheck.des_series(sim, replications=4)
    for ages, tol in (((50.0, math.inf), 0.04), ((60.0, math.inf), 0.06)):
        des_start, des_end = series.value(0.0, ages), series.value(10.0, ages)
        assert des_start is not None and des_end is not None
        des = des_end / des_start
        engine = detail.count(10.0, ages) / detail.count(0.0, ages)
        assert abs(des / engine - 1) <= tol, (ages, des, engine)

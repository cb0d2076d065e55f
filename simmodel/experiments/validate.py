"""Validation: the default estate's outputs against the public figures.

``simmodel validate [key=value ...]`` runs the baseline (national estate, the
default replications), compares the summary with the figures in
``../shared/domain/public_figures.md`` and writes ``docs/validation.md`` (a table with the
source, the accepted range and pass or fail, and the reason for each known gap) and
``docs/validation_series.png``. Exit code 0 whatever the outcome: a failed check is a
finding to explain, not an error. ``tests/test_validation.py`` runs the same checks on a
shorter run and fails if a check that passes today starts failing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..compose import check_overrides
from ..config import ConfigError
from ..outputs.results import write_atomic
from ..paths import REPO
from .replications import Ensemble, run_replications

DOCS = REPO / "docs"
#: England's prison population in 2016, the denominator of the Care Act first-year flows
#: (public_figures.md, [S48] row, from [S47] footnote 16).
ENGLAND_POPULATION_2016 = 78_500

Values = dict[str, float]


@dataclass(frozen=True)
class Check:
    """One comparison: a model quantity, the accepted range, and where the figure comes from."""

    name: str
    unit: str
    compute: Callable[[Values], float]
    low: float
    high: float
    figure: str  # the public figure, in words
    source: str
    tolerance: str  # why the range is what it is
    known_gap: str = ""  # why the model misses today, if it does

    def value(self, values: Values) -> float:
        return float(self.compute(values))


def _per_1000(metric: str) -> Callable[[Values], float]:
    return lambda v: 1000.0 * v[metric] / v["population"]


CARE_ACT_GAP = (
    "The model counts every identification and assessment in a steady state with today's "
    "screening, including people found again after a transfer lost their record; the figure "
    "is the first year of the Care Act (2015/16), when local authorities were setting up "
    "and the survey's counts are lower bounds ('upwards of', 'almost', 'approaching'). "
    "Lower screening sensitivity and referral shares would close the gap, but no current "
    "figure supports them; the 2015/16 figures are kept as a floor."
)

CHECKS: tuple[Check, ...] = (
    Check(
        "Population in prison (adults)",
        "people",
        lambda v: v["population"],
        81_500,
        90_500,
        "86,089 in December 2024 (82,218 men, 3,500 women, 371 children)",
        "[S24]",
        "+/-5% of the adult figure: the population moved by about that much within 2023-24 ([S22] 85,851)",
    ),
    Check(
        "Share aged 50 and over",
        "share",
        lambda v: v["population_50_plus_share"],
        0.15,
        0.22,
        "17% in 2019; 'a fifth' in 2022",
        "[S06] [S09]",
        "between the two published figures, with 2 points either side",
    ),
    Check(
        "Share aged 60 and over",
        "share",
        lambda v: v["population_60_plus_share"],
        0.045,
        0.08,
        "6.2% in September 2021 (4.6% in 2015)",
        "[S12]",
        "about +/-1.5 points: the share rose by 1.6 points in 6 years",
    ),
    Check(
        "Share aged 70 and over",
        "share",
        lambda v: v["population_70_plus_share"],
        0.013,
        0.03,
        "1,813 people in June 2019, about 2.2%",
        "[S06]",
        "0.6 to 1.4 times the 2019 share",
    ),
    Check(
        "First receptions a quarter",
        "people/quarter",
        lambda v: (v["receptions_per_year"] - v["recalls_per_year"]) / 4,
        14_000,
        18_500,
        "15,100-17,100 first receptions a quarter (2021-23)",
        "[S22] [S20] [S19] [S21]",
        "the published range with about 1,000 either side",
    ),
    Check(
        "Recalls to custody a quarter",
        "people/quarter",
        lambda v: v["recalls_per_year"] / 4,
        6_000,
        8_200,
        "6,824 recalls in a quarter of 2023; 32,500 in the year to September 2024",
        "[S22]",
        "from about 10% below the 2023 quarter to the 2024 rate (8,100 a quarter)",
    ),
    Check(
        "Releases from determinate sentences a quarter",
        "people/quarter",
        lambda v: v["determinate_releases_per_year"] / 4,
        11_000,
        13_500,
        "11,300-11,900 releases from sentence a quarter (2021-23)",
        "[S22] [S19] [S20] [S21]",
        "the published range with about 300 below and 1,600 above: the model's determinate "
        "releases include those of a few women and of people sentenced after long remand",
    ),
    Check(
        "Months served before a determinate release",
        "months",
        lambda v: v["determinate_time_served_months_mean"],
        9.9,
        18.9,
        "9.9 months average time served (2015); 18.9 months average detention (2020)",
        "[S14] [S100]",
        "between the two published averages, whose definitions differ",
    ),
    Check(
        "Natural-cause deaths a year",
        "people/year",
        lambda v: v["natural_deaths_per_year"],
        160,
        250,
        "158 (year to Sep 2019), 165 (year to Jun 2019), 250 (year to about Sep 2021)",
        "[S89] [S93]",
        "the published range",
    ),
    Check(
        "Mean age at natural death",
        "years",
        lambda v: v["mean_age_at_death"],
        53,
        59,
        "56 (average age at death in custody)",
        "[S93]",
        "+/-3 years",
    ),
    Check(
        "Prevalence of social care need",
        "share",
        lambda v: v["need_prevalence"],
        0.07,
        0.10,
        "central estimate 7-10% (range 3-13%), Scotland",
        "[S47]",
        "the central range; the wider 3-13% range is the uncertainty of the estimate",
    ),
    Check(
        "Dementia among people aged 50 and over",
        "share",
        lambda v: v["dementia_prevalence_50_plus"],
        0.055,
        0.089,
        "7.0% (95% CI 5.5-8.9%)",
        "[S57]",
        "the study's 95% confidence interval",
    ),
    Check(
        "Dementia among people aged 70 and over",
        "share",
        lambda v: v["dementia_prevalence_70_plus"],
        0.08,
        0.171,
        "11.8% (95% CI 8.0-17.1%)",
        "[S57]",
        "the study's 95% confidence interval",
    ),
    Check(
        "Needs identified a year, per 1,000 prisoners",
        "per 1,000/year",
        _per_1000("detections_per_year"),
        0.5 * 1800 / ENGLAND_POPULATION_2016 * 1000,
        1.5 * 1800 / ENGLAND_POPULATION_2016 * 1000,
        "upwards of 1,800 identified in England in 2015/16 (22.9 per 1,000 of about 78,500)",
        "[S48]",
        "0.5-1.5 times the first-year rate: a survey of a year of setting up",
        CARE_ACT_GAP,
    ),
    Check(
        "Care Act assessments a year, per 1,000 prisoners",
        "per 1,000/year",
        _per_1000("assessments_per_year"),
        0.5 * 1600 / ENGLAND_POPULATION_2016 * 1000,
        1.5 * 1600 / ENGLAND_POPULATION_2016 * 1000,
        "almost 1,600 assessed in England in 2015/16 (20.4 per 1,000)",
        "[S48]",
        "0.5-1.5 times the first-year rate",
        CARE_ACT_GAP,
    ),
    Check(
        "Found eligible a year, per 1,000 prisoners",
        "per 1,000/year",
        _per_1000("eligible_per_year"),
        0.5 * 800 / ENGLAND_POPULATION_2016 * 1000,
        1.5 * 800 / ENGLAND_POPULATION_2016 * 1000,
        "approaching 800 eligible in England in 2015/16 (10.2 per 1,000)",
        "[S48]",
        "0.5-1.5 times the first-year rate",
        CARE_ACT_GAP,
    ),
    Check(
        "Share of prisons with a buddy scheme",
        "share",
        lambda v: v["prisons_with_scheme_share"],
        0.35,
        0.45,
        "41 of 102 prisons (40.2%) had peer support, 2017-20",
        "[S60], seed_facts.md W-1",
        "+/-5 points",
    ),
)


def evaluate(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per check: the model's value, the accepted range and whether it passes."""
    values: Values = dict(zip(summary["metric"], summary["mean"].astype(float), strict=True))
    rows = []
    for check in CHECKS:
        value = check.value(values)
        rows.append(
            {
                "check": check.name,
                "unit": check.unit,
                "model": value,
                "low": check.low,
                "high": check.high,
                "passed": bool(check.low <= value <= check.high),
                "known_gap": bool(check.known_gap),
            }
        )
    return pd.DataFrame(rows)


def _fmt(value: float, unit: str) -> str:
    if np.isnan(value):
        return "n/a"
    if unit == "share":
        return f"{100 * value:.1f}%"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


#: 4-year growth from December 2024 in the published paths: (group, scenario) -> (low, high,
#: words). Derived in docs/design/ageing.md section 5.
AGEING_PATHS: dict[tuple[str, str], tuple[float, float, str]] = {
    ("total", "ageing"): (0.135, 0.185, "+16.1%: 86,000 to 100,800 by March 2029 [S26]"),
    ("total", "ageing_high"): (0.185, 0.235, "+20.9%: 105,200 by March 2029 [S26]"),
    ("total", "ageing_low"): (0.08, 0.135, "+10.6%: 95,700 by March 2029 [S26]"),
    ("50+", "ageing"): (0.20, 0.35, "+28.8%: 13,200 (2022) to over 17,000 by 2026 [S09]"),
    ("60+", "ageing"): (0.15, 0.35, "+17% to +27%: 4% a year [S14] to 6.2% a year [S03]"),
    ("70+", "ageing"): (0.25, 0.65, "+31% to +36%: 7-8% a year [S14] [S04] [S06]"),
}


def ageing_section() -> list[str]:
    """The population paths of the scenarios from the cohort engine (simmodel/model/cohort.py)
    against the published paths, with the baseline's largest drift over 10 years."""
    from ..api import configure
    from ..model import cohort

    lines = [
        "",
        "## The population over time (cohort engine)",
        "",
        "Expected growth of each group from the start of reporting, from the cohort engine "
        "(`simmodel/model/cohort.py`: the flows alone, no chance), which the simulation follows "
        "(`tests/test_ageing.py`). `python -m simmodel.experiments.trends` prints the same.",
        "",
        "| scenario | group | 4 years | 10 years | published path | accepted at 4 years | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in ("baseline", "ageing", "ageing_high", "ageing_low"):
        cfg = configure([f"scenario={scenario}"])
        p = cohort.project(cfg.population, cfg.need, 10)
        for group, band in cohort.GROUPS:
            four, ten = p.growth(band, 4), p.growth(band, 10)
            if scenario == "baseline":
                drift = float(np.abs(p.group(band) / p.group(band)[0] - 1).max())
                path, accepted, ok = "held steady", "every year within +/-5%", drift <= 0.05
            elif (group, scenario) in AGEING_PATHS:
                lo, hi, path = AGEING_PATHS[(group, scenario)]
                accepted, ok = f"{100 * lo:+.1f}% to {100 * hi:+.1f}%", lo <= four <= hi
            else:
                path, accepted, ok = "not published (between low and high)", "-", True
            cells = [scenario, group, f"{100 * four:+.1f}%", f"{100 * ten:+.1f}%", path, accepted]
            lines.append("| " + " | ".join([*cells, "pass" if ok else "**fail**"]) + " |")
    lines += [
        "",
        "The 10-year column continues after the trends stop in March 2029: the stock keeps "
        "growing while the longer stays work through. The 2008-2018 back-check is in "
        "[backcheck_2008.md](backcheck_2008.md).",
    ]
    return lines


def report(
    ensemble: Ensemble, table: pd.DataFrame, plot_name: str | None, ageing: list[str] | None = None
) -> str:
    """``docs/validation.md`` as text; ``ageing``: the lines of :func:`ageing_section`."""
    cfg = ensemble.cfg
    passed = int(table["passed"].sum())
    lines = [
        "# Validation against public figures",
        "",
        "Written by `simmodel validate` (do not edit by hand). Scenario "
        f"`{cfg.scenario}`, funding `{cfg.funding.name}`, estate `{cfg.estate.name}` "
        f"({ensemble.estate.size} prisons), {cfg.run.years:g} year(s) after a "
        f"{cfg.run.warmup_years:g}-year warm-up, {ensemble.n} replications, seed {cfg.run.seed}. "
        "Model values are means over the reported years and the replications. Sources are in "
        "`../shared/domain/public_figures.md`.",
        "",
        f"**{passed} of {len(table)} checks pass.**",
        "",
        "| check | model | accepted range | public figure | source | why this range | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for check, row in zip(CHECKS, table.itertuples(index=False), strict=True):
        result = "pass" if row.passed else ("**fail** (known gap, below)" if check.known_gap else "**fail**")
        accepted = f"{_fmt(check.low, check.unit)} to {_fmt(check.high, check.unit)}"
        cells = [check.name, _fmt(row.model, check.unit), accepted, check.figure, check.source]
        lines.append("| " + " | ".join([*cells, check.tolerance, result]) + " |")
    gaps = [(c, r) for c, r in zip(CHECKS, table.itertuples(index=False), strict=True) if not r.passed]
    if gaps:
        lines += ["", "## Where the model misses", ""]
        explained = dict.fromkeys(c.known_gap for c, _ in gaps if c.known_gap)
        for gap in explained:
            names = "; ".join(c.name for c, _ in gaps if c.known_gap == gap)
            lines += [f"- **{names}**: {gap}"]
        for check, _ in gaps:
            if not check.known_gap:
                lines += [f"- **{check.name}**: not explained yet; a regression to investigate."]
    if plot_name:
        lines += [
            "",
            "## Series",
            "",
            f"![Monthly estate series with the accepted ranges]({plot_name})",
            "",
            "Monthly means across replications (lines) with their 95% intervals (bands); grey "
            "bands mark the accepted ranges above.",
        ]
    lines += ageing or []
    return "\n".join(lines) + "\n"


def plot_series(ensemble: Ensemble, path: Path) -> None:
    """Population, share aged 50+ and need prevalence by month, with the accepted ranges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = ensemble.timeseries()
    est = series[series["scope"] == "estate"]
    years = est["year"].to_numpy()
    older = ["population_50_59", "population_60_69", "population_70_plus"]
    panels = [
        ("Population", est["population"], None, (81_500, 90_500)),
        ("Share aged 50+", est[older].sum(axis=1) / est["population"], None, (0.15, 0.22)),
        ("Need prevalence", est["people_with_need"] / est["population"], None, (0.07, 0.10)),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (title, values, _, band) in zip(axes, panels, strict=True):
        ax.axhspan(*band, color="0.85", label="accepted range")
        ax.plot(years, values, color="tab:blue", label="model (mean)")
        if title == "Population":
            ax.fill_between(
                years, est["population_ci_low"], est["population_ci_high"], alpha=0.3, color="tab:blue"
            )
        ax.set_title(title)
        ax.set_xlabel("Year of the run")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Run the baseline, compare, write docs/validation.md; print the table."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cfg = check_overrides(args)
    except ConfigError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        return 2
    ensemble = run_replications(cfg)
    table = evaluate(ensemble.summary())
    DOCS.mkdir(exist_ok=True)
    plot = DOCS / "validation_series.png"
    plot_series(ensemble, plot)
    write_atomic(DOCS / "validation.md", report(ensemble, table, plot.name, ageing_section()))
    for check, row in zip(CHECKS, table.itertuples(index=False), strict=True):
        status = "pass" if row.passed else "FAIL"
        print(f"  {status:<5}{check.name:<52}{_fmt(row.model, check.unit)}")
    print(f"\n{int(table['passed'].sum())} of {len(table)} checks pass. Written: {DOCS / 'validation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Validation: the default estate's outputs against the public figures.

``simmodel validate [key=value ...]`` runs the baseline (national estate, the
default replications), compares the summary with the public figures declared in
``configs/targets.yaml`` (each marked ``calibration``: parameters are set from it, or
``validation``: an independent check; with its source, range and the reason for the range)
and writes ``docs/validation.md`` (the two groups apart, headed by how many of each pass,
and the reason for each known gap) and ``docs/validation_series.png``: with no overrides, in
a source checkout; any other run writes them to ``results/validation/DATE_TIME/``. Exit code 0 whatever
the outcome: a failed check is a finding to explain, not an error.
``tests/test_validation.py`` runs the same checks on a shorter run and fails if a figure
that is met today stops being met; ``tests/test_targets.py`` checks the declared split.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..compose import check_overrides
from ..config import PRISON_TYPES, ConfigError
from ..outputs.results import write_atomic
from ..paths import CONFIG_DIR, REPO
from ..trust import SAFE_LOADER
from .replications import Ensemble, run_replications

DOCS = REPO / "docs"
#: The public figures and their declared roles and ranges (calibration or validation).
TARGETS = CONFIG_DIR / "targets.yaml"
ROLES = ("validation", "calibration")

Values = dict[str, float]


@dataclass(frozen=True)
class Check:
    """One public figure: the model quantity compared with it, its declared role and range.

    ``role``: ``calibration`` (parameters are set from the figure) or ``validation`` (an
    independent check). The model's value is ``(metric - minus) / per x scale``.
    """

    key: str
    name: str
    role: str
    unit: str
    metric: str
    low: float
    high: float
    figure: str  # the public figure, in words
    source: str
    tolerance: str  # why the range is what it is
    minus: str = ""
    per: str = ""  # a metric, or "prisons"
    scale: float = 1.0
    parameters: tuple[str, ...] = ()
    shares_source: str = ""
    known_gap: str = ""  # why the model misses today, if it does

    def value(self, values: Values) -> float:
        x = values[self.metric] - (values[self.minus] if self.minus else 0.0)
        if self.per:
            x = x / values[self.per]
        return float(x * self.scale)


@lru_cache(maxsize=1)
def targets(path: Path = TARGETS) -> tuple[Check, ...]:
    """Every declared figure in ``configs/targets.yaml``, in file order."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    gaps = data.get("gaps", {})
    checks = []
    for key, spec in data["targets"].items():
        if spec["role"] not in ROLES:
            raise ConfigError(f"{path.name}: {key}.role = {spec['role']!r}: expected {' or '.join(ROLES)}")
        quantity = spec["quantity"]
        if "backcheck" in quantity:  # a value of the 2008 back-check (backcheck_values)
            quantity = {**quantity, "metric": f"backcheck:{quantity['backcheck']}"}
        gap = str(spec.get("gap", ""))
        checks.append(
            Check(
                key=key,
                name=spec["name"],
                role=spec["role"],
                unit=spec["unit"],
                metric=quantity["metric"],
                minus=quantity.get("minus", ""),
                per=quantity.get("per", ""),
                scale=float(quantity.get("scale", 1.0)),
                low=float(spec["low"]),
                high=float(spec["high"]),
                figure=str(spec["figure"]),
                source=str(spec["source"]),
                tolerance=str(spec["why"]),
                parameters=tuple(spec.get("parameters", ())),
                shares_source=str(spec.get("shares_source", "")),
                known_gap=str(gaps.get(gap, gap)),
            )
        )
    return tuple(checks)


def type_values(series: pd.DataFrame) -> Values:
    """Quantities by prison type from a run's monthly series: ``share_75_plus_in_TYPE``, the
    share of everyone aged 75 and over held in prisons of that type (all months, all prisons)."""
    prisons = series[series["scope"] == "prison"]
    aged = prisons.groupby("prison_type")["population_75_plus"].sum()
    total = float(aged.sum())
    return {
        f"share_75_plus_in_{t}": float(aged.get(t, 0.0)) / total if total else float("nan")
        for t in PRISON_TYPES
    }


def _flat_keys(node: object, prefix: str = "") -> set[str]:
    """Dotted keys of every value in a YAML mapping."""
    if not isinstance(node, dict):
        return {prefix}
    keys: set[str] = set()
    for key, value in node.items():
        keys |= _flat_keys(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


def mechanism_overrides(overrides: Sequence[str], scenario: str) -> tuple[str, ...]:
    """The overrides of the run being validated that the cohort engine's checks run with too:
    those of ``population.*`` and ``need.*`` keys (how people arrive, stay, age, die and develop
    a need) that ``scenario`` does not set itself (its dates, stock and trends stay its own).
    So a check of the ageing paths or the 2008 back-check moves with the parameters it checks."""
    path = CONFIG_DIR / "scenario" / f"{scenario}.yaml"
    own = _flat_keys(yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {})
    kept = []
    for override in overrides:
        key = override.lstrip("+").partition("=")[0]
        if key.split(".")[0] in ("population", "need") and not any(
            key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in own
        ):
            kept.append(override)
    return tuple(kept)


@lru_cache(maxsize=4)
def backcheck_values(overrides: tuple[str, ...] = ()) -> Values:
    """Quantities of the 2008 back-check (:mod:`simmodel.model.backcheck`), from the cohort engine
    run with the committed ``backcheck_2008`` scenario (about 3 s): ``backcheck:DATE GROUP``, a
    count of each published point, and ``backcheck:NAME`` for each growth factor of
    :func:`~simmodel.model.backcheck.cohort_ratios`. The simulation follows the cohort engine to
    within a few percent here (docs/backcheck_2008.md). ``overrides``: those of the run being
    validated (:func:`mechanism_overrides` picks the ones the back-check runs with)."""
    import math

    from ..model import backcheck

    kept = mechanism_overrides(overrides, "backcheck_2008")
    cfg = check_overrides([*backcheck.OVERRIDES, *kept])
    years = math.ceil(max(backcheck.report_times()))
    detail = backcheck.project_detail(cfg.population, cfg.need, backcheck.report_times(), years)
    rows = backcheck.cohort_rows(detail)
    values = {f"backcheck:{r.point.date} {r.point.group}": float(r.model) for r in rows}
    values.update({f"backcheck:{k}": float(v) for k, v in backcheck.cohort_ratios(detail).items()})
    return values


#: Quantities :func:`type_values` adds to the summary metrics.
TYPE_QUANTITIES = tuple(f"share_75_plus_in_{t}" for t in PRISON_TYPES)


def evaluate(
    summary: pd.DataFrame, prisons: int, series: pd.DataFrame | None = None, overrides: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per declared figure: the model's value, the range, and whether it is met.

    ``series``: the run's monthly table (for the quantities by prison type; NaN without it).
    ``overrides``: the run's, which the back-check's cohort projection takes up too.
    """
    values: Values = dict(zip(summary["metric"], summary["mean"].astype(float), strict=True))
    values["prisons"] = float(prisons)
    values.update(type_values(series) if series is not None else dict.fromkeys(TYPE_QUANTITIES, float("nan")))
    if any(c.metric.startswith("backcheck:") for c in targets()):
        values.update(backcheck_values(tuple(overrides)))
    rows = []
    for check in targets():
        value = check.value(values)
        rows.append(
            {
                "key": check.key,
                "check": check.name,
                "role": check.role,
                "unit": check.unit,
                "model": value,
                "low": check.low,
                "high": check.high,
                "passed": bool(check.low <= value <= check.high),
                "known_gap": bool(check.known_gap),
            }
        )
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame) -> str:
    """``**N of M independent checks pass; K of L calibration targets met.**``"""
    v = table[table["role"] == "validation"]
    c = table[table["role"] == "calibration"]
    return (
        f"**{int(v['passed'].sum())} of {len(v)} independent checks pass; "
        f"{int(c['passed'].sum())} of {len(c)} calibration targets met.**"
    )


def _fmt(value: float, unit: str) -> str:
    """A value as the tables show it, with the digits a tight range needs (6.47%, 0.934)."""
    if np.isnan(value):
        return "n/a"
    if unit == "share":
        return f"{100 * value:.2f}%"
    if abs(value) < 10:
        return f"{value:.3g}"
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


def ageing_section(overrides: Sequence[str] = ()) -> list[str]:
    """The population paths of the scenarios from the cohort engine (simmodel/model/cohort.py)
    against the published paths, with the baseline's largest drift over 10 years; each scenario
    with the run's ``population.*`` and ``need.*`` overrides it does not set (:func:`mechanism_overrides`)."""
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
        cfg = configure([f"scenario={scenario}", *mechanism_overrides(overrides, scenario)])
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
    lines = [
        "# Validation against public figures",
        "",
        headline(table),
        "",
        "Written by `simmodel validate` (do not edit by hand). Scenario "
        f"`{cfg.scenario}`, funding `{cfg.funding.name}`, estate `{cfg.estate.name}` "
        f"({ensemble.estate.size} prisons), {cfg.run.years:g} year(s) after a "
        f"{cfg.run.warmup_years:g}-year warm-up, {ensemble.n} replications, seed {cfg.run.seed}. "
        "Model values are means over the reported years and the replications. Every figure, its "
        "role and its range are declared in `configs/targets.yaml` before the model is run; sources "
        "are in `../shared/domain/public_figures.md`.",
        "",
        "- **Independent checks** (`validation`): no parameter is set from these figures "
        "(`tests/test_targets.py` fails if a parameter's comment cites one). They can fail.",
        "- **Calibration targets** (`calibration`): parameters are set from these figures, so meeting "
        "them shows only that the model holds what it was given; their ranges are tight (the published "
        "range, or within 5% of a point figure), so a drifting model is caught.",
    ]
    checks = {c.key: c for c in targets()}
    for role, title in (("validation", "Independent checks"), ("calibration", "Calibration targets")):
        rows = table[table["role"] == role]
        met = "pass" if role == "validation" else "met"
        lines += [
            "",
            f"## {title}: {int(rows['passed'].sum())} of {len(rows)} {met}",
            "",
            "| figure | model | accepted range | public figure | source | why this range | result |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in rows.itertuples(index=False):
            check = checks[row.key]
            result = met if row.passed else ("**fail** (gap below)" if check.known_gap else "**fail**")
            accepted = f"{_fmt(check.low, check.unit)} to {_fmt(check.high, check.unit)}"
            cells = [check.name, _fmt(row.model, check.unit), accepted, check.figure, check.source]
            lines.append("| " + " | ".join([*cells, check.tolerance, result]) + " |")
        if role == "calibration":
            lines += ["", "Parameters set from each target:", ""]
            lines += [f"- {checks[k].name}: `{'`, `'.join(checks[k].parameters)}`" for k in rows["key"]]
    gaps = [checks[r.key] for r in table.itertuples(index=False) if not r.passed]
    if gaps:
        lines += ["", "## Where the model misses", ""]
        explained = dict.fromkeys(c.known_gap for c in gaps if c.known_gap)
        for gap in explained:
            names = "; ".join(c.name for c in gaps if c.known_gap == gap)
            lines += [f"- **{names}**: {gap}"]
        for check in gaps:
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
    ranges = {c.key: (c.low, c.high) for c in targets()}
    panels = [
        ("Population", est["population"], None, ranges["population"]),
        ("Share aged 50+", est[older].sum(axis=1) / est["population"], None, ranges["share_50_plus"]),
        ("Need prevalence", est["people_with_need"] / est["population"], None, ranges["need_prevalence"]),
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
    """Run the baseline, compare, write the report (:func:`report_folder`); print the table."""
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(f"usage: simmodel validate [key=value ...]\n\n{__doc__}")
        return 0
    try:
        cfg = check_overrides(args)
    except ConfigError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        return 2
    ensemble = run_replications(cfg)
    table = evaluate(ensemble.summary(), ensemble.estate.size, ensemble.timeseries(), args)
    folder = report_folder(args)
    folder.mkdir(parents=True, exist_ok=True)
    plot = folder / "validation_series.png"
    plot_series(ensemble, plot)
    write_atomic(folder / "validation.md", report(ensemble, table, plot.name, ageing_section(args)))
    for row in table.itertuples(index=False):
        status = "pass" if row.passed else "FAIL"
        print(f"  {status:<5}{row.role:<12}{row.check:<66}{_fmt(row.model, row.unit)}")
    print(f"\n{headline(table).strip('*')} Written: {folder / 'validation.md'}")
    return 0


def report_folder(overrides: Sequence[str]) -> Path:
    """Where the report goes: ``docs/`` for the committed validation (the default run, in a source
    checkout), otherwise ``results/validation/DATE_TIME`` under the working folder, so a run with
    other settings, or from an installed copy, never rewrites the project's record."""
    from datetime import datetime

    from ..compose import user_layers

    # the default run: no overrides, no scenarios/ or estates/ of the working folder over the shipped
    default_run = not overrides and not user_layers()
    if default_run and (REPO / "pyproject.toml").is_file() and CONFIG_DIR.parent == REPO:
        return DOCS
    return Path("results") / "validation" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


if __name__ == "__main__":
    sys.exit(main())

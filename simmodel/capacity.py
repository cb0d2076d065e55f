"""Capacity calculator: ``python -m simmodel.capacity target.METRIC=LIMIT [lever=KEY] ...``.

    python -m simmodel.capacity estate=single_prison lever=buddies.posts_per_1000_prisoners \\
        target.nonpersonal_unmet_share=0.5 run.years=1
    python -m simmodel.capacity target.nonpersonal_unmet_share=0.3 by=type run.years=2

Finds the smallest value of a lever (the resource a planner can buy) at which every target
is met with the stated confidence, searching the lever's range with runs paired by common
random numbers. Targets are ceilings: ``target.METRIC=LIMIT`` keeps METRIC at or below LIMIT.
METRIC is a summary metric (hours a week, events a year, days, ...) or a share of need:
``nonpersonal_unmet_share``, ``personal_unmet_share``, ``unmet_share``. Settings:

    lever       the model key to size                              [buddies.posts_per_1000_prisoners]
                also: pathway.assessors_per_prison, regime.window_hours,
                care.provider_capacity_hours_per_week_per_100_places, or any number key with
                low=, high= and step=
    low, high, step   the range searched and its resolution     [the lever's own]
    confidence  one-sided confidence that the target is met       [0.95]
    basis       mean: the upper confidence bound of the mean over replications;
                replications: the share `confidence` of replications meet it   [mean]
    by          estate: one answer; type: one per prison type (and the estate);
                prison: one per listed prison                      [estate]
    out, jobs, progress   folder (default results/capacity/...), worker processes, progress lines

Anything else is a model override. A one-prison estate sizes buddy posts in whole posts.
Prints the answer in a sentence and writes ``capacity.csv`` (the answer per scope),
``curve.csv`` (every value run, with intervals), ``capacity.png``, ``report.html``,
``points.csv`` and ``run.json`` into the folder it prints. Running the same command again
reuses every finished run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .callable_module import make_callable
from .config import ConfigError

SETTINGS: dict[str, Any] = {
    "lever": "buddies.posts_per_1000_prisoners",
    "low": "",
    "high": "",
    "step": "",
    "confidence": 0.95,
    "basis": "mean",
    "by": "estate",
    "out": "",
    "jobs": 0,
    "progress": True,
}

#: Shares of need left unmet: (unmet metric, need metrics).
SHARES = {
    "nonpersonal_unmet_share": ("nonpersonal_unmet_hours_per_week", ("nonpersonal_need_hours_per_week",)),
    "personal_unmet_share": ("personal_unmet_hours_per_week", ("personal_need_hours_per_week",)),
    "unmet_share": (
        "unmet_hours_per_week",
        ("nonpersonal_need_hours_per_week", "personal_need_hours_per_week"),
    ),
}
SHARE_WORDS = {
    "nonpersonal_unmet_share": "unmet non-personal care",
    "personal_unmet_share": "unmet personal care",
    "unmet_share": "unmet care of both kinds",
}


@dataclass(frozen=True)
class LeverRange:
    """A lever's default range and words: ``axis`` names its unit, ``amount`` says a value
    ({} takes it); low, high and step are in the key's units."""

    axis: str
    amount: str
    low: float
    high: float
    step: float


LEVERS = {
    "buddies.posts_per_1000_prisoners": LeverRange(
        "buddy posts per 1,000 places", "{:g} buddy posts per 1,000 places", 0, 100, 1
    ),
    "pathway.assessors_per_prison": LeverRange(
        "assessments a local authority runs at once per prison",
        "{:g} assessment slot(s) per prison (assessments a local authority runs at once)",
        0,
        10,
        1,
    ),
    "care.provider_capacity_hours_per_week_per_100_places": LeverRange(
        "personal care hours a week providers can deliver per 100 places",
        "providers able to deliver {:g} hours a week of personal care per 100 places",
        0,
        400,
        5,
    ),
    "regime.window_hours": LeverRange(
        "hours in each unlock window", "unlock windows of {:g} hours", 0.5, 6, 0.25
    ),
}
#: Keys a planner might try that the model gives no dose-response, and why.
NOT_LEVERS = {
    "funding.coordinator_fte_per_prison": (
        "the model gives a care coordinator fixed effects (funding=care_coordinator: screening, "
        "detection, referral and recruitment), not effects that grow with the hours; the FTE sets "
        "its cost only. Compare funding=care_coordinator with the status quo instead "
        "(python -m simmodel.psa or a sweep)"
    ),
}


@dataclass(frozen=True)
class Target:
    """Keep ``metric`` at or below ``limit`` (its unit)."""

    metric: str
    limit: float

    def values(self, lines: pd.DataFrame) -> np.ndarray:
        """The target's output in each line (a replication of a scope)."""
        if self.metric in SHARES:
            unmet, needs = SHARES[self.metric]
            need = lines[list(needs)].sum(axis=1).to_numpy()
            return np.divide(lines[unmet].to_numpy(), need, out=np.zeros(len(need)), where=need > 0)
        return lines[self.metric].to_numpy(dtype=float)

    def words(self) -> str:
        from .outputs.uncertainty_report import output_words, with_unit

        if self.metric in SHARES:
            return f"{SHARE_WORDS[self.metric]} at or below {self.limit:.0%} of need"
        label, unit = output_words(self.metric)
        return f"{label.strip().lower()} at or below {with_unit(self.limit, unit or _unit(self.metric))}"


def _unit(metric: str) -> str:
    from .outputs.results import METRICS

    return {m.name: m.unit for m in METRICS}.get(metric, "")


def parse_targets(items: Mapping[str, float] | Sequence[str]) -> list[Target]:
    """``{"nonpersonal_unmet_share": 0.1}`` or ``["target.nonpersonal_unmet_share=0.1"]``."""
    from .outputs.results import METRICS

    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items:
            key, _, text = item.partition("=")
            pairs.append((key.removeprefix("target."), text))
    known = [*SHARES, *(m.name for m in METRICS)]
    targets = []
    for metric, text in pairs:
        if metric not in known:
            raise ConfigError(
                f"target.{metric}: not a metric; targets are shares of need ({', '.join(SHARES)}) "
                "or summary metrics (e.g. nonpersonal_unmet_hours_per_week, assessment_wait_days_mean)"
            )
        try:
            limit = float(text)
        except ValueError:
            raise ConfigError(f"target.{metric}={text!r}: expected a number") from None
        if not math.isfinite(limit) or limit < 0 or (metric in SHARES and limit > 1):
            allowed = "a share from 0 to 1" if metric in SHARES else "a number of 0 or more"
            raise ConfigError(f"target.{metric}={text}: expected {allowed}")
        targets.append(Target(metric, limit))
    if not targets:
        raise ConfigError("no target: give one, e.g. target.nonpersonal_unmet_share=0.1 (see --help)")
    return targets


@dataclass
class Grid:
    """The lever's values searched (key units), how a planner reads them, and their unit."""

    key: str
    values: np.ndarray
    shown: np.ndarray
    axis: str
    amount: str
    whole_posts: bool = False


def _number_setting(opts: dict[str, Any], name: str, default: float | None) -> float:
    text = str(opts[name]).strip()
    if text == "":
        if default is None:
            raise ConfigError(
                f"lever={opts['lever']} has no default range: give low=, high= and step= "
                f"(levers with one: {', '.join(LEVERS)})"
            )
        return float(default)
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a number") from None


def lever_grid(cfg: Any, opts: dict[str, Any]) -> Grid:
    """The values to search, from the lever's defaults and ``low``, ``high``, ``step``."""
    from .assumptions import get_value

    key = str(opts["lever"])
    if key in NOT_LEVERS:
        raise ConfigError(f"lever={key}: {NOT_LEVERS[key]}")
    try:
        current = get_value(cfg, key)
    except KeyError:
        raise ConfigError(f"lever={key}: not a model key (e.g. {', '.join(LEVERS)})") from None
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ConfigError(f"lever={key}: is not a number, so it cannot be sized")
    spec = LEVERS.get(key)
    low = _number_setting(opts, "low", spec.low if spec else None)
    high = _number_setting(opts, "high", spec.high if spec else None)
    step = _number_setting(opts, "step", spec.step if spec else None)
    if key == "regime.window_hours" and not str(opts["high"]).strip():
        high = min(high, 24 / cfg.regime.windows_per_day)
    if not (0 <= low < high) or step <= 0:
        raise ConfigError(f"low={low:g}, high={high:g}, step={step:g}: need 0 <= low < high and step > 0")
    if isinstance(current, int):
        step = max(1.0, round(step))
    axis, amount = (spec.axis, spec.amount) if spec else (key, f"{key} = {{:g}}")
    prisons = cfg.estate.prisons
    factor = cfg.funding.buddy_posts_factor
    if key == "buddies.posts_per_1000_prisoners" and len(prisons) == 1 and factor > 0:
        # one prison: search whole posts; the model makes ceil(per 1,000 x places / 1,000) posts,
        # so P posts is (P - 1/2) per the prison's places (0 stays 0)
        places = prisons[0].capacity * factor
        posts = np.arange(
            math.floor(low * places / 1000), math.ceil(high * places / 1000) + 1, max(1, round(step))
        )
        values = np.where(posts > 0, (posts - 0.5) * 1000 / places, 0.0)
        return Grid(key, values, posts.astype(float), "buddy posts", "{:g} buddy posts", whole_posts=True)
    count = math.floor((high - low) / step + 1e-9) + 1
    values = low + step * np.arange(count)
    return Grid(key, values, values, axis, amount)


@dataclass
class CapacityResult:
    """The answer per scope (``table``), every value run (``curve``), the sentences, the folder."""

    table: pd.DataFrame
    curve: pd.DataFrame
    sentences: list[str]
    folder: Path
    seconds: float
    runs: int


def _scopes(cfg: Any, by: str) -> list[tuple[int, str]]:
    """``(scope index in points.csv, name)`` of every scope answered."""
    from .config import PRISON_TYPES
    from .model.estate import TYPE_LABEL

    if by == "estate":
        only = cfg.estate.prisons[0].name if len(cfg.estate.prisons) == 1 else "The estate"
        return [(0, only)]
    if by == "type":
        counts = (
            [sum(p.type == t for p in cfg.estate.prisons) for t in PRISON_TYPES]
            if cfg.estate.prisons
            else [round(getattr(cfg.estate.count, t)) for t in PRISON_TYPES]
        )
        return [(0, "The estate")] + [
            (1 + i, f"{TYPE_LABEL[t]} prisons") for i, t in enumerate(PRISON_TYPES) if counts[i] > 0
        ]
    if by == "prison":
        if not cfg.estate.prisons:
            raise ConfigError(
                "by=prison: this estate's prisons are drawn anew in each replication (no fixed prisons "
                "to size); use by=type, or an estate that lists its prisons"
            )
        return [(0, "The estate")] + [(1 + i, p.name) for i, p in enumerate(cfg.estate.prisons)]
    raise ConfigError(f"by={by!r}: expected estate, type or prison")


def analyse(overrides: Sequence[str], targets: list[Target], **settings: Any) -> CapacityResult:
    """Run the capacity search and write its folder (see the module's help)."""
    from .compose import check_overrides
    from .experiments import analysis
    from .experiments.capacity_search import BASES, smallest_met, upper_bound
    from .experiments.design_runs import Point, Progress, run_points
    from .experiments.replications import available_cores

    opts = {**SETTINGS, **settings}
    confidence = float(opts["confidence"])
    if not 0.5 <= confidence < 1:
        raise ConfigError(f"confidence={confidence:g}: expected a share from 0.5 to below 1 (e.g. 0.95)")
    if opts["basis"] not in BASES:
        raise ConfigError(f"basis={opts['basis']!r}: expected one of {', '.join(BASES)}")
    cfg = check_overrides(list(overrides))
    grid = lever_grid(cfg, opts)
    scopes = _scopes(cfg, str(opts["by"]))
    identity = {**opts, "targets": ",".join(f"{t.metric}={t.limit:g}" for t in targets)}
    folder = analysis.folder_for("capacity", identity, overrides, cfg)
    analysis.prepare_folder(folder)
    option = cfg.funding.name
    base = {option: cfg}
    jobs = int(opts["jobs"]) or available_cores()
    lines: pd.DataFrame = pd.DataFrame()
    rounds = 0
    started = time.perf_counter()
    kind = "estate" if opts["by"] == "estate" else str(opts["by"])

    def bounds(point_lines: pd.DataFrame) -> np.ndarray:
        """targets x scopes: each target's upper bound in each scope."""
        out = np.full((len(targets), len(scopes)), np.nan)
        for j, (scope, _) in enumerate(scopes):
            rows = point_lines[point_lines["scope"] == scope]
            for i, target in enumerate(targets):
                out[i, j] = upper_bound(target.values(rows), confidence, str(opts["basis"]))
        return out

    limits = np.array([t.limit for t in targets])[:, None]

    def evaluate(indices: list[int]) -> np.ndarray:
        nonlocal lines, rounds
        rounds += 1
        report = Progress(f"search round {rounds}", bool(opts["progress"]), unit="values of the lever")
        points = [Point(i, option, {grid.key: float(grid.values[i])}) for i in indices]
        lines = run_points(points, base, folder, jobs=jobs, progress=report, scopes=kind)
        return np.array([(bounds(lines[lines["point"] == i]) <= limits).all(axis=0) for i in indices])

    search = smallest_met(evaluate, len(grid.values), len(scopes), per_round=max(jobs, 1))
    seconds = time.perf_counter() - started
    curve = _curve(lines, grid, scopes, targets, bounds)
    table = _answers(search.answers, curve, grid, scopes, targets, limits)
    sentences = [
        _sentence(row, grid, targets, confidence, str(opts["basis"])) for row in table.to_dict("records")
    ]
    reps = cfg.run.replications
    if opts["basis"] == "mean" and reps < 4:
        from scipy import stats

        t = stats.t.ppf(confidence, reps - 1) if reps > 1 else 0.0
        width = "no interval" if reps == 1 else f"a wide bound (mean + {t:.1f} standard errors)"
        sentences.append(
            f"With {reps} replication(s) a value has {width}; run.replications=4 or more gives a firmer "
            "answer."
        )
    result = CapacityResult(table, curve, sentences, folder, seconds, len(search.met))
    _write(result, cfg, opts, identity, list(overrides), grid, targets)
    return result


def _curve(
    lines: pd.DataFrame,
    grid: Grid,
    scopes: list[tuple[int, str]],
    targets: list[Target],
    bounds: Callable[[pd.DataFrame], np.ndarray],
) -> pd.DataFrame:
    """One row per value run and scope: the lever, each target's mean, 95% interval and bound,
    posts, buddies, and cost by payer (means over replications)."""
    from .experiments.replications import t_interval

    rows = []
    for point, point_lines in lines.groupby("point", sort=True):
        b = bounds(point_lines)
        for j, (scope, name) in enumerate(scopes):
            sub = point_lines[point_lines["scope"] == scope]
            row: dict[str, Any] = {"scope": name, "value": grid.values[point], "shown": grid.shown[point]}
            for i, target in enumerate(targets):
                x = target.values(sub)
                x = x[np.isfinite(x)]  # none: undefined (e.g. no assessments), so NaN
                mean, low, high = t_interval(x) if len(x) else (np.nan, np.nan, np.nan)
                row |= {
                    f"{target.metric}_mean": float(mean),
                    f"{target.metric}_ci_low": float(low),
                    f"{target.metric}_ci_high": float(high),
                    f"{target.metric}_bound": b[i, j],
                    f"{target.metric}_met": bool(b[i, j] <= target.limit),
                }
            for column in (
                "buddy_posts",
                "buddies_active",
                "cost_prison_per_year",
                "cost_local_authority_per_year",
                "cost_nhs_per_year",
                "cost_total_per_year",
            ):
                row[column] = sub[column].mean()
            row["replications"] = len(sub)
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["scope", "value"], kind="stable").reset_index(drop=True)


def _answers(
    answers: list[int | None],
    curve: pd.DataFrame,
    grid: Grid,
    scopes: list[tuple[int, str]],
    targets: list[Target],
    limits: np.ndarray,
) -> pd.DataFrame:
    """One row per scope: the answer (or the closest value when no value meets the target)."""
    rows = []
    for (_, name), answer in zip(scopes, answers, strict=True):
        mine = curve[curve["scope"] == name]
        if answer is None:
            bound = np.column_stack([mine[f"{t.metric}_bound"] for t in targets])
            excess = ((bound - limits.T) / np.maximum(limits.T, 1e-9)).max(axis=1)
            chosen = mine.iloc[int(np.nanargmin(excess))]
            status = "not met"
        else:
            chosen = mine[mine["value"] == grid.values[answer]].iloc[0]
            status = "met at the lowest value" if answer == 0 else "met"
        rows.append({"scope": name, "status": status, "lever": grid.key, **chosen.drop("scope").to_dict()})
    return pd.DataFrame(rows)


def _sentence(row: dict[str, Any], grid: Grid, targets: list[Target], confidence: float, basis: str) -> str:
    """The answer in words for one scope."""
    from .outputs import planner_report

    goal = " and ".join(t.words() for t in targets)
    sure = f"with {confidence:.0%} confidence" if basis == "mean" else f"in {confidence:.0%} of replications"
    if grid.whole_posts:
        amount = f"{row['shown']:.0f} buddy posts ({row['buddies_active']:.1f} active on average)"
        if row["buddies_active"] < 0.8 * row["shown"] - 1:
            amount += ", fewer than the posts because willing, eligible candidates run short"
    elif grid.key == "buddies.posts_per_1000_prisoners":
        amount = f"{row['value']:g} buddy posts per 1,000 places ({row['buddy_posts']:.0f} posts in all"
        amount += f", {row['buddies_active']:.0f} active on average)"
        if row["buddies_active"] < 0.8 * row["buddy_posts"] - 1:
            amount += " (posts go unfilled: willing, eligible candidates run short)"
    else:
        amount = grid.amount.format(row["value"])
    cost = planner_report.cost_words(row)
    name = row["scope"]
    if row["status"] == "not met":
        worst = max(targets, key=lambda t: row[f"{t.metric}_bound"] / max(t.limit, 1e-9))
        return (
            f"{name} cannot keep {goal} {sure} within the range searched ({grid.shown[0]:g} to "
            f"{grid.shown[-1]:g}); the closest is {amount}, where {worst.metric} reaches "
            f"{row[f'{worst.metric}_bound']:.4g} against {worst.limit:g}; {cost}."
        )
    if row["status"] == "met at the lowest value":
        return f"{name} keeps {goal} {sure} already at the lowest value searched, {amount}; {cost}."
    return f"{name} needs {amount} to keep {goal}, {sure}; {cost}."


def _write(
    result: CapacityResult,
    cfg: Any,
    opts: dict[str, Any],
    identity: dict[str, Any],
    overrides: list[str],
    grid: Grid,
    targets: list[Target],
) -> None:
    from .experiments.analysis import run_record
    from .outputs import planner_report
    from .outputs.report import png_bytes
    from .outputs.results import write_atomic

    folder = result.folder
    image = png_bytes(planner_report.capacity_figure(result.curve, result.table, grid.axis, targets[0]))
    write_atomic(folder / "capacity.png", image)
    files = {
        "capacity.csv": result.table.to_csv(index=False),
        "curve.csv": result.curve.to_csv(index=False),
        "report.html": planner_report.capacity_report(result, cfg, targets, image),
    }
    for name, text in files.items():
        write_atomic(folder / name, text)
    record = run_record(
        "capacity",
        identity,
        overrides,
        estate=cfg.estate.name,
        wall_seconds=round(result.seconds, 1),
        values_run=result.runs,
        replications=cfg.run.replications,
    )
    write_atomic(folder / "run.json", record)


def capacity(
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    target: Mapping[str, float],
    lever: str = SETTINGS["lever"],
    **settings: Any,
) -> CapacityResult:
    """The capacity calculator from Python (the command's settings as keywords)::

    simmodel.capacity({"estate": "single_prison", "run.years": 1},
                      target={"nonpersonal_unmet_share": 0.5}, progress=False)
    """
    from .api import as_overrides

    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ConfigError(f"{', '.join(sorted(unknown))}: not a capacity setting ({', '.join(SETTINGS)})")
    return analyse(as_overrides(overrides), parse_targets(target), lever=lever, **settings)


def main(argv: Sequence[str] | None = None) -> None:
    from .experiments.command import command_main

    def run(opts: dict[str, Any], overrides: list[str]) -> list[str]:
        goals = [o for o in overrides if o.startswith("target.")]
        result = analyse([o for o in overrides if o not in goals], parse_targets(goals), **opts)
        return [*result.sentences, f"Results: {result.folder}"]

    command_main("capacity", __doc__ or "", SETTINGS, run, argv)


make_callable(__name__, capacity)  # simmodel.capacity(...) calls capacity()

if __name__ == "__main__":
    main()

"""Collate a Hydra multirun: one table for the sweep, and a comparison of options.

Runs automatically when a sweep ends (:class:`CollateSweep`, a Hydra callback) and by
hand with ``simmodel collate SWEEP_FOLDER``. It writes to the sweep folder:

* ``sweep.csv``: one row per job and metric, the overridden values as columns;
* for a sweep over ``funding`` or ``scenario``, ``comparison.csv``: each option against
  ``status_quo`` (or ``baseline``) in the key metrics, paired by replication (common
  random numbers), with the incremental cost and the cost per hour of unmet need
  averted; and ``frontier.png``: cost against unmet need, efficient options marked.

It also writes ``report.html`` and ``results.xlsx``. Only the jobs of the sweep that ran
last are collated: the sweep's overrides (from the callback's configuration, or from
``multirun.yaml``) are expanded as Hydra's basic sweeper does, and job ``i`` is taken from
folder ``i`` only if it is complete and ran exactly those overrides. Every output is built
into a temporary file first, then all are published together (stale ones removed) while
Ctrl-C and SIGTERM wait, so the folder holds either the old set or the new one.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ..config import ConfigError
from ..model.funding import WEEKS_PER_YEAR
from ..outputs import report
from ..outputs.results import RUN_RECORD, default_permissions, money
from . import interrupts
from .replications import t_interval
from .sweep_callback import CollateSweep  # noqa: F401  (its old home, kept for importers)

#: What each swept dimension is compared against.
REFERENCES = {"funding": "status_quo", "scenario": "baseline"}
#: Metrics compared between options (difference = option - reference).
COMPARISON_METRICS = (
    "unmet_hours_per_week",
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "unmet_person_days_per_year",
    "safeguarding_incidents_per_year",
    "safeguarding_bullying_per_year",
    "safeguarding_theft_accusations_per_year",
    "safeguarding_exploitation_per_year",
    "overstep_events_per_year",
    "people_with_package",
    "assessment_wait_days_mean",
    "cost_prison_per_year",
    "cost_local_authority_per_year",
    "cost_nhs_per_year",
    "cost_total_per_year",
)
#: The cost per hour averted, one ratio per kind of care: the whole incremental cost a year over
#: the hours of that kind of unmet care averted a year (each ratio charges the option's whole
#: cost to one kind of hours; they are not shares of it).
AVERTED_RATIOS = {
    "cost_per_nonpersonal_hour_averted": "nonpersonal_unmet_hours_per_week",
    "cost_per_personal_hour_averted": "personal_unmet_hours_per_week",
}
#: The safeguarding metric the console table shows beside unmet hours and cost.
SAFEGUARDING_METRIC = "safeguarding_incidents_per_year"
#: Every file a collation writes to the sweep folder; those it does not rewrite are removed.
COLLATED = ("sweep.csv", "comparison.csv", "frontier.png", "report.html", "results.xlsx")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
DEFAULT_SUBDIR = "${hydra.job.num}"
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20251123  # fixed: the same sweep gives the same intervals


@dataclass
class Job:
    """One finished job of a sweep."""

    name: str
    overrides: dict[str, str]
    summary: pd.DataFrame
    replications: pd.DataFrame

    def values(self, metric: str) -> pd.Series:
        """This metric's value per replication, indexed by replication number."""
        rows = self.replications[self.replications["metric"] == metric]
        return rows.set_index("replication")["value"]


class CollateError(Exception):
    """Collation cannot go on; the message is one line for the user."""


class JobLeftOut(Exception):
    """A job folder that cannot be collated; the message says why, in a few words."""


def _overrides(items: list[str]) -> dict[str, str]:
    pairs = (item.lstrip("+~").split("=", 1) for item in items)
    return {key: value for key, value in (p if len(p) == 2 else (p[0], "") for p in pairs)}


def _model_overrides(items: list[str]) -> set[str]:
    """The overrides a job records in run.json: all but Hydra's own."""
    return {o for o in items if not o.lstrip("+~").startswith("hydra")}


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise JobLeftOut(f"no {path.name}") from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise JobLeftOut(f"{path.name} is unreadable") from exc
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise JobLeftOut(f"{path.name} lacks the column(s) {', '.join(missing)}")
    return table


def read_job(folder: Path, expected: set[str] | None = None) -> Job:
    """The job in ``folder``; raises :class:`JobLeftOut` if it is not complete, not readable,
    or (with ``expected``) ran other overrides than these."""
    path = folder / RUN_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobLeftOut("no run.json") from exc
    except OSError as exc:
        raise JobLeftOut(f"run.json is unreadable ({exc.strerror or exc})") from exc
    except ValueError as exc:  # also UnicodeDecodeError
        raise JobLeftOut("run.json is not valid JSON") from exc
    if not isinstance(record, dict):
        raise JobLeftOut("run.json does not hold a record")
    if record.get("status") != "complete":
        raise JobLeftOut(f"not complete ({record.get('status', 'no status')})")
    items = record.get("overrides")
    if not isinstance(items, list) or not all(isinstance(o, str) for o in items):
        raise JobLeftOut("run.json's overrides are not a list of strings")
    from ..trust import IDENTIFIER

    for key in ("scenario", "funding"):
        if not isinstance(record.get(key), str):
            raise JobLeftOut(f"run.json has no {key} name")
        if not IDENTIFIER.fullmatch(record[key]):  # (a received folder's names reach CSV cells)
            raise JobLeftOut(f"run.json's {key} name is not a plain name")
    if any(o.lstrip("+~")[:1] in ("=", "@", "-", "\t", "\r") or not o.isprintable() for o in items):
        raise JobLeftOut("run.json's overrides are not plain key=value texts")
    if expected is not None and _model_overrides(items) != expected:
        raise JobLeftOut(f"its folder holds another run ({' '.join(items) or 'no overrides'})")
    overrides = _overrides(items)
    overrides.setdefault("scenario", record["scenario"])
    overrides.setdefault("funding", record["funding"])
    return Job(
        name=folder.name,
        overrides=overrides,
        summary=_read_csv(folder / "summary.csv", ("metric", "unit", "mean", "ci_low", "ci_high")),
        replications=_read_csv(folder / "replications.csv", ("replication", "metric", "value")),
    )


def _override_parser(config: DictConfig) -> Any:
    """Hydra's override parser, with a config loader (for ``glob(...)``) where one can be made."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
        from hydra.core.plugins import Plugins

        Plugins.instance()  # registers the config sources
        search_path = ConfigSearchPathImpl()
        for source in OmegaConf.select(config, "hydra.runtime.config_sources") or []:
            # a sweep folder may come from someone else: folders are read for option names only,
            # and only Hydra's own packages may be imported (pkg:// and structured:// import code)
            schema, path = str(source.schema), str(source.path)
            if schema == "file" or (schema == "pkg" and path.split(".")[0] in ("hydra", "hydra_plugins")):
                search_path.append(str(source.provider), f"{schema}://{path}")
        return OverridesParser.create(config_loader=ConfigLoaderImpl(config_search_path=search_path))
    except Exception:  # without a loader only glob sweeps fail to parse
        return OverridesParser.create()


#: Largest multirun.yaml read (bytes): Hydra's record of a sweep over a listed national estate is
#: about 30 KB.
MAX_MULTIRUN_BYTES = 2 * 1024 * 1024


def sweep_plan(sweep_dir: Path, config: DictConfig | None = None) -> list[list[str]] | str:
    """Each job's overrides, job i first, as Hydra's basic sweeper made them.

    ``config`` is the multirun's configuration (what Hydra saves as ``multirun.yaml``, read
    from there if not given). Returns a short reason instead when the jobs cannot be known.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    if config is None:
        path = sweep_dir / "multirun.yaml"
        if not path.is_file():
            return "no multirun.yaml"
        from ..trust import check_data_file

        try:
            check_data_file(path, MAX_MULTIRUN_BYTES)  # a received folder: no bombs, tags or huge files
        except ConfigError as exc:
            return str(exc)
        try:
            loaded = OmegaConf.load(path)
        except Exception as exc:  # any YAML or OmegaConf error
            return f"multirun.yaml is unreadable ({type(exc).__name__})"
        if not isinstance(loaded, DictConfig):
            return "multirun.yaml holds no configuration"
        config = loaded
    try:
        hydra_cfg = OmegaConf.to_container(config.hydra, resolve=False)
        assert isinstance(hydra_cfg, dict)
        sweeper = hydra_cfg.get("sweeper") or {}
        target = sweeper.get("_target_")
        if target != BASIC_SWEEPER:
            return f"the sweeper is {target or 'unknown'}, not Hydra's basic sweeper"
        subdir = (hydra_cfg.get("sweep") or {}).get("subdir")
        if subdir != DEFAULT_SUBDIR:
            return f"job folders are named by {subdir!r}, not {DEFAULT_SUBDIR}"
        task = list(hydra_cfg["overrides"]["task"])
        params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
        parsed = _override_parser(config).parse_overrides([*params, *task])
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception as exc:  # a malformed multirun.yaml or override
        text = " ".join(str(exc).split())[:120]
        return f"its overrides cannot be expanded ({type(exc).__name__}: {text})"
    return [list(job) for batch in batches for job in batch]


def select_jobs(sweep_dir: Path, config: DictConfig | None = None) -> tuple[list[Job], int]:
    """The jobs to collate and how many job folders were considered.

    With a known plan (:func:`sweep_plan`), job i comes from folder ``i`` if it is complete
    and ran the plan's overrides; otherwise every complete numbered folder is taken. Jobs
    left out are named on the console, one line each.
    """
    plan = sweep_plan(sweep_dir, config)
    numbered = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    jobs: list[Job] = []
    if isinstance(plan, str):
        print(f"simmodel: {plan}: collating every complete job folder in {sweep_dir}.")
        for folder in numbered:
            try:
                jobs.append(read_job(folder))
            except JobLeftOut as exc:
                print(f"simmodel: job {folder.name} left out of the collation: {exc}.")
        return jobs, len(numbered)
    for number, overrides in enumerate(plan):
        try:
            jobs.append(read_job(sweep_dir / str(number), _model_overrides(overrides)))
        except JobLeftOut as exc:
            print(f"simmodel: job {number} ({' '.join(overrides)}) left out of the collation: {exc}.")
    others = [p.name for p in numbered if int(p.name) >= len(plan)]
    if others:
        print(
            f"simmodel: folder(s) {', '.join(others)} are not jobs of this sweep; left out of the collation."
        )
    return jobs, len(plan)


def load_jobs(sweep_dir: Path, config: DictConfig | None = None) -> list[Job]:
    """The jobs of the sweep in ``sweep_dir`` (see :func:`select_jobs`)."""
    return select_jobs(sweep_dir, config)[0]


def sweep_table(jobs: list[Job]) -> pd.DataFrame:
    """One row per job and metric, with the overridden values as columns."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    frames = []
    for job in jobs:
        frame = job.summary.copy()
        for position, key in enumerate(keys):
            frame.insert(position, key, job.overrides.get(key, ""))
        frame.insert(0, "job", job.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _varying(jobs: list[Job]) -> list[str]:
    keys = dict.fromkeys(k for job in jobs for k in job.overrides)
    return [k for k in keys if len({job.overrides.get(k, "") for job in jobs}) > 1]


def compared_dimension(jobs: list[Job]) -> str | None:
    """``funding`` or ``scenario`` if the sweep varies it, else None."""
    varying = _varying(jobs)
    return next((d for d in REFERENCES if d in varying), None)


def _bootstrap_ratio(cost: np.ndarray, averted: np.ndarray) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(cost) / mean(averted), pairs resampled together."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(cost), size=(BOOTSTRAP_SAMPLES, len(cost)))
    num, den = cost[picks].mean(axis=1), averted[picks].mean(axis=1)
    ratios = np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)
    if np.isnan(ratios).mean() > 0.025:  # averted hours not clearly above zero: no finite interval
        return float("nan"), float("nan")
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def _defined_mean(values: np.ndarray) -> float:
    """Mean over the replications where a metric is defined (NaN if it is in none)."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else math.nan


def comparison_table(
    jobs: list[Job], dimension: str, reference: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Each option against the reference of its group (default: ``REFERENCES``), paired by replication.

    Jobs are grouped by every other varying override, so a sweep of funding x scenario
    compares funding options within each scenario. Returns the table and notes for
    groups that could not be compared.
    """
    reference = reference or REFERENCES[dimension]
    others = [k for k in _varying(jobs) if k != dimension]
    units = dict(zip(jobs[0].summary["metric"], jobs[0].summary["unit"], strict=True))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    groups: dict[tuple[str, ...], list[Job]] = {}
    for job in jobs:
        groups.setdefault(tuple(job.overrides.get(k, "") for k in others), []).append(job)
    for group_key, members in groups.items():
        group = dict(zip(others, group_key, strict=True))
        where = ", ".join(f"{k}={v}" for k, v in group.items()) or "the sweep"
        ref = next((j for j in members if j.overrides.get(dimension) == reference), None)
        if ref is None:
            notes.append(f"No {dimension}={reference} job in {where}: nothing to compare against.")
            continue
        for job in members:
            if job is ref:
                continue
            option = job.overrides.get(dimension, "")
            common = job.values("cost_total_per_year").index.intersection(
                ref.values("cost_total_per_year").index
            )
            if len(common) == 0:
                notes.append(f"{option} and {reference} share no replication numbers in {where}.")
                continue
            base = {**group, "option": option, "reference": reference, "n_pairs": len(common)}
            for metric in COMPARISON_METRICS:
                a = job.values(metric).loc[common].to_numpy()
                b = ref.values(metric).loc[common].to_numpy()
                # a metric undefined in a replication (a mean wait with no one waiting) leaves that
                # pair out of the difference; each side's mean is over its defined replications
                paired = ~np.isnan(a) & ~np.isnan(b)
                mean, low, high = (
                    (float(v) for v in t_interval(a[paired] - b[paired])) if paired.any() else [math.nan] * 3
                )
                rows.append(
                    {
                        **base,
                        "metric": metric,
                        "unit": units[metric],
                        "option_mean": _defined_mean(a),
                        "reference_mean": _defined_mean(b),
                        "difference": mean,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
            cost = (
                job.values("cost_total_per_year").loc[common].to_numpy()
                - ref.values("cost_total_per_year").loc[common].to_numpy()
            )
            mean, low, high = (float(v) for v in t_interval(cost))
            rows.append(
                {**base, "metric": "incremental_cost_per_year", "unit": "GBP/year", "difference": mean}
                | {"ci_low": low, "ci_high": high}
            )
            # one ratio per kind of care: non-personal and personal hours are not added as equal
            for metric, unmet in AVERTED_RATIOS.items():
                averted = (
                    ref.values(unmet).loc[common].to_numpy() - job.values(unmet).loc[common].to_numpy()
                ) * WEEKS_PER_YEAR
                # a price only for hours clearly averted (their 95% interval above zero), as the
                # bootstrap interval: a small or uncertain change would give a meaningless price
                clearly = averted.mean() > 0 and t_interval(averted)[1] > 0
                ratio = cost.mean() / averted.mean() if clearly else float("nan")
                r_low, r_high = _bootstrap_ratio(cost, averted)
                rows.append(
                    {**base, "metric": metric, "unit": "GBP/hour", "difference": ratio}
                    | {"ci_low": r_low, "ci_high": r_high}
                )
    columns = [*others, *report.COMPARISON_COLUMNS]
    return pd.DataFrame(rows, columns=columns), notes


def efficient(cost: np.ndarray, unmet: np.ndarray) -> np.ndarray:
    """True for options no other option beats on both cost and unmet need (means)."""
    n = len(cost)
    result = np.ones(n, dtype=bool)
    for i in range(n):
        better_or_equal = (cost <= cost[i]) & (unmet <= unmet[i])
        strictly = (cost < cost[i]) | (unmet < unmet[i])
        result[i] = not np.any(better_or_equal & strictly)
    return result


def frontier_points(jobs: list[Job], dimension: str) -> pd.DataFrame:
    """Per job: option, group, cost per year and unmet hours per week with their 95% CIs."""
    others = [k for k in _varying(jobs) if k != dimension]
    rows = []
    for job in jobs:
        table = job.summary.set_index("metric")
        row: dict[str, Any] = {
            "group": ", ".join(f"{k}={job.overrides.get(k, '')}" for k in others),
            "option": job.overrides.get(dimension, ""),
        }
        for metric, name in (("cost_total_per_year", "cost"), ("unmet_hours_per_week", "unmet")):
            mean, low, high = table.loc[metric, ["mean", "ci_low", "ci_high"]]
            row[name], row[f"{name}_low"], row[f"{name}_high"] = mean, low, high
        rows.append(row)
    points = pd.DataFrame(rows)
    points["efficient"] = False
    for _, idx in points.groupby("group").groups.items():
        sub = points.loc[idx]
        points.loc[idx, "efficient"] = efficient(sub["cost"].to_numpy(), sub["unmet"].to_numpy())
    return points


def plot_frontier(points: pd.DataFrame, path: Path) -> None:
    """Cost a year against unmet hours a week, 95% CIs as bars, efficient options joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(points["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(max(8.0, 6.5 * len(groups)), 5.5), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        sub = points[points["group"] == group].sort_values("cost")
        x, y = sub["cost"] / 1e6, sub["unmet"]
        xerr = np.vstack([x - sub["cost_low"] / 1e6, sub["cost_high"] / 1e6 - x])
        yerr = np.vstack([y - sub["unmet_low"], sub["unmet_high"] - y])
        ax.errorbar(x, y, xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr), fmt="none", ecolor="0.6")
        eff = sub["efficient"].to_numpy()
        ax.plot(x[eff], y[eff], "-o", color="tab:blue", label="efficient")
        ax.plot(x[~eff], y[~eff], "o", color="tab:red", mfc="white", label="dominated")
        for xi, yi, label in zip(x, y, sub["option"], strict=True):
            ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel("Total cost, £m a year")
        ax.set_ylabel("Unmet care, hours a week")
        ax.set_title(group or "All options", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        "Cost against unmet need: mean and 95% CI of each option\n"
        "(paired differences, narrower thanks to common random numbers: comparison.csv)",
        fontsize=10,
    )
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=120)
    finally:
        plt.close(fig)


def console_comparison(table: pd.DataFrame, points: pd.DataFrame) -> str:
    """A short table: change in unmet hours and cost against the reference, per option."""
    if table.empty:
        return ""
    group_cols = [c for c in table.columns if c not in report.COMPARISON_COLUMNS]
    lines = []
    for group_key, sub in table.groupby(group_cols, sort=False) if group_cols else [((), table)]:
        keys = group_key if isinstance(group_key, tuple) else (group_key,)
        title = ", ".join(f"{k}={v}" for k, v in zip(group_cols, keys, strict=True))
        reference = sub["reference"].iloc[0]
        ref_point = points[(points["option"] == reference) & (points["group"] == title)]
        where = f" ({title})" if title else ""
        if len(ref_point):
            unmet, cost = ref_point["unmet"].iloc[0], ref_point["cost"].iloc[0]
            lines.append(
                f"\n{reference} itself{where}: {unmet:,.0f} unmet hours a week, {money(cost)} a year; "
                f"changes against it below"
            )
        else:
            lines.append(f"\nChanges against {reference}{where}")
        header = ("option", "change in unmet h/week", "change in cost a year", "£/h averted: non-personal")
        lines.append(
            f"  {header[0]:<22}{header[1]:<30}{header[2]:<32}{header[3]:<28}personal    "
            f"{'change in safeguarding incidents a year':<42}efficient"
        )
        for option, rows in sub.groupby("option", sort=False):
            by = rows.set_index("metric")
            unmet, cost = by.loc["unmet_hours_per_week"], by.loc["incremental_cost_per_year"]
            eff = points[(points["option"] == option) & (points["group"] == title)]["efficient"]
            unmet_text = f"{unmet.difference:+,.0f} ({_ci(unmet.ci_low, unmet.ci_high, '{:+,.0f}')})"
            cost_text = f"{money(cost.difference, signed=True)} ({money(cost.ci_low, signed=True)} to "
            cost_text += f"{money(cost.ci_high, signed=True)})" if np.isfinite(cost.ci_low) else "CI n/a)"
            np_ratio, p_ratio = (_pounds(by.loc[m, "difference"]) for m in AVERTED_RATIOS)
            incidents_text = "n/a"
            if SAFEGUARDING_METRIC in by.index:
                incidents = by.loc[SAFEGUARDING_METRIC]
                incidents_text = (
                    f"{incidents.difference:+,.0f} ({_ci(incidents.ci_low, incidents.ci_high, '{:+,.0f}')})"
                )
            lines.append(
                f"  {option:<22}{unmet_text:<30}{cost_text:<32}{np_ratio:<28}{p_ratio:<12}"
                f"{incidents_text:<42}{'yes' if len(eff) and bool(eff.iloc[0]) else 'no'}"
            )
    return "\n".join(lines)


def _pounds(ratio: float) -> str:
    """£ per hour averted, or n/a when no hours of that kind are averted."""
    return f"£{ratio:,.0f}" if np.isfinite(ratio) and ratio >= 0 else "n/a"


def _ci(low: float, high: float, pattern: str) -> str:
    if np.isnan(low):
        return "CI n/a"
    return f"{pattern.format(low)} to {pattern.format(high)}"


def _before_publish() -> None:
    """Called when every output is built and none is published yet (a hook for tests)."""


def _publish(sweep_dir: Path, built: dict[str, Path]) -> None:
    """Move the built files into place and remove the collated files not rebuilt, in one step."""
    with interrupts.deferred():
        for name, tmp in built.items():
            os.replace(tmp, sweep_dir / name)
        for name in COLLATED:
            if name not in built:
                (sweep_dir / name).unlink(missing_ok=True)


def collate(sweep_dir: Path, config: DictConfig | None = None) -> dict[str, Path]:
    """Write sweep.csv, report.html, results.xlsx (and comparison.csv, frontier.png where
    they apply) for the jobs of the sweep; print a summary.

    ``config`` is the multirun's configuration (default: the folder's ``multirun.yaml``).
    Collated files this collation does not write are removed. Raises :class:`CollateError`
    if jobs were expected but none can be collated.
    """
    jobs, considered = select_jobs(sweep_dir, config)
    if not jobs:
        if considered:
            _publish(sweep_dir, {})  # an answer from earlier jobs would be stale
            raise CollateError(f"none of the {considered} job(s) in {sweep_dir} can be collated")
        print(f"simmodel: no complete jobs in {sweep_dir}: nothing to collate.")
        return {}
    built: dict[str, Path] = {}

    def temporary(name: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=sweep_dir, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        built[name] = Path(tmp)
        return built[name]

    def write_text(name: str, text: str) -> None:
        with temporary(name).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    try:
        sweep = sweep_table(jobs)
        write_text("sweep.csv", sweep.to_csv(index=False))
        dimension = compared_dimension(jobs)
        table: pd.DataFrame | None = None
        notes: list[str] = []
        if dimension is not None:
            table, notes = comparison_table(jobs, dimension)
        compared = table is not None and not table.empty and dimension is not None
        points: pd.DataFrame | None = None
        if compared and table is not None and dimension is not None:
            write_text("comparison.csv", table.to_csv(index=False))
            points = frontier_points(jobs, dimension)
            plot_frontier(points, temporary("frontier.png"))
        html_text = report.sweep_report(sweep_dir, sweep, _varying(jobs), table, built.get("frontier.png"))
        write_text("report.html", html_text)
        report.write_workbook(temporary("results.xlsx"), report.sweep_workbook_sheets(sweep, table))
        for tmp in built.values():
            default_permissions(tmp)
        _before_publish()
        _publish(sweep_dir, built)
    finally:
        with interrupts.deferred():
            for tmp in built.values():
                tmp.unlink(missing_ok=True)
    written = {name: sweep_dir / name for name in built}
    print(f"\nsimmodel: collated {len(jobs)} jobs into {written['sweep.csv']}")
    for note in notes:
        print(f"simmodel: {note}")
    if points is not None and table is not None:
        print(console_comparison(table, points))
        print(f"\nComparison: {written['comparison.csv']}\nFrontier:   {written['frontier.png']}")
    print(f"Report:     {written['report.html']}")
    return written


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a failed collation."""
    if isinstance(exc, CollateError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + "..."


def main(argv: list[str] | None = None) -> int:
    """``simmodel collate SWEEP_FOLDER``: collate a sweep folder again."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(
            "usage: simmodel collate SWEEP_FOLDER\n\nCollate a sweep folder again: sweep.csv, "
            "comparison.csv, frontier.png, report.html and results.xlsx from its finished jobs "
            "(README: 'Comparing options')."
        )
        return 0
    if len(args) != 1:
        print("usage: simmodel collate SWEEP_FOLDER", file=sys.stderr)
        return 2
    if not Path(args[0]).is_dir():
        print(
            f"simmodel: error: no folder {args[0]} (usage: simmodel collate SWEEP_FOLDER)",
            file=sys.stderr,
        )
        return 2
    from ..outputs import run_folder

    try:
        run_folder.check(Path(args[0]), sweep=True)  # (collation replaces files: never in someone's folder)
    except run_folder.OutputError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        collate(Path(args[0]))
    except KeyboardInterrupt:
        print("\nsimmodel: collation interrupted; the collated files are as they were.", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback
        print(f"simmodel: error: collation failed: {_reason(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Collate a Hydra multirun: one table for the sweep, and a comparison of options.

Runs automatically when a sweep ends (:class:`CollateSweep`, a Hydra callback) and by
hand with ``python -m simmodel.collate SWEEP_FOLDER``. It writes to the sweep folder:

* ``sweep.csv``: one row per job and metric, the overridden values as columns;
* for a sweep over ``funding`` or ``scenario``, ``comparison.csv``: each option against
  ``status_quo`` (or ``baseline``) in the key metrics, paired by replication (common
  random numbers), with the incremental cost and the cost per hour of unmet need
  averted; and ``frontier.png``: cost against unmet need, efficient options marked.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from . import report
from .funding import WEEKS_PER_YEAR
from .replications import t_interval
from .results import is_complete, read_run_record, write_atomic

#: What each swept dimension is compared against.
REFERENCES = {"funding": "status_quo", "scenario": "baseline"}
#: Metrics compared between options (difference = option - reference).
COMPARISON_METRICS = (
    "unmet_hours_per_week",
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "unmet_person_days_per_year",
    "overstep_events_per_year",
    "people_with_package",
    "assessment_wait_days_mean",
    "cost_prison_per_year",
    "cost_local_authority_per_year",
    "cost_nhs_per_year",
    "cost_total_per_year",
)
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


def _overrides(items: list[str]) -> dict[str, str]:
    pairs = (item.lstrip("+~").split("=", 1) for item in items)
    return {key: value for key, value in (p if len(p) == 2 else (p[0], "") for p in pairs)}


def load_jobs(sweep_dir: Path) -> list[Job]:
    """Every complete job in ``sweep_dir``; jobs not complete are named on the console."""
    jobs = []
    folders = sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
    for folder in folders:
        info = read_run_record(folder)
        if not is_complete(folder):
            status = info.get("status", "no run.json")
            print(f"simmodel: job {folder.name} is not complete ({status}); left out of the collation.")
            continue
        overrides = _overrides(list(info.get("overrides", [])))
        overrides.setdefault("scenario", str(info["scenario"]))
        overrides.setdefault("funding", str(info["funding"]))
        jobs.append(
            Job(
                name=folder.name,
                overrides=overrides,
                summary=pd.read_csv(folder / "summary.csv"),
                replications=pd.read_csv(folder / "replications.csv"),
            )
        )
    return jobs


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


def comparison_table(jobs: list[Job], dimension: str) -> tuple[pd.DataFrame, list[str]]:
    """Each option against the reference of its group, paired by replication.

    Jobs are grouped by every other varying override, so a sweep of funding x scenario
    compares funding options within each scenario. Returns the table and notes for
    groups that could not be compared.
    """
    reference = REFERENCES[dimension]
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
                mean, low, high = (float(v) for v in t_interval(a - b))
                rows.append(
                    {
                        **base,
                        "metric": metric,
                        "unit": units[metric],
                        "option_mean": a.mean(),
                        "reference_mean": b.mean(),
                        "difference": mean,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
            cost = (
                job.values("cost_total_per_year").loc[common].to_numpy()
                - ref.values("cost_total_per_year").loc[common].to_numpy()
            )
            averted = (
                ref.values("unmet_hours_per_week").loc[common].to_numpy()
                - job.values("unmet_hours_per_week").loc[common].to_numpy()
            ) * WEEKS_PER_YEAR
            mean, low, high = (float(v) for v in t_interval(cost))
            rows.append(
                {**base, "metric": "incremental_cost_per_year", "unit": "GBP/year", "difference": mean}
                | {"ci_low": low, "ci_high": high}
            )
            ratio = cost.mean() / averted.mean() if averted.mean() > 0 else float("nan")
            r_low, r_high = _bootstrap_ratio(cost, averted)
            rows.append(
                {
                    **base,
                    "metric": "cost_per_unmet_hour_averted",
                    "unit": "GBP/hour",
                    "difference": ratio,
                    "ci_low": r_low,
                    "ci_high": r_high,
                }
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
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


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
        level = ""
        if len(ref_point):
            unmet, cost = ref_point["unmet"].iloc[0], ref_point["cost"].iloc[0]
            level = f": {unmet:,.0f} unmet hours a week, {_money(cost)} a year"
        lines.append(f"\nChange against {reference}" + (f" ({title})" if title else "") + level)
        header = ("option", "unmet hours a week", "cost a year", "£ per hour averted")
        lines.append(f"  {header[0]:<22}{header[1]:<30}{header[2]:<32}{header[3]:<20}efficient")
        for option, rows in sub.groupby("option", sort=False):
            by = rows.set_index("metric")
            unmet, cost, ratio = (
                by.loc["unmet_hours_per_week"],
                by.loc["incremental_cost_per_year"],
                by.loc["cost_per_unmet_hour_averted", "difference"],
            )
            eff = points[(points["option"] == option) & (points["group"] == title)]["efficient"]
            unmet_text = f"{unmet.difference:+,.0f} ({_ci(unmet.ci_low, unmet.ci_high, '{:+,.0f}')})"
            cost_text = f"{_money(cost.difference, sign=True)} ({_money(cost.ci_low, sign=True)} to "
            cost_text += f"{_money(cost.ci_high, sign=True)})" if np.isfinite(cost.ci_low) else "CI n/a)"
            ratio_text = f"£{ratio:,.0f}" if np.isfinite(ratio) and ratio >= 0 else "n/a"
            lines.append(
                f"  {option:<22}{unmet_text:<30}{cost_text:<32}{ratio_text:<20}"
                f"{'yes' if len(eff) and bool(eff.iloc[0]) else 'no'}"
            )
    return "\n".join(lines)


def _money(value: float, sign: bool = False) -> str:
    """£ in millions, thousands or pounds, whichever reads best."""
    if not np.isfinite(value):
        return "n/a"
    prefix = ("+" if value >= 0 else "-") if sign else ("-" if value < 0 else "")
    size = abs(value)
    if size >= 1e6:
        return f"{prefix}£{size / 1e6:.2f}m"
    if size >= 1e4:
        return f"{prefix}£{size / 1e3:.1f}k"
    return f"{prefix}£{size:,.0f}"


def _ci(low: float, high: float, pattern: str) -> str:
    if np.isnan(low):
        return "CI n/a"
    return f"{pattern.format(low)} to {pattern.format(high)}"


def collate(sweep_dir: Path) -> dict[str, Path]:
    """Write sweep.csv (and comparison.csv, frontier.png where it applies); print a summary."""
    jobs = load_jobs(sweep_dir)
    if not jobs:
        print(f"simmodel: no complete jobs in {sweep_dir}: nothing to collate.")
        return {}
    sweep = sweep_table(jobs)
    written = {"sweep.csv": sweep_dir / "sweep.csv"}
    write_atomic(written["sweep.csv"], sweep.to_csv(index=False))  # first: the raw table
    dimension = compared_dimension(jobs)
    print(f"\nsimmodel: collated {len(jobs)} jobs into {written['sweep.csv']}")
    table: pd.DataFrame | None = None
    if dimension is not None:
        table, notes = comparison_table(jobs, dimension)
        for note in notes:
            print(f"simmodel: {note}")
    if table is not None and not table.empty and dimension is not None:
        written["comparison.csv"] = sweep_dir / "comparison.csv"
        write_atomic(written["comparison.csv"], table.to_csv(index=False))
        points = frontier_points(jobs, dimension)
        written["frontier.png"] = sweep_dir / "frontier.png"
        plot_frontier(points, written["frontier.png"])
        print(console_comparison(table, points))
        print(f"\nComparison: {written['comparison.csv']}\nFrontier:   {written['frontier.png']}")
    written["report.html"] = sweep_dir / "report.html"
    html_text = report.sweep_report(sweep_dir, sweep, _varying(jobs), table, written.get("frontier.png"))
    write_atomic(written["report.html"], html_text)
    written["results.xlsx"] = sweep_dir / "results.xlsx"
    report.write_workbook(written["results.xlsx"], report.sweep_workbook_sheets(sweep, table))
    print(f"Report:     {written['report.html']}")
    return written


class CollateSweep(Callback):
    """Hydra callback: collate the sweep folder when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if sweep_dir.is_dir():
            collate(sweep_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m simmodel.collate SWEEP_FOLDER``: collate a sweep folder again."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m simmodel.collate SWEEP_FOLDER", file=sys.stderr)
        return 2
    collate(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generate ``docs/outputs.md``, the data dictionary of every file a run or sweep writes.

    python -m simmodel.outputs.dictionary            # rewrite docs/outputs.md
    python -m simmodel.outputs.dictionary --check    # exit 1 if docs/outputs.md is out of date

Everything comes from the code that writes the files (the timeseries columns and their
units in :func:`simmodel.outputs.results.timeseries_columns`, the metrics in
:data:`simmodel.outputs.results.METRICS`, the comparison in :mod:`simmodel.experiments.collate`), so a test
can check that the committed file is what this module produces now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..experiments.collate import COMPARISON_METRICS, REFERENCES
from ..paths import REPO
from .report import COMPARISON_COLUMNS, COMPARISON_LABELS
from .results import METRICS, TIMESERIES_ID_COLUMNS, timeseries_columns

DOC = REPO / "docs" / "outputs.md"

#: The columns of summary.csv, in order, with their meaning.
SUMMARY_COLUMNS = {
    "metric": "metric id (see *Summary metrics* below)",
    "unit": "unit of `mean`, `ci_low`, `ci_high`, `p5` and `p95`",
    "mean": "mean across the replications (one replication: its value); blank if undefined in all",
    "ci_low": "lower end of the 95% t confidence interval of the mean (blank with one replication)",
    "ci_high": "upper end of the 95% t confidence interval of the mean",
    "p5": "5th percentile of the replications' values (their spread, not the mean's precision)",
    "p95": "95th percentile of the replications' values",
    "n": "replications in which the metric has a value",
    "note": "why a metric has no value in some or all replications, e.g. "
    '"undefined in 2 of 4 replications: no deaths"; blank otherwise',
}
#: The columns of replications.csv.
REPLICATION_COLUMNS = {
    "replication": "replication number (its random-number streams; the same number pairs runs)",
    "metric": "metric id (see *Summary metrics* below)",
    "unit": "unit of `value`",
    "value": "the metric in this replication; blank where undefined",
}
#: The columns of comparison.csv after the group columns.
COMPARISON_MEANINGS = {
    "option": "the option compared (a value of the swept `funding` or `scenario`)",
    "reference": "what it is compared against: "
    + ", ".join(f"`{v}` for a `{k}` sweep" for k, v in REFERENCES.items()),
    "metric": "metric id: one of the metrics compared, or one of the comparison's own two below",
    "unit": "unit of the means and the difference",
    "option_mean": "the option's mean over the paired replications",
    "reference_mean": "the reference's mean over the same replications",
    "difference": "option minus reference, mean of the paired differences (for the ratio: the ratio)",
    "ci_low": "lower end of the 95% interval of the difference (t interval; bootstrap for the ratio)",
    "ci_high": "upper end of that interval",
    "n_pairs": "replications run by both (paired by replication number: common random numbers)",
}
COMPARISON_OWN = {
    "incremental_cost_per_year": ("GBP/year", "total cost a year, option minus reference"),
    "cost_per_nonpersonal_hour_averted": (
        "GBP/hour",
        "incremental cost a year over the hours of unmet non-personal care averted a year (the whole "
        "cost charged to these hours; blank if none are averted)",
    ),
    "cost_per_personal_hour_averted": (
        "GBP/hour",
        "incremental cost a year over the hours of unmet personal care averted a year (the whole "
        "cost charged to these hours; blank if none are averted)",
    ),
}
#: What each metric unit means.
UNITS = {
    "people": "mean over the reported months of a month-end headcount",
    "posts": "mean over the reported months of the month-end number of funded buddy posts",
    "share": "a fraction from 0 to 1 (0.25 = 25%), from mean headcounts",
    "share/year": "a fraction a year (losses a year over mean active buddies)",
    "people/year": "people a year, over the reported years",
    "moves/year": "moves between prisons a year",
    "assessments/year": "Care Act assessments completed a year",
    "years": "years (age)",
    "days": "days, mean over the events of the reported period",
    "months": "months, mean over the events of the reported period",
    "hours/week": "hours a week, over the reported weeks",
    "person-days/year": "person-days a year",
    "events/year": "events a year",
    "events/1000 hours": "events per 1,000 hours of non-personal care given by buddies and informal helpers",
    "GBP/year": "pounds sterling a year, in the prices of the cost configuration",
}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    cells = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    cells += [f"| {' | '.join(r.replace('|', '/') for r in row)} |" for row in rows]
    return cells


def metric_meanings() -> dict[str, str]:
    """Each metric's meaning: its label under the labels it is indented beneath, and its unit's."""
    parents: dict[int, str] = {}
    out = {}
    for metric in METRICS:
        depth = (len(metric.label) - len(metric.label.lstrip())) // 2
        label = metric.label.strip()
        parents[depth] = label
        path = [parents[d] for d in range(depth) if d in parents] + [label]
        meaning = f"{': '.join(path)}; {UNITS[metric.unit]}"
        if metric.undefined:
            meaning += f"; blank when undefined ({metric.undefined})"
        out[metric.name] = meaning
    return out


def render() -> str:
    """The text of docs/outputs.md."""
    series = timeseries_columns()
    meanings = metric_meanings()
    lines = [
        "# What the output files hold: a data dictionary",
        "",
        "<!-- Generated by `python -m simmodel.outputs.dictionary` from the code that writes the files "
        "(simmodel/outputs/results.py, report.py, collate.py). Do not edit by hand: change the code and run "
        "the command again; tests/test_report.py checks this file is up to date. -->",
        "",
        "Every column name is lowercase letters, digits and underscores (so R, Excel and SQL keep it "
        "as it is), except in a sweep the columns named after swept keys, which keep the key's name "
        "(e.g. `buddies.pay_per_week`). Numbers are plain decimals without thousands separators; "
        "a blank cell means no value. `results.xlsx` holds the same tables (the monthly series for the "
        "whole estate only) with readable headers, "
        "units and a plain label beside each metric id.",
        "",
        "## timeseries.csv",
        "",
        "One row per reported month for the whole estate (`scope` = `estate`) and for each prison "
        "(`scope` = `prison`), averaged over the replications. Stocks are month-end headcounts; "
        "flows are totals over the month. After these columns, every numeric column `<column>` has "
        "`<column>_ci_low` and `<column>_ci_high`: the 95% t interval across replications, on estate "
        "rows only (blank on prison rows and with one replication).",
        "",
    ]
    rows = [(f"`{name}`", unit or "label", meaning) for name, (unit, meaning) in series.items()]
    lines += _table(("column", "unit", "meaning"), rows)
    lines += [
        "",
        f"The label columns are {', '.join(f'`{c}`' for c in TIMESERIES_ID_COLUMNS)}; every other "
        "column is a number.",
        "",
        "## summary.csv",
        "",
        "One row per metric (see *Summary metrics*), over the reported years and the replications.",
        "",
    ]
    lines += _table(("column", "meaning"), [(f"`{k}`", v) for k, v in SUMMARY_COLUMNS.items()])
    lines += ["", "## replications.csv", "", "One row per replication and metric, to redo any analysis.", ""]
    lines += _table(("column", "meaning"), [(f"`{k}`", v) for k, v in REPLICATION_COLUMNS.items()])
    lines += [
        "",
        "## sweep.csv",
        "",
        "In a sweep's folder: one row per job and metric.",
        "",
    ]
    sweep_rows = [
        ("`job`", "the job's folder name (0, 1, ...)"),
        ("one column per swept or set key", "the value the job ran with, the column named as the key"),
    ]
    sweep_rows += [(f"`{k}`", v) for k, v in SUMMARY_COLUMNS.items()]
    lines += _table(("column", "meaning"), sweep_rows)
    lines += [
        "",
        "## comparison.csv",
        "",
        "In the folder of a sweep over `funding` or `scenario`: each option against the reference, "
        "within each combination of the other swept keys, paired by replication.",
        "",
    ]
    assert tuple(COMPARISON_MEANINGS) == COMPARISON_COLUMNS, "document every comparison column"
    comparison_rows = [("one column per other swept key", "the group the option is compared within")]
    comparison_rows += [(f"`{k}`", v) for k, v in COMPARISON_MEANINGS.items()]
    lines += _table(("column", "meaning"), comparison_rows)
    lines += ["", "The metrics compared (ids as in *Summary metrics*):", ""]
    lines += [f"- `{m}`" for m in COMPARISON_METRICS]
    lines += ["", "and the comparison's own two:", ""]
    lines += _table(
        ("metric", "unit", "label", "meaning"),
        [(f"`{k}`", unit, COMPARISON_LABELS[k], text) for k, (unit, text) in COMPARISON_OWN.items()],
    )
    lines += [
        "",
        "## Summary metrics",
        "",
        "The rows of summary.csv and replications.csv (and sweep.csv), in order. Each is computed "
        "over the reported period (after the warm-up) for the whole estate. `label` is the plain "
        "wording the console, report.html and results.xlsx use.",
        "",
    ]
    metric_rows = [(f"`{m.name}`", m.unit, m.label.strip(), meanings[m.name]) for m in METRICS]
    lines += _table(("metric", "unit", "label", "meaning"), metric_rows)
    lines += ["", "## Units of the summary metrics", ""]
    used = dict.fromkeys(m.unit for m in METRICS)
    lines += _table(("unit", "meaning"), [(unit, UNITS[unit]) for unit in used])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    paths = [a for a in args if not a.startswith("-")]
    path = Path(paths[0]) if paths else DOC
    text = render()
    if check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{path} is out of date: run python -m simmodel.outputs.dictionary", file=sys.stderr)
            return 1
        return 0
    own = not path.exists() or (
        path.is_file()
        and "Generated by `python -m simmodel.outputs.dictionary`"
        in (path.read_text(encoding="utf-8", errors="replace")[:2000])
    )
    if path.suffix != ".md" or not own:  # (never a config file, a device, or someone's own notes)
        print(f"simmodel: error: {path}: the dictionary goes to a new .md file or its own", file=sys.stderr)
        return 2
    from .results import write_atomic

    write_atomic(path, text)  # (replaces a link instead of writing through it)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reports people can read: ``report.html`` and ``results.xlsx`` for a run.

The HTML file is self-contained (plots embedded as PNG data, no scripts, no network) and
prints cleanly. It holds a headline box in plain words, plots with 95% bands across
replications, a table per prison type (and the 10 prisons with most unmet need), the
assumptions behind the result, and the command and configuration that reproduce it.
The workbook holds the summary and the monthly series with units in the headers.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config import AGE_BANDS, Config
from ..model.metrics import DAYS_PER_MONTH, band_column
from ..paths import CONFIG_DIR, SCENARIO_DIR
from .results import METRICS, money, timeseries_columns, write_atomic

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

WEEKS_PER_MONTH = DAYS_PER_MONTH / 7.0

#: Headline results: (metric, sentence with {value} and {low}-{high}).
HEADLINES = (
    ("nonpersonal_unmet_hours_per_week", "hours of non-personal care a week go unmet"),
    ("personal_unmet_hours_per_week", "hours of personal care a week go unmet"),
    (
        "safeguarding_incidents_per_year",
        "safeguarding incidents a year (bullying, accusations of theft, exploitation, overstepping)",
    ),
    ("people_with_need", "people in prison have a social care need"),
    ("buddies_active", "buddies are at work"),
    ("assessment_wait_days_mean", "days: the mean wait for a Care Act assessment"),
    ("cost_total_per_year", "a year: the cost to the public purse"),
)


# ------------------------------------------------------------------- formatting
def format_number(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if unit.startswith("GBP"):
        return money(value)
    if unit.startswith("share"):
        return f"{100 * value:.1f}%"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def headline_sentences(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(metric, sentence) for the headline box, e.g. 'about 22,106 hours ... (21,757 to 22,456)'."""
    table = summary.set_index("metric")
    sentences = []
    for metric, words in HEADLINES:
        row = table.loc[metric]
        value = format_number(row["mean"], row["unit"])
        interval = ""
        if "ci_low" in row and np.isfinite(row["ci_low"]):
            low, high = (format_number(row[k], row["unit"]) for k in ("ci_low", "ci_high"))
            interval = f" ({low} to {high})"
        sentences.append((metric, f"about <b>{value}</b> {words}{interval}"))
    return sentences


# ------------------------------------------------------------------------ plots
def _png(fig: object, *, tight: bool = True) -> str:
    """A matplotlib figure as an inline ``<img>`` (base64 PNG), closed afterwards.

    ``tight``: crop to the drawn content, which draws the figure twice; the run report's
    figures set their margins instead (:func:`_report_png`), a third faster to save.
    """
    return img_tag(png_bytes(fig, tight=tight))


def png_bytes(fig: object, *, tight: bool = True) -> bytes:
    """A matplotlib figure as PNG bytes at 100 dpi, closed afterwards (``tight``: cropped)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    bbox = "tight" if tight else None
    fig.savefig(buffer, format="png", dpi=100, bbox_inches=bbox)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buffer.getvalue()


def img_tag(data: bytes) -> str:
    """PNG bytes as an inline ``<img>``, so a report is one self-contained file."""
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _report_png(fig: object, width: float = 7.0) -> str:
    """A run report figure ``width`` inches wide and 3.6 high as an inline image, with fixed
    margins (inches: room for six-digit y tick labels and the axis label on the left, a title
    on top) instead of cropping, which draws the figure twice."""
    fig.subplots_adjust(  # type: ignore[attr-defined]
        left=0.85 / width, right=1 - 0.15 / width, bottom=0.55 / 3.6, top=1 - 0.35 / 3.6, wspace=0.25
    )
    return _png(fig, tight=False)


def _band(ax: object, est: pd.DataFrame, column: str, label: str, scale: float = 1.0) -> None:
    """A mean line with its 95% band (when the run has replications)."""
    x = est["year"]
    ax.plot(x, est[column] * scale, label=label)  # type: ignore[attr-defined]
    low, high = f"{column}_ci_low", f"{column}_ci_high"
    if low in est and est[low].notna().any():
        ax.fill_between(x, est[low] * scale, est[high] * scale, alpha=0.2)  # type: ignore[attr-defined]


def _lines(
    est: pd.DataFrame, name: str, title: str, ylabel: str, columns: list[tuple[str, str]]
) -> tuple[str, str]:
    """(name, inline image) of one line plot over the run's years, one line per column."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for column, label in columns:
        _band(ax, est, column, label)
    ax.set(xlabel="Year of the run", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return name, _report_png(fig)


def plots(series: pd.DataFrame, summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(title, inline image) for each plot of the run report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    est = series[series["scope"] == "estate"]
    per_week = 1.0 / WEEKS_PER_MONTH
    out: list[tuple[str, str]] = []

    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.stackplot(est["year"], *[est[band_column(b)] for b in AGE_BANDS], labels=list(AGE_BANDS))
    ax.set(xlabel="Year of the run", ylabel="People", title="Population by age band")
    ax.legend(fontsize=7, ncol=4, loc="lower left")
    out.append(("Population by age band", _report_png(fig)))

    out.append(
        _lines(
            est,
            "People with need, known, waiting and with a package",
            "Need and the Care Act pathway",
            "People (month end)",
            [
                ("people_with_need", "with need"),
                ("detected", "known to the prison"),
                ("waiting_assessment", "waiting for or in assessment"),
                ("with_package", "with a care package"),
            ],
        )
    )

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=False)
    kinds = (
        ("Non-personal care", "np", ("met_buddy", "by buddies"), ("met_informal", "informally")),
        ("Personal care", "p", ("met_professional", "care workers"), ("met_healthcare", "healthcare")),
    )
    for ax, (kind, prefix, *given) in zip(axes, kinds, strict=True):
        parts = [("need", "needed"), *given, ("unmet", "unmet")]
        for part, label in parts:
            _band(ax, est, f"{prefix}_{part}_hours", label, per_week)
        ax.set(xlabel="Year of the run", ylabel="Hours a week", title=kind)
        ax.legend(fontsize=8)
    out.append(("Care needed, given and unmet, hours a week", _report_png(fig, 11.0)))

    for name, title, ylabel, columns in (
        (
            "Buddies",
            "Buddy posts, active buddies and losses",
            "Buddies",
            [
                ("buddy_posts", "posts"),
                ("buddies_active", "active buddies"),
                ("buddy_losses", "lost in the month"),
            ],
        ),
        (
            "Waiting times",
            "Waiting times",
            "Days (mean in the month)",
            [
                ("assessment_wait_days_mean", "referral to assessment"),
                ("care_start_delay_days_mean", "eligibility to first visit"),
            ],
        ),
        (
            "Safeguarding incidents",
            "Safeguarding incidents by kind",
            "Events a month",
            [
                ("safeguarding_incidents", "all kinds"),
                ("safeguarding_bullying", "bullying"),
                ("safeguarding_theft_accusation", "accusations of theft"),
                ("safeguarding_exploitation", "exploitation"),
                ("overstep_events", "overstep (personal care)"),
            ],
        ),
    ):
        out.append(_lines(est, name, title, ylabel, columns))

    fig, ax = plt.subplots(figsize=(7, 3.6))
    table = summary.set_index("metric")
    payers = [
        ("cost_prison_per_year", "Prison service"),
        ("cost_local_authority_per_year", "Local authorities"),
        ("cost_nhs_per_year", "NHS"),
    ]
    means = np.array([table.loc[m, "mean"] for m, _ in payers]) / 1e6
    errors = None
    if table["ci_low"].notna().any():
        low = np.array([table.loc[m, "ci_low"] for m, _ in payers]) / 1e6
        high = np.array([table.loc[m, "ci_high"] for m, _ in payers]) / 1e6
        errors = np.vstack([means - low, high - means])
    colours = ["tab:blue", "tab:orange", "tab:green"]
    ax.bar([label for _, label in payers], means, yerr=errors, capsize=4, color=colours)
    ax.set(ylabel="£m a year", title="Cost a year by payer (95% CI)")
    out.append(("Costs by payer", _report_png(fig)))
    return out


# ----------------------------------------------------------------------- tables
def prison_tables(series: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Yearly means by prison type, and the 10 prisons with most unmet hours a week."""
    prisons = series[series["scope"] == "prison"]
    if prisons.empty:
        return pd.DataFrame(), pd.DataFrame()
    months = prisons["month"].nunique()
    weeks = months * WEEKS_PER_MONTH
    per_prison = prisons.groupby(["prison", "prison_type", "scheme"], sort=False).agg(
        population=("population", "mean"),
        with_need=("people_with_need", "mean"),
        buddies=("buddies_active", "mean"),
        np_unmet=("np_unmet_hours", "sum"),
        p_unmet=("p_unmet_hours", "sum"),
        incidents=("safeguarding_incidents", "sum"),
    )
    per_prison[["np_unmet", "p_unmet"]] /= weeks
    per_prison["unmet"] = per_prison["np_unmet"] + per_prison["p_unmet"]
    per_prison["incidents"] /= months / 12.0
    columns = {
        "population": "People",
        "with_need": "With need",
        "buddies": "Buddies active",
        "np_unmet": "Non-personal unmet, h/week",
        "p_unmet": "Personal unmet, h/week",
        "unmet": "All unmet, h/week",
        "incidents": "Safeguarding incidents a year",
    }
    by_type = per_prison.groupby(level="prison_type").agg(
        prisons=("population", "size"), **{k: (k, "sum") for k in columns}
    )
    by_type = by_type.rename(columns={"prisons": "Prisons", **columns})
    top = per_prison.sort_values("unmet", ascending=False).head(10).reset_index()
    top = top.rename(columns={"prison": "Prison", "prison_type": "Type", "scheme": "Scheme", **columns})
    return by_type.reset_index().rename(columns={"prison_type": "Type"}), top


def html_table(frame: pd.DataFrame, number_format: str = ",.1f") -> str:
    """A report table: no index, numbers as ``number_format`` (``,.4g`` for the analyses)."""
    return frame.to_html(
        index=False, float_format=lambda v: format(v, number_format), border=0, classes="data"
    )


# ------------------------------------------------------------------ assumptions
def sourced_parameters(files: Iterable[Path], prefixes: Iterable[str]) -> list[tuple[str, str, str]]:
    """(dotted key, value as written, comment) for every number in these YAML files; a key
    without a comment of its own takes its enclosing mapping's."""
    from ..assumptions import yaml_keys

    rows = []
    for path, prefix in zip(files, prefixes, strict=True):
        for key in yaml_keys(path, prefix):
            if key.value and re.match(r"^[-+]?[\d.]", key.value):
                rows.append((key.dotted, key.value, key.comment or key.inherited))
    return rows


def parameter_files(cfg: Config) -> list[tuple[Path, str]]:
    """The YAML files this run's configuration came from, with the key prefix of each."""
    groups = ["population", "need", "pathway", "buddies", "regime", "care", "costs", "safeguarding"]
    files = [(CONFIG_DIR / group / "default.yaml", group) for group in groups]
    files.append((CONFIG_DIR / "funding" / "status_quo.yaml", "funding"))
    if cfg.funding.name != "status_quo" and (CONFIG_DIR / "funding" / f"{cfg.funding.name}.yaml").is_file():
        files.append((CONFIG_DIR / "funding" / f"{cfg.funding.name}.yaml", "funding"))
    for global_file in (
        CONFIG_DIR / "estate" / f"{cfg.estate.name}.yaml",
        SCENARIO_DIR / f"{cfg.scenario}.yaml",
    ):
        if global_file.is_file():
            files.append((global_file, ""))
    return files


def _as_written(value: object) -> str:
    """A parameter's value as text, all its digits kept (the tables round floats to 0.1)."""
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"
    return str(value)


def assumptions_table(cfg: Config, resolved: dict[str, object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The assumptions this run varies in a sensitivity analysis (value used, range, distribution,
    why; from configs/assumptions.yaml), and the parameters with a published source."""
    from .. import assumptions

    varied = assumptions.for_run(cfg)
    names = {a.key for a in varied}
    assumed = pd.DataFrame(
        [
            {
                "Parameter": a.key,
                "Value used": _as_written(resolved.get(a.key, assumptions.get_value(cfg, a.key))),
                "Range": a.describe(),
                "Why": a.why,
            }
            for a in varied
        ],
        columns=["Parameter", "Value used", "Range", "Why"],
    )
    files = parameter_files(cfg)
    latest: dict[str, tuple[str, str]] = {}
    for key, written, comment in sourced_parameters([p for p, _ in files], [k for _, k in files]):
        latest[key] = (written, comment)  # later files (funding option, estate, scenario) win
    sourced = pd.DataFrame(
        [
            {"Parameter": key, "Value used": _as_written(resolved.get(key, written)), "Source": comment}
            for key, (written, comment) in latest.items()
            if key not in names and "assumption" not in comment.lower()
        ],
        columns=["Parameter", "Value used", "Source"],
    )
    return assumed, sourced


def flatten(node: object, prefix: str = "") -> dict[str, object]:
    """Dotted keys to values of a nested dict (lists left out)."""
    out: dict[str, object] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif not isinstance(node, list):
        out[prefix[:-1]] = node
    return out


# ------------------------------------------------------------------------ pages
_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1100px;
       margin: 1.5em auto; padding: 0 1em; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.headline { border: 2px solid #1d70b8; background: #f3f8fc; padding: 0.8em 1.2em; border-radius: 6px; }
.headline li { margin: 0.3em 0; }
.meta { color: #555; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
table.data { border-collapse: collapse; font-size: 0.88em; margin: 0.6em 0; }
table.data th, table.data td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
@media print { .plot { page-break-inside: avoid; } details { display: block; } body { max-width: none; } }
"""


#: The line every run and sweep report carries about what its intervals cover.
INTERVALS_NOTE = (
    "These intervals cover chance variation between replications only, not uncertainty in the "
    "assumptions (configs/assumptions.yaml); python -m simmodel.psa gives intervals that include it, "
    "and python -m simmodel.sensitivity shows which assumptions matter."
)


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def run_report(
    cfg: Config,
    summary: pd.DataFrame,
    series: pd.DataFrame,
    replications: int,
    command: str,
    cfg_yaml: str,
    resolved: dict[str, object],
    images: list[tuple[str, str]] | None = None,
) -> str:
    """The run's ``report.html`` as text (``images``: its figures from :func:`plots`, if
    already drawn, e.g. by :mod:`.plot_helper`)."""
    esc = html.escape
    items = "".join(
        f'<li data-metric="{metric}">{sentence}</li>' for metric, sentence in headline_sentences(summary)
    )
    prisons = int(series.loc[series["scope"] == "prison", "prison"].nunique())
    estate = f"{prisons} prison{'s' if prisons != 1 else ''}"
    years = cfg.run.years
    body = [
        f"<h1>simmodel: {esc(cfg.scenario)} scenario, {esc(cfg.funding.name)} funding</h1>",
        f'<p class="meta">Estate <b>{esc(cfg.estate.name)}</b> ({estate}), '
        f"{years:g} year{'s' if years != 1 else ''} reported after a "
        f"{cfg.run.warmup_years:g}-year warm-up, {replications} replication(s), seed {cfg.run.seed}. "
        "Figures are means over the reported years and the replications; brackets give the 95% "
        f"confidence interval of the mean. <b>{INTERVALS_NOTE}</b></p>",
        f'<div class="headline"><b>In a typical week of the run:</b><ul>{items}</ul></div>',
        "<h2>Plots</h2>",
    ]
    for title, image in plots(series, summary) if images is None else images:
        body.append(f'<div class="plot"><h3>{esc(title)}</h3>{image}</div>')
    by_type, top = prison_tables(series)
    if not by_type.empty:
        body += ["<h2>By prison type</h2>", html_table(by_type)]
        if len(top) > 1:
            body += ["<h2>The 10 prisons with most unmet need</h2>", html_table(top)]
    body += ["<h2>All results</h2>", _summary_html(summary)]
    assumed, sourced = assumptions_table(cfg, resolved)
    body += [
        "<h2>The assumptions behind these results</h2>",
        "<p>No public figure exists for these parameters; each is a stated assumption with the range "
        "and distribution that <code>python -m simmodel.sensitivity</code> and <code>python -m "
        "simmodel.psa</code> cover (configs/assumptions.yaml). The intervals above cover chance "
        "variation between replications only, <b>not</b> uncertainty in these assumptions. "
        "Change any of them on the command line.</p>",
        html_table(assumed),
        "<details><summary>Parameters with a published source</summary>",
        html_table(sourced),
        "</details>",
        "<h2>Reproduce this run</h2>",
        f"<pre>{esc(command)}</pre>",
        f"<details><summary>Full configuration</summary><pre>{esc(cfg_yaml)}</pre></details>",
    ]
    return page(f"simmodel report: {cfg.scenario}", "\n".join(body))


def _summary_html(summary: pd.DataFrame) -> str:
    labels = {m.name: m.label.strip() for m in METRICS}
    rows = []
    for row in summary.itertuples(index=False):
        interval = ""
        if np.isfinite(row.ci_low):
            interval = f"{format_number(row.ci_low, row.unit)} to {format_number(row.ci_high, row.unit)}"
        rows.append(
            {
                "Result": labels.get(row.metric, row.metric),
                "Mean": format_number(row.mean, row.unit),
                "95% CI": interval,
                "Unit": row.unit,
                "Metric": row.metric,
                "Note": note if isinstance(note := getattr(row, "note", ""), str) else "",
            }
        )
    return pd.DataFrame(rows).to_html(index=False, border=0, classes="data", escape=True)


# --------------------------------------------------------------------- workbook
def column_unit(column: str) -> str:
    """The unit of a monthly series column (its CI columns too), for workbook headers."""
    base = re.sub(r"_ci_(low|high)$", "", column)
    return timeseries_columns().get(base, ("", ""))[0]


#: Plain labels of the comparison's own metrics (the rest are in METRICS).
COMPARISON_LABELS = {
    "incremental_cost_per_year": "Incremental cost (option minus reference)",
    "cost_per_nonpersonal_hour_averted": "Cost per hour of unmet non-personal care averted",
    "cost_per_personal_hour_averted": "Cost per hour of unmet personal care averted",
}
#: Long tables (one row per metric) name each row's unit in this column; their value
#: columns are formatted row by row.
UNIT_HEADER = "Unit"
#: Whole-number columns of the long tables.
COUNT_HEADERS = ("Replications", "Paired replications")
_MONEY = '"£"#,##0'


def metric_label(metric: str) -> str:
    """The plain label of a summary or comparison metric ('' for an unknown one)."""
    labels = {m.name: m.label.strip() for m in METRICS} | COMPARISON_LABELS
    return labels.get(metric, "")


def number_format(unit: str, value: float) -> str:
    """An Excel number format for a value in ``unit`` of about this size."""
    if unit.startswith("share"):
        return "0.0%"
    if unit.startswith("GBP"):
        return _MONEY
    return "#,##0" if np.isfinite(value) and abs(value) >= 100 else "#,##0.0"


def _column_format(header: str, values: pd.Series) -> str:
    """The number format of a wide table's column, from the unit in its header and its values."""
    unit = header.rpartition("(")[2].rstrip(")") if header.endswith(")") else ""
    if unit == "month number" or header in COUNT_HEADERS:
        return "0"
    if unit == "years":
        return "0.00"
    if unit.startswith("GBP"):
        return _MONEY
    numbers = _numbers(values)
    if len(numbers) and bool((numbers == np.round(numbers)).all()):
        return "#,##0"
    return "#,##0.0"


def _numbers(values: pd.Series) -> np.ndarray:
    """A column's numbers as floats, blanks (NaN, None, text) left out (hot path: a workbook
    has hundreds of columns, and pandas' own calls cost several times these)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return numbers[~np.isnan(numbers)]


def _cell_formats(frame: pd.DataFrame, column: str) -> list[str] | str | None:
    """The number format of each cell of a numeric column (a list for a long table's value
    columns, whose unit changes row by row; one format for the others), or None if the
    column is not numeric."""
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    if UNIT_HEADER in frame.columns and column not in COUNT_HEADERS:
        means = frame.get("Mean", frame.get("Difference (option - reference)"))
        sizes = (values if means is None else means).astype(float).tolist()
        units = frame[UNIT_HEADER].astype(str).tolist()
        return [number_format(unit, size) for unit, size in zip(units, sizes, strict=True)]
    return _column_format(str(column), values)


def _width(frame: pd.DataFrame, column: str) -> int:
    """A column's width in characters: its widest value among the first 500 (numbers as shown
    with thousands separators), at least part of the header, at most 60."""
    values = frame[column]
    sample = values.head(500)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        body = _widest_number(_numbers(sample))
    else:
        body = max((len(v) for v in sample if isinstance(v, str)), default=4)
    return min(max(body, min(len(str(column)), 18), 6) + 2, 60)


def _widest_number(numbers: np.ndarray) -> int:
    """Characters of the widest of ``numbers`` shown as ``f"{v:,.1f}"`` (4 if there are none).

    The shown width never falls as a number moves away from zero, so the widest is that of
    the largest number or of the most negative one (a minus sign, -0.0 included); infinities
    show as ``inf`` and ``-inf``. Formatting two numbers instead of up to 500 (hot path)."""
    if len(numbers) == 0:
        return 4
    widths = []
    finite = numbers[np.isfinite(numbers)]
    negative = np.signbit(finite)
    if negative.any():
        widths.append(len(f"{finite[negative].min():,.1f}"))
    if not negative.all():
        widths.append(len(f"{finite[~negative].max():,.1f}"))
    if np.isposinf(numbers).any():
        widths.append(3)
    if np.isneginf(numbers).any():
        widths.append(4)
    return max(widths)


def _write_sheet(book: Workbook, name: str, frame: pd.DataFrame, formats: dict[str, Format]) -> None:
    """One sheet: bold wrapped headers on a tint, frozen header row (and label column of a long
    table), sized columns, numbers in full precision shown in their unit's format, text kept as
    text (a prison named ``=HYPERLINK(...)`` must not become a formula), NaN left blank."""
    sheet = book.add_worksheet(name[:31])
    if "header" not in formats:
        formats["header"] = book.add_format(
            {"bold": True, "bg_color": "#DDE8F3", "text_wrap": True, "valign": "top"}
        )
    header_lines = 1
    for j, column in enumerate(frame.columns):
        width = _width(frame, column)
        sheet.set_column(j, j, width)
        header_lines = max(header_lines, -(-len(str(column)) // (width - 1)))
        sheet.write_string(0, j, str(column), formats["header"])
        cell_formats = _cell_formats(frame, column)
        values = frame[column].tolist()
        if cell_formats is None:  # text, booleans and anything else
            for i, value in enumerate(values, start=1):
                _write_value(sheet, i, j, value)
            continue
        if isinstance(cell_formats, str):
            cell_formats = [cell_formats] * len(values)
        for i, (value, shown_as) in enumerate(zip(values, cell_formats, strict=True), start=1):
            if value != value:  # NaN: blank
                continue
            if shown_as not in formats:
                formats[shown_as] = book.add_format({"num_format": shown_as})
            if math.isinf(value):  # as pandas writes it
                sheet.write_string(i, j, "inf" if value > 0 else "-inf", formats[shown_as])
            else:
                sheet.write_number(i, j, value, formats[shown_as])
    sheet.set_row(0, 15 * min(header_lines, 4))
    label_column = UNIT_HEADER in frame.columns and frame.columns[0] == "Result"
    sheet.freeze_panes(1, 1 if label_column else 0)


def _write_value(sheet: Worksheet, row: int, column: int, value: object) -> None:
    """A cell of a column that is not numeric: text stays text; empty text, NaN and None stay blank."""
    if isinstance(value, str):
        if value:
            sheet.write_string(row, column, value)
    elif isinstance(value, bool | np.bool_):
        sheet.write_boolean(row, column, bool(value))
    elif isinstance(value, int | float | np.number):
        if value == value:
            sheet.write_number(row, column, float(value))
    elif value is not None:
        sheet.write_string(row, column, str(value))


def write_workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Write sheets to an .xlsx file atomically (temp file, then rename); see :func:`workbook_bytes`."""
    write_atomic(path, workbook_bytes(sheets))


def workbook_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx workbook of ``sheets``, built in memory.

    Every text cell is stored as text; headers are bold and frozen, columns sized, and
    numbers shown with thousands separators and sensible decimals (the values keep full
    precision). XlsxWriter writes each cell once with its format: about four times faster
    than pandas' ``to_excel`` through openpyxl and styling the cells afterwards (issue 13).
    """
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    formats: dict[str, Format] = {}
    for name, frame in sheets.items():
        _write_sheet(book, name, frame, formats)
    book.close()
    return buffer.getvalue()


#: Workbook headers of the summary's columns (summary.csv and sweep.csv).
SUMMARY_HEADERS = {
    "metric": "Metric id",
    "unit": UNIT_HEADER,
    "mean": "Mean",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "p5": "5th percentile of replications",
    "p95": "95th percentile of replications",
    "n": "Replications",
    "note": "Note",
}
#: Workbook headers of comparison.csv's columns.
COMPARISON_HEADERS = {
    "option": "Option",
    "reference": "Reference",
    "metric": "Metric id",
    "unit": UNIT_HEADER,
    "option_mean": "Option mean",
    "reference_mean": "Reference mean",
    "difference": "Difference (option - reference)",
    "ci_low": "95% CI low (difference)",
    "ci_high": "95% CI high (difference)",
    "n_pairs": "Paired replications",
}
RUN_SHEETS = ("Summary", "Monthly series")
SWEEP_SHEETS = ("Sweep results", "Comparison")


def _labelled(table: pd.DataFrame, headers: dict[str, str], first: bool) -> pd.DataFrame:
    """``table`` with readable headers and a plain label column ("Result") by the metric id."""
    out = table.rename(columns=headers)
    labels = table["metric"].map(metric_label)
    position = 0 if first else out.columns.get_loc("Metric id")
    out.insert(position, "Result", labels)
    return out


def run_workbook_sheets(summary: pd.DataFrame, series: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The summary (labels beside metric ids) and the estate's monthly series with its 95% CI
    columns, units in the headers. Each prison's rows stay in ``timeseries.csv``: a national
    run has 120 times as many, and a workbook cell costs about 7 µs to write: half a minute (issue 13)."""
    if "scope" in series:
        series = series[series["scope"] == "estate"]
    named = {c: f"{c} ({column_unit(c)})" if column_unit(c) else c for c in series.columns}
    summary_sheet, series_sheet = RUN_SHEETS
    return {
        summary_sheet: _labelled(summary, SUMMARY_HEADERS, first=True),
        series_sheet: series.rename(columns=named),
    }


# ------------------------------------------------------------------ sweep report
#: The columns of comparison.csv after the ones naming the group (the other swept keys).
COMPARISON_COLUMNS = (
    "option",
    "reference",
    "metric",
    "unit",
    "option_mean",
    "reference_mean",
    "difference",
    "ci_low",
    "ci_high",
    "n_pairs",
)
FOREST_METRICS = (
    ("unmet_hours_per_week", "Unmet care, hours a week"),
    ("nonpersonal_unmet_hours_per_week", "Non-personal unmet, hours a week"),
    ("personal_unmet_hours_per_week", "Personal unmet, hours a week"),
    ("safeguarding_incidents_per_year", "Safeguarding incidents a year"),
    ("cost_total_per_year", "Total cost, £ a year"),
)
TREND_METRICS = (
    ("unmet_hours_per_week", "Unmet care, hours a week"),
    ("cost_total_per_year", "Total cost, £ a year"),
    ("buddies_active", "Buddies active"),
)


def forest_plot(comparison: pd.DataFrame) -> str:
    """Paired differences against the reference, with 95% CIs, one panel per key metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    group_cols = [c for c in comparison.columns if c not in COMPARISON_COLUMNS]
    labels = comparison.apply(
        lambda r: " / ".join([str(r[c]) for c in group_cols] + [str(r["option"])]), axis=1
    )
    comparison = comparison.assign(label=labels)
    fig, axes = plt.subplots(
        1, len(FOREST_METRICS), figsize=(4 * len(FOREST_METRICS), 1.6 + 0.45 * labels.nunique())
    )
    for ax, (metric, title) in zip(np.atleast_1d(axes), FOREST_METRICS, strict=True):
        rows = comparison[comparison["metric"] == metric]
        y = np.arange(len(rows))
        low = (rows["difference"] - rows["ci_low"]).fillna(0).to_numpy()
        high = (rows["ci_high"] - rows["difference"]).fillna(0).to_numpy()
        ax.errorbar(rows["difference"], y, xerr=np.vstack([low, high]), fmt="o", capsize=3)
        ax.axvline(0, color="0.5", lw=1)
        ax.set_yticks(y, rows["label"] if ax is np.atleast_1d(axes)[0] else [""] * len(rows), fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("Difference against the reference (paired by replication, 95% CI)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def trend_plots(sweep: pd.DataFrame, swept: list[str]) -> list[tuple[str, str]]:
    """How each key metric varies with each swept parameter (mean and 95% CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for key in swept:
        fig, axes = plt.subplots(1, len(TREND_METRICS), figsize=(4.2 * len(TREND_METRICS), 3.2))
        for ax, (metric, title) in zip(axes, TREND_METRICS, strict=True):
            rows = sweep[sweep["metric"] == metric].copy()
            values = pd.to_numeric(rows[key], errors="coerce")
            numeric = bool(values.notna().all())
            rows["x"] = values if numeric else rows[key].astype(str)
            rows = rows.sort_values("x") if numeric else rows
            others = [k for k in swept if k != key]
            for name, part in rows.groupby(others, sort=False) if others else [("", rows)]:
                low = (part["mean"] - part["ci_low"]).fillna(0)
                high = (part["ci_high"] - part["mean"]).fillna(0)
                label = ", ".join(map(str, name if isinstance(name, tuple) else (name,)))
                ax.errorbar(
                    part["x"],
                    part["mean"],
                    yerr=[low, high],
                    fmt="-o" if numeric else "o",
                    capsize=3,
                    label=label or None,
                )
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(key)
            ax.tick_params(axis="x", labelrotation=0 if numeric else 30, labelsize=8)
            ax.grid(alpha=0.3)
            if others:
                ax.legend(fontsize=7)
        fig.tight_layout()
        out.append((f"Results by {key}", _png(fig)))
    return out


def sweep_report(
    sweep_dir: Path,
    sweep: pd.DataFrame,
    swept: list[str],
    comparison: pd.DataFrame | None,
    frontier_png: Path | None,
) -> str:
    """The sweep folder's ``report.html`` as text."""
    esc = html.escape
    jobs = sweep["job"].nunique()
    body = [
        f"<h1>simmodel sweep: {jobs} jobs</h1>",
        f'<p class="meta">Folder {esc(str(sweep_dir))}. Swept: {esc(", ".join(swept) or "nothing")}. '
        "Means across replications with 95% confidence intervals; differences are paired by "
        f"replication (common random numbers). <b>{INTERVALS_NOTE}</b></p>",
    ]
    if comparison is not None and not comparison.empty:
        key = comparison[
            comparison["metric"].isin([m for m, _ in FOREST_METRICS] + list(COMPARISON_LABELS)[1:])
        ]
        shown = key.drop(columns=["reference"]).copy()
        for column in ("option_mean", "reference_mean", "difference", "ci_low", "ci_high"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.1f}")
        reference = comparison["reference"].iloc[0]
        body += [f"<h2>Each option against {esc(str(reference))}</h2>", html_table(shown)]
        body += ["<h2>Differences against the reference</h2>", forest_plot(comparison)]
    if frontier_png is not None and frontier_png.is_file():
        data = base64.b64encode(frontier_png.read_bytes()).decode("ascii")
        body += [
            "<h2>Cost against unmet need</h2>",
            f'<img alt="frontier" src="data:image/png;base64,{data}">',
        ]
    for title, image in trend_plots(sweep, swept):
        body.append(f'<div class="plot"><h3>{esc(title)}</h3>{image}</div>')
    return page("simmodel sweep report", "\n".join(body))


def sweep_workbook_sheets(sweep: pd.DataFrame, comparison: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The sweep table and the comparison: readable headers, a plain label by each metric id,
    a unit column (the swept keys keep their names)."""
    results_sheet, comparison_sheet = SWEEP_SHEETS
    sheets = {results_sheet: _labelled(sweep, {"job": "Job", **SUMMARY_HEADERS}, first=False)}
    if comparison is not None and not comparison.empty:
        sheets[comparison_sheet] = _labelled(comparison, COMPARISON_HEADERS, first=False)
    return sheets

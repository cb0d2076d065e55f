"""Plots, console lines and ``report.html`` for the sensitivity and probabilistic analyses."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from .report import format_number, html_table, img_tag, metric_label, page

#: How each key output reads in a sentence, and its unit for format_number.
OUTPUT_WORDS = {
    "nonpersonal_unmet_hours_per_week": ("unmet non-personal care", "hours a week"),
    "personal_unmet_hours_per_week": ("unmet personal care", "hours a week"),
    "cost_total_per_year": ("total cost", "£ a year"),
    "safeguarding_incidents_per_year": ("safeguarding incidents", "a year"),
    "unmet_hours_per_week": ("unmet care of both kinds", "hours a week"),
    "unmet_hours_per_year": ("unmet care of both kinds", "hours a year"),
}


def output_words(output: str) -> tuple[str, str]:
    """How an output reads in a sentence, and its unit: ("unmet personal care", "hours a week")."""
    return OUTPUT_WORDS.get(output, (metric_label(output), ""))


def pounds(value: float) -> str:
    """£ for a sentence: £220,833 or £3.45m."""
    return f"£{value / 1e6:,.2f}m" if abs(value) >= 1e6 else f"£{value:,.0f}"


def with_unit(value: float, unit: str) -> str:
    """A value and its unit for a sentence: "113 hours a week", "46.5 a year", "£3.45m"."""
    if unit == "£ a year":
        return pounds(value)
    return f"{format_number(value, '')} {unit}".strip()


def _short(key: str) -> str:
    return key.split(".", 1)[-1]


# ------------------------------------------------------------------ sensitivity
def sensitivity_figures(method: str, table: pd.DataFrame, top: int = 15) -> dict[str, Any]:
    """One figure per output: a tornado (one-way), mu_star against sigma (Morris), S1 and ST (Sobol)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    for output, rows in table.groupby("output", sort=False):
        label, unit = output_words(str(output))
        fig, ax = plt.subplots(figsize=(8, 0.32 * min(top, len(rows)) + 1.6))
        if method == "oneway":
            rows = rows.sort_values("swing", ascending=False).head(top).iloc[::-1]
            base = float(rows["output_base"].iloc[0])
            y = np.arange(len(rows))
            ax.barh(y, rows["output_at_low"] - base, left=base, color="#1d70b8", label="at the low end")
            high = rows["output_at_high"] - base
            ax.barh(y, high, left=base, color="#d4351c", alpha=0.7, label="at the high end")
            ax.axvline(base, color="black", linewidth=0.8)
            ax.set_yticks(y, [_short(p) for p in rows["parameter"]], fontsize=8)
            ax.set_xlabel(f"{label} ({unit})")
            ax.legend(fontsize=8, loc="lower right")
            name = f"tornado_{output}.png"
        elif method == "morris":
            ax.figure.set_size_inches(8, 5)
            ax.scatter(rows["mu_star"], rows["sigma"], s=12, color="#1d70b8")
            for _, row in rows.sort_values("mu_star", ascending=False).head(8).iterrows():
                ax.annotate(_short(row["parameter"]), (row["mu_star"], row["sigma"]), fontsize=7)
            ax.set_xlabel(f"mu* (mean absolute effect on {label}, {unit})")
            ax.set_ylabel("sigma (interaction, non-linearity)")
            name = f"morris_{output}.png"
        else:
            rows = rows.sort_values("ST", ascending=False).head(top).iloc[::-1]
            y = np.arange(len(rows))
            ax.barh(
                y - 0.2,
                rows["S1"],
                height=0.4,
                color="#1d70b8",
                label="first order S1",
                xerr=(rows["S1"] - rows["S1_low"]).clip(lower=0),
                ecolor="#555",
            )
            ax.barh(
                y + 0.2,
                rows["ST"],
                height=0.4,
                color="#d4351c",
                alpha=0.7,
                label="total ST",
                xerr=(rows["ST"] - rows["ST_low"]).clip(lower=0),
                ecolor="#555",
            )
            ax.set_yticks(y, [_short(p) for p in rows["parameter"]], fontsize=8)
            ax.set_xlabel(f"share of the variance of {label}")
            ax.legend(fontsize=8, loc="lower right")
            name = f"sobol_{output}.png"
        ax.set_title(label.capitalize())
        figures[name] = fig
    return figures


def _top_sentences(method: str, table: pd.DataFrame, n: int = 5) -> list[str]:
    sentences = []
    for output, rows in table.groupby("output", sort=False):
        label, unit = output_words(str(output))
        if method == "oneway":
            rows = rows.sort_values("swing", ascending=False).head(n)
            parts = [
                f"{_short(r.parameter)} ({r.value_low:g} to {r.value_high:g}: "
                f"{with_unit(r.output_at_low, unit)} to {with_unit(r.output_at_high, unit)})"
                for r in rows.itertuples()
            ]
            base = with_unit(float(rows["output_base"].iloc[0]), unit)
            sentences.append(
                f"<b>{label.capitalize()}</b> ({base} with every assumption at its value) moves most with "
                + "; ".join(parts)
                + "."
            )
        elif method == "morris":
            rows = rows.sort_values("mu_star", ascending=False).head(n)
            parts = [f"{_short(r.parameter)} (mu* {with_unit(r.mu_star, unit)})" for r in rows.itertuples()]
            sentences.append(f"<b>{label.capitalize()}</b> depends most on " + ", ".join(parts) + ".")
        else:
            rows = rows.sort_values("ST", ascending=False).head(n)
            parts = [f"{_short(r.parameter)} ({r.ST:.0%} total, {r.S1:.0%} alone)" for r in rows.itertuples()]
            sentences.append(
                f"<b>{label.capitalize()}</b>: of its variance over these inputs, " + ", ".join(parts) + "."
            )
    return sentences


def sensitivity_console(method: str, table: pd.DataFrame, n: int = 5) -> str:
    lines = [f"Sensitivity ({method}): the assumptions that matter most"]
    for sentence in _top_sentences(method, table, n):
        lines.append("  " + sentence.replace("<b>", "").replace("</b>", ""))
    return "\n".join(lines)


_METHOD_WORDS = {
    "oneway": "Each assumption was set to the low and then the high end of its range, all others at "
    "their values in use, with the same random numbers (so differences are the assumption's doing).",
    "morris": "Morris screening: each assumption was moved by two thirds of its probability range along "
    "random trajectories. mu* is the mean size of the change in an output (in its own units); sigma "
    "large against mu* means the effect depends on other assumptions or is not linear.",
    "sobol": "Sobol indices: the share of an output's variance over the chosen assumptions that each "
    "explains alone (S1) and with its interactions (ST). Intervals are bootstrap 95% intervals; with a "
    "small sample they are wide and an index can come out slightly negative.",
}


def sensitivity_report(
    method: str, table: pd.DataFrame, images: dict[str, bytes], cfg: Any, opts: dict[str, Any], seconds: float
) -> str:
    esc = html.escape
    body = [
        f"<h1>simmodel sensitivity analysis: {esc(method)}</h1>",
        f'<p class="meta">Estate <b>{esc(cfg.estate.name)}</b>, scenario {esc(cfg.scenario)}, funding '
        f"{esc(cfg.funding.name)}; {cfg.run.years:g} year(s) reported after {cfg.run.warmup_years:g} of "
        f"warm-up, {cfg.run.replications} replication(s) per point, seed {cfg.run.seed}; "
        f"{table['parameter'].nunique()} assumptions; {seconds:.0f} s.</p>",
        f"<p>{esc(_METHOD_WORDS[method])}</p>",
        '<div class="headline"><b>Which assumptions matter most:</b><ul>'
        + "".join(f"<li>{s}</li>" for s in _top_sentences(method, table))
        + "</ul></div>",
        "<p>These results cover uncertainty in the assumptions (configs/assumptions.yaml gives the "
        "ranges). Chance variation is held fixed by common random numbers; with few replications "
        "per point, small effects are within noise.</p>",
        "<h2>Plots</h2>",
    ]
    body += [f'<div class="plot">{img_tag(data)}</div>' for data in images.values()]
    body += [
        "<h2>Table</h2>",
        html_table(table, ",.4g"),
    ]
    return page(f"simmodel sensitivity: {method}", "\n".join(body))


# ------------------------------------------------------------------ probabilistic
def psa_figures(
    draws: pd.DataFrame, curve: pd.DataFrame, convergence: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for option, rows in curve.groupby("option", sort=False):
        ax.plot(rows["value_per_unmet_hour"], rows["probability_best"], label=option)
    ax.set_xlabel("value of an hour of unmet care avoided (£)")
    ax.set_ylabel("probability the option is best")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Cost-effectiveness acceptability curve")
    figures["acceptability.png"] = fig

    fig, ax = plt.subplots(figsize=(8, 5))
    for option, rows in draws.groupby("option", sort=False):
        cost = rows["cost_total_per_year"] / 1e6
        ax.scatter(rows["unmet_hours_per_year"], cost, s=10, alpha=0.5, label=option)
    ax.set_xlabel("unmet care, hours a year")
    ax.set_ylabel("total cost, £ million a year")
    ax.legend(fontsize=8)
    ax.set_title("Each draw of the assumptions, each option")
    figures["cost_unmet.png"] = fig

    fig, axes = plt.subplots(len(convergence), 1, figsize=(8, 2.6 * len(convergence)), squeeze=False)
    for ax, (output, table) in zip(axes[:, 0], convergence.items(), strict=True):
        for option, rows in table.groupby("option", sort=False):
            (line,) = ax.plot(rows["draws"], rows["mean"], label=option)
            ax.fill_between(rows["draws"], rows["p2_5"], rows["p97_5"], color=line.get_color(), alpha=0.12)
        ax.set_ylabel(output_words(output)[0], fontsize=8)
    axes[-1, 0].set_xlabel("draws used")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title("Running mean and 95% range against the number of draws")
    figures["convergence.png"] = fig
    return figures


def psa_sentences(
    distribution: pd.DataFrame,
    frontier: pd.Series,
    curve: pd.DataFrame,
    drivers: pd.DataFrame,
    reference: str,
    value: float,
) -> list[str]:
    """Plain-language findings: intervals, frontier shares, the best option and what it hinges on."""
    out = []
    for output in ("unmet_hours_per_year", "cost_total_per_year"):
        label, unit = output_words(output)
        rows = distribution[distribution["output"] == output]
        parts = [
            f"{r.option} {with_unit(r.mean, unit)} ({with_unit(r.p2_5, unit)} to {with_unit(r.p97_5, unit)})"
            for r in rows.itertuples()
        ]
        lead = f"<b>{label.capitalize()}</b>, mean and 95% range over the draws: "
        out.append(lead + "; ".join(parts) + ".")
    out.append(
        "<b>On the cost-unmet frontier</b> (no other option both cheaper and with less unmet care): "
        + ", ".join(f"{o} in {s:.0%} of draws" for o, s in frontier.sort_values(ascending=False).items())
        + "."
    )
    at = curve[np.isclose(curve["value_per_unmet_hour"], value)]
    if not at.empty:
        best = at.sort_values("probability_best", ascending=False).iloc[0]
        robust = "robust" if best["probability_best"] >= 0.8 else "not robust"
        out.append(
            f"<b>Valuing an hour of unmet care avoided at £{value:g}</b>, {best['option']} is best in "
            f"{best['probability_best']:.0%} of draws: the ranking is {robust} to the assumptions."
        )
    for option, rows in drivers.groupby("option", sort=False):
        top = rows.head(5)
        if top.empty:
            continue
        parts = [f"{_short(r.parameter)} ({r.effect:+.2f})" for r in top.itertuples()]
        if top["method"].iloc[0] == "rank correlation":
            how = "rank correlations over few draws: indicative only"
        else:
            how = f"standardised coefficients; a linear fit explains {top['r2'].iloc[0]:.0%}"
        out.append(
            f"<b>{option} against {reference}</b>: its advantage depends most on "
            + ", ".join(parts)
            + f" ({how})."
        )
    return out


def psa_report(sentences: list[str], images: dict[str, bytes], distribution: pd.DataFrame, meta: str) -> str:
    body = [
        "<h1>simmodel probabilistic analysis</h1>",
        f'<p class="meta">{meta}</p>',
        '<div class="headline"><b>What survives what nobody knows:</b><ul>'
        + "".join(f"<li>{s}</li>" for s in sentences)
        + "</ul></div>",
        "<p>Each draw sets every assumption from its distribution (configs/assumptions.yaml, Latin "
        "hypercube), and every option runs at that draw with the same random numbers. The ranges "
        "above therefore include uncertainty in the assumptions as well as chance.</p>",
        "<h2>Plots</h2>",
        *[f'<div class="plot">{img_tag(d)}</div>' for d in images.values()],
        "<h2>Distribution of each output</h2>",
        html_table(distribution, ",.4g"),
    ]
    return page("simmodel probabilistic analysis", "\n".join(body))

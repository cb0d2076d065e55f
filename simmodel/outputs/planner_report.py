"""Plots and ``report.html`` for the planner tools (capacity calculator, budget optimiser)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .report import INTERVALS_NOTE, html_table, img_tag, page
from .uncertainty_report import pounds

if TYPE_CHECKING:
    from ..capacity import CapacityResult, Target
    from ..optimise import OptimiseResult


def cost_words(row: Mapping[str, Any]) -> str:
    """``cost £X a year (prison service £a, local authorities £b, NHS £c)`` from a row of means."""
    payers = ("prison service", "prison"), ("local authorities", "local_authority"), ("NHS", "nhs")
    parts = ", ".join(f"{words} {pounds(row[f'cost_{payer}_per_year'])}" for words, payer in payers)
    return f"cost {pounds(row['cost_total_per_year'])} a year ({parts})"


def capacity_figure(curve: pd.DataFrame, answers: pd.DataFrame, lever_words: str, target: Target) -> Any:
    """The first target's output against the lever, per scope: mean, 95% interval, the bound
    the search used, the target line and each answer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = target.metric
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for (name, rows), colour in zip(curve.groupby("scope", sort=False), plt.cm.tab10.colors, strict=False):
        x = rows["shown"]
        ax.plot(x, rows[f"{m}_mean"], marker="o", color=colour, label=f"{name}: mean")
        ax.fill_between(x, rows[f"{m}_ci_low"], rows[f"{m}_ci_high"], color=colour, alpha=0.15)
        ax.plot(x, rows[f"{m}_bound"], linestyle=":", color=colour)
        answer = answers[answers["scope"] == name]
        if len(answer) and answer["status"].iloc[0] != "not met":
            ax.axvline(answer["shown"].iloc[0], color=colour, linestyle="--", linewidth=0.8)
    ax.axhline(target.limit, color="black", linewidth=1, label="target")
    ax.set_xlabel(lever_words)
    ax.set_ylabel(m)
    ax.set_title(
        "Output against the lever: mean (line), 95% interval (band), bound searched (dots)", fontsize=9
    )
    ax.legend(fontsize=7)
    return fig


def capacity_report(result: CapacityResult, cfg: Any, targets: list[Target], image: bytes) -> str:
    esc = html.escape
    body = [
        "<h1>simmodel capacity calculator</h1>",
        f'<p class="meta">Estate <b>{esc(cfg.estate.name)}</b>, scenario {esc(cfg.scenario)}, funding '
        f"{esc(cfg.funding.name)}; {cfg.run.years:g} year(s) reported after {cfg.run.warmup_years:g} of "
        f"warm-up, {cfg.run.replications} replication(s) per value, seed {cfg.run.seed}; {result.runs} "
        f"values run in {result.seconds:.0f} s.</p>",
        '<div class="headline"><b>Answer</b><ul>'
        + "".join(f"<li>{esc(s)}</li>" for s in result.sentences)
        + "</ul></div>",
        "<p>How it was found: every value of the lever was run with the same random numbers, so "
        "differences between values are the lever's doing. The search ran a coarse grid over the "
        "range, then narrowed the step where the target starts being met. A target is met at a value "
        "when the one-sided bound on its output (the upper confidence bound of the mean over "
        "replications, or the chosen share of replications) is at or below the target. Costs are "
        "the model's, by payer, at the answer.</p>",
        f"<p>{esc(INTERVALS_NOTE)}</p>",
        f'<div class="plot">{img_tag(image)}</div>',
        "<h2>Answer by scope</h2>",
        html_table(result.table, ",.4g"),
        "<h2>Every value run</h2>",
        html_table(result.curve, ",.4g"),
    ]
    return page("simmodel capacity", "\n".join(body))


def pareto_figure(trials: pd.DataFrame, objective: str, budget: float) -> Any:
    """Every mix run (extra cost against the objective, 95% intervals on the front), the front,
    the budget and the recommended mix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.scatter(
        trials["extra_cost_per_year"], trials[f"{objective}_mean"], color="#b1b4b6", s=18, label="mixes run"
    )
    front = trials[trials["on_front"]].sort_values("extra_cost_per_year")
    low, high = front[f"{objective}_ci_low"], front[f"{objective}_ci_high"]
    ax.errorbar(
        front["extra_cost_per_year"],
        front[f"{objective}_mean"],
        yerr=[front[f"{objective}_mean"] - low, high - front[f"{objective}_mean"]]
        if low.notna().all()
        else None,
        color="#d4351c",
        marker="o",
        capsize=3,
        label="front within the budget (95% intervals)",
    )
    ax.axvline(budget, color="black", linestyle="--", linewidth=1, label="budget")
    best = front.sort_values(f"{objective}_mean").head(1)
    ax.scatter(
        best["extra_cost_per_year"],
        best[f"{objective}_mean"],
        marker="*",
        s=220,
        color="#00703c",
        zorder=5,
        label="recommended",
    )
    ax.set_xlabel("extra cost over the unchanged option (£ a year)")
    ax.set_ylabel(objective)
    ax.legend(fontsize=8)
    return fig


def optimise_report(result: OptimiseResult, cfg: Any, objective: str, budget: float, image: bytes) -> str:
    esc = html.escape
    body = [
        "<h1>simmodel budget optimiser</h1>",
        f'<p class="meta">Estate <b>{esc(cfg.estate.name)}</b>, scenario {esc(cfg.scenario)}, starting from '
        f"funding {esc(cfg.funding.name)}; budget {pounds(budget)} a year over it; "
        f"{len(result.trials)} mixes, "
        f"{cfg.run.years:g} year(s) reported after {cfg.run.warmup_years:g} of warm-up, "
        f"{cfg.run.replications} replication(s) each, seed {cfg.run.seed}; {result.seconds:.0f} s.</p>",
        '<div class="headline"><b>Answer</b><ul>'
        + "".join(f"<li>{esc(s)}</li>" for s in result.sentences)
        + "</ul></div>",
        "<p>How it was found: optuna's multi-objective TPE sampler (seeded) proposed mixes of levers, "
        "each with the effects and cost lines of the funding option it comes from; every mix ran "
        "with the same random numbers, so differences between mixes are the mix's doing. Mixes "
        "costing more than the budget count as infeasible. The front holds the mixes within the "
        "budget that no other such mix beats on both cost and unmet care. A few trials explore the "
        "space; more trials find better mixes.</p>",
        f"<p>{esc(INTERVALS_NOTE)}</p>",
        f'<div class="plot">{img_tag(image)}</div>',
        "<h2>The front</h2>",
        html_table(result.front, ",.4g"),
        "<h2>Every mix run</h2>",
        html_table(result.trials, ",.4g"),
    ]
    return page("simmodel optimise", "\n".join(body))

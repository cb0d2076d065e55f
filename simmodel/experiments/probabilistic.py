"""Probabilistic analysis: parameter uncertainty on top of chance, across funding options.

Each draw is one Latin hypercube point of every uncertain input (``scipy.stats.qmc``), mapped
through the inputs' distributions; every option runs at that draw with common random
numbers. From the draws:

- the distribution of each output per option (mean, 2.5th and 97.5th percentiles: these
  now include what nobody knows about the inputs, and chance between replications);
- the share of draws in which each option is on the cost-unmet frontier (no other option
  both cheaper and with fewer unmet hours, as in a sweep's frontier);
- the acceptability curve: at a value ``v`` in £ per unmet hour avoided, the best option
  minimises ``cost + v x unmet hours`` (a year); the curve is the share of draws in which
  each option is best, over a range of ``v``;
- what the ranking depends on: standardised regression coefficients of each option's
  incremental net benefit over the reference option on the draws' inputs;
- convergence: the running mean and percentiles against the number of draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..model.funding import WEEKS_PER_YEAR  # the model's year, as the sweep comparison uses

UNMET = "unmet_hours_per_year"
COST = "cost_total_per_year"


def latin_hypercube(k: int, samples: int, seed: int) -> np.ndarray:
    """``samples x k`` points in the unit hypercube, one in each of ``samples`` strata per input."""
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=k, seed=seed).random(samples)


def add_unmet_per_year(frame: pd.DataFrame) -> pd.DataFrame:
    """Unmet care of both kinds, hours a year (the acceptability curve's measure of effect)."""
    out = frame.copy()
    out[UNMET] = out["unmet_hours_per_week"] * WEEKS_PER_YEAR
    return out


def distribution_table(draws: pd.DataFrame, outputs: Sequence[str]) -> pd.DataFrame:
    """Per option and output: mean and the 2.5th, 50th and 97.5th percentiles over draws."""
    rows = []
    for option, group in draws.groupby("option", sort=False):
        for output in outputs:
            y = group[output].to_numpy(dtype=float)
            rows.append(
                {
                    "option": option,
                    "output": output,
                    "draws": len(y),
                    "mean": float(np.mean(y)),
                    "p2_5": float(np.percentile(y, 2.5)),
                    "median": float(np.median(y)),
                    "p97_5": float(np.percentile(y, 97.5)),
                }
            )
    return pd.DataFrame(rows)


def _wide(draws: pd.DataFrame, column: str, options: Sequence[str]) -> np.ndarray:
    """draws x options matrix of ``column``."""
    return draws.pivot(index="draw", columns="option", values=column)[list(options)].to_numpy(dtype=float)


def frontier_shares(draws: pd.DataFrame, options: Sequence[str]) -> pd.Series:
    """Share of draws in which each option is on the cost-unmet frontier (not dominated)."""
    cost, unmet = _wide(draws, COST, options), _wide(draws, UNMET, options)
    on = np.ones_like(cost, dtype=bool)
    for j in range(len(options)):
        no_worse = (cost <= cost[:, [j]]) & (unmet <= unmet[:, [j]])
        better = (cost < cost[:, [j]]) | (unmet < unmet[:, [j]])
        on[:, j] = ~(no_worse & better).any(axis=1)
    return pd.Series(on.mean(axis=0), index=list(options), name="frontier_share")


def value_grid(top: float = 200.0, points: int = 41) -> np.ndarray:
    """Values of an hour of unmet care avoided (£) for the acceptability curve: 0 to ``top``
    (home care costs about £29 an hour, [S84]; the curve shows several times that)."""
    return np.linspace(0.0, top, points)


def acceptability(draws: pd.DataFrame, options: Sequence[str], values: np.ndarray) -> pd.DataFrame:
    """Share of draws in which each option is best (least ``cost + v x unmet hours``) at each ``v``."""
    cost, unmet = _wide(draws, COST, options), _wide(draws, UNMET, options)
    rows = []
    for v in values:
        best = np.argmin(cost + v * unmet, axis=1)
        shares = np.bincount(best, minlength=len(options)) / len(best)
        rows += [
            {"value_per_unmet_hour": float(v), "option": o, "probability_best": float(p)}
            for o, p in zip(options, shares, strict=True)
        ]
    return pd.DataFrame(rows)


def ranking_drivers(
    draws: pd.DataFrame,
    inputs: pd.DataFrame,
    options: Sequence[str],
    reference: str,
    value: float,
) -> pd.DataFrame:
    """Standardised regression coefficients of each option's incremental net benefit over
    ``reference`` (at ``value`` £ per unmet hour) on the draws' inputs; the largest first
    (with fewer draws than inputs + 6, each input's Spearman rank correlation instead).

    ``inputs``: one row per draw (index ``draw``), one column per input. Net benefit is
    ``-(cost + value x unmet hours)``; a positive coefficient means a higher input favours
    the option. ``r2`` says how much of the variation a linear fit explains.
    """
    cost, unmet = _wide(draws, COST, options), _wide(draws, UNMET, options)
    benefit = -(cost + value * unmet)
    ref = list(options).index(reference)
    x = inputs.sort_index().to_numpy(dtype=float)
    spread = x.std(axis=0)
    keep = spread > 0
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / spread[keep]
    names = np.array(inputs.columns)[keep]
    rows = []
    for j, option in enumerate(options):
        if j == ref:
            continue
        y = benefit[:, j] - benefit[:, ref]
        if y.std() == 0 or len(y) < 3:
            continue
        yz = (y - y.mean()) / y.std()
        if len(y) > z.shape[1] + 5:  # enough draws for a joint fit
            design = np.column_stack([np.ones(len(z)), z])
            coef, *_ = np.linalg.lstsq(design, yz, rcond=None)
            effect = coef[1:]
            r2 = 1 - np.sum((yz - design @ coef) ** 2) / np.sum(yz**2)
            method = "standardised regression"
        else:  # fewer draws than inputs: each input's rank correlation on its own
            from scipy import stats

            effect = np.array([stats.spearmanr(z[:, i], y).statistic for i in range(z.shape[1])])
            effect = np.nan_to_num(effect)
            r2, method = float("nan"), "rank correlation"
        for name, c in zip(names, effect, strict=True):
            rows.append(
                {
                    "option": option,
                    "parameter": name,
                    "effect": float(c),
                    "abs_effect": abs(float(c)),
                    "r2": float(r2),
                    "method": method,
                }
            )
    columns = ["option", "parameter", "effect", "abs_effect", "r2", "method"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["option", "abs_effect"], ascending=[True, False]).reset_index(drop=True)


def convergence(draws: pd.DataFrame, output: str) -> pd.DataFrame:
    """Running mean and 2.5th/97.5th percentiles of ``output`` per option against draws used."""
    rows = []
    for option, group in draws.sort_values("draw").groupby("option", sort=False):
        y = group[output].to_numpy(dtype=float)
        for n in range(1, len(y) + 1):
            rows.append(
                {
                    "option": option,
                    "draws": n,
                    "mean": float(y[:n].mean()),
                    "p2_5": float(np.percentile(y[:n], 2.5)),
                    "p97_5": float(np.percentile(y[:n], 97.5)),
                }
            )
    return pd.DataFrame(rows)

"""The capacity calculator's search: the smallest lever value at which a target is met.

Model-agnostic: the lever's values are a grid (indices 0 .. size-1, increasing resource),
and ``evaluate`` says, for some grid indices, whether each scope (the estate, a prison type,
a prison) meets its target there. The search assumes that more of the lever never makes
an output worse in expectation, so the values meeting a target form an upper part of the
grid. It evaluates a coarse grid first, then narrows each scope's bracket (the largest
failing value below the smallest value from which every evaluated value passes) with a few
points a round, so a round's points run in parallel and every run is kept for the curve.

With noise, "met" need not be monotone on the grid. The answer is then the smallest
evaluated value from which every evaluated value above passes: a failing value above a
passing one moves the answer up, never down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: ``evaluate(indices)`` -> bool array (len(indices) x scopes): target met at that value.
Evaluate = Callable[[list[int]], np.ndarray]
BASES = ("mean", "replications")


def upper_bound(samples: Iterable[float], confidence: float, basis: str = "mean") -> float:
    """A one-sided upper bound on an output from its replications (NaN ones ignored).

    ``mean``: the upper one-sided confidence bound of the mean, mean + t(c, n-1) s / sqrt(n)
    (with one replication there is no interval and the bound is the value itself).
    ``replications``: the value that a share ``confidence`` of replications stay at or below
    (a planner's "in 19 futures out of 20").
    """
    x = np.asarray([v for v in samples if np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan")
    if basis == "replications":
        return float(np.quantile(x, confidence, method="inverted_cdf"))
    if basis != "mean":
        raise ValueError(f"basis={basis!r}: expected one of {', '.join(BASES)}")
    if len(x) == 1:
        return float(x[0])
    return float(x.mean() + stats.t.ppf(confidence, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


@dataclass
class SearchResult:
    """Per scope: the grid index of the answer (None: not met at any value run)."""

    answers: list[int | None]
    met: dict[int, np.ndarray]  # evaluated index -> met, per scope
    rounds: int


def bracket(met: dict[int, np.ndarray], scope: int) -> tuple[int | None, int | None]:
    """``(below, answer)``: ``answer`` is the smallest evaluated index that passes (None if
    none does); ``below`` the evaluated index just under it, which fails (None if there is none)."""
    indices = sorted(met)
    answer = next((i for i in indices if met[i][scope]), None)
    if answer is None:
        return None, None
    lower = [i for i in indices if i < answer]
    return (lower[-1] if lower else None), answer


def smallest_met(
    evaluate: Evaluate, size: int, scopes: int = 1, *, per_round: int = 2, coarse: int = 5
) -> SearchResult:
    """Search a grid of ``size`` values for each scope's smallest value meeting its target.

    ``coarse`` values spread over the grid (its ends included) run first; each round then
    puts ``per_round`` values inside every unsettled bracket. A scope is settled when its
    answer is the grid's first value, when no value run passes, or when its bracket is two
    neighbouring values.
    """
    if size < 1:
        raise ValueError("the lever's grid is empty")
    met: dict[int, np.ndarray] = {}

    def run(indices: Iterable[int]) -> None:
        new = sorted({int(i) for i in indices} - met.keys())
        if new:
            for index, row in zip(
                new, np.asarray(evaluate(new), dtype=bool).reshape(len(new), scopes), strict=True
            ):
                met[index] = row

    run(np.linspace(0, size - 1, min(max(coarse, 2), size)).round())
    rounds = 1
    while True:
        todo: set[int] = set()
        for scope in range(scopes):
            below, answer = bracket(met, scope)
            if below is None or answer is None or answer - below <= 1:
                continue
            inside = np.linspace(below, answer, per_round + 2)[1:-1].round().astype(int)
            todo |= {int(i) for i in inside if below < i < answer}
        if not todo:
            break
        run(todo)
        rounds += 1
    return SearchResult([bracket(met, s)[1] for s in range(scopes)], met, rounds)

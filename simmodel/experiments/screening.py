"""Sensitivity designs and indices: one-way, Morris elementary effects, Sobol indices.

Nothing here knows about prisons. A design is a matrix of points in the unit hypercube
(one column per uncertain input; :func:`simmodel.assumptions.values_at` maps a column
through that input's inverse CDF), and the indices are computed from the outputs at those
points. Tests run the same functions on functions with known indices.

- One-way: each input at the low and high end of its range, the others at their values in use.
- Morris (elementary effects, SALib's trajectory sampler): ``mu_star`` is the mean absolute
  change of an output when one input moves by ``delta`` (2/3 of its probability scale with
  4 levels), ``sigma`` the spread of those changes (interaction or non-linearity). Intervals
  are percentile bootstraps over trajectories.
- Sobol (Saltelli's scheme through SALib's Sobol sampler and analyser): first-order ``S1``
  and total ``ST`` indices with SALib's bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Morris grid levels (SALib's default); the step is levels / (2 (levels - 1)) = 2/3.
MORRIS_LEVELS = 4
BOOTSTRAP = 1000
CONFIDENCE = 0.95


def _salib(module: str) -> Any:
    """SALib's ``module`` (sample.morris, analyze.sobol, ...), or a ConfigError saying how to get it."""
    import importlib

    try:
        return importlib.import_module(f"SALib.{module}")
    except ImportError:
        from ..config import ConfigError

        raise ConfigError(
            "Morris and Sobol need SALib: pip install 'simmodel[analysis]' (method=oneway does not)"
        ) from None


def _problem(names: Sequence[str]) -> dict[str, object]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


# ------------------------------------------------------------------ one-way
def oneway_table(
    names: Sequence[str], low: np.ndarray, high: np.ndarray, base: np.ndarray, outputs: pd.DataFrame
) -> pd.DataFrame:
    """One row per input and output from a one-way design.

    ``outputs``: rows base, then (low, high) for each input in order. ``low``, ``high``,
    ``base``: the inputs' values at each end and in use.
    """
    rows = []
    for column in outputs.columns:
        y = outputs[column].to_numpy(dtype=float)
        at_base = y[0]
        for i, name in enumerate(names):
            at_low, at_high = y[1 + 2 * i], y[2 + 2 * i]
            rows.append(
                {
                    "parameter": name,
                    "output": column,
                    "value_low": low[i],
                    "value_used": base[i],
                    "value_high": high[i],
                    "output_at_low": at_low,
                    "output_base": at_base,
                    "output_at_high": at_high,
                    "swing": abs(at_high - at_low),
                    "largest_change": max(abs(at_low - at_base), abs(at_high - at_base)),
                }
            )
    table = pd.DataFrame(rows)
    return table.sort_values(["output", "swing"], ascending=[True, False]).reset_index(drop=True)


# ------------------------------------------------------------------ Morris
def morris_design(k: int, trajectories: int, seed: int, levels: int = MORRIS_LEVELS) -> np.ndarray:
    """``trajectories x (k + 1)`` points in the unit hypercube (SALib's Morris sampler)."""
    problem = _problem([f"x{i}" for i in range(k)])
    return _salib("sample.morris").sample(problem, N=trajectories, num_levels=levels, seed=seed)


def elementary_effects(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """``trajectories x k`` elementary effects: each step's output change over its input step."""
    r = len(x) // (k + 1)
    x3 = x.reshape(r, k + 1, k)
    y2 = y.reshape(r, k + 1)
    dx = np.diff(x3, axis=1)  # r x k steps x k inputs; one non-zero input per step
    dy = np.diff(y2, axis=1)
    moved = np.argmax(np.abs(dx), axis=2)  # r x k: which input each step moved
    step = np.take_along_axis(dx, moved[..., None], axis=2)[..., 0]
    effects = np.empty((r, k))
    rows = np.repeat(np.arange(r), k)
    effects[rows, moved.ravel()] = (dy / step).ravel()
    return effects


def _morris_stats(effects: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sigma = effects.std(axis=0, ddof=1) if len(effects) > 1 else np.full(effects.shape[1], np.nan)
    return effects.mean(axis=0), np.abs(effects).mean(axis=0), sigma


def morris_table(names: Sequence[str], x: np.ndarray, outputs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """mu, mu_star and sigma per input and output, with percentile bootstrap intervals."""
    k = len(names)
    rng = np.random.default_rng(seed)
    alpha = (1 - CONFIDENCE) / 2
    frames = []
    for column in outputs.columns:
        effects = elementary_effects(x, outputs[column].to_numpy(dtype=float), k)
        mu, mu_star, sigma = _morris_stats(effects)
        r = len(effects)
        picks = rng.integers(0, r, size=(BOOTSTRAP, r))
        boot_star = np.abs(effects)[picks].mean(axis=1)  # BOOTSTRAP x k
        boot_sigma = effects[picks].std(axis=1, ddof=1) if r > 1 else np.full((BOOTSTRAP, k), np.nan)
        frame = pd.DataFrame(
            {
                "parameter": list(names),
                "output": column,
                "mu": mu,
                "mu_star": mu_star,
                "mu_star_low": np.quantile(boot_star, alpha, axis=0),
                "mu_star_high": np.quantile(boot_star, 1 - alpha, axis=0),
                "sigma": sigma,
                "sigma_low": np.quantile(boot_sigma, alpha, axis=0) if r > 1 else np.nan,
                "sigma_high": np.quantile(boot_sigma, 1 - alpha, axis=0) if r > 1 else np.nan,
                "trajectories": r,
            }
        )
        top = frame["mu_star"].max()
        frame["mu_star_relative"] = frame["mu_star"] / top if top > 0 else 0.0
        frames.append(frame.sort_values("mu_star", ascending=False))
    return pd.concat(frames, ignore_index=True)


def top_parameters(morris: pd.DataFrame, n: int = 10) -> list[str]:
    """The ``n`` inputs with the largest ``mu_star`` relative to the top one, over all outputs."""
    best = morris.groupby("parameter")["mu_star_relative"].max().sort_values(ascending=False)
    return list(best.index[:n])


# ------------------------------------------------------------------ Sobol
def sobol_design(k: int, base_samples: int, seed: int) -> np.ndarray:
    """``base_samples x (k + 2)`` points (Saltelli's scheme, first and total order only)."""
    return _salib("sample.sobol").sample(
        _problem([f"x{i}" for i in range(k)]), base_samples, calc_second_order=False, scramble=True, seed=seed
    )


def sobol_table(names: Sequence[str], outputs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """S1 and ST per input and output, with SALib's bootstrap 95% intervals."""
    sobol = _salib("analyze.sobol")
    frames = []
    for column in outputs.columns:
        y = outputs[column].to_numpy(dtype=float)
        if np.ptp(y) == 0:  # an output no input moves: every index is zero
            s = {"S1": np.zeros(len(names)), "S1_conf": 0.0, "ST": np.zeros(len(names)), "ST_conf": 0.0}
        else:
            s = sobol.analyze(
                _problem(names),
                y,
                calc_second_order=False,
                num_resamples=BOOTSTRAP,
                conf_level=CONFIDENCE,
                seed=seed,
            )
        frame = pd.DataFrame(
            {
                "parameter": list(names),
                "output": column,
                "S1": s["S1"],
                "S1_low": s["S1"] - s["S1_conf"],
                "S1_high": s["S1"] + s["S1_conf"],
                "ST": s["ST"],
                "ST_low": s["ST"] - s["ST_conf"],
                "ST_high": s["ST"] + s["ST_conf"],
            }
        )
        frames.append(frame.sort_values("ST", ascending=False))
    return pd.concat(frames, ignore_index=True)

"""The assumptions registry (configs/assumptions.yaml): complete, consistent with the group
files, inside its own ranges, and every corner of the ranges a configuration that runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from simmodel import assumptions
from simmodel.assumptions import Assumption
from simmodel.compose import check_overrides
from simmodel.config import ConfigError
from simmodel.paths import CONFIG_DIR

REG = assumptions.registry()
HELD = assumptions.held()
_STATED = re.compile(r"\bassumption,\s*(-?[\d,.]+)\s*-\s*(-?[\d,.]+)", re.IGNORECASE)


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("."))


def _covered(key: str) -> bool:
    ranged = set(assumptions.every_key()) | {k for entries in REG.values() for k in entries}
    if key in ranged or key in HELD:
        return True
    if any(k.startswith(key + ".") for k in ranged | set(HELD)):
        return True  # a mapping marked as a whole, its leaves registered one by one
    return any(key.startswith(h + ".") for h in HELD)


def test_every_marked_parameter_has_a_range_or_a_reason_to_hold_it():
    marked = assumptions.marked_keys(assumptions.config_files())
    assert len(marked) > 100  # the parser finds the marks (about 150 keys today)
    missing = sorted(k for k in marked if not _covered(k))
    assert not missing, f"marked 'assumption' but not in configs/assumptions.yaml: {missing}"


def _section_config(section: str) -> list:
    if section == "model":
        return [check_overrides([]), check_overrides(["estate=single_prison"])]
    kind, name = section.split(":")
    return [check_overrides([f"funding={name}"] if kind == "option" else [f"estate={name}"])]


@pytest.mark.parametrize("section", sorted(REG))
def test_every_registered_default_lies_inside_its_range(section):
    outside = []
    for cfg in _section_config(section):
        overridden = REG.get(f"estate:{cfg.estate.name}", {}) if section == "model" else {}
        for key, entry in REG[section].items():
            if entry is None or key in overridden:
                continue
            value = assumptions.get_value(cfg, key)
            assert isinstance(value, int | float) and not isinstance(value, bool), key
            if not entry.low <= value <= entry.high:
                outside.append(f"{key}={value} on {cfg.estate.name} not in [{entry.low}, {entry.high}]")
    assert not outside


def test_a_range_stated_in_a_group_file_is_the_registered_range():
    """The comments keep their ranges for readers; they must not drift from the registry."""
    files = {
        "model": [
            (CONFIG_DIR / g / "default.yaml", g)
            for g in ("population", "need", "pathway", "buddies", "regime", "care", "costs", "safeguarding")
        ],
    }
    for section in REG:
        if section.startswith("option:"):
            files[section] = [(CONFIG_DIR / "funding" / f"{section[7:]}.yaml", "funding")]
        elif section.startswith("estate:"):
            files[section] = [(CONFIG_DIR / "estate" / f"{section[7:]}.yaml", "")]
    checked, drift = 0, []
    for section, entries in REG.items():
        comments = assumptions.marked_keys(files[section])
        for key, entry in entries.items():
            stated = _STATED.search(comments.get(key, ""))
            if entry is None or not stated:
                continue
            checked += 1
            low, high = _number(stated[1]), _number(stated[2])
            if (low, high) != (entry.low, entry.high):
                drift.append(f"{key}: comment {low:g}-{high:g}, registry {entry.low:g}-{entry.high:g}")
    assert checked > 80
    assert not drift


def test_every_end_every_corner_and_a_hypercube_of_the_ranges_is_a_valid_design_point():
    """The analyses set these values on a validated config; none may be refused mid-design:
    each input alone at either end (one-way), all at one end, and a Latin hypercube."""
    from simmodel.experiments.design_runs import Point, configure_point

    for overrides in ([], ["estate=single_prison"], ["funding=care_coordinator"], ["funding=la_capacity"]):
        cfg = check_overrides(overrides)
        name = cfg.funding.name
        chosen = assumptions.for_run(cfg)
        for a in chosen:
            for value in (a.low, a.high):
                configure_point({name: cfg}, Point(0, name, {a.key: value}))
        cube = qmc.LatinHypercube(d=len(chosen), seed=3).random(8)
        points = np.vstack([np.zeros(len(chosen)), np.ones(len(chosen)), cube])
        values = assumptions.values_at(chosen, assumptions.values_in_use(chosen, cfg), points)
        for row in values:
            configure_point({name: cfg}, Point(0, name, {a.key: v for a, v in zip(chosen, row, strict=True)}))


def test_the_report_shows_values_with_all_their_digits():
    """The old table read comments with a regex and printed 0.02 as 0.0 and 0.15 as 0.1."""
    from simmodel.outputs.report import assumptions_table, html_table

    cfg = check_overrides([])
    assumed, sourced = assumptions_table(cfg, {})
    row = assumed.set_index("Parameter").loc["need.stock_prevalence_by_band.b18_20"]
    assert row["Value used"] == "0.02" and row["Range"] == "0.01 to 0.04, triangular"
    assert ">0.15<" in html_table(assumed)  # population.transfer_rate_per_year
    assert len(assumed) == len(assumptions.for_run(cfg))
    assert not set(assumed["Parameter"]) & set(sourced["Parameter"])


# ------------------------------------------------------------------ distributions
def _one(dist: str, low: float = 2.0, high: float = 8.0, **shape: float) -> Assumption:
    return Assumption("x", low, high, dist, "test", "model", **shape)


@pytest.mark.parametrize("dist", assumptions.DISTRIBUTIONS)
def test_each_distribution_stays_in_its_range_and_rises(dist):
    u = np.linspace(0, 1, 201)
    x = _one(dist).ppf(u, mode=3.0)
    assert np.all(np.diff(x) >= -1e-12)
    assert x[0] >= 2.0 - 1e-12 and x[-1] <= 8.0 + 1e-12


def test_distributions_match_scipy_where_scipy_has_them():
    u = np.array([0.05, 0.3, 0.5, 0.9])
    tri = stats.triang(c=(3.0 - 2.0) / 6.0, loc=2.0, scale=6.0).ppf(u)
    np.testing.assert_allclose(_one("triangular").ppf(u, mode=3.0), tri, rtol=1e-12)
    np.testing.assert_allclose(_one("loguniform").ppf(u, 3.0), stats.loguniform(2.0, 8.0).ppf(u), rtol=1e-12)
    np.testing.assert_allclose(_one("uniform").ppf(u, 3.0), stats.uniform(2.0, 6.0).ppf(u), rtol=1e-12)
    beta = 2.0 + 6.0 * stats.beta(2.0, 5.0).ppf(u)
    np.testing.assert_allclose(_one("beta", a=2.0, b=5.0).ppf(u, 3.0), beta, rtol=1e-12)
    # lognormal: the ends of the range are the 2.5th and 97.5th percentiles, the median their geometric mean
    assert _one("lognormal").ppf(0.5, 3.0) == pytest.approx(4.0)


def test_a_registry_with_a_mistake_is_refused(tmp_path: Path):
    cases = {
        "model:\n  x: {low: 3, high: 1, why: w}\n": "above high",
        "model:\n  x: {low: 1, high: 3, dist: normal, why: w}\n": "allowed",
        "model:\n  x: {low: 0, high: 3, dist: loguniform, why: w}\n": "above 0",
        "model:\n  x: {low: 1, high: 3}\n": "why",
        "model:\n  x: {low: 1, high: 3, why: w, mean: 2}\n": "unknown field",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"r{i}.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            assumptions.registry(path)

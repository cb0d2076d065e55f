"""Sensitivity and probabilistic analysis: the methods on functions with known answers (through
the same code path simmodel's runs take), then small real runs, resume, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, run_module

from simmodel import psa, sensitivity
from simmodel.assumptions import Assumption
from simmodel.experiments import design_runs, probabilistic, screening


def _uniform(names: list[str], low: float, high: float) -> list[Assumption]:
    return [Assumption(n, low, high, "uniform", "test", "model") for n in names]


# ------------------------------------------------------------------ known answers
def test_morris_recovers_a_linear_model_exactly():
    """y = sum c_i x_i with x_i uniform on [low, high]: every elementary effect on the unit scale
    is c_i (high - low), so mu* = |c_i| (high - low) and sigma = 0, for any design."""
    coef = np.array([3.0, -1.0, 0.0, 0.5])
    inputs = _uniform(["a", "b", "c", "d"], 2.0, 6.0)
    table, points = sensitivity.run_design(
        "morris", inputs, np.full(4, 4.0), lambda x: pd.DataFrame({"y": x @ coef}), trajectories=6, seed=7
    )
    assert points == 6 * 5
    table = table.set_index("parameter")
    np.testing.assert_allclose(table.loc[["a", "b", "c", "d"], "mu_star"], np.abs(coef) * 4.0, rtol=1e-9)
    np.testing.assert_allclose(table.loc[["a", "b", "c", "d"], "mu"], coef * 4.0, rtol=1e-9)
    np.testing.assert_allclose(table["sigma"], 0.0, atol=1e-9)
    assert screening.top_parameters(table.reset_index(), 2) == ["a", "b"]


def test_morris_matches_salib_on_a_non_linear_model():
    from SALib.analyze import morris

    k = 5
    x = screening.morris_design(k, 12, seed=3)
    y = np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + x[:, 3] ** 2
    ours = screening.morris_table([f"x{i}" for i in range(k)], x, pd.DataFrame({"y": y}), seed=1)
    ours = ours.set_index("parameter").loc[[f"x{i}" for i in range(k)]]
    problem = {"num_vars": k, "names": [f"x{i}" for i in range(k)], "bounds": [[0, 1]] * k}
    theirs = morris.analyze(problem, x, y, num_levels=screening.MORRIS_LEVELS)
    np.testing.assert_allclose(ours["mu_star"], theirs["mu_star"], rtol=1e-12)
    np.testing.assert_allclose(ours["sigma"], theirs["sigma"], rtol=1e-12)
    assert (ours["mu_star_low"] <= ours["mu_star"]).all() and (ours["mu_star"] <= ours["mu_star_high"]).all()


def test_sobol_indices_of_the_ishigami_function():
    """Ishigami (a=7, b=0.1, inputs uniform on [-pi, pi]) has analytic indices: S1 = 0.314,
    0.442, 0; ST = 0.558, 0.442, 0.244. With 2,048 base samples the bootstrap 95% half-widths
    are about 0.02-0.04 (SALib's own tests use similar sizes), so 0.06 is a safe tolerance that
    still fails if inputs were mapped to the wrong range or columns were mixed up."""

    def ishigami(x: np.ndarray) -> pd.DataFrame:
        y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
        return pd.DataFrame({"y": y})

    inputs = _uniform(["x1", "x2", "x3"], -np.pi, np.pi)
    table, _ = sensitivity.run_design("sobol", inputs, np.zeros(3), ishigami, samples=2048, seed=11)
    table = table.set_index("parameter").loc[["x1", "x2", "x3"]]
    np.testing.assert_allclose(table["S1"], [0.314, 0.442, 0.0], atol=0.06)
    np.testing.assert_allclose(table["ST"], [0.558, 0.442, 0.244], atol=0.06)


def test_oneway_moves_each_input_to_its_ends_alone():
    inputs = [
        Assumption("a", 1.0, 3.0, "triangular", "t", "model"),
        Assumption("b", 0.0, 10.0, "uniform", "t", "model"),
    ]
    seen = []

    def model(x: np.ndarray) -> pd.DataFrame:
        seen.append(x.copy())
        return pd.DataFrame({"y": 2 * x[:, 0] + x[:, 1]})

    table, points = sensitivity.run_design("oneway", inputs, np.array([2.0, 4.0]), model)
    assert points == 5
    np.testing.assert_array_equal(seen[0], [[2, 4], [1, 4], [3, 4], [2, 0], [2, 10]])
    row = table.set_index("parameter").loc["b"]
    assert (row["output_at_low"], row["output_base"], row["output_at_high"]) == (4.0, 8.0, 14.0)
    assert row["swing"] == 10.0


def test_frontier_and_acceptability_on_a_known_case():
    """Two draws, three options. Draw 0: A (cost 10, unmet 5), B (20, 1), C (25, 6: dominated by B).
    Draw 1: A (10, 5), B (30, 4), C (12, 5: dominated by A)."""
    rows = [
        (0, "A", 10, 5), (0, "B", 20, 1), (0, "C", 25, 6),
        (1, "A", 10, 5), (1, "B", 30, 4), (1, "C", 12, 5),
    ]  # fmt: skip
    draws = pd.DataFrame(rows, columns=["draw", "option", "cost_total_per_year", "unmet_hours_per_year"])
    shares = probabilistic.frontier_shares(draws, ["A", "B", "C"])
    assert shares.to_dict() == {"A": 1.0, "B": 1.0, "C": 0.0}
    curve = probabilistic.acceptability(draws, ["A", "B", "C"], np.array([0.0, 3.0, 25.0]))
    best = curve.pivot(index="value_per_unmet_hour", columns="option", values="probability_best")
    # at 0 only cost counts: A in both; at 3, draw 0: A 25 vs B 23 -> B, draw 1: A 25 vs B 42 -> A;
    # at 25: draw 0 B (45 < 135), draw 1 B (130 < 135)
    assert best.loc[0.0].to_dict() == {"A": 1.0, "B": 0.0, "C": 0.0}
    assert best.loc[3.0].to_dict() == {"A": 0.5, "B": 0.5, "C": 0.0}
    assert best.loc[25.0].to_dict() == {"A": 0.0, "B": 1.0, "C": 0.0}
    np.testing.assert_allclose(curve.groupby("value_per_unmet_hour")["probability_best"].sum(), 1.0)


def test_ranking_drivers_find_the_input_that_decides():
    """Option B's unmet hours fall with input 'z' only; 'w' is noise. The driver must be z."""
    rng = np.random.default_rng(5)
    n = 40
    z, w = rng.random(n), rng.random(n)
    draws = pd.DataFrame(
        [(i, "A", 100.0, 50.0) for i in range(n)] + [(i, "B", 120.0, 50.0 - 10 * z[i]) for i in range(n)],
        columns=["draw", "option", "cost_total_per_year", "unmet_hours_per_year"],
    )
    inputs = pd.DataFrame({"z": z, "w": w}, index=pd.RangeIndex(n, name="draw"))
    drivers = probabilistic.ranking_drivers(draws, inputs, ["A", "B"], "A", value=3.0)
    assert drivers.iloc[0]["parameter"] == "z"
    assert drivers.iloc[0]["effect"] > 0.99 and drivers.iloc[0]["method"] == "standardised regression"


# ------------------------------------------------------------------ real runs
SMALL = ["estate=single_prison", "run.years=0.25", "run.warmup_years=0", "run.replications=1"]
THREE = "regime.window_hours,care.informal_share_of_unlock,need.arrival_prevalence_factor"


def test_oneway_on_simmodel_moves_unmet_care_the_way_the_mechanism_says(tmp_path: Path):
    """Longer unlock windows give buddies and helpers more time: less unmet non-personal care;
    more need on arrival: more of it. Paired by common random numbers, so a sign is meaningful."""
    result = sensitivity.analyse(SMALL, method="oneway", parameters=THREE, out=str(tmp_path), progress=False)
    table = result.table[result.table["output"] == "nonpersonal_unmet_hours_per_week"].set_index("parameter")
    window = table.loc["regime.window_hours"]
    assert window["output_at_high"] < window["output_base"] < window["output_at_low"]
    arrivals = table.loc["need.arrival_prevalence_factor"]
    assert arrivals["output_at_high"] > arrivals["output_at_low"]
    for name in ("oneway.csv", "design.csv", "points.csv", "report.html", "run.json"):
        assert (tmp_path / name).is_file()
    assert len(list(tmp_path.glob("tornado_*.png"))) == 4
    assert "window_hours" in (tmp_path / "report.html").read_text()


def _small_morris(folder: Path) -> sensitivity.SensitivityResult:
    return sensitivity.analyse(
        SMALL, method="morris", trajectories=2, parameters=THREE, out=str(folder), progress=False, jobs=1
    )


def test_an_interrupted_design_resumes_with_the_same_answer(tmp_path: Path, monkeypatch):
    first = _small_morris(tmp_path / "a")
    assert len(pd.read_csv(tmp_path / "a" / "points.csv")) == 8
    # interrupt: keep 3 whole points and a line cut short, then run the same design again
    lines = (tmp_path / "a" / "points.csv").read_text().splitlines(keepends=True)
    (tmp_path / "a" / "points.csv").write_text("".join(lines[:4]) + lines[4][:20])
    calls = []
    original = design_runs._run_point
    monkeypatch.setattr(design_runs, "_run_point", lambda cfg, *a: calls.append(1) or original(cfg, *a))
    again = _small_morris(tmp_path / "a")
    assert len(calls) == 5  # only the missing points ran
    pd.testing.assert_frame_equal(first.table, again.table)


def test_a_points_file_of_another_design_is_refused_in_one_line(tmp_path: Path):
    (tmp_path / "points.csv").write_text("point,option,replications,population\n0,status_quo,1,85000\n")
    args = [*SMALL, f"parameters={THREE}", f"out={tmp_path}", "progress=false"]
    assert_refused(
        run_module("simmodel.sensitivity", args, tmp_path), "another design or an earlier simmodel", tmp_path
    )


def test_psa_writes_draws_and_an_acceptability_curve(tmp_path: Path):
    result = psa.analyse(
        SMALL, samples=3, funding="status_quo,more_buddy_posts", out=str(tmp_path), progress=False
    )
    table = pd.read_csv(tmp_path / "psa.csv")
    assert sorted(table["option"].unique()) == ["more_buddy_posts", "status_quo"]
    assert table.groupby("option")["draw"].nunique().to_dict() == {"more_buddy_posts": 3, "status_quo": 3}
    # the option's own effect size is drawn for it alone; the model's assumptions for both, paired
    assert (
        table.loc[table["option"] == "status_quo", "funding.buddy_posts_factor[more_buddy_posts]"]
        .isna()
        .all()
    )
    factor = table.loc[table["option"] == "more_buddy_posts", "funding.buddy_posts_factor[more_buddy_posts]"]
    assert factor.between(1.25, 2.0).all() and factor.nunique() == 3
    by_draw = table.pivot(index="draw", columns="option", values="regime.window_hours")
    assert (by_draw["status_quo"] == by_draw["more_buddy_posts"]).all()
    curve = pd.read_csv(tmp_path / "acceptability.csv")
    np.testing.assert_allclose(curve.groupby("value_per_unmet_hour")["probability_best"].sum(), 1.0)
    assert set(result.frontier.index) == {"status_quo", "more_buddy_posts"}
    assert "include uncertainty in the assumptions" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("sensitivity", ["method=anova"], "method='anova'"),
        ("sensitivity", ["parameters=regime.no_such_key", *SMALL], "not registered"),
        ("sensitivity", ["trajectories=two"], "expected int"),
        ("sensitivity", ["regime.window_hour=3"], "window_hour"),
        ("sensitivity", ["hydra.launcher.partition=compute", *SMALL], "need launcher="),
        ("psa", ["samples=1"], "at least 2"),
        ("psa", ["funding=status_quo,gold_plated"], "gold_plated"),
    ],
)
def test_bad_input_stops_with_one_line_and_writes_nothing(tool, args, message, tmp_path: Path):
    assert_refused(run_module(f"simmodel.{tool}", args, tmp_path, timeout=120), message, tmp_path)


# ------------------------------------------------------------------ the smoke commands
@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "files"),
    [
        (["-m", "simmodel.sensitivity", "method=oneway", "estate=single_prison", "run.years=1",
          "run.replications=2"], ["oneway.csv", "tornado_nonpersonal_unmet_hours_per_week.png"]),
        (["-m", "simmodel.sensitivity", "method=morris", "trajectories=2", "estate=single_prison",
          "run.years=1", "run.replications=1"], ["morris.csv"]),
        (["-m", "simmodel.psa", "samples=4", "funding=status_quo,more_buddy_posts", "estate=single_prison",
          "run.years=1", "run.replications=1"], ["psa.csv", "acceptability.csv"]),
    ],
)  # fmt: skip
def test_smoke_commands_as_written(args, files, tmp_path: Path):
    proc = run_module(args[1], args[2:], tmp_path, timeout=900)  # args: "-m", module, settings
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / proc.stdout.strip().splitlines()[-1].split("Results: ")[-1]
    for name in files:
        assert (folder / name).is_file(), name
    if "morris.csv" in files:
        table = pd.read_csv(folder / "morris.csv")
        assert {"parameter", "mu_star", "sigma"} <= set(table.columns)
        assert table["parameter"].nunique() > 100 and (table["mu_star"] >= 0).all()

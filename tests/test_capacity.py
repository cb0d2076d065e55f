"""The capacity calculator: the search against brute force (on known functions and on a small
real case), its edge cases, the one-sided bounds, scopes, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, run_module
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import simmodel
from simmodel import capacity
from simmodel.compose import check_overrides
from simmodel.experiments.capacity_search import smallest_met, upper_bound
from simmodel.experiments.design_runs import Point, run_points

# 6 simulated months after 3 of warm-up, 3 replications: enough for buddies to recruit and work
SMALL = ["estate=single_prison", "run.years=0.5", "run.warmup_years=0.25", "run.replications=3"]


# ------------------------------------------------------------------ the search on known functions
def _brute_force(met: np.ndarray) -> int | None:
    """The smallest index that is met (None if none is)."""
    return next((i for i, m in enumerate(met) if m), None)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 300),
    thresholds=st.lists(st.integers(0, 320), min_size=1, max_size=4),
    per_round=st.integers(1, 4),
)
def test_a_monotone_target_is_found_exactly_with_few_runs(size, thresholds, per_round):
    """Met from a threshold up (one per scope): the search gives each threshold (None when it
    lies beyond the grid), as brute force over the whole grid does, and runs far fewer values
    on a long grid (a coarse pass, then about log2(size) rounds per scope)."""
    calls: list[int] = []

    def evaluate(indices):
        calls.extend(indices)
        return np.array([[i >= t for t in thresholds] for i in indices])

    result = smallest_met(evaluate, size, len(thresholds), per_round=per_round)
    grid = np.arange(size)
    for s, t in enumerate(thresholds):
        assert result.answers[s] == _brute_force(grid >= t)
    assert len(calls) == len(set(calls))  # no value runs twice
    if size >= 100:
        assert len(calls) <= 5 + len(thresholds) * per_round * (np.log2(size) + 2)


@settings(max_examples=100, deadline=None)
@given(met=st.lists(st.booleans(), min_size=1, max_size=60))
def test_a_noisy_target_gives_a_crossing(met):
    """Not monotone (noise): the answer passes and every value run below it fails, so it is a
    crossing from failing to passing (the first of the grid when brute force sees no failure
    below). With no value passing, there is no answer."""
    flags = np.array(met)
    result = smallest_met(lambda idx: flags[idx][:, None], len(flags))
    answer = result.answers[0]
    if not flags.any():
        assert answer is None
        return
    if answer is None:  # every value run failed: the passing ones lie between them
        assert not any(result.met[i][0] for i in result.met)
        return
    assert flags[answer]
    assert not any(result.met[i][0] for i in result.met if i < answer)
    assert answer == 0 or (answer - 1) in result.met  # settled: its neighbour below was run


def test_edge_cases_met_at_the_start_and_never_met():
    assert smallest_met(lambda idx: np.ones((len(idx), 1), bool), 50).answers == [0]
    never = smallest_met(lambda idx: np.zeros((len(idx), 1), bool), 50)
    assert never.answers == [None] and never.rounds == 1  # the coarse pass settles both
    assert smallest_met(lambda idx: np.ones((len(idx), 1), bool), 1).answers == [0]


def test_upper_bounds_by_mean_and_by_replications():
    x = np.array([3.0, 5.0, 4.0, 6.0, np.nan])
    finite = x[:4]
    t = stats.t.ppf(0.95, 3)
    assert upper_bound(x, 0.95) == pytest.approx(finite.mean() + t * finite.std(ddof=1) / 2)
    assert upper_bound(x, 0.95, "replications") == 6.0  # the value 95% of replications stay under
    assert upper_bound(x, 0.5, "replications") == 4.0
    assert upper_bound([7.0], 0.95) == 7.0  # one replication: no interval
    assert np.isnan(upper_bound([np.nan], 0.95))


# ------------------------------------------------------------------ real runs
def test_the_search_matches_brute_force_on_a_small_prison(tmp_path: Path):
    """Buddy posts for the example prison, 0-14 whole posts, against running every value: the
    search's answer is brute force's, with fewer values run."""
    target = capacity.Target("nonpersonal_unmet_share", 0.55)
    result = capacity.analyse(SMALL, [target], high="20", out=str(tmp_path), progress=False, jobs=2)
    cfg = check_overrides(SMALL)
    grid = capacity.lever_grid(cfg, {**capacity.SETTINGS, "high": "20"})
    assert list(grid.shown) == list(range(15))  # whole posts: ceil(20 x 700 / 1000) = 14
    points = [Point(i, "status_quo", {grid.key: float(v)}) for i, v in enumerate(grid.values)]
    lines = run_points(points, {"status_quo": cfg}, tmp_path, jobs=2)
    met = np.array(
        [upper_bound(target.values(lines[lines["point"] == i]), 0.95) <= 0.55 for i in range(len(points))]
    )
    answer = _brute_force(met)
    assert answer not in (None, 0), "the case should need some posts and be met within 14"
    row = result.table.iloc[0]
    assert row["status"] == "met" and row["shown"] == answer
    assert row["buddy_posts"] == answer  # the model made exactly the posts searched
    assert result.runs < len(points)
    # the curve falls with posts, at the answer and below it the bound sits either side of the target
    curve = result.curve.set_index("shown")
    assert curve.loc[answer, "nonpersonal_unmet_share_bound"] <= 0.55
    assert curve.loc[curve.index[curve.index < answer].max(), "nonpersonal_unmet_share_bound"] > 0.55
    assert curve["nonpersonal_unmet_share_mean"].iloc[0] > curve["nonpersonal_unmet_share_mean"].iloc[-1]
    for name in ("capacity.csv", "curve.csv", "capacity.png", "report.html", "run.json"):
        assert (tmp_path / name).is_file()
    assert "needs" in (tmp_path / "report.html").read_text()


def test_targets_met_at_zero_and_never_met(tmp_path: Path):
    loose = capacity.analyse(
        SMALL, [capacity.Target("nonpersonal_unmet_share", 1.0)], out=str(tmp_path / "a"), progress=False
    )
    assert loose.table["status"].iloc[0] == "met at the lowest value" and loose.table["shown"].iloc[0] == 0
    assert "already at the lowest value" in loose.sentences[0]
    tight = capacity.analyse(
        SMALL,
        [capacity.Target("nonpersonal_unmet_hours_per_week", 0.0)],
        out=str(tmp_path / "b"),
        progress=False,
    )
    assert tight.table["status"].iloc[0] == "not met"
    assert "cannot keep" in tight.sentences[0] and "the closest is" in tight.sentences[0]
    assert tight.runs == 5  # the coarse pass shows that even the top of the range fails


def test_per_type_scopes_add_up_for_a_one_prison_estate(tmp_path: Path):
    """The example estate is one Cat C prison: its type's totals are the estate's, so both
    scopes get the same curve and answer (this checks the per-scope plumbing)."""
    result = simmodel.capacity(
        SMALL,
        target={"nonpersonal_unmet_share": 0.55},
        high="20",
        by="type",
        out=str(tmp_path),
        progress=False,
    )
    assert list(result.table["scope"]) == ["The estate", "Cat C prisons"]
    assert result.table["shown"].nunique() == 1
    curves = [rows.reset_index(drop=True) for _, rows in result.curve.groupby("scope")]
    pd.testing.assert_frame_equal(curves[0].drop(columns="scope"), curves[1].drop(columns="scope"))


def test_the_api_call_and_the_command_share_a_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = simmodel.capacity(SMALL, target={"nonpersonal_unmet_share": 1.0}, progress=False)
    proc = run_module(
        "simmodel.capacity", [*SMALL, "target.nonpersonal_unmet_share=1"], tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    *sentences, last = proc.stdout.strip().splitlines()
    assert Path(last.removeprefix("Results: ")) == first.folder
    assert sentences == first.sentences


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["target.nonpersonal_unmet_shar=0.1"], "target.nonpersonal_unmet_shar"),
        (["target.nonpersonal_unmet_share=1.5"], "a share from 0 to 1"),
        (["target.unmet_hours_per_week=-3"], "0 or more"),
        ([], "no target"),
        (["target.unmet_share=0.1", "lever=funding.coordinator_fte_per_prison"], "fixed effects"),
        (["target.unmet_share=0.1", "lever=care.informal_share_of_unlock"], "no default range"),
        (["target.unmet_share=0.1", "lever=buddies.priority"], "not a number"),
        (["target.unmet_share=0.1", "low=5", "high=2"], "low < high"),
        (["target.unmet_share=0.1", "by=prison", "estate=national"], "drawn anew"),
        (["target.unmet_share=0.1", "confidence=1.2"], "confidence"),
        (["target.unmet_share=0.1", "buddies.posts_per_1000=3"], "posts_per_1000"),
    ],
)
def test_bad_input_stops_with_one_line_and_writes_nothing(args, message, tmp_path: Path):
    proc = run_module("simmodel.capacity", ["estate=single_prison", *args], tmp_path, timeout=120)
    assert_refused(proc, message, tmp_path)


@pytest.mark.slow
def test_smoke_command_as_written(tmp_path: Path):
    args = ["estate=single_prison", "lever=buddies.posts_per_1000_prisoners"]
    args += ["target.nonpersonal_unmet_share=0.5", "run.years=1"]
    proc = run_module("simmodel.capacity", [*args], tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    *_, sentence, last = proc.stdout.strip().splitlines()
    assert sentence.startswith("HMP Example needs ") and "buddy posts" in sentence and "£" in sentence
    table = pd.read_csv(tmp_path / last.removeprefix("Results: ") / "capacity.csv")
    assert table["status"].iloc[0] == "met" and table["nonpersonal_unmet_share_bound"].iloc[0] <= 0.5

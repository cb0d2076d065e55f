"""Calibration (simmodel/calibrate.py): the fit measure, the search on a function with a known
answer, determinism and resume, writing values back into a config file, the declared groups,
a small real run, and bad input."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import assert_refused, run_module

from simmodel import calibrate as cal
from simmodel.assumptions import get_value, yaml_keys
from simmodel.experiments import validate
from simmodel.paths import CONFIG_DIR

FREE = (cal.Free.of("a", 0.2, 0.7), cal.Free.of("b", 30.0, 365.0), cal.Free.of("c", 0.6, 1.0))
#: The known answer of the toy problem: inside each range, on each grid.
ANSWER = {"a": 0.31, "b": 250.0, "c": 0.72}


def _toy_loss(seen: list[int]):
    """Squared distance from ANSWER in half-ranges: smooth, one minimum, 0 at the answer."""

    def loss(pending):
        seen.extend(n for n, _ in pending)
        return [
            sum(((v[f.key] - ANSWER[f.key]) / ((f.high - f.low) / 2)) ** 2 for f in FREE) for _, v in pending
        ]

    return loss


def test_a_range_edge_is_z_1_96_and_the_middle_of_a_parameter_range_costs_nothing() -> None:
    assert cal.target_z(10.0, 8.0, 12.0) == pytest.approx(0.0)
    assert cal.target_z(12.0, 8.0, 12.0) == pytest.approx(1.959964)
    assert cal.target_z(8.0, 8.0, 12.0) == pytest.approx(-1.959964)
    free = FREE[:1]
    assert cal.prior_penalty({"a": 0.45}, free) == pytest.approx(0.0)
    assert cal.prior_penalty({"a": 0.7}, free) == pytest.approx(1.0)


def test_grids_are_round_and_values_snap_onto_them() -> None:
    assert [f.step for f in FREE] == [0.001, 1.0, 0.001]
    assert FREE[0].snap(0.31049999) == 0.31 and FREE[1].snap(249.6) == 250.0


def test_the_search_finds_a_known_answer_within_a_few_grid_steps() -> None:
    """TPE with 60 trials on a smooth 3-parameter bowl (seed 1: deterministic) ends within 8%
    of each range of the answer; the starting trials alone (12 random points) do not."""
    seen: list[int] = []
    trials = cal.search(_toy_loss(seen), FREE, 60, seed=1)
    assert len(trials) == 60 and sorted(seen) == list(range(60))
    best = min(trials, key=lambda t: t.loss)
    for f in FREE:
        assert abs(best.values[f.key] - ANSWER[f.key]) <= 0.08 * (f.high - f.low), (f.key, best.values)
        assert f.low <= best.values[f.key] <= f.high and best.values[f.key] == f.snap(best.values[f.key])
    start = min(trials[:12], key=lambda t: t.loss)
    assert best.loss < start.loss / 3


def test_the_search_is_deterministic_and_a_resumed_study_gives_the_same_trials(tmp_path: Path) -> None:
    assert cal.search(_toy_loss([]), FREE, 16, seed=3) == cal.search(_toy_loss([]), FREE, 16, seed=3)
    whole = cal.search(_toy_loss([]), FREE, 16, seed=3, storage=f"sqlite:///{tmp_path / 'whole.db'}")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cal.search(_toy_loss([]), FREE, 6, seed=3, storage=storage)  # interrupted after 6
    seen: list[int] = []
    resumed = cal.search(_toy_loss(seen), FREE, 16, seed=3, storage=storage)
    assert seen == list(range(6, 16))  # only the missing trials run
    assert resumed == whole


TEXT = """\
# a comment line
screening_sensitivity: 0.4      # share found (assumption, 0.2-0.7: HSMC07 H-4)
eligibility_by_level:           # chance eligible
  low: 0.2
  moderate: 0.75                # moderate need
other: 3
"""


def test_set_value_writes_a_nested_key_keeps_the_comment_column_and_replaces_its_own_mark() -> None:
    once = cal.set_value(TEXT, "eligibility_by_level.moderate", 0.612, "[calibrated 2026-01-01 to S48 (x)]")
    assert yaml.safe_load(once)["eligibility_by_level"] == {"low": 0.2, "moderate": 0.612}
    line = once.splitlines()[4]
    assert line.index("#") == TEXT.splitlines()[4].index("#")
    assert line.endswith("# [calibrated 2026-01-01 to S48 (x)] moderate need")
    twice = cal.set_value(once, "eligibility_by_level.moderate", 0.7, "[calibrated 2027-01-01 to S48 (x)]")
    assert twice.splitlines()[4].endswith("# [calibrated 2027-01-01 to S48 (x)] moderate need")
    other = cal.set_value(TEXT, "screening_sensitivity", 0.25, "[calibrated d to S48 (x)]")
    assert "(assumption, 0.2-0.7: HSMC07 H-4)" in other.splitlines()[1]
    assert [a for a, b in zip(TEXT.splitlines(), other.splitlines(), strict=True) if a != b] == [
        TEXT.splitlines()[1]
    ]
    with pytest.raises(KeyError):
        cal.set_value(TEXT, "eligibility_by_level.none", 1.0, "[calibrated]")


def test_the_declared_groups_fit_calibration_targets_with_registered_parameters() -> None:
    groups = cal.groups()
    assert "care_act" in groups
    checks = {c.key: c for c in validate.targets()}
    for group in groups.values():
        assert group.targets and group.parameters
        assert all(checks[t].role == "calibration" for t in group.targets)
        for free in group.parameters:
            assert free.low < free.high and free.step > 0


def test_the_committed_values_of_a_fitted_group_carry_its_mark_and_sources() -> None:
    """Every free parameter of a group that has been fitted (docs/calibration.md exists) holds a
    value on its grid, inside its range, with a comment that names the run's sources."""
    from simmodel.compose import check_overrides

    cfg = check_overrides([])
    group = cal.groups()["care_act"]
    sources = {s for c in validate.targets() if c.key in group.targets for s in re.findall(r"S\d+", c.source)}
    comments = {}
    for name in ("need", "pathway"):
        for key in yaml_keys(CONFIG_DIR / name / "default.yaml", name):
            comments[key.dotted] = key.comment
    for free in group.parameters:
        value = float(get_value(cfg, free.key))
        assert free.low <= value <= free.high and math.isclose(value, free.snap(value)), free.key
        mark = cal.MARK.search(comments[free.key])
        assert mark, f"{free.key}: no calibration mark in its comment"
        assert sources <= set(re.findall(r"S\d+", mark.group(0))), free.key
    for key, value in group.hold.items():
        assert float(get_value(cfg, key)) == value


def test_a_small_real_calibration_writes_its_tables_and_repeats_exactly(tmp_path: Path) -> None:
    """Single prison, one reported year, 4 trials: the best trial's values are in fitted.yaml,
    on their grids; the same calibration in a fresh folder gives the same trials."""
    settings = {"trials": 4, "check": False, "write": False, "progress": False, "jobs": 1}
    overrides = {"estate": "single_prison", "run.years": 1, "run.warmup_years": 0.5}
    first = cal.calibrate(overrides, out=str(tmp_path / "a"), **settings)
    again = cal.calibrate(overrides, out=str(tmp_path / "b"), **settings)
    pd.testing.assert_frame_equal(first.trials, again.trials)
    fitted = yaml.safe_load((tmp_path / "a" / "fitted.yaml").read_text())
    for free in first.group.parameters:
        assert fitted[free.key] == first.best.values[free.key] == free.snap(fitted[free.key])
    table = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert len(table) == 4 and table["best"].sum() == 1
    assert {f"model_{t}" for t in first.group.targets} <= set(table.columns)
    assert (tmp_path / "a" / "calibration.md").read_text().startswith("# Calibration")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["group=nope"], "group=nope"),
        (["trials=1"], "trials=1"),
        (["prior_weight=-1"], "prior_weight=-1"),
        (["check_replications=1"], "check_replications"),
        (["trials=lots"], "trials='lots'"),
        (["run.years=-1"], "run.years"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    assert_refused(run_module("simmodel.calibrate", args, tmp_path), message, tmp_path)


def test_a_study_s_folder_changes_with_any_value_the_trials_do_not_set() -> None:
    """Trials set the free parameters and nothing else: a held value or any other parameter
    changes the study's identity (a new folder), a committed free value does not (so writing
    the fit back does not orphan the study)."""
    from simmodel.compose import check_overrides

    free = cal.groups()["care_act"].parameters
    base = cal.config_digest(check_overrides([]), free)
    assert cal.config_digest(check_overrides(["pathway.referral_share=0.5"]), free) == base
    assert cal.config_digest(check_overrides(["pathway.initial_detected_share=0.6"]), free) != base
    assert cal.config_digest(check_overrides(["run.years=3"]), free) != base


def test_a_starting_guess_is_the_first_trial_and_the_search_never_ends_worse() -> None:
    guess = {"a": 0.3004, "b": 251.2, "c": 0.7199}
    trials = cal.search(_toy_loss([]), FREE, 8, seed=2, start=guess)
    assert trials[0].values == {k: f.snap(guess[k]) for k, f in zip("abc", FREE, strict=True)}
    assert min(t.loss for t in trials) <= trials[0].loss

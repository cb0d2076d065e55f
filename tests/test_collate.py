"""Sweeps: a multirun writes one folder per job and, when it ends, sweep.csv, and for a
sweep over funding options comparison.csv and frontier.png; running it again skips the
jobs already done.

The sweeps run through ``simmodel.cli.main`` in this process: one prison, a quarter
year, 2 replications a job. The comparison logic is also checked on hand-made jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from simmodel.cli import main, sweep_folder
from simmodel.config import Config
from simmodel.experiments import collate, replications
from simmodel.experiments.collate import (
    COMPARISON_METRICS,
    Job,
    compared_dimension,
    comparison_table,
    efficient,
    frontier_points,
    load_jobs,
    sweep_table,
)
from simmodel.experiments.replications import ReplicationOutput, t_interval
from simmodel.model.funding import WEEKS_PER_YEAR
from simmodel.outputs import report, results

NAMES = [m.name for m in results.METRICS]
UNITS = {m.name: m.unit for m in results.METRICS}
#: Every job: one prison, a quarter year, 2 replications in this process.
JOB = (
    "estate=single_prison",
    "run.years=0.25",
    "run.warmup_years=0",
    "run.replications=2",
    "run.jobs=1",
    "run.progress=false",
)
OPTIONS = ("status_quo", "more_buddy_posts", "care_coordinator")
FUNDING_SWEEP = (*JOB, f"funding={','.join(OPTIONS)}")
#: Rows per option in comparison.csv: the compared metrics and the two cost lines.
ROWS_PER_OPTION = len(COMPARISON_METRICS) + 1 + len(collate.AVERTED_RATIOS)
SKIPPED = "already holds this run's results; skipped"


def run_sweep(cwd: Path, *args: str) -> int:
    """``python -m simmodel -m ARGS`` from ``cwd``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.setattr(sys, "argv", ["simmodel"])
        try:
            return main(["-m", *args])
        finally:
            GlobalHydra.instance().clear()


def collate_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m simmodel.experiments.collate ARGS`` in a new process, with this checkout's simmodel."""
    checkout = str(Path(collate.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "simmodel.experiments.collate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def job_folders(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.is_dir()), key=lambda p: int(p.name))


def job_override(folder: Path, key: str) -> str:
    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    found = [o.split("=", 1)[1] for o in info["overrides"] if o.split("=", 1)[0] == key]
    return found[0] if found else str(info[key])


def job_by(sweep: Path, **wanted: str) -> Path:
    """The one job folder whose overrides have the wanted values."""
    hits = [f for f in job_folders(sweep) if all(job_override(f, k) == v for k, v in wanted.items())]
    assert len(hits) == 1, (wanted, hits)
    return hits[0]


def summary_mean(folder: Path, metric: str) -> float:
    table = pd.read_csv(folder / "summary.csv").set_index("metric")
    return float(table.loc[metric, "mean"])


def replication_values(folder: Path, metric: str) -> pd.Series:
    table = pd.read_csv(folder / "replications.csv")
    return table[table["metric"] == metric].set_index("replication")["value"]


# ----------------------------------------------------------------- a funding sweep
@pytest.fixture(scope="module")
def funding_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("funding")
    sweep = root / "sweep"
    assert run_sweep(root, *FUNDING_SWEEP, f"hydra.sweep.dir={sweep}") == 0
    assert not (root / "results").exists(), "hydra.sweep.dir should replace results/multirun/..."
    return sweep


def test_every_job_writes_a_complete_run(funding_sweep: Path) -> None:
    folders = job_folders(funding_sweep)
    assert [f.name for f in folders] == ["0", "1", "2"]
    for folder in folders:
        for name in ("config.yaml", "run.json", "timeseries.csv", "replications.csv", "summary.csv"):
            assert (folder / name).is_file(), (folder, name)
        assert len(pd.read_csv(folder / "replications.csv")) == 2 * len(NAMES)
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert info["status"] == "complete"
        assert info["replication_numbers"] == [0, 1]
    assert sorted(job_override(f, "funding") for f in folders) == sorted(OPTIONS)


def defined_n(summary: pd.DataFrame) -> pd.Series:
    """``n`` of the metrics defined in every replication (a metric with a note has fewer)."""
    return summary.loc[summary["note"].isna(), "n"]


def test_sweep_csv_has_one_row_per_job_and_metric(funding_sweep: Path) -> None:
    sweep = pd.read_csv(funding_sweep / "sweep.csv")
    assert len(sweep) == len(OPTIONS) * len(NAMES)
    assert not sweep.duplicated(["job", "metric"]).any()
    for column in ("job", "funding", "estate", "run.years", "run.replications", "scenario"):
        assert column in sweep.columns, column
    summary_columns = ["metric", "unit", "mean", "ci_low", "ci_high", "p5", "p95", "n", "note"]
    assert list(sweep.columns[-9:]) == summary_columns
    assert sorted(sweep["funding"].unique()) == sorted(OPTIONS)
    assert (sweep["estate"] == "single_prison").all()
    assert (sweep["run.years"] == 0.25).all()
    assert (sweep.loc[sweep["note"].isna(), "n"] == 2).all()  # n counts the replications with a value
    for option in OPTIONS:  # each job's rows are its summary.csv
        rows = sweep[sweep["funding"] == option].set_index("metric")
        folder = job_by(funding_sweep, funding=option)
        assert (rows["job"] == int(folder.name)).all()
        summary = pd.read_csv(folder / "summary.csv").set_index("metric")
        assert list(rows.index) == NAMES
        pd.testing.assert_series_equal(rows["mean"], summary["mean"])


def test_comparison_csv_has_a_row_per_option_and_metric(funding_sweep: Path) -> None:
    table = pd.read_csv(funding_sweep / "comparison.csv")
    options = [o for o in OPTIONS if o != "status_quo"]
    assert len(table) == len(options) * ROWS_PER_OPTION
    expected = {(o, m) for o in options for m in COMPARISON_METRICS}
    expected |= {(o, m) for o in options for m in ("incremental_cost_per_year", *collate.AVERTED_RATIOS)}
    assert set(zip(table["option"], table["metric"], strict=True)) == expected
    assert (table["reference"] == "status_quo").all()
    assert (table["n_pairs"] == 2).all()


@pytest.mark.parametrize("option", ["more_buddy_posts", "care_coordinator"])
def test_comparison_is_paired_by_replication(funding_sweep: Path, option: str) -> None:
    table = pd.read_csv(funding_sweep / "comparison.csv")
    rows = table[table["option"] == option].set_index("metric")
    job, ref = job_by(funding_sweep, funding=option), job_by(funding_sweep, funding="status_quo")
    for metric in COMPARISON_METRICS:
        a, b = replication_values(job, metric), replication_values(ref, metric)
        pairs = (a - b.loc[a.index]).dropna()  # a replication where either is undefined is no pair
        mean, low, high = (float(v) for v in t_interval(pairs.to_numpy())) if len(pairs) else (np.nan,) * 3
        row = rows.loc[metric]
        assert row["unit"] == UNITS[metric]
        for side, folder in (("option_mean", job), ("reference_mean", ref)):  # over defined replications
            assert row[side] == pytest.approx(summary_mean(folder, metric), rel=1e-12, nan_ok=True), metric
        assert row["difference"] == pytest.approx(float(mean), rel=1e-9, abs=1e-9, nan_ok=True), metric
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (low, high), rel=1e-9, abs=1e-6, nan_ok=True
        ), metric
    cost = (
        replication_values(job, "cost_total_per_year") - replication_values(ref, "cost_total_per_year")
    ).mean()
    assert rows.loc["incremental_cost_per_year", "difference"] == pytest.approx(cost)
    for ratio_metric, unmet in collate.AVERTED_RATIOS.items():
        paired = (replication_values(ref, unmet) - replication_values(job, unmet)).to_numpy() * WEEKS_PER_YEAR
        ratio = rows.loc[ratio_metric, "difference"]
        # a price per hour only where the hours averted are clearly above zero (95% interval)
        if paired.mean() > 0 and t_interval(paired)[1] > 0:
            assert ratio == pytest.approx(cost / paired.mean()), ratio_metric
        else:
            assert np.isnan(ratio), ratio_metric


def test_frontier_png_is_written(funding_sweep: Path) -> None:
    png = funding_sweep / "frontier.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(funding_sweep.glob(".*.tmp*")), "atomic writes leave no temporary files"


@pytest.mark.slow  # several seconds: .ci/run runs it, the quick command does not
def test_rerunning_the_same_sweep_skips_complete_jobs_only(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(funding_sweep, sweep)
    folders = job_folders(sweep)
    # job 0's folder holds another configuration and job 1 lost its summary.csv (an
    # incomplete run): both run again; job 2 is complete and is skipped
    config = folders[0] / "config.yaml"
    config.write_text(read(config).replace("seed: ", "seed: 1", 1), encoding="utf-8")
    (folders[1] / "summary.csv").unlink()
    done = (folders[2] / "summary.csv").stat().st_mtime_ns
    capsys.readouterr()
    assert run_sweep(tmp_path, *FUNDING_SWEEP, f"hydra.sweep.dir={sweep}") == 0
    out = capsys.readouterr().out
    assert out.count(SKIPPED) == 1, out
    assert f"{folders[2]} {SKIPPED}" in out
    assert (folders[2] / "summary.csv").stat().st_mtime_ns == done, "a skipped job is not rewritten"
    assert (folders[1] / "summary.csv").is_file()
    assert read(config) == read(funding_sweep / "0" / "config.yaml")
    for name in ("sweep.csv", "comparison.csv"):  # the same runs give the same tables
        assert read(sweep / name) == read(funding_sweep / name)


@pytest.mark.slow  # several seconds: .ci/run runs it, the quick command does not
def test_resuming_after_an_interruption_completes_the_interrupted_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = replications.simulate

    def interrupted_at_replication_1(
        cfg: Config, replication: int
    ) -> ReplicationOutput:  # Ctrl-C while replication 1 runs
        if replication == 1:
            raise KeyboardInterrupt
        return real(cfg, replication)

    args = (*JOB, "run.replications=3", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    monkeypatch.setattr(replications, "simulate", interrupted_at_replication_1)
    with contextlib.suppress(SystemExit):  # the command line stops on Ctrl-C
        run_sweep(tmp_path, *args)
    monkeypatch.setattr(replications, "simulate", real)
    capsys.readouterr()
    assert run_sweep(tmp_path, *args) == 0  # the same command again, uninterrupted
    out = capsys.readouterr().out
    assert SKIPPED not in out
    summary = pd.read_csv(tmp_path / "sweep" / "0" / "summary.csv")
    assert (summary.loc[summary["note"].isna(), "n"] == 3).all()


def test_collate_again_from_the_command_line(funding_sweep: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(funding_sweep, sweep)
    for name in ("sweep.csv", "comparison.csv", "frontier.png"):
        (sweep / name).unlink()
    proc = collate_command(str(sweep), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "collated 3 jobs" in proc.stdout
    for name in ("sweep.csv", "comparison.csv"):
        assert read(sweep / name) == read(funding_sweep / name)
    assert (sweep / "frontier.png").is_file()


def test_collate_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert collate.main([]) == 2
    assert collate.main([str(tmp_path / "missing")]) == 2
    assert "usage" in capsys.readouterr().err
    assert collate.main([str(tmp_path)]) == 0  # an empty folder: nothing to collate
    assert "nothing to collate" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ a sweep of another key
@pytest.mark.slow  # several seconds: .ci/run runs it, the quick command does not
def test_sweep_over_another_key_writes_sweep_csv_only_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*JOB, "run.replications=1", "run.seed=1,2")
    assert run_sweep(tmp_path, *args) == 0
    sweep = tmp_path / sweep_folder(list(args))
    assert sweep.is_dir(), list((tmp_path / "results" / "multirun").iterdir())
    assert [f.name for f in job_folders(sweep)] == ["0", "1"]
    table = pd.read_csv(sweep / "sweep.csv")
    assert len(table) == 2 * len(NAMES)
    assert sorted(table["run.seed"].unique()) == [1, 2]
    assert not (sweep / "comparison.csv").exists()
    assert not (sweep / "frontier.png").exists()
    assert "collated 2 jobs" in capsys.readouterr().out
    # the same command again finds the same folder and skips both jobs
    assert run_sweep(tmp_path, *args) == 0
    assert capsys.readouterr().out.count(SKIPPED) == 2
    assert len(list((tmp_path / "results" / "multirun").iterdir())) == 1


def test_sweep_folder_is_named_after_the_overrides() -> None:
    a = sweep_folder(["funding=status_quo,new_schemes", "run.years=1"])
    assert a.startswith("results/multirun/")
    assert sweep_folder(["run.years=1", "funding=status_quo,new_schemes"]) == a, "order does not matter"
    assert sweep_folder(["run.years=1", "funding=status_quo,new_schemes", "hydra.verbose=true"]) == a
    assert sweep_folder(["funding=status_quo,new_schemes", "run.years=2"]) != a
    long = [f"buddies.pay_per_week={i}" for i in range(50)]
    assert sweep_folder(long) != sweep_folder(long[:-1]), "truncated names still differ by their hash"


# ------------------------------------------------------ funding x scenario sweep
@pytest.fixture(scope="module")
def two_way_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("two_way")
    sweep = root / "sweep"
    args = (
        *JOB,
        "funding=status_quo,more_buddy_posts",
        "scenario=baseline,ageing",
        f"hydra.sweep.dir={sweep}",
    )
    assert run_sweep(root, *args) == 0
    return sweep


@pytest.mark.slow  # a four-job sweep of its own (about 15 s)
def test_funding_by_scenario_sweep_compares_within_each_scenario(two_way_sweep: Path) -> None:
    assert len(job_folders(two_way_sweep)) == 4
    table = pd.read_csv(two_way_sweep / "comparison.csv")
    assert len(table) == 2 * ROWS_PER_OPTION
    assert list(table.columns[:3]) == ["scenario", "option", "reference"]
    assert sorted(table["scenario"].unique()) == ["ageing", "baseline"]
    assert (table["option"] == "more_buddy_posts").all()
    assert (table["reference"] == "status_quo").all()
    for scenario in ("baseline", "ageing"):
        rows = table[table["scenario"] == scenario].set_index("metric")
        job = job_by(two_way_sweep, funding="more_buddy_posts", scenario=scenario)
        ref = job_by(two_way_sweep, funding="status_quo", scenario=scenario)
        for metric in COMPARISON_METRICS:
            assert rows.loc[metric, "option_mean"] == pytest.approx(summary_mean(job, metric), rel=1e-12)
            assert rows.loc[metric, "reference_mean"] == pytest.approx(summary_mean(ref, metric), rel=1e-12)
    assert (two_way_sweep / "frontier.png").is_file()
    # Over one quarter the ageing trends (which start with the reported years) do not yet
    # change the compared metrics, so this run cannot tell pairing within a scenario from
    # pairing across them: test_funding_is_compared_within_each_scenario does, on hand-made jobs.


@pytest.mark.slow  # the only quick user of the four-job sweep (about 18 s on a slow machine)
def test_frontier_points_are_grouped_by_scenario(two_way_sweep: Path) -> None:
    jobs = load_jobs(two_way_sweep)
    points = frontier_points(jobs, "funding")
    assert sorted(points["group"]) == ["scenario=ageing"] * 2 + ["scenario=baseline"] * 2
    for _, sub in points.groupby("group"):
        assert sorted(sub["option"]) == ["more_buddy_posts", "status_quo"]
        assert sub["efficient"].any(), "some option is efficient in every group"
        expected = efficient(sub["cost"].to_numpy(), sub["unmet"].to_numpy())
        assert list(sub["efficient"]) == list(expected)


# ---------------------------------------------------------------- hand-made jobs
def make_job(name: str, overrides: dict[str, str], values: dict[int, dict[str, float]]) -> Job:
    """A job with the given per-replication values (other metrics 0)."""
    rows = [
        {"replication": r, "metric": m, "unit": UNITS[m], "value": per.get(m, 0.0)}
        for r, per in values.items()
        for m in NAMES
    ]
    reps = pd.DataFrame(rows)
    means = reps.groupby("metric", sort=False)["value"].mean()
    summary = pd.DataFrame(
        {
            "metric": NAMES,
            "unit": [UNITS[m] for m in NAMES],
            "mean": [means[m] for m in NAMES],
            "ci_low": [means[m] for m in NAMES],
            "ci_high": [means[m] for m in NAMES],
        }
    )
    return Job(name=name, overrides=overrides, summary=summary, replications=reps)


def base_values(replication: int) -> dict[str, float]:
    """Values that differ between replications, so pairing matters."""
    return {
        "cost_total_per_year": 1000.0 * (replication + 1) ** 2,
        "unmet_hours_per_week": 50.0 + 7 * replication,
        "nonpersonal_unmet_hours_per_week": 30.0 + 3 * replication,
        "personal_unmet_hours_per_week": 20.0 + 4 * replication,
    }


def shifted(replication: int, cost: float, unmet: float) -> dict[str, float]:
    values = base_values(replication)
    values["cost_total_per_year"] += cost
    values["unmet_hours_per_week"] += unmet
    values["personal_unmet_hours_per_week"] += unmet  # the change is all in personal care
    return values


def test_comparison_pairs_by_replication_number_not_position() -> None:
    ref = make_job("0", {"funding": "status_quo"}, {r: base_values(r) for r in (0, 1, 2)})
    # the option's replications are stored in another order and include one the reference lacks
    option = make_job(
        "1", {"funding": "more_buddy_posts"}, {r: shifted(r, 500.0, -2.0) for r in (2, 0, 3, 1)}
    )
    table, notes = comparison_table([ref, option], "funding")
    assert notes == []
    rows = table.set_index("metric")
    assert (rows["n_pairs"] == 3).all()
    for metric, delta in (("cost_total_per_year", 500.0), ("unmet_hours_per_week", -2.0)):
        assert rows.loc[metric, "difference"] == pytest.approx(delta)
        assert rows.loc[metric, "ci_low"] == pytest.approx(delta), "constant differences: zero width"
        assert rows.loc[metric, "ci_high"] == pytest.approx(delta)
    assert rows.loc["nonpersonal_unmet_hours_per_week", "difference"] == pytest.approx(0.0)
    assert rows.loc["incremental_cost_per_year", "difference"] == pytest.approx(500.0)
    # only personal hours are averted (shifted() lowers them): £ a year / hours a year averted
    ratio = 500.0 / (2.0 * WEEKS_PER_YEAR)
    assert rows.loc["cost_per_personal_hour_averted", ["difference", "ci_low", "ci_high"]].tolist() == (
        pytest.approx([ratio] * 3)
    )
    assert np.isnan(rows.loc["cost_per_nonpersonal_hour_averted", "difference"]), "none averted, no ratio"


def test_no_hours_averted_gives_no_cost_per_hour() -> None:
    ref = make_job("0", {"funding": "status_quo"}, {r: base_values(r) for r in range(3)})
    worse = make_job("1", {"funding": "extended_unlock"}, {r: shifted(r, 800.0, +1.0) for r in range(3)})
    rows = comparison_table([ref, worse], "funding")[0].set_index("metric")
    for metric in collate.AVERTED_RATIOS:
        assert np.isnan(rows.loc[metric, ["difference", "ci_low", "ci_high"]].astype(float)).all()


def test_comparison_notes_when_it_cannot_compare() -> None:
    ref = make_job("0", {"funding": "status_quo"}, {r: base_values(r) for r in range(2)})
    elsewhere = make_job("1", {"funding": "new_schemes"}, {r: base_values(r) for r in (100, 101)})
    table, notes = comparison_table([ref, elsewhere], "funding")
    assert table.empty
    assert len(notes) == 1 and "share no replication numbers" in notes[0]
    lonely = make_job("2", {"funding": "la_capacity"}, {0: base_values(0)})
    table, notes = comparison_table([lonely, elsewhere], "funding")
    assert table.empty
    assert len(notes) == 1 and "status_quo" in notes[0]


def test_funding_is_compared_within_each_scenario() -> None:
    # each scenario has its own reference level and its own effect of the option:
    # pairing across scenarios would give other differences
    jobs = []
    for scenario, level, delta in (("baseline", 0.0, 500.0), ("ageing", 10_000.0, 900.0)):
        ref = {r: shifted(r, level, level / 1000) for r in range(3)}
        option = {r: shifted(r, level + delta, level / 1000 - 1) for r in range(3)}
        jobs.append(make_job(f"{scenario}0", {"funding": "status_quo", "scenario": scenario}, ref))
        jobs.append(make_job(f"{scenario}1", {"funding": "new_schemes", "scenario": scenario}, option))
    assert compared_dimension(jobs) == "funding"
    table, notes = comparison_table(jobs, "funding")
    assert notes == []
    assert len(table) == 2 * ROWS_PER_OPTION
    cost = table[table["metric"] == "cost_total_per_year"].set_index("scenario")
    assert cost.loc["baseline", "difference"] == pytest.approx(500.0)
    assert cost.loc["ageing", "difference"] == pytest.approx(900.0)
    assert cost.loc["ageing", "reference_mean"] - cost.loc["baseline", "reference_mean"] == pytest.approx(
        10_000
    )
    unmet = table[table["metric"] == "unmet_hours_per_week"]
    assert unmet["difference"].tolist() == pytest.approx([-1.0, -1.0])
    points = frontier_points(jobs, "funding")
    assert sorted(set(points["group"])) == ["scenario=ageing", "scenario=baseline"]


def test_compared_dimension() -> None:
    def job(name: str, **overrides: str) -> Job:
        return make_job(name, overrides, {0: base_values(0)})

    both = [
        job("0", funding="status_quo", scenario="baseline"),
        job("1", funding="new_schemes", scenario="ageing"),
    ]
    assert compared_dimension(both) == "funding"
    scenarios = [
        job("0", funding="status_quo", scenario="baseline"),
        job("1", funding="status_quo", scenario="ageing"),
    ]
    assert compared_dimension(scenarios) == "scenario"
    table, _ = comparison_table(scenarios, "scenario")
    assert set(table["reference"]) == {"baseline"} and set(table["option"]) == {"ageing"}
    seeds = [
        job("0", funding="status_quo", **{"run.seed": "1"}),
        job("1", funding="status_quo", **{"run.seed": "2"}),
    ]
    assert compared_dimension(seeds) is None
    assert list(sweep_table(seeds)["run.seed"].unique()) == ["1", "2"]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(1, 10)], [True]),
        ([(1, 10), (2, 5), (3, 1)], [True, True, True]),  # a trade-off: all efficient
        ([(1, 10), (2, 11)], [True, False]),  # dearer and worse
        ([(1, 10), (1, 12)], [True, False]),  # as dear and worse
        ([(1, 10), (3, 10)], [True, False]),  # dearer and no better
        ([(1, 10), (1, 10)], [True, True]),  # identical: neither beats the other
        ([(5, 5), (1, 1), (3, 0), (2, 2)], [False, True, True, False]),
    ],
)
def test_efficient(points: list[tuple[float, float]], expected: list[bool]) -> None:
    cost, unmet = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    assert efficient(cost, unmet).tolist() == expected


def test_a_failed_replication_keeps_the_finished_ones_and_is_redone_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = replications.simulate

    def fails_at_replication_1(cfg: Config, replication: int) -> ReplicationOutput:
        if replication == 1:
            raise RuntimeError("disk on fire")
        return real(cfg, replication)

    args = (*JOB, "run.replications=3", "run.jobs=1", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    monkeypatch.setattr(replications, "simulate", fails_at_replication_1)
    with pytest.raises(SystemExit) as stopped:
        run_sweep(tmp_path, *args)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "a replication failed (RuntimeError: disk on fire); the 1 finished before it are saved" in err
    assert "Traceback" not in err
    job = tmp_path / "sweep" / "0"
    record = json.loads((job / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["replications_used"] == 1
    assert (defined_n(pd.read_csv(job / "summary.csv")) == 1).all()
    monkeypatch.setattr(replications, "simulate", real)
    assert run_sweep(tmp_path, *args) == 0  # the same command again: the failed job is redone
    assert SKIPPED not in capsys.readouterr().out
    assert (defined_n(pd.read_csv(job / "summary.csv")) == 3).all()


# ------------------------------------------------- no stale answers in a comparison
def copy_sweep(source: Path, tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep"
    shutil.copytree(source, sweep)
    return sweep


def collated_files(sweep: Path) -> dict[str, bytes]:
    """The collated files in the folder and their bytes."""
    return {name: (sweep / name).read_bytes() for name in collate.COLLATED if (sweep / name).is_file()}


def temporary_files(sweep: Path) -> list[str]:
    return [p.name for p in sweep.iterdir() if ".tmp" in p.name]


def collated_jobs(sweep: Path) -> list[int]:
    return sorted(pd.read_csv(sweep / "sweep.csv")["job"].unique().tolist())


def compared_options(sweep: Path) -> set[str]:
    return set(pd.read_csv(sweep / "comparison.csv")["option"])


def set_task_overrides(sweep: Path, task: list[str]) -> None:
    """Make multirun.yaml say the last sweep in this folder had these overrides."""
    config = OmegaConf.load(sweep / "multirun.yaml")
    config.hydra.overrides.task = task
    OmegaConf.save(config, sweep / "multirun.yaml")


def edit_record(folder: Path, change: object) -> None:
    path = folder / "run.json"
    record = json.loads(read(path))
    change(record)  # type: ignore[operator]
    path.write_text(json.dumps(record), encoding="utf-8")


def test_a_smaller_sweep_in_the_same_folder_collates_only_its_jobs(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    assert set(collated_files(sweep)) == set(collate.COLLATED)
    capsys.readouterr()
    # one job, the same as job 0 before (so it is skipped): nothing to compare
    assert run_sweep(tmp_path, *JOB, "funding=status_quo", f"hydra.sweep.dir={sweep}") == 0
    out = capsys.readouterr().out
    assert out.count(SKIPPED) == 1
    assert "collated 1 jobs" in out
    assert "folder(s) 1, 2 are not jobs of this sweep" in out
    assert collate.CollateSweep.failure is None
    assert collated_jobs(sweep) == [0]
    assert set(pd.read_csv(sweep / "sweep.csv")["funding"]) == {"status_quo"}
    assert not (sweep / "comparison.csv").exists(), "a stale comparison is removed"
    assert not (sweep / "frontier.png").exists(), "a stale frontier is removed"
    assert pd.ExcelFile(sweep / "results.xlsx").sheet_names == ["Sweep results"]
    assert "simmodel sweep: 1 jobs" in read(sweep / "report.html")
    assert "not uncertainty in the assumptions" in read(sweep / "report.html")
    assert temporary_files(sweep) == []


def test_a_smaller_funding_sweep_compares_only_its_options(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    # job 1 was more_buddy_posts and is now care_coordinator; folder 2 still holds an
    # old care_coordinator job with the same overrides, but is no job of this sweep
    args = (*JOB, "funding=status_quo,care_coordinator", f"hydra.sweep.dir={sweep}")
    assert run_sweep(tmp_path, *args) == 0
    out = capsys.readouterr().out
    assert out.count(SKIPPED) == 1
    assert "collated 2 jobs" in out
    assert collated_jobs(sweep) == [0, 1]
    assert compared_options(sweep) == {"care_coordinator"}
    table = pd.read_csv(sweep / "sweep.csv")
    assert sorted(table["funding"].unique()) == ["care_coordinator", "status_quo"]
    assert set(pd.read_csv(sweep / "comparison.csv")["n_pairs"]) == {2}


def test_a_job_folder_with_other_overrides_is_left_out(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)

    def other_option(record: dict[str, object]) -> None:
        record["overrides"] = [o.replace("more_buddy_posts", "la_capacity") for o in record["overrides"]]
        record["funding"] = "la_capacity"

    edit_record(sweep / "1", other_option)
    edit_record(sweep / "2", lambda record: record["overrides"].reverse())  # order does not matter
    assert collate.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    left_out = [line for line in out.splitlines() if "left out" in line]
    assert len(left_out) == 1, out
    assert left_out[0].startswith("simmodel: job 1 (") and "funding=more_buddy_posts" in left_out[0]
    assert "another run" in left_out[0] and "funding=la_capacity" in left_out[0]
    assert collated_jobs(sweep) == [0, 2]
    assert compared_options(sweep) == {"care_coordinator"}


def _invalid_json(folder: Path) -> None:
    (folder / "run.json").write_text('{"status": "complete", "overr', encoding="utf-8")


def _not_a_record(folder: Path) -> None:
    (folder / "run.json").write_text("[1, 2]", encoding="utf-8")


def _overrides_not_a_list(folder: Path) -> None:
    edit_record(folder, lambda record: record.update(overrides="funding=more_buddy_posts"))


def _no_scenario(folder: Path) -> None:
    edit_record(folder, lambda record: record.pop("scenario"))


def _empty_summary(folder: Path) -> None:
    (folder / "summary.csv").write_text("", encoding="utf-8")


def _summary_of_something_else(folder: Path) -> None:
    (folder / "summary.csv").write_text("a,b\n1,2\n", encoding="utf-8")


def _replications_not_text(folder: Path) -> None:
    (folder / "replications.csv").write_bytes(b"\xff\xfe\x00\x81\x00" * 40)


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (_invalid_json, "run.json is not valid JSON"),
        (_not_a_record, "run.json does not hold a record"),
        (_overrides_not_a_list, "overrides are not a list"),
        (_no_scenario, "run.json has no scenario"),
        (_empty_summary, "summary.csv is unreadable"),
        (_summary_of_something_else, "summary.csv lacks the column(s) metric"),
        (_replications_not_text, "replications.csv"),
    ],
)
def test_a_corrupted_job_is_left_out_in_one_line(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], corrupt: object, reason: str
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    corrupt(sweep / "1")  # type: ignore[operator]
    assert collate.main([str(sweep)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if "job 1" in line]
    assert len(lines) == 1 and "left out" in lines[0] and reason in lines[0], text
    assert collated_jobs(sweep) == [0, 2]
    assert compared_options(sweep) == {"care_coordinator"}


def test_collation_with_no_job_left_exits_1_in_one_line(funding_sweep: Path, tmp_path: Path) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    for folder in job_folders(sweep):
        _invalid_json(folder)
    proc = collate_command(str(sweep), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"simmodel: error: collation failed: none of the 3 job(s) in {sweep} can be collated"
    ]
    assert proc.stdout.count("left out") == 3
    assert collated_files(sweep) == {}, "no answer from jobs that are no longer there"
    proc = collate_command(str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "missing" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ("no multirun.yaml", "simmodel: no multirun.yaml: collating every complete job folder in"),
        (
            "optuna",
            "simmodel: the sweeper is hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
        ),
    ],
)
def test_without_a_basic_sweep_every_complete_job_folder_is_collated(
    funding_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, line: str
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    set_task_overrides(sweep, [*JOB, "funding=status_quo"])  # would collate job 0 only
    if change == "optuna":
        config = OmegaConf.load(sweep / "multirun.yaml")
        config.hydra.sweeper = {"_target_": line.split()[-1]}
        OmegaConf.save(config, sweep / "multirun.yaml")
    else:
        (sweep / "multirun.yaml").unlink()
    assert collate.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert sum(1 for text in out.splitlines() if text.startswith(line)) == 1, out
    assert collated_jobs(sweep) == [0, 1, 2]


def test_a_failed_collation_sets_the_failure_and_prints_one_line(
    funding_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = copy_sweep(funding_sweep, tmp_path)
    before = collated_files(sweep)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire\n  and more")

    monkeypatch.setattr(collate, "comparison_table", broken)
    collate.CollateSweep.failure = "left from an earlier sweep"
    capsys.readouterr()
    assert run_sweep(tmp_path, *FUNDING_SWEEP, f"hydra.sweep.dir={sweep}") == 1  # the sweep fails with it
    err = capsys.readouterr().err
    assert collate.CollateSweep.failure == "RuntimeError: disk on fire and more"
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if "collation failed" in line]
    assert failed == ["simmodel: error: collation failed: RuntimeError: disk on fire and more"], err
    assert collated_files(sweep) == before and temporary_files(sweep) == []
    collate.CollateSweep().on_multirun_start(OmegaConf.load(sweep / "multirun.yaml"))
    assert collate.CollateSweep.failure is None, "reset when a multirun starts"


# A folder with the full set from the three-option sweep, whose last sweep had two options:
# collation gives a new full set (two jobs, one option compared).
@pytest.fixture
def resized_sweep(funding_sweep: Path, tmp_path: Path) -> Path:
    sweep = copy_sweep(funding_sweep, tmp_path)
    set_task_overrides(sweep, [*JOB, "funding=status_quo,more_buddy_posts"])
    return sweep


def assert_new_full_set(sweep: Path, old: dict[str, bytes]) -> None:
    new = collated_files(sweep)
    assert set(new) == set(collate.COLLATED)
    assert all(new[name] != old[name] for name in ("sweep.csv", "comparison.csv", "report.html"))
    assert collated_jobs(sweep) == [0, 1]
    assert compared_options(sweep) == {"more_buddy_posts"}
    assert pd.ExcelFile(sweep / "results.xlsx").sheet_names == ["Sweep results", "Comparison"]


def _partly_written_then_interrupted(*args: object) -> None:
    path = next(a for a in args if isinstance(a, Path))
    path.write_bytes(b"half")
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("target", "name"),
    [(collate, "_before_publish"), (collate, "plot_frontier"), (report, "write_workbook")],
)
def test_an_interruption_before_publishing_leaves_the_old_set(
    resized_sweep: Path, monkeypatch: pytest.MonkeyPatch, target: object, name: str
) -> None:
    old = collated_files(resized_sweep)
    assert set(old) == set(collate.COLLATED)
    monkeypatch.setattr(
        target, name, _partly_written_then_interrupted if name != "_before_publish" else _stop
    )
    with pytest.raises(KeyboardInterrupt):
        collate.collate(resized_sweep)
    assert collated_files(resized_sweep) == old
    assert temporary_files(resized_sweep) == []
    monkeypatch.undo()
    collate.collate(resized_sweep)
    assert_new_full_set(resized_sweep, old)
    assert temporary_files(resized_sweep) == []


def _stop() -> None:
    raise KeyboardInterrupt


class Terminated(Exception):
    pass


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_publishing_waits_until_the_new_set_is_in_place(
    resized_sweep: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    old = collated_files(resized_sweep)
    real_replace = os.replace
    published: list[str] = []

    def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        target = Path(str(dst))
        if target.parent == resized_sweep and target.name in collate.COLLATED:
            published.append(target.name)
            if len(published) == 3:  # halfway through
                signal.raise_signal(signum)
        real_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    def terminated(number: int, frame: object) -> None:
        raise Terminated

    expected = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    monkeypatch.setattr(os, "replace", replace)
    previous = signal.signal(signal.SIGTERM, terminated)
    # Python's own SIGINT handler, whatever an earlier test in this worker process left in place
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(expected):
            collate.collate(resized_sweep)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    assert len(published) == len(collate.COLLATED), "the signal came after the publish"
    assert_new_full_set(resized_sweep, old)
    assert temporary_files(resized_sweep) == []


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("run.years=interval(1,3)", "sampling sweeper"),
        ("funding=glob(zz*)", "matches no option"),
    ],
)
def test_sweeps_the_basic_sweeper_cannot_run_give_one_line(
    sweep: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_sweep(tmp_path, "estate=single_prison", sweep) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_glob_sweep_over_funding_options_runs_and_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*FUNDING_SWEEP[:-1], "funding=glob(*,exclude=[new_*,extended*,train*,more*,care*,staff*])"]
    assert run_sweep(tmp_path, *args, f"hydra.sweep.dir={tmp_path / 'g'}") == 0
    table = pd.read_csv(tmp_path / "g" / "comparison.csv")
    assert set(table["option"]) == {"la_capacity"}


def test_a_joblib_launcher_sweep_runs_replications_in_its_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """joblib's workers cannot start a process pool: their replications run one by one."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    args = ["hydra/launcher=joblib", *JOB[:-1], "run.jobs=2", "funding=status_quo,la_capacity"]
    assert run_sweep(tmp_path, *args, f"hydra.sweep.dir={tmp_path / 'j'}") == 0
    record = json.loads((tmp_path / "j" / "0" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete" and record["jobs"] == 1
    assert set(pd.read_csv(tmp_path / "j" / "comparison.csv")["option"]) == {"la_capacity"}


def test_a_job_returns_its_objective_also_when_skipped(tmp_path: Path) -> None:
    """What a sampling sweeper (Optuna) minimises: run.objective's mean, from the run or its folder."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from simmodel import cli
    from simmodel.config import register_configs
    from simmodel.paths import CONFIG_DIR

    register_configs()
    overrides = [*JOB, "funding=status_quo", "run.objective=personal_unmet_hours_per_week"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "job")
        cfg.hydra.overrides.task = overrides
    HydraConfig.instance().set_config(cfg)
    (tmp_path / "job").mkdir()  # Hydra makes the job's folder before calling it
    task = cfg.copy()
    with open_dict(task):
        del task["hydra"]
    first = cli._run(task)
    summary = pd.read_csv(tmp_path / "job" / "summary.csv").set_index("metric")
    assert first == pytest.approx(summary.loc["personal_unmet_hours_per_week", "mean"])
    assert cli._run(task) == first, "a job skipped as done returns the same objective"


def test_console_comparison_states_the_reference_level_as_a_level() -> None:
    base = {"option": "la_capacity", "reference": "status_quo", "unit": "", "n_pairs": 4}
    rows = [
        base | {"metric": "unmet_hours_per_week", "difference": -12.0, "ci_low": -15.0, "ci_high": -9.0},
        base
        | {"metric": "incremental_cost_per_year", "difference": 5000.0, "ci_low": 4000.0, "ci_high": 6000.0},
        base
        | {"metric": "cost_per_nonpersonal_hour_averted", "difference": 8.0, "ci_low": 6.0, "ci_high": 10.0},
        base | {"metric": "cost_per_personal_hour_averted", "difference": float("nan")},
    ]
    table = pd.DataFrame(rows, columns=list(report.COMPARISON_COLUMNS))
    points = pd.DataFrame(
        {
            "option": ["status_quo", "la_capacity"],
            "group": ["", ""],
            "unmet": [165.0, 153.0],
            "cost": [100_700.0, 105_700.0],
            "efficient": [True, True],
        }
    )
    text = collate.console_comparison(table, points)
    assert "status_quo itself: 165 unmet hours a week, £100.7k a year; changes against it below" in text
    assert "Change against status_quo: 165" not in text
    assert "change in unmet h/week" in text
    # the two kinds of hours averted get their own £ per hour; none of the personal kind here
    assert "£/h averted: non-personal" in text and "personal" in text
    # then the change in safeguarding incidents: n/a, as this hand-made table has no such row
    assert re.search(r"la_capacity .*£8 +n/a +n/a +yes$", text, re.MULTILINE), text
    assert re.search(r"la_capacity\s+-12 \(-15 to -9\)\s+\+£5,000", text)

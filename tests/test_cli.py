"""The command line end to end: a short run writes its three files and prints a summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from simmodel.cli import main
from simmodel.outputs import results


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path, and restore sys.argv, which cli.main sets for Hydra."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    return tmp_path


def test_end_to_end_run_writes_results(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = isolated / "run"
    code = main(["estate=single_prison", "run.years=0.25", "run.warmup_years=0", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Traceback" not in out + err
    for name in ("config.yaml", "timeseries.csv", "summary.csv"):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.glob(".*.tmp")), "atomic writes leave no temporary files"
    assert not (isolated / "results").exists(), "hydra.run.dir should replace results/..."

    assert "People in prison" in out
    assert "Total cost" in out
    assert "scenario: baseline" in out

    cfg = OmegaConf.load(run_dir / "config.yaml")
    assert cfg.scenario == "baseline"
    assert cfg.estate.name == "single_prison"
    assert cfg.run.years == 0.25

    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.columns) == ["metric", "unit", "mean", "ci_low", "ci_high", "p5", "p95", "n", "note"]
    assert summary.set_index("metric").loc["population", "mean"] > 0
    series = pd.read_csv(run_dir / "timeseries.csv")
    assert sorted(series.loc[series["scope"] == "estate", "month"]) == [1, 2, 3]

    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete"
    assert record["seed"] == cfg.run.seed
    assert record["replications_used"] == cfg.run.replications
    assert record["versions"]["numpy"] and record["versions"]["python"]
    assert "git_commit" in record and record["wall_seconds"] > 0
    assert record["started"] <= record["finished"]


def test_unwritable_results_folder_gives_one_clear_line(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk-full or permission error while writing: one line naming the folder, exit 1."""

    def no_space(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_atomic", no_space)
    run_dir = isolated / "run"
    with pytest.raises(SystemExit) as stopped:
        main(["estate=single_prison", "run.years=0.25", "run.warmup_years=0", f"hydra.run.dir={run_dir}"])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert f"cannot write results to {run_dir}: No space left on device" in err
    assert "Traceback" not in err


def test_end_to_end_scenario_is_recorded(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = isolated / "ageing"
    args = ["scenario=ageing", "estate=single_prison", "run.years=0.25", "run.warmup_years=0"]
    assert main([*args, f"hydra.run.dir={run_dir}"]) == 0
    capsys.readouterr()
    cfg = OmegaConf.load(run_dir / "config.yaml")
    assert cfg.scenario == "ageing"
    assert cfg.population.older_long_receptions_growth_per_year > 0


def test_python_m_simmodel_bad_input_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simmodel", "buddies.nope=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("simmodel: error:")
    assert "buddies.nope" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == [], "nothing should be written for bad input"


def test_console_wording_of_a_single_prison_run(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One prison reads '(1 prison)', headcounts have no pointless decimals, costs read in £k."""
    run_dir = isolated / "one"
    args = ["estate=single_prison", "run.years=1", "run.replications=2", "run.jobs=1", "run.progress=false"]
    assert main([*args, f"hydra.run.dir={run_dir}"]) == 0
    out = capsys.readouterr().out
    assert "estate: single_prison (1 prison) | 1 year | seed" in out
    assert "1 prisons" not in out and "| 1 years |" not in out
    lines = {line.strip().split("  ")[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert re.search(r"People in prison\s+\d[\d,]* people\s+\d[\d,]* to \d[\d,]*$", lines["People in prison"])
    assert re.search(r"buddies active\s+[\d.,]+ buddies", lines["buddies active"])
    transfers = lines["Transfers between prisons (in this estate)"]
    assert re.search(r"\s0 moves a year\s+0 to 0$", transfers), "no transfers within one prison, said plainly"
    assert re.search(
        r"Transfers out of the estate\s+[1-9][\d,]* people a year", lines["Transfers out of the estate"]
    )
    # two replications give a wide t interval whose low end may fall below zero: the wording
    # (a sign, then £k) is what this checks
    assert re.search(r"Total cost\s+£\d+\.\dk a year\s+-?£\d+\.\dk to £\d+\.\dk$", lines["Total cost"])
    assert "£0.1" not in out, "a single prison's cost is not rounded to £0.1m"
    assert "2 replications on 1 core." in out


@pytest.mark.parametrize(
    ("value", "unit", "like", "noun", "text"),
    [
        (9874.3, "people", None, None, "9,874 people"),
        (0.0, "people", None, "buddies", "0 buddies"),
        (9.0, "posts", None, None, "9 posts"),
        (6.5, "people", None, None, "6.5 people"),
        (0.0, "moves/year", None, None, "0 moves a year"),
        (118_340.0, "GBP/year", None, None, "£118.3k a year"),
        (950_000.0, "GBP/year", 1_020_000.0, None, "£0.95m a year"),
        (21_450_000.0, "GBP/year", None, None, "£21.45m a year"),
        (0.0, "GBP/year", None, None, "£0 a year"),
    ],
)
def test_console_numbers_read_sensibly(
    value: float, unit: str, like: float | None, noun: str | None, text: str
) -> None:
    assert results._format(value, unit, like, noun) == text


def test_a_single_run_is_composed_once_and_a_sweep_by_hydra(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single run's model configuration is composed and checked before Hydra starts, and Hydra
    is handed its own settings only (configs/single_run.yaml, hydra.* arguments): the model
    overrides reach the run through cli._checked_run, not through a second composition. A sweep
    still gives Hydra the whole configuration and every override."""
    from simmodel import cli

    seen: list[tuple[str, list[str], object]] = []
    monkeypatch.setattr(
        cli, "_hydra_entry", lambda name="config": seen.append((name, sys.argv[1:], cli._checked_run))
    )
    args = [
        "estate=single_prison",
        "run.years=2",
        "hydra/job_logging=disabled",
        f"hydra.run.dir={isolated}/a",
    ]
    assert main(args) == 0
    name, argv, checked = seen[-1]
    assert name == "single_run"
    assert argv == ["hydra/job_logging=disabled", f"hydra.run.dir='{isolated}/a'"]
    assert checked is not None
    config, overrides = checked  # type: ignore[misc]
    assert (config.run.years, config.estate.name) == (2.0, "single_prison")
    assert overrides == ["estate=single_prison", "run.years=2"]
    assert cli._checked_run is None, "cleared once Hydra returns"

    assert main(["-m", "estate=single_prison", "run.years=1,2"]) == 0
    name, argv, checked = seen[-1]
    assert (name, checked) == ("config", None)
    assert "run.years=1,2" in argv and "estate=single_prison" in argv

    # Hydra composes the model itself where it may sweep or a setting reads a model key
    for extra in ("--multi", "hydra.job.name=run_${scenario}"):
        assert main(["estate=single_prison", extra, f"hydra.run.dir={isolated}/b"]) == 0
        name, argv, checked = seen[-1]
        assert (name, checked) == ("config", None), extra
        assert "estate=single_prison" in argv

"""The report's plots drawn in a helper process: the same figures, and a run that never
depends on the helper (it may be turned off, be unwanted, or die)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import simmodel
from simmodel.outputs import plot_helper, report
from tests.conftest import run_main

SHORT = ["estate=single_prison", "run.years=0.5", "run.warmup_years=0"]


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(monthly series, summary) of a short two-replication run."""
    result = simmodel.run(SHORT, replications=2, jobs=1)
    return result.ensemble.timeseries(), result.ensemble.summary()


@pytest.fixture
def helper_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SIMMODEL_PLOT_HELPER", "1")
    monkeypatch.setattr(plot_helper, "_cores", lambda: 2)
    yield
    plot_helper.stop()


def test_the_helper_draws_the_figures_this_process_would(tables, helper_on) -> None:
    series, summary = tables
    assert plot_helper.submit(series, summary).result() == report.plots(series, summary)  # none started
    plot_helper.start()
    pending = plot_helper.submit(series, summary)
    assert pending._future is not None, "the helper was used"
    images = pending.result()
    assert plot_helper._helper is None, "the helper stops after its report"
    assert [title for title, _ in images] == [title for title, _ in report.plots(series, summary)]
    assert images == report.plots(series, summary), "the same PNG bytes"


def test_a_dead_helper_leaves_the_figures_to_this_process(tables, helper_on) -> None:
    series, summary = tables
    plot_helper.start()
    assert plot_helper._helper is not None
    processes = list(plot_helper._helper._processes.values())  # (ProcessPoolExecutor has no public way)
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=10)
    images = plot_helper.submit(series, summary).result()
    assert images == report.plots(series, summary)
    assert plot_helper._helper is None


@pytest.mark.parametrize(
    ("setting", "cores", "jobs", "expected"),
    [
        ("1", 2, 0, True),
        ("1", 2, 2, True),
        ("0", 2, 0, False),
        ("1", 1, 0, False),
        (" 0 ", 4, 0, False),
        ("1", 4, 1, False),
    ],
)
def test_the_helper_runs_only_where_it_can_help(monkeypatch, setting, cores, jobs, expected) -> None:
    """Not when turned off, on one core, or when the run asks for one process (run.jobs=1)."""
    monkeypatch.setenv("SIMMODEL_PLOT_HELPER", setting)
    monkeypatch.setattr(plot_helper, "_cores", lambda: cores)
    assert plot_helper.wanted(jobs) is expected
    plot_helper.start(jobs)
    assert (plot_helper._helper is not None) is expected
    plot_helper.stop()


def _images(folder: Path) -> list[str]:
    return re.findall(r'<img alt="plot" src="([^"]+)"', (folder / "report.html").read_text(encoding="utf-8"))


def test_a_run_writes_the_same_report_with_or_without_the_helper(workdir, monkeypatch) -> None:
    monkeypatch.setattr(plot_helper, "_cores", lambda: 2)
    used: list[bool] = []
    submit = plot_helper.submit

    def watched(series: pd.DataFrame, summary: pd.DataFrame) -> plot_helper.PendingPlots:
        pending = submit(series, summary)
        used.append(pending._future is not None)
        return pending

    monkeypatch.setattr(plot_helper, "submit", watched)
    reports = {}
    for setting in ("1", "0"):
        monkeypatch.setenv("SIMMODEL_PLOT_HELPER", setting)
        folder = workdir / f"helper{setting}"
        assert run_main([*SHORT, "run.replications=2", f"hydra.run.dir={folder}"]) == 0
        reports[setting] = (folder / "report.html").read_text(encoding="utf-8")
        assert len(_images(folder)) >= 7
    assert used == [True, False], "drawn by the helper, then here"
    assert plot_helper._helper is None, "no helper left running"
    assert reports["1"] == reports["0"]


def test_the_api_never_starts_a_helper_by_itself(tmp_path, helper_on, monkeypatch) -> None:
    """A notebook's or an unguarded script's main module would be imported again by a spawned
    helper (running its simulation twice), so Result.save() draws here unless a command
    started the helper."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the API started a helper process")

    monkeypatch.setattr(plot_helper, "ProcessPoolExecutor", refuse)
    result = simmodel.run(SHORT, replications=1)
    folder = result.save(tmp_path / "run")
    assert len(_images(folder)) >= 7


def test_a_stuck_helper_is_ended_and_the_figures_drawn_here(tables, helper_on, monkeypatch) -> None:
    """A helper that never answers costs the run at most the wait limit, and is ended (so the
    process can exit), not left running."""
    series, summary = tables
    monkeypatch.setattr(plot_helper, "_TIMEOUT", 1.0)
    plot_helper.start()
    processes = list(plot_helper._helper._processes.values())  # (ProcessPoolExecutor has no public way)
    plot_helper._helper.submit(time.sleep, 30)  # keeps the one worker busy
    started = time.monotonic()
    images = plot_helper.submit(series, summary).result()
    assert time.monotonic() - started < 15, "waited about the limit, then drew here"
    assert images == report.plots(series, summary)
    assert plot_helper._helper is None
    for process in processes:
        process.join(timeout=5)
        assert not process.is_alive(), "the stuck helper was ended"


def test_a_failed_simulation_ends_the_helper(workdir, monkeypatch) -> None:
    """No report to draw: the helper started with the simulation is ended with it."""
    from simmodel.experiments import replications

    monkeypatch.setenv("SIMMODEL_PLOT_HELPER", "1")
    monkeypatch.setattr(plot_helper, "_cores", lambda: 2)
    started: list[object] = []
    start = plot_helper.start

    def watched_start(jobs: int = 0) -> None:
        start(jobs)
        started.append(plot_helper._helper)

    def fail(*args: object, **kwargs: object) -> None:
        raise ValueError("no replication finished")

    monkeypatch.setattr(plot_helper, "start", watched_start)
    monkeypatch.setattr(replications, "run_replications", fail)
    assert run_main([*SHORT, f"hydra.run.dir={workdir / 'run'}"]) == 1
    assert started and started[0] is not None, "the helper was started"
    assert plot_helper._helper is None, "and ended"
    assert not started[0]._processes or all(  # type: ignore[attr-defined]
        not process.is_alive()
        for process in started[0]._processes.values()  # type: ignore[attr-defined]
    )


def test_a_signal_while_writing_with_the_helper_keeps_every_file(workdir, monkeypatch, capsys) -> None:
    """Ctrl-C while the helper draws: the writing finishes (with its figures), the run says
    "interrupted", and the helper is gone."""
    import json

    from simmodel import cli

    monkeypatch.setenv("SIMMODEL_PLOT_HELPER", "1")
    monkeypatch.setattr(plot_helper, "_cores", lambda: 2)
    monkeypatch.setattr(cli, "_phase", lambda name: name == "writing" and os.kill(os.getpid(), signal.SIGINT))
    folder = workdir / "run"
    assert run_main([*SHORT, "run.replications=2", f"hydra.run.dir={folder}"]) == 130
    assert "Traceback" not in "".join(capsys.readouterr())
    assert json.loads((folder / "run.json").read_text(encoding="utf-8"))["status"] == "interrupted"
    assert len(_images(folder)) >= 7
    assert plot_helper._helper is None

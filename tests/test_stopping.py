"""Stopping safely: Ctrl-C and SIGTERM at every phase keep what is finished and say so.

A test hook (``cli._phase``) delivers the signal at an exact phase, so nothing here
sleeps to hit a window. In every case the folder ends self-consistent: ``run.json``
says "interrupted", the exit code is the shell's (130 for SIGINT, 143 for SIGTERM),
nothing is printed as a traceback, and no temporary file is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_main

from simmodel import cli
from simmodel.experiments import replications

FAST = (
    "estate=single_prison",
    "run.years=0.25",
    "run.warmup_years=0",
    "run.replications=2",
    "run.progress=false",
)
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def _no_leftovers(run_dir: Path) -> None:
    assert not [p.name for p in run_dir.iterdir() if ".tmp" in p.name or p.name.startswith(".")], list(
        run_dir.iterdir()
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", ["writing", "recording"])
def test_signal_after_the_last_replication_saves_everything_and_says_interrupted(
    phase: str,
    signum: int,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def hook(name: str) -> None:
        if name == phase:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(cli, "_phase", hook)
    run_dir = workdir / "run"
    code = run_main([*FAST, "run.jobs=1", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == CODES[signum]
    assert "Traceback" not in out + err
    record = _record(run_dir)
    assert record["status"] == "interrupted"
    assert record["replications_used"] == 2
    summary = pd.read_csv(run_dir / "summary.csv")
    assert (summary.loc[summary["note"].isna(), "n"] == 2).all(), "both finished replications are saved"
    for name in ("timeseries.csv", "replications.csv", "report.html", "results.xlsx", "config.yaml"):
        assert (run_dir / name).is_file(), name
    _no_leftovers(run_dir)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_before_any_replication_finishes_saves_nothing_but_the_record(
    signum: int, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_phase", lambda name: name == "simulating" and os.kill(os.getpid(), signum))
    run_dir = workdir / "run"
    code = run_main([*FAST, "run.jobs=1", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == CODES[signum]
    assert "Traceback" not in out + err
    assert _record(run_dir)["status"] == "interrupted"
    assert not (run_dir / "summary.csv").exists()
    _no_leftovers(run_dir)


def test_an_interruption_raised_inside_a_simpy_process_stays_an_interruption() -> None:
    """SimPy re-raises a process's exception as a copy made from its arguments."""
    import simpy

    from simmodel.experiments import interrupts

    env = simpy.Environment()

    def process():  # type: ignore[no-untyped-def]
        yield env.timeout(1)
        raise interrupts.Interrupted(signal.SIGTERM)

    env.process(process())
    with pytest.raises(interrupts.Interrupted) as caught:
        env.run()
    assert caught.value.signum == signal.SIGTERM
    assert str(caught.value) == "SIGTERM"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_landing_in_the_daily_lifecycle_says_interrupted_not_failed(
    signum: int, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A signal that lands inside a SimPy process (the daily lifecycle, where a national run
    spends most of its time) stops the run as an interruption, as anywhere else."""
    from simmodel.model.population import Population

    receive = Population._receive

    def signalled_on_day_30(self, day: int) -> None:  # type: ignore[no-untyped-def]
        if day == 30:
            os.kill(os.getpid(), signum)
        receive(self, day)

    monkeypatch.setattr(Population, "_receive", signalled_on_day_30)
    run_dir = workdir / "run"
    code = run_main([*FAST, "run.jobs=1", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == CODES[signum], err
    assert "Traceback" not in out + err and "failed" not in err
    assert _record(run_dir)["status"] == "interrupted"
    _no_leftovers(run_dir)


@pytest.mark.parametrize("jobs", [1, 2])
def test_signal_during_a_replication_keeps_the_ones_before_it(
    jobs: int, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (jobs=1) the running replication stops at once; with workers the parent
    stops waiting, terminates them and keeps the replications already returned."""
    real = replications.simulate
    parent = os.getpid()

    def signalled_during_replication_1(cfg, replication):  # type: ignore[no-untyped-def]
        output = real(cfg, replication)
        if replication == 1 and os.getpid() == parent:
            os.kill(parent, signal.SIGTERM)
            real(cfg, replication)  # still simulating when the signal lands
        return output

    if jobs == 2:  # workers are separate processes: stop the parent while it waits instead
        original_wait = replications.wait

        def wait_then_signal(*args, **kwargs):  # type: ignore[no-untyped-def]
            result = original_wait(*args, **kwargs)
            if any(f.result().replication == 0 for f in result[0]):  # replication 0 is back: now stop
                os.kill(parent, signal.SIGTERM)
            return result

        monkeypatch.setattr(replications, "wait", wait_then_signal)
    else:
        monkeypatch.setattr(replications, "simulate", signalled_during_replication_1)
    run_dir = workdir / "run"
    # six replications: on a loaded machine the other worker may finish several while the first
    # worker (which also pays the start-up) is still on replication 0, but never all five others
    code = run_main([*FAST, "run.replications=6", f"run.jobs={jobs}", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == 143, err
    assert "Traceback" not in out + err
    record = _record(run_dir)
    assert record["status"] == "interrupted"
    assert 1 <= record["replications_used"] < 6
    assert record["replication_numbers"] == list(range(record["replications_used"]))
    _no_leftovers(run_dir)


# ----------------------------------------------------------- whole processes
def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            text = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        kids = {int(k) for k in text.split()}
        found |= kids
        todo.extend(kids)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], set[int]]:
    """A two-worker run long enough to be mid-simulation when we stop it; returns its workers."""
    args = [
        sys.executable,
        "-m",
        "simmodel",
        "estate=single_prison",
        "run.years=40",
        "run.warmup_years=0",
        "run.replications=4",
        "run.jobs=2",
        "run.progress=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = {p for p in _children(process.pid) if b"spawn_main" in _cmdline(p)}
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(1.0)  # let them import and start simulating
    return process, workers


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_to_a_parallel_run_records_interrupted_and_leaves_no_workers(tmp_path: Path) -> None:
    process, workers = _start_long_run(tmp_path)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted"
    assert not _wait_gone(workers, 10), "workers outlived the run"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    process, workers = _start_long_run(tmp_path)
    process.kill()  # SIGKILL: the parent gets no chance to clean up
    process.communicate(timeout=30)
    assert not _wait_gone(workers, 10), "orphaned workers are still running"


def test_every_replication_failing_gives_one_line_and_exit_1(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(cfg, replication):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("a rate with nothing to divide by")

    monkeypatch.setattr(replications, "simulate", broken)
    run_dir = workdir / "run"
    code = run_main([*FAST, "run.jobs=1", f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert lines == [
        "simmodel: error: every replication failed: ZeroDivisionError: a rate with nothing to divide by"
    ]
    record = _record(run_dir)
    assert record["status"] == "failed" and "ZeroDivisionError" in record["error"]
    assert not (run_dir / "summary.csv").exists()

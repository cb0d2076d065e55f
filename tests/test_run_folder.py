"""Output folders: runs never write into the project, over another run, or beside a second writer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_main

from simmodel.cli import EXIT_BAD_INPUT, EXIT_WRITE_FAILED, default_run_folder
from simmodel.outputs import run_folder

FAST = ("estate=single_prison", "run.years=0.25", "run.warmup_years=0", "run.replications=1", "run.jobs=1")
FAST = (*FAST, "run.progress=false")


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("simmodel: error:")
    return lines[0]


def _snapshot(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if ".git" not in p.parts
    }


@pytest.mark.parametrize(
    "where",
    ["configs", "configs/funding", "scenarios", "simmodel", "tests", "tests/hostile/deeper", "REPO", "/", ""],
)
@pytest.mark.parametrize("multirun", [False, True])
def test_project_folders_and_roots_are_refused(
    where: str, multirun: bool, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = (
        "" if where == "" else str(REPO) if where == "REPO" else where if where == "/" else str(REPO / where)
    )
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    before = {name: _snapshot(REPO / name) for name in ("configs", "scenarios", "tests")}
    code = run_main([*(["-m"] if multirun else []), *FAST, f"{key}={folder}"])
    line = _one_line(capsys.readouterr().err)
    assert code == EXIT_BAD_INPUT
    assert "refused" in line
    assert {name: _snapshot(REPO / name) for name in before} == before
    assert not (REPO / "tests" / "hostile" / "deeper").exists()
    assert list(workdir.iterdir()) == []


def test_a_folder_holding_other_files_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = workdir / "notes"
    folder.mkdir()
    (folder / "thesis.docx").write_text("mine", encoding="utf-8")
    code = run_main([*FAST, f"hydra.run.dir={folder}"])
    assert code == EXIT_BAD_INPUT
    assert "thesis.docx" in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.docx"]


@pytest.mark.parametrize("kind", ["file", "proc", "readonly"])
@pytest.mark.parametrize("multirun", [False, True])
def test_a_folder_that_cannot_be_written_gives_one_line_and_exit_1(
    kind: str, multirun: bool, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "file":
        target = workdir / "a_file"
        target.write_text("x", encoding="utf-8")
    elif kind == "proc":
        target = Path("/proc/simmodel_results")
    else:
        locked = workdir / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "run"
        probe = locked / "probe"
        try:
            probe.write_text("x")
            probe.unlink()
            pytest.skip("this user can write into read-only folders (root)")
        except OSError:
            pass
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    code = run_main([*(["-m"] if multirun else []), *FAST, f"{key}={target}"])
    line = _one_line(capsys.readouterr().err)
    assert code == EXIT_WRITE_FAILED, line
    assert "cannot write" in line


def test_a_complete_run_is_never_mixed_with_another(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = workdir / "run"
    assert run_main([*FAST, f"hydra.run.dir={run_dir}"]) == 0
    first = (run_dir / "summary.csv").read_text(encoding="utf-8")
    capsys.readouterr()
    # the same run again is recognised and skipped
    assert run_main([*FAST, f"hydra.run.dir={run_dir}"]) == 0
    assert "skipped" in capsys.readouterr().out
    # another configuration is refused, and the folder is left exactly as it was
    before = _snapshot(run_dir)
    code = run_main([*FAST, "run.seed=7", f"hydra.run.dir={run_dir}"])
    assert code == EXIT_BAD_INPUT
    assert "run.overwrite=true" in _one_line(capsys.readouterr().err)
    assert {k: v for k, v in _snapshot(run_dir).items() if k != "simmodel.log"} == {
        k: v for k, v in before.items() if k != "simmodel.log"
    }
    # with run.overwrite=true the old results go first; then the new run
    assert run_main([*FAST, "run.seed=7", "run.overwrite=true", f"hydra.run.dir={run_dir}"]) == 0
    assert (run_dir / "summary.csv").read_text(encoding="utf-8") != first
    assert json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["seed"] == 7


def test_overwrite_then_interrupt_leaves_no_old_results(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal

    from simmodel import cli

    run_dir = workdir / "run"
    assert run_main([*FAST, f"hydra.run.dir={run_dir}"]) == 0
    monkeypatch.setattr(
        cli, "_phase", lambda name: name == "simulating" and os.kill(os.getpid(), signal.SIGINT)
    )
    code = run_main([*FAST, "run.seed=9", "run.overwrite=true", f"hydra.run.dir={run_dir}"])
    assert code == 130
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted" and record["seed"] == 9
    assert not (run_dir / "summary.csv").exists(), "the old run's results would describe another run"


def test_a_second_run_into_a_locked_folder_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = workdir / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from simmodel.outputs import run_folder; "
            f"run_folder.lock(Path({str(run_dir)!r})); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        code = run_main([*FAST, f"hydra.run.dir={run_dir}"])
        line = _one_line(capsys.readouterr().err)
        assert code == EXIT_BAD_INPUT
        assert f"process {holder.pid}" in line
        assert not (run_dir / "run.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # once the first writer is gone (even killed) the folder is free again
    assert run_main([*FAST, f"hydra.run.dir={run_dir}"]) == 0
    assert not (run_dir / run_folder.LOCK_FILE).exists()


def test_sweep_subdir_cannot_escape_the_sweep_folder(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_main(["-m", *FAST, "hydra.sweep.dir=sweep", "hydra.sweep.subdir=../../configs"])
    assert code == EXIT_BAD_INPUT
    assert "hydra.sweep.subdir" in _one_line(capsys.readouterr().err)
    assert list(workdir.iterdir()) == []


def test_default_run_folders_never_collide(workdir: Path) -> None:
    first = default_run_folder("baseline")
    first.mkdir(parents=True)
    second = default_run_folder("baseline")
    assert second != first and second.name.startswith(first.name)

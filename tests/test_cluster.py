"""Sweeps on a cluster through Hydra's submitit launcher: locally and on a real SLURM.

Slow, and they need the ``cluster`` extra (``pip install -e ".[cluster]"``) and, for
SLURM, Debian's ``slurmd slurmctld slurm-client munge`` and root to start a one-node
cluster on 127.0.0.1 (``tests/slurm/start_slurm.sh``). ``.ci/run`` provides all of it;
elsewhere each test is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_module

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
        reason='needs the cluster extra: pip install -e ".[cluster]"',
    ),
]
SWEEP = (
    "funding=status_quo,la_capacity",
    "estate=single_prison",
    "run.years=0.25",
    "run.warmup_years=0",
    "run.replications=2",
    "run.progress=false",
)


def _simmodel(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "simmodel", "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _check_sweep(cwd: Path) -> Path:
    (sweep,) = (cwd / "results" / "multirun").iterdir()
    table = pd.read_csv(sweep / "comparison.csv")
    assert set(table["option"]) == {"la_capacity"}
    assert sorted(pd.read_csv(sweep / "sweep.csv")["job"].unique()) == [0, 1]
    return sweep


def test_submitit_local_sweep_runs_and_collates(tmp_path: Path) -> None:
    done = _simmodel(["hydra/launcher=submitit_local", *SWEEP], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    sweep = _check_sweep(tmp_path)
    assert (sweep / ".submitit").is_dir(), "the launcher's own folder sits beside the jobs"
    assert "not complete" not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def slurm() -> None:
    if shutil.which("slurmctld") is None or shutil.which("sbatch") is None:
        pytest.skip("SLURM is not installed (apt-get install slurmd slurmctld slurm-client munge)")
    if os.geteuid() != 0:
        pytest.skip("starting a SLURM cluster needs root")
    started = subprocess.run(
        ["bash", str(REPO / "tests" / "slurm" / "start_slurm.sh")], capture_output=True, text=True
    )
    if started.returncode != 0:
        pytest.fail(f"SLURM did not start: {started.stderr[-1500:]}")


def test_slurm_sweep_runs_each_job_on_the_cpus_it_was_given(slurm: None, tmp_path: Path) -> None:
    launcher = [
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=debug",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=null",
        "hydra.launcher.timeout_min=15",
    ]
    done = _simmodel([*launcher, *SWEEP], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    sweep = _check_sweep(tmp_path)
    record = json.loads((sweep / "0" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete"
    assert record["jobs"] == 1, "SLURM gave each job one CPU"


# ------------------------------------------------------------------ design analyses on a launcher
DESIGN = (
    "method=oneway",
    "parameters=regime.window_hours,care.informal_share_of_unlock",
    "estate=single_prison",
    "run.years=0.25",
    "run.warmup_years=0",
    "run.replications=1",
    "progress=false",
)


def _same_as_local(cluster_args: list[str], tmp_path: Path) -> Path:
    local = run_module("simmodel.sensitivity", [*DESIGN, f"out={tmp_path / 'local'}"], tmp_path, timeout=600)
    assert local.returncode == 0, local.stderr[-2000:]
    sent = run_module(
        "simmodel.sensitivity", [*DESIGN, f"out={tmp_path / 'cluster'}", *cluster_args], tmp_path, timeout=600
    )
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "sending 5 points" in sent.stdout
    folder = tmp_path / "cluster"
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "local" / "oneway.csv"), pd.read_csv(folder / "oneway.csv")
    )
    return folder


def test_a_design_sent_to_submitit_local_matches_the_local_run(tmp_path: Path) -> None:
    """The same points, the same random numbers: the cluster's table is the local one, and
    each of the 2 batch jobs kept its own points file."""
    folder = _same_as_local(["launcher=submitit_local", "batches=2"], tmp_path)
    assert sorted(p.name for p in folder.glob("points-*.csv")) == ["points-0000.csv", "points-0001.csv"]


def test_a_design_sent_to_slurm_matches_the_local_run(slurm: None, tmp_path: Path) -> None:
    launcher = [
        "launcher=submitit_slurm",
        "hydra.launcher.partition=debug",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=null",
        "hydra.launcher.timeout_min=15",
    ]
    folder = _same_as_local(launcher, tmp_path)
    assert len(list(folder.glob("points-*.csv"))) == 5  # batches=0: one job per point

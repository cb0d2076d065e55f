"""A built wheel installs into a fresh virtual environment and runs from any folder.

Slow (it builds a wheel and installs simmodel's dependencies into a new venv), so it is
marked slow: ``.ci/run`` runs it, the README's quick test command does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        cwd=root,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("simmodel-*.whl")
    env_dir = root / "venv"
    assert _run([sys.executable, "-m", "venv", str(env_dir)], cwd=root).returncode == 0
    installed = _run([str(env_dir / "bin" / "pip"), "install", "-q", str(wheel)], cwd=root)
    assert installed.returncode == 0, installed.stderr
    return env_dir


def test_the_installed_tool_runs_from_another_folder(venv: Path, tmp_path: Path) -> None:
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import simmodel.paths as p; print(p.CONFIG_DIR)"], tmp_path
    )
    assert "site-packages" in where.stdout, "the installed copy of the configs is used"
    done = _run(
        [
            str(venv / "bin" / "simmodel"),
            "estate=single_prison",
            "run.years=1",
            "run.warmup_years=0",
            "run.replications=1",
            "run.progress=false",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (summary,) = tmp_path.glob("results/baseline/*/summary.csv")
    assert "nonpersonal_unmet_hours_per_week" in summary.read_text(encoding="utf-8")


def test_the_installed_tool_explains_itself(venv: Path, tmp_path: Path) -> None:
    version = _run([str(venv / "bin" / "simmodel"), "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("simmodel ")
    helped = _run([str(venv / "bin" / "python"), "-m", "simmodel", "--help"], tmp_path)
    assert helped.returncode == 0
    for word in ("scenario", "ageing", "funding", "care_coordinator", "README"):
        assert word in helped.stdout
    bad = _run([str(venv / "bin" / "simmodel"), "scenario=nope"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("simmodel: error:")
    assert list(tmp_path.iterdir()) == []

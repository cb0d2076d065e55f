"""Shared helpers: compose a checked configuration, and cached short model runs.

Model tests use the one-prison estate (about 700 people) and short horizons so the
whole suite stays fast; the runs that several tests read are cached for the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

from simmodel.compose import check_overrides
from simmodel.config import Config
from simmodel.model.simulation import RunResult, run_replication

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
CONFIGS = REPO / "configs"

# Fits kept between processes (simmodel/model/fit_cache.py) go to a folder of this test session,
# not the user's cache; the runs the tests start inherit it.
if "SIMMODEL_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SIMMODEL_CACHE_DIR"] = tempfile.mkdtemp(prefix="simmodel-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SIMMODEL_CACHE_DIR"], ignore_errors=True)

# The report's plots are drawn in this process (a helper process costs about 0.5 s of start-up
# per run, hundreds of runs here); tests/test_plot_helper.py turns the helper on where it tests it.
os.environ.setdefault("SIMMODEL_PLOT_HELPER", "0")

#: Prepended to every test configuration; later overrides win (Hydra applies them in order).
DEFAULTS = ("estate=single_prison", "run.years=1", "run.warmup_years=0")

#: A small generated estate (8 prisons of 5 types, about 3,000 people) so that people
#: move between prisons, without the cost of a national run.
TINY_ESTATE = (
    "estate=national",
    "population.initial_population=3000",
    "population.receptions_per_year=2200",
    "population.recalls_per_year=960",  # first receptions : recalls as nationally (64,000 : 28,000)
    "estate.count.local=2",
    "estate.count.cat_b=1",
    "estate.count.cat_c=3",
    "estate.count.open=1",
    "estate.count.high_security=0",
    "estate.count.women=1",
)


def run_module(
    module: str, args: list[str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` in ``cwd`` with this repository on the path; output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_refused(proc: subprocess.CompletedProcess[str], message: str, cwd: Path) -> None:
    """Bad input: exit 2, one line naming the problem (no traceback), and nothing written."""
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (cwd / "results").exists()


def make_config(*overrides: str) -> Config:
    """Checked configuration: the short single-prison defaults, then ``overrides``."""
    return check_overrides([*DEFAULTS, *overrides])


def run(*overrides: str) -> RunResult:
    """One replication of :func:`make_config` ``(*overrides)``."""
    return run_replication(make_config(*overrides))


def reported_totals(result: RunResult) -> np.ndarray:
    """Flow totals over the reported months and all prisons (indexed by Flow)."""
    m = result.metrics
    return m.flows[m.first_reported_month :].sum(axis=(0, 1))


@pytest.fixture(name="make_config")
def make_config_fixture() -> Callable[..., Config]:
    """:func:`make_config` as a fixture."""
    return make_config


@pytest.fixture(scope="session")
def baseline_result() -> RunResult:
    """Baseline scenario, one prison, 1 reported year after a 3-month warm-up.

    The warm-up is non-zero so that tests also cover reporting that starts after month 0.
    """
    return run("run.warmup_years=0.25")


@pytest.fixture(scope="session")
def tiny_estate_result() -> RunResult:
    """A small generated estate, 1 year, no warm-up (transfers between prisons happen)."""
    return run(*TINY_ESTATE)


@pytest.fixture(autouse=True)
def _clear_global_hydra():
    """Each test starts and ends with Hydra uninitialised."""
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder; ``sys.argv`` restored (``cli.main`` sets it for Hydra)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    return tmp_path


@pytest.fixture
def working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder inside ``tmp_path`` (which stays free for what a test puts beside
    it); ``sys.argv`` restored (``cli.main`` sets it for Hydra)."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    return work


def run_main(args: list[str]) -> int:
    """``simmodel ARGS`` in this process; its exit code (also when Hydra's run exits)."""
    from simmodel.cli import main

    try:
        return main(args)
    except SystemExit as stopped:
        return int(stopped.code or 0)


def one_stay(median_days: float, sigma: float, max_days: float = 36_500) -> tuple[str, ...]:
    """Overrides giving every reception one log-normal time in custody (days): every first
    reception in the ``short`` class, not determinate, no recalls; for back tests against
    queueing theory and hand-checked runs."""
    short = "population.custody_classes.short"
    return (
        *(f"population.custody_classes.{c}.share=0" for c in ("remand", "medium", "long", "indeterminate")),
        f"{short}.share=1",
        f"{short}.median_days={median_days}",
        f"{short}.sigma={sigma}",
        f"{short}.min_days=0",
        f"{short}.max_days={max_days}",
        f"{short}.determinate=false",
        "population.recalls_per_year=0",
    )

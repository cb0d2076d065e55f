"""The numpy normal quantile gives scipy.special.ndtri's floats to the bit (so moving off scipy
changed no draw of time in custody), and the run's start-up does not import scipy.special."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from simmodel.model.normal_quantile import _EXP_M2, normal_quantile

#: On x86-64 SciPy's compiled ndtri does each multiply and add apart, as numpy does, so the
#: results must match to the bit. Elsewhere a build may fuse them (one rounding instead of
#: two), which moves a result by a unit or two in the last place: 4 allows for that.
_BIT_EXACT = platform.machine().lower() in ("x86_64", "amd64")
_ULPS_ELSEWHERE = 4


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if _BIT_EXACT:
        return bool(np.array_equal(a.view(np.int64), b.view(np.int64)))
    finite = np.isfinite(b)
    close = np.abs(a[finite] - b[finite]) <= _ULPS_ELSEWHERE * np.spacing(np.abs(b[finite]))
    return bool(close.all() and np.array_equal(a[~finite], b[~finite], equal_nan=True))


@pytest.mark.parametrize(
    "name",
    ["uniform", "lower_tail", "upper_tail", "far_tails", "centre", "edges"],
)
def test_every_branch_matches_scipy_to_the_bit(name: str) -> None:
    rng = np.random.default_rng(20261207)
    p = {
        "uniform": rng.random(400_000),
        "lower_tail": rng.random(200_000) * _EXP_M2,
        "upper_tail": 1.0 - rng.random(200_000) * _EXP_M2,
        "far_tails": np.concatenate(
            [np.exp(-rng.random(100_000) * 700.0), 1.0 - rng.random(100_000) * 1e-14]
        ),
        "centre": 0.5 + (rng.random(200_000) - 0.5) * 1e-6,
        "edges": np.array(
            [
                0.0,
                1.0,
                0.5,
                1e-12,
                1.0 - 1e-12,
                5e-324,
                _EXP_M2,
                1.0 - _EXP_M2,
                np.nextafter(_EXP_M2, 0.0),
                np.nextafter(_EXP_M2, 1.0),
                np.nextafter(1.0 - _EXP_M2, 0.0),
                np.nextafter(1.0 - _EXP_M2, 1.0),
                np.exp(-32.0),  # where the two tail approximations meet (z = 8)
                np.nextafter(np.exp(-32.0), 1.0),
            ]
        ),
    }[name]
    assert _same_bits(normal_quantile(p), ndtri(p))


def test_outside_the_unit_interval_is_nan_and_shape_is_kept() -> None:
    p = np.array([[-0.1, 1.1], [np.nan, 0.25]])
    out = normal_quantile(p)
    assert out.shape == (2, 2)
    assert np.isnan(out[0]).all() and np.isnan(out[1, 0])
    assert out[1, 1] == ndtri(0.25)


def test_a_run_starts_without_scipy_special(tmp_path: Path) -> None:
    """With the fits on disk, simulating imports neither scipy.special nor scipy.optimize (about
    0.3 s and 0.7 s of start-up); the first run stores what the second reads."""
    code = (
        "import sys\n"
        "from simmodel.compose import check_overrides\n"
        "from simmodel.model.simulation import run_replication\n"
        "run_replication(check_overrides(['estate=single_prison', 'run.years=1', 'run.warmup_years=0']))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.special', 'scipy.optimize'))))\n"
    )
    env = {**os.environ, "SIMMODEL_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "scipy.special" in first.stdout  # nothing stored yet: fitted with scipy
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert second.stdout.strip() == "[]", second.stdout

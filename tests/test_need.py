"""Need: exact inversion of Gompertz cumulative hazards, and age bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simmodel.model.need import age_band, gompertz_delay_days

N = 200_000


@pytest.fixture
def unit_exponentials() -> np.ndarray:
    return np.random.default_rng(12345).standard_exponential(N)


@pytest.mark.parametrize("h", [0.02, 0.5])
def test_constant_hazard_gives_exponential_delays(h: float, unit_exponentials: np.ndarray) -> None:
    delays = gompertz_delay_days(h, 0.0, 60.0, 50.0, unit_exponentials)
    mean = 365.0 / h
    # the standard error of the mean of n exponential draws is mean / sqrt(n), about
    # 0.22% for n = 200,000, so a 1% tolerance is more than 4 standard errors
    assert delays.mean() == pytest.approx(mean, rel=0.01)
    # exactly exponential, not just the right mean: the median is mean x ln 2. The
    # sample median's standard error is 1 / (2 f(median) sqrt(n)) = mean / sqrt(n), about
    # 0.32% of the median for n = 200,000, so 2% is more than 6 standard errors
    assert np.median(delays) == pytest.approx(mean * math.log(2), rel=0.02)


def cumulative_hazard(h_ref: float, growth: float, age: float, ref_age: float, days: float) -> float:
    """H(t) for a hazard h_ref x exp(growth x (age + s - ref_age)) per year, s in years."""
    start = h_ref * math.exp(growth * (age - ref_age))
    return start * (math.exp(growth * days / 365.0) - 1.0) / growth


@pytest.mark.parametrize(
    ("h", "growth", "age"), [(0.025, 0.07, 50.0), (0.02, 0.10, 75.0), (0.003, 0.085, 30.0)]
)
def test_gompertz_delays_match_the_cumulative_hazard(
    h: float, growth: float, age: float, unit_exponentials: np.ndarray
) -> None:
    delays = gompertz_delay_days(h, growth, age, 50.0, unit_exponentials)
    for years in (1.0, 5.0, 20.0):
        t = 365.0 * years
        expected = 1.0 - math.exp(-cumulative_hazard(h, growth, age, 50.0, t))
        # the fraction below t is a binomial proportion: its standard error is at most
        # sqrt(0.25 / 200,000) = 0.0011, so 0.01 is about 9 standard errors
        assert np.mean(delays < t) == pytest.approx(expected, abs=0.01)


def test_gompertz_inversion_is_exact() -> None:
    # the delay for unit exponential e satisfies H(delay) = e, with no sampling at all
    e = np.array([0.01, 0.5, 1.0, 3.0])
    delays = gompertz_delay_days(0.025, 0.07, 62.0, 50.0, e)
    hazards = [cumulative_hazard(0.025, 0.07, 62.0, 50.0, d) for d in delays]
    assert np.allclose(hazards, e, rtol=1e-9)


def test_gompertz_vectorises_over_ages() -> None:
    ages = np.array([30.0, 50.0, 70.0])
    delays = gompertz_delay_days(0.025, 0.07, ages, 50.0, np.ones(3))
    assert delays.shape == (3,)
    assert delays[0] > delays[1] > delays[2] > 0, "older people should wait less"


def test_zero_hazard_never_happens() -> None:
    delays = gompertz_delay_days(0.0, 0.07, np.array([40.0, 80.0]), 50.0, np.array([0.1, 2.0]))
    assert np.isinf(delays).all()


@pytest.mark.parametrize(
    ("age", "band"),
    [(17.0, 0), (18, 0), (20.99, 0), (21, 1), (49.9, 4), (50, 5), (69.99, 6), (70, 7), (95, 7)],
)
def test_age_band(age: float, band: int) -> None:
    assert age_band(age) == band


@pytest.mark.parametrize("rate", [0.0, 0.15, 0.6])
def test_one_person_worsening_delay_is_the_vectorised_one_to_the_bit(make_config, rate: float) -> None:
    """The scalar path every change of need takes equals the array path the arrivals take."""
    from simmodel.model.need import NeedModel

    model = NeedModel(make_config(f"need.worsening_rate_per_year={rate}").need)
    e = np.random.default_rng(7).standard_exponential(500)
    for level in range(4):
        vectorised = model.worsening_delay_days(np.full(len(e), level), e)
        scalar = np.array([model.worsening_delay_day(level, x) for x in e.tolist()])
        assert np.array_equal(scalar, vectorised), (level, rate)

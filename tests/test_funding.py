"""Funding options: each moves its parameters the intended way, funds the estate as
described, and its own cost lines reach the cost metrics exactly."""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CONFIGS, TINY_ESTATE, make_config, run
from test_bad_input import assert_one_line_error, run_main

from simmodel.config import Config
from simmodel.model.estate import (
    FORMAL_TRAINED,
    FORMAL_UNTRAINED,
    NO_SCHEME,
    Estate,
    build_estate,
    staff_awareness,
)
from simmodel.model.funding import WEEKS_PER_YEAR, apply_funding, fund_estate, yearly_cost_per_prison
from simmodel.model.simulation import Simulation
from simmodel.model.streams import Streams
from simmodel.outputs import results

OPTIONS = sorted(p.stem for p in (CONFIGS / "funding").glob("*.yaml"))

#: For each option, the model parameters it changes and which way (+1 up, -1 down); every
#: other parameter must stay as it is. Options acting on the estate change none.
EFFECTS: dict[str, dict[str, int]] = {
    "status_quo": {},
    "more_buddy_posts": {"buddies.posts_per_1000_prisoners": +1},
    "new_schemes": {},
    "train_and_supervise": {},
    "care_coordinator": {
        "pathway.screening_sensitivity": +1,
        "pathway.detection_delay_days_mean": -1,
        "pathway.referral_share": +1,
        "pathway.referral_delay_days_mean": -1,
        "buddies.application_days_mean": -1,
        "buddies.interview_days_mean": -1,
    },
    "la_capacity": {
        "pathway.assessors_per_prison": +1,
        "care.provider_capacity_hours_per_week_per_100_places": +1,
    },
    "extended_unlock": {"regime.window_hours": +1},
    "staff_awareness": {},
}
#: Options with their own cost lines: (prison service, local authority).
OWN_COSTS = {
    "care_coordinator": ("prison",),
    "extended_unlock": ("prison",),
    "train_and_supervise": ("prison",),
    "la_capacity": ("local_authority",),
    "staff_awareness": ("prison",),
}


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"group.key": value}`` for every leaf of a config dataclass."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flat(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def model_parameters(cfg: Config) -> dict[str, Any]:
    """Every parameter except the funding option itself."""
    return {k: v for k, v in flat(cfg).items() if not k.startswith("funding.")}


@functools.cache
def option_config(option: str, *overrides: str) -> Config:
    """:func:`make_config` with ``funding=option`` (cached: callers must not change it)."""
    return make_config(f"funding={option}", *overrides)


def option_estate(cfg: Config) -> Estate:
    """The estate a run of ``cfg`` simulates (built and funded from the shared streams)."""
    streams = Streams(cfg.run.seed, 0)
    estate = build_estate(cfg.estate, streams.generator("estate"))
    estate = staff_awareness(estate, cfg.estate.aware_staff_share, streams.generator("staff"))
    return fund_estate(estate, cfg.funding, streams.generator("funding"))


# ---------------------------------------------------------------- the option files
def test_every_option_has_expectations_here() -> None:
    assert "status_quo" in OPTIONS
    assert set(OPTIONS) == set(EFFECTS), "add the new option's expected effects to EFFECTS"


@pytest.mark.parametrize("option", OPTIONS)
def test_option_is_named_after_its_file_and_described(option: str) -> None:
    cfg = option_config(option)
    assert cfg.funding.name == option
    assert cfg.funding.description.strip()


# ----------------------------------------------------------------- apply_funding
@pytest.mark.parametrize("option", OPTIONS)
def test_apply_funding_moves_parameters_in_the_intended_direction(option: str) -> None:
    cfg = option_config(option)
    before = model_parameters(cfg)
    after = model_parameters(apply_funding(cfg))
    assert model_parameters(cfg) == before, "apply_funding must not change its argument"
    changed = {k for k in before if after[k] != before[k]}
    assert changed == set(EFFECTS[option])
    for key, direction in EFFECTS[option].items():
        assert (after[key] - before[key]) * direction > 0, (key, before[key], after[key])


def test_apply_funding_is_the_identity_for_status_quo() -> None:
    cfg = option_config("status_quo")
    assert flat(apply_funding(cfg)) == flat(cfg)


def test_apply_funding_caps_shares_at_one() -> None:
    cfg = make_config("funding.screening_sensitivity_add=0.9", "funding.referral_share_add=0.9")
    funded = apply_funding(cfg)
    assert funded.pathway.screening_sensitivity == 1.0
    assert funded.pathway.referral_share == 1.0


def test_apply_funding_factors_and_additions() -> None:
    cfg = make_config(
        "funding.buddy_posts_factor=2",
        "funding.recruitment_delay_factor=0.5",
        "funding.provider_capacity_factor=3",
        "funding.extra_assessors_per_prison=2",
        "funding.extra_window_hours=0.5",
    )
    funded = apply_funding(cfg)
    assert funded.buddies.posts_per_1000_prisoners == 2 * cfg.buddies.posts_per_1000_prisoners
    assert funded.buddies.application_days_mean == 0.5 * cfg.buddies.application_days_mean
    assert funded.buddies.interview_days_mean == 0.5 * cfg.buddies.interview_days_mean
    assert funded.care.provider_capacity_hours_per_week_per_100_places == pytest.approx(
        3 * cfg.care.provider_capacity_hours_per_week_per_100_places
    )
    assert funded.pathway.assessors_per_prison == cfg.pathway.assessors_per_prison + 2
    assert funded.regime.window_hours == cfg.regime.window_hours + 0.5


def test_the_model_runs_with_the_effects_but_records_the_option_as_given() -> None:
    base = Simulation(option_config("status_quo"), 0)
    more = Simulation(option_config("more_buddy_posts"), 0)
    assert more.cfg.buddies.posts_per_1000_prisoners == 1.5 * base.cfg.buddies.posts_per_1000_prisoners
    assert more.given_cfg.buddies.posts_per_1000_prisoners == base.cfg.buddies.posts_per_1000_prisoners
    capacity = int(base.estate.capacity[0])
    assert base.buddies.posts[0] == math.ceil(base.cfg.buddies.posts_per_1000_prisoners * capacity / 1000)
    assert more.buddies.posts[0] == math.ceil(more.cfg.buddies.posts_per_1000_prisoners * capacity / 1000)
    assert more.buddies.posts[0] > base.buddies.posts[0]


# ------------------------------------------------------------------- fund_estate
@pytest.fixture(scope="module")
def national_estate() -> tuple[Config, Estate]:
    """The generated national estate (120 prisons, 40% with a scheme)."""
    cfg = make_config("estate=national")
    return cfg, build_estate(cfg.estate, Streams(cfg.run.seed, 0).generator("estate"))


def funded(cfg: Config, estate: Estate, **changes: Any) -> Estate:
    funding = dataclasses.replace(cfg.funding, **changes)
    return fund_estate(estate, funding, Streams(cfg.run.seed, 0).generator("funding"))


def test_new_schemes_grow_as_nested_sets(national_estate: tuple[Config, Estate]) -> None:
    cfg, estate = national_estate
    scheme_before = estate.scheme.copy()
    without = int((estate.scheme == NO_SCHEME).sum())
    assert 0 < without < estate.size
    previous: set[int] = set()
    for share in (0.0, 0.05, 0.1, 0.25, 0.5, 0.6, 1.0):
        after = funded(cfg, estate, extra_scheme_share=share)
        new = set(np.flatnonzero((estate.scheme == NO_SCHEME) & (after.scheme != NO_SCHEME)).tolist())
        assert len(new) == min(round(share * estate.size), without), share
        assert previous <= new, f"share {share} should keep every prison a smaller share funded"
        assert (after.scheme[sorted(new)] == FORMAL_UNTRAINED).all(), "new schemes start untrained"
        had = estate.scheme != NO_SCHEME
        assert np.array_equal(after.scheme[had], estate.scheme[had]), "existing schemes unchanged"
        previous = new
    assert (funded(cfg, estate, extra_scheme_share=1.0).scheme != NO_SCHEME).all()
    assert np.array_equal(estate.scheme, scheme_before), "fund_estate must not change its argument"


def test_train_all_schemes_trains_every_scheme_and_adds_none(national_estate: tuple[Config, Estate]) -> None:
    cfg, estate = national_estate
    assert (estate.scheme == FORMAL_UNTRAINED).any(), "precondition: some untrained schemes"
    after = funded(cfg, estate, train_all_schemes=True)
    had = estate.scheme != NO_SCHEME
    assert (after.scheme[had] == FORMAL_TRAINED).all()
    assert (after.scheme[~had] == NO_SCHEME).all()
    both = funded(cfg, estate, train_all_schemes=True, extra_scheme_share=0.2)
    assert (both.scheme[both.scheme != NO_SCHEME] == FORMAL_TRAINED).all(), "new schemes are trained too"
    assert (both.scheme != NO_SCHEME).sum() == had.sum() + round(0.2 * estate.size)


def test_status_quo_leaves_the_estate_alone(national_estate: tuple[Config, Estate]) -> None:
    cfg, estate = national_estate
    assert cfg.funding.name == "status_quo"
    assert np.array_equal(funded(cfg, estate).scheme, estate.scheme)


def test_estate_options_reach_the_simulated_estate() -> None:
    estates = {
        option: Simulation(option_config(option, *TINY_ESTATE), 0).estate
        for option in ("status_quo", "new_schemes", "train_and_supervise", "staff_awareness")
    }
    base = estates["status_quo"]
    assert (base.scheme == NO_SCHEME).any()
    assert (estates["new_schemes"].scheme != NO_SCHEME).all()
    trained = estates["train_and_supervise"].scheme
    assert np.array_equal(trained != NO_SCHEME, base.scheme != NO_SCHEME)
    assert (trained[trained != NO_SCHEME] == FORMAL_TRAINED).all()
    assert np.array_equal(estates["train_and_supervise"].supervised, trained != NO_SCHEME)
    assert not base.aware_staff.all() and estates["staff_awareness"].aware_staff.all()
    assert np.array_equal(estates["staff_awareness"].aware_funded, ~base.aware_staff)
    for estate in estates.values():  # the same prisons: only the schemes differ
        assert np.array_equal(estate.capacity, base.capacity)


# ------------------------------------------------------------------ cost lines
def test_yearly_cost_per_prison_by_hand() -> None:
    cfg = make_config(
        "funding.coordinator_fte_per_prison=0.5",
        "funding.coordinator_cost_per_fte_year=1000",
        "funding.extra_officer_hours_per_prison_per_week=2",
        "costs.officer_hourly_cost=10",
        "funding.programme_cost_per_scheme_per_year=300",
        "funding.extra_assessors_per_prison=2",
        "funding.assessor_retainer_per_year=250",
    )
    estate = Estate(
        names=("a", "b", "c"),
        type=np.zeros(3, dtype=np.int64),
        capacity=np.full(3, 100),
        older_unit=np.zeros(3, dtype=bool),
        scheme=np.array([NO_SCHEME, FORMAL_UNTRAINED, FORMAL_TRAINED]),
    )
    prison_service, local_authority = yearly_cost_per_prison(cfg, estate)
    officers = 2 * 365 / 7 * 10  # 2 hours a week for 52.14 weeks at £10
    assert math.isclose(WEEKS_PER_YEAR, 365 / 7)
    assert prison_service == pytest.approx([500 + officers, 500 + officers + 300, 500 + officers + 300])
    assert local_authority == pytest.approx([500, 500, 500])


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_has_its_own_cost_lines_only_where_expected(option: str) -> None:
    cfg = option_config(option)
    estate = option_estate(cfg)
    prison_service, local_authority = yearly_cost_per_prison(cfg, estate)
    assert prison_service.shape == local_authority.shape == (estate.size,)
    payers = OWN_COSTS.get(option, ())
    assert (prison_service > 0).any() == ("prison" in payers)
    assert (local_authority > 0).any() == ("local_authority" in payers)
    assert (prison_service >= 0).all() and (local_authority >= 0).all()


def summary_of(*overrides: str) -> dict[str, float]:
    """Metric -> value of one replication: one prison, 3-month warm-up, a quarter year."""
    result = run("run.warmup_years=0.25", "run.years=0.25", *overrides)
    return dict(zip(*(results.summary(result)[c] for c in ("metric", "mean")), strict=True))


COST_METRICS = {
    "cost_prison_per_year",
    "cost_local_authority_per_year",
    "cost_nhs_per_year",
    "cost_total_per_year",
    "cost_funding_option_per_year",
}


def test_own_cost_lines_reach_the_cost_metrics_exactly() -> None:
    # Cost-only keys change no behaviour: at one seed every other metric is identical, and
    # the costs differ by exactly the option's lines (the warm-up months are not counted).
    cost_only = (
        "funding.coordinator_fte_per_prison=0.5",
        "funding.extra_officer_hours_per_prison_per_week=10",
        "funding.programme_cost_per_scheme_per_year=1000",
    )
    base, priced = summary_of(), summary_of(*cost_only)
    cfg = make_config(*cost_only)
    prison_service, local_authority = yearly_cost_per_prison(cfg, option_estate(cfg))
    line = float(prison_service.sum())
    assert line > 0 and local_authority.sum() == 0
    for metric in set(base) - COST_METRICS:
        assert base[metric] == priced[metric] or (math.isnan(base[metric]) and math.isnan(priced[metric]))
    assert base["cost_funding_option_per_year"] == 0
    assert priced["cost_funding_option_per_year"] == pytest.approx(line, rel=1e-12)
    assert priced["cost_prison_per_year"] - base["cost_prison_per_year"] == pytest.approx(line, rel=1e-9)
    assert priced["cost_total_per_year"] - base["cost_total_per_year"] == pytest.approx(line, rel=1e-9)
    assert priced["cost_local_authority_per_year"] == base["cost_local_authority_per_year"]
    assert priced["cost_nhs_per_year"] == base["cost_nhs_per_year"]


def test_local_authority_line_reaches_the_local_authority_cost() -> None:
    la, unpaid = (
        summary_of("funding=la_capacity"),
        summary_of("funding=la_capacity", "funding.assessor_retainer_per_year=0"),
    )
    cfg = option_config("la_capacity")
    prison_service, local_authority = yearly_cost_per_prison(cfg, option_estate(cfg))
    assert prison_service.sum() == 0
    line = float(local_authority.sum())
    assert line == cfg.funding.assessor_retainer_per_year * cfg.funding.extra_assessors_per_prison > 0
    assert la["cost_funding_option_per_year"] == pytest.approx(line, rel=1e-12)
    assert la["cost_local_authority_per_year"] - unpaid["cost_local_authority_per_year"] == pytest.approx(
        line
    )
    assert la["cost_prison_per_year"] == unpaid["cost_prison_per_year"]
    assert la["unmet_hours_per_week"] == unpaid["unmet_hours_per_week"]


def test_unmet_hours_are_the_sum_of_both_kinds() -> None:
    s = summary_of("funding=extended_unlock")
    assert s["unmet_hours_per_week"] == pytest.approx(
        s["nonpersonal_unmet_hours_per_week"] + s["personal_unmet_hours_per_week"], rel=1e-12
    )
    assert s["unmet_hours_per_week"] > 0


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["funding=nope"], ["funding", "nope", *OPTIONS]),
        (["funding.nope=1"], ["funding.nope"]),
        (["funding.buddy_posts_factor=-1"], ["funding.buddy_posts_factor"]),
        (["funding.extra_scheme_share=1.5"], ["funding.extra_scheme_share"]),
        (["funding.extra_window_hours=11"], ["funding.extra_window_hours", "24"]),
        (["-m", "funding=status_quo,nope"], ["funding", "nope", "status_quo"]),
    ],
)
def test_bad_funding_input_exits_2_with_one_line(
    overrides: list[str],
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["estate=single_prison", "run.years=0.25", *overrides], capsys)
    assert_one_line_error(code, out, err, words)
    assert list(tmp_path.iterdir()) == []

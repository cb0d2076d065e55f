"""Values that pass validation run to finite results; values that cannot work are refused.

Every numeric field has a finite range; every default and every range written in the
YAML comments lies inside it; run lengths are whole months; combinations that cannot
work are refused with one line; summary metrics are numbers or blank with a note.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIGS, run

from simmodel.compose import check_overrides
from simmodel.config import Config, ConfigError, PrisonSpec, _check_whole_months
from simmodel.experiments.replications import run_replications
from simmodel.model.simulation import run_replication
from simmodel.outputs import results

ONE_MONTH = (
    "estate=single_prison",
    "run.years=0.0833",
    "run.warmup_years=0",
    "run.replications=1",
    "run.jobs=1",
)


def refused(*overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        check_overrides([*ONE_MONTH, *overrides])
    message = str(caught.value)
    assert "\n" not in message and len(message) <= 200, message
    return message


# ---------------------------------------------------------------- the reported cases
#: (override, key the message must name): each crashed, hung or gave nonsense before.
REPORTED = {
    "no men's prison to receive into": (
        "population.transfer_destination_weight.cat_c=0",
        "transfer_destination_weight",
    ),
    "non-personal hours": (
        "need.nonpersonal_hours_per_week.high=1e300",
        "need.nonpersonal_hours_per_week.high",
    ),
    "provider capacity": (
        "care.provider_capacity_hours_per_week_per_100_places=1e300",
        "care.provider_capacity_hours_per_week_per_100_places",
    ),
    "review interval (hung)": ("pathway.review_interval_days=1e-9", "pathway.review_interval_days"),
    "receptions (minutes a year)": (
        "population.receptions_per_year=5000000",
        "population.receptions_per_year",
    ),
    "pay (cost inf)": ("buddies.pay_per_week=1e308", "buddies.pay_per_week"),
    "run length (silently a month)": ("run.years=1e-300", "run.years"),
}


@pytest.mark.parametrize("case", REPORTED)
def test_reported_cases_are_refused_with_one_line(case: str) -> None:
    override, key = REPORTED[case]
    message = refused(override)
    assert key in message


def test_cat_c_weight_zero_runs_where_men_arrive_at_a_local_prison() -> None:
    # the same weight is fine when men are received into local prisons (moves then leave the estate)
    cfg = check_overrides(
        [*ONE_MONTH, "population.transfer_destination_weight.cat_c=0", "estate.prisons.0.type=local"]
    )
    assert_numbers_or_noted(results.summary(run_replication(cfg)))


# --------------------------------------------------------------- every field's range
def numeric_fields(node: type = Config, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in fields(node):
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(default):
            out += numeric_fields(type(default), f"{prefix}{f.name}.")
        elif isinstance(default, list):
            out += numeric_fields(PrisonSpec, f"{prefix}{f.name}.0.")
        elif "choices" not in f.metadata and f.type in ("int", "float"):
            out.append((f"{prefix}{f.name}", dict(f.metadata)))
    return out


NUMERIC = numeric_fields()


def test_every_numeric_field_has_a_finite_range() -> None:
    assert len(NUMERIC) > 150
    for key, meta in NUMERIC:
        assert "lo" in meta and "hi" in meta, key
        assert meta["lo"] is not None and math.isfinite(meta["lo"]), key
        assert meta["hi"] is not None and math.isfinite(meta["hi"]), key
        assert meta["lo"] < meta["hi"], key


def _leaf(cfg: Config, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


RANGES = dict(NUMERIC)
GROUP_OPTIONS = {
    group: sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))
    for group in ("scenario", "estate", "funding")
}


@pytest.mark.parametrize("scenario", GROUP_OPTIONS["scenario"])
@pytest.mark.parametrize("estate", GROUP_OPTIONS["estate"])
def test_every_default_lies_in_its_range(scenario: str, estate: str) -> None:
    for funding in GROUP_OPTIONS["funding"]:
        cfg = check_overrides([f"scenario={scenario}", f"estate={estate}", f"funding={funding}"])
        for key, meta in NUMERIC:
            if ".prisons." in key and not cfg.estate.prisons:
                continue
            value = _leaf(cfg, key)
            assert meta["lo"] <= value <= meta["hi"], (key, value)


_RANGE = re.compile(r"(?:assumption, |range )(\d[\d,]*(?:\.\d+)?)-(\d[\d,]*(?:\.\d+)?)")


def _yaml_ranges() -> list[tuple[str, str, float, float]]:
    """(file, dotted key, low, high) for every 'assumption, A-B' or 'range A-B' on a value's line."""
    found = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        group = path.parent.name
        text = path.read_text(encoding="utf-8")
        prefix = [] if "@package _global_" in text or path.parent == CONFIGS else [group]
        stack: list[tuple[int, str]] = []
        last_key = None
        for line in text.splitlines():
            body, _, comment = line.partition("#")
            match = re.match(r"^(\s*)([A-Za-z_0-9]+):\s*(\S*)", body)
            if match:
                indent = len(match.group(1))
                stack = [(i, k) for i, k in stack if i < indent] + [(indent, match.group(2))]
                last_key = ".".join(prefix + [k for _, k in stack]) if match.group(3) else None
            elif body.strip():
                last_key = None
            ranged = _RANGE.search(comment)
            if ranged and last_key:
                low, high = (float(x.replace(",", "")) for x in ranged.groups())
                found.append((path.name, last_key, low, high))
    return found


YAML_RANGES = _yaml_ranges()


def test_every_plausible_range_in_the_yaml_comments_is_allowed() -> None:
    assert len(YAML_RANGES) > 60
    checked = 0
    for name, key, low, high in YAML_RANGES:
        meta = RANGES.get(key)
        if meta is None:  # a key of a group file seen through a scenario, e.g. population.* in scenarios
            continue
        checked += 1
        assert meta["lo"] <= low <= high <= meta["hi"], (name, key, low, high, meta)
    assert checked > 60


# ---------------------------------------------------------------- whole months
@pytest.mark.parametrize(
    ("override", "suggestions"),
    [
        ("run.years=0.02", ["0.0833 (1 month)"]),
        ("run.years=1e-300", ["0.0833 (1 month)"]),
        ("run.years=1.3", ["1.25 (15 months)", "1.3333 (16 months)"]),
        ("run.warmup_years=0.1", ["0.0833 (1 month)", "0.1667 (2 months)"]),
        ("run.warmup_years=0.01", ["0 (0 months)", "0.0833 (1 month)"]),
    ],
)
def test_run_length_must_be_whole_months(override: str, suggestions: list[str]) -> None:
    message = refused(override)
    assert override.split("=")[0] in message and "whole number of months" in message
    for suggestion in suggestions:
        assert suggestion in message


@pytest.mark.parametrize("years", ["0.0833", "0.25", "1", "1.0833", "10", "99.9167"])
def test_whole_months_are_accepted(years: str) -> None:
    warmup = years if float(years) <= 20 else "0"
    cfg = check_overrides([*ONE_MONTH, f"run.years={years}", f"run.warmup_years={warmup}"])
    assert abs(cfg.run.years * 12 - round(cfg.run.years * 12)) <= 0.01


def test_every_suggested_run_length_is_accepted() -> None:
    # the suggestions are written with 4 decimals: each must pass the rule it comes from
    for months in range(1, 1201):
        _check_whole_months("run.years", float(f"{round(months / 12, 4):g}"), at_least_one=True)


# -------------------------------------------------------------- combination rules
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["population.receptions_per_year=14001"], ["population.receptions_per_year", "20 x", "700 places"]),
        (
            [
                "population.receptions_per_year=10000",
                "population.receptions_growth_per_year=0.5",
                "run.years=1",
            ],
            ["population.receptions_per_year", "receptions_growth_per_year"],
        ),
        (["population.initial_population=1401"], ["population.initial_population", "2 x", "700 places"]),
        (
            ["need.nonpersonal_hours_per_week.high=100", "need.personal_hours_per_week.high=60"],
            ["need.nonpersonal_hours_per_week.high", "168"],
        ),
        (
            ["estate.prisons.0.type=women", "population.transfer_destination_weight.women=0"],
            ["population.transfer_destination_weight", "women"],
        ),
        (
            [
                "estate=national",
                "estate.count.local=0",
                *(
                    f"population.transfer_destination_weight.{t}=0"
                    for t in ("cat_b", "cat_c", "open", "high_security")
                ),
            ],
            ["population.transfer_destination_weight", "cat_b, cat_c, high_security, open"],
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused(overrides: list[str], words: list[str]) -> None:
    message = refused(*overrides)
    for word in words:
        assert word in message, (word, message)


def test_more_buddy_posts_than_places_is_refused() -> None:
    message = refused("buddies.posts_per_1000_prisoners=1000", "funding=more_buddy_posts")
    assert "buddies.posts_per_1000_prisoners" in message and "funding.buddy_posts_factor" in message


def test_limits_themselves_are_allowed() -> None:
    check_overrides(
        [
            *ONE_MONTH,
            "population.receptions_per_year=14000",
            "population.initial_population=1400",
            "population.hold_population=false",  # 14,000 a year would hold ten times the people
        ]
    )
    check_overrides(
        [*ONE_MONTH, "estate.prisons.0.type=local", "population.transfer_destination_weight.cat_c=0"]
    )
    check_overrides(
        [*ONE_MONTH, "population.female_share=1", "population.transfer_destination_weight.cat_c=0"]
    )


def test_flows_that_cannot_hold_the_stock_are_refused_before_the_run() -> None:
    # one prison of 680 people holding steady needs about 330 arrivals a year; 3,000 is 9x that
    with pytest.raises(ConfigError) as err:
        check_overrides([*ONE_MONTH, "population.receptions_per_year=3000"])
    message = str(err.value)
    for words in ("initial_population = 680", "population.steady_state_tolerance", "hold_population"):
        assert words in message, message


def test_custody_classes_must_add_up_and_hold_their_medians() -> None:
    with pytest.raises(ConfigError, match=r"custody_classes shares add up to 1\.2"):
        check_overrides([*ONE_MONTH, "population.custody_classes.short.share=0.25"])
    with pytest.raises(ConfigError, match=r"population\.recall: min_days 7 <= median_days 5"):
        check_overrides([*ONE_MONTH, "population.recall.median_days=5"])
    with pytest.raises(ConfigError, match=r"share_served\.men: floor 0\.6 must be below median 0\.55"):
        check_overrides([*ONE_MONTH, "population.share_served.men.floor=0.6"])


# ---------------------------------------------------------------- no silent NaN
NO_BUDDIES_NO_DEATHS = (
    "buddies.posts_per_1000_prisoners=0",
    "population.death_hazard_at_50_per_year=0",
    "run.years=0.0833",
)


def assert_numbers_or_noted(table: Any) -> None:
    for row in table.itertuples(index=False):
        if math.isnan(row.mean):
            assert isinstance(row.note, str) and row.note, row.metric
        else:
            assert math.isfinite(row.mean), row.metric


def test_no_buddies_and_no_deaths_give_numbers_or_notes() -> None:
    table = results.summary(run(*NO_BUDDIES_NO_DEATHS))
    assert_numbers_or_noted(table)
    values = table.set_index("metric")
    assert values.loc["buddy_turnover_per_year", "mean"] == 0  # no buddies: none lost
    assert values.loc["buddies_active", "mean"] == 0
    assert math.isnan(values.loc["mean_age_at_death", "mean"])
    assert values.loc["mean_age_at_death", "note"] == "undefined: no deaths"
    text = results.console_table(table)
    assert "n/a (no deaths)" in text
    assert "nan" not in text.lower().replace("n/a", "")


def test_an_empty_prison_gives_numbers_or_notes() -> None:
    table = results.summary(run("population.initial_population=0", "population.receptions_per_year=0"))
    assert_numbers_or_noted(table)
    values = table.set_index("metric")
    for share in ("need_prevalence", "population_50_plus_share", "dementia_prevalence_70_plus"):
        assert values.loc[share, "mean"] == 0, share  # nobody in the group: nobody with the attribute


def test_every_undefined_metric_says_why() -> None:
    assert {m.name for m in results.METRICS if m.undefined} == {
        "mean_age_at_death",
        "assessment_wait_days_mean",
        "care_start_delay_days_mean",
        "buddy_turnover_per_year",
        "determinate_time_served_months_mean",
        "safeguarding_incidents_per_1000_peer_care_hours",
    }


def test_ensemble_summary_counts_and_notes_undefined_replications() -> None:
    cfg = check_overrides([*ONE_MONTH, *NO_BUDDIES_NO_DEATHS, "run.replications=3", "run.progress=false"])
    ensemble = run_replications(cfg)
    names = [m.name for m in results.METRICS]
    age = names.index("mean_age_at_death")
    population = names.index("population")
    ensemble.outputs[1].values[age] = 60.0  # as if one replication had deaths
    table = ensemble.summary().set_index("metric")
    row = table.loc["mean_age_at_death"]
    assert row["n"] == 1 and row["mean"] == 60.0
    assert row["note"] == "undefined in 2 of 3 replications: no deaths"
    assert table.loc["population", "n"] == 3 and table.loc["population", "note"] == ""
    assert table.loc["population", "mean"] == pytest.approx(ensemble.values[:, population].mean())
    assert_numbers_or_noted(table.reset_index())
    text = results.console_table(table.reset_index())
    assert "undefined in 2 of 3 replications: no deaths" in text
    ensemble.outputs[1].values[age] = math.nan
    row = ensemble.summary().set_index("metric").loc["mean_age_at_death"]
    assert (
        row["n"] == 0
        and math.isnan(row["mean"])
        and row["note"] == "undefined in 3 of 3 replications: no deaths"
    )


def test_summary_csv_leaves_undefined_values_blank(tmp_path: Path) -> None:
    table = results.summary(run(*NO_BUDDIES_NO_DEATHS))
    text = table.to_csv(index=False)
    assert "nan" not in text.lower()
    assert "mean_age_at_death,years,,undefined: no deaths" in text

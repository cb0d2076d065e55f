"""Every configuration on disk composes, passes the range checks and names its sources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import CONFIGS, SCENARIOS
from omegaconf import OmegaConf

from simmodel.compose import check_overrides, compose_config
from simmodel.config import Config, ConfigError, check_ranges
from simmodel.outputs import results

SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
#: (group, option) for every option file of every config group; ``scenario`` is a
#: symlink to scenarios/ and is covered by the scenario tests.
GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONFIGS.iterdir()
    if group.is_dir() and not group.is_symlink() and group.name != "scenario"
    for option in group.glob("*.yaml")
)
ESTATES = sorted(p.stem for p in (CONFIGS / "estate").glob("*.yaml"))
CONFIG_FILES = sorted(
    p for p in CONFIGS.rglob("*.yaml") if "scenario" not in p.relative_to(CONFIGS).parts[:-1]
)
#: Files whose numbers must name a source: every config group, and every scenario. Not
#: configs/targets.yaml: its numbers are the public figures themselves, each target naming its
#: source in a field of its own (tests/test_targets.py checks that every target has one).
SOURCED_FILES = [p for p in CONFIG_FILES if p.name != "targets.yaml"] + sorted(SCENARIOS.glob("*.yaml"))


def _compose_checked(overrides: list[str]) -> Config:
    cfg = compose_config(overrides)
    check_ranges(cfg)  # raises ConfigError naming the key
    node = OmegaConf.to_object(cfg)
    assert isinstance(node, Config)
    return node


def test_discovery_found_the_files() -> None:
    # guards the parametrisations below against silently covering nothing
    assert {"baseline", "ageing"} <= set(SCENARIO_NAMES)
    assert {"single_prison", "national"} <= set(ESTATES)
    assert len(GROUP_OPTIONS) >= 9
    assert CONFIGS / "config.yaml" in CONFIG_FILES


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_scenario_composes_and_is_in_range(name: str) -> None:
    node = _compose_checked([f"scenario={name}"])
    assert node.scenario == name, "a scenario file should set `scenario:` to its own file name"


@pytest.mark.parametrize("estate", ESTATES)
def test_every_estate_composes_and_is_in_range(estate: str) -> None:
    node = _compose_checked([f"estate={estate}"])
    assert node.estate.name == estate
    assert node.estate.prisons or sum(node.estate.count.as_tuple()) > 0, "an estate needs prisons"


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes_and_is_in_range(group: str, option: str) -> None:
    _compose_checked([f"{group}={option}"])


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_scenario_composes_with_every_estate(name: str) -> None:
    for estate in ESTATES:
        _compose_checked([f"scenario={name}", f"estate={estate}"])


def test_ageing_changes_population_growth() -> None:
    base = _compose_checked(["scenario=baseline"]).population
    ageing = _compose_checked(["scenario=ageing"]).population
    growth = (
        "receptions_growth_per_year",
        "older_long_receptions_growth_per_year",
        "long_time_served_stretch_per_year",
        "older_indeterminate_parole_refusal",
    )
    changed = [k for k in growth if getattr(ageing, k) != getattr(base, k)]
    assert changed, "the ageing scenario should change at least one population growth parameter"
    assert all(getattr(ageing, k) > getattr(base, k) for k in changed), "ageing means more growth"


# ------------------------------------------------------------ sources of the numbers
#: Words that name where a number comes from (configs/config.yaml: every number names
#: its source in public_figures.md [Snn], seed_facts.md, a document code, or says
#: `assumption`).
SOURCE_TOKENS = ("[S", "seed_facts", "public_figures", "HSMC07", "W25", "QA23", "assumption")
#: Run controls are choices of the user, not model inputs with a source.
RUN_CONTROLS = {
    ("run/default.yaml", key)
    for key in (
        "years",
        "seed",
        "replications",
        "first_replication",
        "jobs",
        "target_half_width",
        "max_replications",
    )
}
_NUMERIC = re.compile(
    r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[A-Za-z_]\w*):\s*"
    r"(?P<value>[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<comment>#.*)?$"
)
_KEY = re.compile(
    r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z_]\w*):\s*(?P<rest>[^#]*?)\s*(?P<comment>#.*)?$"
)


def _names_source(comment: str | None) -> bool:
    return comment is not None and any(token in comment for token in SOURCE_TOKENS)


def unsourced_numbers(path: Path) -> list[str]:
    """Dotted keys of numeric values in ``path`` without a source.

    A number is sourced by its own trailing comment, by comment-only lines continuing
    that comment just below it, or (for nested mappings) by the comment on the line of
    any enclosing mapping key.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    gaps = []
    for i, line in enumerate(lines):
        match = _NUMERIC.match(line)
        if not match:
            continue
        sourced = _names_source(match["comment"])
        j = i + 1  # a trailing comment continued on the next lines
        while not sourced and j < len(lines) and lines[j].lstrip().startswith("#"):
            sourced = _names_source(lines[j])
            j += 1
        parents = []
        depth = len(match["indent"]) + (2 if line.lstrip().startswith("- ") else 0)
        for above in reversed(lines[:i]):
            key = _KEY.match(above)
            if not key or not above.strip() or above.lstrip().startswith("#"):
                continue
            indent = len(key["indent"])
            if indent < depth and (key["rest"] == "" or key["dash"]):
                if key["rest"] == "":  # an enclosing mapping or list key
                    parents.append(key["key"])
                    sourced = sourced or _names_source(key["comment"])
                depth = indent
            if depth == 0:
                break
        if not sourced:
            gaps.append(".".join([*reversed(parents), match["key"]]))
    return gaps


def _all_gaps() -> set[tuple[str, str]]:
    found = set()
    for path in SOURCED_FILES:
        rel = path.relative_to(path.parent.parent).as_posix()
        found |= {(rel, key) for key in unsourced_numbers(path)}
    return found - RUN_CONTROLS


def test_source_checker_sees_nested_and_continued_comments(tmp_path: Path) -> None:
    sample = tmp_path / "sample.yaml"
    sample.write_text(
        "a: 1            # from [S01]\n"
        "b: 2            # no source here\n"
        "c: 3            # long comment\n"
        "                # continued: assumption\n"
        "d:              # parent names it (assumption)\n"
        "  x: 4\n"
        "e:              # parent without a source\n"
        "  y: 5\n"
        "  z: 6          # seed_facts.md Q-1\n"
        "f: 7\n",
        encoding="utf-8",
    )
    assert unsourced_numbers(sample) == ["b", "e.y", "f"]


def test_every_number_names_a_source() -> None:
    assert not sorted(_all_gaps())


#: What an ageing scenario may set: the four mechanisms and when the trends end (issue 16:
#: growth comes from mechanisms, never from a multiplier on counts or age weights).
AGEING_KEYS = {
    "trend_years",
    "receptions_growth_per_year",
    "older_long_receptions_growth_per_year",
    "long_time_served_stretch_per_year",
    "older_indeterminate_parole_refusal",
}


@pytest.mark.parametrize("name", [n for n in SCENARIO_NAMES if n.startswith("ageing")])
def test_ageing_scenarios_set_only_the_growth_mechanisms(name: str) -> None:
    data = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"scenario", "description", "population"}, set(data)
    assert set(data["population"]) <= AGEING_KEYS, set(data["population"]) - AGEING_KEYS


@pytest.mark.parametrize(
    "key",
    [
        "population.stay_median_days",
        "population.stay_sigma",
        "population.stay_factor_by_band.b70_plus",
        "population.older_receptions_growth_per_year",
        "population.stay_growth_per_year",
    ],
)
def test_retired_population_keys_are_refused(key: str) -> None:
    retired = key.split(".")[1]  # the message names the first part that is not a key
    with pytest.raises(ConfigError, match=f"Unknown key 'population.{retired}'"):
        check_overrides(["estate=single_prison", f"{key}=1"])


FUNDING_OPTIONS = [o for g, o in GROUP_OPTIONS if g == "funding"]


@pytest.mark.parametrize(
    "overrides",
    [[f"estate={e}"] for e in ESTATES] + [[f"funding={f}", "estate=single_prison"] for f in FUNDING_OPTIONS],
    ids=lambda o: ",".join(o),
)
def test_a_run_s_config_yaml_is_omegaconf_s_text(overrides: list[str]) -> None:
    # config.yaml is written from the checked dataclass without OmegaConf (0.1 s saved a run);
    # the estates and funding options hold every kind of value (lists, nested dicts, None,
    # strings that look like numbers), so any difference from OmegaConf's text shows here
    cfg = check_overrides(overrides)
    node = OmegaConf.structured(cfg)
    assert results.resolved_yaml(cfg) == OmegaConf.to_yaml(node, resolve=True)
    assert results.config_data(cfg) == OmegaConf.to_container(node, resolve=True)


def test_a_changed_configuration_is_written_as_omegaconf_writes_it() -> None:
    # a value of another type than its field's (the API lets code set one after the checks)
    # is written as OmegaConf converts it: 20 as 20.0, a tuple as a list
    cfg = check_overrides(["estate=single_prison"])
    cfg.buddies.pay_per_week = 20  # type: ignore[assignment]
    cfg.estate.prisons = tuple(cfg.estate.prisons)  # type: ignore[assignment]
    text = results.resolved_yaml(cfg)
    assert text == OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True)
    assert "pay_per_week: 20.0" in text and "!!python/tuple" not in text

"""Fuzzing the command line: random overrides and random scenario files either give a
valid configuration or exactly one clean, one-line error (never a traceback, never a
half-written results folder).

Scenario files are written into a temporary copy of ``configs/`` (with ``scenario``
pointing at a temporary scenarios folder), so the real ``scenarios/`` is never touched.
Hypothesis runs derandomized: the examples are the same on every run.
"""

from __future__ import annotations

import shutil
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from conftest import CONFIGS, SCENARIOS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simmodel import compose
from simmodel.cli import EXIT_BAD_INPUT, main
from simmodel.compose import check_overrides
from simmodel.config import Config, ConfigError

#: Appended to every command so a valid run takes a fraction of a second.
FAST = ("estate=single_prison", "run.years=0.0833", "run.warmup_years=0", "run.replications=1", "run.jobs=1")


def _leaf_keys(node: type, prefix: str = "") -> list[str]:
    """Every scalar key of the schema, dotted (lists of prisons left out)."""
    keys = []
    for f in fields(node):
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(default):
            keys += _leaf_keys(type(default), f"{prefix}{f.name}.")
        elif not isinstance(default, list):
            keys.append(f"{prefix}{f.name}")
    return keys


#: ``scenario`` is a config group as well as a key: group options are drawn separately.
KEYS = [key for key in _leaf_keys(Config) if key != "scenario"]


def _reads_as_number(text: str) -> bool:
    try:
        float(text.replace("_", "x"))  # Hydra reads 1_000 as 1000, but 1_a as a string
    except ValueError:
        return False
    return True


GROUPS = ("scenario", "funding", "estate", "population", "pathway", "buddies", "run")
# Values a user might type: numbers of every size and sign, words, nothing, booleans,
# and characters that mean something to Hydra's override grammar.
VALUES = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "true", "false", "null", "abc", "1e400", "-0", "0x10", "[]", "{}", "[1,2]", "'x'"]),
    st.sampled_from(["nan", "inf", "-inf", "1.5", "0.5", "2", "0", "-1", "1000000000000", "${run.seed}"]),
    st.text(alphabet="abz019 .,=-_:[]{}'\"$\\", max_size=8),
)
OPTION_NAMES = st.text(alphabet="abcz_019", max_size=10).filter(lambda name: not _reads_as_number(name))
OVERRIDE = st.one_of(
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.sampled_from(KEYS), st.text(alphabet="abcxyz_", min_size=1, max_size=6)).map(
        lambda kv: f"{kv[0].rsplit('.', 1)[0]}.{kv[1]}=1"  # unknown key next to a known one
    ),
    # unknown (or empty) group option; names that read as numbers are left to
    # test_numeric_group_option_names_the_group (a known bug)
    st.tuples(st.sampled_from(GROUPS), OPTION_NAMES).map(lambda gv: f"{gv[0]}={gv[1]}"),
    st.sampled_from(
        ["scenario=ageing", "funding=la_capacity", "estate=national", "+run.extra=1", "~run.seed"]
    ),
)


def assert_clean_config_error(exc: ConfigError, words: list[str]) -> None:
    message = str(exc)
    assert message, "an error needs a message"
    assert "\n" not in message, f"message is not one line: {message!r}"
    assert "Traceback" not in message
    assert any(word in message for word in words), f"none of {words} in {message!r}"


def _names_in(override: str) -> list[str]:
    """Words one of which the error for ``override`` should name: its key, its group or value."""
    key, _, value = override.lstrip("+~").partition("=")
    words = [key, key.split(".")[-1]]
    if value.strip():
        words.append(value.strip())
    return words


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(overrides=st.lists(OVERRIDE, min_size=1, max_size=3))
def test_random_overrides_give_a_config_or_one_clean_error(overrides: list[str]) -> None:
    try:
        cfg = check_overrides(["estate=single_prison", *overrides])
    except ConfigError as exc:
        words = [w for o in overrides for w in _names_in(o)]
        # errors that involve several keys name their rule instead of one override
        words += ["stock_age_shares", "level_shares", "windows_per_day", "max_replications", "estate"]
        assert_clean_config_error(exc, words)
    else:
        assert isinstance(cfg, Config)


@pytest.mark.parametrize("override", ["scenario=0", "funding=1", "estate=2"])
def test_numeric_group_option_names_the_group(override: str) -> None:
    group = override.split("=")[0]
    with pytest.raises(ConfigError) as raised:
        check_overrides(["estate=single_prison", override])
    assert_clean_config_error(raised.value, [group])


# ------------------------------------------------------------------ scenario files
@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of configs/ whose ``scenario`` folder is a temporary scenarios folder."""
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs, symlinks=True, ignore=shutil.ignore_patterns("scenario"))
    scenarios = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, scenarios)
    (configs / "scenario").symlink_to(scenarios, target_is_directory=True)
    monkeypatch.setattr(compose, "CONFIG_DIR", configs)
    return scenarios


def _nested(key: str, value: str) -> str:
    """YAML for ``key: value`` with the dotted key written as nested mappings."""
    parts = key.split(".")
    lines = [f"{'  ' * i}{part}:" for i, part in enumerate(parts[:-1])]
    shown = value if value.strip() else "''"
    lines.append(f"{'  ' * (len(parts) - 1)}{parts[-1]}: {shown}")
    return "\n".join(lines) + "\n"


def _unknown_next_to(key: str, leaf: str) -> str:
    return f"{key.rsplit('.', 1)[0]}.{leaf}" if "." in key else leaf


#: (file body, words one of which the error must contain)
SCENARIO_BODIES = st.one_of(
    # valid keys, random values: an error names the key
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: (_nested(*kv), [kv[0]])),
    # keys that do not exist: the error names the key
    st.tuples(st.sampled_from(KEYS), st.text(alphabet="qxz_", min_size=1, max_size=5)).map(
        lambda kv: (_nested(_unknown_next_to(*kv), "1"), [_unknown_next_to(*kv)])
    ),
    # not YAML, or YAML of the wrong shape: the error names the file or says YAML
    st.sampled_from(
        [
            "population:\n  receptions_per_year: [1, 2\n",
            "population: : :\n",
            "- a\n- b\n",
            "just a string\n",
            "population:\n\treceptions_per_year: 5\n",
            "",
            "population: 5\n",
            "run:\n  seed: {a: 1}\n",
            "'unterminated\n",
        ]
    ).map(lambda body: (body, ["population", "run.seed"])),
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=SCENARIO_BODIES, header=st.booleans())
def test_random_scenario_files_give_a_config_or_one_clean_error(
    config_copy: Path, case: tuple[str, list[str]], header: bool
) -> None:
    body, words = case
    name = "zz_fuzz"
    text = ("# @package _global_\n" if header else "") + f"scenario: {name}\n" + body
    (config_copy / f"{name}.yaml").write_text(text, encoding="utf-8")
    try:
        cfg = check_overrides(["estate=single_prison", f"scenario={name}"])
    except ConfigError as exc:
        # errors involving several keys name their rule rather than one key
        rules = ["stock_age_shares", "level_shares", "windows_per_day", "max_replications", "estate"]
        assert_clean_config_error(exc, [name, "YAML", *words, *rules])
    else:
        assert isinstance(cfg, Config)


def test_scenario_file_with_unknown_key_names_the_key_and_the_file(config_copy: Path) -> None:
    (config_copy / "zz_unknown.yaml").write_text(
        "# @package _global_\nscenario: zz_unknown\nbuddies:\n  pay_per_wek: 12\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        check_overrides(["estate=single_prison", "scenario=zz_unknown"])
    message = str(raised.value)
    assert "\n" not in message
    assert "buddies.pay_per_wek" in message
    assert "zz_unknown" in message


def test_scenario_file_copy_leaves_the_real_scenarios_alone(config_copy: Path) -> None:
    (config_copy / "zz_probe.yaml").write_text("# @package _global_\nscenario: zz_probe\n", encoding="utf-8")
    assert check_overrides(["estate=single_prison", "scenario=zz_probe"]).scenario == "zz_probe"
    assert not (SCENARIOS / "zz_probe.yaml").exists()


# -------------------------------------------------------------------- through main
#: Values for runs through ``main``: the same kinds, but of moderate size, so a valid run
#: stays small (huge population sizes are covered by test_huge_population_is_a_clean_error).
MODERATE_VALUES = st.one_of(
    st.integers(min_value=-1000, max_value=1000).map(str),
    st.floats(min_value=-1e3, max_value=1e3).map(repr),
    st.sampled_from(["", "true", "false", "null", "abc", "nan", "inf", "-1", "[]", "${run.seed}"]),
)
MAIN_OVERRIDE = st.one_of(
    st.tuples(st.sampled_from(KEYS), MODERATE_VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.sampled_from(GROUPS), OPTION_NAMES).map(lambda gv: f"{gv[0]}={gv[1]}"),
    st.sampled_from(["buddies.pay_per_wek=12", "+run.extra=1", "funding=la_capacity"]),
)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(overrides=st.lists(MAIN_OVERRIDE, min_size=1, max_size=2))
def test_main_exits_2_with_one_line_or_runs(
    working_folder: Path, capsys: pytest.CaptureFixture[str], overrides: list[str]
) -> None:
    run_dir = working_folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    # the fast settings come last, so they win over a fuzzed value of the same key
    args = [*overrides, *FAST, "run.progress=false", f"hydra.run.dir={run_dir}"]
    try:
        code = main(args)
    except SystemExit as stopped:  # raised inside Hydra's run: only for bad input
        code = stopped.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        assert (run_dir / "summary.csv").is_file()
        shutil.rmtree(run_dir)
    else:
        assert code == EXIT_BAD_INPUT, (code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("simmodel: error:")
        assert not run_dir.exists(), "nothing is written for bad input"
    assert list(working_folder.iterdir()) == [], "nothing is written outside hydra.run.dir"


def test_huge_population_is_a_clean_error(working_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = working_folder / "run"
    args = [*FAST, "population.initial_population=100000000000000", f"hydra.run.dir={run_dir}"]
    try:
        code = main(args)
    except SystemExit as stopped:
        code = stopped.code
    except MemoryError:
        code = "MemoryError"
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.strip().startswith("simmodel: error:") and "population.initial_population" in err
    assert not run_dir.exists()

"""Bulk fuzzing of the validation path: thousands of override lines and scenario files.

A seeded generator (the same cases on every run) writes override lines and scenario
files of the kinds a hurried or hostile user produces: every schema key with values of
every sort, unknown keys, group options, Hydra grammar, resolvers, tags, anchors and
broken YAML. Each goes through :func:`simmodel.compose.check_overrides`, the function the
command line runs before anything else (a :class:`ConfigError` there is exit 2). Each
must give a configuration or one readable line: no other exception, at most 200
characters, none of the parser's jargon.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_fuzz import KEYS  # every scalar key of the schema but the scenario group

from simmodel.compose import MESSAGE_LIMIT, check_overrides
from simmodel.config import ConfigError

SEED = 20261203
OVERRIDE_LINES = 1_850
SCENARIO_FILES = 150  # 2,000 cases in all; a file costs a Hydra composition (0.15 s)
#: Words from Hydra's and OmegaConf's internals that mean nothing to a planner.
JARGON = (
    "mismatched input",
    "no viable alternative",
    "extraneous input",
    "missing EQUAL",
    "LexerNoViableAlt",
    "token recognition",
    "full_key",
    "object_type",
    "reference_type",
    "$VALUE",
    "Error merging",
    "hydra.cc",
    "<EOF>",
    "Traceback",
)


GROUPS = ("scenario", "funding", "estate", "population", "need", "pathway", "buddies", "regime", "run")
VALUES = (
    "0",
    "1",
    "-1",
    "2",
    "0.5",
    "-0.0",
    "1e300",
    "-1e300",
    "1e-300",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "100000000000000000000",
    "3.14159",
    "1_000",
    "0x1F",
    "",
    "true",
    "false",
    "null",
    "abc",
    "[]",
    "{}",
    "[1,2]",
    "{a: 1}",
    "'quoted'",
    '"dq"',
    "${run.seed}",
    "${oc.env:HOME}",
    "${oc.decode:'1'}",
    "${now:%Y}",
    "${hydra:runtime.cwd}",
    "${nope.key}",
    "${run.nope}",
    "a b",
    "[1,",
    "'unterminated",
    "=",
    "==",
    "a=b",
    "é",
    "💥",
    "glob(*)",
    "range(1,3)",
    "choice(1,2)",
    "interval(0,1)",
    "\\",
    "$",
    "${",
    "}",
    "@x",
    "!!str 1",
    "-",
    "+",
    "~",
    "../../etc",
    "/tmp/x",
    "0,1,2",
    "[" * 2000 + "]" * 2000,  # deep enough to exhaust a recursive parser
    "{a: " * 500 + "1" + "}" * 500,
)


def _random_value(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(VALUES)
    return "".join(rng.choice("az09 .,=-_:[]{}'\"$\\@!%*()") for _ in range(rng.randint(0, 8)))


def _override_line(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        line = f"{rng.choice(KEYS)}={_random_value(rng)}"
    elif kind < 0.65:
        key = rng.choice(KEYS)
        line = f"{key.rsplit('.', 1)[0]}.{rng.choice(['x', 'nope', 'pay', '0', 'a_b'])}={_random_value(rng)}"
    elif kind < 0.78:
        option = rng.choice(["ageing", "baseline", "national", "status_quo", "x", "", "0", "../x"])
        line = f"{rng.choice(GROUPS)}={option}"
    elif kind < 0.88:
        line = f"{rng.choice(['+', '++', '~', ''])}{rng.choice(KEYS + list(GROUPS))}={_random_value(rng)}"
    else:
        line = "".join(rng.choice("abz09 .=+~@/[]{}$'\"") for _ in range(rng.randint(0, 14)))
    return line


def _nested(key: str, value: str) -> str:
    parts = key.split(".")
    lines = [f"{'  ' * i}{part}:" for i, part in enumerate(parts[:-1])]
    return "\n".join([*lines, f"{'  ' * (len(parts) - 1)}{parts[-1]}: {value or chr(39) * 2}"]) + "\n"


def _scenario_file(rng: random.Random, name: str) -> str:
    header = rng.choice(["# @package _global_\n", "# @package _global_\n", "", "# @package hydra\n"])
    body = f"scenario: {name}\n"
    for _ in range(rng.randint(0, 3)):
        kind = rng.random()
        if kind < 0.6:
            body += _nested(rng.choice(KEYS), _random_value(rng))
        elif kind < 0.7:
            body += _nested(f"{rng.choice(KEYS).rsplit('.', 1)[0]}.zz_unknown", "1")
        else:
            body += rng.choice(
                [
                    "population: : :\n",
                    "population:\n  receptions_per_year: [1, 2\n",
                    "- a\n- b\n",
                    "hydra:\n  job:\n    env_set:\n      X: '1'\n",
                    "defaults:\n  - override /hydra/job_logging: none\n",
                    "description: !!python/object/apply:os.getcwd []\n",
                    "x: &a [1, 2]\ny: *a\n",
                    "run:\n\tseed: 5\n",
                    "description: ${oc.env:HOME}\n",
                    "'unterminated\n",
                    "population: 5\n",
                ]
            )
    return header + body


def _assert_clean(exc: ConfigError, case: str) -> None:
    message = str(exc)
    assert message and "\n" not in message, (case, message)
    assert len(message) <= MESSAGE_LIMIT, (case, len(message), message)
    bad = [word for word in JARGON if word in message]
    assert not bad, (case, bad, message)


@pytest.mark.slow  # several seconds: .ci/run runs it, the quick command does not
def test_thousands_of_override_lines_give_a_config_or_one_clean_line() -> None:
    rng = random.Random(SEED)
    outcomes = {"config": 0, "error": 0}
    for _ in range(OVERRIDE_LINES):
        line = _override_line(rng)
        try:
            check_overrides(["estate=single_prison", line])
        except ConfigError as exc:
            _assert_clean(exc, line)
            outcomes["error"] += 1
        else:
            outcomes["config"] += 1
    # the generator must exercise both outcomes, or it tests little. Since issue 16 more random
    # values are refused (a day-0 population and receptions more than 1.5x apart cannot hold a
    # steady state): at this seed 93 of 1,850 lines give a configuration (over 100 before)
    assert outcomes["config"] > 80 and outcomes["error"] > 500, outcomes


@pytest.mark.slow  # several seconds: .ci/run runs it, the quick command does not
def test_scenario_files_give_a_config_or_one_clean_line(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    outcomes = {"config": 0, "error": 0}
    for i in range(SCENARIO_FILES):
        name = f"fz{i}"
        path = user / "scenario" / f"{name}.yaml"
        text = _scenario_file(rng, name)
        path.write_text(text, encoding="utf-8")
        try:
            check_overrides([f"scenario={name}", "estate=single_prison"], (user,))
        except ConfigError as exc:
            _assert_clean(exc, text)
            outcomes["error"] += 1
        else:
            outcomes["config"] += 1
        finally:
            path.unlink()
    assert outcomes["config"] > 10 and outcomes["error"] > 50, outcomes

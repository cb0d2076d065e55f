"""Bad input stops the command line with exit code 2, one line naming the key, no
traceback, and nothing written under results/."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SCENARIOS

from simmodel.cli import EXIT_BAD_INPUT, main
from simmodel.compose import check_overrides
from simmodel.config import ConfigError

#: (overrides, words the one-line message must contain)
CASES = {
    "unknown scenario": (
        ["scenario=no_such_scenario"],
        ["scenario", "no_such_scenario", "ageing", "baseline"],
    ),
    "unknown top-level key": (["nope=1"], ["nope"]),
    "unknown nested key": (["buddies.nope=1"], ["buddies.nope"]),
    "wrong type": (["buddies.pay_per_week=abc"], ["buddies.pay_per_week", "abc"]),
    "negative rate": (["population.receptions_per_year=-5"], ["population.receptions_per_year"]),
    "share above 1": (["population.female_share=1.5"], ["population.female_share"]),
    "choice not allowed": (["buddies.priority=random"], ["buddies.priority", "recorded_first"]),
    "unknown estate": (["estate=no_such_estate"], ["estate", "no_such_estate", "single_prison"]),
    "windows longer than a day": (["regime.window_hours=20"], ["regime.window_hours"]),
    "zero run length": (["run.years=0"], ["run.years"]),
}


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, words: list[str]) -> str:
    assert code == EXIT_BAD_INPUT == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    line = lines[0]
    assert line.startswith("simmodel: error:")
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert "Traceback" not in out + err
    return line


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder so a relative results/ would be created there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_bad_override_exits_2_with_one_line(
    case: str, empty_cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides, words = CASES[case]
    code, out, err = run_main(["estate=single_prison", "run.years=0.25", *overrides], capsys)
    assert_one_line_error(code, out, err, words)
    assert not (empty_cwd / "results").exists()
    assert list(empty_cwd.iterdir()) == []


@pytest.fixture
def scenario_file(tmp_path_factory: pytest.TempPathFactory):
    """Write a scenario file into a user config folder outside the repository (never into the
    shipped scenarios/, where a half-written file would break tests running beside this one);
    returns the command-line arguments that select it."""

    def write(stem: str, text: str) -> tuple[str, list[str]]:
        name = f"zz_test_{stem}"
        folder = tmp_path_factory.mktemp("user_configs")  # not the run's (empty) working folder
        (folder / "scenario").mkdir(parents=True, exist_ok=True)
        (folder / "scenario" / f"{name}.yaml").write_text(text, encoding="utf-8")
        return name, ["--config-dir", str(folder), f"scenario={name}"]

    return write


def test_malformed_scenario_yaml(scenario_file, empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, args = scenario_file(
        "broken",
        "# @package _global_\nscenario: broken\npopulation:\n  receptions_per_year: [1, 2\n  bad: : :\n",
    )
    code, out, err = run_main([*args, "estate=single_prison"], capsys)
    line = assert_one_line_error(code, out, err, [name])
    assert "YAML" in line
    assert list(empty_cwd.iterdir()) == []


def test_scenario_with_unknown_key(
    scenario_file, empty_cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, args = scenario_file(
        "badkey",
        "# @package _global_\nscenario: badkey\npopulation:\n  not_a_key: 3\n",
    )
    code, out, err = run_main([*args, "estate=single_prison"], capsys)
    assert_one_line_error(code, out, err, ["population.not_a_key", name])
    assert list(empty_cwd.iterdir()) == []


def test_no_test_files_in_the_shipped_scenarios() -> None:
    assert not list(SCENARIOS.glob("zz_test_*.yaml"))


def test_check_overrides_rejects_zero_years() -> None:
    with pytest.raises(ConfigError, match=r"run\.years"):
        check_overrides(["estate=single_prison", "run.years=0"])


@pytest.mark.parametrize("override", ["population.female_share=-0.1", "run.years=nan", "run.seed=-1"])
def test_check_overrides_rejects_out_of_range(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_overrides(["estate=single_prison", override])


def test_check_overrides_accepts_good_input() -> None:
    cfg = check_overrides(["estate=single_prison", "run.years=0.5", "buddies.priority=proportional"])
    assert cfg.run.years == 0.5
    assert cfg.buddies.priority == "proportional"


def test_added_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"population\.extra"):
        check_overrides(["estate=single_prison", "+population.extra=1"])


def test_estate_without_prisons_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"estate"):
        check_overrides(["estate=single_prison", "estate.prisons=[]"])


@pytest.mark.parametrize(
    ("sweep", "key"),
    [
        ("buddies.pay_per_week=10,abc", "buddies.pay_per_week"),
        ("population.female_share=0.1,1.5", "female_share"),
    ],
)
def test_bad_value_in_a_multirun_sweep_exits_2(
    sweep: str, key: str, empty_cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["-m", "estate=single_prison", "run.years=0.25", sweep], capsys)
    assert_one_line_error(code, out, err, [key])
    assert list(empty_cwd.iterdir()) == []

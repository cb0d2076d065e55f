"""A user's own scenario and estate files: found in the working folder, first, and checked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import CONFIGS

from simmodel.cli import EXIT_BAD_INPUT, main
from simmodel.compose import check_overrides

FAST = ("run.years=0.25", "run.warmup_years=0", "run.replications=1", "run.jobs=1", "run.progress=false")


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with its own scenarios/ and estates/."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "estates").mkdir()
    (tmp_path / "scenarios" / "ageing.yaml").write_text(
        "# @package _global_\nscenario: ageing\ndescription: my own ageing\n", encoding="utf-8"
    )
    estate = (CONFIGS / "estate" / "single_prison.yaml").read_text(encoding="utf-8")
    estate = estate.replace("name: single_prison", "name: my_prison").replace("HMP Example", "HMP Mine")
    (tmp_path / "estates" / "my_prison.yaml").write_text(estate, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    return tmp_path


def test_options_in_the_working_folder_are_found_before_the_shipped_ones(user_folder: Path) -> None:
    cfg = check_overrides(["scenario=ageing", "estate=my_prison"])
    assert cfg.description == "my own ageing"
    assert [p.name for p in cfg.estate.prisons] == ["HMP Mine"]
    assert check_overrides(["scenario=baseline", "estate=single_prison"]).scenario == "baseline"


def test_a_run_from_the_working_folder_uses_them(user_folder: Path) -> None:
    assert main(["scenario=ageing", "estate=my_prison", *FAST, "hydra.run.dir=out"]) == 0
    saved = (user_folder / "out" / "config.yaml").read_text(encoding="utf-8")
    assert "my own ageing" in saved and "HMP Mine" in saved


def test_a_hostile_file_in_the_working_folder_is_refused(
    user_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_folder / "scenarios" / "evil.yaml").write_text(
        "# @package _global_\nscenario: evil\nhydra:\n  job:\n    env_set:\n      X: '1'\n", encoding="utf-8"
    )
    code = main(["scenario=ageing", "estate=my_prison", *FAST])
    assert code == EXIT_BAD_INPUT
    assert "evil.yaml" in capsys.readouterr().err
    assert not (user_folder / "results").exists()

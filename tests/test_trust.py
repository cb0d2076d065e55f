"""The trust boundary: a config file from someone else sets model parameters and nothing else.

Every file in ``tests/hostile/`` is a real attack on the recipient of a shared scenario,
estate or funding file. Each must be refused before anything is composed or written:
exit 2, one line naming the file, an empty working folder, and the payload's marker file
never created.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import REPO

from simmodel import compose, trust
from simmodel.cli import EXIT_BAD_INPUT, main
from simmodel.compose import check_overrides
from simmodel.config import ConfigError
from simmodel.outputs import report, results

HOSTILE = Path(__file__).resolve().parent / "hostile"
CORPUS = sorted(p.stem for p in HOSTILE.glob("*.yaml"))
FAST = ("run.years=0.25", "run.warmup_years=0", "run.replications=2", "run.jobs=2", "run.progress=false")


def _group(name: str) -> str:
    return next((g for g in ("estate", "funding") if name.startswith(g)), "scenario")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An empty working folder, a user config folder, and where a payload would leave its mark."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    user = tmp_path / "user"
    for group in ("scenario", "estate", "funding"):
        (user / group).mkdir(parents=True)
    return {"cwd": cwd, "user": user, "marker": tmp_path / "marker", "root": tmp_path}


def _install(name: str, text: str, sandbox: dict[str, Path]) -> Path:
    text = text.replace("@MARKER@", str(sandbox["marker"])).replace("@MARKER_NAME@", "escaped_marker")
    path = sandbox["user"] / _group(name) / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _command(name: str, sandbox: dict[str, Path]) -> list[str]:
    group = _group(name)
    selection = [f"{group}={name}"] + (["estate=single_prison"] if group != "estate" else [])
    return ["--config-dir", str(sandbox["user"]), *selection, *FAST]


def _assert_refused(code: int, err: str, name: str, sandbox: dict[str, Path]) -> None:
    lines = err.strip().splitlines()
    assert code == EXIT_BAD_INPUT, err
    assert len(lines) == 1, err
    assert lines[0].startswith("simmodel: error:") and name in lines[0], lines[0]
    assert len(lines[0]) <= len("simmodel: error: ") + compose.MESSAGE_LIMIT
    assert list(sandbox["cwd"].iterdir()) == [], "nothing is written for a refused file"
    assert not sandbox["marker"].exists(), "the payload ran"
    assert not list(sandbox["root"].rglob("escaped_marker*")), "results escaped the results folder"


@pytest.mark.parametrize("name", CORPUS)
def test_hostile_file_is_refused_before_anything_runs(
    name: str, sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _install(name, (HOSTILE / f"{name}.yaml").read_text(encoding="utf-8"), sandbox)
    code = main(_command(name, sandbox))
    _assert_refused(code, capsys.readouterr().err, name, sandbox)


def test_the_corpus_covers_every_class_in_the_issue() -> None:
    classes = ("env_set", "job_logging", "oc_env", "oc_decode", "resolver", "traversal", "laughs", "formula")
    for word in classes:
        assert any(word in name for name in CORPUS), word
    assert {_group(n) for n in CORPUS} == {"scenario", "estate", "funding"}


@pytest.mark.parametrize("size", [300 * 1024, 60 * 1024 * 1024])
def test_oversized_file_is_refused_without_being_parsed(
    size: int, sandbox: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    body = "# @package _global_\nscenario: oversized\ndescription: x\n"
    padding = "# padding\n" * ((size - len(body)) // 10 + 1)
    _install("oversized", body + padding, sandbox)
    code = main(_command("oversized", sandbox))
    _assert_refused(code, capsys.readouterr().err, "oversized", sandbox)


def test_hostile_file_in_the_shipped_scenarios_folder_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs, symlinks=False)
    name = "job_logging_file"
    marker = tmp_path / "marker"
    text = (HOSTILE / f"{name}.yaml").read_text(encoding="utf-8").replace("@MARKER@", str(marker))
    (configs / "scenario" / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(compose, "CONFIG_DIR", configs)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # not even selected: a hostile file anywhere in the config folders stops every run
    code = main(["estate=single_prison", *FAST])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT and len(lines) == 1 and name in lines[0]
    assert list(cwd.iterdir()) == [] and not marker.exists()


def test_plain_references_between_model_keys_are_allowed(sandbox: dict[str, Path]) -> None:
    _install(
        "references",
        "# @package _global_\nscenario: references\ndescription: seed ${run.seed}\n"
        "buddies:\n  pay_per_week: ${costs.review_cost}\n",
        sandbox,
    )
    cfg = check_overrides(["scenario=references", "estate=single_prison"], (sandbox["user"],))
    assert cfg.description == f"seed {cfg.run.seed}"
    assert cfg.buddies.pay_per_week == cfg.costs.review_cost


def test_funding_options_may_build_on_their_siblings() -> None:
    cfg = check_overrides(["estate=single_prison", "funding=care_coordinator"])
    assert cfg.funding.name == "care_coordinator"
    assert cfg.funding.coordinator_cost_per_fte_year > 0  # inherited from status_quo


@pytest.mark.parametrize(
    "override",
    [
        "description=${oc.env:HOME}",
        "run.years=${oc.decode:'1'}",
        "description=${now:%Y}",
        "run.years=${nope}",
    ],
)
def test_command_line_values_may_only_refer_to_model_keys(override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        check_overrides(["estate=single_prison", override])


@pytest.mark.parametrize("value", ["2", "0", "1", "yes", "'true1'"])
def test_true_false_keys_take_only_true_or_false(value: str) -> None:
    with pytest.raises(ConfigError, match=r"run\.deterministic"):
        check_overrides(["estate=single_prison", f"run.deterministic={value}"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("estate.name=../../x", "estate.name"),
        ("funding.name=a/b", "funding.name"),
        ("estate.prisons.0.name='@SUM(A1)'", "estate.prisons[0].name"),
        ("estate.prisons.0.name=-1+2", "estate.prisons[0].name"),
    ],
)
def test_names_used_in_paths_and_workbooks_are_plain(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_overrides(["estate=single_prison", override])
    assert key in str(raised.value)


@pytest.mark.parametrize(
    "name", ["HMP & YOI Bronzefield", "HMP Isle of Wight (Albany)", "Prison 12/B, St. John's"]
)
def test_real_prison_names_are_accepted(name: str) -> None:
    assert trust.PRISON_NAME.fullmatch(name)


def test_workbook_stores_formula_like_text_as_text(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    frame = pd.DataFrame({"prison": ['=HYPERLINK("http://x","y")', "+1+2", "HMP Example"], "n": [1, 2, 3]})
    report.write_workbook(path, {"prisons": frame})
    sheet = openpyxl.load_workbook(path)["prisons"]
    cells = [sheet.cell(row=r, column=1) for r in (2, 3, 4)]
    assert [c.data_type for c in cells] == ["s", "s", "s"]
    assert cells[0].value == frame["prison"][0]


def test_provenance_runs_no_command_from_git_config_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "git_marker"
    hostile = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.fsmonitor",
        "GIT_CONFIG_VALUE_0": f"touch {marker}; false",
    }
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    # control: plain `git status` does run the command, so the check below can fail
    subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], env={**os.environ, **hostile}, capture_output=True
    )
    assert marker.exists(), "the attack does not work on this git: the test would prove nothing"
    marker.unlink()
    for key, value in hostile.items():
        monkeypatch.setenv(key, value)
    results._provenance.cache_clear()
    record = results._provenance()
    results._provenance.cache_clear()
    assert not marker.exists()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert record["git_commit"] == head.stdout.strip()


@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_command_line_values_give_one_line(depth: int) -> None:
    """Deep brackets would exhaust the recursion of Hydra's parser (a RecursionError traceback)."""
    with pytest.raises(ConfigError, match="nested more than"):
        check_overrides(["estate=single_prison", "description=" + "[" * depth + "]" * depth])

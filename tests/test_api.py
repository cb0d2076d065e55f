"""The Python API: the same configuration, checks and files as the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simmodel
from simmodel.cli import main
from simmodel.config import ConfigError
from simmodel.outputs import run_folder

SHORT = {"estate": "single_prison", "run.years": 0.25, "run.warmup_years": 0, "run.progress": False}


@pytest.fixture(scope="module")
def result() -> simmodel.Result:
    return simmodel.run(SHORT, replications=2, jobs=1)


def test_run_returns_the_tables_without_writing(result: simmodel.Result, tmp_path: Path) -> None:
    assert list(result.summary.columns[:3]) == ["metric", "unit", "mean"]
    assert set(result.replications["replication"]) == {0, 1}
    assert (result.timeseries["scope"] == "estate").sum() == 3  # three reported months
    assert result.config.run.replications == 2
    assert result.metric("population") == pytest.approx(
        result.replications.query("metric == 'population'")["value"].mean()
    )


def test_run_gives_the_numbers_of_the_command_line(
    result: simmodel.Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["simmodel"])
    args = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in SHORT.items()]
    code = main([*args, "run.replications=2", "run.jobs=1", "hydra.run.dir=cli"])
    assert code == 0
    from_cli = pd.read_csv(tmp_path / "cli" / "summary.csv")
    assert np.allclose(from_cli["mean"], result.summary["mean"], equal_nan=True)


def test_save_writes_the_files_of_a_command_line_run(result: simmodel.Result, tmp_path: Path) -> None:
    folder = result.save(tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == sorted(run_folder.RUN_FILES)
    assert np.allclose(pd.read_csv(folder / "summary.csv")["mean"], result.summary["mean"], equal_nan=True)
    with pytest.raises(run_folder.OutputError, match="overwrite"):
        result.save(folder)
    result.save(folder, overwrite=True)
    with pytest.raises(run_folder.OutputError, match="refused"):
        result.save(Path(simmodel.__file__).parent / "results")


def test_bad_input_raises_the_command_lines_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"run\.yeers"):
        simmodel.run({"run.yeers": 1})
    with pytest.raises(simmodel.ConfigError, match=r"buddies\.pay_per_week"):
        simmodel.configure(["estate=single_prison", "buddies.pay_per_week=-1"])


def test_a_config_changed_after_validation_is_checked_again() -> None:
    cfg = simmodel.configure(SHORT)
    cfg.buddies.posts_per_1000_prisoners = -3
    with pytest.raises(ConfigError, match=r"posts_per_1000_prisoners"):
        simmodel.run(config=cfg)
    cfg.buddies.posts_per_1000_prisoners = "many"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"posts_per_1000_prisoners"):
        simmodel.run(config=cfg)


def test_an_unchanged_config_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import numpy as np

    from simmodel import compose

    cfg = simmodel.configure(SHORT)
    checks: list[object] = []
    monkeypatch.setattr(compose, "check_ranges", lambda node: checks.append(node))
    compose.revalidate(cfg)
    assert checks == [], "a configuration as it was checked is not checked again"
    # the same numbers in another type are a change: OmegaConf refuses each of these
    shares = cfg.need.level_shares_at_onset
    for field, value in (
        ("level_shares_at_onset", dataclasses.asdict(shares)),  # a dict, not LevelValues
        ("worsening_rate_per_year", np.float64(cfg.need.worsening_rate_per_year)),
    ):
        original = getattr(cfg.need, field)
        setattr(cfg.need, field, value)
        with pytest.raises(ConfigError):
            compose.revalidate(cfg)
        setattr(cfg.need, field, original)
    compose.revalidate(cfg)  # put back as it was: nothing to check
    assert checks == []
    cfg.run.years = 0.5
    compose.revalidate(cfg)
    assert len(checks) == 1, "a changed value is checked once, then remembered"
    compose.revalidate(cfg)
    assert len(checks) == 1


def test_compare_pairs_options_by_replication() -> None:
    table = simmodel.compare(["more_buddy_posts"], overrides=SHORT, replications=3, jobs=1)
    assert set(table["option"]) == {"more_buddy_posts"} and set(table["reference"]) == {"status_quo"}
    rows = table.set_index("metric")
    assert rows.loc["nonpersonal_unmet_hours_per_week", "n_pairs"] == 3
    # paired: the difference is the option's mean less the reference's
    row = rows.loc["cost_total_per_year"]
    assert row["difference"] == pytest.approx(row["option_mean"] - row["reference_mean"])
    assert row["difference"] > 0, "more posts cost more"


def test_overrides_and_a_configuration_together_are_refused() -> None:
    # they used to be dropped without a word while run.json listed them as applied
    cfg = simmodel.configure(SHORT)
    with pytest.raises(ConfigError, match="not both"):
        simmodel.run({"run.years": 3}, config=cfg)


def test_a_run_configured_in_code_does_not_claim_a_command_that_reproduces_it(tmp_path: Path) -> None:
    cfg = simmodel.configure(SHORT)
    cfg.buddies.pay_per_week = 40.0
    result = simmodel.run(config=cfg, replications=1, jobs=1)
    assert "config.yaml holds every value" in result.command
    folder = result.save(tmp_path / "run")
    assert "config.yaml holds every value" in (folder / "report.html").read_text(encoding="utf-8")
    assert "pay_per_week: 40.0" in (folder / "config.yaml").read_text(encoding="utf-8")


def test_the_package_lists_its_api_and_errors() -> None:
    names = dir(simmodel)
    for name in ("run", "compare", "configure", "Result", "ConfigError", "OutputError", "capacity"):
        assert name in names
    assert simmodel.OutputError is run_folder.OutputError


@pytest.mark.slow
def test_an_unguarded_script_gets_a_message_saying_what_to_do(tmp_path: Path) -> None:
    # each worker process imports the script again (spawn): without a __main__ guard the workers
    # would start the run themselves; Python's own message does not say what to do
    import subprocess

    from conftest import REPO

    script = tmp_path / "unguarded.py"
    script.write_text(
        f"import simmodel\nsimmodel.run({SHORT!r}, replications=2, jobs=2)\n",
        encoding="utf-8",
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr.splitlines()[-1], done.stderr[-500:]

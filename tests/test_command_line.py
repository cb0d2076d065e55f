"""The trust boundary on the command line: arguments and overrides someone else wrote.

A command line is read as Hydra reads it (abbreviated options, ``-cd=X``, escapes in values),
and may set model parameters, choose options, and change a short list of Hydra's settings;
anything else is refused before a folder is made: exit 2, one line, nothing written.
Each attack below worked before it was closed (a hostile trial, December 2026).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_main

import simmodel
from simmodel import command_line
from simmodel.command_line import check_hydra_override, parse, parse_arguments
from simmodel.compose import check_overrides
from simmodel.config import ConfigError
from simmodel.outputs import results, run_folder

FAST = [
    "estate=single_prison",
    "run.years=0.25",
    "run.warmup_years=0",
    "run.replications=1",
    "run.jobs=1",
    "run.progress=false",
]


def _refused(args: list[str], working_folder: Path, capsys: pytest.CaptureFixture[str], words: str) -> None:
    code = run_main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("simmodel: error:") and words in lines[0], lines
    assert list(working_folder.iterdir()) == [], "nothing is written for a refused command line"


@pytest.fixture
def fake_git(tmp_path: Path) -> tuple[Path, Path]:
    """A folder holding a program named git that leaves a marker file (the payload of a PATH attack)."""
    folder, marker = tmp_path / "bin", tmp_path / "git_ran"
    folder.mkdir()
    git = folder / "git"
    git.write_text(f"#!/bin/sh\n: > {marker}\nexit 1\n", encoding="utf-8")  # (a builtin: no PATH needed)
    git.chmod(0o755)
    return folder, marker


# ------------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-cn=evil"], "--config-name"),
        (["--config-n=evil"], "--config-name"),
        (["-cp", "/tmp"], "--config-path"),
        (["--config-p=/tmp"], "--config-path"),
        (["--experimental-rerun=/tmp/config.pickle"], "--experimental-rerun"),
        (["--exp=/tmp/config.pickle"], "--experimental-rerun"),
        (["--no-such-flag"], "unrecognized arguments"),
    ],
)
def test_options_that_load_other_configurations_or_code_are_refused_in_every_form(
    args: list[str], words: str, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused([*FAST, *args], working_folder, capsys, words)


@pytest.mark.parametrize("form", [["-cd={}"], ["--config-d={}"], ["--config-dir", "{}"], ["-cd", "{}"]])
def test_every_form_of_config_dir_is_checked(
    form: list[str], tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    (user / "scenario" / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  verbose: true\n", encoding="utf-8"
    )
    args = [part.format(user) for part in form]
    _refused([*args, "scenario=evil", *FAST], working_folder, capsys, "evil.yaml is refused")


def test_arguments_are_read_as_hydra_reads_them() -> None:
    read = parse_arguments(["-cd=/tmp", "a=1", "--multi", "b=2"])
    assert read.overrides == ["a=1", "b=2"] and read.config_dirs == (Path("/tmp"),)
    assert read.multirun and read.hydra_flags() == ["--multirun"]
    read = parse_arguments(["--cfg", "job", "a=1", "--res"])
    assert read.cfg == "job" and read.resolve and read.hydra_flags() == ["--cfg", "job", "--resolve"]
    assert parse_arguments(["hydra.searchpath=[file:///tmp]"]).config_dirs == (Path("/tmp"),)
    with pytest.raises(ConfigError, match="only folders"):
        parse_arguments(["hydra.searchpath=[pkg://x]"])


# ------------------------------------------------------------------------ overrides
@pytest.mark.parametrize(
    "override",
    [
        "+scenario@_global_=../../../../tmp/evil",  # a file anywhere, composed unchecked
        "scenario@_global_=ageing",
        "+estate@_global_=single_prison",
    ],
)
def test_package_overrides_are_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="'@' is not allowed"):
        check_overrides(["estate=single_prison", override])


@pytest.mark.parametrize(
    "override",
    [
        r"description=$\{oc.env\:HOME\}",  # Hydra removes the backslashes after the check read them
        "description=str(${oc.env:HOME})",
        "description='${oc.env:HOME}'",
        "description=[a,{b:${oc.env:HOME}}]",
    ],
)
def test_escaped_or_wrapped_resolvers_are_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="no resolvers"):
        check_overrides(["estate=single_prison", override])


@pytest.mark.parametrize("value", ["a,${oc.env:HOME}", "choice(a,'${oc.env:HOME}')", r"a,$\{oc.env\:HOME\}"])
def test_resolvers_in_swept_values_are_refused(
    value: str, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["-m", f"description={value}", *FAST], working_folder, capsys, "no resolvers")


@pytest.mark.parametrize("override", ["description=a,b", "buddies.pay_per_week=5,12", "run.seed=range(1,3)"])
def test_a_sweep_without_multirun_is_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="add -m"):
        check_overrides(["estate=single_prison", override])


def test_a_huge_range_is_refused_before_its_values_are_listed(
    working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["-m", "run.seed=range(0,100000000)", *FAST], working_folder, capsys, "at most 10,000")


@pytest.mark.parametrize(
    "override",
    [
        "+hydra.job.env_set.PATH=/tmp/bin",  # then the run record's git status runs a program from there
        "hydra.job_logging.handlers.file.filename=/tmp/x.log",
        "hydra/job_logging=../../../tmp/evil",
        "hydra.output_subdir=/tmp/out",
        "hydra.job.name=evil/../../x",
        "hydra.job.name=${oc.env:HOME}",
        "++hydra.sweep.subdir=/tmp/escape",
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        "hydra.sweep.subdir=..",
        "hydra.launcher.setup=[touch /tmp/x]",
        "hydra.launcher._target_=os.system",
        "hydra.sweeper.storage=sqlite:////tmp/x.db",
        "hydra.callbacks.x._target_=os.system",
        "~hydra.run.dir",
        "hydra@_global_.run.dir=x",
        "hydra={job:{env_set:{PATH:/tmp}}}",
        "hydra.run.dir=${oc.env:HOME}",
        "hydra/launcher=a,b",
        "hydra.mode=MULTIRUN",  # (a sweep is asked for with -m, whose folder is checked)
        # Hydra instantiates the launcher's settings: a mapping may hold _target_ (it wrote any file)
        "+hydra.launcher.evil={_target_:pathlib.Path.write_text,_args_:[x,y]}",
        "hydra.launcher.partition={_target_:builtins.open}",
        "+hydra.sweeper.x=1",
        # the folder goes back to Hydra: an escape there became a resolver the second time
        r"hydra.run.dir='out/$\{oc.env:HOME\}'",
        "hydra.sweep.dir='a,b'",
    ],
)
def test_hydra_settings_outside_the_allowed_few_are_refused(override: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_hydra_override(parse(override))
    assert refused.value.args[0].startswith(parse(override).key_or_group[:20])  # (the check's own line)


@pytest.mark.parametrize(
    "override",
    [
        "hydra.run.dir=results/mine",
        "++hydra.sweep.dir=/tmp/sweep",
        "hydra.sweep.subdir=job_${hydra.job.num}",
        "hydra.job.name=run_${scenario}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.partition=compute",
        "hydra.launcher.timeout_min=60",
        "hydra/job_logging=disabled",
        "hydra/hydra_logging=disabled",
        "hydra.verbose=true",
        "hydra.launcher.n_jobs=[1,2]",
        "hydra.run.dir='My results/run 1'",
    ],
)
def test_the_hydra_settings_people_use_are_allowed(override: str) -> None:
    check_hydra_override(parse(override))


def test_a_path_attack_through_hydra_settings_is_refused_and_git_runs_nothing(
    fake_git: tuple[Path, Path], working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, marker = fake_git
    _refused(
        [*FAST, f"+hydra.job.env_set.PATH={folder}:/usr/bin:/bin"],
        working_folder,
        capsys,
        "hydra.job.env_set",
    )
    assert not marker.exists()


def test_the_run_record_looks_git_up_where_the_process_started(
    fake_git: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, marker = fake_git
    # control: with that search path a plain call runs the fake (so the check below can fail)
    subprocess.run(["git", "status"], env={**os.environ, "PATH": str(folder)}, capture_output=True)
    assert marker.exists()
    marker.unlink()
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")  # as a job's env_set would
    results._provenance.cache_clear()
    try:
        results._provenance()
    finally:
        results._provenance.cache_clear()
    assert not marker.exists()


def test_an_unknown_hydra_option_is_refused_by_name(
    working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(
        [*FAST, "hydra/launcher=nonexistent"], working_folder, capsys, "Unknown hydra/launcher 'nonexistent'"
    )


def test_a_failed_start_leaves_no_folder(working_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the basic sweeper has no parameters: Hydra itself fails after the sweep folder was made
    code = run_main(["-m", *FAST, "+hydra.sweeper.params.description=x"])
    capsys.readouterr()
    assert code != 0
    assert not (working_folder / "results").exists() or not any((working_folder / "results").rglob("*"))


def test_the_printing_options_check_values_too(
    working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(
        ["--cfg", "job", "--resolve", "description=${oc.env:HOME}"], working_folder, capsys, "no resolvers"
    )


# ---------------------------------------------------------------- config folders
def test_a_config_dir_may_hold_only_the_model_groups(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = tmp_path / "user"
    (user / "hydra.job_logging").mkdir(parents=True)
    (user / "hydra.job_logging" / "evil.yaml").write_text("version: 1\n", encoding="utf-8")
    _refused(["--config-dir", str(user), *FAST], working_folder, capsys, "a 'hydra' config group")
    (user / "hydra.job_logging").rename(user / "notes")
    _refused(["--config-dir", str(user), *FAST], working_folder, capsys, "'notes' is not a config group")


def test_a_copied_funding_option_may_build_on_a_shipped_one(tmp_path: Path) -> None:
    from simmodel.paths import CONFIG_DIR

    user = tmp_path / "user"
    (user / "funding").mkdir(parents=True)
    text = (CONFIG_DIR / "funding" / "care_coordinator.yaml").read_text(encoding="utf-8")
    (user / "funding" / "my_option.yaml").write_text(
        text.replace("care_coordinator", "my_option"), encoding="utf-8"
    )
    cfg = check_overrides(["estate=single_prison", "funding=my_option"], (user,))
    assert cfg.funding.name == "my_option"


def test_true_false_keys_of_listed_prisons_take_only_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"older_unit"):
        check_overrides(["estate=single_prison", "estate.prisons.0.older_unit=2"])
    assert (
        check_overrides(["estate=single_prison", "estate.prisons.0.supervised=null"])
        .estate.prisons[0]
        .supervised
        is None
    )


def test_outputs_never_go_into_the_users_own_config_folders(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (working_folder / "scenarios").mkdir()
    code = run_main([*FAST, "hydra.run.dir=scenarios/out"])
    assert code == 2 and "your own configuration" in capsys.readouterr().err
    assert not (working_folder / "scenarios" / "out").exists()
    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    code = run_main(["--config-dir", str(user), *FAST, f"hydra.run.dir={user}/scenario/out"])
    assert code == 2 and "your own configuration" in capsys.readouterr().err


# ---------------------------------------------------------------------- Python API
def test_the_api_refuses_what_the_command_line_refuses(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give a list"):
        simmodel.configure(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="do not apply to the Python API"):
        simmodel.configure({"hydra.run.dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="'@' is not allowed"):
        simmodel.configure({"+scenario@_global_": "../x"})


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda c: setattr(c.buddies, "pay_per_week", "12"),
            "buddies.pay_per_week = '12' has the wrong type",
        ),
        (lambda c: setattr(c, "description", "${oc.env:HOME}"), "write the value"),
        (lambda c: setattr(c.run, "objective", "nope"), "not a summary metric"),
    ],
)
def test_a_configuration_changed_in_code_is_refused_before_it_runs(change, words: str) -> None:
    cfg = copy.deepcopy(simmodel.configure(FAST))
    change(cfg)
    with pytest.raises(ConfigError, match=words):
        simmodel.run(config=cfg)


def test_a_whole_number_for_a_number_still_runs() -> None:
    cfg = copy.deepcopy(simmodel.configure(FAST))
    cfg.buddies.pay_per_week = 20
    assert simmodel.run(config=cfg).metric("population") > 0


def test_save_refuses_an_empty_name_and_a_folder_reached_through_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = simmodel.run(FAST)
    with pytest.raises(run_folder.OutputError, match="needs a folder"):
        result.save("")
    with pytest.raises(run_folder.OutputError, match="not simmodel outputs"):
        result.save("new/..")  # the working folder itself, which holds notes.txt
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_hydra_keys_are_told_from_model_keys() -> None:
    assert command_line.is_hydra_key("hydra.run.dir") and command_line.is_hydra_key("hydra/launcher")
    assert not command_line.is_hydra_key("hydrangea") and not command_line.is_hydra_key("run.hydra")


def test_a_folder_name_reaches_hydra_as_the_text_that_was_checked(
    working_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simmodel import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "_hydra_entry", lambda name="config": seen.append(sys.argv[1:]))
    assert run_main([*FAST, "hydra.run.dir='my results/~x'"]) == 0
    assert seen[-1][-1] == "hydra.run.dir='my results/~x'"
    assert parse(seen[-1][-1]).value() == "my results/~x"


def test_the_design_tools_take_only_the_launchers_settings(tmp_path: Path) -> None:
    from simmodel.experiments.analysis import cluster_launch, prepare_folder

    for arg in ("hydra.output_subdir=/tmp/x", "hydra.searchpath=[file:///tmp]", "+hydra.launcher.x={a:1}"):
        with pytest.raises(ConfigError):
            cluster_launch({"launcher": "basic"}, [arg])
    with pytest.raises(ConfigError, match="Unknown hydra/launcher"):
        cluster_launch({"launcher": "evil"}, [])
    model, launch = cluster_launch({"launcher": "joblib"}, ["run.years=1", "hydra.launcher.n_jobs=2"])
    assert model == ["run.years=1"] and launch is not None
    from simmodel.paths import CONFIG_DIR

    with pytest.raises(ConfigError, match="holds the model itself"):
        prepare_folder(CONFIG_DIR / "psa")
    assert not (CONFIG_DIR / "psa").exists()


def test_collating_a_received_sweep_folder_imports_none_of_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omegaconf import OmegaConf

    from simmodel.experiments import collate

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    package = tmp_path / "received"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    marker = tmp_path / "imported"
    (package / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    config = OmegaConf.create(
        {
            "hydra": {
                "runtime": {
                    "config_sources": [
                        {"provider": "x", "schema": "pkg", "path": "received.evil"},
                        {"provider": "y", "schema": "structured", "path": "received.evil"},
                    ]
                }
            }
        }
    )
    collate._override_parser(config).parse_overrides(["funding=glob(*)"])
    assert not marker.exists()


# ------------------------------------------------------- received folders (a third hostile pass)
def test_links_planted_in_a_received_run_or_sweep_folder_are_refused(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine", encoding="utf-8")
    run = working_folder / "recv" / "run1"
    run.mkdir(parents=True)
    (run / ".simmodel.lock").symlink_to(victim)  # the lock was opened through it and truncated
    code = run_main([*FAST, "hydra.run.dir=recv/run1"])
    assert code == 2 and "not simmodel outputs" in capsys.readouterr().err
    sweep = working_folder / "recv" / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "simmodel.log").symlink_to(victim)  # Hydra appends its log before the job checks
    code = run_main(["-m", *FAST, "run.seed=1,2", "hydra.sweep.dir=recv/sweep"])
    assert code == 2 and "0/simmodel.log" in capsys.readouterr().err
    with pytest.raises(run_folder.OutputError):
        run_folder.lock(run)  # (even if asked directly: the lock never follows a link)
    assert victim.read_text(encoding="utf-8") == "mine"


def test_a_design_tools_folder_is_plain_text(tmp_path: Path) -> None:
    from simmodel.experiments.analysis import prepare_folder

    for out in ("${now:..}/x", "a/$\\{oc.env:HOME\\}", "a'b"):
        with pytest.raises(ConfigError, match="out="):
            prepare_folder(tmp_path / out)


def test_printing_a_configuration_never_loads_a_file_by_path(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "payload.yaml"
    payload.write_text("# @package _global_\ndescription: ${oc.env:HOME}\n", encoding="utf-8")
    relative = os.path.relpath(
        payload.with_suffix(""), Path(simmodel.__file__).parent.parent / "configs" / "scenario"
    )
    _refused(
        ["--cfg", "job", "--resolve", f"scenario={relative}"], working_folder, capsys, "Unknown scenario"
    )


def test_special_files_and_alias_bombs_are_refused_without_hanging(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simmodel.experiments import collate

    (working_folder / "scenarios").mkdir()
    os.mkfifo(working_folder / "scenarios" / "evil.yaml")  # reading it would wait for ever
    code = run_main(["--cfg", "job"])
    assert code == 2 and "not a regular file" in capsys.readouterr().err
    (working_folder / "scenarios" / "evil.yaml").unlink()
    (working_folder / "scenarios").rmdir()
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    (bomb / "multirun.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "anchors and aliases" in collate.sweep_plan(bomb)


def test_a_resumed_calibration_study_with_values_out_of_range_is_refused(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from simmodel import calibrate

    free = [calibrate.Free.of("pathway.screening_sensitivity", 0.2, 0.7)]
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="calibrate", storage=storage, direction="minimize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"pathway.screening_sensitivity": 0.01},
            distributions={"pathway.screening_sensitivity": optuna.distributions.FloatDistribution(0.0, 1.0)},
            value=-1000.0,
        )
    )
    with pytest.raises(ConfigError, match=r"outside 0\.2-0\.7"):
        calibrate.search(lambda batch: [0.0] * len(batch), free, 2, storage=storage)


# ------------------------------------------------ a fourth pass and a review of the change
@pytest.mark.parametrize(
    "override",
    [
        "hydra.launcher.partition='compute\ntouch /tmp/pwned #'",  # submitit writes it into the job script
        "hydra.sweeper.custom_search_space=evil.space",  # optuna's sweeper imports and calls it
        "hydra.sweeper.params.run.seed='1,2'",
    ],
)
def test_launcher_and_sweeper_settings_that_reach_a_shell_or_code_are_refused(override: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_hydra_override(parse(override))
    assert "cannot read" not in str(refused.value)  # (refused by the check, not by the grammar)


def test_abbreviated_help_prints_help_and_runs_nothing(
    working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("--he", "--vers"):
        assert run_main([flag]) == 0
        assert capsys.readouterr().out.strip()
    assert list(working_folder.iterdir()) == []


def test_dated_folder_names_and_quotes_reach_hydra_as_written() -> None:
    from simmodel.command_line import hydra_quoted

    check_hydra_override(parse("hydra.run.dir=2024_01_05"))  # (Hydra's grammar reads a number)
    for folder in ("/tmp/rev it's/results", "results/2024_01_05"):
        assert parse(f"hydra.run.dir={hydra_quoted(folder)}").value() == folder
    with pytest.raises(ConfigError):
        hydra_quoted("/tmp/${oc.env:HOME}")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cfg", "job", "-m"], "choose one"),
        (["--config-dir", ""], "needs a folder"),
        (["run.progress=null"], "use true or false"),
        ([f"hydra.run.dir={'x' * 300}"], "refused"),
    ],
)
def test_more_mistakes_give_one_line(
    args: list[str], words: str, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused([*FAST, *args], working_folder, capsys, words)


def test_api_values_with_commas_and_quotes_are_values() -> None:
    assert simmodel.configure(
        {**dict(o.split("=") for o in FAST), "description": "baseline, v2 'b'"}
    ).description == ("baseline, v2 'b'")


def test_files_named_like_outputs_are_someone_elses_without_a_record(
    tmp_path: Path, working_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simmodel.experiments import collate
    from simmodel.experiments.analysis import prepare_folder

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("db: {host: prod}\n", encoding="utf-8")
    code = run_main([*FAST, f"hydra.run.dir={conf}"])
    assert code == 2 and "not simmodel outputs" in capsys.readouterr().err
    assert (conf / "config.yaml").read_text(encoding="utf-8") == "db: {host: prod}\n"
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("report.html", "results.xlsx", "comparison.csv", "run.json"):
        (reports / name).write_text("mine", encoding="utf-8")
    assert collate.main([str(reports)]) == 2
    with pytest.raises(ConfigError, match="other files"):
        prepare_folder(reports)
    assert all((reports / name).read_text(encoding="utf-8") == "mine" for name in ("report.html", "run.json"))


def test_a_hidden_folder_in_a_config_dir_is_not_a_group(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (user / ".github" / "workflows").mkdir(parents=True)
    (user / ".github" / "workflows" / "ci.yml").write_text("on: push\n", encoding="utf-8")
    assert check_overrides(["estate=single_prison"], (user,)).estate.name == "single_prison"


def test_validate_rewrites_docs_only_for_the_shipped_default(working_folder: Path) -> None:
    from simmodel.experiments import validate

    assert validate.report_folder([]) == validate.DOCS
    assert validate.report_folder(["run.years=2"]) != validate.DOCS
    (working_folder / "scenarios").mkdir()  # a received project's own scenarios replace the shipped
    assert validate.report_folder([]) != validate.DOCS


def test_a_resumed_optimiser_study_with_mixes_out_of_range_is_refused(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from simmodel import optimise

    lever = next(lv for lv in optimise.LEVERS if lv.name == "posts")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="simmodel", storage=storage, directions=["minimize", "minimize"])
    study.add_trial(
        optuna.trial.create_trial(
            params={"posts": 400.0},
            distributions={"posts": optuna.distributions.FloatDistribution(0.0, 1000.0)},
            values=[0.0, 0.0],
        )
    )
    with pytest.raises(ConfigError, match="outside"):
        optimise.search(lambda batch: [(0.0, 0.0)] * len(batch), [lever], 1e6, 4, storage=storage)


# --------------------------------------------------------------------- a fifth pass
def test_a_batch_jobs_command_line_is_checked_too() -> None:
    # the design tools start it through Hydra; it was a second, unchecked way in (+hydra.callbacks)
    from simmodel.experiments.design_batch import check_arguments

    check_arguments(["-m", "folder='/tmp/x'", "batches=2", "batch=range(0,2)", "hydra/launcher=basic",
                     "hydra.sweep.dir='/tmp/x/batches'", "hydra.launcher.n_jobs=2"])  # fmt: skip
    for arg in ("+hydra.callbacks.x._target_=pathlib.Path.touch", "hydra.job.env_set.X=1",
                "folder=${oc.env:HOME}", "run.years=2"):  # fmt: skip
        with pytest.raises(ConfigError):
            check_arguments(["-m", arg])


def test_a_design_folder_with_links_or_someone_elses_files_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from simmodel.experiments.analysis import prepare_folder

    received = tmp_path / "received"
    (received / "batches").mkdir(parents=True)
    (received / "design.csv").write_text("", encoding="utf-8")
    (received / "batches" / "multirun.yaml").symlink_to(tmp_path / "victim.txt")
    with pytest.raises(ConfigError, match="links"):
        prepare_folder(received)
    mine = tmp_path / "mine"
    mine.mkdir()
    with sqlite3.connect(mine / "study.db") as db:  # someone's own database, with a report beside it
        db.execute("create table patients (name text)")
    (mine / "report.html").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="other files"):
        prepare_folder(mine)
    (mine / "study.db").unlink()
    (mine / "design.csv").write_text("", encoding="utf-8")
    (mine / "run.json").write_text('{"status": "complete"}', encoding="utf-8")  # not a tool's record
    with pytest.raises(ConfigError, match="other files"):
        prepare_folder(mine)


def test_a_received_jobs_names_never_reach_a_csv_cell_as_a_formula(tmp_path: Path) -> None:
    import json

    from simmodel.experiments import collate

    job = tmp_path / "0"
    job.mkdir()
    record = {"status": "complete", "scenario": "baseline", "funding": '=HYPERLINK("x")', "overrides": []}
    (job / "run.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(collate.JobLeftOut, match="plain name"):
        collate.read_job(job)
    record |= {"funding": "status_quo", "overrides": ['=HYPERLINK("x")']}
    (job / "run.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(collate.JobLeftOut, match="plain"):
        collate.read_job(job)


def test_the_dictionary_overwrites_only_its_own_file(tmp_path: Path) -> None:
    from simmodel.outputs import dictionary

    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n", encoding="utf-8")
    assert dictionary.main([str(notes)]) == 2 and notes.read_text(encoding="utf-8") == "# my notes\n"
    fresh = tmp_path / "outputs.md"
    assert dictionary.main([str(fresh)]) == 0 and dictionary.main([str(fresh)]) == 0

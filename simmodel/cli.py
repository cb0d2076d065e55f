"""Command line: ``python -m simmodel [scenario=NAME] [key=value ...]``.

Every run is checked before Hydra creates a results folder: the overrides are
composed with Hydra's compose API and range-checked. A mistake stops the run with
one line naming the key and what is allowed, exit code 2, no traceback, and
nothing written to ``results/``.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import re
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .paths import CONFIG_DIR

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from .config import Config
    from .experiments.replications import Ensemble

# This module imports the rest of simmodel (pandas, scipy, Hydra) only when a command
# needs it, so --help, --version and the subcommands start at once.

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
EXIT_WRITE_FAILED = 1

log = logging.getLogger("simmodel")


def sweep_folder(overrides: list[str]) -> str:
    """Folder for a multirun: ``results/multirun/`` + its overrides, readable, + a short hash.

    The same sweep command always gives the same folder, so running it again
    resumes it (complete jobs are skipped); a different command never shares one.
    """
    items = sorted(o for o in overrides if not o.lstrip("+~").startswith("hydra"))
    text = " ".join(items)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(items).replace("=", "-"))[:80] or "defaults"
    return f"results/multirun/{readable}_{digest}"


# ---------------------------------------------------------------------- the run
def _phase(name: str) -> None:
    """Test hook, called as a run enters each phase ("simulating", "writing", "recording").

    Tests replace it to deliver a signal at an exact phase instead of sleeping.
    """


def _remove_run_dir(run_dir: Path) -> None:
    """Remove a run or sweep folder that holds nothing but Hydra's log and record of the sweep,
    and empty parents."""
    from .outputs import run_folder

    if not run_dir.is_dir():
        return
    disposable = (run_folder.LOCK_FILE, "multirun.yaml")
    if all(p.is_file() and (p.suffix == ".log" or p.name in disposable) for p in run_dir.iterdir()):
        run_folder.unlock(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        parent = run_dir.parent
        while parent.name and not any(parent.iterdir()):  # (results/ too, once it is empty)
            parent.rmdir()
            if parent.name == "results":
                break
            parent = parent.parent


def _comparable(cfg_yaml: str) -> str:
    """The saved configuration without ``run.overwrite`` (which does not change results)."""
    return re.sub(r"(?m)^  overwrite: (true|false)\n", "", cfg_yaml)


def _already_done(run_dir: Path, config: Config) -> bool:
    """True if ``run_dir`` holds a complete run of exactly this configuration (its YAML is
    built only then: about 0.05 s that a fresh folder does not need)."""
    from .outputs import results

    saved = run_dir / "config.yaml"
    return (
        results.is_complete(run_dir)
        and saved.is_file()
        and _comparable(saved.read_text(encoding="utf-8")) == _comparable(results.resolved_yaml(config))
    )


def _fail(message: str, code: int) -> NoReturn:
    print(f"simmodel: error: {message}", file=sys.stderr)
    sys.exit(code)


def _claim(run_dir: Path, config: Config, *, sweep_job: bool) -> bool:
    """Lock the run folder and make it this run's; False if it already holds this very run.

    A folder with an unfinished run (interrupted, failed) is cleared and run again. A
    complete run of another configuration is replaced in a sweep's job folder (the sweep
    folder belongs to its command) and otherwise refused unless ``run.overwrite=true``.
    """
    from .outputs import results, run_folder

    try:
        run_folder.check(run_dir, sweep=False)
        run_folder.lock(run_dir)
    except run_folder.OutputError as exc:
        _fail(str(exc), exc.exit_code)
    if _already_done(run_dir, config) and not config.run.overwrite:
        print(f"simmodel: {run_dir} already holds this run's results; skipped.")
        return False
    if run_folder.result_files(run_dir):
        if results.is_complete(run_dir) and not (config.run.overwrite or sweep_job):
            _fail(
                f"{str(run_dir)[:80]} holds another complete run: choose a new folder, "
                "or add run.overwrite=true to replace it.",
                EXIT_BAD_INPUT,
            )
        run_folder.clear(run_dir)
    return True


#: ``simmodel NAME ...`` runs another tool of the package with the rest of the arguments.
SUBCOMMANDS = {"collate": "simmodel.experiments.collate", "validate": "simmodel.experiments.validate"}

#: Launchers whose workers cannot start a process pool of their own (joblib's loky workers).
POOL_LESS_LAUNCHERS = ("joblib",)


def _run(cfg: DictConfig) -> float:
    """One run (or one job of a sweep); returns ``run.objective``'s mean for sampling sweepers."""
    import pandas as pd
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .compose import check_composed, explain, is_hydra_override, to_config
    from .config import ConfigError
    from .experiments import interrupts
    from .outputs import plot_helper, run_folder

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if _checked_run is not None and hydra_cfg.mode == RunMode.RUN:  # composed and checked already
        config, overrides = _checked_run
    else:
        try:
            check_composed(cfg)
            config = to_config(cfg)
        except (ConfigError, OmegaConfBaseException) as exc:
            _remove_run_dir(run_dir)
            _fail(explain(exc), EXIT_BAD_INPUT)
        overrides = [o for o in hydra_cfg.overrides.task if not is_hydra_override(o)]
    launcher = str(OmegaConf.select(hydra_cfg, "launcher._target_", default="")).lower()
    if any(name in launcher for name in POOL_LESS_LAUNCHERS) and config.run.jobs != 1:
        log.info("Replications run one after another: a %s worker cannot start processes.", launcher)
        config.run.jobs = 1
    try:
        with interrupts.watch():
            if _claim(run_dir, config, sweep_job=hydra_cfg.mode == RunMode.MULTIRUN):
                _simulate_and_write(config, overrides, run_dir)
    finally:
        plot_helper.stop(now=True)  # (gone already after a report; ended here on every early exit)
        run_folder.unlock(run_dir)
    summary = pd.read_csv(run_dir / "summary.csv").set_index("metric")
    return float(summary.loc[config.run.objective, "mean"])  # also for a job skipped as done


def _simulate_and_write(config: Config, overrides: list[str], run_dir: Path) -> None:
    """Simulate, then write every file; signals during writing are recorded and honoured after."""
    from . import api
    from .experiments import interrupts
    from .experiments.replications import run_replications
    from .outputs import plot_helper, results

    c = config
    details = api.run_details(config, overrides)
    _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record("running", details)})
    log.info(
        "Simulating scenario '%s', funding '%s', on estate '%s': %g year%s after a %g-year warm-up, "
        "seed %d, %d replication(s)",
        c.scenario,
        c.funding.name,
        c.estate.name,
        c.run.years,
        "" if c.run.years == 1 else "s",
        c.run.warmup_years,
        c.run.seed,
        c.run.replications,
    )
    _phase("simulating")
    plot_helper.start(c.run.jobs)  # the report's plots are drawn there; its imports overlap the simulation
    try:
        ensemble = run_replications(config)
    except KeyboardInterrupt:
        details["replications_used"] = 0
        _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record("interrupted", details)})
        print("\nsimmodel: interrupted before any replication finished; nothing saved.", file=sys.stderr)
        sys.exit(interrupts.exit_code())
    except MemoryError:
        details["error"] = "MemoryError"
        _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record("failed", details)})
        _fail("out of memory: the configuration asks for more than this machine holds.", EXIT_WRITE_FAILED)
    except Exception as exc:  # every replication failed
        details["error"] = f"{type(exc).__name__}: {exc}"[:500]
        _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record("failed", details)})
        _fail(f"every replication failed: {type(exc).__name__}: {str(exc)[:120]}", EXIT_WRITE_FAILED)
    _phase("writing")
    command = "python -m simmodel " + " ".join(shlex.quote(o) for o in overrides)
    try:
        paths = api.write_result_files(run_dir, config, ensemble, command.strip())
    except OSError as exc:
        _fail(f"cannot write results to {run_dir}: {exc.strerror or exc}.", EXIT_WRITE_FAILED)
    _phase("recording")
    details["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    details.update(ensemble.run_info())
    interrupted = ensemble.interrupted or interrupts.received() is not None
    status = api.run_status(ensemble, details, interrupted=interrupted)
    paths |= _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record(status, details)})
    table = ensemble.summary()
    print()
    prisons, years = ensemble.estate.size, c.run.years
    print(
        f"simmodel | scenario: {c.scenario} | funding: {c.funding.name} | estate: {c.estate.name} "
        f"({prisons} prison{'s' if prisons != 1 else ''}) | {years:g} year{'s' if years != 1 else ''} "
        f"| seed {c.run.seed}"
    )
    print(results.console_table(table))
    print(f"\n{_precision_line(ensemble)}")
    print(f"Simulated in {ensemble.wall_seconds:.1f} s. Results: {paths['summary.csv'].parent}")
    if interrupted:
        print(
            f"simmodel: interrupted; the {ensemble.n} replication(s) finished before it are saved "
            '(run.json says "interrupted").',
            file=sys.stderr,
        )
        sys.exit(interrupts.exit_code())
    if ensemble.error:
        print(
            f"simmodel: error: a replication failed ({ensemble.error[:100]}); the {ensemble.n} finished "
            'before it are saved (run.json says "failed").',
            file=sys.stderr,
        )
        sys.exit(EXIT_WRITE_FAILED)


def _write_or_exit(run_dir: Path, files: dict[str, str]) -> dict[str, Path]:
    """Write result files; on a disk or permission error, say so in one line and exit 1."""
    from .outputs import results

    try:
        return results.write_files(run_dir, files)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"simmodel: error: cannot write results to {run_dir}: {reason}.", file=sys.stderr)
        sys.exit(EXIT_WRITE_FAILED)


def _precision_line(ensemble: Ensemble) -> str:
    """How many replications were used and, under precision-based stopping, whether it worked."""
    n = ensemble.n
    cores = ensemble.jobs
    text = f"{n} replication{'s' if n != 1 else ''} on {cores} core{'s' if cores != 1 else ''}."
    if ensemble.target_met is None:
        return text + (" Intervals need at least 2 replications." if n < 2 else "")
    widths = ", ".join(f"{k} {100 * v:.1f}%" for k, v in ensemble.half_widths.items())
    verdict = "met" if ensemble.target_met else "NOT met (run.max_replications reached)"
    return (
        f"{text} Precision target {100 * ensemble.target_half_width:g}% of the mean: {verdict}. "
        f"Half-widths: {widths or 'n/a'}."
    )


#: A single run's configuration and model overrides, composed and checked before Hydra starts.
#: Hydra then composes its own settings only (``configs/single_run.yaml``) instead of the
#: whole model twice more (about 0.15 s each on a quiet 2-core machine, 0.3 s on a busy one);
#: it still makes the run folder's log and calls :func:`_run`. Sweeps, ``--cfg`` and ``--info``
#: compose ``configs/config.yaml`` through Hydra as before.
_checked_run: tuple[Config, list[str]] | None = None


def _hydra_needs_the_model(args: list[str]) -> bool:
    """Whether Hydra must compose the model itself although no ``-m`` was given: sweeper settings,
    or a Hydra setting that refers to a model key (``hydra.job.name=${scenario}``)."""
    from .compose import is_hydra_override

    for arg in args:
        if is_hydra_override(arg):
            key, _, value = arg.lstrip("+~").partition("=")
            if key.startswith(("hydra.sweeper", "hydra/sweeper")) or "${" in value:
                return True
    return False


def _hydra_entry(config_name: str = "config") -> None:
    """Hand the command line (``sys.argv``) to Hydra, which calls :func:`_run` for each job."""
    import hydra

    hydra.main(config_path=str(CONFIG_DIR), config_name=config_name, version_base="1.3")(_run)()


#: Most values one key of a sweep may take (each is checked before the sweep starts).
MAX_SWEEP_VALUES = 10_000


def sweep_variants(
    overrides: list[str], options: Callable[[str], list[str]] | None = None
) -> list[list[str]]:
    """Override lists that together use every value of every swept key once.

    A sweep ``a=1,2 b=x,y,z`` gives three lists, so each value is checked without
    composing every combination. ``glob(...)`` over a group is expanded with
    ``options(group)``; an ``interval(a,b)`` (for sampling sweepers such as Optuna) is
    checked at both ends, and refused with one line under the basic sweeper.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import HydraException

    from .compose import explain
    from .config import ConfigError

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(explain(exc)) from exc
    sampling = any(o.lstrip("+").startswith("hydra/sweeper=") for o in overrides)
    choices = []
    for override in parsed:
        key = override.get_key_element()
        kind = override.value_type
        if kind == ValueType.GLOB_CHOICE_SWEEP:
            names = options(key.split("@")[0]) if options else []
            values = override.value().filter(names)
            if not values:
                raise ConfigError(f"{key}: {override.get_value_element_as_str()} matches no option.")
        elif kind == ValueType.INTERVAL_SWEEP:
            if not sampling:
                raise ConfigError(
                    f"{key}=interval(...) needs a sampling sweeper (e.g. hydra/sweeper=optuna); "
                    "the basic sweeper takes lists (a,b,c), range() and glob()."
                )
            interval = override.value()
            values = [str(interval.start), str(interval.end)]
        elif override.is_sweep_override():
            if kind == ValueType.RANGE_SWEEP:  # listed one by one below: refuse a huge range first
                steps = override.value()
                count = math.ceil((steps.stop - steps.start) / steps.step) if steps.step else math.inf
                if count > MAX_SWEEP_VALUES:
                    raise ConfigError(
                        f"{key}: the range has {count:,} values; a sweep takes at most "
                        f"{MAX_SWEEP_VALUES:,} per key."
                    )
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        choices.append([f"{key}={value}" for value in values] or [f"{key}="])
    longest = max((len(c) for c in choices), default=1)
    return [[c[min(i, len(c) - 1)] for c in choices] for i in range(longest)]


def _hydra_value(overrides: list[str], key: str) -> str | None:
    """The value the last override of Hydra setting ``key`` gives it (in any of its forms:
    ``key=``, ``+key=``, ``++key=``), as Hydra reads it; None if none sets it."""
    from .command_line import parse

    found = [parse(o) for o in overrides if o.lstrip("+").startswith(f"{key}=")]
    if not found:
        return None
    value = found[-1].value()
    return value if isinstance(value, str) else found[-1].get_value_element_as_str()  # (2024_01_05)


def default_run_folder(scenario: str) -> Path:
    """``results/SCENARIO/DATE_TIME``, with ``_2``, ``_3`` ... if two runs start in the same second."""
    base = Path("results") / scenario / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}_{n}")
    return folder


def _output_folder(overrides: list[str], multirun: bool, config: Config) -> tuple[Path, list[str]]:
    """The run or sweep folder, checked; the overrides with it set explicitly for Hydra (each
    Hydra setting was checked by :func:`simmodel.command_line.check_hydra_override`)."""
    from .command_line import hydra_quoted
    from .outputs import run_folder

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = _hydra_value(overrides, key)
    if given is not None and not given.strip():
        raise run_folder.OutputError(
            f"{key} is refused: it is empty, which would mean the current folder.", 2
        )
    if multirun:  # (hydra.sweep.subdir was checked with the other Hydra settings)
        # absolute: jobs a cluster launcher runs elsewhere must write to the same place
        folder = (Path(given).expanduser() if given is not None else Path(sweep_folder(overrides))).absolute()
    else:
        folder = Path(given).expanduser() if given is not None else default_run_folder(config.scenario)
    run_folder.check(folder, sweep=multirun)
    overrides = [o for o in overrides if not o.lstrip("+").startswith(f"{key}=")]
    # quoted, so Hydra reads it back as this text (the working folder's name is not checked: it may hold ')
    return folder, [*overrides, f"{key}={hydra_quoted(str(folder))}"]


HELP = """\
simmodel {version}: social care need and peer (buddy) care in adult prisons in England and Wales.

A discrete-event simulation. Each run composes a configuration from the groups below,
simulates it (several replications) and writes summary.csv, timeseries.csv, report.html
and results.xlsx to results/<scenario>/<date_time>/ under the current folder.

Usage: simmodel [group=option ...] [key=value ...]      (or: python -m simmodel ...)

Common commands:
  simmodel                                     the default: baseline, national estate, 10 years
  simmodel scenario=ageing                     a named scenario
  simmodel estate=single_prison                one prison (copy its file to model your own)
  simmodel funding=care_coordinator            a funding option
  simmodel run.years=5 run.replications=8      run length (whole months) and replications
  simmodel buddies.pay_per_week=12             any parameter, as group.key=value
  simmodel -m funding=status_quo,la_capacity   a sweep, compared by common random numbers
  simmodel --cfg job                           print the composed configuration and stop
  simmodel --config-dir my_configs scenario=x  your own scenario/estate/funding files

Config groups and their options:
{groups}

Other tools:
  simmodel collate SWEEP_FOLDER                collate a sweep folder again
  simmodel validate                            check the baseline against the public figures

Flags: --help, --version, --hydra-help (Hydra's own help), --cfg job, -m/--multirun.
Documentation: README.md in the repository (quick start, outputs, safety, sweeps).
"""


def help_text() -> str:
    """simmodel's --help: what it is, common commands, the config groups and their options."""
    folders = sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    width = max(len(p.name) for p in folders) + 2
    groups = "\n".join(
        f"  {p.name:<{width}}{', '.join(sorted(f.stem for f in p.glob('*.yaml')))}" for p in folders
    )
    return HELP.format(version=__version__, groups=groups)


def main(argv: list[str] | None = None) -> int:
    """Check the config files and the command line (every swept value too), then hand over to Hydra."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SUBCOMMANDS:  # simmodel collate DIR, simmodel validate [key=value ...]
        module = importlib.import_module(SUBCOMMANDS[args[0]])
        return int(module.main(args[1:]))
    if any(a in ("--help", "-h") for a in args):
        print(help_text())
        return 0
    if "--version" in args:
        print(f"simmodel {__version__}")
        return 0
    if "--hydra-help" in args:
        from .config import register_configs

        register_configs()
        sys.argv = [sys.argv[0], "--hydra-help"]  # (nothing else of the command line reaches Hydra)
        _hydra_entry()
        return 0
    from .command_line import check_hydra_setting, check_model_override, parse, parse_arguments
    from .compose import (
        check_choices,
        check_config_files,
        check_overrides,
        config_root,
        group_options,
        is_hydra_override,
        shorten,
        user_layers,
    )
    from .config import ConfigError, register_configs
    from .experiments import interrupts
    from .outputs import run_folder

    global _checked_run
    register_configs()
    folder: Path | None = None
    config_name = "config"
    checked: tuple[Config, list[str]] | None = None
    try:
        command = parse_arguments(args)
        if command.help or command.version or command.hydra_help:  # (abbreviated: --he, --vers ...)
            return main(["--help" if command.help else "--version" if command.version else "--hydra-help"])
        multirun, config_dirs, overrides = command.multirun, command.config_dirs, command.overrides
        run_folder.protect(config_dirs)
        for override in overrides:
            if is_hydra_override(override):
                check_hydra_setting(override)
        layers = user_layers(config_dirs)
        if command.only_prints:
            check_config_files(config_dirs, layers)  # --cfg and --info compose too: no unchecked file
            check_choices(overrides, config_dirs)  # nor one chosen by path (scenario=../file)
            for override in overrides:  # (printed, not run: their values are not range-checked)
                if not is_hydra_override(override):
                    check_model_override(parse(override))
        else:
            configs = [
                check_overrides(variant, config_dirs)
                for variant in (
                    sweep_variants(overrides, lambda group: group_options(group, config_dirs))
                    if multirun
                    else [overrides]
                )
            ]
            folder, overrides = _output_folder(overrides, multirun, configs[0])
            run_folder.create(folder)
            run_folder.lock(folder)
            if not multirun and not _hydra_needs_the_model(overrides):  # Hydra: its own settings only
                checked = (configs[0], [o for o in overrides if not is_hydra_override(o)])
                overrides = [o for o in overrides if is_hydra_override(o)]
                config_name = "single_run"
        args = [*command.hydra_flags(), *overrides]
        root = config_root(layers)
        if root != CONFIG_DIR:  # the user's own options, layered over the shipped ones
            args = ["--config-path", str(root), *args]
    except ConfigError as exc:
        print(f"simmodel: error: {shorten(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except run_folder.OutputError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    from .experiments.sweep_callback import CollateSweep

    sys.argv = [sys.argv[0], *args]
    try:
        CollateSweep.failure = None
        _checked_run = checked  # (set here, so the finally below always clears it)
        _hydra_entry(config_name)
    except KeyboardInterrupt:  # between a sweep's jobs, or while Hydra starts up
        print("\nsimmodel: interrupted.", file=sys.stderr)
        return interrupts.EXIT_CODES[signal.SIGINT]
    except SystemExit as exc:  # Hydra refused to start (an unknown launcher ...) or a run failed
        if exc.code not in (0, None) and folder is not None:
            _remove_run_dir(folder)  # (only if nothing but Hydra's own records is in it)
        raise
    finally:
        _checked_run = None
        if folder is not None:
            run_folder.unlock(folder)
    if multirun and getattr(CollateSweep, "failure", None):
        return EXIT_WRITE_FAILED
    return 0

"""Command line: ``python -m simmodel [scenario=NAME] [key=value ...]``.

Every run is checked before Hydra creates a results folder: the overrides are
composed with Hydra's compose API and range-checked. A mistake stops the run with
one line naming the key and what is allowed, exit code 2, no traceback, and
nothing written to ``results/``.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import shlex
import shutil
import signal
import sys
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import interrupts, report, results, run_folder, trust
from .collate import CollateSweep
from .config import Config, ConfigError, check_ranges, register_configs
from .replications import Ensemble, run_replications

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
EXIT_WRITE_FAILED = 1
_HYDRA_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")
_MULTIRUN_FLAGS = ("--multirun", "-m")

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


# ----------------------------------------------------------------- error messages
#: Users' own config folders (``--config-dir``) of the command being checked.
_user_dirs: tuple[Path, ...] = ()


def _options(group: str) -> list[str]:
    """Options of a config group: the shipped ones and those in the user's folders."""
    folders = [folder / group for folder in (CONFIG_DIR, *_user_dirs)]
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})


def _is_group(key: str) -> bool:
    return any((folder / key).is_dir() for folder in (CONFIG_DIR, *_user_dirs)) if key else False


def _schema_keys(dotted: str) -> list[str] | None:
    """Keys allowed under a dotted path of the schema ('' for the root)."""
    node: Any = Config
    for part in filter(None, dotted.split(".")):
        match = {f.name: f for f in fields(node)}.get(part)
        if match is None:
            return None
        node = match.type if isinstance(match.type, type) else None
        if node is None:
            default = match.default_factory() if callable(match.default_factory) else None  # type: ignore[misc]
            node = type(default) if is_dataclass(default) else None
        if node is None or not is_dataclass(node):
            return None
    return [f.name for f in fields(node)]


def _unknown_option_message(group: str, name: str) -> str:
    plural = {"scenario": "scenarios"}.get(group, f"{group} options")
    return f"Unknown {group} '{name}'. Available {plural}: {', '.join(_options(group))}."


def _unknown_key_message(full_key: str) -> str:
    parent, _, _ = full_key.rpartition(".")
    allowed = _schema_keys(parent)
    message = f"Unknown key '{full_key[:60]}'."
    if not allowed:
        return message
    where = f"under '{parent}'" if parent else "at the top level"
    listed = f" Keys {where}: "
    for i, key in enumerate(allowed):  # as many as fit in a short line
        if len(message) + len(listed) + len(key) > MESSAGE_LIMIT - 25:
            return f"{message}{listed.rstrip(', ')} and {len(allowed) - i} more."
        listed += key + ", "
    return f"{message}{listed.rstrip(', ')}."


#: Longest error message printed (characters): key, what was given, what is allowed.
MESSAGE_LIMIT = 200


def shorten(message: str) -> str:
    """One line of at most :data:`MESSAGE_LIMIT` characters."""
    line = " ".join(message.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3].rstrip() + "..."


def explain(exc: BaseException) -> str:
    """One line a user can act on, from a composition or validation error."""
    return shorten(_explain(exc))


def _explain(exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return str(exc)
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    cause_text = str(cause) if cause else ""
    if isinstance(exc, MissingConfigException):
        found = re.search(r"Could not (?:find|load) '([^/']+)/([^']+)'", text)
        if found:
            return _unknown_option_message(*found.groups())
    key_match = re.search(r"full_key: (\S+)", text) or re.search(r"full_key: (\S+)", cause_text)
    full_key = key_match.group(1) if key_match else None
    if "not in struct" in cause_text or re.search(r"Key '[^']+' not in", cause_text or text):
        if full_key is None:
            key = re.search(r"Key '([^']+)'", cause_text or text)
            full_key = key.group(1) if key else "?"
        source = re.match(r"In '([^'/]+)/([^']+)'", text)
        suffix = f" (set in {source.group(1)} file '{source.group(2)}.yaml')" if source else ""
        return _unknown_key_message(full_key) + suffix
    missing = re.search(r"Interpolation key '([^']+)' not found", cause_text or text)
    if missing:
        return f"{full_key or 'a value'} refers to ${{{missing.group(1)}}}, which is not a key of the model."
    if "could not be converted" in cause_text or "Value '" in cause_text:
        value = re.search(r"Value '([^'$]*)'", text) or re.search(r"Value '([^']*)'", cause_text)
        wanted = re.search(r"converted to (\w+)", text + cause_text)
        kinds = {"Float": "a number", "Integer": "a whole number", "Boolean": "true or false"}
        kind = kinds.get(wanted.group(1), wanted.group(1)) if wanted else "a value of the right type"
        shown = value.group(1) if value else "?"
        return f"{full_key or 'a value'} = {shown[:40]!r} has the wrong type: use {kind}."
    if "mapping values are not allowed" in text or "while parsing" in text or "while scanning" in text:
        source = re.search(r'in "([^"]+)"', text)
        where = f" {Path(source.group(1)).name}" if source else ""
        line = re.search(r"line (\d+)", text)
        return f"A configuration file{where} is not valid YAML" + (
            f" (line {line.group(1)})." if line else "."
        )
    if "Missing mandatory value" in text or "missing mandatory value" in text:
        return f"{full_key} has no value: set it in the configuration or on the command line."
    merging = re.match(r"Error merging override (\S+?)=(.*)", text)
    if merging:
        return f"{merging.group(1)} = {merging.group(2)[:40]!r} cannot be used here: it has the wrong shape."
    return _without_jargon(text or cause_text)


def _without_jargon(text: str) -> str:
    """Hydra's or OmegaConf's own words, less the parts that only mean something to a programmer."""
    text = re.sub(
        r"In '([^'/]+)/([^']+)': \w+ raised while composing config:", r"In \1 file '\2.yaml':", text
    )
    text = re.sub(r"\s*(full_key|object_type|reference_type)[:=]\s*\S*", "", text)
    text = re.sub(r"See https?://\S+ for details\.?", "", text)
    return " ".join(text.replace("Merge error:", "").split())


# -------------------------------------------------------------------- the checks
def check_config_files(config_dirs: tuple[Path, ...] = ()) -> tuple[tuple[str, int, int], ...]:
    """Refuse any config file that does more than set model parameters (:mod:`simmodel.trust`).

    Returns what was checked (path, size, modification time of every file).
    """
    seen = trust.check_folder(CONFIG_DIR, root_trusted=True)
    for folder in config_dirs:
        seen += trust.check_folder(folder, root_trusted=False)
    return tuple(seen)


def _check_override_syntax(overrides: list[str]) -> None:
    """Each override reads as ``key=value`` (Hydra's grammar) with only plain ``${model.key}`` references."""
    parser = OverridesParser.create()
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        try:
            parser.parse_overrides([override])
        except HydraException:
            raise ConfigError(
                f"cannot read {override[:60]!r}: write key=value (e.g. run.years=5); "
                "quote values with spaces or brackets."
            ) from None
        if not key.strip():
            raise ConfigError(f"cannot read {override[:60]!r}: the key before '=' is missing.")
        try:
            trust.check_reference(key, override.partition("=")[2])
        except ConfigError as exc:
            raise ConfigError(f"{key[:60]}: {exc}") from None


def _check_bool_overrides(overrides: list[str]) -> None:
    """``run.deterministic=2`` is not silently true: true/false keys take true or false."""
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        text = value.strip().strip("'\"").lower()
        if sep and trust.is_bool_key(key) and text not in ("true", "false") and not text.startswith("${"):
            raise ConfigError(f"{key} = {value[:40]!r} is not allowed: use true or false.")


def compose_config(overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> DictConfig:
    """Compose the configuration for these overrides (Hydra compose API)."""
    register_configs()
    GlobalHydra.instance().clear()
    if config_dirs:
        paths = ",".join(f"file://{folder.resolve()}" for folder in config_dirs)
        overrides = [*overrides, f"hydra.searchpath=[{paths}]"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


#: Compositions of group choices, by (choices, config folders, files checked); see compose_fast.
_compositions: dict[tuple[object, ...], bytes] = {}


def compose_fast(
    overrides: list[str], config_dirs: tuple[Path, ...], files: tuple[tuple[str, int, int], ...]
) -> DictConfig:
    """The configuration Hydra composes for ``overrides``, reusing compositions of the same groups.

    Hydra builds a configuration in two steps: the defaults tree (group choices such as
    ``scenario=ageing``) and then the value overrides (``run.years=5``), applied by its
    own ``_apply_overrides_to_config``. The first step is the slow one (about 0.3 s), so
    its result is kept per set of group choices and files; the second step runs Hydra's
    own code on a copy. Validation of thousands of override lines stays fast.
    """
    groups = [o for o in overrides if _is_group(o.lstrip("+~").partition("=")[0].split("@")[0]) or "/" in o]
    values = [o for o in overrides if o not in groups]
    key = (tuple(groups), config_dirs, files)
    if key not in _compositions:
        if len(_compositions) > 64:
            _compositions.clear()
        _compositions[key] = pickle.dumps(compose_config(groups, config_dirs))
    cfg = pickle.loads(_compositions[key])  # a fresh copy: 1 ms, where deepcopy takes 18 ms
    parsed = OverridesParser.create().parse_overrides(values)
    ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
    return cfg


def to_config(cfg: DictConfig) -> Config:
    """Validated, typed configuration; raises :class:`ConfigError`."""
    node = OmegaConf.to_object(cfg)
    assert isinstance(node, Config)
    check_ranges(node)
    trust.check_names(node)
    return node


def check_overrides(overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> Config:
    """Check the config files, compose and validate; raise ConfigError with a one-line message."""
    try:
        return _validate(overrides, config_dirs)
    except ConfigError as exc:
        raise ConfigError(shorten(str(exc))) from exc


def _validate(overrides: list[str], config_dirs: tuple[Path, ...]) -> Config:
    global _user_dirs
    _user_dirs = config_dirs
    files = check_config_files(config_dirs)
    model_overrides = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    _check_override_syntax(model_overrides)
    _check_bool_overrides(model_overrides)
    for override in model_overrides:
        key, _, value = override.lstrip("+").partition("=")
        if not override.startswith("~") and _is_group(key) and value not in _options(key):
            raise ConfigError(_unknown_option_message(key, value))
        if override.startswith("+"):
            key = override.lstrip("+").split("=", 1)[0]
            parent, _, leaf = key.rpartition(".")
            if leaf not in (_schema_keys(parent) or []) and not (CONFIG_DIR / key.split("@")[0]).is_dir():
                raise ConfigError(_unknown_key_message(key) + " Keys cannot be added with '+'.")
    try:
        return to_config(compose_fast(model_overrides, config_dirs, files))
    except ConfigError:
        raise
    except Exception as exc:  # Hydra, OmegaConf, YAML and value errors alike
        raise ConfigError(explain(exc)) from exc
    finally:
        GlobalHydra.instance().clear()


# ---------------------------------------------------------------------- the run
def _phase(name: str) -> None:
    """Test hook, called as a run enters each phase ("simulating", "writing", "recording").

    Tests replace it to deliver a signal at an exact phase instead of sleeping.
    """


def _remove_run_dir(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's log, and empty parents."""
    if not run_dir.is_dir():
        return
    if all(p.suffix == ".log" or p.name == run_folder.LOCK_FILE for p in run_dir.iterdir()):
        run_folder.unlock(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        parent = run_dir.parent
        while parent.name and parent.name != "results" and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _comparable(cfg_yaml: str) -> str:
    """The saved configuration without ``run.overwrite`` (which does not change results)."""
    return re.sub(r"(?m)^  overwrite: (true|false)\n", "", cfg_yaml)


def _already_done(run_dir: Path, cfg_yaml: str) -> bool:
    """True if ``run_dir`` holds a complete run of exactly this configuration."""
    saved = run_dir / "config.yaml"
    return (
        results.is_complete(run_dir)
        and saved.is_file()
        and _comparable(saved.read_text(encoding="utf-8")) == _comparable(cfg_yaml)
    )


def _fail(message: str, code: int) -> NoReturn:
    print(f"simmodel: error: {message}", file=sys.stderr)
    sys.exit(code)


def _claim(run_dir: Path, config: Config, cfg_yaml: str, *, sweep_job: bool) -> bool:
    """Lock the run folder and make it this run's; False if it already holds this very run.

    A folder with an unfinished run (interrupted, failed) is cleared and run again. A
    complete run of another configuration is replaced in a sweep's job folder (the sweep
    folder belongs to its command) and otherwise refused unless ``run.overwrite=true``.
    """
    try:
        run_folder.check(run_dir, sweep=False)
        run_folder.lock(run_dir)
    except run_folder.OutputError as exc:
        _fail(str(exc), exc.exit_code)
    if _already_done(run_dir, cfg_yaml) and not config.run.overwrite:
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


def _run(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        config = to_config(cfg)
    except (ConfigError, OmegaConfBaseException) as exc:
        _remove_run_dir(run_dir)
        _fail(explain(exc), EXIT_BAD_INPUT)
    cfg_yaml = results.resolved_yaml(config)
    overrides = [o for o in hydra_cfg.overrides.task if not o.lstrip("+~").startswith("hydra")]
    try:
        with interrupts.watch():
            if _claim(run_dir, config, cfg_yaml, sweep_job=hydra_cfg.mode == RunMode.MULTIRUN):
                _simulate_and_write(config, cfg_yaml, overrides, run_dir)
    finally:
        run_folder.unlock(run_dir)


def _simulate_and_write(config: Config, cfg_yaml: str, overrides: list[str], run_dir: Path) -> None:
    """Simulate, then write every file; signals during writing are recorded and honoured after."""
    c = config
    details: dict[str, object] = {
        "scenario": c.scenario,
        "funding": c.funding.name,
        "estate": c.estate.name,
        "seed": c.run.seed,
        "overrides": overrides,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record("running", details)})
    log.info(
        "Simulating scenario '%s', funding '%s', on estate '%s': %g years after a %g-year warm-up, "
        "seed %d, %d replication(s)",
        c.scenario,
        c.funding.name,
        c.estate.name,
        c.run.years,
        c.run.warmup_years,
        c.run.seed,
        c.run.replications,
    )
    _phase("simulating")
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
    table = ensemble.summary()
    series = ensemble.timeseries()
    command = "python -m simmodel " + " ".join(shlex.quote(o) for o in overrides)
    resolved = report.flatten(OmegaConf.to_container(OmegaConf.structured(config), resolve=True))
    report_html = report.run_report(config, table, series, ensemble.n, command.strip(), cfg_yaml, resolved)
    try:
        report.write_workbook(run_dir / "results.xlsx", report.run_workbook_sheets(table, series))
    except OSError as exc:
        _fail(f"cannot write results to {run_dir}: {exc.strerror or exc}.", EXIT_WRITE_FAILED)
    files = {
        "config.yaml": cfg_yaml,
        "timeseries.csv": series.to_csv(index=False),
        "replications.csv": ensemble.replications_table().to_csv(index=False),
        "summary.csv": table.to_csv(index=False),
        "report.html": report_html,
    }
    paths = _write_or_exit(run_dir, files)
    _phase("recording")
    details["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    details.update(ensemble.run_info())
    interrupted = ensemble.interrupted or interrupts.received() is not None
    status = "interrupted" if interrupted else "failed" if ensemble.error else "complete"
    if ensemble.error:
        details["error"] = ensemble.error
    paths |= _write_or_exit(run_dir, {results.RUN_RECORD: results.run_record(status, details)})
    print()
    print(
        f"simmodel | scenario: {c.scenario} | funding: {c.funding.name} | estate: {c.estate.name} "
        f"({ensemble.estate.size} prisons) | {c.run.years:g} years | seed {c.run.seed}"
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


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> None:
    _run(cfg)


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Override lists that together use every value of every swept key once.

    A sweep ``a=1,2 b=x,y,z`` gives three lists, so each value is checked without
    composing every combination.
    """
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(explain(exc)) from exc
    choices = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        choices.append([f"{key}={value}" for value in values] or [f"{key}="])
    longest = max((len(c) for c in choices), default=1)
    return [[c[min(i, len(c) - 1)] for c in choices] for i in range(longest)]


def _config_dirs(args: list[str]) -> tuple[list[str], tuple[Path, ...]]:
    """Split off ``--config-dir``/``-cd`` folders and ``hydra.searchpath`` entries (user config files)."""
    rest: list[str] = []
    dirs: list[Path] = []
    items = iter(args)
    for arg in items:
        if arg in ("--config-dir", "-cd"):
            dirs.append(Path(next(items, "")))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.partition("=")[2]))
        elif arg in ("--config-path", "-cp", "--config-name", "-cn") or arg.startswith(
            ("--config-path=", "--config-name=")
        ):
            raise ConfigError(
                f"{arg.split('=')[0]} is not supported: use --config-dir FOLDER for your own files."
            )
        elif arg.lstrip("+").startswith("hydra.searchpath="):
            value = arg.partition("=")[2].strip("[]")
            for entry in filter(None, (e.strip() for e in value.split(","))):
                if entry.startswith("pkg://"):
                    raise ConfigError("hydra.searchpath: only folders (file://...) may be added.")
                dirs.append(Path(entry.removeprefix("file://")))
        else:
            rest.append(arg)
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError(f"config folder '{str(folder)[:80]}' does not exist.")
    return rest, tuple(dirs)


def _value_of(args: list[str], key: str) -> str | None:
    found = [a.partition("=")[2] for a in args if a.startswith(f"{key}=")]
    return found[-1] if found else None


def default_run_folder(scenario: str) -> Path:
    """``results/SCENARIO/DATE_TIME``, with ``_2``, ``_3`` ... if two runs start in the same second."""
    base = Path("results") / scenario / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}_{n}")
    return folder


def _output_folder(args: list[str], multirun: bool, config: Config) -> tuple[Path, list[str]]:
    """The run or sweep folder, checked; the arguments with it set explicitly for Hydra."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = _value_of(args, key)
    if given is not None and not given.strip():
        raise run_folder.OutputError(
            f"{key} is refused: it is empty, which would mean the current folder.", 2
        )
    if given is not None and "${" in given:
        raise ConfigError(f"{key} = {given[:60]!r}: write the folder itself, without ${{...}}.")
    if multirun:
        subdir = _value_of(args, "hydra.sweep.subdir")
        if subdir is not None and (
            ".." in Path(subdir).parts or subdir.startswith("/") or not subdir.strip()
        ):
            raise ConfigError(
                f"hydra.sweep.subdir = {subdir[:60]!r}: use a plain name inside the sweep folder."
            )
        overrides = [a for a in args if not a.startswith("-")]
        folder = Path(given) if given is not None else Path(sweep_folder(overrides))
    else:
        folder = Path(given) if given is not None else default_run_folder(config.scenario)
    run_folder.check(folder, sweep=multirun)
    args = [a for a in args if not a.startswith(f"{key}=")]
    return folder, [*args, f"{key}={folder}"]


def main(argv: list[str] | None = None) -> int:
    """Check the config files and the command line (every swept value too), then hand over to Hydra."""
    args = sys.argv[1:] if argv is None else argv
    register_configs()
    if any(a in ("--help", "-h", "--hydra-help") for a in args):
        sys.argv = [sys.argv[0], *args]
        _hydra_entry()
        return 0
    multirun = any(a in _MULTIRUN_FLAGS for a in args)
    folder: Path | None = None
    try:
        hydra_args, config_dirs = _config_dirs(args)
        if any(a in _HYDRA_FLAGS or a.startswith("--cfg") for a in args):
            check_config_files(config_dirs)  # --cfg and --info compose too: no unchecked file
        else:
            overrides = [a for a in hydra_args if not a.startswith("-")]
            configs = [
                check_overrides(variant, config_dirs)
                for variant in (sweep_variants(overrides) if multirun else [overrides])
            ]
            folder, args = _output_folder(args, multirun, configs[0])
            run_folder.create(folder)
            run_folder.lock(folder)
    except ConfigError as exc:
        print(f"simmodel: error: {shorten(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except run_folder.OutputError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.argv = [sys.argv[0], *args]
    try:
        CollateSweep.failure = None
        _hydra_entry()
    except KeyboardInterrupt:  # between a sweep's jobs, or while Hydra starts up
        print("\nsimmodel: interrupted.", file=sys.stderr)
        return interrupts.EXIT_CODES[signal.SIGINT]
    finally:
        if folder is not None:
            run_folder.unlock(folder)
    if multirun and getattr(CollateSweep, "failure", None):
        return EXIT_WRITE_FAILED
    return 0

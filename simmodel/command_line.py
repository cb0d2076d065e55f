"""The trust boundary on the command line: what arguments and overrides from someone else may do.

Command lines are copied from emails, notebooks and cluster scripts, so they are checked as
config files are (:mod:`simmodel.trust`): they may set model parameters, choose options of
the model's groups, and change a short list of Hydra's settings (where results go, how jobs
are launched and swept, how much is logged). Nothing else.

Each argument is read the way Hydra reads it: options by Hydra's own names, abbreviations
and ``=`` forms included (``-cd=X``, ``--config-d X``), and overrides by Hydra's grammar,
escapes included (``$\\{oc.env\\:HOME\\}`` is ``${oc.env:HOME}``). Hydra is then handed a
command line rebuilt from what was read and checked, never the raw text, so the two cannot
read it differently.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .config import ConfigError

#: Hydra's options that only print something (its help, the composed configuration, its
#: search path); no job runs.
_INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


class _Parser(argparse.ArgumentParser):
    """Hydra's argument parser (``hydra._internal.utils.get_args_parser``), with every
    ``--config-dir`` kept and mistakes raised as :class:`ConfigError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"cannot read the command line: {message}.")


def _parser() -> _Parser:
    parser = _Parser(add_help=False, prog="simmodel")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--help", "-h", action="store_true")
    parser.add_argument("--hydra-help", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"])
    parser.add_argument("--resolve", action="store_true")
    parser.add_argument("--package", "-p")
    parser.add_argument("--run", "-r", action="store_true")
    parser.add_argument("--multirun", "-m", action="store_true")
    parser.add_argument("--shell-completion", "-sc", action="store_true")
    parser.add_argument("--config-path", "-cp")
    parser.add_argument("--config-name", "-cn")
    parser.add_argument("--config-dir", "-cd", action="append", default=[])
    parser.add_argument("--experimental-rerun")
    parser.add_argument("--info", "-i", const="all", nargs="?", choices=_INFO_CHOICES)
    return parser


@dataclass
class Arguments:
    """A command line as read (``overrides`` in the order given; folders as given)."""

    overrides: list[str]
    config_dirs: tuple[Path, ...]
    multirun: bool = False
    cfg: str | None = None
    resolve: bool = False
    package: str | None = None
    info: str | None = None
    run: bool = False
    shell_completion: bool = False
    help: bool = False
    version: bool = False
    hydra_help: bool = False

    @property
    def only_prints(self) -> bool:
        """True if Hydra only prints (``--cfg``, ``--info``, ``--shell-completion``): no job runs."""
        return bool(self.cfg or self.info or self.shell_completion)

    def hydra_flags(self) -> list[str]:
        """The options for Hydra, each by its full name (config folders are passed separately)."""
        flags = ["--multirun"] if self.multirun else []
        if self.cfg:
            flags += ["--cfg", self.cfg]
        if self.resolve:
            flags.append("--resolve")
        if self.package:
            flags += ["--package", self.package]
        if self.info:
            flags += ["--info", self.info]
        if self.run:
            flags.append("--run")
        if self.shell_completion:
            flags.append("--shell-completion")
        return flags


def parse_arguments(args: list[str]) -> Arguments:
    """Read a command line as Hydra would; refuse its options that load code or other configurations.

    ``--config-name``/``--config-path`` would compose another primary configuration (which may
    configure Hydra) and ``--experimental-rerun`` unpickles a file (which can run any code);
    ``hydra.searchpath=[...]`` folders are taken as ``--config-dir`` folders (checked alike).
    """
    ns = _parser().parse_intermixed_args(args)  # (options and overrides in any order)
    for name, flag in (("config_name", "--config-name"), ("config_path", "--config-path")):
        if getattr(ns, name) is not None:
            raise ConfigError(f"{flag} is not supported: use --config-dir FOLDER for your own files.")
    if ns.experimental_rerun is not None:
        raise ConfigError(
            "--experimental-rerun is not supported: it loads a pickle file, which can run code."
        )
    actions = [name for name in ("multirun", "cfg", "info", "shell_completion", "run") if getattr(ns, name)]
    if len(actions) > 1:  # (Hydra's own answer is a traceback)
        first, second = (f"--{a.replace('_', '-')}" for a in actions[:2])
        raise ConfigError(f"{first} and {second}: choose one.")
    if any(not d.strip() for d in ns.config_dir):
        raise ConfigError("--config-dir needs a folder (an empty name would mean the working folder).")
    dirs = [Path(d) for d in ns.config_dir]
    overrides: list[str] = []
    for override in ns.overrides:
        searched = _searchpath(override)
        if searched is None:
            overrides.append(override)
        else:
            dirs += searched
    for folder in dirs:
        if not str(folder).strip() or not folder.is_dir():
            raise ConfigError(f"config folder '{str(folder)[:80]}' does not exist.")
    return Arguments(
        overrides=overrides,
        config_dirs=tuple(dirs),
        multirun=ns.multirun,
        cfg=ns.cfg,
        resolve=ns.resolve,
        package=ns.package,
        info=ns.info,
        run=ns.run,
        shell_completion=ns.shell_completion,
        help=ns.help,
        version=ns.version,
        hydra_help=ns.hydra_help,
    )


def _searchpath(override: str) -> list[Path] | None:
    """The folders of a ``hydra.searchpath=[file://...]`` override, or None for any other override."""
    parsed = parse(override)
    if parsed.key_or_group != "hydra.searchpath":
        return None
    if parsed.package or parsed.is_delete():
        raise ConfigError("hydra.searchpath: give a list of folders, hydra.searchpath=[file://FOLDER].")
    value = parsed.value()
    entries = value if isinstance(value, list) else [value]
    folders = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.startswith("file://") or "${" in entry:
            raise ConfigError("hydra.searchpath: only folders (file://FOLDER) may be added.")
        folders.append(Path(entry.removeprefix("file://")))
    return folders


# ------------------------------------------------------------------------- overrides
def parse(override: str) -> Any:
    """One override read by Hydra's grammar (an ``Override``); ConfigError if it cannot be read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides([override])[0]
    except HydraException:
        raise ConfigError(
            f"cannot read {override[:60]!r}: write key=value (e.g. run.years=5); "
            "quote values with spaces or brackets."
        ) from None


def texts(value: Any) -> Iterator[str]:
    """Every text in a parsed override value, as Hydra will use it (escapes removed): in
    lists and mappings, and in the values of sweeps (``a,b``, ``choice()``, ``glob()``)."""
    from hydra.core.override_parser.types import ChoiceSweep, Glob

    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)
    elif isinstance(value, ChoiceSweep):
        yield from texts(value.list)
    elif isinstance(value, Glob):
        yield from texts(value.include)
        yield from texts(value.exclude)


def check_model_override(override: Any) -> None:
    """A model override: no ``@package`` (which would put a group's file anywhere, or load a
    file by path) and no ``${...}`` but plain references to model keys, read after Hydra's escapes."""
    from . import trust

    key = override.key_or_group
    if override.package is not None:
        raise ConfigError(f"{key}@{override.package}: '@' is not allowed; choose an option with {key}=NAME.")
    if override.is_delete():
        return
    for text in texts(override.value()):
        problem = trust.interpolation_problem(text)
        if problem:
            raise ConfigError(f"{key[:60]}: {problem}")


#: Hydra settings a command line may change, beyond the ``hydra.launcher.*`` and
#: ``hydra.sweeper.*`` parameters: where results go, the job's name, logging and mode.
_HYDRA_KEYS = (
    "hydra.run.dir",
    "hydra.sweep.dir",
    "hydra.sweep.subdir",
    "hydra.job.name",
    "hydra.verbose",
)
#: Hydra's config groups a command line may choose an option of (by plain name: Hydra's own,
#: or an installed plugin's; a config folder may not hold a ``hydra`` group).
_HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper", "hydra/job_logging", "hydra/hydra_logging")
#: Launcher and sweeper parameters that run commands, load classes or write elsewhere
#: (submitit's ``setup`` lines run in each job's shell; ``storage`` is optuna's database).
_HYDRA_FORBIDDEN_PARTS = frozenset(
    {
        "_target_",
        "_partial_",
        "_args_",
        "_recursive_",
        "_convert_",
        "setup",
        "srun_args",
        "additional_parameters",
        "storage",
        "callbacks",
        "submitit_folder",
        "env",
        "environ",
        "custom_search_space",  # (optuna's sweeper imports and calls the function it names)
        "params",  # (the basic sweeper has none; Hydra's answer is a traceback)
    }
)
#: Text a launcher or sweeper setting may hold: no newline or other control character (submitit
#: writes each setting as a line of the job's shell script) and no shell or grammar syntax.
_SETTING_TEXT = re.compile(r"[A-Za-z0-9 _.,:=@%+/&|-]*")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
#: A results folder: no character that means something in Hydra's grammar or OmegaConf's
#: ($ { } \ quotes brackets commas =), so it reads back as the same text.
FOLDER_TEXT = re.compile(r"[A-Za-z0-9 _./~:+@%-]*")
FOLDER_RULE = "use letters, digits, spaces and _ . / ~ : + @ % - in a folder name"
_PLAIN_DOTTED = re.compile(r"[A-Za-z0-9_.]+")
#: References a job's name or sub-folder may use: names checked to be plain (trust.PATH_NAME_KEYS),
#: and the job's number.
_NAME_REFERENCES = ("${scenario}", "${estate.name}", "${funding.name}")
_SUBDIR_REFERENCES = ("${hydra.job.num}", "${hydra.job.id}")


def _refuse_hydra(key: str, why: str) -> NoReturn:
    raise ConfigError(f"{key[:60]}: {why}")


def check_hydra_override(override: Any) -> None:
    """A Hydra setting: only those of :data:`_HYDRA_KEYS`, :data:`_HYDRA_GROUPS` and launcher or
    sweeper parameters, each with a plain value. ConfigError (one line) otherwise."""
    key = override.key_or_group
    if override.package is not None or override.is_delete():
        _refuse_hydra(key, "'@' and '~' are not allowed for Hydra's settings.")
    value = override.value()
    if override.is_sweep_override():
        _refuse_hydra(key, "Hydra's settings take one value, not a sweep.")
    if key in _HYDRA_GROUPS:
        if not (isinstance(value, str) and _PLAIN_NAME.fullmatch(value)):
            _refuse_hydra(key, "choose an option by its plain name (e.g. hydra/launcher=joblib).")
        return
    if key.startswith(("hydra.launcher.", "hydra.sweeper.")):
        parts = set(key.split("."))
        if parts & _HYDRA_FORBIDDEN_PARTS:
            _refuse_hydra(key, "this launcher or sweeper setting may not be set from the command line.")
        if override.is_add() or override.is_force_add():  # (a new key Hydra would instantiate)
            _refuse_hydra(key, "a launcher or sweeper setting may be changed, not added with '+'.")
        if not _plain_values(value):  # a mapping may hold _target_: Hydra instantiates the launcher
            _refuse_hydra(key, "give a number, true/false, text or a list of them.")
        return
    if key not in _HYDRA_KEYS:
        _refuse_hydra(
            key,
            "not settable here; allowed: hydra.run.dir, hydra.sweep.dir/.subdir, hydra.job.name, "
            "hydra/launcher, hydra/sweeper and their parameters, logging.",
        )
    if key == "hydra.verbose":
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(v, bool) or (isinstance(v, str) and _PLAIN_DOTTED.fullmatch(v)) for v in names):
            _refuse_hydra(key, "use true, false or logger names.")
        return
    if isinstance(value, int | float) and not isinstance(value, bool):  # (2024_01_05 reads as a number)
        value = override.get_value_element_as_str()
    if not isinstance(value, str):
        _refuse_hydra(key, "give a name or a folder.")
    if key in ("hydra.run.dir", "hydra.sweep.dir"):
        if not FOLDER_TEXT.fullmatch(value):  # (it is handed to Hydra again, in quotes)
            _refuse_hydra(key, f"{FOLDER_RULE} (and / between folders, not \\).")
    elif key == "hydra.job.name":
        if not _plain_with(value, _NAME_REFERENCES):
            _refuse_hydra(key, "use letters, digits, '_' and '-' (and ${scenario}); it names the log file.")
    elif not _plain_with(value, _SUBDIR_REFERENCES) or value in (".", ".."):  # hydra.sweep.subdir
        _refuse_hydra(key, "use a plain name inside the sweep folder (and ${hydra.job.num}).")


def hydra_quoted(text: str) -> str:
    """``text`` as a quoted value of Hydra's grammar, read back as the same text (a folder
    simmodel chose or checked: no ``${`` or backslash, which quotes do not make plain)."""
    if "${" in text or "\\" in text:
        raise ConfigError(f"{text[:60]!r}: a folder with '${{' or a backslash cannot be handed to Hydra.")
    return "'" + text.replace("'", "\\'") + "'"


def check_hydra_setting(text: str) -> Any:
    """One Hydra setting of a command line, read and checked (:func:`check_hydra_override`; an
    option of one of Hydra's groups must exist); returns it as Hydra's grammar reads it."""
    override = parse(text)
    check_hydra_override(override)
    if "/" in override.key_or_group:  # hydra/launcher=NAME and the like
        check_hydra_option(override.key_or_group, override.value())
    return override


def check_hydra_option(group: str, name: str) -> None:
    """``name`` is an option of Hydra's group ``group`` (``hydra/launcher``: its own or a plugin's)."""
    from .compose import hydra_options

    options = hydra_options(group)
    if name not in options:
        raise ConfigError(f"Unknown {group} '{name[:40]}'. Available: {', '.join(options)}.")


def _plain_values(value: Any) -> bool:
    """A scalar without ``${`` (numbers, true/false, null, text), or a list of them."""
    items = value if isinstance(value, list) else [value]
    return all(
        item is None
        or isinstance(item, bool | int | float)
        or (isinstance(item, str) and _SETTING_TEXT.fullmatch(item))
        for item in items
    )


def _plain_with(value: str, references: tuple[str, ...]) -> bool:
    """``value`` is letters, digits, '_', '-' and '.' (not '..') besides the given references."""
    rest = value
    for reference in references:
        rest = rest.replace(reference, "")
    return (
        bool(value)
        and "${" not in rest
        and ".." not in rest
        and re.fullmatch(r"[A-Za-z0-9_.-]*", rest) is not None
    )


def is_hydra_key(key: str) -> bool:
    """A key of Hydra's own settings (``hydra.run.dir``, ``hydra/launcher``)."""
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))

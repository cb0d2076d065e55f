"""Composing and validating a configuration: the one path every run takes before it simulates.

The command line, the Python API and the tests all call :func:`check_overrides`. It
checks the config files (:mod:`simmodel.trust`), each override's syntax, composes the
configuration with Hydra's compose API and range-checks it (:mod:`simmodel.config`). A
mistake raises :class:`~simmodel.config.ConfigError` with one line of at most
:data:`MESSAGE_LIMIT` characters naming the key, what was given and what is allowed.
"""

from __future__ import annotations

import atexit
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

from . import command_line, trust
from .config import Config, ConfigError, as_checked, check_ranges, fingerprint, mark_checked, register_configs
from .paths import CONFIG_DIR, REPO

# ------------------------------------------------------------- users' own config files
#: Folders in the current working folder holding a user's own options of a group.
USER_FOLDERS = {"scenarios": "scenario", "estates": "estate"}

#: The config root of the command being checked (the shipped folder, or a layered copy).
_root: Path = CONFIG_DIR
_layered: dict[tuple[object, ...], Path] = {}


def user_layers(config_dirs: tuple[Path, ...] = (), cwd: Path | None = None) -> tuple[tuple[str, Path], ...]:
    """The user's own option folders, highest priority first, as (group, folder) pairs.

    ``scenarios/`` and ``estates/`` in the working folder come first (not in the
    repository itself, where ``scenarios/`` is the shipped folder), then the group
    folders of each ``--config-dir``. All are searched before the shipped options.
    """
    cwd = (cwd or Path.cwd()).resolve()
    layers: list[tuple[str, Path]] = []
    if cwd != REPO.resolve():
        layers += [(group, cwd / name) for name, group in USER_FOLDERS.items() if (cwd / name).is_dir()]
    for folder in config_dirs:  # (hidden folders such as .git or .github are not groups)
        layers += [
            (sub.name, sub) for sub in sorted(folder.iterdir()) if sub.is_dir() and sub.name[0] not in "._"
        ]
    return tuple(layers)


def config_root(layers: tuple[tuple[str, Path], ...]) -> Path:
    """The folder Hydra reads: the shipped configs, or a layered copy with the user's options on top.

    The copy is a temporary folder of symbolic links: every shipped file, then each
    user folder's files from the lowest priority to the highest, so a user's
    ``scenarios/ageing.yaml`` replaces the shipped one. Made once per set of files.
    """
    if not layers:
        return CONFIG_DIR
    names = tuple(
        (group, str(folder), tuple(sorted(p.name for p in folder.glob("*.yaml")))) for group, folder in layers
    )
    key = (str(CONFIG_DIR), names)
    if key in _layered and _layered[key].is_dir():
        return _layered[key]
    root = Path(tempfile.mkdtemp(prefix="simmodel-configs-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name in trust.SHIPPED_HYDRA_FILES:
        (root / name).symlink_to(CONFIG_DIR / name)
    sources = [(p.name, p) for p in sorted(CONFIG_DIR.iterdir()) if p.is_dir()] + list(reversed(layers))
    for group, folder in sources:
        (root / group).mkdir(exist_ok=True)
        for path in folder.glob("*.yaml"):
            link = root / group / path.name
            link.unlink(missing_ok=True)
            link.symlink_to(path.resolve())
    _layered[key] = root
    return root


def _options(group: str, root: Path | None = None) -> list[str]:
    """Options of a config group, shipped and the user's (in ``root``, default the command's)."""
    folder = (root or _root) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def group_options(group: str, config_dirs: tuple[Path, ...] = ()) -> list[str]:
    """Options of a config group with the user's folders (for ``glob(...)`` sweeps)."""
    return _options(group, config_root(user_layers(config_dirs)))


def _is_group(key: str) -> bool:
    return bool(key) and (_root / key).is_dir()


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
def check_config_files(
    config_dirs: tuple[Path, ...] = (), layers: tuple[tuple[str, Path], ...] | None = None
) -> tuple[tuple[str, int, int], ...]:
    """Refuse any config file that does more than set model parameters (:mod:`simmodel.trust`).

    Checks the shipped folder and every user folder (``layers``; by default those of
    :func:`user_layers`). Returns what was checked (path, size, modification time).
    """
    seen = trust.check_folder(CONFIG_DIR, root_trusted=True)
    for group, folder in user_layers(config_dirs) if layers is None else layers:
        files = sorted(folder.rglob("*.y*ml"))
        if group == "hydra" or group.startswith("hydra."):
            raise trust.refuse(folder, "a 'hydra' config group may not be supplied.")
        if files and not (CONFIG_DIR / group).is_dir():  # (Hydra would offer it as a group of its own)
            groups = ", ".join(
                sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name[0].isalpha())
            )
            raise trust.refuse(folder, f"'{group[:30]}' is not a config group of the model ({groups}).")
        seen += [trust.check_file(path, group) for path in files]
    return tuple(seen)


def _nesting(text: str) -> int:
    """Deepest nesting of brackets and braces in ``text``."""
    depth = deepest = 0
    for char in text:
        if char in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]})":
            depth = max(depth - 1, 0)
    return deepest


def _check_override_syntax(overrides: list[str]) -> None:
    """Each override reads as ``key=value`` (Hydra's grammar), sets one value (a sweep needs
    ``-m``), and holds only plain ``${model.key}`` references once Hydra's escapes are read
    (:func:`simmodel.command_line.check_model_override`)."""
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if _nesting(override) > trust.MAX_DEPTH:  # Hydra's parser would exhaust its recursion
            raise ConfigError(f"{key[:60]}: the value is nested more than {trust.MAX_DEPTH} levels deep.")
        parsed = command_line.parse(override)
        if not key.strip():
            raise ConfigError(f"cannot read {override[:60]!r}: the key before '=' is missing.")
        command_line.check_model_override(parsed)
        if parsed.is_sweep_override():
            raise ConfigError(
                f"{key[:60]} = {override.partition('=')[2][:40]!r} is a sweep: add -m to run each value "
                "(quote a value that holds a comma)."
            )


def _check_bool_overrides(overrides: list[str]) -> None:
    """``run.deterministic=2`` is not silently true: true/false keys take true or false."""
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        text = value.strip().strip("'\"").lower()
        if (
            sep
            and trust.is_bool_key(key)
            and text not in ("true", "false")
            and not (text == "null" and trust.is_optional_key(key))
            and not text.startswith("${")
        ):
            raise ConfigError(f"{key} = {value[:40]!r} is not allowed: use true or false.")


def compose_config(overrides: list[str], root: Path | None = None) -> DictConfig:
    """Compose the configuration for these overrides (Hydra compose API) from ``root``."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(root or _root), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def hydra_options(group: str) -> list[str]:
    """Options of one of Hydra's own groups (``hydra/launcher``: Hydra's and installed plugins')."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(_root), version_base="1.3"):
            return sorted(GlobalHydra.instance().config_loader().get_group_options(group))
    finally:
        GlobalHydra.instance().clear()


#: Compositions of group choices, by (choices, config folders, files checked); see compose_fast.
_compositions: dict[tuple[object, ...], bytes] = {}


def compose_fast(overrides: list[str], root: Path, files: tuple[tuple[str, int, int], ...]) -> DictConfig:
    """The configuration Hydra composes for ``overrides``, reusing compositions of the same groups.

    Hydra builds a configuration in two steps: the defaults tree (group choices such as
    ``scenario=ageing``) and then the value overrides (``run.years=5``), applied by its
    own ``_apply_overrides_to_config``. The first step is the slow one (about 0.3 s), so
    its result is kept per set of group choices and files; the second step runs Hydra's
    own code on a copy. Validation of thousands of override lines stays fast.
    """
    groups = [o for o in overrides if _is_group(o.lstrip("+~").partition("=")[0].split("@")[0]) or "/" in o]
    values = [o for o in overrides if o not in groups]
    key = (tuple(groups), str(root), files)
    if key not in _compositions:
        if len(_compositions) > 64:
            _compositions.clear()
        _compositions[key] = pickle.dumps(compose_config(groups, root))
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
    from .model.flows import check_flows  # scipy: imported only when a run is about to start

    check_flows(node)
    _check_objective(node)
    mark_checked(node)  # (OmegaConf made it: every value of its field's type)
    return node


def check_composed(cfg: DictConfig) -> None:
    """Refuse a composed configuration holding a ``${...}`` that is not a plain reference to a
    model key, before anything resolves it: a sweep job's values come from Hydra's sweeper, not
    only from the command line checked before it started."""
    for text in command_line.texts(OmegaConf.to_container(cfg, resolve=False)):
        problem = trust.interpolation_problem(text)
        if problem:
            raise ConfigError(problem)


def _check_objective(cfg: Config) -> None:
    from .outputs.results import METRICS  # the model's outputs: imported only when checking

    names = [m.name for m in METRICS]
    if cfg.run.objective not in names:
        raise ConfigError(
            f"run.objective = {cfg.run.objective[:40]!r} is not a summary metric (e.g. {names[0]})."
        )


def check_choices(overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> None:
    """Each choice of a model group names one of its options (checked files), never a path to
    another file; for commands that only print a configuration (``--cfg``, ``--info``)."""
    global _root
    _root = config_root(user_layers(config_dirs))
    for override in overrides:
        parsed = command_line.parse(override)
        key = parsed.key_or_group
        if parsed.is_delete() or command_line.is_hydra_key(key) or not _is_group(key):
            continue
        if "GLOB" in parsed.value_type.name:
            continue  # (a glob picks among the options only)
        for name in command_line.texts(parsed.value()):
            if name not in _options(key):
                raise ConfigError(_unknown_option_message(key, name))


def check_overrides(overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> Config:
    """Check the config files, compose and validate; raise ConfigError with a one-line message."""
    try:
        return _validate(overrides, config_dirs)
    except ConfigError as exc:
        raise ConfigError(shorten(str(exc))) from exc
    except RecursionError:  # a structure too deep for Hydra or OmegaConf to walk
        raise ConfigError(f"a value is nested too deeply (at most {trust.MAX_DEPTH} levels).") from None


def is_hydra_override(override: str) -> bool:
    """``hydra.run.dir=...``, ``hydra/launcher=...`` and the like: Hydra's own settings, which
    the model's configuration does not hold."""
    return command_line.is_hydra_key(override.lstrip("+~").partition("=")[0].split("@")[0])


def _validate(overrides: list[str], config_dirs: tuple[Path, ...]) -> Config:
    global _root
    layers = user_layers(config_dirs)
    files = check_config_files(config_dirs, layers)
    _root = config_root(layers)
    model_overrides = [o for o in overrides if not is_hydra_override(o)]
    _check_override_syntax(model_overrides)
    _check_bool_overrides(model_overrides)
    for override in model_overrides:
        key, _, value = override.lstrip("+").partition("=")
        if not override.startswith("~") and _is_group(key) and value not in _options(key):
            raise ConfigError(_unknown_option_message(key, value))
        if not override.startswith(("+", "~")) and "." in key and not _is_group(key.split("@")[0]):
            # an unknown key is refused here, before the composition (about 0.4 s) Hydra would
            # need to find it; keys under lists and dicts (no schema below them) are left to Hydra
            parent, _, leaf = key.rpartition(".")
            allowed = _schema_keys(parent)
            if allowed is not None and leaf not in allowed:
                raise ConfigError(_unknown_key_message(key))
        if override.startswith("+"):
            key = override.lstrip("+").split("=", 1)[0]
            parent, _, leaf = key.rpartition(".")
            if leaf not in (_schema_keys(parent) or []) and not _is_group(key.split("@")[0]):
                raise ConfigError(_unknown_key_message(key) + " Keys cannot be added with '+'.")
    try:
        return to_config(compose_fast(model_overrides, _root, files))
    except ConfigError:
        raise
    except Exception as exc:  # Hydra, OmegaConf, YAML and value errors alike
        raise ConfigError(explain(exc)) from exc
    finally:
        GlobalHydra.instance().clear()


def revalidate(cfg: Config) -> None:
    """Check a configuration again after code changed it (types, ranges, names); ConfigError if wrong.

    A :class:`Config` is a plain dataclass, so ``cfg.buddies.posts_per_1000_prisoners = -3``
    after validation goes unnoticed until this runs (the replications run it first). A
    configuration whose every value and type is still what passed the checks is not checked
    again (1 ms to compare, where the checks take about 0.1 s).
    """
    now = fingerprint(cfg)
    if as_checked(cfg, now):
        return
    for text in command_line.texts(asdict(cfg) if is_dataclass(cfg) else cfg):
        if "${" in text:  # the model would read the text itself: OmegaConf resolves only its copy
            raise ConfigError(
                f"a value set in code holds {text[:40]!r}: write the value itself, without ${{...}}."
            )
    try:
        node = OmegaConf.to_object(OmegaConf.structured(cfg))
    except Exception as exc:  # OmegaConf's type errors
        raise ConfigError(explain(exc)) from exc
    assert isinstance(node, Config)
    for key, value, wanted in _conversions(cfg, node):  # the run uses cfg itself, not the copy
        raise ConfigError(f"{key} = {str(value)[:40]!r} has the wrong type: use {wanted}.")
    check_ranges(node)
    trust.check_names(node)
    from .model.flows import check_flows  # scipy: imported only when a run is about to start

    check_flows(node)
    _check_objective(node)
    if fingerprint(node) == now:  # no value needed converting to its field's type
        mark_checked(cfg, now)


_KINDS = {float: "a number", int: "a whole number", bool: "true or false", str: "text"}


def _conversions(given: Any, checked: Any, key: str = "") -> Iterator[tuple[str, Any, str]]:
    """(key, value, what is wanted) for each value set in code that OmegaConf had to convert to
    its field's type (a number given as text, a mapping in place of a group of keys); a whole
    number where the model wants a number is fine."""
    if is_dataclass(given) and type(given) is type(checked):
        for f in fields(given):
            yield from _conversions(
                getattr(given, f.name), getattr(checked, f.name), f"{key}.{f.name}".lstrip(".")
            )
    elif isinstance(given, list) and isinstance(checked, list) and len(given) == len(checked):
        for i, (item, checked_item) in enumerate(zip(given, checked, strict=True)):
            yield from _conversions(item, checked_item, f"{key}[{i}]")
    elif type(given) is not type(checked) and not (type(given) is int and type(checked) is float):
        wanted = _KINDS.get(type(checked), f"a {type(checked).__name__}")
        yield key, given, "a group of keys" if is_dataclass(checked) else wanted

"""The trust boundary: a configuration file from someone else may set model parameters, nothing else.

Planners copy and share scenario, estate and funding files. Before Hydra composes a
configuration, every YAML file it could read from a config folder is checked here, and
a file is refused (one line naming the file and the offending key) when it:

* is larger than :data:`MAX_FILE_BYTES` (a national estate listed prison by prison is
  about 20 KB), or not UTF-8 text;
* carries a YAML tag (``!!python/...``, ``!x``), anchors and aliases that expand to
  more than :data:`MAX_NODES` nodes (the "billion laughs" file), or values nested more
  than :data:`MAX_DEPTH` levels deep (which would exhaust the loaders' recursion);
* has a ``# @package`` header other than ``_global_``, ``_group_`` or its own group;
* sets a ``hydra`` key, a ``defaults`` list that does more than build on another
  option of its own group, or, when global, any top-level key that is
  not a model key (a file can then neither reconfigure Hydra, its logging, its output
  folders and environment, nor pull in other configs);
* holds an interpolation that is not a plain reference to another model key
  (``${oc.env:HOME}``, ``${oc.decode:...}``, ``${now:...}`` and every other resolver
  are refused, so no file can copy the environment into the results people forward);
* gives a true/false key anything but true or false.

Only the root ``config.yaml`` of the shipped config folder may configure Hydra. Checks
are cached by (path, size, modification time), so validating many overrides stays fast.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

import yaml
from hydra.plugins.config_source import ConfigSource

from .config import Config, ConfigError
from .paths import CONFIG_DIR

#: Largest config file accepted, bytes. The national estate listed prison by prison is
#: about 20 KB; 256 KB leaves room for long comments and keeps parsing instant.
MAX_FILE_BYTES = 256 * 1024
#: Most YAML nodes a file may expand to after anchors and aliases are followed; the
#: full schema has about 150 leaves, a listed national estate about 800 nodes.
MAX_NODES = 20_000
#: Deepest nesting of mappings and lists accepted; the schema is 4 levels deep (estate.prisons[i].name).
MAX_DEPTH = 32
#: Model keys a global file may set (the root of the schema).
MODEL_ROOTS = frozenset(f.name for f in fields(Config))
#: A plain reference to another model key, ``${population.receptions_per_year}``.
_PLAIN_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*\}")
#: Characters allowed in a name that becomes part of a results path.
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
#: A prison name: starts with a letter or digit; letters, digits, spaces and ' & , . ( ) - /.
PRISON_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 '&,.()/-]{0,79}")

#: Keys whose values become part of results paths.
PATH_NAME_KEYS = frozenset({"scenario", "estate.name", "funding.name"})

_cache: dict[tuple[str, int, int], str | None] = {}


def refuse(path: Path | str, what: str) -> ConfigError:
    """The one-line error for a refused file."""
    return ConfigError(f"{Path(path).name} is refused: {what}"[:200])


# ------------------------------------------------------------------------- schema
@functools.cache
def _hints(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def _field_type(dotted: str) -> Any:
    """The schema type at a dotted key (a dataclass, a scalar type, ``list[...]``), or None if
    unknown. List items are named by index, as in a file (``estate.prisons[0].older_unit``) or on
    the command line (``estate.prisons.0.older_unit``); an optional type gives its type."""
    node: Any = Config
    for part in re.sub(r"\[(\d+)\]", r".\1", dotted).split("."):
        if part.isdigit():
            if typing.get_origin(node) is not list:
                return None
            node = typing.get_args(node)[0]
            continue
        if not is_dataclass(node):
            return None
        node = _hints(node).get(part)
        if typing.get_origin(node) in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(node) if a is not type(None)]
            node = options[0] if len(options) == 1 else None
    return node


def is_optional_key(dotted: str) -> bool:
    """True if the schema lets ``dotted`` be null (``bool | None``)."""
    parent, _, leaf = re.sub(r"\[(\d+)\]", r".\1", dotted).rpartition(".")
    schema = _field_type(parent) if parent else Config
    hint = _hints(schema).get(leaf) if is_dataclass(schema) else None
    return type(None) in typing.get_args(hint)


def is_bool_key(dotted: str) -> bool:
    """True if the schema types ``dotted`` as true/false."""
    return _field_type(dotted) is bool


# ------------------------------------------------------------------------- YAML
#: PyYAML's safe loader, on libyaml where PyYAML was built with it (about 10x faster: every config
#: file is read three times before each run, which is most of the start-up of a validation error).
#: The project's other data files (the assumptions registry, the public figures) are read with it too.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # (CSafeLoader is no SafeLoader subclass)


def _check_events(path: Path, text: str) -> None:
    """Refuse YAML tags and deep nesting; the stream is read as events, so nothing is expanded."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=SAFE_LOADER):
            tag = getattr(event, "tag", None)
            if tag is not None:
                raise refuse(path, f"YAML tags such as {tag[:30]!r} are not allowed.")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:  # deeper would exhaust the recursion of YAML's and Hydra's loaders
                    raise refuse(path, f"values are nested more than {MAX_DEPTH} levels deep.")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise refuse(path, f"it is not valid YAML{where}.") from None


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes ``node`` stands for once every alias is followed (memoised: linear time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > 100:
        return MAX_NODES + 1
    memo[key] = MAX_NODES + 1  # a node that contains itself is too big
    size = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
            if size > MAX_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, memo, depth + 1)
            if size > MAX_NODES:
                break
    memo[key] = size
    return size


def _check_duplicate_keys(path: Path, node: yaml.Node | None, prefix: str) -> None:
    """A key set twice in one mapping is refused (YAML would keep either, silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            dotted = f"{prefix}.{key}" if prefix else key
            if key in seen:
                raise refuse(path, f"{dotted[:60]} is set twice.")
            seen.add(key)
            _check_duplicate_keys(path, value_node, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(path, item, f"{prefix}[{i}]")


def _load(path: Path, text: str) -> Any:
    _check_events(path, text)
    try:
        node = yaml.compose(text, Loader=SAFE_LOADER)
    except yaml.YAMLError:  # e.g. two documents separated by '---'
        raise refuse(path, "it is not one valid YAML document.") from None
    if node is not None and _expanded_size(node, {}) > MAX_NODES:
        raise refuse(path, f"anchors and aliases expand to more than {MAX_NODES:,} values.")
    _check_duplicate_keys(path, node, "")
    try:
        return yaml.load(text, Loader=SAFE_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError:
        raise refuse(path, "it is not valid YAML.") from None


# ---------------------------------------------------------------------- content
def interpolation_problem(value: str) -> str | None:
    """Why ``value``'s ``${...}`` is not allowed (only plain references to model keys are), or None."""
    if "${" not in value:
        return None
    rest = value
    for match in _PLAIN_REFERENCE.finditer(value):
        if match.group(1) not in MODEL_ROOTS:
            return f"{match.group(0)[:40]} is not a model key: only ${{model.key}} references are allowed."
        rest = rest.replace(match.group(0), "", 1)
    if "${" in rest:
        return "only plain ${model.key} references are allowed (no resolvers such as oc.env)."
    return None


def _check_text(path: Path, key: str, value: str) -> None:
    problem = interpolation_problem(value)
    if problem:
        raise refuse(path, f"{key}: {problem}")


def check_reference(key: str, value: str) -> None:
    """Refuse a command-line value whose ``${...}`` is not a plain reference to a model key."""
    problem = interpolation_problem(value)
    if problem:
        raise ConfigError(problem)


def _walk(path: Path, node: Any, prefix: str) -> None:
    schema = _field_type(prefix) if prefix else Config
    if is_dataclass(schema) and not isinstance(node, dict):
        raise refuse(path, f"{prefix} holds keys, not a single value ({str(node)[:30]!r}).")
    if isinstance(node, dict):
        known = {f.name for f in fields(schema)} if is_dataclass(schema) else None
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if known is not None and k not in known:
                raise refuse(path, f"{key[:60]} is not a key of the model.")
            if isinstance(k, str):
                _check_text(path, key, k)
            if prefix and k == "hydra":
                raise refuse(path, f"it sets {key}: files may set model parameters only.")
            if v is None or isinstance(v, bool | dict | list) or not is_bool_key(key):  # (null: unset)
                _walk(path, v, key)
            else:
                raise refuse(path, f"{key} = {str(v)[:30]!r}: use true or false.")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(path, item, f"{prefix}[{i}]")
    elif isinstance(node, str):
        _check_text(path, prefix, node)
    if prefix in PATH_NAME_KEYS and not IDENTIFIER.fullmatch(str(node)):
        raise refuse(
            path, f"{prefix} = {str(node)[:40]!r}: use letters, digits, '_' and '-' (it names folders)."
        )
    if re.fullmatch(r"estate\.prisons\[\d+\]\.name", prefix) and not PRISON_NAME.fullmatch(str(node)):
        raise refuse(path, f"{prefix} = {str(node)[:30]!r}: start with a letter or digit (plain text only).")


def _check_defaults(path: Path, defaults: Any, group: str | None) -> None:
    """A defaults list may only build on another option of the same group (``- status_quo``)."""
    siblings = {p.stem for p in path.parent.glob("*.yaml")}  # the user's own options of the group
    if group is not None:
        siblings |= {p.stem for p in (CONFIG_DIR / group).glob("*.yaml")}  # and the shipped ones
    if group is None or not isinstance(defaults, list):
        raise refuse(path, "it has a defaults list: files may set model parameters only.")
    for item in defaults:
        if item != "_self_" and not (isinstance(item, str) and item in siblings and item != path.stem):
            raise refuse(
                path,
                f"defaults entry {str(item)[:40]!r} is not allowed: only other {group} options and _self_.",
            )


def check_data_file(path: Path, max_bytes: int) -> None:
    """Refuse a YAML data file from elsewhere (a received sweep's ``multirun.yaml``) that is not
    a regular file, is larger than ``max_bytes``, or holds tags, deep nesting or alias bombs."""
    stat = path.stat()
    if not S_ISREG(stat.st_mode):
        raise refuse(path, "it is not a regular file.")
    if stat.st_size > max_bytes:
        raise refuse(path, f"it is {stat.st_size / 1024:,.0f} KB; at most {max_bytes // 1024:,} KB is read.")
    _load(path, path.read_bytes().decode("utf-8", "replace"))


def check_file(path: Path, group: str | None) -> tuple[str, int, int]:
    """Refuse ``path`` (a config file in ``group``, or the root when None) unless it only sets
    model parameters. Raises :class:`ConfigError` with one line naming the file.

    Returns the file's (path, size, modification time), which identifies what was checked.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise refuse(path, f"it cannot be read ({exc.strerror}).") from None
    if not S_ISREG(stat.st_mode):  # a FIFO would hang the read, /dev/zero never end
        raise refuse(path, "it is not a regular file.")
    cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
    if cache_key in _cache:
        if _cache[cache_key] is not None:
            raise ConfigError(_cache[cache_key])
        return cache_key
    try:
        _check_uncached(path, group, stat.st_size)
    except ConfigError as exc:
        _cache[cache_key] = str(exc)
        raise
    _cache[cache_key] = None
    return cache_key


def _check_uncached(path: Path, group: str | None, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise refuse(
            path, f"it is {size / 1024:,.0f} KB; config files may be at most {MAX_FILE_BYTES // 1024} KB."
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise refuse(path, "it is not UTF-8 text.") from None
    try:
        header = ConfigSource._get_header_dict(text) if "@" in text else {"package": None}
    except ValueError:  # a top comment such as "# @package a b" or "# @TODO" that Hydra cannot read
        raise refuse(
            path, "a '# @' comment at the top is not a header Hydra can read; use '# @package _global_'."
        ) from None
    package = header.get("package")
    if set(header) - {"package"}:
        raise refuse(path, f"header '@{sorted(set(header) - {'package'})[0]}' is not allowed.")
    allowed = {None, "_global_", "_group_", group} if group else {None, "_global_"}
    if package not in allowed:
        raise refuse(path, f"'# @package {package[:40]}' is not allowed; use _global_ or none.")
    data = _load(path, text)
    if data is None:
        if group == "scenario":  # (Hydra would compose an empty scenario name)
            raise refuse(path, "it is empty: a scenario sets at least 'scenario: NAME'.")
        return
    if not isinstance(data, dict):
        raise refuse(path, "it must be a mapping of keys to values.")
    if group == "scenario" and package is None:  # its keys would land under 'scenario'
        raise refuse(
            path, "a scenario file starts with the line '# @package _global_' (see the shipped ones)."
        )
    if "defaults" in data:
        _check_defaults(path, data.pop("defaults"), group)
    is_global = package == "_global_" or group is None
    if is_global:
        for key in data:
            if key == "hydra":
                raise refuse(path, "it sets hydra: files may set model parameters only.")
            if key not in MODEL_ROOTS:
                raise refuse(
                    path, f"top-level key {str(key)[:40]!r} is not a model key (allowed: model groups)."
                )
        _walk(path, data, "")
    else:
        _walk(path, data, group)


#: The shipped root files that configure Hydra: the primary configurations and the settings
#: both include (a layered config folder links them too: compose.config_root).
SHIPPED_HYDRA_FILES = ("config.yaml", "hydra_settings.yaml", "single_run.yaml")
#: Root files of the shipped config folder that are not checked as a user's file would be
#: (see :func:`check_folder`).
SHIPPED_ROOT_FILES = (*SHIPPED_HYDRA_FILES, "assumptions.yaml", "targets.yaml")


def check_folder(folder: Path, *, root_trusted: bool) -> list[tuple[str, int, int]]:
    """Check every YAML file under a config folder (groups one level down, as Hydra reads them).

    In the shipped folder (``root_trusted``), the root files of :data:`SHIPPED_ROOT_FILES`
    are trusted: ``config.yaml``, ``hydra_settings.yaml`` and ``single_run.yaml`` are the
    only files that may configure Hydra; ``assumptions.yaml`` (the ranges registry) and
    ``targets.yaml`` (the public figures) are data read with :data:`SAFE_LOADER`, never
    composed. In a user's folder every file is checked like the rest. Returns the
    (path, size, modification time) of every file, so a caller can tell when any changed.
    """
    if not folder.is_dir():
        return []
    seen = []
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        if root_trusted and path.name in SHIPPED_ROOT_FILES:
            stat = path.stat()
            seen.append((str(path), stat.st_size, stat.st_mtime_ns))
        else:
            seen.append(check_file(path, None))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name == "hydra" and any(sub.rglob("*.y*ml")):
            raise refuse(sub, "a 'hydra' config group may not be supplied.")
        if sub.name.startswith((".", "_")):
            continue
        seen.extend(check_file(path, sub.name) for path in sorted(sub.rglob("*.y*ml")))
    return seen


# ------------------------------------------------------------------- names in paths
def check_names(cfg: Config) -> None:
    """Names that become part of a results path are plain identifiers; prison names are plain text."""
    for key, value in (
        ("scenario", cfg.scenario),
        ("estate.name", cfg.estate.name),
        ("funding.name", cfg.funding.name),
    ):
        if not IDENTIFIER.fullmatch(str(value)):
            raise ConfigError(
                f"{key} = {str(value)[:40]!r} is not allowed: use letters, digits, '_' and '-' "
                "(starting with a letter, at most 64)."
            )
    for i, prison in enumerate(cfg.estate.prisons):
        if not PRISON_NAME.fullmatch(str(prison.name)):
            raise ConfigError(
                f"estate.prisons[{i}].name = {str(prison.name)[:40]!r} is not allowed: start with a letter "
                "or digit; use letters, digits, spaces and ' & , . ( ) - / (at most 80)."
            )

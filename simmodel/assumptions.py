"""Assumptions as data: the range and distribution of every parameter no public figure fixes.

``configs/assumptions.yaml`` is the registry. Each entry names a dotted config key and gives
``low``, ``high``, ``dist`` and ``why``; the value itself stays in its group's YAML file, where
the comment still says ``assumption``. Sections:

- ``model``: varied by sensitivity and probabilistic analysis on every estate;
- ``options.NAME``: a funding option's effect sizes and cost lines, varied only when that
  option runs (status quo has none);
- ``estates.NAME``: an estate's own assumptions; an entry set to ``null`` holds a ``model``
  key at its value on that estate (e.g. local-prison settings on an estate with no local);
- ``held``: settings marked ``assumption`` that the analyses keep at their value, each with
  the reason (structure, a scenario's what-if, or a constraint such as shares adding up to 1).

Distributions (``u`` in [0, 1] is mapped through the inverse CDF, so Latin hypercube, Morris
and Sobol designs all sample the same distribution):

- ``triangular``: peak at the value in use (the default, or the run's override), zero outside
  ``[low, high]``; the registry's usual choice for a best guess with a range;
- ``uniform``: every value in ``[low, high]`` equally likely;
- ``loguniform``: uniform in log space (ranges over an order of magnitude; ``low > 0``);
- ``beta``: ``a`` and ``b`` shape parameters, scaled to ``[low, high]``;
- ``lognormal``: ``low`` and ``high`` are its 2.5th and 97.5th percentiles, truncated to them.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .config import Config, ConfigError
from .paths import CONFIG_DIR
from .trust import SAFE_LOADER

REGISTRY = CONFIG_DIR / "assumptions.yaml"
DISTRIBUTIONS = ("uniform", "triangular", "loguniform", "beta", "lognormal")


@dataclass(frozen=True)
class Assumption:
    """One uncertain parameter: its key, range (in the parameter's own units) and distribution."""

    key: str
    low: float
    high: float
    dist: str
    why: str
    section: str  # "model", "option:NAME" or "estate:NAME"
    a: float = 2.0  # beta shape parameters
    b: float = 2.0

    def ppf(self, u: np.ndarray | float, mode: float) -> np.ndarray:
        """Values at cumulative probabilities ``u``; ``mode``: the value in use (triangular peak)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        lo, hi = self.low, self.high
        if hi == lo:
            return np.full_like(u, lo)
        if self.dist == "uniform":
            return lo + u * (hi - lo)
        if self.dist == "triangular":
            c = min(max((mode - lo) / (hi - lo), 0.0), 1.0)
            left = lo + np.sqrt(u * (hi - lo) * (mode - lo)) if c > 0 else np.full_like(u, lo)
            right = hi - np.sqrt((1.0 - u) * (hi - lo) * (hi - mode)) if c < 1 else np.full_like(u, hi)
            return np.where(u < c, left, right)
        if self.dist == "loguniform":
            return np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        from scipy import stats  # only the two shaped distributions need scipy

        if self.dist == "beta":
            return lo + (hi - lo) * stats.beta.ppf(u, self.a, self.b)
        # lognormal: low and high are the 2.5th and 97.5th percentiles; truncated to them
        mu = (math.log(lo) + math.log(hi)) / 2.0
        sigma = (math.log(hi) - math.log(lo)) / (2.0 * stats.norm.ppf(0.975))
        z = stats.norm.ppf(0.025 + 0.95 * u)
        return np.exp(mu + sigma * z)

    def describe(self) -> str:
        extra = f" (a={self.a:g}, b={self.b:g})" if self.dist == "beta" else ""
        return f"{_fmt(self.low)} to {_fmt(self.high)}, {self.dist}{extra}"


def _fmt(value: float) -> str:
    """A range end as people write it: 0.02 stays 0.02, 20000 becomes 20,000."""
    if value == int(value) and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:g}"


# ------------------------------------------------------------------ the registry
@cache
def _load(path: Path = REGISTRY) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path.name}: cannot read the assumptions registry ({exc})") from exc
    return data


def _entry(key: str, spec: Any, section: str) -> Assumption:
    if not isinstance(spec, dict):
        raise ConfigError(f"assumptions.yaml: {section} {key} must be a mapping with low, high, dist, why")
    unknown = set(spec) - {"low", "high", "dist", "why", "a", "b"}
    if unknown:
        raise ConfigError(f"assumptions.yaml: {section} {key} has unknown field(s) {sorted(unknown)}")
    try:
        low, high = float(spec["low"]), float(spec["high"])
        dist, why = str(spec.get("dist", "triangular")), str(spec["why"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"assumptions.yaml: {section} {key} needs numeric low and high and a why") from exc
    if dist not in DISTRIBUTIONS:
        allowed = ", ".join(DISTRIBUTIONS)
        raise ConfigError(f"assumptions.yaml: {section} {key} dist {dist!r}: allowed {allowed}")
    if not low <= high:
        raise ConfigError(f"assumptions.yaml: {section} {key} has low {low:g} above high {high:g}")
    if dist in ("loguniform", "lognormal") and low <= 0:
        raise ConfigError(f"assumptions.yaml: {section} {key} is {dist}, so low must be above 0")
    a, b = float(spec.get("a", 2.0)), float(spec.get("b", 2.0))
    return Assumption(key, low, high, dist, why, section, a, b)


def registry(path: Path = REGISTRY) -> dict[str, dict[str, Assumption | None]]:
    """Every registered assumption by section: ``model``, ``option:NAME``, ``estate:NAME``."""
    data = _load(path)
    out: dict[str, dict[str, Assumption | None]] = {"model": {}}
    for key, spec in (data.get("model") or {}).items():
        out["model"][key] = _entry(key, spec, "model")
    for kind in ("options", "estates"):
        for name, entries in (data.get(kind) or {}).items():
            section = f"{kind[:-1]}:{name}"
            out[section] = {
                key: None if spec is None else _entry(key, spec, section)
                for key, spec in (entries or {}).items()
            }
    return out


def held(path: Path = REGISTRY) -> dict[str, str]:
    """Settings marked ``assumption`` that the analyses keep at their value, with the reason."""
    return {str(k): str(v) for k, v in (_load(path).get("held") or {}).items()}


def for_run(cfg: Config, path: Path = REGISTRY) -> list[Assumption]:
    """The assumptions varied for this configuration: the model's, the estate's and the option's."""
    reg = registry(path)
    chosen: dict[str, Assumption | None] = dict(reg["model"])
    chosen.update(reg.get(f"estate:{cfg.estate.name}", {}))
    chosen.update(reg.get(f"option:{cfg.funding.name}", {}))
    return [a for a in chosen.values() if a is not None]


def every_key(path: Path = REGISTRY) -> dict[str, Assumption]:
    """Every key with a range in any section (the last section's entry wins for the table)."""
    found: dict[str, Assumption] = {}
    for entries in registry(path).values():
        found.update({k: a for k, a in entries.items() if a is not None})
    return found


# ------------------------------------------------------------------ values in a config
def get_value(cfg: Config, key: str) -> Any:
    """The value of dotted ``key`` in a validated config (KeyError if there is none)."""
    node: Any = cfg
    for part in key.split("."):
        if not is_dataclass(node) or not hasattr(node, part):
            raise KeyError(key)
        node = getattr(node, part)
    return node


def with_values(cfg: Config, values: dict[str, float]) -> Config:
    """A copy of ``cfg`` with these dotted keys set (integers rounded, switches from 1 or 0);
    not yet revalidated."""
    new = copy.deepcopy(cfg)
    for key, value in values.items():
        *parents, last = key.split(".")
        node: Any = new
        for part in parents:
            node = getattr(node, part)
        current = getattr(node, last)
        if isinstance(current, bool):
            if value not in (0, 1):
                raise ConfigError(f"{key} is true or false (1 or 0): it cannot be given a range")
            setattr(node, last, bool(value))
        else:
            setattr(node, last, int(np.rint(value)) if isinstance(current, int) else float(value))
    return new


def values_in_use(assumptions: Sequence[Assumption], cfg: Config) -> np.ndarray:
    """Each assumption's value in ``cfg`` (the triangular distributions' peaks)."""
    return np.array([float(get_value(cfg, a.key)) for a in assumptions])


def values_at(assumptions: Sequence[Assumption], modes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Parameter values for unit-cube points ``u`` (rows: points, columns: assumptions);
    ``modes``: each assumption's value in use."""
    u = np.atleast_2d(u)
    columns = [a.ppf(u[:, j], float(modes[j])) for j, a in enumerate(assumptions)]
    return np.column_stack(columns) if columns else np.empty((len(u), 0))


# ------------------------------------------------------------------ what the YAML files mark
KEY_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<comment>.*))?$"
)


@dataclass(frozen=True)
class YamlKey:
    """One ``key: value  # comment`` line of a config file, as its reader wrote it."""

    dotted: str
    value: str  # as written; empty for a mapping whose keys follow on their own lines
    comment: str  # the line's own comment
    continued: str  # comment-only lines below it, indented deeper than the key
    inherited: str  # the nearest enclosing mapping's comment


def key_lines(lines: Sequence[str]) -> Iterator[tuple[int, str, re.Match[str], str]]:
    """Each ``key: value  # comment`` line of a config file's ``lines``: its index, its dotted key
    (enclosing mappings first), the line's match of :data:`KEY_LINE`, and the comment of the
    nearest enclosing mapping that has one."""
    stack: list[tuple[int, str, str]] = []  # enclosing mappings: indent, key, comment
    for i, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k, _ in stack] + [match["key"]])
        inherited = next((c for _, _, c in reversed(stack) if c), "")
        yield i, dotted, match, inherited
        if match["value"] == "":
            stack.append((indent, match["key"], match["comment"] or ""))


def yaml_keys(path: Path, prefix: str = "") -> list[YamlKey]:
    """Every key line of a YAML config file with its dotted key (``prefix`` first) and comments.

    A line-level reader, not a YAML parser: config files keep one key a line, and comments
    (sources, ``assumption`` marks) are exactly what a YAML parser throws away.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[YamlKey] = []
    for i, dotted, match, inherited in key_lines(lines):
        indent = len(match["indent"])
        continued = []
        for following in lines[i + 1 :]:
            stripped = following.lstrip()
            if not stripped.startswith("#") or len(following) - len(stripped) <= indent:
                break
            continued.append(stripped.lstrip("#").strip())
        key = f"{prefix}.{dotted}" if prefix else dotted
        found.append(YamlKey(key, match["value"], match["comment"] or "", " ".join(continued), inherited))
    return found


def marked_keys(files: Iterable[tuple[Path, str]]) -> dict[str, str]:
    """Dotted keys whose own comment (with its continuation lines) says ``assumption``.

    ``files``: (YAML file, key prefix). Keys of an inline mapping (``{share: 0.2, ...}``) are
    reported as the mapping's key. Returns key -> the comment text.
    """
    marked: dict[str, str] = {}
    for path, prefix in files:
        for key in yaml_keys(path, prefix):
            if key.dotted.rsplit(".", 1)[-1] in ("defaults", "hydra", "name", "description"):
                continue
            text = " ".join(c for c in (key.comment, key.continued) if c)
            if re.search(r"\bassumption\b", text, flags=re.IGNORECASE):
                marked[key.dotted] = text
    return marked


def config_files() -> list[tuple[Path, str]]:
    """The package's own YAML files that hold parameter values, with each one's key prefix."""
    groups = ["population", "need", "pathway", "buddies", "regime", "care", "costs", "safeguarding"]
    groups.append("funding")
    files = [(path, group) for group in groups for path in sorted((CONFIG_DIR / group).glob("*.yaml"))]
    files += [(path, "") for path in sorted((CONFIG_DIR / "estate").glob("*.yaml"))]
    return files

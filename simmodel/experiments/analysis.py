"""What the sensitivity and probabilistic commands share: arguments, folder, model runs, files.

Arguments are ``key=value`` like every simmodel command. The analysis's own keys (``method=``,
``samples=``, ...) are taken out; the rest are the model's overrides, composed and checked
exactly as ``python -m simmodel`` does, so a wrong key stops before anything runs.

The folder is named after the analysis and a hash of everything that defines it (settings,
overrides, the assumptions registry), so running the same command again finds the finished
points and runs only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__, assumptions
from ..config import Config, ConfigError
from .command import DESIGN_RUN_SETTINGS
from .design_runs import ClusterLaunch, Point, Progress, point_means, run_points

#: The four outputs every analysis reports by default (results.METRICS names).
KEY_OUTPUTS = (
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "cost_total_per_year",
    "safeguarding_incidents_per_year",
)
#: Settings that say how points run, not what they are: left out of the folder's hash, so a
#: design started on this machine can be finished on a cluster, and the other way round.
RUN_ONLY = tuple(DESIGN_RUN_SETTINGS)


def cluster_launch(opts: dict[str, Any], overrides: Sequence[str]) -> tuple[list[str], ClusterLaunch | None]:
    """The model's overrides, and how to send points to a cluster: ``launcher=submitit_slurm``
    (any ``hydra/launcher`` option) with ``batches=N`` jobs (0: one per point) and the
    launcher's own ``hydra.launcher.*`` settings, taken from the arguments."""
    from ..command_line import check_hydra_option, check_hydra_setting
    from ..compose import is_hydra_override

    hydra_args = tuple(o for o in overrides if is_hydra_override(o))
    model = [o for o in overrides if o not in hydra_args]
    for arg in hydra_args:  # the trust boundary of the command line: only the launcher's settings
        key = check_hydra_setting(arg).key_or_group
        if not key.startswith("hydra.launcher."):
            raise ConfigError(f"{key[:60]}: only hydra.launcher.* settings may be given here")
    launcher = str(opts.get("launcher", "") or "")
    if launcher:
        check_hydra_option("hydra/launcher", launcher)
    if not launcher:
        if hydra_args:
            raise ConfigError(
                f"{hydra_args[0]}: Hydra settings need launcher= (e.g. launcher=submitit_slurm)"
            )
        return model, None
    if int(opts.get("batches", 0)) < 0:
        raise ConfigError(f"batches={opts['batches']}: 0 (one job per point) or more")
    return model, ClusterLaunch(launcher, int(opts.get("batches", 0)), hydra_args)


def folder_for(kind: str, settings: dict[str, Any], overrides: Sequence[str], cfg: Config) -> Path:
    """``results/KIND/NAME-HASH``: the same command finds the same folder (and resumes)."""
    if settings.get("out"):
        return Path(str(settings["out"])).expanduser()
    registry = assumptions.REGISTRY.read_bytes()
    identity = json.dumps(
        {
            "kind": kind,
            # how the points run (where, on how many cores) does not change them
            "settings": {k: v for k, v in sorted(settings.items()) if k not in RUN_ONLY},
            "overrides": sorted(overrides),
            "registry": hashlib.sha256(registry).hexdigest(),
            "version": __version__,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    name = settings.get("method", kind)
    return Path("results") / kind / f"{name}-{cfg.estate.name}-{digest}"


#: Kinds of file the design tools write into their folder (with ``batches/`` and temporary files).
_TOOL_FILE_KINDS = (".csv", ".png", ".html", ".md", ".json", ".yaml", ".db", ".xlsx")


def prepare_folder(folder: Path) -> None:
    """Create the folder, or reuse one of this tool's (never a folder with other files or links in it)."""
    from ..command_line import FOLDER_RULE, FOLDER_TEXT
    from ..outputs.run_folder import unsafe_reason

    # a tool's own record (a folder holding only files named like reports is someone else's)
    ours = {"points.csv", "design.csv", "design_jobs.json", "points-0000.csv", "study.db"}
    if not FOLDER_TEXT.fullmatch(str(folder)):  # (batch jobs hand it to Hydra, which reads ${...})
        raise ConfigError(f"out={str(folder)[:60]}: {FOLDER_RULE}")
    reason = unsafe_reason(folder)
    if reason:
        raise ConfigError(f"out={str(folder)[:80]} is refused: {reason}")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out={folder}: is a file, not a folder")
    if folder.is_dir():
        entries = {p.name for p in folder.iterdir()}
        if entries and (not entries & ours or not all(_tool_file(folder / name) for name in entries)):
            raise ConfigError(f"out={folder}: the folder holds other files; choose a new or empty one")
        for root, dirs, files in os.walk(folder):  # (os.walk does not follow links; it lists them)
            if any(Path(root, name).is_symlink() for name in [*dirs, *files]):
                raise ConfigError(
                    f"out={str(folder)[:80]}: the folder holds links; choose a new or empty one"
                )
    folder.mkdir(parents=True, exist_ok=True)


def _tool_file(path: Path) -> bool:
    """A file or folder a design tool writes: one of its kinds of file (a ``run.json`` of a
    simmodel tool, a ``study.db`` of optuna's), its ``batches/`` folder, or a temporary file."""
    temporary = path.name.startswith(".") and path.name.endswith(".tmp")
    if (path.name == "batches" and path.is_dir()) or temporary:
        return True
    if not path.is_file() or path.suffix not in _TOOL_FILE_KINDS:
        return False
    if path.name == "run.json":
        try:
            return str(json.loads(path.read_text(encoding="utf-8")).get("tool", "")).startswith("simmodel.")
        except (OSError, ValueError, AttributeError):
            return False
    if path.suffix == ".db":  # optuna's study (a database of someone else's would be changed)
        import sqlite3

        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
        except sqlite3.Error:
            return False
        return "studies" in tables
    return True


@dataclass
class ModelRuns:
    """simmodel as a model for the designs: values (points x inputs) in, outputs out; each row
    becomes a design point per option.

    ``inputs``: the varied assumptions (columns of the unit points); ``base``: each option's
    validated config. Points are numbered in order of evaluation calls, so a design that is
    evaluated in the same order again finds its finished points in ``folder``.
    """

    base: dict[str, Config]
    inputs: list[assumptions.Assumption]
    folder: Path
    jobs: int = 0
    progress: bool = True
    outputs: Sequence[str] = KEY_OUTPUTS
    cluster: ClusterLaunch | None = None
    next_index: int = 0

    def values(self, option: str, unit: np.ndarray) -> np.ndarray:
        """The inputs' values at unit points (NaN where an input does not apply to ``option``),
        each triangular peak at the option's value in use."""
        out = np.full((len(unit), len(self.inputs)), np.nan)
        cols = [i for i, a in enumerate(self.inputs) if _applies(a, option)]
        if cols:
            chosen = [self.inputs[i] for i in cols]
            modes = assumptions.values_in_use(chosen, self.base[option])
            out[:, cols] = assumptions.values_at(chosen, modes, unit[:, cols])
        return out

    def run_values(self, values_by_option: dict[str, np.ndarray], label: str) -> pd.DataFrame:
        """Run explicit values (points x inputs, NaN: leave at the value in use) for each option.

        Returns one row per point and option: ``draw`` (row), ``option``, then every metric.
        """
        points, rows = [], []
        seen: dict[tuple[str, tuple[tuple[str, float], ...]], int] = {}
        for option, values in values_by_option.items():
            cfg = self.base[option]
            for row, vector in enumerate(values):
                chosen = {
                    a.key: float(v)
                    for a, v in zip(self.inputs, vector, strict=True)
                    if not np.isnan(v) and _applies(a, option)
                }
                # a point with every value as in use (a one-way end at the default) is run once
                differs = tuple(
                    sorted((k, v) for k, v in chosen.items() if v != float(assumptions.get_value(cfg, k)))
                )
                if (option, differs) not in seen:
                    seen[(option, differs)] = self.next_index
                    points.append(Point(self.next_index, option, chosen))
                    self.next_index += 1
                rows.append((seen[(option, differs)], row, option))
        report = Progress(label, self.progress)
        done = point_means(
            run_points(points, self.base, self.folder, jobs=self.jobs, progress=report, cluster=self.cluster)
        )
        index = pd.DataFrame(rows, columns=["point", "draw", "option"])
        return index.merge(done.drop(columns=["option"]), on="point", how="left")

    def __call__(self, values: np.ndarray) -> pd.DataFrame:
        """The key outputs at these values (points x inputs), for the one option in ``base``."""
        (option,) = self.base
        table = self.run_values({option: values}, "design")
        return table[list(self.outputs)].reset_index(drop=True)


def _applies(a: assumptions.Assumption, option: str) -> bool:
    return not a.section.startswith("option:") or a.section == f"option:{option}"


def check_stored_trials(trials: Sequence[Any], ranges: dict[str, tuple[float, float]]) -> None:
    """Refuse a resumed optuna study with a trial outside the searched ranges (name: low, high):
    a study in a received folder could be forged to put any value in front of the user."""
    for trial in trials:
        for name, (low, high) in ranges.items():
            value = trial.params.get(name)
            if value is not None and not low <= value <= high:
                raise ConfigError(
                    f"the stored study has trial {trial.number} with {name} = {value:g}, outside "
                    f"{low:g}-{high:g}: not a study this tool made; use a new out= folder."
                )


def run_record(kind: str, settings: dict[str, Any], overrides: Sequence[str], **extra: Any) -> str:
    """``run.json``: what ran, with which settings, and how long it took."""
    record = {
        "tool": f"simmodel.{kind}",
        "version": __version__,
        # rebuilt from what ran, so a call from Python records the same command as the shell
        "command": shlex.join(
            ["python", "-m", f"simmodel.{kind}", *(f"{k}={v}" for k, v in settings.items()), *overrides]
        ),
        "settings": settings,
        "overrides": list(overrides),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "complete",
        **extra,
    }
    return json.dumps(record, indent=2, default=str) + "\n"


def choose_inputs(
    cfg: Config, names: str, fallback: Sequence[str] | None = None
) -> list[assumptions.Assumption]:
    """The assumptions named in ``names`` (comma list; ``all``: every one that applies)."""
    available = {a.key: a for a in assumptions.for_run(cfg)}
    if names in ("", "all"):
        if fallback:
            return [available[k] for k in fallback if k in available]
        return list(available.values())
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in available]
    if unknown:
        raise ConfigError(
            f"parameters: {', '.join(unknown)} not registered for this run (configs/assumptions.yaml); "
            f"e.g. {', '.join(list(available)[:3])}"
        )
    return [available[n] for n in chosen]

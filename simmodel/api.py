"""The Python API: run the model and compare options from a notebook or a script.

    >>> import simmodel
    >>> result = simmodel.run({"estate": "single_prison", "run.years": 2}, replications=4)
    >>> result.summary.set_index("metric").loc["nonpersonal_unmet_hours_per_week", "mean"]
    >>> simmodel.compare(["care_coordinator", "la_capacity"], overrides={"estate": "single_prison"})

Configurations are composed and validated exactly as on the command line (same files,
same checks, the same one-line :class:`ConfigError`), nothing is written unless asked
(:meth:`Result.save` writes the files a command-line run writes), and :func:`compare`
pairs options by replication with common random numbers, as a sweep's collation does.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .compose import check_overrides, is_hydra_override
from .config import Config, ConfigError
from .experiments.collate import REFERENCES, Job, comparison_table
from .experiments.replications import Ensemble, run_replications
from .outputs import plot_helper, report, results, run_folder
from .outputs.csv_text import csv_text

#: Overrides as command-line strings (``["run.years=2"]``) or a mapping (``{"run.years": 2}``).
Overrides = Sequence[str] | Mapping[str, Any] | None


def _text(value: Any) -> str:
    """A Python value as Hydra's override grammar reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_.:/+-]*", value):  # "baseline, v2"
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def as_overrides(
    overrides: Overrides, *, replications: int | None = None, jobs: int | None = None
) -> list[str]:
    """Command-line override strings for ``overrides`` plus the replication settings given."""
    if overrides is None:
        items: list[str] = []
    elif isinstance(overrides, Mapping):
        items = [f"{key}={_text(value)}" for key, value in overrides.items()]
    elif isinstance(overrides, str):
        items = [overrides]
    elif isinstance(overrides, Sequence):
        items = [str(o) for o in overrides]
    else:
        raise ConfigError(
            f"overrides = {str(overrides)[:40]!r}: give a list of 'key=value' texts "
            "or a mapping of keys to values."
        )
    for item in items:
        if is_hydra_override(item):
            raise ConfigError(
                f"{item.partition('=')[0][:60]}: Hydra's settings do not apply to the Python API "
                "(Result.save(folder) chooses where files go)."
            )
    if replications is not None:
        items.append(f"run.replications={replications}")
    if jobs is not None:
        items.append(f"run.jobs={jobs}")
    return items


def configure(
    overrides: Overrides = None, *, replications: int | None = None, jobs: int | None = None
) -> Config:
    """The validated configuration for ``overrides`` (raises :class:`ConfigError` with one line)."""
    return check_overrides(as_overrides(overrides, replications=replications, jobs=jobs))


@dataclass
class Result:
    """The replications of one run and the tables a command-line run writes.

    ``summary``: one row per metric (mean, 95% CI, percentiles, n, note);
    ``replications``: one row per replication and metric; ``timeseries``: monthly rows for
    the estate and each prison, averaged over replications.
    """

    config: Config
    ensemble: Ensemble
    overrides: list[str] = field(default_factory=list)
    #: True when the configuration came from code (``run(config=...)``), not from ``overrides``.
    from_code: bool = False

    @cached_property
    def summary(self) -> pd.DataFrame:
        return self.ensemble.summary()

    @cached_property
    def replications(self) -> pd.DataFrame:
        return self.ensemble.replications_table()

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        return self.ensemble.timeseries()

    def metric(self, name: str) -> float:
        """The mean of one summary metric (e.g. ``"personal_unmet_hours_per_week"``)."""
        return float(self.summary.set_index("metric").loc[name, "mean"])

    @property
    def command(self) -> str:
        """The command line that reproduces this run (or, for a configuration set in code, where
        the whole configuration is written down)."""
        if self.from_code:
            return "configured in Python (simmodel.run(config=...)): config.yaml holds every value"
        return ("python -m simmodel " + " ".join(shlex.quote(o) for o in self.overrides)).strip()

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the files a command-line run writes into ``folder``; returns the folder.

        The folder rules of the command line apply (:mod:`simmodel.outputs.run_folder`): never in
        the project's own folders, never beside other files, never over another complete
        run unless ``overwrite``; a lock keeps a second writer out.
        """
        if not str(folder).strip():
            raise run_folder.OutputError(
                "save() needs a folder: an empty name would mean the current folder.", 2
            )
        folder = Path(folder).expanduser()
        run_folder.check(folder, sweep=False)
        run_folder.create(folder)
        run_folder.lock(folder)
        try:
            if run_folder.result_files(folder):
                if results.is_complete(folder) and not overwrite:
                    raise run_folder.OutputError(
                        f"{str(folder)[:80]} holds another complete run: pass overwrite=True to replace it.",
                        2,
                    )
                run_folder.clear(folder)
            details = run_details(self.config, self.overrides)
            write_result_files(folder, self.config, self.ensemble, self.command)
            details.update(self.ensemble.run_info(), finished=datetime.now(UTC).isoformat(timespec="seconds"))
            status = run_status(self.ensemble, details)
            results.write_files(folder, {results.RUN_RECORD: results.run_record(status, details)})
        finally:
            run_folder.unlock(folder)
        return folder


def run_details(config: Config, overrides: list[str]) -> dict[str, object]:
    """The run record's first fields (``run.json``)."""
    return {
        "scenario": config.scenario,
        "funding": config.funding.name,
        "estate": config.estate.name,
        "seed": config.run.seed,
        "overrides": overrides,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def output_texts(
    config: Config,
    table: pd.DataFrame,
    series: pd.DataFrame,
    ensemble: Ensemble,
    command: str,
    images: plot_helper.PendingPlots | None = None,
) -> dict[str, str]:
    """Every text file of a run, built in memory (so a failure while building writes nothing);
    ``table`` and ``series`` are the ensemble's summary and monthly table, ``images`` the
    report's figures if already being drawn (:mod:`.outputs.plot_helper`)."""
    data = results.config_data(config)
    cfg_yaml = results.config_text(data)
    resolved = report.flatten(data)
    texts = {
        "config.yaml": cfg_yaml,
        "timeseries.csv": csv_text(series),  # byte for byte to_csv(index=False), 4x faster
        "replications.csv": ensemble.replications_table().to_csv(index=False),
        "summary.csv": table.to_csv(index=False),
    }
    figures = None if images is None else images.result()  # last: the helper draws meanwhile
    texts["report.html"] = report.run_report(
        config, table, series, ensemble.n, command, cfg_yaml, resolved, figures
    )
    return texts


def write_result_files(folder: Path, config: Config, ensemble: Ensemble, command: str) -> dict[str, Path]:
    """Write a run's result files atomically (all but ``run.json``, which says they are complete).

    The report's figures are drawn meanwhile by the helper process, if the command started
    one (:mod:`.outputs.plot_helper`); the files are the same either way.
    """
    table, series = ensemble.summary(), ensemble.timeseries()
    images = plot_helper.submit(series, table)
    try:
        workbook = report.workbook_bytes(report.run_workbook_sheets(table, series))
        files: dict[str, str | bytes] = {"results.xlsx": workbook}
        files |= output_texts(config, table, series, ensemble, command, images)  # all built before writing
    finally:
        plot_helper.stop(now=True)  # (already stopped after delivering; ended if this failed first)
    return results.write_files(folder, files)


def run_status(ensemble: Ensemble, details: dict[str, object], *, interrupted: bool = False) -> str:
    """``complete``, ``interrupted`` or ``failed`` (with the error put in ``details``)."""
    if ensemble.error:
        details["error"] = ensemble.error
    if interrupted or ensemble.interrupted:
        return "interrupted"
    return "failed" if ensemble.error else "complete"


def run(
    overrides: Overrides = None,
    *,
    replications: int | None = None,
    jobs: int | None = None,
    config: Config | None = None,
) -> Result:
    """Compose, validate and run; return a :class:`Result` (nothing is written).

    ``overrides`` are those of the command line, as strings or a mapping. Pass
    ``config`` instead to run a configuration from :func:`configure` that your code has
    changed: it is checked again before anything runs.
    """
    items = as_overrides(overrides, replications=replications, jobs=jobs)
    if config is not None and overrides:
        raise ConfigError(
            "run(): pass overrides or config=, not both (set the values on the configuration, or "
            "pass the overrides to configure())."
        )
    from_code = config is not None
    if config is None:
        config = check_overrides(items)
    elif replications is not None or jobs is not None:
        config = copy.deepcopy(config)  # the caller's configuration stays as it was
        config.run.replications = replications if replications is not None else config.run.replications
        config.run.jobs = jobs if jobs is not None else config.run.jobs
    return Result(config=config, ensemble=run_replications(config), overrides=items, from_code=from_code)


def compare(
    options: Sequence[str],
    base: str | None = None,
    *,
    over: str = "funding",
    overrides: Overrides = None,
    replications: int | None = None,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Each option of ``over`` (``funding`` or ``scenario``) against ``base``, paired by replication.

    ``base`` defaults to ``status_quo`` (funding) or ``baseline`` (scenario). Every option
    runs with the same seed and replication numbers (common random numbers), so the
    differences reflect the options, not chance. Returns the table a sweep's collation
    writes to ``comparison.csv``: per option and metric the option's and the reference's
    means, the paired difference and its 95% CI, the incremental cost and the cost per
    hour averted of each kind of unmet care (non-personal, personal).
    """
    reference = base or REFERENCES.get(over)
    if reference is None:
        raise ValueError(f"over={over!r}: compare funding options or scenarios (or name the base).")
    common = as_overrides(overrides, replications=replications, jobs=jobs)
    names = [reference, *(o for o in options if o != reference)]
    jobs_run = []
    for name in names:
        result = run([*common, f"{over}={name}"])
        jobs_run.append(Job(name, {over: name}, result.summary, result.replications))
    table, notes = comparison_table(jobs_run, over, reference)
    table.attrs["notes"] = notes
    return table

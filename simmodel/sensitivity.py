"""Which assumptions matter: ``python -m simmodel.sensitivity method=oneway|morris|sobol``.

    python -m simmodel.sensitivity method=oneway estate=single_prison run.years=1 run.replications=2
    python -m simmodel.sensitivity method=morris trajectories=10 estate=single_prison
    python -m simmodel.sensitivity method=sobol samples=64 parameters=top10

Every assumption that applies to the run (configs/assumptions.yaml: the model's, the estate's
and the funding option's) is varied over its range; every design point runs
``run.replications`` replications with the run's seed (common random numbers). Settings:

    method        oneway (each input at the ends of its range), morris (elementary effects,
                  screening), sobol (variance shares, for a subset)          [oneway]
    trajectories  Morris trajectories; points = trajectories x (inputs + 1)  [10]
    samples       Sobol base sample (a power of 2); points = samples x (inputs + 2)  [64]
    parameters    all, a comma list of dotted keys, or (sobol) top10: the ten largest in the
                  latest Morris run of this estate                            [all; sobol: top10]
    seed          the design's seed (the model's is run.seed)                 [1]
    out           folder (default results/sensitivity/METHOD-ESTATE-HASH: the same command
                  resumes there after an interruption)
    jobs          worker processes (0: every core)                            [0]
    progress      print progress lines                                        [true]
    launcher      send the points to a cluster instead: a Hydra launcher such as
                  submitit_slurm or submitit_local (pip install -e ".[cluster]"), with
                  its settings as hydra.launcher.partition=..., and batches=N jobs
                  (0: one job per point)                                      [off]

Anything else is a model override, as for ``python -m simmodel``. Writes ``oneway.csv``,
``morris.csv`` or ``sobol.csv``, a plot per output, ``points.csv`` (every point's metrics, a line
per replication), ``design.csv``, ``report.html`` and ``run.json`` into the folder it prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .assumptions import Assumption
from .config import ConfigError
from .experiments.command import DESIGN_RUN_SETTINGS

METHODS = ("oneway", "morris", "sobol")
SETTINGS: dict[str, Any] = {
    "method": "oneway",
    "trajectories": 10,
    "samples": 64,
    "parameters": "",
    "seed": 1,
    **DESIGN_RUN_SETTINGS,
}


@dataclass
class SensitivityResult:
    """An analysis's table (one row per parameter and output) and the folder it was written to."""

    method: str
    table: pd.DataFrame
    folder: Path
    seconds: float
    points: int


def run_design(
    method: str,
    inputs: Sequence[Assumption],
    used: np.ndarray,
    evaluate: Callable[[np.ndarray], pd.DataFrame],
    *,
    trajectories: int = 10,
    samples: int = 64,
    seed: int = 1,
    folder: Path | None = None,
) -> tuple[pd.DataFrame, int]:
    """Build the design, evaluate it, compute the indices: the same path for simmodel and for a
    test function. ``used``: each input's value in use; ``evaluate``: values (points x inputs,
    in the inputs' units) to outputs (points x outputs). Returns the table and the points run.
    """
    from .assumptions import values_at
    from .experiments import screening

    names = [a.key for a in inputs]
    if method == "oneway":
        low = np.array([a.low for a in inputs])
        high = np.array([a.high for a in inputs])
        values = np.tile(used, (1 + 2 * len(inputs), 1))
        for i in range(len(inputs)):
            values[1 + 2 * i, i], values[2 + 2 * i, i] = low[i], high[i]
        if folder:
            _write_design(folder, names, None, values)
        outputs = evaluate(values)
        return screening.oneway_table(names, low, high, used, outputs), len(values)
    if method == "morris":
        unit = screening.morris_design(len(inputs), trajectories, seed)
    else:
        unit = screening.sobol_design(len(inputs), samples, seed)
    values = values_at(inputs, used, unit)
    if folder:
        _write_design(folder, names, unit, values)
    outputs = evaluate(values)
    if method == "morris":
        return screening.morris_table(names, unit, outputs, seed), len(values)
    return screening.sobol_table(names, outputs, seed), len(values)


def analyse(overrides: Sequence[str] = (), *, method: str = "oneway", **settings: Any) -> SensitivityResult:
    """Run a sensitivity analysis of simmodel and write its folder.

    ``overrides``: model overrides (``["estate=single_prison", "run.years=1"]``); ``settings``:
    as on the command line (``trajectories=4``, ``parameters="a.b,c.d"``, ``out=...``).
    """
    from .assumptions import values_in_use
    from .compose import check_overrides
    from .experiments import analysis

    opts = {**SETTINGS, **settings, "method": method}
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    for key in ("trajectories", "samples"):
        if int(opts[key]) < 1:
            raise ConfigError(f"{key}={opts[key]}: must be at least 1")
    overrides, cluster = analysis.cluster_launch(opts, overrides)
    cfg = check_overrides(list(overrides))
    fallback = None
    if method == "sobol" and opts["parameters"] in ("", "top10"):
        opts["parameters"] = "top10"
        fallback = _latest_morris_top(cfg.estate.name)
        if fallback is None:
            raise ConfigError(
                f"parameters=top10 needs a finished Morris run of estate={cfg.estate.name} under "
                "results/sensitivity (run method=morris first) or name the parameters: parameters=a.b,c.d"
            )
    inputs = analysis.choose_inputs(cfg, "" if fallback else str(opts["parameters"]), fallback)
    folder = analysis.folder_for("sensitivity", opts, overrides, cfg)
    analysis.prepare_folder(folder)
    model = analysis.ModelRuns(
        {cfg.funding.name: cfg},
        inputs,
        folder,
        jobs=int(opts["jobs"]),
        progress=bool(opts["progress"]),
        cluster=cluster,
    )
    started = time.perf_counter()
    table, points = run_design(
        method,
        inputs,
        values_in_use(inputs, cfg),
        model,
        trajectories=int(opts["trajectories"]),
        samples=int(opts["samples"]),
        seed=int(opts["seed"]),
        folder=folder,
    )
    seconds = time.perf_counter() - started
    _write_outputs(folder, method, table, cfg, opts, list(overrides), seconds, points)
    return SensitivityResult(method, table, folder, seconds, points)


def _write_design(folder: Path, names: list[str], unit: np.ndarray | None, values: np.ndarray) -> None:
    from .outputs.results import write_atomic

    frame = pd.DataFrame(values, columns=names)
    if unit is not None:
        frame = pd.concat([frame, pd.DataFrame(unit, columns=[f"u:{n}" for n in names])], axis=1)
    frame.insert(0, "point", range(len(frame)))
    write_atomic(folder / "design.csv", frame.to_csv(index=False))


def _latest_morris_top(estate: str, n: int = 10) -> list[str] | None:
    """The top ``n`` of the newest finished Morris run of this estate under results/sensitivity."""
    from .experiments.screening import top_parameters

    found = sorted(
        Path("results", "sensitivity").glob(f"morris-{estate}-*/morris.csv"), key=lambda p: p.stat().st_mtime
    )
    return top_parameters(pd.read_csv(found[-1]), n) if found else None


def _write_outputs(
    folder: Path,
    method: str,
    table: pd.DataFrame,
    cfg: Any,
    opts: dict[str, Any],
    overrides: list[str],
    seconds: float,
    points: int,
) -> None:
    from .experiments.analysis import run_record
    from .outputs import uncertainty_report as ur
    from .outputs.report import png_bytes
    from .outputs.results import write_atomic

    figures = ur.sensitivity_figures(method, table)
    images = {}
    for name, fig in figures.items():
        data = png_bytes(fig)
        write_atomic(folder / name, data)
        images[name] = data
    write_atomic(folder / f"{method}.csv", table.to_csv(index=False))
    page = ur.sensitivity_report(method, table, images, cfg, opts, seconds)
    write_atomic(folder / "report.html", page)
    record = run_record(
        "sensitivity",
        opts,
        overrides,
        estate=cfg.estate.name,
        funding=cfg.funding.name,
        replications=cfg.run.replications,
        points=points,
        wall_seconds=round(seconds, 1),
        parameters=int(table["parameter"].nunique()),
    )
    write_atomic(folder / "run.json", record)


def main(argv: Sequence[str] | None = None) -> None:
    from .experiments.command import command_main
    from .outputs import uncertainty_report as ur

    def run(opts: dict[str, Any], overrides: list[str]) -> list[str]:
        method = opts.pop("method")
        result = analyse(overrides, method=method, **opts)
        summary = f"{result.points} points in {result.seconds:.0f} s. Results: {result.folder}"
        return [ur.sensitivity_console(result.method, result.table), summary]

    command_main("sensitivity", __doc__ or "", SETTINGS, run, argv)


if __name__ == "__main__":
    main()

"""Probabilistic analysis: ``python -m simmodel.psa samples=N funding=a,b,...``.

    python -m simmodel.psa samples=4 funding=status_quo,more_buddy_posts estate=single_prison \\
        run.years=1 run.replications=1
    python -m simmodel.psa samples=64                  # every funding option, national estate

Draws every assumption that applies (configs/assumptions.yaml) from its distribution by Latin
hypercube (scipy.stats.qmc); at each draw every chosen funding option runs with the same
random numbers. Settings:

    samples    draws of the assumptions                                       [16]
    funding    comma list of funding options (all: every option)              [all]
    reference  the option others are compared with                           [status_quo]
    value      £ per hour of unmet care avoided, for the ranking's drivers    [30]
    seed       the design's seed (the model's is run.seed)                    [1]
    out, jobs, progress, launcher, batches   as for simmodel.sensitivity

Anything else is a model override. Writes ``psa.csv`` (every draw and option: inputs and
metrics), ``distribution.csv``, ``frontier.csv``, ``acceptability.csv`` (the probability each
option is best against the value of an unmet hour avoided), ``drivers.csv``,
``convergence.csv``, plots, ``report.html`` and ``run.json`` into the folder it prints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ConfigError
from .experiments.command import DESIGN_RUN_SETTINGS

SETTINGS: dict[str, Any] = {
    "samples": 16,
    "funding": "all",
    "reference": "status_quo",
    "value": 30.0,
    "seed": 1,
    **DESIGN_RUN_SETTINGS,
}
OUTPUTS = (
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "unmet_hours_per_year",
    "cost_total_per_year",
    "safeguarding_incidents_per_year",
)


@dataclass
class PSAResult:
    draws: pd.DataFrame
    distribution: pd.DataFrame
    frontier: pd.Series
    acceptability: pd.DataFrame
    drivers: pd.DataFrame
    folder: Path
    seconds: float
    sentences: list[str]


def analyse(overrides: Sequence[str] = (), **settings: Any) -> PSAResult:
    """Run a probabilistic analysis of the funding options and write its folder."""
    from . import assumptions
    from .compose import check_overrides, group_options
    from .experiments import analysis
    from .experiments import probabilistic as prob

    opts = {**SETTINGS, **settings}
    overrides, cluster = analysis.cluster_launch(opts, overrides)
    if int(opts["samples"]) < 2:
        raise ConfigError(f"samples={opts['samples']}: at least 2 draws are needed")
    known = group_options("funding")
    names = known if opts["funding"] in ("", "all") else [n.strip() for n in str(opts["funding"]).split(",")]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"funding={','.join(unknown)}: not an option (choose from {', '.join(known)})")
    if opts["reference"] not in names:
        names = [str(opts["reference"]), *names]
    if any(o.startswith("funding=") for o in overrides):
        raise ConfigError("funding: give the options as the analysis's funding=a,b setting")
    base = {name: check_overrides([*overrides, f"funding={name}"]) for name in names}
    first = base[names[0]]
    inputs: dict[str, assumptions.Assumption] = {}  # by column label: key, or key[option]
    for name in names:
        for a in assumptions.for_run(base[name]):
            label = f"{a.key}[{a.section[7:]}]" if a.section.startswith("option:") else a.key
            inputs.setdefault(label, a)
    chosen, labels = list(inputs.values()), list(inputs)
    folder = analysis.folder_for("psa", {**opts, "funding": ",".join(names)}, overrides, first)
    analysis.prepare_folder(folder)
    model = analysis.ModelRuns(
        base, chosen, folder, jobs=int(opts["jobs"]), progress=bool(opts["progress"]), cluster=cluster
    )
    unit = prob.latin_hypercube(len(chosen), int(opts["samples"]), int(opts["seed"]))
    values = {name: model.values(name, unit) for name in names}
    started = time.perf_counter()
    table = model.run_values(values, "draws")
    seconds = time.perf_counter() - started
    table = prob.add_unmet_per_year(table)
    drawn = pd.DataFrame(np.nanmax(np.stack(list(values.values())), axis=0), columns=labels)
    drawn.index.name = "draw"
    used = pd.concat(  # the values each option ran with (blank where an input is another option's)
        [
            pd.DataFrame(v, columns=labels).assign(option=n).rename_axis("draw").reset_index()
            for n, v in values.items()
        ]
    )
    reference = str(opts["reference"])
    distribution = prob.distribution_table(table, OUTPUTS)
    frontier = prob.frontier_shares(table, names)
    curve = prob.acceptability(table, names, prob.value_grid())
    # each option against the reference on the inputs that can move either: the model's and
    # its own (another option's effect sizes only add spurious correlations)
    drivers = pd.concat(
        [
            prob.ranking_drivers(
                table[table["option"].isin([reference, name])],
                drawn[[c for c in drawn.columns if "[" not in c or c.endswith(f"[{name}]")]],
                [reference, name],
                reference,
                float(opts["value"]),
            )
            for name in names
            if name != reference
        ],
        ignore_index=True,
    )
    convergence = {o: prob.convergence(table, o) for o in ("unmet_hours_per_year", "cost_total_per_year")}
    from .outputs import uncertainty_report as ur

    sentences = ur.psa_sentences(distribution, frontier, curve, drivers, reference, float(opts["value"]))
    result = PSAResult(table, distribution, frontier, curve, drivers, folder, seconds, sentences)
    _write(result, used, convergence, first, opts, list(overrides), names, len(labels))
    return result


def _write(
    result: PSAResult,
    used: pd.DataFrame,
    convergence: dict[str, pd.DataFrame],
    cfg: Any,
    opts: dict[str, Any],
    overrides: list[str],
    names: list[str],
    drawn: int,
) -> None:
    """Every file of the analysis; ``used``: each option's input values by draw; ``drawn``: how
    many assumptions were drawn."""
    from .experiments.analysis import run_record
    from .outputs import uncertainty_report as ur
    from .outputs.report import png_bytes
    from .outputs.results import write_atomic

    folder, seconds = result.folder, result.seconds
    wide = result.draws.merge(used, on=["draw", "option"], how="left").drop(columns=["point"])
    files = {
        "psa.csv": wide.to_csv(index=False),
        "distribution.csv": result.distribution.to_csv(index=False),
        "frontier.csv": result.frontier.rename_axis("option").reset_index().to_csv(index=False),
        "acceptability.csv": result.acceptability.to_csv(index=False),
        "drivers.csv": result.drivers.to_csv(index=False),
        "convergence.csv": pd.concat(convergence, names=["output"]).reset_index(level=0).to_csv(index=False),
    }
    images = {}
    for name, fig in ur.psa_figures(result.draws, result.acceptability, convergence).items():
        images[name] = png_bytes(fig)
        write_atomic(folder / name, images[name])
    meta = (
        f"Estate <b>{cfg.estate.name}</b>, scenario {cfg.scenario}; options {', '.join(names)}; "
        f"{int(opts['samples'])} draws of {drawn} assumptions; {cfg.run.years:g} year(s) after "
        f"{cfg.run.warmup_years:g} of warm-up, {cfg.run.replications} replication(s) per draw and option, "
        f"seed {cfg.run.seed}; {seconds:.0f} s."
    )
    files["report.html"] = ur.psa_report(result.sentences, images, result.distribution, meta)
    for name, text in files.items():
        write_atomic(folder / name, text)
    record = run_record(
        "psa",
        opts,
        overrides,
        estate=cfg.estate.name,
        options=names,
        wall_seconds=round(seconds, 1),
        assumptions=drawn,
        replications=cfg.run.replications,
    )
    write_atomic(folder / "run.json", record)


def main(argv: Sequence[str] | None = None) -> None:
    from .experiments.command import command_main

    def run(opts: dict[str, Any], overrides: list[str]) -> list[str]:
        result = analyse(overrides, **opts)
        lines = ["Probabilistic analysis: what survives what nobody knows"]
        lines += ["  " + s.replace("<b>", "").replace("</b>", "") for s in result.sentences]
        return [*lines, f"Results: {result.folder}"]

    command_main("psa", __doc__ or "", SETTINGS, run, argv)


if __name__ == "__main__":
    main()

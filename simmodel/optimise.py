"""Budget optimiser: ``python -m simmodel.optimise budget=£ trials=N``.

    python -m simmodel.optimise estate=single_prison budget=200000 trials=4 run.years=1 run.replications=1
    python -m simmodel.optimise budget=5000000 trials=60 run.years=2      # the national estate

Chooses a mix of levers, each with the cost lines of the funding option it comes from
(configs/funding), to leave the least unmet care within a yearly budget, and finds the
Pareto front of extra cost against unmet care. The budget is the extra cost a year, to all
payers, over the run's own funding option (the status quo unless ``funding=`` says
otherwise); the first trial is that option unchanged. The levers:

    posts         more buddy posts in every scheme: x 1 to 3          (more_buddy_posts)
    new_schemes   share of all prisons that start a scheme: 0 to 0.6  (new_schemes)
    train         train every scheme (with the programme's cost)      (train_and_supervise)
    supervise     staff supervise every scheme's buddies              (train_and_supervise)
    coordinator   a social care coordinator in every prison           (care_coordinator)
    assessors     extra assessor slots per prison: 0 to 2             (la_capacity)
    provider      personal care providers' capacity: x 1 to 3         (la_capacity)
    unlock        hours added to each unlock window: 0 to 2, staffed  (extended_unlock)
    awareness     staff awareness training in every prison            (staff_awareness)

Settings:

    budget      £ a year over the run's own option (required)
    trials      mixes to run, the unchanged option included        [40]
    levers      comma list of the levers above (all: every one)    [all]
    objective   the metric to minimise                             [unmet_hours_per_week]
    batch       mixes run at once (fixed, so results do not depend on the cores)  [2]
    seed        the sampler's seed (the model's is run.seed)       [1]
    out, jobs, progress   as for simmodel.sensitivity

Uses optuna's multi-objective TPE sampler, seeded, with the budget as a constraint; every
mix runs with the same random numbers. The study is stored in ``study.db``: the same
command resumes and adds only the missing trials, and gives the trials an uninterrupted
run gives. Writes ``trials.csv``, ``pareto.csv``, ``pareto.png``, ``report.html`` and
``run.json`` into the folder it prints.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .callable_module import make_callable
from .config import ConfigError

SETTINGS: dict[str, Any] = {
    "budget": -1.0,
    "trials": 40,
    "levers": "all",
    "objective": "unmet_hours_per_week",
    "batch": 2,
    "seed": 1,
    "out": "",
    "jobs": 0,
    "progress": True,
}


@dataclass(frozen=True)
class Lever:
    """One lever of the mix: its range (``choices`` for a switch or a count) and words."""

    name: str
    words: str  # the lever in use, in words ({} takes its value)
    option: str  # the funding option whose effects and cost lines it takes
    low: float = 0.0
    high: float = 1.0
    step: float = 0.0  # 0: a switch (off or on)
    none: float = 0.0  # the value that changes nothing

    @property
    def switch(self) -> bool:
        return self.step == 0


LEVERS: tuple[Lever, ...] = (
    Lever("posts", "buddy posts x{:g}", "more_buddy_posts", 1.0, 3.0, 0.25, 1.0),
    Lever("new_schemes", "new schemes in {:.0%} of prisons", "new_schemes", 0.0, 0.6, 0.1),
    Lever("train", "every scheme trained", "train_and_supervise"),
    Lever("supervise", "every scheme supervised", "train_and_supervise"),
    Lever("coordinator", "a care coordinator in every prison", "care_coordinator"),
    Lever("assessors", "{:g} more assessor slot(s) per prison", "la_capacity", 0, 2, 1),
    Lever("provider", "personal care providers' capacity x{:g}", "la_capacity", 1.0, 3.0, 0.25, 1.0),
    Lever("unlock", "unlock windows {:g} hour(s) longer", "extended_unlock", 0.0, 2.0, 0.25),
    Lever("awareness", "staff awareness training in every prison", "staff_awareness"),
)
BY_NAME = {lever.name: lever for lever in LEVERS}

#: Per lever: the funding keys it sets, from the mix value and its option's config (FundingConfig).
EFFECTS: dict[str, Callable[[float, Any], dict[str, float]]] = {
    "posts": lambda v, f: {"buddy_posts_factor": v},
    "new_schemes": lambda v, f: {"extra_scheme_share": v},
    "train": lambda v, f: {
        "train_all_schemes": v,
        "programme_cost_per_scheme_per_year": v * f.programme_cost_per_scheme_per_year,
    },
    "supervise": lambda v, f: {
        "supervise_all_schemes": v,
        "programme_cost_per_scheme_per_year": v * f.programme_cost_per_scheme_per_year,
    },
    "coordinator": lambda v, f: {
        "screening_sensitivity_add": v * f.screening_sensitivity_add,
        "detection_delay_factor": 1 + v * (f.detection_delay_factor - 1),
        "referral_share_add": v * f.referral_share_add,
        "referral_delay_factor": 1 + v * (f.referral_delay_factor - 1),
        "recruitment_delay_factor": 1 + v * (f.recruitment_delay_factor - 1),
        "coordinator_fte_per_prison": v * f.coordinator_fte_per_prison,
        "coordinator_cost_per_fte_year": f.coordinator_cost_per_fte_year,
    },
    "assessors": lambda v, f: {
        "extra_assessors_per_prison": v,
        "assessor_retainer_per_year": f.assessor_retainer_per_year,
    },
    "provider": lambda v, f: {"provider_capacity_factor": v},
    "unlock": lambda v, f: {
        "extra_window_hours": v,
        # the option's officer hours are for its own extra hours: staff pro rata
        "extra_officer_hours_per_prison_per_week": v
        * f.extra_officer_hours_per_prison_per_week
        / f.extra_window_hours,
    },
    "awareness": lambda v, f: {
        "aware_staff_share_add": v,
        "staff_awareness_cost_per_prison_per_year": f.staff_awareness_cost_per_prison_per_year,
    },
}


def funding_values(mix: Mapping[str, float], options: Mapping[str, Any]) -> dict[str, float]:
    """The dotted ``funding.*`` values of a mix (levers left out change nothing).

    ``options``: each lever's funding option config (FundingConfig). A cost line two levers
    share (the training programme) is paid once.
    """
    values: dict[str, float] = {}
    for name, value in mix.items():
        if value == BY_NAME[name].none:
            continue
        for key, v in EFFECTS[name](float(value), options[BY_NAME[name].option]).items():
            values[f"funding.{key}"] = max(values.get(f"funding.{key}", v), v)
    return values


def describe(mix: Mapping[str, float]) -> str:
    """A mix in words: "buddy posts x1.5; every scheme trained" (or "no change")."""
    parts = []
    for name, value in mix.items():
        lever = BY_NAME[name]
        if value == lever.none:
            continue
        parts.append(lever.words.format(value))
    return "; ".join(parts) or "no change"


# ------------------------------------------------------------------ the search (model-agnostic)
@dataclass
class Trial:
    number: int
    mix: dict[str, float]
    objective: float
    cost: float  # extra cost a year over the unchanged option
    feasible: bool


def _choices(lever: Lever) -> list[float]:
    """Every value a lever can take."""
    if lever.switch:
        return [0.0, 1.0]
    return [lever.low + i * lever.step for i in range(round((lever.high - lever.low) / lever.step) + 1)]


def _key(mix: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in mix.items()))


def _suggest(trial: Any, levers: Sequence[Lever]) -> dict[str, float]:
    mix: dict[str, float] = {}
    for lever in levers:
        if lever.switch:
            mix[lever.name] = float(trial.suggest_categorical(lever.name, [0, 1]))
        elif float(lever.step).is_integer() and float(lever.low).is_integer():
            mix[lever.name] = float(
                trial.suggest_int(lever.name, int(lever.low), int(lever.high), step=int(lever.step))
            )
        else:
            mix[lever.name] = trial.suggest_float(lever.name, lever.low, lever.high, step=lever.step)
    return mix


def search(
    evaluate: Callable[[list[tuple[int, dict[str, float]]]], list[tuple[float, float]]],
    levers: Sequence[Lever],
    budget: float,
    trials: int,
    *,
    batch: int = 2,
    seed: int = 1,
    storage: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Trial]:
    """Minimise ``(objective, extra cost)`` over mixes with extra cost <= ``budget``.

    ``evaluate([(trial number, mix), ...])`` returns ``(objective, extra cost)`` per mix. The
    first trial is the unchanged mix. When the mixes number no more than ``trials``, every mix is
    tried (each queued in a fixed order); otherwise the multi-objective TPE sampler, with the
    budget as a constraint, proposes them. Rounds of ``batch`` trials are asked, run and told; the
    sampler is re-seeded each round from ``seed`` and the number of trials so far, so a study
    resumed from ``storage`` continues exactly as an uninterrupted one would. A trial asked but
    never told (an interruption) is run again on resume, with the same mix.
    """
    import optuna
    from optuna.trial import TrialState

    from .experiments.analysis import check_stored_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    combinations = math.prod(len(_choices(lv)) for lv in levers)
    exhaustive = combinations <= trials  # a small space: try every mix instead of sampling

    def sampler(done: int) -> Any:
        return optuna.samplers.TPESampler(
            seed=seed * 100_003 + done,
            multivariate=True,
            n_startup_trials=min(10, max(trials // 3, 1)),
        )

    study = optuna.create_study(
        study_name="simmodel",
        storage=storage,
        directions=["minimize", "minimize"],
        sampler=sampler(0),
        load_if_exists=True,
    )
    if not study.trials:
        unchanged = {lever.name: lever.none for lever in levers}
        study.enqueue_trial(unchanged)
        if exhaustive:  # every other mix, in a fixed order
            for values in itertools.product(*(_choices(lv) for lv in levers)):
                mix = dict(zip(unchanged, values, strict=True))
                if mix != unchanged:
                    study.enqueue_trial(mix)

    def tell(pending: list[tuple[Any, dict[str, float]]]) -> None:
        # a mix the sampler proposes again is not run again: it gets the first run's values
        known = {_key(t.params): t.values for t in study.get_trials(states=(TrialState.COMPLETE,))}
        new = [(trial.number, mix) for trial, mix in pending if _key(mix) not in known]
        known |= {
            _key(mix): values for (_, mix), values in zip(new, evaluate(new) if new else [], strict=True)
        }
        for trial, mix in pending:
            objective, cost = known[_key(mix)]
            trial.set_constraint("budget", float(cost) - budget)  # feasible when <= 0
            study.tell(trial, [float(objective), float(cost)])

    check_stored_trials(study.trials, {lv.name: (lv.low, lv.high) for lv in levers})  # (a received folder's)
    # trials asked but never told (an interruption) run again: a lever already suggested keeps
    # its value, one not yet suggested is sampled now
    stale = [optuna.trial.Trial(study, t._trial_id) for t in study.trials if t.state == TrialState.RUNNING]
    if stale:
        tell([(t, _suggest(t, levers)) for t in stale])

    def started() -> int:  # trials asked so far (queued mixes not yet asked do not count)
        return sum(t.state != TrialState.WAITING for t in study.trials)

    while (done := started()) < min(trials, combinations):
        study.sampler = sampler(done)
        asked = [study.ask() for _ in range(min(batch, trials - done, combinations - done))]
        tell([(t, _suggest(t, levers)) for t in asked])
        if progress:
            progress(started(), min(trials, combinations))
    out = []
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        objective, cost = t.values
        out.append(
            Trial(t.number, {k: float(v) for k, v in t.params.items()}, objective, cost, cost <= budget)
        )
    return out


def pareto(trials: Sequence[Trial]) -> list[Trial]:
    """Feasible trials no other feasible trial beats on both objective and cost (cheapest first)."""
    feasible = sorted((t for t in trials if t.feasible), key=lambda t: (t.cost, t.objective))
    front: list[Trial] = []
    for t in feasible:
        if not front or t.objective < front[-1].objective:
            front.append(t)
    return front


# ------------------------------------------------------------------ simmodel as the function
@dataclass
class OptimiseResult:
    trials: pd.DataFrame  # every trial: mix, objective and cost with intervals, feasible, on the front
    front: pd.DataFrame
    best: pd.Series | None  # the feasible mix with the lowest objective
    sentences: list[str]
    folder: Path
    seconds: float


def analyse(overrides: Sequence[str], **settings: Any) -> OptimiseResult:
    """Run the budget optimiser and write its folder (see the module's help)."""
    from .compose import check_overrides
    from .experiments import analysis
    from .experiments.design_runs import Point, Progress, run_points
    from .outputs.results import METRICS

    opts = {**SETTINGS, **settings}
    budget = float(opts["budget"])
    if not math.isfinite(budget) or budget < 0:
        raise ConfigError("budget: give the extra £ a year you can spend, e.g. budget=200000")
    if int(opts["trials"]) < 2:
        raise ConfigError(f"trials={opts['trials']}: at least 2 (the first is the unchanged option)")
    if int(opts["batch"]) < 1:
        raise ConfigError(f"batch={opts['batch']}: at least 1")
    names = (
        [lever.name for lever in LEVERS]
        if opts["levers"] in ("", "all")
        else [n.strip() for n in str(opts["levers"]).split(",") if n.strip()]
    )
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        raise ConfigError(f"levers={opts['levers']}: expected a comma list of {', '.join(BY_NAME)}")
    objective = str(opts["objective"])
    if objective not in {m.name for m in METRICS}:
        raise ConfigError(f"objective={objective}: not a summary metric (e.g. unmet_hours_per_week)")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the optimiser needs optuna: pip install 'simmodel[planner]' (or pip install optuna)"
        ) from None
    levers = [BY_NAME[n] for n in names]
    cfg = check_overrides(list(overrides))
    options = {o: check_overrides([*overrides, f"funding={o}"]).funding for o in {lv.option for lv in levers}}
    folder = analysis.folder_for("optimise", opts, overrides, cfg)
    analysis.prepare_folder(folder)
    option = cfg.funding.name
    base = {option: cfg}
    report = Progress("optimise", bool(opts["progress"]), unit="mixes")
    lines: dict[int, pd.DataFrame] = {}
    reference: list[float] = []  # the unchanged option's cost a year (trial 0)

    def evaluate(pending: list[tuple[int, dict[str, float]]]) -> list[tuple[float, float]]:
        points = [Point(n, option, funding_values(mix, options)) for n, mix in pending]
        if 0 not in lines and all(n != 0 for n, _ in pending):
            points.append(Point(0, option, {}))  # the reference (resume: already in points.csv)
        done = run_points(points, base, folder, jobs=int(opts["jobs"]))
        for n, rows in done[done["scope"] == 0].groupby("point"):
            lines[int(n)] = rows
        if not reference:
            reference.append(float(lines[0]["cost_total_per_year"].mean()))
        return [
            (float(lines[n][objective].mean()), float(lines[n]["cost_total_per_year"].mean()) - reference[0])
            for n, _ in pending
        ]

    started = time.perf_counter()
    trials = search(
        evaluate,
        levers,
        budget,
        int(opts["trials"]),
        batch=int(opts["batch"]),
        seed=int(opts["seed"]),
        storage=f"sqlite:///{(folder / 'study.db').resolve()}",
        progress=report,
    )
    if not lines:  # every trial was already told: read the runs back
        evaluate([])
    seconds = time.perf_counter() - started
    table = _trial_table(trials, lines, objective, reference[0], levers)
    front = table[table["on_front"]].sort_values("extra_cost_per_year").reset_index(drop=True)
    feasible = table[table["feasible"]]
    best = (
        feasible.sort_values([f"{objective}_mean", "extra_cost_per_year"]).iloc[0] if len(feasible) else None
    )
    sentences = _sentences(table, best, budget, objective)
    result = OptimiseResult(table, front, best, sentences, folder, seconds)
    _write(result, cfg, opts, list(overrides), objective, budget)
    return result


def _trial_table(
    trials: list[Trial], lines: dict[int, pd.DataFrame], objective: str, reference: float, levers: list[Lever]
) -> pd.DataFrame:
    """One row per trial: the mix, the objective and extra cost with 95% intervals over
    replications, cost by payer, feasibility and whether it is on the front."""
    from .experiments.replications import t_interval

    front = {t.number for t in pareto(trials)}
    first: dict[tuple[tuple[str, float], ...], int] = {}  # a repeated mix ran once, as its first trial
    for t in sorted(trials, key=lambda t: t.number):
        if t.number in lines:
            first.setdefault(_key(t.mix), t.number)
    rows = []
    for t in trials:
        mine = lines[first[_key(t.mix)]]
        obj = [float(v) for v in t_interval(mine[objective].to_numpy())]
        extra = [
            round(float(v), 2) + 0.0 for v in t_interval(mine["cost_total_per_year"].to_numpy() - reference)
        ]
        rows.append(
            {
                "trial": t.number,
                **{lv.name: t.mix.get(lv.name, lv.none) for lv in levers},
                "mix": describe(t.mix),
                f"{objective}_mean": obj[0],
                f"{objective}_ci_low": obj[1],
                f"{objective}_ci_high": obj[2],
                "extra_cost_per_year": extra[0],
                "extra_cost_ci_low": extra[1],
                "extra_cost_ci_high": extra[2],
                "cost_prison_per_year": mine["cost_prison_per_year"].mean(),
                "cost_local_authority_per_year": mine["cost_local_authority_per_year"].mean(),
                "cost_nhs_per_year": mine["cost_nhs_per_year"].mean(),
                "cost_total_per_year": mine["cost_total_per_year"].mean(),
                "replications": len(mine),
                "same_as_trial": first[_key(t.mix)] if first[_key(t.mix)] != t.number else None,
                "feasible": t.feasible,
                "on_front": t.number in front,
            }
        )
    return pd.DataFrame(rows)


def _sentences(table: pd.DataFrame, best: pd.Series | None, budget: float, objective: str) -> list[str]:
    from .outputs.uncertainty_report import output_words, pounds, with_unit

    label, unit = output_words(objective)
    base = table[table["trial"] == 0].iloc[0]
    today = with_unit(base[f"{objective}_mean"], unit)
    if best is None:
        return [f"No mix run stays within {pounds(budget)} a year; today's {label} is {today}."]
    value = with_unit(best[f"{objective}_mean"], unit)
    low, high = best[f"{objective}_ci_low"], best[f"{objective}_ci_high"]
    interval = (
        f" (95% interval {with_unit(low, unit)} to {with_unit(high, unit)})" if np.isfinite(low) else ""
    )
    lines = [
        f"Within {pounds(budget)} a year, of the {len(table)} mixes run, the one that leaves least "
        f"{label} is: "
        f"{best['mix']}. It leaves {value}{interval} against {today} today, "
        f"for {pounds(best['extra_cost_per_year'])} a year more.",
        f"{int(table['on_front'].sum())} mixes are on the front of extra cost against {label} "
        "within the budget (pareto.csv).",
    ]
    return lines


def _write(
    result: OptimiseResult,
    cfg: Any,
    opts: dict[str, Any],
    overrides: list[str],
    objective: str,
    budget: float,
) -> None:
    from .experiments.analysis import run_record
    from .outputs import planner_report
    from .outputs.report import png_bytes
    from .outputs.results import write_atomic

    folder = result.folder
    image = png_bytes(planner_report.pareto_figure(result.trials, objective, budget))
    write_atomic(folder / "pareto.png", image)
    files = {
        "trials.csv": result.trials.to_csv(index=False),
        "pareto.csv": result.front.to_csv(index=False),
        "report.html": planner_report.optimise_report(result, cfg, objective, budget, image),
    }
    for name, text in files.items():
        write_atomic(folder / name, text)
    record = run_record(
        "optimise",
        opts,
        overrides,
        estate=cfg.estate.name,
        wall_seconds=round(result.seconds, 1),
        trials=len(result.trials),
        replications=cfg.run.replications,
    )
    write_atomic(folder / "run.json", record)


def optimise(
    overrides: Mapping[str, Any] | Sequence[str] | None = None, *, budget: float, **settings: Any
) -> OptimiseResult:
    """The budget optimiser from Python (the command's settings as keywords)::

    simmodel.optimise({"estate": "single_prison", "run.years": 1}, budget=200_000, trials=8)
    """
    from .api import as_overrides

    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ConfigError(f"{', '.join(sorted(unknown))}: not an optimise setting ({', '.join(SETTINGS)})")
    return analyse(as_overrides(overrides), budget=budget, **settings)


def main(argv: Sequence[str] | None = None) -> None:
    from .experiments.command import command_main

    def run(opts: dict[str, Any], overrides: list[str]) -> list[str]:
        result = analyse(overrides, **opts)
        return [*result.sentences, f"Results: {result.folder}"]

    command_main("optimise", __doc__ or "", SETTINGS, run, argv)


make_callable(__name__, optimise)  # simmodel.optimise(...) calls optimise()

if __name__ == "__main__":
    main()

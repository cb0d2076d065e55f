"""Calibration: ``python -m simmodel.calibrate [group=care_act] [trials=N] [write=true]``.

    python -m simmodel.calibrate                       # fit the Care Act flows (national, about 6 min)
    python -m simmodel.calibrate trials=4 check=false write=false run.years=1   # a smoke run

Fits a group of free parameters to the calibration targets declared for it in
``configs/targets.yaml`` (section ``calibration``): which targets, which parameters, the run
settings of a trial, the values held fixed while fitting, and an optional starting guess (run
as the first trial). Each free parameter is searched
inside its plausible range from ``configs/assumptions.yaml``, on a grid fine enough to be written
back exactly. Settings:

    group        the calibration group of configs/targets.yaml          [care_act]
    trials       parameter sets run                                       [60]
    seed         the sampler's seed (the model's is run.seed)             [1]
    prior_weight pull towards the middle of each range (0: none)          [0.1]
    check        run the committed and the fitted values again, longer    [true]
    check_years, check_replications   that check's run length             [10, 4]
    write        write the fitted values into configs/ and docs/calibration.md
                 (a source checkout only)                                 [true]
    out, jobs, progress   folder (default results/calibrate/...), worker processes, progress lines

Anything else is a model override (``run.years=3``; a trial's run settings come from the group).

Method. Each target's published range is read as a 95% interval of a normal distribution, so a
trial's fit is the sum over targets of ``z**2``, z being the model's distance from the middle of
the range in those standard deviations (the range's edge is z = 1.96), with 25 times the square
of any distance outside the range less 10% of its width at each end (so the fit keeps every
target inside its range before it brings any to the middle), plus ``prior_weight``
times the squared distance of each parameter from the middle of its range in half-ranges (so
an underdetermined fit stays near the middle). Every trial runs with the same random numbers
(common random numbers: the seed and replications do not change between trials). Optuna's TPE
sampler proposes the trials, two at a time, re-seeded from ``seed`` and the trials so far, so
the answer does not depend on the cores and a study resumed from ``study.db`` gives the trials
of an uninterrupted one. Writes ``trials.csv``, ``fit.csv``, ``fitted.yaml``,
``calibration.md`` and ``run.json`` into the folder it prints.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .callable_module import make_callable
from .config import ConfigError
from .paths import CONFIG_DIR, REPO
from .trust import SAFE_LOADER

SETTINGS: dict[str, Any] = {
    "group": "care_act",
    "trials": 60,
    "seed": 1,
    "prior_weight": 0.1,
    "check": True,
    "check_years": 10,
    "check_replications": 4,
    "write": True,
    "out": "",
    "jobs": 0,
    "progress": True,
}
#: A standard normal's 97.5th percentile: a published range is read as a 95% interval.
Z95 = 1.959964
#: A trial's run is shorter than the check's, and its value a little off the check's (measured:
#: up to a tenth of a range's width, for assessments): the fit aims inside the range by MARGIN
#: of its width at each end, and weighs a miss of that inner range MISS_WEIGHT times a step
#: towards the middle.
MARGIN = 0.1
MISS_WEIGHT = 25.0
#: Trials run at once (fixed, so the answer does not depend on the cores).
BATCH = 2
#: Random trials before TPE models the fit (fixed, so a study extended to more trials keeps
#: the trials it had).
STARTUP = 12
#: The comment mark a written value carries, replaced on the next write.
MARK = re.compile(r"\[calibrated [^\]]*\]\s*")


@dataclass(frozen=True)
class Free:
    """A free parameter: its dotted key and the range searched, on a grid of ``step``."""

    key: str
    low: float
    high: float
    step: float

    @staticmethod
    def of(key: str, low: float, high: float) -> Free:
        """A grid of about a thousand steps of a round size (0.001 on 0.2-0.7, 1 on 30-365)."""
        step = 10.0 ** (math.floor(math.log10(high - low)) - 2)
        return Free(key, low, high, step)

    def snap(self, value: float) -> float:
        return round(round(value / self.step) * self.step, 10)


@dataclass(frozen=True)
class Group:
    """A calibration group of ``configs/targets.yaml``: targets, free parameters, trial settings."""

    name: str
    description: str
    targets: tuple[str, ...]
    parameters: tuple[Free, ...]
    run: tuple[str, ...]  # overrides of a trial's run settings
    hold: dict[str, float] = field(default_factory=dict)  # values set in every trial
    hold_why: str = ""
    start: dict[str, float] = field(default_factory=dict)  # the first trial (a starting guess)
    start_why: str = ""


def groups(path: Path | None = None) -> dict[str, Group]:
    """The calibration groups declared in ``configs/targets.yaml``."""
    from . import assumptions
    from .experiments import validate

    data = yaml.load((path or validate.TARGETS).read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    registry = assumptions.registry()["model"]
    known = {c.key: c for c in validate.targets(path or validate.TARGETS)}
    out = {}
    for name, spec in (data.get("calibration") or {}).items():
        free = []
        for key in spec["parameters"]:
            entry = registry.get(key)
            if entry is None:
                raise ConfigError(
                    f"targets.yaml: calibration.{name}: {key} has no range in configs/assumptions.yaml"
                )
            free.append(Free.of(key, float(entry.low), float(entry.high)))
        wrong = [t for t in spec["targets"] if t not in known or known[t].role != "calibration"]
        if wrong:
            raise ConfigError(
                f"targets.yaml: calibration.{name}: not calibration targets: {', '.join(wrong)}"
            )
        hold = spec.get("hold") or {}
        out[name] = Group(
            name=name,
            description=str(spec.get("description", "")),
            targets=tuple(spec["targets"]),
            parameters=tuple(free),
            run=tuple(f"{k}={v}" for k, v in (spec.get("run") or {}).items()),
            hold={str(k): float(v["value"]) for k, v in hold.items()},
            hold_why="; ".join(f"{k}: {v['why']}" for k, v in hold.items()),
            start={str(k): float(v) for k, v in (spec.get("start") or {}).get("values", {}).items()},
            start_why=str((spec.get("start") or {}).get("why", "")),
        )
        unknown = set(out[name].start) - set(spec["parameters"])
        if unknown:
            raise ConfigError(f"targets.yaml: calibration.{name}.start: not free: {sorted(unknown)}")
    return out


# ------------------------------------------------------------------------------- the fit
def target_z(value: float, low: float, high: float) -> float:
    """Distance of ``value`` from the middle of a range read as a 95% interval (edge: 1.96)."""
    return (value - (low + high) / 2) / ((high - low) / (2 * Z95))


def target_fit(value: float, low: float, high: float) -> float:
    """One target's part of the fit: ``z**2``, plus :data:`MISS_WEIGHT` times the squared distance
    (in the same standard deviations) outside the range shrunk by :data:`MARGIN` of its width at
    each end, so a fit inside the range, not on its edge, wins over a closer fit of the others."""
    z = target_z(value, low, high)
    inner = Z95 * (1 - 2 * MARGIN)
    return z**2 + MISS_WEIGHT * max(0.0, abs(z) - inner) ** 2


def prior_penalty(values: Mapping[str, float], free: Sequence[Free]) -> float:
    """Sum of squared distances from the middle of each range, in half-ranges (0 to 1 each)."""
    return sum(((values[f.key] - (f.low + f.high) / 2) / ((f.high - f.low) / 2)) ** 2 for f in free)


@dataclass(frozen=True)
class Trial:
    number: int
    values: dict[str, float]
    loss: float


def search(
    loss: Callable[[list[tuple[int, dict[str, float]]]], list[float]],
    free: Sequence[Free],
    trials: int,
    *,
    seed: int = 1,
    storage: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    start: Mapping[str, float] | None = None,
) -> list[Trial]:
    """Minimise ``loss([(trial number, values), ...])`` over the free parameters' grids.

    TPE (multivariate), asked :data:`BATCH` trials a round; the sampler is re-seeded every round
    from ``seed`` and the trials so far, so a study resumed from ``storage`` continues as an
    uninterrupted one would. A trial asked but never told (an interruption) is run again.
    """
    import optuna
    from optuna.trial import TrialState

    from .experiments.analysis import check_stored_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def sampler(done: int) -> Any:
        return optuna.samplers.TPESampler(
            seed=seed * 100_003 + done, multivariate=True, n_startup_trials=STARTUP
        )

    study = optuna.create_study(
        study_name="calibrate", storage=storage, direction="minimize", sampler=sampler(0), load_if_exists=True
    )
    if start and not study.trials:  # a starting guess is the first trial
        study.enqueue_trial({f.key: f.snap(start[f.key]) for f in free if f.key in start})

    def suggest(trial: Any) -> dict[str, float]:
        return {f.key: f.snap(trial.suggest_float(f.key, f.low, f.high, step=f.step)) for f in free}

    def tell(asked: list[Any]) -> None:
        chosen = [(t, suggest(t)) for t in asked]
        for (t, _), value in zip(chosen, loss([(t.number, v) for t, v in chosen]), strict=True):
            study.tell(t, float(value))

    check_stored_trials(study.trials, {f.key: (f.low, f.high) for f in free})  # (a received folder's)
    stale = [optuna.trial.Trial(study, t._trial_id) for t in study.trials if t.state == TrialState.RUNNING]
    if stale:
        tell(stale)
    while (done := len(study.trials)) < trials:
        study.sampler = sampler(done)
        tell([study.ask() for _ in range(min(BATCH, trials - done))])
        if progress:
            progress(len(study.trials), trials)
    return [
        Trial(t.number, {f.key: f.snap(t.params[f.key]) for f in free}, float(t.value))
        for t in study.get_trials(states=(TrialState.COMPLETE,))
    ]


# ------------------------------------------------------------------------- model runs
def config_digest(cfg: Any, free: Sequence[Free]) -> str:
    """A short hash of every value of ``cfg`` except the free parameters (which trials set)."""
    import dataclasses
    import json

    values = dataclasses.asdict(cfg)
    for f in free:
        *path, last = f.key.split(".")
        node = values
        for part in path:
            node = node[part]
        node[last] = None
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class CalibrationResult:
    """What a calibration found: every trial, the best, and the before/after check."""

    group: Group
    trials: Any  # pandas DataFrame: one row per trial (values, target values, loss)
    best: Trial
    fit: Any  # pandas DataFrame: one row per target (range, before, after, met)
    folder: Path
    seconds: float
    written: list[str]
    sentences: list[str]


def _target_values(row: Mapping[str, float], checks: Sequence[Any], prisons: int) -> dict[str, float]:
    values = {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
    values["prisons"] = float(prisons)
    return {c.key: c.value(values) for c in checks}


def analyse(overrides: Sequence[str], **settings: Any) -> CalibrationResult:
    """Run the calibration and write its folder (see the module's help)."""
    import pandas as pd

    from .compose import check_overrides
    from .experiments import analysis, validate
    from .experiments.design_runs import Point, Progress, point_means, run_points

    opts = {**SETTINGS, **settings}
    declared = groups()
    if opts["group"] not in declared:
        raise ConfigError(
            f"group={opts['group']}: expected one of {', '.join(declared) or '(none declared)'}"
        )
    group = declared[opts["group"]]
    if int(opts["trials"]) < 2:
        raise ConfigError(f"trials={opts['trials']}: at least 2")
    if float(opts["prior_weight"]) < 0:
        raise ConfigError(f"prior_weight={opts['prior_weight']}: 0 or more")
    if int(opts["check_years"]) < 1 or int(opts["check_replications"]) < 2:
        raise ConfigError("check_years: at least 1; check_replications: at least 2")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError(
            "calibration needs optuna: pip install 'simmodel[planner]' (or pip install optuna)"
        ) from None
    checks = [c for c in validate.targets() if c.key in group.targets]
    held = [f"{k}={v:g}" for k, v in group.hold.items()]
    cfg = check_overrides([*group.run, *overrides, *held])
    check_cfg = check_overrides(
        [
            *group.run,
            *overrides,
            *held,
            f"run.years={opts['check_years']}",
            f"run.replications={opts['check_replications']}",
        ]
    )
    prisons = len(cfg.estate.prisons) or round(sum(cfg.estate.count.as_tuple()))
    # the trials depend on the group, the seed, the prior and the model; more trials extend a study
    # the trials depend on the group, the seed, the prior and every value of the model the trials
    # do not set (held values and the run settings included); more trials extend a study
    identity = {k: opts[k] for k in ("group", "seed", "prior_weight", "out")}
    identity |= {"method": group.name, "fit": f"margin {MARGIN}, miss weight {MISS_WEIGHT}"}
    identity["model"] = config_digest(cfg, group.parameters)
    identity["start"] = sorted(group.start.items())
    folder = analysis.folder_for("calibrate", identity, overrides, cfg)
    analysis.prepare_folder(folder)
    option = cfg.funding.name
    report = Progress("calibrate", bool(opts["progress"]), unit="trials")
    found: dict[int, dict[str, float]] = {}

    def loss(pending: list[tuple[int, dict[str, float]]]) -> list[float]:
        points = [Point(n, option, values) for n, values in pending]
        means = point_means(run_points(points, {option: cfg}, folder, jobs=int(opts["jobs"])))
        by_point = {int(r["point"]): r for r in means.to_dict("records")}
        out = []
        for n, values in pending:
            found[n] = _target_values(by_point[n], checks, prisons)
            fit = sum(target_fit(found[n][c.key], c.low, c.high) for c in checks)
            out.append(fit + float(opts["prior_weight"]) * prior_penalty(values, group.parameters))
        return out

    started = time.perf_counter()
    trials = search(
        loss,
        group.parameters,
        int(opts["trials"]),
        seed=int(opts["seed"]),
        storage=f"sqlite:///{(folder / 'study.db').resolve()}",
        progress=report,
        start=group.start,
    )
    missing = [(t.number, t.values) for t in trials if t.number not in found]
    if missing:  # a resumed study: read the finished runs back (points.csv)
        loss(missing)
    best = min(trials, key=lambda t: (t.loss, t.number))
    rows = [
        {
            "trial": t.number,
            **t.values,
            **{f"model_{k}": v for k, v in found[t.number].items()},
            "loss": t.loss,
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]
    table = pd.DataFrame(rows)
    table["best"] = table["trial"] == best.number

    from . import assumptions

    before = {f.key: float(assumptions.get_value(cfg, f.key)) for f in group.parameters}
    fit_rows = []
    for c in checks:
        fit_rows.append(
            {
                "target": c.key,
                "name": c.name,
                "low": c.low,
                "high": c.high,
                "trial_value": found[best.number][c.key],
                "trial_met": bool(c.low <= found[best.number][c.key] <= c.high),
            }
        )
    fit = pd.DataFrame(fit_rows)
    if opts["check"]:
        digest = config_digest(check_cfg, ())  # the committed values included
        checked = folder / f"check-{digest}"  # a design of its own: points 0 and 1 are not trials
        checked.mkdir(exist_ok=True)
        lines = run_points(
            [Point(0, option, before), Point(1, option, best.values)],
            {option: check_cfg},
            checked,
            jobs=int(opts["jobs"]),
        )
        means = {int(r["point"]): r for r in point_means(lines).to_dict("records")}
        then, now = (_target_values(means[i], checks, prisons) for i in (0, 1))
        fit["before"] = [then[c.key] for c in checks]
        fit["after"] = [now[c.key] for c in checks]
        fit["before_met"] = [bool(c.low <= then[c.key] <= c.high) for c in checks]
        fit["after_met"] = [bool(c.low <= now[c.key] <= c.high) for c in checks]
    seconds = time.perf_counter() - started
    met_col = "after_met" if opts["check"] else "trial_met"
    met = int(fit[met_col].sum())
    sentences = [
        f"Calibration {group.name}: of {len(trials)} trials the best is trial {best.number} "
        f"(fit {best.loss:.2f}); "
        f"{met} of {len(checks)} targets met"
        + (
            f" in the check ({opts['check_years']} years, {opts['check_replications']} replications)."
            if opts["check"]
            else "."
        )
    ]
    sentences += [
        f"  {f.key} = {best.values[f.key]:g}  (was {before[f.key]:g}; range {f.low:g}-{f.high:g})"
        for f in group.parameters
    ]
    result = CalibrationResult(group, table, best, fit, folder, seconds, [], sentences)
    _write(result, cfg, check_cfg, opts, list(overrides), before)
    return result


# ----------------------------------------------------------------------------- writing
def set_value(text: str, dotted: str, value: float, mark: str) -> str:
    """``text`` (a YAML config file) with the key ``dotted`` set to ``value`` and its comment
    headed by ``mark`` (replacing an earlier mark); the comment keeps its column."""
    from .assumptions import key_lines

    lines = text.split("\n")
    for i, key, match, _ in key_lines(lines):
        if key != dotted or match["value"] == "":
            continue
        line = lines[i]
        head = f"{match['indent']}{match['key']}: {value:g}"
        column = len(line) - len(line.lstrip()) if match["comment"] is None else line.index("#")
        comment = MARK.sub("", match["comment"] or "")
        lines[i] = f"{head.ljust(column - 1)} # {f'{mark} ' if mark else ''}{comment}".rstrip()
        if not mark and not comment:
            lines[i] = head
        return "\n".join(lines)
    raise KeyError(dotted)


def write_configs(values: Mapping[str, float], mark: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """Write each ``group.key`` value into ``configs/group/default.yaml``; returns the files."""
    files: dict[Path, str] = {}
    for dotted, value in values.items():
        group, key = dotted.split(".", 1)
        path = config_dir / group / "default.yaml"
        files[path] = set_value(files.get(path) or path.read_text(encoding="utf-8"), key, value, mark)
    from .outputs.results import write_atomic

    for path, text in files.items():
        write_atomic(path, text)
    return [str(p) for p in files]


def markdown(
    result: CalibrationResult, cfg: Any, opts: Mapping[str, Any], command: str, before: Mapping[str, float]
) -> str:
    """``docs/calibration.md``: targets, fitted values, fit quality and the time it took."""
    from .experiments.validate import _fmt, targets

    g, fit = result.group, result.fit
    checks = {c.key: c for c in targets()}
    check = bool(opts["check"])
    lines = [
        "# Calibration",
        "",
        f"**{int(fit['after_met' if check else 'trial_met'].sum())} of {len(fit)} targets of group "
        f"`{g.name}` met by the fitted values.**",
        "",
        f"Written by `{command}` on {datetime.now(UTC).date()} (do not edit by hand); "
        f"{len(result.trials)} trials in {result.seconds / 60:.1f} minutes on this machine. {g.description}",
        "",
        f"Each trial: estate `{cfg.estate.name}`, scenario `{cfg.scenario}`, {cfg.run.years:g} year(s) "
        f"after a {cfg.run.warmup_years:g}-year warm-up, {cfg.run.replications} replications, seed "
        f"{cfg.run.seed}, the same random numbers in every trial. The method is in "
        "`python -m simmodel.calibrate --help`: each published range is read as a 95% interval, "
        "the fit is the sum of squared z over the targets plus a weak pull "
        f"(weight {opts['prior_weight']:g}) towards the middle of each parameter's range.",
        "",
        "## Fitted parameters",
        "",
        "| parameter | before | fitted | range searched (configs/assumptions.yaml) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{f.key}` | {before[f.key]:g} | {result.best.values[f.key]:g} | {f.low:g} to {f.high:g} |"
        for f in g.parameters
    ]
    if g.hold:
        lines += ["", "Held in every trial: " + g.hold_why + "."]
    lines += ["", "## Fit", ""]
    header = "| target | accepted range | source | best trial |"
    rule = "|---|---|---|---|"
    if check:
        header += f" before ({opts['check_years']} years) | after ({opts['check_years']} years) |"
        rule += "---|---|"
        lines += [
            f"The check reruns the values before and after with {opts['check_years']} reported years and "
            f"{opts['check_replications']} replications.",
            "",
        ]
    lines += [header, rule]
    for row in fit.itertuples(index=False):
        c = checks[row.target]
        cells = [
            c.name,
            f"{_fmt(c.low, c.unit)} to {_fmt(c.high, c.unit)}",
            c.source,
            _met(row.trial_value, row.trial_met, c.unit),
        ]
        if check:
            cells += [_met(row.before, row.before_met, c.unit), _met(row.after, row.after_met, c.unit)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Source of each figure, and why its range: `configs/targets.yaml` and "
        "[validation.md](validation.md).",
    ]
    return "\n".join(lines) + "\n"


def _met(value: float, met: bool, unit: str) -> str:
    from .experiments.validate import _fmt

    return f"{_fmt(value, unit)} ({'met' if met else '**missed**'})"


def _write(
    result: CalibrationResult,
    cfg: Any,
    check_cfg: Any,
    opts: Mapping[str, Any],
    overrides: list[str],
    before: Mapping[str, float],
) -> None:
    from .experiments.analysis import run_record
    from .outputs.results import write_atomic

    folder, g = result.folder, result.group
    settings = {k: v for k, v in opts.items() if k not in ("out", "jobs", "progress")}
    changed = [f"{k}={v}" for k, v in settings.items() if v != SETTINGS[k]]
    command = " ".join(["python -m simmodel.calibrate", *changed, *overrides])
    fitted = {**result.best.values, **g.hold}
    document = markdown(result, cfg, opts, command, before)
    write_atomic(folder / "trials.csv", result.trials.to_csv(index=False))
    write_atomic(folder / "fit.csv", result.fit.to_csv(index=False))
    write_atomic(folder / "fitted.yaml", yaml.safe_dump(fitted, sort_keys=False))
    write_atomic(folder / "calibration.md", document)
    if opts["write"]:
        if not (REPO / "pyproject.toml").is_file() or CONFIG_DIR.parent != REPO:
            result.sentences.append(
                f"Not a source checkout: the fitted values are in {folder / 'fitted.yaml'}."
            )
        else:
            from .experiments.validate import targets

            cited = sorted(
                {s for c in targets() if c.key in g.targets for s in re.findall(r"S\d+", c.source)}
            )
            day = datetime.now(UTC).date()
            mark = f"[calibrated {day} to {', '.join(cited)} ({g.name}): docs/calibration.md]"
            result.written = write_configs(result.best.values, mark)  # held values are declared, not fitted
            write_atomic(REPO / "docs" / "calibration.md", document)
            result.sentences.append(
                "Wrote the fitted values into " + ", ".join(result.written) + " and docs/calibration.md."
            )
    record = run_record(
        "calibrate",
        dict(opts),
        overrides,
        group=g.name,
        wall_seconds=round(result.seconds, 1),
        trials=len(result.trials),
        best_trial=result.best.number,
        fitted=fitted,
        written=result.written,
    )
    write_atomic(folder / "run.json", record)


def calibrate(
    overrides: Mapping[str, Any] | Sequence[str] | None = None, **settings: Any
) -> CalibrationResult:
    """The calibration from Python (the command's settings as keywords)::

    simmodel.calibrate({"run.years": 1}, trials=8, check=False, write=False)
    """
    from .api import as_overrides

    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ConfigError(f"{', '.join(sorted(unknown))}: not a calibrate setting ({', '.join(SETTINGS)})")
    return analyse(as_overrides(overrides), **settings)


def main(argv: Sequence[str] | None = None) -> None:
    from .experiments.command import command_main

    def run(opts: dict[str, Any], overrides: list[str]) -> list[str]:
        result = analyse(overrides, **opts)
        return [*result.sentences, f"Results: {result.folder}"]

    command_main("calibrate", __doc__ or "", SETTINGS, run, argv)


make_callable(__name__, calibrate)  # simmodel.calibrate(...) calls calibrate()

if __name__ == "__main__":
    main()

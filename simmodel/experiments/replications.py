"""Replications: run them (in parallel), stop on precision, and summarise across them.

Replication ``i`` always draws from the streams keyed ``(i, stream)``, whichever process
runs it and in whatever order, and results are combined in replication order, so a
parallel run gives exactly the numbers of a sequential one.

Precision-based stopping (``run.target_half_width > 0``) uses the smallest number of
replications ``n >= run.replications`` at which the 95% confidence interval of every
key metric is within the target share of its mean (or ``run.max_replications``).
Replications run ahead in parallel past that ``n`` are discarded, so the answer does
not depend on ``run.jobs``. After Ctrl-C or a failed replication, the replications
finished so far (in order, without gaps) are kept and the ensemble is marked interrupted
or failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..compose import revalidate
from ..config import Config
from ..model.estate import Estate
from ..model.simulation import run_replication
from ..outputs import results
from . import interrupts

#: Metrics whose precision decides when to stop adding replications.
KEY_METRICS = (
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "cost_total_per_year",
)
CONFIDENCE = 0.95


@dataclass
class ReplicationOutput:
    """What one replication sends back: summary values and its monthly table (numbers only)."""

    replication: int
    values: np.ndarray  # one value per results.METRICS (NaN where undefined: Metric.undefined)
    series: np.ndarray  # timeseries rows x value columns
    series_columns: list[str]
    estate: Estate
    id_frame: pd.DataFrame  # the timeseries' label columns (month, prison, ...)
    wall_seconds: float
    events_processed: int
    windows_resolved: int
    task_hours_resolved: float


def simulate(cfg: Config, replication: int) -> ReplicationOutput:
    """Run replication ``replication`` and reduce it to what the ensemble keeps."""
    result = run_replication(cfg, replication)
    if _in_worker:
        _free_the_simulation()
    series = results.timeseries(result)
    value_columns = [c for c in series.columns if c not in results.TIMESERIES_ID_COLUMNS]
    return ReplicationOutput(
        replication=replication,
        values=results.compute_values(result),
        series=series[value_columns].to_numpy(dtype=float),
        series_columns=value_columns,
        estate=result.estate,
        id_frame=series[list(results.TIMESERIES_ID_COLUMNS)],
        wall_seconds=result.wall_seconds,
        events_processed=result.events_processed,
        windows_resolved=result.windows_resolved,
        task_hours_resolved=result.task_hours_resolved,
    )


# ------------------------------------------------------------------ statistics
def t_interval(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t confidence interval of the mean along ``axis`` (NaN for n < 2)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    # the t quantile, imported here: a run of one replication never needs scipy.special (about
    # 0.3 s of start-up), and scipy.stats would add about 0.4 s more
    from scipy.special import stdtrit

    half = stdtrit(n - 1, 0.5 + CONFIDENCE / 2) * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def relative_half_widths(values: np.ndarray) -> np.ndarray:
    """95% CI half-width over |mean|, one per column of ``values`` (replications x metrics)."""
    mean, low, high = t_interval(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean != 0, (high - low) / 2 / np.abs(mean), 0.0)


# --------------------------------------------------------------------- ensemble
@dataclass
class Ensemble:
    """The replications of one run, in replication order, and how they were run."""

    cfg: Config
    outputs: list[ReplicationOutput]
    jobs: int
    wall_seconds: float
    target_half_width: float
    target_met: bool | None  # None when precision-based stopping is off
    half_widths: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C: holds the replications finished before it
    error: str | None = None  # a replication failed: holds the replications finished before it

    @property
    def n(self) -> int:
        return len(self.outputs)

    @property
    def estate(self) -> Estate:
        return self.outputs[0].estate

    @property
    def values(self) -> np.ndarray:
        """Summary values, replications x metrics."""
        return np.vstack([o.values for o in self.outputs])

    def summary(self) -> pd.DataFrame:
        """``metric, unit, mean, ci_low, ci_high, p5, p95, n, note`` across replications.

        A metric undefined in some replications (e.g. mean age at death in a replication
        with no deaths) is summarised over the replications where it is defined: ``n``
        counts them and ``note`` says e.g. "undefined in 2 of 4 replications: no deaths".
        Undefined in all, its values are blank and the note says why.
        """
        rows = []
        for j, metric in enumerate(results.METRICS):
            column = self.values[:, j]
            defined = column[~np.isnan(column)]
            n = len(defined)
            if n:
                mean, low, high = (float(x) for x in t_interval(defined))
                p5, p95 = (float(x) for x in np.percentile(defined, [5, 95]))
            else:
                mean = low = high = p5 = p95 = float("nan")
            note = results.undefined_note(metric, self.n - n, self.n)
            rows.append((metric.name, metric.unit, mean, low, high, p5, p95, n, note))
        columns = ["metric", "unit", "mean", "ci_low", "ci_high", "p5", "p95", "n", "note"]
        return pd.DataFrame(rows, columns=columns)

    def replications_table(self) -> pd.DataFrame:
        """One row per replication and metric: ``replication, metric, unit, value``."""
        names = [m.name for m in results.METRICS]
        units = [m.unit for m in results.METRICS]
        return pd.DataFrame(
            {
                "replication": np.repeat([o.replication for o in self.outputs], len(names)),
                "metric": names * self.n,
                "unit": units * self.n,
                "value": self.values.ravel(),
            }
        )

    def timeseries(self) -> pd.DataFrame:
        """Monthly rows, mean across replications; estate rows also get a 95% CI per column.

        The CI columns are named ``<column>_ci_low`` and ``<column>_ci_high`` and are empty
        on the rows of single prisons.
        """
        first = self.outputs[0]
        columns = first.series_columns
        total = np.zeros_like(first.series)
        for output in self.outputs:  # replication order: the same sums in any run
            total += output.series
        frame = first.id_frame.copy()
        mean = total / self.n
        estate_rows = (frame["scope"] == "estate").to_numpy()
        _, low, high = t_interval(np.stack([o.series[estate_rows] for o in self.outputs]))
        values = pd.DataFrame(mean, columns=columns, index=frame.index)
        bounds = {}
        for i, column in enumerate(columns):
            for suffix, source in (("ci_low", low), ("ci_high", high)):
                bound = np.full(len(frame), np.nan)
                bound[estate_rows] = source[:, i]
                bounds[f"{column}_{suffix}"] = bound
        frame = pd.concat([frame, values, pd.DataFrame(bounds, index=frame.index)], axis=1)
        return frame.round(3)

    def run_info(self) -> dict[str, object]:
        """How the run went: replications used, precision reached, timings."""
        info: dict[str, object] = {
            "replications_used": self.n,
            "replication_numbers": [o.replication for o in self.outputs],
            "jobs": self.jobs,
            "wall_seconds": round(self.wall_seconds, 2),
            "simulation_seconds_per_replication": round(
                float(np.mean([o.wall_seconds for o in self.outputs])), 2
            ),
        }
        if self.target_met is not None:
            info["target_half_width"] = self.target_half_width
            info["target_met"] = self.target_met
            info["half_widths"] = {k: round(v, 4) for k, v in self.half_widths.items()}
        return info


def available_cores() -> int:
    """Cores this process may use: a SLURM job's CPUs per task, else the CPU affinity."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Stopping:
    """Decides, in replication order, how many replications the run uses."""

    def __init__(self, cfg: Config) -> None:
        run = cfg.run
        self.target = run.target_half_width
        self.minimum = run.replications
        self.maximum = max(run.max_replications, run.replications) if self.target > 0 else run.replications
        self.key_columns = [i for i, m in enumerate(results.METRICS) if m.name in KEY_METRICS]
        self.checked = self.minimum - 1  # counts below the minimum are never a stopping point
        self.met: bool | None = None
        self.half_widths: dict[str, float] = {}

    def decide(self, values: list[np.ndarray]) -> int | None:
        """The number of replications to use, once the leading ``values`` settle it."""
        while self.checked < min(len(values), self.maximum):
            n = self.checked = self.checked + 1
            if n < self.minimum:
                continue
            if self.target <= 0:
                return n
            widths = relative_half_widths(np.vstack(values[:n])[:, self.key_columns]) if n > 1 else None
            if widths is not None:
                self.half_widths = {KEY_METRICS[j]: float(w) for j, w in enumerate(widths)}
            self.met = widths is not None and bool(np.all(widths <= self.target))
            if self.met or n == self.maximum:
                return n
        return None


def run_replications(cfg: Config) -> Ensemble:
    """Run ``cfg.run.replications`` replications (more under precision-based stopping).

    The configuration is checked again first (:func:`compose.revalidate`): code may have
    changed it since it was validated.
    """
    revalidate(cfg)
    started = time.perf_counter()
    stopping = _Stopping(cfg)
    first = cfg.run.first_replication
    workers = min(cfg.run.jobs or available_cores(), stopping.maximum)
    bar = tqdm(
        total=stopping.minimum,
        desc=f"{cfg.scenario}/{cfg.funding.name}",
        unit="replication",
        disable=None if cfg.run.progress else True,  # None: quiet when not a terminal
        leave=False,
    )
    done: dict[int, ReplicationOutput] = {}
    interrupted = False
    error: BaseException | None = None
    try:
        for output in _outputs(cfg, workers, stopping, done):
            done[output.replication - first] = output
            bar.update(1)
            if stopping.target > 0 and bar.total < stopping.maximum and len(done) >= bar.total:
                bar.total = min(bar.total + max(workers, 1), stopping.maximum)
                bar.refresh()
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # a replication failed: keep the ones finished before it
        error = exc
    finally:
        bar.close()
    used = len(_leading(done)) if interrupted or error else stopping.checked
    if used == 0:
        if error is not None:
            raise error
        raise KeyboardInterrupt("interrupted before any replication finished")
    outputs = [done[i] for i in range(used)]
    return Ensemble(
        cfg=cfg,
        outputs=outputs,
        jobs=workers,
        wall_seconds=time.perf_counter() - started,
        target_half_width=stopping.target,
        target_met=stopping.met if stopping.target > 0 and not (interrupted or error) else None,
        half_widths=stopping.half_widths,
        interrupted=interrupted,
        error=None if error is None else f"{type(error).__name__}: {error}",
    )


def _leading(done: dict[int, ReplicationOutput]) -> list[np.ndarray]:
    """Summary values of replications 0, 1, ... up to the first one not yet done."""
    values = []
    while len(values) in done:
        values.append(done[len(values)].values)
    return values


def _stop_if_signalled() -> None:
    """Turn a SIGINT or SIGTERM recorded by :func:`interrupts.watch` into KeyboardInterrupt."""
    if interrupts.received() is not None:
        raise interrupts.Interrupted(interrupts.received() or 0)


#: Why a script must guard its code to use several cores.
MAIN_GUARD = (
    'a script that runs simmodel on several cores needs its code under `if __name__ == "__main__":` '
    "(each worker process imports the script again), or jobs=1."
)


def worker_pool(workers: int, **options: object) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh interpreters ("spawn": no inherited threads or state).

    Refused in a worker still importing the script that started it: a script without a
    ``__main__`` guard would otherwise start pools from each worker (Python's own message for
    that does not say what to do)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"a worker process was asked to start workers of its own: {MAIN_GUARD}")
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, **options)  # type: ignore[arg-type]


def _outputs(
    cfg: Config, workers: int, stopping: _Stopping, done: dict[int, ReplicationOutput]
) -> Iterator[ReplicationOutput]:
    """Yield replications as they finish until ``stopping`` has decided."""
    first = cfg.run.first_replication
    if workers <= 1:
        for i in range(stopping.maximum):
            with interrupts.raising():  # an in-process replication stops at once
                output = simulate(cfg, first + i)
            yield output
            if stopping.decide(_leading(done)) is not None:
                return
            _stop_if_signalled()
        return
    pool = worker_pool(workers, initializer=_worker_init, initargs=(os.getpid(),))
    pending: set[Future[ReplicationOutput]] = set()
    finished_normally = False
    try:
        next_index = 0
        while True:
            while next_index < stopping.maximum and len(pending) < workers:
                pending.add(pool.submit(simulate, cfg, first + next_index))
                next_index += 1
            finished: set[Future[ReplicationOutput]] = set()
            while not finished:  # wake up often enough to notice a recorded signal
                _stop_if_signalled()
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            try:
                outputs = sorted((f.result() for f in finished), key=lambda o: o.replication)
            except BrokenProcessPool as exc:
                raise RuntimeError(
                    f"the worker processes stopped. If a script started them: {MAIN_GUARD}"
                ) from exc
            yield from outputs
            if stopping.decide(_leading(done)) is not None:
                finished_normally = True
                return
    finally:
        for future in pending:
            future.cancel()
        if not finished_normally:  # interrupted or failed: do not wait for replications in flight
            interrupts.end_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


#: True in a replication worker, whose imported modules :func:`gc.freeze` has set aside.
_in_worker = False


def _free_the_simulation() -> None:
    """In a worker, free a finished simulation now and give its memory back to the system.

    Its objects (the SimPy environment, its processes and the model parts they hold) refer
    to each other, so only a full garbage collection frees them, and glibc keeps what is
    freed: each replication of a worker started from the last one's leftovers (measured
    nationally: a peak of 215 MB after the first, 242-250 MB after the second, 252 MB after
    the fourth). With the modules frozen at start-up the collection takes about 11 ms
    nationally and 1 ms for one prison (60 ms otherwise).
    """
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # glibc has it; other C libraries may not
            ctypes.CDLL(None).malloc_trim(0)


def _worker_init(parent_pid: int) -> None:
    """In each worker: leave Ctrl-C to the parent, never outlive it
    (:func:`interrupts.follow_parent`), and set aside the imported modules from garbage
    collection (:func:`_free_the_simulation`)."""
    global _in_worker
    gc.collect()
    gc.freeze()  # everything alive now (modules, the configuration classes) lives as long as the worker
    _in_worker = True
    interrupts.follow_parent(parent_pid)

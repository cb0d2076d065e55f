"""Run the points of an experimental design (sensitivity, probabilistic analysis) and keep them.

A design point is a configuration: the run's validated base config (one per funding option)
with some assumptions set to chosen values. Each point runs ``run.replications`` replications
with the run's seed, so every point sees the same random numbers (common random numbers:
differences between points are the parameters' doing, not chance). Its result is the mean
of every summary metric over those replications.

Finished points are appended to ``points.csv`` in the analysis folder, one whole line each,
as they finish; running the same design again skips them (resume after an interruption,
a crash or a cluster job's time limit). The work is spread over local cores in fresh
processes, one task per point.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config import PRISON_TYPES, Config, ConfigError, check_ranges
from .replications import available_cores, worker_pool

if TYPE_CHECKING:
    from ..model.estate import Estate


@dataclass(frozen=True)
class ClusterLaunch:
    """Run a design's points as batch jobs of a Hydra launcher (``submitit_slurm``,
    ``submitit_local``, ...) instead of on local cores.

    ``batches``: jobs (0: one per point); ``hydra_args``: the launcher's own settings
    (``hydra.launcher.partition=compute``, ...), passed on as given.
    """

    launcher: str
    batches: int = 0
    hydra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Point:
    """One design point: its index, the base config's option and the values set (dotted keys)."""

    index: int
    option: str
    values: dict[str, float]


def metric_names() -> list[str]:
    from ..outputs.results import METRICS

    return [m.name for m in METRICS]


#: population.steady_state_tolerance for design points. It guards a user's own inputs
#: (receptions that cannot hold the stated population); a design that varies stays and
#: transfers legitimately changes the receptions needed (a single prison with transfers out
#: at 0.5 a year needs 1.54x its configured 340), so points get the schema's widest guard.
DESIGN_STEADY_STATE_TOLERANCE = 10.0


#: How a point's results are kept: the estate only, or also each prison type, or each prison.
SCOPES = ("estate", "type", "prison")


def scope_groups(estate: Estate, scopes: str) -> list[np.ndarray]:
    """The prisons (indices) of each scope after the estate: one group per prison type in
    ``config.PRISON_TYPES`` order (empty where the estate has none), or one per prison."""
    if scopes == "type":
        return [np.flatnonzero(estate.type == t) for t in range(len(PRISON_TYPES))]
    if scopes == "prison":
        return [np.array([p]) for p in range(estate.size)]
    return []


def _run_point(cfg: Config, scopes: str = "estate") -> np.ndarray:
    """Worker: every replication of one point, in order; replications x scopes x metrics.

    Scope 0 is the estate; then each group of :func:`scope_groups` (NaN for an empty group).
    One task per point, so the steady-state flow fit (about 0.25 s for a point that changes
    the population or need) is made once per point, in the worker, not in the parent.
    """
    from ..model.flows import check_flows
    from ..model.simulation import run_replication
    from ..outputs import results

    check_flows(cfg)  # ConfigError (named key) if this point's flows cannot hold its stock
    out = []
    for r in range(cfg.run.replications):
        result = run_replication(cfg, r)
        rows = [results.compute_values(result)]
        for group in scope_groups(result.estate, scopes):
            rows.append(
                results.compute_values(result, group) if len(group) else np.full(len(rows[0]), np.nan)
            )
        out.append(rows)
    return np.asarray(out, dtype=float)


def configure_point(base: dict[str, Config], point: Point) -> Config:
    """The configuration of ``point``, its ranges checked (ConfigError names the key).

    The base was validated in full and ``assumptions.with_values`` keeps each field's type,
    so ranges are what a value can break here (compose.revalidate's OmegaConf round trip
    costs 0.2 s a point); the flows are checked in the worker that runs the point.
    """
    from .. import assumptions

    cfg = assumptions.with_values(base[point.option], point.values)
    cfg.population.steady_state_tolerance = max(
        cfg.population.steady_state_tolerance, DESIGN_STEADY_STATE_TOLERANCE
    )
    check_ranges(cfg)
    return cfg


class PointStore:
    """``points.csv``: one line per finished point, replication and scope (0: the estate, then
    the groups of :func:`scope_groups`), then every metric. ``lines`` says how many lines the
    point has, so a point an interruption cut short is ignored as a whole."""

    def __init__(self, folder: Path, metrics: Sequence[str], name: str = "points.csv") -> None:
        self.folder = folder
        self.path = folder / name  # where this process appends (a cluster batch has its own file)
        self.metrics = list(metrics)
        self.header = ["point", "option", "lines", "replication", "scope", *self.metrics]

    def done(self) -> pd.DataFrame:
        """Every line of the points finished so far, in ``points.csv`` and any cluster batch's
        ``points-NNNN.csv`` (lines cut short and unfinished points ignored)."""
        rows: list[list[str]] = []
        for path in sorted(self.folder.glob("points*.csv")):
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    continue
                if header != self.header:
                    raise ConfigError(
                        f"{path} was written by another design or an earlier simmodel: delete it, "
                        "or choose another out="
                    )
                rows += [row for row in reader if len(row) == len(self.header)]
        frame = pd.DataFrame(rows, columns=self.header)
        for name in ("point", "lines", "replication", "scope"):
            frame[name] = frame[name].astype(int)
        for name in self.metrics:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        frame = frame.drop_duplicates(["point", "replication", "scope"], keep="last")
        whole = frame.groupby("point")["point"].transform("size") == frame["lines"]
        return frame[whole].sort_values(["point", "replication", "scope"]).reset_index(drop=True)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def add(self, point: Point, values: np.ndarray) -> None:
        """Append one finished point (replications x scopes x metrics) as a single write."""
        new = not self.path.is_file() or self.path.stat().st_size == 0
        line = io.StringIO()
        if not new and not self._ends_with_newline():
            line.write("\n")  # close a line an interruption cut short, so it stays ignored alone
        writer = csv.writer(line)
        if new:
            writer.writerow(self.header)
        reps, scopes = values.shape[:2]
        for r in range(reps):
            for s in range(scopes):
                writer.writerow(
                    [point.index, point.option, reps * scopes, r, s, *(f"{v:.10g}" for v in values[r, s])]
                )
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            handle.write(line.getvalue())
            handle.flush()
            os.fsync(handle.fileno())


def point_means(lines: pd.DataFrame) -> pd.DataFrame:
    """The estate's mean of every metric over each point's replications: one row per point
    (``point``, ``option``, ``replications``, metrics)."""
    estate = lines[lines["scope"] == 0]
    metrics = [c for c in lines.columns if c not in ("point", "option", "lines", "replication", "scope")]
    means = estate.groupby(["point", "option"], sort=True)[metrics].mean().reset_index()
    means.insert(2, "replications", estate.groupby(["point", "option"], sort=True).size().to_numpy())
    return means


def run_points(
    points: Sequence[Point],
    base: dict[str, Config],
    folder: Path,
    *,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
    scopes: str = "estate",
    cluster: ClusterLaunch | None = None,
    store_name: str = "points.csv",
) -> pd.DataFrame:
    """Run every point not yet in ``folder/points.csv``; return every line of the finished points
    (:func:`point_means` gives one row per point).

    ``base``: the validated config of each option (its ``run`` section sets the replications,
    the seed and the years). ``jobs``: worker processes (0: every available core).
    ``scopes``: ``type`` or ``prison`` keeps each prison type's or prison's metrics too
    (scopes 1, 2, ...: see :func:`scope_groups`), not only the estate's. ``cluster``: send
    the points to a Hydra launcher as batch jobs instead (:mod:`.design_batch`).
    """
    store = PointStore(folder, metric_names(), store_name)
    finished = set(store.done()["point"])
    todo = [p for p in points if p.index not in finished]
    configs = {p.index: configure_point(base, p) for p in todo}  # refuse a bad value before any run
    done = len(points) - len(todo)
    if cluster and todo:
        from .design_batch import launch

        launch(todo, base, folder, cluster, scopes)
        missing = len(set(p.index for p in todo) - set(store.done()["point"]))
        if missing:
            raise RuntimeError(
                f"{missing} of {len(todo)} points did not finish on the cluster (logs: "
                f"{folder / 'batches'}); run the same command again to run only those"
            )
        if progress:
            progress(len(points), len(points))
        return store.done()
    workers = min(jobs or available_cores(), max(len(todo), 1))
    if workers <= 1:
        for point in todo:
            store.add(point, _run_point(configs[point.index], scopes))
            done += 1
            if progress:
                progress(done, len(points))
        return store.done()
    with worker_pool(workers) as pool:
        pending: dict[Future[np.ndarray], Point] = {}
        queue = list(reversed(todo))
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # a short queue: Ctrl-C loses little work
                point = queue.pop()
                pending[pool.submit(_run_point, configs[point.index], scopes)] = point
            finished_now, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished_now:
                point = pending.pop(future)
                store.add(point, future.result())
                done += 1
                if progress:
                    progress(done, len(points))
    return store.done()


class Progress:
    """A one-line console progress report: every few seconds, and when all are done."""

    def __init__(self, label: str, enabled: bool = True, unit: str = "points") -> None:
        self.label, self.enabled, self.unit = label, enabled, unit
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.enabled and (now - self.last > 5 or done == total):
            self.last = now
            print(f"  {self.label}: {done}/{total} {self.unit}, {now - self.started:.0f} s", flush=True)

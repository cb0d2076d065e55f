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
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config, check_ranges
from .replications import available_cores


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


def _run_point(cfg: Config) -> np.ndarray:
    """Worker: every replication of one point, in order; the mean of each summary metric.

    One task per point, so the steady-state flow fit (about 0.25 s for a point that changes
    the population or need) is made once per point, in the worker, not in the parent.
    """
    from ..model.flows import check_flows
    from ..model.simulation import run_replication
    from ..outputs import results

    check_flows(cfg)  # ConfigError (named key) if this point's flows cannot hold its stock
    values = [results.compute_values(run_replication(cfg, r)) for r in range(cfg.run.replications)]
    return np.mean(values, axis=0)


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
    """``points.csv``: one line per finished point (index, option, then every metric's mean)."""

    def __init__(self, folder: Path, metrics: Sequence[str]) -> None:
        self.path = folder / "points.csv"
        self.metrics = list(metrics)
        self.header = ["point", "option", "replications", *self.metrics]

    def done(self) -> pd.DataFrame:
        """Points finished so far (a line cut short by an interruption is ignored)."""
        if not self.path.is_file():
            return pd.DataFrame(columns=self.header)
        rows = []
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != self.header:
                raise RuntimeError(f"{self.path} was written by a different design; use another folder")
            rows = [row for row in reader if len(row) == len(self.header)]
        frame = pd.DataFrame(rows, columns=self.header)
        frame["point"] = frame["point"].astype(int)
        frame["replications"] = frame["replications"].astype(int)
        for name in self.metrics:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        return frame.drop_duplicates("point", keep="last").sort_values("point").reset_index(drop=True)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def add(self, point: Point, replications: int, values: np.ndarray) -> None:
        """Append one finished point as a single write (a complete line or, if cut, an ignored one)."""
        new = not self.path.is_file() or self.path.stat().st_size == 0
        line = io.StringIO()
        if not new and not self._ends_with_newline():
            line.write("\n")  # close a line an interruption cut short, so it stays ignored alone
        writer = csv.writer(line)
        if new:
            writer.writerow(self.header)
        writer.writerow([point.index, point.option, replications, *(f"{v:.10g}" for v in values)])
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            handle.write(line.getvalue())
            handle.flush()
            os.fsync(handle.fileno())


def run_points(
    points: Sequence[Point],
    base: dict[str, Config],
    folder: Path,
    *,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every point not yet in ``folder/points.csv``; return all finished points' results.

    ``base``: the validated config of each option (its ``run`` section sets the replications,
    the seed and the years). ``jobs``: worker processes (0: every available core).
    """
    store = PointStore(folder, metric_names())
    finished = set(store.done()["point"])
    todo = [p for p in points if p.index not in finished]
    configs = {p.index: configure_point(base, p) for p in todo}  # refuse a bad value before any run
    done = len(points) - len(todo)
    workers = min(jobs or available_cores(), max(len(todo), 1))
    if workers <= 1:
        for point in todo:
            store.add(point, configs[point.index].run.replications, _run_point(configs[point.index]))
            done += 1
            if progress:
                progress(done, len(points))
        return store.done()
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[Future[np.ndarray], Point] = {}
        queue = list(reversed(todo))
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # a short queue: Ctrl-C loses little work
                point = queue.pop()
                pending[pool.submit(_run_point, configs[point.index])] = point
            finished_now, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished_now:
                point = pending.pop(future)
                store.add(point, configs[point.index].run.replications, future.result())
                done += 1
                if progress:
                    progress(done, len(points))
    return store.done()


class Progress:
    """A one-line console progress report, at most every few seconds."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label, self.enabled, self.started, self.last = label, enabled, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.enabled and (now - self.last > 5 or done == total):
            self.last = now
            print(f"  {self.label}: {done}/{total} points, {now - self.started:.0f} s", flush=True)

"""The run report's plots, drawn in a second process while this one writes the other files.

Drawing the report's seven figures takes about 0.8 s and importing matplotlib about 0.2 s,
half of the time a national run spends writing. A helper process started when the
simulation starts (:func:`start`) has matplotlib imported by the time the results are in;
:func:`submit` hands it the month-end series and the summary, and this process writes the
CSV files, the workbook and the configuration meanwhile. The plots are the same bytes
either way: the same code draws them, with the same Agg backend.

The helper is used only where it can help and is welcome: at least two cores, a process
allowed to start others (not a daemon), ``run.jobs`` not 1 (one process asked for), and
``SIMMODEL_PLOT_HELPER`` not set to ``0``. Only a command starts it (the command line, or a
benchmark), never the API by itself: the helper is a fresh interpreter, which imports the
main module, and a notebook's or a script's main module may run a whole simulation when
imported (scripts that run replications in parallel need ``if __name__ == "__main__"`` for
the same reason).

If the helper cannot start, fails, dies or takes over a minute, it is ended and the plots
are drawn here, so a run never depends on it. Once started it ignores Ctrl-C (the parent
decides what is kept); it never outlives the parent, and ends after one report or when the
run stops early.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: The figures of a report: (title, inline ``<img>``) each.
Images = list[tuple[str, str]]

#: Seconds to wait for the helper's figures (it takes about one) before ending it and drawing
#: them here; after a Ctrl-C or SIGTERM during the wait, the run waits this long at most.
_TIMEOUT = 60.0
_TIMEOUT_SIGNALLED = 5.0

_helper: ProcessPoolExecutor | None = None


def _cores() -> int:
    from ..experiments.replications import available_cores

    return available_cores()


def wanted(jobs: int = 0) -> bool:
    """True where a helper can draw in parallel and is welcome: two cores or more, not a
    daemon process, ``jobs`` (``run.jobs``: processes, 0 = all cores) not 1, and not turned
    off with ``SIMMODEL_PLOT_HELPER=0``."""
    if os.environ.get("SIMMODEL_PLOT_HELPER", "1").strip() == "0" or jobs == 1:
        return False
    return _cores() >= 2 and not multiprocessing.current_process().daemon


def _warm_up(parent_pid: int) -> None:
    """In the helper: follow the parent, then import what drawing needs (its imports overlap
    the parent's simulation)."""
    from ..experiments.interrupts import follow_parent

    follow_parent(parent_pid)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    from . import report  # noqa: F401


def start(jobs: int = 0) -> None:
    """Start the helper now, if :func:`wanted` and not already running (cheap to call again).

    Call it from a command whose main module does nothing when imported (``python -m
    simmodel``, a script guarded by ``if __name__ == "__main__"``)."""
    global _helper
    if _helper is not None or not wanted(jobs):
        return
    try:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state
        _helper = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_warm_up, initargs=(os.getpid(),)
        )
        _helper.submit(int)  # the pool starts its process at the first task: now
    except (OSError, RuntimeError, ValueError) as exc:
        log.debug("plot helper not started: %s", exc)
        _helper = None


def stop(*, now: bool = False) -> None:
    """Stop the helper, if one is running: once idle, or ``now``, ending its process even if
    it is busy (so that nothing waits for it; an idle helper's own exit, with matplotlib
    loaded, takes about 0.2 s)."""
    global _helper
    helper, _helper = _helper, None
    if helper is None:
        return
    if now:
        from ..experiments.interrupts import end_workers

        end_workers(helper)
    helper.shutdown(wait=not now, cancel_futures=True)


class PendingPlots:
    """The figures of one report, being drawn by the helper or still to draw here."""

    def __init__(self, series: pd.DataFrame, summary: pd.DataFrame, future: Future[Images] | None) -> None:
        self._series, self._summary, self._future = series, summary, future

    def result(self) -> Images:
        """The figures; drawn here if the helper was not used or did not deliver them in time."""
        from ..experiments import interrupts
        from .report import plots

        if self._future is not None:
            try:
                images = self._wait(interrupts.received)
            except Exception as exc:  # the helper died, failed or is stuck: draw them here
                log.debug("plot helper failed (%s); drawing here", exc)
                stop(now=True)
            else:
                stop(now=True)  # its one report is done: ended, not waited for (its exit took 0.2 s)
                return images
        return plots(self._series, self._summary)

    def _wait(self, signalled: Callable[[], int | None]) -> Images:
        """The helper's figures, waited for in short steps: at most :data:`_TIMEOUT` seconds,
        or :data:`_TIMEOUT_SIGNALLED` once a signal has been recorded (TimeoutError after)."""
        assert self._future is not None
        started = time.monotonic()
        while True:
            limit = _TIMEOUT_SIGNALLED if signalled() is not None else _TIMEOUT
            left = started + limit - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no figures after {limit:g} s")
            with contextlib.suppress(TimeoutError):
                return self._future.result(timeout=min(left, 0.2))


def submit(series: pd.DataFrame, summary: pd.DataFrame) -> PendingPlots:
    """Start drawing a run report's figures from the monthly ``series`` and the ``summary``:
    in the helper if :func:`start` started one, else later, in this process."""
    from .report import plots

    estate = series[series["scope"] == "estate"]  # all the figures read (small to send)
    future = None
    if _helper is not None:
        try:
            future = _helper.submit(plots, estate, summary)
        except RuntimeError as exc:  # the pool broke or was shut down
            log.debug("plot helper unusable: %s", exc)
            stop(now=True)
    return PendingPlots(estate, summary, future)

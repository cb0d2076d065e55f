"""Ctrl-C and SIGTERM: stop the simulation, keep what is finished, and say so.

Cluster schedulers and ``timeout`` send SIGTERM; a terminal sends SIGINT. Inside
:func:`watch` both are only *recorded*: the replication loop checks :func:`received`
between replications and stops, and the results already finished are written whole,
whenever the signal lands. A replication simulated in this process is the one place
that should stop at once; :func:`raising` turns a signal into :class:`Interrupted`
there. Exit codes follow the shell: 130 for SIGINT, 143 for SIGTERM. :func:`deferred`
holds both back for a short step that must not be cut in two (publishing a set of files).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """Raised inside :func:`raising` when SIGINT or SIGTERM arrives.

    Its one argument is the signal's number, so ``type(e)(*e.args)`` makes it again: SimPy
    re-raises an exception from inside a process that way (with the name as the argument, a
    signal landing in the daily lifecycle became "ValueError: 'SIGINT' is not a valid
    Signals" and the run was recorded as failed).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


class _State:
    received: int | None = None
    raising: bool = False
    installed: bool = False


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.received is None:
        _State.received = signum
    if _State.raising:
        _State.raising = False  # one exception per signal burst
        raise Interrupted(signum)


@contextmanager
def watch() -> Iterator[None]:
    """Record SIGINT and SIGTERM instead of raising (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread() or _State.installed:
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _State.received, _State.raising, _State.installed = None, False, True
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.installed, _State.raising, _State.received = False, False, None


@contextmanager
def raising() -> Iterator[None]:
    """Inside, a signal (or one already recorded) raises :class:`Interrupted` at once."""
    if not _State.installed:
        yield  # outside watch(): Python's own Ctrl-C handling applies
        return
    if _State.received is not None:
        raise Interrupted(_State.received)
    _State.raising = True
    try:
        yield
    finally:
        _State.raising = False


def received() -> int | None:
    """The first signal recorded inside the current :func:`watch`, or None (also outside one)."""
    return _State.received if _State.installed else None


def exit_code(signum: int | None = None) -> int:
    """The shell's exit code for ``signum`` (or the recorded signal; SIGINT if none)."""
    return EXIT_CODES.get(signum or _State.received or signal.SIGINT, 130)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the duration; one that came is delivered after.

    The signals are blocked in this thread; in the main thread they are also caught by a
    handler that only notes them, since another thread (a BLAS pool) may take a blocked
    signal for the process. What came is raised again once the usual handlers are back.
    """
    wanted = (signal.SIGINT, signal.SIGTERM)
    received: list[int] = []
    saved: dict[int, Any] = {}
    blocked = hasattr(signal, "pthread_sigmask")
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, wanted) if blocked else None
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in wanted:
                saved[signum] = signal.signal(signum, lambda number, _frame: received.append(number))
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending signal is delivered now
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


def follow_parent(parent_pid: int) -> None:
    """In a helper process: leave Ctrl-C to the parent and never outlive it.

    The terminal sends SIGINT to the whole process group; the parent decides what is
    kept, so helpers ignore it. If the parent dies (even by SIGKILL) the kernel sends the
    helper SIGTERM (Linux ``PR_SET_PDEATHSIG``); a watchdog thread covers other systems.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes  # (here: the command line's start-up does not need it)

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watchdog() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()


def end_workers(pool: ProcessPoolExecutor) -> None:
    """End a ``ProcessPoolExecutor``'s worker processes now, busy or not (it has no public way
    before Python 3.14), so nobody waits for work no longer wanted."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()
    for process in list(processes.values()):
        process.join(timeout=5)

"""Output folders: where a run or a sweep may write, one writer at a time, never stale.

A run folder holds the files of exactly one run. Before a run starts its folder is
checked: it must not be (or lie inside) the project's own folders, the file-system root
or the repository root, and it may hold only simmodel outputs. A folder that already
holds a complete run of the same configuration is skipped (so a sweep resumes); one
holding any other run's results is refused unless ``run.overwrite=true``, which deletes
those results first. A lock file keeps a second run out while the first one writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..paths import PACKAGE, REPO

#: Files a run writes (run.json last).
RUN_FILES = (
    "config.yaml",
    "timeseries.csv",
    "replications.csv",
    "summary.csv",
    "report.html",
    "results.xlsx",
    "run.json",
)
#: Files collation writes into a sweep folder, and Hydra's record of the sweep.
SWEEP_FILES = ("sweep.csv", "comparison.csv", "frontier.png", "report.html", "results.xlsx", "multirun.yaml")
#: Hydra's log of a job (``hydra.job.name`` + .log) and the lock file.
LOG_FILE = "simmodel.log"
LOCK_FILE = ".simmodel.lock"
#: Folders no output may go into: the project's own sources and configuration.
PROTECTED = ("configs", "scenarios", "simmodel", "tests", "docs", "benchmarks", "studies", ".git")

#: Folders of the user's own configuration in the working folder (see compose.USER_FOLDERS).
USER_CONFIG_FOLDERS = ("scenarios", "estates")

_held: dict[Path, int] = {}
#: Config folders given on this command line (``--config-dir``): no output goes into them either.
_protected_here: set[Path] = set()


def protect(folders: tuple[Path, ...]) -> None:
    """Refuse outputs inside these folders too (the user's own config folders of a command)."""
    _protected_here.update(Path(f).expanduser().resolve() for f in folders)


class OutputError(Exception):
    """An output folder that must not or cannot be used; the message is one line."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and (".tmp" in name or name.endswith((".xlsx", ".png")))


def unsafe_reason(folder: str | Path) -> str | None:
    """Why ``folder`` must never receive outputs, or None if it may."""
    if not str(folder).strip():
        return "it is empty: name a folder"
    resolved = Path(folder).expanduser().resolve()
    if resolved == Path(resolved.anchor):
        return "it is the file-system root"
    if resolved == REPO and (REPO / "pyproject.toml").is_file():
        return "it is the repository root"
    for protected in (*(REPO / name for name in PROTECTED), PACKAGE):
        if resolved == protected or protected in resolved.parents:
            return f"it is inside {protected.name}/, which holds the model itself"
    cwd = Path.cwd().resolve()
    for protected in (*(cwd / name for name in USER_CONFIG_FOLDERS), *_protected_here):
        if resolved == protected or protected in resolved.parents:
            return f"it is inside {protected.name}/, which holds your own configuration files"
    return None


def _has_record(folder: Path) -> bool:
    """``folder`` holds a run record simmodel wrote (``run.json`` with its status and versions):
    only then are files named like its results taken for a run's (and replaced)."""
    import json

    try:
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "status" in record and "simmodel" in (record.get("versions") or {})


def foreign_entries(folder: Path, *, sweep: bool) -> list[str]:
    """Names in ``folder`` that are not simmodel outputs (a symbolic link never is one)."""
    allowed = set(RUN_FILES) | {LOG_FILE, LOCK_FILE}
    if sweep:
        allowed |= set(SWEEP_FILES) | {".submitit"}
    foreign = []
    # files named like outputs are taken for simmodel's only beside its record of the run or sweep
    jobs = [p for p in folder.iterdir() if sweep and p.name.isdigit() and p.is_dir() and not p.is_symlink()]
    if sweep:
        recorded = (folder / "multirun.yaml").is_file() or any(_has_record(job) for job in jobs)
    else:
        recorded = _has_record(folder)
    for entry in folder.iterdir():
        name = entry.name
        job = sweep and entry.is_dir() and not entry.is_symlink() and name.isdigit()
        ours = name in allowed or _is_temporary(name) or job
        if ours and name in (SWEEP_FILES if sweep else RUN_FILES) and not recorded:
            ours = False  # (someone's own config.yaml or report.html, which a run would replace)
        if entry.is_symlink() or not ours:  # (a received folder's link would send a write anywhere)
            foreign.append(name)
        elif job:  # Hydra writes a job's log before the job checks its own folder
            foreign += [f"{name}/{p.name}" for p in entry.iterdir() if p.is_symlink()]
    return sorted(foreign)


def check(folder: Path, *, sweep: bool) -> None:
    """Refuse an unsafe folder or one holding other files (exit 2); it may not exist yet."""
    what = "sweep folder" if sweep else "run folder"
    reason = unsafe_reason(folder)
    if reason:
        raise OutputError(f"the {what} '{str(folder)[:80]}' is refused: {reason}.", 2)
    where = Path(folder).expanduser().resolve()  # ("new/.." is the folder above, holding what it holds)
    try:
        exists = where.is_dir()
    except OSError as exc:  # (a name too long for the file system)
        raise OutputError(f"the {what} '{str(folder)[:60]}...' is refused: {exc.strerror}.", 2) from None
    if exists:
        foreign = foreign_entries(where, sweep=sweep)
        if foreign:
            raise OutputError(
                f"the {what} '{str(folder)[:60]}' holds files that are not simmodel outputs "
                f"({', '.join(foreign[:3])[:60]}): choose an empty or new folder.",
                2,
            )


def create(folder: Path) -> None:
    """Create ``folder`` and check it can be written; one-line :class:`OutputError` (exit 1) if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write to '{str(folder)[:80]}': {reason}.", 1) from None


def lock(folder: Path) -> None:
    """Take the folder's lock for this process (a second run into it is refused, exit 2).

    The lock is an ``flock`` on ``.simmodel.lock``: it goes when the process does, so a
    killed run never leaves a stale lock. Taking a lock this process holds is a no-op.
    """
    key = folder.resolve()
    if key in _held:
        return
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # never through a link
    except OSError as exc:
        raise OutputError(f"cannot write to '{str(folder)[:80]}': {exc.strerror}.", 1) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise OutputError(
            f"another simmodel run (process {holder}) is writing to '{str(folder)[:80]}': "
            "wait for it, or choose another folder.",
            2,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[key] = fd


def unlock(folder: Path) -> None:
    """Release and remove the folder's lock if this process holds it."""
    fd = _held.pop(folder.resolve(), None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        (folder / LOCK_FILE).unlink(missing_ok=True)
    os.close(fd)


def result_files(folder: Path) -> list[Path]:
    """The run result files present in ``folder``."""
    return [folder / name for name in RUN_FILES if (folder / name).exists()]


def clear(folder: Path) -> None:
    """Delete a previous run's result files (``run.overwrite=true``); run.json goes first."""
    for name in ("run.json", *RUN_FILES):
        (folder / name).unlink(missing_ok=True)

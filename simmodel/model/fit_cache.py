"""A disk cache for numbers the model fits before it runs (the reception flows, Beta shapes).

Fitting the flows takes about a quarter of a second and needs scipy.optimize, which costs
about as much again to import; every run and every worker process did both. The results
depend only on the fit's inputs and on the code that fits, so they are kept as small JSON
files, one per input, named by a hash of:

- the kind of fit and its inputs as text (the caller's key, also stored in the file and
  compared when it is read);
- the source of the modules the fits read (``flows.py``, ``need.py``, ``metrics.py``,
  ``config.py``, as first read by the process), the numpy and scipy versions and the
  machine's processor, so other code, libraries or hardware make their own fits.

JSON holds numbers and nothing that could run. A file that cannot be read, does not parse or
does not match is ignored and the fit is made again; a folder that cannot be written is left
alone. The folder is ``$SIMMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/simmodel``, else
``~/.cache/simmodel``; ``SIMMODEL_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

#: Files and bytes kept at most; beyond either the oldest are removed as new ones are written
#: (a Beta quantile table is about 330 KB: a sweep over the share of sentence served writes
#: one per design point).
MAX_FILES = 512
MAX_BYTES = 64 * 1024 * 1024
_FORMAT = 1
_SOURCES = ("flows.py", "need.py", "metrics.py", "../config.py")
#: Every file the cache writes is named ``<prefix><kind>-<hash>.json``; nothing else in the
#: folder is ever read or removed.
_PREFIX = "simmodel-fit-"


def folder() -> Path | None:
    """Where fits are kept, or None if the cache is off (or there is no home folder)."""
    chosen = os.environ.get("SIMMODEL_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "false") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home folder (a container's arbitrary user)
            return None
    return Path(base) / "simmodel"


@cache
def _code_fingerprint() -> str:
    """A hash of the fitting code, the numeric libraries' versions and the machine (its
    processor and platform: linear algebra may differ in the last bits between them, and a
    stored fit must give the same run as a fresh one)."""
    import scipy

    digest = hashlib.sha256(f"{_FORMAT} {np.__version__} {scipy.__version__}".encode())
    digest.update(f"{sys.platform} {platform.machine()} {_processor()}".encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _processor() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), or what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _path(where: Path, kind: str, key: str) -> Path:
    name = hashlib.sha256(f"{_code_fingerprint()}\n{kind}\n{key}".encode()).hexdigest()[:40]
    return where / f"{_PREFIX}{kind}-{name}.json"


def load(kind: str, key: str) -> dict[str, Any] | None:
    """The stored values of a fit of ``kind`` with inputs ``key``, or None."""
    where = folder()
    if where is None:
        return None
    try:
        stored = json.loads(_path(where, kind, key).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(stored, dict) or stored.get("kind") != kind or stored.get("key") != key:
        return None
    values = stored.get("values")
    return values if isinstance(values, dict) else None


def save(kind: str, key: str, values: dict[str, Any]) -> None:
    """Keep the values (numbers, lists of numbers) of a fit; silently skipped if they are not
    all finite numbers or the folder cannot be written. Written atomically, so a reader sees
    the whole file or none."""
    where = folder()
    if where is None:
        return
    try:
        text = json.dumps({"kind": kind, "key": key, "values": values}, allow_nan=False)
    except (TypeError, ValueError):  # not numbers, or not finite: not kept
        return
    tmp = None
    try:
        path = _path(where, kind, key)
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{_PREFIX}", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
        tmp = None
        _prune(where, keep=path)
    except OSError:
        return
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _prune(where: Path, keep: Path) -> None:
    """Remove the oldest of the cache's files beyond :data:`MAX_FILES` files or
    :data:`MAX_BYTES` bytes in all (never ``keep``, the one just written, whatever the clock's
    resolution)."""
    files = []
    for path in where.glob(f"{_PREFIX}*.json"):
        if path == keep:
            continue
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile by another process
            continue
        files.append((stat.st_mtime_ns, path.name, stat.st_size, path))
    count, size = len(files) + 1, sum(f[2] for f in files) + keep.stat().st_size
    if count <= MAX_FILES and size <= MAX_BYTES:
        return
    for _, _, bytes_, path in sorted(files):  # oldest first
        if count <= MAX_FILES and size <= MAX_BYTES:
            break
        path.unlink(missing_ok=True)
        count, size = count - 1, size - bytes_


def numbers(values: object, shape: tuple[int, ...] | None = None) -> Any:
    """``values`` as a float array of ``shape`` (a float if ``shape`` is None), all finite;
    ValueError otherwise (a stored fit is then not used)."""
    if shape is None:
        if not isinstance(values, int | float) or isinstance(values, bool):
            raise ValueError("not a number")
        try:
            number = float(values)
        except OverflowError as exc:
            raise ValueError("too large") from exc
        if not math.isfinite(number):
            raise ValueError("not finite")
        return number
    try:
        array = np.array(values, dtype=float)
    except (TypeError, OverflowError) as exc:
        raise ValueError("not numbers") from exc
    if array.shape != shape or not np.isfinite(array).all():
        raise ValueError("wrong shape or not finite")
    return array

"""A disk cache for numbers the model fits before it runs (the reception flows, Beta shapes).

Fitting the flows takes about a quarter of a second and needs scipy.optimize, which costs
about as much again to import; every run and every worker process did both. The results
depend only on the fit's inputs and on the code that fits, so they are kept as small JSON
files, one per input, named by a hash of:

- the kind of fit and its inputs as text (the caller's key, also stored in the file and
  compared when it is read);
- the source of the modules the fits read (``flows.py``, ``need.py``, ``metrics.py``,
  ``config.py``) and the numpy and scipy versions, so changed code never reads an old fit.

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
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

#: Files kept at most; beyond it the oldest are removed as new ones are written.
MAX_FILES = 512
_FORMAT = 1
_SOURCES = ("flows.py", "need.py", "metrics.py", "../config.py")


def folder() -> Path | None:
    """Where fits are kept, or None if the cache is off."""
    chosen = os.environ.get("SIMMODEL_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "false") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simmodel"


@cache
def _code_fingerprint() -> str:
    """A hash of the fitting code and the numeric libraries' versions."""
    import numpy
    import scipy

    digest = hashlib.sha256(f"{_FORMAT} {numpy.__version__} {scipy.__version__}".encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _path(where: Path, kind: str, key: str) -> Path:
    name = hashlib.sha256(f"{_code_fingerprint()}\n{kind}\n{key}".encode()).hexdigest()[:40]
    return where / f"{kind}-{name}.json"


def load(kind: str, key: str) -> dict[str, Any] | None:
    """The stored values of a fit of ``kind`` with inputs ``key``, or None."""
    where = folder()
    if where is None:
        return None
    try:
        stored = json.loads(_path(where, kind, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("kind") != kind or stored.get("key") != key:
        return None
    values = stored.get("values")
    return values if isinstance(values, dict) else None


def save(kind: str, key: str, values: dict[str, Any]) -> None:
    """Keep the values (numbers, lists of numbers) of a fit; silently skipped if the folder
    cannot be written. Written atomically, so a reader sees the whole file or none."""
    where = folder()
    if where is None:
        return
    try:
        text = json.dumps({"kind": kind, "key": key, "values": values}, allow_nan=False)
    except ValueError:  # a NaN or infinity: not kept (a stored fit is all finite)
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".fit.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, _path(where, kind, key))
        _prune(where)
    except OSError:
        return


def _prune(where: Path) -> None:
    """Remove the oldest files beyond :data:`MAX_FILES`."""
    files = list(where.glob("*.json"))
    if len(files) <= MAX_FILES:
        return
    files.sort(key=lambda path: path.stat().st_mtime)
    for path in files[: len(files) - MAX_FILES]:
        path.unlink(missing_ok=True)


def numbers(values: object, shape: tuple[int, ...] | None = None) -> Any:
    """``values`` as a float array of ``shape`` (a float if ``shape`` is None), all finite;
    ValueError otherwise (a stored fit is then not used)."""
    import numpy as np

    if shape is None:
        if not isinstance(values, int | float) or isinstance(values, bool):
            raise ValueError("not a number")
        number = float(values)
        if not math.isfinite(number):
            raise ValueError("not finite")
        return number
    try:
        array = np.array(values, dtype=float)
    except TypeError as exc:
        raise ValueError("not numbers") from exc
    if array.shape != shape or not np.isfinite(array).all():
        raise ValueError("wrong shape or not finite")
    return array

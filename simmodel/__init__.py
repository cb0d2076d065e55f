"""simmodel: social care need and buddy care capacity in adult prisons in England and Wales.

A discrete-event simulation: SimPy drives the slow lifecycle (people, pathway,
buddies, regime) and a vectorised fast lane resolves the care tasks of each unlock
window. See README.md, "How the model works".

The Python API (:mod:`simmodel.api`): :func:`run`, :func:`compare`, :func:`configure`,
:class:`Result`, and :class:`ConfigError` for a configuration mistake; the planner tools
``simmodel.capacity(...)`` and ``simmodel.optimise(...)``, and ``simmodel.calibrate(...)``
(modules you can call, each also a command: ``python -m simmodel.capacity``). They are
imported on first use, so ``import simmodel`` and the command line start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "OutputError",
    "Result",
    "__version__",
    "calibrate",
    "capacity",
    "compare",
    "configure",
    "optimise",
    "run",
]

if TYPE_CHECKING:
    from .api import Result, compare, configure, run
    from .config import ConfigError
    from .outputs.run_folder import OutputError


def __getattr__(name: str) -> Any:
    if name in ("run", "compare", "configure", "Result"):
        from . import api

        return getattr(api, name)
    if name in ("calibrate", "capacity", "optimise"):
        import importlib

        return importlib.import_module(f".{name}", __name__)  # a module you can call
    if name == "ConfigError":
        from .config import ConfigError

        return ConfigError
    if name == "OutputError":
        from .outputs.run_folder import OutputError

        return OutputError
    raise AttributeError(f"module 'simmodel' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded on first use, for notebooks' tab completion."""
    return sorted([*globals(), *__all__])

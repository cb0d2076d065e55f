"""Where simmodel's own configuration lives: the repository's folders, or the installed copies.

In the repository, ``configs/`` and ``scenarios/`` sit beside the package and are the
source of truth. A built wheel ships copies inside the package (``simmodel/configs``,
``simmodel/scenarios``; see ``pyproject.toml``), which are used when present.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: The repository root when running from a checkout (or an editable install).
REPO = PACKAGE.parent


def _shipped(name: str) -> Path:
    installed = PACKAGE / name
    return installed if installed.is_dir() else REPO / name


CONFIG_DIR = _shipped("configs")
SCENARIO_DIR = _shipped("scenarios")

#: The program search path as the process started, before Hydra applies any job settings: the
#: run record's ``git status`` is looked up on it (:func:`simmodel.outputs.results._git_has_changes`).
STARTUP_PATH = os.environ.get("PATH", os.defpath)

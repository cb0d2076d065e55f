"""The Hydra callback that collates a sweep when it ends.

Kept apart from :mod:`simmodel.experiments.collate` so that composing a configuration
(``--cfg job``, every run's start) does not import the collation's tools (pandas, matplotlib,
scipy): Hydra imports the callback's class whenever it composes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class CollateSweep(Callback):
    """Hydra callback: collate the sweep folder when a multirun ends.

    Hydra turns an exception in a callback into a warning, so a failed collation is
    caught here: one line on stderr, and the reason in :attr:`failure` for the command
    line to act on.
    """

    #: Why the last collation failed, or None; reset when a multirun starts.
    failure: ClassVar[str | None] = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        CollateSweep.failure = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            if sweep_dir.is_dir():
                from .collate import collate  # pandas, matplotlib, scipy: only when a sweep ends

                collate(sweep_dir, config)
        except Exception as exc:  # reported in one line, not as Hydra's warning
            from .collate import _reason

            CollateSweep.failure = _reason(exc)
            print(f"simmodel: error: collation failed: {CollateSweep.failure}", file=sys.stderr)

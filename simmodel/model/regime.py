"""The regime: unlock windows, and spells of restricted regime or lockdown per prison.

``factor[p]`` is the share of normal unlock time prison ``p`` has now: 1 normally,
less during a restricted regime (staff shortfall) or a lockdown. The fast lane reads
it in every window; a SimPy process per prison switches it.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from ..config import Config
from .metrics import DAYS_PER_YEAR
from .streams import Streams


class Regime:
    """Unlock time per prison, switched by restricted-regime and lockdown spells."""

    def __init__(self, env: simpy.Environment, cfg: Config, prisons: int, streams: Streams) -> None:
        self.env = env
        self.cfg = cfg.regime
        self.factor = np.ones(prisons)
        self.changes = 0  # times any factor changed (readers tell a changed regime by it)
        self.draw = streams["regime"]
        self.prisons = prisons

    def start(self) -> None:
        c = self.cfg
        if c.restricted_episodes_per_year + c.lockdown_episodes_per_year > 0:
            for prison in range(self.prisons):
                self.env.process(self._spells(prison))

    def _spells(self, prison: int) -> Generator[simpy.Event, None, None]:
        c, env, d = self.cfg, self.env, self.draw
        rate = c.restricted_episodes_per_year + c.lockdown_episodes_per_year
        lockdown_share = c.lockdown_episodes_per_year / rate
        while True:
            yield env.timeout(d.exponential(DAYS_PER_YEAR / rate))
            if d.bernoulli(lockdown_share):
                factor, mean_days = c.lockdown_unlock_factor, c.lockdown_days_mean
            else:
                factor, mean_days = c.restricted_unlock_factor, c.restricted_days_mean
            self._set(prison, factor)
            yield env.timeout(d.exponential(mean_days))
            self._set(prison, 1.0)

    def _set(self, prison: int, factor: float) -> None:
        self.factor[prison] = factor
        self.changes += 1

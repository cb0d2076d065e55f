"""Safeguarding incidents around peer care: bullying, accusations of theft, exploitation.

The evaluation names these among the risks reported most often, with buddies
overstepping into personal care and the burden on buddies (W25 L86); no source gives a
rate. Here incidents arise in proportion to the hours of non-personal care that peers
give:

* informal help (cell-mates and neighbours: no vetting, training or record) at the
  configured rate per 1,000 hours, for each kind;
* a formal buddy's hour at that rate times ``formal_factor``, times ``trained_factor``
  where the scheme trains its buddies and ``supervised_factor`` where it supervises them.

After the care lane has resolved a batch of unlock windows it hands over the hours
given (windows x prisons), and the incidents of every window, prison and kind are drawn
in one Poisson call from their own stream, so the draws of every other part of the model
are the same with or without them. Never per task.

Overstepping into personal care is counted by the care lane (``Flow.OVERSTEP_EVENTS``);
the summary adds it to the total. The burden on buddies is the burnout hazard
(``buddies.burnout_*``).
"""

from __future__ import annotations

import numpy as np

from ..config import SafeguardingConfig
from .estate import FORMAL_TRAINED, NO_SCHEME, Estate
from .metrics import Flow, Metrics
from .streams import Streams

#: The kinds of incident, in the order of their rates and flows.
KINDS = ("bullying", "theft_accusation", "exploitation")
#: The flow each kind adds to.
FLOWS = np.array(
    [Flow.SAFEGUARDING_BULLYING, Flow.SAFEGUARDING_THEFT_ACCUSATION, Flow.SAFEGUARDING_EXPLOITATION]
)


def buddy_factors(cfg: SafeguardingConfig, estate: Estate) -> np.ndarray:
    """Per prison: incidents per hour of a formal buddy's care over incidents per hour of informal
    help (1 where there is no scheme, and no buddy either)."""
    formal = estate.scheme != NO_SCHEME
    trained = estate.scheme == FORMAL_TRAINED
    supervised = estate.supervised
    factor = np.where(formal, cfg.formal_factor, 1.0)
    factor *= np.where(formal & trained, cfg.trained_factor, 1.0)
    factor *= np.where(formal & supervised, cfg.supervised_factor, 1.0)
    return factor


def rates_per_hour(cfg: SafeguardingConfig) -> np.ndarray:
    """Incidents per hour of informal help, one per kind (KINDS order)."""
    per_1000 = (
        cfg.bullying_per_1000_informal_hours,
        cfg.theft_accusation_per_1000_informal_hours,
        cfg.exploitation_per_1000_informal_hours,
    )
    return np.array(per_1000) / 1000.0


class Safeguarding:
    """Draws the safeguarding incidents of each batch of unlock windows, for all prisons at once."""

    def __init__(self, cfg: SafeguardingConfig, estate: Estate, streams: Streams, metrics: Metrics) -> None:
        self.rng = streams.generator("safeguarding")
        self.metrics = metrics
        self.rates = rates_per_hour(cfg)  # (kinds,)
        self.buddy_factor = buddy_factors(cfg, estate)  # (prisons,)

    def expected(self, buddy_hours: np.ndarray, informal_hours: np.ndarray) -> np.ndarray:
        """Mean incidents by window, kind and prison, from the hours buddies and informal helpers
        gave in each window and prison (arrays of windows x prisons)."""
        exposure = np.asarray(informal_hours, dtype=float) + self.buddy_factor * buddy_hours
        return exposure[:, None, :] * self.rates[None, :, None]

    def record(self, starts: np.ndarray, buddy_hours: np.ndarray, informal_hours: np.ndarray) -> np.ndarray:
        """Draw and count the incidents of windows starting on days ``starts`` (one per row of
        the hours); returns them (windows x kinds x prisons)."""
        incidents = self.rng.poisson(self.expected(buddy_hours, informal_hours))
        self.metrics.add_windows(starts, FLOWS, incidents.transpose(0, 2, 1))
        return incidents

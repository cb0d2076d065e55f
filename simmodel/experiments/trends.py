"""Print the cohort engine's projections of the scenarios, and refit the ageing trends.

``python -m simmodel.experiments.trends [key=value ...]`` prints the expected growth of the
total, 50+, 60+ and 70+ groups over 4 and 10 years for the baseline and the three ageing
scenarios, then refits the four mechanisms of the central scenario and the shift of the
high and low variants (simmodel/model/cohort.py). The scenario files hold the values it
prints; a refit after a change to the population defaults is copied into them by hand.
"""

from __future__ import annotations

import math
import sys

from ..api import configure
from ..model import cohort


def main(argv: list[str] | None = None) -> int:
    """Print the projections, then the refitted trends; exit 1 if the fit fails."""
    args = sys.argv[1:] if argv is None else argv
    for scenario in ("baseline", "ageing", "ageing_high", "ageing_low"):
        cfg = configure([f"scenario={scenario}", *args])
        p = cohort.project(cfg.population, cfg.need, 10)
        cells = "  ".join(
            f"{name} {100 * p.growth(b, 4):+5.1f}% / {100 * p.growth(b, 10):+5.1f}%"
            for name, b in cohort.GROUPS
        )
        print(f"{scenario:12s} 4 / 10 years: {cells}")
    cfg = configure(["population.trend_years=4.25", *args])
    central = cohort.fit_trends(cfg.population, cfg.need)
    print("fitted central trends:", central)
    print("fitted high:", cohort.fit_shift(cfg.population, cfg.need, central, cohort.HIGH_TOTAL))
    print("fitted low:", cohort.fit_shift(cfg.population, cfg.need, central, cohort.LOW_TOTAL))
    return 0 if all(math.isfinite(v) for v in central.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Print the cohort engine's projections of the scenarios, and refit the ageing trends.

``python -m simmodel.experiments.trends [key=value ...]`` prints the expected growth of the
total, 50+, 60+ and 70+ groups over 4 and 10 years for the baseline and the three ageing
scenarios, then refits the four mechanisms of the central scenario and the shift of the
high and low variants (simmodel/model/cohort.py). The scenario files hold the values it
prints; a refit after a change to the population defaults is copied into them by hand.

``python -m simmodel.experiments.trends --des N [key=value ...]`` instead simulates each
scenario nationally (N replications of 10 reported years after the warm-up, on all cores)
and prints the growth of each group from the first reported month to month 48 and month 120,
with the published path beside it.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..api import configure
from ..model import cohort

SCENARIOS = ("baseline", "ageing", "ageing_high", "ageing_low")
#: The published 4-year path of each scenario, in words (docs/design/ageing.md section 5).
PUBLISHED = {
    "baseline": "held steady: every group within +/-5%",
    "ageing": "total +16.1% [S26]; 50+ +28.8% [S09]; 60+ +17 to +27% [S14][S03]; 70+ +31 to +36% [S14][S06]",
    "ageing_high": "total +20.9% [S26]; older groups not published",
    "ageing_low": "total +10.6% [S26]; older groups not published",
}


def _simulated_groups(task: tuple[str, int, tuple[str, ...]]) -> np.ndarray:
    """[month, group] people at month ends from the first reported month, one replication."""
    from ..model.metrics import Stock
    from ..model.simulation import run_replication

    scenario, replication, args = task
    cfg = configure([f"scenario={scenario}", "estate=national", "run.years=10", "run.progress=false", *args])
    m = run_replication(cfg, replication).metrics
    stocks = m.stocks[m.first_reported_month :].sum(axis=1)
    band0 = Stock.AGE_BAND_0
    return np.stack([stocks[:, band0 + b : band0 + 8].sum(axis=1) for _, b in cohort.GROUPS], axis=1)


def simulate_table(replications: int, args: list[str]) -> list[str]:
    """Markdown rows: each scenario's simulated growth (mean of the replications), months 1 to
    48 and 1 to 120, with the published path."""
    tasks = [(s, r, tuple(args)) for s in SCENARIOS for r in range(replications)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(_simulated_groups, tasks))
    rows = [
        "| run | months | total | 50+ | 60+ | 70+ | published (4 years) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, scenario in enumerate(SCENARIOS):
        mean = np.mean(results[i * replications : (i + 1) * replications], axis=0)
        for last in (48, 120):
            growth = mean[last - 1] / mean[0] - 1
            cells = " | ".join(f"{100 * g:+.1f}%" for g in growth)
            rows.append(
                f"| {scenario} | 1 -> {last} | {cells} | {PUBLISHED[scenario] if last == 48 else ''} |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the projections, then the refitted trends; exit 1 if the fit fails."""
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    if args[:1] == ["--des"]:
        print("\n".join(simulate_table(int(args[1]), args[2:])))
        return 0
    for scenario in SCENARIOS:
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

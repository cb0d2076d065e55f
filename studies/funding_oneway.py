"""One-way runs behind the README's funding table: each option's result at the ends of the
assumption that would most change it.

For every option, the option and ``status_quo`` run with that assumption at its low and at
its high end (all else at default), paired by replication (common random numbers), and the
paired differences in unmet care and cost are written to ``studies/funding_oneway.csv``.
Fewer replications and years than the main comparison, to keep it under an hour on 2 cores:

    python studies/funding_oneway.py                 # national, 5 years, 4 replications
    python studies/funding_oneway.py --years 2 --replications 2 --estate single_prison   # a quick look
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import simmodel

#: option -> (assumption, low end, high end, why this one): the ends are the ranges in configs/.
ONE_WAY: dict[str, tuple[str, float, float, str]] = {
    "more_buddy_posts": (
        "buddies.willing_share",
        0.01,
        0.15,
        "more posts help only if willing prisoners are there to fill them",
    ),
    "new_schemes": (
        "care.informal_crowd_out_share",
        0.0,
        0.5,
        "a new scheme adds buddy hours but may displace informal help",
    ),
    "train_and_supervise": (
        "buddies.training_interval_days",
        14.0,
        90.0,
        "new buddies wait for the next training course before they start",
    ),
    "care_coordinator": (
        "care.provider_capacity_hours_per_week_per_100_places",
        15.0,
        80.0,
        "more packages turn into care only where providers can deliver them",
    ),
    "la_capacity": (
        "care.provider_capacity_hours_per_week_per_100_places",
        15.0,
        80.0,
        "the extra provider capacity it buys matters only where capacity binds",
    ),
    "extended_unlock": (
        "buddies.care_share_of_unlock",
        0.25,
        0.8,
        "an extra hour unlocked is care only in the share of it buddies give to care",
    ),
    "staff_awareness": (
        "buddies.unaware_staff_buddy_access_factor",
        0.5,
        1.0,
        "what aware staff add is the access unaware staff take away from buddies",
    ),
}
METRICS = (
    "nonpersonal_unmet_hours_per_week",
    "personal_unmet_hours_per_week",
    "incremental_cost_per_year",
    "safeguarding_incidents_per_year",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", default="national")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".csv"))
    args = parser.parse_args()
    rows = []
    for option, (key, low, high, why) in ONE_WAY.items():
        for end, value in (("low", low), ("high", high)):
            overrides = {"estate": args.estate, "run.years": args.years, key: value}
            table = simmodel.compare([option], overrides=overrides, replications=args.replications)
            table = table[table["metric"].isin(METRICS)]
            for row in table.itertuples():
                rows.append(
                    {"option": option, "assumption": key, "end": end, "value": value, "why": why}
                    | {"metric": row.metric, "difference": row.difference}
                    | {"ci_low": row.ci_low, "ci_high": row.ci_high, "n_pairs": row.n_pairs}
                )
            print(f"{option}: {key}={value} done", flush=True)
    out = pd.DataFrame(rows)
    tmp = args.out.with_suffix(".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(args.out)
    wide = out.pivot_table(
        index=["option", "assumption", "end", "value"], columns="metric", values="difference"
    )
    print(wide.round(0).to_string())


if __name__ == "__main__":
    main()

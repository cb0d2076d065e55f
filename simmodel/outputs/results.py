"""Turn a run's accumulators into tables, write them atomically, and print a summary."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from omegaconf._utils import get_omega_conf_dumper  # the dumper of OmegaConf.to_yaml

from ..config import AGE_BANDS, PRISON_TYPES, SCHEME_TYPES, Config, as_checked, fingerprint
from ..model.metrics import DAYS_PER_MONTH, FLOW_NAMES, PAYERS, STOCK_NAMES, Flow, Stock
from ..paths import REPO, STARTUP_PATH
from .csv_text import csv_text

if TYPE_CHECKING:
    from ..model.simulation import RunResult  # results only read it: no runtime import of the model

_STOCK_COLUMNS = {
    "with_need": "people_with_need",
    "with_personal_need": "people_with_personal_need",
    "with_dementia": "people_with_dementia",
    "with_dementia_50_plus": "people_with_dementia_50_plus",
    "with_dementia_70_plus": "people_with_dementia_70_plus",
    "remand": "custody_remand",
    "short": "custody_short",
    "medium": "custody_medium",
    "long": "custody_long",
    "indeterminate": "custody_indeterminate",
    "recall": "custody_recall",
    "aged_75_plus": "population_75_plus",
}
#: The label columns of timeseries.csv; every other column is a number.
TIMESERIES_ID_COLUMNS = ("month", "year", "scope", "prison", "prison_type", "scheme")
#: Safeguarding incidents of every kind: overstepping into personal care and the incidents around
#: peer care (model/safeguarding.py).
SAFEGUARDING_FLOWS = (
    Flow.SAFEGUARDING_BULLYING,
    Flow.SAFEGUARDING_THEFT_ACCUSATION,
    Flow.SAFEGUARDING_EXPLOITATION,
    Flow.OVERSTEP_EVENTS,
)
_INTERNAL_FLOWS = {
    "death_age_sum",
    "assessment_wait_days",
    "care_start_delay_days",
    "buddy_days",
    "determinate_served_days",
}


# ------------------------------------------------------------------------ time series
#: Every column of timeseries.csv: (unit, meaning). Stocks are month-end headcounts;
#: flows are totals over the month. Estate rows sum the prison rows (means are recomputed).
#: docs/outputs.md is generated from this (python -m simmodel.outputs.dictionary).
_ID_COLUMNS: dict[str, tuple[str, str]] = {
    "month": ("month number", "month of the reported period, 1 = the first month after the warm-up"),
    "year": ("years", "years since reporting began, at the month's end (month / 12)"),
    "scope": ("", "`estate` for the whole estate (sum over prisons), `prison` for one prison"),
    "prison": ("", "prison name (`All prisons` on estate rows)"),
    "prison_type": ("", "local, cat_b, cat_c, open, high_security or women (`all` on estate rows)"),
    "scheme": ("", "buddy scheme: none, formal_untrained or formal_trained (`mixed` on estate rows)"),
}
_STOCK_MEANINGS: dict[str, str] = {
    "population": "people in prison",
    "people_with_need": "people with a social care need",
    "people_with_personal_need": "people whose need includes personal care",
    "people_with_dementia": "people with dementia",
    "detected": "people whose need is known to the prison",
    "waiting_assessment": "people referred and waiting for, or in, a Care Act assessment",
    "waiting_package": "people found eligible and waiting for their care package to start",
    "with_package": "people receiving a care package",
    "buddies_active": "buddies at work",
    "buddy_posts": "funded buddy posts",
    "people_with_dementia_50_plus": "people aged 50 and over with dementia",
    "people_with_dementia_70_plus": "people aged 70 and over with dementia",
    "custody_remand": "people on remand who will leave without a custodial sentence",
    "custody_short": "people serving a determinate sentence of up to 12 months",
    "custody_medium": "people serving a determinate sentence of 12 months to under 4 years",
    "custody_long": "people serving a determinate sentence of 4 years or more",
    "custody_indeterminate": "people serving a life or IPP sentence",
    "custody_recall": "people recalled to custody",
    "population_75_plus": "people aged 75 and over",
}
_FLOW_MEANINGS: dict[str, tuple[str, str]] = {
    "receptions": ("people", "people received into custody"),
    "releases": ("people", "people released"),
    "deaths": ("people", "natural-cause deaths"),
    "transfers_in": ("moves", "moves into the prison from another prison of the estate"),
    "transfers_out": ("moves", "moves out of the prison to another prison of the estate"),
    "left_estate": ("people", "people transferred out of the modelled estate (they leave the model)"),
    "need_onsets": ("people", "new social care needs arising in custody"),
    "arrivals_with_need": ("people", "receptions who arrive with a social care need"),
    "detections": ("people", "needs identified by the prison"),
    "referrals": ("people", "referrals to the local authority"),
    "assessments": ("assessments", "Care Act assessments completed"),
    "eligible": ("people", "people found eligible at assessment"),
    "care_starts": ("packages", "care packages started (first visit)"),
    "reviews": ("reviews", "reviews of care packages"),
    "buddy_starts": ("people", "buddies starting work"),
    "buddy_losses": ("people", "buddies lost, for any reason"),
    "buddy_losses_move": ("people", "buddies lost to release, transfer or death"),
    "buddy_losses_burnout": ("people", "buddies who stopped (burnout)"),
    "trained": ("people", "buddies who passed training (trained schemes only)"),
    "np_need_hours": ("hours", "non-personal care needed"),
    "np_met_buddy_hours": ("hours", "non-personal care given by buddies"),
    "np_met_informal_hours": ("hours", "non-personal care given by informal helpers"),
    "np_unmet_hours": ("hours", "non-personal care needed but not given"),
    "p_need_hours": ("hours", "personal care needed"),
    "p_met_professional_hours": ("hours", "personal care given by care workers (a care package)"),
    "p_met_healthcare_hours": ("hours", "personal care given by prison healthcare"),
    "p_unmet_hours": ("hours", "personal care needed but not given"),
    "p_commissioned_hours": ("hours", "personal care due in packages, commissioned by the local authority"),
    "p_undelivered_hours": (
        "hours",
        "commissioned personal care not delivered (provider capacity, officers' unlocks, shortfall)",
    ),
    "overstep_events": ("events", "buddies or informal helpers giving personal care (overstep)"),
    "safeguarding_bullying": (
        "events",
        "safeguarding incidents around peer care: bullying of the person helped",
    ),
    "safeguarding_theft_accusation": (
        "events",
        "safeguarding incidents around peer care: accusations of theft or dishonesty",
    ),
    "safeguarding_exploitation": (
        "events",
        "safeguarding incidents around peer care: exploitation of the role (contraband, pressure)",
    ),
    "unmet_person_days": ("person-days", "days on which a person had some unmet need, summed over people"),
    "recalls": ("people", "receptions that are recalls to custody (counted in receptions too)"),
    "releases_with_need": ("people", "people released with a social care need"),
    "releases_without_plan": (
        "people",
        "people released with a social care need and not referred to the receiving local authority in time",
    ),
    "deaths_with_need": ("people", "natural-cause deaths of people with a social care need"),
    "end_of_life_hours": ("hours", "end-of-life care before natural deaths with high need or dementia"),
    "releases_determinate": ("people", "releases from determinate sentences (counted in releases too)"),
    "parole_refusals": ("people", "due releases of lifers aged 60+ deferred to a later parole review"),
    "restricted_days": ("prison-days", "days under a restricted regime or lockdown, summed over prisons"),
    "cost_buddy_pay": ("GBP", "buddy pay (prison service)"),
    "cost_supervision": ("GBP", "supervision of buddies (prison service)"),
    "cost_coordination": ("GBP", "scheme coordination (prison service)"),
    "cost_training": ("GBP", "buddy training (prison service)"),
    "cost_vetting": ("GBP", "vetting of buddy candidates (prison service)"),
    "cost_setup": ("GBP", "setting up schemes (prison service)"),
    "cost_assessment": ("GBP", "Care Act assessments (local authorities)"),
    "cost_review": ("GBP", "package reviews (local authorities)"),
    "cost_personal_care": ("GBP", "personal care by care workers (local authorities)"),
    "cost_healthcare": ("GBP", "personal care by prison healthcare (NHS)"),
    "cost_funding_prison": ("GBP", "the funding option's own lines paid by the prison service"),
    "cost_funding_la": ("GBP", "the funding option's own lines paid by local authorities"),
}
_DERIVED_COLUMNS: dict[str, tuple[str, str]] = {
    "assessment_wait_days_mean": (
        "days",
        "mean wait from referral to the start of assessment, over the month's assessments (blank if none)",
    ),
    "care_start_delay_days_mean": (
        "days",
        "mean wait from eligibility to the first visit, over the month's care starts (blank if none)",
    ),
    "safeguarding_incidents": (
        "events in the month",
        "safeguarding incidents of all kinds: bullying, accusations of theft, exploitation, overstep events",
    ),
    "cost_prison": ("GBP in the month", "cost to the prison service (sum of its lines)"),
    "cost_local_authority": ("GBP in the month", "cost to local authorities (sum of their lines)"),
    "cost_nhs": ("GBP in the month", "cost to the NHS"),
    "cost_total": ("GBP in the month", "cost to all payers"),
}


def timeseries_columns() -> dict[str, tuple[str, str]]:
    """Every column of a replication's timeseries.csv, in order: ``name: (unit, meaning)``.

    A run's file adds ``<column>_ci_low`` and ``<column>_ci_high`` after these for every
    numeric column (filled on estate rows only).
    """
    columns = dict(_ID_COLUMNS)
    for name in STOCK_NAMES:
        column = _STOCK_COLUMNS.get(name, name)
        if column in _STOCK_MEANINGS:
            unit = "posts" if column == "buddy_posts" else "people"
            columns[column] = (unit, _STOCK_MEANINGS[column] + " (month end)")
        else:  # an age band
            band = AGE_BANDS[STOCK_NAMES.index(name) - Stock.AGE_BAND_0]
            columns[column] = ("people", f"people aged {band.replace('+', ' and over')} (month end)")
    for name in FLOW_NAMES:
        if name not in _INTERNAL_FLOWS:
            unit, meaning = _FLOW_MEANINGS[name]
            columns[name] = (f"{unit} in the month", meaning)
    columns.update(_DERIVED_COLUMNS)
    return columns


def timeseries(result: RunResult) -> pd.DataFrame:
    """Monthly rows for the whole estate and for each prison (reported months only)."""
    m, estate = result.metrics, result.estate
    first = m.first_reported_month
    flows = m.flows[first:]
    stocks = m.stocks[first:]
    months, prisons = flows.shape[:2]
    # scope 0 = estate (sum over prisons), then one scope per prison
    flows_all = np.concatenate([flows.sum(axis=1, keepdims=True), flows], axis=1)
    stocks_all = np.concatenate([stocks.sum(axis=1, keepdims=True), stocks], axis=1)
    n_scopes = prisons + 1
    frame: dict[str, object] = {
        "month": np.repeat(np.arange(1, months + 1), n_scopes),
        "year": np.repeat((np.arange(months) + 1) / 12.0, n_scopes).round(4),
        "scope": np.tile(["estate"] + ["prison"] * prisons, months),
        "prison": np.tile(["All prisons", *estate.names], months),
        "prison_type": np.tile(["all"] + [PRISON_TYPES[t] for t in estate.type], months),
        "scheme": np.tile(["mixed"] + [SCHEME_TYPES[s] for s in estate.scheme], months),
    }
    flat_stocks = stocks_all.reshape(months * n_scopes, -1)
    flat_flows = flows_all.reshape(months * n_scopes, -1)
    for i, name in enumerate(STOCK_NAMES):
        frame[_STOCK_COLUMNS.get(name, name)] = flat_stocks[:, i].astype(np.int64)
    for i, name in enumerate(FLOW_NAMES):
        if name not in _INTERNAL_FLOWS:
            frame[name] = flat_flows[:, i].round(3)

    def mean_of(total: int, count: int) -> np.ndarray:
        num, den = flat_flows[:, total], flat_flows[:, count]
        return np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0).round(2)

    frame["assessment_wait_days_mean"] = mean_of(Flow.ASSESSMENT_WAIT_DAYS, Flow.ASSESSMENTS)
    frame["care_start_delay_days_mean"] = mean_of(Flow.CARE_START_DELAY_DAYS, Flow.CARE_STARTS)
    frame["safeguarding_incidents"] = flat_flows[:, list(SAFEGUARDING_FLOWS)].sum(axis=1).round(3)
    for payer, lines in PAYERS.items():
        frame[f"cost_{payer}"] = flat_flows[:, list(lines)].sum(axis=1).round(2)
    frame["cost_total"] = sum(flat_flows[:, list(lines)].sum(axis=1) for lines in PAYERS.values()).round(2)
    return pd.DataFrame(frame)


# --------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Metric:
    """One summary metric: its unit, a plain label, and how to compute it.

    ``undefined`` says why the metric can have no value (a mean over no events, e.g.
    "no deaths"); ``compute`` returns NaN exactly then, and the summary leaves the value
    blank with a note. Metrics with an empty ``undefined`` always have a finite value.
    """

    name: str
    unit: str
    label: str
    compute: Callable[[Totals], float]
    undefined: str = ""


class Totals:
    """Totals over the reported period, with helpers for rates: the whole estate's, or those of
    some of its prisons (``prisons``: their indices in the estate; at least one)."""

    def __init__(self, result: RunResult, prisons: Sequence[int] | np.ndarray | None = None) -> None:
        m = result.metrics
        first = m.first_reported_month
        chosen: slice | np.ndarray = slice(None) if prisons is None else np.asarray(prisons, dtype=np.int64)
        self.flows = m.flows[first:, chosen].sum(axis=(0, 1))
        stocks = m.stocks[first:, chosen].sum(axis=1)  # months x stocks
        self.stock_mean = stocks.mean(axis=0)
        self.months = stocks.shape[0]
        self.years = self.months / 12.0
        self.weeks = self.months * DAYS_PER_MONTH / 7.0
        self.prisons_with_scheme = float((result.estate.scheme[chosen] > 0).mean())
        self.start_population = m.start_population
        self.end_population = result.end_population

    def per_year(self, flow: int) -> float:
        return float(self.flows[flow] / self.years)

    def per_week(self, flow: int) -> float:
        return float(self.flows[flow] / self.weeks)

    def ratio(self, num: float, den: float) -> float:
        """``num / den``; NaN when ``den`` is 0 (a mean over no events: see Metric.undefined)."""
        return float(num / den) if den > 0 else float("nan")

    def share(self, num: float, den: float) -> float:
        """``num / den`` for a part of a whole: 0 when the whole is empty (nobody in the
        group, so nobody in it has the attribute either)."""
        return float(num / den) if den > 0 else 0.0

    def turnover(self) -> float:
        """Buddies lost a year per active buddy: 0 with no buddies and no losses."""
        losses, active = self.per_year(Flow.BUDDY_LOSSES), self.stock(Stock.BUDDIES_ACTIVE)
        return 0.0 if losses == 0 and active == 0 else self.ratio(losses, active)

    def stock(self, index: int) -> float:
        return float(self.stock_mean[index])

    def band_count(self, first_band: int) -> float:
        """Mean people in age band ``first_band`` and every older band."""
        return float(self.stock_mean[Stock.AGE_BAND_0 + first_band : Stock.AGE_BAND_0 + len(AGE_BANDS)].sum())

    def band_share(self, first_band: int) -> float:
        return self.share(self.band_count(first_band), self.stock(Stock.POPULATION))

    def cost_per_year(self, payer: str | None) -> float:
        payers = PAYERS.values() if payer is None else [PAYERS[payer]]
        return float(sum(self.flows[list(lines)].sum() for lines in payers) / self.years)


F, S = Flow, Stock
METRICS: tuple[Metric, ...] = (
    Metric("population", "people", "People in prison", lambda t: t.stock(S.POPULATION)),
    Metric("population_50_plus_share", "share", "  aged 50 and over", lambda t: t.band_share(5)),
    Metric("population_60_plus_share", "share", "  aged 60 and over", lambda t: t.band_share(6)),
    Metric("population_70_plus_share", "share", "  aged 70 and over", lambda t: t.band_share(7)),
    Metric("people_with_need", "people", "People with social care need", lambda t: t.stock(S.WITH_NEED)),
    Metric(
        "need_prevalence",
        "share",
        "  share of the population",
        lambda t: t.share(t.stock(S.WITH_NEED), t.stock(S.POPULATION)),
    ),
    Metric(
        "people_with_personal_need",
        "people",
        "  with personal care need",
        lambda t: t.stock(S.WITH_PERSONAL_NEED),
    ),
    Metric("people_with_dementia", "people", "  with dementia", lambda t: t.stock(S.WITH_DEMENTIA)),
    Metric(
        "dementia_prevalence_50_plus",
        "share",
        "    share of people aged 50+",
        lambda t: t.share(t.stock(S.WITH_DEMENTIA_50_PLUS), t.band_count(5)),
    ),
    Metric(
        "dementia_prevalence_70_plus",
        "share",
        "    share of people aged 70+",
        lambda t: t.share(t.stock(S.WITH_DEMENTIA_70_PLUS), t.band_count(7)),
    ),
    Metric("people_detected", "people", "  known to the prison", lambda t: t.stock(S.DETECTED)),
    Metric(
        "people_waiting_assessment",
        "people",
        "  waiting for or in assessment",
        lambda t: t.stock(S.WAITING_ASSESSMENT),
    ),
    Metric("people_with_package", "people", "  with a care package", lambda t: t.stock(S.WITH_PACKAGE)),
    Metric("receptions_per_year", "people/year", "Receptions", lambda t: t.per_year(F.RECEPTIONS)),
    Metric(
        "recalls_per_year", "people/year", "  of which recalls to custody", lambda t: t.per_year(F.RECALLS)
    ),
    Metric("releases_per_year", "people/year", "Releases", lambda t: t.per_year(F.RELEASES)),
    Metric(
        "determinate_releases_per_year",
        "people/year",
        "  from determinate sentences",
        lambda t: t.per_year(F.RELEASES_DETERMINATE),
    ),
    Metric(
        "determinate_time_served_months_mean",
        "months",
        "    mean time served",  # a mean over releases: months from reception to release
        lambda t: t.ratio(
            t.flows[F.DETERMINATE_SERVED_DAYS] / DAYS_PER_MONTH, t.flows[F.RELEASES_DETERMINATE]
        ),
        undefined="no releases from determinate sentences",
    ),
    Metric(
        "releases_with_care_need_per_year",
        "people/year",
        "  released with a care need",
        lambda t: t.per_year(F.RELEASES_WITH_NEED),
    ),
    Metric(
        "releases_without_care_plan_per_year",
        "people/year",
        "    with no referral to their local authority",
        lambda t: t.per_year(F.RELEASES_WITHOUT_PLAN),
    ),
    Metric("natural_deaths_per_year", "people/year", "Natural-cause deaths", lambda t: t.per_year(F.DEATHS)),
    Metric(
        "deaths_with_care_need_per_year",
        "people/year",
        "  of people with a care need",
        lambda t: t.per_year(F.DEATHS_WITH_NEED),
    ),
    Metric(
        "end_of_life_care_hours_per_week",
        "hours/week",
        "  end-of-life care before those deaths",
        lambda t: t.per_week(F.END_OF_LIFE_HOURS),
    ),
    Metric(
        "mean_age_at_death",
        "years",
        "  mean age at death",
        lambda t: t.ratio(t.flows[F.DEATH_AGE_SUM], t.flows[F.DEATHS]),
        undefined="no deaths",
    ),
    Metric(
        "transfers_per_year",
        "moves/year",
        "Transfers between prisons (in this estate)",
        lambda t: t.per_year(F.TRANSFERS_OUT),
    ),
    Metric(
        "transfers_out_of_estate_per_year",
        "people/year",
        "Transfers out of the estate",
        lambda t: t.per_year(F.LEFT_ESTATE),
    ),
    Metric(
        "need_onsets_per_year",
        "people/year",
        "New needs arising in prison",
        lambda t: t.per_year(F.NEED_ONSETS),
    ),
    Metric("detections_per_year", "people/year", "Needs identified", lambda t: t.per_year(F.DETECTIONS)),
    Metric(
        "referrals_per_year",
        "people/year",
        "Referrals to the local authority",
        lambda t: t.per_year(F.REFERRALS),
    ),
    Metric(
        "assessments_per_year",
        "assessments/year",
        "Care Act assessments",
        lambda t: t.per_year(F.ASSESSMENTS),
    ),
    Metric("eligible_per_year", "people/year", "  found eligible", lambda t: t.per_year(F.ELIGIBLE)),
    Metric(
        "assessment_wait_days_mean",
        "days",
        "  mean wait for assessment",
        lambda t: t.ratio(t.flows[F.ASSESSMENT_WAIT_DAYS], t.flows[F.ASSESSMENTS]),
        undefined="no assessments",
    ),
    Metric(
        "care_start_delay_days_mean",
        "days",
        "  mean wait from eligibility to care",
        lambda t: t.ratio(t.flows[F.CARE_START_DELAY_DAYS], t.flows[F.CARE_STARTS]),
        undefined="no care packages started",
    ),
    Metric("buddy_posts", "posts", "Buddy posts", lambda t: t.stock(S.BUDDY_POSTS)),
    Metric("buddies_active", "people", "  buddies active", lambda t: t.stock(S.BUDDIES_ACTIVE)),
    Metric(
        "buddy_turnover_per_year",
        "share/year",
        "  buddy turnover",
        lambda t: t.turnover(),
        undefined="buddies left but none were active at a month end",
    ),
    Metric("prisons_with_scheme_share", "share", "  prisons with a scheme", lambda t: t.prisons_with_scheme),
    Metric(
        "nonpersonal_need_hours_per_week",
        "hours/week",
        "Non-personal care needed",
        lambda t: t.per_week(F.NP_NEED_HOURS),
    ),
    Metric(
        "nonpersonal_met_by_buddies_hours_per_week",
        "hours/week",
        "  given by buddies",
        lambda t: t.per_week(F.NP_MET_BUDDY_HOURS),
    ),
    Metric(
        "nonpersonal_met_informally_hours_per_week",
        "hours/week",
        "  given by informal helpers",
        lambda t: t.per_week(F.NP_MET_INFORMAL_HOURS),
    ),
    Metric(
        "nonpersonal_unmet_hours_per_week", "hours/week", "  unmet", lambda t: t.per_week(F.NP_UNMET_HOURS)
    ),
    Metric(
        "personal_need_hours_per_week",
        "hours/week",
        "Personal care needed",
        lambda t: t.per_week(F.P_NEED_HOURS),
    ),
    Metric(
        "personal_commissioned_hours_per_week",
        "hours/week",
        "  commissioned in care packages",
        lambda t: t.per_week(F.P_COMMISSIONED_HOURS),
    ),
    Metric(
        "personal_undelivered_hours_per_week",
        "hours/week",
        "    not delivered by the provider",
        lambda t: t.per_week(F.P_UNDELIVERED_HOURS),
    ),
    Metric(
        "personal_met_by_professionals_hours_per_week",
        "hours/week",
        "  given by care workers (package)",
        lambda t: t.per_week(F.P_MET_PROFESSIONAL_HOURS),
    ),
    Metric(
        "personal_met_by_healthcare_hours_per_week",
        "hours/week",
        "  given by prison healthcare",
        lambda t: t.per_week(F.P_MET_HEALTHCARE_HOURS),
    ),
    Metric("personal_unmet_hours_per_week", "hours/week", "  unmet", lambda t: t.per_week(F.P_UNMET_HOURS)),
    Metric(
        "unmet_hours_per_week",
        "hours/week",
        "Unmet care, both kinds",
        lambda t: t.per_week(F.NP_UNMET_HOURS) + t.per_week(F.P_UNMET_HOURS),
    ),
    Metric(
        "unmet_person_days_per_year",
        "person-days/year",
        "Person-days with some unmet need",
        lambda t: t.per_year(F.UNMET_PERSON_DAYS),
    ),
    Metric(
        "safeguarding_incidents_per_year",
        "events/year",
        "Safeguarding incidents",
        lambda t: sum(t.per_year(flow) for flow in SAFEGUARDING_FLOWS),
    ),
    Metric(
        "safeguarding_bullying_per_year",
        "events/year",
        "  bullying",
        lambda t: t.per_year(F.SAFEGUARDING_BULLYING),
    ),
    Metric(
        "safeguarding_theft_accusations_per_year",
        "events/year",
        "  accusations of theft",
        lambda t: t.per_year(F.SAFEGUARDING_THEFT_ACCUSATION),
    ),
    Metric(
        "safeguarding_exploitation_per_year",
        "events/year",
        "  exploitation (contraband, pressure)",
        lambda t: t.per_year(F.SAFEGUARDING_EXPLOITATION),
    ),
    Metric(
        "overstep_events_per_year",
        "events/year",
        "  peers doing personal care (overstep)",
        lambda t: t.per_year(F.OVERSTEP_EVENTS),
    ),
    Metric(
        "safeguarding_incidents_per_1000_peer_care_hours",
        "events/1000 hours",
        "  per 1,000 hours of peer care (overstep aside)",
        lambda t: t.ratio(
            1000.0 * t.flows[list(SAFEGUARDING_FLOWS[:3])].sum(),
            t.flows[F.NP_MET_BUDDY_HOURS] + t.flows[F.NP_MET_INFORMAL_HOURS],
        ),
        undefined="no care given by buddies or informal helpers",
    ),
    Metric(
        "cost_prison_per_year", "GBP/year", "Cost to the prison service", lambda t: t.cost_per_year("prison")
    ),
    Metric(
        "cost_local_authority_per_year",
        "GBP/year",
        "Cost to local authorities",
        lambda t: t.cost_per_year("local_authority"),
    ),
    Metric("cost_nhs_per_year", "GBP/year", "Cost to the NHS", lambda t: t.cost_per_year("nhs")),
    Metric("cost_total_per_year", "GBP/year", "Total cost", lambda t: t.cost_per_year(None)),
    Metric(
        "cost_funding_option_per_year",
        "GBP/year",
        "  of which the funding option's own lines",
        lambda t: t.per_year(F.COST_FUNDING_PRISON) + t.per_year(F.COST_FUNDING_LA),
    ),
)


def undefined_note(metric: Metric, undefined: int, of: int) -> str:
    """The note for a metric without a value in ``undefined`` of ``of`` replications ('' if none)."""
    if undefined == 0:
        return ""
    if of == 1:
        return f"undefined: {metric.undefined}"
    return f"undefined in {undefined} of {of} replications: {metric.undefined}"


def compute_values(result: RunResult, prisons: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """One value per metric, for the estate or some of its prisons (their indices); NaN only
    where the metric is undefined (see Metric.undefined)."""
    totals = Totals(result, prisons)
    values = np.array([m.compute(totals) for m in METRICS], dtype=float)
    for metric, value in zip(METRICS, values, strict=True):
        if not np.isfinite(value) and not (np.isnan(value) and metric.undefined):
            raise ArithmeticError(f"summary metric {metric.name} is {value} (it should always have a value)")
    return values


def summary(result: RunResult) -> pd.DataFrame:
    """One row per metric: ``metric, unit, mean, note`` (one replication: its value).

    An undefined metric (e.g. mean age at death with no deaths) has a blank value and a
    note saying why.
    """
    values = compute_values(result)
    notes = [undefined_note(m, int(np.isnan(v)), 1) for m, v in zip(METRICS, values, strict=True)]
    return pd.DataFrame(
        {
            "metric": [m.name for m in METRICS],
            "unit": [m.unit for m in METRICS],
            "mean": values,
            "note": notes,
        }
    )


#: Units that are month-end headcounts averaged over months: whole people, so a mean of
#: 10 or more prints without decimals ("9,874 people") and zero prints as "0".
HEADCOUNT_UNITS = ("people", "posts")
#: A plainer noun than the unit for some metrics on the console ("0 buddies", not "0.0 people").
_CONSOLE_NOUNS = {
    "buddies_active": "buddies",
    "safeguarding_incidents_per_1000_peer_care_hours": "per 1,000 hours",
}


def money(value: float, like: float | None = None, *, signed: bool = False) -> str:
    """Pounds in millions, thousands or pounds, with enough digits to tell values apart.

    ``like`` picks the scale, so an interval reads in the same unit as its mean:
    £118.3k (£117.9k to £118.8k), £21.45m, £950. ``signed`` writes "+" before a gain
    (for changes); a value that is not finite reads "n/a".
    """
    if not np.isfinite(value):
        return "n/a"
    scale = abs(value if like is None else like)
    sign = "-" if value < 0 else "+" if signed else ""
    size = abs(value)
    if scale >= 1e6:
        return f"{sign}£{size / 1e6:,.2f}m"
    if scale >= 1e4:
        return f"{sign}£{size / 1e3:,.1f}k"
    return f"{sign}£{size:,.0f}"


def _number(value: float, unit: str, scale: float) -> str:
    """A count or amount with sensible decimals: none for 0, for whole numbers of people and
    for headcount means of 10 or more."""
    if value == 0:
        return "0"
    if unit in HEADCOUNT_UNITS:
        return f"{value:,.0f}" if scale >= 10 or float(value).is_integer() else f"{value:,.1f}"
    return f"{value:,.1f}" if scale < 100 else f"{value:,.0f}"


def _format(value: float, unit: str, like: float | None = None, noun: str | None = None) -> str:
    """``value`` in plain words; ``like`` picks the scale (so an interval matches its mean)."""
    if np.isnan(value):
        return "n/a"
    scale = abs(value if like is None else like)
    if unit.startswith("share"):
        return f"{100 * value:.1f}%" + (" a year" if unit.endswith("/year") else "")
    if unit.startswith("GBP"):
        return f"{money(value, like)} a year"
    words = noun or unit.replace("/year", " a year").replace("/week", " a week")
    return f"{_number(value, unit, scale)} {words}"


def _format_mean(row: Any) -> str:
    """The mean in words, or 'n/a (no deaths)' for a metric without a value."""
    if np.isnan(row.mean):
        meaning = {m.name: m.undefined for m in METRICS}.get(row.metric) or "no value"
        return f"n/a ({meaning})"
    return _format(row.mean, row.unit, noun=_CONSOLE_NOUNS.get(row.metric))


def console_table(table: pd.DataFrame) -> str:
    """The summary as a short, readable table, with the 95% CI when there is one.

    A metric without a value reads 'n/a (why)'; one undefined in some replications only
    ends with its note.
    """
    labels = {m.name: m.label for m in METRICS}
    width = max(len(label) for label in labels.values()) + 2
    has_ci = "ci_low" in table.columns and bool(table["ci_low"].notna().any())
    values = [_format_mean(row) for row in table.itertuples(index=False)]
    value_width = max(len(v) for v in values) + 2
    lines = []
    if has_ci:
        lines.append(f"  {'':<{width}}{'mean':<{value_width}}95% confidence interval")
    for row, value in zip(table.itertuples(index=False), values, strict=True):
        line = f"  {labels.get(row.metric, row.metric):<{width}}{value:<{value_width}}"
        if has_ci and not np.isnan(row.ci_low):
            low, high = (_format(v, row.unit, row.mean).split(" ")[0] for v in (row.ci_low, row.ci_high))
            line += f"{low} to {high}"
        note = getattr(row, "note", "")
        if isinstance(note, str) and note and not np.isnan(row.mean):
            line += f"  ({note})"
        lines.append(line.rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- writing
def default_permissions(path: str | Path) -> None:
    """Give a temporary file the permissions a new file would get (mkstemp makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write a file (text, or bytes such as a PNG) so that it is either complete or absent
    (temp file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        default_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: The run's record (status, seed, versions, commit, timings), written first with status
#: "running" and rewritten last with "complete", "interrupted" or "failed".
RUN_RECORD = "run.json"


def write_files(out_dir: Path, files: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Write each ``name: text`` (or bytes) to ``out_dir`` atomically, ``run.json`` last.

    Callers build every text in memory first, so a failure while building leaves
    nothing half-written; a folder whose ``run.json`` says "complete" holds every file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    order = sorted(files, key=lambda name: name == RUN_RECORD)
    paths = {}
    for name in order:
        paths[name] = out_dir / name
        write_atomic(paths[name], files[name])
    return paths


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """The folder's ``run.json``, or an empty dict if there is none or it is unreadable."""
    try:
        record = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def is_complete(run_dir: Path) -> bool:
    """True if ``run_dir`` holds a finished run (its record says so and its files are there)."""
    return read_run_record(run_dir).get("status") == "complete" and (run_dir / "summary.csv").is_file()


def git_commit(repo: Path) -> str | None:
    """The checkout's commit, read from ``.git`` itself (no git command, so no hooks or config run)."""
    git_dir = repo / ".git"
    try:
        if git_dir.is_file():  # a worktree: ".git" names the real folder
            git_dir = (repo / git_dir.read_text(encoding="utf-8").partition("gitdir:")[2].strip()).resolve()
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40,64}", head) else None
        ref = head.partition(":")[2].strip()
        common = git_dir
        if (git_dir / "commondir").is_file():
            common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
        for folder in (git_dir, common):
            if (folder / ref).is_file():
                return (folder / ref).read_text(encoding="utf-8").strip()
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    except (OSError, UnicodeDecodeError):
        pass
    return None


def _git_has_changes(repo: Path) -> bool | None:
    """Uncommitted changes to tracked files, from ``git status`` run with a clean environment.

    No ``GIT_*`` variable, no global or system config, no fsmonitor and no hooks, and git is
    looked up on the search path the process started with, so nothing a run's configuration
    or environment could set makes git run a command.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
    env["PATH"] = STARTUP_PATH  # the search path the process started with, whatever a job set since
    safe = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false")
    try:
        changes = subprocess.run(
            ["git", *safe, "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env=env,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # git missing or not a checkout: the record says null
    return bool(changes.strip())


@functools.cache
def _provenance() -> dict[str, Any]:
    """Versions of Python and the packages that shape results, and the git commit."""
    versions = {"python": platform.python_version()}
    for package in ("simmodel", "simpy", "numpy", "scipy", "pandas", "hydra-core", "omegaconf"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = git_commit(REPO)
    dirty = _git_has_changes(REPO) if commit else None
    return {"versions": versions, "git_commit": commit, "git_uncommitted_changes": dirty}


def run_record(status: str, details: dict[str, Any]) -> str:
    """``run.json``: the status, the given details, versions and the git commit, as JSON."""
    record = {"status": status, **details, **_provenance()}
    return json.dumps(record, indent=2, default=str) + "\n"


def write_results(result: RunResult, cfg_yaml: str, out_dir: Path) -> dict[str, Path]:
    """Write one replication's ``config.yaml``, ``timeseries.csv`` and ``summary.csv``."""
    return write_files(
        out_dir,
        {
            "config.yaml": cfg_yaml,
            "timeseries.csv": csv_text(timeseries(result)),
            "summary.csv": summary(result).to_csv(index=False),
        },
    )


def config_data(cfg: Config) -> dict[str, Any]:
    """The configuration as plain data, as ``OmegaConf.to_container(OmegaConf.structured(cfg),
    resolve=True)`` gives it. A configuration as it passed the checks holds every value in its
    field's type and, unless a text holds ``${``, nothing OmegaConf would resolve, so its fields
    are the data (about 1 ms); any other goes through OmegaConf (about 0.1 s)."""
    now = fingerprint(cfg)
    if as_checked(cfg, now) and "${" not in now:
        return dataclasses.asdict(cfg)
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    assert isinstance(data, dict)
    return data  # type: ignore[return-value]


def config_text(data: dict[str, Any]) -> str:
    """``data`` (:func:`config_data`) as YAML, byte for byte what ``OmegaConf.to_yaml`` writes."""
    return yaml.dump(
        data, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=get_omega_conf_dumper()
    )


def resolved_yaml(cfg: Config) -> str:
    """The resolved configuration as YAML (``config.yaml``)."""
    return config_text(config_data(cfg))

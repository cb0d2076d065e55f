"""Funding options: how an option changes the model's parameters and what it costs.

An option (``configs/funding/NAME.yaml``) holds factors (1 = no change) and additions
(0 = no change) for a few parameters, and its own cost lines. :func:`apply_funding`
returns the parameters the model runs with; the costs that the effects cause (buddy
pay, supervision, training, assessments, care hours) are counted by the model itself,
and :func:`yearly_cost_per_prison` gives the option's own lines on top.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from ..config import Config, FundingConfig
from .estate import FORMAL_TRAINED, FORMAL_UNTRAINED, NO_SCHEME, Estate, share_count
from .metrics import DAYS_PER_YEAR

WEEKS_PER_YEAR = DAYS_PER_YEAR / 7.0


def apply_funding(cfg: Config) -> Config:
    """A copy of ``cfg`` with the funding option's effects applied to the parameters."""
    f = cfg.funding
    out = copy.deepcopy(cfg)
    b, p, c, r = out.buddies, out.pathway, out.care, out.regime
    b.posts_per_1000_prisoners *= f.buddy_posts_factor
    b.application_days_mean *= f.recruitment_delay_factor
    b.interview_days_mean *= f.recruitment_delay_factor
    p.screening_sensitivity = min(1.0, p.screening_sensitivity + f.screening_sensitivity_add)
    p.detection_delay_days_mean *= f.detection_delay_factor
    p.referral_share = min(1.0, p.referral_share + f.referral_share_add)
    p.referral_delay_days_mean *= f.referral_delay_factor
    p.assessors_per_prison += f.extra_assessors_per_prison
    c.provider_capacity_hours_per_week_per_100_places *= f.provider_capacity_factor
    r.window_hours += f.extra_window_hours
    return out


def fund_estate(estate: Estate, funding: FundingConfig, rng: np.random.Generator) -> Estate:
    """The estate after the option: new schemes, training and supervision everywhere if
    funded, and wing staff made aware of social care in more prisons.

    ``round(extra_scheme_share x prisons)`` prisons without a scheme, drawn from the
    shared ``funding`` stream, start an untrained, unsupervised formal scheme. The draw is
    the same for every share, so a larger share adds prisons to a smaller one's set.
    Training and supervision are separate levers. ``aware_staff_share_add x prisons``
    (rounded half up, at most all) more prisons' staff become aware, the next ones in the
    estate's fixed ``aware_order``, so they too grow as nested sets.
    """
    scheme = estate.scheme.copy()
    without = np.flatnonzero(scheme == NO_SCHEME)
    order = without[rng.permutation(len(without))]
    new = min(round(funding.extra_scheme_share * estate.size), len(without))
    scheme[order[:new]] = FORMAL_UNTRAINED
    if funding.train_all_schemes:
        scheme[scheme != NO_SCHEME] = FORMAL_TRAINED
    supervised = estate.supervised & (scheme != NO_SCHEME)
    if funding.supervise_all_schemes:
        supervised = scheme != NO_SCHEME
    aware = estate.aware_staff.copy()
    unaware = estate.aware_order[~aware[estate.aware_order]]
    made_aware = unaware[: share_count(funding.aware_staff_share_add, estate.size)]
    aware[made_aware] = True
    funded = estate.aware_funded.copy()
    funded[made_aware] = True
    return replace(estate, scheme=scheme, supervised=supervised, aware_staff=aware, aware_funded=funded)


def yearly_cost_per_prison(cfg: Config, estate: Estate) -> tuple[np.ndarray, np.ndarray]:
    """The option's own cost lines per prison, £ a year: (prison service, local authority)."""
    f = cfg.funding
    prison_service = (
        f.coordinator_fte_per_prison * f.coordinator_cost_per_fte_year
        + f.extra_officer_hours_per_prison_per_week * WEEKS_PER_YEAR * cfg.costs.officer_hourly_cost
        + f.programme_cost_per_scheme_per_year * (estate.scheme != NO_SCHEME)
        + f.staff_awareness_cost_per_prison_per_year * estate.aware_funded
    )
    local_authority = f.assessor_retainer_per_year * f.extra_assessors_per_prison
    return (
        np.broadcast_to(np.asarray(prison_service, dtype=float), (estate.size,)).copy(),
        np.full(estate.size, float(local_authority)),
    )

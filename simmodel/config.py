"""Typed configuration schema, registered with Hydra, plus range checks.

The YAML files under ``configs/`` hold every default value and name its source; the
dataclasses here hold only types and allowed ranges, so a number lives in one place.
Hydra merges the YAML onto these schemas in struct mode, which rejects unknown keys
and wrong types; :func:`check_ranges` then rejects out-of-range values before any
simulation starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

PRISON_TYPES = ("local", "cat_b", "cat_c", "open", "high_security", "women")
SCHEME_TYPES = ("none", "formal_untrained", "formal_trained")
AGE_BANDS = ("18-20", "21-24", "25-29", "30-39", "40-49", "50-59", "60-69", "70+")
NEED_LEVELS = ("low", "moderate", "high")
PRIORITY_RULES = ("recorded_first", "proportional")


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the key."""


def _num(lo: float, hi: float, *, lo_open: bool = False, default: Any = MISSING) -> Any:
    """A numeric field with an allowed range ``[lo, hi]`` (``(lo, hi]`` if lo_open).

    Every range is finite: a value a real prison (or a real run) could have, with room
    to spare for sensitivity analysis. The comment next to each field says why.
    """
    return field(default=default, metadata={"lo": lo, "hi": hi, "lo_open": lo_open})


def _share() -> Any:
    """A required share or probability in [0, 1]."""
    return _num(0.0, 1.0)


def _choice(options: tuple[str, ...]) -> Any:
    return field(default=MISSING, metadata={"choices": options})


#: Hours in a week: no person needs, and nobody gives, more care than this in a week.
HOURS_PER_WEEK = 168.0
#: Receptions a year at most this many times the estate's places. Real turnover is far
#: lower: 64,000 receptions a year for 86,000 people nationally (0.75), and a busy local
#: prison with stays of a few weeks turns its places over about 5-10 times a year; 20x
#: leaves room for remand-only or very short-stay planning cases. Beyond it the stock
#: balloons (people outnumber places many times over) and a run takes minutes a year.
MAX_RECEPTIONS_PER_PLACE = 20.0
#: Day-0 population at most this many times the places: the most crowded prisons in
#: England and Wales hold about 1.5-1.7 people per certified place.
MAX_INITIAL_PER_PLACE = 2.0
#: Generated prisons are at least this big (see estate.build_estate).
_MIN_GENERATED_CAPACITY = 50.0


@dataclass
class BandValues:
    """One share per age band (years of age)."""

    b18_20: float = _share()
    b21_24: float = _share()
    b25_29: float = _share()
    b30_39: float = _share()
    b40_49: float = _share()
    b50_59: float = _share()
    b60_69: float = _share()
    b70_plus: float = _share()

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass
class StayDistribution:
    """A log-normal time in custody (or sentence length), truncated to ``[min_days, max_days]``.

    With ``determinate`` true the distribution is the sentence length and time in custody is
    the share served (``population.share_served``) times the sentence.
    """

    median_days: float = _num(0, 36_500, lo_open=True)  # days: up to a century (whole-life terms)
    sigma: float = _num(0, 4)  # log-normal spread: YAML 0.35-1.0; 4 is a 3,000-fold ratio of quartiles
    min_days: float = _num(0, 36_500)  # days
    max_days: float = _num(0, 36_500, lo_open=True)  # days
    determinate: bool = False


@dataclass
class CustodyClass(StayDistribution):
    """A custody type of first receptions: its share of them and its time in custody."""

    share: float = _share()


@dataclass
class CustodyClasses:
    """The five custody types of first receptions (recalls are a separate stream)."""

    remand: CustodyClass = field(default_factory=CustodyClass)
    short: CustodyClass = field(default_factory=CustodyClass)
    medium: CustodyClass = field(default_factory=CustodyClass)
    long: CustodyClass = field(default_factory=CustodyClass)
    indeterminate: CustodyClass = field(default_factory=CustodyClass)


@dataclass
class ShareServed:
    """Share of a determinate sentence served in custody: ``floor + (1 - floor) x Beta``, the
    Beta fitted to the median and mean (shares of the sentence)."""

    floor: float = _share()
    median: float = _share()
    mean: float = _share()


@dataclass
class ShareServedBySex:
    men: ShareServed = field(default_factory=ShareServed)
    women: ShareServed = field(default_factory=ShareServed)


@dataclass
class LevelValues:
    """One share per need level."""

    low: float = _share()
    moderate: float = _share()
    high: float = _share()

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.low, self.moderate, self.high)


@dataclass
class LevelFactors(LevelValues):
    """A factor per need level: at least 1 (need never lowers a hazard), at most 50."""

    low: float = _num(1, 50)
    moderate: float = _num(1, 50)
    high: float = _num(1, 50)


@dataclass
class LevelHours(LevelValues):
    """Care hours a week per person at each need level: at most the 168 hours in a week."""

    low: float = _num(0, HOURS_PER_WEEK)
    moderate: float = _num(0, HOURS_PER_WEEK)
    high: float = _num(0, HOURS_PER_WEEK)


@dataclass
class TypeValues:
    """One share per prison type (zero where a type is not used)."""

    local: float = _num(0, 1, default=0.0)
    cat_b: float = _num(0, 1, default=0.0)
    cat_c: float = _num(0, 1, default=0.0)
    open: float = _num(0, 1, default=0.0)
    high_security: float = _num(0, 1, default=0.0)
    women: float = _num(0, 1, default=0.0)

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, t) for t in PRISON_TYPES)


@dataclass
class TypeCounts(TypeValues):
    """Prisons of each type: at most 200 (England and Wales has about 120 in all)."""

    local: float = _num(0, 200, default=0.0)
    cat_b: float = _num(0, 200, default=0.0)
    cat_c: float = _num(0, 200, default=0.0)
    open: float = _num(0, 200, default=0.0)
    high_security: float = _num(0, 200, default=0.0)
    women: float = _num(0, 200, default=0.0)


@dataclass
class TypeCapacities(TypeValues):
    """Places per prison (mean or spread): at most 5,000 (the largest, Berwyn, has about 2,100)."""

    local: float = _num(0, 5000, default=0.0)
    cat_b: float = _num(0, 5000, default=0.0)
    cat_c: float = _num(0, 5000, default=0.0)
    open: float = _num(0, 5000, default=0.0)
    high_security: float = _num(0, 5000, default=0.0)
    women: float = _num(0, 5000, default=0.0)


@dataclass
class TypeWeights(TypeValues):
    """Relative pull of each prison type: only ratios matter; at most 1,000 (1,000:1 between
    two types is already all-or-nothing)."""

    local: float = _num(0, 1000, default=0.0)
    cat_b: float = _num(0, 1000, default=0.0)
    cat_c: float = _num(0, 1000, default=0.0)
    open: float = _num(0, 1000, default=0.0)
    high_security: float = _num(0, 1000, default=0.0)
    women: float = _num(0, 1000, default=0.0)


@dataclass
class PrisonSpec:
    """One named prison, for estates listed prison by prison."""

    name: str = MISSING
    type: str = _choice(PRISON_TYPES)
    # places: the largest prison holds about 2,100; up to 25,000 so one listed "prison" can stand for
    # a cluster or region of prisons (a planner's catchment, or a large queueing test)
    capacity: int = _num(1, 25_000)
    older_unit: bool = False
    scheme: str = _choice(SCHEME_TYPES)
    supervised: bool | None = None  # staff supervise the buddies; unset: where the scheme is trained


@dataclass
class EstateConfig:
    """Which prisons exist: generated by type, or listed one by one in ``prisons``."""

    name: str = MISSING
    count: TypeCounts = field(default_factory=TypeCounts)
    capacity_mean: TypeCapacities = field(default_factory=TypeCapacities)
    capacity_sd: TypeCapacities = field(default_factory=TypeCapacities)
    older_unit_share: TypeValues = field(default_factory=TypeValues)
    scheme_share: float = _share()
    trained_share_of_schemes: float = _share()
    aware_staff_share: float = _share()  # prisons whose wing staff are aware of social care
    prisons: list[PrisonSpec] = field(default_factory=list)


@dataclass
class PopulationConfig:
    """Receptions, stays, transfers, deaths and ageing (people, days, years)."""

    # people: about 3x the 86,000 of England and Wales; also keeps memory in bounds
    initial_population: int = _num(0, 250_000)
    # a year: about 8x the national 64,000 (and see MAX_RECEPTIONS_PER_PLACE)
    receptions_per_year: float = _num(0, 500_000)
    female_share: float = _share()
    stock_age_shares: BandValues = field(default_factory=BandValues)
    recalls_per_year: float = _num(0, 500_000)  # a year: recalls to custody (national 28,000)
    custody_classes: CustodyClasses = field(default_factory=CustodyClasses)
    recall: StayDistribution = field(default_factory=StayDistribution)
    share_served: ShareServedBySex = field(default_factory=ShareServedBySex)
    # tilt of older first receptions towards long and indeterminate terms, per age band above 40-49
    # (YAML 0-0.3); 3 makes a 70+ reception ~e^12 times likelier to be long than a young one
    older_long_tilt: float = _num(0, 3)
    hold_population: bool = True  # scale receptions so initial_population is the steady state
    # a factor: steady-state flows may scale receptions by at most this much (or 1/this) to hold
    # initial_population; beyond it the configured flows and stock disagree and the run stops
    steady_state_tolerance: float = _num(1, 10)
    local_max_stay_days: float = _num(0, 3650)  # days: 10 years (YAML 60-240)
    local_transfer_days_mean: float = _num(1, 730)  # days: a day to 2 years (YAML 20-120)
    transfer_rate_per_year: float = _num(0, 12)  # moves a person-year: monthly at most (0.9 in 2005/06)
    transfer_destination_weight: TypeWeights = field(default_factory=TypeWeights)
    older_unit_attraction: float = _num(0.01, 100)  # a factor: YAML 1-5; 100:1 is all-or-nothing
    death_hazard_at_50_per_year: float = _num(0, 0.2)  # a year: YAML 0.001-0.006; 0.2 is 40x national
    death_hazard_growth_per_year_of_age: float = _num(0, 0.3)  # Gompertz slope: life tables 0.07-0.10
    death_rr_by_level: LevelFactors = field(default_factory=LevelFactors)
    death_rr_dementia: float = _num(1, 20)  # a factor on the death hazard: YAML 1.5-3
    end_of_life_days: float = _num(0, 730)  # days: YAML 30-180
    end_of_life_hours_per_week: float = _num(0, HOURS_PER_WEEK)  # hours: YAML 5-20
    end_of_life_nhs_share: float = _share()
    # yearly trends, applied from the start of reporting: a halving to a doubling a year
    trend_years: float = _num(0, 100)  # years: trends run this long after reporting starts, then hold
    receptions_growth_per_year: float = _num(-0.5, 1.0)  # first receptions and recalls
    older_long_receptions_growth_per_year: float = _num(-0.5, 1.0)  # extra: aged 50+ into long/indeterminate
    long_time_served_stretch_per_year: float = _num(-0.5, 1.0)  # time served by new long/indeterminate
    older_indeterminate_parole_refusal: float = _share()  # a due release of a lifer aged 60+ is deferred
    parole_review_days: float = _num(1, 3650)  # days to the next parole review after a refusal (YAML 365-730)


@dataclass
class NeedConfig:
    """Onset, level and progression of social care need (hours per week, per year)."""

    stock_prevalence_by_band: BandValues = field(default_factory=BandValues)
    arrival_prevalence_factor: float = _num(0, 5)  # a factor on stock prevalence: YAML 0.4-1
    onset_hazard_at_50_per_year: float = _share()  # a year: YAML 0.01-0.05
    onset_hazard_growth_per_year_of_age: float = _num(0, 0.3)  # YAML 0.04-0.10
    level_shares_at_onset: LevelValues = field(default_factory=LevelValues)
    worsening_rate_per_year: float = _num(0, 12)  # a year: YAML 0.05-0.4; monthly at most
    dementia_stock_prevalence_50_69: float = _share()
    dementia_stock_prevalence_70_plus: float = _share()
    dementia_onset_hazard_at_70_per_year: float = _share()
    dementia_onset_hazard_growth_per_year_of_age: float = _num(0, 0.3)  # YAML 0.05-0.12
    dementia_hours_factor: float = _num(1, 5)  # YAML 1-2; and hours x factor <= 168 a week
    nonpersonal_hours_per_week: LevelHours = field(default_factory=LevelHours)
    personal_hours_per_week: LevelHours = field(default_factory=LevelHours)


@dataclass
class ReleaseNotice:
    """Days before release that the date is known, for the classes without a release date set at
    sentencing (a determinate sentence's date is known from reception)."""

    remand: float = _num(0, 730)  # days: court outcome (YAML 0-7)
    indeterminate: float = _num(0, 730)  # days: parole decision (YAML 28-120)
    recall: float = _num(0, 730)  # days (YAML 14-60)


@dataclass
class PathwayConfig:
    """Screening, detection, referral, Care Act assessment, care packages and reviews (days)."""

    screening_sensitivity: float = _share()
    detection_delay_days_mean: float = _num(1, 3650)  # days: a day to 10 years (YAML 30-365)
    dementia_detection_factor: float = _num(0.1, 20)  # a factor: YAML 1-5
    older_unit_detection_factor: float = _num(0.1, 10)  # a factor: YAML 0.5-1
    aware_staff_detection_factor: float = _num(0.1, 10)  # a factor where wing staff are aware: YAML 0.5-1
    referral_share: float = _share()
    referral_delay_days_mean: float = _num(0, 730)  # days: up to 2 years (YAML 3-60)
    assessors_per_prison: int = _num(0, 50)  # at once: YAML 1-3; 50 is a team per prison
    assessment_days_mean: float = _num(0.1, 365)  # days: a couple of hours to a year (YAML 3-20)
    eligibility_by_level: LevelValues = field(default_factory=LevelValues)
    package_start_delay_days_mean: float = _num(0, 730)  # days: up to 2 years (YAML 7-60)
    interim_review_delay_days_mean: float = _num(0, 730)  # days to raise a package to grown need (YAML 7-90)
    # days: at least a day (a shorter interval is not a review, and floods the event list)
    review_interval_days: float = _num(1, 3650)
    info_loss_on_transfer: float = _share()
    initial_detected_share: float = _share()
    release_referral_share: float = _share()  # known need referred to the receiving LA before release
    release_referral_lead_days: float = _num(0, 730)  # days of notice a referral needs (YAML 28-180)
    release_notice_days: ReleaseNotice = field(default_factory=lambda: ReleaseNotice())


@dataclass
class BuddiesConfig:
    """Buddy schemes: posts, recruitment pipeline, hours, pay, turnover (days, hours, £)."""

    posts_per_1000_prisoners: float = _num(0, 1000)  # at most one post per place (YAML 5-25)
    initial_fill_share: float = _share()
    care_share_of_unlock: float = _share()  # of a buddy's unlock time (YAML 0.25-0.8)
    pay_per_week: float = _num(0, 500)  # £: real prison pay is £10-30 a week; 500 is a full-time wage
    application_days_mean: float = _num(0, 365)  # days: YAML 7-60
    interview_days_mean: float = _num(0, 365)  # days: YAML 3-21
    vetting_days_mean: float = _num(0, 365)  # days: YAML 7-60
    vetting_pass_share: float = _share()
    training_interval_days: float = _num(1, 730)  # days between courses: YAML 14-90
    training_days: float = _num(0, 365)  # days: YAML 1-90
    training_pass_share: float = _share()
    min_remaining_stay_days: float = _num(0, 3650)  # days: YAML 90-365
    # a buddy-year: monthly at most (YAML up to 0.6)
    quit_rate_per_year: float = _num(0, 12)
    dismissal_rate_per_year: float = _num(0, 12)
    burnout_rate_per_year: float = _num(0, 12)
    burnout_load_sensitivity: float = _num(0, 10)  # per unit of load: YAML 0-3
    # factors for supervised and trained schemes: YAML 0.2-1; up to 5 lets them make things worse
    supervised_burnout_factor: float = _num(0, 5)
    trained_dismissal_factor: float = _num(0, 5)
    trained_overstep_factor: float = _num(0, 5)
    kept_on_transfer_share: float = _share()
    detection_delay_factor: float = _num(0.1, 10)  # a factor: YAML 0.5-1
    reach_unrecorded_share: float = _share()
    priority: str = _choice(PRIORITY_RULES)
    supervision_hours_per_buddy_per_week: float = _num(0, 40)  # staff hours: YAML 0.25-2
    coordination_hours_per_scheme_per_week: float = _num(0, HOURS_PER_WEEK)  # staff hours: YAML 4-20
    coordination_hours_per_buddy_per_week: float = _num(0, 40)  # staff hours, on top: YAML 0.1-1
    # who is willing to be a buddy, and why buddies stay: elasticities YAML 0-1.5 (0 = no effect);
    # 5 is already all-or-nothing over the pay range
    willing_share: float = _share()  # of prisoners, at the reference pay without recognition: YAML 0.01-0.15
    reference_pay_per_week: float = _num(0, 500, lo_open=True)  # £ a week the willing share is given at
    willingness_pay_elasticity: float = _num(0, 5)
    quit_pay_elasticity: float = _num(0, 5)
    recognition: bool = MISSING  # buddies' role recognised (certificates, status, a say in the scheme)
    willingness_recognition_factor: float = _num(1, 10)  # a factor: YAML 1-3
    quit_recognition_factor: float = _num(0, 1)  # a factor: YAML 0.5-1
    # staff attitudes: where wing staff are not aware of social care, buddies reach fewer recipients
    unaware_staff_buddy_access_factor: float = _share()  # a factor: YAML 0.5-1


@dataclass
class RegimeConfig:
    """Unlock windows and restricted-regime episodes (hours, days, per year)."""

    windows_per_day: int = _num(1, 24)  # and windows x hours <= 24
    window_hours: float = _num(0, 24)
    recipient_unlocked_share: float = _share()
    # professional visits an officer can unlock a day per 100 places: YAML 4-30; 500 is 5 a place
    officer_unlocks_per_day_per_100_places: float = _num(0, 500)
    essential_unlock_floor: float = _share()  # officer unlocks kept in a restricted regime or lockdown
    restricted_episodes_per_year: float = _num(0, 365)  # a year: YAML 0-40; daily at most
    restricted_days_mean: float = _num(1, 365)  # days: YAML 1-7
    restricted_unlock_factor: float = _share()
    lockdown_episodes_per_year: float = _num(0, 365)  # a year: YAML 0-3; daily at most
    lockdown_days_mean: float = _num(1, 365)  # days: YAML 1-30
    lockdown_unlock_factor: float = _share()


@dataclass
class CareConfig:
    """The fast lane: task sizes, professional capacity, overstepping (hours, per window)."""

    # hours: 6 minutes to a day (YAML 0.25-1); shorter tasks multiply the work per window
    nonpersonal_task_hours: float = _num(0.1, 24)
    personal_task_hours: float = _num(0.1, 24)
    # hours a week per 100 places a local authority's providers can deliver: YAML 15-80; 1,000 is 10 a place
    provider_capacity_hours_per_week_per_100_places: float = _num(0, 1000)
    provider_shortfall_share: float = _share()  # commissioned visits not delivered
    healthcare_topup_share: float = _share()  # personal care left undone that prison healthcare does
    # informal help: who is there to give it (people per person with non-personal need)
    cell_sharing_share_50_plus: float = _share()
    cell_sharing_share_under_50: float = _share()
    cellmate_help_share: float = _share()
    neighbour_helpers_per_recipient: float = _num(0, 10)  # people: YAML 0-1
    older_unit_neighbour_factor: float = _num(0, 5)  # a factor: YAML 0.5-1.2
    informal_share_of_unlock: float = _share()  # of a helper's unlock time given to care: YAML 0.03-0.2
    informal_crowd_out_share: float = _share()  # informal help withdrawn where a formal scheme runs
    overstep_max_probability_per_window: float = _share()
    overstep_delay_scale_days: float = _num(0.1, 365)  # days: YAML 0.25-14
    overstep_informal_factor: float = _num(0, 10)  # a factor: YAML 1-3


@dataclass
class SafeguardingConfig:
    """Safeguarding incidents around peer care, per 1,000 hours of care given (incidents, factors)."""

    # incidents per 1,000 hours of informal care: YAML 0.2-5; 1,000 is one every hour of care
    bullying_per_1000_informal_hours: float = _num(0, 1000)
    theft_accusation_per_1000_informal_hours: float = _num(0, 1000)
    exploitation_per_1000_informal_hours: float = _num(0, 1000)
    # factors on those rates for formal buddies' care: YAML 0.3-1; up to 5 lets a scheme make things worse
    formal_factor: float = _num(0, 5)
    trained_factor: float = _num(0, 5)
    supervised_factor: float = _num(0, 5)


@dataclass
class CostsConfig:
    """Unit costs in £ (2024/25 prices unless the YAML says otherwise).

    Each is bounded at a generous multiple (10-100x) of the published or assumed figure,
    so a typo of a few zeros is refused rather than priced.
    """

    officer_hourly_cost: float = _num(0, 500)  # £21 an hour
    training_cost_per_trainee: float = _num(0, 20_000)  # £250 (YAML 100-800)
    vetting_cost_per_candidate: float = _num(0, 5_000)  # £60 (YAML 20-200)
    assessment_cost: float = _num(0, 20_000)  # £330
    review_cost: float = _num(0, 20_000)  # £165
    personal_care_hourly_cost: float = _num(0, 500)  # £28.53
    healthcare_hourly_cost: float = _num(0, 500)  # £30.31
    scheme_setup_cost: float = _num(0, 1_000_000)  # £5,000 (YAML 2,000-20,000)
    scheme_life_years: float = _num(1, 100)  # years: YAML 3-10


@dataclass
class RunConfig:
    """Run length and randomness."""

    # years, a whole number of months (the model reports months): one month to a century
    years: float = _num(0, 100, lo_open=True)
    warmup_years: float = _num(0, 20)  # years, a whole number of months
    seed: int = _num(0, 2**63 - 1)  # numpy SeedSequence accepts any non-negative int; 63 bits is plenty
    replications: int = _num(1, 10_000)
    first_replication: int = _num(0, 1_000_000)
    jobs: int = _num(0, 1024)  # processes; 0 = all cores
    target_half_width: float = _num(0, 1)  # a share of the mean; 0 = off
    max_replications: int = _num(1, 10_000)
    progress: bool = True
    check_invariants: bool = False
    deterministic: bool = False
    overwrite: bool = False  # replace another run's results in the run folder (else refused)
    # the summary metric a run returns to Hydra (what a sampling sweeper such as Optuna minimises)
    objective: str = "unmet_hours_per_week"


@dataclass
class FundingConfig:
    """A funding option: its effects on the model and its own cost lines (£ a year).

    Effects are factors (1 = no change) or additions (0 = no change) applied to the
    model's parameters by :func:`simmodel.model.funding.apply_funding`. Factors are bounded at
    10 (a tenfold change is beyond any funding option); costs at 10-50x the YAML figures.
    """

    name: str = MISSING
    description: str = ""
    buddy_posts_factor: float = _num(0, 10)
    extra_scheme_share: float = _share()
    train_all_schemes: bool = MISSING
    supervise_all_schemes: bool = MISSING
    aware_staff_share_add: float = _share()  # + estate.aware_staff_share, capped at 1
    screening_sensitivity_add: float = _share()
    detection_delay_factor: float = _num(0.1, 10)
    referral_share_add: float = _share()
    referral_delay_factor: float = _num(0, 10)
    recruitment_delay_factor: float = _num(0, 10)
    extra_assessors_per_prison: int = _num(0, 50)  # as pathway.assessors_per_prison
    provider_capacity_factor: float = _num(0, 10)
    extra_window_hours: float = _num(0, 12)  # hours; and windows x hours <= 24
    coordinator_fte_per_prison: float = _num(0, 10)  # FTE: YAML 0.2-1
    coordinator_cost_per_fte_year: float = _num(0, 500_000)  # £49,400
    extra_officer_hours_per_prison_per_week: float = _num(0, 2000)  # hours: YAML 14-56; 2,000 is 50 FTE
    assessor_retainer_per_year: float = _num(0, 500_000)  # £9,900 (YAML 5,000-20,000)
    programme_cost_per_scheme_per_year: float = _num(0, 500_000)  # £3,000 (YAML 1,000-10,000)
    staff_awareness_cost_per_prison_per_year: float = _num(0, 500_000)  # £3,000 (YAML 1,000-10,000)


@dataclass
class Config:
    """The whole model configuration (the root of ``configs/config.yaml``)."""

    scenario: str = MISSING
    description: str = ""
    estate: EstateConfig = field(default_factory=EstateConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    need: NeedConfig = field(default_factory=NeedConfig)
    pathway: PathwayConfig = field(default_factory=PathwayConfig)
    buddies: BuddiesConfig = field(default_factory=BuddiesConfig)
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    care: CareConfig = field(default_factory=CareConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    safeguarding: SafeguardingConfig = field(default_factory=SafeguardingConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)
    run: RunConfig = field(default_factory=RunConfig)


#: The attribute in which a :class:`Config` that passed the checks keeps its :func:`fingerprint`.
_CHECKED = "_simmodel_checked"


def fingerprint(cfg: Config) -> str:
    """Every value of ``cfg`` with its type, the classes of nested dataclasses included: a
    ``LevelValues`` is not a dict of the same numbers, nor 1.0 the same as 1 or True."""
    return repr(_typed(cfg))


def _typed(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return type(value).__qualname__, [(f.name, _typed(getattr(value, f.name))) for f in fields(value)]
    if isinstance(value, dict):
        return "dict", [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return type(value).__name__, [_typed(item) for item in value]
    return type(value).__qualname__, value


def mark_checked(cfg: Config, now: str | None = None) -> None:
    """Remember that ``cfg``, as it is now (``now``: its fingerprint, if already taken), passed
    the checks with every value of its field's type."""
    setattr(cfg, _CHECKED, fingerprint(cfg) if now is None else now)


def as_checked(cfg: Config, now: str | None = None) -> bool:
    """True if ``cfg`` (``now``: its fingerprint, if already taken) is still as it was when it
    passed the checks (1 ms to tell nationally)."""
    return getattr(cfg, _CHECKED, None) == (fingerprint(cfg) if now is None else now)


def register_configs() -> None:
    """Register the schema so ``configs/config.yaml`` can extend it (idempotent).

    Stored once a process: making the node costs about 50 ms, and Hydra copies it at each
    use, so a composition never changes the stored one.
    """
    store = ConfigStore.instance()
    stored = store.repo.get("schema.yaml")
    if stored is None or OmegaConf.get_type(stored.node) is not Config:  # (a reloaded module: anew)
        store.store(name="schema", node=Config)


def _describe(meta: dict[str, Any]) -> str:
    if "choices" in meta:
        return "one of: " + ", ".join(meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    lo_txt = None if lo is None else (f"> {lo:g}" if meta.get("lo_open") else f">= {lo:g}")
    hi_txt = None if hi is None else f"<= {hi:g}"
    return "a number " + " and ".join(t for t in (lo_txt, hi_txt) if t)


def _check_value(key: str, value: Any, meta: dict[str, Any]) -> None:
    if "choices" in meta:
        if value not in meta["choices"]:
            raise ConfigError(f"{key} = {value!r} is not allowed: use {_describe(meta)}.")
        return
    if "lo" not in meta:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} = {value} is not allowed: use {_describe(meta)}.")
    lo, hi = meta["lo"], meta["hi"]
    too_low = lo is not None and (value <= lo if meta["lo_open"] else value < lo)
    too_high = hi is not None and value > hi
    if too_low or too_high:
        raise ConfigError(f"{key} = {value:g} is out of range: use {_describe(meta)}.")


def _walk(node: Any, prefix: str) -> None:
    for f in fields(node):
        key = f"{prefix}{f.name}"
        value = getattr(node, f.name)
        if is_dataclass(value):
            _walk(value, key + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, f"{key}[{i}].")
        else:
            _check_value(key, value, dict(f.metadata))


def check_ranges(cfg: DictConfig | Config) -> None:
    """Raise :class:`ConfigError` naming the first key whose value is out of range.

    Also checks the few rules that involve more than one key.
    """
    node = cfg if isinstance(cfg, Config) else OmegaConf.to_object(cfg)
    assert isinstance(node, Config)
    _walk(node, "")
    _check_custody(node.population)
    shares = node.population.stock_age_shares.as_tuple()
    if not math.isclose(sum(shares), 1.0, abs_tol=0.01):
        raise ConfigError(f"population.stock_age_shares add up to {sum(shares):.3f}: they must add up to 1.")
    levels = node.need.level_shares_at_onset.as_tuple()
    if not math.isclose(sum(levels), 1.0, abs_tol=0.01):
        raise ConfigError(f"need.level_shares_at_onset add up to {sum(levels):.3f}: they must add up to 1.")
    if node.regime.windows_per_day * (node.regime.window_hours + node.funding.extra_window_hours) > 24:
        raise ConfigError(
            "regime.windows_per_day x (regime.window_hours + funding.extra_window_hours) is more than "
            "24 hours: the unlock windows of a day must fit in the day."
        )
    if node.run.target_half_width > 0 and node.run.max_replications < node.run.replications:
        raise ConfigError(
            f"run.max_replications ({node.run.max_replications}) is less than run.replications "
            f"({node.run.replications}): precision-based stopping starts from run.replications."
        )
    if not node.estate.prisons and sum(node.estate.count.as_tuple()) < 1:
        raise ConfigError(
            "estate has no prisons: list them in estate.prisons or set estate.count for at least one type."
        )
    names = [p.name for p in node.estate.prisons]
    if len(set(names)) != len(names):
        raise ConfigError("estate.prisons: each prison needs a different name.")
    _check_whole_months("run.years", node.run.years, at_least_one=True)
    _check_whole_months("run.warmup_years", node.run.warmup_years, at_least_one=False)
    _check_hours(node.need)
    posts = node.buddies.posts_per_1000_prisoners * node.funding.buddy_posts_factor
    if posts > 1000:
        raise ConfigError(
            f"buddies.posts_per_1000_prisoners x funding.buddy_posts_factor = {posts:g} is more than 1000: "
            "a prison cannot have more buddy posts than places."
        )
    _check_estate_flows(node)


#: How close ``years x 12`` must be to a whole number (0.0833 is one month).
_MONTH_TOLERANCE = 0.01


def _years_text(months: int) -> str:
    return f"{round(months / 12, 4):g} ({months} month{'s' if months != 1 else ''})"


def _check_whole_months(key: str, years: float, *, at_least_one: bool) -> None:
    """The model runs and reports whole months: refuse anything else (no silent rounding)."""
    months = years * 12
    nearest = round(months)
    if abs(months - nearest) <= _MONTH_TOLERANCE and (nearest >= 1 or not at_least_one):
        return
    low, high = math.floor(months), math.ceil(months)
    if at_least_one:
        low, high = max(low, 1), max(high, 1)
    options = sorted({low, high})
    suggestion = " or ".join(_years_text(m) for m in options)
    raise ConfigError(
        f"{key} = {years:g} is {months:.2f} months: use a whole number of months"
        f"{', at least one' if at_least_one else ''}, e.g. {suggestion}."
    )


CUSTODY_CLASSES = ("remand", "short", "medium", "long", "indeterminate")


def _check_custody(pop: PopulationConfig) -> None:
    """Class shares add up to 1; each stay range holds its median; shares served can be fitted."""
    shares = [getattr(pop.custody_classes, c).share for c in CUSTODY_CLASSES]
    if not math.isclose(sum(shares), 1.0, abs_tol=0.01):
        raise ConfigError(
            f"population.custody_classes shares add up to {sum(shares):.3f}: they must add up to 1."
        )
    stays = [(f"population.custody_classes.{c}", getattr(pop.custody_classes, c)) for c in CUSTODY_CLASSES]
    for key, stay in [*stays, ("population.recall", pop.recall)]:
        if not stay.min_days <= stay.median_days <= stay.max_days:
            raise ConfigError(
                f"{key}: min_days {stay.min_days:g} <= median_days {stay.median_days:g} <= max_days "
                f"{stay.max_days:g} does not hold."
            )
    for sex in ("men", "women"):
        served = getattr(pop.share_served, sex)
        if not (served.floor < served.median < 1 and served.floor < served.mean < 1):
            raise ConfigError(
                f"population.share_served.{sex}: floor {served.floor:g} must be below median "
                f"{served.median:g} and mean {served.mean:g}, and both below 1."
            )


def _check_hours(need: NeedConfig) -> None:
    """A person's care, both kinds and with dementia, fits in the 168 hours of a week."""
    for level in NEED_LEVELS:
        hours = getattr(need.nonpersonal_hours_per_week, level) + getattr(need.personal_hours_per_week, level)
        if hours * need.dementia_hours_factor > HOURS_PER_WEEK:
            raise ConfigError(
                f"need.nonpersonal_hours_per_week.{level} + need.personal_hours_per_week.{level} = "
                f"{hours:g}, x need.dementia_hours_factor {need.dementia_hours_factor:g}, "
                "is more than the 168 hours of a week."
            )


def estate_places_and_types(estate: EstateConfig) -> tuple[float, set[str]]:
    """Places in the estate (expected places for a generated one) and the prison types in it."""
    if estate.prisons:
        return float(sum(p.capacity for p in estate.prisons)), {p.type for p in estate.prisons}
    places, types = 0.0, set()
    for t in PRISON_TYPES:
        count = round(getattr(estate.count, t))
        if count >= 1:
            types.add(t)
            places += count * max(getattr(estate.capacity_mean, t), _MIN_GENERATED_CAPACITY)
    return places, types


def _check_estate_flows(node: Config) -> None:
    """Flows the estate can hold: where men are received, and how many people per place."""
    pop = node.population
    places, types = estate_places_and_types(node.estate)
    # Men are received into local prisons if there are any; otherwise into the men's
    # prisons (every prison, if all are women's) in proportion to their transfer weight.
    men_types = sorted(types - {"women"}) or ["women"]
    men_weight = sum(getattr(pop.transfer_destination_weight, t) for t in men_types)
    if "local" not in types and pop.receptions_per_year > 0 and pop.female_share < 1 and men_weight <= 0:
        raise ConfigError(
            f"population.transfer_destination_weight is 0 for every men's prison type in the estate "
            f"({', '.join(men_types)}): with no local prison men are received by these weights."
        )
    growth = max(1.0, (1.0 + pop.receptions_growth_per_year) ** node.run.years)
    most = MAX_RECEPTIONS_PER_PLACE * places
    if pop.receptions_per_year * growth > most:
        grown = f" (x{growth:.3g} by the last year with receptions_growth_per_year)" if growth > 1 else ""
        raise ConfigError(
            f"population.receptions_per_year = {pop.receptions_per_year:g}{grown} is more than "
            f"{MAX_RECEPTIONS_PER_PLACE:g} x the estate's {places:,.0f} places: "
            f"use at most {most / growth:,.0f}."
        )
    if pop.initial_population > MAX_INITIAL_PER_PLACE * places:
        raise ConfigError(
            f"population.initial_population = {pop.initial_population} is more than "
            f"{MAX_INITIAL_PER_PLACE:g} x the estate's {places:,.0f} places: use at most "
            f"{MAX_INITIAL_PER_PLACE * places:,.0f}."
        )

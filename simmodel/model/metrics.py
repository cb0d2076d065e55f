"""Running totals: monthly flow accumulators and month-end stock snapshots, per prison.

Nothing is recorded per task or per person: a 10-year national run keeps two small
arrays (months x prisons x measures), a few megabytes.
"""

from __future__ import annotations

import numpy as np

from ..config import AGE_BANDS

DAYS_PER_YEAR = 365.0
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0


class Flow:
    """Indices of monthly flow totals (counts, days, hours, £), summed within a month."""

    RECEPTIONS = 0
    RELEASES = 1
    DEATHS = 2
    DEATH_AGE_SUM = 3  # years, summed over deaths
    TRANSFERS_IN = 4
    TRANSFERS_OUT = 5  # moves to another prison of the estate
    LEFT_ESTATE = 6  # transfers out of the modelled estate
    NEED_ONSETS = 7  # new needs arising in custody
    ARRIVALS_WITH_NEED = 8
    DETECTIONS = 9
    REFERRALS = 10
    ASSESSMENTS = 11
    ASSESSMENT_WAIT_DAYS = 12  # days from referral to the start of assessment, summed
    ELIGIBLE = 13
    CARE_STARTS = 14
    CARE_START_DELAY_DAYS = 15  # days from eligibility to the first visit, summed
    REVIEWS = 16
    BUDDY_STARTS = 17
    BUDDY_LOSSES = 18
    BUDDY_LOSSES_MOVE = 19  # release, transfer or death
    BUDDY_LOSSES_BURNOUT = 20
    BUDDY_DAYS = 21  # active buddies x days
    TRAINED = 22
    NP_NEED_HOURS = 23
    NP_MET_BUDDY_HOURS = 24
    NP_MET_INFORMAL_HOURS = 25
    NP_UNMET_HOURS = 26
    P_NEED_HOURS = 27
    P_MET_PROFESSIONAL_HOURS = 28
    P_MET_HEALTHCARE_HOURS = 29
    P_UNMET_HOURS = 30
    OVERSTEP_EVENTS = 31
    UNMET_PERSON_DAYS = 32
    RESTRICTED_DAYS = 33  # prison-days under a restricted regime or lockdown
    COST_BUDDY_PAY = 34
    COST_SUPERVISION = 35
    COST_COORDINATION = 36
    COST_TRAINING = 37
    COST_VETTING = 38
    COST_SETUP = 39
    COST_ASSESSMENT = 40
    COST_REVIEW = 41
    COST_PERSONAL_CARE = 42
    COST_HEALTHCARE = 43
    COST_FUNDING_PRISON = 44  # the funding option's own lines paid by the prison service
    COST_FUNDING_LA = 45  # ... and by local authorities
    RECALLS = 46  # receptions that are recalls (RECEPTIONS counts them too)
    RELEASES_WITH_NEED = 47
    RELEASES_WITHOUT_PLAN = 48  # ... not referred to the receiving local authority in time
    DEATHS_WITH_NEED = 49
    END_OF_LIFE_HOURS = 50  # hours of end-of-life care, counted at the death
    PAROLE_REFUSALS = 51  # due releases of indeterminate prisoners aged 60+ deferred
    RELEASES_DETERMINATE = 52  # releases from determinate sentences (short, medium, long)
    DETERMINATE_SERVED_DAYS = 53  # days in custody, summed over those releases
    P_COMMISSIONED_HOURS = 54  # personal care due within care packages (commissioned by the local authority)
    P_UNDELIVERED_HOURS = 55  # ... not delivered by the provider (its capacity, officers' unlocks, shortfall)
    SAFEGUARDING_BULLYING = 56  # safeguarding incidents around peer care: bullying of the person helped
    SAFEGUARDING_THEFT_ACCUSATION = 57  # ... accusations of theft or dishonesty
    SAFEGUARDING_EXPLOITATION = 58  # ... exploitation of the role (contraband, pressure)


class Stock:
    """Indices of month-end snapshots (people)."""

    POPULATION = 0
    WITH_NEED = 1
    WITH_PERSONAL_NEED = 2
    WITH_DEMENTIA = 3
    DETECTED = 4
    WAITING_ASSESSMENT = 5
    WAITING_PACKAGE = 6
    WITH_PACKAGE = 7
    BUDDIES_ACTIVE = 8
    BUDDY_POSTS = 9
    WITH_DEMENTIA_50_PLUS = 10  # people aged 50 and over with dementia
    WITH_DEMENTIA_70_PLUS = 11
    REMAND = 12  # people by custody class (flows.CLASS_NAMES order)
    SHORT = 13
    MEDIUM = 14
    LONG = 15
    INDETERMINATE = 16
    RECALL = 17
    AGED_75_PLUS = 18  # people aged 75 and over (within the 70+ band: where the oldest are held)
    AGE_BAND_0 = 19  # followed by one entry per age band


def _names(cls: type) -> tuple[str, ...]:
    pairs = sorted((v, k.lower()) for k, v in vars(cls).items() if k.isupper())
    return tuple(name for _, name in pairs)


def band_column(band: str) -> str:
    """The tidy column name of an age band's headcount: ``18-20`` -> ``population_18_20``,
    ``70+`` -> ``population_70_plus`` (lowercase letters, digits and underscores only, so
    R, Excel and SQL keep the name as it is)."""
    return "population_" + band.replace("+", "_plus").replace("-", "_")


FLOW_NAMES = _names(Flow)
STOCK_NAMES = _names(Stock)[:-1] + tuple(band_column(band) for band in AGE_BANDS)

#: Which payer bears each cost line.
PAYERS: dict[str, tuple[int, ...]] = {
    "prison": (
        Flow.COST_BUDDY_PAY,
        Flow.COST_SUPERVISION,
        Flow.COST_COORDINATION,
        Flow.COST_TRAINING,
        Flow.COST_VETTING,
        Flow.COST_SETUP,
        Flow.COST_FUNDING_PRISON,
    ),
    "local_authority": (
        Flow.COST_ASSESSMENT,
        Flow.COST_REVIEW,
        Flow.COST_PERSONAL_CARE,
        Flow.COST_FUNDING_LA,
    ),
    "nhs": (Flow.COST_HEALTHCARE,),
}


class Metrics:
    """Monthly accumulators for one replication.

    ``flows[m, p, k]`` sums flow ``k`` in prison ``p`` over month ``m``;
    ``stocks[m, p, k]`` is stock ``k`` at the end of month ``m``. Months include the
    warm-up; :attr:`first_reported_month` marks where reporting starts.
    """

    def __init__(self, months: int, prisons: int, warmup_months: int) -> None:
        self.months = months
        self.first_reported_month = warmup_months
        self.flows = np.zeros((months, prisons, len(FLOW_NAMES)))
        self._flows_by_month = self.flows.reshape(months, -1)  # a view: one row per month
        self._cells: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # see _cells_of
        self.stocks = np.zeros((months, prisons, len(STOCK_NAMES)))
        self.start_population = 0  # people in custody when reporting starts

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the row view of :attr:`flows` (a copy after unpickling: it would
        no longer add into ``flows``) or the cache of cells; both are rebuilt."""
        state = self.__dict__.copy()
        del state["_flows_by_month"], state["_cells"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._flows_by_month = self.flows.reshape(self.months, -1)
        self._cells = {}

    def month(self, now: float) -> int:
        """Month index of simulated day ``now`` (clamped to the last month)."""
        return min(int(now / DAYS_PER_MONTH), self.months - 1)

    def add(self, now: float, prison: int, flow: int, value: float = 1.0) -> None:
        """Add ``value`` to one flow of one prison (hot path: one numpy scalar update)."""
        self.flows[min(int(now / DAYS_PER_MONTH), self.months - 1), prison, flow] += value

    def add_vector(self, now: float, flow: int, values: np.ndarray) -> None:
        """Add one value per prison to a flow."""
        self.flows[self.month(now), :, flow] += values

    def add_block(self, now: float, flows: np.ndarray, values: np.ndarray) -> None:
        """Add several flows at once: ``values`` is prisons x ``flows``."""
        self.add_month(self.month(now), flows, values)

    def add_month(self, month: int, flows: np.ndarray, values: np.ndarray) -> None:
        """Add several flows to month ``month``: ``values`` is prisons x ``flows``.

        Hot path (a few times a simulated day): one fancy-indexed add into the month's row,
        a third of the cost of indexing ``[:, flows]`` of the month's (prisons, flows) table.
        """
        row = self._flows_by_month[month]
        row[self._cells_of(flows)] += values.ravel()

    def _cells_of(self, flows: np.ndarray) -> np.ndarray:
        """Positions in a month's row of ``flows`` for every prison (prisons x flows, flat),
        computed once per array of flows (they are module constants)."""
        cached = self._cells.get(id(flows))
        if cached is None or cached[0] is not flows:
            prisons, width = self.flows.shape[1:]
            cells = (np.arange(prisons)[:, None] * width + np.asarray(flows)[None, :]).ravel()
            cached = self._cells[id(flows)] = (flows, cells)
        return cached[1]

    def add_windows(self, starts: np.ndarray, flows: np.ndarray, values: np.ndarray) -> None:
        """Add a batch of unlock windows' values (windows x prisons x ``flows``) to the month each
        window starts in (a batch is usually one month's windows, but may cross a month's end)."""
        months = np.minimum((np.asarray(starts) / DAYS_PER_MONTH).astype(np.int64), self.months - 1)
        if months[0] == months[-1]:  # windows in time order, all in one month (the usual batch)
            self.add_month(int(months[0]), flows, values.sum(axis=0))
            return
        for month in np.unique(months).tolist():
            self.add_month(month, flows, values[months == month].sum(axis=0))

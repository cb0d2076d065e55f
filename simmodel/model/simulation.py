"""One replication: wire the parts of the model together and run them.

Data flow: config -> estate -> slow lane (population, pathway, buddies, regime as
SimPy processes) and fast lane (care, once per unlock window) -> monthly
accumulators -> :class:`RunResult`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import simpy

from ..config import Config
from .buddies import BuddySchemes
from .care import CareLane
from .estate import Estate, build_estate, staff_awareness
from .flows import N_CLASSES
from .funding import apply_funding, fund_estate, yearly_cost_per_prison
from .invariants import EventChecker, check_window
from .metrics import DAYS_PER_MONTH, Flow, Metrics, Stock
from .need import BAND_LOWER_AGES, NeedModel, age_bands
from .pathway import DETECTED, PACKAGE, REFERRED, WAITING_PACKAGE, Pathway
from .population import LifecycleHooks, People, Population
from .regime import Regime
from .streams import Streams


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that says how many events it has processed and, in debug mode,
    calls ``after_step`` after each one.

    Hot path: SimPy's own ``step`` runs every event (wrapped only while ``after_step`` is set).
    The count is read from SimPy's event ids: each scheduled event takes the next one, and
    those still queued were not processed. (Counting in a wrapper around ``step`` cost about
    0.5 us an event: about 1% of a national run's instructions, 2% of a single prison's.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._after_step: Callable[[], None] | None = None

    @property
    def after_step(self) -> Callable[[], None] | None:
        """The check called after every event (debug mode), or None."""
        return self._after_step

    @after_step.setter
    def after_step(self, check: Callable[[], None] | None) -> None:
        self._after_step = check
        if check is None:
            vars(self).pop("step", None)  # SimPy's own step again
            return
        step = super().step

        def step_and_check() -> None:
            step()
            check()

        self.step = step_and_check  # type: ignore[method-assign]

    @property
    def events_processed(self) -> int:
        """Events processed so far (including the one that stops a run at its horizon)."""
        scheduled = next(self._eid)
        self._eid = itertools.count(scheduled)  # reading the count leaves it where it was
        return scheduled - len(self._queue)


@dataclass
class RunResult:
    """Everything one replication produced."""

    cfg: Config
    replication: int
    estate: Estate
    metrics: Metrics
    end_population: int
    wall_seconds: float
    events_processed: int
    task_hours_resolved: float
    windows_resolved: int


class Simulation:
    """One replication of the model.

    ``cfg`` is the configuration as the user gave it; the parts of the model run with
    the funding option's effects applied (:func:`simmodel.model.funding.apply_funding`).
    """

    def __init__(self, cfg: Config, replication: int | None = None) -> None:
        self.given_cfg = cfg
        self.cfg = cfg = apply_funding(cfg)
        rep = cfg.run.first_replication if replication is None else replication
        self.replication = rep
        self.streams = Streams(cfg.run.seed, rep, deterministic=cfg.run.deterministic)
        self.env = CountingEnvironment()
        estate = build_estate(cfg.estate, self.streams.generator("estate"))
        estate = staff_awareness(estate, cfg.estate.aware_staff_share, self.streams.generator("staff"))
        self.estate = fund_estate(estate, cfg.funding, self.streams.generator("funding"))
        warmup_months = round(cfg.run.warmup_years * 12)
        self.months = warmup_months + max(round(cfg.run.years * 12), 1)
        self.report_start_day = warmup_months * DAYS_PER_MONTH
        self.metrics = Metrics(self.months, self.estate.size, warmup_months)
        self.people = People(int(cfg.population.initial_population * 1.5), self.estate.size)
        self.need = NeedModel(cfg.need)
        env, estate, people, streams, metrics = (
            self.env,
            self.estate,
            self.people,
            self.streams,
            self.metrics,
        )
        self.population = Population(
            env, cfg, estate, people, self.need, streams, metrics, self.report_start_day
        )
        self.pathway = Pathway(env, cfg, estate, people, streams, metrics)
        self.buddies = BuddySchemes(env, cfg, estate, people, streams, metrics)
        self.regime = Regime(env, cfg, estate.size, streams)
        self.care = CareLane(env, cfg, estate, people, self.buddies, self.regime, streams, metrics)
        # lifecycle callbacks: population and pathway call them without knowing who answers
        self.population.hooks = LifecycleHooks(
            on_arrival=self.pathway.on_arrival,
            on_stock=self.pathway.on_stock,
            on_leave=self.pathway.on_leave,
            on_transfer=self.pathway.on_transfer,
            on_need_onset=self.pathway.on_need_onset,
            on_need_change=self.pathway.on_need_change,
            lose_buddy=self.buddies.lose,
        )
        self.pathway.buddies_active = self.buddies.active_count
        self.pathway.buddy_detection_factor = self.buddies.cfg.detection_delay_factor

    def run(self) -> RunResult:
        """Simulate the warm-up and the reported years; return the accumulators."""
        started = time.perf_counter()
        env = self.env
        self.population.create_stock()
        if self.cfg.run.check_invariants:
            env.after_step = EventChecker(env, self.people, self.metrics, self.estate, self.buddies)
            self.care.window_observer = check_window
            self.care.wake_every_window = True  # checked at every window too (same results)
        self.buddies.start()
        self.regime.start()
        env.process(self.population.daily())
        env.process(self.care.run())
        env.process(self._month_ends())
        if self.metrics.first_reported_month == 0:
            self.metrics.start_population = int(self.people.in_prison.sum())
        env.run(until=self.months * DAYS_PER_MONTH)  # events at the horizon itself do not run
        self.care.flush_daily()
        self.snapshot(self.months - 1)
        prison_service, local_authority = yearly_cost_per_prison(self.cfg, self.estate)
        self.metrics.flows[:, :, Flow.COST_FUNDING_PRISON] += prison_service / 12.0
        self.metrics.flows[:, :, Flow.COST_FUNDING_LA] += local_authority / 12.0
        if env.after_step is not None:  # debug mode: check the finished run once more
            env.after_step()
        return RunResult(
            cfg=self.given_cfg,
            replication=self.replication,
            estate=self.estate,
            metrics=self.metrics,
            end_population=int(self.people.in_prison.sum()),
            wall_seconds=time.perf_counter() - started,
            events_processed=env.events_processed,
            task_hours_resolved=self.care.task_hours_resolved,
            windows_resolved=self.care.windows_resolved,
        )

    def _month_ends(self) -> Generator[simpy.Event, None, None]:
        for month in range(self.months - 1):  # the last month-end is taken after the run
            yield self.env.timeout((month + 1) * DAYS_PER_MONTH - self.env.now)
            self.snapshot(month)
            if month + 1 == self.metrics.first_reported_month:
                self.metrics.start_population = int(self.people.in_prison.sum())

    def snapshot(self, month: int) -> None:
        """Record month-end stocks per prison (vectorised over everyone in custody)."""
        people, n = self.people, self.estate.size
        stocks = self.metrics.stocks[month]
        ids = people.in_custody()
        prison = people.prison[ids]
        ages = (self.env.now - people.birth[ids]) / 365.0
        bands = age_bands(ages)
        stocks[:, Stock.POPULATION] = np.bincount(prison, minlength=n)
        n_bands = len(BAND_LOWER_AGES)  # people by (prison, band) and (prison, class): one count each
        cell = (prison * n_bands + bands)[bands >= 0]  # (no one is younger than the first band)
        by_band = np.bincount(cell, minlength=n * n_bands).reshape(n, n_bands)
        stocks[:, Stock.AGE_BAND_0 : Stock.AGE_BAND_0 + n_bands] = by_band
        stocks[:, Stock.AGED_75_PLUS] = np.bincount(prison[ages >= 75.0], minlength=n)
        by_class = np.bincount(prison * N_CLASSES + people.klass[ids], minlength=n * N_CLASSES)
        stocks[:, Stock.REMAND : Stock.REMAND + N_CLASSES] = by_class.reshape(n, N_CLASSES)
        need_ids = people.need_ids.array()
        p = people.prison[need_ids]
        state = people.state[need_ids]

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(p[mask], minlength=n)

        stocks[:, Stock.WITH_NEED] = np.bincount(p, minlength=n)
        stocks[:, Stock.WITH_PERSONAL_NEED] = count(people.p_hours[need_ids] > 0)
        stocks[:, Stock.WITH_DEMENTIA] = count(people.dementia[need_ids])
        dementia = people.dementia[need_ids]
        need_ages = (self.env.now - people.birth[need_ids]) / 365.0
        stocks[:, Stock.WITH_DEMENTIA_50_PLUS] = count(dementia & (need_ages >= 50))
        stocks[:, Stock.WITH_DEMENTIA_70_PLUS] = count(dementia & (need_ages >= 70))
        stocks[:, Stock.DETECTED] = count(state >= DETECTED)
        stocks[:, Stock.WAITING_ASSESSMENT] = count(state == REFERRED)
        stocks[:, Stock.WAITING_PACKAGE] = count(state == WAITING_PACKAGE)
        stocks[:, Stock.WITH_PACKAGE] = count(state == PACKAGE)
        stocks[:, Stock.BUDDIES_ACTIVE] = self.buddies.active_counts()
        stocks[:, Stock.BUDDY_POSTS] = self.buddies.posts


def run_replication(cfg: Config, replication: int | None = None) -> RunResult:
    """Build and run one replication."""
    return Simulation(cfg, replication).run()

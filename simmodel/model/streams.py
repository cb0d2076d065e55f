"""Named random streams from one SeedSequence root, drawn in batches.

Every stream has a fixed spawn key ``(replication, stream_id)``, so:

* the same ``run.seed`` gives the same draws (reproducible);
* adding a stream never shifts the draws of another;
* two scenarios run with the same seed see the same draws for the same purpose
  (common random numbers), so their difference reflects the policy, not noise;
* the streams in :data:`SHARED_STREAMS` (the estate) are the same in every
  replication: replications vary chance, not the prisons being modelled.

Draws come from pre-filled buffers: numpy is ~6x faster per variate in batches
(``../shared/engineering.md``). Never use ``random.seed`` or ``np.random.seed``.
"""

from __future__ import annotations

import numpy as np

#: Stream ids are part of the spawn key: never renumber, only append.
STREAM_IDS: dict[str, int] = {
    "estate": 0,  # which prisons exist, their sizes and schemes
    "people": 1,  # everything drawn for a person when they arrive (age, stay, need, death)
    "arrivals": 2,  # reception times
    "moves": 3,  # transfers and their destinations
    "need": 4,  # worsening of need
    "pathway": 5,  # screening, detection, referral, assessment, packages
    "buddies": 6,  # recruitment pipeline and the day-0 fill of posts
    "regime": 7,  # restricted-regime and lockdown spells
    "care": 8,  # the fast lane: tasks and their allocation in each window
    "stock": 9,  # the day-0 population
    "funding": 10,  # which prisons a funding option gives a new scheme
    "releases": 11,  # parole refusals and referrals to the receiving local authority at release
    "care_due": 12,  # the fast lane: care tasks due in each window
    "willing": 13,  # each person's fixed draw for willingness to be a buddy
    "staff": 14,  # which prisons' wing staff are aware of social care (shared)
    "safeguarding": 15,  # safeguarding incidents around peer care, drawn per window
    "buddy_losses": 16,  # monthly quitting, dismissal and burnout of buddies
}

#: Streams that describe the world rather than chance: every replication uses
#: replication 0's key, so all replications (and every scenario and funding option)
#: simulate the same prisons, and per-prison results can be averaged across replications.
SHARED_STREAMS = frozenset({"estate", "funding", "staff"})

_BATCH = 8192


class Stream:
    """One named generator with batched uniform and exponential draws.

    Hot path: ``uniform()`` and ``exponential()`` are called for every lifecycle
    event, so they hand out pre-drawn floats from a list.
    """

    __slots__ = ("_e", "_ei", "_n", "_ni", "_u", "_ui", "gen")

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self._u: list[float] = []
        self._ui = 0
        self._e: list[float] = []
        self._ei = 0
        self._n: list[float] = []
        self._ni = 0

    def uniform(self) -> float:
        """One U(0, 1) variate."""
        if self._ui >= len(self._u):
            self._u = self.gen.random(_BATCH).tolist()
            self._ui = 0
        value = self._u[self._ui]
        self._ui += 1
        return value

    def exponential(self, mean: float = 1.0) -> float:
        """One exponential variate with the given mean."""
        if self._ei >= len(self._e):
            self._e = self.gen.standard_exponential(_BATCH).tolist()
            self._ei = 0
        value = self._e[self._ei]
        self._ei += 1
        return value * mean

    def normal(self) -> float:
        """One standard normal variate."""
        if self._ni >= len(self._n):
            self._n = self.gen.standard_normal(_BATCH).tolist()
            self._ni = 0
        value = self._n[self._ni]
        self._ni += 1
        return value

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.uniform() < p

    def choice_index(self, cumulative: list[float]) -> int:
        """Index drawn from a cumulative weight list whose last entry is the total."""
        target = self.uniform() * cumulative[-1]
        lo, hi = 0, len(cumulative) - 1
        while lo < hi:  # bisect: lists are short (age bands, prisons)
            mid = (lo + hi) // 2
            if cumulative[mid] > target:
                hi = mid
            else:
                lo = mid + 1
        return lo


class CentralValues:
    """Stands in for ``numpy.random.Generator`` in deterministic mode (``run.deterministic``).

    Every draw is replaced by a central value, so a run can be checked by hand: uniforms
    are 0.5, exponentials and normals their means, counts their rounded means, a choice
    the category where the cumulative probability reaches one half, and a permutation
    leaves the order alone. A yes/no event of probability p happens when p > 0.5.
    """

    def random(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return 0.5 if size is None else np.full(size, 0.5)

    def standard_exponential(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return 1.0 if size is None else np.ones(size)

    def standard_normal(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return 0.0 if size is None else np.zeros(size)

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: int | None = None) -> np.ndarray | float:
        return loc if size is None else np.full(size, float(loc))

    def poisson(self, lam: np.ndarray | float) -> np.ndarray:
        return np.floor(np.asarray(lam, dtype=float) + 0.5).astype(np.int64)

    def binomial(self, n: np.ndarray | int, p: np.ndarray | float) -> np.ndarray:
        return np.floor(np.asarray(n) * np.asarray(p) + 0.5).astype(np.int64)

    def choice(self, a: int, size: int | None = None, p: np.ndarray | None = None) -> np.ndarray | int:
        weights = np.full(a, 1.0 / a) if p is None else np.asarray(p, dtype=float)
        middle = int(np.searchsorted(np.cumsum(weights), 0.5))
        return middle if size is None else np.full(size, middle, dtype=np.int64)

    def permutation(self, x: int | np.ndarray) -> np.ndarray:
        return np.arange(x) if isinstance(x, int | np.integer) else np.asarray(x).copy()

    def integers(self, low: int, high: int, size: int | tuple[int, ...] | None = None) -> np.ndarray | int:
        middle = low + (high - low) // 2
        return middle if size is None else np.full(size, middle, dtype=np.int64)


class Streams:
    """All named streams of one replication (central values only, if ``deterministic``)."""

    def __init__(self, seed: int, replication: int, deterministic: bool = False) -> None:
        self.seed = seed
        self.replication = replication
        self.deterministic = deterministic
        self._streams: dict[str, Stream] = {}

    def generator(self, name: str) -> np.random.Generator:
        """A fresh numpy Generator for stream ``name`` (fixed spawn key)."""
        if self.deterministic:
            return CentralValues()  # type: ignore[return-value]
        replication = 0 if name in SHARED_STREAMS else self.replication
        key = (replication, STREAM_IDS[name])
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def __getitem__(self, name: str) -> Stream:
        if name not in self._streams:
            self._streams[name] = Stream(self.generator(name))
        return self._streams[name]

"""Named random streams: reproducible, separated by replication, independent of each other."""

from __future__ import annotations

import numpy as np
import pytest

from simmodel.model.streams import STREAM_IDS, Streams

N = 10_000  # more than one batch of buffered draws


def draws(streams: Streams, name: str, n: int = N) -> np.ndarray:
    s = streams[name]
    return np.array([s.uniform() for _ in range(n)] + [s.exponential(2.0) for _ in range(n // 10)])


@pytest.mark.parametrize("name", sorted(STREAM_IDS))
def test_same_seed_replication_and_name_give_identical_draws(name: str) -> None:
    assert np.array_equal(draws(Streams(42, 3), name), draws(Streams(42, 3), name))
    a = Streams(42, 3).generator(name).random(100)
    assert np.array_equal(a, Streams(42, 3).generator(name).random(100))


def test_different_replication_gives_different_draws() -> None:
    assert not np.array_equal(draws(Streams(42, 0), "care"), draws(Streams(42, 1), "care"))


def test_different_seed_gives_different_draws() -> None:
    assert not np.array_equal(draws(Streams(42, 0), "care"), draws(Streams(43, 0), "care"))


def test_different_names_give_different_draws() -> None:
    streams = Streams(42, 0)
    assert not np.array_equal(draws(streams, "people"), draws(streams, "arrivals"))


def test_drawing_from_one_stream_does_not_shift_another() -> None:
    reference = draws(Streams(42, 0), "people")
    busy = Streams(42, 0)
    for name in sorted(STREAM_IDS):  # create and consume every other stream first
        if name != "people":
            draws(busy, name, 3 * N)
            busy.generator(name).random(1000)
    assert np.array_equal(draws(busy, "people"), reference)


def test_interleaved_draws_match_separate_draws() -> None:
    together = Streams(7, 0)
    a, b = together["need"], together["buddies"]
    interleaved = [(a.uniform(), b.uniform()) for _ in range(N)]
    alone_a = Streams(7, 0)["need"]
    alone_b = Streams(7, 0)["buddies"]
    assert [x for x, _ in interleaved] == [alone_a.uniform() for _ in range(N)]
    assert [y for _, y in interleaved] == [alone_b.uniform() for _ in range(N)]


def test_stream_ids_are_unique() -> None:
    # ids are part of the spawn key: two names sharing one would share draws
    assert len(set(STREAM_IDS.values())) == len(STREAM_IDS)


def test_uniform_and_choice_index_behave() -> None:
    s = Streams(1, 0)["pathway"]
    u = np.array([s.uniform() for _ in range(N)])
    assert ((u >= 0) & (u < 1)).all()
    picks = [s.choice_index([1.0, 1.0, 3.0]) for _ in range(N)]  # weights 1, 0, 2
    assert set(picks) == {0, 2}

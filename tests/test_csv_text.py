"""The fast CSV writer of the monthly series writes what ``DataFrame.to_csv`` writes."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from conftest import TINY_ESTATE, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

from simmodel.experiments.replications import run_replications
from simmodel.outputs.csv_text import csv_text
from simmodel.outputs.results import timeseries

SETTINGS = settings(deadline=None, derandomize=True, database=None, max_examples=150)

#: Floats as a run writes them (rounded to 3 decimals, whole counts, NaN) and the awkward rest.
_floats = st.one_of(
    st.floats(-1e9, 1e9).map(lambda x: round(x, 3)),
    st.integers(-(10**6), 10**12).map(float),
    st.just(math.nan),
    st.sampled_from([0.0, -0.0, 1e16, 1e-7, 5e-324, math.inf, -math.inf, 0.1 + 0.2, 2.5e15 + 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
)
#: (no "\r": to_csv leaves it unquoted, so its own output does not read back; csv_text quotes it)
_text = st.text(alphabet=st.sampled_from(list('ab ,"\n1.-')), max_size=6)


def _same_as_pandas(frame: pd.DataFrame) -> None:
    ours = csv_text(frame)
    assert csv_text(frame, rows_per_chunk=3) == ours  # built in blocks of rows: the same text
    theirs = frame.to_csv(index=False)
    assert ours == theirs
    read = pd.read_csv(io.StringIO(ours), keep_default_na=False, na_values=[""])
    expected = pd.read_csv(io.StringIO(theirs), keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(read, expected, check_exact=True)


@SETTINGS
@given(
    st.integers(1, 12).flatmap(
        lambda rows: st.tuples(
            st.lists(_floats, min_size=rows, max_size=rows),
            st.lists(_floats, min_size=rows, max_size=rows),
            st.lists(st.integers(-5, 10**9), min_size=rows, max_size=rows),
            st.lists(_text, min_size=rows, max_size=rows),
        )
    )
)
def test_any_table_reads_back_as_to_csv_writes_it(columns: tuple[list, list, list, list]) -> None:
    a, b, k, s = columns
    frame = pd.DataFrame({"month": k, "x": a, "name, with comma": s, 'y "q"': b})
    _same_as_pandas(frame)


def test_a_runs_monthly_series_is_written_byte_for_byte_as_to_csv(tiny_estate_result) -> None:
    one = timeseries(tiny_estate_result)
    ensemble = run_replications(make_config(*TINY_ESTATE, "run.replications=2", "run.jobs=1"))
    several = ensemble.timeseries()  # with 95% interval columns, empty on the prisons' rows
    assert (several.dtypes == np.float64).sum() > 150 and several.isna().any().any()
    for series in (one, several):
        assert csv_text(series) == csv_text(series, rows_per_chunk=7) == series.to_csv(index=False)


def test_an_empty_table_is_its_header() -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)})
    assert csv_text(frame) == frame.to_csv(index=False) == "a,b\n"

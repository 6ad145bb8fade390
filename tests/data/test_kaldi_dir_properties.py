"""Property tests: any valid table written by write_table reads back the same (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from speechseq.data.kaldi_dir import (  # noqa: E402
    Segment,
    c_sorted,
    read_segments,
    read_table,
    write_segments,
    write_table,
)

# Kaldi ids and words: non-empty, printable, no white space (letters, digits, punctuation,
# symbols, any script).
TOKEN = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=10)
# A value: tokens separated by runs of spaces or tabs (kept as they are inside the value).
VALUE = st.builds(
    lambda words, seps: "".join(w + s for w, s in zip(words, seps, strict=False)) + words[-1],
    st.lists(TOKEN, min_size=1, max_size=5),
    st.lists(st.sampled_from([" ", "\t", "  ", " \t "]), min_size=4, max_size=4),
)
SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def round_trip(write, read, table):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table"
        write(path, table)
        return read(path), path.read_bytes()


@SETTINGS
@given(st.dictionaries(TOKEN, VALUE, max_size=20))
def test_any_table_of_ids_and_values_round_trips_in_c_order(table):
    back, raw = round_trip(write_table, lambda p: read_table(p, allow_empty=True), table)
    assert back == table
    assert list(back) == c_sorted(table)  # file order is C (byte) order
    assert raw.count(b"\n") == len(table) and (not table or raw.endswith(b"\n"))


@SETTINGS
@given(st.dictionaries(TOKEN, st.just(""), min_size=1, max_size=5))
def test_ids_without_values_round_trip_when_empty_values_are_allowed(table):
    back, _ = round_trip(write_table, lambda p: read_table(p, allow_empty=True), table)
    assert back == table


@SETTINGS
@given(st.dictionaries(TOKEN, st.lists(TOKEN, min_size=1, max_size=6), max_size=10))
def test_list_values_are_written_space_separated(table):
    back, _ = round_trip(write_table, read_table, table)
    assert {k: v.split(" ") for k, v in back.items()} == table


MS = st.integers(0, 10_000_000)  # a time in milliseconds: segments keep 3 decimals


@SETTINGS
@given(st.dictionaries(TOKEN, st.tuples(TOKEN, MS, MS), max_size=15))
def test_segments_on_a_millisecond_grid_round_trip(raw):
    segs = {u: Segment(r, a / 1000, (a + b) / 1000) for u, (r, a, b) in raw.items()}
    back, _ = round_trip(write_segments, read_segments, segs)
    assert back == segs

"""Batches cut to their newest rows fold to the same telemetry as the whole batches."""

from __future__ import annotations

import random

import polars as pl

from telebench.store.newest import newest_rows
from telebench.store.telemetry import latest_values


def _batch(rng: random.Random, rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ident": [rng.choice("abcd") for _ in range(rows)],
            "timestamp": [float(rng.randint(0, 6)) for _ in range(rows)],  # many ties
            "x": [rng.choice([None, 1, 2, 3]) for _ in range(rows)],
            "s": [rng.choice([None, "p", "q"]) for _ in range(rows)],
            "on": [rng.choice([None, True, False]) for _ in range(rows)],
            "n": [rng.randint(0, 9) for _ in range(rows)],  # never null: the shared window
            "gone": [None] * rows,  # all null: no value to keep
        }
    )


def test_newest_rows_fold_to_the_same_telemetry_as_the_whole_batches() -> None:
    rng = random.Random(7)
    for _ in range(200):
        batches = [_batch(rng, rng.randint(1, 40)) for _ in range(rng.randint(1, 4))]
        whole = latest_values(pl.concat(batches, how="diagonal_relaxed"))
        cut = latest_values(pl.concat([newest_rows(b) for b in batches], how="diagonal_relaxed"))
        assert cut.equals(whole)


def test_one_row_per_device_is_left_of_uniform_messages() -> None:
    batch = pl.DataFrame(
        {"ident": ["a", "b"] * 50, "timestamp": [float(t // 2) for t in range(100)], "v": 1}
    )
    assert newest_rows(batch).rows() == [("a", 49.0, 1), ("b", 49.0, 1)]


def test_a_batch_telemetry_would_refuse_is_left_whole() -> None:
    batch = pl.DataFrame({"ident": ["a", "a"], "timestamp": [1.0, None], "v": [1, 2]})
    assert newest_rows(batch).equals(batch)

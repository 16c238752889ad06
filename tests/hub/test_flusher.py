"""The flusher: batches cut to their newest rows fold alike; WAL segments go a few a pass."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from telebench.hub import Hub
from telebench.hub.flusher import KEEP_SEGMENTS, TRIM_SEGMENTS, newest_rows
from telebench.protocols.samples import sample_messages
from telebench.store.telemetry import latest_values
from tests.hub.conftest import make_config
from tests.hub.device import Device


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


def test_wal_segments_go_a_few_a_pass_once_everything_has_taken_them_in(tmp_path: Path) -> None:
    # No background passes (flush_interval): this test runs each pass itself.
    with Hub(config=make_config(tmp_path / "store", flush_interval=1000.0)) as hub:
        flusher = hub._flusher
        assert flusher is not None
        assert flusher.commit is not None
        wal = flusher.commit.wal
        wal.segment_bytes = 1  # every group-commit round starts a segment
        for message in sample_messages("wialon_ips", 9):
            with Device("wialon_ips", hub.port("wialon_ips"), "7001") as device:
                device.login()
                device.send([message])  # type: ignore[list-item]
        flusher.flush()
        before = len(wal.segments())
        assert before >= 9
        assert flusher.trim_wal() == 0  # telemetry has not taken them in yet
        flusher.apply_telemetry()
        removed = []
        while count := flusher.trim_wal():
            removed.append(count)
        assert all(count <= TRIM_SEGMENTS for count in removed)
        assert sum(removed) == before - KEEP_SEGMENTS
        assert len(wal.segments()) == KEEP_SEGMENTS
        first = wal.segments()[0]
        assert [seq for seq, _ in wal.replay(after=int(first.stem) - 1)]  # the kept ones read

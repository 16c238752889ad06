"""The ingest benchmark end to end, small: a real hub process, real sockets, a real count."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from telebench.bench import fleet
from telebench.bench.ingest import per_second, run


def test_a_small_run_stores_every_acked_record_once(tmp_path: Path) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    result = run(
        tmp_path, devices=20, rate=400.0, records=10, seconds=1.5, warmup=0.5, progress=print
    )
    assert result.connected == 20
    assert result.errors == []
    assert result.acked_records > 0
    assert result.stored_records == result.total_acked
    assert result.duplicates == 0
    assert sum(second.records for second in result.timeline) == result.acked_records
    assert [s.second for s in result.timeline] == list(range(len(result.timeline)))
    assert 0 <= result.driver_stall_ms < 1500
    # the driver's collector settings were for the window only
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)


def test_the_driver_collects_before_the_first_packet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its full collection (100-290 ms over 10,000 trackers) once ran as the window opened:
    # every packet due meanwhile then went out in one burst, inside the measured seconds.
    frozen_at_send: list[int] = []
    send = fleet._Tracker.send

    def watched(self: fleet._Tracker) -> None:
        frozen_at_send.append(gc.get_freeze_count())
        send(self)

    monkeypatch.setattr(fleet._Tracker, "send", watched)
    before = gc.get_freeze_count()
    result = run(tmp_path, devices=5, rate=100.0, records=10, seconds=0.5, warmup=0.3)
    assert result.stored_records == result.total_acked > 0
    assert frozen_at_send
    assert frozen_at_send[0] > before  # the trackers were frozen before the first packet


def test_per_second_percentiles() -> None:
    acks = [(0.01 * i, i / 1000, 10) for i in range(100)] + [(1.2, 5.0, 3)]
    first, second = per_second(acks)
    assert (first.second, first.records, first.p50_ms, first.p99_ms) == (0, 1000, 50.0, 99.0)
    assert (second.second, second.records, second.max_ms) == (1, 3, 5000.0)


def test_acks_read_just_after_the_window_count_in_its_last_second() -> None:
    acks = [(0.5, 0.01, 10), (1.5, 0.02, 10), (2.0004, 0.3, 4)]
    assert [(s.second, s.records) for s in per_second(acks, 2.0)] == [(0, 10), (1, 14)]
    assert [s.second for s in per_second(acks)] == [0, 1, 2]  # without a window: as read

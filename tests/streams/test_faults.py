"""Delivery through receiver faults: 500s, timeouts, downtime, restarts mid-stream."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl

from telebench.receiver import Faults, ReceiverServer
from telebench.streams import Cursor, StreamStore
from tests.streams.helpers import (
    add_stream,
    assert_in_order,
    cursor_of,
    received,
    start_delivery,
    stats_of,
    wait_for,
    write_entries,
)


def test_500s_are_retried_without_loss_or_duplicates(hub, tmp_path: Path) -> None:
    store, wal = hub
    total = write_entries(wal, 20, 25)
    faults = Faults(fail_rate=0.5)
    with ReceiverServer(tmp_path / "out", fsync=False, faults=faults) as rx:
        add_stream(store, rx.url + "/", limit_messages=50)
        delivery = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == total)
        delivery.stop()
        with StreamStore(store) as streams:
            assert streams.stats("s")["failures"] > 0
    df = received(tmp_path / "out")
    assert df["n"].to_list() == list(range(total))


def test_timeouts_give_duplicates_recognised_by_batch_id(hub, tmp_path: Path) -> None:
    store, wal = hub
    total = write_entries(wal, 10, 10)
    faults = Faults(delay=0.3)
    with ReceiverServer(tmp_path / "out", fsync=False, faults=faults) as rx:
        add_stream(store, rx.url + "/", limit_messages=40, timeout=0.1)
        delivery = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["duplicate_batches"] >= 1)
        faults.delay = 0.0
        wait_for(lambda: cursor_of(store) == Cursor(10, 0))
        delivery.stop()
        stats = rx.store.stats() if rx.store else {}
    df = received(tmp_path / "out")
    assert sorted(df["n"].to_list()) == list(range(total))  # stored once each
    assert_in_order(df)
    dups = pl.read_ndjson(tmp_path / "out" / "duplicates.ndjson")
    assert set(dups["batch"]) <= set(df["_batch"])  # every duplicate was a retried batch
    assert stats["idents"]["dev0"]["duplicates"] > 0


def test_receiver_down_then_up(hub, tmp_path: Path) -> None:
    store, wal = hub
    rx = ReceiverServer(tmp_path / "out", fsync=False).start()
    add_stream(store, rx.url + "/", limit_messages=100)
    delivery = start_delivery(store)
    n = write_entries(wal, 5, 10)
    wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == n)
    rx.stop()
    n = write_entries(wal, 5, 10, start=n)
    wait_for(lambda: stats_of(store)["failures"] >= 2)
    assert stats_of(store)["last_error"].startswith("ConnectError")
    rx.start()
    wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == n)
    delivery.stop()
    rx.stop()
    assert received(tmp_path / "out")["n"].to_list() == list(range(n))


def test_restart_mid_stream_resumes_from_cursor(hub, tmp_path: Path) -> None:
    store, wal = hub
    total = write_entries(wal, 40, 10, idents=4)
    faults = Faults(delay=0.02)
    with ReceiverServer(tmp_path / "out", fsync=False, faults=faults) as rx:
        add_stream(store, rx.url + "/", limit_messages=30)
        first = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] >= 60)
        first.stop()  # the hub goes down mid-stream
        assert cursor_of(store) != Cursor(40, 0)
        total = write_entries(wal, 5, 10, idents=4, start=total)
        second = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] >= total)
        second.stop()
    df = received(tmp_path / "out")
    assert df["n"].to_list() == list(range(total))


def test_concurrent_writer_and_stop_while_failing(hub, tmp_path: Path) -> None:
    store, wal = hub
    with ReceiverServer(tmp_path / "out", fsync=False) as rx:
        add_stream(store, rx.url + "/", limit_messages=100)
        delivery = start_delivery(store)
        done = threading.Event()

        def writer() -> None:
            n = 0
            for _ in range(20):
                n = write_entries(wal, 5, 7, start=n)
                delivery.notify(wal.synced_seq)
            done.set()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == 700)
        delivery.stop()
    assert received(tmp_path / "out")["n"].to_list() == list(range(700))

"""Delivery against a real receiver on 127.0.0.1 with a real WAL: order, ids, routing."""

from __future__ import annotations

from pathlib import Path

from telebench.receiver import Faults, ReceiverServer
from telebench.store.logs import LogStore
from telebench.streams import Cursor, StreamConfig, StreamDelivery, StreamStore, WalReader
from tests.streams.helpers import (
    FAST,
    add_stream,
    assert_in_order,
    cursor_of,
    received,
    start_delivery,
    stats_of,
    wait_for,
    write_entries,
)


def test_everything_delivered_in_order_with_batch_ids(hub, tmp_path: Path) -> None:
    store, wal = hub
    total = write_entries(wal, 30, 20)
    with (
        ReceiverServer(tmp_path / "out", fsync=False) as rx,
        LogStore(store / "logs.sqlite") as logs,
    ):
        add_stream(store, rx.url + "/in", limit_messages=70)
        delivery = start_delivery(store, logs)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == total)
        delivery.stop()
        df = received(tmp_path / "out")
        assert df["n"].to_list() == list(range(total))
        assert df["_batch"].n_unique() == -(-total // 70)
        with StreamStore(store) as streams:
            assert df["_batch"][0] == f"s.{streams.uid('s')}-1.0-4.9"
        with StreamStore(store) as streams:
            assert streams.cursor("s") == Cursor(30, 0)
            assert streams.stats("s")["delivered"] == total
        batches = logs.query(event="stream.batch")
        assert batches.height == -(-total // 70)
        assert '"accepted":70' in batches["detail"][0]


def test_per_ident_uri_keeps_order_per_ident(hub, tmp_path: Path) -> None:
    store, wal = hub
    total = write_entries(wal, 20, 15, idents=5)
    with ReceiverServer(tmp_path / "out", fsync=False, faults=Faults(fail_rate=0.2)) as rx:
        add_stream(store, rx.url + "/dev/%ident%", limit_messages=7)
        delivery = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == total)
        wait_for(lambda: cursor_of(store) == Cursor(20, 0))
        delivery.stop()
        with StreamStore(store) as streams:
            assert streams.ident_cursors("s") == {}
    df = received(tmp_path / "out")
    assert sorted(df["n"].to_list()) == list(range(total))
    assert_in_order(df)
    assert (df["_path"] == "/dev/" + df["ident"]).all()


def test_queue_ttl_drops_old_messages_with_a_log(hub, tmp_path: Path) -> None:
    store, wal = hub
    old = write_entries(wal, 3, 10, arrived=1000.0)
    total = write_entries(wal, 3, 10, start=old)
    with (
        ReceiverServer(tmp_path / "out", fsync=False) as rx,
        LogStore(store / "logs.sqlite") as logs,
    ):
        add_stream(store, rx.url + "/", queue_ttl=3600)
        delivery = start_delivery(store, logs)
        wait_for(lambda: cursor_of(store) == Cursor(6, 0))
        delivery.stop()
        assert logs.query(event="stream.dropped")["detail"].to_list() == [
            '{"stream":"s","count":30}'
        ]
    assert received(tmp_path / "out")["n"].to_list() == list(range(old, total))
    assert stats_of(store)["dropped"] == old


def test_subscriptions_and_filter(hub, tmp_path: Path) -> None:
    store, wal = hub
    write_entries(wal, 4, 25)
    with ReceiverServer(tmp_path / "out", fsync=False) as rx:
        add_stream(store, rx.url + "/", subscriptions=("channel:2",), filter="position.speed >= 25")
        delivery = start_delivery(store)
        wait_for(lambda: cursor_of(store) == Cursor(4, 0))
        delivery.stop()
    got = received(tmp_path / "out")["n"].to_list()
    assert got == [n for n in range(100) if n % 2 == 1 and n % 50 >= 25]


def test_new_and_reenabled_streams_start_at_the_head(hub, tmp_path: Path) -> None:
    store, wal = hub
    n = write_entries(wal, 3, 5)
    with ReceiverServer(tmp_path / "out", fsync=False) as rx:
        with StreamStore(store) as streams:
            streams.add(StreamConfig("s", rx.url + "/"))
        delivery = StreamDelivery(store, WalReader(store / "wal"), **FAST).start()
        wait_for(lambda: cursor_of(store) == Cursor(3, 0))
        n = write_entries(wal, 1, 5, start=n)
        delivery.notify(4)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == 5)
        with StreamStore(store) as streams:
            streams.disable("s")
            wait_for(lambda: not delivery._workers)
            assert streams.min_cursor() is None
            n = write_entries(wal, 2, 5, start=n)  # not buffered: the stream is disabled
            streams.enable("s")
        wait_for(lambda: cursor_of(store) == Cursor(6, 0))
        write_entries(wal, 1, 5, start=n)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == 10)
        delivery.stop()
    assert received(tmp_path / "out")["n"].to_list() == [15, 16, 17, 18, 19, 30, 31, 32, 33, 34]

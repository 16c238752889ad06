"""LogStore: buffering, flush, filters and wildcards, retention, persistence (real files)."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from telebench.errors import ConfigError, StoreError
from telebench.store.logs import EVENTS, SCHEMA_VERSION, LogStore


@pytest.fixture
def log(tmp_path: Path) -> Iterator[LogStore]:
    with LogStore(tmp_path / "logs.sqlite") as store:
        yield store


@pytest.fixture
def session(log: LogStore) -> LogStore:
    """One device session on channel 1 and an unknown device on channel 2."""
    log.add("connection.opened", channel=1, protocol="teltonika", peer="10.0.0.1:4000", time=1.0)
    log.add("device.identified", channel=1, protocol="teltonika", ident="356", time=2.0)
    log.add("parse.error", channel=1, ident="356", offset=9, data_hex="00 [99]", time=3.0)
    log.add("command.sent", channel=1, ident="356", detail="id=1 getinfo", time=4.0)
    log.add("connection.opened", channel=2, protocol="gt06", peer="10.0.0.2:5000", time=4.0)
    log.add("unknown.device", channel=2, ident="868", time=5.0)
    log.add("connection.closed", channel=1, ident="356", reason="idle timeout", time=6.0)
    return log


_EVENT_NAME = re.compile(
    r'"((?:connection|device|parse|packet|command|plugin|unknown|flush|stream)\.[a-z_]+)"'
)
_NOT_EVENTS = {"device.id"}  # a message parameter, not an event


def test_every_event_the_hub_logs_is_documented() -> None:
    package = Path(__file__).resolve().parents[2] / "telebench"
    sources = [*package.glob("hub/*.py"), *package.glob("streams/*.py")]
    found = {name for path in sources for name in _EVENT_NAME.findall(path.read_text("utf-8"))}
    logged = found - _NOT_EVENTS
    assert {"connection.opened", "connection.closed", "parse.error", "stream.batch"} <= logged
    assert logged <= set(EVENTS), sorted(logged - set(EVENTS))
    assert all(isinstance(text, str) and text for text in EVENTS.values())
    assert "idle timeout" in EVENTS["connection.closed"]


def test_add_buffers_until_flush(log: LogStore) -> None:
    log.add("connection.opened", time=1.0)
    log.add("my.plugin.event", detail="plugins may log their own names", time=2.0)
    assert log.pending == 2
    with sqlite3.connect(log.path) as other:
        assert other.execute("SELECT count(*) FROM logs").fetchone() == (0,)
        assert log.flush() == 2
        assert other.execute("SELECT count(*) FROM logs").fetchone() == (2,)
    other.close()
    assert log.pending == 0
    assert log.flush() == 0


def test_query_returns_all_columns_oldest_first(session: LogStore) -> None:
    session.add("late.but.old", time=0.5)  # still buffered: query flushes first
    df = session.query()
    assert df.columns == [
        "time",
        "event",
        "channel",
        "protocol",
        "ident",
        "peer",
        "reason",
        "offset",
        "data_hex",
        "detail",
    ]
    assert df.schema["time"] == pl.Float64
    assert df.schema["offset"] == pl.Int64
    assert df["time"].to_list() == [0.5, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0]
    # Equal times keep the order they were logged in.
    assert df["event"][4:6].to_list() == ["command.sent", "connection.opened"]
    err = df.filter(pl.col("event") == "parse.error").row(0, named=True)
    assert (err["offset"], err["data_hex"], err["peer"]) == (9, "00 [99]", None)


def test_query_filters(session: LogStore) -> None:
    assert session.query(ident="356")["event"].to_list() == [
        "device.identified",
        "parse.error",
        "command.sent",
        "connection.closed",
    ]
    assert session.query(channel=2)["event"].to_list() == ["connection.opened", "unknown.device"]
    assert session.query(event="connection.*")["time"].to_list() == [1.0, 4.0, 6.0]
    assert session.query(event="*.opened", channel=1).height == 1
    assert session.query(event="connection.?losed")["reason"].to_list() == ["idle timeout"]
    assert session.query(event="connection").height == 0
    assert session.query(since=3.0, until=4.0)["time"].to_list() == [3.0, 4.0, 4.0]
    assert session.query(ident="nobody").height == 0
    assert session.query(ident="nobody").columns == session.query().columns


def test_query_limit_keeps_newest_in_time_order(session: LogStore) -> None:
    assert session.query(limit=3)["time"].to_list() == [4.0, 5.0, 6.0]
    assert session.query(ident="356", limit=2)["event"].to_list() == [
        "command.sent",
        "connection.closed",
    ]
    assert session.query(limit=0).height == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="limit"):
            session.query(limit=bad)  # type: ignore[arg-type]


def test_wildcard_bracket_is_literal(log: LogStore) -> None:
    log.add("x[1]", time=1.0)
    log.add("x1", time=2.0)
    assert log.query(event="x[1]")["event"].to_list() == ["x[1]"]


def test_add_defaults_time_to_now(log: LogStore) -> None:
    before = time.time()
    log.add("connection.opened")
    (stamp,) = log.query()["time"].to_list()
    assert before <= stamp <= time.time()


@pytest.mark.parametrize(
    ("event", "kwargs", "match"),
    [
        ("", {}, "event must be a non-empty string"),
        (None, {}, "event must be a non-empty string"),
        ("a", {"channel": "1"}, "channel must be int"),
        ("a", {"offset": 1.5}, "offset must be int"),
        ("a", {"ident": 356}, "ident must be str"),
        ("a", {"time": "now"}, "time must be float"),
    ],
)
def test_add_rejects_bad_values(
    log: LogStore, event: object, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        log.add(event, **kwargs)  # type: ignore[arg-type]
    assert log.pending == 0


def test_prune(session: LogStore) -> None:
    session.add("buffered", time=2.5)
    assert session.prune(before=4.0) == 4
    assert session.query()["time"].to_list() == [4.0, 4.0, 5.0, 6.0]
    assert session.prune(before=0.0) == 0


def test_close_flushes_and_reopen_persists(tmp_path: Path) -> None:
    path = tmp_path / "logs.sqlite"
    store = LogStore(path)
    store.add("device.refused", ident="356", reason="bad password", time=1.0)
    store.close()
    with LogStore(str(path)) as again:
        df = again.query()
        assert df.select("event", "ident", "reason").rows() == [
            ("device.refused", "356", "bad password")
        ]
    with pytest.raises(StoreError, match="logs"):
        store.query()


def test_concurrent_adds_and_flushes_lose_nothing(log: LogStore) -> None:
    def worker(n: int) -> None:
        for i in range(500):
            log.add("command.sent", channel=n, offset=i, time=float(i))
            if i % 100 == 0:
                log.flush()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    df = log.query()
    assert df.height == 2000
    assert df.group_by("channel").len().sort("channel")["len"].to_list() == [500] * 4


def test_failed_flush_keeps_events(tmp_path: Path) -> None:
    path = tmp_path / "logs.sqlite"
    store = LogStore(path)
    store.add("a", time=1.0)
    blocker = sqlite3.connect(path, isolation_level=None, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock
    store._conn.execute("PRAGMA busy_timeout=0")
    with pytest.raises(StoreError, match="locked"):
        store.flush()
    assert store.pending == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.flush() == 1
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "logs.sqlite"
    LogStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match="newer than supported"):
        LogStore(path)
    with pytest.raises(StoreError, match="cannot open"):
        LogStore(tmp_path / "missing" / "logs.sqlite")

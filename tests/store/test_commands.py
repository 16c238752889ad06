"""CommandQueue: lifecycle, in-order answers, retries, failure, expiry, persistence."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from telebench.errors import ConfigError, StoreError
from telebench.store.commands import SCHEMA_VERSION, STATUSES, Command, CommandQueue

DEV = ("356307042441013", "teltonika")


@pytest.fixture
def q(tmp_path: Path) -> Iterator[CommandQueue]:
    with CommandQueue(tmp_path / "commands.sqlite") as queue:
        yield queue


def test_enqueue_fills_every_field(q: CommandQueue) -> None:
    cmd = q.enqueue(*DEV, "getinfo", ttl=600, max_attempts=2, now=1000.0)
    assert cmd == Command(
        id=1,
        ident=DEV[0],
        protocol="teltonika",
        text="getinfo",
        created=1000.0,
        expires=1600.0,
        attempts=0,
        max_attempts=2,
        status="queued",
        response=None,
        responded=None,
        sent=None,
    )
    assert q.get(1) == cmd
    assert q.get(2) is None
    defaults = q.enqueue(*DEV, "getver", now=0.0)
    assert (defaults.id, defaults.expires, defaults.max_attempts) == (2, 86400.0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cmd.status = "done"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("", "gt06", "x"), {}, "ident"),
        (("1", "", "x"), {}, "protocol"),
        (("1", "gt06", ""), {}, "text"),
        (("1", "gt06", None), {}, "text"),
        (("1", "gt06", "x"), {"ttl": 0}, "ttl"),
        (("1", "gt06", "x"), {"ttl": -5.0}, "ttl"),
        (("1", "gt06", "x"), {"ttl": float("inf")}, "ttl"),
        (("1", "gt06", "x"), {"ttl": float("nan")}, "ttl"),
        (("1", "gt06", "x"), {"max_attempts": 0}, "max_attempts"),
        (("1", "gt06", "x"), {"max_attempts": 1.5}, "max_attempts"),
        (("1", "gt06", "x"), {"now": None}, "now"),
    ],
)
def test_enqueue_rejects_bad_values(
    q: CommandQueue, args: tuple[object, ...], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        q.enqueue(*args, **({"now": 0.0} | kwargs))  # type: ignore[arg-type]
    assert q.results().height == 0


def test_due_is_per_device_unexpired_oldest_first(q: CommandQueue) -> None:
    a = q.enqueue(*DEV, "a", ttl=100, now=0.0)
    q.enqueue(DEV[0], "gt06", "other protocol", now=0.0)
    q.enqueue("999", "teltonika", "other device", now=0.0)
    b = q.enqueue(*DEV, "b", ttl=10, now=5.0)
    c = q.enqueue(*DEV, "c", ttl=100, now=6.0)
    assert q.due(*DEV, now=7.0) == [a, b, c]
    assert [x.text for x in q.due(*DEV, now=15.0)] == ["a", "c"]  # b expires at 15
    q.mark_sent(a.id, now=8.0)
    assert [x.text for x in q.due(*DEV, now=9.0)] == ["b", "c"]


def test_full_lifecycle_answers_in_order(q: CommandQueue) -> None:
    first = q.enqueue(*DEV, "getinfo", now=0.0)
    second = q.enqueue(*DEV, "getver", now=0.0)
    assert q.complete(*DEV, "unsolicited", now=1.0) is None
    sent = q.mark_sent(first.id, now=2.0)
    assert (sent.status, sent.attempts, sent.sent) == ("sent", 1, 2.0)
    q.mark_sent(second.id, now=2.5)
    done = q.complete(*DEV, "INFO:1", now=3.0)
    assert done is not None
    assert (done.id, done.status, done.response, done.responded) == (1, "done", "INFO:1", 3.0)
    done2 = q.complete(*DEV, "VER:2", now=4.0)
    assert done2 is not None
    assert (done2.id, done2.response) == (2, "VER:2")
    assert q.complete(*DEV, "extra", now=5.0) is None
    assert q.due(*DEV, now=6.0) == []


def test_mark_sent_needs_a_queued_command(q: CommandQueue) -> None:
    cmd = q.enqueue(*DEV, "x", now=0.0)
    q.mark_sent(cmd.id, now=1.0)
    with pytest.raises(StoreError, match="command 1 is 'sent'"):
        q.mark_sent(cmd.id, now=2.0)
    with pytest.raises(StoreError, match="no command with id 77"):
        q.mark_sent(77, now=2.0)
    assert q.get(cmd.id) == dataclasses.replace(cmd, status="sent", attempts=1, sent=1.0)


def test_retries_then_failure(q: CommandQueue) -> None:
    cmd = q.enqueue(*DEV, "setdigout 1", max_attempts=2, now=0.0)
    other = q.enqueue("999", "teltonika", "getinfo", now=0.0)
    q.mark_sent(other.id, now=0.5)
    # First attempt: the device disconnects without answering.
    q.mark_sent(cmd.id, now=1.0)
    assert q.requeue_unanswered(*DEV) == 1
    again = q.get(cmd.id)
    assert again is not None
    assert (again.status, again.attempts) == ("queued", 1)
    assert q.due(*DEV, now=2.0) == [again]
    # Second (last) attempt also unanswered: failed, not requeued.
    q.mark_sent(cmd.id, now=3.0)
    assert q.requeue_unanswered(*DEV) == 0
    failed = q.get(cmd.id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.sent) == ("failed", 2, 3.0)
    assert q.due(*DEV, now=4.0) == []
    assert q.complete(*DEV, "too late", now=5.0) is None
    # The other device's sent command was untouched.
    assert q.get(other.id).status == "sent"  # type: ignore[union-attr]
    assert q.requeue_unanswered(*DEV) == 0


def test_expire(q: CommandQueue) -> None:
    queued = q.enqueue(*DEV, "q", ttl=10, now=0.0)
    sent = q.enqueue(*DEV, "s", ttl=10, now=0.0)
    q.mark_sent(sent.id, now=1.0)
    done = q.enqueue(*DEV, "d", ttl=10, now=0.0)
    q.mark_sent(done.id, now=1.0)
    q.complete(*DEV, "ok", now=2.0)  # answers "s", the oldest sent
    q.complete(*DEV, "ok", now=2.0)  # answers "d"
    later = q.enqueue(*DEV, "later", ttl=100, now=0.0)
    assert q.expire(now=9.9) == []
    expired = q.expire(now=10.0)
    assert [(c.id, c.status) for c in expired] == [(queued.id, "expired")]
    assert q.expire(now=10.0) == []
    resent = q.enqueue(*DEV, "r", ttl=5, now=20.0)
    q.mark_sent(resent.id, now=21.0)
    assert [c.text for c in q.expire(now=1000.0)] == ["later", "r"]
    assert q.get(later.id).status == "expired"  # type: ignore[union-attr]
    assert q.results(status="done")["text"].to_list() == ["s", "d"]
    # An expired command is neither due nor answerable.
    assert q.due(*DEV, now=0.0) == []
    assert q.complete(*DEV, "late answer", now=1001.0) is None


def test_cancel_only_queued(q: CommandQueue) -> None:
    a = q.enqueue(*DEV, "a", now=0.0)
    b = q.enqueue(*DEV, "b", now=0.0)
    q.mark_sent(b.id, now=1.0)
    assert q.cancel(a.id) is True
    assert q.get(a.id) is None
    assert q.cancel(a.id) is False
    assert q.cancel(b.id) is False
    assert q.get(b.id) is not None


def test_results_frame(q: CommandQueue) -> None:
    q.enqueue(*DEV, "a", now=0.0)
    q.enqueue("999", "gt06", "b", now=0.0)
    q.mark_sent(1, now=1.0)
    q.complete(*DEV, "A", now=2.0)
    df = q.results()
    assert df.schema == pl.Schema(
        {
            "id": pl.Int64,
            "ident": pl.String,
            "protocol": pl.String,
            "text": pl.String,
            "created": pl.Float64,
            "expires": pl.Float64,
            "attempts": pl.Int64,
            "max_attempts": pl.Int64,
            "status": pl.String,
            "response": pl.String,
            "responded": pl.Float64,
            "sent": pl.Float64,
        }
    )
    assert df.select("id", "status", "response").rows() == [(1, "done", "A"), (2, "queued", None)]
    assert q.results("999")["text"].to_list() == ["b"]
    assert q.results(DEV[0], status="queued").height == 0
    assert q.results(status="failed").height == 0
    assert set(STATUSES) == {"queued", "sent", "done", "expired", "failed"}
    with pytest.raises(ConfigError, match="status 'finished' unknown"):
        q.results(status="finished")


def test_reopen_persists_and_ids_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "commands.sqlite"
    with CommandQueue(path) as queue:
        a = queue.enqueue(*DEV, "a", now=0.0)
        b = queue.enqueue(*DEV, "b", now=0.0)
        queue.mark_sent(a.id, now=1.0)
        assert queue.cancel(b.id)
    with CommandQueue(str(path)) as queue:
        assert queue.requeue_unanswered(*DEV) == 1
        assert [c.text for c in queue.due(*DEV, now=2.0)] == ["a"]
        assert queue.enqueue(*DEV, "c", now=0.0).id == 3


def test_schema_and_closed_errors(tmp_path: Path) -> None:
    path = tmp_path / "commands.sqlite"
    CommandQueue(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match="newer than supported"):
        CommandQueue(path)
    with pytest.raises(StoreError, match="cannot open"):
        CommandQueue(tmp_path / "missing" / "commands.sqlite")
    queue = CommandQueue(tmp_path / "other.sqlite")
    queue.close()
    with pytest.raises(StoreError, match="command queue"):
        queue.enqueue(*DEV, "x", now=0.0)
    with pytest.raises(StoreError, match="command queue"):
        queue.get(1)

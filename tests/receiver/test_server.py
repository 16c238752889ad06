"""The receiver over real HTTP on 127.0.0.1: validation, token, durability, duplicates."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from telebench.receiver import Faults, ReceiverServer
from telebench.receiver.storage import ReceivedStore, read_batches

BAD = [
    (b"{", "invalid JSON"),
    (b'"text"', "expected a JSON array of messages or one message object"),
    (b"[1]", "message 0 is not a JSON object"),
    (b'[{"ident": "a", "timestamp": 1}, {"timestamp": 2}]', "message 1 has no string 'ident'"),
    (b'[{"ident": "", "timestamp": 2}]', "message 0 has no string 'ident'"),
    (b'[{"ident": "a"}]', "message 0 has no numeric 'timestamp'"),
    (b'[{"ident": "a", "timestamp": true}]', "message 0 has no numeric 'timestamp'"),
    (b'[{"ident": "a", "timestamp": "5"}]', "message 0 has no numeric 'timestamp'"),
]


@pytest.fixture(scope="module")
def http():
    # One client: httpx.post() builds a client (and an SSL context) per call, which is slow.
    with httpx.Client() as client:
        yield client


@pytest.fixture
def server(tmp_path: Path):
    with ReceiverServer(tmp_path / "out", fsync=False) as rx:
        yield rx


@pytest.mark.parametrize(("body", "reason"), BAD)
def test_bad_payloads_get_400_with_reason_and_store_nothing(
    server: ReceiverServer, body: bytes, reason: str, http: httpx.Client
) -> None:
    r = http.post(server.url + "/in", content=body, headers={"X-Telebench-Batch": "b1"})
    assert r.status_code == 400
    assert r.json()["error"].startswith(reason)
    assert http.get(server.url + "/stats").json()["messages"] == 0
    assert (server.out_dir / "received.ndjson").read_bytes() == b""
    # The batch id of a refused batch is not remembered: a good retry is stored.
    good = http.post(server.url + "/in", content=b'{"ident": "a", "timestamp": 1}',
                      headers={"X-Telebench-Batch": "b1"})  # fmt: skip
    assert good.json() == {"stored": 1, "duplicate": False}


def test_token_is_required_when_set(tmp_path: Path, http: httpx.Client) -> None:
    with ReceiverServer(tmp_path, token="s3cret", fsync=False) as rx:
        body = b'[{"ident": "a", "timestamp": 1}]'
        assert http.post(rx.url + "/", content=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert http.post(rx.url + "/", content=body, headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert http.post(rx.url + "/", content=body, headers=right).status_code == 200
        assert http.get(rx.url + "/stats").json()["messages"] == 1


def test_stop_does_not_depend_on_the_wake_up_pipe(
    tmp_path: Path,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A CI run once found waitress's wake-up pipe broken (EPIPE) at stop(): the receiver
    # must stop anyway, and say what it saw.
    rx = ReceiverServer(tmp_path, fsync=False).start()
    assert http.get(rx.url + "/stats").status_code == 200
    assert rx._serving is not None
    trigger = rx._serving.server.trigger

    def broken(thunk: object = None) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(trigger, "pull_trigger", broken)
    rx.stop()
    assert "wake-up pipe is broken" in caplog.text
    assert trigger._closed  # the serving thread closed it, with the listener
    with pytest.raises(httpx.ConnectError):
        http.get(rx.url + "/stats")


def test_duplicates_stats_and_restart(tmp_path: Path, http: httpx.Client) -> None:
    rx = ReceiverServer(tmp_path, fsync=True).start()
    body = b'[{"ident": "a", "timestamp": 5}, {"ident": "b", "timestamp": 1}, ' \
           b'{"ident": "a", "timestamp": 3}]'  # fmt: skip
    for _ in range(2):
        r = http.post(rx.url + "/x/a", content=body, headers={"X-Telebench-Batch": "s-1"})
        assert r.status_code == 200
    assert r.json() == {"stored": 0, "duplicate": True}
    expected = {
        "a": {"count": 2, "duplicates": 2, "first": 3.0, "last": 5.0},
        "b": {"count": 1, "duplicates": 1, "first": 1.0, "last": 1.0},
    }
    assert http.get(rx.url + "/stats").json()["idents"] == expected
    port = rx.port
    rx.stop()
    with pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{port}/stats")
    rx.start()  # same port, stats and batch ids read back from disk
    assert rx.port == port
    r = http.post(rx.url + "/", content=body, headers={"X-Telebench-Batch": "s-1"})
    assert r.json()["duplicate"] is True
    stats = http.get(rx.url + "/stats").json()
    rx.stop()
    assert stats["idents"]["a"] == {"count": 2, "duplicates": 4, "first": 3.0, "last": 5.0}
    assert stats["batches"] == 1
    assert stats["duplicate_batches"] == 2
    rows = read_batches(tmp_path / "received.ndjson")
    assert rows.select("ident", "timestamp", "_batch", "_path").rows() == [
        ("a", 5.0, "s-1", "/x/a"), ("b", 1.0, "s-1", "/x/a"), ("a", 3.0, "s-1", "/x/a"),
    ]  # fmt: skip


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    store = ReceivedStore(tmp_path, fsync=False)
    store.add([{"ident": "a", "timestamp": 1}], batch="one")
    store.close()
    with (tmp_path / "received.ndjson").open("ab") as fh:
        fh.write(b'{"batch":"two","received":1,"path":"/","messages":[{"ide')
    store = ReceivedStore(tmp_path, fsync=False)
    assert store.stats()["messages"] == 1
    assert store.add([{"ident": "a", "timestamp": 2}], batch="two") is True
    store.close()
    assert read_batches(tmp_path / "received.ndjson")["_batch"].to_list() == ["one", "two"]


def test_a_batch_still_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    received = tmp_path / "received.ndjson"
    received.write_bytes(b'{"batch":"one","received":1,"path":"/","messages":[{"ide')
    assert read_batches(received).height == 0  # a live receiver is writing its first line
    store = ReceivedStore(tmp_path, fsync=False)  # (opening cuts the torn tail)
    store.add([{"ident": "a", "timestamp": 1}], batch="one")
    with received.open("ab") as fh:  # the next batch, half written
        fh.write(b'{"batch":"two","received":1,"path":"/","messages":[{"ide')
    assert read_batches(received)["_batch"].to_list() == ["one"]
    store.close()


def test_fault_injection(tmp_path: Path, http: httpx.Client) -> None:
    faults = Faults(fail_rate=1.0)
    with ReceiverServer(tmp_path, faults=faults, fsync=False) as rx:
        body = b'{"ident": "a", "timestamp": 1}'
        r = http.post(rx.url + "/", content=body)
        assert (r.status_code, r.json()["error"]) == (500, "injected failure")
        faults.fail_rate, faults.delay = 0.0, 0.2
        with pytest.raises(httpx.ReadTimeout):
            http.post(rx.url + "/", content=body, timeout=0.05)
        faults.delay = 0.0
        # The timed-out request was stored before its (late) answer.
        assert http.get(rx.url + "/stats").json()["messages"] == 1


def test_down_for_restarts(tmp_path: Path, http: httpx.Client) -> None:
    rx = ReceiverServer(tmp_path, fsync=False).start()
    thread = rx.down_for(0.2)
    with pytest.raises(httpx.ConnectError):
        http.get(rx.url + "/stats")
    thread.join()
    assert http.get(rx.url + "/stats").status_code == 200
    rx.stop()


def test_a_stop_during_an_outage_cancels_the_restart(tmp_path: Path, http: httpx.Client) -> None:
    rx = ReceiverServer(tmp_path, fsync=False).start()
    thread = rx.down_for(0.2)
    rx.stop()  # Ctrl-C while down: it must stay down
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        http.get(rx.url + "/stats")

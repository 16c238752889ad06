"""Decoder processes over real sockets: records decoded off the loop, failures, fallback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from telebench.errors import ConfigError
from telebench.hub import Hub
from telebench.hub import offload as offload_module
from telebench.hub.durable import GroupCommit, Ticket
from telebench.hub.offload import Offload
from telebench.hub.pipeline import Origin, RecentMessages
from telebench.protocols.events import RawRecords, RecordsAck, SendRecords
from telebench.protocols.samples import sample_messages
from telebench.protocols.teltonika import build_avl_packet
from telebench.protocols.teltonika.framing import build_tcp_frame
from telebench.store.wal import WriteAheadLog
from tests.hub.conftest import make_config
from tests.hub.device import Device

IDENT = "352093086403655"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub with one decoder process (the default is none where the C path is built)."""
    with Hub(config=make_config(tmp_path / "store", decoder_processes=1)) as running:
        yield running


def _offload(hub: Hub) -> Offload:
    offload = hub._core.offload if hub._core is not None else None
    assert offload is not None
    return offload


def _pid(offload: Offload) -> int:
    [worker] = offload._workers
    assert worker._transport is not None
    return worker._transport.get_pid()


def _stored(hub: Hub, ident: str) -> pl.DataFrame:
    return hub.messages(f"ident={ident}").collect()


def _acked(events: list[object]) -> int:
    [ack] = events
    assert isinstance(ack, RecordsAck)
    return ack.count


def test_records_go_through_a_decoder_process_and_read_back_exactly(tmp_path: Path) -> None:
    sent = sample_messages("teltonika", 12)
    with Hub(config=make_config(tmp_path / "store", decoder_processes=1)) as hub:
        assert _offload(hub).running == 1
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            for begin in range(0, 12, 4):
                assert _acked(device.send(sent[begin : begin + 4])) == 4
        stored = _stored(hub, IDENT)
    with Hub(config=make_config(tmp_path / "inline", decoder_processes=0)) as inline:
        assert inline._core is not None
        assert inline._core.offload is None
        with Device("teltonika", inline.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            for begin in range(0, 12, 4):
                assert _acked(device.send(sent[begin : begin + 4])) == 4
        expected = _stored(inline, IDENT)
    # The same rows, every parameter, whichever side decoded them.
    assert stored.height == 12
    hub_fields = ["server.timestamp", "peer"]
    assert stored.drop(hub_fields).equals(expected.drop(hub_fields))


def test_records_that_do_not_decode_are_refused_and_logged_with_their_bytes(hub: Hub) -> None:
    # CRC and both record counts are right, so the loop defers it; the record is 1 byte.
    broken = build_tcp_frame(bytes.fromhex("8e01ff01"))
    with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
        device.login()
        device.send_raw(broken)
        assert device.sock.recv(16) == bytes(4)  # 0 accepted: the device keeps its records
        assert _offload(hub)._workers[0].answered == 1  # the process had it first
        assert _acked(device.send(sample_messages("teltonika", 2))) == 2  # still connected
    rejected = hub.logs(event="packet.rejected")
    assert rejected.height == 1
    assert rejected["offset"][0] >= 8  # a stream offset inside the AVL data
    assert "ff" in rejected["data_hex"][0]
    assert _stored(hub, IDENT).height == 2


def test_without_decoder_processes_the_loop_refuses_and_logs_what_does_not_decode(
    tmp_path: Path,
) -> None:
    broken = build_tcp_frame(bytes.fromhex("8e01ff01"))
    with Hub(config=make_config(tmp_path / "inline", decoder_processes=0)) as hub:
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            device.send_raw(broken)
            assert device.sock.recv(16) == bytes(4)  # 0 accepted: the device keeps its records
            assert _acked(device.send(sample_messages("teltonika", 2))) == 2  # still connected
        rejected = hub.logs(event="packet.rejected")
        assert rejected.height == 1
        assert rejected["offset"][0] >= 8
        assert "ff" in rejected["data_hex"][0]
        assert _stored(hub, IDENT).height == 2


def test_without_decoder_processes_a_decoder_bug_closes_the_connection_unacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> tuple[bytes, int]:
        raise RuntimeError("a bug")

    sent = sample_messages("teltonika", 2)
    with Hub(config=make_config(tmp_path / "inline", decoder_processes=0)) as hub:
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            monkeypatch.setattr(offload_module, "prepare_raw", broken)
            device.send_raw(build_avl_packet(0x8E, sent))
            assert device.sock.recv(16) == b""  # closed, no ack: the device keeps its records
        monkeypatch.undo()
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            assert _acked(device.send(sent)) == 2  # resent once the bug is gone
        closed = hub.logs(event="connection.closed")["reason"].to_list()
        assert "store failure: decoding failed: RuntimeError: a bug" in closed
        assert _stored(hub, IDENT).height == 2
    assert "decoding a teltonika packet failed" in caplog.text


def test_without_decoder_processes_resends_are_stored_once(tmp_path: Path) -> None:
    sent = sample_messages("teltonika", 5)
    with Hub(config=make_config(tmp_path / "inline", decoder_processes=0)) as hub:
        for _ in range(3):
            with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
                device.login()
                assert _acked(device.send(sent)) == 5
        assert _stored(hub, IDENT).height == 5


def test_resends_through_the_decoder_process_are_stored_once(hub: Hub) -> None:
    sent = sample_messages("teltonika", 5)
    for _ in range(3):  # the ack was "lost": the device reconnects and resends
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            assert _acked(device.send(sent)) == 5
    assert _stored(hub, IDENT).height == 5


def test_a_killed_decoder_process_loses_nothing_and_the_loop_decodes_instead(
    hub: Hub,
) -> None:
    offload = _offload(hub)
    sent = sample_messages("teltonika", 9)
    with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
        device.login()
        assert _acked(device.send(sent[:3])) == 3
        os.kill(_pid(offload), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while offload.running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert offload.running == 0
        assert _acked(device.send(sent[3:6])) == 3
        assert _acked(device.send(sent[6:])) == 3
    assert _stored(hub, IDENT).height == 9
    stopped = hub.logs(event="decoder.stopped")
    assert stopped.height == 1
    assert "exit code -9" in stopped["reason"][0]


def test_a_hung_decoder_process_is_killed_and_its_packets_decoded_by_the_loop(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offload_module, "ANSWER_TIMEOUT", 1.0)
    offload = _offload(hub)
    sent = sample_messages("teltonika", 6)
    with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
        device.login()
        assert _acked(device.send(sent[:3])) == 3
        # Idle for longer than the timeout: that alone is no reason to kill it.
        time.sleep(1.5)
        assert offload.running == 1
        os.kill(_pid(offload), signal.SIGSTOP)  # alive, answering nothing
        started = time.monotonic()
        assert _acked(device.send(sent[3:])) == 3
        assert 1.0 <= time.monotonic() - started < 8
        assert offload.running == 0
    assert _stored(hub, IDENT)["timestamp"].to_list() == [m["timestamp"] for m in sent]
    [reason] = hub.logs(event="decoder.stopped")["reason"].to_list()
    assert "no answer for 1 s, killed (exit code -9)" in reason


def test_devices_are_shared_among_processes_each_in_order(tmp_path: Path) -> None:
    processes = 2
    idents = [f"35209308640{n:04d}" for n in range(6)]
    sent = sample_messages("teltonika", 8)
    config = make_config(tmp_path / "store", decoder_processes=processes)
    with Hub(config=config) as hub:
        assert _offload(hub).running == processes
        devices = [Device("teltonika", hub.port("teltonika"), i, codec=0x8E) for i in idents]
        for device in devices:
            device.login()
        for begin in range(0, 8, 2):  # every device has a packet in flight at once
            for device in devices:
                device.send_raw(
                    device.session.send(SendRecords(messages=tuple(sent[begin : begin + 2])))
                )
            for device in devices:
                assert _acked(device.read()) == 2
        for device in devices:
            device.close()
        # Each process decoded the packets of its devices.
        assert [worker.answered > 0 for worker in _offload(hub)._workers] == [True] * processes
        for ident in idents:
            assert _stored(hub, ident)["timestamp"].to_list() == [m["timestamp"] for m in sent]


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_a_decoder_process_that_cannot_start_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    monkeypatch.setattr(sys, "executable", executable)
    hub = Hub(config=make_config(tmp_path / "store", decoder_processes=1))
    with pytest.raises(ConfigError, match=r"decoder_processes: decoder process 0 did not start"):
        hub.start()
    monkeypatch.undo()
    with hub:  # nothing was left half-open: the same store starts once the cause is gone
        assert _offload(hub).running == 1


def test_what_a_decoder_process_prints_on_stderr_stays_out_of_its_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # PYTHONVERBOSE makes the process's interpreter trace each import on stderr, from its
    # first line to its last: read as answers, that text would stall every ack.
    monkeypatch.setenv("PYTHONVERBOSE", "1")

    async def main() -> Ticket:
        loop = asyncio.get_running_loop()
        commit = GroupCommit(WriteAheadLog(tmp_path), loop)
        offload = Offload(commit, loop, RecentMessages(), processes=1)
        try:
            await asyncio.wait_for(offload.start([]), timeout=60)
            packet = build_avl_packet(0x8E, [{"timestamp": 1.0}, {"timestamp": 2.0}])
            event = RawRecords(
                protocol="teltonika", data=packet[8:-4], offset=8, ident=IDENT, count=2
            )
            done: asyncio.Future[Ticket] = loop.create_future()
            offload.submit(event, Origin(IDENT, None, 1, "teltonika", "peer"), 3.0, done.set_result)
            return await asyncio.wait_for(done, timeout=60)
        finally:
            await offload.close()
            commit.close()
            commit.wal.close()

    ticket = asyncio.run(main())
    assert (ticket.error, ticket.seq) == (None, 1)
    # The trace went to the hub's own stderr, where a traceback would be read.
    assert "import 'telebench.hub.pipeline'" in capfd.readouterr().err

"""kill -9 the hub under load, restart it: every acked record is stored exactly once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from telebench.hub import Hub
from telebench.protocols import Role, Session, new_session
from telebench.protocols.events import Event, Login, LoginAnswer, RecordsAck, SendRecords
from telebench.receiver import ReceiverServer
from telebench.receiver.verify import verify
from telebench.streams import StreamConfig, StreamStore
from tests.hub.conftest import make_config

DEVICES = 8
RECORDS_PER_PACKET = 5


def _start_hub(store: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "telebench",
            "hub",
            "--store",
            str(store),
            "--port",
            "teltonika=0",
            "--port",
            "wialon_ips=0",
            "--port",
            "gt06=0",
            "--port",
            "osmand=0",
            "--port",
            "teltonika/udp=0",
            "--port",
            "wialon_ips/udp=0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.match(r"listening\s+teltonika\s+tcp\s+\S+:(\d+)", line)
        if found:
            return proc, int(found.group(1))
    raise AssertionError(f"hub did not start (exit {proc.wait()})")


def _records(device: int, packet: int) -> tuple[dict[str, object], ...]:
    base = 1_700_000_000 + packet * RECORDS_PER_PACKET
    return tuple(
        {
            "timestamp": float(base + i),
            "position.latitude": 54.0 + device / 100,
            "position.longitude": 25.0,
            "position.speed": float(i),
            "position.satellites": 7,
            "position.altitude": 100.0,
            "position.direction": 90.0,
        }
        for i in range(RECORDS_PER_PACKET)
    )


def _drive(port: int, device: int, acked: list[float], stop: threading.Event) -> None:
    ident = f"35209308600{device:04d}"
    session = new_session("teltonika", Role.CLIENT, options={"codec": 0x8E})
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    with sock:
        _exchange(sock, session, ident, device, acked, stop)


def _exchange(
    sock: socket.socket,
    session: Session,
    ident: str,
    device: int,
    acked: list[float],
    stop: threading.Event,
) -> None:
    """Login, then one packet in flight: a record counts as acked only once its ack is in.

    The login answer is awaited first, or the first packet's ack would be taken for the
    second's, and a packet still being written would be counted as acked.
    """
    try:
        sock.sendall(session.send(Login(ident=ident)))
        if not _await(sock, session, LoginAnswer):
            return
        packet = 0
        while not stop.is_set():
            records = _records(device, packet)
            sock.sendall(session.send(SendRecords(messages=records)))
            if not _await(sock, session, RecordsAck):
                return
            acked.extend(float(r["timestamp"]) for r in records)  # type: ignore[arg-type]
            packet += 1
    except OSError:
        return  # the hub died mid-exchange: whatever was not acked may be lost


def _await(sock: socket.socket, session: Session, kind: type[Event]) -> bool:
    """Read until the session yields a ``kind`` event; ``False`` if the hub closed."""
    while True:
        data = sock.recv(4096)
        if not data:
            return False
        session.receive_data(data)
        if any(isinstance(event, kind) for event in session.events()):
            return True


def test_kill_9_loses_no_acked_record_and_stores_none_twice(tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc, port = _start_hub(store)
    acked: list[list[float]] = [[] for _ in range(DEVICES)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_drive, args=(port, d, acked[d], stop)) for d in range(DEVICES)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    stop.set()
    for thread in threads:
        thread.join()
    total = sum(len(a) for a in acked)
    assert total > 500, f"too little load before the kill ({total} acked records)"

    with Hub(config=make_config(store)) as hub:
        # A device resends its last packets, as one does when an ack was lost.
        device = new_session("teltonika", Role.CLIENT, options={"codec": 0x8E})
        with socket.create_connection(("127.0.0.1", hub.port("teltonika")), timeout=5) as sock:
            sock.sendall(device.send(Login(ident="352093086000000")))
            sock.recv(16)
            sock.sendall(device.send(SendRecords(messages=_records(0, 0))))
            sock.recv(16)
        frame = hub.messages().collect()
        telemetry = {
            f"35209308600{i:04d}": hub.telemetry(f"35209308600{i:04d}") for i in range(DEVICES)
        }
    for index in range(DEVICES):
        ident = f"35209308600{index:04d}"
        stamps = frame.filter(frame["ident"] == ident)["timestamp"].to_list()
        assert len(stamps) == len(set(stamps)), f"{ident}: stored twice"
        missing = set(acked[index]) - set(stamps)
        assert not missing, f"{ident}: {len(missing)} acked records lost"
        if stamps:  # telemetry caught up with everything stored, crash or not
            assert telemetry[ident]["timestamp"][0] == max(stamps)


def test_kill_9_mid_stream_then_restart_delivers_everything(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ReceiverServer(tmp_path / "received") as receiver:
        with StreamStore(store) as streams:  # configured before the hub starts
            streams.add(StreamConfig("crm", f"{receiver.url}/in", limit_messages=50), start=0)
        proc, port = _start_hub(store)
        acked: list[list[float]] = [[] for _ in range(DEVICES)]
        stop = threading.Event()
        threads = [
            threading.Thread(target=_drive, args=(port, d, acked[d], stop)) for d in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: batches in flight, cursor behind
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        stop.set()
        for thread in threads:
            thread.join()
        with Hub(config=make_config(store)):
            deadline = time.monotonic() + 20
            while True:
                report = verify(store, tmp_path / "received")
                if int(report["missing"].sum()) == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    assert sum(len(a) for a in acked) > 100
    assert int(report["missing"].sum()) == 0, report
    assert int(report["out_of_order"].sum()) == 0, report
    assert int(report["extra"].sum()) == 0, report

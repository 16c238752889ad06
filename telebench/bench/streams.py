"""Benchmark: end-to-end stream delivery rate into a real receiver on loopback.

A WAL of ``messages`` flespi-style messages (entries of ``per_entry``) is written first;
then a receiver process (waitress, fsync on) is started, a stream with batches of
``batch`` messages is added from seq 0, and the delivery engine runs until the receiver
has stored everything. Goal: >= 20,000 messages/s on a 2-core machine.

Examples
--------
>>> result = run(messages=2_000, batch=500, fsync=False)
>>> result["delivered"], result["batches"]
(2000, 4)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from telebench.store.wal import WriteAheadLog
from telebench.streams.config import StreamConfig
from telebench.streams.delivery import StreamDelivery
from telebench.streams.store import StreamStore
from telebench.streams.walreader import WalReader

__all__ = ["run"]

_SERVE = (
    "import sys; from telebench.receiver.server import ReceiverServer; "
    "s = ReceiverServer(sys.argv[1], port=int(sys.argv[2]), fsync=sys.argv[3] == '1').start(); "
    "sys.stdin.read(); s.stop()"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_wal(folder: Path, messages: int, per_entry: int) -> None:
    now = time.time()
    with WriteAheadLog(folder, fsync=False) as wal:
        for first in range(0, messages, per_entry):
            lines = [
                orjson.dumps(
                    {
                        "ident": f"35630704244{n % 500:04d}",
                        "timestamp": now - 60 + n * 1e-3,
                        "server.timestamp": now,
                        "channel.id": 1,
                        "protocol.name": "teltonika",
                        "peer": "127.0.0.1:5000",
                        "device.id": 1 + n % 500,
                        "position.latitude": 42.5 + n * 1e-6,
                        "position.longitude": 1.5,
                        "position.speed": float(n % 90),
                        "engine.ignition.status": True,
                    }
                )
                for n in range(first, min(first + per_entry, messages))
            ]
            wal.append(b"\n".join(lines) + b"\n")


def _stored(client: httpx.Client, url: str) -> int:
    try:
        return int(client.get(url + "/stats").json()["messages"])
    except httpx.HTTPError:
        return -1


def run(
    *, messages: int = 200_000, batch: int = 1000, per_entry: int = 50, fsync: bool = True
) -> dict[str, Any]:
    """Deliver ``messages`` through one stream; returns rate and counts."""
    with tempfile.TemporaryDirectory() as tmp:
        store, out = Path(tmp) / "hub", Path(tmp) / "received"
        _write_wal(store / "wal", messages, per_entry)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-c", _SERVE, str(out), str(port), "1" if fsync else "0"]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE)
        try:
            with httpx.Client() as client:
                while _stored(client, url) < 0:
                    time.sleep(0.05)
                with StreamStore(store) as streams:
                    streams.add(StreamConfig("bench", url + "/in", limit_messages=batch), start=0)
                started, cpu = time.perf_counter(), time.process_time()
                rx_cpu = psutil.Process(proc.pid).cpu_times()
                delivery = StreamDelivery(store, WalReader(store / "wal"), reload_interval=0.05)
                delivery.start()
                with StreamStore(store) as streams:
                    # delivered counts 200s, each answered after the receiver's fsync.
                    while streams.stats("bench")["delivered"] < messages:
                        time.sleep(0.01)
                elapsed = time.perf_counter() - started
                delivery_cpu = time.process_time() - cpu
                after = psutil.Process(proc.pid).cpu_times()
                receiver_cpu = after.user + after.system - rx_cpu.user - rx_cpu.system
                delivery.stop()
                with StreamStore(store) as streams:
                    stats = streams.stats("bench")
                stored = _stored(client, url)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)
    return {
        "delivered": stats["delivered"],
        "stored_by_receiver": stored,
        "batches": stats["batches"],
        "seconds": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed),
        "fsync": fsync,
        # CPU seconds each side spent: a load-independent view on a busy machine.
        "delivery_cpu_s": round(delivery_cpu, 3),
        "receiver_cpu_s": round(receiver_cpu, 3),
    }


if __name__ == "__main__":  # pragma: no cover
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())

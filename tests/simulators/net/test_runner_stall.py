"""At max speed a hub that stops acking ends the run with an error instead of a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from simulators.net.options import NetOptions
from simulators.net.runner import run_load
from simulators.net.synthetic import SyntheticFleet
from telebench.errors import ConfigError, SimulationError


@pytest.fixture
def silent_hub() -> Iterator[int]:
    """Accepts Teltonika logins (answers 01), then reads records and never acks them."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            answered = False
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                if not answered:
                    conn.sendall(b"\x01")
                    answered = True

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_hub_that_never_acks_stops_a_max_speed_run(silent_hub: int) -> None:
    fleet = SyntheticFleet(2, mix=(("teltonika", "tcp"),), period=10.0)
    started = time.monotonic()
    with pytest.raises(SimulationError, match=r"no ack from the hub for 1\.5 s while"):
        run_load(
            fleet, ports={("teltonika", "tcp"): silent_hub}, speedup="max", duration=3600.0,
            options=NetOptions(stall_timeout=1.5, ack_timeout=30.0),
        )  # fmt: skip
    assert time.monotonic() - started < 15


def test_stall_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="stall_timeout"):
        NetOptions(stall_timeout=0)

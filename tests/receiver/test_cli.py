"""``telebench receiver`` as a process: serves, goes down for a while, stops on SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_MAIN = "from telebench.cli.receiver import receiver_group; receiver_group()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(client: httpx.Client, url: str) -> int | None:
    try:
        return client.post(url, content=b'{"ident": "a", "timestamp": 1}').status_code
    except httpx.TransportError:
        return None


def _cycled(seen: list[int | None]) -> bool:
    """Seen up, then down, then up again."""
    if 200 not in seen or seen[-1] != 200:
        return False
    return None in seen[seen.index(200) :]


def test_serves_goes_down_and_stops(tmp_path: Path) -> None:
    port = _free_port()
    args = ["--port", str(port), "--out", str(tmp_path), "--token", "t",
            "--down-after", "0.6", "--down-for", "0.6"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", _MAIN, *args], stdout=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/in"
    seen: list[int | None] = []
    try:
        with httpx.Client(headers={"Authorization": "Bearer t"}, timeout=2) as client:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _cycled(seen):
                seen.append(_status(client, url))
                time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # fail without leaving a receiver running after the suite
            proc.communicate()
            raise
    # up (200s), then down (connection refused), then up again
    first_ok = seen.index(200)
    assert None in seen[first_ok:]
    assert seen[-1] == 200
    assert b"down for 0.6 s" in out
    assert b"up again" in out
    assert proc.returncode == 0

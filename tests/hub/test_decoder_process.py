"""The decoder process's own plumbing: the room its answers have to wait for the hub."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import pytest

from telebench.hub.decoder_process import OUTPUT_ROOM, widen


def test_a_socket_pair_gets_the_room_asked_for() -> None:
    a, b = socket.socketpair()
    with a, b:
        before = a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        room = widen(a.fileno(), 1 << 20)
        assert room == a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert room >= 1 << 20 > before


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_a_pipe_grows_as_far_as_the_system_allows() -> None:
    read, write = os.pipe()
    try:
        assert fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) < 1 << 20
        room = widen(write, OUTPUT_ROOM)
        assert room == fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
        assert room >= 1 << 20  # 4 MiB where allowed, else the 1 MiB anyone may ask for
    finally:
        os.close(read)
        os.close(write)


def test_anything_else_is_left_alone(tmp_path: Path) -> None:
    with (tmp_path / "answers").open("wb") as file:
        assert widen(file.fileno()) == 0
        file.write(b"still writable")
    assert (tmp_path / "answers").read_bytes() == b"still writable"

"""The decoder process: the same bytes as the loop's path, and the room for its answers."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.hub import pipeline
from telebench.hub.decoder_process import OUTPUT_ROOM, handle, widen
from telebench.hub.pipeline import Origin, RecentMessages, prepare
from telebench.protocols import decode_records
from telebench.protocols.events import RawRecords
from telebench.protocols.samples import sample_messages
from telebench.protocols.teltonika import build_avl_packet

PACKET = build_avl_packet(0x8E, sample_messages("teltonika", 3))


@given(
    ident=st.text(min_size=1, max_size=20),
    device_ids=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=2),
    channel_id=st.integers(0, 2**31),
    peers=st.lists(st.text(max_size=40), min_size=2),
    now=st.floats(0, 1e12, allow_nan=False),
)
def test_the_process_writes_the_very_bytes_the_loop_writes(
    ident: str, device_ids: list[int | None], channel_id: int, peers: list[str], now: float
) -> None:
    # The duplicate window hashes these bytes: a resend decoded on the other side must match.
    # The same ident from several connections, each seen twice (its hub fields cached).
    pipeline._tails.clear()
    data = PACKET[8:-4]
    connections = list(zip(device_ids, peers, strict=False))
    for device_id, peer in connections * 2:
        origin = (ident, device_id, channel_id, "teltonika", peer)
        _, payload = handle((1, "teltonika", data, 8, ident, origin, now), RecentMessages())
        event = RawRecords(protocol="teltonika", data=data, offset=8, ident=ident, count=3)
        expected, count = prepare(decode_records(event), Origin(*origin), now, RecentMessages())
        assert (payload, count) == (expected, 3)


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

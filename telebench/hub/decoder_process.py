"""The decoder process: decodes deferred records and prepares their NDJSON off the loop.

The hub's event loop is one thread holding the GIL for everything it does; decoding
Teltonika records and encoding their JSON was about half of its work. So Teltonika TCP
sessions leave AVL data undecoded (``RawRecords``), and the hub hands it to this process,
run as ``python -m telebench.hub.decoder_process WINDOW`` (see :mod:`~telebench.hub.offload`).
It runs the very functions the loop would (:func:`~telebench.protocols.decode_records`,
:func:`~telebench.hub.pipeline.prepare`, with its own duplicate window of ``WINDOW``
records) and sends back the NDJSON payload of each packet; the hub writes it to the WAL
and acks the device after the fsync, as for any other packet. It touches no file.

Its stdin and stdout carry frames, each a 4-byte big-endian length and a pickle::

    hub -> process   (WARM, [payload, ...])    durable NDJSON, to warm the duplicate window
                     (READY, None)              answered (READY, records warmed) once warm
                     (BATCH, [(ticket, protocol, data, offset, ident, origin, now), ...])
    process -> hub   (DONE, [(ticket, payload), ...])   payload ``None``: did not decode

A packet that does not decode comes back as ``None``: the hub decodes it again itself to
log the error with its offset and excerpt and refuse the packet. The process ends at EOF
on stdin, after answering everything it read. Its stderr is the hub's, so its warnings
and tracebacks show in the hub's log, and never among its answers.

Examples
--------
>>> import io
>>> stream = io.BytesIO()
>>> write_frame(stream, (READY, None))
>>> _ = stream.seek(0)
>>> read_frame(stream), read_frame(stream)
((2, None), None)
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import pickle
import signal
import socket
import struct
import sys
from typing import IO, Any, Final

from telebench.errors import RemoteProtocolError
from telebench.hub.pipeline import OriginFields, RecentMessages, prepare_raw, warm

__all__ = [
    "BATCH",
    "DONE",
    "LENGTH",
    "OUTPUT_ROOM",
    "READY",
    "WARM",
    "frame",
    "handle",
    "main",
    "read_frame",
    "unpickle",
    "widen",
    "write_frame",
]

WARM: Final = 1
READY: Final = 2
BATCH: Final = 3
DONE: Final = 4

#: The length prefix of a frame.
LENGTH: Final = struct.Struct(">I")
#: Bytes of answers that may wait in the kernel for the hub to read them.
OUTPUT_ROOM: Final = 4 << 20

#: ``(ticket, protocol, data, offset, ident, origin fields, now)``: one deferred packet.
Item = tuple[int, str, bytes, int, "str | None", OriginFields, float]
#: ``(ticket, payload or None)``: what became of it (an empty payload: all were resends).
Result = tuple[int, "bytes | None"]


def frame(message: object) -> bytes:
    """``message`` as one frame: its pickle's length, then the pickle.

    >>> unpickle(frame((READY, 3))[LENGTH.size :])
    (2, 3)
    """
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(body)) + body


def unpickle(body: bytes) -> Any:
    """The message of a frame's body (the hub's own pipe: nobody else writes to it)."""
    return pickle.loads(body)


def write_frame(stream: IO[bytes], message: object) -> None:
    """Write one frame to ``stream``."""
    stream.write(frame(message))


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame from ``stream``; ``None`` at end of stream."""
    header = stream.read(LENGTH.size)
    if len(header) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        return None
    return unpickle(body)


def widen(fd: int, room: int = OUTPUT_ROOM) -> int:
    """Let ``room`` bytes written to ``fd`` wait for its reader; returns the room it has.

    The hub reads answers between its other work. With the default room (208 KiB in a
    socket, 64 KiB in a pipe) this process waited on its writes for 0.9 s of each minute
    at 50,000 records/s, decoding nothing meanwhile. uvloop joins a subprocess with socket
    pairs, asyncio with pipes: both grow (a pipe up to what the system allows); anything
    else is left alone (0).

    >>> a, b = socket.socketpair()
    >>> widen(a.fileno(), 1 << 20) >= 1 << 20
    True
    >>> a.close(); b.close()
    """
    copy = os.dup(fd)
    try:
        sock = socket.socket(fileno=copy)
    except OSError:  # not a socket
        os.close(copy)
        return _widen_pipe(fd, room)
    with sock:  # closes the copy only
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, room)
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))


def _widen_pipe(fd: int, room: int) -> int:
    if not hasattr(fcntl, "F_SETPIPE_SZ"):  # not Linux
        return 0
    for size in (room, 1 << 20):  # 1 MiB: the default limit for unprivileged processes
        try:
            return int(fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size))
        except OSError:  # not a pipe, or over the limit
            continue
    return 0


def handle(item: Item, recent: RecentMessages) -> Result:
    """Decode and prepare one deferred packet (what the loop would do inline).

    Teltonika records go from bytes to JSON in C where it covers them
    (:func:`~telebench.hub.pipeline.prepare_raw`), with the same bytes out.

    >>> from telebench.protocols.teltonika import build_avl_packet
    >>> packet = build_avl_packet(0x8E, [{"timestamp": 1.0}])
    >>> origin = ("1", 7, 1, "teltonika", "127.0.0.1:5")
    >>> ticket, payload = handle((9, "teltonika", packet[8:-4], 8, "1", origin, 2.0),
    ...                          RecentMessages())
    >>> ticket, payload.count(b"\\n"), payload[:30]
    (9, 1, b'{"ident":"1","timestamp":1.0,"')
    >>> handle((10, "teltonika", b"\\x08\\x01\\x00", 8, "1", origin, 2.0), RecentMessages())
    (10, None)
    """
    ticket, protocol, data, offset, ident, origin, now = item
    try:  # the session checked the record count
        payload, _ = prepare_raw(protocol, data, offset, ident, origin, now, recent)
    except RemoteProtocolError:
        return ticket, None
    return ticket, payload


def main(argv: list[str] | None = None) -> int:
    """Serve the hub on stdin/stdout until stdin ends (see the module doc)."""
    args = sys.argv[1:] if argv is None else argv
    # As in ``telebench hub``: records are acyclic dicts freed by reference counting, and
    # the window's sets (a million ints where its C tables are not built) must not be
    # walked by full collections.
    gc.set_threshold(50_000, 20, 100)
    # Ctrl-C reaches the whole process group; the hub ends this process (EOF on stdin)
    # once it has stopped sending, so that nothing it sent goes unanswered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    recent = RecentMessages(int(args[0]) if args else 1_000_000)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    widen(out.fileno())
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    warmed = 0
    while (message := read_frame(inp)) is not None:
        kind, body = message
        if kind == WARM:
            warmed += warm(recent, body)
        elif kind == READY:
            gc.freeze()
            write_frame(out, (READY, warmed))
            out.flush()
        elif kind == BATCH:
            write_frame(out, (DONE, [handle(item, recent) for item in body]))
            out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Codec throughput: records per second decoded and encoded, per protocol, on one core.

Decoding runs the hub's path: a server-role session fed a captured stream (login and
packets), every ``Records`` event answered with ``Accept``. Encoding runs the simulator's
path: a client-role session sending packets and reading the hub's acks. The streams are
captured from a client/server pair, so the benchmark measures real protocol bytes.

Examples
--------
>>> results = run(seconds=0.05, cases=["gt06 0x22"])
>>> results[0].name, results[0].decode_rate > 0
('gt06 0x22', True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from telebench.model import Message
from telebench.protocols import Role, Session, decode, new_session
from telebench.protocols.events import (
    Accept,
    Heartbeat,
    Identified,
    Login,
    Records,
    SendRecords,
)
from telebench.protocols.samples import sample_messages

__all__ = ["CASES", "Case", "Result", "run"]

IDENT: Final = "356307042441013"


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark case: a protocol, its client options and the packet shape."""

    name: str
    protocol: str
    records_per_packet: int
    goal: float  # records/s decoded, from the issue; 0 = no goal
    client_options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """Measured rates of one case."""

    name: str
    records_per_packet: int
    bytes_per_record: float
    decode_rate: float
    encode_rate: float
    goal: float


CASES: Final[tuple[Case, ...]] = (
    Case("teltonika 8E", "teltonika", 20, 150_000, (("codec", 0x8E),)),
    Case("teltonika 8", "teltonika", 20, 0, (("codec", 0x08),)),
    Case("wialon_ips 2.0 #D#", "wialon_ips", 1, 100_000, (("version", "2.0"),)),
    Case("wialon_ips 2.0 #B#", "wialon_ips", 20, 0, (("version", "2.0"),)),
    Case("gt06 0x22", "gt06", 1, 100_000, (("location_protocol", 0x22),)),
)

_ANSWERABLE = (Identified, Records, Heartbeat)


def _answer_all(server: Session) -> bytes:
    out = bytearray()
    for event in server.events():
        if isinstance(event, _ANSWERABLE):
            out += server.send(Accept())
    return bytes(out)


def _capture(case: Case, packets: int) -> tuple[bytes, int, Session, list[Message], bytes]:
    """A stream of ``packets`` packets, plus a logged-in client and one packet's ack."""
    client = new_session(case.protocol, Role.CLIENT, options=dict(case.client_options))
    server = new_session(case.protocol)
    stream = bytearray()

    def exchange(out: bytes) -> bytes:
        stream.extend(out)
        server.receive_data(out)
        reply = _answer_all(server)
        client.receive_data(reply)
        list(client.events())
        return reply

    exchange(client.send(Login(ident=IDENT)))
    # Every record differs (time, position, speed, counters), as on a real connection.
    per = case.records_per_packet
    messages = sample_messages(case.protocol, packets * per)
    ack = b""
    for start in range(0, len(messages), per):
        ack = exchange(client.send(SendRecords(messages=tuple(messages[start : start + per]))))
    return bytes(stream), len(messages), client, messages[:per], ack


def _rate(work: Callable[[], int], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += work()
    return done / elapsed


def _measure(case: Case, seconds: float) -> Result:
    stream, records, client, batch, ack = _capture(
        case, packets=max(1, 2000 // case.records_per_packet)
    )

    def decode_stream() -> int:
        server = new_session(case.protocol)
        server.receive_data(stream)
        count = 0
        for event in server.events():
            if isinstance(event, Records):
                count += len(event.messages)
            if isinstance(event, _ANSWERABLE):
                server.send(Accept())
        assert count == records, f"{case.name}: decoded {count} of {records} records"
        return count

    packet = SendRecords(messages=tuple(batch))

    def encode_packets() -> int:
        for _ in range(50):
            client.send(packet)
            client.receive_data(ack)
            for _event in client.events():
                pass
        return 50 * case.records_per_packet

    return Result(
        name=case.name,
        records_per_packet=case.records_per_packet,
        bytes_per_record=len(stream) / records,
        decode_rate=_rate(decode_stream, seconds),
        encode_rate=_rate(encode_packets, seconds),
        goal=case.goal,
    )


def _osmand(seconds: float) -> Result:
    request = (
        b"GET /?id=356307042441013&timestamp=1767225600&lat=54.6872&lon=25.2797&speed=21.6"
        b"&bearing=45&altitude=120&accuracy=5&batt=87 HTTP/1.1"
    )

    def work() -> int:
        for _ in range(100):
            decode("osmand", request)
        return 100

    return Result("osmand query", 1, float(len(request)), _rate(work, seconds), 0.0, 0.0)


def run(seconds: float = 2.0, cases: Sequence[str] | None = None) -> list[Result]:
    """Measure every case (or the named ones) for about ``seconds`` each way."""
    chosen = [c for c in CASES if cases is None or c.name in cases]
    results = [_measure(case, seconds) for case in chosen]
    if cases is None or "osmand query" in cases:
        results.append(_osmand(seconds))
    return results

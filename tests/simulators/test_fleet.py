"""The fleet: identities, time order, determinism, and records every encoder accepts."""

from __future__ import annotations

import math
from collections import Counter

import orjson
import pytest

from simulators.fleet import Fleet, imei
from simulators.scenario import Scenario
from telebench.model import Message
from telebench.protocols import Role, decode, new_session
from telebench.protocols.events import Login, SendRecords

HOURS = 6
Run = tuple[Fleet, list[tuple[int, Message]]]
VARIANTS: dict[str, list[tuple[str, dict[str, object]]]] = {
    "teltonika": [("tcp", {"codec": 0x08}), ("tcp", {"codec": 0x8E}), ("udp", {"codec": 0x8E})],
    "wialon_ips": [("tcp", {"version": "2.0"}), ("tcp", {"version": "1.1"}), ("udp", {})],
    "gt06": [("tcp", {})],
}


def scenario(devices: int = 14) -> Scenario:
    return Scenario(devices=devices, duration=HOURS * 3600, variants=VARIANTS)


@pytest.fixture(scope="module")
def run() -> Run:
    fleet = Fleet(scenario(), seed=5)
    return fleet, fleet.advance(fleet.start_time + HOURS * 3600)


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_vehicle_specs_follow_the_mix_and_conventions(run: Run) -> None:
    fleet, _ = run
    protos = Counter(v.protocol for v in fleet.vehicles)
    assert protos == {"teltonika": 7, "wialon_ips": 4, "gt06": 3}
    idents = [v.ident for v in fleet.vehicles]
    assert len(set(idents)) == len(idents)
    assert all(len(i) == 15 and i.isdigit() and luhn_ok(i) for i in idents)
    assert [v.index for v in fleet.vehicles] == list(range(14))
    tel = [(v.transport, v.options) for v in fleet.vehicles if v.protocol == "teltonika"]
    assert ("udp", {"codec": 0x8E}) in tel
    assert ("tcp", {"codec": 0x08}) in tel
    assert imei("35630704", 244101) == "356307042441013"


def test_messages_are_time_ordered_and_flespi_named(run: Run) -> None:
    fleet, out = run
    assert len(out) > 14 * HOURS * 5
    stamps = [float(m["timestamp"]) for _, m in out]  # type: ignore[arg-type]
    assert stamps == sorted(stamps)
    assert fleet.start_time <= stamps[0]
    assert stamps[-1] <= fleet.start_time + HOURS * 3600
    for index, msg in out[:500]:
        assert msg["ident"] == fleet.vehicles[index].ident
        assert isinstance(msg["timestamp"], float)
        assert float(msg["timestamp"]).is_integer()
    keys = set().union(*(m.keys() for _, m in out))
    assert {"position.latitude", "engine.ignition.status", "vehicle.mileage"} <= keys
    assert fleet.advance(fleet.start_time + HOURS * 3600) == []


def test_same_seed_same_bytes_in_any_chunking() -> None:
    whole = Fleet(scenario(6), seed=9)
    one = orjson.dumps(whole.advance(whole.start_time + 3 * 3600))
    chunked = Fleet(scenario(6), seed=9)
    parts = []
    for k in range(1, 3 * 60 + 1):
        parts.extend(chunked.advance(chunked.start_time + k * 60))
    assert orjson.dumps(parts) == one
    other = Fleet(scenario(6), seed=10)
    assert orjson.dumps(other.advance(other.start_time + 3 * 3600)) != one


def test_nothing_after_until_and_no_repeats() -> None:
    fleet = Fleet(scenario(4), seed=2)
    seen: set[tuple[int, float]] = set()
    for until in (100.5, 1000.0, 3600.0, 3600.0, 7300.0):
        for index, msg in fleet.advance(fleet.start_time + until):
            stamp = msg["timestamp"]
            assert isinstance(stamp, float)
            assert stamp <= fleet.start_time + until
            key = (index, stamp)
            assert key not in seen
            seen.add(key)


def _same(sent: object, got: object) -> bool:
    if isinstance(sent, float) and isinstance(got, float):
        return math.isclose(sent, got, rel_tol=0, abs_tol=1e-9)
    return sent == got


@pytest.mark.parametrize(
    ("protocol", "transport", "options"),
    [(p, t, o) for p, vs in VARIANTS.items() for t, o in vs],
    ids=lambda x: str(x),
)
def test_every_record_encodes_and_decodes_unchanged(
    run: Run, protocol: str, transport: str, options: dict[str, object]
) -> None:
    fleet, out = run
    msgs = [m for i, m in out if fleet.vehicles[i].protocol == protocol]
    assert msgs
    ident = str(msgs[0]["ident"])
    opts = {**options, "ident": ident} if transport == "udp" else options
    session = new_session(protocol, Role.CLIENT, transport=transport, options=opts)  # type: ignore[arg-type]
    login = b"" if transport == "udp" else session.send(Login(ident=ident))
    invalid = 0
    for msg in msgs:
        msg = {**msg, "ident": ident}
        wire = session.send(SendRecords(messages=(msg,)))
        (back,) = decode(protocol, login + wire, ident=ident, transport=transport)  # type: ignore[arg-type]
        bad = {k: (v, back.get(k)) for k, v in msg.items() if not _same(v, back.get(k))}
        assert not bad, f"{protocol} changed {bad}"
        invalid += msg["position.valid"] is False
    assert invalid < len(msgs) / 5
    batch = tuple({**m, "ident": ident} for m in msgs[:5])
    wire = session.send(SendRecords(messages=batch))
    assert len(decode(protocol, login + wire, ident=ident, transport=transport)) == 5  # type: ignore[arg-type]

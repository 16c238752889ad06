"""Trackers against in-process server sessions: vendor-valid bytes, faults, determinism."""

from __future__ import annotations

from simulators.net.faults import command_answer, corrupt_crc
from simulators.net.loopback import LoopbackHost, loopback_run
from simulators.net.options import NetOptions
from simulators.net.synthetic import DEFAULT_MIX, SyntheticFleet
from telebench.protocols import Role, decode, new_session

FAULTY = NetOptions(disconnect_rate=20.0, bad_crc=0.2, garbage=0.05, newest_first=True)


def _run(host: LoopbackHost, duration: float, step: float = 30.0) -> None:
    host.start()
    now = host.fleet.start_time
    while now < host.fleet.start_time + duration:
        now += step
        host.step(now)
    host.drain()


def _expected(fleet: SyntheticFleet, duration: float) -> dict[int, int]:
    counts: dict[int, int] = {}
    for index, _ in SyntheticFleet(len(fleet.vehicles), mix=DEFAULT_MIX).advance(
        fleet.start_time + duration
    ):
        counts[index] = counts.get(index, 0) + 1
    return counts


def test_every_protocol_writes_packets_the_decoders_accept_in_full() -> None:
    fleet = SyntheticFleet(5, mix=DEFAULT_MIX, period=10.0)
    host = LoopbackHost(fleet, NetOptions(send_period=30.0))
    _run(host, 600.0)
    expected = _expected(fleet, 600.0)
    for vehicle in fleet.vehicles:
        chunks = host.traffic[vehicle.ident]
        if vehicle.transport == "udp":
            messages = [m for c in chunks for m in decode(vehicle.protocol, c, transport="udp")]
        else:
            messages = decode(vehicle.protocol, b"".join(chunks), ident=vehicle.ident)
        times = [m["timestamp"] for m in messages]
        assert times == sorted(times)
        assert len(set(times)) == expected[vehicle.index]
        assert {m["ident"] for m in messages} == {vehicle.ident}
    assert host.counters.acked == host.counters.sent == sum(expected.values())
    assert host.counters.queued == 0
    assert not host.counters.errors


def test_bad_crc_is_refused_then_resent_intact() -> None:
    fleet = SyntheticFleet(3, mix=DEFAULT_MIX[:3], period=10.0)
    host = LoopbackHost(fleet, NetOptions(bad_crc=0.3, send_period=30.0))
    _run(host, 600.0)
    counters = host.counters
    assert counters.errors["bad crc sent"] > 5
    assert counters.refused > 0
    assert counters.errors["ack timeout"] > 0
    assert counters.resent > 0
    assert counters.acked == counters.sent == sum(_expected(fleet, 600.0).values())


def test_same_seed_same_bytes_and_another_seed_other_bytes() -> None:
    def traffic(seed: int) -> dict[str, bytes]:
        fleet = SyntheticFleet(6, mix=DEFAULT_MIX, period=10.0)
        return loopback_run(fleet, duration=1800.0, step=20.0, options=FAULTY, seed=seed)

    first, again, other = traffic(1), traffic(1), traffic(2)
    assert first == again
    assert first != other
    assert sum(map(len, first.values())) > 10_000


def test_crc_corruption_changes_exactly_one_byte_and_answers_look_real() -> None:
    line = b"#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;1A2B\r\n"
    bad = corrupt_crc("wialon_ips", "tcp", line)
    assert bad is not None
    assert len(bad) == len(line)
    assert sum(a != b for a, b in zip(bad, line, strict=True)) == 1
    assert corrupt_crc("teltonika", "udp", b"\x00" * 40) is None  # UDP AVL has no CRC
    assert command_answer("teltonika", "getinfo").startswith("RTC:")
    assert command_answer("teltonika", "setdigout 10").startswith("DOUT1:1 DOUT2:0")


def test_idle_devices_send_heartbeats_the_server_accepts() -> None:
    fleet = SyntheticFleet(3, mix=DEFAULT_MIX[:3], period=3600.0)
    host = LoopbackHost(fleet, NetOptions(heartbeat_period=60.0))
    _run(host, 1800.0, step=30.0)
    assert host.counters.heartbeats >= 3 * 25
    for vehicle in fleet.vehicles:
        server = new_session(vehicle.protocol, Role.SERVER)
        server.receive_data(b"".join(host.traffic[vehicle.ident]))
        kinds = [type(event).__name__ for event in server.events()]
        assert kinds.count("Heartbeat") >= 25, vehicle.protocol

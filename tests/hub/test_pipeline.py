"""From decoded records to durable NDJSON: one encode per packet, the duplicate window."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import MalformedPacketError
from telebench.hub.pipeline import (
    Origin,
    RecentMessages,
    content_key,
    hub_fields,
    origin_fields,
    prepare,
    prepare_raw,
    warm,
)
from telebench.protocols import decode_raw
from telebench.protocols.samples import sample_messages
from telebench.protocols.teltonika import build_avl_packet

ORIGIN = Origin(ident="7", device_id=3, channel_id=1, protocol="teltonika", peer="p:1")


def _lines(payload: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in payload.splitlines()]


def test_a_packet_becomes_one_line_per_record_with_the_hub_fields() -> None:
    records = [{"timestamp": float(t), "x": t} for t in (3, 1, 2)]
    payload, count = prepare(records, ORIGIN, 9.5, RecentMessages())
    assert count == 3
    assert payload.endswith(b"\n")
    assert _lines(payload) == [
        {
            "timestamp": float(t),
            "x": t,
            "ident": "7",
            "server.timestamp": 9.5,
            "channel.id": 1,
            "protocol.name": "teltonika",
            "peer": "p:1",
            "device.id": 3,
        }
        for t in (3, 1, 2)
    ]


def test_a_text_value_holding_the_record_separator_is_encoded_exactly() -> None:
    records = [{"timestamp": 1.0, "text": 'a"},{"b'}, {"timestamp": 2.0, "text": "},{"}]
    payload, count = prepare(records, ORIGIN, 5.0, RecentMessages())
    assert count == 2
    assert [line["text"] for line in _lines(payload)] == ['a"},{"b', "},{"]


def test_resent_records_are_dropped_and_the_rest_kept_in_order() -> None:
    recent = RecentMessages()
    prepare([{"timestamp": 1.0}, {"timestamp": 2.0}], ORIGIN, 5.0, recent)
    payload, count = prepare(
        [{"timestamp": 2.0}, {"timestamp": 3.0}, {"timestamp": 3.0}], ORIGIN, 6.0, recent
    )
    assert count == 1
    assert [line["timestamp"] for line in _lines(payload)] == [3.0]
    assert prepare([{"timestamp": 1.0}], ORIGIN, 7.0, recent) == (b"", 0)


def test_the_window_warmed_from_stored_lines_knows_their_records() -> None:
    payload, _ = prepare([{"timestamp": 1.0, "v": True}], ORIGIN, 5.0, RecentMessages())
    line = payload.splitlines()[0]
    warmed = RecentMessages()
    assert warm(warmed, [payload]) == 1
    assert content_key(line) in warmed
    assert prepare([{"timestamp": 1.0, "v": True}], ORIGIN, 8.0, warmed) == (b"", 0)


def test_no_records_make_no_payload() -> None:
    assert prepare([], ORIGIN, 1.0, RecentMessages()) == (b"", 0)


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), st.text(max_size=20)),
        min_size=1,
        max_size=6,
    )
)
def test_hub_fields_are_each_origins_own_even_for_one_ident(
    connections: list[tuple[int | None, str]],
) -> None:
    """The cache is keyed by the whole origin: one ident over several connections."""
    for device_id, peer in connections * 2:  # each seen twice: the second from the cache
        origin = Origin("35", device_id, 3, "teltonika", peer)
        tail = hub_fields(origin_fields(origin))
        record = orjson.loads(b'{"server.timestamp":1.0' + tail)
        assert record == {
            "server.timestamp": 1.0,
            "channel.id": 3,
            "protocol.name": "teltonika",
            "peer": peer,
            "device.id": device_id,
        }


def test_raw_records_give_the_bytes_their_decoded_messages_give() -> None:
    data = build_avl_packet(0x8E, sample_messages("teltonika", 4))[8:-4]
    fields = origin_fields(ORIGIN)
    expected = prepare(
        decode_raw("teltonika", data, ident="7", offset=8), ORIGIN, 5.0, RecentMessages()
    )
    assert expected[1] == 4
    assert prepare_raw("teltonika", data, 8, "7", fields, 5.0, RecentMessages()) == expected


def test_raw_records_decoded_in_python_give_the_compiled_paths_bytes() -> None:
    data = build_avl_packet(0x8E, sample_messages("teltonika", 3))[8:-4]
    fields = origin_fields(ORIGIN)
    compiled = prepare_raw("teltonika", data, 8, "7", fields, 5.0, RecentMessages())
    python = prepare_raw("teltonika", data, 8, "7", fields, 5.0, RecentMessages(), compiled=False)
    assert python == compiled
    # No ident from the session: the records get the origin's, after their own keys.
    recent = RecentMessages()
    decoded = decode_raw("teltonika", data, ident=None, offset=8)
    expected = prepare(decoded, ORIGIN, 5.0, RecentMessages())
    assert prepare_raw("teltonika", data, 8, None, fields, 5.0, recent) == expected
    assert prepare_raw("teltonika", data, 8, None, fields, 6.0, recent) == (b"", 0)


def test_raw_records_that_do_not_decode_raise_with_their_offset() -> None:
    with pytest.raises(MalformedPacketError) as caught:
        prepare_raw(
            "teltonika",
            bytes.fromhex("8e01ff01"),
            8,
            "7",
            ("7", None, 1, "teltonika", "p"),
            5.0,
            RecentMessages(),
        )
    assert caught.value.offset is not None
    assert caught.value.offset >= 8

"""The exception tree: offsets, hex excerpts, pickling."""

from __future__ import annotations

import pickle

import pytest

from telebench import errors
from telebench.errors import (
    ChecksumError,
    FrameTooLargeError,
    MalformedPacketError,
    ProtocolError,
    hex_excerpt,
)


def test_excerpt_marks_the_offending_byte_in_stream_coordinates() -> None:
    frame = bytes(range(100, 140))
    err = MalformedPacketError("gt06", "bad stop bytes", offset=1020, data=frame, data_start=1000)
    assert err.offset == 1020
    assert err.excerpt == "… 70 71 72 73 74 75 76 77 [78] 79 7a 7b 7c 7d 7e 7f 80 …"
    assert str(err) == f"gt06: bad stop bytes at byte 1020: {err.excerpt}"


def test_offset_outside_the_data_shows_the_start() -> None:
    err = ProtocolError("teltonika", "oops", offset=5000, data=b"\x01\x02", data_start=0)
    assert str(err) == "teltonika: oops at byte 5000: 01 02"


def test_offset_at_end_points_past_the_last_byte() -> None:
    assert hex_excerpt(b"\xaa\xbb", 2) == "aa bb [<end>]"


def test_checksum_error_carries_both_values_and_pickles() -> None:
    err = ChecksumError("teltonika", "CRC mismatch", expected=0xC7CF, received=0x1234, offset=7)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.expected, copy.received, copy.offset, str(copy)) == (
        0xC7CF,
        0x1234,
        7,
        str(err),
    )


def test_tree_shape() -> None:
    assert issubclass(FrameTooLargeError, errors.FramingError)
    assert issubclass(errors.FramingError, errors.RemoteProtocolError)
    assert issubclass(errors.LocalProtocolError, ProtocolError)
    for name in ("SchemaError", "StoreError", "ConfigError", "SimulationError", "ProtocolError"):
        assert issubclass(getattr(errors, name), errors.TelebenchError)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_public_name_exists(name: str) -> None:
    assert hasattr(errors, name)

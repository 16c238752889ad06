"""The one exception tree of telebench.

Every error telebench raises derives from :class:`TelebenchError`; foreign errors are
translated at the boundary and chained with ``from``::

    TelebenchError
    ├── ProtocolError                 a codec met bytes or a request it cannot handle
    │   ├── RemoteProtocolError       the peer sent something wrong
    │   │   ├── FramingError          no frame can be cut from the stream
    │   │   │   └── FrameTooLargeError    a frame is longer than the allowed maximum
    │   │   ├── ChecksumError         the frame's CRC or checksum does not match
    │   │   └── MalformedPacketError  a frame was cut but a field in it is invalid
    │   └── LocalProtocolError        the caller asked for something illegal in this state
    ├── SchemaError                   a DataFrame lacks the columns or dtypes a function needs
    ├── StoreError                    the durable store cannot do what was asked
    ├── ConfigError                   a configuration value is invalid
    └── SimulationError               the simulator cannot run as configured

Remote protocol errors carry the protocol key, the byte offset in the stream (or payload)
where the problem is, and a hex excerpt of the bytes around it.

Examples
--------
>>> err = MalformedPacketError("teltonika", "bad codec id 0x99", offset=8,
...                            data=bytes.fromhex("000000000000000f99"))
>>> err.offset, err.protocol
(8, 'teltonika')
>>> print(err)
teltonika: bad codec id 0x99 at byte 8: 00 00 00 00 00 00 00 0f [99]
"""

from __future__ import annotations

__all__ = [
    "ChecksumError",
    "ConfigError",
    "FrameTooLargeError",
    "FramingError",
    "LocalProtocolError",
    "MalformedPacketError",
    "ProtocolError",
    "RemoteProtocolError",
    "SchemaError",
    "SimulationError",
    "StoreError",
    "TelebenchError",
    "TelebenchWarning",
    "hex_excerpt",
]

_EXCERPT_BEFORE = 8
_EXCERPT_AFTER = 8


def hex_excerpt(data: bytes, offset: int | None, *, before: int = 8, after: int = 8) -> str:
    """Render the bytes around ``offset`` as spaced hex, the offending byte in brackets.

    Examples
    --------
    >>> hex_excerpt(bytes(range(20)), 10, before=2, after=2)
    '… 08 09 [0a] 0b 0c …'
    >>> hex_excerpt(b"\\x01\\x02", None)
    '01 02'
    """
    if offset is None:
        shown = data[: before + after + 1]
        text = " ".join(f"{b:02x}" for b in shown)
        return text + (" …" if len(data) > len(shown) else "")
    start = max(0, offset - before)
    end = min(len(data), offset + after + 1)
    parts = []
    for i in range(start, end):
        cell = f"{data[i]:02x}"
        parts.append(f"[{cell}]" if i == offset else cell)
    if offset >= len(data):
        parts.append("[<end>]")
    text = " ".join(parts)
    if start > 0:
        text = "… " + text
    if end < len(data):
        text = text + " …"
    return text


class TelebenchError(Exception):
    """Base class of every error telebench raises."""


class ProtocolError(TelebenchError):
    """A codec met bytes (or a request) it cannot handle.

    Parameters
    ----------
    protocol:
        The protocol key (``teltonika``, ``wialon_ips``, ``gt06``, ``osmand``).
    message:
        What is wrong, in the field's own words.
    offset:
        Byte offset of the problem, counted from the start of the stream or payload that
        was being decoded; ``None`` when no single byte is to blame.
    data:
        The bytes being decoded, from which a short hex excerpt around ``offset`` is kept.
    """

    def __init__(
        self,
        protocol: str,
        message: str,
        *,
        offset: int | None = None,
        data: bytes = b"",
        data_start: int = 0,
    ) -> None:
        self.protocol = protocol
        self.reason = message
        self.offset = offset
        local = None if offset is None else offset - data_start
        if local is not None and not 0 <= local <= len(data):
            local = None
        self.excerpt = (
            hex_excerpt(bytes(data), local, before=_EXCERPT_BEFORE, after=_EXCERPT_AFTER)
            if data
            else ""
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset}"
        tail = f": {self.excerpt}" if self.excerpt else ""
        return f"{self.protocol}: {self.reason}{where}{tail}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_protocol_error, (type(self), self.__dict__.copy()))


def _rebuild_protocol_error(cls: type[ProtocolError], state: dict[str, object]) -> ProtocolError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err


class RemoteProtocolError(ProtocolError):
    """The peer (a device, or the server seen from a device) sent something wrong."""


class FramingError(RemoteProtocolError):
    """No valid frame can be cut from the byte stream (bad preamble, bad stop bytes...)."""


class FrameTooLargeError(FramingError):
    """A frame announces (or grows to) more bytes than the configured maximum.

    Raised before the frame is buffered whole, so a hostile length field cannot make the
    hub allocate memory.
    """


class ChecksumError(RemoteProtocolError):
    """The frame's CRC or checksum does not match its content.

    ``expected`` is the value computed over the received bytes, ``received`` the value the
    frame carries.
    """

    def __init__(
        self,
        protocol: str,
        message: str,
        *,
        expected: int,
        received: int,
        offset: int | None = None,
        data: bytes = b"",
        data_start: int = 0,
    ) -> None:
        self.expected = expected
        self.received = received
        super().__init__(protocol, message, offset=offset, data=data, data_start=data_start)


class MalformedPacketError(RemoteProtocolError):
    """A frame was cut cleanly but a field inside it is invalid or truncated."""


class LocalProtocolError(ProtocolError):
    """The caller asked a session for something illegal in its current state."""


class SchemaError(TelebenchError):
    """A DataFrame lacks the columns or dtypes a function needs."""


class StoreError(TelebenchError):
    """The durable store cannot do what was asked."""


class ConfigError(TelebenchError):
    """A configuration value is invalid; the message names the setting."""


class SimulationError(TelebenchError):
    """The simulator cannot run as configured."""


class TelebenchWarning(UserWarning):
    """Base class of every warning telebench emits."""

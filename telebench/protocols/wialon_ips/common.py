"""Shared names of the Wialon IPS codec: protocol key, ``NA``, record sizes, field errors.

Examples
--------
>>> PacketError("13", "SD CRC 7A02 does not match", 55).code
'13'
"""

from __future__ import annotations

from typing import Final

from telebench.errors import MalformedPacketError

__all__ = ["D_FIELDS", "NA", "PROTOCOL", "SD_FIELDS", "FieldValueError", "PacketError"]

PROTOCOL: Final = "wialon_ips"
#: The spec's "not available" marker (protocols.md §4.1).
NA: Final = "NA"
#: Fields of a short-data (SD) and an extended-data (D) record, without the v2.0 CRC.
SD_FIELDS: Final = 10
D_FIELDS: Final = 16


class PacketError(MalformedPacketError):
    """A field of a cleanly framed packet is invalid; ``code`` is the spec's answer code.

    Raised by the ``parse_*`` functions with ``offset`` = the character index in the text
    they were given; sessions re-raise it with the absolute byte offset in the stream.

    Examples
    --------
    >>> err = PacketError("13", "SD field 10 (sats) 'x': not an integer", 40)
    >>> err.code, err.offset
    ('13', 40)
    """

    def __init__(
        self,
        code: str,
        reason: str,
        index: int | None,
        *,
        data: bytes = b"",
        data_start: int = 0,
    ) -> None:
        self.code = code
        super().__init__(PROTOCOL, reason, offset=index, data=data, data_start=data_start)


class _Bad(ValueError):
    """A field helper's complaint; the record parser adds the field name and offset."""


class FieldValueError(ValueError):
    """A field helper's complaint; the record parser adds the field name and offset.

    ``shift`` moves the blame to a later field of a pair (the time of ``date;time``, the
    hemisphere of ``lat1;lat2``).

    Examples
    --------
    >>> FieldValueError("no such time of day", shift=1).shift
    1
    """

    def __init__(self, reason: str, *, shift: int = 0) -> None:
        super().__init__(reason)
        self.shift = shift

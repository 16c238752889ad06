"""Checks every received Wialon IPS packet goes through: v2.0 CRC, and error reporting.

The base of :class:`~telebench.protocols.wialon_ips.session.WialonSession` (both roles):
whether a packet carries a CRC (its session's version, or before any login its field
count), the CRC check under the ``on_bad_checksum`` policy, and ``Rejected`` events whose
errors name the absolute byte offset in the stream and show the frame's bytes.

CRC (protocols.md §4.4): CRC-16/ARC over the body bytes after ``#TYPE#`` up to and
including the ``;`` (``#B#``: the ``|``) before the CRC field; received CRC texts are
compared as numbers (``3CD``, ``0x9b0`` and ``8E08`` are all read), each text parsed once.

Examples
--------
>>> from telebench.protocols.wialon_ips import Session
>>> hub = Session()
>>> hub.receive_data(b"#SD#NA;NA;NA;NA;NA;NA;1;NA;NA;NA;1234\\r\\n")
>>> [event] = hub.events()
>>> event.code, event.error.offset, hex(event.error.expected)
('13', 33, '0xb291')
"""

from __future__ import annotations

from typing import Final

from telebench.errors import ChecksumError, MalformedPacketError
from telebench.protocols._crc import crc16_arc
from telebench.protocols._session import Session
from telebench.protocols.events import Rejected
from telebench.protocols.wialon_ips.common import D_FIELDS, SD_FIELDS, PacketError
from telebench.protocols.wialon_ips.packets import CRC_CODES, V1, parse_crc, split_crc

__all__ = ["PacketChecks"]

_MAX_CRC_TEXTS: Final = 70_000  # CRC text -> value cache: all 65536 canonical texts fit
_CRC_VALUES: dict[str, int] = {}


class PacketChecks(Session):
    """CRC checks and error events for the packet being decoded (see the module).

    The session sets, per packet: ``_raw`` (the bytes holding it), ``_base`` (the stream
    offset of ``_raw[0]``), ``_lo``/``_hi`` (the frame within ``_raw``),
    ``_body_start``/``_body_end`` (its body), ``_encoding`` (of the body text) and
    ``_version`` (the version it is read in, ``None`` before a login).

    Examples
    --------
    >>> from telebench.protocols.wialon_ips import Session
    >>> isinstance(Session(), PacketChecks)
    True
    """

    _raw: bytes
    _base: int
    _lo: int
    _hi: int
    _body_start: int
    _body_end: int
    _encoding: str
    _version: str | None

    def _frame(self) -> bytes:
        return self._raw[self._lo : self._hi]

    def _malformed(
        self, code: str | None, reason: str, index: int, cause: Exception | None = None
    ) -> Rejected:
        """A ``Rejected`` event for a problem at ``raw[index]``."""
        frame = self._frame()
        error = MalformedPacketError(
            self.protocol,
            reason,
            offset=self._base + index,
            data=frame,
            data_start=self._base + self._lo,
        )
        error.__cause__ = cause
        return Rejected(error=error, raw=frame, code=code)

    def _field_error(self, exc: PacketError, body: str) -> Rejected:
        """Re-raise a parser's ``PacketError`` (character index) at its stream offset."""
        index = self._body_start + len(body[: exc.offset or 0].encode(self._encoding))
        frame = self._frame()
        error = PacketError(
            exc.code,
            exc.reason,
            self._base + index,
            data=frame,
            data_start=self._base + self._lo,
        )
        error.__cause__ = exc
        return Rejected(error=error, raw=frame, code=exc.code)

    def _has_crc(self, body: str, kind: str) -> bool:
        version = self._version
        if version is not None:
            return version != V1
        if kind == "D":
            return body.count(";") == D_FIELDS
        if kind == "SD":
            return body.count(";") == SD_FIELDS
        if kind == "B":
            _, bar, last = body.rpartition("|")
            return bool(bar) and ";" not in last
        return False

    def _check_crc(self, body: str, kind: str) -> tuple[str, Rejected | bool]:
        """``(payload, verdict)``: verdict is ``True`` (CRC good), ``False`` (bad, flag it)
        or the ``Rejected`` event to emit."""
        sep = "|" if kind == "B" else ";"
        payload, found, text = body.rpartition(sep)
        received = _CRC_VALUES.get(text)
        if received is None or not found:
            try:
                payload, text = split_crc(body, sep)
                received = parse_crc(text)
            except PacketError as exc:
                index = len(body) - len(text)
                return body, self._field_error(
                    PacketError(CRC_CODES[kind], exc.reason, index), body
                )
            if len(_CRC_VALUES) < _MAX_CRC_TEXTS:
                _CRC_VALUES[text] = received
        crc_start = self._body_end - len(text)
        computed = crc16_arc(self._raw[self._body_start : crc_start])
        if received == computed:
            return payload, True
        return payload, self._crc_mismatch(kind, text, received, computed, crc_start)

    def _crc_mismatch(
        self, kind: str, text: str, received: int, computed: int, crc_start: int
    ) -> Rejected | bool:
        frame = self._frame()
        error = ChecksumError(
            self.protocol,
            f"{kind} CRC {text} does not match {computed:04X} computed over the "
            f"{crc_start - self._body_start} bytes before it",
            expected=computed,
            received=received,
            offset=self._base + crc_start,
            data=frame,
            data_start=self._base + self._lo,
        )
        if self._bad_checksum(error, frame) is None:
            return False
        return Rejected(error=error, raw=frame, code=CRC_CODES[kind])

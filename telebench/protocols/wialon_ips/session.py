"""Wialon IPS session (server: the hub; client: a device), protocols.md §4.

Rules (on top of :mod:`telebench.protocols._session`):

1. Server role. Every ``#L#``, ``#SD#``, ``#D#``, ``#B#``, ``#P#`` and device ``#M#``
   becomes an event awaiting ``Accept``/``Refuse``; the answer is the spec's (§4.3):
   ``#AL#1``/``#AL#0``, ``#ASD#1``, ``#AD#1``, ``#AB#<count>``, ``#AP#``, ``#AM#1``,
   ``Refuse(code=...)`` choosing another code (``#AL#01`` password error). A packet with
   a bad field becomes ``Rejected`` carrying the spec's code (``#AD#14`` adc error ...),
   which ``Refuse()`` sends; an unknown packet type becomes ``Rejected`` answered ``b""``.
   A device ``#AM#x`` (its answer to the server's ``#M#``) is a ``CommandResponse``.
2. The login sets the version: v2.0 packets must end in a CRC, v1.1 packets must not.
   Before any login (a capture, ``decode()``) a record packet carries a CRC when its field
   count says so. Data before the login is decoded (without ``ident`` unless the
   session was given one); the hub may check ``state``.
3. CRC errors follow ``on_bad_checksum``: ``reject`` -> ``Rejected`` (``#AD#16``,
   ``#ASD#13``, ``#AL#10``, ``#AM#01``, ``#AB#``), ``flag`` -> messages with
   ``checksum.valid = False``, ``raise`` -> ``ChecksumError``.
4. Over UDP each ``receive_data`` call is one datagram (``imei#...`` or
   ``2.0;imei#...``); its problems become ``Rejected`` events (nothing raises but a bad
   CRC under ``raise``: the next datagram is independent) and error offsets count from
   the datagram's first byte.
5. Client role (``version="2.0"`` or ``"1.1"``, ``password``, ``short``): ``Login`` ->
   ``#L#`` (records may follow before the answer: pipelining is the caller's choice).
   ``SendRecords`` of one message -> ``#D#`` (``#SD#`` when ``short``; ``#M#`` for a
   message holding only ``driver.message``), of several -> ``#B#``.

State table (both roles)::

    state           event                                   next state
    AWAITING_LOGIN  #L# received / Login sent               AWAITING_LOGIN
    AWAITING_LOGIN  Accept(Identified) / #AL#1 received     IDENTIFIED
    AWAITING_LOGIN  Refuse(Identified) / #AL#x (x != 1)     CLOSED
    any             b"" at a line boundary                  CLOSED
    any             RemoteProtocolError raised              ERROR

Examples
--------
>>> from telebench.protocols.events import Accept, Refuse
>>> hub = WialonSession()
>>> hub.receive_data(b"#L#2.0;868204002602414;NA;8E08\\r\\n#P#\\r\\n")
>>> [type(e).__name__ for e in hub.events()]
['Identified', 'Heartbeat']
>>> hub.send(Accept()), hub.send(Accept())
(b'#AL#1\\r\\n', b'#AP#\\r\\n')
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from telebench.errors import (
    ConfigError,
    FrameTooLargeError,
    FramingError,
)
from telebench.model import Message
from telebench.protocols._session import (
    DEFAULT_MAX_FRAME_SIZE,
    ChecksumPolicy,
    Role,
    State,
)
from telebench.protocols.events import (
    CommandResponse,
    Event,
    Heartbeat,
    Identified,
    LoginAnswer,
    Records,
    Rejected,
    SendCommand,
)
from telebench.protocols.wialon_ips.client import ClientRole
from telebench.protocols.wialon_ips.common import D_FIELDS, SD_FIELDS, PacketError
from telebench.protocols.wialon_ips.fields import parse_record
from telebench.protocols.wialon_ips.framing import (
    decode_text,
    find_last_line_end,
    split_datagram,
)
from telebench.protocols.wialon_ips.packets import (
    ANSWER_TYPES,
    PARSERS,
    V1,
    V2,
    build_answer,
    build_message,
    parse_login,
)

__all__ = ["WialonSession"]

_ANSWERABLE: Final = (Identified, Records, Heartbeat, Rejected)
_ACCEPTED: Final = {kind: build_answer(ANSWER_TYPES[kind], "1") for kind in ("L", "SD", "D", "M")}
_STRUCTURE_CODES: Final = {"L": "0", "SD": "-1", "D": "-1", "B": "0", "M": "0"}
_RECORD_SIZES: Final = {"D": D_FIELDS, "SD": SD_FIELDS}
_Handler = Callable[[str, str], Event]


class WialonSession(ClientRole):
    """Wialon IPS 1.1/2.0 session over TCP lines or UDP datagrams (module rules).

    Protocol-specific options: ``version`` (client: ``"2.0"`` default or ``"1.1"``),
    ``password`` (client login default) and ``short`` (client: ``#SD#`` records).

    Examples
    --------
    >>> from telebench.protocols.events import Refuse
    >>> hub = WialonSession()
    >>> hub.receive_data(b"#SD#270413;205601;5544.6025;N;03739.6834;X;1;2;3;4\\r\\n")
    >>> [event] = hub.events()
    >>> event.code, hub.send(Refuse())
    ('10', b'#ASD#10\\r\\n')
    """

    protocol = "wialon_ips"

    def __init__(
        self,
        role: Role = Role.SERVER,
        *,
        transport: str = "tcp",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        on_bad_checksum: ChecksumPolicy = "reject",
        ident: str | None = None,
        version: str | None = None,
        password: str | None = None,
        short: bool = False,
    ) -> None:
        if transport not in ("tcp", "udp"):
            raise ConfigError(f"wialon_ips runs over tcp or udp, not {transport!r}")
        if version not in (None, V1, V2):
            raise ConfigError(f"wialon_ips version {version!r} is not '1.1' or '2.0'")
        super().__init__(
            role, max_frame_size=max_frame_size, on_bad_checksum=on_bad_checksum, ident=ident
        )
        self.transport = transport
        self._udp = transport == "udp"
        if self._udp:
            self.state = State.IDENTIFIED
        #: Protocol version: the login's (server), the constructor's (client, default 2.0).
        self.version = version if role is Role.SERVER else (version or V2)
        self.password = password
        self.short = short
        self._datagrams: deque[bytes] = deque()
        self._kinds: deque[str] = deque()  # packet type of each pending event (server)
        self._scan = 0  # where the search for a line end in the buffer resumes
        self._chunk = b""  # whole lines taken from the buffer, decoded one by one
        self._chunk_start = 0  # stream offset of _chunk[0]
        self._pos = 0  # next line in _chunk
        self._login_ident: str | None = None
        # The packet being decoded: raw[lo:hi] is its frame, base the stream offset of raw[0].
        self._raw = b""
        self._base = self._lo = self._hi = self._body_start = self._body_end = 0
        self._encoding = "utf-8"
        self._kind = ""
        self._version: str | None = None  # this packet's version
        self._ident: str | None = ident  # ident for this packet's messages
        self._handlers: dict[bytes, tuple[str, _Handler]] = (
            {
                b"L": ("L", self._on_login),
                b"SD": ("SD", self._on_records),
                b"D": ("D", self._on_records),
                b"B": ("B", self._on_records),
                b"M": ("M", self._on_records),
                b"P": ("P", self._on_ping),
                b"AM": ("AM", self._on_command_response),
            }
            if role is Role.SERVER
            else {
                b"AL": ("AL", self._on_login_answer),
                b"ASD": ("ASD", self._on_records_ack),
                b"AD": ("AD", self._on_records_ack),
                b"AB": ("AB", self._on_records_ack),
                b"AM": ("AM", self._on_records_ack),
                b"AP": ("AP", self._on_ping_answer),
                b"M": ("M", self._on_command_request),
            }
        )

    # --- receiving: framing -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes (over UDP: one whole datagram); ``b""`` means closed.

        Examples
        --------
        >>> udp = WialonSession(transport="udp")
        >>> udp.receive_data(b"99#P#")
        >>> list(udp.events())
        [Heartbeat(message=None)]
        """
        if not self._udp or not data or self.state is State.ERROR or self._eof:
            super().receive_data(data)
            return
        self._datagrams.append(bytes(data))

    def _next_event(self) -> Event | None:
        if self._udp:
            return self._next_datagram()
        chunk, pos = self._chunk, self._pos
        if pos >= len(chunk):
            if not self._refill():
                return None
            chunk, pos = self._chunk, 0
        if chunk[pos] != 0x23:  # "#"
            raise self._not_a_line(chunk[pos : pos + 32], self._chunk_start + pos)
        end = chunk.find(b"\r\n", pos)
        if end + 2 - pos > self.max_frame_size:
            raise self._too_large(chunk[pos : pos + 32], self._chunk_start + pos)
        self._pos = end + 2
        return self._packet(chunk, self._chunk_start, pos, end, self.version, self._login_ident)

    def _refill(self) -> bool:
        """Take every complete line from the buffer into ``_chunk`` (one copy for many
        lines); ``False`` when no line is complete yet."""
        buf = self._buffer
        if not buf:
            return False
        data = buf.view()
        if data[0] != 0x23:
            raise self._not_a_line(buf.peek(32), buf.offset)
        last = find_last_line_end(data, self._scan)
        if last < 0:
            if len(data) >= self.max_frame_size:
                raise self._too_large(buf.peek(32), buf.offset)
            self._scan = max(len(data) - 1, 0)
            return False
        self._scan = self._pos = 0
        self._chunk_start = buf.offset
        self._chunk = buf.take(last + 2)
        return True

    def _not_a_line(self, data: bytes, offset: int) -> FramingError:
        reason = f"line starts with {data[:1]!r}, not '#'"
        return FramingError(self.protocol, reason, offset=offset, data=data, data_start=offset)

    def _too_large(self, data: bytes, offset: int) -> FrameTooLargeError:
        reason = f"no CR LF within the first {self.max_frame_size} bytes of the line"
        return FrameTooLargeError(
            self.protocol, reason, offset=offset, data=data, data_start=offset
        )

    def _next_datagram(self) -> Event | None:
        if not self._datagrams:
            return None
        data = self._datagrams.popleft()
        self._raw, self._base, self._lo, self._hi, self._kind = data, 0, 0, len(data), "?"
        if len(data) > self.max_frame_size:
            reason = f"datagram of {len(data)} bytes exceeds the maximum of {self.max_frame_size}"
            error = FrameTooLargeError(self.protocol, reason, offset=0, data=data[:32])
            return Rejected(error=error, raw=data)
        parts = split_datagram(data)
        if parts is None:
            return self._malformed(None, "datagram holds no '#TYPE#' packet", 0)
        version, ident, at, end = parts
        if version not in (None, V1) and not version.startswith("2."):
            return self._malformed(None, f"datagram prefix version {version!r}", 0)
        if data.find(b"\r\n", at, end) >= 0:
            return self._malformed(None, "datagram holds more than one line", at)
        return self._packet(data, 0, at, end, version or self.version, ident or self._login_ident)

    # --- receiving: packets ---------------------------------------------------------------

    def _packet(
        self, raw: bytes, base: int, at: int, end: int, version: str | None, ident: str | None
    ) -> Event:
        """Decode the packet ``raw[at:end]`` (``base``: stream offset of ``raw[0]``)."""
        self._raw, self._base, self._version, self._body_end = raw, base, version, end
        if not self._udp:
            self._lo, self._hi = at, end + 2
        self._ident = ident if ident is not None else self.ident
        sep = raw.find(b"#", at + 1, end)
        if sep < 0:
            self._kind = "?"
            return self._malformed(None, "packet has no '#TYPE#' header", at + 1)
        handler = self._handlers.get(raw[at + 1 : sep])
        kind = handler[0] if handler else raw[at + 1 : sep].decode("latin-1")
        self._kind = kind
        self._body_start = body_start = sep + 1
        text = raw[body_start:end]
        try:
            body, self._encoding = text.decode(), "utf-8"
        except UnicodeDecodeError:
            try:
                body, self._encoding = decode_text(text)  # the cp1251 fallback
            except UnicodeDecodeError as exc:
                reason = "text is neither UTF-8 nor cp1251"
                code = _STRUCTURE_CODES.get(kind)
                return self._malformed(code, reason, body_start + exc.start, exc)
        if handler is None:
            return self._malformed(None, f"unknown packet type {kind!r}", at + 1)
        return handler[1](body, kind)

    def _on_records(self, body: str, kind: str) -> Event:
        verdict: Rejected | bool = True
        payload = body
        if self._has_crc(body, kind):
            payload, verdict = self._check_crc(body, kind)
            if isinstance(verdict, Rejected):
                return verdict
        try:
            if kind in _RECORD_SIZES:  # the hot path: parse_data / parse_short_data inlined
                fields = payload.split(";")
                if len(fields) != _RECORD_SIZES[kind]:
                    size = _RECORD_SIZES[kind]
                    reason = f"{kind} has {len(fields)} fields, expected {size}"
                    raise PacketError("-1", reason, 0)
                msg: Message = {} if self._ident is None else {"ident": self._ident}
                parse_record(fields, msg)
                messages: tuple[Message, ...] = (msg,)
            else:
                parsed = PARSERS[kind](payload, ident=self._ident)
                messages = parsed if isinstance(parsed, tuple) else (parsed,)
        except PacketError as exc:
            return self._field_error(exc, body)
        if verdict is False:
            for msg in messages:
                msg["checksum.valid"] = False
        return Records(messages=messages)

    def _on_login(self, body: str, kind: str) -> Event:
        try:
            login = parse_login(body)
        except PacketError as exc:
            return self._field_error(exc, body)
        if login.crc is not None:
            _, verdict = self._check_crc(body, kind)
            if isinstance(verdict, Rejected):
                return verdict
        self.version = login.version
        return Identified(
            ident=login.ident, password=login.password, protocol_version=login.version
        )

    def _on_ping(self, body: str, kind: str) -> Event:
        return Heartbeat()

    def _on_command_response(self, body: str, kind: str) -> Event:
        return CommandResponse(text=body, ident=self._ident)

    def _on_event(self, event: Event) -> None:
        if self.role is Role.SERVER:
            if isinstance(event, _ANSWERABLE):
                self._kinds.append(self._kind)
            if isinstance(event, Identified):
                self._login_ident = event.ident
        elif isinstance(event, LoginAnswer) and self.state is State.AWAITING_LOGIN:
            self.state = State.IDENTIFIED if event.accepted else State.CLOSED
            if event.accepted:
                self.ident = self._login_ident

    # --- answering (server role) ----------------------------------------------------------

    def _answer(
        self, pending: Event, *, accept: bool, count: int | None, code: str | None
    ) -> bytes:
        kind = self._kinds.popleft()
        if accept and count is None:
            ready = _ACCEPTED.get(kind)
            if ready is not None:
                return ready
        answer = ANSWER_TYPES.get(kind)
        if answer is None or (kind == "P" and not accept):
            return b""  # unknown packet type, refused ping: the spec has no answer
        return build_answer(answer, self._answer_code(pending, kind, accept, count, code))

    @staticmethod
    def _answer_code(
        pending: Event, kind: str, accept: bool, count: int | None, code: str | None
    ) -> str:
        if isinstance(pending, Rejected):
            chosen = code if code is not None else pending.code
            return "0" if chosen is None else chosen
        if kind == "P":
            return ""
        if not accept:
            return "0" if code is None else code
        if isinstance(pending, Records) and kind == "B":
            return str(len(pending.messages) if count is None else count)
        return "1" if count != 0 else "0"

    def _send_command(self, event: SendCommand) -> bytes:
        return build_message(event.text, version=V1 if self.version in (None, V1) else V2)

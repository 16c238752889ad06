"""OsmAnd over HTTP/1.1: one request, one position; HTTP framing by h11.

Server role only (the protocol is decode-only here): each request becomes a ``Records``
event with one message, or a ``Rejected`` event (missing id, unreadable field) answered
``400``. The hub answers ``Accept()`` with ``200 OK`` (its body carries a queued command's
text, as traccar does), or ``Refuse(code="404")`` for an unknown device. h11 pauses after
each request until it is answered, so pipelined requests come out one at a time.

Examples
--------
>>> from telebench.protocols.events import Accept
>>> s = OsmAndSession()
>>> s.receive_data(b"GET /?id=7&lat=1&lon=2 HTTP/1.1\\r\\nHost: hub\\r\\n\\r\\n")
>>> [e.messages[0]["ident"] for e in s.events()]
['7']
>>> s.send(Accept()).split(b"\\r\\n")[0]
b'HTTP/1.1 200 OK'
"""

from __future__ import annotations

from typing import Final

import h11

from telebench.errors import FramingError, LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols._session import DEFAULT_MAX_FRAME_SIZE, ChecksumPolicy, Role, Session
from telebench.protocols.events import Event, Records, Rejected, SendCommand
from telebench.protocols.osmand.packets import parse_request

__all__ = ["OsmAndSession"]

_REASONS: Final = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


class OsmAndSession(Session):
    """Server-role session for OsmAnd / Traccar Client HTTP requests."""

    protocol = "osmand"
    needs_login = False

    def __init__(
        self,
        role: Role = Role.SERVER,
        *,
        transport: str = "http",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        on_bad_checksum: ChecksumPolicy = "reject",
        ident: str | None = None,
    ) -> None:
        if role is not Role.SERVER:
            raise LocalProtocolError("osmand", "OsmAnd is decode-only: no client role")
        super().__init__(
            role, max_frame_size=max_frame_size, on_bad_checksum=on_bad_checksum, ident=ident
        )
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=max_frame_size)
        self._fed = 0  # bytes handed to h11 so far (for error offsets)
        self._eof_fed = False
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._commands: list[str] = []

    # --- receiving ------------------------------------------------------------------------

    def _feed_h11(self) -> None:
        if self._buffer:
            chunk = self._buffer.take(len(self._buffer))
            self._fed += len(chunk)
            self._http.receive_data(chunk)
        if self._eof and not self._eof_fed:
            self._eof_fed = True
            self._http.receive_data(b"")

    def _consumed(self) -> int:
        return self._fed - len(self._http.trailing_data[0])

    def _next_event(self) -> Event | None:
        self._feed_h11()
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                raise FramingError(
                    self.protocol, f"bad HTTP request: {exc}", offset=self._consumed()
                ) from exc
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                self._request = event
                self._body.clear()
            elif isinstance(event, h11.Data):
                self._body += event.data
                self._check_frame_size(len(self._body))
            elif isinstance(event, h11.EndOfMessage):
                return self._request_event()

    def _request_event(self) -> Event:
        request = self._request
        assert request is not None  # h11 emits Request before EndOfMessage
        try:
            msg = self._message(request, bytes(self._body))
        except MalformedPacketError as exc:
            error = MalformedPacketError(
                self.protocol, exc.reason, offset=self._consumed() - len(self._body)
            )
            return Rejected(error=error, raw=bytes(self._body), code="400")
        return Records(messages=(msg,))

    def _message(self, request: h11.Request, body: bytes) -> Message:
        content_type = dict(request.headers).get(b"content-type", b"").decode("latin-1")
        return parse_request(
            request.target.decode("latin-1"), body, content_type=content_type, ident=self.ident
        )

    # --- answering ------------------------------------------------------------------------

    def _answer(
        self, pending: Event, *, accept: bool, count: int | None, code: str | None
    ) -> bytes:
        if accept:
            status, body = 200, "\n".join(self._commands).encode()
            self._commands.clear()
        elif isinstance(pending, Rejected):
            status, body = 400, pending.error.reason.encode()
        else:
            status, body = int(code or 400), b""
        return self._respond(status, body)

    def _respond(self, status: int, body: bytes) -> bytes:
        headers = [("Content-Length", str(len(body))), ("Content-Type", "text/plain")]
        reason = _REASONS.get(status, b"")
        try:
            out = self._http.send(h11.Response(status_code=status, headers=headers, reason=reason))
            out = (out or b"") + (self._http.send(h11.Data(data=body)) or b"")
            out += self._http.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(self.protocol, f"cannot answer now: {exc}") from exc
        if self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()
        return out

    def _send_command(self, event: SendCommand) -> bytes:
        """Queue a command's text for the next 200 answer (traccar's behaviour)."""
        self._commands.append(event.text)
        return b""

"""The client role of a Wialon IPS session: what a device sends and reads (protocols.md §4).

A base of :class:`~telebench.protocols.wialon_ips.session.WialonSession`, kept apart so
each module stays small. ``Login`` -> ``#L#``; ``SendRecords`` of one message -> ``#D#``
(``#SD#`` when the session's ``short``; ``#M#`` for a message holding only
``driver.message``), of several -> ``#B#``; ``SendHeartbeat`` -> ``#P#``;
``SendCommandResponse`` -> ``#AM#``. Over UDP each line is prefixed with ``imei#`` (v1.1)
or ``2.0;imei#`` and there is no login. Server lines become ``LoginAnswer`` (``#AL#``),
``RecordsAck`` (``#ASD#``, ``#AD#``, ``#AB#``, ``#AM#``), ``HeartbeatAck`` (``#AP#``) and
``CommandRequest`` (``#M#``, its v2.0 CRC checked).

Examples
--------
>>> from telebench.protocols import Role
>>> from telebench.protocols.events import Login
>>> from telebench.protocols.wialon_ips import Session
>>> device = Session(Role.CLIENT, version="1.1", password="secret")
>>> device.send(Login(ident="123456789012345"))
b'#L#123456789012345;secret\\r\\n'
>>> device.receive_data(b"#AL#01\\r\\n")
>>> list(device.events())
[LoginAnswer(accepted=False, code='01')]
"""

from __future__ import annotations

from typing import Final

from telebench.errors import LocalProtocolError
from telebench.protocols.events import (
    CommandRequest,
    Event,
    HeartbeatAck,
    Login,
    LoginAnswer,
    RecordsAck,
    Rejected,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.wialon_ips.checks import PacketChecks
from telebench.protocols.wialon_ips.packets import (
    V1,
    V2,
    build_answer,
    build_black_box,
    build_data,
    build_login,
    build_message,
    build_ping,
    build_short_data,
    build_udp,
)

__all__ = ["ClientRole"]

_DRIVER_KEYS: Final = frozenset({"ident", "driver.message"})


class ClientRole(PacketChecks):
    """Client-role sending and reply decoding (a base of the session).

    Examples
    --------
    >>> from telebench.protocols import Role
    >>> from telebench.protocols.events import SendHeartbeat
    >>> from telebench.protocols.wialon_ips import Session
    >>> Session(Role.CLIENT, transport="udp", ident="99").send(SendHeartbeat())
    b'2.0;99#P#\\r\\n'
    """

    version: str | None
    password: str | None
    short: bool
    _udp: bool
    _login_ident: str | None

    # --- reading the server's lines ---------------------------------------------------------

    def _on_login_answer(self, body: str, kind: str) -> Event:
        return LoginAnswer(accepted=body == "1", code=body)

    def _on_records_ack(self, body: str, kind: str) -> Event:
        if kind == "AB":
            count = int(body) if body.isascii() and body.isdigit() else 0
        else:
            count = 1 if body == "1" else 0
        return RecordsAck(count=count, code=body)

    def _on_ping_answer(self, body: str, kind: str) -> Event:
        return HeartbeatAck()

    def _on_command_request(self, body: str, kind: str) -> Event:
        extra: dict[str, str] = {}
        text = body
        if self.version != V1:
            text, verdict = self._check_crc(body, kind)
            if isinstance(verdict, Rejected):
                return verdict
            if verdict is False:
                extra["checksum.valid"] = "false"
        return CommandRequest(text=text, ident=self.ident, extra=extra)

    # --- sending ----------------------------------------------------------------------------

    def _wrap(self, line: bytes) -> bytes:
        if not self._udp:
            return line
        if self.ident is None:
            raise LocalProtocolError(self.protocol, "a UDP device needs ident= for its datagrams")
        return build_udp(line, self.ident, version=self.version or V2)

    def _send_login(self, event: Login) -> bytes:
        if self._udp:
            raise LocalProtocolError(self.protocol, "Wialon IPS over UDP has no login; pass ident=")
        self._login_ident = event.ident
        password = event.password if event.password is not None else self.password
        return build_login(event.ident, password, version=self.version or V2)

    def _send_records(self, event: SendRecords) -> bytes:
        messages = event.messages
        version = self.version or V2
        if not messages:
            raise LocalProtocolError(self.protocol, "SendRecords needs at least one message")
        if len(messages) > 1:
            return self._wrap(build_black_box(messages, version=version, short=self.short))
        msg = messages[0]
        text = msg.get("driver.message")
        if isinstance(text, str) and msg.keys() <= _DRIVER_KEYS:
            return self._wrap(build_message(text, version=version))
        build = build_short_data if self.short else build_data
        return self._wrap(build(msg, version=version))

    def _send_heartbeat(self, event: SendHeartbeat) -> bytes:
        if event.message:
            raise LocalProtocolError(self.protocol, "the Wialon IPS ping carries no parameters")
        return self._wrap(build_ping())

    def _send_command_response(self, event: SendCommandResponse) -> bytes:
        if "\r" in event.text or "\n" in event.text:
            raise LocalProtocolError(
                self.protocol, f"command answer {event.text!r} has a line break"
            )
        return self._wrap(build_answer("AM", event.text))

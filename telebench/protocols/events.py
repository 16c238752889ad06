"""Events that sessions emit and accept, shared by every protocol.

A session plays one of two roles. The **server** role is the hub's: it turns device bytes
into events and turns the hub's answers into reply bytes. The **client** role is the
simulator's (and any tool that acts as a tracker): it turns what the device wants to send
into bytes and the server's replies into events. Both ends use the same codec.

Server role::

    device bytes --receive_data--> Identified / Records / Heartbeat / CommandResponse
                                   / Rejected / ConnectionClosed            (events())
    hub         --send(Accept | Refuse | SendCommand)--> reply bytes

Every ``Identified``, ``Records``, ``Heartbeat`` and ``Rejected`` event waits for an
answer; the hub answers them in the order they were emitted, with ``Accept`` (after the
records are durable) or ``Refuse``. The session never answers by itself.

Client role::

    device      --send(Login | SendRecords | SendHeartbeat | SendCommandResponse)--> bytes
    server bytes --receive_data--> LoginAnswer / RecordsAck / HeartbeatAck
                                   / CommandRequest / ConnectionClosed      (events())

Examples
--------
>>> Accept(count=2)
Accept(count=2)
>>> Records(messages=({"ident": "1", "timestamp": 0.0},)).messages[0]["ident"]
'1'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telebench.errors import RemoteProtocolError
from telebench.model import Message

__all__ = [
    "Accept",
    "CommandRequest",
    "CommandResponse",
    "ConnectionClosed",
    "Event",
    "Heartbeat",
    "HeartbeatAck",
    "Identified",
    "Login",
    "LoginAnswer",
    "RawRecords",
    "Records",
    "RecordsAck",
    "Refuse",
    "Rejected",
    "SendCommand",
    "SendCommandResponse",
    "SendHeartbeat",
    "SendRecords",
]


class Event:
    """Base class of all session events."""

    __slots__ = ()


# --- emitted by the server role (what the device sent) ------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Identified(Event):
    """The device told who it is (Teltonika IMEI, Wialon ``#L#``, GT06 login 0x01).

    Answer with ``Accept()`` or ``Refuse(code=...)``.
    """

    ident: str
    password: str | None = None
    protocol_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Records(Event):
    """Messages the device sent; answer with ``Accept(count=n)`` once they are durable."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRecords(Event):
    """Records framed and checked but left undecoded (server role, ``defer_records``).

    The session has verified the frame (checksum, codec, record counts) and says how many
    records it holds; ``data`` is what :func:`telebench.protocols.decode_records` turns
    into messages, wherever the hub likes (another process). ``offset`` is the stream
    offset of ``data[0]`` and ``ident`` the ident to stamp on the messages. Answer like
    ``Records``: ``Accept(count=n)`` once stored, ``Refuse()`` if decoding fails.
    """

    protocol: str
    data: bytes
    offset: int
    ident: str | None
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Event):
    """A keep-alive (Teltonika ``0xFF``, Wialon ``#P#``, GT06 status 0x13).

    ``message`` holds the status parameters the heartbeat carries (GT06), if any. Answer
    with ``Accept()``; for protocols whose ping has no reply, ``send`` returns ``b""``.
    """

    message: Message | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResponse(Event):
    """The device's answer to a command (Teltonika Codec 12/13/14, GT06 0x15).

    ``accepted`` is False for a Codec 14 nACK (the IMEI did not match).
    """

    text: str
    ident: str | None = None
    timestamp: float | None = None
    accepted: bool = True
    server_flag: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected(Event):
    """A packet that was cut cleanly but cannot be accepted (bad CRC, bad field).

    The stream itself is still in sync. Answer with ``Refuse()``: the session sends the
    protocol's negative answer (Wialon ``#AD#16``, Teltonika ``00000000`` ...).
    """

    error: RemoteProtocolError
    raw: bytes = b""
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the stream (``receive_data(b"")``) at a frame boundary."""


# --- sent by the server role -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept(Event):
    """Answer the oldest pending event positively.

    For ``Records``, ``count`` is how many of its messages were stored (default: all).
    """

    count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refuse(Event):
    """Answer the oldest pending event negatively.

    ``code`` selects a protocol-specific answer code where the protocol has several
    (Wialon IPS ``#AL#01`` password error); the session picks the right default otherwise.
    """

    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCommand(Event):
    """Send a command to the device (Teltonika Codec 12/14, GT06 0x80, Wialon ``#M#``)."""

    text: str
    ident: str | None = None
    server_flag: int = 0


# --- sent by the client role (what a device sends) -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Login(Event):
    """Identify the device to the server."""

    ident: str
    password: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRecords(Event):
    """Send messages (one packet; the codec decides how many fit)."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendHeartbeat(Event):
    """Send a keep-alive (with status parameters where the protocol carries them)."""

    message: Message | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCommandResponse(Event):
    """Answer a command the server sent."""

    text: str
    server_flag: int = 0


# --- emitted by the client role (what the server sent) --------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginAnswer(Event):
    """The server's answer to ``Login``; ``code`` is the protocol's raw answer code."""

    accepted: bool
    code: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsAck(Event):
    """The server acknowledged ``count`` records of the oldest unacknowledged packet."""

    count: int
    code: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatAck(Event):
    """The server answered a heartbeat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest(Event):
    """The server sent a command; answer it with ``SendCommandResponse``."""

    text: str
    ident: str | None = None
    server_flag: int = 0
    extra: dict[str, str] = field(default_factory=dict)

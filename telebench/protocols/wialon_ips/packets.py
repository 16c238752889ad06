"""Wialon IPS packets: pure ``parse_*`` / ``build_*`` per packet type (protocols.md §4.2-4.4).

A packet is one line ``#TYPE#body\\r\\n``. The ``parse_*`` functions take the body text
*without* its v2.0 CRC (the session splits the CRC off with :func:`split_crc` and checks it
with :func:`check_crc`, because what a bad CRC means is session policy); the ``build_*``
functions return the whole line as bytes, CRC included for ``version="2.0"``.

CRC (v2.0): CRC-16/ARC over the body bytes up to and including the ``;`` (for ``#B#``
the ``|``) before the CRC, written as 4 upper-case hex digits. Received CRCs are read
leniently (``3CD``, ``0x9b0``, ``0XD7C7``) and compared as numbers.

Examples
--------
>>> build_login("868204002602414", None, version="2.0")
b'#L#2.0;868204002602414;NA;8E08\\r\\n'
>>> parse_login("2.0;868204002602414;NA;8E08")
LoginPacket(ident='868204002602414', password=None, version='2.0', crc='8E08')
>>> parse_data("NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;SOS:1:1", ident="7")
{'ident': '7', 'alarm.event': True}
>>> build_answer("AD", "16")
b'#AD#16\\r\\n'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from telebench.errors import LocalProtocolError
from telebench.model import Message
from telebench.protocols._crc import crc16_arc
from telebench.protocols.wialon_ips.common import D_FIELDS, NA, PROTOCOL, SD_FIELDS, PacketError
from telebench.protocols.wialon_ips.fields import parse_record
from telebench.protocols.wialon_ips.formats import check_text, format_record

__all__ = [
    "ANSWER_TYPES",
    "CRC_CODES",
    "PARSERS",
    "LoginPacket",
    "build_answer",
    "build_black_box",
    "build_data",
    "build_login",
    "build_message",
    "build_ping",
    "build_short_data",
    "build_udp",
    "check_crc",
    "crc_text",
    "parse_black_box",
    "parse_crc",
    "parse_data",
    "parse_login",
    "parse_message",
    "parse_short_data",
    "split_crc",
]

V1: Final = "1.1"
V2: Final = "2.0"

#: Packet type -> the type of the server's answer (protocols.md §4.3).
ANSWER_TYPES: Final = {"L": "AL", "SD": "ASD", "D": "AD", "B": "AB", "P": "AP", "M": "AM"}
#: Packet type -> the answer code for a CRC error (``#AB#`` is answered empty).
CRC_CODES: Final = {"L": "10", "SD": "13", "D": "16", "B": "", "M": "01"}


class LoginPacket(NamedTuple):
    """A parsed ``#L#`` body; ``crc`` is the CRC text of a v2.0 login.

    Examples
    --------
    >>> LoginPacket("1", None, "1.1", None).version
    '1.1'
    """

    ident: str
    password: str | None
    version: str
    crc: str | None


# --- CRC -----------------------------------------------------------------------------------


def crc_text(covered: bytes) -> str:
    """The CRC field the spec writes for ``covered``: 4 upper-case hex digits.

    Examples
    --------
    >>> crc_text(b"2.0;868204002602414;NA;")
    '8E08'
    """
    return f"{crc16_arc(covered):04X}"


def parse_crc(text: str) -> int:
    """The value of a received CRC field (1-4 hex digits, optional ``0x``/``0X`` prefix).

    Examples
    --------
    >>> parse_crc("3CD"), parse_crc("0x9b0"), parse_crc("0XD7C7")
    (973, 2480, 55239)
    """
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if 1 <= len(digits) <= 4 and digits.isascii() and digits.isalnum():
        try:
            return int(digits, 16)
        except ValueError:
            pass
    raise PacketError("-1", f"CRC field {text!r} is not 1-4 hex digits", 0)


def split_crc(body: str, sep: str = ";") -> tuple[str, str]:
    """Split a v2.0 body into the payload (without the last ``sep``) and the CRC text.

    Examples
    --------
    >>> split_crc("a;b;7A01")
    ('a;b', '7A01')
    """
    payload, found, crc = body.rpartition(sep)
    if not found:
        raise PacketError("-1", f"v2.0 packet has no {sep!r} before its CRC", 0)
    return payload, crc


def check_crc(covered: bytes, text: str) -> tuple[int, int]:
    """``(received, computed)`` CRC of ``covered`` (the bytes up to and including the
    separator before the CRC field ``text``).

    Examples
    --------
    >>> check_crc(b"2.0;868204002602414;NA;", "8e08")
    (36360, 36360)
    """
    return parse_crc(text), crc16_arc(covered)


def _with_crc(kind: str, payload: str, sep: str, version: str) -> bytes:
    if version == V1:
        return f"#{kind}#{payload}\r\n".encode()
    covered = (payload + sep).encode()
    return b"#%s#%s%s\r\n" % (kind.encode(), covered, crc_text(covered).encode())


# --- login, ping, answers, messages --------------------------------------------------------


def parse_login(body: str) -> LoginPacket:
    """Read a v1.1 ``imei;password`` or v2.0 ``2.0;imei;password;crc`` login body.

    Examples
    --------
    >>> parse_login("123456789012345;test")
    LoginPacket(ident='123456789012345', password='test', version='1.1', crc=None)
    """
    fields = body.split(";")
    if len(fields) == 4 and fields[0].startswith("2."):
        version, ident, password, crc = fields
    elif len(fields) in (1, 2):
        version, ident, password, crc = V1, fields[0], [*fields, NA][1], None
    else:
        raise PacketError("0", f"login has {len(fields)} fields, expected 2 or 4", 0)
    if not ident or ident == NA:
        index = 0 if crc is None else len(version) + 1
        raise PacketError("0", "login has no ident", index)
    return LoginPacket(ident, None if password == NA else password, version, crc)


def build_login(ident: str, password: str | None, *, version: str = V2) -> bytes:
    """The ``#L#`` line of a device (``password=None`` is sent as ``NA``).

    Examples
    --------
    >>> build_login("123456789012345", "test", version="1.1")
    b'#L#123456789012345;test\\r\\n'
    """
    check_text(ident, "ident", extra="#")
    secret = NA if password is None else check_text(password, "password")
    if version == V1:
        return f"#L#{ident};{secret}\r\n".encode()
    return _with_crc("L", f"{version};{ident};{secret}", ";", version)


def build_ping() -> bytes:
    """The ``#P#`` line (no CRC in either version).

    Examples
    --------
    >>> build_ping()
    b'#P#\\r\\n'
    """
    return b"#P#\r\n"


def build_answer(kind: str, code: str) -> bytes:
    """An answer line such as ``#AL#1`` (``kind`` is ``AL``, ``ASD``, ``AD``, ``AB``,
    ``AP`` or ``AM``; ``code`` may be empty).

    Examples
    --------
    >>> build_answer("AB", "2"), build_answer("AP", "")
    (b'#AB#2\\r\\n', b'#AP#\\r\\n')
    """
    return f"#{kind}#{code}\r\n".encode()


def parse_message(payload: str, *, ident: str | None = None) -> Message:
    """The message of a device's ``#M#`` driver text (payload without the v2.0 CRC).

    Examples
    --------
    >>> parse_message("груз доставлен", ident="1")
    {'ident': '1', 'driver.message': 'груз доставлен'}
    """
    msg: Message = {} if ident is None else {"ident": ident}
    msg["driver.message"] = payload
    return msg


def build_message(text: str, *, version: str = V2) -> bytes:
    """An ``#M#`` line: a server's message to the driver, or a driver's to the server.

    Examples
    --------
    >>> build_message("hello", version="1.1")
    b'#M#hello\\r\\n'
    """
    if "\r" in text or "\n" in text:
        raise LocalProtocolError(PROTOCOL, f"message text {text!r} contains a line break")
    return _with_crc("M", text, ";", version)


# --- data ----------------------------------------------------------------------------------


def _record(payload: str, ident: str | None, size: int, kind: str) -> Message:
    fields = payload.split(";")
    if len(fields) != size:
        raise PacketError("-1", f"{kind} has {len(fields)} fields, expected {size}", 0)
    msg: Message = {} if ident is None else {"ident": ident}
    parse_record(fields, msg)
    return msg


def parse_short_data(payload: str, *, ident: str | None = None) -> Message:
    """The message of an ``#SD#`` body (10 fields, without the v2.0 CRC).

    Examples
    --------
    >>> parse_short_data("270413;205601;NA;NA;NA;NA;1;2;3;4", ident="1")["timestamp"]
    1367096161.0
    """
    return _record(payload, ident, SD_FIELDS, "SD")


def parse_data(payload: str, *, ident: str | None = None) -> Message:
    """The message of a ``#D#`` body (16 fields, without the v2.0 CRC).

    Examples
    --------
    >>> parse_data("NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;0.9;1;NA;14.77,0.02;NA;NA")
    {'position.hdop': 0.9, 'din': 1, 'ain.1': 14.77, 'ain.2': 0.02}
    """
    return _record(payload, ident, D_FIELDS, "D")


def parse_black_box(payload: str, *, ident: str | None = None) -> tuple[Message, ...]:
    """The messages of a ``#B#`` body: ``|``-separated SD or D records (told by count).

    Errors carry answer code ``0`` (``#AB#0``: no record registered).

    Examples
    --------
    >>> [m["position.speed"] for m in parse_black_box("NA;NA;NA;NA;NA;NA;1;NA;NA;NA|"
    ...  "NA;NA;NA;NA;NA;NA;2.5;NA;NA;NA;NA;NA;NA;NA;NA;NA")]
    [1, 2.5]
    """
    if not payload:
        raise PacketError("0", "black box packet has no records", 0)
    messages = []
    base = 0
    for n, text in enumerate(payload.split("|"), 1):
        fields = text.split(";")
        if len(fields) not in (SD_FIELDS, D_FIELDS):
            reason = (
                f"record {n}: {len(fields)} fields, expected {SD_FIELDS} (SD) or {D_FIELDS} (D)"
            )
            raise PacketError("0", reason, base)
        msg: Message = {} if ident is None else {"ident": ident}
        try:
            parse_record(fields, msg, base=base)
        except PacketError as exc:
            raise PacketError("0", f"record {n}: {exc.reason}", exc.offset) from exc
        messages.append(msg)
        base += len(text) + 1
    return tuple(messages)


def build_short_data(msg: Message, *, version: str = V2) -> bytes:
    """The ``#SD#`` line of one message (only SD fields allowed).

    Examples
    --------
    >>> build_short_data({"position.speed": 2.92}, version="2.0")
    b'#SD#NA;NA;NA;NA;NA;NA;2.92;NA;NA;NA;7E14\\r\\n'
    """
    return _with_crc("SD", format_record(msg, short=True), ";", version)


def build_data(msg: Message, *, version: str = V2) -> bytes:
    """The ``#D#`` line of one message.

    Examples
    --------
    >>> build_data({"din": 1, "custom.hw": "V4.5"}, version="1.1")
    b'#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;1;NA;NA;NA;hw:3:V4.5\\r\\n'
    """
    return _with_crc("D", format_record(msg), ";", version)


def build_black_box(msgs: Sequence[Message], *, version: str = V2, short: bool = False) -> bytes:
    """The ``#B#`` line of several messages (SD records when ``short``, else D).

    Examples
    --------
    >>> build_black_box([{"position.speed": 1}, {"position.speed": 2}], version="1.1",
    ...                 short=True)
    b'#B#NA;NA;NA;NA;NA;NA;1;NA;NA;NA|NA;NA;NA;NA;NA;NA;2;NA;NA;NA\\r\\n'
    """
    payload = "|".join(format_record(msg, short=short) for msg in msgs)
    return _with_crc("B", payload, "|", version)


def build_udp(line: bytes, ident: str, *, version: str = V2) -> bytes:
    """A UDP datagram: ``imei#...`` (v1.1) or ``2.0;imei#...`` (v2.0) before the line.

    Examples
    --------
    >>> build_udp(b"#P#\\r\\n", "99", version="1.1")
    b'99#P#\\r\\n'
    """
    check_text(ident, "ident", extra="#")
    prefix = ident if version == V1 else f"{version};{ident}"
    return prefix.encode() + line


#: Record packet type -> parser of its CRC-less payload (session dispatch).
PARSERS: Final[dict[str, Callable[..., Message | tuple[Message, ...]]]] = {
    "SD": parse_short_data,
    "D": parse_data,
    "B": parse_black_box,
    "M": parse_message,
}

"""GT06 commands (0x80, server to device) and command replies (0x15), protocols.md §5.6.

Both share one layout: command length (1 byte, = 4 + text length), server flag (4 bytes,
echoed back unchanged by the device), the text, and in the device's reply a 2-byte
language word. The captured server commands (Concox Appendix B, traccar) carry no language,
so :func:`build_command` writes none; :func:`parse_command` accepts both forms.

Examples
--------
>>> parse_command(bytes.fromhex("0C0000000052656C61792C3123")).text
'Relay,1#'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.protocols.gt06.framing import PROTOCOL, build_frame, u16_bytes

__all__ = [
    "COMMAND",
    "COMMAND_REPLY",
    "LANGUAGE_ENGLISH",
    "CommandText",
    "build_command",
    "build_command_reply",
    "parse_command",
]

#: Server command (protocols.md §5.2).
COMMAND: Final = 0x80
#: Device's string / command reply.
COMMAND_REPLY: Final = 0x15
#: Language value for English (1 = Chinese), Concox §5.5; GT06 writes it as byte or word.
LANGUAGE_ENGLISH: Final = 2


@dataclass(frozen=True, slots=True)
class CommandText:
    """A command (0x80) or command reply (0x15): server flag, text, optional language."""

    server_flag: int
    text: str
    language: int | None = None


def parse_command(content: bytes) -> CommandText:
    """Read a command or command reply: length (4 + text), server flag, text [, language].

    The text is read as Latin-1, so every byte maps to one character (the document says
    ASCII).

    Examples
    --------
    >>> parse_command(bytes.fromhex("100001A9584459443D53756363657373210002"))
    CommandText(server_flag=108888, text='DYD=Success!', language=2)
    """
    size = len(content)
    if size < 5:
        raise MalformedPacketError(
            PROTOCOL,
            f"command content of {size} bytes lacks the length and server flag",
            offset=size,
            data=content,
        )
    length = content[0]
    rest = size - 1 - length
    if length < 4 or rest not in (0, 2):
        raise MalformedPacketError(
            PROTOCOL,
            f"command length {length} does not fit a content of {size} bytes "
            "(length byte + flag and text + optional 2-byte language)",
            offset=0,
            data=content,
        )
    language = int.from_bytes(content[size - 2 :]) if rest else None
    text = content[5 : 1 + length].decode("latin-1")
    return CommandText(int.from_bytes(content[1:5]), text, language)


def build_command(text: str, server_flag: int, serial: int) -> bytes:
    """A server command frame (0x80): length, server flag, ASCII text (no language).

    Examples
    --------
    >>> build_command("DYD,000000#", 0x0001A958, 0xA0).hex().upper()
    '787815800F0001A9584459442C3030303030302300A0DCF10D0A'
    """
    return build_frame(COMMAND, _command_content(text, server_flag), serial)


def build_command_reply(
    text: str, server_flag: int, serial: int, *, language: int = LANGUAGE_ENGLISH
) -> bytes:
    """A device's command reply frame (0x15): length, server flag, text, language word.

    Examples
    --------
    >>> build_command_reply("DYD=Success!", 0x0001A958, 0x18).hex().upper()
    '78781815100001A9584459443D53756363657373210002001891770D0A'
    """
    content = _command_content(text, server_flag) + u16_bytes(language, "language")
    return build_frame(COMMAND_REPLY, content, serial)


def _command_content(text: str, server_flag: int) -> bytes:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(PROTOCOL, f"command text {text!r} is not Latin-1") from exc
    if len(raw) > 0xFF - 4:
        raise LocalProtocolError(PROTOCOL, f"command text of {len(raw)} bytes exceeds 251")
    if not 0 <= server_flag <= 0xFFFFFFFF:
        raise LocalProtocolError(PROTOCOL, f"server flag {server_flag} does not fit 32 bits")
    return bytes((4 + len(raw),)) + server_flag.to_bytes(4, "big") + raw

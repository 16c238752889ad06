"""Wialon IPS framing: ASCII lines ``#TYPE#body\\r\\n`` over TCP, one packet per UDP datagram.

Theory of operation (protocols.md §4.1): over TCP a frame starts with ``#`` and ends at
the first ``\\r\\n``. The session takes *every* complete line out of its receive buffer in
one copy (up to the last ``\\r\\n``, found with :func:`find_last_line_end`) and then cuts
them one by one from that chunk: one buffer operation per read rather than per line. The
search resumes where the previous one stopped, so a byte-by-byte feed costs linear time,
and a partial line is refused as soon as it reaches ``max_frame_size`` bytes. Over UDP
each datagram is one packet, optionally prefixed by ``imei`` (v1.1) or ``2.0;imei`` (v2.0)
and optionally ending in ``\\r\\n``.

Text is UTF-8 (the vectors hold Cyrillic); a body that is not valid UTF-8 is read as
cp1251, the Russian Windows code page many devices use.

Examples
--------
>>> find_last_line_end(bytearray(b"#P#\\r\\n#P#\\r\\n#SD#"), 0)
8
>>> split_datagram(b"2.0;868204002602414#P#\\r\\n")
('2.0', '868204002602414', 19, 22)
>>> decode_text("Батарея".encode("cp1251"))
('Батарея', 'cp1251')
"""

from __future__ import annotations

from typing import Final

__all__ = ["CRLF", "decode_text", "find_last_line_end", "split_datagram"]

CRLF: Final = b"\r\n"


def find_last_line_end(data: bytearray, scan: int) -> int:
    """Index of the last ``\\r\\n`` in ``data`` (searching from ``scan`` on), or -1.

    Examples
    --------
    >>> find_last_line_end(bytearray(b"#P#\\r\\n#P#\\r\\n#P"), 0)
    8
    """
    return data.rfind(CRLF, scan)


def decode_text(body: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a body: UTF-8, else cp1251; raises ``UnicodeDecodeError``
    when it is neither.

    Examples
    --------
    >>> decode_text("груз".encode())
    ('груз', 'utf-8')
    """
    try:
        return body.decode(), "utf-8"
    except UnicodeDecodeError:
        return body.decode("cp1251"), "cp1251"


def split_datagram(data: bytes) -> tuple[str | None, str | None, int, int] | None:
    """``(version, ident, packet start, packet end)`` of a UDP datagram, or ``None`` when
    it holds no ``#``. An ``imei#`` prefix is version ``1.1``; without a prefix both are
    ``None``; the end excludes one trailing ``\\r\\n``.

    Examples
    --------
    >>> split_datagram(b"2.0;99999999#P#\\r\\n")
    ('2.0', '99999999', 12, 15)
    >>> split_datagram(b"99999999#P#")
    ('1.1', '99999999', 8, 11)
    """
    at = data.find(b"#")
    if at < 0:
        return None
    end = len(data) - 2 if data.endswith(CRLF) else len(data)
    if not at:
        return None, None, 0, end
    prefix = data[:at].decode("latin-1")
    version, sep, ident = prefix.rpartition(";")
    return (version if sep else "1.1"), ident, at, end

"""OsmAnd / Traccar Client HTTP protocol (decode only), protocols.md §6.

Examples
--------
>>> decode_payload(b"GET /?id=1&lat=60.0&lon=30.0 HTTP/1.1", ident=None, transport="http",
...                on_bad_checksum="raise")[0]["position.latitude"]
60.0
"""

from __future__ import annotations

from typing import Literal

from telebench.errors import ConfigError, MalformedPacketError
from telebench.model import Message
from telebench.protocols.osmand.packets import build_query, parse_json, parse_query, parse_request
from telebench.protocols.osmand.session import OsmAndSession

__all__ = [
    "Session",
    "build_query",
    "decode_payload",
    "parse_json",
    "parse_query",
    "parse_request",
]

Session = OsmAndSession

_METHODS = (b"GET ", b"POST ", b"PUT ")


def decode_payload(
    payload: bytes,
    *,
    ident: str | None,
    transport: str,
    on_bad_checksum: Literal["raise", "flag"],
) -> list[Message]:
    """The message of one HTTP request (as captured), a query string or a JSON body.

    Captures are read leniently (a bare request line, no ``Host`` or ``Content-Length``);
    live traffic goes through :class:`OsmAndSession`, whose HTTP framing is strict. OsmAnd
    has no checksum, so ``on_bad_checksum`` has no effect.
    """
    if transport != "http":
        raise ConfigError(f"osmand runs over http, not {transport!r}")
    text = payload.strip()
    if not text.startswith(_METHODS):
        if text.startswith(b"{"):
            return [parse_json(text, ident=ident)]
        return [parse_query(text.decode("utf-8", errors="replace").lstrip("?"), ident=ident)]
    head, body = text, b""
    for blank_line in (b"\r\n\r\n", b"\n\n"):
        if blank_line in text:
            head, _, body = text.partition(blank_line)
            break
    lines = head.splitlines()
    parts = lines[0].split(b" ")
    if len(parts) < 2:
        raise MalformedPacketError("osmand", "request line lacks a target", offset=0, data=text)
    content_type = ""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            content_type = value.strip().decode("latin-1")
    target = parts[1].decode("latin-1")
    return [parse_request(target, body, content_type=content_type, ident=ident)]

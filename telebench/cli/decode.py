"""``telebench decode``: bytes of a tracker protocol in, JSON lines of messages out."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from telebench.errors import ConfigError, ProtocolError
from telebench.protocols import PROTOCOLS, decode

__all__ = ["decode_command", "parse_hex"]

_HEX_NOISE = re.compile(r"(0x)|[\s:,-]", re.IGNORECASE)


def parse_hex(text: str) -> bytes:
    """Bytes from hex text, tolerating spaces, colons, dashes and ``0x`` prefixes.

    Examples
    --------
    >>> parse_hex("78 78 0D 01"), parse_hex("0x00:0f")
    (b'xx\\r\\x01', b'\\x00\\x0f')
    """
    cleaned = _HEX_NOISE.sub("", text)
    try:
        return bytes.fromhex(cleaned)
    except ValueError as exc:
        raise click.BadParameter(f"not hex: {exc}", param_hint="--hex") from None


@click.command("decode")
@click.option(
    "--protocol",
    "-p",
    required=True,
    type=click.Choice(sorted(PROTOCOLS)),
    help="Protocol of the payload.",
)
@click.option("--hex", "hex_text", help="Payload as hex (spaces, colons and 0x are ignored).")
@click.option("--text", help="Payload as text (Wialon IPS lines, OsmAnd requests); \\r\\n added.")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Payload file: raw bytes, or hex text if it is all hex digits. '-' is not accepted.",
)
@click.option("--ident", help="Device ident for frames that carry none (GT06 after login...).")
@click.option(
    "--transport",
    type=click.Choice(["tcp", "udp", "http"]),
    help="Transport the payload came over (default: the protocol's first).",
)
@click.option(
    "--flag-bad-checksum",
    is_flag=True,
    help="Decode frames with a bad CRC, flagged checksum.valid=false, instead of failing.",
)
def decode_command(
    protocol: str,
    hex_text: str | None,
    text: str | None,
    path: Path | None,
    ident: str | None,
    transport: str | None,
    flag_bad_checksum: bool,
) -> None:
    """Decode one frame, datagram, line or HTTP request and print its messages as JSON lines.

    \b
    Examples:
      telebench decode -p teltonika --hex 000F333536333037303432343431303133
      telebench decode -p gt06 --ident 123456789012345 \\
          --hex 78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A
      telebench decode -p wialon_ips --text '#L#2.0;868204002602414;NA;8E08'
      telebench decode -p osmand --text 'GET /?id=1&lat=60&lon=30&speed=10 HTTP/1.1'
      telebench decode -p teltonika --transport udp --file capture.bin

    A login or ping prints nothing. On malformed input the error names the protocol, the
    byte offset and the bytes around it, and the exit code is 2.
    """
    payload = _payload(protocol, hex_text, text, path)
    try:
        messages = decode(
            protocol,
            payload,
            ident=ident,
            transport=transport,  # type: ignore[arg-type]
            on_bad_checksum="flag" if flag_bad_checksum else "raise",
        )
    except (ProtocolError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for message in messages:
        click.echo(json.dumps(message, ensure_ascii=False))


def _payload(protocol: str, hex_text: str | None, text: str | None, path: Path | None) -> bytes:
    given = [
        name
        for name, value in (("--hex", hex_text), ("--text", text), ("--file", path))
        if value is not None
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --hex, --text or --file")
    if hex_text is not None:
        return parse_hex(hex_text)
    if text is not None:
        line = text.encode("utf-8")
        if protocol == "wialon_ips" and not line.endswith(b"\r\n"):
            line += b"\r\n"
        return line
    assert path is not None
    raw = path.read_bytes()
    stripped = raw.strip()
    if (
        stripped
        and re.fullmatch(rb"[0-9A-Fa-f\s:]+", stripped)
        and protocol
        not in (
            "wialon_ips",
            "osmand",
        )
    ):
        return parse_hex(stripped.decode("ascii"))
    return raw

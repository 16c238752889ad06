"""Fault injection on the wire and plausible command answers.

Examples
--------
>>> frame = bytes.fromhex("78780A134401040001000508450D0A")
>>> corrupt_crc("gt06", "tcp", frame).hex().upper()
'78780A1344010400010005F7450D0A'
>>> corrupt_crc("wialon_ips", "tcp", b"#P#\\r\\n", version="1.1") is None
True
>>> command_answer("teltonika", "getver")[:4]
'Ver:'
"""

from __future__ import annotations

__all__ = ["command_answer", "corrupt_crc", "has_crc"]

_HEX_SWAP = str.maketrans("0123456789ABCDEFabcdef", "123456789ABCDEF0bcdefa")


def has_crc(protocol: str, transport: str, version: str | None = None) -> bool:
    """Whether packets of this protocol carry a checksum the hub verifies."""
    if protocol == "teltonika":
        return transport == "tcp"  # Teltonika UDP datagrams have no CRC
    if protocol == "wialon_ips":
        return version != "1.1"
    return protocol == "gt06"


def corrupt_crc(
    protocol: str, transport: str, data: bytes, *, version: str | None = None
) -> bytes | None:
    """``data`` with one CRC byte changed (the last frame's), or ``None`` without a CRC."""
    if not has_crc(protocol, transport, version) or len(data) < 4:
        return None
    if protocol == "teltonika":
        return data[:-1] + bytes([data[-1] ^ 0xFF])  # CRC-16 in the u32's low bytes
    if protocol == "gt06":
        at = len(data) - 4  # CRC-16 just before the 0D 0A stop bytes
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    # Wialon IPS 2.0: the line ends in ";" + 4 hex digits + CR LF; change one digit.
    at = len(data) - 3
    digit = chr(data[at]).translate(_HEX_SWAP).encode("ascii")
    return data[:at] + digit + data[at + 1 :]


_TELTONIKA_ANSWERS = {
    "getinfo": "RTC:2026/1/1 0:0 Init:2026/1/1 0:0 UpTime:3600s PWR:PwrVoltage RST:0 GPS:3 "
    "SAT:11 TTFF:18 TTLF:0 NOGPS:0:0 SR:0 FG:0 FL:0 SMS:0 REC:0 MD:0 DB:0",
    "getver": "Ver:03.27.07_00 GPS:AXN_5.1.9 Hw:FMB920 Mod:27 IMEI:0 Init:2026-1-1 0:0 "
    "Uptime:3600 MAC:000000000000 SPC:1(0) AXL:1 OBD:0 BL:1.10 BT:4",
    "getstatus": "Data Link: 1 GPRS: 1 Phone: 0 SIM: 0 OP: 24602 Signal: 5 NewSMS: 0 "
    "Roaming: 0 SMSFull: 0 LAC: 10365 Cell ID: 8120 NetType: 1 FwUpd:-1",
}


def command_answer(protocol: str, text: str) -> str:
    """What a tracker of ``protocol`` answers to command ``text``.

    Examples
    --------
    >>> command_answer("gt06", "RESET#")
    'RESET OK!'
    >>> command_answer("wialon_ips", "anything")
    '1'
    """
    word = text.strip().split(" ", 1)[0].rstrip("#")
    if protocol == "wialon_ips":
        return "1"  # #AM#1: the message was received
    if protocol == "gt06":
        return f"{word.upper()} OK!"
    if word.lower() in _TELTONIKA_ANSWERS:
        return _TELTONIKA_ANSWERS[word.lower()]
    if word.lower() == "setdigout":
        states = text.split(" ", 1)[1] if " " in text else "0"
        return f"DOUT1:{states[:1]} DOUT2:{states[1:2] or '0'} Timeout:INFINITY"
    return f"Command {text!r} accepted"

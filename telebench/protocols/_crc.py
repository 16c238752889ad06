"""C-speed CRCs used by the codecs (protocols.md §2).

=========== ============== ====== ======= ====== ======== ==========
vendor name  catalogue      poly   init    refin  xorout   check
=========== ============== ====== ======= ====== ======== ==========
CRC-16/IBM   CRC-16/ARC     0x8005 0x0000  yes    0x0000   0xBB3D
CRC-ITU      CRC-16/X-25    0x1021 0xFFFF  yes    0xFFFF   0x906E
=========== ============== ====== ======= ====== ======== ==========

Examples
--------
>>> hex(crc16_arc(b"123456789")), hex(crc16_x25(b"123456789"))
('0xbb3d', '0x906e')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import anycrc

__all__ = ["crc16_arc", "crc16_x25"]

_ARC = anycrc.Model("CRC16-ARC")
_X25 = anycrc.Model("CRC16-IBM-SDLC")  # the catalogue alias of CRC-16/X-25

#: CRC-16/ARC: Teltonika TCP frames and Wialon IPS 2.0 text.
crc16_arc: Final[Callable[[bytes | bytearray | memoryview], int]] = _ARC.calc
#: CRC-16/X-25: GT06 / Concox frames.
crc16_x25: Final[Callable[[bytes | bytearray | memoryview], int]] = _X25.calc

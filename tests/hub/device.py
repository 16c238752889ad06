"""A blocking test device: a client-role session over a real socket."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from telebench.model import Message
from telebench.protocols import Role, new_session
from telebench.protocols.events import (
    ConnectionClosed,
    Event,
    Login,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)


class Device:
    """Connects to the hub and speaks one protocol as a tracker would."""

    def __init__(
        self, protocol: str, port: int, ident: str, *, transport: str = "tcp", **options: Any
    ) -> None:
        self.protocol = protocol
        self.ident = ident
        self.transport = transport
        if transport == "udp":
            options.setdefault("ident", ident)
        self.session = new_session(protocol, Role.CLIENT, transport=transport, options=options)
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(10)
        self.wire = bytearray()  # every byte this device sent
        self.sock.connect(("127.0.0.1", port))

    def send_raw(self, data: bytes) -> None:
        self.wire += data
        self.sock.sendall(data) if self.transport == "tcp" else self.sock.send(data)

    def exchange(self, event: Event, *, answers: int = 1) -> list[Event]:
        """Send one client event and wait for ``answers`` events back."""
        self.send_raw(self.session.send(event))
        return self.read(answers)

    def read(self, answers: int = 1) -> list[Event]:
        got: list[Event] = []
        while len(got) < answers:
            data = self.sock.recv(65536)
            self.session.receive_data(data)
            got.extend(self.session.events())
            if not data or any(isinstance(e, ConnectionClosed) for e in got):
                break
        return got

    def login(self, password: str | None = None) -> list[Event]:
        return self.exchange(Login(ident=self.ident, password=password))

    def send(self, messages: Sequence[Message]) -> list[Event]:
        return self.exchange(SendRecords(messages=tuple(messages)))

    def heartbeat(self) -> list[Event]:
        return self.exchange(SendHeartbeat())

    def answer_command(self, text: str) -> None:
        self.send_raw(self.session.send(SendCommandResponse(text=text)))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

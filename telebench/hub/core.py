"""The hub's state inside its event loop: channels, devices met, commands, logs.

:class:`HubCore` is what connections talk to. It owns the stores of one store folder
(registry, group-committed WAL, telemetry, logs, command queue, Parquet dataset through the
:class:`~telebench.hub.flusher.Flusher`) and the asyncio servers of every channel.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from telebench.errors import ProtocolError, TelebenchError
from telebench.hub.capture import Direction, append_raw
from telebench.hub.config import ChannelConfig, HubConfig
from telebench.hub.connection import StreamConnection
from telebench.hub.datagram import DatagramChannel
from telebench.hub.durable import GroupCommit
from telebench.hub.offload import Offload
from telebench.hub.pipeline import Origin, RecentMessages
from telebench.hub.stores import Stores
from telebench.protocols.events import CommandResponse, Rejected
from telebench.store.registry import Device, check_password
from telebench.store.wal import WriteAheadLog

__all__ = ["UNFLUSHED_IN_MEMORY", "ChannelRuntime", "Decision", "HubCore"]

#: Bytes of acked NDJSON kept in memory for the flusher (about 5 s at 50,000 records/s).
UNFLUSHED_IN_MEMORY: Final = 128 * 2**20

_SWEEP_SECONDS: Final = 1.0
_EXCERPT: Final = 32


@dataclass(eq=False)
class ChannelRuntime:
    """A configured channel and what runs for it."""

    id: int
    config: ChannelConfig
    connections: set[StreamConnection] = field(default_factory=set)
    server: asyncio.Server | None = None
    datagram: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the channel listens (the real port when 0 was asked for)."""
        if self.server is not None and self.server.sockets:
            host, port = self.server.sockets[0].getsockname()[:2]
            return str(host), int(port)
        if self.datagram is not None:
            host, port = self.datagram.get_extra_info("sockname")[:2]
            return str(host), int(port)
        return self.config.host, self.config.port


@dataclass(frozen=True, slots=True)
class Decision:
    """What the hub does with an ident: accept it, or refuse it for ``reason``.

    ``code`` picks the protocol's refusal answer where it has several (Wialon ``#AL#01``).
    """

    ident: str
    device: Device | None
    reason: str | None = None
    code: str | None = None

    @property
    def refused(self) -> bool:
        """Whether the device is refused."""
        return self.reason is not None

    def origin(self, channel: ChannelRuntime, peer: str) -> Origin:
        """The origin stamped on this device's records."""
        device_id = self.device.id if self.device is not None else None
        return Origin(self.ident, device_id, channel.id, channel.config.protocol, peer)


class HubCore:
    """State shared by every connection of one hub (lives in the hub's event loop)."""

    def __init__(
        self,
        config: HubConfig,
        loop: asyncio.AbstractEventLoop,
        wal: WriteAheadLog,
        recent: RecentMessages,
        stores: Stores,
        *,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.loop = loop
        # Acks wait once max_unflushed_mb of acked records wait for Parquet (backpressure);
        # past UNFLUSHED_IN_MEMORY of them, the flusher reads the rest back from the WAL.
        self.commit = GroupCommit(
            wal,
            loop,
            on_durable,
            max_backlog=int(config.max_unflushed_mb * 2**20),
            on_hold=stores.log_backlog,
            memory_limit=UNFLUSHED_IN_MEMORY,
            round_interval=config.commit_interval,
        )
        self.recent = recent
        self.registry = stores.registry
        self.logs = stores.logs
        self.commands = stores.commands
        self.raw_folder = Path(config.store) / "raw"
        self.channels = [ChannelRuntime(i + 1, c) for i, c in enumerate(config.channels)]
        self.live: dict[tuple[str, str], StreamConnection] = {}
        self.offload: Offload | None = None  # decoder processes, once started
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, durable: list[bytes] | None = None) -> None:
        """Start the decoder processes (warmed with ``durable`` payloads), then every
        channel's server and the periodic sweeps."""
        if self.config.decoder_processes:
            offload = Offload(
                self.commit,
                self.loop,
                self.recent,
                processes=self.config.decoder_processes,
                on_stopped=lambda why: self.logs.add("decoder.stopped", reason=why),
            )
            self.offload = offload  # before any channel opens: sessions ask for it
            await offload.start(durable or [])
        for channel in self.channels:
            cfg = channel.config
            if cfg.transport == "udp":
                transport, _ = await self.loop.create_datagram_endpoint(
                    lambda ch=channel: DatagramChannel(self, ch),  # type: ignore[misc]
                    local_addr=(cfg.host, cfg.port),
                )
                channel.datagram = transport
            else:
                channel.server = await self.loop.create_server(
                    lambda ch=channel: StreamConnection(self, ch),  # type: ignore[misc]
                    cfg.host,
                    cfg.port,
                    backlog=4096,
                    reuse_address=True,
                )
        self._tasks.append(self.loop.create_task(self._sweep()))

    async def stop(self) -> None:
        """Stop accepting, let pending acks out, close every connection."""
        self.commit.release()  # acks held for a flusher behind go out: the WAL has them
        for task in self._tasks:
            task.cancel()
        for channel in self.channels:
            if channel.server is not None:
                channel.server.close()
            if channel.datagram is not None:
                channel.datagram.close()
        await asyncio.sleep(0)
        for channel in self.channels:
            for conn in list(channel.connections):
                conn.close("hub stopped")
        deadline = self.loop.time() + 2.0
        while any(ch.connections for ch in self.channels) and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self.offload is not None:  # its last answers still go to the WAL
            await self.offload.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(
                min([_SWEEP_SECONDS] + [c.idle_timeout / 4 for c in self.config.channels])
            )
            now = time.monotonic()
            for channel in self.channels:
                limit = channel.config.idle_timeout
                for conn in [c for c in channel.connections if now - c.last_activity > limit]:
                    conn.close("idle timeout")
            try:
                expired = self.commands.expire(time.time())
            except TelebenchError as exc:  # keep sweeping; the next round retries
                self.logs.add("flush.error", reason=f"command expiry: {exc}")
                continue
            for command in expired:
                self.logs.add(
                    "command.expired",
                    ident=command.ident,
                    protocol=command.protocol,
                    detail=f"#{command.id}: {command.text}",
                )

    # --- devices ----------------------------------------------------------------------------

    def identify(
        self, channel: ChannelRuntime, ident: str, password: str | None, peer: str
    ) -> Decision:
        """Match ``ident`` to a device, applying the channel's unknown-device policy."""
        cfg = channel.config
        device = self.registry.resolve(ident, cfg.protocol, policy=cfg.unknown_devices)
        if device is None:
            if cfg.unknown_devices == "refuse":
                return Decision(ident, None, reason="unknown device")
            self.logs.add(
                "unknown.device",
                channel=channel.id,
                protocol=cfg.protocol,
                ident=ident,
                peer=peer,
                reason="stored as channel-only",
            )
            return Decision(ident, None)
        if not device.enabled:
            return Decision(ident, device, reason="device disabled")
        if not check_password(device, password):
            code = "01" if cfg.protocol == "wialon_ips" else None
            return Decision(ident, device, reason="wrong password", code=code)
        return Decision(ident, device)

    def connection_identified(self, conn: StreamConnection) -> None:
        """Remember the live connection and deliver its queued commands."""
        assert conn.ident is not None
        key = (conn.ident, conn.channel.config.protocol)
        old = self.live.get(key)
        if old is not None and old is not conn:
            old.close("replaced by a new connection")
        self.live[key] = conn
        self.deliver_commands(*key)

    def connection_closed(self, conn: StreamConnection) -> None:
        """Forget a closed connection; its unanswered commands go back to the queue."""
        if conn.ident is None:
            return
        key = (conn.ident, conn.channel.config.protocol)
        if self.live.get(key) is conn:
            del self.live[key]
            if conn.commands_sent:  # skip a SQLite write for the many that had none
                self.commands.requeue_unanswered(*key)

    # --- commands ---------------------------------------------------------------------------

    def deliver_commands(self, ident: str, protocol: str) -> int:
        """Send every due command of a connected device; returns how many went out."""
        conn = self.live.get((ident, protocol))
        if conn is None:
            return 0
        sent = 0
        for command in self.commands.due(ident, protocol, time.time()):
            if not conn.send_command(command.text):
                break
            self.commands.mark_sent(command.id, time.time())
            conn.commands_sent += 1
            self.log("command.sent", conn, detail=f"#{command.id}: {command.text}")
            sent += 1
        return sent

    def command_response(self, conn: StreamConnection, event: CommandResponse) -> None:
        """Record a device's answer against its oldest command awaiting one."""
        if conn.ident is None:
            return
        command = self.commands.complete(
            conn.ident, conn.channel.config.protocol, event.text, time.time()
        )
        detail = f"#{command.id}: {event.text}" if command else f"(unsolicited) {event.text}"
        self.log("command.response", conn, detail=detail)

    # --- logs and capture -------------------------------------------------------------------

    def log(self, event: str, conn: StreamConnection, **extra: str | int | None) -> None:
        """Log a connection event with the connection's channel, ident and peer."""
        fields: dict[str, str | int | None] = {
            "channel": conn.channel.id,
            "protocol": conn.channel.config.protocol,
            "ident": conn.ident,
            "peer": conn.peer,
        }
        fields.update(extra)
        self.logs.add(event, **fields)  # type: ignore[arg-type]

    def log_error(self, conn: StreamConnection, exc: ProtocolError) -> None:
        """Log a parse error with its stream offset and the offending bytes in hex."""
        self.log(
            "parse.error", conn, reason=exc.reason, offset=exc.offset, data_hex=exc.excerpt or None
        )

    def log_rejected(self, conn: StreamConnection, event: Rejected) -> None:
        """Log a packet the session cut cleanly but could not accept (bad CRC ...)."""
        self.log(
            "packet.rejected",
            conn,
            reason=event.error.reason,
            offset=event.error.offset,
            data_hex=event.error.excerpt or _excerpt(event.raw),
        )

    def log_rejected_datagram(self, channel: ChannelRuntime, peer: str, event: Rejected) -> None:
        """UDP flavour of :meth:`log_rejected`."""
        self.logs.add(
            "packet.rejected",
            channel=channel.id,
            protocol=channel.config.protocol,
            peer=peer,
            reason=event.error.reason,
            data_hex=event.error.excerpt or _excerpt(event.raw),
        )

    def log_datagram_error(self, channel: ChannelRuntime, peer: str, exc: ProtocolError) -> None:
        """UDP flavour of :meth:`log_error`."""
        self.logs.add(
            "parse.error",
            channel=channel.id,
            protocol=channel.config.protocol,
            peer=peer,
            reason=exc.reason,
            offset=exc.offset,
            data_hex=exc.excerpt or None,
        )

    def log_refused_datagram(
        self, channel: ChannelRuntime, peer: str, ident: str, reason: str | None
    ) -> None:
        """A datagram from a refused ident."""
        self.logs.add(
            "device.refused",
            channel=channel.id,
            protocol=channel.config.protocol,
            peer=peer,
            ident=ident,
            reason=reason,
        )

    def wants_capture(self, ident: str) -> bool:
        """Whether raw traffic of ``ident`` is captured (``capture_raw`` patterns)."""
        return any(fnmatch.fnmatchcase(ident, p) for p in self.config.capture_raw)

    def capture(self, conn: StreamConnection, direction: Direction, data: bytes) -> None:
        """Append a chunk of raw traffic to ``raw/<ident>.tbraw`` (:mod:`.capture`)."""
        append_raw(self.raw_folder / f"{conn.ident}.tbraw", direction, data)


def _excerpt(data: bytes | None) -> str | None:
    return data[:_EXCERPT].hex(" ") if data else None

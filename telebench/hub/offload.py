"""Decoding off the event loop: the hub's side of the decoder processes.

With ``decoder_processes = N`` (default 0 where the C path is built, else 1),
connections hand the AVL data Teltonika TCP sessions leave undecoded (``RawRecords``) to
:meth:`Offload.submit`, which queues it for one of N
:mod:`~telebench.hub.decoder_process` processes (a device always goes to the same one,
which holds its duplicate window) and returns a
:class:`~telebench.hub.durable.Ticket` at once. What the loop sent during one iteration
leaves as one batch; each answer, a packet's NDJSON payload, goes straight to the group
commit with that ticket, so the device is acked after the fsync as for any other packet.

Nothing is lost when a process fails. A packet that does not decode comes back without a
payload and is decoded again here, to log its error and refuse it; if a process dies, the
packets it had not answered, and every later one, are decoded in the loop (logged as
``decoder.stopped``); so are those of a process killed for answering nothing for
``ANSWER_TIMEOUT`` seconds while packets wait (hung, or stopped). Those fall back on the
loop's duplicate window, which has not seen what the process stored since the start: a
device resending such records then has them stored twice until compaction drops the copy.

Examples
--------
>>> import asyncio, tempfile
>>> from telebench.hub.durable import GroupCommit
>>> from telebench.hub.pipeline import Origin, RecentMessages
>>> from telebench.protocols.events import RawRecords
>>> from telebench.protocols.teltonika import build_avl_packet
>>> from telebench.store.wal import WriteAheadLog
>>> async def main() -> bytes:
...     loop = asyncio.get_running_loop()
...     commit = GroupCommit(WriteAheadLog(tempfile.mkdtemp()), loop)
...     offload = Offload(commit, loop, RecentMessages(), processes=1)
...     await offload.start([])
...     packet = build_avl_packet(0x8E, [{"timestamp": 1.0}])
...     event = RawRecords(protocol="teltonika", data=packet[8:-4], offset=8, ident="1", count=1)
...     done = loop.create_future()
...     origin = Origin("1", None, 1, "teltonika", "peer")
...     offload.submit(event, origin, 2.0, done.set_result)
...     ticket = await done
...     await offload.close()
...     commit.close()
...     commit.wal.close()
...     return commit.take_unflushed()[0][1][:16]
>>> asyncio.run(main())
b'{"ident":"1","ti'
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable
from typing import Final

from telebench.errors import ConfigError, RemoteProtocolError, StoreError, TelebenchError
from telebench.hub import decoder_process as wire
from telebench.hub.durable import GroupCommit, Ticket
from telebench.hub.pipeline import Origin, RecentMessages, origin_fields, prepare_raw
from telebench.protocols.events import RawRecords

__all__ = ["ANSWER_TIMEOUT", "Offload", "decode_here"]

_LOG = logging.getLogger("telebench.hub")
_WARM_CHUNK: Final = 2_000  # payloads a WARM frame (~10 MB): one in flight at a time
_CLOSE_TIMEOUT: Final = 30.0  # s to answer what was sent before the process is killed
#: Seconds a process may leave packets unanswered before it is killed (a hung process).
ANSWER_TIMEOUT = 30.0

OnDone = Callable[[Ticket], None]
_Waiting = tuple[Ticket, OnDone, RawRecords, Origin, float]


class Offload:
    """The hub's decoder processes (see the module doc); lives in the hub's event loop."""

    def __init__(
        self,
        commit: GroupCommit,
        loop: asyncio.AbstractEventLoop,
        recent: RecentMessages,
        *,
        processes: int = 1,
        on_stopped: Callable[[str], None] | None = None,
    ) -> None:
        self.commit = commit
        self.loop = loop
        self.recent = recent  # the loop's window, for packets decoded here
        self.on_stopped = on_stopped
        self._workers = [_Worker(self, index) for index in range(processes)]
        self._next_ticket = 0

    @property
    def running(self) -> int:
        """How many decoder processes are serving."""
        return sum(worker.alive for worker in self._workers)

    async def start(self, durable: Iterable[bytes]) -> None:
        """Start the processes, warm their duplicate windows with ``durable`` payloads."""
        payloads = list(durable)
        for worker in self._workers:
            await worker.start(payloads)

    def submit(self, event: RawRecords, origin: Origin, now: float, on_done: OnDone) -> Ticket:
        """Decode, prepare and commit a packet; ``on_done(ticket)`` once it is settled.

        The ticket settles like a group commit's: durable (``seq``), or failed with
        ``error``: a :class:`~telebench.errors.RemoteProtocolError` when the records did
        not decode (refuse them), a store error otherwise.
        """
        ticket = Ticket()
        worker = self._workers[zlib.crc32(origin.ident.encode()) % len(self._workers)]
        if not worker.alive:
            self.inline((ticket, on_done, event, origin, now))
            return ticket
        self._next_ticket += 1
        worker.queue(self._next_ticket, (ticket, on_done, event, origin, now))
        return ticket

    def inline(self, waiting: _Waiting) -> None:
        """Decode and prepare a packet in the loop (:func:`decode_here`)."""
        decode_here(self.commit, self.recent, waiting)

    def commit_payload(self, payload: bytes, waiting: _Waiting) -> None:
        """Hand a prepared payload to the group commit under the packet's ticket."""
        _commit(self.commit, payload, waiting)

    async def close(self) -> None:
        """Send what is queued, end the processes and commit their last answers."""
        for worker in self._workers:
            await worker.close()

    def stopped(self, worker: _Worker, why: str) -> None:
        """A process ended before the hub asked it to: its packets are decoded here."""
        _LOG.error("decoder process %d stopped: %s", worker.index, why)
        if self.on_stopped is not None:
            self.on_stopped(f"decoder process {worker.index}: {why}")


def decode_here(commit: GroupCommit, recent: RecentMessages, waiting: _Waiting) -> None:
    """Decode and prepare a packet in the loop, then commit it (or refuse it).

    What a connection does without decoder processes, and what :class:`Offload` does with
    the packets of a process that stopped. Records that do not decode settle the ticket
    with their protocol error; any other failure (a decoder bug) with a
    :class:`~telebench.errors.StoreError`, so the device gets no ack and keeps its records,
    and the other packets go on.
    """
    _, _, event, origin, now = waiting
    fields = origin_fields(origin)
    try:
        payload, _ = prepare_raw(
            event.protocol, event.data, event.offset, event.ident, fields, now, recent
        )
    except RemoteProtocolError as exc:
        _fail(waiting, exc)
        return
    except Exception as exc:
        _LOG.exception("decoding a %s packet failed", event.protocol)
        _fail(waiting, StoreError(f"decoding failed: {type(exc).__name__}: {exc}"))
        return
    _commit(commit, payload, waiting)


def _fail(waiting: _Waiting, error: TelebenchError) -> None:
    ticket, on_done = waiting[0], waiting[1]
    ticket.done = True
    ticket.error = error
    on_done(ticket)


def _commit(commit: GroupCommit, payload: bytes, waiting: _Waiting) -> None:
    ticket, on_done = waiting[0], waiting[1]
    if commit.add(payload, on_done, ticket=ticket).done:
        on_done(ticket)  # failed at once (store failure, hub stopping)


class _Worker(asyncio.SubprocessProtocol):
    """One decoder process and the packets it has not answered yet."""

    def __init__(self, offload: Offload, index: int) -> None:
        self.offload = offload
        self.index = index
        self.alive = False
        self.answered = 0  # packets this process decoded
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._waiting: dict[int, _Waiting] = {}  # ticket number -> packet, oldest first
        self._batch: list[wire.Item] = []
        self._buffer = bytearray()
        # The answer to the last READY: records warmed, or None if the process ended.
        self._ready: asyncio.Future[int | None] | None = None
        self._ended: asyncio.Future[None] | None = None  # stdout closed
        self._exited: asyncio.Future[None] | None = None
        self._closing = False
        self._progress = 0.0  # loop time of the last answer, or of work after idleness
        self._watchdog: asyncio.TimerHandle | None = None
        self._killed = ""  # why the watchdog killed the process

    async def start(self, durable: list[bytes]) -> None:
        """Start the process and warm its window, a chunk at a time (bounded memory)."""
        loop = self.offload.loop
        self._ended = loop.create_future()
        self._exited = loop.create_future()
        command = (sys.executable, "-m", wire.__name__, str(self.offload.recent.capacity))
        try:
            # stderr is the hub's own: a warning or a traceback the process prints shows in
            # the hub's log. asyncio would pipe it by default, beside the answers.
            transport, _ = await loop.subprocess_exec(
                lambda: self,
                *command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
            )
        except OSError as exc:
            raise self._not_started(str(exc)) from exc
        self._transport = transport
        self._stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]
        for begin in range(0, max(len(durable), 1), _WARM_CHUNK):
            self._ready = loop.create_future()
            try:
                self._write((wire.WARM, durable[begin : begin + _WARM_CHUNK]))
                self._write((wire.READY, None))
            except (OSError, RuntimeError) as exc:  # its stdin is already closed
                raise self._not_started(str(exc)) from exc
            if await self._ready is None:
                code = transport.get_returncode()
                raise self._not_started(f"it ended, exit code {code}")
        self.alive = True
        self._watch()

    def _not_started(self, why: str) -> ConfigError:
        return ConfigError(
            f"decoder_processes: decoder process {self.index} did not start ({why}); "
            "decoder_processes = 0 decodes in the event loop instead"
        )

    def queue(self, number: int, waiting: _Waiting) -> None:
        _, _, event, origin, now = waiting
        if not self._waiting:  # the clock of an answer starts with the work
            self._progress = self.offload.loop.time()
        self._waiting[number] = waiting
        fields = origin_fields(origin)
        item = (number, event.protocol, event.data, event.offset, event.ident, fields, now)
        self._batch.append(item)
        if len(self._batch) == 1:  # the rest of this loop iteration joins the batch
            self.offload.loop.call_soon(self._send)

    def _send(self) -> None:
        if self._batch and self.alive:
            batch, self._batch = self._batch, []
            try:
                self._write((wire.BATCH, batch))
            except (OSError, RuntimeError):  # the process is gone: its stdout's end rescues
                _LOG.debug("decoder process %d: batch not sent", self.index)

    def _write(self, message: object) -> None:
        assert self._stdin is not None
        self._stdin.write(wire.frame(message))

    # --- asyncio callbacks ------------------------------------------------------------------

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd != 1:  # only stdout carries frames
            return
        buffer = self._buffer
        buffer += data if isinstance(data, bytes) else data.encode()
        start = 0
        while len(buffer) - start >= wire.LENGTH.size:
            (length,) = wire.LENGTH.unpack_from(buffer, start)
            end = start + wire.LENGTH.size + length
            if len(buffer) < end:
                break
            kind, body = wire.unpickle(bytes(buffer[start + wire.LENGTH.size : end]))
            start = end
            if kind == wire.DONE:
                self._done(body)
            elif kind == wire.READY and self._ready is not None and not self._ready.done():
                self._ready.set_result(body)
        del buffer[:start]

    def _done(self, results: list[wire.Result]) -> None:
        offload = self.offload
        waiting = self._waiting
        self.answered += len(results)
        self._progress = offload.loop.time()
        for number, payload in results:
            packet = waiting.pop(number)
            if payload is None:
                offload.inline(packet)  # logs and refuses it
            else:
                offload.commit_payload(payload, packet)

    def _watch(self) -> None:
        """Kill a process that left packets unanswered too long: the loop decodes them."""
        self._watchdog = None
        if not self.alive or self._closing or self._transport is None:
            return
        loop = self.offload.loop
        if self._waiting and loop.time() - self._progress > ANSWER_TIMEOUT:
            _LOG.error(
                "decoder process %d answered nothing for %g s: killed", self.index, ANSWER_TIMEOUT
            )
            self._killed = f"no answer for {ANSWER_TIMEOUT:g} s, killed"
            self._transport.kill()  # its output ends: the packets are rescued
            return
        self._watchdog = loop.call_later(min(1.0, ANSWER_TIMEOUT / 4), self._watch)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd != 1:
            return
        # stdout is closed: every answer the process will ever give has been read.
        was_alive, self.alive = self.alive, False
        if was_alive and not self._closing:
            self._report_exit()
        self._rescue()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    def _report_exit(self) -> None:
        """Tell the offload the process stopped, with its exit code once it is known."""
        transport, exited = self._transport, self._exited

        def report(_: object = None) -> None:
            code = transport.get_returncode() if transport is not None else None
            why = self._killed or "its output ended"
            self.offload.stopped(self, f"{why} (exit code {code})")

        if exited is None or exited.done():
            report()
        else:
            exited.add_done_callback(report)

    def process_exited(self) -> None:
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)

    def _rescue(self) -> None:
        """Decode here, in order, every packet the process did not answer."""
        self._batch.clear()
        waiting, self._waiting = self._waiting, {}
        for packet in waiting.values():
            self.offload.inline(packet)

    async def close(self) -> None:
        if self._transport is None:
            return
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._send()
        if self._stdin is not None:
            self._stdin.close()  # EOF: the process answers what it read, then exits
        ends = {f for f in (self._ended, self._exited) if f is not None}
        _, late = await asyncio.wait(ends, timeout=_CLOSE_TIMEOUT)
        if late:
            _LOG.error("decoder process %d did not end: killed", self.index)
            self._transport.kill()
            await asyncio.wait(late, timeout=_CLOSE_TIMEOUT)
        self._transport.close()
        self._rescue()
        self.alive = False

"""Serve the receiver with waitress in a background thread; stop it, take it down, restart.

Examples
--------
>>> import tempfile, httpx
>>> with ReceiverServer(tempfile.mkdtemp(), fsync=False) as server:
...     r = httpx.post(server.url + "/in", content=b'{"ident": "a", "timestamp": 1}')
...     r.status_code, httpx.get(server.url + "/stats").json()["messages"]
(200, 1)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from waitress import wasyncore
from waitress.server import create_server

from telebench.errors import ConfigError
from telebench.receiver.app import Faults, create_app
from telebench.receiver.storage import ReceivedStore

__all__ = ["ReceiverServer"]

_LOG = logging.getLogger(__name__)
_TICK = 0.05  # s: how soon the serving thread sees stop() even if nothing wakes it


class ReceiverServer:
    """The receiver on ``host:port`` (``port=0``: any free port, kept across restarts).

    ``stop()`` closes the listening socket and every connection (clients get connection
    errors: the receiver is *down*); ``start()`` serves again on the same port, reading
    its stats back from ``out_dir``.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: Faults | None = None,
        threads: int = 4,
        fsync: bool = True,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.host = host
        self.port = port
        self.token = token
        self.faults = faults if faults is not None else Faults()
        self.threads = threads
        self.fsync = fsync
        self.store: ReceivedStore | None = None
        self._serving: _Serving | None = None  # while running
        self._restart: threading.Event | None = None  # set: the pending restart is off
        self._restart_lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Open the store and serve; returns ``self``."""
        if self._serving is not None:
            raise ConfigError("the receiver is already running")
        self.store = ReceivedStore(self.out_dir, fsync=self.fsync)
        app = create_app(self.store, token=self.token, faults=self.faults)
        try:
            server = create_server(
                app, host=self.host, port=self.port, threads=self.threads,
                channel_timeout=30, recv_bytes=262_144,
            )  # fmt: skip
        except OSError as exc:
            self.store.close()
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = int(server.effective_port)
        self._serving = _Serving(server)
        return self

    def stop(self) -> None:
        """Close the socket and every connection, then the store; cancel a pending restart."""
        with self._restart_lock:  # stopped for good: a down_for() timer must not restart it
            if self._restart is not None:
                self._restart.set()
                self._restart = None
        if self._serving is None:
            return
        self._serving.stop()
        self._serving = None
        if self.store is not None:
            self.store.close()

    def down_for(self, seconds: float) -> threading.Thread:
        """Stop now and start again after ``seconds`` (in a thread, returned).

        A :meth:`stop` meanwhile (Ctrl-C during the outage) cancels the restart.
        """
        self.stop()
        with self._restart_lock:
            cancelled = self._restart = threading.Event()

        def later() -> None:
            if cancelled.wait(seconds):
                return
            with self._restart_lock:
                if not cancelled.is_set():
                    self._restart = None
                    self.start()

        thread = threading.Thread(target=later, name="telebench-receiver-down", daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Serving:
    """waitress's loop for one :meth:`ReceiverServer.start`, in its own thread, ended by a
    flag, not a thunk.

    The loop's thread is the only one that touches the sockets: on stop it closes them all
    (listener, connections, waitress's wake-up pipe). Ending does not depend on that pipe;
    a CI run once found it broken (EPIPE) at stop, and the receiver must stop regardless.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # held while the loop closes its sockets
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="telebench-receiver", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        socket_map = self.server._map
        try:
            while socket_map and not self.stopping.is_set():
                wasyncore.poll2(_TICK, socket_map)  # poll(2): no 1,024-descriptor limit
        finally:
            with self.lock:
                for channel in list(socket_map.values()):
                    channel.close()
                self.closed = True

    def stop(self) -> None:
        """End the loop (its thread closes every socket), then waitress's worker threads."""
        # Under the lock a wake-up never reaches a closed pipe, whose number may belong to
        # another file by then. It is only a wake-up: the loop sees the flag within _TICK.
        with self.lock:
            self.stopping.set()
            if not self.closed:
                try:
                    self.server.pull_trigger()
                except OSError as exc:
                    _LOG.warning("receiver: waitress's wake-up pipe is broken (%s)", exc)
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(timeout=5)

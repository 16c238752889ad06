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

import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from waitress.server import create_server

from telebench.errors import ConfigError
from telebench.receiver.app import Faults, create_app
from telebench.receiver.storage import ReceivedStore

__all__ = ["ReceiverServer"]


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
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._restart: threading.Event | None = None  # set: the pending restart is off
        self._restart_lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Open the store and serve; returns ``self``."""
        if self._thread is not None:
            raise ConfigError("the receiver is already running")
        self.store = ReceivedStore(self.out_dir, fsync=self.fsync)
        app = create_app(self.store, token=self.token, faults=self.faults)
        try:
            self._server = create_server(
                app, host=self.host, port=self.port, threads=self.threads,
                asyncore_loop_timeout=0.05, channel_timeout=30, recv_bytes=262_144,
            )  # fmt: skip
        except OSError as exc:
            self.store.close()
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="telebench-receiver")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket and every connection, then the store; cancel a pending restart."""
        with self._restart_lock:  # stopped for good: a down_for() timer must not restart it
            if self._restart is not None:
                self._restart.set()
                self._restart = None
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        socket_map = server._map

        def close_all() -> None:
            # Runs in the server's loop thread: closing every socket (listener, connections,
            # the trigger) empties the map, which ends server.run().
            for channel in list(socket_map.values()):
                channel.close()

        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown(timeout=5)
        self._server = self._thread = None
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

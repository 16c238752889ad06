"""The side stores of one hub store folder, and the lock that keeps it to one hub.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> lock = lock_store(folder)
>>> lock_store(folder)
Traceback (most recent call last):
...
telebench.errors.ConfigError: store ... is in use by another running hub
>>> lock.close()
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from telebench.errors import ConfigError
from telebench.store.commands import CommandQueue
from telebench.store.dataset import MessageDataset
from telebench.store.logs import LogStore
from telebench.store.registry import DeviceRegistry
from telebench.store.telemetry import TelemetryStore

__all__ = ["Stores", "lock_store"]


@dataclass(frozen=True, slots=True)
class Stores:
    """The side stores of one store folder, opened by the hub."""

    registry: DeviceRegistry
    logs: LogStore
    commands: CommandQueue
    telemetry: TelemetryStore
    dataset: MessageDataset

    @classmethod
    def open(cls, store: Path) -> Stores:
        """Open (creating) every store under ``store``."""
        store.mkdir(parents=True, exist_ok=True)
        return cls(
            registry=DeviceRegistry(store / "devices.sqlite"),
            logs=LogStore(store / "logs.sqlite"),
            commands=CommandQueue(store / "commands.sqlite"),
            telemetry=TelemetryStore(
                store / "telemetry.parquet", legacy=store / "telemetry.sqlite"
            ),
            dataset=MessageDataset(store),
        )

    def log_backlog(self, held: bool, backlog: int) -> None:
        """Log that acks are held (or released) with ``backlog`` bytes not yet in Parquet."""
        detail = f"{backlog / 2**20:.0f} MB acked but not yet in Parquet"
        self.logs.add("acks.held" if held else "acks.released", detail=detail)

    def close(self) -> None:
        """Close the SQLite stores."""
        self.logs.close()
        self.commands.close()
        self.telemetry.close()
        self.registry.close()


def lock_store(store: Path) -> BinaryIO:
    """Hold an exclusive lock on ``store`` for as long as the hub runs (one hub per store)."""
    store.mkdir(parents=True, exist_ok=True)
    handle = (store / ".lock").open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"store {store} is in use by another running hub") from None
    return handle

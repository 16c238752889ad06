"""Durable storage: write-ahead log, Parquet message dataset, registry, telemetry, logs.

The hub acknowledges a device's records only after they are in the write-ahead log and
fsync'd; the Parquet dataset and telemetry are rebuilt from the log after a crash. Every
store lives in one folder (``--store DIR``)::

    DIR/devices.sqlite     device registry (DeviceRegistry)
    DIR/wal/               write-ahead log segments (WriteAheadLog)
    DIR/wal.checkpoint     last WAL entry flushed to Parquet
    DIR/messages/          the message dataset, date=YYYY-MM-DD/part-*.parquet (MessageDataset)
    DIR/telemetry.parquet  latest value per device and parameter (TelemetryStore)
    DIR/logs.sqlite        connection, parse-error, command and plugin log (LogStore)
    DIR/commands.sqlite    command queue and results (CommandQueue)
    DIR/snapshots/         daily gzipped JSON snapshots per device
    DIR/raw/               raw traffic captures (<ident>.tbraw)
"""

from __future__ import annotations

from telebench.store.commands import Command, CommandQueue
from telebench.store.dataset import MessageDataset
from telebench.store.logs import LogStore
from telebench.store.registry import Device, DeviceRegistry
from telebench.store.telemetry import TelemetryStore
from telebench.store.wal import WriteAheadLog

__all__ = [
    "Command",
    "CommandQueue",
    "Device",
    "DeviceRegistry",
    "LogStore",
    "MessageDataset",
    "TelemetryStore",
    "WriteAheadLog",
]

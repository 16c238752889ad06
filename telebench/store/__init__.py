"""Durable storage: the write-ahead log, the device registry and (next) the Parquet store.

The hub acknowledges a device's records only after they are in the write-ahead log and
fsync'd; everything else (Parquet files, telemetry) is rebuilt from the log after a crash.
"""

"""The simulator's network side: tracker connections that carry a fleet's records to a hub.

- :func:`run_load` drives a fleet's trackers against a hub over TCP/UDP and returns a
  :class:`LoadReport` (table, JSON, PNG chart).
- :class:`Tracker` is one device's protocol session, black box (:class:`DeviceMemory`) and
  fault behaviour (:class:`NetOptions`), independent of sockets.
- :func:`loopback_run` plays the trackers against in-process server sessions (no sockets,
  no clock): the bytes it returns are identical for the same seed and options.
- :class:`SyntheticFleet` is a road-less fleet for pure network load.

Examples
--------
>>> fleet = SyntheticFleet(2, mix=(("wialon_ips", "tcp"),), period=30.0)
>>> traffic = loopback_run(fleet, duration=60.0)
>>> traffic[fleet.vehicles[0].ident][:20]
b'#L#2.0;3500000000000'
"""

from __future__ import annotations

from simulators.net.loopback import loopback_run
from simulators.net.memory import DeviceMemory
from simulators.net.options import NetOptions, PacketLimits
from simulators.net.report import LoadReport, SeriesRow
from simulators.net.runner import arun_load, run_load
from simulators.net.synthetic import SyntheticFleet
from simulators.net.tracker import Tracker

__all__ = [
    "DeviceMemory",
    "LoadReport",
    "NetOptions",
    "PacketLimits",
    "SeriesRow",
    "SyntheticFleet",
    "Tracker",
    "arun_load",
    "loopback_run",
    "run_load",
]

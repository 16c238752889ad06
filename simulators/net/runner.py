"""Drive a fleet's trackers against a hub over real sockets: :func:`run_load`.

Simulated time is ``fleet.start_time + wall_elapsed * speedup``; every tick the records
``fleet.advance(now)`` returns go into their vehicle's black box and the trackers send
them (batched by ``send_period``). With ``speedup="max"`` simulated time jumps ahead
whenever the black boxes run low, and each device sends its next packet as soon as the
previous one is acked: the hub's ack rate sets the pace. The run stops by itself after
``duration`` simulated seconds, sends what is left and waits (up to ``drain_timeout``) for
the outstanding acks. Four times a wall second the runner times out missing acks and
sends the packets whose period is over; once a second it sends heartbeats and appends a
:class:`~simulators.net.report.SeriesRow` (rates, ack latency) to the series.

Simulated time starts when the fleet is online (``connect_timeout``) and, when the loop
falls behind, lags wall time rather than arriving in bursts.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping

from simulators.net.loadrun import LoadRun, Progress, Speedup
from simulators.net.loopback import FleetLike
from simulators.net.options import NetOptions
from simulators.net.report import LoadReport
from telebench.errors import ConfigError

__all__ = ["Speedup", "arun_load", "run_load"]


def run_load(
    fleet: FleetLike,
    *,
    hub_host: str = "127.0.0.1",
    ports: Mapping[tuple[str, str], int],
    speedup: Speedup = 1.0,
    duration: float,
    progress: Progress | None = None,
    options: NetOptions | None = None,
    seed: int = 0,
    drain_timeout: float = 10.0,
    connect_concurrency: int = 256,
    connect_timeout: float = 0.0,
) -> LoadReport:
    """Run ``fleet``'s trackers against the hub at ``hub_host`` and report what happened.

    Parameters
    ----------
    fleet:
        A ``simulators.fleet.Fleet`` (or anything with ``vehicles``, ``start_time`` and
        ``advance``, e.g. :class:`~simulators.net.synthetic.SyntheticFleet`).
    ports:
        ``(protocol, transport) -> port`` for every protocol the fleet speaks.
    speedup:
        Simulated seconds per wall second, or ``"max"`` (as fast as acks come back).
    duration:
        Simulated seconds to run; then the devices send what is left and the run waits up
        to ``drain_timeout`` wall seconds for the acks.
    progress:
        Called once a wall second with the latest :class:`~simulators.net.report.SeriesRow`.
    connect_timeout:
        Wall seconds to wait for every device to log in before simulated time starts
        (0: start at once, devices join as they connect).
    connect_concurrency:
        Connection attempts in progress at once (a ramp, as real fleets do not connect in
        one instant).

    Examples
    --------
    >>> from simulators.net.synthetic import SyntheticFleet
    >>> run_load(SyntheticFleet(1), ports={}, duration=1.0)
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: no port for teltonika/tcp (vehicle 350000000000000); ...
    """
    _check(speedup, duration)
    return asyncio.run(
        arun_load(
            fleet,
            hub_host=hub_host,
            ports=ports,
            speedup=speedup,
            duration=duration,
            progress=progress,
            options=options,
            seed=seed,
            drain_timeout=drain_timeout,
            connect_concurrency=connect_concurrency,
            connect_timeout=connect_timeout,
        )
    )


def _check(speedup: Speedup, duration: float) -> None:
    if speedup != "max" and not (isinstance(speedup, int | float) and speedup > 0):
        raise ConfigError(f"speedup: expected a number > 0 or 'max', got {speedup!r}")
    if not duration > 0:
        raise ConfigError(f"duration: expected simulated seconds > 0, got {duration!r}")


async def arun_load(
    fleet: FleetLike,
    *,
    hub_host: str = "127.0.0.1",
    ports: Mapping[tuple[str, str], int],
    speedup: Speedup = 1.0,
    duration: float,
    progress: Progress | None = None,
    options: NetOptions | None = None,
    seed: int = 0,
    drain_timeout: float = 10.0,
    connect_concurrency: int = 256,
    connect_timeout: float = 0.0,
) -> LoadReport:
    """:func:`run_load` as a coroutine, for a running event loop (a notebook)."""
    _check(speedup, duration)
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        return await LoadRun(
            fleet,
            hub_host=hub_host,
            ports=ports,
            speedup=speedup,
            duration=duration,
            options=options or NetOptions(),
            seed=seed,
            progress=progress,
            drain_timeout=drain_timeout,
            connect_concurrency=connect_concurrency,
            connect_timeout=connect_timeout,
        ).main()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()

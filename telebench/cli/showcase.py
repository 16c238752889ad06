"""The end-to-end demo behind ``telebench demo``: simulate, ingest, stream, verify, compute.

One run, on 127.0.0.1 and any free ports: a receiver and a hub start; the hub streams to
the receiver; a mixed-protocol fleet drives a simulated day on real roads into the hub
over TCP/UDP as fast as acks come back; then trips and parkings are computed from the
hub's store and scored against the simulator's ground truth, and the receiver's copy is
verified against the store. Everything lands in the run folder.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import polars as pl

from telebench.calc import (
    Counters,
    Geofences,
    export,
    geofence_events,
    geofence_visits,
    parkings,
    score,
    trips,
)
from telebench.cli.demo_fences import demo_fences, write_fences
from telebench.cli.demo_progress import SimulatedTimeBar
from telebench.cli.demo_report import DemoResults, write_demo_report
from telebench.hub import Hub
from telebench.receiver import ReceiverServer
from telebench.receiver.verify import verify
from telebench.streams import StreamConfig, StreamStore

__all__ = ["DemoSummary", "run_demo"]


@dataclass
class DemoSummary:
    """What the demo measured (also written as ``summary.json``)."""

    vehicles: int
    simulated_hours: float
    records_sent: int
    records_acked: int
    records_lost: int
    records_stored: int
    heartbeats: int
    ack_p50_ms: float
    ack_p99_ms: float
    streamed_missing: int
    streamed_duplicated: int
    trips: int
    parkings: int
    geofences: int
    geofence_visits: int
    geofence_events: int
    trips_score: dict[str, Any] = field(default_factory=dict)
    parkings_score: dict[str, Any] = field(default_factory=dict)
    geofences_score: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _step(text: str) -> None:
    click.secho(f"▶ {text}", bold=True)


def _wait_delivered(store: Path, received: Path, timeout: float) -> pl.DataFrame:
    deadline = time.monotonic() + timeout
    while True:
        report = verify(store, received)
        if int(report["missing"].sum()) == 0 or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def run_demo(out: Path, *, vehicles: int, hours: float, seed: int) -> DemoSummary:
    """Run the whole pipeline into ``out`` (emptied first) and return its figures."""
    from simulators.fleet import Fleet
    from simulators.net.runner import run_load
    from simulators.scenario import Scenario

    started = time.monotonic()
    if out.exists():
        shutil.rmtree(out)
    store, received = out / "hub", out / "received"
    with ReceiverServer(received) as receiver:
        with StreamStore(store) as streams:
            streams.add(StreamConfig("demo", f"{receiver.url}/in", limit_messages=1000), start=0)
        with Hub(store=store, ports=0) as hub:
            _step(f"hub on 127.0.0.1 {sorted({p for _, p in hub.addresses().values()})}, "
                  f"streaming to the receiver at {receiver.url}")  # fmt: skip
            duration = int(hours * 3600)
            # The simulated day ends now: a record without device time (a GT06 status
            # heartbeat) is stamped with the server's clock, which then falls in place.
            start = datetime.fromtimestamp((time.time() - duration) // 60 * 60, UTC)
            scenario = Scenario(devices=vehicles, duration=duration, start=start, seed=seed)
            fleet = Fleet(scenario, seed=seed)
            mix: dict[str, int] = {}
            for vehicle in fleet.vehicles:
                mix[vehicle.protocol] = mix.get(vehicle.protocol, 0) + 1
            _step(f"simulating {vehicles} vehicles for {hours:g} h on real roads: {mix}")
            ports = {key: port for key, (_, port) in hub.addresses().items()}
            with SimulatedTimeBar(fleet.start_time, duration, vehicles) as bar:
                load = run_load(fleet, ports=ports, speedup="max", duration=duration, progress=bar)
            click.echo(load.table())
            load.save(out / "load")
            _step("computing trips, parkings and geofence visits from the hub's store")
            messages = hub.messages().collect()
            messages.write_parquet(out / "messages.parquet")
            # With the route (WKT line) so the exports and the map draw real tracks.
            found_trips = trips(messages, counters=Counters(route=True)).collect()
            found_parkings = parkings(messages).collect()
            fences_path = write_fences(demo_fences(fleet, seed), out / "geofences.geojson")
            fences = Geofences.from_geojson(fences_path)
            visits = geofence_visits(messages, fences).collect()
            events = geofence_events(messages, fences).collect()
        truth = fleet.ground_truth(geofences=fences_path)
        for name, frame in truth.items():
            frame.write_parquet(out / f"truth_{name}.parquet")
        found_trips.write_parquet(out / "trips.parquet")
        found_parkings.write_parquet(out / "parkings.parquet")
        visits.write_parquet(out / "geofence_visits.parquet")
        events.write_parquet(out / "geofence_events.parquet")
        for fmt in ("gpx", "kml", "geojson"):
            export(found_trips, out / f"trips.{fmt}", fmt)
        _step("verifying what the stream delivered against the store")
        report = _wait_delivered(store, received, timeout=60)
    summary = DemoSummary(
        vehicles=vehicles,
        simulated_hours=hours,
        records_sent=load.sent,
        records_acked=load.acked,
        records_lost=load.lost,
        records_stored=messages.height,
        heartbeats=load.heartbeats,
        ack_p50_ms=round(load.ack_p50_ms, 1),
        ack_p99_ms=round(load.ack_p99_ms, 1),
        streamed_missing=int(report["missing"].sum()),
        streamed_duplicated=int(report["duplicated"].sum()),
        trips=found_trips.height,
        parkings=found_parkings.height,
        geofences=len(fences.names),
        geofence_visits=visits.height,
        geofence_events=events.height,
        # Ignition-based trips are scored against the ignition-on journeys of the truth.
        trips_score=_clean(score(found_trips, truth["journeys"])),
        parkings_score=_clean(score(found_parkings, truth["parkings"])),
        geofences_score=_clean(score(visits, truth["geofence_visits"])),
        seconds=round(time.monotonic() - started, 1),
    )
    _step("writing the HTML report")
    results = DemoResults(
        summary=asdict(summary), roads=fleet.network, messages=messages, trips=found_trips,
        parkings=found_parkings, fences=fences, visits=visits, truth=truth, delivery=report,
        load_chart=out / "load" / "report.png",
    )  # fmt: skip
    write_demo_report(out / "report.html", results)
    summary.seconds = round(time.monotonic() - started, 1)
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _clean(result: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}

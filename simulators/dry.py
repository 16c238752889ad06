"""Dry mode: the fleet's messages straight to Parquet, no network, plus the ground truth.

For building large analytics datasets fast: the fleet is advanced in chunks of sim time
and each chunk's columnar records become one Parquet file ``messages/part-<n>.parquet``
(columns: ``ident``, ``protocol.name``, ``timestamp`` and the flespi parameter names; a
parameter the vehicle's protocol cannot carry is null). Read them all with
``pl.scan_parquet(out / "messages")``.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from simulators.scenario import Scenario
>>> out = Path(tempfile.mkdtemp())
>>> stats = dry_run(Scenario(devices=3, duration=3600), out, seed=1, progress=False)
>>> stats.messages > 0, (out / "trips.parquet").is_file()
(True, True)
>>> pl.scan_parquet(out / "messages").select(pl.len()).collect().item() == stats.messages
True
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl
from tqdm import tqdm

from simulators.fleet import Fleet
from simulators.reporting import COLUMNS
from simulators.roads import ATTRIBUTION, RoadNetwork
from simulators.scenario import Scenario, load_scenario
from simulators.sensors import Columns
from simulators.truth import ground_truth, load_geofences, write_tables

__all__ = ["DryRunStats", "columns_frame", "dry_run"]

_CHUNK_S: Final = 900


@dataclass(frozen=True)
class DryRunStats:
    """What a dry run produced and how fast."""

    messages: int
    vehicles: int
    sim_seconds: int
    wall_seconds: float
    files: tuple[Path, ...]

    @property
    def messages_per_second(self) -> float:
        """Messages generated per wall-clock second."""
        return self.messages / self.wall_seconds if self.wall_seconds > 0 else 0.0


def columns_frame(fleet: Fleet, cols: Columns) -> pl.DataFrame:
    """One DataFrame of columnar records (nulls where the protocol carries nothing)."""
    idents = pl.Series("ident", [v.ident for v in fleet.vehicles], dtype=pl.String)
    protos = pl.Series("protocol.name", [v.protocol for v in fleet.vehicles], dtype=pl.String)
    return _frame(idents, protos, fleet.start_time, cols)


def _frame(idents: pl.Series, protos: pl.Series, start: float, cols: Columns) -> pl.DataFrame:
    data: dict[str, object] = {
        "timestamp": cols.t.astype(np.float64) + start,
        **{name: cols.values[name] for name in COLUMNS},
    }
    masked = [name for name in COLUMNS if not cols.present[name].all()]
    data.update({f"{name}/present": cols.present[name] for name in masked})
    return pl.DataFrame(data).select(
        idents.gather(cols.vehicle),
        protos.gather(cols.vehicle),
        "timestamp",
        *(
            pl.when(pl.col(f"{name}/present")).then(pl.col(name)).alias(name)
            if name in masked
            else pl.col(name)
            for name in COLUMNS
        ),
    )


class _Writer:
    """Writes chunks on pool threads (Polars releases the GIL), ``depth`` chunks in flight."""

    def __init__(self, fleet: Fleet, folder: Path, pool: ThreadPoolExecutor, depth: int) -> None:
        self.idents = pl.Series("ident", [v.ident for v in fleet.vehicles], dtype=pl.String)
        self.protos = pl.Series("protocol.name", [v.protocol for v in fleet.vehicles])
        self.start = fleet.start_time
        self.folder = folder
        self.files: list[Path] = []
        self.pool = pool
        self.depth = max(depth, 1)
        self.busy: list[Future[None]] = []

    def _write(self, cols: Columns, path: Path) -> None:
        frame = _frame(self.idents, self.protos, self.start, cols)
        frame.write_parquet(path, compression="lz4", metadata={"attribution": ATTRIBUTION})

    def submit(self, cols: Columns) -> None:
        while len(self.busy) >= self.depth:
            self.busy.pop(0).result()  # re-raises a failed write here
        path = self.folder / f"part-{len(self.files):06d}.parquet"
        self.files.append(path)
        self.busy.append(self.pool.submit(self._write, cols, path))

    def wait(self) -> None:
        while self.busy:
            self.busy.pop(0).result()


def _simulate(fleet: Fleet, out: Path, workers: int, progress: bool) -> tuple[int, list[Path]]:
    """Advance the fleet chunk by chunk, writing each chunk's messages; (messages, files)."""
    total = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dry-writer") as pool:
        writer = _Writer(fleet, out / "messages", pool, depth=workers)
        try:
            # disable=None: only on a terminal (not in logs or captured output)
            with tqdm(
                total=fleet.duration, unit="sim s", disable=None if progress else True
            ) as bar:
                for upto in range(_CHUNK_S, fleet.duration + _CHUNK_S, _CHUNK_S):
                    end = min(upto, fleet.duration)
                    cols = fleet.advance_columns(fleet.start_time + end)
                    bar.update(end - bar.n)
                    if cols is not None and cols.t.size:
                        writer.submit(cols)
                        total += cols.t.size
                        bar.set_postfix(messages=total)
        finally:
            writer.wait()
    return total, writer.files


def _sorted(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Ground-truth tables sorted by vehicle, then time."""
    out = {}
    for name, frame in tables.items():
        if name == "records":  # ground_truth sorted it: by timestamp, then vehicle
            out[name] = frame
        elif name == "geofence_visits":
            out[name] = frame.sort("ident", "enter_time")
        else:
            out[name] = frame.sort("vehicle", "start_time")
    return out


def dry_run(
    scenario: Scenario,
    out: Path,
    seed: int = 0,
    *,
    truth: bool = True,
    progress: bool = True,
    network: RoadNetwork | None = None,
    geofences: Path | None = None,
    workers: int = 1,
) -> DryRunStats:
    """Simulate ``scenario`` into ``out/messages/`` (+ ground truth tables when ``truth``).

    The vehicles run in one numpy lock-step pass (:mod:`simulators.lockstep`) on the calling
    thread, and ``workers`` threads write the Parquet files (up to ``workers`` chunks in
    flight). Splitting the vehicles over threads measured slower (the GIL), over processes
    slower still (each re-imports, reloads and re-routes), so ``workers`` never changes
    the messages, only how many writes overlap the simulation.
    """
    started = time.perf_counter()
    (out / "messages").mkdir(parents=True, exist_ok=True)
    fleet = Fleet(scenario, seed=seed, network=network, keep_truth=truth, engine="lockstep")
    total, files = _simulate(fleet, out, max(1, workers), progress)
    if truth:
        fences = load_geofences(geofences) if geofences is not None else None
        files += write_tables(_sorted(ground_truth(fleet, fences)), out)
    return DryRunStats(
        messages=total,
        vehicles=scenario.devices,
        sim_seconds=scenario.duration,
        wall_seconds=time.perf_counter() - started,
        files=tuple(files),
    )


def main(argv: list[str] | None = None) -> DryRunStats:
    """``python -m simulators.dry --devices N --hours H --out DIR``: a dry run with figures."""
    parser = argparse.ArgumentParser(prog="python -m simulators.dry", description=__doc__)
    parser.add_argument("--scenario", type=Path, help="scenario TOML (default: built-in)")
    parser.add_argument("--devices", type=int, help="override the scenario's fleet size")
    parser.add_argument("--hours", type=float, help="override the scenario's duration")
    parser.add_argument("--osm", type=Path, help="road network .osm.pbf (default: bundled)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="Parquet writer threads")
    parser.add_argument("--no-truth", action="store_true", help="skip the ground truth")
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    if args.devices is not None:
        scenario = replace(scenario, devices=args.devices)
    if args.hours is not None:
        scenario = replace(scenario, duration=round(args.hours * 3600))
    if args.osm is not None:
        scenario = replace(scenario, osm=args.osm)
    stats = dry_run(scenario, args.out, args.seed, truth=not args.no_truth,
                    workers=args.workers)  # fmt: skip
    print(
        f"{stats.messages:,} messages from {stats.vehicles:,} vehicles over "
        f"{stats.sim_seconds / 3600:g} h in {stats.wall_seconds:.1f} s: "
        f"{stats.messages_per_second:,.0f} messages/s"
    )
    return stats


if __name__ == "__main__":
    main()

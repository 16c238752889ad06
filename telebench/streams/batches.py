"""Cutting the next batches of a stream out of the WAL (pure: no HTTP, no threads).

A *window* is the WAL entries after a stream's base cursor, parsed into one frame with a
row per message: its position, its raw JSON line (sent as is, never re-encoded) and the
few fields routing needs. :func:`plan` then decides, vectorised, what each pending message
is: *sent* (subscribed, passes the filter, younger than ``queue_ttl``), *dropped* (too old)
or *skipped* (not subscribed / filtered out), and cuts at most one batch per key (the
ident for ``%ident%`` streams, else one key ``""``) of at most ``limit_messages``.

Examples
--------
>>> import tempfile
>>> from telebench.store.wal import WriteAheadLog
>>> from telebench.streams.config import StreamConfig
>>> from telebench.streams.walreader import WalReader
>>> folder = tempfile.mkdtemp()
>>> with WriteAheadLog(folder, fsync=False) as wal:
...     _ = wal.append(b'{"ident":"a","timestamp":1,"server.timestamp":1e10}\\n'
...                    b'{"ident":"b","timestamp":2,"server.timestamp":1e10}\\n')
>>> window = read_window(WalReader(folder), position(1), max_lines=10)
>>> cfg = StreamConfig("s", "http://h/%ident%")
>>> batches = plan(window, cfg, base=position(1), now=1e10)
>>> [(b.key, b.count, b.batch_id("s", "u")) for b in batches]
[('a', 1, 's.u-1.0-1.0'), ('b', 1, 's.u-1.1-1.1')]
>>> batches[1].body
b'[{"ident":"b","timestamp":2,"server.timestamp":1e10}]'
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import Callable, Collection, Mapping
from typing import Final

import polars as pl

from telebench.errors import StoreError
from telebench.store.frames import messages_frame
from telebench.streams.config import StreamConfig, parse_subscription
from telebench.streams.filters import compile_filter
from telebench.streams.store import LINE_BITS, position

__all__ = ["Batch", "Window", "plan", "read_window"]

Reader = Callable[[int, int], list[tuple[int, bytes]]]
_ROUTING: Final = {
    "ident": pl.String(),
    "timestamp": pl.Float64(),
    "server.timestamp": pl.Float64(),
    "channel.id": pl.Int64(),
    "device.id": pl.Int64(),
}
_CHUNK: Final = 4096  # most entries per reader call
_FIRST_CHUNK: Final = 4
_LINE_MASK: Final = (1 << LINE_BITS) - 1


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """Parsed messages after a cursor: ``frame`` has ``_pos``, ``_raw`` and routing fields."""

    frame: pl.DataFrame
    first_seq: int
    last_seq: int
    lines: dict[int, int]

    @property
    def end(self) -> int:
        """Position right after the window."""
        return position(self.last_seq + 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """What one key (ident, or ``""``) does next: send ``body`` and move its cursor to ``end``.

    ``count == 0`` means nothing to send (everything pending was skipped or dropped): the
    cursor simply moves to ``end``.
    """

    key: str
    first: int
    last: int
    end: int
    count: int
    body: bytes
    dropped: int
    skipped: int

    def batch_id(self, stream: str, uid: str) -> str:
        """``<stream>.<uid>-<seq>.<line>-<seq>.<line>`` (first and last message)."""
        ends = (f"{p >> LINE_BITS}.{p & _LINE_MASK}" for p in (self.first, self.last))
        return f"{stream}.{uid}-" + "-".join(ends)


def _split(payload: bytes) -> list[bytes]:
    return [line for line in payload.split(b"\n") if line.strip()]


def read_window(
    reader: Reader, base: int, *, max_lines: int, columns: Collection[str] = ()
) -> Window | None:
    """Messages of the entries after ``base`` (at least one entry, about ``max_lines``).

    ``columns`` are extra message fields to parse (typed as the store types them), for
    filters. ``None`` when the WAL holds nothing after ``base``.
    """
    after = (base >> LINE_BITS) - 1
    entries: list[tuple[int, bytes]] = []
    total, want = 0, _FIRST_CHUNK
    while total < max_lines:
        chunk = reader(entries[-1][0] if entries else after, want)
        if not chunk:
            break
        for seq, payload in chunk:
            if total >= max_lines:
                break
            entries.append((seq, payload))
            total += payload.count(b"\n")
        # Ask for about as many entries as the lines still missing need, at this density.
        per_entry = max(1, total // len(entries))
        want = min(_CHUNK, max(1, (max_lines - total) // per_entry + 1))
    if not entries:
        return None
    split = [_split(payload) for _, payload in entries]
    counts = [len(lines) for lines in split]
    if max(counts) > _LINE_MASK:
        raise StoreError(f"a WAL entry near seq {entries[0][0]} has too many messages")
    raw = list(itertools.chain.from_iterable(split))
    starts = [seq << LINE_BITS for seq, _ in entries]
    stops = [s + n for s, n in zip(starts, counts, strict=True)]
    pos = itertools.chain.from_iterable(map(range, starts, stops))
    frame = pl.DataFrame(
        [pl.Series("_pos", list(pos), dtype=pl.Int64), pl.Series("_raw", raw, dtype=pl.Binary)]
    )
    ndjson = b"\n".join(raw)
    # BytesIO: polars takes raw bytes for a path-like and probes cloud credentials (slow).
    fields = (
        pl.read_ndjson(io.BytesIO(ndjson), schema=_ROUTING, ignore_errors=True) if raw else None
    )
    extra = [c for c in columns if c not in _ROUTING]
    if fields is not None:
        frame = frame.hstack(fields)
        if extra:
            parsed = messages_frame(ndjson)
            frame = frame.hstack(parsed.select(c for c in extra if c in parsed.columns))
    lines = {seq: n for (seq, _), n in zip(entries, counts, strict=True)}
    return Window(frame, entries[0][0], entries[-1][0], lines)


def _masks(
    cfg: StreamConfig, devices: Collection[int] | None, now: float
) -> tuple[pl.Expr, pl.Expr]:
    """(wanted, expired) expressions for the stream's subscriptions/filter and queue_ttl."""
    subs = [parse_subscription(s) for s in cfg.subscriptions]
    wanted = pl.lit(value=True)
    if subs:
        ids = sorted(devices or ())
        channels = [v for k, v in subs if k == "channel"]
        wanted = pl.col("channel.id").is_in(channels) | pl.col("device.id").is_in(ids)
        wanted = wanted.fill_null(value=False)
    arrived = pl.coalesce("server.timestamp", "timestamp")
    expired = (arrived < now - cfg.queue_ttl).fill_null(value=False)
    return wanted, expired


def plan(
    window: Window,
    cfg: StreamConfig,
    *,
    base: int,
    idents: Mapping[str, int] | None = None,
    devices: Collection[int] | None = None,
    now: float,
    retry: Mapping[str, int] | None = None,
) -> list[Batch]:
    """The next batch of every key that has pending messages in ``window``.

    ``idents`` are per-ident cursors ahead of ``base``; ``devices`` are the device ids the
    ``devices:`` subscriptions select; ``retry`` maps a key whose last batch failed to that
    batch's end, so the retry holds the same messages (the same batch id) even though the
    WAL has grown since. One lazy query: every key's batch in one pass.
    """
    frame = window.frame
    wanted, expired = _masks(cfg, devices, now)
    if cfg.filter is not None:
        check = compile_filter(cfg.filter)
        frame = check.with_missing(frame)
        wanted = wanted & check.predicate
    key = pl.col("ident").fill_null("") if cfg.per_ident else pl.lit("")
    if cfg.per_ident and idents:
        cursor = pl.col("_key").replace_strict(dict(idents), default=base, return_dtype=pl.Int64)
    else:
        cursor = pl.lit(base, dtype=pl.Int64)
    cap = pl.lit(window.end, dtype=pl.Int64)
    if retry:
        cap = pl.col("_key").replace_strict(dict(retry), default=cap, return_dtype=pl.Int64)
    send = pl.col("_what") == 2
    nth = send.cast(pl.Int64).cum_sum().over("_key") - 1
    limit = cfg.limit_messages
    sendable = send & (pl.col("_n") < limit)
    stop = pl.col("_cap").first().clip(upper_bound=window.end)
    end = pl.col("_pos").filter(send & (pl.col("_n") == limit)).first().fill_null(stop)
    table = (
        frame.lazy()
        .with_columns(key.alias("_key"))
        .with_columns(cap.alias("_cap"))
        .filter((pl.col("_pos") >= cursor) & (pl.col("_pos") < pl.col("_cap")))
        .with_columns(pl.when(~wanted).then(0).when(expired).then(1).otherwise(2).alias("_what"))
        .with_columns(nth.alias("_n"))
        .group_by("_key", maintain_order=True)
        .agg(
            pl.col("_pos").filter(sendable).first().alias("first"),
            pl.col("_pos").filter(sendable).last().alias("last"),
            end.alias("end"),
            pl.col("_raw").filter(sendable).alias("raw"),
            ((pl.col("_what") == 1) & (pl.col("_pos") < end)).sum().alias("dropped"),
            ((pl.col("_what") == 0) & (pl.col("_pos") < end)).sum().alias("skipped"),
        )
        .collect()
    )
    return [
        Batch(
            key=k,
            first=first if first is not None else stop,
            last=last if last is not None else stop,
            end=_normal(window, stop),
            count=len(raw),
            body=b"[" + b",".join(raw) + b"]",
            dropped=dropped,
            skipped=skipped,
        )
        for k, first, last, stop, raw, dropped, skipped in table.iter_rows()
    ]


def _normal(window: Window, pos: int) -> int:
    """Write "after the last line of entry N" as "entry N+1, line 0"."""
    seq, line = pos >> LINE_BITS, pos & _LINE_MASK
    if line and window.lines.get(seq) == line:
        return position(seq + 1)
    return pos

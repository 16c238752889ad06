"""The interval engine in flespi's model: selectors cut messages, counters describe the cuts.

Per device in device-time order (input is sorted and deduplicated first), each message is
ON/OFF/UNKNOWN (:mod:`telebench.calc.selectors`). A new *run* starts at a device's first
message, after a gap, at a calendar/``change`` split, or where the state flips; runs are
numbered by a cumulative sum of those starts, so there is no per-message Python. ON runs
are the intervals. Every interval row says why it ended (``ended_by``):

=============  ==========================================================================
ended_by       meaning
=============  ==========================================================================
<off reason>   the selector turned OFF (``ignition off``, ``stopped``, ``ignition on``...)
gap            the next message came more than ``max_messages_time_diff`` s later
inactive       no message for more than ``max_inactive`` s (also against ``now``)
split          a calendar boundary or a ``change`` selector's value changed
end of data    still open at the last message: ``active`` is true
=============  ==========================================================================

Examples
--------
>>> import polars as pl
>>> from telebench.calc.selectors import Ignition
>>> msgs = pl.DataFrame({"ident": "a", "timestamp": [0.0, 10, 20, 30, 40, 50],
...                      "engine.ignition.status": [False, True, True, False, True, True]})
>>> out = intervals(msgs, Ignition(), merge_message_after=True).collect()
>>> out.select("begin", "end", "active", "ended_by").rows()
[(10.0, 30.0, False, 'ignition off'), (40.0, 50.0, True, 'end of data')]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from telebench.calc._frame import IDENT, TS, collect, fill_within, new_device, prepare
from telebench.calc.counters import Counters, add_counters, row_columns
from telebench.calc.selectors import Inactive, Selector, combine
from telebench.errors import ConfigError

__all__ = ["intervals"]

# Why a run started (int codes keep the per-row column small).
_FIRST, _GAP, _INACTIVE, _SPLIT, _STATE = 1, 2, 3, 4, 5
_ENDED: Final = {_GAP: "gap", _INACTIVE: "inactive", _SPLIT: "split"}
END_OF_DATA: Final = "end of data"
_HEAD: Final = ["ident", "begin", "end", "duration", "active", "ended_by"]


def intervals(
    messages: pl.DataFrame | pl.LazyFrame,
    selector: Selector | Sequence[Selector],
    *,
    invert: bool = False,
    merge_message_before: bool = False,
    merge_message_after: bool = False,
    merge_unknown: bool = True,
    max_messages_time_diff: float | None = None,
    max_inactive: float | None = None,
    min_duration: float = 0.0,
    min_distance: float = 0.0,
    min_off_duration: float = 0.0,
    validate: pl.Expr | None = None,
    now: float | None = None,
    counters: Counters | None = None,
) -> pl.LazyFrame:
    """Cut messages into intervals (module docstring) and compute ``counters`` for each.

    ``invert`` swaps ON and OFF (parkings are inverted trips). ``merge_message_before`` /
    ``merge_message_after`` pull the neighbouring OFF message in, so an interval starts/ends
    at the transition (never across a gap). ``merge_unknown``: UNKNOWN messages continue the
    current state (else they count as OFF). ``min_off_duration``: an OFF stretch shorter than
    this between two ON runs does not split them (a traffic light is not a parking).
    ``min_duration`` (s) and ``min_distance`` (km) drop short intervals. ``validate`` drops
    messages first. ``now`` closes a trailing interval silent for longer than ``max_inactive``.
    """
    sels = [selector] if isinstance(selector, Selector) else list(selector)
    c = counters or Counters()
    if min_distance > 0 and c.distance is None:
        raise ConfigError("min_distance needs a distance counter (counters.distance is None)")
    if any(isinstance(s, Inactive) for s in sels):
        return _inactive(messages, sels, c, validate, now)
    lf = prepare(
        messages, [], optional=[f for s in sels for f in s.fields()] + list(c.fields()),
        where=validate,
    )  # fmt: skip
    for s in sels:
        lf = s.annotate(lf)
    state, key = combine(sels)
    state = ~state if invert else state
    df = collect(lf.with_columns(_on=state))
    if merge_unknown and df.get_column("_on").null_count():  # fills cost 3 passes: skip them
        df = df.with_columns(_on=fill_within(pl.col("_on")))
    df = row_columns(df.lazy().with_columns(pl.col("_on").fill_null(False)), c)
    rows = df.with_columns(_reason=_reason(key, max_messages_time_diff, max_inactive))
    runs = _runs(rows)
    if min_off_duration > 0:
        runs = _bridge(runs, min_off_duration)
    reasons = _reasons(sels, invert)
    iv = _bounds(runs, merge_message_before, merge_message_after, reasons)
    ts = rows.get_column(TS)
    iv = iv.with_columns(begin=ts.gather(iv["b_row"]), end=ts.gather(iv["e_row"]))
    iv = add_counters(rows, iv, c)
    iv = _close(iv, max_inactive, now)
    keep = pl.col("duration") >= min_duration
    if min_distance > 0:
        keep &= pl.col("distance") >= min_distance
    return iv.filter(keep).select(*_HEAD, *c.columns()).lazy()


def _reason(key: pl.Expr | None, gap: float | None, inactive: float | None) -> pl.Expr:
    dt = pl.col(TS) - pl.col(TS).shift(1)
    new_dev = new_device()
    never = pl.lit(False)
    split = never if key is None else key.ne_missing(key.shift(1))
    return (
        pl.when(new_dev)
        .then(_FIRST)
        .when(never if inactive is None else dt > inactive)
        .then(_INACTIVE)
        .when(never if gap is None else dt > gap)
        .then(_GAP)
        .when(split)
        .then(_SPLIT)
        .when(pl.col("_on") != pl.col("_on").shift(1))
        .then(_STATE)
        .otherwise(0)
    )


def _runs(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per run: its device, state, core rows, times and speed maximum.

    Runs are contiguous, so their bounds are the rows where a run starts and the segmented
    maximum is one ``np.maximum.reduceat`` (no group_by over every message).
    """
    starts = np.flatnonzero(rows.get_column("_reason").to_numpy() != 0)
    ends = np.append(starts[1:] - 1, rows.height - 1) if starts.size else starts
    spd = rows.get_column("_spd").fill_null(-np.inf).fill_nan(-np.inf).to_numpy()
    top = np.maximum.reduceat(spd, starts) if starts.size else np.empty(0)
    idx, last = pl.Series(starts), pl.Series(ends)
    ts = rows.get_column(TS)
    return pl.DataFrame({
        IDENT: rows.get_column(IDENT).gather(idx), "_on": rows.get_column("_on").gather(idx),
        "_reason": rows.get_column("_reason").gather(idx), "c0": idx.cast(pl.Int64),
        "c1": last.cast(pl.Int64), "t0": ts.gather(idx), "t1": ts.gather(last),
        "max_speed": pl.Series(top, dtype=pl.Float64).replace(-np.inf, None),
    })  # fmt: skip


def _bridge(runs: pl.DataFrame, min_off: float) -> pl.DataFrame:
    """Turn short OFF runs between two ON runs (state changes on both sides) into ON."""
    nxt_reason = pl.col("_reason").shift(-1)
    short = (
        ~pl.col("_on")
        & (pl.col("_reason") == _STATE)
        & (nxt_reason == _STATE)
        & (pl.col("t0").shift(-1) - pl.col("t1").shift(1) < min_off)
    ).fill_null(False)
    flipped = runs.with_columns(_on=pl.col("_on") | short)
    # Merge neighbours that now share a state across a state-change boundary.
    glue = (pl.col("_reason") == _STATE) & (pl.col("_on") == pl.col("_on").shift(1))
    return (
        flipped.with_columns(_m=(~glue.fill_null(False)).cum_sum())
        .group_by("_m", maintain_order=True)
        .agg(
            pl.col(IDENT, "_on", "_reason", "c0", "t0").first(),
            pl.col("c1", "t1").last(),
            pl.col("max_speed").max(),
        )
        .drop("_m")
    )


def _reasons(sels: Sequence[Selector], invert: bool) -> str:
    names = [s.on_reason if invert else s.off_reason for s in sels]
    return " / ".join(dict.fromkeys(names))


def _bounds(runs: pl.DataFrame, before: bool, after: bool, off_reason: str) -> pl.DataFrame:
    """ON runs with boundary rows (merged OFF neighbours), begin/end and why they ended."""
    nxt = pl.col("_reason").shift(-1)
    ended = (
        pl.when(nxt.is_null() | (nxt == _FIRST))
        .then(pl.lit(END_OF_DATA))
        .when(nxt == _STATE)
        .then(pl.lit(off_reason))
        .otherwise(nxt.replace_strict(_ENDED, default="split", return_dtype=pl.String))
    )
    b_row = pl.col("c0") - ((pl.col("_reason") == _STATE) & before).cast(pl.Int64)
    e_row = pl.col("c1") + ((nxt == _STATE).fill_null(False) & after).cast(pl.Int64)
    return (
        runs.with_columns(ended_by=ended, b_row=b_row, e_row=e_row)
        .filter(pl.col("_on"))
        .select(IDENT, "b_row", "e_row", "c0", "c1", "ended_by", "max_speed")
    )


def _close(iv: pl.DataFrame, max_inactive: float | None, now: float | None) -> pl.DataFrame:
    """Add begin/end/duration/active; a trailing interval silent too long is closed."""
    out = iv.with_columns(duration=pl.col("end") - pl.col("begin"))
    if max_inactive is not None and now is not None:
        stale = (pl.col("ended_by") == END_OF_DATA) & (now - pl.col("end") > max_inactive)
        out = out.with_columns(
            ended_by=pl.when(stale).then(pl.lit("inactive")).otherwise("ended_by")
        )
    return out.with_columns(active=pl.col("ended_by") == END_OF_DATA)


def _inactive(
    messages: pl.DataFrame | pl.LazyFrame,
    sels: Sequence[Selector],
    c: Counters,
    validate: pl.Expr | None,
    now: float | None,
) -> pl.LazyFrame:
    """Offline periods: gaps longer than the Inactive selector's ``delay``."""
    if len(sels) != 1:
        raise ConfigError("the Inactive selector cannot be combined with other selectors")
    sel = sels[0]
    assert isinstance(sel, Inactive)
    lf = prepare(messages, [], optional=c.fields(), where=validate)
    prev = pl.col(TS).shift(1)
    same = ~new_device()
    gaps = lf.with_columns(
        begin=prev, end=pl.col(TS), active=pl.lit(False), ended_by=pl.lit("message")
    ).filter(same & (pl.col("end") - pl.col("begin") > sel.delay))
    if now is not None:
        last = lf.group_by(IDENT).agg(pl.col(TS).max().alias("begin"))
        trailing = last.filter(now - pl.col("begin") > sel.delay).with_columns(
            end=pl.lit(float(now)), active=pl.lit(True), ended_by=pl.lit(END_OF_DATA)
        )
        gaps = pl.concat([gaps.select(trailing.collect_schema().names()), trailing])
    return (
        gaps.with_columns(duration=pl.col("end") - pl.col("begin"))
        .select(*_HEAD)
        .sort(IDENT, "begin")
    )

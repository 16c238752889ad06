"""Score predicted intervals against ground truth: precision, recall, F1 and errors.

A predicted interval matches a true one of the same ``ident`` when their time overlap is at
least ``min_overlap`` (50%) of the longer of the two; each interval matches at most once
(greedy, largest overlap first). Truth columns may be named as the simulator writes them
(``start_time``/``end_time``, ``enter_time``/``exit_time``, ``distance_m`` in metres);
predicted ``distance`` is km.

Examples
--------
>>> import polars as pl
>>> truth = pl.DataFrame({"ident": ["a", "a"], "begin": [0.0, 100], "end": [50.0, 200],
...                       "distance_m": [1000.0, 2000.0]})
>>> pred = pl.DataFrame({"ident": ["a", "a"], "begin": [5.0, 300], "end": [50.0, 400],
...                      "distance": [1.01, 3.0]})
>>> s = score(pred, truth)
>>> s["tp"], s["precision"], s["recall"], s["median_begin_error"], s["distance_error"]
(1, 0.5, 0.5, 5.0, 0.01)
"""

from __future__ import annotations

from typing import Any

import polars as pl

from telebench.errors import SchemaError

__all__ = ["matches", "score"]

_ALIASES = {
    "enter_time": "begin",
    "exit_time": "end",
    "start_time": "begin",
    "end_time": "end",
}


def _norm(df: pl.DataFrame | pl.LazyFrame, who: str) -> pl.DataFrame:
    d = df.collect() if isinstance(df, pl.LazyFrame) else df
    d = d.rename({k: v for k, v in _ALIASES.items() if k in d.columns and v not in d.columns})
    if "distance_m" in d.columns and "distance" not in d.columns:
        d = d.with_columns(distance=pl.col("distance_m") / 1000.0)
    missing = [c for c in ("ident", "begin", "end") if c not in d.columns]
    if missing:
        raise SchemaError(f"{who} intervals lack column(s) {missing}")
    key = ["ident", "geofence"] if "geofence" in d.columns else ["ident"]
    cols = [*key, "begin", "end"] + (["distance"] if "distance" in d.columns else [])
    return d.select(cols).with_row_index("_i")


def score(
    predicted: pl.DataFrame | pl.LazyFrame,
    truth: pl.DataFrame | pl.LazyFrame,
    *,
    min_overlap: float = 0.5,
) -> dict[str, Any]:
    """``tp, fp, fn, precision, recall, f1, median_begin_error, median_end_error`` (s) and
    ``distance_error`` (relative, |sum pred - sum true| / sum true over matches; None if
    either side has no distance). Geofence visits are matched per ``(ident, geofence)``."""
    p, t = _norm(predicted, "predicted"), _norm(truth, "truth")
    pairs = _pairs(p, t, min_overlap)
    tp, n_p, n_t = pairs.height, p.height, t.height
    prec = tp / n_p if n_p else 1.0
    rec = tp / n_t if n_t else 1.0
    out: dict[str, Any] = {
        "tp": tp, "fp": n_p - tp, "fn": n_t - tp, "precision": prec, "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "median_begin_error": _median((pl.col("begin") - pl.col("begin_t")).abs(), pairs),
        "median_end_error": _median((pl.col("end") - pl.col("end_t")).abs(), pairs),
        "distance_error": None,
    }  # fmt: skip
    if "distance" in pairs.columns and "distance_t" in pairs.columns and tp:
        tot = pairs.select(pl.col("distance").sum(), pl.col("distance_t").sum()).row(0)
        out["distance_error"] = round(abs(tot[0] - tot[1]) / tot[1], 6) if tot[1] else None
    return out


def matches(
    predicted: pl.DataFrame | pl.LazyFrame,
    truth: pl.DataFrame | pl.LazyFrame,
    *,
    min_overlap: float = 0.5,
) -> pl.DataFrame:
    """The pairs :func:`score` counts: key columns, ``begin``/``end`` (and ``distance``, km)
    of the prediction, ``begin_t``/``end_t`` (and ``distance_t``) of its true interval.

    >>> truth = pl.DataFrame({"ident": ["a"], "start_time": [0.0], "end_time": [50.0]})
    >>> pred = pl.DataFrame({"ident": ["a", "a"], "begin": [5.0, 300], "end": [50.0, 400]})
    >>> matches(pred, truth).select("begin", "begin_t").rows()
    [(5.0, 0.0)]
    """
    pairs = _pairs(_norm(predicted, "predicted"), _norm(truth, "truth"), min_overlap)
    return pairs.drop("_i", "_i_t", "ov", "span")


def _pairs(p: pl.DataFrame, t: pl.DataFrame, min_overlap: float) -> pl.DataFrame:
    key = [c for c in ("ident", "geofence") if c in p.columns and c in t.columns]
    pairs = (
        p.join(t, on=key, suffix="_t")
        .with_columns(
            ov=pl.min_horizontal("end", "end_t") - pl.max_horizontal("begin", "begin_t"),
            span=pl.max_horizontal(
                pl.col("end") - pl.col("begin"), pl.col("end_t") - pl.col("begin_t")
            ),
        )
        .filter(pl.col("ov") >= min_overlap * pl.col("span"))
        .sort("ov", descending=True)
    )
    # Greedy one-to-one: keep the best pair per prediction, then the best per truth row.
    return pairs.unique("_i", keep="first", maintain_order=True).unique(
        "_i_t", keep="first", maintain_order=True
    )


def _median(expr: pl.Expr, pairs: pl.DataFrame) -> float | None:
    if pairs.height == 0:
        return None
    value = pairs.select(expr.median()).item()
    return None if value is None else float(value)

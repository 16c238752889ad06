"""Loading the shared protocol vectors and feeding them in every chunking.

The official example packets live in ``../shared/vectors/*.jsonl`` beside the checkout
(``TELEBENCH_SHARED`` overrides the location). They are not copied into this repository;
tests that need them skip cleanly when the folder is absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TELEBENCH_SHARED", REPO.parent / "shared"))
VECTORS = SHARED / "vectors"


def load_vectors(protocol: str) -> list[dict[str, Any]]:
    """Every vector of ``protocol``; an empty list when the shared folder is absent."""
    path = VECTORS / f"{protocol}.jsonl"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def vector_params(protocol: str, **filters: Any) -> list[Any]:
    """``pytest.param`` per vector (id = vector name), or one skipped param when absent."""
    vectors = [
        v for v in load_vectors(protocol) if all(v.get(k) == val for k, val in filters.items())
    ]
    if not vectors:
        return [
            pytest.param(
                None,
                id=f"{protocol}-vectors-absent",
                marks=pytest.mark.skip(reason=f"no shared vectors for {protocol} at {VECTORS}"),
            )
        ]
    return [pytest.param(v, id=v["name"]) for v in vectors]


def payload_of(vector: dict[str, Any]) -> bytes:
    """The raw bytes of a vector (hex for binary protocols, UTF-8 text otherwise)."""
    if "payload_hex" in vector:
        return bytes.fromhex(vector["payload_hex"])
    return str(vector["payload_text"]).encode("utf-8")


def chunkings(payload: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """The ways a stream may deliver ``payload``: whole, byte by byte, split at every offset
    (short frames only), and in two halves."""
    yield "whole", [payload]
    yield "bytewise", [payload[i : i + 1] for i in range(len(payload))]
    if len(payload) <= 64:
        for cut in range(1, len(payload)):
            yield f"split@{cut}", [payload[:cut], payload[cut:]]
    else:
        half = len(payload) // 2
        yield "halves", [payload[:half], payload[half:]]

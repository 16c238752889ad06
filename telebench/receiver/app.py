"""The stream receiver as a Flask app: validate, store durably, then answer 200.

Routes:

* ``POST /`` and ``POST /<anything>`` (so ``%ident%`` URIs work): a JSON array of
  messages or one message object. Every message needs a non-empty string ``ident`` and a
  numeric ``timestamp``. Answers ``400`` with the reason (bad JSON, not an object, which
  message lacks what) and stores nothing; ``401`` when a token is set and the request
  lacks ``Authorization: Bearer TOKEN``; ``200`` once the batch is fsync'd, or at once
  for a batch id (``X-Telebench-Batch``) already stored, which is counted as duplicate.
* ``GET /stats``: per ident ``count``, ``duplicates``, ``first``/``last`` timestamp.

Fault injection (:class:`Faults`, mutable while serving): ``fail_rate`` answers that
share of POSTs with 500 before storing; ``delay`` sleeps that long after storing and
before answering (so a client timeout produces a retried duplicate).

Examples
--------
>>> import tempfile
>>> from telebench.receiver.storage import ReceivedStore
>>> store = ReceivedStore(tempfile.mkdtemp(), fsync=False)
>>> client = create_app(store).test_client()
>>> client.post("/", data=b'[{"ident": "a", "timestamp": 1}]').status_code
200
>>> r = client.post("/", data=b'[{"ident": "a"}]')
>>> r.status_code, r.get_json()["error"]
(400, "message 0 has no numeric 'timestamp'")
>>> store.close()
"""

from __future__ import annotations

import dataclasses
import hmac
import random
import time
from typing import Any

import orjson
from flask import Flask, Response, request

from telebench.receiver.storage import ReceivedStore

__all__ = ["BATCH_HEADER", "Faults", "create_app", "validate"]

BATCH_HEADER = "X-Telebench-Batch"
_NUMBERS = (int, float)


@dataclasses.dataclass
class Faults:
    """Injected faults: share of 500 answers and a delay (seconds) before answering."""

    fail_rate: float = 0.0
    delay: float = 0.0


def validate(body: bytes) -> list[dict[str, Any]] | str:
    """The messages of a request body, or the reason it is refused.

    Examples
    --------
    >>> validate(b'{"ident": "a", "timestamp": 1.5}')
    [{'ident': 'a', 'timestamp': 1.5}]
    >>> validate(b'[1]'), validate(b'{')[:12]
    ('message 0 is not a JSON object', 'invalid JSON')
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    messages = [data] if isinstance(data, dict) else data
    if not isinstance(messages, list):
        return "expected a JSON array of messages or one message object"
    # One generator, type() identity checks: this runs per message (bool is no timestamp).
    bad = next(
        (
            i
            for i, m in enumerate(messages)
            if type(m) is not dict
            or type(m.get("ident")) is not str
            or not m["ident"]
            or type(m.get("timestamp")) not in _NUMBERS
        ),
        None,
    )
    if bad is None:
        return messages
    msg = messages[bad]
    if not isinstance(msg, dict):
        return f"message {bad} is not a JSON object"
    if not isinstance(msg.get("ident"), str) or not msg["ident"]:
        return f"message {bad} has no string 'ident'"
    return f"message {bad} has no numeric 'timestamp'"


def _json(data: object, status: int) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


def create_app(
    store: ReceivedStore, *, token: str | None = None, faults: Faults | None = None
) -> Flask:
    """The receiver app over ``store`` (module doc)."""
    app = Flask("telebench.receiver")
    app.config["faults"] = faults if faults is not None else Faults()

    def receive(path: str = "") -> Response:
        current: Faults = app.config["faults"]
        if token is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _json({"error": "missing or wrong token (Authorization: Bearer T)"}, 401)
        if current.fail_rate and random.random() < current.fail_rate:
            return _json({"error": "injected failure"}, 500)
        body = request.get_data()
        messages = validate(body)
        if isinstance(messages, str):
            return _json({"error": messages}, 400)
        batch = request.headers.get(BATCH_HEADER)
        stored = store.add(messages, batch=batch, path=request.path, body=body)
        if current.delay:
            time.sleep(current.delay)
        return _json({"stored": len(messages) if stored else 0, "duplicate": not stored}, 200)

    def stats() -> Response:
        return _json(store.stats(), 200)

    app.add_url_rule("/", "receive", receive, methods=["POST"])
    app.add_url_rule("/<path:path>", "receive_path", receive, methods=["POST"])
    app.add_url_rule("/stats", "stats", stats, methods=["GET"])
    return app
